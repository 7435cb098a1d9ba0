"""Finite Scalar Quantization (FSQ).

Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple", arXiv 2309.15505
(https://arxiv.org/abs/2309.15505).

Each latent channel is bounded with ``tanh`` and rounded to one of ``levels[c]`` values, so the
codebook is implicit (``prod(levels)`` codes) and cannot collapse. vtcodec codes every channel
as its own symbol with an alphabet of ``levels[c]`` entries, which keeps the entropy coder's
tables small (see ``vtcodec.entropy``).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FSQ(nn.Module):
    """Quantize ``[B, D, H, W]`` latents, ``D == len(levels)``.

    * ``forward(z)`` returns the straight-through quantized latent in ``[-1, 1]`` (training).
    * ``encode(z)`` returns integer symbols ``[B, D, H, W]`` with ``0 <= s[:, c] < levels[c]``.
    * ``decode(s)`` maps symbols back to the quantized latent, exactly as ``forward`` would.
    * ``prior_values(s)`` gives the small integers the prior sees (``s - levels // 2``).
    """

    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        if not levels or any(int(x) < 2 or int(x) > 64 for x in levels):
            raise ValueError(f"FSQ levels must each be in 2..64, got {levels}")
        self.levels = tuple(int(x) for x in levels)
        lv = torch.tensor(self.levels, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_half_width", torch.floor(lv / 2), persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def alphabets(self) -> tuple[int, ...]:
        """Alphabet size of each symbol channel."""
        return self.levels

    @property
    def bits_per_token(self) -> float:
        return sum(math.log2(x) for x in self.levels)

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        eps = 1e-3
        half_l = (self._levels - 1) * (1 + eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def levels_position(self, z: torch.Tensor) -> torch.Tensor:
        """The latent as a continuous position on the symbol axis: ``encode`` rounds it."""
        return self._bound(z) + self._half_width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = self._bound(z)
        q = b + (torch.round(b) - b).detach()
        return q / self._half_width

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        return (torch.round(self._bound(z)) + self._half_width).to(torch.int64)

    def encode_sticky(self, z: torch.Tensor, prev: torch.Tensor, margin: float) -> torch.Tensor:
        """Like ``encode``, but a channel keeps the previous frame's symbol ``prev`` while the
        latent stays within ``0.5 + margin`` of that symbol's level (hysteresis: noise that
        wobbles a latent across a rounding boundary does not flip the token)."""
        b = self._bound(z)
        keep = (b - (prev.to(b.dtype) - self._half_width)).abs() <= 0.5 + margin
        return torch.where(keep, prev, (torch.round(b) + self._half_width).to(torch.int64))

    def decode(self, symbols: torch.Tensor) -> torch.Tensor:
        return (symbols.to(self._levels.dtype) - self._half_width) / self._half_width

    def prior_values(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.to(torch.float32) - self._half_width
