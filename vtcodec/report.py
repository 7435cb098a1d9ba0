"""``vtcodec.inspect(path)``: what a .vtc file holds, chunk by chunk, and what is wrong with it.

The logic of ``vtcodec info``, as a library function. It reads framing only (no model is needed,
no frame decoded): the header, each chunk's type, frames, offset, size and coding grid, and every
problem a decoder would refuse the file for at that level (framing, CRC, scale index, the order
rules of ``ChunkSequence``, a missing or inconsistent index), carrying on past damage (as
``--conceal`` does) so that one bad chunk does not hide the rest of the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .bitstream import (
    CHUNK_AUDIO_PACKETS,
    CHUNK_AUDIO_STREAM,
    CHUNK_END,
    CHUNK_FRAME_TIMES,
    CHUNK_FRAMES,
    CHUNK_INDEX,
    MAX_PAYLOAD,
    UNKNOWN_FRAMES,
    ChunkSequence,
    Header,
    Resync,
    coded_size,
    frames_payload,
    open_vtc,
    read_chunk,
)
from .bitstream.audio import AudioStream
from .errors import FormatError


@dataclass(frozen=True)
class ChunkInfo:
    kind: int
    first_frame: int
    n_frames: int
    offset: int
    size: int
    scale: int | None = None  # scale index k of a frames chunk
    grid: tuple[int, int] | None = None  # its coding grid (width, height)
    level: int | None = None  # its quantizer level (3.x streams: models with levels); 4.x: the layer byte

    @property
    def is_frames(self) -> bool:
        return self.kind == CHUNK_FRAMES

    @property
    def kind_name(self) -> str:
        return {CHUNK_FRAMES: "frames", CHUNK_INDEX: "index", CHUNK_END: "end", CHUNK_AUDIO_STREAM: "audio stream",
                CHUNK_AUDIO_PACKETS: "audio", CHUNK_FRAME_TIMES: "frame times"}.get(self.kind, f"type {self.kind}")


@dataclass
class Report:
    path: str
    size: int  # bytes of the file
    header: Header
    header_size: int
    chunks: list[ChunkInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # empty for a file a decoder accepts
    audio: AudioStream | None = None  # the audio stream the file carries, if any

    @property
    def audio_bytes(self) -> int:
        return sum(c.size for c in self.chunks if c.kind in (CHUNK_AUDIO_STREAM, CHUNK_AUDIO_PACKETS))

    @property
    def declared_frames(self) -> int | None:
        """The header's frame count; None when the writer could not tell (a stream)."""
        return None if self.header.frame_count == UNKNOWN_FRAMES else self.header.frame_count

    @property
    def frames(self) -> int:
        return sum(c.n_frames for c in self.chunks if c.kind == CHUNK_FRAMES)

    @property
    def has_index(self) -> bool:
        return any(c.kind == CHUNK_INDEX for c in self.chunks)

    @property
    def bpp(self) -> float:
        """Of the video (the file but its audio)."""
        return (self.size - self.audio_bytes) * 8 / max(1, self.frames * self.header.width * self.header.height)

    @property
    def kbps(self) -> float:
        """Of the video (the file but its audio)."""
        seconds = self.frames * self.header.fps_den / self.header.fps_num
        return (self.size - self.audio_bytes) * 8 / max(seconds, 1e-9) / 1000


def inspect(path: str | os.PathLike) -> Report:
    """Read a .vtc file's structure (``-``: standard input, spooled to a temporary file). Raises
    ``VtcError`` only when there is no header to read; everything wrong after it goes into
    ``Report.problems``."""
    if str(path) == "-":
        import shutil
        import sys
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".vtc") as tmp:
            shutil.copyfileobj(sys.stdin.buffer, tmp)
            tmp.flush()
            report = inspect(tmp.name)
        report.path = "-"
        return report
    with open_vtc(path) as (f, size, header):
        report = Report(str(path), size, header, f.tell())
        sequence = ChunkSequence(header)
        resync = Resync(f, header, size, MAX_PAYLOAD)
        while True:
            pos = f.tell()
            try:
                chunk = read_chunk(f, header, sequence.frames, size)
                if chunk is None:
                    break
                k = grid = problem = level = None
                if chunk.kind == CHUNK_FRAMES:
                    try:
                        k, level, _ = frames_payload(chunk.payload, header, chunk.what)
                        level = level if header.major >= 3 else None
                        grid = coded_size(header.width, header.height, k)
                    except FormatError as exc:  # framed fine, but its payload cannot be decoded
                        problem = str(exc)
                elif chunk.kind == CHUNK_AUDIO_STREAM and report.audio is None:
                    try:
                        report.audio = AudioStream.parse(chunk.payload)
                    except FormatError as exc:
                        problem = str(exc)
                report.chunks.append(ChunkInfo(chunk.kind, chunk.first_frame, chunk.n_frames,
                                               chunk.offset, chunk.size, k, grid, level))
                sequence.add(chunk)
                if problem:
                    report.problems.append(problem)
            except FormatError as exc:
                report.problems.append(str(exc))
                nxt = resync.next(pos + 1, 0)  # carry on at the next frames chunk that checks out
                if nxt is None:
                    break
                sequence.restart(nxt.first_frame)
                f.seek(nxt.offset)
        try:
            sequence.finish()
        except FormatError as exc:
            report.problems.append(str(exc))
    return report

