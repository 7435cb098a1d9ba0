"""Chunk framing (SPEC.md, "Chunk"), the index and end chunks, and finding chunks in a file.

    chunk := "VTCK" | u8 type | u32 first_frame | u16 n_frames | u32 payload_len | payload
             | u32 crc32(type .. payload)
    types := 0 frames | 1 index | 2 end (u64 offset of the index chunk) | 3 audio stream
             | 4 audio packets (audio.py) | 5 frame times (timing.py) | 6..255 reserved

Everything here checks framing only (marker, lengths against the file and the limits, CRC); the
order rules between chunks are ``ChunkSequence``'s (structure.py).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CorruptChunk, FormatError
from .audio import CHUNK_AUDIO_PACKETS, CHUNK_AUDIO_STREAM, MAX_AUDIO_CHUNK
from .header import UNKNOWN_FRAMES, Header
from .timing import CHUNK_FRAME_TIMES

CHUNK_MAGIC = b"VTCK"
CHUNK_FRAMES = 0  # chunk types: a group of frames,
CHUNK_INDEX = 1  # the random-access index,
CHUNK_END = 2  # the end marker pointing at the index; 3, 4: audio (audio.py); 5: frame times
# (timing.py); 6..255 reserved
# (readers skip chunks of types they do not use)
MAX_PAYLOAD = 1 << 30
SIDE_KINDS = (CHUNK_AUDIO_STREAM, CHUNK_AUDIO_PACKETS, CHUNK_FRAME_TIMES)  # what decoders hand to writers

HEAD = struct.Struct("<4sBIHI")  # marker, type, first_frame, n_frames, payload_len
CRC = struct.Struct("<I")
INDEX_ENTRY = struct.Struct("<IHQ")
HEAD_SIZE = HEAD.size  # 15: the payload starts here
HEAD_FIELDS = {"kind": (4, "<B"), "first_frame": (5, "<I"), "n_frames": (9, "<H"), "length": (11, "<I")}
OVERHEAD = HEAD.size + CRC.size  # 19 bytes of framing around every payload
MIN_FRAMES_CHUNK = OVERHEAD + 1  # a 2.x frames chunk holds at least its scale index
END_SIZE = OVERHEAD + 8  # the end chunk closes every file that has an index


@dataclass(frozen=True)
class ChunkHead:
    kind: int
    first_frame: int
    n_frames: int
    length: int  # payload bytes

    @property
    def size(self) -> int:
        return OVERHEAD + self.length

    def check_fits(self, max_payload: int | None, after: int) -> None:
        """Refuse a frames chunk longer than ``max_payload``, from its head alone (before the
        payload is read or buffered)."""
        if self.kind == CHUNK_FRAMES and max_payload is not None and self.length > max_payload:
            raise FormatError(f"{self.describe(after)} claims {self.length} bytes, more than a chunk "
                              "of this stream can hold")
        if self.kind in (CHUNK_AUDIO_STREAM, CHUNK_AUDIO_PACKETS) and self.length > MAX_AUDIO_CHUNK:
            raise FormatError(f"audio chunk after frame {after} claims {self.length} bytes, more than "
                              f"the {MAX_AUDIO_CHUNK} an audio chunk may hold")
        if self.kind == CHUNK_FRAME_TIMES and self.length != 8 + 8 * self.n_frames:
            raise FormatError(f"frame times chunk after frame {after} claims {self.length} bytes for "
                              f"{self.n_frames} frames (8 + 8 per frame)")

    def describe(self, after: int) -> str:
        if self.kind == CHUNK_FRAMES:
            return f"chunk for frames {self.first_frame}-{self.first_frame + self.n_frames - 1}"
        return f"chunk of type {self.kind} after frame {after}"


def parse_head(buf: bytes, where: str = "") -> ChunkHead | None:
    """The head of the chunk ``buf`` starts with, or None until its 15 bytes are there."""
    if buf[:4] != CHUNK_MAGIC[:len(buf[:4])]:
        raise FormatError(f"bad chunk marker{where}")
    if len(buf) < HEAD.size:
        return None
    _, kind, first, n, length = HEAD.unpack_from(buf, 0)
    if length > MAX_PAYLOAD:
        raise FormatError(f"chunk{where} claims {length} bytes, more than any chunk may hold")
    return ChunkHead(kind, first, n, length)


@dataclass(frozen=True)
class Chunk:
    first_frame: int
    n_frames: int
    payload: bytes
    kind: int = CHUNK_FRAMES
    offset: int = 0  # byte offset of the chunk in the stream (set by readers)

    def pack(self) -> bytes:
        head = HEAD.pack(CHUNK_MAGIC, self.kind, self.first_frame, self.n_frames, len(self.payload))
        return head + self.payload + CRC.pack(zlib.crc32(head[4:] + self.payload))

    @property
    def size(self) -> int:
        return OVERHEAD + len(self.payload)

    @property
    def what(self) -> str:
        return ChunkHead(self.kind, self.first_frame, self.n_frames, len(self.payload)).describe(self.first_frame)


@dataclass(frozen=True)
class IndexEntry:
    first_frame: int
    n_frames: int
    offset: int  # byte offset of the frames chunk from the start of the file


def index_chunk(entries: list[IndexEntry]) -> Chunk:
    payload = struct.pack("<I", len(entries)) + b"".join(
        INDEX_ENTRY.pack(e.first_frame, e.n_frames, e.offset) for e in entries)
    return Chunk(0, 0, payload, CHUNK_INDEX)


def end_chunk(index_offset: int) -> Chunk:
    return Chunk(0, 0, struct.pack("<Q", index_offset), CHUNK_END)


def read_chunk(f: BinaryIO, header: Header, after: int = 0, file_size: int | None = None,
               max_payload: int | None = None, offset: int | None = None) -> Chunk | None:
    """Read one chunk at the current position and check its framing: marker, a length that fits
    the file and, for a frames chunk, ``max_payload``, and the CRC. None at the end of the data.
    ``after``: the last frame decoded before it (for messages); ``offset``: the chunk's offset in
    the stream when ``f`` is not the stream itself (a buffer holding the chunk)."""
    if offset is None:
        offset = f.tell() if f.seekable() else -1
    raw = f.read(HEAD.size)
    if not raw:
        return None
    where = f" after frame {after}" + (f" (offset {offset})" if offset >= 0 else "")
    if len(raw) < HEAD.size:
        raise FormatError(f"truncated stream: chunk header{where} is incomplete")
    head = parse_head(raw, where)
    what = head.describe(after)
    limit = MAX_PAYLOAD
    if file_size is not None and offset >= 0:
        limit = min(limit, file_size - offset - OVERHEAD)
    if head.length > limit:
        raise FormatError(f"truncated stream: {what} claims {head.length} bytes, more than the file holds")
    head.check_fits(max_payload, after)
    payload = f.read(head.length)
    crc = f.read(CRC.size)
    if len(payload) != head.length or len(crc) != CRC.size:
        raise FormatError(f"truncated stream: {what} ends early")
    if zlib.crc32(raw[4:] + payload) != CRC.unpack(crc)[0]:
        raise CorruptChunk(f"{what} is corrupt (CRC mismatch)" if head.kind == CHUNK_FRAMES
                           else f"chunk{where} is corrupt (CRC mismatch)")
    return Chunk(head.first_frame, head.n_frames, payload, head.kind, max(offset, 0))


def parse_index(payload: bytes, header: Header, file_size: int | None = None) -> list[IndexEntry]:
    """Entries of an index chunk, checked: contiguous frames from 0, increasing offsets."""
    if len(payload) < 4:
        raise FormatError("index chunk is malformed")
    (count,) = struct.unpack_from("<I", payload, 0)
    if len(payload) != 4 + count * INDEX_ENTRY.size:
        raise FormatError("index chunk is malformed")
    entries, expected, last = [], 0, -1
    for i in range(count):
        first, n, offset = INDEX_ENTRY.unpack_from(payload, 4 + i * INDEX_ENTRY.size)
        if first != expected or not 1 <= n <= header.gop or offset <= last:
            raise FormatError("index chunk is inconsistent")
        if file_size is not None and offset + HEAD.size > file_size:
            raise FormatError("index points outside the file")
        entries.append(IndexEntry(first, n, offset))
        expected, last = first + n, offset
    return entries


def read_index(f: BinaryIO, header: Header, file_size: int) -> list[IndexEntry] | None:
    """The random-access index of a complete file, or None when the file has none (cut off while
    recording, streamed) or it does not check out; then ``scan_chunks`` finds the chunks."""
    if file_size < END_SIZE:
        return None
    try:
        f.seek(file_size - END_SIZE)
        end = read_chunk(f, header, 0, file_size)
        if end is None or end.kind != CHUNK_END or len(end.payload) != 8:
            return None
        (index_offset,) = struct.unpack("<Q", end.payload)
        if index_offset >= file_size - END_SIZE:
            return None
        f.seek(index_offset)
        index = read_chunk(f, header, 0, file_size)
        if index is None or index.kind != CHUNK_INDEX or index_offset + index.size != file_size - END_SIZE:
            return None
        return parse_index(index.payload, header, file_size)
    except FormatError:
        return None


def scan_chunks(f: BinaryIO, header: Header, file_size: int, start: int) -> list[IndexEntry]:
    """Locate frames chunks from byte ``start`` by reading their heads and seeking over their
    payloads (no CRC check here; ``read_chunk`` checks each one that is decoded). Stops at the
    first chunk that does not fit in the file."""
    out: list[IndexEntry] = []
    pos, expected = start, 0
    while pos + HEAD.size <= file_size:
        f.seek(pos)
        magic, kind, first, n, length = HEAD.unpack(f.read(HEAD.size))
        end = pos + OVERHEAD + length
        if magic != CHUNK_MAGIC or end > file_size:
            break
        if kind == CHUNK_FRAMES:
            if first != expected or not 1 <= n <= header.gop:
                break
            out.append(IndexEntry(first, n, pos))
            expected = first + n
        elif kind == CHUNK_END:
            break
        pos = end
    return out


def side_spans(f: BinaryIO, file_size: int, start: int) -> list[tuple[int, int, int, int]]:
    """``(type, offset, size, first_frame)`` of the audio and frame times chunks from byte
    ``start``, found by reading chunk heads and seeking over payloads, as ``scan_chunks`` does (up
    to the first head that does not fit the file)."""
    out, pos = [], start
    while pos + HEAD.size <= file_size:
        f.seek(pos)
        magic, kind, first, _, length = HEAD.unpack(f.read(HEAD.size))
        end = pos + OVERHEAD + length
        if magic != CHUNK_MAGIC or end > file_size or kind == CHUNK_END:
            break
        if kind in SIDE_KINDS:
            out.append((kind, pos, OVERHEAD + length, first))
        pos = end
    return out


class Resync:
    """Finds, after damage, the next frames chunk that checks out (marker, frame range, a length
    within ``max_payload`` and the file, CRC, and whatever ``accept`` asks), in time linear in the
    file: each candidate's CRC is paid from a budget of 4 checked bytes per byte of the file (plus
    1 MiB); when it runs out, no further chunk is found."""

    WINDOW = 1 << 20

    def __init__(self, f: BinaryIO, header: Header, file_size: int, max_payload: int) -> None:
        self.f, self.header, self.file_size, self.max_payload = f, header, file_size, max_payload
        self.budget = 4 * file_size + (1 << 20)
        self.exhausted = False

    def next(self, pos: int, expected: int, accept: Callable[[Chunk], bool] | None = None) -> Chunk | None:
        """The first good frames chunk starting at or after byte ``pos`` whose first frame is at
        least ``expected``, or None."""
        count = self.header.frame_count
        while pos < self.file_size:
            self.f.seek(pos)
            data = self.f.read(self.WINDOW + HEAD.size)
            at = data.find(CHUNK_MAGIC)
            while 0 <= at <= len(data) - HEAD.size:
                _, kind, first, n, length = HEAD.unpack_from(data, at)
                start = pos + at
                if (kind == CHUNK_FRAMES and first >= expected and 1 <= n <= self.header.gop
                        and (count == UNKNOWN_FRAMES or first + n <= count)
                        and length <= self.max_payload and start + OVERHEAD + length <= self.file_size):
                    if self.budget < length + HEAD.size:
                        self.exhausted = True
                        return None
                    self.budget -= length + HEAD.size
                    self.f.seek(start)
                    try:
                        chunk = read_chunk(self.f, self.header, first, self.file_size, self.max_payload)
                    except FormatError:
                        chunk = None
                    if chunk is not None and (accept is None or accept(chunk)):
                        return chunk
                at = data.find(CHUNK_MAGIC, at + 1)
            if len(data) <= HEAD.size:
                break
            pos += max(len(data) - HEAD.size + 1, 1)
        return None


def chunk_spans(data: bytes, start: int) -> list[tuple[int, int]]:
    """(offset, size) of each whole chunk from byte ``start`` on, following the lengths (no
    checks): for tools that take streams apart."""
    out, pos = [], start
    while pos + HEAD.size <= len(data):
        size = OVERHEAD + struct.unpack_from("<I", data, pos + 11)[0]
        if pos + size > len(data):
            break
        out.append((pos, size))
        pos += size
    return out


def payload_of(data: bytes, offset: int) -> bytes:
    """The payload of the chunk at ``offset`` (no checks)."""
    size = OVERHEAD + struct.unpack_from("<I", data, offset + 11)[0]
    return bytes(data[offset + HEAD.size:offset + size - CRC.size])


def set_head_field(data: bytearray, offset: int, name: str, value: int) -> None:
    """Write a head field of the chunk at ``offset`` (any value) and fix its CRC; ``length`` is not
    one of them (use ``Chunk.pack`` to give a chunk another payload)."""
    at, fmt = HEAD_FIELDS[name]
    struct.pack_into(fmt, data, offset + at, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
    reseal(data, offset)


def seal_stream(head: bytes, chunks: list[bytes]) -> bytes:
    """``head`` and ``chunks`` (packed, in order) closed by the index of their frames chunks and
    the end chunk, offsets and all: for tools and tests that craft streams."""
    pos, entries = len(head), []
    for c in chunks:
        h = parse_head(c)
        if h.kind == CHUNK_FRAMES:
            entries.append(IndexEntry(h.first_frame, h.n_frames, pos))
        pos += len(c)
    return head + b"".join(chunks) + index_chunk(entries).pack() + end_chunk(pos).pack()


def reseal(data: bytearray, offset: int) -> None:
    """Recompute the CRC of the chunk at ``offset`` in place (for tools that craft streams)."""
    size = OVERHEAD + struct.unpack_from("<I", data, offset + 11)[0]
    CRC.pack_into(data, offset + size - 4, zlib.crc32(bytes(data[offset + 4:offset + size - 4])))
