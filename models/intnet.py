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
   A layer runs in float32 instead (half the memory traffic) where that is just as exact: when
   no partial sum can reach ``2**24``, float32's last exact integer. The bound is taken per call,
   from each input channel's largest ``|a|`` and the weights' absolute sums,
   ``max_o (sum_c |W|[o, c] * max|a_c| + |b_o|)``; every partial sum of any order is an integer
   below it. The integers computed are the same either way; only the time differs, and only where
   float32 products are IEEE (``float32_matmul_is_exact``). Measured on the dev clips
   (``benchmarks/exact_prior.py``): every layer of vt1-fsq's prior stays under the bound (2**23.2
   at most) and so does the default layer's at its level 0 (2**23.9); at its level 7 a third of
   the layer evaluations exceed it and run in float64. The decode's integer networks took 1.2-1.7x
   less time where every layer fit.
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
FLOAT32_EXACT = 2.0**24  # float32 holds every integer below this exactly
ACT_LIMIT = 2.0**20  # activations are clamped to +-2**20 (keeps every sum far below 2**53)
PMF_BITS = 30
# round(2**30 * 2**(-j/16)) for j = 0..15, written out so no libm is involved at run time
EXP2_TABLE = np.array([
    1073741824, 1028218693, 984625594, 942880699, 902905651, 864625413, 827968132, 792865000,
    759250125, 727060411, 696235434, 666717336, 638450708, 611382493, 585461881, 560640218,
], dtype=np.int64)
PMF_FLOOR = 1 << (PMF_BITS - 16)  # every symbol keeps at least ~2**-16 of the top probability
_EXP2_TABLE32 = EXP2_TABLE.astype(np.int32)
_D_CAP = float((PMF_BITS + 2) << (4 + ACT_BITS - 4))  # a logit difference past any shift that matters


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
        # for the float32 path: the same integers in float32, and per layer the absolute weight
        # sums [O, C] over the kernel taps and |bias| [O], the inputs of the exactness bound
        self.taps32 = [t.float() for t in self.taps]
        self.b32 = [b_int.float() for _, b_int, _, _ in self.layers]
        self.wabs = [t.abs().sum(0) for t in self.taps]
        self.babs = [b_int.abs().view(-1) for _, b_int, _, _ in self.layers]
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
        ``min(floor(relu(acc) / 2**s), ACT_LIMIT)``, in place (three passes, no temporaries).
        Each layer runs in float32 where its bound allows (module doc); the result is float64."""
        allowed = float32_matmul_is_exact(x_int.device)  # the process's settings, read once a call
        return torch.stack([self._one(x, positions, rows, allowed) for x in x_int])

    def bound(self, i: int, a: torch.Tensor, rows: torch.Tensor | None = None) -> float:
        """A bound on every partial sum layer ``i`` forms on input ``a`` ``[C, L]`` (its head's
        ``rows`` alone, if given): ``max_o (sum_c |W|[o, c] * max|a_c| + |b_o|)``."""
        wabs, babs = self.wabs[i], self.babs[i]
        if rows is not None:
            wabs, babs = wabs[rows], babs[rows]
        # [C] largest |a| (two reductions, no |a| temporary); a "span" layout's junk only adds margin
        amax = torch.maximum(a.amax(1), a.amin(1).neg()).to(torch.float64)
        return float((wabs @ amax + babs).max())

    def _float32_exact(self, i: int, a: torch.Tensor, rows: torch.Tensor | None, allowed: bool) -> bool:
        """Whether layer ``i`` on input ``a`` may run in float32: float32 products are IEEE
        (``allowed``) and every partial sum stays below 2**24."""
        return allowed and (a.numel() == 0 or self.bound(i, a, rows) < FLOAT32_EXACT)

    def _one(self, x: torch.Tensor, positions: torch.Tensor | None, rows: torch.Tensor | None,
             allowed: bool) -> torch.Tensor:
        _, h, w = x.shape
        last = len(self.layers) - 1
        a, layout = x.reshape(x.shape[0], h * w), "flat"  # "flat": [C, h * w]; "span": see _conv
        for i, (_, b_int, inv_scale, k) in enumerate(self.layers):
            taps = self.taps[i]  # [k * k, O, C]; a 1x1 layer's weights are taps[0]
            head_rows = rows if i == last else None
            if i == self.pointwise_from and positions is not None:
                a = _select(a, positions, h, w) if layout == "span" else a[:, positions]
                layout = "points"
            if self._float32_exact(i, a, head_rows, allowed):
                b_int, taps, a = self.b32[i], self.taps32[i], a.float()
            else:
                a = a.double()
            if head_rows is not None:
                b_int, taps = b_int[:, rows], taps[:, rows]
            if k > 1:
                acc = _conv(a, layout, taps, k, h, w)
                layout = "span"
            else:
                acc = torch.matmul(taps[0], a)
            acc.add_(b_int[0]).mul_(inv_scale).floor_()
            if i < last:
                acc.clamp_(0, ACT_LIMIT)
            else:
                acc.clamp_(-self.out_limit, self.out_limit)
            a = acc
        if layout == "span":
            a = _select(a, None, h, w)
        a = a.double()
        return a if positions is not None else a.view(a.shape[0], h, w)


def float32_matmul_is_exact(device: torch.device) -> bool:
    """Whether float32 matrix products on ``device`` are IEEE float32 throughout: not where torch
    may compute them in bfloat16 or TF32, by the calling process's settings
    (``torch.set_float32_matmul_precision``, ``torch.backends.cuda.matmul.allow_tf32``, or
    torch 2.9's ``fp32_precision`` attributes). Any doubt (another device, a setting this code
    cannot read) answers False: the float64 path is exact on its own."""
    if device.type not in ("cpu", "cuda"):
        return False
    try:
        backend = torch.backends.mkldnn if device.type == "cpu" else torch.backends.cuda
        matmul = getattr(backend.matmul, "fp32_precision", None)
        if matmul is not None:
            # torch >= 2.9: "none" inherits from the backend, then from torch.backends; the legacy
            # calls above set these too, and reading the legacy ones after these raises
            for setting in (matmul, getattr(backend, "fp32_precision", "none"), torch.backends.fp32_precision):
                if setting != "none":
                    return setting == "ieee"
            return True
        if torch.get_float32_matmul_precision() != "highest":
            return False
        return device.type == "cpu" or not torch.backends.cuda.matmul.allow_tf32
    except (AttributeError, RuntimeError):
        return False


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


def pmf_from_logits(logits: np.ndarray, alphabet: int, axis: int = -1) -> np.ndarray:
    """Integer logits ``[N, A]`` (bits in units of 2**-ACT_BITS; any integer dtype, or float64
    holding integers) -> integer frequencies ``[N, alphabet]`` (int32: each is at most ``2**PMF_BITS
    + PMF_FLOOR``); ``axis``: where the alphabet lies instead (e.g. ``[B, A, N]`` with ``axis=1``,
    which numpy reduces faster than a short last axis). Pure integer arithmetic:
    ``(EXP2_TABLE[d & 15] >> min(d >> 4, PMF_BITS + 1)) + PMF_FLOOR`` with ``d = (max - z) >> (ACT_BITS - 4)``.
    Differences are capped at ``_D_CAP`` before that (exact in float64): from there on the shift
    is ``PMF_BITS + 1`` already and the table's entry shifts to 0, so the cap changes no value and
    lets the rest run in int32."""
    index = [slice(None)] * logits.ndim
    index[axis] = slice(0, alphabet)
    z = logits[tuple(index)]
    d = np.minimum(z.max(axis=axis, keepdims=True) - z, _D_CAP).astype(np.int32)
    d >>= ACT_BITS - 4  # units of 1/16 bit, >= 0
    shift = np.minimum(d >> 4, PMF_BITS + 1)
    out = np.take(_EXP2_TABLE32, d & 15)
    out >>= shift
    out += PMF_FLOOR
    return out
