"""Files, pipes and bytes: ``encode_file`` / ``decode_file`` (the CLI's work), ``compress`` /
``decompress`` (the simple in-memory API), all built on the streaming ``Encoder`` / ``Decoder``.

Memory stays bounded by one chunk whatever the clip length: frames stream from the reader into
the encoder and from the decoder into the writer. Files are written to a temporary name and moved
into place only when complete, so a failed command leaves nothing behind. ``-`` means standard
input / output (a .y4m stream for video, the .vtc bytes otherwise).
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .bitstream import (
    CHUNK_FRAMES,
    UNKNOWN_FRAMES,
    read_chunk,
    read_header,
    read_index,
    resync,
    scan_chunks,
)
from .codec import (
    DEFAULT_GOP,
    DEFAULT_PRESET,
    Decoder,
    Encoder,
    Stats,
    TokenCoder,
    check_limits,
    decode_chunk,
    frame_size,
    model_for,
)
from .errors import FormatError, VideoError, VtcError
from .zoo import DEFAULT_MODEL

Progress = Callable[[int, int | None], None]  # (frames done, frames total or None)
BLOCK = 1 << 20  # bytes read at a time from a .vtc stream on standard input


@contextmanager
def atomic_output(path: str | os.PathLike, force: bool, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path (a file, or a folder when ``is_dir``) beside ``path``; it replaces
    ``path`` only if the block succeeds. Refuses to overwrite without ``force``; an unwritable
    destination fails before any work."""
    path = Path(path)
    if path.exists() and not force and (not is_dir or any(path.iterdir())):
        raise VtcError(f"{path}: already exists (use -f to overwrite)")
    if path.exists() and not is_dir and path.is_dir():
        raise VtcError(f"{path}: is a directory")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise VtcError(f"{path}: folder {parent} does not exist")
    try:
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=parent)
            os.close(fd)
            tmp = Path(name)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # the permissions a plain open() would have given
    except OSError as exc:
        raise VtcError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        yield tmp
        if is_dir:
            path.mkdir(exist_ok=True)
            for f in sorted(tmp.iterdir()):
                os.replace(f, path / f.name)
            tmp.rmdir()
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
        elif tmp.exists():
            tmp.unlink()
        raise


def _encode_stream(src: str | os.PathLike, frames: Iterable, encoder: Encoder, out: BinaryIO,
                   total: int | None, progress: Progress | None) -> None:
    pushed = 0
    for frame in frames:
        data = encoder.encode(frame)
        pushed += 1
        out.write(data)
        if progress and data:
            progress(encoder.stats.frames, total)
    if pushed == 0:
        raise VideoError(f"{src}: contains no frames")
    out.write(encoder.flush())
    if progress:
        progress(encoder.stats.frames, total)


def encode_file(src: str | os.PathLike, dst: str | os.PathLike, model: str = DEFAULT_MODEL,
                quality: int | None = None, gop: int = DEFAULT_GOP, force: bool = False,
                progress: Progress | None = None, tokens_out: list | None = None,
                device: str = "cpu", bitrate: float | None = None, bpp: float | None = None,
                preset: str = DEFAULT_PRESET) -> Stats:
    """Compress a video file (or ``-``: standard input) into a .vtc file (or ``-``: standard
    output). ``tokens_out`` (a list) receives each chunk's symbols, for verification.
    ``bitrate`` (kb/s) or ``bpp`` selects target-rate mode instead of a fixed ``quality``;
    ``preset`` (``vtcodec.codec.PRESETS``) trades encoding time for quality."""
    from .video import VideoReader

    reader = VideoReader(src)
    info = reader.info
    encoder = Encoder(info.width, info.height, info.fps, quality=quality, model=model, gop=gop,
                      device=device, chroma=info.chroma, matrix=info.matrix, color_range=info.color_range,
                      bitrate=bitrate, bpp=bpp, preset=preset)
    if tokens_out is not None:
        encoder.tokens = tokens_out
    try:
        if str(dst) == "-":
            _encode_stream(src, reader, encoder, sys.stdout.buffer, info.frame_count, progress)
            sys.stdout.buffer.flush()
        else:
            with atomic_output(dst, force) as tmp, open(tmp, "wb") as f:
                _encode_stream(src, reader, encoder, f, info.frame_count, progress)
                f.seek(0)
                f.write(encoder.header_bytes())  # the frame count, now known
    finally:
        reader.close()
    return encoder.stats


@dataclass
class Damage:
    """Frames ``first .. first + count - 1`` were concealed (``reason`` says why)."""

    first: int
    count: int
    reason: str


def iter_decode(src: str | os.PathLike, stats: Stats | None = None, tokens_out: list | None = None,
                start: int = 0, frames: int | None = None, conceal: bool = False,
                damage: list[Damage] | None = None, device: str = "cpu") -> Iterator[np.ndarray]:
    """Decode a .vtc file (or ``-``) chunk by chunk: yields frames ``[T, H, W, 3]`` uint8.

    ``start``/``frames``: decode only that range (the index, or a scan of the chunk heads, finds
    the chunks needed; only those are read and decoded). ``conceal``: carry on past damaged
    chunks, repeating the last good frame over the damaged range, each recorded in ``damage``.
    """
    if str(src) == "-":
        if start or frames is not None or conceal:
            raise VtcError("--start, --frames and --conceal need a file, not standard input")
        decoder = Decoder(device=device)
        if tokens_out is not None:
            decoder.tokens = tokens_out
        while block := sys.stdin.buffer.read(BLOCK):
            if stats is not None:
                stats.bytes += len(block)
            out = decoder.decode(block)
            if stats is not None:
                stats.header = decoder.header
            if out:
                yield np.stack(out)
        decoder.flush()
        return
    path = Path(src)
    if not path.is_file():
        raise VtcError(f"{src}: no such file" if not path.exists() else f"{src}: not a file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = read_header(f)
        check_limits(header)
        body = f.tell()
        net = model_for(header, device)
        coder = TokenCoder(net)
        if stats is not None:
            stats.bytes, stats.header = size, header
        if start or frames is not None:
            yield from _decode_range(f, header, size, body, net, coder, start, frames, tokens_out)
            return
        yield from _decode_all(f, header, size, body, net, coder, conceal, damage, tokens_out)


def _decode_range(f, header, size, body, net, coder, start, count, tokens_out) -> Iterator[np.ndarray]:
    entries = read_index(f, header, size) or scan_chunks(f, header, size, body)
    available = entries[-1].first_frame + entries[-1].n_frames if entries else 0
    if start < 0 or start >= available:
        raise VtcError(f"--start {start} is outside the stream's {available} frames")
    end = available if count is None else min(available, start + max(count, 0))
    for e in entries:
        if e.first_frame + e.n_frames <= start or e.first_frame >= end:
            continue
        f.seek(e.offset)
        chunk = read_chunk(f, header, e.first_frame, size)
        lo, hi = max(0, start - e.first_frame), min(e.n_frames, end - e.first_frame)
        out, symbols = decode_chunk(chunk, header, net, coder, lo, hi)
        if tokens_out is not None:
            tokens_out.append(symbols[:hi])
        yield out


def _decode_all(f, header, size, body, net, coder, conceal, damage, tokens_out) -> Iterator[np.ndarray]:
    total = None if header.frame_count == UNKNOWN_FRAMES else header.frame_count
    expected, last = 0, None
    f.seek(body)

    def fill(first: int, upto: int, reason: str) -> Iterator[np.ndarray]:
        if upto - first > 64 * header.gop and total is None:
            raise VtcError(f"damage after frame {first} spans too many frames to conceal")
        if damage is not None:
            damage.append(Damage(first, upto - first, reason))
        frame = last if last is not None else np.full((header.height, header.width, 3), 128, np.uint8)
        for i in range(first, upto, header.gop):
            yield np.repeat(frame[None], min(header.gop, upto - i), axis=0)

    while True:
        pos = f.tell()
        try:
            chunk = read_chunk(f, header, expected, size)
            if chunk is None:
                break
            if chunk.kind != CHUNK_FRAMES:
                continue
            out, symbols = decode_chunk(chunk, header, net, coder)
        except FormatError as exc:
            if not conceal:
                raise
            nxt = resync(f, header, size, pos + 1, expected)
            upto = nxt.first_frame if nxt is not None else (total if total is not None else expected)
            yield from fill(expected, upto, str(exc))
            expected = upto
            if nxt is None:
                break
            f.seek(nxt.offset)
            continue
        if tokens_out is not None:
            tokens_out.append(symbols)
        yield out
        last = out[-1]
        expected = chunk.first_frame + chunk.n_frames
    if total is not None and expected < total:
        if not conceal:
            raise FormatError(f"truncated stream: {expected} of {total} frames present")
        yield from fill(expected, total, "truncated stream")
    if expected == 0 and not conceal:
        raise FormatError("stream holds no frames")


def decode_file(src: str | os.PathLike, dst: str | os.PathLike, force: bool = False,
                progress: Progress | None = None, tokens_out: list | None = None,
                device: str = "cpu", start: int = 0, frames: int | None = None,
                conceal: bool = False, damage: list[Damage] | None = None) -> Stats:
    """Decompress a .vtc file (or ``-``) to .y4m / .mkv / .mp4, a folder of PNG frames, or ``-``
    (a .y4m stream on standard output). See ``iter_decode`` for the other arguments."""
    from .video import VideoWriter, writer_kind

    t0 = time.time()
    to_stdout = str(dst) == "-"
    kind = "y4m" if to_stdout else writer_kind(str(dst))  # fail early on an unknown output type
    stats = Stats()
    chunks = iter_decode(src, stats, tokens_out, start, frames, conceal, damage, device)
    first = next(chunks, None)  # the header is checked (and the first chunk decoded) before dst is touched
    if first is None:
        raise FormatError("stream holds no frames")
    header = stats.header
    fps = Fraction(header.fps_num, header.fps_den)
    stats.width, stats.height, stats.fps = header.width, header.height, fps
    total = None if header.frame_count == UNKNOWN_FRAMES else header.frame_count
    if frames is not None or start:
        total = None

    def write_all(target: str | BinaryIO) -> None:
        writer = VideoWriter(target, header.width, header.height, fps, header.chroma,
                             header.matrix, header.color_range)
        try:
            for group in itertools.chain([first], chunks):
                for frame in group:
                    writer.write(frame)
                stats.frames += len(group)
                if progress:
                    progress(stats.frames, total)
        finally:
            writer.close()

    if to_stdout:
        write_all(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with atomic_output(dst, force, is_dir=kind == "png") as tmp:
            write_all(str(tmp) + ("/" if kind == "png" else ""))
    stats.seconds = time.time() - t0
    return stats


def compress(frames_or_path: str | os.PathLike | Iterable, quality: int | None = None,
             model: str = DEFAULT_MODEL, gop: int = DEFAULT_GOP, fps: float | Fraction = 25,
             device: str = "cpu", bitrate: float | None = None, bpp: float | None = None,
             precision: str | None = None, preset: str = DEFAULT_PRESET) -> bytes:
    """Frames (``[H, W, 3]`` uint8 arrays, a ``[T, H, W, 3]`` array, ``av.VideoFrame`` s or
    ``[3, H, W]`` float tensors) or a video path -> the bytes of a .vtc stream. ``precision``:
    the tokenizer nets' (``vtcodec.zoo.resolve_precision``)."""
    if isinstance(frames_or_path, (str, os.PathLike)):
        from .video import VideoReader

        frames: Iterable = VideoReader(frames_or_path)
        info = frames.info
        w, h, fps = info.width, info.height, info.fps
        kw = {"chroma": info.chroma, "matrix": info.matrix, "color_range": info.color_range}
    else:
        it = iter(frames_or_path)
        first = next(it, None)
        if first is None:
            raise VtcError("no frames to encode")
        w, h = frame_size(first)
        frames, kw = itertools.chain([first], it), {}
    encoder = Encoder(w, h, fps, quality=quality, model=model, gop=gop, device=device, bitrate=bitrate,
                      bpp=bpp, precision=precision, preset=preset, **kw)
    parts = [encoder.encode(frame) for frame in frames]
    parts.append(encoder.flush())
    data = b"".join(parts)
    head = encoder.header_bytes()
    return head + data[len(head):]


def decompress(data: bytes, device: str = "cpu", precision: str | None = None) -> np.ndarray:
    """The bytes of a .vtc stream -> frames ``[T, H, W, 3]`` uint8."""
    decoder = Decoder(device=device, precision=precision)
    frames = decoder.decode(data)
    decoder.flush()
    return np.stack(frames)
