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
from pathlib import Path

from .bitstream import (
    CHUNK_FRAMES,
    CHUNK_INDEX,
    MAX_PAYLOAD,
    ChunkSequence,
    Header,
    Resync,
    coded_size,
    frames_payload,
    read_chunk,
    read_header,
)
from .errors import FormatError, VtcError


@dataclass(frozen=True)
class ChunkInfo:
    kind: int
    first_frame: int
    n_frames: int
    offset: int
    size: int
    scale: int | None = None  # scale index k of a frames chunk
    grid: tuple[int, int] | None = None  # its coding grid (width, height)


@dataclass
class Report:
    path: str
    size: int  # bytes of the file
    header: Header
    header_size: int
    chunks: list[ChunkInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # empty for a file a decoder accepts

    @property
    def frames(self) -> int:
        return sum(c.n_frames for c in self.chunks if c.kind == CHUNK_FRAMES)

    @property
    def has_index(self) -> bool:
        return any(c.kind == CHUNK_INDEX for c in self.chunks)

    @property
    def bpp(self) -> float:
        return self.size * 8 / max(1, self.frames * self.header.width * self.header.height)

    @property
    def kbps(self) -> float:
        seconds = self.frames * self.header.fps_den / self.header.fps_num
        return self.size * 8 / max(seconds, 1e-9) / 1000


def inspect(path: str | os.PathLike) -> Report:
    """Read a .vtc file's structure. Raises ``VtcError`` only when there is no header to read;
    everything wrong after it goes into ``Report.problems``."""
    p = Path(path)
    if not p.is_file():
        raise VtcError(f"{path}: no such file" if not p.exists() else f"{path}: not a file")
    size = p.stat().st_size
    with open(p, "rb") as f:
        header = read_header(f)
        report = Report(str(path), size, header, f.tell())
        sequence = ChunkSequence(header)
        resync = Resync(f, header, size, MAX_PAYLOAD)
        while True:
            pos = f.tell()
            try:
                chunk = read_chunk(f, header, sequence.frames, size)
                if chunk is None:
                    break
                k = grid = problem = None
                if chunk.kind == CHUNK_FRAMES:
                    try:
                        k, _ = frames_payload(chunk.payload, header, chunk.what)
                        grid = coded_size(header.width, header.height, k)
                    except FormatError as exc:  # framed fine, but its payload cannot be decoded
                        problem = str(exc)
                report.chunks.append(ChunkInfo(chunk.kind, chunk.first_frame, chunk.n_frames,
                                               chunk.offset, chunk.size, k, grid))
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

