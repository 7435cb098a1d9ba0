"""Exact integer evaluation of the prior, so that probabilities are bit-identical everywhere.

Float networks differ by an ULP between CPUs, GPUs, thread counts and library versions, and one
flipped probability turns every later symbol into garbage (../shared/FIELD.md, "Cross-machine
decoding"). vtcodec therefore never feeds float results into the range coder:

1. Weights are rounded once, at load, to integers: ``W_int = round(W * 2**s)`` with a per-layer
   power of two ``s`` chosen from the layer's largest weight (``|W_int| <= 2**10``); biases to
   ``round(b * 2**(ACT_BITS + s))``.
2. Activations are integers in units of ``2**-ACT_BITS``. Each layer computes
   ``acc = conv(a, W_int) + b_int`` where every product and partial sum is an integer below
   ``2**53``, so float64 arithmetic is *exact* whatever the summation order, thread count or
   device; then ``a = clamp(floor(relu(acc) / 2**s))`` (division by a power of two: exact).
   Convolutions are written as ``unfold`` + matrix product so no Winograd/FFT path can be chosen.
3. The head's integer logits (bits, in units of ``2**-ACT_BITS``) become integer frequencies
   through a 16-entry table of ``2**(-j/16)`` (``pmf_from_logits``), with a floor so that every
   symbol stays codable. Only these integers reach constriction.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

ACT_BITS = 6  # activations and logits are integers in units of 2**-6
WEIGHT_BITS = 10  # largest |weight| of a layer maps to at most 2**10
ACT_LIMIT = 2.0**20  # activations are clamped to +-2**20 (keeps every sum far below 2**53)
PMF_BITS = 30
# round(2**30 * 2**(-j/16)) for j = 0..15, written out so no libm is involved at run time
EXP2_TABLE = np.array([
    1073741824, 1028218693, 984625594, 942880699, 902905651, 864625413, 827968132, 792865000,
    759250125, 727060411, 696235434, 666717336, 638450708, 611382493, 585461881, 560640218,
], dtype=np.int64)
PMF_FLOOR = 1 << (PMF_BITS - 16)  # every symbol keeps at least ~2**-16 of the top probability


class IntConvNet:
    """Integer-exact evaluation of a stack of ``Conv2d`` layers with ReLU between them."""

    def __init__(self, convs: list[torch.nn.Conv2d], device: torch.device | str = "cpu") -> None:
        self.layers = []
        for conv in convs:
            w = conv.weight.detach().to(torch.float64).cpu()
            b = conv.bias.detach().to(torch.float64).cpu()
            wmax = float(w.abs().max())
            exponent = math.frexp(wmax)[1] if wmax > 0 else 0  # wmax < 2**exponent
            shift = WEIGHT_BITS - exponent
            w_int = torch.round(torch.ldexp(w, torch.tensor(shift, dtype=torch.float64)))
            b_int = torch.round(torch.ldexp(b, torch.tensor(shift + ACT_BITS, dtype=torch.float64)))
            k = conv.kernel_size[0]
            self.layers.append((
                w_int.reshape(w.shape[0], -1).to(device),
                b_int.view(1, -1, 1).to(device),
                float(2.0**-shift),  # multiplying by a power of two is exact, like dividing
                k,
            ))

    def __call__(self, x_int: torch.Tensor) -> torch.Tensor:
        """``x_int``: ``[B, C, h, w]`` float64 holding integers (input value * 2**ACT_BITS).
        Returns the head's integer outputs ``[B, O, h, w]`` (float64 holding integers).

        Hidden layers compute ``clamp(floor(acc / 2**s), 0, ACT_LIMIT)``, which equals
        ``min(floor(relu(acc) / 2**s), ACT_LIMIT)``, in place (three passes, no temporaries)."""
        b, _, h, w = x_int.shape
        a = x_int
        last = len(self.layers) - 1
        for i, (w_int, b_int, inv_scale, k) in enumerate(self.layers):
            cols = F.unfold(a, k, padding=k // 2) if k > 1 else a.reshape(b, a.shape[1], h * w)
            acc = torch.matmul(w_int, cols)
            acc.add_(b_int).mul_(inv_scale).floor_()
            if i < last:
                acc.clamp_(0, ACT_LIMIT)
            else:
                acc.clamp_(-ACT_LIMIT, ACT_LIMIT)
            a = acc.view(b, -1, h, w)
        return a


def pmf_from_logits(logits: np.ndarray, alphabet: int) -> np.ndarray:
    """Integer logits ``[N, A]`` (bits in units of 2**-ACT_BITS) -> integer frequencies
    ``[N, alphabet]`` (int64). Pure integer arithmetic."""
    z = logits[:, :alphabet].astype(np.int64)
    d = (z.max(axis=1, keepdims=True) - z) >> (ACT_BITS - 4)  # units of 1/16 bit, >= 0
    shift = np.minimum(d >> 4, PMF_BITS + 1)
    return (EXP2_TABLE[d & 15] >> shift) + PMF_FLOOR
