"""Encoder presets (latent refinement, vtcodec/refine.py): bits, quality and encoding speed per
preset, and the refinement's settings (MS-SSIM weight, steps, rate slope) tried in their place.

    python benchmarks/refine.py ../shared/data/dev/reds_demo000_lr_320x180.mkv --frames 4 \
        --qualities 4 --presets medium,slow --weights 0,0.02,0.3
    python benchmarks/refine.py ../shared/data/dev/openh264_ciscovt2people_320x192_12fps.mkv \
        --frames 9 --qualities 5,8 --presets slow --steps 5,30 --rate-slopes 0,0.3,0.5
    python benchmarks/refine.py ../shared/data/dev/foreman_qcif_10f.mkv --frames 4 --model vt1e-fsq \
        --qualities 12,16 --presets medium,slow,veryslow      # a layered model: its layer refined too
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

from vtcodec import codec, metrics
from vtcodec.codec import decompress
from vtcodec.presets import PRESETS
from vtcodec.video import read_video


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--model", default=None, help="model or layer name (default: the bundled default)")
    ap.add_argument("--qualities", default="4,6,8")
    ap.add_argument("--presets", default="medium,slow,veryslow")
    ap.add_argument("--weights", default="", help="MS-SSIM weights to try (default: the codec's)")
    ap.add_argument("--steps", default="", help="refinement steps to try (default: the preset's)")
    ap.add_argument("--rate-slopes", default="", help="rate slopes to try (default: the preset's)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    weights = [float(x) for x in args.weights.split(",") if x] or [None]
    steps = [int(x) for x in args.steps.split(",") if x] or [None]
    slopes = [float(x) for x in args.rate_slopes.split(",") if x] or [None]
    variants = list(itertools.product(weights, steps, slopes))
    rows = []
    print("| clip | quality | preset | MS-SSIM weight | steps | rate slope | bpp | PSNR-RGB | MS-SSIM-RGB | encode fps |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        src, info = read_video(clip, args.frames)
        for q in (int(x) for x in args.qualities.split(",")):
            for preset in args.presets.split(","):
                base = PRESETS[preset]
                for wt, n, slope in variants if base.refine_steps else [(None, None, None)]:
                    p = replace(base, ms_weight=base.ms_weight if wt is None else wt,
                                refine_steps=base.refine_steps if n is None else n,
                                rate_slope=base.rate_slope if slope is None else slope)
                    enc = codec.Encoder(info.width, info.height, info.fps, quality=q, preset=p,
                                        **({"model": args.model} if args.model else {}))
                    t0 = time.perf_counter()
                    data = b"".join(enc.encode(f) for f in src) + enc.flush()
                    seconds = time.perf_counter() - t0
                    dec = decompress(data)
                    row = {"clip": Path(clip).name, "quality": q, "preset": preset,
                           "ms_weight": p.ms_weight if p.refine_steps else None,
                           "steps": p.refine_steps, "rate_slope": p.rate_slope,
                           "bpp": len(data) * 8 / src[..., 0].size, "psnr_rgb": metrics.psnr(src, dec),
                           "msssim_rgb": metrics.msssim(src, dec), "encode_fps": len(src) / seconds}
                    rows.append(row)
                    print(f"| {row['clip']} | {q} | {preset} | {row['ms_weight'] if row['ms_weight'] is not None else '-'} | "
                          f"{row['steps']} | {row['rate_slope']} | "
                          f"{row['bpp']:.4f} | {row['psnr_rgb']:.2f} | {row['msssim_rgb']:.4f} | {row['encode_fps']:.1f} |",
                          flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
