"""Binary Spherical Quantization (BSQ).

Zhao, Xiong, Krähenbühl, "Image and Video Tokenization with Binary Spherical Quantization",
arXiv 2406.07548 (https://arxiv.org/abs/2406.07548); lookup-free quantization from MAGVIT-v2,
arXiv 2310.05737.

The latent is L2-normalised onto the unit sphere in ``L`` dimensions and each coordinate is
replaced by its sign, scaled by ``1/sqrt(L)``; the codebook (``2**L`` codes) is implicit.
For entropy coding the ``L`` bits are factorised into groups of ``group_bits`` bits, each group a
symbol with an alphabet of ``2**group_bits`` (the paper's prior uses 2 groups of 9 bits; vtcodec
keeps alphabets at or below 64 because per-symbol tables get slow above that).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BSQ(nn.Module):
    """Quantize ``[B, L, H, W]`` latents to sign bits on the sphere.

    Symbols are ``[B, L // group_bits, H, W]`` integers; bit ``j`` of group ``g`` is latent
    channel ``g * group_bits + j`` (least significant bit first). The ``level`` arguments are
    FSQ's interface (gained quality levels); BSQ has no levels and ignores them.
    """

    def __init__(self, bits: int, group_bits: int) -> None:
        super().__init__()
        if bits < 1 or group_bits < 1 or bits % group_bits or group_bits > 6:
            raise ValueError(f"BSQ needs bits % group_bits == 0 and group_bits <= 6, got {bits}, {group_bits}")
        self.bits = int(bits)
        self.group_bits = int(group_bits)
        weights = (2 ** torch.arange(group_bits)).view(1, 1, group_bits, 1, 1)
        self.register_buffer("_weights", weights, persistent=False)

    @property
    def dim(self) -> int:
        return self.bits

    @property
    def alphabets(self) -> tuple[int, ...]:
        return (2**self.group_bits,) * (self.bits // self.group_bits)

    @property
    def bits_per_token(self) -> float:
        return float(self.bits)

    def forward(self, z: torch.Tensor, level=None) -> torch.Tensor:
        u = z / z.norm(dim=1, keepdim=True).clamp_min(1e-6)
        q = torch.where(u > 0, 1.0, -1.0) / math.sqrt(self.bits)
        return u + (q - u).detach()

    def encode(self, z: torch.Tensor, level=None) -> torch.Tensor:
        b, _, h, w = z.shape
        bits = (z > 0).to(torch.int64).view(b, -1, self.group_bits, h, w)
        return (bits * self._weights).sum(dim=2)

    def encode_sticky(self, z: torch.Tensor, prev: torch.Tensor, margin: float, level=None) -> torch.Tensor:
        """Like ``encode``, but a bit keeps its value in the previous frame's symbols ``prev``
        while the normalised latent is within ``margin`` of zero (see ``FSQ.encode_sticky``)."""
        b, _, h, w = z.shape
        u = z / z.norm(dim=1, keepdim=True).clamp_min(1e-6) * math.sqrt(self.bits)
        bits = torch.where(u.abs() < margin, self._bits(prev), (z > 0).to(torch.int64))
        return (bits.view(b, -1, self.group_bits, h, w) * self._weights).sum(dim=2)

    def _bits(self, symbols: torch.Tensor) -> torch.Tensor:
        b, g, h, w = symbols.shape
        bits = (symbols.unsqueeze(2) // self._weights) % 2
        return bits.view(b, g * self.group_bits, h, w)

    def decode(self, symbols: torch.Tensor, level=None) -> torch.Tensor:
        return (self._bits(symbols).to(torch.float32) * 2 - 1) / math.sqrt(self.bits)

    def prior_values(self, symbols: torch.Tensor) -> torch.Tensor:
        return self._bits(symbols).to(torch.float32) * 2 - 1
