"""Batch jobs (``vtcodec batch``): outputs, manifest, resuming, failures, and workers that die
(locally and on Ray), every output byte-identical to a plain ``vtcodec encode``."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY, cli, run_cli, synth_frames, write_clip

from vtcodec import VtcError, batch, encode_file

SETTINGS = ("--model", TINY, "--gop", "3")


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    """Four small clips, one in a subfolder, and one file that is not a video."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    for i, (name, w, h) in enumerate([("a.y4m", 64, 48), ("b.mkv", 48, 32), ("sub/c.y4m", 40, 40),
                                      ("d.mkv", 56, 24)]):
        write_clip(root / name, synth_frames(w, h, 7, seed=i))
    (root / "notes.mp4").write_bytes(b"this is not a video")
    return root


def serial(src: Path, dst: Path, gop: int = 3, **kw) -> bytes:
    """``vtcodec encode`` of one file in this process (SETTINGS unless told otherwise)."""
    encode_file(src, dst, model=TINY, gop=gop, **kw)
    return dst.read_bytes()


def rows(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text().splitlines()]


def test_plan_mirrors_folders_and_refuses_two_inputs_for_one_output(videos, tmp_path):
    tasks = batch.plan("encode", [str(videos)], tmp_path / "out")
    outs = sorted(Path(t.output).relative_to(tmp_path / "out").as_posix() for t in tasks)
    assert outs == ["a.vtc", "b.vtc", "d.vtc", "notes.vtc", "sub/c.vtc"]
    assert all(Path(t.input).is_absolute() for t in tasks)
    with pytest.raises(VtcError, match="would both write"):
        batch.plan("encode", [str(videos / "a.y4m"), str(videos / "sub"), str(videos / "sub/c.y4m"),
                              str(videos / "a.y4m")], tmp_path / "out")
    pngs = batch.plan("decode", [str(tmp_path / "x.vtc")], tmp_path / "out", suffix="/")
    assert pngs[0].output == str(tmp_path / "out" / "x") + "/"


def test_batch_encodes_reports_the_failure_and_resumes(videos, tmp_path):
    out = tmp_path / "out"
    p = cli("batch", "encode", str(videos), "-o", str(out), "--jobs", "2", *SETTINGS)
    assert p.returncode == 1
    assert "failed: " in p.stderr and "notes.mp4" in p.stderr and "not a video" in p.stderr
    assert "4 of 5 files encoded, 1 failed" in p.stderr and "2 local workers" in p.stderr
    first = rows(out / "manifest.jsonl")
    assert sorted(r["status"] for r in first) == ["done"] * 4 + ["failed"]
    for r in first:
        assert set(r) >= {"input", "output", "status", "bytes", "bpp", "seconds", "error", "frames"}
        if r["status"] == "done":
            assert Path(r["output"]).stat().st_size == r["bytes"] and r["error"] is None and r["bpp"] > 0
            assert Path(r["output"]).read_bytes() == serial(Path(r["input"]), tmp_path / "ref.vtc", force=True)
    # again: the four are done, the failure is tried again (and fails again)
    with (out / "manifest.jsonl").open("a") as f:
        f.write('{"input": "cut short by a ki')
    p = cli("batch", "encode", str(videos), "-o", str(out), *SETTINGS)
    assert p.returncode == 1 and "4 done before, 1 failed" in p.stderr
    assert len(rows_after := [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()
                              if x.startswith("{") and x.endswith("}")]) == 6
    assert rows_after[-1]["status"] == "failed"
    # other settings are other outputs: without -f the existing files are not replaced
    p = cli("batch", "encode", str(videos / "a.y4m"), "-o", str(out), "--model", TINY, "--quality", "3")
    assert p.returncode == 1 and "exists" in p.stderr
    p = cli("batch", "encode", str(videos / "a.y4m"), "-o", str(out), "--model", TINY, "--quality", "3", "-f")
    assert p.returncode == 0, p.stderr
    assert (out / "a.vtc").read_bytes() == serial(videos / "a.y4m", tmp_path / "q3.vtc", gop=32, quality=3)


def test_batch_decode_and_bad_arguments(videos, tmp_path):
    fifo = tmp_path / "fifo"  # a list or manifest that would block: refused, not waited on
    os.mkfifo(fifo)
    coded = tmp_path / "coded"
    assert cli("batch", "encode", str(videos / "sub"), "-o", str(coded), *SETTINGS).returncode == 0
    p = cli("batch", "decode", str(coded), "-o", str(tmp_path / "dec"), "--format", "y4m", "--jobs", "2")
    assert p.returncode == 0, p.stderr
    assert "1 of 1 files decoded" in p.stderr
    assert cli("decode", str(coded / "c.vtc"), "-o", str(tmp_path / "c.y4m")).returncode == 0
    assert (tmp_path / "dec" / "c.y4m").read_bytes() == (tmp_path / "c.y4m").read_bytes()
    for args, message in [(["batch", "encode", "-o", str(tmp_path / "x")], "no inputs"),
                          (["batch", "encode", str(videos), "-o", str(tmp_path / "x"), "-q", "17"], "quality"),
                          (["batch", "encode", str(videos), "-o", str(tmp_path / "x"), "--jobs", "0"], "jobs"),
                          (["batch", "decode", str(coded), "-o", str(tmp_path / "x"), "--format", "avi"], "--format"),
                          (["batch", "encode", str(tmp_path), "-o", str(tmp_path / "x"), "--from", str(tmp_path / "nope")],
                           "cannot read"),
                          (["batch", "encode", "-o", str(tmp_path / "x"), "--from", str(fifo)], "regular file"),
                          (["batch", "encode", str(videos), "-o", str(tmp_path / "x"), "--manifest", str(tmp_path)],
                           "regular file")]:
        p = cli(*args)
        assert p.returncode != 0 and message in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)


def test_a_killed_batch_continues_where_it_stopped(videos, tmp_path):
    out = tmp_path / "out"
    args = ("batch", "encode", str(videos), "-o", str(out), "--preset", "slow", *SETTINGS)
    proc = subprocess.Popen([sys.executable, "-m", "vtcodec", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (manifest.exists() and manifest.read_text().count("\n") >= 1):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = [r for r in rows(manifest) if r["status"] == "done"]
    assert 1 <= len(done_before) < 4
    p = run_cli(*args)
    assert p.returncode == 1 and f"{len(done_before)} done before" in p.stderr, p.stderr
    final = {r["input"]: r for r in rows(manifest)}
    assert sum(r["status"] == "done" for r in final.values()) == 4
    for r in done_before:  # not coded again
        assert sum(x["input"] == r["input"] for x in rows(manifest)) == 1
    assert not [f for f in out.rglob(".*") if f.name != "manifest.jsonl"]  # no temporary files left
    for r in final.values():
        if r["status"] == "done":
            assert Path(r["output"]).read_bytes() == serial(Path(r["input"]), tmp_path / "ref.vtc",
                                                            force=True, preset="slow")


def _kill_one(find, delay: float, stop: threading.Event, killed: list) -> None:
    """Kill the first process ``find()`` returns, ``delay`` seconds after it is found."""
    while not stop.is_set() and not killed:
        pids = find()
        if pids:
            time.sleep(delay)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        time.sleep(0.02)


def _run_with_a_kill(tasks, manifest, runner, find, delay: float = 0.0) -> tuple[batch.Summary, list]:
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one, args=(find, delay, stop, killed))
    killer.start()
    try:
        summary = batch.run(tasks, manifest, runner)
    finally:
        stop.set()
        killer.join()
    return summary, killed


def _check_complete(summary, manifest: Path, tasks, tmp_path) -> None:
    assert summary.done == len(tasks) and summary.failed == 0
    final = {r["input"]: r for r in rows(manifest)}
    assert len(final) == len(tasks) and all(r["status"] == "done" for r in final.values())
    for t in tasks:
        assert Path(t.output).read_bytes() == serial(Path(t.input), tmp_path / "ref.vtc", force=True,
                                                     preset="slow")


def test_local_workers_that_die_are_replaced(videos, tmp_path):
    names = [str(videos / n) for n in ("a.y4m", "b.mkv", "sub/c.y4m", "d.mkv")]
    tasks = batch.plan("encode", names, tmp_path / "out", {"model": TINY, "gop": 3, "preset": "slow"})
    # a worker killed while it starts (tasks already waiting for it) breaks the pool like one
    # killed in the middle of a file: every task then in flight is tried again in a new pool
    summary, killed = _run_with_a_kill(tasks, tmp_path / "m.jsonl", batch.LocalRunner(2, retries=2),
                                       lambda: [p.pid for p in multiprocessing.active_children()], delay=0.3)
    assert killed
    _check_complete(summary, tmp_path / "m.jsonl", tasks, tmp_path)
    assert max(r.get("attempts") or 1 for r in rows(tmp_path / "m.jsonl")) == 2


def _ray_task_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::_ray_task"):
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def test_ray_batch_survives_a_killed_worker(videos, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vtcodec[ray]')")
    names = [str(videos / n) for n in ("a.y4m", "b.mkv", "sub/c.y4m", "d.mkv")]
    tasks = batch.plan("encode", names, tmp_path / "out", {"model": TINY, "gop": 3, "preset": "slow"})
    try:
        runner = batch.RayRunner("local", threads=1, retries=2, jobs=2)
        assert "2 CPUs" in runner.where
        # a worker's title is ray::_ray_task only while it runs one: killed at once, mid-file
        summary, killed = _run_with_a_kill(tasks, tmp_path / "m.jsonl", runner, _ray_task_pids)
    finally:
        ray.shutdown()
    assert killed
    _check_complete(summary, tmp_path / "m.jsonl", tasks, tmp_path)


def test_ray_addresses_that_cannot_work_fail_at_once(videos, tmp_path):
    """Ray itself waits minutes for an address that does not answer; the batch says so in seconds."""
    import importlib.util

    have_ray = importlib.util.find_spec("ray") is not None
    for address, message in [("127.0.0.1:1", "cannot reach a Ray cluster there"),
                             ("no-port", "expected auto, local, HOST:PORT")]:
        t0 = time.time()
        p = cli("batch", "encode", str(videos / "a.y4m"), "-o", str(tmp_path / "o"), "--ray", address)
        assert p.returncode == 1 and (message if have_ray else "pip install") in p.stderr, p.stderr
        assert time.time() - t0 < 30 and not (tmp_path / "o" / "a.vtc").exists()
