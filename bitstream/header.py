"""The .vtc header (SPEC.md, "Header"): magic, version and the stream's fixed fields.

    header := magic "VTC\\x1a" | u8 major | u8 minor | u16 body_len | body | u32 crc32(all before)

A reader refuses a newer *major* version; a newer *minor* version may append header fields after
the ones listed here, which an older reader skips using ``body_len``. Every field is checked
against the spec's allowed values (``Header.validate``) before anything is allocated.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import FormatError, UnsupportedVersion  # standard library only

MAGIC = b"VTC\x1a"
MAJOR = 6  # the newest version this code reads and writes: 6.0, a layered model's stream with block skips
# and motion-compensated prediction
MINOR = 0
# what a writer writes: 2.1 for models without gained levels (their streams have not changed since
# 2.1: display fields appended to the header), 3.0 for models with them (vt2), 3.1 for models with
# levels and a temporal state, 3.2 for models whose decoder sees the previous decoded frame, 6.0
# for a layered model (an enhancement layer over a token model; frames chunks carry two layers, the
# layer's with block skips and blocks coded over the previous output moved into place). 4.0 (the
# same without either) and 5.0 (skips only) are read, and their headers rewritten as they were.
WRITTEN = ((2, 1), (3, 0), (3, 1), (3, 2), (4, 0), (5, 0), (6, 0))
UNKNOWN_FRAMES = 0xFFFFFFFF

MAX_SIDE = 16384
MAX_PIXELS = 1 << 26  # 8192 x 8192
MAX_GOP = 1024
MAX_QUALITY = 10  # 1..10; 0 = target-rate mode
MAX_QUALITY_LAYERED = 42  # 4.x: 1..10 the base layer's rungs, then a layer's levels (at most 32)
MAX_NAME = 64
CHROMAS = ("420", "422", "444", "mono")
QUANTIZERS = ("fsq", "bsq")
# H.273 MatrixCoefficients a stream may declare: BT.709, FCC, BT.601, SMPTE 240M, BT.2020 (ncl)
MATRICES = (1, 4, 5, 7, 9)
COLOR_RANGES = (1, 2)  # 1 = limited, 2 = full
ROTATIONS = (0, 90, 180, 270)  # degrees counter-clockwise to turn a frame for display
UNSPECIFIED = 2  # H.273 ColourPrimaries / TransferCharacteristics: unspecified
DISPLAY = struct.Struct("<HBBB")  # 2.1: rotation, primaries, transfer, bit_depth

FIXED = struct.Struct("<IIIIIBBBBBH")  # width .. gop: bytes 8 .. 34 of the header
PREFIX = struct.Struct("<4sBBH")  # magic, major, minor, body_len
CRC = struct.Struct("<I")
# byte offset and struct format of each fixed field (SPEC.md, "Header"), for tools that craft streams
FIELDS = {"width": (8, "<I"), "height": (12, "<I"), "fps_num": (16, "<I"), "fps_den": (20, "<I"),
          "frame_count": (24, "<I"), "chroma": (28, "<B"), "matrix": (29, "<B"), "color_range": (30, "<B"),
          "quantizer": (31, "<B"), "quality": (32, "<B"), "gop": (33, "<H"), "body_len": (6, "<H")}


def printable_name(name: str) -> bool:
    """A model name as the spec allows it: 1..64 printable ASCII characters (0x20..0x7E)."""
    return 1 <= len(name) <= MAX_NAME and all(0x20 <= ord(c) <= 0x7E for c in name)


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    fps_num: int
    fps_den: int
    frame_count: int  # UNKNOWN_FRAMES when the writer could not tell
    chroma: str  # layout the source had and the decoder writes back: "420", "422", "444", "mono"
    matrix: int  # colour matrix (ITU-T H.273 MatrixCoefficients code, one of MATRICES)
    color_range: int  # 1 = limited, 2 = full
    quantizer: str  # "fsq" or "bsq"
    quality: int  # quality level asked for (1..10; 0: target-rate mode, the level varies per chunk)
    gop: int  # frames per chunk (the last chunk may be shorter)
    model: str  # stable model name
    weights_sha256: bytes  # 32 bytes: sha256 of the model's weights file
    encoder: str = ""  # free text: the writing software and its version
    major: int = 2  # 3 for a gained model's stream (WRITTEN; minor 1: a state, 2: a decoded-frame
    # context), 4 for a layered model's
    minor: int = 1
    # 2.1 fields (a 2.0 stream reads as these defaults): how the source was displayed, written back
    # on decode; the coded frames are 8-bit RGB whatever the source's depth
    rotation: int = 0  # one of ROTATIONS
    primaries: int = UNSPECIFIED  # H.273 ColourPrimaries, 1..255 (1 = BT.709, 9 = BT.2020, ...)
    transfer: int = UNSPECIFIED  # H.273 TransferCharacteristics, 1..255 (16 = PQ, 18 = HLG, ...)
    bit_depth: int = 8  # bits per sample of the source, 1..16

    def validate(self) -> None:
        """Raise ``FormatError`` naming the first field outside the spec's allowed values."""
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE):
            raise FormatError(f"frame size {self.width}x{self.height} is out of range")
        if self.width * self.height > MAX_PIXELS:
            raise FormatError(f"frame size {self.width}x{self.height} is too large")
        if not (0 < self.fps_num <= 0xFFFFFFFF and 0 < self.fps_den <= 0xFFFFFFFF):
            raise FormatError(f"frame rate {self.fps_num}/{self.fps_den} is invalid")
        if not 1 <= self.frame_count <= 0xFFFFFFFF:
            raise FormatError(f"frame count {self.frame_count} is invalid")
        if self.chroma not in CHROMAS:
            raise FormatError(f"unknown chroma layout {self.chroma!r}")
        if self.quantizer not in QUANTIZERS:
            raise FormatError(f"unknown quantizer {self.quantizer!r}")
        if self.matrix not in MATRICES:
            raise FormatError(f"colour matrix {self.matrix} is not one of {', '.join(map(str, MATRICES))}")
        if self.color_range not in COLOR_RANGES:
            raise FormatError(f"colour range {self.color_range} is invalid")
        top = MAX_QUALITY_LAYERED if self.major >= 4 else MAX_QUALITY
        if not 0 <= self.quality <= top:
            raise FormatError(f"quality {self.quality} is out of range 0..{top}")
        if not 1 <= self.gop <= MAX_GOP:
            raise FormatError(f"group of frames {self.gop} is out of range")
        if not printable_name(self.model):
            raise FormatError(f"model name must be 1..{MAX_NAME} printable ASCII characters")
        if len(self.weights_sha256) != 32:
            raise FormatError("weights hash must be 32 bytes")
        if self.rotation not in ROTATIONS:
            raise FormatError(f"rotation {self.rotation} is not one of {', '.join(map(str, ROTATIONS))}")
        if not (1 <= self.primaries <= 255 and 1 <= self.transfer <= 255):
            raise FormatError(f"colour primaries {self.primaries} / transfer {self.transfer} out of range 1..255")
        if not 1 <= self.bit_depth <= 16:
            raise FormatError(f"source bit depth {self.bit_depth} is out of range 1..16")

    def pack(self) -> bytes:
        self.validate()
        name = self.model.encode("ascii")
        enc = self.encoder.encode("utf-8")[:255]
        body = FIXED.pack(self.width, self.height, self.fps_num, self.fps_den, self.frame_count,
                          CHROMAS.index(self.chroma), self.matrix, self.color_range,
                          QUANTIZERS.index(self.quantizer), self.quality, self.gop)
        body += bytes([len(name)]) + name + self.weights_sha256 + bytes([len(enc)]) + enc
        body += DISPLAY.pack(self.rotation, self.primaries, self.transfer, self.bit_depth)
        # a header read from 1.x-2.0 is written as 2.1; one read from a later 3.x as 3.2, from 4.x as
        # 4.0, from 5.x as 5.0
        major, minor = (WRITTEN[-1] if self.major >= 6 else WRITTEN[5] if self.major == 5
                        else WRITTEN[4] if self.major == 4
                        else WRITTEN[1 + min(self.minor, 2)] if self.major >= 3 else WRITTEN[0])
        head = PREFIX.pack(MAGIC, major, minor, len(body)) + body
        return head + CRC.pack(zlib.crc32(head))


def set_field(data: bytearray, name: str, value: int) -> None:
    """Write a fixed header field of the stream in ``data`` (any value, even one the spec forbids:
    for tools that craft streams) and fix the header CRC."""
    offset, fmt = FIELDS[name]
    struct.pack_into(fmt, data, offset, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
    end = PREFIX.size + struct.unpack_from("<H", data, 6)[0]
    if end + CRC.size <= len(data):
        CRC.pack_into(data, end, zlib.crc32(bytes(data[:end])))


def _check_version(start: bytes) -> int:
    """Check magic and version of the first 8 bytes; return the header's total size."""
    if start[:4] != MAGIC:
        raise FormatError("not a .vtc stream (bad magic bytes)")
    _, major, minor, body_len = PREFIX.unpack(start[:8])
    if major > MAJOR:
        raise UnsupportedVersion(f"stream is format version {major}.{minor}; this vtcodec reads "
                                 f"versions 1.x to {MAJOR}.x (upgrade vtcodec)")
    if major < 1:
        raise FormatError(f"invalid format version {major}.{minor}")
    return PREFIX.size + body_len + CRC.size


def header_size(buf: bytes) -> int | None:
    """Size of the header that ``buf`` starts with, or None until 8 bytes are there (for readers
    fed a stream piece by piece). Raises on bad magic or a newer major version."""
    if buf[:4] != MAGIC[:len(buf[:4])]:
        raise FormatError("not a .vtc stream (bad magic bytes)")
    return _check_version(bytes(buf[:8])) if len(buf) >= 8 else None


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"truncated stream: {what} ends after {len(data)} of {n} bytes")
    return data


def read_header(f: BinaryIO) -> Header:
    """Read and check the header at the start of ``f``; ``f`` is left at the first chunk."""
    start = f.read(8)
    if not start:
        raise FormatError("empty file (not a .vtc stream)")
    if len(start) < 4 or start[:4] != MAGIC:
        raise FormatError("not a .vtc stream (bad magic bytes)")
    if len(start) < 8:
        raise FormatError("truncated stream: header ends early")
    body_len = _check_version(start) - PREFIX.size - CRC.size
    major, minor = start[4], start[5]
    body = _read_exact(f, body_len, "header")
    (crc,) = CRC.unpack(_read_exact(f, 4, "header CRC"))
    if zlib.crc32(start + body) != crc:
        raise FormatError("header CRC mismatch (corrupt header)")
    try:
        fixed = FIXED.unpack_from(body, 0)
        pos = FIXED.size
        name_len = body[pos]
        name = body[pos + 1:pos + 1 + name_len].decode("ascii")
        pos += 1 + name_len
        sha = body[pos:pos + 32]
        pos += 32
        enc_len = body[pos]
        enc = body[pos + 1:pos + 1 + enc_len].decode("utf-8", "replace")
        if pos + 1 + enc_len > len(body) or len(sha) != 32 or len(name) != name_len:
            raise IndexError
        pos += 1 + enc_len
        display = {}
        if (major, minor) >= (2, 1):  # a 2.0 header ends here; newer minors append after these
            display = dict(zip(("rotation", "primaries", "transfer", "bit_depth"), DISPLAY.unpack_from(body, pos)))
    except (struct.error, IndexError, UnicodeDecodeError):
        raise FormatError("header is malformed") from None
    w, h, fn, fd, count, chroma, matrix, rng, quant, quality, gop = fixed
    if chroma >= len(CHROMAS) or quant >= len(QUANTIZERS):
        raise FormatError("header names an unknown chroma layout or quantizer")
    header = Header(w, h, fn, fd, count, CHROMAS[chroma], matrix, rng, QUANTIZERS[quant], quality,
                    gop, name, sha, enc, major, minor, **display)
    header.validate()
    return header


@contextmanager
def open_vtc(path: str | os.PathLike) -> Iterator[tuple[BinaryIO, int, Header]]:
    """Open a .vtc file and read its header: ``(file at the first chunk, file size, header)``."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{path}: no such file" if not p.exists() else f"{path}: not a file")
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        yield f, size, read_header(f)
