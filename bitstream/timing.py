"""Frame times of a variable-frame-rate stream (SPEC.md, "Frame times chunk"), format 2.1.

    type 5, frame times := u32 tb_num | u32 tb_den | { i64 pts }*n_frames

The chunk's ``first_frame``/``n_frames`` name the frames it times; each pts (in ``tb_num/tb_den``
seconds) is that frame's presentation time after frame 0. A frame no such chunk times is shown
one frame period (the header's rate) after the frame before it.
"""

from __future__ import annotations

import struct
from fractions import Fraction

from ..errors import FormatError

CHUNK_FRAME_TIMES = 5
TIMEBASE = struct.Struct("<II")
PTS = struct.Struct("<q")


def pack_times(time_base: Fraction, pts: list[int]) -> bytes:
    tb = Fraction(time_base)
    return TIMEBASE.pack(tb.numerator, tb.denominator) + b"".join(PTS.pack(p) for p in pts)


def parse_times(payload: bytes, n_frames: int) -> tuple[Fraction, list[int]]:
    """(time base, the pts of each of the chunk's ``n_frames`` frames)."""
    if len(payload) != TIMEBASE.size + PTS.size * n_frames:
        raise FormatError(f"frame times chunk holds {len(payload)} bytes, not the {TIMEBASE.size + 8 * n_frames} "
                          f"its {n_frames} frames need")
    num, den = TIMEBASE.unpack_from(payload, 0)
    if not (0 < num and 0 < den):
        raise FormatError("frame times chunk has a zero time base")
    return Fraction(num, den), [PTS.unpack_from(payload, TIMEBASE.size + PTS.size * i)[0] for i in range(n_frames)]
