"""vt2's quality ladder: gained FSQ, the level-aware prior, rungs, format 3.0 streams and their
training step (a tiny gained model made here; the bundled one is tested in test_codec)."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from conftest import cli, synth_frames, write_clip
from vtcodec.bitstream import Header, frames_payload, header_size, payload_of, read_header, reseal
from vtcodec.models import ModelConfig, VTModel
from vtcodec.models.fsq import FSQ

import vtcodec
from vtcodec import files
from vtcodec.errors import CorruptChunk, FormatError
from vtcodec.rate import QUALITIES, Ladder, RateControl

TINY_CFG = ModelConfig(name="vt2-test", fsq_levels=(7, 7, 7), gains=4, enc_widths=(8, 16), dec_widths=(8, 16),
                       enc_blocks=1, dec_blocks=1, prior_width=8, prior_layers=2, prior_groups=((0,), (1, 2)))


@pytest.fixture(scope="module")
def tiny_vt2(tmp_path_factory):
    """A randomly initialised gained model, registered so streams naming it decode."""
    from vtcodec import zoo
    from vtcodec.zoo import register_model, save_model

    torch.manual_seed(0)
    model = VTModel(TINY_CFG)
    with torch.no_grad():  # gains e^-2.5 .. 1, wider apart than the default's first levels
        model.quantizer.log_gain.copy_(torch.linspace(-2.5, 0.0, 4).view(-1, 1).repeat(1, 3))
        model.encoder.head.weight.mul_(100)  # latents that use the alphabet
    folder = tmp_path_factory.mktemp("models") / "vt2-test"
    save_model(model, folder)
    entry = register_model(folder)
    yield folder
    zoo._REGISTERED.remove(entry.path)  # other tests list the installed models


def test_gained_fsq_round_trips_and_refines_with_the_level():
    fsq = FSQ((31, 31), gains=3)
    with torch.no_grad():
        fsq.log_gain.copy_(torch.tensor([[-2.0, -2.0], [-1.0, -1.0], [0.0, 0.0]]))
    z = torch.randn(2, 2, 16, 16) * 2
    errors, used = [], []
    for level in range(3):
        s = fsq.encode(z, level)
        assert int(s.min()) >= 0 and int(s.max()) < 31
        assert torch.allclose(fsq.decode(s, level), fsq(z, level))  # what training's decoder sees
        target = fsq._bound(z) / fsq._half_width
        errors.append(float((fsq.decode(s, level) - target).abs().mean().detach()))
        used.append(len(torch.unique(s)))
    assert errors[0] > errors[1] > errors[2]  # finer steps at higher levels
    assert used[0] < used[1] < used[2]  # more distinct values: more information per token
    per_item = fsq.encode(z, torch.tensor([0, 2]))
    assert torch.equal(per_item[0], fsq.encode(z[:1], 0)[0]) and torch.equal(per_item[1], fsq.encode(z[1:], 2)[0])
    with pytest.raises(ValueError, match="quality level"):
        fsq.encode(z, 3)
    with pytest.raises(ValueError, match="odd"):
        FSQ((8, 5), gains=2)


def test_config_refuses_gains_without_odd_fsq_levels():
    with pytest.raises(ValueError, match="gains"):
        ModelConfig(fsq_levels=(8, 5, 5, 5), gains=4)
    with pytest.raises(ValueError, match="gains"):
        ModelConfig(quantizer="bsq", gains=4)
    assert ModelConfig.from_dict({"fsq_levels": [5, 5], "gains": 3}).gains == 3


def test_the_ladder_is_monotone_and_maps_every_quality():
    for ladder in (Ladder(), Ladder(10)):
        rungs = [ladder.rung(r) for r in range(ladder.lo, ladder.hi + 1)]
        assert rungs == sorted(rungs, key=lambda kl: (kl[1], kl[0])) or not ladder.levels
        qs = [ladder.quality(q) for q in QUALITIES]
        assert qs == sorted(qs) and len(set(qs)) == len(qs)
        assert ladder.lo <= ladder.start <= ladder.hi
    g = Ladder(10)
    assert g.rung(g.lo) == (96, 0) and g.rung(g.hi) == (144, 9)
    assert [g.rung(r) for r in range(31, 34)] == [(127, 0), (128, 0), (128, 1)]
    assert [g.rung(r) for r in range(41, 43)] == [(128, 9), (129, 9)]
    assert Ladder().rung(128) == (128, 0)


def test_rate_control_steps_along_a_gained_ladder():
    ladder = Ladder(10)
    calls = []

    def code(r):  # bits double with each level, 9% per grid step outside them
        calls.append(r)
        k, level = ladder.rung(r)
        bits = 8000 * 2.0 ** level * 2 ** ((k - 128) / 8)
        return (r, b"x" * round(bits / 8), 0.0)

    rc = RateControl(bits_per_frame=8000 * 2 ** 5 / 4)  # level 5 for a 4-frame chunk
    trials = RateControl.trials(rc.share(4), code, ladder)
    r = rc.pick(4, trials, ladder)
    assert ladder.rung(r) == (128, 5) and len(calls) <= RateControl.TRIALS


def test_prior_needs_and_uses_the_level():
    torch.manual_seed(0)
    model = VTModel(TINY_CFG)
    s = torch.randint(0, 7, (1, 2, 3, 4, 4))
    with pytest.raises(ValueError, match="level"):
        model.prior_bits(s)
    with torch.no_grad():
        model.prior.convs[0].weight[:, -1] += 1.0  # the level plane reaches the logits
        a, b = model.prior_bits(s, 0), model.prior_bits(s, 3)
    assert not torch.allclose(a, b)
    exact = model.exact_prior()
    known = torch.zeros(3, 4, 4, dtype=torch.bool)
    la = exact.logits(s[0, :1], torch.zeros(1), s[0, :1], known, level=0)
    lb = exact.logits(s[0, :1], torch.zeros(1), s[0, :1], known, level=3)
    assert not np.array_equal(la, lb)
    # the head can compute some channels alone (a coding step's): the same integers
    part = exact.logits(s[0, :1], torch.zeros(1), s[0, :1], known, torch.tensor([0, 5, 9]), level=3, channels=[2, 0])
    assert np.array_equal(part, lb.reshape(1, 3, 7, 16)[:, [2, 0]][..., [0, 5, 9]])


def test_prior_costs_price_each_symbol_in_the_step_that_codes_it():
    """``prior_costs`` keeps only each step's own channels and positions; the same numbers as the
    prior run on the whole grid at every step of the schedule and masked."""
    from vtcodec.models.prior import schedule

    torch.manual_seed(0)
    model = VTModel(TINY_CFG)
    s = torch.randint(0, 7, (2, 3, 3, 5, 6))
    level = torch.tensor([1, 3])
    with torch.no_grad():
        got = model.prior_costs(s, level)
        values = model.quantizer.prior_values(s.flatten(0, 1))
        prev = values.view(2, 3, 3, 5, 6).roll(1, 1)  # each clip's previous frame, none for its first
        prev[:, 0] = 0
        has_prev = (torch.arange(3) > 0).float().repeat(2)
        want = torch.zeros_like(got.flatten(0, 1))
        for known, target in schedule(TINY_CFG.prior_groups, 3, 5, 6):
            km = model.expand_mask(known).float().expand(6, -1, -1, -1)
            logits = model.prior(prev.flatten(0, 1), has_prev, values, km, level.repeat_interleave(3))
            want += model.prior.costs(logits) * target.view(1, 3, 1, 5, 6)
    assert got.shape == (2, 3, 3, 7, 5, 6)
    assert torch.allclose(got.flatten(0, 1), want, atol=1e-5)


def test_an_encoder_told_the_level_starts_as_its_source_and_learns_per_level():
    from vtcodec.train.ladder import warm_start

    torch.manual_seed(0)
    with pytest.raises(ValueError, match="enc_levels"):
        ModelConfig(enc_levels=True)
    src = VTModel(TINY_CFG)
    model = VTModel(ModelConfig(**{**TINY_CFG.__dict__, "name": "lv", "enc_levels": True}))
    warm_start(model, src)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.encoder(x, level=2), src.encoder(x))  # the level's weights start at zero
        with pytest.raises(ValueError, match="level"):
            model.encoder(x)
        model.encoder.head.weight.mul_(100)  # latents that use the alphabet
        plain, z0 = model.encoder(x, level=3), model.encoder(x, level=0)
        model.encoder.out_scale[3] = -3.0  # the top level's latents shrink: fewer symbols in use
        z3 = model.encoder(x, level=3)
        assert torch.equal(model.encoder(x, level=0), z0)  # the other levels keep theirs
        assert torch.equal(model.encoder(x, level=torch.tensor([0, 3]))[1], z3[1])
    assert len(torch.unique(model.quantizer.encode(z3, 3))) < len(torch.unique(model.quantizer.encode(plain, 3)))
    assert torch.equal(model.tokenize(x, 3), model.quantizer.encode(z3, 3))  # the codec's path passes it


def test_a_gained_model_writes_format_3_with_a_level_per_chunk(tmp_path, tiny_vt2):
    src = write_clip(tmp_path / "a.y4m", synth_frames(40, 24, 5))
    used = {}
    for q in (1, 6, 10):
        enc, dec = [], []
        out = tmp_path / f"q{q}.vtc"
        files.encode_file(src, out, model=str(tiny_vt2), gop=3, quality=q, tokens_out=enc)
        frames = np.concatenate(list(files.iter_decode(out, tokens_out=dec)))
        assert frames.shape == (5, 24, 40, 3)
        assert all(torch.equal(a, b) for a, b in zip(enc, dec, strict=True))
        data = out.read_bytes()
        header = read_header(io.BytesIO(data))
        assert (header.major, header.minor) == (3, 0)
        used[q] = len(torch.unique(torch.cat(enc)))
        k, level, _ = frames_payload(_first_payload(data), header)
        assert (k, level) == Ladder(4).rung(Ladder(4).quality(q))
    assert used[1] < used[10]  # finer steps: more of the alphabet in use


def _first_payload(data: bytes) -> bytes:
    return payload_of(data, header_size(data))  # the first chunk follows the header


def test_a_level_outside_the_model_or_a_version_that_does_not_fit_is_refused(tmp_path, tiny_vt2):
    src = write_clip(tmp_path / "a.y4m", synth_frames(32, 16, 2))
    out = tmp_path / "a.vtc"
    files.encode_file(src, out, model=str(tiny_vt2), gop=2)
    data = bytearray(out.read_bytes())
    first = header_size(data)
    bad = bytearray(data)
    bad[first + 15 + 1] = 4  # the level byte: the model has levels 0..3
    reseal(bad, first)
    with pytest.raises(CorruptChunk, match="quality level 4"):
        vtcodec.decompress(bytes(bad))
    old = bytearray(data)
    old[4], old[5] = 2, 1  # a 2.1 header naming a gained model
    old[first - 4:first] = zlib.crc32(bytes(old[:first - 4])).to_bytes(4, "little")
    with pytest.raises(FormatError, match="quality levels"):
        vtcodec.decompress(bytes(old))
    packed = Header(8, 8, 25, 1, 1, "420", 5, 1, "fsq", 6, 8, "m", bytes(32), major=3, minor=0).pack()
    assert read_header(io.BytesIO(packed)).major == 3


def test_ladder_training_runs_resumes_and_exports_a_model_that_codes(tmp_path):
    from vtcodec.train.ladder import LadderConfig, LadderTrainer, warm_start
    from vtcodec.zoo import find_model

    rng = np.random.default_rng(0)
    groups = {"stills": [rng.integers(0, 256, (1, 80, 80, 3), dtype=np.uint8)],
              "sequences": [synth_frames(72, 72, 4)]}
    cfg = LadderConfig(model=TINY_CFG, warm_start="", steps=2, batch=4, crop=32, frames=2, scales=(1.0,),
                       warmup=1, rate_warmup=1, ckpt_every=1, log_every=1)
    run = tmp_path / "run"
    trainer = LadderTrainer(cfg, groups, run, log=lambda m: None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    assert trainer.step == 2 and (run / "last.pt").is_file()
    after = trainer.model.state_dict()
    assert not torch.equal(before["prior.convs.0.weight"], after["prior.convs.0.weight"])  # the prior learns
    assert not torch.equal(before["encoder.head.weight"], after["encoder.head.weight"])  # the tokenizer too
    assert torch.equal(before["quantizer.log_gain"], after["quantizer.log_gain"])  # the gains stay put
    rec = trainer.history[-1]
    assert np.isfinite(rec["loss"]) and any(k.startswith("bpp_") for k in rec)
    longer = LadderTrainer(LadderConfig(), groups, run, resume=True, log=lambda m: None, steps=3)
    assert longer.step == 2 and longer.cfg.crop == 32  # the run's own settings
    longer.run()
    assert longer.step == 3
    r = cli("export", str(run), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    entry = find_model(tmp_path / "out")
    assert entry.config.gains == 4 and entry.info["recipe"]["steps_done"] == 3
    src = write_clip(tmp_path / "a.y4m", synth_frames(24, 16, 2))
    files.encode_file(src, tmp_path / "a.vtc", model=str(tmp_path / "out"), quality=3)
    assert read_header(io.BytesIO((tmp_path / "a.vtc").read_bytes())).major == 3
    # a warm start copies the channels both models have and leaves the rest where they were
    small = VTModel(TINY_CFG)
    wider = VTModel(ModelConfig(name="w", fsq_levels=(7,) * 5, gains=4, enc_widths=(8, 16), dec_widths=(8, 16),
                                enc_blocks=1, dec_blocks=1, prior_width=8, prior_layers=2))
    copied = warm_start(wider, small)
    assert "encoder.head.weight" in copied and "decoder.stem.weight" in copied
    assert torch.equal(wider.encoder.head.weight[:3], small.encoder.head.weight)
    assert torch.equal(wider.decoder.stem.weight[:, 5:8], small.decoder.stem.weight[:, 3:6])  # previous frame's
    assert torch.equal(wider.decoder.stem.weight[:, 10], small.decoder.stem.weight[:, 6])  # the context flag


def test_material_reads_folders_of_frames_and_packed_sequences(tmp_path):
    """A folder of frame folders (../shared/data/frames) holds no videos: that is no error (0.9
    refused it), and a packed sequence video beside them is read too."""
    from PIL import Image

    from vtcodec.train.media import load_material

    seq = tmp_path / "frames" / "clip"
    seq.mkdir(parents=True)
    for i, frame in enumerate(synth_frames(40, 24, 3)):
        Image.fromarray(frame).save(seq / f"{i:05d}.png")
    groups = load_material([], [str(tmp_path / "frames")], [], log=lambda m: None)
    assert [c.shape for c in groups["sequences"]] == [(3, 24, 40, 3)]
    write_clip(tmp_path / "frames" / "packed.y4m", synth_frames(32, 16, 4))
    groups = load_material([], [str(tmp_path / "frames")], [], log=lambda m: None)
    assert sorted(c.shape for c in groups["sequences"]) == [(3, 24, 40, 3), (4, 16, 32, 3)]
