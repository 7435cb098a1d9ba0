"""Finite Scalar Quantization (FSQ).

Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple", arXiv 2309.15505
(https://arxiv.org/abs/2309.15505).

Each latent channel is bounded with ``tanh`` and rounded to one of ``levels[c]`` values, so the
codebook is implicit (``prod(levels)`` codes) and cannot collapse. vtcodec codes every channel
as its own symbol with an alphabet of ``levels[c]`` entries, which keeps the entropy coder's
tables small (see ``vtcodec.entropy``).

**Gained FSQ** (``gains > 0``, vt2 models): one model, a ladder of quantisation steps. A gain
``g[l, c] = exp(log_gain[l, c])`` per quality level ``l`` and channel (stored with the weights;
vt2 keeps them at their log-spaced start, 1/16 .. 1: trained through straight-through rounding a
gain gets gradient from the rate alone, which only shrinks it) scales the bounded latent before
rounding and divides it after (Cui et al., "Asymmetric gained deep image
compression", CVPR 2021, with the gain and its inverse tied): ``s = round(clamp(b * g)) + half``
and ``q = (s - half) / (g * half)``. A small gain leaves few distinct values in use (cheap, coarse),
a gain of 1 all ``levels[c]`` of them: the information a token carries grows with the level, and
the alphabet (at most 64, odd) never changes, so the range coder's tables stay small. The prior
is told the level (``vtcodec.models.prior``), so it knows how spread the symbols are.
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

    def __init__(self, levels: tuple[int, ...], gains: int = 0) -> None:
        super().__init__()
        if not levels or any(int(x) < 2 or int(x) > 64 for x in levels):
            raise ValueError(f"FSQ levels must each be in 2..64, got {levels}")
        if gains and any(int(x) % 2 == 0 for x in levels):
            raise ValueError(f"gained FSQ needs odd level counts, got {levels}")
        self.levels = tuple(int(x) for x in levels)
        self.gains = int(gains)
        # built from Python values, not by ops on ``lv``: under a meta device (``state_shapes``) an op
        # loads torch's meta kernels, ~1.5 s of imports before a decoder's first frame
        lv = torch.tensor(self.levels, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_half_width", torch.tensor([x // 2 for x in self.levels], dtype=torch.float32)
                             .view(1, -1, 1, 1), persistent=False)
        if self.gains:  # level 0 the coarsest: log-spaced from 1/16 to 1 (training keeps them there)
            start = torch.linspace(math.log(1 / 16), 0.0, self.gains, device="cpu").view(-1, 1).repeat(1, len(self.levels))
            self.log_gain = nn.Parameter(start)

    def gain(self, level: int | torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | float:
        """The gain ``[B, D, 1, 1]`` (or 1.0 for plain FSQ) of quality ``level``: an int for every
        item of a batch, or a ``[B]`` tensor of levels."""
        if not self.gains:
            return 1.0
        if level is None:
            raise ValueError("a gained FSQ needs a quality level")
        idx = torch.as_tensor(level, device=self.log_gain.device).long().view(-1)
        if int(idx.min()) < 0 or int(idx.max()) >= self.gains:
            raise ValueError(f"quality level must be 0..{self.gains - 1}")
        return torch.exp(self.log_gain[idx].to(like.dtype)).view(idx.shape[0], -1, 1, 1)

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

    def _scaled(self, z: torch.Tensor, level) -> torch.Tensor:
        """The bounded latent times the level's gain, kept inside the alphabet."""
        b = self._bound(z)
        if not self.gains:
            return b
        return torch.maximum(torch.minimum(b * self.gain(level, b), self._half_width), -self._half_width)

    def levels_position(self, z: torch.Tensor, level=None) -> torch.Tensor:
        """The latent as a continuous position on the symbol axis: ``encode`` rounds it."""
        return self._scaled(z, level) + self._half_width

    def forward(self, z: torch.Tensor, level=None) -> torch.Tensor:
        b = self._scaled(z, level)
        q = b + (torch.round(b) - b).detach()
        return q / (self._half_width * self.gain(level, q))

    def encode(self, z: torch.Tensor, level=None) -> torch.Tensor:
        return (torch.round(self._scaled(z, level)) + self._half_width).to(torch.int64)

    def encode_sticky(self, z: torch.Tensor, prev: torch.Tensor, margin: float, level=None) -> torch.Tensor:
        """Like ``encode``, but a channel keeps the previous frame's symbol ``prev`` while the
        latent stays within ``0.5 + margin`` of that symbol's level (hysteresis: noise that
        wobbles a latent across a rounding boundary does not flip the token)."""
        b = self._scaled(z, level)
        keep = (b - (prev.to(b.dtype) - self._half_width)).abs() <= 0.5 + margin
        return torch.where(keep, prev, (torch.round(b) + self._half_width).to(torch.int64))

    def decode(self, symbols: torch.Tensor, level=None) -> torch.Tensor:
        q = symbols.to(self._levels.dtype) - self._half_width
        return q / (self._half_width * self.gain(level, q))

    def prior_values(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.to(torch.float32) - self._half_width
