"""Training: a tiny run, exact resume, export loadable by the codec."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import synth_frames, write_clip
from vtcodec.models import ModelConfig

from vtcodec import codec, files
from vtcodec.errors import ModelError
from vtcodec.train.export import export
from vtcodec.train.loop import TrainConfig, Trainer
from vtcodec.zoo import load_model

TINY_MODEL = ModelConfig(name="test-tiny", quantizer="fsq", fsq_levels=(5, 5, 5), enc_widths=(8, 16),
                         dec_widths=(8, 16), enc_blocks=1, dec_blocks=1, prior_width=8, prior_layers=2,
                         prior_groups=((0,), (1, 2)))
TINY_TRAIN = TrainConfig(model=TINY_MODEL, steps=4, batch=2, crop=32, frames=2, warmup=2,
                         log_every=2, val_every=2, ckpt_every=2, max_frames_per_clip=8)


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    write_clip(d / "a.mkv", synth_frames(48, 40, 6))
    write_clip(d / "b.mp4", synth_frames(40, 40, 5, seed=1))
    return d


def test_resume_continues_from_exact_step_and_state(tmp_path, data):
    straight = Trainer(TINY_TRAIN, [str(data)], tmp_path / "a", log=lambda m: None)
    straight.run()
    half = Trainer(TINY_TRAIN, [str(data)], tmp_path / "b", log=lambda m: None)
    half.cfg = replace(TINY_TRAIN, steps=2)
    half.run()
    resumed = Trainer(TINY_TRAIN, [str(data)], tmp_path / "b", resume=True, log=lambda m: None)
    assert resumed.step == 2
    assert resumed.opt.state_dict()["state"][0]["step"] == 2
    resumed.cfg = TINY_TRAIN
    resumed.run()
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_export_is_loadable_by_the_codec_and_hash_checked(tmp_path, data, monkeypatch):
    Trainer(TINY_TRAIN, [str(data)], tmp_path / "run", val=str(data / "a.mkv"), log=lambda m: None).run()
    entry = export(tmp_path / "run", tmp_path / "model")
    assert entry.name == "test-tiny" and len(entry.sha256) == 64
    src = write_clip(tmp_path / "c.y4m", synth_frames(24, 16, 3))
    tokens_in, tokens_out = [], []
    files.encode_file(src, tmp_path / "c.vtc", model=str(tmp_path / "model"), tokens_out=tokens_in)
    # a stream names its model; decoding finds it only among registered models, never by path
    with pytest.raises(ModelError, match="no model of that name is installed"):
        list(files.iter_decode(tmp_path / "c.vtc"))
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(tmp_path / "model"))
    for _ in files.iter_decode(tmp_path / "c.vtc", tokens_out=tokens_out):
        pass
    assert codec.digest_tokens(tokens_in) == codec.digest_tokens(tokens_out)
    # a corrupted weights file is refused
    w = tmp_path / "model" / "weights.safetensors"
    data_bytes = bytearray(w.read_bytes())
    data_bytes[-1] ^= 1
    w.write_bytes(bytes(data_bytes))
    monkeypatch.delenv("VTCODEC_MODEL_PATH")
    with pytest.raises(ModelError, match="sha256"):
        load_model(tmp_path / "model")


def test_two_process_gloo_ddp_run_finishes_and_exports(tmp_path, data):
    import shutil
    import subprocess
    import sys

    cfg = tmp_path / "tiny.toml"
    cfg.write_text("""
steps = 4
batch = 2
crop = 32
frames = 2
warmup = 2
log_every = 2
val_every = 2
ckpt_every = 2
max_frames_per_clip = 8
msssim_weight = 0.1
[model]
name = "ddp-tiny"
fsq_levels = [5, 5, 5]
enc_widths = [8, 16]
dec_widths = [8, 16]
enc_blocks = 1
dec_blocks = 1
prior_width = 8
prior_layers = 2
""")
    torchrun = shutil.which("torchrun")
    cmd = ([torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"])
    cmd += ["--standalone", "--nproc_per_node", "2", "-m", "vtcodec.train", "--config", str(cfg),
            "--data", str(data), "--out", str(tmp_path / "run")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    out = p.stdout + p.stderr
    assert "rank 0 of 2 finished at step 4" in out and "rank 1 of 2 finished at step 4" in out
    entry = export(tmp_path / "run", tmp_path / "model")
    model = load_model(tmp_path / "model")
    assert entry.name == "ddp-tiny" and model.cfg.fsq_levels == (5, 5, 5)
    src = write_clip(tmp_path / "c.y4m", synth_frames(24, 16, 2))
    stats = codec_files_encode(src, tmp_path / "c.vtc", tmp_path / "model")
    assert stats.frames == 2


def codec_files_encode(src, dst, model):
    from vtcodec import files

    return files.encode_file(src, dst, model=str(model))


def test_a_model_trained_under_a_bundled_name_never_shadows_the_bundled_one(tmp_path, data, monkeypatch):
    """Trained from a bundled recipe (same name), exported: it gets a name of its own, cannot be
    written over the bundled folder, and both models decode their own files side by side."""
    import shutil

    from conftest import cli

    from vtcodec import zoo

    zoo_copy = tmp_path / "zoo"
    shutil.copytree(zoo.ZOO_DIR / "vt1-bsq-tiny", zoo_copy / "vt1-bsq-tiny")
    monkeypatch.setattr(zoo, "ZOO_DIR", zoo_copy)
    recipe = replace(TINY_TRAIN, model=replace(TINY_MODEL, name="vt1-bsq-tiny"))
    Trainer(recipe, [str(data)], tmp_path / "run", log=lambda m: None).run()
    before = (zoo_copy / "vt1-bsq-tiny" / "weights.safetensors").read_bytes()
    with pytest.raises(ModelError, match="bundled model 'vt1-bsq-tiny'"):
        export(tmp_path / "run", zoo_copy / "vt1-bsq-tiny", force=True)
    assert (zoo_copy / "vt1-bsq-tiny" / "weights.safetensors").read_bytes() == before
    with pytest.raises(ModelError, match="--name 'vt1-bsq-tiny'"):
        export(tmp_path / "run", tmp_path / "other", name="vt1-bsq-tiny")
    notes: list[str] = []
    mine = export(tmp_path / "run", tmp_path / "mine", notes=notes)
    assert mine.name.startswith("vt1-bsq-tiny-") and len(mine.name) == len("vt1-bsq-tiny-") + 8
    assert len(notes) == 1 and "bundled" in notes[0]
    with pytest.raises(ModelError, match="holds a model already"):
        export(tmp_path / "run", tmp_path / "mine")

    src = write_clip(tmp_path / "c.y4m", synth_frames(24, 16, 3))
    made = {}
    for label, model in (("bundled", "vt1-bsq-tiny"), ("mine", str(tmp_path / "mine"))):
        tokens: list = []
        files.encode_file(src, tmp_path / f"{label}.vtc", model=model, tokens_out=tokens)
        made[label] = codec.digest_tokens(tokens)
    # without the trained model registered, its file says what it needs
    p = cli("decode", str(tmp_path / "mine.vtc"), "-o", str(tmp_path / "x.y4m"))
    assert p.returncode == 1 and mine.sha256[:16] in p.stderr and "--model" in p.stderr
    # decode --model finds it; the bundled file still decodes by its own name and hash
    p = cli("decode", str(tmp_path / "mine.vtc"), "-o", str(tmp_path / "mine.y4m"), "--model", str(tmp_path / "mine"))
    assert p.returncode == 0, p.stderr
    p = cli("decode", str(tmp_path / "bundled.vtc"), "-o", str(tmp_path / "b.y4m"), "--model", str(tmp_path / "mine"))
    assert p.returncode == 1 and "not --model" in p.stderr
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(tmp_path / "mine"))
    for label in ("bundled", "mine"):
        tokens = []
        for _ in files.iter_decode(tmp_path / f"{label}.vtc", tokens_out=tokens):
            pass
        assert codec.digest_tokens(tokens) == made[label], label
    assert {e.name for e in zoo.list_models()} == {"vt1-bsq-tiny", mine.name}
