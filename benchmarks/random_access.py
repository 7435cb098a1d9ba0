"""Random access: time to decode frames START..START+N of a long file vs the whole file.

    python benchmarks/random_access.py ../shared/data/dev/vid4_walk_720x480.mkv --size 640x360 \
        --frames 300 --start 120 --count 30
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from vtcodec import files
from vtcodec.video import VideoReader, VideoWriter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--start", type=int, default=120)
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--gop", type=int, default=32)
    ap.add_argument("--model", default="vt1-fsq")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    base = np.stack(list(VideoReader(args.input, size=(w, h))))
    loop = np.concatenate([base, base[::-1]])
    with tempfile.TemporaryDirectory() as tmp:
        src, vtc = Path(tmp) / "in.y4m", Path(tmp) / "a.vtc"
        writer = VideoWriter(str(src), w, h, 25)
        for i in range(args.frames):
            writer.write(loop[i % len(loop)])
        writer.close()
        files.encode_file(src, vtc, model=args.model, gop=args.gop)
        t = time.perf_counter()
        full = sum(len(f) for f in files.iter_decode(vtc))
        t_full = time.perf_counter() - t
        t = time.perf_counter()
        part = sum(len(f) for f in files.iter_decode(vtc, start=args.start, frames=args.count))
        t_part = time.perf_counter() - t
    print(json.dumps({"frames": full, "range": f"{args.start}-{args.start + part - 1}", "gop": args.gop,
                      "whole_s": round(t_full, 2), "range_s": round(t_part, 2),
                      "speedup": round(t_full / t_part, 2)}))


if __name__ == "__main__":
    main()
