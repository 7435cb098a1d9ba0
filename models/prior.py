"""Autoregressive token prior: P(token symbols of frame t | previous token frame, coded neighbours).

Each frame's symbol grid ``[S, h, w]`` (S symbol channels: FSQ channels, or BSQ bit groups) is
coded in ``2 * G`` *steps*: a checkerboard split of positions into two passes (anchors first, as
in He et al., "Checkerboard Context Model", arXiv 2103.15306), and within each pass ``G`` groups
of symbol channels. One step's symbols (one pass, one channel group, every position of the frame)
are coded in one vectorised range-coder call. The network predicting a step sees

* the previous frame's token values (all channels; zeros plus a flag for a chunk's first frame),
* the current frame's already-coded values and a mask saying which they are,
* for a gained model (vt2), the chunk's quality level, as one more constant plane,
* for a model with a temporal state (``models/temporal.py``), the state before the frame,

through a small conv net (3x3 receptive fields, so already-coded neighbours and the co-located
and nearby tokens of the previous frame all inform the prediction).

Logits are in bits (log2 units). For coding, the net runs in exact integer arithmetic
(``models/intnet.py``) so encoder and decoder rebuild bit-identical tables on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .tokenizer import clips_previous


def schedule(groups: tuple[tuple[int, ...], ...], n_symbols: int, h: int, w: int,
             device: torch.device | str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The coding steps of one frame, in stream order: a list of ``(known, target)`` bool masks of
    shape ``[S, h, w]``. ``target`` marks the symbols coded by that step; ``known`` those coded
    before it."""
    groups = groups or (tuple(range(n_symbols)),)
    ii, jj = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    anchor = (ii + jj) % 2 == 0
    steps = []
    known = torch.zeros(n_symbols, h, w, dtype=torch.bool, device=device)
    for positions in (anchor, ~anchor):
        for group in groups:
            target = torch.zeros_like(known)
            target[list(group)] = positions
            steps.append((known.clone(), target))
            known |= target
    return steps


def clip_costs(prior: Prior, groups: tuple[tuple[int, ...], ...], values: torch.Tensor, n_symbols: int,
               level: torch.Tensor | None, side: torch.Tensor | None,
               expand: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The float ``prior``'s cost in bits of every alphabet entry ``[B, T, S, A, h, w]`` at every
    position of clips of prior values ``[B, T, D, h, w]`` (each clip starting a chunk), each symbol
    priced in the step of ``schedule(groups, ...)`` that codes it, the other symbols as its context.
    ``level``: ``[B * T]`` (priors with levels), ``side``: the extra planes ``[B * T, C, h, w]``
    (the temporal state, or an enhancement layer's base tokens), ``expand``: a symbol-channel mask
    ``[S, h, w]`` -> the latent-channel mask ``[D, h, w]`` (default: the same, ``S == D``).

    Each step's net runs on the whole grid, but its head computes only the channels the step
    codes, and a position's logits are kept from its own step alone, so the softmax runs once
    per symbol rather than once per step (a sixth of the work for a model of three channel
    groups: the bulk of a training step, ``benchmarks/train_speed.py``)."""
    b, t, _, h, w = values.shape
    prev, has_prev = clips_previous(values)
    cur = values.flatten(0, 1)
    bt = cur.shape[0]
    parts: dict[tuple[int, ...], torch.Tensor] = {}  # a channel group's logits, from both passes
    for known, target in schedule(groups, n_symbols, h, w, device=values.device):
        chans = target.flatten(1).any(1).nonzero().flatten()
        km = (known if expand is None else expand(known)).float().unsqueeze(0).expand(bt, -1, -1, -1)
        part = prior(prev, has_prev, cur, km, level, side, channels=chans)  # [bt, K, A, h, w]
        part = part * target[chans].view(1, -1, 1, h, w).to(part.dtype)  # this step's positions
        key = tuple(chans.tolist())
        parts[key] = parts[key] + part if key in parts else part
    order = [c for key in parts for c in key]
    logits = torch.cat(list(parts.values()), 1).float()
    if order != list(range(n_symbols)):
        logits = logits[:, torch.tensor(order, device=logits.device).argsort()]
    return prior.costs(logits).view(b, t, n_symbols, -1, h, w)


class Prior(nn.Module):
    """Float version of the prior, used for training.

    ``forward(prev, has_prev, cur, known)``: ``prev``/``cur`` are prior values ``[B, D, h, w]``
    (small integers, see the quantizers' ``prior_values``), ``has_prev`` ``[B]``, ``known``
    ``[B, D, h, w]`` (0/1). Returns logits in bits, ``[B, S, A, h, w]`` with ``A = max(alphabets)``
    (entries beyond a channel's alphabet are ignored).
    """

    def __init__(self, dim: int, alphabets: tuple[int, ...], width: int, layers: int, levels: int = 0,
                 state: int = 0) -> None:
        super().__init__()
        self.dim = dim
        self.alphabets = tuple(alphabets)
        self.amax = max(alphabets)
        self.levels = levels  # quality levels of a gained quantizer (0: none, no level plane)
        self.state = state  # channels of the temporal state (0: none)
        in_ch = 3 * dim + 1 + (1 if levels else 0) + state
        convs = [nn.Conv2d(in_ch, width, 3, padding=1)]
        convs += [nn.Conv2d(width, width, 3, padding=1) for _ in range(layers - 1)]
        convs.append(nn.Conv2d(width, len(alphabets) * self.amax, 1))
        self.convs = nn.ModuleList(convs)
        valid = torch.zeros(len(alphabets), self.amax, dtype=torch.bool)
        for s, a in enumerate(alphabets):
            valid[s, :a] = True
        self.register_buffer("valid", valid, persistent=False)

    def inputs(self, prev: torch.Tensor, has_prev: torch.Tensor, cur: torch.Tensor,
               known: torch.Tensor, level=None, state: torch.Tensor | None = None) -> torch.Tensor:
        """``level``: the quality level (an int, or ``[B]``) of a gained model's symbols;
        ``state``: the temporal state ``[B, C, h, w]`` before the frame (models with one)."""
        flag = has_prev.to(prev.dtype).view(-1, 1, 1, 1)
        planes = [prev * flag, cur * known, known, flag.expand(-1, 1, *prev.shape[2:])]
        if self.levels:
            if level is None:
                raise ValueError("this prior needs the quality level")
            lv = torch.as_tensor(level, dtype=prev.dtype, device=prev.device).view(-1, 1, 1, 1)
            planes.append(lv.expand(prev.shape[0], 1, *prev.shape[2:]))
        if self.state:
            if state is None:
                raise ValueError("this prior needs the temporal state")
            planes.append(state.to(prev.dtype))
        return torch.cat(planes, 1)

    def forward(self, prev: torch.Tensor, has_prev: torch.Tensor, cur: torch.Tensor,
                known: torch.Tensor, level=None, state: torch.Tensor | None = None,
                channels: torch.Tensor | None = None) -> torch.Tensor:
        """``channels``: the symbol channels wanted (``[K]`` indices; default all): the head
        computes only their logits, ``[B, K, A, h, w]``."""
        h = self.inputs(prev, has_prev, cur, known, level, state)
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        head = self.convs[-1]
        if channels is None:
            out = head(h)
        else:
            rows = self.head_rows(channels)
            out = F.conv2d(h, head.weight[rows], head.bias[rows])
        b, _, hh, ww = out.shape
        return out.view(b, -1, self.amax, hh, ww)

    def head_rows(self, channels: torch.Tensor) -> torch.Tensor:
        """The head's output rows of symbol ``channels`` ``[K]``, ``[K * A]`` (channel-major)."""
        return (channels.view(-1, 1) * self.amax + torch.arange(self.amax, device=channels.device)).flatten()

    def costs(self, logits: torch.Tensor) -> torch.Tensor:
        """Cost in bits of every alphabet entry under ``logits`` ``[B, S, A, h, w]`` (same shape;
        entries beyond a channel's alphabet cost about 10^4 bits)."""
        logits = logits.masked_fill(~self.valid.view(1, *self.valid.shape, 1, 1), -1e4)
        return F.log_softmax(logits * math.log(2), dim=2).mul(-1 / math.log(2))

    def bits(self, logits: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
        """Cost in bits of ``symbols`` ``[B, S, h, w]`` under ``logits`` ``[B, S, A, h, w]``."""
        return self.costs(logits).gather(2, symbols.unsqueeze(2)).squeeze(2)
