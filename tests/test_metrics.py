import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import synth_frames

from vtcodec import anchors, metrics


def test_psnr_of_a_known_error():
    a = np.full((2, 8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[..., 0] += 3  # squared error 9 on one third of the samples
    assert math.isclose(metrics.psnr(a, b), 10 * math.log10(255**2 / 3), rel_tol=1e-12)
    assert metrics.psnr(a, a) == float("inf")


def test_msssim_is_one_for_equal_and_falls_with_noise():
    a = synth_frames(176, 144, 2)
    rng = np.random.default_rng(0)
    noisy = [np.clip(a + rng.normal(0, s, a.shape), 0, 255).astype(np.uint8) for s in (2, 8, 32)]
    values = [metrics.msssim(a, n) for n in noisy]
    assert metrics.msssim(a, a) == 1.0
    assert 1 > values[0] > values[1] > values[2] > 0
    assert metrics.msssim_window(144, 176) == 7 and metrics.msssim_window(360, 640) == 11


def test_the_differentiable_msssim_is_the_metric():
    """Training and refinement use the banded-product blur (with gradients); metrics the scipy
    one: the same values, at sizes one tile of the product covers and sizes that take several."""
    import torch

    rng = np.random.default_rng(1)
    for h, w in ((40, 56), (150, 300)):
        a = torch.from_numpy(rng.random((2, 3, h, w))).float()
        b = (a + 0.1 * torch.from_numpy(rng.random((2, 3, h, w))).float()).clamp(0, 1)
        want = metrics.msssim_tensor(a, b, 1.0, 7)
        got = metrics.msssim_tensor(a.requires_grad_(True), b, 1.0, 7)
        assert torch.allclose(got, want, atol=1e-5)
        got.sum().backward()
        assert a.grad is not None and bool(torch.isfinite(a.grad).all()) and float(a.grad.abs().sum()) > 0


def test_x264_anchor_strips_its_options_sei_and_decodes():
    frames = synth_frames(64, 48, 4)
    r = anchors.x264(frames, Fraction(25), crf=30)
    assert r.frames.shape == frames.shape
    assert metrics.psnr(frames, r.frames) > 25
    sei = b"\x00\x00\x01\x06\x05" + b"x" * 16 + b"x264 - core 999" + b"\x00" * 3
    data = b"\x00\x00\x00\x01\x67abc" + sei + b"\x00\x00\x01\x65frame"
    stripped = anchors._strip_x264_sei(data)
    assert b"x264 - core" not in stripped and b"\x67abc" in stripped and stripped.endswith(b"\x65frame")


def test_flicker_is_temporal_activity_relative_to_the_source():
    rng = np.random.default_rng(1)
    src = synth_frames(64, 48, 6)
    assert metrics.flicker(src, src) == pytest.approx(1.0)
    noisy = np.clip(src.astype(int) + rng.integers(-20, 21, src.shape), 0, 255).astype(np.uint8)
    assert metrics.flicker(src, noisy) > 2  # noise that changes every frame
    still = np.repeat(src[:1], len(src), axis=0)
    assert metrics.flicker(src, still) == 0.0  # motion smoothed away entirely
    assert metrics.flicker(still, src) is None and metrics.flicker(src[:1], src[:1]) is None
