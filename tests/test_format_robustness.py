"""Random access, error confinement and fuzzing of the decoder."""

from __future__ import annotations

import io
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY, run_cli, synth_frames, write_clip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vtcodec.bitstream import END_SIZE, read_header, read_index

import vtcodec
from vtcodec import files

VALID = ROOT / "conformance" / "vectors" / "valid"


@pytest.fixture(scope="module")
def clip12(tmp_path_factory):
    d = tmp_path_factory.mktemp("ra")
    src = write_clip(d / "a.y4m", synth_frames(48, 32, 12, seed=2))
    files.encode_file(src, d / "a.vtc", model=TINY, gop=4)
    full = np.concatenate(list(files.iter_decode(d / "a.vtc")))
    return d / "a.vtc", full


@pytest.mark.parametrize("start,count", [(0, 3), (5, 4), (4, 4), (11, 1), (7, None), (9, 50)])
def test_random_access_matches_full_decode(clip12, start, count):
    path, full = clip12
    part = np.concatenate(list(files.iter_decode(path, start=start, frames=count)))
    end = len(full) if count is None else min(len(full), start + count)
    assert np.array_equal(part, full[start:end])


def test_random_access_without_index(clip12, tmp_path):
    path, full = clip12
    data = path.read_bytes()
    with open(path, "rb") as f:
        header = read_header(f)
        index = read_index(f, header, len(data))
    assert index is not None and [e.first_frame for e in index] == [0, 4, 8]
    cut = tmp_path / "cut.vtc"
    cut.write_bytes(data[:index[-1].offset + 20])  # recording cut inside the last chunk
    part = np.concatenate(list(files.iter_decode(cut, start=4, frames=4)))
    assert np.array_equal(part, full[4:8])
    with pytest.raises(vtcodec.FormatError, match="truncated"):
        list(files.iter_decode(cut))


def test_cli_start_frames_and_out_of_range(clip12, tmp_path):
    path, _ = clip12
    p = run_cli("decode", str(path), "-o", str(tmp_path / "p.y4m"), "--start", "5", "--frames", "3")
    assert p.returncode == 0 and "decoded 3 frames" in p.stderr
    p = run_cli("decode", str(path), "-o", str(tmp_path / "q.y4m"), "--start", "99")
    assert p.returncode == 1 and "outside" in p.stderr and not (tmp_path / "q.y4m").exists()


def test_conceal_repeats_last_good_frame_and_reports(clip12, tmp_path):
    path, full = clip12
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        header = read_header(f)
        index = read_index(f, header, len(data))
    data[index[1].offset + 20] ^= 0x10  # damage chunk 2 (frames 4-7)
    bad = tmp_path / "bad.vtc"
    bad.write_bytes(bytes(data))
    p = run_cli("decode", str(bad), "-o", str(tmp_path / "x.y4m"))
    assert p.returncode == 1 and "frames 4-7" in p.stderr and "CRC" in p.stderr
    damage: list = []
    out = np.concatenate(list(files.iter_decode(bad, conceal=True, damage=damage)))
    assert [(d.first, d.count) for d in damage] == [(4, 4)]
    assert np.array_equal(out[:4], full[:4]) and np.array_equal(out[8:], full[8:])
    assert all(np.array_equal(out[i], full[3]) for i in range(4, 8))
    p = run_cli("decode", str(bad), "-o", str(tmp_path / "y.y4m"), "--conceal")
    assert p.returncode == 0 and "concealed frames 4-7" in p.stderr and "decoded 12 frames" in p.stderr


def test_every_single_byte_corruption_of_a_payload_is_detected(clip12):
    path, _ = clip12
    data = path.read_bytes()
    with open(path, "rb") as f:
        header = read_header(f)
        index = read_index(f, header, len(data))
    first = index[0]
    payload_start, payload_end = first.offset + 15, index[1].offset - 4
    for pos in range(payload_start, payload_end):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises(vtcodec.CorruptChunk, match="frames 0-3"):
            list(files.iter_decode(_tmp(bad)))


_SCRATCH = tempfile.TemporaryDirectory()


def _tmp(data: bytes) -> Path:
    """Write ``data`` to one scratch file (reused, removed with the test process)."""
    path = Path(_SCRATCH.name) / "fuzz.vtc"
    path.write_bytes(bytes(data))
    return path


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang


SEEDS = [p.read_bytes() for p in sorted(VALID.glob("0[2-7]*.vtc"))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SEEDS) - 1), st.integers(0, len(SEEDS) - 1),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
       st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(["mutate", "truncate", "splice"]))
def test_fuzzed_streams_end_in_a_clear_error_or_frames(a, b, flips, cut, cut2, how):
    data = bytearray(SEEDS[a])
    if how == "mutate":
        for pos, value in flips:
            data[pos % len(data)] = value
    elif how == "truncate":
        data = data[:cut % (len(data) + 1)]
    else:
        other = SEEDS[b]
        data = data[:cut % (len(data) + 1)] + other[cut2 % (len(other) + 1):]
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        dec = vtcodec.Decoder()
        dec.decode(bytes(data))
        dec.flush()
    except vtcodec.VtcError:
        pass
    finally:
        signal.alarm(0)
    # the file reader too (index, resync with conceal)
    signal.alarm(20)
    try:
        list(files.iter_decode(_tmp(data), conceal=True))
    except vtcodec.VtcError:
        pass
    finally:
        signal.alarm(0)


def test_end_chunk_size_is_fixed():
    data = (VALID / "02-bsq-tiny-model-64x48-6f.vtc").read_bytes()
    assert data[-END_SIZE:-END_SIZE + 4] == b"VTCK" and data[-END_SIZE + 4] == 2
    header = read_header(io.BytesIO(data))
    assert header.frame_count == 6


def test_decoder_pixel_limit_refuses_before_work(monkeypatch):
    data = (VALID / "07-gop-3-multi-chunk-10f.vtc").read_bytes()
    monkeypatch.setenv("VTCODEC_MAX_PIXELS", str(31 * 24))  # the vector is 32x24
    with pytest.raises(vtcodec.FormatError, match="VTCODEC_MAX_PIXELS"):
        vtcodec.Decoder().decode(data)
    with pytest.raises(vtcodec.FormatError, match="limit"):
        list(files.iter_decode(VALID / "07-gop-3-multi-chunk-10f.vtc"))
    monkeypatch.setenv("VTCODEC_MAX_PIXELS", str(32 * 24))
    assert len(vtcodec.decompress(data)) == 10
