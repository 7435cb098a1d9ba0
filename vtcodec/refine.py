"""Encoder-side latent refinement: choose tokens for the decoder the stream is decoded with.

The tokenizer's encoder is one amortised guess of the latents; the tokens that decode best are
usually a little different. With ``steps > 0`` the encoder improves the latents of a chunk by
gradient descent through the quantizer's straight-through rounding and the (frozen) decoder,
minimising ``MSE + ms_weight * (1 - MS-SSIM)`` of the frames a decoder outputs (the decoded grid
resampled to the source size, as ``vtcodec.codec.decode_chunk`` does) against the source frames,
then quantizes as usual (hysteresis included). Decoders and the
format are untouched: any tokens are valid, and the decoder rebuilds whatever tokens it receives.
The rate is not in the objective; measured, it moves by under 1% (see benchmarks/refine.py).

The chunk is optimised as a whole (frame ``t`` is decoded with frame ``t - 1``'s tokens, so both
receive gradients), ``window`` frames per forward/backward pass to bound memory, one Adam step per
pass over the chunk. Costs ``steps`` decoder forward + backward passes per frame: the ``--preset``
ladder in ``vtcodec.codec.PRESETS`` trades it for quality.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .metrics import msssim_tensor

MSSSIM_WINDOW = 7  # the loss's MS-SSIM window (7 taps fit the small coding grids of low qualities)
# A little MS-SSIM in the objective buys most of its gain without costing PSNR: on reds (4 frames,
# quality 4, preset slow) weight 0 gives +0.17 dB PSNR-RGB / +0.007 MS-SSIM-RGB over medium,
# 0.02 gives +0.09 dB / +0.011, 0.3 gives -0.22 dB / +0.014 (benchmarks/refine.py).
MS_WEIGHT = 0.02


def refine_latents(model, z: torch.Tensor, frames: torch.Tensor, steps: int, lr: float = 0.01,
                   ms_weight: float = MS_WEIGHT, window: int = 8,
                   render: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Latents ``z`` ``[T, D, h, w]`` of one chunk and the source frames ``[T, 3, H, W]`` in
    [0, 1] -> refined latents, same shape. ``render`` maps decoded grids ``[B, 3, 8h, 8w]`` to
    output frames ``[B, 3, H, W]`` (differentiably; default: crop)."""
    if steps <= 0:
        return z
    t, _, hh, ww = frames.shape
    render = render or (lambda r: r[:, :, :hh, :ww])
    with torch.inference_mode(False), torch.enable_grad():
        target = frames.clone()
        var = z.clone().requires_grad_(True)
        opt = torch.optim.Adam([var], lr=lr)
        has_prev = (torch.arange(t, device=z.device) > 0).float()
        use_ms = ms_weight > 0 and min(hh, ww) >= MSSSIM_WINDOW
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            for lo in range(0, t, window):
                hi = min(lo + window, t)
                q = model.quantizer(var[max(lo - 1, 0):hi])  # with the frame before the window
                q_prev = torch.cat([torch.zeros_like(q[:1]), q[:-1]]) if lo == 0 else q[:-1]
                q = q if lo == 0 else q[1:]
                with model.autocast():
                    rec = model.decoder(q, q_prev, has_prev[lo:hi])
                rec = render(rec.float().clamp(0, 1))  # as a decoder outputs it
                ref = target[lo:hi]
                loss = ((rec - ref) ** 2).mean()
                if use_ms:
                    loss = loss + ms_weight * (1 - msssim_tensor(rec, ref, 1.0, MSSSIM_WINDOW).mean())
                (loss * (hi - lo) / t).backward()
            opt.step()
        return var.detach()
