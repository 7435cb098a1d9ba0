"""RD points of an enhancement layer (``models/enhance.py``) on top of its base model's real stream.

    python benchmarks/enhance.py RUN CLIP [CLIP ...] [--frames 10] [--base-quality 6] [--coded]
        [--no-context] [--out rd-enhance] [--merge RESULTS.json ...]

Per clip, the first ``--frames`` frames are coded as one chunk by the codec with the base model at
``--base-quality`` (the real stream: its bytes, its decoded frames and the tokens it coded); then
every level of the enhancement layer codes what that decode misses. A point's bits are the base
stream's bytes plus the enhancement tokens' -log2 p under the layer's float prior, or with
``--coded`` the bytes of their real payload: range-coded with the prior in exact integer
arithmetic (``vtcodec.tokens.TokenCoder``, the base tokens as side planes) and decoded back, as a
format would carry them (the layer has no format yet). Also printed: the enhancement's bits of the
later frames over its first frame's (what the view of the previous frame saves; each frame's bpp
is in the row as ``enh_frame_bpp``). A layer with a decoded-frame context codes the frames in
order. Writes ``OUT/results.json`` in ``vtcodec rd``'s row format (curve ``vtcodec
(model=vt1e:RUN)``, quality = the base quality plus level + 1, and the base alone at the base
quality), with the rows of every ``--merge`` file added, so that ``vtcodec bd OUT`` gives BD-rate
and the bits at matched quality against x264 and x265.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from vtcodec import codec, metrics, rd
from vtcodec.grid import to_grid
from vtcodec.lpips import lpips_frames
from vtcodec.tokens import TokenCoder
from vtcodec.train.enhance import load_enhancer
from vtcodec.video import read_video
from vtcodec.zoo import load_model


def row(clip: str, settings: str, quality: int, src: np.ndarray, dec: np.ndarray, bits: float, info) -> dict:
    t, h, w, _ = src.shape
    r = {"clip": Path(clip).name, "codec": "vtcodec", "quality": quality, "settings": settings, "frames": t,
         "width": w, "height": h, "bytes": bits / 8, "bpp": bits / (t * h * w),
         "kbps": bits / (t / float(info.fps)) / 1000}
    r.update(metrics.full_set(src, dec, info.matrix, info.color_range))
    r["lpips"] = lpips_frames(src, dec) if min(h, w) >= 32 else None
    r["vmaf"] = None
    r["flicker"] = metrics.flicker(src, dec)
    r["msssim_window"] = metrics.msssim_window(h, w)
    return r


@torch.no_grad()
def measure(run: str, clip: str, frames: int, base_quality: int, coded: bool = False,
            context: bool = True) -> list[dict]:
    enh = load_enhancer(run)
    base = load_model(enh.cfg.base)
    clip = rd.resolve_input(clip)  # named in the rows as vtcodec rd names it
    src, info = read_video(clip, frames)
    t, h, w, _ = src.shape
    tokens: list = []
    with codec.Encoder(w, h, quality=base_quality, model=enh.cfg.base, gop=t, tokens_out=tokens) as enc:
        data = b"".join(enc.encode(f) for f in src) + enc.flush()
    head = enc.header_bytes()
    shown = codec.decompress(head + data[len(head):])
    base_bits = len(data) * 8
    symbols = tokens[0]  # [T, S, h8, w8], as coded
    settings = f"model=vt1e:{Path(run).name}" + ("" if context else ",no-context")
    rows = [row(clip, settings, base_quality, src, shown, base_bits, info)]
    x, b = to_grid(src, torch.device("cpu")), to_grid(shown, torch.device("cpu"))  # edge-padded as coded
    side = enh.side(base.quantizer.prior_values(symbols).unsqueeze(0))
    coder = TokenCoder(enh) if coded else None
    for level in range(enh.cfg.gains):
        z, out = enh.unroll(x.unsqueeze(0), b.unsqueeze(0), level, context)  # a temporal layer: in order
        s = enh.quantizer.encode(z, level)
        costs = enh.prior_costs(s.unsqueeze(0), torch.tensor([level]), side)[0]
        per_frame = costs.gather(2, s.unsqueeze(2)).sum(dim=(1, 2, 3, 4))  # [T]
        bits = float(per_frame.sum())
        extra = {}
        if coder is not None:  # the real payload: the exact prior's tables through the range coder, decoded back
            payload, _ = coder.to_bytes(s, level, side[0])
            back = torch.stack([f for f, _ in coder.from_bytes(payload, *s.shape[:1], *s.shape[2:], level=level,
                                                                side=side[0])])
            if not torch.equal(back, s):
                raise SystemExit(f"{clip} level {level}: the layer's tokens did not decode back")
            extra = {"enh_float_bits": bits, "enh_coded_over_float": len(payload) * 8 / bits}
            bits = len(payload) * 8.0
        out = out.clamp(0, 1)
        dec = (out[:, :, :h, :w].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
        r = row(clip, settings, base_quality + level + 1, src, dec, base_bits + bits, info)
        r["enh_bpp"] = bits / (t * h * w)
        # what the view of the previous frame saves: later frames' bits over the first's
        r["enh_later_over_first"] = float(per_frame[1:].mean() / per_frame[0]) if t > 1 else None
        r["enh_frame_bpp"] = [round(float(v) / (h * w), 5) for v in per_frame]  # does a chain's cost climb?
        r.update(extra)
        rows.append(r)
        ratio = f", coded / float prior {extra['enh_coded_over_float']:.4f}" if coded else ""
        print(f"{Path(clip).name} level {level}: {r['bpp']:.4f} bpp (enhancement {r['enh_bpp']:.4f}, "
              f"later frames / first {r['enh_later_over_first'] or 0:.2f}{ratio}), PSNR-RGB {r['psnr-rgb']:.2f}, "
              f"MS-SSIM-RGB {r['msssim-rgb']:.4f}, "
              f"LPIPS {r['lpips'] if r['lpips'] is None else round(r['lpips'], 4)}", flush=True)
    print(f"{Path(clip).name} base (quality {base_quality}): {rows[0]['bpp']:.4f} bpp, "
          f"PSNR-RGB {rows[0]['psnr-rgb']:.2f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--base-quality", type=int, default=6)
    ap.add_argument("--out", default="rd-enhance")
    ap.add_argument("--coded", action="store_true",
                    help="range-code the layer's tokens with its exact prior (and decode them back): the bits "
                         "are the payload's")
    ap.add_argument("--no-context", action="store_true",
                    help="a temporal layer with its decoded-frame context off (every frame as a chunk's first)")
    ap.add_argument("--merge", nargs="*", default=[], help="results.json files whose rows join the output")
    args = ap.parse_args(argv)
    rows = [r for clip in args.clips for r in measure(args.run, clip, args.frames, args.base_quality, args.coded,
                                                          not args.no_context)]
    for extra in args.merge:
        rows += rd.load_results(extra)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
