"""Encoder-side latent refinement: choose tokens for the decoder the stream is decoded with.

The tokenizer's encoder is one amortised guess of the latents; the tokens that decode best are
usually a little different. With ``steps > 0`` the encoder improves the latents of a chunk by
gradient descent through the quantizer's straight-through rounding and the (frozen) decoder,
minimising ``MSE + ms_weight * (1 - MS-SSIM)`` of the frames a decoder outputs (the decoded grid
resampled to the source size, as ``vtcodec.codec.StreamDecoder`` does) against the source frames,
then quantizes as usual (hysteresis included). Decoders and the
format are untouched: any tokens are valid, and the decoder rebuilds whatever tokens it receives.

Left alone, refinement drifts to tokens that cost more bits (+2-7% after 12-30 steps). With
``rate_slope > 0`` the objective becomes a rate-distortion Lagrangian ``D + lambda * R``: ``R`` is
the chunk's bits per pixel under the float prior (``soft_bits``: each latent's cost interpolated
between the two levels it lies between, the other tokens held as context), and ``lambda =
rate_slope * D0 / R0`` is the slope of the codec's own curve ``D ~ R^-rate_slope`` at the
chunk's starting point (``D0``, ``R0``): a bit is spent where it buys at least as much distortion
as the quality ladder would give for it, as a classic encoder's RDO does with its lambda.

The chunk is optimised as a whole (frame ``t`` is decoded with frame ``t - 1``'s tokens, so both
receive gradients), ``window`` frames per forward/backward pass to bound memory, one Adam step per
pass over the chunk. Costs ``steps`` decoder forward + backward passes per frame: the ``--preset``
ladder in ``vtcodec.presets.PRESETS`` trades it for quality.

An enhancement layer's latents (``refine_layer``, format 4.0) are refined the same way, over the
base decode the decoder will show: the layer is intra (each frame's output is its base decode
plus the correction its own tokens give), so each frame's distortion is its own and ``window``
frames go through each pass; the rate is the layer prior's over the whole chunk (it sees the
previous frame's layer tokens), its side planes the chunk's base tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .metrics import msssim_tensor
from .models.fsq import FSQ

MSSSIM_WINDOW = 7  # the loss's MS-SSIM window (7 taps fit the small coding grids of low qualities)
# A little MS-SSIM in the objective buys most of its gain without costing PSNR: on reds (4 frames,
# quality 4, preset slow) weight 0 gives +0.17 dB PSNR-RGB / +0.007 MS-SSIM-RGB over medium,
# 0.02 gives +0.09 dB / +0.011, 0.3 gives -0.22 dB / +0.014 (benchmarks/refine.py).
MS_WEIGHT = 0.02


def symbol_costs(model, symbols: torch.Tensor, level=None, states: torch.Tensor | None = None) -> torch.Tensor:
    """Symbols ``[T, S, h, w]`` of one chunk (its first frame starts the chunk) -> the float
    prior's cost in bits of every alphabet entry at every position, ``[T, S, A, h, w]``: each
    symbol priced in the coding step that codes it, the other symbols as its context.
    ``states``: the temporal state before each frame (models with one)."""
    return model.prior_costs(symbols.unsqueeze(0), level, None if states is None else states.unsqueeze(0))[0]


def soft_bits(quantizer: FSQ, z: torch.Tensor, costs: torch.Tensor, level=None) -> torch.Tensor:
    """Differentiable stand-in for the bits of FSQ latents ``z`` ``[T, D, h, w]`` given the cost
    of every level ``[T, D, A, h, w]``: each channel's cost interpolated linearly between the two
    levels its bounded latent lies between (what rounding pays, made continuous). ``level``: the
    quality level of a gained quantizer (an int or ``[T]``)."""
    return soft_bit_map(quantizer, z, costs, level).sum()


def soft_bit_map(quantizer: FSQ, z: torch.Tensor, costs: torch.Tensor, level=None) -> torch.Tensor:
    """``soft_bits`` of every latent, ``[T, D, h, w]``."""
    u = quantizer.levels_position(z, level)  # rounds to the symbol
    lo = torch.minimum(u.detach().floor().clamp(min=0), quantizer._levels - 2).long()
    c0 = costs.gather(2, lo.unsqueeze(2)).squeeze(2)
    c1 = costs.gather(2, (lo + 1).unsqueeze(2)).squeeze(2)
    return c0 + (u - lo).clamp(0, 1) * (c1 - c0)


def refine_latents(model, z: torch.Tensor, frames: torch.Tensor, steps: int, lr: float = 0.01,
                   ms_weight: float = MS_WEIGHT, window: int = 8,
                   render: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   rate_slope: float = 0.0, level: int | None = None) -> torch.Tensor:
    """Latents ``z`` ``[T, D, h, w]`` of one chunk and the source frames ``[T, 3, H, W]`` in
    [0, 1] -> refined latents, same shape. ``render`` maps decoded grids ``[B, 3, 8h, 8w]`` to
    output frames ``[B, 3, H, W]`` (differentiably; default: crop). ``rate_slope``: weight of the
    rate in the objective (module docstring; FSQ models only, 0 = distortion alone). ``level``: the
    chunk's quality level (gained models)."""
    if steps <= 0:
        return z
    if model.recon:
        raise ValueError("latents of a model with a decoded-frame context are not refined (each frame's "
                         "decoder depends on the frame decoded before it)")
    t, _, hh, ww = frames.shape
    render = render or (lambda r: r[:, :, :hh, :ww])
    with torch.inference_mode(False), torch.enable_grad():
        target = frames.clone()
        var = z.clone().requires_grad_(True)
        opt = torch.optim.Adam([var], lr=lr)
        has_prev = (torch.arange(t, device=z.device) > 0).float()
        use_rate = rate_slope > 0 and isinstance(model.quantizer, FSQ)
        lam = None  # set after the first step, from its distortion and rate
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            states = None
            if model.state or use_rate:
                with torch.no_grad():
                    symbols = model.quantizer.encode(var, level)
                    if model.state:  # the exact state of the current tokens, held fixed for the step
                        states = model.exact_states(symbols, level)[0].to(var.device, torch.float32)
                    if use_rate:
                        costs = symbol_costs(model, symbols, level, states)
            distortion = 0.0
            for lo in range(0, t, window):
                hi = min(lo + window, t)
                q = model.quantizer(var[max(lo - 1, 0):hi], level)  # with the frame before the window
                q_prev = torch.cat([torch.zeros_like(q[:1]), q[:-1]]) if lo == 0 else q[:-1]
                q = q if lo == 0 else q[1:]
                with model.autocast():
                    rec = model.decoder(q, q_prev, has_prev[lo:hi], None if states is None else states[lo:hi])
                rec = render(rec.float().clamp(0, 1))  # as a decoder outputs it
                loss = distortion_loss(rec, target[lo:hi], ms_weight) * (hi - lo) / t
                distortion += float(loss.detach())
                if lam is not None:
                    loss = loss + lam * soft_bits(model.quantizer, var[lo:hi], costs[lo:hi], level) / (t * hh * ww)
                loss.backward()
            if use_rate and lam is None:
                with torch.no_grad():
                    rate = float(soft_bits(model.quantizer, var, costs, level)) / (t * hh * ww)
                lam = rate_slope * distortion / max(rate, 1e-9)
            opt.step()
        return var.detach()


def distortion_loss(rec: torch.Tensor, ref: torch.Tensor, ms_weight: float) -> torch.Tensor:
    """The refinement's distortion of output frames ``rec`` against ``ref`` ``[B, 3, H, W]``:
    ``MSE + ms_weight * (1 - MS-SSIM)`` (MS-SSIM left out on frames smaller than its window)."""
    loss = ((rec - ref) ** 2).mean()
    if ms_weight > 0 and min(ref.shape[2:]) >= MSSSIM_WINDOW:
        loss = loss + ms_weight * (1 - msssim_tensor(rec, ref, 1.0, MSSSIM_WINDOW).mean())
    return loss


def refine_layer(net, z: torch.Tensor, frames: torch.Tensor, base: torch.Tensor, side: torch.Tensor | None,
                 level: int, steps: int, lr: float, ms_weight: float = MS_WEIGHT, window: int = 8,
                 rate_slope: float = 0.0) -> torch.Tensor:
    """Latents ``z`` ``[T, D, h, w]`` of an enhancement layer (``models.enhance.Enhancer`` ``net``)
    over a chunk at ``level``, the source frames ``[T, 3, H, W]`` in [0, 1] (the true size), the
    base decode as the decoder shows it ``[T, 3, 4h, 4w]`` (edge-padded) and the layer prior's side
    planes ``[T, C, h, w]`` (needed with ``rate_slope`` > 0) -> refined latents (module docstring).

    Every iterate is scored by what its rounded tokens really give, ``D + lambda R`` with ``R``
    their bits under the float prior, and the best one is returned, the encoder's own latents
    included: straight-through steps on the coarse levels (few values per channel) can wander to
    dearer tokens that decode no better, and an encoder should never pay for a search that lost."""
    if steps <= 0:
        return z
    t, _, hh, ww = frames.shape
    pixels = t * hh * ww
    with torch.inference_mode(False):
        target, base = frames.clone(), base.clone()
        var = z.clone().requires_grad_(True)
        opt = torch.optim.Adam([var], lr=lr)
        lam, best, best_score = 0.0, z, math.inf
        for i in range(steps + 1):  # the last pass scores the last step's latents only
            opt.zero_grad(set_to_none=True)
            rate = 0.0
            if rate_slope > 0:
                with torch.no_grad():
                    symbols = net.quantizer.encode(var, level)
                    costs = net.prior_costs(symbols.unsqueeze(0), level, side.unsqueeze(0))[0].float()
                    rate = float(costs.gather(2, symbols.unsqueeze(2).long()).sum()) / pixels
            distortion = 0.0
            with torch.set_grad_enabled(i < steps):
                for lo in range(0, t, window):
                    hi = min(lo + window, t)
                    rec = net.synthesize(net.quantizer(var[lo:hi], level), base[lo:hi]).float().clamp(0, 1)
                    loss = distortion_loss(rec[:, :, :hh, :ww], target[lo:hi], ms_weight) * (hi - lo) / t
                    distortion += float(loss.detach())
                    if i < steps:
                        if lam:
                            loss = loss + lam * soft_bits(net.quantizer, var[lo:hi], costs[lo:hi], level) / pixels
                        loss.backward()
            if i == 0 and rate_slope > 0:
                lam = rate_slope * distortion / max(rate, 1e-9)
            score = distortion + lam * rate
            if score < best_score:
                best, best_score = var.detach().clone(), score
            if i < steps:
                opt.step()
        return best
