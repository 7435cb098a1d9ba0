"""Quality metrics on RGB ``uint8`` frames ``[T, H, W, 3]``: PSNR, SSIM, MS-SSIM (RGB and Y).

PSNR is computed from the mean squared error over all samples of all frames compared (peak 255).
Y, U and V are derived from the RGB frames in float64, without rounding, with the clip's colour
matrix and range (``yuv``); PSNR-YUV weighs the planes 6:1:1 (``(6 Y + U + V) / 8`` in dB, as in
JVET common test conditions); chroma is measured at full resolution.
SSIM is Wang et al. (2004), Gaussian window 11 taps sigma 1.5, averaged over frames and channels.
MS-SSIM follows Wang, Simoncelli, Bovik (2003) with the standard 5 scales and weights and a
Gaussian window of sigma 1.5; the window is 11 taps when the shorter side is above 160 px and 7
taps otherwise (5 scales need the smallest scale to hold a window); ``msssim_window`` tells which.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR over all samples of two uint8 arrays (RGB PSNR for ``[..., 3]`` frames)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def flicker(ref: np.ndarray, dec: np.ndarray) -> float | None:
    """Temporal activity of decoded frames relative to the source's: the mean absolute difference
    between consecutive decoded frames over the same for the source frames (``[T, H, W, 3]``).
    1 is right; well above 1 is flicker (texture or noise that changes from frame to frame while
    the source does not); below 1, motion smoothed away. None for one frame or a still source."""
    def activity(frames: np.ndarray) -> float:
        return float(np.mean([np.abs(frames[i + 1].astype(np.int16) - frames[i]).mean()
                              for i in range(len(frames) - 1)]))

    if len(ref) < 2:
        return None
    src = activity(ref)
    return None if src == 0 else activity(dec) / src


def msssim_window(height: int, width: int) -> int:
    return 11 if min(height, width) > 160 else 7


def _gauss(size: int, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


BLUR_TILE = 128  # outputs per banded matrix product along a row


def _blur_last(z: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """``z`` ``[..., n]`` correlated with ``win`` along its last axis, "valid" outputs only
    ``[..., n - k + 1]``, as products with a banded matrix over tiles of ``BLUR_TILE`` outputs:
    one matrix product instead of ``k`` shifted slices, 2-4x faster forward and backward on a CPU
    (training's MS-SSIM term; ``benchmarks/train_speed.py``)."""
    n, k = z.shape[-1], len(win)
    out = n - k + 1
    tile = min(out, BLUR_TILE)
    span = tile + k - 1
    band = torch.zeros(span, tile, dtype=z.dtype, device=z.device)
    i = torch.arange(tile, device=z.device)
    for j in range(k):
        band[i + j, i] = win[j].to(z.dtype)
    if out == tile:
        return z @ band
    tiles = -(-out // tile)
    u = F.pad(z, (0, tiles * tile + k - 1 - n)).unfold(-1, span, tile)  # [..., tiles, span]
    return (u @ band).flatten(-2)[..., :out]


def _ssim(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor,
          peak: float = 255.0) -> tuple[torch.Tensor, torch.Tensor]:
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(z: torch.Tensor) -> torch.Tensor:  # separable Gaussian, "valid" region only
        if z.requires_grad or z.device.type != "cpu":  # differentiable: banded matrix products
            return _blur_last(_blur_last(z, win).transpose(-1, -2), win).transpose(-1, -2)
        from scipy.ndimage import correlate1d  # the same numbers, 3x faster on a CPU

        k, r = win.numpy(), len(win) // 2
        out = correlate1d(correlate1d(z.numpy(), k, axis=3, mode="constant"), k, axis=2, mode="constant")
        return torch.from_numpy(np.ascontiguousarray(out[:, :, r:out.shape[2] - r, r:out.shape[3] - r]))

    mx, my, bxx, byy, bxy = blur(torch.cat([x, y, x * x, y * y, x * y], 1)).chunk(5, 1)  # one pass
    sxx, syy, sxy = bxx - mx**2, byy - my**2, bxy - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx**2 + my**2 + c1)) * cs
    return ssim.mean(dim=(2, 3)), cs.mean(dim=(2, 3))


KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 7: (0.212, 0.087), 9: (0.2627, 0.0593)}


def yuv(rgb: np.ndarray, matrix: int = 5, color_range: int = 1) -> np.ndarray:
    """Y'CbCr of RGB frames ``[..., 3]`` as float64 ``[..., 3]`` on the 8-bit scale, unrounded."""
    kr, kb = KR_KB.get(matrix, KR_KB[5])
    x = rgb.astype(np.float64) / 255.0
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    if color_range == 2:
        return np.stack([255 * y, 128 + 255 * cb, 128 + 255 * cr], axis=-1)
    return np.stack([16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr], axis=-1)


def _psnr_float(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _nchw(a: np.ndarray) -> torch.Tensor:
    # float32: SSIM's sums stay far inside its precision at 8-bit scale, and it is much faster
    return torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32).permute(0, 3, 1, 2).contiguous()


def ssim(a: np.ndarray, b: np.ndarray, batch: int = 8) -> float:
    """Mean SSIM over frames and channels of ``[T, H, W, C]`` arrays (uint8 or float on 0-255)."""
    win, total = _gauss(11).float(), 0.0
    if min(a.shape[1:3]) < 11:
        raise ValueError("SSIM needs frames of at least 11x11")
    for i in range(0, len(a), batch):
        s, _ = _ssim(_nchw(a[i:i + batch]), _nchw(b[i:i + batch]), win)
        total += float(s.sum())
    return total / (len(a) * a.shape[-1])


def full_set(ref: np.ndarray, dec: np.ndarray, matrix: int = 5, color_range: int = 1,
             dec_luma: np.ndarray | None = None) -> dict[str, float | None]:
    """Every metric of the RD toolkit but LPIPS, for RGB uint8 frames. ``dec_luma``: the decoded
    Y planes ``[T, H, W]`` of a codec that outputs YUV (the Y metrics then use them, not a Y
    recomputed from its RGB output, which would add the YUV -> RGB rounding)."""
    yr, yd = yuv(ref, matrix, color_range), yuv(dec, matrix, color_range)
    if dec_luma is not None:
        yd[..., 0] = dec_luma
    p = [_psnr_float(yr[..., c], yd[..., c]) for c in range(3)]
    side = min(ref.shape[1:3])
    big = side >= 11  # SSIM's window; MS-SSIM's smallest window is 7 taps (None: frames too small)
    return {
        "psnr-rgb": psnr(ref, dec), "psnr-y": p[0], "psnr-u": p[1], "psnr-v": p[2],
        "psnr-yuv": (6 * p[0] + p[1] + p[2]) / 8,
        "ssim-y": ssim(yr[..., :1], yd[..., :1]) if big else None,
        "ssim-rgb": ssim(ref, dec) if big else None,
        "msssim-y": msssim(yr[..., :1], yd[..., :1]) if side >= 7 else None,
        "msssim-rgb": msssim(ref, dec) if side >= 7 else None,
    }


def msssim(a: np.ndarray, b: np.ndarray, batch: int = 8) -> float:
    """Mean MS-SSIM over frames and channels of ``[T, H, W, C]`` arrays on 0-255 (window by size;
    MS-SSIM-RGB for RGB frames)."""
    window, total = msssim_window(a.shape[1], a.shape[2]), 0.0
    for i in range(0, len(a), batch):
        total += float(msssim_tensor(_nchw(a[i:i + batch]), _nchw(b[i:i + batch]), 255.0, window).sum())
    return total / (len(a) * a.shape[-1])


def msssim_tensor(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0, window: int = 7) -> torch.Tensor:
    """Differentiable MS-SSIM of ``[B, C, H, W]`` images (values in [0, peak]) per image and
    channel, ``[B, C]``; used by the metric above and as a training loss. Images too small for 5
    scales (shorter side < 16 x window) use the scales that fit, their weights renormalised."""
    win = _gauss(window).to(x.dtype).to(x.device)
    scales = len(MSSSIM_WEIGHTS)
    while scales > 1 and min(x.shape[2:]) // 2 ** (scales - 1) < window:
        scales -= 1
    if min(x.shape[2:]) < window:
        raise ValueError(f"MS-SSIM needs images of at least {window}x{window}")
    weights = torch.tensor(MSSSIM_WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    values = []
    for i in range(scales):
        ssim, cs = _ssim(x, y, win, peak)
        values.append(torch.relu(ssim if i == scales - 1 else cs))
        if i < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stack = torch.stack(values, dim=-1)  # [B, C, scales]
    return torch.prod(stack.clamp_min(1e-8) ** weights, dim=-1)
