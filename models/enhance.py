"""Enhancement tokens: a second token layer on top of a frozen token model (issue 14, experimental).

Why (models/README.md, "vt2-fsq" and "vt1e-fsq"): a token per 8x8 patch caps what a frame can carry
(vt1: 10 bits, about 28 dB at best on the dev clips), and vt2's 12 channels per 8x8 patch, trained
on this CPU, capped where its transforms did (the unquantized latents decode only 0.05 dB better
than its top level) while costing twice vt1's bits below 25 dB. Scalable coding keeps what already
works at low rates and adds what it lacks: the **base layer** is a bundled model's stream,
unchanged (vt1-fsq at the source-size grid); an **enhancement layer** codes what the base decode
misses, on a grid four times denser (one token per 4x4 patch), with a gained FSQ so that its
information grows with the level (``models/fsq.py``).

* **Encoder** sees the source and the base decode (their 4x4 patches, the difference first);
  per level a scale and shift of its features (as vt2's ``enc_levels``).
* **Decoder** sees the dequantized enhancement latents and the base decode, and adds its output
  to the base decode (its last layer starts at zero, so an untrained layer returns the base).
* **Prior** (``models/prior.py``'s ``Prior``, checkerboard and channel groups) sees the previous
  frame's enhancement tokens, the coded neighbours, the level, and the base layer's tokens of the
  same frame (upsampled to the 4x4 grid) through its side planes. Tokens only: every input of the
  prior is an integer every decoder rebuilds exactly, so the net runs in ``models/intnet.py``'s
  exact arithmetic (``exact_prior``; ``vtcodec.tokens.TokenCoder`` range-codes the layer's tokens
  with it, the base tokens as side planes; the layer has no format yet); the base decode, a
  float, reaches the encoder and decoder only.

Measured (models/README.md, "vt1e-fsq"; 46 CPU minutes): the top level reaches 35-40 dB where
vt1-fsq stops near 28, but at 5.75x x264's bits for the same PSNR-RGB, since the layer's later
frames cost 0.91-0.99 of its first frame's: the residual of a moving frame does not repeat at the
same place, and the intra layer has no motion or decoded-frame context.

**Temporal context** (``recon`` > 0, ``side_prev``; models/README.md, "vt1e-r"): conditional
coding as ``models/temporal.py``'s ``ReconContext`` does it for a token model, at the layer's own
grid. The encoder and decoder also see features of the previous *decoded* frame (on the 8-bit
grid) beside the current base decode, ``C([4 (p(x^_{t-1}) - p(b_t)), p(x^_{t-1})])`` with ``p``
the 4x4 patches, added to both nets' features through projections that start at zero: where the
scene stands still, the previous decode minus the current base decode is the correction itself,
and the encoder need only code what it does not already hold. The prior stays exact: it sees the
previous frame's base tokens beside the current ones (an integer view of what changed), not the
decoded frame. A chunk's frames then decode in order (as a 3.2 stream's do).

The training objective is vt2's (``vtcodec.train.enhance``): lambda_l (MSE + ms (1 - MS-SSIM)) +
bits of the enhancement tokens under the prior, the base frozen.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .fsq import FSQ
from .prior import Prior, clip_costs
from .temporal import pixel_grid, zero_conv
from .tokenizer import ResBlock, clips_previous


@dataclass(frozen=True)
class EnhanceConfig:
    name: str = "vt1e"
    base: str = "vt1-fsq"  # the token model of the base layer (frozen)
    dim: int = 12  # latent channels per 4x4 patch
    alphabet: int = 31  # values per channel at the finest level (odd)
    gains: int = 8  # quality levels (gains log-spaced 1/16 .. 1)
    width: int = 64  # channels of the encoder's and decoder's nets at 1/4 resolution
    blocks: int = 2  # residual blocks in each
    prior_width: int = 48
    prior_layers: int = 3
    prior_groups: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3, 4, 5), (6, 7, 8, 9, 10, 11))
    side: int = 4  # the base layer's token channels (the prior's side planes)
    # temporal context (0/False: none, the intra layer): channels of the decoded-frame context that
    # the encoder and decoder see, and whether the prior sees the previous frame's base tokens too
    recon: int = 0
    side_prev: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EnhanceConfig:
        data = dict(data)
        if "prior_groups" in data:
            data["prior_groups"] = tuple(tuple(g) for g in data["prior_groups"])
        return cls(**data)


def patches(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` in [0, 1] -> ``[B, 48, H/4, W/4]`` in [-1, 1]."""
    return F.pixel_unshuffle(x * 2 - 1, 4)


def synthesize(net: nn.Module, q: torch.Tensor, base: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
    """A layer's decoder (``net``'s ``dec_*`` modules: an ``Enhancer`` or a ``LayerSynthesis``):
    dequantized latents ``[B, D, h, w]``, the base decode ``[B, 3, 4h, 4w]`` and the frame's
    context -> frames."""
    h = net.dec_stem(torch.cat([q.to(base.dtype), patches(base)], 1))
    if ctx is not None:
        h = h + net.dec_ctx(ctx).to(h.dtype)
    h = net.dec_head(F.silu(net.dec_blocks(h)))
    return base + F.pixel_shuffle(h, 4).to(base.dtype) / 2


class LayerSynthesis(nn.Module):
    """The decoder of an ``Enhancer`` alone (its ``dec_*`` modules, the same tensor names): what
    another decoder of a layer's tokens holds (``vtcodec.decoders``; a perceptual one, trained
    by ``vtcodec.train.perceptual``)."""

    PREFIXES = ("dec_stem.", "dec_blocks.", "dec_head.", "dec_ctx.")

    def __init__(self, cfg: EnhanceConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.dec_stem = nn.Conv2d(cfg.dim + 48, w, 3, padding=1)
        self.dec_blocks = nn.Sequential(*[ResBlock(w) for _ in range(cfg.blocks)])
        self.dec_head = nn.Conv2d(w, 48, 3, padding=1)
        if cfg.recon:
            self.dec_ctx = zero_conv(cfg.recon, w)

    @classmethod
    def of(cls, layer: Enhancer) -> LayerSynthesis:
        """A copy of ``layer``'s decoder."""
        net = cls(layer.cfg).to(next(layer.parameters()).device)
        net.load_state_dict({k: v for k, v in layer.state_dict().items() if k.startswith(cls.PREFIXES)})
        return net

    def forward(self, q: torch.Tensor, base: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        return synthesize(self, q, base, ctx)


class Enhancer(nn.Module):
    def __init__(self, cfg: EnhanceConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.quantizer = FSQ((cfg.alphabet,) * cfg.dim, cfg.gains)
        self.enc_stem = nn.Conv2d(96, w, 3, padding=1)
        self.enc_film = nn.Parameter(torch.zeros(cfg.gains, 2, w))
        self.enc_blocks = nn.Sequential(*[ResBlock(w) for _ in range(cfg.blocks)])
        self.enc_head = nn.Conv2d(w, cfg.dim, 1)
        self.dec_stem = nn.Conv2d(cfg.dim + 48, w, 3, padding=1)
        self.dec_blocks = nn.Sequential(*[ResBlock(w) for _ in range(cfg.blocks)])
        self.dec_head = nn.Conv2d(w, 48, 3, padding=1)
        nn.init.zeros_(self.dec_head.weight)
        nn.init.zeros_(self.dec_head.bias)
        self.prior = Prior(cfg.dim, self.quantizer.alphabets, cfg.prior_width, cfg.prior_layers, cfg.gains,
                           cfg.side * (2 if cfg.side_prev else 1))
        if cfg.recon:  # the previous decoded frame against the current base decode, at 1/4
            self.ctx = nn.Sequential(nn.Conv2d(96, cfg.recon, 3, padding=1), nn.SiLU(),
                                     nn.Conv2d(cfg.recon, cfg.recon, 3, padding=1), nn.SiLU())
            self.enc_ctx = zero_conv(cfg.recon, w)
            self.dec_ctx = zero_conv(cfg.recon, w)
        self._exact = None

    @property
    def alphabets(self) -> tuple[int, ...]:
        return self.quantizer.alphabets

    @staticmethod
    def expand_mask(mask: torch.Tensor) -> torch.Tensor:
        """Symbol-channel mask -> latent-channel mask: the same (one symbol per channel)."""
        return mask

    def exact_prior(self):
        """The prior in exact integer arithmetic (``models.model.ExactPrior``): what
        ``vtcodec.tokens.TokenCoder`` codes the layer's tokens with, the side planes in the
        temporal state's place."""
        from .model import ExactPrior

        if self._exact is None:
            self._exact = ExactPrior(self)
        return self._exact

    def context(self, prev: torch.Tensor, base: torch.Tensor, has_prev: torch.Tensor) -> torch.Tensor | None:
        """The decoded-frame context of a frame: ``prev`` the previous decoded frames ``[B, 3, H, W]``
        (any values for a chunk's first frame, ``has_prev`` 0 there: the features are zero) and
        the frame's base decode -> features ``[B, recon, H/4, W/4]`` (None for an intra layer)."""
        if not self.cfg.recon:
            return None
        pp, pb = patches(pixel_grid(prev)), patches(base)
        h = self.ctx(torch.cat([(pp - pb) * 4, pp], 1))
        return h * has_prev.to(h.dtype).view(-1, 1, 1, 1)

    def latents(self, x: torch.Tensor, base: torch.Tensor, level, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Source and base decode ``[B, 3, H, W]`` (H, W multiples of 4) and the frame's context
        (``context``) -> latents ``[B, D, H/4, W/4]``."""
        px, pb = patches(x), patches(base)
        h = self.enc_stem(torch.cat([(px - pb) * 4, pb], 1))
        idx = torch.as_tensor(level, device=h.device).long().view(-1).expand(h.shape[0])
        film = self.enc_film[idx].to(h.dtype)
        h = h * (1 + film[:, 0, :, None, None]) + film[:, 1, :, None, None]
        if ctx is not None:
            h = h + self.enc_ctx(ctx).to(h.dtype)
        return self.enc_head(F.silu(self.enc_blocks(h)))

    def synthesize(self, q: torch.Tensor, base: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Dequantized latents ``[B, D, h, w]``, the base decode ``[B, 3, 4h, 4w]`` and the frame's
        context -> frames."""
        return synthesize(self, q, base, ctx)

    def unroll(self, x: torch.Tensor, base: torch.Tensor, level,
               use_context: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips ``[B, T, 3, H, W]`` (each starting a chunk) and their base decodes, ``level`` an
        int or ``[B]`` -> latents ``[B * T, D, H/4, W/4]`` and decoded frames ``[B * T, 3, H, W]``
        (unclamped), frame after frame as an encoder and decoder run them: each frame's context
        is the frame before as decoded (gradients flow through it in training, so a frame learns
        to serve the next). An intra layer codes the clip at once. ``use_context=False``: every
        frame coded as a chunk's first (what the context contributes, ``benchmarks/enhance.py``)."""
        b, t = x.shape[:2]
        lv = torch.as_tensor(level, device=x.device).long().view(-1).expand(b)
        if not self.cfg.recon:
            flat = lv.repeat_interleave(t)
            z = self.latents(x.flatten(0, 1), base.flatten(0, 1), flat).float()
            return z, self.synthesize(self.quantizer(z, flat), base.flatten(0, 1)).float()
        shown = torch.zeros_like(x[:, 0])
        zs, outs = [], []
        for i in range(t):
            ctx = self.context(shown, base[:, i], torch.full((b,), float(i > 0 and use_context), device=x.device))
            zi = self.latents(x[:, i], base[:, i], lv, ctx).float()
            shown = self.synthesize(self.quantizer(zi, lv), base[:, i], ctx).float()
            zs.append(zi)
            outs.append(shown)
        return torch.stack(zs, 1).flatten(0, 1), torch.stack(outs, 1).flatten(0, 1)

    def side(self, base_values: torch.Tensor) -> torch.Tensor:
        """The base layer's prior values of clips ``[B, T, 4, H/8, W/8]`` -> the prior's side planes
        ``[B, T, C, H/4, W/4]``: the frame's base tokens and, with ``side_prev``, the previous
        frame's (zero for a chunk's first frame: the prior's own flag says which)."""
        if self.cfg.side_prev:
            prev, _ = clips_previous(base_values)
            base_values = torch.cat([base_values, prev.view(base_values.shape)], 2)
        b, t = base_values.shape[:2]
        up = F.interpolate(base_values.flatten(0, 1), scale_factor=2, mode="nearest")
        return up.view(b, t, *up.shape[1:])

    def prior_costs(self, symbols: torch.Tensor, level, side: torch.Tensor) -> torch.Tensor:
        """Float prior's cost in bits of every alphabet entry ``[B, T, S, A, h, w]`` at every position
        of symbols ``[B, T, S, h, w]``, each priced in its coding step (``models.prior.clip_costs``);
        ``side``: ``[B, T, C, h, w]`` (``side``), ``level``: ``[B]``."""
        b, t, s, h, w = symbols.shape
        values = self.quantizer.prior_values(symbols.flatten(0, 1)).view(b, t, -1, h, w)
        lv = torch.as_tensor(level, device=symbols.device).float().view(-1).expand(b).repeat_interleave(t)
        return clip_costs(self.prior, self.cfg.prior_groups, values, s, lv, side.flatten(0, 1).float())

    @staticmethod
    def lambdas(lo: float, hi: float, n: int) -> torch.Tensor:
        return torch.logspace(math.log10(lo), math.log10(hi), n)
