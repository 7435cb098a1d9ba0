"""Entropy coding: the one module that imports constriction.

Integer frequency tables in, bytes out. A whole group of symbols, each with its own table, is
coded in one vectorised call of constriction's range coder (``stream.queue``: FIFO, which suits
autoregressive decoding), with ``Categorical(perfect=False)``. The coder's ``uint32`` words are
written little-endian. constriction 0.5.0 is pinned: the quantisation of probabilities to the
coder's fixed-point grid is part of the format.

A payload must hold exactly the words the coder wrote for its symbols (SPEC.md, "Token stream").
constriction's decoder cannot tell by itself: past the end of its data it goes on decoding as if
the data were padded with zero words, and it never says whether words were left unread. So the
``SymbolReader`` re-codes every group it decodes into an encoder of its own (about 3% of the
decoder's time): once that encoder has written more words than the payload holds, the payload has
run out (caught at the group that runs past it, before more work is done); at the end, its output
must equal the payload byte for byte, which catches trailing or altered words.
"""

from __future__ import annotations

import constriction
import numpy as np

from .errors import CorruptChunk

_FAMILY = constriction.stream.model.Categorical(perfect=False)


def probabilities(freqs: np.ndarray) -> np.ndarray:
    """Integer frequencies ``[N, A]`` -> float64 probabilities. Sums of integers below 2**53 are
    exact and IEEE division is correctly rounded, so the result is identical on every machine.
    Row-major whatever the tables' layout: constriction reads the buffer as ``[N, A]`` rows."""
    f = np.ascontiguousarray(freqs, dtype=np.float64)
    return f / f.sum(axis=1, keepdims=True)


def write_symbols(symbols: np.ndarray, freqs: np.ndarray) -> bytes:
    """Code ``symbols`` ``[N]`` (ints) with per-symbol integer frequency tables ``[N, A]``."""
    writer = SymbolWriter()
    writer.write(symbols, freqs)
    return writer.finish()


def ideal_bits(symbols: np.ndarray, freqs: np.ndarray) -> float:
    """The information content ``sum(-log2 p)`` of ``symbols`` under the same tables (the
    probability of each coded symbol alone: the same divisions as ``probabilities``'s)."""
    f = freqs[np.arange(len(symbols)), symbols].astype(np.float64)
    return float(-np.log2(f / freqs.sum(axis=1).astype(np.float64)).sum())


class SymbolWriter:
    """The encoder's side of ``SymbolReader``: groups of symbols, each symbol with its own table,
    coded one group after the other into one payload, the same bytes as one ``write_symbols`` of
    them all (the range coder's state runs on from group to group). An encoder hands the tables
    over group by group, so that a chunk's tables need never be held at once (an enhancement
    layer's are about 86 MB a frame at 640x360 as int64). ``ideal``: their ``sum(-log2 p)``."""

    def __init__(self) -> None:
        self._encoder = constriction.stream.queue.RangeEncoder()
        self.ideal = 0.0

    def write(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        """Code the next ``len(symbols)`` symbols, each with its own table ``[N, A]``."""
        if len(symbols):
            p = probabilities(freqs)
            self._encoder.encode(symbols.astype(np.int32), _FAMILY, p)
            self.ideal += float(-np.log2(p[np.arange(len(symbols)), symbols]).sum())

    def finish(self) -> bytes:
        """The payload: the coder's words, little-endian."""
        return self._encoder.get_compressed().astype("<u4").tobytes()


class SymbolReader:
    """Decode symbols, group by group, from the bytes ``write_symbols`` produced (possibly the
    concatenation of several groups' symbols coded in one stream), checking that the payload
    neither runs out nor holds more than its symbols (``finish``)."""

    def __init__(self, data: bytes, what: str = "payload") -> None:
        if len(data) % 4:
            raise CorruptChunk(f"{what}: entropy-coded data is not a whole number of 32-bit words")
        self.words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self.what = what
        self._decoder = constriction.stream.queue.RangeDecoder(self.words)
        self._shadow = constriction.stream.queue.RangeEncoder()

    def read(self, freqs: np.ndarray) -> np.ndarray:
        """The next ``len(freqs)`` symbols, each with its own table ``[N, A]``."""
        if not len(freqs):
            return np.zeros(0, dtype=np.int64)
        return self.read_probabilities(probabilities(freqs))

    def read_probabilities(self, p: np.ndarray) -> np.ndarray:
        """``read`` with the tables already turned into probabilities (``probabilities``): for a
        caller that reads many small groups with few distinct tables and keeps them."""
        try:
            out = self._decoder.decode(_FAMILY, p)
            self._shadow.encode(np.asarray(out, dtype=np.int32), _FAMILY, p)
        except Exception as exc:  # noqa: BLE001 - constriction raises plain errors on bad data
            raise CorruptChunk(f"{self.what}: entropy decoding failed ({exc})") from None
        if self._shadow.num_words() > len(self.words):
            raise CorruptChunk(f"{self.what} runs out before its symbols do ({len(self.words) * 4} bytes)")
        return np.asarray(out, dtype=np.int64)

    def finish(self) -> None:
        """Check that the symbols read account for the payload exactly."""
        again = self._shadow.get_compressed()
        if len(again) != len(self.words) or not np.array_equal(again, self.words):
            raise CorruptChunk(f"{self.what} is not exactly its symbols' code ({len(self.words) * 4} "
                               f"bytes where they take {len(again) * 4})")
