"""Token hysteresis (``Preset.margin``): bits and quality at several margins and qualities.

    python benchmarks/hysteresis.py ../shared/data/dev/foreman_qcif_10f.mkv \
        ../shared/data/dev/reds_demo000_lr_320x180.mkv --frames 32 --margins 0,0.15,0.3
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--margins", default="0,0.15,0.3")
    ap.add_argument("--qualities", default="4,6,8")
    args = ap.parse_args()
    print("| clip | margin | quality | bpp | PSNR-RGB | MS-SSIM-RGB |")
    print("|---|---|---|---|---|---|")
    for clip in args.clips:
        src, info = read_video(clip, args.frames)
        for m in (float(x) for x in args.margins.split(",")):
            for q in (int(x) for x in args.qualities.split(",")):
                enc = codec.Encoder(info.width, info.height, info.fps, quality=q,
                                    preset=replace(PRESETS["medium"], margin=m))
                data = b"".join(enc.encode(f) for f in src) + enc.flush()
                dec = decompress(data)
                print(f"| {Path(clip).name} | {m} | {q} | {len(data) * 8 / src[..., 0].size:.4f} | "
                      f"{metrics.psnr(src, dec):.2f} | {metrics.msssim(src, dec):.4f} |", flush=True)


if __name__ == "__main__":
    main()
