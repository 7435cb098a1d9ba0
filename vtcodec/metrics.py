"""Quality metrics on RGB ``uint8`` frames ``[T, H, W, 3]``: PSNR and MS-SSIM.

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


def msssim_window(height: int, width: int) -> int:
    return 11 if min(height, width) > 160 else 7


def _gauss(size: int, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor,
          peak: float = 255.0) -> tuple[torch.Tensor, torch.Tensor]:
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    ch = x.shape[1]
    wx = win.view(1, 1, 1, -1).repeat(ch, 1, 1, 1)
    wy = win.view(1, 1, -1, 1).repeat(ch, 1, 1, 1)

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(z, wx, groups=ch), wy, groups=ch)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx**2 + my**2 + c1)) * cs
    return ssim.mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def msssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of MS-SSIM, computed per RGB channel and averaged (MS-SSIM-RGB)."""
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).to(torch.float64)
    y = torch.from_numpy(np.ascontiguousarray(b)).permute(0, 3, 1, 2).to(torch.float64)
    return float(msssim_tensor(x, y, 255.0, msssim_window(x.shape[2], x.shape[3])).mean())


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
