"""A layer decoder against the layer's own on the same training-sampler crops, per level.

    python benchmarks/decoder_crops.py DECODER --data-videos ../shared/data/train \\
        --data-sequences ../shared/data/frames --data-stills ../shared/data/images [--batches 6]

DECODER: a layer decoder (``vtcodec.decoders``; e.g. an export of ``vtcodec.train.perceptual``
with ``token_model`` a layered model). Crops are drawn as the perceptual trainer draws them
(``MixSampler``, 8 clips of 2 frames of 128x128, scale 1) at steps no run of fewer than 10,000
steps saw; the base codes them as the trainer does, the layer's tokens at each level are decoded
by both decoders, rounded to 8 bits, and LPIPS and PSNR-RGB printed per level.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from vtcodec.decoders import find_decoder, load_decoder
from vtcodec.layers import find_layer, load_layer
from vtcodec.lpips import LPIPS
from vtcodec.train.enhance import base_layer
from vtcodec.train.loop import autocast
from vtcodec.train.media import MixSampler, load_material


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("decoder")
    ap.add_argument("--data-videos", nargs="*", default=[])
    ap.add_argument("--data-sequences", nargs="*", default=[])
    ap.add_argument("--data-stills", nargs="*", default=[])
    ap.add_argument("--batches", type=int, default=6)
    args = ap.parse_args()
    entry = find_decoder(args.decoder)
    if not entry.layer:
        raise SystemExit(f"{args.decoder}: not a layer decoder")
    layered = load_layer(find_layer(entry.serves), precision="bf16")
    other = load_decoder(args.decoder, layered.base, layered=layered)
    groups = load_material(args.data_videos, args.data_sequences, args.data_stills, lambda m: None)
    sampler = MixSampler(groups, {"stills": 0.4, "sequences": 0.35, "videos": 0.25}, 128, 2, 123, (1.0,))
    lp = LPIPS().requires_grad_(False)
    net, amp = layered.net, autocast(torch.device("cpu"))
    sums: dict[tuple[int, str], list[float]] = {}
    with torch.no_grad():
        for i in range(args.batches):
            x = torch.as_tensor(sampler.batch(8, 10_000 + i))
            _, base = base_layer(layered.base, x, amp)
            base = (base * 255).round() / 255
            target = x.flatten(0, 1)
            for level in range(layered.levels):
                lv = torch.full((len(target),), level)
                z = net.latents(target, base, lv).float()
                q = net.quantizer.decode(net.quantizer.encode(z, lv), lv)
                for name, decode in (("own", net.synthesize), ("other", other)):
                    y = (decode(q, base).float().clamp(0, 1) * 255).round() / 255
                    s = sums.setdefault((level, name), [0.0, 0.0, 0])
                    s[0] += lp(y, target).mean().item()
                    s[1] += F.mse_loss(y, target).item()
                    s[2] += 1
    print(f"{'level':>5} {'LPIPS own':>10} {entry.name:>12} {'PSNR own':>9} {entry.name:>12}")
    for level in range(layered.levels):
        (a, ma, n), (b, mb, _) = sums[(level, "own")], sums[(level, "other")]
        print(f"{level:>5} {a / n:>10.4f} {b / n:>12.4f} {-10 * math.log10(ma / n):>9.2f} {-10 * math.log10(mb / n):>12.2f}")


if __name__ == "__main__":
    main()
