"""Encoder presets (latent refinement) and the tokenizer nets' precision (bf16 / fp32). What the
presets buy in quality is measured by benchmarks/refine.py (README, "Presets"), not here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DEV, TINY, cli

from vtcodec import codec, grid, metrics, refine, zoo
from vtcodec.codec import compress, decompress
from vtcodec.errors import VtcError
from vtcodec.presets import PRESETS, Preset, get_preset
from vtcodec.video import read_video


def tokens_of(data: bytes, precision: str) -> list:
    tokens: list = []
    dec = codec.Decoder(precision=precision, tokens_out=tokens)
    frames = dec.decode(data)
    dec.flush()
    return [np.stack(frames), tokens]


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


def test_the_trainers_autocast_follows_the_precision(monkeypatch):
    """bfloat16 autocast in the mixed-material trainers only where it is native or asked for: an
    AVX2 CPU emulates it, 12x slower than float32 (vtcodec.train.loop.autocast)."""
    from vtcodec.train.loop import autocast

    cpu = torch.device("cpu")
    conv = torch.nn.Conv2d(3, 4, 3)
    for setting, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16),
                           ("auto", torch.bfloat16 if zoo.native_bf16() else torch.float32)):
        monkeypatch.setenv("VTCODEC_PRECISION", setting)
        with autocast(cpu):
            assert conv(torch.rand(1, 3, 8, 8)).dtype == dtype, setting


def test_slow_preset_changes_the_tokens_not_the_format():
    src, _ = read_video(DEV / "reds_demo000_lr_320x180.mkv", 2)
    medium = compress(src, quality=4, model=TINY)
    slow = compress(src, quality=4, preset="slow", model=TINY)
    assert slow != medium and abs(len(slow) / len(medium) - 1) < 0.1
    assert decompress(slow).shape == src.shape
    with pytest.raises(VtcError, match="preset must be"):
        codec.Encoder(64, 64, preset="placebo")


def test_presets_are_frozen_settings():
    p = get_preset("veryslow")
    assert p is PRESETS["veryslow"] and p.refine_steps == 30 and p.rate_slope > 0
    with pytest.raises(AttributeError):
        p.refine_steps = 3  # type: ignore[misc]
    with pytest.raises(VtcError, match="negative"):
        Preset("mine", refine_steps=-1)
    enc = codec.Encoder(16, 16, model=TINY, preset=Preset("mine", margin=0.0))
    assert enc.preset.margin == 0.0


def test_cli_preset(tmp_path):
    out = tmp_path / "a.vtc"
    r = cli("encode", str(DEV / "foreman_qcif_10f.mkv"), "-o", str(out), "--preset", "slow", "-q", "2",
            "--quiet", "--model", TINY)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0
    r = cli("encode", str(DEV / "foreman_qcif_10f.mkv"), "-o", str(tmp_path / "b.vtc"), "--preset", "bogus")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "preset" in r.stderr
    assert not (tmp_path / "b.vtc").exists()


def test_symbol_costs_price_the_coded_symbols_as_the_prior_does():
    model = zoo.load_model()
    src, _ = read_video(DEV / "foreman_qcif_10f.mkv", 3)
    symbols = model.tokenize(grid.to_grid(src, torch.device("cpu")))
    costs = refine.symbol_costs(model, symbols)
    with torch.no_grad():
        want = model.prior_bits(symbols.unsqueeze(0))[0]
    got = costs.gather(2, symbols.unsqueeze(2)).squeeze(2)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)
    # between two levels a latent costs the linear mix of their costs, and its gradient points to
    # the cheaper one (the bounded latent grows with z)
    q = model.quantizer
    z = torch.randn(1, 4, 1, 1, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    c = costs[:1, :, :, :1, :1]
    u = q.levels_position(z.detach())[0, :, 0, 0]
    bits = refine.soft_bits(q, z, c)
    want = 0.0
    slopes = []
    for ch in range(4):
        lo = min(int(u[ch].floor()), q.levels[ch] - 2)
        c0, c1 = float(c[0, ch, lo, 0, 0]), float(c[0, ch, lo + 1, 0, 0])
        want += c0 + (float(u[ch]) - lo) * (c1 - c0)
        slopes.append(np.sign(c1 - c0))
    assert abs(float(bits.detach()) - want) < 1e-3
    bits.backward()
    assert np.array_equal(np.sign(z.grad.view(-1).numpy()), np.array(slopes))
