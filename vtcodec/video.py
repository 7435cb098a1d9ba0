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

from .bitstream.audio import AudioStream, Packet
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
    rotation: int = 0  # degrees counter-clockwise to turn frames for display: 0, 90, 180, 270
    primaries: int = 2  # H.273 ColourPrimaries (2: unspecified)
    transfer: int = 2  # H.273 TransferCharacteristics (2: unspecified)
    bit_depth: int = 8  # bits per sample of the source
    audio: AudioStream | None = None  # the first audio stream, if any
    dropped: str = ""  # the streams a .vtc file does not keep (more audio, subtitles, data), if any


@dataclass(frozen=True)
class RawFormat:
    """What a raw .yuv file cannot say about itself."""

    width: int
    height: int
    fps: Fraction = Fraction(25)
    pix_fmt: str = "yuv420p"


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


def _open(path: str | os.PathLike, raw: RawFormat | None = None) -> av.container.InputContainer:
    options, fmt = {}, None
    if raw is not None:
        fmt = "rawvideo"
        options = {"video_size": f"{raw.width}x{raw.height}", "pixel_format": raw.pix_fmt,
                   "framerate": str(raw.fps)}
    if str(path) == "-":  # a stream on standard input (e.g. y4m from ffmpeg)
        import sys

        try:
            return av.open(sys.stdin.buffer, mode="r", format=fmt, options=options)
        except av.error.FFmpegError as exc:
            raise VideoError(f"standard input: not a video PyAV can read ({exc})") from None
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{path}: no such file")
    if p.is_dir():
        raise VideoError(f"{path}: is a directory, not a video")
    if raw is None and p.suffix.lower() == ".yuv":
        raise VideoError(f"{path}: a raw .yuv file does not say its size: give --size WxH (and --fps, --pix-fmt)")
    if raw is not None:
        try:
            fmt_ = av.VideoFormat(raw.pix_fmt, raw.width, raw.height)
        except (ValueError, av.error.FFmpegError):
            raise VideoError(f"--pix-fmt {raw.pix_fmt!r}: not a pixel format FFmpeg knows") from None
        frame_bytes = sum(c.width * c.height * ((c.bits + 7) // 8) for c in fmt_.components)
        size = p.stat().st_size
        if size == 0 or size % frame_bytes:
            raise VideoError(f"{path}: {size} bytes is not a whole number of {raw.width}x{raw.height} "
                             f"{raw.pix_fmt} frames ({frame_bytes} bytes each): check --size and --pix-fmt")
    try:
        container = av.open(str(path), mode="r", format=fmt, options=options)
    except (av.error.InvalidDataError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: not a video PyAV can read ({exc.__class__.__name__})") from None
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: cannot open ({exc})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: contains no video stream")
    return container


def _audio_of(stream) -> AudioStream:
    ctx = stream.codec_context
    tb = stream.time_base or Fraction(1, ctx.sample_rate or 1)
    return AudioStream(ctx.codec.canonical_name, int(ctx.sample_rate or 0), ctx.layout.name if ctx.layout else "",
                       ctx.format.name if ctx.format else "", (tb.numerator, tb.denominator),
                       int(ctx.bit_rate or 0), bytes(ctx.extradata or b""), _template(stream))


def _others(container) -> str:
    """The streams besides the first video and first audio stream, counted by type, in words."""
    counts: dict[str, int] = {}
    for kind, streams in (("video", container.streams.video[1:]), ("audio", container.streams.audio[1:]),
                          ("subtitle", container.streams.subtitles), ("data", container.streams.data)):
        if len(streams):
            counts[kind] = len(streams)
    return ", ".join(f"{n} {kind} stream{'s' * (n > 1)}" for kind, n in counts.items())


def _template(stream) -> bytes:
    """A Matroska file of ``stream``'s codec parameters (copied as FFmpeg copies a stream) and one
    1-byte packet, so that it opens; b"" where Matroska cannot hold the stream."""
    import io

    buf = io.BytesIO()
    try:
        with av.open(buf, mode="w", format="matroska") as out:
            s = out.add_stream_from_template(stream)
            packet = av.Packet(b"\x00")
            packet.pts = packet.dts = 0
            packet.time_base = stream.time_base or Fraction(1, 1000)
            packet.stream = s
            out.mux(packet)
    except (av.error.FFmpegError, ValueError, TypeError):
        return b""
    return buf.getvalue() if len(buf.getvalue()) <= 1 << 18 else b""


class VideoReader:
    """Iterate over the RGB frames of a video file: ``for frame in VideoReader(path): ...``.

    ``info`` is filled from the stream (and its first frame, read ahead) before iteration.
    ``info.audio`` describes the first audio stream; ``audio=True`` also collects its packets as
    they are demuxed, unchanged, their timestamps made relative to the first video frame:
    ``take_audio()`` hands over those read so far. ``raw`` describes a raw .yuv input. ``vfr`` becomes True when an interval between
    two frames is seen to stray from the constant rate ``info.fps`` by half a frame or more.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int] | None = None, audio: bool = False,
                 raw: RawFormat | None = None) -> None:
        self.path = str(path)
        self._container = _open(path, raw)
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
        sound = self._container.streams.audio[0] if self._container.streams.audio else None
        self._audio = sound if audio else None  # demuxed along with the video
        # read now: PyAV 18 refuses a closed container's stream attributes, and the last chunk's
        # times and audio are taken after iteration has closed it
        self._time_base = Fraction(self._stream.time_base or Fraction(1, 90000))
        self._audio_base = self._audio.time_base if self._audio is not None else None
        self._packets: list[Packet] = []
        self._times: list[int | None] = []
        self.vfr = False
        self._frames = self._decode()
        try:
            first = next(self._frames, None)
        except av.error.FFmpegError as exc:
            self.close()
            raise self._failed(exc) from None
        self._first = first
        self._t0 = first.time if first is not None and first.time is not None else 0.0
        try:
            bits = av.VideoFormat(pix_fmt).components[0].bits
        except (ValueError, IndexError):
            bits = 8
        src = first if first is not None else ctx
        self.info = VideoInfo(
            width=int(ctx.width), height=int(ctx.height), fps=Fraction(rate),
            frame_count=int(self._stream.frames) or None, pix_fmt=pix_fmt,
            chroma=_chroma_of(pix_fmt), matrix=matrix, color_range=rng, codec=ctx.name,
            rotation=round((getattr(first, "rotation", 0) or 0) / 90) * 90 % 360 if first is not None else 0,
            primaries=int(getattr(src, "color_primaries", 2) or 2), transfer=int(getattr(src, "color_trc", 2) or 2),
            bit_depth=int(bits) if 1 <= bits <= 16 else 8,
            audio=_audio_of(sound) if sound is not None else None,
            dropped=_others(self._container),
        )

    def _decode(self) -> Iterator[av.VideoFrame]:
        streams = [self._stream] + ([self._audio] if self._audio is not None else [])
        for packet in self._container.demux(*streams):
            if packet.stream is self._audio:
                if packet.size:
                    self._packets.append((packet.pts, int(packet.duration or 0), bool(packet.is_keyframe),
                                          bytes(packet)))
                continue
            yield from packet.decode()

    @property
    def time_base(self) -> Fraction:
        """Of the frame times ``take_times`` gives."""
        return self._time_base

    def take_times(self) -> list[int | None]:
        """The presentation time (in ``time_base``, after the first frame) of each frame yielded
        since the last call, in order; None where the source gives none."""
        out, self._times = self._times, []
        return out

    def take_audio(self) -> list[Packet]:
        """The audio packets demuxed since the last call, timestamps relative to the first frame."""
        out, self._packets = self._packets, []
        if out and self._audio is not None and self._t0:
            shift = round(self._t0 / float(self._audio_base))
            out = [(None if pts is None else pts - shift, d, k, b) for pts, d, k, b in out]
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            if self._first is None:
                return
            step, last = 1 / float(self.info.fps), None
            frame, pts0 = self._first, self._first.pts
            while frame is not None:
                now = frame.time
                if now is not None and last is not None and abs(now - last - step) > step / 2:
                    self.vfr = True  # a frame interval off the constant rate by half a frame or more
                last = now if now is not None else last
                self._times.append(None if frame.pts is None or pts0 is None else frame.pts - pts0)
                yield frame_to_rgb(frame, self.size)
                frame = next(self._frames, None)
        except av.error.FFmpegError as exc:
            raise self._failed(exc) from None
        finally:
            self.close()

    def _failed(self, exc: Exception) -> VideoError:
        if self.path == "-":
            return VideoError(f"standard input: decoding failed ({exc}); an .mp4 or .mov often cannot be "
                              "read from a pipe (its index may come last): give its file name, or pipe a "
                              "streamable format (.y4m, .mkv, .ts)")
        return VideoError(f"{self.path}: decoding failed ({exc})")

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


def _audio_takes(fmt: str, audio: AudioStream) -> str:
    """"" if a ``fmt`` container takes ``audio``'s packets as they are, else why not."""
    import io

    try:
        with av.open(io.BytesIO(), mode="w", format=fmt) as c:
            _add_audio(c, audio)
            c.start_encoding()
        return ""
    except (av.error.FFmpegError, ValueError, OSError, TypeError) as exc:
        return str(exc).split(":")[0][:80] or exc.__class__.__name__


def _add_audio(container: av.container.OutputContainer, audio: AudioStream):
    """An output stream for ``audio``'s packets: copied from its template (no encoder is opened),
    or, for a stream written without one, set up from its parameters."""
    import io

    if audio.template:
        # Matroska and nothing else: a probed format could be a playlist that opens other files
        with av.open(io.BytesIO(audio.template), mode="r", format="matroska") as t:
            if not t.streams.audio:
                raise ValueError("the audio template holds no audio stream")
            stream = container.add_stream_from_template(t.streams.audio[0], opaque=True)
    else:
        stream = container.add_stream(audio.codec, rate=audio.sample_rate)
        ctx = stream.codec_context
        if audio.layout:
            ctx.layout = audio.layout
        if audio.format:
            ctx.format = audio.format
        if audio.bit_rate:
            ctx.bit_rate = audio.bit_rate
        if audio.extradata:
            ctx.extradata = audio.extradata
    stream.time_base = Fraction(*audio.time_base)
    return stream


class VideoWriter:
    """Write RGB frames to ``.y4m`` (raw, exact), ``.mkv`` (FFV1, lossless), ``.mp4`` (x264 CRF 12,
    4:2:0 at even sizes, which browsers play: this re-compresses), ``.yuv`` (raw planes, no header)
    or a folder of PNG frames (a path ending in ``/`` or an existing folder).

    YUV outputs are converted with ``matrix``/``color_range`` into the ``chroma`` layout given;
    ``rotation``, ``primaries`` and ``transfer`` are written where the container keeps them,
    ``audio`` packets (``write_audio``) are muxed unchanged into .mkv and .mp4, and a ``timed``
    writer (a variable-frame-rate stream) writes each frame at the time ``write`` is given. Where a container
    or codec cannot store what was asked (a frame rate beyond its terms, a chroma layout FFV1
    refuses at a small size, an odd size in a browser-playable .mp4, audio in .y4m), the nearest
    thing it can is written and ``note`` says what; whatever PyAV still refuses is a ``VideoError``.
    """

    def __init__(self, path: str | os.PathLike | BinaryIO, width: int, height: int, fps: Fraction,
                 chroma: str = "420", matrix: int = 5, color_range: int = 1, first_number: int = 0,
                 rotation: int = 0, primaries: int = 2, transfer: int = 2,
                 audio: AudioStream | None = None, timed: bool = False) -> None:
        self.path = path if not isinstance(path, (str, os.PathLike)) else str(path)
        self.width, self.height, self.fps = width, height, Fraction(fps)
        self.matrix = matrix if matrix in MATRICES else 5
        self.color_range = color_range if color_range in RANGES else 1
        self.index = 0
        self.first_number = first_number  # PNG frames are named from this number (a decode's --start)
        self.note = ""
        self._container = None
        self._audio = None
        self._pad = (0, 0)  # rows, columns added (an odd size in .mp4)
        self.kind = writer_kind(self.path) if isinstance(self.path, str) else "y4m"  # a stream
        notes = []
        if audio is not None and self.kind not in ("mkv", "mp4"):
            notes.append(f"audio left out (.{self.kind if self.kind != 'png' else 'png'} holds none: "
                         "decode to .mkv or .mp4 to keep it)")
            audio = None
        self.timed = timed and self.kind in ("mkv", "mp4")  # frames written at the times given
        self._last_pts = -1
        if timed and not self.timed:
            notes.append(f"frame times left out (variable frame rate: .{self.kind} plays at a constant "
                         f"{self.fps} fps; decode to .mkv or .mp4 to keep them)")
        if rotation and self.kind not in ("mkv", "mp4"):
            notes.append(f"frames are stored unrotated (the source is displayed turned {rotation} degrees; "
                         f".{self.kind} cannot say so)")
        if self.kind == "png":
            Path(self.path).mkdir(parents=True, exist_ok=True)
            self.note = "; ".join(notes)
            return
        rate = container_rate(self.fps, "y4m" if self.kind == "yuv" else self.kind)
        if rate != self.fps:
            notes.append(f"frame rate {self.fps} written as {rate} (the most .{self.kind} can store)")
        pix_fmt = CHROMA.get(chroma, "yuv420p")
        codec = {"y4m": "rawvideo", "yuv": "rawvideo", "mkv": "ffv1", "mp4": "libx264"}[self.kind]
        options = {"crf": "12", "preset": "medium"} if self.kind == "mp4" else {}
        size = (width, height)
        if self.kind == "mp4":
            if pix_fmt != "yuv420p":
                notes.append(f"{CHROMA_NAMES.get(pix_fmt, pix_fmt)} written as 4:2:0 (what browsers play)")
            pix_fmt = "yuv420p"
            self._pad = (height % 2, width % 2)
            if any(self._pad):
                size = (width + self._pad[1], height + self._pad[0])
                notes.append(f"odd size {width}x{height} padded to {size[0]}x{size[1]} by repeating the last "
                             "row/column (4:2:0 H.264 needs even sizes; .mkv or .y4m keep the exact size)")
        if self.kind == "mkv" and not _codec_takes(codec, width, height, pix_fmt):
            if _codec_takes(codec, width, height, "yuv444p"):
                notes.append(f"{CHROMA_NAMES.get(pix_fmt, pix_fmt)} written as 4:4:4 (FFV1 refuses it at {width}x{height})")
                pix_fmt = "yuv444p"
            else:
                notes.append(f"written with lossless x264 (FFV1 refuses {width}x{height})")
                codec, pix_fmt, options = "libx264", "yuv444p", {"qp": "0", "preset": "medium"}
        self.pix_fmt = pix_fmt
        fmt = {"y4m": "yuv4mpegpipe", "yuv": "rawvideo", "mkv": "matroska", "mp4": "mp4"}[self.kind]
        if audio is not None and (why := _audio_takes(fmt, audio)):
            hint = "; try .mkv" if self.kind == "mp4" else ""
            notes.append(f"audio ({audio.codec}) left out: .{self.kind} does not take it as it is ({why}){hint}")
            audio = None
        self.note = "; ".join(notes)
        try:
            self._container = av.open(self.path, mode="w", format=fmt,
                                      options={"movflags": "+faststart"} if self.kind == "mp4" else {})
            stream = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
            # frame times need a fine clock: Matroska's milliseconds, MPEG's 90 kHz in .mp4
            time_base = (Fraction(1, 1000) if self.kind == "mkv" else Fraction(1, 90000)) if self.timed else 1 / rate
            stream.time_base = time_base
            if self.timed:  # the encoder's clock too (PyAV rescales frame times to it)
                stream.codec_context.time_base = time_base
            stream.options = options
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_range = self.matrix, self.color_range
            ctx.color_primaries, ctx.color_trc = primaries, transfer
            if rotation and self.kind in ("mkv", "mp4"):
                stream.set_display_rotation(rotation)
            if audio is not None:
                self._audio = _add_audio(self._container, audio)
                self._audio_tb = Fraction(*audio.time_base)  # the packets' (the muxer may change the stream's)
        except (av.error.FFmpegError, ValueError, OverflowError) as exc:
            self._abort()
            raise VideoError(f"{self._name()}: cannot write this video ({exc})") from None
        self._stream = stream
        self._time_base = time_base

    def _name(self) -> str:
        return self.path if isinstance(self.path, str) else "output"

    def _abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # already failing: the first error is the one to report
                self._container.close()
            self._container = None

    @property
    def keeps_audio(self) -> bool:
        return self._audio is not None

    def write_audio(self, packets: list[Packet]) -> None:
        """Mux audio packets as they are (nothing when this output keeps no audio)."""
        if self._audio is None or self._container is None:
            return
        tb = self._audio_tb
        try:
            for pts, duration, key, data in packets:
                packet = av.Packet(data)
                packet.pts = packet.dts = pts
                packet.duration = duration
                packet.time_base = tb
                packet.is_keyframe = key
                packet.stream = self._audio
                self._container.mux(packet)
        except (av.error.FFmpegError, ValueError, OverflowError) as exc:
            self._abort()
            self._failed(exc)

    def write(self, frame: np.ndarray, time: float | Fraction | None = None) -> None:
        """One frame ``[H, W, 3]`` uint8; ``time``: its presentation time in seconds after the first
        frame (used by a ``timed`` writer; the frame's place at the constant rate otherwise)."""
        if self.kind == "png":
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            out.save(str(Path(self.path) / f"{self.first_number + self.index:06d}.png"))
            self.index += 1
            return
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self.pix_fmt != "gray":
            vf = vf.reformat(format=self.pix_fmt, dst_colorspace=MATRICES[self.matrix],
                             dst_color_range=RANGES[self.color_range])
        else:
            vf = vf.reformat(format="gray")
        if self.timed and time is not None:  # never two frames at one tick: the muxer would refuse
            vf.pts = max(round(Fraction(time) / self._time_base), self._last_pts + 1)
        else:
            vf.pts = self.index if not self.timed else max(round(self.index / self.fps / self._time_base),
                                                           self._last_pts + 1)
        self._last_pts = vf.pts
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
    """``y4m``, ``mkv``, ``mp4``, ``yuv`` by extension; ``png`` for a folder (a path ending in
    ``/``, an existing folder, or a name without an extension)."""
    if path.endswith(("/", os.sep)) or Path(path).is_dir() or not Path(path).suffix:
        return "png"
    ext = Path(path).suffix.lower()
    kinds = {".y4m": "y4m", ".mkv": "mkv", ".mp4": "mp4", ".yuv": "yuv"}
    if ext not in kinds:
        raise VideoError(f"{path}: unknown output type (use .y4m, .mkv, .mp4, .yuv or a folder/)")
    return kinds[ext]
