"""Encoder presets, like x264's: more encoding time for better tokens at about the same rate.

A ``Preset`` is the whole set of encoder choices that the stream format leaves open; any preset's
stream decodes the same way. ``medium`` codes each chunk straight from the tokenizer; ``slow`` and
``veryslow`` refine the latents first (``vtcodec/refine.py``). veryslow puts the bits in the
objective: without them, 12-30 steps spent 2-7% more bits on ciscovt2people
(``benchmarks/refine.py --steps --rate-slopes``); the BD-rate of each preset is in the README
("Presets"). A layered model's layer (format 4.0) is refined with the ``layer_`` settings: on
foreman and reds (4 frames, the layer's levels 2-7 over a medium base, ``D + 0.8 lambda R``
scored on the real tokens) 30 steps gave +0.1 dB at levels 2-4, +0.4 at level 5 (foreman) and +0.8-0.9 dB
PSNR-RGB at level 7 at the same bits (models/README.md, "vt1e-fsq", presets); measured again on
vt1e-fsq-v2 (`benchmarks/refine_layer.py --model vt1e-fsq-v2 --frames 4`: foreman at levels 2,
5 and 7, reds at level 2), slow's 8 steps gave 0 to +0.03 dB at levels 2 and 5 and +0.52 dB at
level 7, veryslow's 30 +0.02 to +0.14 dB at levels 2 and 5 (for up to 1.6% more bits) and +0.61
dB at level 7. Every preset skips the layer's blocks (format 5.0, ``vtcodec/skip.py``)
with the same lambda (``layer_skip`` = 1, its scale).
Variants for experiments: ``dataclasses.replace(PRESETS["slow"], refine_steps=12)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import VtcError
from .refine import MS_WEIGHT

# see VTModel.tokenize_chunk: each frame's tokens are held to the previous frame's where its latent
# stays within this margin of them (benchmarks/hysteresis.py). Base tokens only: the same margin on
# vt1e-w24w-2's layer tokens needed 1.04x the bits for the same PSNR-RGB and MS-SSIM-RGB, 1.00x for
# LPIPS (4 dev clips and carphone, 10 frames, qualities 9-16; benchmarks/matched.py, 0.21), and a
# dead zone (latents within 0.65 of zero coded as zero) 1.04x, 1.07x and 1.04x: the layer's tokens
# are rounded to nearest, as it was trained
TOKEN_HYSTERESIS = 0.15


@dataclass(frozen=True)
class Preset:
    name: str
    refine_steps: int = 0  # gradient steps of latent refinement per chunk (0: none)
    refine_lr: float = 0.0  # Adam learning rate of the refinement
    rate_slope: float = 0.0  # weight of the bits in the refinement's objective (vtcodec/refine.py)
    ms_weight: float = MS_WEIGHT  # MS-SSIM in the refinement's objective
    margin: float = TOKEN_HYSTERESIS  # token hysteresis (0: plain rounding)
    # an enhancement layer's refinement (format 4.0; vtcodec/refine.py's refine_layer): its own
    # settings, since its latents and its curve's slope are not the base's
    layer_steps: int = 0
    layer_lr: float = 0.0
    layer_rate_slope: float = 0.0
    # a 5.0 layer's block skips (vtcodec/skip.py): the scale of their lambda (0: no block skipped)
    layer_skip: float = 1.0

    def __post_init__(self) -> None:
        if min(self.refine_steps, self.refine_lr, self.rate_slope, self.margin, self.layer_steps,
               self.layer_lr, self.layer_rate_slope, self.layer_skip) < 0:
            raise VtcError(f"preset {self.name!r}: settings must not be negative")


PRESETS = {
    "medium": Preset("medium"),
    "slow": Preset("slow", refine_steps=5, refine_lr=0.04, layer_steps=8, layer_lr=0.03, layer_rate_slope=0.8),
    "veryslow": Preset("veryslow", refine_steps=30, refine_lr=0.03, rate_slope=0.3,
                       layer_steps=30, layer_lr=0.01, layer_rate_slope=0.8),
}
DEFAULT_PRESET = "medium"


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (``PRESETS``), or a ``Preset`` as it is."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise VtcError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    return PRESETS[preset]
