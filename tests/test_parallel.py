"""Chunk-parallel coding (``--jobs``): the same bytes and frames as one job, errors in the same
order, workers that never outlive their encoder. Wall-time speed-ups are measured by
benchmarks/parallel.py, not here."""

from __future__ import annotations

import hashlib
import multiprocessing

import numpy as np
import pytest
from conftest import DEV, TINY, cli, write_clip
from vtcodec.bitstream import chunk_spans, header_size, reseal

from vtcodec import VtcError, codec
from vtcodec.files import iter_decode
from vtcodec.video import read_video
from vtcodec.workers import Workers, threads_per_worker

FOREMAN = DEV / "foreman_qcif_10f.mkv"


@pytest.fixture(scope="module")
def foreman():
    return read_video(FOREMAN)[0]


@pytest.mark.parametrize("settings", [
    {"preset": "medium", "gop": 3},
    {"preset": "slow", "gop": 4, "quality": 8},
    {"bpp": 0.08, "gop": 3},  # target-rate mode
    {"bpp": 0.08, "gop": 4, "preset": "slow", "model": TINY},  # target rate, refining preset
])
def test_two_jobs_write_the_same_bytes_as_one(foreman, settings):
    one = codec.compress(foreman, **settings)
    two = codec.compress(foreman, jobs=2, **settings)
    assert one == two
    assert len(codec.decompress(two)) == len(foreman)


def test_encoder_with_jobs_streams_in_order(foreman):
    tokens_one, tokens_two = [], []
    one = codec.Encoder(176, 144, gop=2, model=TINY, tokens_out=tokens_one)
    two = codec.Encoder(176, 144, gop=2, model=TINY, tokens_out=tokens_two, jobs=2)
    a = b"".join(one.encode(f) for f in foreman) + one.flush()
    parts = [two.encode(f) for f in foreman] + [two.flush()]
    assert b"".join(parts) == a
    assert codec.digest_tokens(tokens_one) == codec.digest_tokens(tokens_two)
    assert two.stats.scales == one.stats.scales and two.stats.bytes == one.stats.bytes
    assert not multiprocessing.active_children()  # flush() stopped the workers


def test_abandoned_encoder_stops_its_workers(foreman):
    with codec.Encoder(176, 144, gop=2, model=TINY, jobs=2) as enc:
        for f in foreman[:5]:
            enc.encode(f)
        assert multiprocessing.active_children()
    assert not multiprocessing.active_children()
    with pytest.raises(VtcError, match="jobs must be"):
        codec.Encoder(176, 144, jobs=0)


def test_decode_jobs_gives_the_same_frames_tokens_and_files(tmp_path, foreman):
    src = write_clip(tmp_path / "f.y4m", foreman)
    assert cli("encode", str(src), "-o", str(tmp_path / "one.vtc"), "--gop", "3").returncode == 0
    p = cli("encode", str(src), "-o", str(tmp_path / "two.vtc"), "--gop", "3", "--jobs", "2")
    assert p.returncode == 0, p.stderr
    vtc = tmp_path / "one.vtc"
    assert vtc.read_bytes() == (tmp_path / "two.vtc").read_bytes()
    for rng in ({}, {"start": 2, "frames": 5}):
        outs = []
        for jobs in (1, 2):
            tokens: list = []
            frames = np.concatenate(list(iter_decode(vtc, tokens_out=tokens, jobs=jobs, **rng)))
            outs.append((hashlib.sha256(frames.tobytes()).hexdigest(), codec.digest_tokens(tokens), len(frames)))
        assert outs[0] == outs[1] and outs[0][2] == rng.get("frames", 10)
    for jobs in ("1", "2"):
        p = cli("decode", str(vtc), "-o", str(tmp_path / f"d{jobs}.y4m"), "--jobs", jobs)
        assert p.returncode == 0, p.stderr
    assert (tmp_path / "d1.y4m").read_bytes() == (tmp_path / "d2.y4m").read_bytes()
    p = cli("decode", str(vtc), "-o", str(tmp_path / "x.y4m"), "--jobs", "0")
    assert p.returncode == 1 and "jobs must be" in p.stderr


@pytest.mark.parametrize(("gop", "resealed"), [(2, True), (1, True), (1, False)])
def test_decode_jobs_reports_the_first_damage_after_the_frames_before_it(tmp_path, foreman, gop, resealed):
    """Damage found while decoding a chunk (CRC made to agree) or while reading it (CRC
    mismatch), near the end of the stream or with many chunks still to come."""
    data = bytearray(codec.compress(foreman, gop=gop, model=TINY))
    offset, size = chunk_spans(bytes(data), header_size(bytes(data)))[2]  # the third chunk
    data[offset + size // 2] ^= 0x55
    if resealed:
        reseal(data, offset)
    bad = tmp_path / "bad.vtc"
    bad.write_bytes(bytes(data))
    results = []
    for jobs in (1, 2):
        frames = 0
        with pytest.raises(VtcError) as exc:
            for batch in iter_decode(bad, jobs=jobs):
                frames += len(batch)
        results.append((frames, str(exc.value)))
    # a chunk found wrong while decoding has its frames streamed out first, with one job or two
    assert results[0] == results[1] and results[0][0] == (3 if resealed else 2) * gop, results


def test_workers_share_the_cores_and_report_a_dead_worker():
    assert threads_per_worker(1) >= threads_per_worker(2) >= 1
    w = Workers(2, _pid_state, ())
    try:
        pids = {w.result(w.submit(_pid)) for _ in range(6)}
        assert pids and all(p != 0 for p in pids)
        with pytest.raises(VtcError, match="worker process died"):
            w.result(w.submit(_die))
    finally:
        w.close()
    assert not multiprocessing.active_children()


def _pid_state():
    import os

    return os.getpid()


def _pid(state):
    return state


def _die(_state):
    import os

    os._exit(9)
