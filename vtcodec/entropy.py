"""Entropy coding: the one module that imports constriction.

Integer frequency tables in, bytes out. A whole group of symbols, each with its own table, is
coded in one vectorised call of constriction's range coder (``stream.queue``: FIFO, which suits
autoregressive decoding), with ``Categorical(perfect=False)``. The coder's ``uint32`` words are
written little-endian. constriction 0.5.0 is pinned: the quantisation of probabilities to the
coder's fixed-point grid is part of the format.
"""

from __future__ import annotations

import constriction
import numpy as np

from .errors import CorruptChunk

_FAMILY = constriction.stream.model.Categorical(perfect=False)


def _probabilities(freqs: np.ndarray) -> np.ndarray:
    """Integer frequencies ``[N, A]`` -> float64 probabilities. Sums of integers below 2**53 are
    exact and IEEE division is correctly rounded, so the result is identical on every machine."""
    f = freqs.astype(np.float64)
    return f / f.sum(axis=1, keepdims=True)


def encode(symbols: np.ndarray, freqs: np.ndarray) -> bytes:
    """Code ``symbols`` ``[N]`` (ints) with per-symbol integer frequency tables ``[N, A]``."""
    encoder = constriction.stream.queue.RangeEncoder()
    if len(symbols):
        encoder.encode(symbols.astype(np.int32), _FAMILY, _probabilities(freqs))
    return encoder.get_compressed().astype("<u4").tobytes()


def ideal_bits(symbols: np.ndarray, freqs: np.ndarray) -> float:
    """The information content ``sum(-log2 p)`` of ``symbols`` under the same tables."""
    p = _probabilities(freqs)[np.arange(len(symbols)), symbols]
    return float(-np.log2(p).sum())


class Decoder:
    """Decode symbols, group by group, from the bytes ``encode`` produced (possibly the
    concatenation of several groups' symbols coded in one stream)."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise CorruptChunk("entropy-coded payload is not a whole number of 32-bit words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._decoder = constriction.stream.queue.RangeDecoder(words)

    def decode(self, freqs: np.ndarray) -> np.ndarray:
        """The next ``len(freqs)`` symbols, each with its own table ``[N, A]``."""
        if not len(freqs):
            return np.zeros(0, dtype=np.int64)
        try:
            out = self._decoder.decode(_FAMILY, _probabilities(freqs))
        except Exception as exc:  # noqa: BLE001 - constriction raises plain errors on bad data
            raise CorruptChunk(f"entropy decoding failed ({exc})") from None
        return np.asarray(out, dtype=np.int64)
