"""Bits per frame on a static camera: does a still background cost close to nothing after the
first frame of each chunk? Prints the cost of each frame (its share of the chunk's coded bits,
from the prior's -log2 p, which the range coder matches within 0.1%) and writes JSON.

    python benchmarks/static_scene.py ../shared/data/train/opencv_vtest_768x576.avi --frames 64
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from vtcodec import codec, rate
from vtcodec.presets import PRESETS
from vtcodec.video import read_video


def frame_bits(enc: codec.Encoder, frames: np.ndarray, r: int) -> np.ndarray:
    """-log2 p of each frame's symbols under the prior, for one chunk coded at rung r."""
    symbols = enc.tokenize(frames, r)
    return enc.coder.frame_bits(symbols, enc.ladder.rung(r)[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--gop", type=int, default=32)
    ap.add_argument("--quality", type=int, default=rate.DEFAULT_QUALITY)
    ap.add_argument("--model", default=codec.DEFAULT_MODEL)
    ap.add_argument("--margin", type=float, default=None, help="token hysteresis (default: the encoder's)")
    ap.add_argument("--json")
    args = ap.parse_args()
    src, info = read_video(args.video, args.frames)
    preset = PRESETS["medium"] if args.margin is None else replace(PRESETS["medium"], margin=args.margin)
    enc = codec.Encoder(info.width, info.height, info.fps, quality=args.quality, model=args.model,
                        preset=preset)
    r = enc.ladder.quality(args.quality)
    bits = np.concatenate([frame_bits(enc, src[i:i + args.gop], r) for i in range(0, len(src), args.gop)])
    first = bits[::args.gop]
    later = np.delete(bits, np.arange(0, len(bits), args.gop))
    row = {"video": Path(args.video).name, "size": f"{info.width}x{info.height}", "frames": len(bits),
           "gop": args.gop, "quality": args.quality, "margin": preset.margin,
           "first_frame_bits": float(first.mean()), "later_frame_bits": float(later.mean()) if len(later) else None,
           "later_over_first": float(later.mean() / first.mean()) if len(later) else None,
           "bits_per_frame": [round(float(b), 1) for b in bits]}
    print(f"{row['video']} {row['size']}, {row['frames']} frames, gop {args.gop}, quality {args.quality}, "
          f"token hysteresis margin {preset.margin}")
    print(f"first frame of a chunk: {row['first_frame_bits']:.0f} bits "
          f"({row['first_frame_bits'] / (info.width * info.height):.4f} bpp)")
    if later.size:
        print(f"later frames (mean):    {row['later_frame_bits']:.0f} bits "
              f"({row['later_frame_bits'] / (info.width * info.height):.4f} bpp) = "
              f"{100 * row['later_over_first']:.1f}% of the first")
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    sys.exit(main())
