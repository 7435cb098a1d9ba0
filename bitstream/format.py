"""The .vtc container, version 1.0: standard library only (``struct``, ``zlib.crc32``).

Layout (all integers little-endian; see conformance/SPEC.md for the tables)::

    file   := header chunk*
    header := magic "VTC\\x1a" | u8 major | u8 minor | u16 body_len | body | u32 crc32(all before)
    chunk  := "VTCK" | u8 type | u32 first_frame | u16 n_frames | u32 payload_len | payload
              | u32 crc32(type .. payload)

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
MAJOR = 1
MINOR = 0
UNKNOWN_FRAMES = 0xFFFFFFFF
CHUNK_FRAMES = 0  # chunk type: a group of frames

MAX_SIDE = 16384
MAX_PIXELS = 1 << 26  # 8192 x 8192
MAX_GOP = 1024
MAX_PAYLOAD = 1 << 30
CHROMAS = ("420", "422", "444", "mono")
QUANTIZERS = ("fsq", "bsq")

_FIXED = struct.Struct("<IIIIIBBBBBH")  # width .. gop
_CHUNK_HEAD = struct.Struct("<4sBIHI")


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
    quality: int  # quality level (0..255)
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
                                 f"version {MAJOR}.x only (upgrade vtcodec)")
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


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"truncated stream: {what} ends after {len(data)} of {n} bytes")
    return data


def read_header(f: BinaryIO) -> Header:
    start = f.read(8)
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
    offset: int = 0  # byte offset of the chunk in the file (set by the reader)

    def pack(self) -> bytes:
        head = _CHUNK_HEAD.pack(CHUNK_MAGIC, self.kind, self.first_frame, self.n_frames,
                                len(self.payload))
        crc = zlib.crc32(head[4:] + self.payload)
        return head + self.payload + struct.pack("<I", crc)

    @property
    def size(self) -> int:
        return _CHUNK_HEAD.size + len(self.payload) + 4


def iter_chunks(f: BinaryIO, header: Header, file_size: int | None = None,
                first_frame: int = 0) -> Iterator[Chunk]:
    """Chunks in order, each checked (magic, limits, CRC) before it is returned; the first is
    expected to start at frame ``first_frame``."""
    expected = first_frame
    while True:
        offset = f.tell() if f.seekable() else -1
        head = f.read(_CHUNK_HEAD.size)
        if not head:
            return
        if len(head) < _CHUNK_HEAD.size:
            raise FormatError(f"truncated stream: chunk header at frame {expected} is incomplete")
        magic, kind, first, n, length = _CHUNK_HEAD.unpack(head)
        if magic != CHUNK_MAGIC:
            raise FormatError(f"chunk at frame {expected}: bad chunk marker")
        if kind != CHUNK_FRAMES:
            raise FormatError(f"chunk at frame {expected}: unknown chunk type {kind}")
        if first != expected or not 1 <= n <= header.gop:
            raise FormatError(f"chunk at frame {expected}: frame range {first}+{n} is invalid")
        limit = MAX_PAYLOAD if file_size is None or offset < 0 else file_size - offset - _CHUNK_HEAD.size - 4
        if length > min(limit, MAX_PAYLOAD):
            raise FormatError(f"truncated stream: chunk for frames {first}-{first + n - 1} claims "
                              f"{length} bytes, more than the file holds")
        payload = _read_exact(f, length, f"chunk for frames {first}-{first + n - 1}")
        crc_bytes = _read_exact(f, 4, f"CRC of chunk for frames {first}-{first + n - 1}")
        if zlib.crc32(head[4:] + payload) != struct.unpack("<I", crc_bytes)[0]:
            raise CorruptChunk(f"chunk for frames {first}-{first + n - 1} is corrupt (CRC mismatch)")
        if header.frame_count != UNKNOWN_FRAMES and first + n > header.frame_count:
            raise FormatError(f"chunk for frames {first}-{first + n - 1} is beyond the frame count")
        yield Chunk(first, n, payload, kind, offset)
        expected = first + n
