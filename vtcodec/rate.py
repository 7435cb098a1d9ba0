"""Rate: the quality ladder and target-rate mode.

Quality. The tokenizer spends a fixed number of bits per 8x8 patch of the grid it codes, so the
rate knob is the density of that grid: each chunk is coded on a grid scaled by 2^((k-128)/16)
(k in 96..144, 1/4 .. 2x per side; the scale index is the first byte of the chunk's payload).
Below 1 the frames are downscaled before tokenizing and upscaled after decoding, and above 1 the
other way round, so that a token covers fewer source pixels and fine detail survives. Bits scale
with the grid's area, about 2^(1/8) = 9% per step of k. This is a resolution ladder inside one
model family (as adaptive streaming builds per-title ladders), chosen over several checkpoints or
a multi-stage quantizer because it needs no extra training and is monotone by construction.
``--quality`` 1..10 maps to k = 128 + 4 (q - 6): each level is 2^(1/4) per side, about 1.41x the
bits of the one below; 6 (the default) codes at the source size. Target-rate mode (``bitrate`` or
``bpp``) picks k per chunk (``RateControl``), the finer steps letting even a one-chunk clip land
near its target; each chunk's trials depend on that chunk alone, so that chunks code in parallel.

That ladder cannot reach high quality: a vt1 token holds at most 10 bits whatever the grid, so
detail lost inside an 8x8 patch never comes back. A model with quality levels (vt2: a gained
quantizer, ``models/fsq.py``) has a second knob, the quantizer's step, carried per chunk beside k
(format 3.0): its ``--quality`` q codes at the source size at level round((q - 1) (G - 1) / 9) of
its G levels, and ``Ladder`` joins both knobs into one line of rungs for target-rate mode.

A layered model (``vtcodec.layers``: an enhancement layer of G levels over vt1) keeps the base
model's qualities 1..``BASE_TOP`` = 8 (its grids, 0.42x to 1.41x the source size) and goes on above
them with the layer: ``--quality`` 9 .. 8 + G code the base at the source size plus the layer at
its level q - 9. With format 5.0's block skips (``vtcodec.skip``) the layer's levels 0 and 1 lie
above the base's curve through its grids above 1.41x (the old qualities 9 and 10: more PSNR-RGB
for the bits) on 6 of 7 measured clips (models/README.md, "Block skips"), so those grids are left
out of a layered model's ladder; qualities 11..16 are what they were (levels 2..7). Target-rate
mode's rungs are the same: every grid up to 1.41x, then every level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .bitstream import OVERHEAD, SCALE_MAX, SCALE_MIN, SCALE_ONE
from .errors import VtcError

QUALITIES = tuple(range(1, 11))
DEFAULT_QUALITY = 6
BASE_TOP = 8  # a layered model's top quality below its layer (module doc)


def quality_scale(quality: int) -> int:
    """The scale index k of a ``--quality`` level (1..10; 6 = the source size)."""
    return SCALE_ONE + 4 * (quality - DEFAULT_QUALITY)


def check_quality(quality: int | None, qualities: range | tuple = QUALITIES, model: str = "") -> int:
    """``quality`` (None: the default) if it is one of ``qualities`` (a model's: ``Ladder.qualities``),
    else ``VtcError`` saying which are."""
    if quality is None:
        return DEFAULT_QUALITY
    if quality not in qualities:
        which = (f" for the layered model {model!r} ({BASE_TOP + 1}..{qualities[-1]}: its enhancement layer)"
                 if model else "")
        raise VtcError(f"quality must be {qualities[0]}..{qualities[-1]}{which} "
                       f"({DEFAULT_QUALITY} codes at the source size), not {quality}")
    return int(quality)


class Ladder:
    """The rungs a chunk can be coded at, numbered ``lo .. hi`` from the cheapest: what quality
    levels map to and what target-rate mode steps along.

    * A model without gains (vt1) has the scale ladder: rung ``r`` is the scale index k itself
      (96..144), each step about 2^(1/8) in bits.
    * A gained model (vt2, ``levels`` quality levels of its quantizer) codes at the source size
      (k = 128) and climbs its levels, each step about 1.3-2x in bits; below its coarsest level
      the grid shrinks (k = 127 .. 96 at level 0), above its finest it grows (k = 129 .. 144 at
      the top level). Rung ``r``: ``r < 32``: (96 + r, 0); then (128, r - 32) for each level; then
      (129 + j, levels - 1).
    * A layered model (``layer`` = G levels of its enhancement layer) has the scale ladder up to
      ``BASE_K`` = 136 (1.41x), then the layer's levels: rung ``r`` <= 136 is (k = r, layer byte
      0: the base alone); rung 136 + e is (128, e), the layer at level e - 1 (e = 1 .. G).
    """

    BELOW = SCALE_ONE - SCALE_MIN  # rungs under the source-size grid
    ABOVE = SCALE_MAX - SCALE_ONE
    BASE_K = quality_scale(BASE_TOP)  # a layered model's largest base grid

    def __init__(self, levels: int = 0, layer: int = 0) -> None:
        self.levels, self.layer = int(levels), int(layer)
        if self.layer:
            self.lo, self.hi = SCALE_MIN, self.BASE_K + self.layer
            self.per_doubling = 8.0
        elif self.levels:
            self.lo, self.hi = 0, self.BELOW + self.levels - 1 + self.ABOVE
            self.per_doubling = 2.0
        else:
            self.lo, self.hi = SCALE_MIN, SCALE_MAX
            self.per_doubling = 8.0

    def rung(self, r: int) -> tuple[int, int]:
        """(scale index k, quantizer level) of rung ``r``; for a layered model, (k, layer byte)."""
        if self.layer:
            return (r, 0) if r <= self.BASE_K else (SCALE_ONE, r - self.BASE_K)
        if not self.levels:
            return r, 0
        if r < self.BELOW:
            return SCALE_MIN + r, 0
        if r < self.BELOW + self.levels:
            return SCALE_ONE, r - self.BELOW
        return SCALE_ONE + r - (self.BELOW + self.levels - 1), self.levels - 1

    def quality(self, quality: int) -> int:
        """The rung of a ``--quality`` level (one of ``qualities``)."""
        if self.layer:
            return quality_scale(quality) if quality <= BASE_TOP else self.BASE_K + quality - BASE_TOP
        if not self.levels:
            return quality_scale(quality)
        return self.BELOW + round((quality - QUALITIES[0]) * (self.levels - 1) / (QUALITIES[-1] - QUALITIES[0]))

    @property
    def qualities(self) -> range:
        """The ``--quality`` levels: 1..10, or 1 .. ``BASE_TOP`` + G for a layered model."""
        top = BASE_TOP + self.layer if self.layer else QUALITIES[-1]
        return range(QUALITIES[0], top + 1)

    @property
    def start(self) -> int:
        """Where target-rate mode starts: the default quality's rung."""
        return self.quality(DEFAULT_QUALITY)


SCALES = Ladder()


# ``code(k)`` codes the chunk at scale index k (without refinement) and returns (anything,
# payload bytes, ...).
Code = Callable[[int], tuple[Any, bytes, float]]


class RateControl:
    """Target-rate mode: picks each chunk's scale index k so that the file tracks a budget.

    Two steps, so that chunks can be coded in parallel (``--jobs``) with the same bytes as one
    after the other:

    1. ``trials(n_frames, code)`` depends on the chunk alone. Its share of the target (its frames'
       bits minus the chunk's framing) is the aim. Bits grow with the grid's area, about 2^(1/8)
       per step of k. Starting from k = 128, the chunk is coded, k is corrected by
       8 log2(share / bits), and it is coded again until a trial lands within ``TOLERANCE`` of the
       share or two trials bracket it one step apart (at most ``TRIALS`` codings).
    2. ``pick(n_frames, trials)`` runs in stream order and is cheap. Among the trials it keeps the
       one that brings the running total closest to the running target, so that the error of one
       chunk is paid back by the next (error diffusion). The total therefore stays within about
       one step (9%) of one chunk's bits of the target, however long the clip.

    A refining preset codes the chosen k once more with refinement. The running total counts the
    trial's bits, so that no chunk waits for another's refinement. A target outside what
    k = 96..144 reaches is clamped there, and ``note`` says so. The coding itself is the caller's
    (``code``), so this class knows nothing of encoders.
    """

    TRIALS = 5
    TOLERANCE = 0.03
    FRAMING = 8 * (OVERHEAD + 1)  # bits of a frames chunk's framing and scale index (3.0's level byte aside)

    def __init__(self, bits_per_frame: float) -> None:
        if not bits_per_frame > 0 or not np.isfinite(bits_per_frame):
            raise VtcError("the target rate must be a positive number")
        self.per_frame = bits_per_frame
        self.target = 0.0  # bits the chunks picked so far should have taken, framing included
        self.spent = 0.0  # bits they took (their trials')
        self.low = False  # a chunk overshot its share at the lowest k
        self.high = False  # a chunk fell short of its share at the highest k

    def share(self, n_frames: int) -> float:
        """Payload bits a chunk of ``n_frames`` aims at, before any running surplus or deficit."""
        return max(self.per_frame * n_frames - self.FRAMING, 1.0)

    @classmethod
    def trials(cls, share: float, code: Code, ladder: Ladder = SCALES) -> dict[int, tuple]:
        """{k: what ``code(k)`` returned} for the rungs k of ``ladder`` (default: the scale
        indices) tried on a chunk aiming at ``share`` payload bits (see the class; ``share(n_frames)``).
        Steps are guessed from ``ladder.per_doubling`` and corrected by bracketing."""
        trials: dict[int, tuple] = {}
        k = ladder.start
        for _ in range(cls.TRIALS):
            trials[k] = code(k)
            bits = _bits(trials[k])
            if abs(bits / share - 1) <= cls.TOLERANCE:
                break
            under = [j for j in trials if _bits(trials[j]) <= share]
            over = [j for j in trials if _bits(trials[j]) > share]
            if under and over:  # bracketed: interpolate in log bits, strictly between
                lo, hi = max(under), min(over)
                if hi - lo <= 1:
                    break
                b_lo, b_hi = _bits(trials[lo]), _bits(trials[hi])
                guess = lo + round((hi - lo) * np.log2(share / b_lo) / max(np.log2(b_hi / b_lo), 1e-9))
                nxt = min(max(guess, lo + 1), hi - 1)
            else:
                step = round(ladder.per_doubling * np.log2(share / bits))
                nxt = min(max(k + (step if step else (1 if bits < share else -1)), ladder.lo), ladder.hi)
            if nxt in trials:
                break
            k = nxt
        return trials

    def pick(self, n_frames: int, trials: dict[int, tuple], ladder: Ladder = SCALES) -> int:
        """The rung kept for the next chunk in stream order, among its ``trials``."""
        share = self.share(n_frames)
        self.target += self.per_frame * n_frames
        best = min(trials, key=lambda j: (abs(self.spent + self.FRAMING + _bits(trials[j]) - self.target), j))
        bits = _bits(trials[best])
        self.spent += self.FRAMING + bits
        self.low |= best == ladder.lo and bits > 1.1 * share
        self.high |= best == ladder.hi and bits < 0.9 * share
        return best

    @property
    def note(self) -> str:
        if self.low:
            return "target below the lowest rate this video reaches: coded at the lowest quality"
        if self.high:
            return "target above the highest rate this video reaches: coded at the highest quality"
        return ""


def _bits(trial: tuple) -> int:
    return max(8 * len(trial[1]), 8)
