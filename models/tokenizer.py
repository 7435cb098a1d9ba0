"""Causal video tokenizer: frames ``[T, 3, H, W]`` <-> token grids ``[T, S, H/8, W/8]``.

Design (argued here, measured in models/README.md):

* **Space.** An early 4x4 patchify (``pixel_unshuffle``) turns 3 channels into 48 at a quarter
  of the resolution, so no convolution ever runs at full resolution; one residual stage at 1/4
  and a few at 1/8 follow. The decoder mirrors it and ends in ``pixel_shuffle``. This keeps the
  CPU cost per frame to a few GMAC at 640x360 (``benchmarks/speed.py``).
* **Time.** The encoder is intra (a frame's tokens depend on that frame only) and the decoder is
  conditioned on the *tokens* of the previous frame of the same chunk, never on decoded pixels:
  ``x_t = D(q_t, q_{t-1})``. We chose this over temporal downsampling (MAGVIT-v2/Cosmos style)
  and over pixel-domain conditional coding (DCVC style) because

  - it is causal: frame ``t`` decodes as soon as its tokens arrive;
  - the temporal redundancy of the *bits* is removed by the autoregressive prior, which sees the
    previous token frame (a static background repeats its tokens and costs almost nothing);
  - there is no decoded-pixel feedback loop, so float differences between machines cannot drift
    from frame to frame, and all frames of a chunk decode in one batched call (fast on a CPU);
  - the decoder still exploits time: two token frames carry more detail about a static or slowly
    moving region than one.

The first frame of a chunk (the unit of random access) is decoded with an empty context. A model
with a temporal state goes further, still from tokens alone, and one with a decoded-frame context
(format 3.2) gives up the batched decode for pixel feedback after all: ``models/temporal.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .temporal import recon_fine, zero_conv


class ResBlock(nn.Module):
    """``x + conv(silu(conv(silu(x))))``; the last conv starts at zero so the block starts as
    the identity (stable training without normalisation layers, which would tie a frame's output
    to statistics of the whole frame)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class AnalysisNet(nn.Module):
    """The analysis transform (the tokenizer's encoder net): ``[B, 3, H, W]`` in [0, 1] (H, W multiples of 8) -> ``[B, D, H/8, W/8]``."""

    def __init__(self, cfg: ModelConfig, dim: int) -> None:
        super().__init__()
        w0, w1 = cfg.enc_widths
        self.stem = nn.Conv2d(48, w0, 3, padding=1)
        self.block0 = ResBlock(w0)
        self.down = nn.Conv2d(w0, w1, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(w1) for _ in range(cfg.enc_blocks)])
        self.head = nn.Conv2d(w1, dim, 1)
        # a model with a temporal state (models/temporal.py) adds it at 1/8 resolution
        self.ctx = nn.Conv2d(cfg.state, w1, 3, padding=1) if cfg.state else None
        # ``enc_levels``: per quality level, a scale and shift of the 1/8 features and a log-scale of
        # each latent (q-scaled features, as DCVC's variable-rate encoders), all zero at the start so
        # that a warm start computes what its source does. One encoder shared by every level cannot
        # make its latents sparse for the coarse levels without costing the fine ones (vt2 run 4).
        self.film = nn.Parameter(torch.zeros(cfg.gains, 2, w1)) if cfg.enc_levels else None
        self.out_scale = nn.Parameter(torch.zeros(cfg.gains, dim)) if cfg.enc_levels else None
        # a model with a decoded-frame context (ReconContext) adds its features at 1/4 and 1/8
        self.recon4 = zero_conv(recon_fine(cfg.recon), w0) if cfg.recon else None
        self.recon8 = zero_conv(cfg.recon, w1) if cfg.recon else None

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None, level=None,
                recon: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``ctx``: the temporal state ``[B, C, H/8, W/8]`` before these frames (models with a
        state; zeros for a chunk's first frame). ``level``: the quality level, an int or ``[B]``
        (models with ``enc_levels``; ignored by others). ``recon``: the decoded-frame context's
        features (models with one, ``ReconContext``)."""
        h = F.pixel_unshuffle(x * 2 - 1, 4)
        h = self.block0(self.stem(h))
        if self.recon4 is not None:
            h = h + self.recon4(recon[0].to(h.dtype))
        h = self.down(F.silu(h))
        if self.recon8 is not None:
            h = h + self.recon8(recon[1].to(h.dtype))
        if self.ctx is not None:
            h = h + self.ctx(ctx.to(h.dtype))
        if self.film is not None:
            if level is None:
                raise ValueError("this encoder needs the quality level")
            idx = torch.as_tensor(level, device=h.device).long().view(-1).expand(h.shape[0])
            film = self.film[idx].to(h.dtype)
            h = h * (1 + film[:, 0, :, None, None]) + film[:, 1, :, None, None]
        h = self.blocks(h)
        z = self.head(F.silu(h))
        if self.out_scale is not None:
            z = z * torch.exp(self.out_scale[idx]).to(z.dtype)[:, :, None, None]
        return z


class SynthesisNet(nn.Module):
    """The synthesis transform (the tokenizer's decoder net): ``[B, D, h, w]`` (+ previous frame's ``[B, D, h, w]`` and a context flag) ->
    ``[B, 3, 8h, 8w]`` in roughly [0, 1] (clamp before display)."""

    def __init__(self, cfg: ModelConfig, dim: int) -> None:
        super().__init__()
        w0, w1 = cfg.dec_widths
        self.context = cfg.context
        self.state = cfg.state
        in_ch = (2 * dim + 1 if cfg.context else dim) + cfg.state
        self.stem = nn.Conv2d(in_ch, w1, 3, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(w1) for _ in range(cfg.dec_blocks)])
        self.up = nn.Conv2d(w1, w0 * 4, 1)
        self.block0 = ResBlock(w0)
        self.head = nn.Conv2d(w0, 48, 3, padding=1)
        self.recon8 = zero_conv(cfg.recon, w1) if cfg.recon else None
        self.recon4 = zero_conv(recon_fine(cfg.recon), w0) if cfg.recon else None

    def forward(self, q: torch.Tensor, q_prev: torch.Tensor, has_prev: torch.Tensor,
                state: torch.Tensor | None = None,
                recon: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``q``, ``q_prev``: ``[B, D, h, w]``; ``has_prev``: ``[B]`` (0 for a chunk's first frame,
        whose ``q_prev`` is ignored); ``state``: the temporal state ``[B, C, h, w]`` before each
        frame (models with a state); ``recon``: the decoded-frame context's features (models with
        one, ``ReconContext``)."""
        if self.context:
            flag = has_prev.to(q.dtype).view(-1, 1, 1, 1)
            q = torch.cat([q, q_prev * flag, flag.expand(-1, 1, *q.shape[2:])], dim=1)
        if self.state:
            q = torch.cat([q, state.to(q.dtype)], dim=1)
        h = self.stem(q)
        if self.recon8 is not None:
            h = h + self.recon8(recon[1].to(h.dtype))
        h = self.blocks(h)
        h = F.pixel_shuffle(self.up(F.silu(h)), 2)
        if self.recon4 is not None:
            h = h + self.recon4(recon[0].to(h.dtype))
        h = F.silu(self.block0(h))
        if self.recon4 is not None:
            # the last layer in float32: under bfloat16 its outputs near +-1 lie 2^-7 apart, about an
            # 8-bit step, and fed forward frame after frame that rounding adds up (fp32 against
            # bf16 decodes: 39.0 dB at frame 31 of a chunk with it in bf16, 45.2 dB in fp32)
            with torch.autocast(h.device.type, enabled=False):
                h = self.head(h.float())
        else:
            h = self.head(h)
        return (F.pixel_shuffle(h, 4) + 1) / 2


def previous(q: torch.Tensor, starts_chunk: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Context for a run ``[T, D, h, w]`` of consecutive frames of one chunk: returns
    ``(q_prev, has_prev)`` with ``q_prev[t] = q[t-1]``; frame 0 has no context when the run starts
    the chunk."""
    q_prev = torch.cat([torch.zeros_like(q[:1]), q[:-1]], dim=0)
    has_prev = torch.ones(q.shape[0], device=q.device)
    if starts_chunk:
        has_prev[0] = 0
    return q_prev, has_prev


def clips_previous(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``previous`` for a batch of clips ``[B, T, ...]``, each starting a chunk: ``(q_prev,
    has_prev)`` flattened to ``[B * T, ...]`` and ``[B * T]``."""
    b, t = q.shape[:2]
    q_prev = torch.cat([torch.zeros_like(q[:, :1]), q[:, :-1]], dim=1).flatten(0, 1)
    return q_prev, (torch.arange(t, device=q.device) > 0).float().repeat(b)
