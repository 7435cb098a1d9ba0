"""What caps an enhancement layer's top levels: its quantizer or its transforms?

    python benchmarks/layer_ceiling.py LAYER CLIP [CLIP ...] [--frames 10] [--base-quality 6]

``LAYER``: an installed layer's name or folder (``vtcodec models``), or a training run of
``vtcodec.train.enhance``. Per clip, the first ``--frames`` frames are coded by the codec with the
layer's base model at ``--base-quality`` (the real stream and its decode); then the layer's
decoder is given, at every level, (a) the rounded latents the codec codes and (b) the same
latents unrounded (the bounded latent times the level's gain, divided back, as in training but
without the rounding). PSNR-RGB of each over the frames (the layer without block skips: every
frame coded). Where (b) stands close to (a) at the finest level, finer quantization has nothing
left to give and only a wider latent or a stronger decoder can lift the top; where (b) is far
above, the top levels are short of bits, not of capacity. ``--split N``: also the share of
non-zero coded symbols in channels below ``N`` and from ``N`` on (a layer widened from ``N``
channels, ``vtcodec.train.enhance.widened``: how much the new channels are used).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from vtcodec import codec, layers, metrics
from vtcodec.grid import to_grid
from vtcodec.train.enhance import load_enhancer
from vtcodec.video import read_video


def layer_net(name: str):
    """An ``Enhancer`` from an installed layer (name or folder) or a training run."""
    entry = layers.find_layer(name)
    if entry is not None:
        return layers.load_layer(entry).net
    return load_enhancer(name)


def psnr_rgb(src: np.ndarray, out: torch.Tensor, h: int, w: int, info) -> float:
    dec = (out.clamp(0, 1)[:, :, :h, :w].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    return metrics.full_set(src, dec, info.matrix, info.color_range)["psnr-rgb"]


@torch.no_grad()
def measure(net, clip: str, frames: int, base_quality: int, split: int = 0) -> None:
    src, info = read_video(clip, frames)
    t, h, w, _ = src.shape
    with codec.Encoder(w, h, quality=base_quality, model=net.cfg.base, gop=t) as enc:
        data = b"".join(enc.encode(f) for f in src) + enc.flush()
    head = enc.header_bytes()
    shown = codec.decompress(head + data[len(head):])
    x, b = to_grid(src, torch.device("cpu")), to_grid(shown, torch.device("cpu"))
    q = net.quantizer
    base_db = psnr_rgb(src, b, h, w, info)
    print(f"\n{Path(clip).name}, {t} frames: base (quality {base_quality}) {base_db:.2f} dB")
    used = f" non-zero symbols, channels < {split} / >= {split} |" if split else ""
    print("| level | rounded (coded) dB | unrounded dB | gap dB |" + used)
    print("|---|---|---|---|" + ("---|" if split else ""))
    for level in range(net.cfg.gains):
        lv = torch.full((t,), level)
        z = net.latents(x, b, lv).float()
        rounded = net.synthesize(q(z, lv), b).float()
        scaled = q._scaled(z, lv)
        unrounded = net.synthesize(scaled / (q._half_width * q.gain(lv, scaled)), b).float()
        a, c = psnr_rgb(src, rounded, h, w, info), psnr_rgb(src, unrounded, h, w, info)
        used = ""
        if split:
            nz = q.prior_values(q.encode(z, lv)) != 0
            used = f" {nz[:, :split].float().mean():.3f} / {nz[:, split:].float().mean():.3f} |"
        print(f"| {level} | {a:.2f} | {c:.2f} | {c - a:+.2f} |" + used, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("layer")
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--base-quality", type=int, default=6)
    ap.add_argument("--split", type=int, default=0, help="also the share of non-zero symbols below / from this channel")
    args = ap.parse_args(argv)
    net = layer_net(args.layer)
    if net.cfg.recon:
        raise SystemExit("a layer with a decoded-frame context is not measured here")
    for clip in args.clips:
        measure(net, clip, args.frames, args.base_quality, args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
