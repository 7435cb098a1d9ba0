"""Temporal context (models/temporal.py, issue 15): a state carried from frame to frame within a
chunk, computed exactly from the tokens and seen by the encoder, the decoder and the prior (format 3.1),
and a decoded-frame context seen by the encoder and the decoder (format 3.2)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import synth_frames, write_clip
from vtcodec.bitstream import read_header
from vtcodec.models import ModelConfig, VTModel
from vtcodec.models.temporal import STATE_LIMIT, STEP

from vtcodec import codec, files
from vtcodec.errors import FormatError
from vtcodec.zoo import load_model

STATE = "vt2t-fsq-tiny"  # bundled: levels and a 4-channel state
RECON_TINY = "vt2r-fsq-tiny"  # bundled: vt2t-fsq-tiny's state and a decoded-frame context (format 3.2)
CFG = ModelConfig(name="vt2t-test", fsq_levels=(7, 7, 7), gains=4, enc_widths=(8, 16), dec_widths=(8, 16),
                  enc_blocks=1, dec_blocks=1, prior_width=8, prior_layers=2, state=3, state_width=8)


def test_a_state_needs_levels():
    with pytest.raises(ValueError, match="state needs a model with quality levels"):
        ModelConfig(name="x", state=2)


def test_the_exact_state_follows_the_float_net_on_its_grid():
    torch.manual_seed(0)
    model = VTModel(CFG)
    symbols = torch.randint(0, 7, (5, 3, 6, 7))
    exact, after = model.exact_states(symbols, level=2)
    with torch.no_grad():
        floated = model.float_states(symbols.unsqueeze(0), level=2)[0]
    assert exact.dtype == torch.float64 and exact.shape == (5, 3, 6, 7) and after.shape == (1, 3, 6, 7)
    assert torch.count_nonzero(exact[0]) == 0  # a chunk starts from nothing
    assert torch.equal(exact, torch.floor(exact / STEP) * STEP)  # on the 2^-6 grid
    assert float(exact.abs().max()) <= STATE_LIMIT and float(exact[1:].abs().max()) > 0
    # weights rounded to 10 bits and hidden layers floored: close to the float net, not equal
    assert float((exact - floated.double()).abs().max()) < 0.1
    # a state continues where the one before stopped
    again, _ = model.exact_states(symbols[2:], level=2, state=exact[2:3])
    assert torch.equal(again, exact[2:])


def test_a_state_model_round_trips_and_writes_format_3_1(tmp_path):
    frames = synth_frames(40, 24, 7, seed=4)
    tokens: list = []
    with codec.Encoder(40, 24, quality=6, model=STATE, gop=5, tokens_out=tokens) as enc:
        data = b"".join(enc.encode(f) for f in frames) + enc.flush()
    head = enc.header_bytes()
    data = head + data[len(head):]
    header = read_header(io.BytesIO(data))
    assert (header.major, header.minor) == (3, 1)
    out = codec.decompress(data)
    (tmp_path / "a.vtc").write_bytes(data)
    decoded: list = []
    files.decode_file(tmp_path / "a.vtc", tmp_path / "a.y4m", tokens_out=decoded)
    assert len(tokens) == len(decoded) == 2
    assert all(torch.equal(a, b) for a, b in zip(tokens, decoded, strict=True))
    # the decoder's frames are the model's reconstruction of those tokens with their exact states
    model = load_model(STATE)
    level = enc.ladder.rung(enc.ladder.quality(6))[1]
    x = model.reconstruct(tokens[0], level=level)
    ref = codec.from_grid(x, x.shape[2:], (24, 40))
    assert np.array_equal(out[:5], ref)
    # random access inside a chunk: frames 3.. decode as they did in the whole
    assert_seeking_decodes_as_the_whole(tmp_path, frames, STATE, 3, 3)


def assert_seeking_decodes_as_the_whole(tmp_path, frames, model: str, start: int, n: int) -> None:
    """Frames ``start .. start + n - 1`` of ``frames`` coded in chunks of 5 decode alone
    (``--start``/``--frames``) as they do in the whole stream."""
    from vtcodec.video import read_video

    src = write_clip(tmp_path / "src.y4m", frames)
    files.encode_file(src, tmp_path / "a.vtc", model=model, quality=6, gop=5, force=True)
    files.decode_file(tmp_path / "a.vtc", tmp_path / "all.y4m")
    files.decode_file(tmp_path / "a.vtc", tmp_path / "part.y4m", start=start, frames=n)
    whole, part = read_video(tmp_path / "all.y4m")[0], read_video(tmp_path / "part.y4m")[0]
    assert np.array_equal(whole[start:start + n], part)


def test_the_prior_and_the_decoder_read_the_state():
    model = load_model(STATE)
    symbols = model.tokenize_conditional([torch.rand(1, 3, 32, 48) for _ in range(3)], level=3)[1]
    states = model.exact_states(symbols, level=3)[0]
    assert float(states[2].abs().max()) > 0
    exact = model.exact_prior()
    known = torch.zeros(symbols.shape[1:], dtype=torch.bool)
    args = (symbols[1:2], torch.ones(1), symbols[2:3], known)
    with_state = exact.logits(*args, level=3, state=states[2:3])
    without = exact.logits(*args, level=3, state=torch.zeros_like(states[2:3]))
    assert not np.array_equal(with_state, without)
    a = model.reconstruct(symbols, level=3)
    b = model.reconstruct(symbols, level=3, state=torch.zeros_like(states))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[2], b[2])  # frame 0 has no state either way


def test_the_version_must_match_the_models_state(tmp_path):
    import zlib

    from vtcodec.bitstream import header_size

    src = write_clip(tmp_path / "a.y4m", synth_frames(24, 16, 2))
    for model, written, minor in ((STATE, 1, 0), ("vt2-fsq-tiny", 0, 1), (RECON_TINY, 2, 1), (STATE, 1, 2)):
        files.encode_file(src, tmp_path / "a.vtc", model=model, quality=3, force=True)
        data = bytearray((tmp_path / "a.vtc").read_bytes())
        assert data[4:6] == bytes([3, written])
        data[5] = minor
        end = header_size(bytes(data))
        data[end - 4:end] = zlib.crc32(bytes(data[:end - 4])).to_bytes(4, "little")
        with pytest.raises(FormatError, match=f"writes format 3.{written} streams"):
            codec.decompress(bytes(data))


RECON = ModelConfig(**{**CFG.__dict__, "name": "vt2r-test", "recon": 8})  # with a decoded-frame context


@pytest.mark.parametrize("cfg, keys", [
    (CFG, ("temporal.convs.0.weight", "encoder.ctx.weight", "prior.convs.0.weight")),
    (RECON, ("encoder.recon8.weight", "decoder.recon4.weight", "recon_ctx.stem.weight", "temporal.convs.0.weight")),
])
def test_training_teaches_the_state_net_and_the_contexts(tmp_path, cfg, keys):
    from vtcodec.train.ladder import LadderConfig, LadderTrainer

    rng = np.random.default_rng(0)
    groups = {"sequences": [synth_frames(72, 72, 5)], "stills": [rng.integers(0, 256, (1, 80, 80, 3), dtype=np.uint8)]}
    run = LadderConfig(model=cfg, warm_start="", steps=2, batch=2, crop=32, frames=3, scales=(1.0,), warmup=1,
                       rate_warmup=1, ckpt_every=10, log_every=1)
    trainer = LadderTrainer(run, groups, tmp_path / "run", log=lambda m: None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    for key in keys:
        assert not torch.equal(before[key], after[key]), key
    with pytest.raises(ValueError, match="trains with vtcodec.train.ladder"):
        VTModel(cfg)(torch.rand(1, 2, 3, 32, 32))


# --------------------------------------------------------------- decoded-frame context (format 3.2)

def _random_recon_model(seed: int = 0) -> VTModel:
    """A recon model whose context projections are not zero (as trained, unlike a fresh one)."""
    torch.manual_seed(seed)
    model = VTModel(RECON).eval()
    with torch.no_grad():
        for net in (model.encoder, model.decoder):
            for conv in (net.recon4, net.recon8):
                conv.weight.normal_(0, 0.3)
    return model


def test_a_decoded_frame_context_enters_through_zero_weights():
    from vtcodec.train.ladder import warm_start

    source = VTModel(CFG).eval()
    model = VTModel(RECON).eval()
    warm_start(model, source)
    frames = [torch.rand(1, 3, 32, 48) for _ in range(3)]
    with torch.no_grad():
        za, sa = source.tokenize_conditional(frames, level=2)
        zb, sb = model.tokenize_conditional(frames, level=2)
        assert torch.equal(za, zb) and torch.equal(sa, sb)
        # frame by frame rather than in one batch: the same up to float rounding
        assert torch.allclose(source.reconstruct(sa, level=2), model.reconstruct(sa, level=2), atol=1e-6)


def test_the_decoder_feeds_its_frames_forward_and_the_encoder_sees_them():
    model = _random_recon_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(4)]
    with torch.no_grad():
        _, symbols = model.tokenize_conditional(frames, level=2)
        whole = model.reconstruct(symbols, level=2)
        # frame 0 needs nothing before it; the later ones read the frame decoded before them
        alone = model.reconstruct(symbols[:1], level=2)
        assert torch.equal(alone[0], whole[0])
        states = model.exact_states(symbols, level=2)[0]
        rest = model.reconstruct(symbols[2:], starts_chunk=False, before=symbols[1], level=2, state=states[2:],
                                 shown=whole[1:2])
        assert torch.equal(rest, whole[2:])
        other = model.reconstruct(symbols[2:], starts_chunk=False, before=symbols[1], level=2, state=states[2:],
                                  shown=torch.zeros_like(whole[1:2]))
        assert not torch.equal(other[0], whole[2])
        with pytest.raises(ValueError, match="decoded frame"):
            model.reconstruct(symbols[2:], starts_chunk=False, before=symbols[1], level=2, state=states[2:])
        # the encoder codes frame 1 against frame 0 as its decoder shows it
        z = model.tokenize_conditional(frames, level=2)[0]
        st = states[1:2].float()
        assert torch.equal(z[1:2], model.latents(frames[1], st, 2, model.recon_features(whole[:1], (32, 48), "cpu")))
        assert not torch.equal(z[1:2], model.latents(frames[1], st, 2, model.recon_features(None, (32, 48), "cpu")))


def test_a_decoded_frame_context_model_round_trips_and_seeks_inside_a_chunk(tmp_path):
    frames = synth_frames(40, 24, 9, seed=5)
    data = codec.compress(frames, quality=6, model=RECON_TINY, gop=5)
    header = read_header(io.BytesIO(data))
    assert (header.major, header.minor) == (3, 2)
    tokens: list = []
    dec = codec.Decoder(tokens_out=tokens)
    out = np.stack(dec.decode(data))
    dec.flush()
    model = load_model(RECON_TINY)
    level = codec.Ladder(model.levels).rung(codec.Ladder(model.levels).quality(6))[1]
    ref = model.reconstruct(tokens[1], level=level)  # the second chunk starts from nothing
    assert np.array_equal(out[5:], codec.from_grid(ref, ref.shape[2:], (24, 40)))
    # frames 2.. of the first chunk decode as in the whole, their context rebuilt from frame 0
    assert_seeking_decodes_as_the_whole(tmp_path, frames, RECON_TINY, 2, 4)
