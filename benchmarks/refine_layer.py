"""An enhancement layer's refinement alone (vtcodec/refine.py's refine_layer): the base coded
once (medium, the source-size grid), then the layer's tokens at each level with each set of
refinement settings: bpp of base + layer, PSNR-RGB and MS-SSIM-RGB of the layered decode.

    python benchmarks/refine_layer.py ../shared/data/dev/foreman_qcif_10f.mkv --frames 4 \
        --levels 3,5,7 --variants 0:0:0,30:0.01:0.8,8:0.03:0.8      # steps:lr:rate slope
"""

from __future__ import annotations

import argparse
import time

from vtcodec import codec, metrics
from vtcodec.grid import batch_frames, from_grid
from vtcodec.presets import Preset
from vtcodec.video import read_video


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--model", default="vt1e-fsq", help="a layered model")
    ap.add_argument("--levels", default="2,4,7", help="the layer's levels (0-based)")
    ap.add_argument("--variants", default="0:0:0,30:0.01:0.8", help="steps:lr:rate slope, comma-separated")
    args = ap.parse_args()
    variants = [x.split(":") for x in args.variants.split(",")]
    print("| clip | level | steps | lr | rate slope | bpp | PSNR-RGB | MS-SSIM-RGB | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        src, info = read_video(clip, args.frames)
        w, h = info.width, info.height
        cc = codec.ChunkCoder(w, h, args.model)
        if cc.layered is None:
            raise SystemExit(f"{args.model} is not a layered model")
        sym = cc.tokenize(src, 128, refine=False)
        shown = from_grid(cc.model.reconstruct(sym.to(cc.device), starts_chunk=True), (h, w), (h, w))
        pixels = len(src) * h * w
        base_bits = len(cc.coder.to_bytes(sym)[0]) * 8
        for lv in (int(x) for x in args.levels.split(",")):
            for steps, lr, slope in variants:
                p = Preset("variant", layer_steps=int(steps), layer_lr=float(lr), layer_rate_slope=float(slope))
                t0 = time.perf_counter()
                layer = cc.layered.encode(src, shown, lv, batch_frames((w, h)), p, cc.layered.sides(sym))
                seconds = time.perf_counter() - t0
                payload, _ = cc.layer_coder.to_bytes(layer, lv, cc.layered.sides(sym))
                out = from_grid(cc.layered.reconstruct(layer, shown, lv), (h, w), (h, w))
                print(f"| {clip.split('/')[-1]} | {lv} | {steps} | {lr} | {slope} | "
                      f"{(base_bits + len(payload) * 8) / pixels:.4f} | {metrics.psnr(src, out):.2f} | "
                      f"{metrics.msssim(src, out):.4f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
