"""The entropy layer alone: integer tables and symbols in, bytes out, and back, with the payload
checked to be exactly the symbols' code (SPEC.md, "Token stream")."""

from __future__ import annotations

import numpy as np
import pytest

from vtcodec import entropy
from vtcodec.errors import CorruptChunk


def tables(rng: np.random.Generator, n: int, a: int) -> np.ndarray:
    """Frequency tables like the prior's: skewed, every entry at least 2^14 of about 2^30."""
    logits = rng.normal(size=(n, a)) * rng.choice([0.5, 3.0, 12.0])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p * 2**30).astype(np.int64) + 2**14


def draw(rng: np.random.Generator, freqs: np.ndarray) -> np.ndarray:
    p = freqs / freqs.sum(axis=1, keepdims=True)
    return np.array([rng.choice(len(q), p=q) for q in p])


@pytest.mark.parametrize("seed", range(6))
def test_round_trip_in_groups(seed):
    rng = np.random.default_rng(seed)
    groups = [tables(rng, int(rng.integers(1, 400)), int(rng.integers(2, 40))) for _ in range(5)]
    amax = max(g.shape[1] for g in groups)
    padded = [np.pad(g, ((0, 0), (0, amax - g.shape[1]))) for g in groups]  # zeros: impossible symbols
    symbols = [draw(rng, g) for g in padded]
    flat_s, flat_f = np.concatenate(symbols), np.concatenate(padded)
    data = entropy.write_symbols(flat_s, flat_f)
    assert len(data) % 4 == 0
    reader = entropy.SymbolReader(data)
    for g, s in zip(padded, symbols, strict=True):
        assert np.array_equal(reader.read(g), s)
    reader.finish()
    ideal = entropy.ideal_bits(flat_s, flat_f)
    assert ideal <= 8 * len(data) <= ideal * 1.01 + 64  # within 1% of -log2 p, plus the final words


@pytest.mark.parametrize("seed", range(3))
def test_a_writer_fed_group_by_group_writes_the_bytes_of_one_call(seed):
    """SymbolWriter (the encoder's step-by-step coding) = write_symbols of every group at once, and
    its ideal bits are ideal_bits's."""
    rng = np.random.default_rng(seed)
    groups = [tables(rng, int(rng.integers(0, 300)), 24) for _ in range(7)]
    symbols = [draw(rng, g) if len(g) else np.zeros(0, np.int64) for g in groups]
    writer = entropy.SymbolWriter()
    for g, sym in zip(groups, symbols, strict=True):
        writer.write(sym, g)
    flat_s, flat_f = np.concatenate(symbols), np.concatenate(groups)
    assert writer.finish() == entropy.write_symbols(flat_s, flat_f)
    assert writer.ideal == pytest.approx(entropy.ideal_bits(flat_s, flat_f), rel=1e-12)


def test_tables_in_any_memory_layout_code_the_same():
    """Tables that are a transposed view (column-major rows, as a step's tables can come out of
    the prior) code and decode as their row-major copy does."""
    rng = np.random.default_rng(11)
    freqs = tables(rng, 500, 12)
    symbols = draw(rng, freqs)
    column_major = np.asfortranarray(freqs)
    assert not column_major.flags["C_CONTIGUOUS"]
    data = entropy.write_symbols(symbols, freqs)
    assert entropy.write_symbols(symbols, column_major) == data
    reader = entropy.SymbolReader(data)
    assert np.array_equal(reader.read(column_major), symbols)
    reader.finish()


def test_empty_groups_and_the_empty_stream():
    assert entropy.write_symbols(np.zeros(0, int), np.zeros((0, 4), int)) == b""
    reader = entropy.SymbolReader(b"")
    assert reader.read(np.zeros((0, 4), int)).shape == (0,)
    reader.finish()


def coded(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray, bytes]:
    rng = np.random.default_rng(seed)
    freqs = tables(rng, n, 16)
    symbols = draw(rng, freqs)
    return freqs, symbols, entropy.write_symbols(symbols, freqs)


def test_trailing_words_are_refused():
    freqs, symbols, data = coded()
    for extra in (b"\0\0\0\0", b"\1\2\3\4", b"\xff" * 8):
        reader = entropy.SymbolReader(data + extra)
        assert np.array_equal(reader.read(freqs), symbols)  # the same symbols come out...
        with pytest.raises(CorruptChunk, match="not exactly"):
            reader.finish()  # ...but the payload holds more than their code


def test_a_payload_that_runs_out_is_refused_at_the_group_that_needs_more():
    freqs, _, data = coded(n=2000)
    half = data[:len(data) // 8 * 4]
    reader = entropy.SymbolReader(half)
    with pytest.raises(CorruptChunk, match="runs out"):
        for i in range(0, 2000, 100):
            reader.read(freqs[i:i + 100])
    assert i < 1900  # caught long before the last group


def test_zero_words_decode_forever_unless_checked():
    freqs, _, _ = coded()
    reader = entropy.SymbolReader(bytes(400))
    reader.read(freqs)  # constriction decodes zero padding without complaint
    with pytest.raises(CorruptChunk):
        reader.finish()


def test_a_changed_payload_never_passes_for_the_same_symbols():
    """Each one-bit change is refused, or decodes to other symbols whose code it then is exactly
    (the chunk's CRC is what catches those); never the same symbols from other bytes."""
    freqs, symbols, data = coded()
    caught = 0
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 1
        reader = entropy.SymbolReader(bytes(bad))
        try:
            out = reader.read(freqs)
            reader.finish()
        except CorruptChunk:
            caught += 1
            continue
        assert not np.array_equal(out, symbols), pos  # never: a changed payload decodes differently
    assert caught >= 0.9 * len(data)


def test_odd_lengths_are_refused():
    with pytest.raises(CorruptChunk, match="32-bit words"):
        entropy.SymbolReader(b"\0" * 5)
