"""Encode / decode speed (frames per second) of vtcodec at a given size on this machine.

    python benchmarks/speed.py ../shared/data/dev/vid4_walk_720x480.mkv --size 640x360 --frames 32

The input is scaled to --size (area filter) and written as .y4m first; the timed runs are the
library's encode_file / decode_file (video I/O included), after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vtcodec import files
from vtcodec.video import VideoReader, VideoWriter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--model", default="vt1-fsq")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.y4m"
        reader = VideoReader(args.input, size=(w, h))
        frames = list(reader)
        while len(frames) < args.frames:  # loop short clips (forward, backward)
            frames += frames[::-1]
        writer = VideoWriter(str(src), w, h, reader.info.fps)
        for f in np.stack(frames[:args.frames]):
            writer.write(f)
        writer.close()
        files.encode_file(src, Path(tmp) / "warm.vtc", model=args.model, force=True)
        t = time.perf_counter()
        enc = files.encode_file(src, Path(tmp) / "a.vtc", model=args.model, force=True)
        t_enc = time.perf_counter() - t
        t = time.perf_counter()
        files.decode_file(Path(tmp) / "a.vtc", Path(tmp) / "b.y4m", force=True)
        t_dec = time.perf_counter() - t
    res = {"size": args.size, "frames": args.frames, "threads": torch.get_num_threads(),
           "encode_fps": args.frames / t_enc, "decode_fps": args.frames / t_dec, "bpp": enc.bpp}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
