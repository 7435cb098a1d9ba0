"""VMAF (Netflix's ``vmaf_v0.6.1`` model, the one video engineers quote) of decoded frames.

Computed with ``vmaf-torch`` (a PyTorch implementation of libvmaf's features: VIF at four scales,
ADM, motion2, and the v0.6.1 SVM), on the luma plane at 8 bits, as libvmaf computes it for 8-bit
YUV input. Frames go through in windows of ``batch`` with one frame of overlap on each side, so
that motion2 (which looks at the frames before and after) is the whole clip's; memory follows the
window, not the clip. The score of a clip is the mean of its per-frame scores (libvmaf's pooled
``mean``). tests/test_vmaf.py checks it against scores libvmaf 3.2.0 gave for the same frames;
``benchmarks/vmaf_check.py`` compares the two on a real clip when a libvmaf build is at hand.
"""

from __future__ import annotations

import numpy as np
import torch

from .metrics import yuv

INSTALL_HINT = "pip install 'vmaf-torch>=1.1,<2'"


def available() -> bool:
    try:
        import vmaf_torch  # noqa: F401
    except ImportError:
        return False
    return True


def luma(rgb: np.ndarray, matrix: int = 5, color_range: int = 1) -> np.ndarray:
    """The 8-bit luma plane ``[T, H, W]`` uint8 of RGB frames ``[T, H, W, 3]``, as an 8-bit YUV
    file of theirs would hold it."""
    return np.clip(np.rint(yuv(rgb, matrix, color_range)[..., 0]), 0, 255).astype(np.uint8)


_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        from vmaf_torch import VMAF

        _MODEL = VMAF(temporal_pooling=False, enable_motion=True, clip_score=True).eval()
    return _MODEL


@torch.no_grad()
def vmaf_frames(ref_y: np.ndarray, dist_y: np.ndarray, batch: int = 16) -> np.ndarray:
    """Per-frame VMAF of luma planes ``[T, H, W]`` (uint8): reference first, then the distorted."""
    if ref_y.shape != dist_y.shape or ref_y.ndim != 3:
        raise ValueError(f"VMAF needs two [T, H, W] arrays of one shape, got {ref_y.shape} and {dist_y.shape}")
    n = len(ref_y)
    model = _model()
    scores = np.zeros(n)
    for start in range(0, n, batch):
        lo, hi = max(0, start - 1), min(n, start + batch + 1)  # a frame of context each side
        r = torch.from_numpy(ref_y[lo:hi]).float()[:, None]
        d = torch.from_numpy(dist_y[lo:hi]).float()[:, None]
        s = model.compute_vmaf_score(r, d).reshape(-1).double().numpy()
        end = min(n, start + batch)
        scores[start:end] = s[start - lo:end - lo]
    return scores


def vmaf(ref: np.ndarray, dist: np.ndarray, matrix: int = 5, color_range: int = 1) -> float:
    """Mean VMAF of RGB frames ``[T, H, W, 3]`` uint8 against the reference frames."""
    return float(vmaf_frames(luma(ref, matrix, color_range), luma(dist, matrix, color_range)).mean())
