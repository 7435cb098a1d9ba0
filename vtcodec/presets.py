"""Encoder presets, like x264's: more encoding time for better tokens at about the same rate.

A ``Preset`` is the whole set of encoder choices that the stream format leaves open; any preset's
stream decodes the same way. ``medium`` codes each chunk straight from the tokenizer; ``slow`` and
``veryslow`` refine the latents first (``vtcodec/refine.py``). veryslow puts the bits in the
objective: without them, 12-30 steps spent 2-7% more bits on ciscovt2people
(``benchmarks/refine.py --steps --rate-slopes``); the BD-rate of each preset is in the README
("Presets"). Variants for experiments: ``dataclasses.replace(PRESETS["slow"], refine_steps=12)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import VtcError
from .refine import MS_WEIGHT

# see VTModel.tokenize_chunk: each frame's tokens are held to the previous frame's where its latent
# stays within this margin of them (benchmarks/hysteresis.py)
TOKEN_HYSTERESIS = 0.15


@dataclass(frozen=True)
class Preset:
    name: str
    refine_steps: int = 0  # gradient steps of latent refinement per chunk (0: none)
    refine_lr: float = 0.0  # Adam learning rate of the refinement
    rate_slope: float = 0.0  # weight of the bits in the refinement's objective (vtcodec/refine.py)
    ms_weight: float = MS_WEIGHT  # MS-SSIM in the refinement's objective
    margin: float = TOKEN_HYSTERESIS  # token hysteresis (0: plain rounding)

    def __post_init__(self) -> None:
        if self.refine_steps < 0 or self.refine_lr < 0 or self.rate_slope < 0 or self.margin < 0:
            raise VtcError(f"preset {self.name!r}: settings must not be negative")


PRESETS = {
    "medium": Preset("medium"),
    "slow": Preset("slow", refine_steps=5, refine_lr=0.04),
    "veryslow": Preset("veryslow", refine_steps=30, refine_lr=0.03, rate_slope=0.3),
}
DEFAULT_PRESET = "medium"


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (``PRESETS``), or a ``Preset`` as it is."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise VtcError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    return PRESETS[preset]
