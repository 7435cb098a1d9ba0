"""Files and pipes: ``encode_file`` / ``decode_file`` (the CLI's work) and ``iter_decode``.

Only file concerns live here: reading a .vtc file (seeking, the index, the range a caller asks
for), the concealment policy, and where output goes (``vtcodec.output``). Decoding itself is the
``StreamDecoder``'s (vtcodec/codec.py), the same one the streaming API uses, so both read and
refuse the same streams. Memory stays bounded by one chunk (or less: a few frames at a time)
whatever the clip length: frames stream from the reader into the encoder and from the decoder into
the writer. ``-`` means standard input / output (a .y4m stream for video, the .vtc bytes
otherwise); an existing character device or FIFO is written like standard output.

Concealment (``conceal=True``) carries on past damaged chunks: it finds the next chunk that checks
out (``Resync``: linear in the file), repeats the last good frame over the frames in between, and
reports each damaged range. It never fills in more frames than the damaged bytes could have held
under the decoder's work limit (``StreamDecoder.frames_for_bytes``), so a header that declares
billions of frames, or a chunk far ahead, cannot make it write more than the data accounts for;
frames beyond that are reported as missing.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from . import DEFAULT_MODEL
from .bitstream import (
    CHUNK_AUDIO_PACKETS,
    CHUNK_AUDIO_STREAM,
    CHUNK_FRAME_TIMES,
    CHUNK_FRAMES,
    SIDE_KINDS,
    UNKNOWN_FRAMES,
    Chunk,
    Header,
    Resync,
    open_vtc,
    pack_packets,
    pack_times,
    parse_packets,
    parse_times,
    read_chunk,
    read_index,
    scan_chunks,
    side_spans,
)
from .bitstream.audio import AudioStream
from .codec import DEFAULT_GOP, Decoder, Encoder, Stats, StreamDecoder
from .errors import FormatError, ModelError, OutputClosed, VideoError, VtcError
from .grid import batch_frames
from .layers import find_any
from .output import atomic_output, is_stream
from .presets import DEFAULT_PRESET, Preset
from .rate import BASE_TOP
from .workers import Workers, check_jobs
from .zoo import ModelEntry, register_model

if TYPE_CHECKING:
    from .video import RawFormat

# (frames done, frames total or None, the Stats so far: bytes, kb/s); a callable of the first two
# arguments only is called with those
Progress = Callable[..., None]


def _reporter(progress: Progress | None) -> Callable[[int, int | None, Stats], None] | None:
    if progress is None:
        return None
    import inspect

    try:
        inspect.signature(progress).bind(0, None, None)
        return progress
    except TypeError:
        return lambda done, total, _stats: progress(done, total)
    except ValueError:  # a builtin without a signature
        return progress
BLOCK = 1 << 20  # bytes read at a time from a .vtc stream on standard input


def _encode_stream(src: str | os.PathLike, frames: Iterable, encoder: Encoder, out: BinaryIO,
                   total: int | None, progress: Progress | None, side: Callable[[int, int], None] | None) -> None:
    """Push ``frames`` through ``encoder`` into ``out``. ``side(first, n)`` is called before the
    frame that completes each frames chunk (its frames ``first .. first + n - 1``) is pushed: what
    it attaches goes before that chunk."""
    pushed, gop = 0, encoder.header.gop
    frames = iter(frames)
    frame = next(frames, None)
    while frame is not None:
        following = next(frames, None)  # one frame ahead: the last chunk may be short
        if side is not None and (pushed % gop == gop - 1 or following is None):
            side(pushed - pushed % gop, pushed % gop + 1)
        data = encoder.encode(frame)
        pushed += 1
        out.write(data)
        if progress and data:
            progress(encoder.stats.frames, total, encoder.stats)
        frame = following
    if pushed == 0:
        raise VideoError(f"{src}: contains no frames")
    out.write(encoder.flush())
    if progress:
        progress(encoder.stats.frames, total, encoder.stats)


class _SideData:
    """What an encode puts before each frames chunk besides the frames: the audio demuxed so far
    and, once the source is seen to have variable frame timing, the times of the chunk's frames
    (after the first coded frame, in the source's time base). Called as ``side(first, n)``."""

    def __init__(self, encoder: Encoder, reader, seek: int, audio: bool, keep_times: bool) -> None:
        self.encoder, self.reader, self.audio, self.keep_times = encoder, reader, audio, keep_times
        self.skip = seek  # source frames before the first coded one, whose times are dropped
        self.times: list[int | None] = []  # of coded frames not yet attached
        self.base: int | None = None  # the first coded frame's time

    def __call__(self, first: int, n: int) -> None:
        if self.audio:
            packets = self.reader.take_audio()
            for i in range(0, len(packets), 256):  # chunks of bounded size
                self.encoder.attach(CHUNK_AUDIO_PACKETS, pack_packets(packets[i:i + 256]))
        new = self.reader.take_times()
        cut = min(len(new), self.skip)
        self.skip -= cut
        self.times += new[cut:]
        if first == 0 and self.times:
            self.base = self.times[0]
        mine, self.times = self.times[:n], self.times[n:]
        if (self.keep_times and self.reader.vfr and len(mine) == n and self.base is not None
                and None not in mine):
            pts = [t - self.base for t in mine]
            self.encoder.attach(CHUNK_FRAME_TIMES, pack_times(self.reader.time_base, pts), first, n)


AUDIO_MODES = ("copy", "drop")


def encode_file(src: str | os.PathLike, dst: str | os.PathLike, model: str = DEFAULT_MODEL,
                quality: int | None = None, gop: int = DEFAULT_GOP, force: bool = False,
                progress: Progress | None = None, tokens_out: list | None = None,
                device: str = "cpu", bitrate: float | None = None, bpp: float | None = None,
                preset: str | Preset = DEFAULT_PRESET, jobs: int = 1, seek: int = 0,
                frames: int | None = None, fps: Fraction | None = None, raw: RawFormat | None = None,
                audio: str = "copy", precision: str | None = None) -> Stats:
    """Compress a video file (or ``-``: standard input) into a .vtc file (or ``-``: standard
    output). ``tokens_out`` (a list) receives each chunk's symbols, for verification.
    ``bitrate`` (kb/s) or ``bpp`` selects target-rate mode instead of a fixed ``quality``;
    ``preset`` (``vtcodec.presets.PRESETS``) trades encoding time for quality; ``jobs`` codes
    that many chunks at once (the same bytes: see ``Encoder``). ``seek``/``frames``: code frames
    ``seek .. seek + frames - 1`` only; ``fps`` overrides the source's frame rate; ``raw``
    describes a raw .yuv input. ``audio``: ``copy`` carries the first audio stream's packets into
    the file unchanged (format 2.1 audio chunks), ``drop`` leaves it out. What could not be kept
    (audio with ``seek``/``frames``, a bit depth above 8, variable frame timing) is said in the
    returned ``Stats.note``."""
    from .video import VideoReader

    if audio not in AUDIO_MODES:
        raise VtcError(f"--audio must be copy or drop, not {audio!r}")
    _check_range(seek, frames, "--seek")
    if fps is not None and not 0 < fps < 1 << 30:
        raise VtcError(f"--fps must be a positive rate, not {fps}")
    progress = _reporter(progress)
    reader = VideoReader(src, audio=audio == "copy", raw=raw)
    info = reader.info
    notes = []
    carry = info.audio is not None and audio == "copy"
    if carry and (seek or frames is not None):
        notes.append("audio left out: it is not cut with --seek/--frames (encode the whole file to keep it)")
        carry = False
    if info.dropped:
        notes.append(f"left out: {info.dropped} (a .vtc file keeps one video and one audio stream)")
    if info.bit_depth > 8:
        notes.append(f"the source has {info.bit_depth}-bit samples; vtcodec codes 8-bit RGB, and decodes to 8 bits")
    encoder = None
    try:
        encoder = Encoder(info.width, info.height, fps or info.fps, quality=quality, model=model, gop=gop,
                          device=device, chroma=info.chroma, matrix=info.matrix,
                          color_range=info.color_range, bitrate=bitrate, bpp=bpp, preset=preset,
                          tokens_out=tokens_out, jobs=jobs, precision=precision, rotation=info.rotation,
                          primaries=info.primaries, transfer=info.transfer, bit_depth=info.bit_depth)
        if carry:
            encoder.attach(CHUNK_AUDIO_STREAM, info.audio.pack())
        attach = _SideData(encoder, reader, seek, carry, keep_times=fps is None)

        pick = itertools.islice(reader, seek, None if frames is None else seek + frames)
        total = info.frame_count
        if total is not None:
            total = max(0, min(total - seek, frames or total))
        if str(dst) == "-":
            try:
                _encode_stream(src, pick, encoder, sys.stdout.buffer, total, progress, attach)
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                raise OutputClosed("standard output: closed by its reader") from None
        elif is_stream(dst):
            with open(dst, "wb") as f:
                _encode_stream(src, pick, encoder, f, total, progress, attach)
        else:
            with atomic_output(dst, force, source=src) as tmp, open(tmp, "wb") as f:
                _encode_stream(src, pick, encoder, f, total, progress, attach)
                f.seek(0)
                f.write(encoder.header_bytes())  # the frame count, now known
    finally:
        if encoder is not None:
            encoder.close()
        reader.close()
    if reader.vfr and fps is not None:
        notes.append(f"the source has variable frame timing; --fps codes it at a constant {encoder.header.fps_num}/"
                     f"{encoder.header.fps_den} fps")
    if info.audio is not None and audio == "drop":
        notes.append(f"audio ({info.audio.codec}) dropped (--audio drop)")
    encoder.stats.note = "; ".join([n for n in (encoder.stats.note, *notes) if n])
    return encoder.stats


@dataclass
class Damage:
    """Frames ``first .. first + count - 1`` were damaged: repeated from the last good frame
    (``filled``), or left out because no data accounts for them."""

    first: int
    count: int
    reason: str
    filled: bool = True


def _check_range(start: int, frames: int | None, what: str = "--start") -> None:
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise VtcError(f"{what} must be a frame number (0 or more), not {start!r}")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise VtcError(f"--frames must be at least 1, not {frames!r}")


def iter_decode(src: str | os.PathLike, stats: Stats | None = None, tokens_out: list | None = None,
                start: int = 0, frames: int | None = None, conceal: bool = False,
                damage: list[Damage] | None = None, device: str = "cpu", jobs: int = 1,
                model: str | os.PathLike | None = None, side: list[Chunk] | None = None,
                decoder: str | os.PathLike | None = None) -> Iterator[np.ndarray]:
    """Decode a .vtc file (or ``-``) a few frames at a time: yields frames ``[B, H, W, 3]`` uint8.

    ``start``/``frames``: decode only that range (the index, or a scan of the chunk heads, finds
    the chunks needed; only those are read and decoded). ``conceal``: carry on past damaged
    chunks (see the module's docstring), each damaged range recorded in ``damage``. ``jobs``:
    decode that many chunks at once in worker processes (``vtcodec.workers``), yielding the same
    frames in the same order; standard input and concealment decode one chunk at a time.
    ``model``: the model the stream was written with (a folder, or an installed name), when it is
    not registered otherwise; an error if the stream names another. ``side``: a list that receives
    the stream's audio chunks as they are read (before the frames they precede); for a range, the
    audio of that range (``_range_audio``). ``decoder``: another decoder for the stream's model
    (``vtcodec.decoders``), by name or folder.
    """
    _check_range(start, frames)
    check_jobs(jobs)
    given = register_model(find_any(model).path) if model is not None else None  # a model or a layer
    if str(src) == "-":
        if start or frames is not None or conceal:
            raise VtcError("--start, --frames and --conceal need a file, not standard input")
        reader = Decoder(device=device, tokens_out=tokens_out, side=side, decoder=decoder)
        while block := sys.stdin.buffer.read(BLOCK):
            if stats is not None:
                stats.bytes += len(block)
            out = reader.decode(block)
            if stats is not None:
                stats.header = reader.header
            if given is not None and reader.header is not None:
                _check_model(reader.header, given)
                given = None
            if out:
                yield np.stack(out)
        reader.flush()
        if stats is not None:
            stats.side_bytes = reader.stream.sequence.audio_bytes
        return
    with open_vtc(src) as (f, size, header):
        body = f.tell()
        if given is not None:
            _check_model(header, given)
        stream = StreamDecoder(header, device, decoder=decoder)
        ranged = bool(start or frames is not None)
        # the side chunks, from a scan of chunk heads: for the audio bytes of a range, and the writers'
        # time base (frame times anywhere in the stream need a fine clock from the start)
        spans = side_spans(f, size, body) if side is not None or (ranged and stats is not None) else []
        if stats is not None:
            stats.bytes, stats.header = size, header
            stats.timed = any(kind == CHUNK_FRAME_TIMES for kind, *_ in spans)
        if conceal and not ranged:
            yield from _Concealer(f, stream, size, body, damage, side).run()
            if stats is not None:
                stats.side_bytes = stream.sequence.audio_bytes
            return
        if ranged:
            entries = read_index(f, header, size) or scan_chunks(f, header, size, body)
            if stats is not None and entries:
                stats.stream_frames = entries[-1].first_frame + entries[-1].n_frames
            audio = _range_side(f, header, size, spans, entries, start, frames, side)
            if stats is not None:
                stats.side_bytes = audio
            chunks = _range_chunks(f, stream, size, entries, start, frames)
        else:
            chunks = _all_chunks(f, stream, size, body, side)
        if jobs == 1:
            out = (batch for chunk, lo, hi in chunks for batch in stream.frames(chunk, lo, hi, tokens_out))
        else:
            out = _parallel_frames(stream, chunks, tokens_out, device, jobs)
        yield from (out if ranged else _with_hint(out))
        if stats is not None and not ranged:
            stats.side_bytes = stream.sequence.audio_bytes


def _check_model(header: Header, entry: ModelEntry) -> None:
    if (header.model, header.weights_sha256.hex()) != (entry.name, entry.sha256):
        raise VtcError(f"stream was written with model {header.model!r} (weights "
                       f"{header.weights_sha256.hex()[:16]}...), not --model {entry.name!r} (weights "
                       f"{entry.sha256[:16]}... in {entry.path})")


Span = tuple[Chunk, int, int | None]  # a frames chunk and the range of its frames wanted


def _all_chunks(f: BinaryIO, stream: StreamDecoder, size: int, body: int,
                side: list[Chunk] | None = None) -> Iterator[Span]:
    f.seek(body)
    while (chunk := read_chunk(f, stream.header, stream.sequence.frames, size, stream.max_payload)) is not None:
        if stream.sequence.add(chunk):
            yield chunk, 0, None
        elif side is not None and chunk.kind in SIDE_KINDS:
            side.append(chunk)
    stream.finish()


CONCEAL_HINT = " (--conceal decodes past damaged chunks)"


def _with_hint(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """A damaged chunk's error gets a ``hint`` (how to decode past it), which the command line
    prints after the message; the message stays the streaming decoder's."""
    try:
        yield from frames
    except FormatError as exc:
        exc.hint = CONCEAL_HINT
        raise


def _range_chunks(f: BinaryIO, stream: StreamDecoder, size: int, entries: list, start: int,
                  count: int | None) -> Iterator[Span]:
    header = stream.header
    available = entries[-1].first_frame + entries[-1].n_frames if entries else 0
    if start >= available:
        raise VtcError(f"--start {start} is outside the stream's {available} frames")
    end = available if count is None else min(available, start + count)
    for e in entries:
        if e.first_frame + e.n_frames <= start or e.first_frame >= end:
            continue
        f.seek(e.offset)
        chunk = read_chunk(f, header, e.first_frame, size, stream.max_payload)
        if chunk is None or chunk.kind != CHUNK_FRAMES or (chunk.first_frame, chunk.n_frames) != (e.first_frame, e.n_frames):
            raise FormatError(f"the index entry for frames {e.first_frame}-{e.first_frame + e.n_frames - 1} "
                              f"disagrees with the chunk at offset {e.offset}")
        yield chunk, max(0, start - e.first_frame), min(e.n_frames, end - e.first_frame)


def _range_side(f: BinaryIO, header: Header, size: int, spans: list, entries: list, start: int,
                count: int | None, side: list[Chunk] | None) -> int:
    """The side data of frames ``start .. start + count - 1``, into ``side``: the frame times
    chunks up to the range's end (earlier ones give the times the range starts from), the audio
    stream chunk, and one packets chunk of the audio packets that start in the range's time span,
    their times made relative to frame ``start`` (whole packets: the cut is at packet boundaries,
    as a stream copy cuts). ``spans``: the stream's side chunks (``side_spans``). Returns the
    bytes of all the stream's audio chunks (0: none)."""
    audio_bytes = sum(n for kind, _, n, _ in spans if kind != CHUNK_FRAME_TIMES)
    if side is None or not spans or not entries:
        return audio_bytes
    available = entries[-1].first_frame + entries[-1].n_frames
    end = available if count is None else min(available, start + count)
    timing, stream, tb, packets = _Timing(Fraction(header.fps_num, header.fps_den)), None, None, []
    for kind, offset, _, first in spans:
        if kind == CHUNK_FRAME_TIMES and first >= end:
            continue
        try:  # side data: damage stops it here (what was read so far is kept), never the video
            f.seek(offset)
            chunk = read_chunk(f, header, 0, size)
            if chunk is None:
                break
            if kind == CHUNK_FRAME_TIMES:
                side.append(chunk)
                timing.add(chunk)
            elif kind == CHUNK_AUDIO_STREAM and stream is None:
                stream = chunk
                tb = Fraction(*AudioStream.parse(chunk.payload).time_base)
            elif kind == CHUNK_AUDIO_PACKETS and stream is not None:
                packets += parse_packets(chunk.payload)
        except FormatError:
            break
    if stream is not None:  # a malformed stream chunk goes too (tb None): the writer's note will say why
        side.append(stream)
    if tb is not None:
        lo, hi = timing.time(start) / tb, timing.time(end) / tb  # the span in the packets' time base
        cut = [(pts - round(lo), d, k, data) for pts, d, k, data in packets if pts is not None and lo <= pts < hi]
        side += [Chunk(start, 0, pack_packets(cut[i:i + 256]), CHUNK_AUDIO_PACKETS) for i in range(0, len(cut), 256)]
    return audio_bytes


MAX_TIME = 1 << 32  # seconds: a frame time beyond (136 years) is damage, not a video


class _Timing:
    """Frame times of a stream: those its frame times chunks give (format 2.1), and one frame
    period (``fps``) after the frame before for the others. ``time(i)`` in seconds after frame 0,
    asked in increasing order of ``i``."""

    def __init__(self, fps: Fraction) -> None:
        self.fps = Fraction(fps)
        self.known: dict[int, Fraction] = {}
        self.last = (0, Fraction(0))  # a frame at or before the last asked, and its time

    def add(self, chunk: Chunk) -> None:
        tb, pts = parse_times(chunk.payload, chunk.n_frames)
        times = [p * tb for p in pts]
        if not all(0 <= t < MAX_TIME for t in times):
            raise FormatError(f"frame times chunk for frames {chunk.first_frame}+{chunk.n_frames} holds a time "
                              f"outside 0 .. {MAX_TIME} s")
        self.known.update((chunk.first_frame + i, t) for i, t in enumerate(times))

    def time(self, i: int) -> Fraction:
        for k in sorted(k for k in self.known if k <= i):
            self.last = (k, self.known.pop(k))
        k, t = self.last
        return t + (i - k) / self.fps


def _decoder_setup(header: Header, device: str, folder: str, decoder: str | None) -> StreamDecoder:
    register_model(folder)  # the parent's model, registered there by path or not
    return StreamDecoder(header, device, decoder=decoder)


def _decode_chunk(stream: StreamDecoder, chunk: Chunk, lo: int, hi: int | None,
                  want_tokens: bool) -> tuple[list[np.ndarray], object, VtcError | None]:
    """The frames of a chunk, its tokens, and the error that stopped it (after the frames decoded
    before it, which one job would have yielded too)."""
    tokens: list | None = [] if want_tokens else None
    batches: list[np.ndarray] = []
    try:
        for batch in stream.frames(chunk, lo, hi, tokens):
            batches.append(batch)  # noqa: PERF402 - kept up to an error
    except VtcError as exc:
        return batches, None, exc
    return batches, tokens, None  # a 4.x chunk with its layer: base and layer symbols


def _parallel_frames(stream: StreamDecoder, chunks: Iterator[Span], tokens_out: list | None,
                     device: str, jobs: int) -> Iterator[np.ndarray]:
    """``stream.frames`` of each chunk, ``jobs`` chunks at a time, in order. When reading a chunk
    fails, the frames of the chunks before it come first, then the error, as with one job."""
    workers = Workers(jobs, _decoder_setup, (stream.header, device, str(stream.model_folder), stream.decoder_folder))
    queue: deque = deque()

    def collect() -> Iterator[np.ndarray]:
        batches, tokens, error = workers.result(queue.popleft())
        yield from batches
        if error is not None:
            raise error
        if tokens_out is not None:
            tokens_out.extend(tokens)

    try:
        while True:
            try:
                span = next(chunks, None)
            except VtcError:  # reading the next chunk failed: the chunks before it come first
                while queue:
                    yield from collect()
                raise
            if span is None:
                break
            chunk, lo, hi = span
            queue.append(workers.submit(_decode_chunk, chunk, lo, hi, tokens_out is not None))
            while len(queue) >= workers.depth:
                yield from collect()
        while queue:
            yield from collect()
    finally:
        workers.close()


class _Concealer:
    """Sequential decoding that carries on past damage (see the module's docstring)."""

    def __init__(self, f: BinaryIO, stream: StreamDecoder, size: int, body: int,
                 damage: list[Damage] | None, side: list[Chunk] | None = None) -> None:
        self.f, self.stream, self.size, self.body, self.side = f, stream, size, body, side
        self.damage = damage if damage is not None else []
        self.resync = Resync(f, stream.header, size, stream.max_payload)
        self.done = 0  # frames produced so far (the next frame's number)
        self.last: np.ndarray | None = None

    def run(self) -> Iterator[np.ndarray]:
        header, f = self.stream.header, self.f
        total = None if header.frame_count == UNKNOWN_FRAMES else header.frame_count
        f.seek(self.body)
        while True:
            pos = f.tell()
            try:
                chunk = read_chunk(f, header, self.done, self.size, self.stream.max_payload)
                if chunk is None:
                    break
                if self.stream.sequence.add(chunk):
                    for batch in self.stream.frames(chunk):
                        self.done += len(batch)
                        self.last = batch[-1]
                        yield batch
                elif self.side is not None and chunk.kind in SIDE_KINDS:
                    self.side.append(chunk)
            except FormatError as exc:
                reason = str(exc)
                nxt = self.resync.next(pos + 1, self.done,
                                       lambda c, pos=pos: c.first_frame - self.done <= self.stream.frames_for_bytes(c.offset - pos))
                if nxt is None:
                    yield from self._fill(self.done, total if total is not None else self.done, self.size - pos, reason)
                    return
                yield from self._fill(self.done, nxt.first_frame, nxt.offset - pos, reason)
                self.stream.sequence.restart(nxt.first_frame)
                f.seek(nxt.offset)
        if total is not None and self.done < total:
            yield from self._fill(self.done, total, 0, "truncated stream")
        elif self.done == 0:
            raise FormatError("stream holds no frames")

    def _fill(self, first: int, upto: int, nbytes: int, reason: str) -> Iterator[np.ndarray]:
        """Repeat the last good frame over ``first .. upto - 1``, as far as ``nbytes`` of damaged
        data can account for; report the rest as missing."""
        header = self.stream.header
        n = min(max(upto - first, 0), self.stream.frames_for_bytes(nbytes))
        if upto <= first:
            self.damage.append(Damage(first, 0, reason, filled=False))  # damage that held no frames
        if n:
            self.damage.append(Damage(first, n, reason))
        if upto - first > n:
            self.damage.append(Damage(first + n, upto - first - n, f"{reason}; no data left to conceal them",
                                      filled=False))
        frame = self.last if self.last is not None else np.full((header.height, header.width, 3), 128, np.uint8)
        step = batch_frames((header.width, header.height))
        for i in range(first, first + n, step):
            yield np.repeat(frame[None], min(step, first + n - i), axis=0)
        self.done = first + n


class _Side:
    """The side data of a decode, handed to the writer as it is read: the audio (its stream, the
    first audio stream chunk, and its packets) and the frame times. It is side data: a malformed
    chunk (CRC-valid, as a 2.0 decoder would skip it) stops the audio, or the frame times, with a
    note, never the video."""

    def __init__(self, side: list[Chunk], fps: Fraction) -> None:
        self.side, self.note, self.stream = side, "", None
        self.timing = _Timing(fps)
        self.timing_ok = True
        for chunk in side:
            if chunk.kind == CHUNK_AUDIO_STREAM:
                try:
                    self.stream = AudioStream.parse(chunk.payload)
                except FormatError as exc:
                    self.note = f"audio left out: {exc}"
                break
        self.audio_ok = not self.note

    def write(self, writer) -> None:
        """Hand the chunks read so far to ``writer`` (audio) and to ``timing``, and take them out."""
        for chunk in self.side:
            try:
                if chunk.kind == CHUNK_AUDIO_PACKETS and writer.keeps_audio and self.audio_ok:
                    writer.write_audio(parse_packets(chunk.payload))
                elif chunk.kind == CHUNK_FRAME_TIMES and self.timing_ok:
                    self.timing.add(chunk)
            except FormatError as exc:
                what = "audio" if chunk.kind == CHUNK_AUDIO_PACKETS else "frame times"
                self.note = "; ".join(x for x in (self.note, f"{what} stop after frame {chunk.first_frame}: {exc}") if x)
                self.audio_ok &= chunk.kind != CHUNK_AUDIO_PACKETS
                self.timing_ok &= chunk.kind != CHUNK_FRAME_TIMES
        self.side.clear()


def _decoder_note(header: Header, decoder: str | os.PathLike | None) -> str:
    """What ``decoder`` did not change: a layered stream's chunks with the layer, which decode over
    the base's own decoder (``StreamDecoder``) unless it is a layer decoder, when the header's
    quality says every chunk has the layer."""
    from .decoders import find_decoder

    if not decoder or header.major < 4 or str(decoder) == header.model or header.quality <= BASE_TOP:
        return ""
    try:
        if find_decoder(decoder).layer:
            return ""
    except ModelError:  # the base model's name: its own decoder
        return ""
    return (f"quality {header.quality} carries {header.model}'s enhancement layer, which decodes over its "
            f"base's own decoder: --decoder {decoder} changes only chunks coded on the base alone "
            f"(qualities 1..{BASE_TOP})")


def decode_file(src: str | os.PathLike, dst: str | os.PathLike, force: bool = False,
                progress: Progress | None = None, tokens_out: list | None = None,
                device: str = "cpu", start: int = 0, frames: int | None = None,
                conceal: bool = False, damage: list[Damage] | None = None, jobs: int = 1,
                model: str | os.PathLike | None = None, decoder: str | os.PathLike | None = None) -> Stats:
    """Decompress a .vtc file (or ``-``) to .y4m / .mkv / .mp4 / .yuv, a folder of PNG frames, or
    ``-`` (a .y4m stream on standard output; likewise an existing character device or FIFO). The
    header's rotation, primaries and transfer, and the stream's audio (cut to ``start``/``frames``),
    are written where the output keeps them (.mkv, .mp4); ``Stats.note`` says what was not.
    See ``iter_decode`` for the other arguments (``jobs`` among them)."""
    from .video import VideoWriter, writer_kind

    t0 = time.time()
    progress = _reporter(progress)
    to_stream = str(dst) == "-" or is_stream(dst)
    kind = "y4m" if to_stream else writer_kind(str(dst))  # fail early on an unknown output type
    stats = Stats()
    side: list[Chunk] = []
    chunks = iter_decode(src, stats, tokens_out, start, frames, conceal, damage, device, jobs, model, side, decoder)
    first = next(chunks, None)  # the header is checked (and the first frames decoded) before dst is touched
    if first is None:
        raise FormatError("stream holds no frames")
    header = stats.header
    fps = Fraction(header.fps_num, header.fps_den)
    stats.width, stats.height, stats.fps = header.width, header.height, fps
    total = None if header.frame_count == UNKNOWN_FRAMES else header.frame_count
    if frames is not None or start:
        total = None

    extra = _Side(side, fps)
    # frame times may come in any chunk of a stream read from standard input: its writer keeps a
    # fine clock from the start (a file's frame times chunks were found by a scan of chunk heads)
    timed = stats.timed or str(src) == "-"

    def write_all(target: str | BinaryIO) -> None:
        writer = VideoWriter(target, header.width, header.height, fps, header.chroma,
                             header.matrix, header.color_range, first_number=start, rotation=header.rotation,
                             primaries=header.primaries, transfer=header.transfer, audio=extra.stream, timed=timed)
        t0 = None
        try:
            for group in itertools.chain([first], chunks):
                extra.write(writer)
                for frame in group:
                    t = extra.timing.time(start + writer.index) if timed else None
                    t0 = t if t0 is None else t0
                    writer.write(frame, None if t is None else t - t0)
                stats.frames += len(group)
                if progress:
                    progress(stats.frames, total, stats)
            extra.write(writer)
        finally:
            writer.close()
        stats.note = "; ".join(n for n in (writer.note, extra.note, _decoder_note(header, decoder)) if n)

    if str(dst) == "-":
        try:
            write_all(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise OutputClosed(f"standard output: closed by its reader after {stats.frames} frames") from None
    elif to_stream:
        with open(dst, "wb") as out:
            write_all(out)
    else:
        with atomic_output(dst, force, is_dir=kind == "png", source=src) as tmp:
            write_all(str(tmp) + ("/" if kind == "png" else ""))
    stats.seconds = time.time() - t0
    return stats
