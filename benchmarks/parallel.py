"""Chunk-parallel coding: wall time of ``encode``/``decode`` with 1 job and with N (``--jobs``),
and a check that the bytes and frames are the same.

    python benchmarks/parallel.py ../shared/data/train/intel_sv_bottle_detection_640x360.mp4 \
        --frames 64 --presets medium,veryslow --jobs 2 [--jobs 8 --jobs 16]

Each row is one command's wall time, worker start-up included (spawned processes import torch and
load the model: about 1.3 s on a 2-core CPU). With one job torch uses every core; with N, each worker gets the
cores shared out (``vtcodec.workers.threads_per_worker``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from vtcodec import encode_file
from vtcodec.files import iter_decode
from vtcodec.video import read_video
from vtcodec.workers import cpu_count, threads_per_worker


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--presets", default="medium,veryslow")
    ap.add_argument("--jobs", type=int, action="append", help="worker counts to compare with 1 (repeatable) [2]")
    ap.add_argument("--gop", type=int, default=32)
    ap.add_argument("--json")
    args = ap.parse_args()
    counts = args.jobs or [2]
    tmp = Path(tempfile.mkdtemp(prefix="vtc-par-"))
    src, info = read_video(args.clip, args.frames)
    clip = tmp / "clip.y4m"
    _write_y4m(clip, src, info.fps)  # the frames once, so that every run reads the same input fast
    print(f"{Path(args.clip).name}: {len(src)} frames {src.shape[2]}x{src.shape[1]}, gop {args.gop}; "
          f"{cpu_count()} cores", flush=True)
    rows = []
    for preset in args.presets.split(","):
        ref = None
        for jobs in [1, *counts]:
            out = tmp / f"{preset}-{jobs}.vtc"
            t0 = time.perf_counter()
            encode_file(clip, out, preset=preset, gop=args.gop, jobs=jobs, force=True)
            enc_s = time.perf_counter() - t0
            data = out.read_bytes()
            t0 = time.perf_counter()
            frames = np.concatenate(list(iter_decode(out, jobs=jobs)))
            dec_s = time.perf_counter() - t0
            digest = (hashlib.sha256(data).hexdigest(), hashlib.sha256(frames.tobytes()).hexdigest())
            ref = ref or (digest, enc_s, dec_s)
            row = {"preset": preset, "jobs": jobs, "threads_per_worker": threads_per_worker(jobs) if jobs > 1 else None,
                   "encode_s": round(enc_s, 2), "encode_fps": round(len(src) / enc_s, 3),
                   "encode_speedup": round(ref[1] / enc_s, 2), "decode_s": round(dec_s, 2),
                   "decode_speedup": round(ref[2] / dec_s, 2), "bytes": len(data), "same_as_one_job": digest == ref[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("| preset | jobs | encode s | encode fps | speed-up | decode s | speed-up | same bytes and frames |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['jobs']} | {r['encode_s']} | {r['encode_fps']} | {r['encode_speedup']}x "
              f"| {r['decode_s']} | {r['decode_speedup']}x | {'yes' if r['same_as_one_job'] else 'NO'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    for f in tmp.iterdir():
        f.unlink()
    os.rmdir(tmp)


def _write_y4m(path: Path, frames: np.ndarray, fps) -> None:
    from vtcodec.video import VideoWriter

    w = VideoWriter(str(path), frames.shape[2], frames.shape[1], fps, "420", 5, 1)
    for f in frames:
        w.write(f)
    w.close()


if __name__ == "__main__":
    main()
