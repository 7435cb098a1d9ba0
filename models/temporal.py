"""Temporal context: what a chunk's decoded frames tell about the next one (issue 15, formats 3.1
and 3.2): a token state (below) that the prior sees too, and a decoded-frame context
(``ReconContext``, further down) that only the encoder and the decoder see.

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


def pixel_grid(x: torch.Tensor) -> torch.Tensor:
    """Decoded frames as the context sees them: clamped to [0, 1] and rounded to the 8-bit grid
    (straight-through in training), so that an fp32 and a bf16 decode, which differ by float
    rounding, give the next frame the same context almost everywhere."""
    x = x.clamp(0, 1)
    return x + (torch.round(x * 255) / 255 - x).detach()


class ReconContext(nn.Module):
    """The decoded-frame context (format 3.2; ``ModelConfig.recon`` channels at 1/8 resolution).

    The token state above runs in exact arithmetic because the prior sees it, and so it can only
    be a function of the tokens through a small integer net: it sharpened later frames by about a
    dB but kept their bits at 0.75-0.85 of the first frame's (models/README.md, "t15"). The
    encoder and the decoder need no exactness (the tokens are the encoder's choice; decoded pixels
    may differ by float rounding), so they also see the previous *decoded frame* itself, as DCVC's
    conditional coders do without motion (DCVC-RT): ``f_t = C(x^_{t-1})``, features at 1/4 and
    1/8 resolution (a 4x4 patchify, a 3x3 conv, a strided 3x3 conv), added to the encoder's and
    the decoder's features at those resolutions through 1x1 projections that start at zero (a warm
    start from a model without it computes what its source does). The encoder can then spend its
    tokens on what the decoder cannot take from the previous frame, and a still background
    sharpens from frame to frame. The prior does not see it (it stays exact).

    A chunk's first frame has no context (``has_prev`` 0: the features are zero), so random access
    is unchanged; a decoder reconstructs a chunk's frames in order (it cannot batch them), and an
    encoder decodes each frame before coding the next. Drift: the context is the decoded frame
    on the 8-bit grid (``pixel_grid``) and the decoder's last layer runs in float32 (in bfloat16
    its rounding, about an 8-bit step, added up to 39 dB by frame 31); fp32 and bf16 decodes then
    stay 45-50 dB apart over a 32-frame chunk (``benchmarks/drift.py``).

    Measured against the intra arm of the same family (models/README.md, "t15", 32-frame chunks):
    -27.7% / -24.9% BD-rate (PSNR-RGB / MS-SSIM-RGB) on the four clips with motion after stage
    2, where the state alone gave -15.9% / -18.4%, and -28.9% / -26.5% with vt2's distortion
    (MSE + 0.01 (1 - MS-SSIM)) for both arms; about a third of the encode speed goes into
    decoding every frame in the encoder."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.fine = recon_fine(channels)
        self.stem = nn.Conv2d(48, self.fine, 3, padding=1)
        self.down = nn.Conv2d(self.fine, channels, 3, stride=2, padding=1)

    def forward(self, prev: torch.Tensor, has_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``prev``: the previous decoded frames ``[B, 3, H, W]`` (any values for a chunk's first
        frame), ``has_prev`` ``[B]`` -> features ``([B, C/2, H/4, W/4], [B, C, H/8, W/8])``."""
        flag = has_prev.to(prev.dtype).view(-1, 1, 1, 1)
        h4 = F.silu(self.stem(F.pixel_unshuffle(pixel_grid(prev) * 2 - 1, 4)))
        h8 = F.silu(self.down(h4))
        return h4 * flag.to(h4.dtype), h8 * flag.to(h8.dtype)


def recon_fine(channels: int) -> int:
    """Channels at 1/4 resolution of a decoded-frame context of ``channels`` at 1/8."""
    return max(channels // 2, 8)


def zero_conv(a: int, b: int) -> nn.Conv2d:
    """A 1x1 projection that starts at zero (how a context enters a net without changing it)."""
    conv = nn.Conv2d(a, b, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv
