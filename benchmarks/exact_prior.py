"""What the exact prior's float32 path buys (models/intnet.py): each clip coded once per quality,
then (after a warm-up) encoded and decoded with every layer of the integer networks in float64
and with float32 where the exactness bound allows it (the default), alternately, ``--repeats``
times each; the best time of each is kept, of the whole encode and decode and of the decode's
integer networks alone. Checks that both give the same bytes and frames, and reports the share of
layer evaluations that ran in float32 and the largest bound met, in powers of two (float32 is
used below 2**24).

    python benchmarks/exact_prior.py ../shared/data/dev/*.mkv --qualities 6,9,16 --frames 10
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from vtcodec.models import intnet

from vtcodec import codec
from vtcodec.video import read_video

SEEN = {"calls": 0, "float32": 0, "bound": 0.0, "prior_s": 0.0}


def watch() -> None:
    """Count the layer evaluations and the path each takes, and time the integer networks."""
    bound, exact, call = intnet.IntConvNet.bound, intnet.IntConvNet._float32_exact, intnet.IntConvNet.__call__

    def timed_call(self, *args):
        t0 = time.perf_counter()
        try:
            return call(self, *args)
        finally:
            SEEN["prior_s"] += time.perf_counter() - t0

    def counted_bound(self, *args):
        b = bound(self, *args)
        SEEN["bound"] = max(SEEN["bound"], b)
        return b

    def counted_exact(self, *args):
        ok = exact(self, *args)
        SEEN["calls"] += 1
        SEEN["float32"] += ok
        return ok

    intnet.IntConvNet.bound = counted_bound
    intnet.IntConvNet._float32_exact = counted_exact
    intnet.IntConvNet.__call__ = timed_call


def run(frames: np.ndarray, fps, model: str, quality: int) -> tuple[bytes, np.ndarray, float, float]:
    t0 = time.perf_counter()
    data = codec.compress(frames, model=model, quality=quality, fps=fps)
    enc_s = time.perf_counter() - t0
    SEEN["prior_s"] = 0.0  # the decode's alone
    t0 = time.perf_counter()
    out = codec.decompress(data)
    return data, out, enc_s, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--model", default=codec.DEFAULT_MODEL)
    ap.add_argument("--qualities", default="6,9,16")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    watch()
    allowed = intnet.float32_matmul_is_exact
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}")
    print("| clip | quality | bpp | encode s float64 / mixed | decode s float64 / mixed | decode speed-up "
          "| decode's integer nets s float64 / mixed | float32 layer calls | largest bound | same bytes, frames |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        frames, info = read_video(clip, max_frames=args.frames)
        for q in (int(v) for v in args.qualities.split(",")):
            best = {"float64": [math.inf] * 3, "mixed": [math.inf] * 3}
            results = {}
            run(frames[:2], info.fps, args.model, q)  # warm-up: models loaded, kernels chosen
            for _ in range(args.repeats):
                for mode in ("float64", "mixed"):
                    # float64: as before the float32 path, the bound not even computed
                    intnet.float32_matmul_is_exact = (lambda device: False) if mode == "float64" else allowed
                    SEEN.update(calls=0, float32=0, bound=0.0)
                    data, out, enc_s, dec_s = run(frames, info.fps, args.model, q)
                    best[mode] = [min(best[mode][0], enc_s), min(best[mode][1], dec_s),
                                  min(best[mode][2], SEEN["prior_s"])]
                    results[mode] = (data, out, dict(SEEN))
            intnet.float32_matmul_is_exact = allowed
            (d64, f64, _), (dmx, fmx, seen) = results["float64"], results["mixed"]
            same = d64 == dmx and np.array_equal(f64, fmx)
            bpp = len(dmx) * 8 / frames[..., 0].size
            share = seen["float32"] / max(seen["calls"], 1)
            print(f"| {Path(clip).stem} | {q} | {bpp:.4f} | {best['float64'][0]:.2f} / {best['mixed'][0]:.2f} "
                  f"| {best['float64'][1]:.2f} / {best['mixed'][1]:.2f} | {best['float64'][1] / best['mixed'][1]:.2f}x "
                  f"| {best['float64'][2]:.2f} / {best['mixed'][2]:.2f} | {100 * share:.1f}% of {seen['calls']} | 2**{math.log2(max(seen['bound'], 1)):.2f} "
                  f"| {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
