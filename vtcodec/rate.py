"""Rate: the quality ladder and target-rate mode.

Quality. The tokenizer spends a fixed number of bits per 8x8 patch of the grid it codes, so the
rate knob is the density of that grid: each chunk is coded on a grid scaled by 2^((k-128)/16)
(k in 96..144, 1/4 .. 2x per side; the scale index is the first byte of the chunk's payload).
Below 1 the frames are downscaled before tokenizing and upscaled after decoding, and above 1 the
other way round, so that a token covers fewer source pixels and fine detail survives. Bits scale
with the grid's area, about 2^(1/8) = 9% per step of k. This is a resolution ladder inside one
model family (as adaptive streaming builds per-title ladders), chosen over several checkpoints or
a multi-stage quantizer because it needs no extra training and is monotone by construction; a
residual-quantizer model can later add levels without changing the format (k stays per chunk).
``--quality`` 1..10 maps to k = 128 + 4 (q - 6): each level is 2^(1/4) per side, about 1.41x the
bits of the one below; 6 (the default) codes at the source size. Target-rate mode (``bitrate`` or
``bpp``) picks k per chunk (``RateControl``), the finer steps letting even a one-chunk clip land
near its target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .bitstream import OVERHEAD, SCALE_MAX, SCALE_MIN, SCALE_ONE
from .errors import VtcError

QUALITIES = tuple(range(1, 11))
DEFAULT_QUALITY = 6


def quality_scale(quality: int) -> int:
    """The scale index k of a ``--quality`` level (1..10; 6 = the source size)."""
    return SCALE_ONE + 4 * (quality - DEFAULT_QUALITY)


def check_quality(quality: int | None) -> int:
    if quality is None:
        return DEFAULT_QUALITY
    if quality not in QUALITIES:
        raise VtcError(f"quality must be {QUALITIES[0]}..{QUALITIES[-1]} "
                       f"({DEFAULT_QUALITY} codes at the source size), not {quality}")
    return int(quality)


# ``code(k, final)`` codes the chunk at scale index k and returns (anything, payload bytes, ...):
# the trials use final=False; with ``refines``, the chosen k is coded once more with final=True.
Code = Callable[[int, bool], tuple[Any, bytes, float]]


class RateControl:
    """Target-rate mode: picks each chunk's scale index k so that the file tracks a budget.

    A chunk's budget is its frames' share of the target plus the running surplus or deficit of the
    chunks before it (bounded to 0.5..2x the share), so that errors do not accumulate. Bits grow
    with the grid's area, about 2^(1/8) per step of k: starting from the previous chunk's k (k=128
    for the first), the chunk is coded, k is corrected by 8 log2(budget / bits), and it is coded
    again, at most ``TRIALS`` times; the trial nearest the budget (in log ratio) is kept. A target
    outside what k = 96..144 reaches is clamped there, and ``note`` says so. The coding itself is
    the caller's (``code``), so this class knows nothing of encoders.
    """

    TRIALS = 4
    TOLERANCE = 0.03
    FRAMING = 8 * (OVERHEAD + 1)  # bits of a frames chunk's framing and scale index

    def __init__(self, bits_per_frame: float, refines: bool = False) -> None:
        if not bits_per_frame > 0 or not np.isfinite(bits_per_frame):
            raise VtcError("the target rate must be a positive number")
        self.per_frame = bits_per_frame
        self.refines = refines
        self.k = SCALE_ONE
        self.low = False  # a chunk overshot its budget at the lowest k
        self.high = False  # a chunk fell short of its budget at the highest k

    def budget(self, n_frames: int, frames_done: int, bytes_done: int) -> float:
        """Payload bits for the next chunk of ``n_frames``, after ``bytes_done`` for ``frames_done``."""
        surplus = self.per_frame * frames_done - bytes_done * 8
        share = self.per_frame * n_frames
        return max(min(max(share + surplus, 0.5 * share), 2 * share) - self.FRAMING, 1.0)

    def choose(self, n_frames: int, frames_done: int, bytes_done: int, code: Code) -> tuple[int, tuple]:
        """(k, what ``code`` returned for it) for the next chunk."""
        budget = self.budget(n_frames, frames_done, bytes_done)
        trials: dict[int, tuple] = {}
        k = self.k
        for _ in range(self.TRIALS):
            trials[k] = code(k, False)  # a refining preset refines the chosen k once, below
            bits = max(8 * len(trials[k][1]), 8)
            if abs(bits / budget - 1) <= self.TOLERANCE:
                break
            step = round(8 * np.log2(budget / bits))
            nxt = min(max(k + (step if step else (1 if bits < budget else -1)), SCALE_MIN), SCALE_MAX)
            if nxt in trials:
                break
            k = nxt
        best = min(trials, key=lambda j: abs(np.log2(max(8 * len(trials[j][1]), 8) / budget)))
        bits = 8 * len(trials[best][1])
        self.low |= best == SCALE_MIN and bits > 1.1 * budget
        self.high |= best == SCALE_MAX and bits < 0.9 * budget
        self.k = best
        return best, (code(best, True) if self.refines else trials[best])

    @property
    def note(self) -> str:
        if self.low:
            return "target below the lowest rate this video reaches: coded at the lowest quality"
        if self.high:
            return "target above the highest rate this video reaches: coded at the highest quality"
        return ""
