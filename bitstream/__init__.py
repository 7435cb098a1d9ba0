"""The .vtc format, standard library only (no torch, no numpy): the header (header.py), chunk
framing, index and end chunks (chunks.py), the coding grid of a chunk (geometry.py), the order
rules between chunks (structure.py), audio carried through (audio.py) and frame times
(timing.py). conformance/SPEC.md is the normative text."""

from ..errors import CorruptChunk, FormatError, UnsupportedVersion
from .audio import CHUNK_AUDIO_PACKETS, CHUNK_AUDIO_STREAM, AudioStream, pack_packets, parse_packets
from .chunks import (
    CHUNK_END,
    CHUNK_FRAMES,
    CHUNK_INDEX,
    CHUNK_MAGIC,
    END_SIZE,
    HEAD_FIELDS,
    HEAD_SIZE,
    INDEX_ENTRY,
    MAX_PAYLOAD,
    MIN_FRAMES_CHUNK,
    OVERHEAD,
    SIDE_KINDS,
    Chunk,
    ChunkHead,
    IndexEntry,
    Resync,
    chunk_spans,
    end_chunk,
    index_chunk,
    parse_head,
    parse_index,
    payload_of,
    read_chunk,
    read_index,
    reseal,
    scan_chunks,
    seal_stream,
    set_head_field,
    side_spans,
)
from .geometry import (
    SCALE_MAX,
    SCALE_MIN,
    SCALE_ONE,
    SCALE_Q16,
    TOKEN,
    coded_size,
    frame_symbols,
    frames_payload,
    payload_limit,
    scale_range,
    token_grid,
)
from .header import (
    CHROMAS,
    COLOR_RANGES,
    FIELDS,
    MAGIC,
    MAJOR,
    MATRICES,
    MAX_GOP,
    MAX_NAME,
    MAX_PIXELS,
    MAX_QUALITY,
    MAX_SIDE,
    MINOR,
    QUANTIZERS,
    ROTATIONS,
    UNKNOWN_FRAMES,
    UNSPECIFIED,
    Header,
    header_size,
    open_vtc,
    printable_name,
    read_header,
    set_field,
)
from .structure import ChunkSequence
from .timing import CHUNK_FRAME_TIMES, pack_times, parse_times

__all__ = [  # noqa: RUF022 - grouped by module
    "CHUNK_END", "CHUNK_FRAMES", "CHUNK_INDEX", "CHUNK_MAGIC", "END_SIZE", "HEAD_FIELDS", "HEAD_SIZE",
    "INDEX_ENTRY", "MAX_PAYLOAD", "MIN_FRAMES_CHUNK", "OVERHEAD", "SIDE_KINDS", "Chunk", "ChunkHead", "IndexEntry",
    "Resync", "side_spans", "chunk_spans", "end_chunk", "index_chunk", "parse_head", "parse_index", "payload_of",
    "read_chunk", "read_index", "reseal", "scan_chunks", "seal_stream", "set_head_field",
    "SCALE_MAX", "SCALE_MIN", "SCALE_ONE", "SCALE_Q16", "TOKEN", "coded_size", "frame_symbols",
    "frames_payload", "payload_limit", "scale_range", "token_grid",
    "CHROMAS", "COLOR_RANGES", "FIELDS", "MAGIC", "MAJOR", "MATRICES", "MAX_GOP", "MAX_NAME", "MAX_PIXELS",
    "MAX_QUALITY", "MAX_SIDE", "MINOR", "QUANTIZERS", "UNKNOWN_FRAMES", "Header", "header_size", "open_vtc",
    "printable_name", "read_header", "set_field",
    "ChunkSequence",
    "CHUNK_AUDIO_PACKETS", "CHUNK_AUDIO_STREAM", "AudioStream", "pack_packets", "parse_packets",
    "ROTATIONS", "UNSPECIFIED", "CHUNK_FRAME_TIMES", "pack_times", "parse_times",
    "CorruptChunk", "FormatError", "UnsupportedVersion",
]
