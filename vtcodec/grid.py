"""Frames on a chunk's coding grid: resampling to and from it, padding to whole tokens, and how
many frames one network call may take.

A chunk is coded on a grid of ``coded_size(W, H, k)`` pixels (``vtcodec.bitstream.geometry``):
the encoder resamples the source frames to it and pads them (edge replicate) to multiples of 8;
the decoder crops the padding and resamples back to ``W x H``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .bitstream import TOKEN

MAX_BATCH = 8  # frames per network call at small sizes
BATCH_PIXELS = 1 << 22  # pixels per network call (bounds activations at large sizes: 1 frame of 4K)


def batch_frames(*sizes: tuple[int, int]) -> int:
    """Frames per network call for frames of the given (width, height) sizes: ``MAX_BATCH``, fewer
    when the largest is big, never 0."""
    pixels = max(w * h for w, h in sizes)
    return max(1, min(MAX_BATCH, BATCH_PIXELS // max(pixels, 1)))


def resample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[B, 3, h, w]`` in [0, 1] -> ``[B, 3, *size]``: antialiased bilinear down, bicubic up."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    if size[0] <= x.shape[2] and size[1] <= x.shape[3]:
        return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def to_grid(frames: np.ndarray, device: torch.device, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``[T, H, W, 3]`` uint8 -> ``[T, 3, H8, W8]`` float in [0, 1], resampled to ``size``
    (height, width) when given, edge-padded to multiples of 8."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255
    if size is not None:
        x = resample(x, size)
    h, w = x.shape[2:]
    ph, pw = (-h) % TOKEN, (-w) % TOKEN
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


def from_grid(x: torch.Tensor, coded: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Decoded ``[B, 3, H8, W8]`` in [0, 1] on a grid of ``coded`` = (height, width) pixels ->
    frames ``[B, H, W, 3]`` uint8 of ``size`` = (height, width)."""
    x = resample(x[:, :, :coded[0], :coded[1]], size)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
