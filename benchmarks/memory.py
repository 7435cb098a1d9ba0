"""Peak resident memory of encoding and decoding a long clip (loops a source clip).

    python benchmarks/memory.py ../shared/data/dev/vid4_walk_720x480.mkv --size 640x360 --frames 300 3000
    python benchmarks/memory.py ../shared/data/dev/vid4_walk_720x480.mkv --size 1280x720 --frames 32 \
        --model vt1e-w24w-2 --quality 16      # a layered model's chunk of 32 frames (the default gop)

For each length: writes the looped clip as .y4m (forward then backward, scaled with an area
filter), then runs ``vtcodec encode`` and ``vtcodec decode`` each in a fresh process and reads
its peak resident set (``ru_maxrss`` of the child). Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vtcodec.video import VideoReader, VideoWriter


def child_peak(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a command run in its own process."""
    t = time.time()
    code = (f"import resource, subprocess, sys; r = subprocess.run({cmd!r}); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024, time.time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--model", default="vt1-fsq")
    ap.add_argument("--quality", type=int, default=None, help="vtcodec encode's --quality [its default]")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    base = np.stack(list(VideoReader(args.input, size=(w, h))))
    loop = np.concatenate([base, base[::-1]])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.frames:
            src = Path(tmp) / f"in{n}.y4m"
            writer = VideoWriter(str(src), w, h, 25)
            for i in range(n):
                writer.write(loop[i % len(loop)])
            writer.close()
            vtc, out = Path(tmp) / f"a{n}.vtc", Path(tmp) / f"b{n}.y4m"
            enc_mb, enc_s = child_peak([sys.executable, "-m", "vtcodec", "encode", str(src), "-o", str(vtc),
                                        "--model", args.model, "--quiet", "-f",
                                        *(["--quality", str(args.quality)] if args.quality else [])])
            dec_mb, dec_s = child_peak([sys.executable, "-m", "vtcodec", "decode", str(vtc), "-o", str(out),
                                        "--quiet", "-f"])
            rows.append({"frames": n, "size": args.size, "model": args.model, "quality": args.quality,
                         "encode_peak_mib": round(enc_mb, 1),
                         "decode_peak_mib": round(dec_mb, 1), "encode_s": round(enc_s, 1),
                         "decode_s": round(dec_s, 1)})
            src.unlink()
            out.unlink()
            print(json.dumps(rows[-1]), flush=True)
    print("| frames | size | encode peak RSS (MiB) | decode peak RSS (MiB) | encode s | decode s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['frames']} | {r['size']} | {r['encode_peak_mib']} | {r['decode_peak_mib']} "
              f"| {r['encode_s']} | {r['decode_s']} |")


if __name__ == "__main__":
    main()
