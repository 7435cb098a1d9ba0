"""The order rules between a stream's chunks (SPEC.md, "Structure"), checked as chunks arrive.

Both decoders (the streaming one fed bytes and the file reader) feed every chunk, with its offset,
to one ``ChunkSequence``, so they accept and refuse the same streams:

1. frames chunks are contiguous from frame 0, each 1..gop frames, none beyond the header's count;
2. at most one index chunk, after the last frames chunk; its entries are exactly the frames chunks
   before it (first frame, frame count and offset), and its frame fields are 0;
3. an end chunk only directly after the index (reserved chunk types may not come between them),
   holding the index's offset, with frame fields 0; nothing follows it;
4. at the end of the data: an index is followed by its end chunk, the frames add up to the
   header's count when it is known, and there is at least one frame.
"""

from __future__ import annotations

import struct

from ..errors import FormatError
from .audio import CHUNK_AUDIO_PACKETS, CHUNK_AUDIO_STREAM
from .chunks import CHUNK_END, CHUNK_FRAMES, CHUNK_INDEX, Chunk, IndexEntry, parse_index
from .header import UNKNOWN_FRAMES, Header


class ChunkSequence:
    def __init__(self, header: Header) -> None:
        self.header = header
        self.frames = 0  # the first frame the next frames chunk must start at
        self.entries: list[IndexEntry] = []  # the frames chunks seen, as index entries
        self.index_at: int | None = None  # offset of the index chunk, once seen
        self.last_kind: int | None = None
        self.ended = False
        self.partial = False  # chunks were skipped (concealment): the index cannot be compared
        self.audio_bytes = 0  # of the audio chunks seen (types 3 and 4), framing included

    def add(self, chunk: Chunk) -> bool:
        """Check ``chunk`` against the chunks before it; True for a frames chunk."""
        if self.ended:
            raise FormatError(f"data after the end chunk (offset {chunk.offset})")
        kind = chunk.kind
        try:
            if kind == CHUNK_FRAMES:
                self._frames(chunk)
            elif kind in (CHUNK_INDEX, CHUNK_END):
                if chunk.first_frame or chunk.n_frames:
                    raise FormatError(f"{'index' if kind == CHUNK_INDEX else 'end'} chunk at offset "
                                      f"{chunk.offset} has non-zero frame fields")
                (self._index if kind == CHUNK_INDEX else self._end)(chunk)
            elif self.index_at is not None:
                raise FormatError(f"chunk of type {kind} between the index and the end chunk")
            elif kind in (CHUNK_AUDIO_STREAM, CHUNK_AUDIO_PACKETS):
                self.audio_bytes += chunk.size
        finally:
            self.last_kind = kind
        return kind == CHUNK_FRAMES

    def _frames(self, chunk: Chunk) -> None:
        first, n, count = chunk.first_frame, chunk.n_frames, self.header.frame_count
        if self.index_at is not None:
            raise FormatError(f"{chunk.what} comes after the index chunk")
        if first != self.frames or not 1 <= n <= self.header.gop:
            raise FormatError(f"chunk after frame {self.frames}: frame range {first}+{n} is invalid")
        if count != UNKNOWN_FRAMES and first + n > count:
            raise FormatError(f"{chunk.what} is beyond the frame count {count}")
        self.entries.append(IndexEntry(first, n, chunk.offset))
        self.frames = first + n

    def _index(self, chunk: Chunk) -> None:
        if self.index_at is not None:
            raise FormatError(f"second index chunk at offset {chunk.offset}")
        entries = parse_index(chunk.payload, self.header)
        if not self.partial and entries != self.entries:
            bad = next((i for i, (a, b) in enumerate(zip(entries, self.entries)) if a != b),
                       min(len(entries), len(self.entries)))
            raise FormatError(f"index chunk disagrees with the chunks before it (entry {bad}: "
                              f"{len(entries)} entries for {len(self.entries)} frames chunks)")
        self.index_at = chunk.offset

    def _end(self, chunk: Chunk) -> None:
        if self.index_at is None or self.last_kind != CHUNK_INDEX:
            raise FormatError(f"end chunk at offset {chunk.offset} does not follow an index chunk")
        if len(chunk.payload) != 8 or struct.unpack("<Q", chunk.payload)[0] != self.index_at:
            raise FormatError(f"end chunk at offset {chunk.offset} does not point at the index "
                              f"chunk (offset {self.index_at})")
        self.ended = True

    def restart(self, first_frame: int) -> None:
        """Carry on from ``first_frame`` after skipping damaged chunks (concealment)."""
        self.frames, self.partial, self.index_at, self.last_kind = first_frame, True, None, None

    def finish(self) -> None:
        """Check the end of the data (rule 4)."""
        if self.index_at is not None and not self.ended:
            raise FormatError("truncated stream: it ends after its index chunk, without the end chunk")
        count = self.header.frame_count
        if count != UNKNOWN_FRAMES and self.frames != count:
            raise FormatError(f"truncated stream: {self.frames} of {count} frames present")
        if self.frames == 0:
            raise FormatError("stream holds no frames")
