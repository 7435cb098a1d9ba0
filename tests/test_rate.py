"""Quality ladder and target-rate mode: rate control alone (a fake coder), then through the codec.
Quality claims (PSNR per level, hysteresis savings) are measured by benchmarks/, not here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import DEV, TINY, cli, write_clip
from vtcodec.bitstream import SCALE_MAX, SCALE_MIN, SCALE_ONE

from vtcodec import codec
from vtcodec.codec import compress, decompress
from vtcodec.demo import carphone_path
from vtcodec.rate import QUALITIES, RateControl, quality_scale
from vtcodec.video import read_video


def fake_coder(bits_at_128: float, calls: list):
    """A chunk whose payload grows 2^(1/8) per step of k, as the real grids roughly do."""

    def code(k: int):
        calls.append(k)
        return (k, b"x" * max(1, round(bits_at_128 * 2 ** ((k - SCALE_ONE) / 8) / 8)), 0.0)

    return code


def test_trials_converge_on_the_share_from_the_chunk_alone():
    rc = RateControl(bits_per_frame=4000)
    calls: list = []
    trials = RateControl.trials(rc.share(8), fake_coder(8 * 4000 * 2, calls))  # twice the share at k=128
    assert calls[0] == SCALE_ONE and len(calls) <= RateControl.TRIALS and set(trials) == set(calls)
    k = rc.pick(8, trials)
    assert k == SCALE_ONE - 8 and rc.note == ""
    assert abs(8 * len(trials[k][1]) / rc.share(8) - 1) < 0.1
    # the next chunk's trials start from k=128 again (they depend on that chunk alone)
    calls.clear()
    RateControl.trials(rc.share(8), fake_coder(8 * 4000 * 2, calls))
    assert calls[0] == SCALE_ONE


def test_trials_bracket_the_share_with_adjacent_scales():
    for bits_at_128 in (1.1e4, 3e4, 2.2e5, 4.5e5):  # all reachable within k = 96..144
        trials = RateControl.trials(30000, fake_coder(bits_at_128, []))
        sizes = {k: 8 * len(v[1]) for k, v in trials.items()}
        near = [k for k, b in sizes.items() if abs(b / 30000 - 1) <= RateControl.TOLERANCE]
        under = [k for k, b in sizes.items() if b <= 30000]
        over = [k for k, b in sizes.items() if b > 30000]
        assert near or (under and over and min(over) - max(under) == 1), sizes


def test_picks_pay_back_each_chunks_error():
    """Error diffusion: over many chunks of changing content the file stays within about one
    step of one chunk's bits of its target, where picking each chunk alone drifts."""
    rng = np.random.default_rng(0)
    rc = RateControl(bits_per_frame=5000)
    total = alone = 0
    for i in range(200):
        trials = RateControl.trials(rc.share(8), fake_coder(float(rng.uniform(1e4, 2e5)), []))
        k = rc.pick(8, trials)
        total += RateControl.FRAMING + 8 * len(trials[k][1])
        nearest = min(trials, key=lambda j: abs(np.log2(8 * len(trials[j][1]) / rc.share(8))))
        alone += RateControl.FRAMING + 8 * len(trials[nearest][1])
        assert abs(total - rc.target) <= 0.1 * 8 * 5000, i  # a tenth of one chunk's budget
    assert abs(total / rc.target - 1) < 0.002
    assert abs(alone - rc.target) > abs(total - rc.target)


def test_rate_control_clamps_and_says_so():
    low = RateControl(bits_per_frame=10)
    k = low.pick(8, RateControl.trials(low.share(8), fake_coder(1e6, [])))
    assert k == SCALE_MIN and "lowest quality" in low.note
    high = RateControl(bits_per_frame=1e9)
    k = high.pick(8, RateControl.trials(high.share(8), fake_coder(100, [])))
    assert k == SCALE_MAX and "highest quality" in high.note


def test_target_rate_refines_only_the_chosen_scale(monkeypatch):
    src, info = read_video(DEV / "foreman_qcif_10f.mkv", 6)
    calls = []
    real = codec.ChunkCoder.code

    def spy(self, frames, k, refine=True):
        calls.append((k, refine))
        return real(self, frames, k, refine)

    monkeypatch.setattr(codec.ChunkCoder, "code", spy)
    enc = codec.Encoder(src.shape[2], src.shape[1], info.fps, bpp=0.1, gop=3, preset="slow", model=TINY)
    b"".join(enc.encode(f) for f in src) + enc.flush()
    finals = [k for k, refine in calls if refine]
    assert finals == enc.stats.scales and len(calls) > len(finals)


def test_rate_control_refuses_a_bad_target():
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(codec.VtcError, match="positive"):
            RateControl(bad)


def test_every_quality_level_costs_more_than_the_one_below():
    src, _ = read_video(DEV / "foreman_qcif_10f.mkv", 2)
    sizes = [len(compress(src, quality=q, model=TINY)) for q in QUALITIES]
    assert all(a < b for a, b in itertools.pairwise(sizes)), sizes
    assert [quality_scale(q) for q in (1, 6, 10)] == [108, 128, 144]


def test_target_rate_through_the_codec():
    src, info = read_video(carphone_path(), 16)
    pixels = src.shape[0] * src.shape[1] * src.shape[2]
    enc = codec.Encoder(src.shape[2], src.shape[1], info.fps, bpp=0.06, gop=8)
    data = b"".join(enc.encode(f) for f in src) + enc.flush()
    assert abs(len(data) * 8 / pixels / 0.06 - 1) < 0.15 and enc.stats.note == ""
    enc = codec.Encoder(src.shape[2], src.shape[1], info.fps, bpp=1e-5, model=TINY)  # unreachable
    data = b"".join(enc.encode(f) for f in src[:4]) + enc.flush()
    assert "lowest quality" in enc.stats.note and set(enc.stats.scales) == {SCALE_MIN}
    assert decompress(data).shape == src[:4].shape


def test_bitrate_option_and_info(tmp_path):
    src, _ = read_video(carphone_path(), 8)
    clip = write_clip(tmp_path / "c.y4m", src)
    p = cli("encode", str(clip), "-o", str(tmp_path / "a.vtc"), "--bitrate", "30k", "--gop", "4", "--model", TINY)
    assert p.returncode == 0, p.stderr
    p = cli("info", str(tmp_path / "a.vtc"))
    assert p.returncode == 0 and "target-rate mode" in p.stdout and "k=" in p.stdout
    assert decompress((tmp_path / "a.vtc").read_bytes()).shape == src.shape


@pytest.mark.parametrize("model", [TINY, codec.DEFAULT_MODEL])
def test_scaled_grids_round_trip_at_odd_sizes(model):
    from vtcodec.synth import moving_pattern

    frames = moving_pattern(37, 23, 3, seed=3)
    for q in (1, 10):
        out = decompress(compress(frames, quality=q, model=model))
        assert out.shape == frames.shape


def test_fake_coder_is_monotone():  # the premise of the rate-control tests above
    sizes = [len(fake_coder(8000, [])(k)[1]) for k in range(SCALE_MIN, SCALE_MAX + 1)]
    assert all(a <= b for a, b in itertools.pairwise(sizes)) and np.ptp(sizes) > 0
