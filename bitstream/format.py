"""The .vtc container, version 2.0 (reads 1.x too): standard library only (``struct``, ``zlib.crc32``).

Layout (all integers little-endian; see conformance/SPEC.md for the tables)::

    file   := header chunk*
    header := magic "VTC\\x1a" | u8 major | u8 minor | u16 body_len | body | u32 crc32(all before)
    chunk  := "VTCK" | u8 type | u32 first_frame | u16 n_frames | u32 payload_len | payload
              | u32 crc32(type .. payload)
    types  := 0 frames (a group of frames) | 1 index | 2 end (u64 offset of the index chunk)
    frames payload (2.x) := u8 scale index k | range-coded symbols
    frames payload (1.x) := range-coded symbols (coded at the frame size, k = 128)

The scale index k (``SCALE_MIN`` .. ``SCALE_MAX``) sets the grid a chunk was coded on:
``coded_size(w, h, k)``, with the scale 2^((k - 128) / 16) taken from the integer table
``SCALE_Q16`` (16.16 fixed point) so that every implementation computes the same size.

A reader refuses a newer *major* version; a newer *minor* version may append header fields after
the ones listed here, which an older reader skips using ``body_len``. Every value is checked
against its limits before anything is allocated.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CorruptChunk, FormatError, UnsupportedVersion  # standard library only

MAGIC = b"VTC\x1a"
CHUNK_MAGIC = b"VTCK"
MAJOR = 2
MINOR = 0
SCALE_MIN, SCALE_MAX, SCALE_ONE = 96, 144, 128  # coding-grid scale indices: 1/4 .. 2, 1 at 128
# round(65536 * 2 ** ((k - 128) / 16)) for k = SCALE_MIN .. SCALE_MAX
SCALE_Q16 = (16384, 17109, 17867, 18658, 19484, 20347, 21247, 22188, 23170, 24196, 25268, 26386,
             27554, 28774, 30048, 31379, 32768, 34219, 35734, 37316, 38968, 40693, 42495, 44376,
             46341, 48393, 50535, 52773, 55109, 57549, 60097, 62757, 65536, 68438, 71468, 74632,
             77936, 81386, 84990, 88752, 92682, 96785, 101070, 105545, 110218, 115098, 120194,
             125515, 131072)
UNKNOWN_FRAMES = 0xFFFFFFFF
CHUNK_FRAMES = 0  # chunk types: a group of frames,
CHUNK_INDEX = 1  # the random-access index,
CHUNK_END = 2  # the end marker pointing at the index; 3..255 reserved (readers skip them)

MAX_SIDE = 16384
MAX_PIXELS = 1 << 26  # 8192 x 8192
MAX_GOP = 1024
MAX_PAYLOAD = 1 << 30
CHROMAS = ("420", "422", "444", "mono")
QUANTIZERS = ("fsq", "bsq")

_FIXED = struct.Struct("<IIIIIBBBBBH")  # width .. gop
_CHUNK_HEAD = struct.Struct("<4sBIHI")
_INDEX_ENTRY = struct.Struct("<IHQ")
END_SIZE = _CHUNK_HEAD.size + 8 + 4  # the end chunk closes every file that has an index


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    fps_num: int
    fps_den: int
    frame_count: int  # UNKNOWN_FRAMES when the writer could not tell
    chroma: str  # layout the source had and the decoder writes back: "420", "422", "444", "mono"
    matrix: int  # colour matrix (ITU-T H.273 MatrixCoefficients code) used to convert to RGB
    color_range: int  # 1 = limited, 2 = full
    quantizer: str  # "fsq" or "bsq"
    quality: int  # quality level asked for (1..10; 0: target-rate mode, the level varies per chunk)
    gop: int  # frames per chunk (the last chunk may be shorter)
    model: str  # stable model name
    weights_sha256: bytes  # 32 bytes: sha256 of the model's weights file
    encoder: str = ""  # free text: the writing software and its version
    major: int = MAJOR
    minor: int = MINOR

    def validate(self) -> None:
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE):
            raise FormatError(f"frame size {self.width}x{self.height} is out of range")
        if self.width * self.height > MAX_PIXELS:
            raise FormatError(f"frame size {self.width}x{self.height} is too large")
        if not (self.fps_num > 0 and self.fps_den > 0):
            raise FormatError(f"frame rate {self.fps_num}/{self.fps_den} is invalid")
        if self.chroma not in CHROMAS or self.quantizer not in QUANTIZERS:
            raise FormatError("unknown chroma layout or quantizer")
        if self.color_range not in (1, 2):
            raise FormatError(f"colour range {self.color_range} is invalid")
        if not 1 <= self.gop <= MAX_GOP:
            raise FormatError(f"group of frames {self.gop} is out of range")
        if not 1 <= len(self.model.encode("ascii", "replace")) <= 64:
            raise FormatError("model name must be 1..64 ASCII characters")
        if len(self.weights_sha256) != 32:
            raise FormatError("weights hash must be 32 bytes")

    def pack(self) -> bytes:
        self.validate()
        name = self.model.encode("ascii")
        enc = self.encoder.encode("utf-8")[:255]
        body = _FIXED.pack(self.width, self.height, self.fps_num, self.fps_den, self.frame_count,
                           CHROMAS.index(self.chroma), self.matrix, self.color_range,
                           QUANTIZERS.index(self.quantizer), self.quality, self.gop)
        body += bytes([len(name)]) + name + self.weights_sha256 + bytes([len(enc)]) + enc
        head = MAGIC + struct.pack("<BBH", MAJOR, MINOR, len(body)) + body
        return head + struct.pack("<I", zlib.crc32(head))


def _check_version(start: bytes) -> int:
    """Check magic and version of the first 8 bytes; return the header's total size."""
    if start[:4] != MAGIC:
        raise FormatError("not a .vtc stream (bad magic bytes)")
    major, minor, body_len = struct.unpack("<BBH", start[4:8])
    if major > MAJOR:
        raise UnsupportedVersion(f"stream is format version {major}.{minor}; this vtcodec reads "
                                 f"versions 1.x to {MAJOR}.x (upgrade vtcodec)")
    if major < 1:
        raise FormatError(f"invalid format version {major}.{minor}")
    return 8 + body_len + 4


def header_size(buf: bytes) -> int | None:
    """Size of the header that ``buf`` starts with, or None until 8 bytes are there (for readers
    fed a stream piece by piece). Raises on bad magic or a newer major version."""
    if buf[:4] != MAGIC[:len(buf[:4])]:
        raise FormatError("not a .vtc stream (bad magic bytes)")
    return _check_version(bytes(buf[:8])) if len(buf) >= 8 else None


def chunk_size(buf: bytes) -> int | None:
    """Size of the chunk that ``buf`` starts with, or None until its 15-byte head is there."""
    if buf[:4] != CHUNK_MAGIC[:len(buf[:4])]:
        raise FormatError("bad chunk marker")
    if len(buf) < _CHUNK_HEAD.size:
        return None
    length = _CHUNK_HEAD.unpack_from(buf, 0)[4]
    if length > MAX_PAYLOAD:
        raise FormatError(f"chunk claims {length} bytes, more than any chunk may hold")
    return _CHUNK_HEAD.size + length + 4


def coded_size(width: int, height: int, k: int) -> tuple[int, int]:
    """The (width, height) of the grid a chunk with scale index ``k`` was coded on."""
    if not SCALE_MIN <= k <= SCALE_MAX:
        raise FormatError(f"scale index {k} is out of range {SCALE_MIN}..{SCALE_MAX}")
    q = SCALE_Q16[k - SCALE_MIN]
    return max(1, (width * q + 32768) >> 16), max(1, (height * q + 32768) >> 16)


def frames_payload(chunk: Chunk, header: Header) -> tuple[int, bytes]:
    """(scale index, range-coded bytes) of a frames chunk."""
    if header.major < 2:
        return SCALE_ONE, chunk.payload
    what = f"chunk of frames {chunk.first_frame}-{chunk.first_frame + chunk.n_frames - 1}"
    if not chunk.payload:
        raise CorruptChunk(f"{what} has an empty payload")
    k = chunk.payload[0]
    if not SCALE_MIN <= k <= SCALE_MAX:
        raise CorruptChunk(f"{what} has scale index {k}, outside {SCALE_MIN}..{SCALE_MAX}")
    return k, chunk.payload[1:]


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"truncated stream: {what} ends after {len(data)} of {n} bytes")
    return data


def read_header(f: BinaryIO) -> Header:
    start = f.read(8)
    if not start:
        raise FormatError("empty file (not a .vtc stream)")
    if len(start) < 4 or start[:4] != MAGIC:
        raise FormatError("not a .vtc stream (bad magic bytes)")
    if len(start) < 8:
        raise FormatError("truncated stream: header ends early")
    body_len = _check_version(start) - 12
    major, minor = start[4], start[5]
    body = _read_exact(f, body_len, "header")
    (crc,) = struct.unpack("<I", _read_exact(f, 4, "header CRC"))
    if zlib.crc32(start + body) != crc:
        raise FormatError("header CRC mismatch (corrupt header)")
    try:
        fixed = _FIXED.unpack_from(body, 0)
        pos = _FIXED.size
        name_len = body[pos]
        name = body[pos + 1:pos + 1 + name_len].decode("ascii")
        pos += 1 + name_len
        sha = body[pos:pos + 32]
        pos += 32
        enc_len = body[pos]
        enc = body[pos + 1:pos + 1 + enc_len].decode("utf-8", "replace")
        if pos + 1 + enc_len > len(body) or len(sha) != 32:
            raise IndexError
    except (struct.error, IndexError, UnicodeDecodeError):
        raise FormatError("header is malformed") from None
    w, h, fn, fd, count, chroma, matrix, rng, quant, quality, gop = fixed
    if chroma >= len(CHROMAS) or quant >= len(QUANTIZERS):
        raise FormatError("header names an unknown chroma layout or quantizer")
    header = Header(w, h, fn, fd, count, CHROMAS[chroma], matrix, rng, QUANTIZERS[quant], quality,
                    gop, name, sha, enc, major, minor)
    header.validate()
    return header


@dataclass(frozen=True)
class Chunk:
    first_frame: int
    n_frames: int
    payload: bytes
    kind: int = CHUNK_FRAMES
    offset: int = 0  # byte offset of the chunk in the file (set by readers of files)

    def pack(self) -> bytes:
        head = _CHUNK_HEAD.pack(CHUNK_MAGIC, self.kind, self.first_frame, self.n_frames,
                                len(self.payload))
        crc = zlib.crc32(head[4:] + self.payload)
        return head + self.payload + struct.pack("<I", crc)

    @property
    def size(self) -> int:
        return _CHUNK_HEAD.size + len(self.payload) + 4


@dataclass(frozen=True)
class IndexEntry:
    first_frame: int
    n_frames: int
    offset: int  # byte offset of the frames chunk from the start of the file


def index_chunk(entries: list[IndexEntry]) -> Chunk:
    payload = struct.pack("<I", len(entries)) + b"".join(
        _INDEX_ENTRY.pack(e.first_frame, e.n_frames, e.offset) for e in entries)
    return Chunk(0, 0, payload, CHUNK_INDEX)


def end_chunk(index_offset: int) -> Chunk:
    return Chunk(0, 0, struct.pack("<Q", index_offset), CHUNK_END)


def read_chunk(f: BinaryIO, header: Header, expected: int, file_size: int | None = None) -> Chunk | None:
    """Read and check one chunk (marker, limits, CRC) at the current position; None at the end of
    the data. ``expected``: the frame the next frames chunk must start at."""
    offset = f.tell() if f.seekable() else -1
    head = f.read(_CHUNK_HEAD.size)
    if not head:
        return None
    if len(head) < _CHUNK_HEAD.size:
        raise FormatError(f"truncated stream: chunk header after frame {expected} is incomplete")
    magic, kind, first, n, length = _CHUNK_HEAD.unpack(head)
    if magic != CHUNK_MAGIC:
        raise FormatError(f"bad chunk marker after frame {expected} (offset {offset})")
    what = f"chunk for frames {first}-{first + n - 1}" if kind == CHUNK_FRAMES else f"chunk of type {kind}"
    if kind == CHUNK_FRAMES and (first != expected or not 1 <= n <= header.gop):
        raise FormatError(f"chunk after frame {expected}: frame range {first}+{n} is invalid")
    limit = MAX_PAYLOAD
    if file_size is not None and offset >= 0:
        limit = min(limit, file_size - offset - _CHUNK_HEAD.size - 4)
    if length > limit:
        raise FormatError(f"truncated stream: {what} claims {length} bytes, more than the file holds")
    payload = _read_exact(f, length, what)
    crc_bytes = _read_exact(f, 4, f"CRC of {what}")
    if zlib.crc32(head[4:] + payload) != struct.unpack("<I", crc_bytes)[0]:
        if kind == CHUNK_FRAMES:
            raise CorruptChunk(f"{what} is corrupt (CRC mismatch)")
        raise CorruptChunk(f"chunk after frame {expected} is corrupt (CRC mismatch)")
    if kind == CHUNK_FRAMES and header.frame_count != UNKNOWN_FRAMES and first + n > header.frame_count:
        raise FormatError(f"{what} is beyond the frame count {header.frame_count}")
    return Chunk(first, n, payload, kind, offset)


def iter_chunks(f: BinaryIO, header: Header, file_size: int | None = None,
                first_frame: int = 0) -> Iterator[Chunk]:
    """Frames chunks in order, each checked before it is returned; index and end chunks are
    checked and passed over, chunks of unknown (newer) types skipped. The first frames chunk is
    expected to start at frame ``first_frame``."""
    expected = first_frame
    while (chunk := read_chunk(f, header, expected, file_size)) is not None:
        if chunk.kind == CHUNK_FRAMES:
            yield chunk
            expected = chunk.first_frame + chunk.n_frames
        elif chunk.kind == CHUNK_INDEX:
            parse_index(chunk.payload, header)


def parse_index(payload: bytes, header: Header, file_size: int | None = None) -> list[IndexEntry]:
    """Entries of an index chunk, checked: contiguous frames from 0, increasing offsets."""
    if len(payload) < 4:
        raise FormatError("index chunk is malformed")
    (count,) = struct.unpack_from("<I", payload, 0)
    if len(payload) != 4 + count * _INDEX_ENTRY.size:
        raise FormatError("index chunk is malformed")
    entries, expected, last = [], 0, -1
    for i in range(count):
        first, n, offset = _INDEX_ENTRY.unpack_from(payload, 4 + i * _INDEX_ENTRY.size)
        if first != expected or not 1 <= n <= header.gop or offset <= last:
            raise FormatError("index chunk is inconsistent")
        if file_size is not None and offset + _CHUNK_HEAD.size > file_size:
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
        if index is None or index.kind != CHUNK_INDEX:
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
    while pos + _CHUNK_HEAD.size <= file_size:
        f.seek(pos)
        magic, kind, first, n, length = _CHUNK_HEAD.unpack(f.read(_CHUNK_HEAD.size))
        end = pos + _CHUNK_HEAD.size + length + 4
        if magic != CHUNK_MAGIC or end > file_size:
            break
        if kind == CHUNK_FRAMES:
            if first != expected or not 1 <= n <= header.gop:
                break
            out.append(IndexEntry(first, n, pos))
            expected = first + n
        pos = end
    return out


def resync(f: BinaryIO, header: Header, file_size: int, pos: int, expected: int) -> Chunk | None:
    """The next frames chunk at or after byte ``pos`` that checks out (marker, frame range at or
    after ``expected``, CRC), or None: used to carry on past damage."""
    window = 1 << 20
    while pos < file_size:
        f.seek(pos)
        data = f.read(window + 3)
        at = data.find(CHUNK_MAGIC)
        if at < 0:
            pos += window
            continue
        f.seek(pos + at)
        try:
            head = f.read(_CHUNK_HEAD.size)
            if len(head) == _CHUNK_HEAD.size:
                _, kind, first, _, _ = _CHUNK_HEAD.unpack(head)
                if kind == CHUNK_FRAMES and first >= expected:
                    f.seek(pos + at)
                    chunk = read_chunk(f, header, first, file_size)
                    if chunk is not None:
                        return chunk
        except FormatError:
            pass
        pos += at + 1
    return None
