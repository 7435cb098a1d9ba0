"""Temporal state: what a chunk's decoded frames tell about the next one (issue 15, format 3.1).

vt1/vt2 are intra at the encoder: a frame's tokens describe the whole frame, the prior sees the
previous token frame and the decoder sees the previous token frame beside the current one. A model
with ``ModelConfig.state > 0`` carries a **state** ``c_t`` from frame to frame within a chunk:

    c_{-1} = 0 (a chunk's first frame needs nothing before it: random access is unchanged)
    c_t = clamp(N([c_{t-1}, v_t, l]), +-8)         v_t: frame t's prior values, l: the level

a small conv net ``N`` (3x3 convs, ReLU between, at the token grid) of the previous state and the
frame's *tokens*. All three parts see it:

* the **encoder** computes frame t's latents from the frame and ``c_{t-1}`` (``AnalysisNet``'s
  ``ctx`` input), so its tokens can carry what the state does not already predict;
* the **decoder** reconstructs frame t from its tokens, the previous token frame and ``c_{t-1}``;
* the **prior** gets ``c_{t-1}`` as more input planes.

Why the state is computed from tokens, exactly, rather than from decoded pixels (DCVC's
propagated feature): the prior may only see what every decoder rebuilds bit for bit, so a float
feature of decoded pixels could reach it only through a rounding step that an ULP can flip. ``N``
runs in the prior's integer arithmetic (``models/intnet.py``; weights rounded to integers,
activations in units of 2^-6, the output clamped to +-8): the state is bit-identical on every
machine, thread count and device, so the prior can use it, and it has no decoded-pixel feedback,
so float differences between an fp32 and a bf16 decode (or CPU and GPU) cannot accumulate over a
chunk: each frame's pixels differ only by that frame's own decoder rounding. Nothing is lost in
principle: decoded frames are a function of the tokens. And every frame's decoder call still
depends only on tokens and states, so a chunk's frames reconstruct in batches, as before.

Training (``vtcodec.train.ladder``) runs ``N`` in float with the output rounded to the 2^-6 grid
(straight-through), frame after frame, so the encoder learns with the state its decoder will see.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .intnet import ACT_BITS, IntConvNet

STATE_LIMIT = 8.0  # the state's values lie in [-8, 8], multiples of 2**-ACT_BITS
STEP = 2.0**-ACT_BITS


class StateNet(nn.Module):
    """Float version of ``N`` (module docstring), used for training: ``forward(state, values,
    level)`` with ``state`` ``[B, C, h, w]``, ``values`` the frame's prior values ``[B, D, h, w]``
    and ``level`` an int or ``[B]`` -> the next state ``[B, C, h, w]``, on the 2^-6 grid."""

    def __init__(self, dim: int, channels: int, width: int, layers: int) -> None:
        super().__init__()
        self.channels = channels
        widths = [channels + dim + 1] + [width] * (layers - 1) + [channels]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(widths))

    def inputs(self, state: torch.Tensor, values: torch.Tensor, level) -> torch.Tensor:
        lv = torch.as_tensor(level, dtype=state.dtype, device=state.device).view(-1, 1, 1, 1)
        return torch.cat([state, values.to(state.dtype), lv.expand(state.shape[0], 1, *state.shape[2:])], 1)

    def forward(self, state: torch.Tensor, values: torch.Tensor, level) -> torch.Tensor:
        h = self.inputs(state, values, level)
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        out = self.convs[-1](h).clamp(-STATE_LIMIT, STATE_LIMIT)
        return out + (torch.floor(out / STEP) * STEP - out).detach()

    def zeros(self, b: int, h: int, w: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The state ``[b, C, h, w]`` before a chunk's first frame, on ``h x w`` token grids."""
        return torch.zeros(b, self.channels, h, w, device=device)


class ExactState:
    """``N`` in exact integer arithmetic: what encoders and decoders compute the state with."""

    def __init__(self, net: StateNet, device: torch.device | str = "cpu") -> None:
        self.float_net = net
        self.device = device
        self.net = IntConvNet(list(net.convs), device=device, out_limit=STATE_LIMIT / STEP)

    @torch.no_grad()
    def step(self, state: torch.Tensor, values: torch.Tensor, level) -> torch.Tensor:
        """``state`` ``[B, C, h, w]`` float64 (multiples of 2^-6), ``values`` ``[B, D, h, w]``
        (integers) -> the next state, float64 multiples of 2^-6, identical on every machine."""
        x = self.float_net.inputs(state.to(self.device, torch.float64), values.to(self.device), level)
        out = self.net(torch.ldexp(x, torch.tensor(ACT_BITS, dtype=torch.float64, device=x.device)))
        return torch.ldexp(out, torch.tensor(-ACT_BITS, dtype=torch.float64, device=out.device))
