"""Synthetic test content that vtcodec generates itself (no data files needed)."""

from __future__ import annotations

import numpy as np


def moving_pattern(width: int, height: int, frames: int, seed: int = 0) -> np.ndarray:
    """A textured static background with a disc moving across it: ``[frames, H, W, 3]`` uint8.
    Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tint = np.array([1, 0.6, 0.3], dtype=np.float32)
    bg = 110 + 60 * (np.sin(xx / 7.0) * np.cos(yy / 9.0))[..., None] * tint
    bg = bg + rng.normal(0, 3, size=(height, width, 3)).astype(np.float32)
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for t in range(frames):
        f = bg.copy()
        cx, cy = (width * 0.2 + 2.5 * t) % max(width, 1), height / 2 + 0.2 * height * np.sin(t / 5)
        f[((xx - cx) ** 2 + (yy - cy) ** 2) < (min(width, height) / 4) ** 2] = (220, 60, 40)
        out[t] = np.clip(f, 0, 255).astype(np.uint8)
    return out
