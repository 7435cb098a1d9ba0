from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vtcodec.synth import moving_pattern

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dev"
TINY = "vt1-bsq-tiny"  # the small bundled BSQ model: fast enough for most tests


def synth_frames(w: int, h: int, n: int, seed: int = 0) -> np.ndarray:
    return moving_pattern(w, h, n, seed)


def write_clip(path: Path, frames: np.ndarray, fps: Fraction = Fraction(25),
               pix_fmt: str = "yuv420p", codec: str | None = None) -> Path:
    """Write frames with PyAV; codec chosen from the extension unless given."""
    ext = path.suffix
    codec = codec or {".y4m": "rawvideo", ".mkv": "ffv1", ".mp4": "libx264", ".avi": "mjpeg",
                      ".webm": "libvpx-vp9", ".mov": "libx264"}[ext]
    fmt = {".y4m": "yuv4mpegpipe"}.get(ext)
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if codec == "libx264":
            s.options = {"crf": "10"}
        if codec == "libx265":
            s.options = {"x265-params": "log-level=error"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=pix_fmt)
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.y4m", synth_frames(64, 48, 5))


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command line run in this process (``vtcodec.cli.main.main``: argument parsing, error
    lines and exit codes as a user sees them), without the seconds a new interpreter and torch
    take to start. Output to ``-`` needs ``run_cli``."""
    import contextlib
    import io
    import signal

    from vtcodec.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    argv, environ = sys.argv, dict(os.environ)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    sys.argv = ["vtcodec", *args]
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
        os.environ.clear()
        os.environ.update(environ)
        for s, h in handlers.items():
            signal.signal(s, h)
    return subprocess.CompletedProcess(["vtcodec", *args], code, out.getvalue(), err.getvalue())


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "vtcodec", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=600, check=False)
