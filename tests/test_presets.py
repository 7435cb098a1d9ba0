"""Encoder presets (latent refinement) and the tokenizer nets' precision (bf16 / fp32)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEV, run_cli

from vtcodec import codec, metrics, zoo
from vtcodec.errors import VtcError
from vtcodec.files import compress, decompress
from vtcodec.video import read_video


def tokens_of(data: bytes, precision: str) -> list:
    dec = codec.Decoder(precision=precision)
    dec.tokens = []
    frames = dec.decode(data)
    dec.flush()
    return [np.stack(frames), dec.tokens]


def test_precision_changes_pixels_slightly_and_tokens_not_at_all():
    src, _ = read_video(DEV / "foreman_qcif_10f.mkv", 3)
    data = compress(src, precision="fp32")
    a, tok_a = tokens_of(data, "fp32")
    b, tok_b = tokens_of(data, "bf16")
    assert all(np.array_equal(x, y) for x, y in zip(tok_a, tok_b, strict=True))  # the prior is exact
    assert metrics.psnr(a, b) > 45  # bf16 decoder: within a level or so of float32
    # an encoder in bf16 picks nearly the same tokens: about the same size and quality
    data16 = compress(src, precision="bf16")
    assert abs(len(data16) / len(data) - 1) < 0.05
    assert abs(metrics.psnr(src, decompress(data16)) - metrics.psnr(src, a)) < 0.1


def test_resolve_precision(monkeypatch):
    assert zoo.resolve_precision("fp32") == "fp32"
    assert zoo.resolve_precision("BF16") == "bf16"
    monkeypatch.setenv("VTCODEC_PRECISION", "fp32")
    assert zoo.resolve_precision() == "fp32"
    assert zoo.load_model(precision=None).precision == "fp32"
    monkeypatch.setenv("VTCODEC_PRECISION", "auto")
    assert zoo.resolve_precision() == ("bf16" if zoo.native_bf16() else "fp32")
    with pytest.raises(VtcError, match="precision must be"):
        zoo.resolve_precision("fp8")


def test_slow_preset_decodes_everywhere_and_beats_medium_at_about_the_same_rate():
    src, _ = read_video(DEV / "reds_demo000_lr_320x180.mkv", 4)
    medium = compress(src, quality=4)
    slow = compress(src, quality=4, preset="slow")
    dm, ds = decompress(medium), decompress(slow)
    assert metrics.msssim(src, ds) > metrics.msssim(src, dm) + 0.004
    assert metrics.psnr(src, ds) > metrics.psnr(src, dm)
    assert abs(len(slow) / len(medium) - 1) < 0.06
    with pytest.raises(VtcError, match="preset must be"):
        codec.Encoder(64, 64, preset="placebo")


def test_cli_preset(tmp_path):
    out = tmp_path / "a.vtc"
    r = run_cli("encode", str(DEV / "foreman_qcif_10f.mkv"), "-o", str(out), "--preset", "slow", "-q", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0
    r = run_cli("encode", str(DEV / "foreman_qcif_10f.mkv"), "-o", str(tmp_path / "b.vtc"), "--preset", "bogus")
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "preset" in r.stderr
    assert not (tmp_path / "b.vtc").exists()
