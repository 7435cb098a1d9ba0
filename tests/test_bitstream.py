"""The container alone (standard library code): header fields, chunk framing, the order rules
between chunks, and finding chunks after damage."""

import io
import struct
import zlib

import pytest
from vtcodec.bitstream import (
    CHUNK_END,
    CHUNK_INDEX,
    MAJOR,
    Chunk,
    ChunkSequence,
    CorruptChunk,
    FormatError,
    Header,
    IndexEntry,
    Resync,
    UnsupportedVersion,
    chunk_spans,
    end_chunk,
    index_chunk,
    read_chunk,
    read_header,
    reseal,
    seal_stream,
)


def header(**kw) -> Header:
    base = {"width": 33, "height": 17, "fps_num": 30000, "fps_den": 1001, "frame_count": 3,
            "chroma": "420", "matrix": 5, "color_range": 1, "quantizer": "fsq", "quality": 1,
            "gop": 2, "model": "m", "weights_sha256": bytes(range(32)), "encoder": "test"}
    base.update(kw)
    return Header(**base)


def stream(h: Header, chunks: list[Chunk]) -> bytes:
    return h.pack() + b"".join(c.pack() for c in chunks)


def read_all(data: bytes, h: Header) -> list[Chunk]:
    """Every chunk of ``data`` after its header, framing and order checked."""
    f = io.BytesIO(data)
    read_header(f)
    seq, out = ChunkSequence(h), []
    while (c := read_chunk(f, h, seq.frames, len(data))) is not None:
        seq.add(c)
        out.append(c)
    seq.finish()
    return out


def closed(h: Header, frames: list[Chunk]) -> bytes:
    """A stream of ``frames`` chunks with a correct index and end chunk."""
    return seal_stream(h.pack(), [c.pack() for c in frames])


def test_header_and_chunks_round_trip():
    h = header()
    data = closed(h, [Chunk(0, 2, b"abcd"), Chunk(2, 1, b"")])
    f = io.BytesIO(data)
    assert read_header(f) == h
    chunks = read_all(data, h)
    assert [(c.first_frame, c.n_frames, c.payload) for c in chunks[:2]] == [(0, 2, b"abcd"), (2, 1, b"")]
    assert [c.kind for c in chunks[2:]] == [CHUNK_INDEX, CHUNK_END]


@pytest.mark.parametrize("field,value", [
    ("width", 0), ("width", 16385), ("height", 0), ("height", 16385), ("width", 16384),  # 16384x17 ok
    ("fps_num", 0), ("fps_den", 0), ("fps_num", 2**32), ("frame_count", 0), ("chroma", "411"),
    ("matrix", 0), ("matrix", 2), ("matrix", 3), ("matrix", 6), ("matrix", 10), ("color_range", 0),
    ("color_range", 3), ("quantizer", "vq"), ("quality", 11), ("quality", -1), ("gop", 0), ("gop", 1025),
    ("model", ""), ("model", "x" * 65), ("model", "mödel"), ("model", "a\nb"), ("weights_sha256", bytes(31)),
])
def test_every_header_field_is_checked(field, value):
    h = header(**{field: value})
    if (field, value) == ("width", 16384):
        assert read_header(io.BytesIO(h.pack())) == h  # the edge itself is allowed
        with pytest.raises(FormatError, match="too large"):
            header(width=16384, height=16384).pack()
        return
    with pytest.raises(FormatError):
        h.validate()
    with pytest.raises(FormatError):
        h.pack()


def test_header_values_outside_the_spec_are_refused_on_read_too():
    packed = bytearray(header().pack())
    packed[29] = 3  # matrix 3: not in the spec's list
    packed[-4:] = struct.pack("<I", zlib.crc32(bytes(packed[:-4])))
    with pytest.raises(FormatError, match="colour matrix 3"):
        read_header(io.BytesIO(bytes(packed)))


def test_newer_major_version_is_refused():
    data = bytearray(header().pack())
    data[4] = MAJOR + 1
    with pytest.raises(UnsupportedVersion, match=f"version {MAJOR + 1}"):
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
    with pytest.raises(CorruptChunk, match="frames 0-1"):
        read_all(bytes(data), h)


def test_length_beyond_file_or_limit_is_rejected_without_allocation():
    h = header()
    data = bytearray(stream(h, [Chunk(0, 2, b"x" * 8)]))
    off = len(h.pack()) + 11
    data[off:off + 4] = struct.pack("<I", 0xFFFFFFF0)
    with pytest.raises(FormatError, match="more than any chunk"):
        read_all(bytes(data), h)
    f = io.BytesIO(stream(h, [Chunk(0, 2, b"x" * 100)]))
    read_header(f)
    with pytest.raises(FormatError, match="more than a chunk of this stream"):
        read_chunk(f, h, 0, None, max_payload=99)


def seq_error(h: Header, chunks: list[Chunk], match: str) -> None:
    with pytest.raises(FormatError, match=match):
        read_all(stream(h, chunks), h)


def test_structure_rules():
    h = header(frame_count=3)
    hs = len(h.pack())
    a, b = Chunk(0, 2, b"ab"), Chunk(2, 1, b"c")
    index = index_chunk([IndexEntry(0, 2, hs), IndexEntry(2, 1, hs + a.size)])
    end = end_chunk(hs + a.size + b.size)
    read_all(stream(h, [a, b, index, end]), h)  # the rules hold
    seq_error(h, [a, Chunk(3, 1, b"")], "frame range")  # a gap
    seq_error(h, [a, Chunk(2, 3, b"")], "frame range")  # more than gop frames
    seq_error(header(frame_count=2), [a, b], "beyond the frame count")
    lie = index_chunk([IndexEntry(0, 2, hs), IndexEntry(2, 1, hs + a.size + 1)])
    seq_error(h, [a, b, lie, end], "index chunk disagrees")
    seq_error(h, [a, b, index, index, end], "second index")
    seq_error(h, [a, b, index, end_chunk(hs)], "does not point at the index")
    seq_error(h, [a, b, end_chunk(hs)], "does not follow an index")
    seq_error(h, [a, b, index, Chunk(0, 0, b"x", 9), end], "between the index and the end")
    seq_error(h, [a, b, index, end, Chunk(0, 0, b"x", 9)], "after the end chunk")
    seq_error(h, [a, index_chunk([IndexEntry(0, 2, hs)]), b], "after the index")
    seq_error(h, [a, b, index], "without the end chunk")
    seq_error(h, [a, b, Chunk(0, 1, index.payload, CHUNK_INDEX), end], "non-zero frame fields")
    seq_error(h, [a], "2 of 3 frames")
    # reserved chunk types are skipped anywhere before the index
    assert len(read_all(stream(h, [a, Chunk(0, 0, b"x", 9), b]), h)) == 3


def test_resync_finds_the_next_good_chunk_and_its_work_is_linear():
    h = header(frame_count=0xFFFFFFFF, gop=4)
    good = [Chunk(4 * i, 4, bytes([i]) * 30) for i in range(6)]
    data = bytearray(stream(h, good))
    spans = chunk_spans(bytes(data), len(h.pack()))
    data[spans[2][0] + 20] ^= 0xFF  # chunk 2's CRC fails
    f = io.BytesIO(bytes(data))
    r = Resync(f, h, len(data), 1 << 20)
    found = r.next(spans[2][0] + 1, 8)
    assert found is not None and found.first_frame == 12 and found.offset == spans[3][0]
    # 64 KiB of markers, each claiming a payload that reaches the end of the file: checking each
    # CRC would read ~2 GB; the budget stops the search after 4 bytes per byte of the file + 1 MiB
    total = 20 * 3277
    body = b"".join(b"VTCK" + bytes([0]) + struct.pack("<IHI", 0, 1, total - pos - 19) + b"\xff" * 5
                    for pos in range(0, total, 20))
    bad = h.pack() + body
    r = Resync(io.BytesIO(bad), h, len(bad), 1 << 20)
    assert r.next(len(h.pack()), 0) is None
    assert r.budget < 1 << 16 and r.exhausted


def test_reseal_and_spans_are_what_tools_use():
    h = header()
    data = bytearray(stream(h, [Chunk(0, 2, b"abcd")]))
    (off, size), = chunk_spans(bytes(data), len(h.pack()))
    assert size == len(data) - off
    data[off + 16] ^= 1
    reseal(data, off)
    assert read_all(bytes(data) + Chunk(2, 1, b"").pack(), h)[0].payload == b"accd"


def test_format_2_1_display_fields_round_trip_and_a_2_0_header_reads_as_defaults():
    from dataclasses import replace

    h = replace(header(), rotation=270, primaries=9, transfer=18, bit_depth=12)
    got = read_header(io.BytesIO(h.pack()))
    assert (got.rotation, got.primaries, got.transfer, got.bit_depth, got.minor) == (270, 9, 18, 12, 1)
    packed = h.pack()[:-4]
    body = packed[8:-5]  # a 2.0 body: no display fields
    head = packed[:4] + struct.pack("<BBH", 2, 0, len(body)) + body
    old = read_header(io.BytesIO(head + struct.pack("<I", zlib.crc32(head))))
    assert (old.rotation, old.primaries, old.transfer, old.bit_depth, old.minor) == (0, 2, 2, 8, 0)
    for bad in ({"rotation": 45}, {"primaries": 0}, {"transfer": 256}, {"bit_depth": 17}):
        with pytest.raises(FormatError):
            replace(h, **bad).pack()


def test_audio_payloads_round_trip_and_malformed_ones_are_refused():
    from vtcodec.bitstream import AudioStream, pack_packets, parse_packets

    a = AudioStream("aac", 48000, "stereo", "fltp", (1, 48000), 128000, b"\x11\x90")
    assert AudioStream.parse(a.pack()) == a
    packets = [(-1024, 1024, True, b"abc"), (None, 0, False, b""), (0, 1024, True, bytes(300))]
    data = pack_packets(packets)
    assert parse_packets(data) == packets
    for bad in (data[:-1], data[:5], data + b"\x00"):
        with pytest.raises(FormatError):
            parse_packets(bad)
    for bad in (b"{", b"[]", b'{"codec": "a b", "sample_rate": 1, "layout": "", "format": "", "time_base": [1, 1]}',
                a.pack().replace(b"48000,", b"0,", 1)):
        with pytest.raises(FormatError):
            AudioStream.parse(bad)
