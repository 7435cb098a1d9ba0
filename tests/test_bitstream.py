import io
import struct
import zlib

import pytest
from vtcodec.bitstream import (
    Chunk,
    CorruptChunk,
    FormatError,
    Header,
    UnsupportedVersion,
    iter_chunks,
    read_header,
)


def header(**kw) -> Header:
    base = {"width": 33, "height": 17, "fps_num": 30000, "fps_den": 1001, "frame_count": 3,
            "chroma": "420", "matrix": 5, "color_range": 1, "quantizer": "fsq", "quality": 1,
            "gop": 2, "model": "m", "weights_sha256": bytes(range(32)), "encoder": "test"}
    base.update(kw)
    return Header(**base)


def stream(h: Header, chunks: list[Chunk]) -> bytes:
    return h.pack() + b"".join(c.pack() for c in chunks)


def test_header_and_chunks_round_trip():
    h = header()
    data = stream(h, [Chunk(0, 2, b"abcd"), Chunk(2, 1, b"")])
    f = io.BytesIO(data)
    assert read_header(f) == h
    chunks = list(iter_chunks(f, h, len(data)))
    assert [(c.first_frame, c.n_frames, c.payload) for c in chunks] == [(0, 2, b"abcd"), (2, 1, b"")]


def test_newer_major_version_is_refused():
    data = bytearray(header().pack())
    data[4] = 3
    with pytest.raises(UnsupportedVersion, match="version 3"):
        read_header(io.BytesIO(bytes(data)))


def test_newer_minor_version_extra_fields_are_skipped():
    h = header()
    packed = h.pack()[:-4]
    body = packed[8:] + b"\x07future"
    head = packed[:4] + struct.pack("<BBH", 1, 9, len(body)) + body
    data = head + struct.pack("<I", zlib.crc32(head))
    got = read_header(io.BytesIO(data))
    assert (got.width, got.height, got.minor) == (33, 17, 9)


def test_bad_magic_and_crc_errors():
    with pytest.raises(FormatError, match="magic"):
        read_header(io.BytesIO(b"RIFF...."))
    h = header()
    data = bytearray(stream(h, [Chunk(0, 2, b"payload!")]))
    data[-6] ^= 1
    f = io.BytesIO(bytes(data))
    read_header(f)
    with pytest.raises(CorruptChunk, match="frames 0-1"):
        list(iter_chunks(f, h, len(data)))


def test_length_beyond_file_is_rejected_without_allocation():
    h = header()
    data = bytearray(stream(h, [Chunk(0, 2, b"x" * 8)]))
    off = len(h.pack()) + 11
    data[off:off + 4] = struct.pack("<I", 0xFFFFFFF0)
    f = io.BytesIO(bytes(data))
    read_header(f)
    with pytest.raises(FormatError, match="more than the file holds"):
        list(iter_chunks(f, h, len(data)))


def test_header_limits():
    with pytest.raises(FormatError):
        header(width=0).pack()
    with pytest.raises(FormatError):
        header(width=16384, height=16384).pack()
