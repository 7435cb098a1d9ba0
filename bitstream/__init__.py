"""The .vtc format: headers and chunks, standard library only (no torch, no numpy)."""

from .format import (
    CHUNK_END,
    CHUNK_FRAMES,
    CHUNK_INDEX,
    END_SIZE,
    MAJOR,
    MINOR,
    UNKNOWN_FRAMES,
    Chunk,
    CorruptChunk,
    FormatError,
    Header,
    IndexEntry,
    UnsupportedVersion,
    chunk_size,
    end_chunk,
    header_size,
    index_chunk,
    iter_chunks,
    parse_index,
    read_chunk,
    read_header,
    read_index,
    resync,
    scan_chunks,
)

__all__ = ["CHUNK_END", "CHUNK_FRAMES", "CHUNK_INDEX", "END_SIZE", "MAJOR", "MINOR", "UNKNOWN_FRAMES",
           "Chunk", "CorruptChunk", "FormatError", "Header", "IndexEntry", "UnsupportedVersion",
           "chunk_size", "end_chunk", "header_size", "index_chunk", "iter_chunks", "parse_index",
           "read_chunk", "read_header", "read_index", "resync", "scan_chunks"]
