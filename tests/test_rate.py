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

    def code(k: int, final: bool):
        calls.append((k, final))
        return (k, b"x" * max(1, round(bits_at_128 * 2 ** ((k - SCALE_ONE) / 8) / 8)), 0.0)

    return code


def test_rate_control_converges_on_the_budget_and_tracks_the_running_total():
    rc = RateControl(bits_per_frame=4000)
    calls: list = []
    k, (_, payload, _) = rc.choose(8, 0, 0, fake_coder(8 * 4000 * 2, calls))  # twice the budget at k=128
    assert k == SCALE_ONE - 8 and len(calls) <= RateControl.TRIALS
    assert abs(8 * len(payload) / rc.budget(8, 0, 0) - 1) < 0.1
    assert all(not final for _, final in calls) and rc.note == ""
    # the next chunk starts from the last k, and a deficit so far shrinks its budget
    assert rc.budget(8, 8, 8 * 4000 // 8 * 2) < rc.budget(8, 8, 0)
    calls.clear()
    rc.choose(8, 8, 4000, fake_coder(8 * 4000 * 2, calls))
    assert calls[0][0] == SCALE_ONE - 8


def test_rate_control_clamps_and_says_so():
    low = RateControl(bits_per_frame=10)
    k, _ = low.choose(8, 0, 0, fake_coder(1e6, []))
    assert k == SCALE_MIN and "lowest quality" in low.note
    high = RateControl(bits_per_frame=1e9)
    k, _ = high.choose(8, 0, 0, fake_coder(100, []))
    assert k == SCALE_MAX and "highest quality" in high.note


def test_rate_control_refines_only_the_chosen_scale():
    rc = RateControl(bits_per_frame=4000, refines=True)
    calls: list = []
    k, _ = rc.choose(8, 0, 0, fake_coder(8 * 4000, calls))
    assert calls[-1] == (k, True) and sum(final for _, final in calls) == 1


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
    sizes = [len(fake_coder(8000, [])(k, False)[1]) for k in range(SCALE_MIN, SCALE_MAX + 1)]
    assert all(a <= b for a, b in itertools.pairwise(sizes)) and np.ptp(sizes) > 0
