"""The .vtc format: headers and chunks, standard library only (no torch, no numpy)."""

from .format import (
    CHUNK_FRAMES,
    MAJOR,
    MINOR,
    UNKNOWN_FRAMES,
    Chunk,
    CorruptChunk,
    FormatError,
    Header,
    UnsupportedVersion,
    chunk_size,
    header_size,
    iter_chunks,
    read_header,
)

__all__ = ["CHUNK_FRAMES", "MAJOR", "MINOR", "UNKNOWN_FRAMES", "Chunk", "CorruptChunk",
           "FormatError", "Header", "UnsupportedVersion", "chunk_size", "header_size", "iter_chunks",
           "read_header"]
