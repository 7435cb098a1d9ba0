"""Video I/O: the one module that imports PyAV.

Frames are ``uint8`` numpy arrays ``[H, W, 3]`` in RGB. Input of any container/codec PyAV reads is
converted to RGB with the colour matrix and range the stream declares (BT.601 limited range when
it declares none); those two facts are returned in ``VideoInfo`` and written into the .vtc header
so that output is converted back the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Self

import av
import numpy as np

from .errors import OutputClosed, VideoError

# colour matrices we convert with: code written into the .vtc header -> PyAV name
MATRICES = {1: "ITU709", 4: "FCC", 5: "ITU601", 7: "SMPTE240M", 9: "BT2020"}
RANGES = {1: "MPEG", 2: "JPEG"}  # 1: limited ("tv"), 2: full ("pc")
CHROMA = {"420": "yuv420p", "422": "yuv422p", "444": "yuv444p", "mono": "gray"}
CHROMA_NAMES = {"yuv420p": "4:2:0", "yuv422p": "4:2:2", "yuv444p": "4:4:4", "gray": "mono"}


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frame_count: int | None  # as the container declares it; None when unknown
    pix_fmt: str  # source pixel format, e.g. "yuv420p"
    chroma: str  # "420", "422", "444" or "mono": the layout output is written back in
    matrix: int  # key of MATRICES
    color_range: int  # key of RANGES
    codec: str


def _chroma_of(pix_fmt: str) -> str:
    if pix_fmt.startswith("gray") or pix_fmt in ("y400a", "monob", "monow"):
        return "mono"
    for tag in ("420", "422", "444", "411", "440", "410"):
        if tag in pix_fmt:
            return {"411": "420", "440": "420", "410": "420"}.get(tag, tag)
    return "444"  # rgb, bgr, gbrp, pal8, ...


def _matrix_of(frame_or_ctx, pix_fmt: str) -> tuple[int, int]:
    space = int(getattr(frame_or_ctx, "colorspace", 0) or 0)
    matrix = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}.get(space, 5)
    rng = int(getattr(frame_or_ctx, "color_range", 0) or 0)
    if rng not in RANGES:
        rng = 2 if pix_fmt.startswith("yuvj") else 1
    return matrix, rng


def frame_to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None = None) -> np.ndarray:
    """An ``av.VideoFrame`` as ``[H, W, 3]`` uint8 RGB (its own matrix and range, BT.601 limited
    when it declares none), optionally scaled to ``size`` = (width, height) with an area filter."""
    matrix, rng = _matrix_of(frame, frame.format.name)
    kw = {}
    if frame.format.name.startswith(("yuv", "gray", "nv")):
        kw = {"src_colorspace": MATRICES[matrix], "src_color_range": RANGES[rng]}
    if size:
        kw.update(width=size[0], height=size[1], interpolation="AREA")
    return frame.reformat(format="rgb24", **kw).to_ndarray()


def rgb_to_frame(rgb: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    if str(path) == "-":  # a stream on standard input (e.g. y4m from ffmpeg)
        import sys

        try:
            return av.open(sys.stdin.buffer, mode="r")
        except av.error.FFmpegError as exc:
            raise VideoError(f"standard input: not a video PyAV can read ({exc})") from None
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{path}: no such file")
    if p.is_dir():
        raise VideoError(f"{path}: is a directory, not a video")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.InvalidDataError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: not a video PyAV can read ({exc.__class__.__name__})") from None
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: cannot open ({exc})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: contains no video stream")
    return container


class VideoReader:
    """Iterate over the RGB frames of a video file: ``for frame in VideoReader(path): ...``.

    ``info`` is filled from the stream before the first frame is read.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int] | None = None) -> None:
        self.path = str(path)
        self._container = _open(path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25, 1)
        pix_fmt = ctx.pix_fmt or "yuv420p"
        matrix, rng = _matrix_of(ctx, pix_fmt)
        if not ctx.width or not ctx.height:
            self.close()
            raise VideoError(f"{path}: video stream has no frame size")
        self.size = size  # optional (width, height) to scale to
        self.info = VideoInfo(
            width=int(ctx.width), height=int(ctx.height), fps=Fraction(rate),
            frame_count=int(self._stream.frames) or None, pix_fmt=pix_fmt,
            chroma=_chroma_of(pix_fmt), matrix=matrix, color_range=rng, codec=ctx.name,
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for frame in self._container.decode(self._stream):
                yield frame_to_rgb(frame, self.size)
        except av.error.FFmpegError as exc:
            if self.path == "-":
                raise VideoError(f"standard input: decoding failed ({exc}); an .mp4 or .mov often cannot be "
                                 "read from a pipe (its index may come last): give its file name, or pipe a "
                                 "streamable format (.y4m, .mkv, .ts)") from None
            raise VideoError(f"{self.path}: decoding failed ({exc})") from None
        finally:
            self.close()

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_video(path: str | os.PathLike, max_frames: int | None = None,
               size: tuple[int, int] | None = None) -> tuple[np.ndarray, VideoInfo]:
    """Read a whole (short) clip: ``([T, H, W, 3] uint8, info)``."""
    reader = VideoReader(path, size=size)
    frames = []
    for frame in reader:
        frames.append(frame)
        if max_frames is not None and len(frames) >= max_frames:
            break
    reader.close()
    if not frames:
        raise VideoError(f"{path}: contains no frames")
    return np.stack(frames), reader.info


# The frame rates the containers store: terms of FFmpeg's AVRational (32-bit signed); x264 in .mp4
# also refuses denominators from 2^30 and rates below about one frame in 30,000 s (measured).
MAX_TERM = 2**31 - 1
MAX_DEN = {"y4m": MAX_TERM, "mkv": MAX_TERM, "mp4": 2**29}
MIN_RATE = {"y4m": Fraction(1, MAX_TERM), "mkv": Fraction(1, MAX_TERM), "mp4": Fraction(1, 10000)}


def container_rate(fps: Fraction, kind: str) -> Fraction:
    """``fps`` as the nearest frame rate a ``kind`` container can store (the same when it fits)."""
    r = min(max(Fraction(fps), MIN_RATE[kind]), Fraction(MAX_TERM))
    if r.numerator > MAX_TERM or r.denominator > MAX_DEN[kind]:
        r = r.limit_denominator(max(1, min(MAX_DEN[kind], int(MAX_TERM / (r + 1)))))
    return r if r > 0 else MIN_RATE[kind]


def _codec_takes(codec: str, width: int, height: int, pix_fmt: str) -> bool:
    """Whether ``codec`` opens for frames of this size and pixel format (FFV1, for one, refuses
    1-pixel-wide frames and some small subsampled ones)."""
    import io

    try:
        with av.open(io.BytesIO(), mode="w", format="matroska") as c:
            s = c.add_stream(codec, rate=25)
            s.width, s.height, s.pix_fmt = width, height, pix_fmt
            s.codec_context.open()
        return True
    except (av.error.FFmpegError, ValueError, OSError):
        return False


class VideoWriter:
    """Write RGB frames to ``.y4m`` (raw, exact), ``.mkv`` (FFV1, lossless), ``.mp4`` (x264 CRF 12:
    this re-compresses) or a folder of PNG frames (a path ending in ``/`` or an existing folder).

    YUV outputs are converted with ``matrix``/``color_range`` into the ``chroma`` layout given.
    Where a container or codec cannot store what was asked (a frame rate beyond its terms, a
    chroma layout FFV1 refuses at a small size, a 1-pixel-wide FFV1 frame), the nearest thing it
    can is written and ``note`` says what; whatever PyAV still refuses is a ``VideoError``.
    """

    def __init__(self, path: str | os.PathLike | BinaryIO, width: int, height: int, fps: Fraction,
                 chroma: str = "420", matrix: int = 5, color_range: int = 1, first_number: int = 0) -> None:
        self.path = path if not isinstance(path, (str, os.PathLike)) else str(path)
        self.width, self.height, self.fps = width, height, Fraction(fps)
        self.matrix = matrix if matrix in MATRICES else 5
        self.color_range = color_range if color_range in RANGES else 1
        self.index = 0
        self.first_number = first_number  # PNG frames are named from this number (a decode's --start)
        self.note = ""
        self._container = None
        self.kind = writer_kind(self.path) if isinstance(self.path, str) else "y4m"  # a stream
        if self.kind == "png":
            Path(self.path).mkdir(parents=True, exist_ok=True)
            return
        notes = []
        rate = container_rate(self.fps, self.kind)
        if rate != self.fps:
            notes.append(f"frame rate {self.fps} written as {rate} (the most .{self.kind} can store)")
        pix_fmt = CHROMA.get(chroma, "yuv420p")
        codec = {"y4m": "rawvideo", "mkv": "ffv1", "mp4": "libx264"}[self.kind]
        options = {"crf": "12", "preset": "medium"} if self.kind == "mp4" else {}
        if self.kind == "mp4" and (width % 2 or height % 2) and pix_fmt != "yuv444p":
            pix_fmt = "yuv444p"  # x264 cannot subsample odd sizes
        if self.kind == "mp4" and pix_fmt == "gray":
            pix_fmt = "yuv420p" if not (width % 2 or height % 2) else "yuv444p"
        if self.kind == "mkv" and not _codec_takes(codec, width, height, pix_fmt):
            if _codec_takes(codec, width, height, "yuv444p"):
                notes.append(f"{CHROMA_NAMES.get(pix_fmt, pix_fmt)} written as 4:4:4 (FFV1 refuses it at {width}x{height})")
                pix_fmt = "yuv444p"
            else:
                notes.append(f"written with lossless x264 (FFV1 refuses {width}x{height})")
                codec, pix_fmt, options = "libx264", "yuv444p", {"qp": "0", "preset": "medium"}
        self.pix_fmt = pix_fmt
        self.note = "; ".join(notes)
        fmt = {"y4m": "yuv4mpegpipe", "mkv": "matroska", "mp4": "mp4"}[self.kind]
        try:
            self._container = av.open(self.path, mode="w", format=fmt)
            stream = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.time_base = 1 / rate
            stream.options = options
            stream.codec_context.colorspace = self.matrix
            stream.codec_context.color_range = self.color_range
        except (av.error.FFmpegError, ValueError, OverflowError) as exc:
            self._abort()
            raise VideoError(f"{self._name()}: cannot write this video ({exc})") from None
        self._stream = stream
        self._time_base = 1 / rate

    def _name(self) -> str:
        return self.path if isinstance(self.path, str) else "output"

    def _abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # already failing: the first error is the one to report
                self._container.close()
            self._container = None

    def write(self, frame: np.ndarray) -> None:
        if self.kind == "png":
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            out.save(str(Path(self.path) / f"{self.first_number + self.index:06d}.png"))
            self.index += 1
            return
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self.pix_fmt != "gray":
            vf = vf.reformat(format=self.pix_fmt, dst_colorspace=MATRICES[self.matrix],
                             dst_color_range=RANGES[self.color_range])
        else:
            vf = vf.reformat(format="gray")
        vf.pts = self.index
        vf.time_base = self._time_base
        self.index += 1
        try:
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        except (av.error.FFmpegError, ValueError, OverflowError) as exc:
            self._abort()
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not isinstance(self.path, str) and reader_gone(self.path):
            raise OutputClosed(f"{self._name()}: closed by its reader after {self.index} frames") from None
        raise VideoError(f"{self._name()}: writing failed ({exc})") from None

    def close(self) -> None:
        if self._container is not None:
            try:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
            except (av.error.FFmpegError, ValueError, OverflowError) as exc:
                self._abort()
                self._failed(exc)
            self._container = None


def reader_gone(stream: BinaryIO) -> bool:
    """Whether the reading end of the pipe behind ``stream`` was closed (POLLERR on its writing
    end), so that a failed write means "nobody reads any more", not a fault."""
    import select

    try:
        poll = select.poll()
        poll.register(stream.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poll.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def writer_kind(path: str) -> str:
    """``y4m``, ``mkv``, ``mp4`` by extension; ``png`` for a folder (a path ending in ``/``, an
    existing folder, or a name without an extension)."""
    if path.endswith(("/", os.sep)) or Path(path).is_dir() or not Path(path).suffix:
        return "png"
    ext = Path(path).suffix.lower()
    kinds = {".y4m": "y4m", ".mkv": "mkv", ".mp4": "mp4"}
    if ext not in kinds:
        raise VideoError(f"{path}: unknown output type (use .y4m, .mkv, .mp4 or a folder/)")
    return kinds[ext]
