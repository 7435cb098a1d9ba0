"""Classic codec anchors through PyAV's own encoders (no system ffmpeg).

Bits are counted from the coded packets (which carry the parameter sets in Annex-B streams),
less x264's informational "options" SEI (~700 bytes that a decoder does not need), over exactly
the frames compared; never from a container file's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from .video import MATRICES, RANGES


@dataclass
class AnchorResult:
    codec: str
    crf: int
    bytes: int
    frames: np.ndarray  # decoded RGB [T, H, W, 3]


def _strip_x264_sei(data: bytes) -> bytes:
    """Drop SEI NAL units (type 6) that carry x264's version/options string."""
    out, i, n = bytearray(), 0, len(data)
    starts = []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j)
        i = j + 3
    if not starts:
        return data
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else n
        nal = data[s:e]
        if (nal[3] & 0x1F) == 6 and b"x264 - core" in nal:
            if out.endswith(b"\x00"):  # a 4-byte start code's leading zero belongs to this NAL
                out = out[:-1]
            continue
        out += nal
    return bytes(data[:starts[0]]) + bytes(out)


def x264(frames: np.ndarray, fps: Fraction, crf: int, preset: str = "medium",
         matrix: int = 5, color_range: int = 1) -> AnchorResult:
    """Encode RGB frames with libx264 (yuv420p; yuv444p for odd sizes) and decode them back."""
    _, h, w, _ = frames.shape
    pix = "yuv420p" if not (h % 2 or w % 2) else "yuv444p"
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, pix
    enc.time_base = 1 / Fraction(fps)
    enc.framerate = Fraction(fps)
    enc.options = {"crf": str(crf), "preset": preset}
    kw = {"dst_colorspace": MATRICES[matrix], "dst_color_range": RANGES[color_range]}
    packets = []
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format=pix, **kw)
        vf.pts = i
        packets += enc.encode(vf)
    packets += enc.encode(None)
    data = [bytes(p) for p in packets]
    total = sum(len(_strip_x264_sei(d)) for d in data)
    dec = av.CodecContext.create("h264", "r")
    out = []
    for d in data:
        for fr in dec.decode(av.Packet(d)):
            out.append(fr.reformat(format="rgb24", src_colorspace=MATRICES[matrix],
                                   src_color_range=RANGES[color_range]).to_ndarray())
    for fr in dec.decode(None):
        out.append(fr.reformat(format="rgb24", src_colorspace=MATRICES[matrix],
                               src_color_range=RANGES[color_range]).to_ndarray())
    return AnchorResult("x264", crf, total, np.stack(out))


def x264_nearest(frames: np.ndarray, fps: Fraction, target_bpp: float, preset: str = "medium",
                 matrix: int = 5, color_range: int = 1) -> AnchorResult:
    """The x264 CRF point whose bits per pixel is nearest ``target_bpp`` (bisection on CRF)."""
    pixels = frames.shape[0] * frames.shape[1] * frames.shape[2]
    cache: dict[int, AnchorResult] = {}

    def run(crf: int) -> AnchorResult:
        if crf not in cache:
            cache[crf] = x264(frames, fps, crf, preset, matrix, color_range)
        return cache[crf]

    lo, hi = 0, 51  # bpp falls as CRF rises
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(mid).bytes * 8 / pixels > target_bpp:
            lo = mid
        else:
            hi = mid
    return min((run(lo), run(hi)), key=lambda r: abs(r.bytes * 8 / pixels - target_bpp))
