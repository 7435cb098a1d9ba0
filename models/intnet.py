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
   Convolutions are written as sums of matrix products over shifted views of the padded input
   (one per kernel tap), so no Winograd/FFT path can be chosen and no patch matrix is built.
3. The head's integer logits (bits, in units of ``2**-ACT_BITS``) become integer frequencies
   through a 16-entry table of ``2**(-j/16)`` (``pmf_from_logits``), with a floor so that every
   symbol stays codable. Only these integers reach constriction.
"""

from __future__ import annotations

import math

import numpy as np
import torch

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

    def __init__(self, convs: list[torch.nn.Conv2d], device: torch.device | str = "cpu",
                 out_limit: float = ACT_LIMIT) -> None:
        """``out_limit``: the head's outputs are clamped to ``+-out_limit`` (integers)."""
        self.out_limit = float(out_limit)
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
        # each layer's weights split per kernel tap ``[k * k, O, C]`` (contiguous, for _conv)
        self.taps = [w_int.view(w_int.shape[0], -1, k * k).permute(2, 0, 1).contiguous()
                     for w_int, _, _, k in self.layers]
        # 1x1 layers after the last spatial one run only where outputs are wanted
        spatial = [i for i, layer in enumerate(self.layers) if layer[3] > 1]
        self.pointwise_from = spatial[-1] + 1 if spatial else 0

    def __call__(self, x_int: torch.Tensor, positions: torch.Tensor | None = None,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
        """``x_int``: ``[B, C, h, w]`` float64 holding integers (input value * 2**ACT_BITS).
        Returns the head's integer outputs ``[B, O, h, w]`` (float64 holding integers), or with
        ``positions`` (flat indices into ``h * w``) only those outputs, ``[B, O, P]``: the 1x1
        layers after the last spatial one then run at those positions alone (a coding step needs
        the outputs of one checkerboard half). Each output is the same sum of the same integer
        products either way, so the values are identical. ``rows``: the head's outputs wanted
        (indices; default all), in that order: the head computes those alone.

        Hidden layers compute ``clamp(floor(acc / 2**s), 0, ACT_LIMIT)``, which equals
        ``min(floor(relu(acc) / 2**s), ACT_LIMIT)``, in place (three passes, no temporaries)."""
        return torch.stack([self._one(x, positions, rows) for x in x_int])

    def _one(self, x: torch.Tensor, positions: torch.Tensor | None, rows: torch.Tensor | None) -> torch.Tensor:
        _, h, w = x.shape
        last = len(self.layers) - 1
        a, layout = x.reshape(x.shape[0], h * w), "flat"  # "flat": [C, h * w]; "span": see _conv
        for i, (w_int, b_int, inv_scale, k) in enumerate(self.layers):
            taps = self.taps[i]
            if i == last and rows is not None:
                w_int, b_int, taps = w_int[rows], b_int[:, rows], taps[:, rows]
            if i == self.pointwise_from and positions is not None:
                a = _select(a, positions, h, w) if layout == "span" else a[:, positions]
                layout = "points"
            if k > 1:
                acc = _conv(a, layout, taps, k, h, w)
                layout = "span"
            else:
                acc = torch.matmul(w_int, a)
            acc.add_(b_int[0]).mul_(inv_scale).floor_()
            if i < last:
                acc.clamp_(0, ACT_LIMIT)
            else:
                acc.clamp_(-self.out_limit, self.out_limit)
            a = acc
        if layout == "span":
            a = _select(a, None, h, w)
        return a if positions is not None else a.view(a.shape[0], h, w)


def _conv(a: torch.Tensor, layout: str, taps: torch.Tensor, k: int, h: int, w: int) -> torch.Tensor:
    """A ``k x k`` convolution (zero padding ``k // 2``) of ``a`` (``[C, h * w]`` "flat", or a
    previous layer's "span" output) as ``k * k`` matrix products with shifted views of the padded
    input: no patch matrix is built and no Winograd/FFT algorithm can be chosen.

    Output "span" layout ``[O, L]``: entry ``q = i * (w + 2p) + j`` holds output pixel ``(i, j)``
    for ``j < w``; the ``2p`` entries per row beyond ``w`` are junk, dropped by ``_select``."""
    p = k // 2
    wp = w + 2 * p
    c = a.shape[0]
    padded = a.new_zeros(c, h + 2 * p, wp)
    if layout == "flat":
        padded[:, p:p + h, p:p + w] = a.view(c, h, w)
    else:
        padded[:, p:p + h, p:p + w] = _span_grid(a, h, w)
    flat = padded.view(c, -1)
    span = (h - 1) * wp + w
    out = None
    for t in range(k * k):
        off = (t // k) * wp + t % k
        view = flat[:, off:off + span]
        out = torch.matmul(taps[t], view) if out is None else out.addmm_(taps[t], view)
    return out


def _pitch(a: torch.Tensor, h: int, w: int) -> int:
    """Row pitch of a "span" ``[C, L]``: ``(L - w) // (h - 1)``, or ``w`` for one row."""
    return (a.shape[1] - w) // (h - 1) if h > 1 else w


def _span_grid(a: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A "span" ``[C, L]`` -> view ``[C, h, w]``."""
    return a.as_strided((a.shape[0], h, w), (a.stride(0), _pitch(a, h, w), 1))


def _select(a: torch.Tensor, positions: torch.Tensor | None, h: int, w: int) -> torch.Tensor:
    """A "span" ``[C, L]`` -> ``[C, h * w]``, or ``[C, P]`` at ``positions`` (flat in ``h * w``)."""
    if positions is None:
        return _span_grid(a, h, w).reshape(a.shape[0], h * w)
    return a[:, positions // w * _pitch(a, h, w) + positions % w]


def pmf_from_logits(logits: np.ndarray, alphabet: int) -> np.ndarray:
    """Integer logits ``[N, A]`` (bits in units of 2**-ACT_BITS) -> integer frequencies
    ``[N, alphabet]`` (int64). Pure integer arithmetic."""
    z = logits[:, :alphabet].astype(np.int64)
    d = (z.max(axis=1, keepdims=True) - z) >> (ACT_BITS - 4)  # units of 1/16 bit, >= 0
    shift = np.minimum(d >> 4, PMF_BITS + 1)
    return (EXP2_TABLE[d & 15] >> shift) + PMF_FLOOR
