"""VMAF (vtcodec.vmaf) against libvmaf, the reference implementation, on a known pair."""

from __future__ import annotations

import numpy as np
import pytest

from vtcodec.synth import moving_pattern

vmaf = pytest.importorskip("vtcodec.vmaf")
if not vmaf.available():
    pytest.fail(f"vmaf-torch is not installed ({vmaf.INSTALL_HINT}); .ci/run installs it")

# Per-frame VMAF (vmaf_v0.6.1) that libvmaf 3.2.0 (Netflix/vmaf at f85a8536, built with meson,
# -Denable_asm=false) gave for the pair below, written as 8-bit 4:2:0 YUV (chroma 128):
#   vmaf -r ref.yuv -d dist.yuv -w 176 -h 144 -p 420 -b 8 --json -o s.json -q \
#        --model path=model/vmaf_v0.6.1.json
LIBVMAF = [73.3459, 71.1035, 72.5844, 74.2265, 72.6419, 72.0250, 72.6777, 73.2054]


def pair() -> tuple[np.ndarray, np.ndarray]:
    """vtcodec's synthetic clip (176x144, 8 frames, seed 3), and it blurred (2x2 box) with
    Gaussian noise (sigma 3, numpy seed 7): luma planes [T, H, W] uint8."""
    ref = vmaf.luma(moving_pattern(176, 144, 8, 3))
    blur = (ref.astype(np.float64) + np.roll(ref, 1, 2) + np.roll(ref, 1, 1) + np.roll(np.roll(ref, 1, 1), 1, 2)) / 4
    dist = np.clip(np.rint(blur + np.random.default_rng(7).normal(0, 3, ref.shape)), 0, 255).astype(np.uint8)
    return ref, dist


def test_vmaf_agrees_with_libvmaf_frame_by_frame():
    ref, dist = pair()
    got = vmaf.vmaf_frames(ref, dist)
    assert np.abs(got - LIBVMAF).max() < 0.1  # measured: 0.04
    assert abs(got.mean() - np.mean(LIBVMAF)) < 0.02  # measured: 0.005
    # windows of 3 frames (with a frame of context each side) give the whole clip's motion2
    assert np.allclose(vmaf.vmaf_frames(ref, dist, batch=3), got, atol=1e-3)
    # identical frames score near the top (v0.6.1 gives 97..100 with motion), more noise lower
    assert (vmaf.vmaf_frames(ref, ref) > 95).all()
    worse = np.clip(dist.astype(int) + np.random.default_rng(1).integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    assert vmaf.vmaf_frames(ref, worse).mean() < got.mean() - 5
