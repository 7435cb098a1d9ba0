"""Classic codec anchors through PyAV's own encoders (no system ffmpeg): x264, x265, SVT-AV1.

Bits are counted from the coded packets (Annex-B / OBU streams carry their parameter sets in-band,
which a decoder needs), less the encoders' informational payload: x264's "options" SEI (~700
bytes) is stripped and x265's info SEI is switched off with ``info=0``; over exactly the frames
compared; never from a container file's size.

``lowdelay`` turns off B-frames / future references so that the anchor is causal like vtcodec.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from .errors import VtcError
from .video import MATRICES, RANGES

CODECS = ("x264", "x265", "svtav1")
# the quality knob of each: CRF (x264/x265: 0-51, SVT-AV1: 1-63), lower is better
DEFAULT_QUALITIES = {"x264": (22, 27, 32, 37), "x265": (22, 27, 32, 37), "svtav1": (27, 35, 43, 51)}
SVT_PRESETS = {"ultrafast": 12, "superfast": 11, "veryfast": 10, "faster": 9, "fast": 8,
               "medium": 6, "slow": 4, "slower": 3, "veryslow": 2, "placebo": 1}


@dataclass
class AnchorResult:
    codec: str
    crf: int
    bytes: int
    frames: np.ndarray  # decoded RGB [T, H, W, 3]
    encode_s: float = 0.0
    decode_s: float = 0.0
    pix_fmt: str = "yuv420p"
    luma: np.ndarray | None = None  # decoded Y planes [T, H, W] uint8, as the codec output them


def _nal_units(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each Annex-B NAL unit, start codes included."""
    starts, i = [], 0
    while (j := data.find(b"\x00\x00\x01", i)) >= 0:
        starts.append(j - 1 if j > 0 and data[j - 1] == 0 else j)
        i = j + 3
    return [(s, starts[k + 1] if k + 1 < len(starts) else len(data)) for k, s in enumerate(starts)]


def _strip_x264_sei(data: bytes) -> bytes:
    """Drop SEI NAL units (type 6) that carry x264's version/options string."""
    units = _nal_units(data)
    if not units:
        return data
    out = bytearray(data[:units[0][0]])
    for s, e in units:
        nal = data[s:e]
        header = nal[nal.index(b"\x00\x00\x01") + 3]
        if (header & 0x1F) == 6 and b"x264 - core" in nal:
            continue
        out += nal
    return bytes(out)


def check_size(codec: str, width: int, height: int) -> str | None:
    """Why ``codec`` cannot code this size through PyAV, or None."""
    if codec == "x265" and (width < 64 or height < 64):
        # PyAV 18's libx265 corrupts its heap (abort) on frames smaller than one 64x64 CTU
        return "x265 needs frames of at least 64x64 here (libx265 aborts below one CTU)"
    if codec == "svtav1" and (width % 2 or height % 2 or width < 64 or height < 64):
        return "SVT-AV1 needs even sizes of at least 64x64"
    return None


def encode(codec: str, frames: np.ndarray, fps: Fraction, crf: int, preset: str = "medium",
           tune: str | None = None, lowdelay: bool = False, matrix: int = 5,
           color_range: int = 1) -> AnchorResult:
    """Encode RGB frames ``[T, H, W, 3]`` with ``codec`` at ``crf`` and decode them back."""
    if codec not in CODECS:
        raise VtcError(f"unknown anchor codec {codec!r} (known: {', '.join(CODECS)})")
    t, h, w, _ = frames.shape
    if (why := check_size(codec, w, h)) is not None:
        raise VtcError(why)
    pix = "yuv444p" if (h % 2 or w % 2) else "yuv420p"
    name, decoder = {"x264": ("libx264", "h264"), "x265": ("libx265", "hevc"),
                     "svtav1": ("libsvtav1", "libdav1d")}[codec]
    enc = av.CodecContext.create(name, "w")
    enc.width, enc.height, enc.pix_fmt = w, h, pix
    enc.time_base = 1 / Fraction(fps)
    enc.framerate = Fraction(fps)
    opts = {"crf": str(crf)}
    if codec == "x264":
        opts["preset"] = preset
        if tune:
            opts["tune"] = tune
        if lowdelay:
            opts["bf"] = "0"
    elif codec == "x265":
        opts["preset"] = preset
        params = ["info=0", "log-level=error"]
        if tune:
            params.append(f"tune={tune}")
        if lowdelay:
            params.append("bframes=0")
        opts["x265-params"] = ":".join(params)
    else:
        opts["preset"] = str(SVT_PRESETS.get(preset, preset))
        params = []
        if tune == "psnr":
            params.append("tune=1")
        if lowdelay:
            params.append("pred-struct=1")
        if params:
            opts["svtav1-params"] = ":".join(params)
    enc.options = opts
    kw = {"dst_colorspace": MATRICES[matrix], "dst_color_range": RANGES[color_range]}
    yuv = []
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format=pix, **kw)
        vf.pts = i
        yuv.append(vf)
    t0 = time.perf_counter()
    packets = []
    for vf in yuv:
        packets += enc.encode(vf)
    packets += enc.encode(None)
    encode_s = time.perf_counter() - t0
    data = [bytes(p) for p in packets]
    total = sum(len(_strip_x264_sei(d)) if codec == "x264" else len(d) for d in data)
    dec = av.CodecContext.create(decoder, "r")
    t0 = time.perf_counter()
    out = []
    for d in [*data, None]:
        out.extend(dec.decode(av.Packet(d) if d is not None else None))
    decode_s = time.perf_counter() - t0
    rgb = np.stack([fr.reformat(format="rgb24", src_colorspace=MATRICES[matrix],
                                src_color_range=RANGES[color_range]).to_ndarray() for fr in out])
    if rgb.shape[0] != t:
        raise VtcError(f"{codec}: decoded {rgb.shape[0]} frames of {t}")
    luma = np.stack([np.frombuffer(fr.planes[0], np.uint8).reshape(-1, fr.planes[0].line_size)[:h, :w]
                     for fr in out])
    return AnchorResult(codec, crf, total, rgb, encode_s, decode_s, pix, luma)


def x264(frames: np.ndarray, fps: Fraction, crf: int, preset: str = "medium",
         matrix: int = 5, color_range: int = 1) -> AnchorResult:
    """libx264 (yuv420p; yuv444p for odd sizes), decoded back."""
    return encode("x264", frames, fps, crf, preset, matrix=matrix, color_range=color_range)


def nearest(codec: str, frames: np.ndarray, fps: Fraction, target_bpp: float, preset: str = "medium",
            matrix: int = 5, color_range: int = 1) -> AnchorResult:
    """The ``codec`` CRF point whose bits per pixel is nearest ``target_bpp`` (bisection on CRF)."""
    pixels = frames.shape[0] * frames.shape[1] * frames.shape[2]
    cache: dict[int, AnchorResult] = {}

    def run(crf: int) -> AnchorResult:
        if crf not in cache:
            cache[crf] = encode(codec, frames, fps, crf, preset, matrix=matrix, color_range=color_range)
        return cache[crf]

    lo, hi = 0, 51  # bpp falls as CRF rises
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(mid).bytes * 8 / pixels > target_bpp:
            lo = mid
        else:
            hi = mid
    return min((run(lo), run(hi)), key=lambda r: abs(r.bytes * 8 / pixels - target_bpp))
