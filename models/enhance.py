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
  prior is an integer every decoder rebuilds exactly, so the net can run in ``models/intnet.py``'s
  exact arithmetic once the layer is coded (it has no coding path or format yet: its bits are the
  float prior's -log2 p); the base decode, a float, reaches the encoder and decoder only.

Measured (models/README.md, "vt1e-fsq"; 46 CPU minutes): the top level reaches 35-40 dB where
vt1-fsq stops near 28, but at 5.75x x264's bits for the same PSNR-RGB, since the layer's later
frames cost 0.91-0.99 of its first frame's: the residual of a moving frame does not repeat at the
same place, and the layer has no motion or decoded-frame context yet.

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
from .tokenizer import ResBlock


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
                           cfg.side)

    def latents(self, x: torch.Tensor, base: torch.Tensor, level) -> torch.Tensor:
        """Source and base decode ``[B, 3, H, W]`` (H, W multiples of 4) -> latents ``[B, D, H/4, W/4]``."""
        px, pb = patches(x), patches(base)
        h = self.enc_stem(torch.cat([(px - pb) * 4, pb], 1))
        idx = torch.as_tensor(level, device=h.device).long().view(-1).expand(h.shape[0])
        film = self.enc_film[idx].to(h.dtype)
        h = h * (1 + film[:, 0, :, None, None]) + film[:, 1, :, None, None]
        return self.enc_head(F.silu(self.enc_blocks(h)))

    def synthesize(self, q: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """Dequantized latents ``[B, D, h, w]`` and the base decode ``[B, 3, 4h, 4w]`` -> frames."""
        h = self.dec_stem(torch.cat([q.to(base.dtype), patches(base)], 1))
        h = self.dec_head(F.silu(self.dec_blocks(h)))
        return base + F.pixel_shuffle(h, 4).to(base.dtype) / 2

    def side(self, base_values: torch.Tensor) -> torch.Tensor:
        """The base layer's prior values ``[B, 4, H/8, W/8]`` -> the prior's side planes at 1/4."""
        return F.interpolate(base_values, scale_factor=2, mode="nearest")

    def prior_costs(self, symbols: torch.Tensor, level, side: torch.Tensor) -> torch.Tensor:
        """Float prior's cost in bits of every alphabet entry ``[B, T, S, A, h, w]`` at every position
        of symbols ``[B, T, S, h, w]``, each priced in its coding step (``models.prior.clip_costs``);
        ``side``: ``[B, T, 4, h, w]``, ``level``: ``[B]``."""
        b, t, s, h, w = symbols.shape
        values = self.quantizer.prior_values(symbols.flatten(0, 1)).view(b, t, -1, h, w)
        lv = torch.as_tensor(level, device=symbols.device).float().view(-1).expand(b).repeat_interleave(t)
        return clip_costs(self.prior, self.cfg.prior_groups, values, s, lv, side.flatten(0, 1).float())

    @staticmethod
    def lambdas(lo: float, hi: float, n: int) -> torch.Tensor:
        return torch.logspace(math.log10(lo), math.log10(hi), n)
