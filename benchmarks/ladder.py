"""What a model with quality levels does with each level, and whether it uses its channels.

    python benchmarks/ladder.py MODEL_OR_RUN CLIP [CLIP ...] [--frames 3] [--base-channels 4]

MODEL_OR_RUN: a model folder or name, or a ladder training run (its ``last.pt``). For each clip
(its first ``--frames`` frames, cut to multiples of 8) and each level: the bits per pixel the float
prior gives the tokens (what the range coder spends, within 0.5%), PSNR-RGB of the decoded frames,
and PSNR-RGB with the latent channels from ``--base-channels`` on set to zero: when the two PSNRs
agree, the decoder ignores those channels (a warm start from a model with fewer channels leaves
them unused until the decoder learns to read them). Then the decoder's mean |weight| per input
channel of its first layer, and PSNR-RGB of the unquantized latents (the transforms' ceiling).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from vtcodec.models import VTModel

from vtcodec.video import read_video


def load(what: str) -> VTModel:
    run = Path(what) / "last.pt"
    if run.is_file():
        from vtcodec.train.ladder import LadderConfig
        from vtcodec.train.loop import load_checkpoint

        ck = load_checkpoint(run)
        model = VTModel(LadderConfig.from_dict(ck["config"]).model)
        model.load_state_dict(ck["model"])
        return model.eval()
    from vtcodec.zoo import load_model

    return load_model(what, precision="fp32")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / max(float(((a.clamp(0, 1) - b) ** 2).mean()), 1e-10))


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--base-channels", type=int, default=4)
    args = ap.parse_args()
    model = load(args.model)
    if not model.levels:
        raise SystemExit(f"{args.model}: the model has no quality levels")
    if model.state:
        raise SystemExit(f"{args.model}: the model has a temporal state (frame after frame): use benchmarks/temporal.py")
    m = args.base_channels
    for clip in args.clips:
        src, _ = read_video(clip, args.frames)
        x = torch.from_numpy(src).permute(0, 3, 1, 2).float() / 255
        x = x[:, :, :x.shape[2] // 8 * 8, :x.shape[3] // 8 * 8]
        t, _, hh, ww = x.shape
        has_prev = (torch.arange(t) > 0).float()
        print(f"{Path(clip).name} ({t} frames {ww}x{hh})")
        print(f"level    bpp   PSNR-RGB   without channels >= {m}")
        for level in range(model.levels):
            z = model.encoder(x, level=level)
            s = model.quantizer.encode(z, level)
            bits = float(model.prior_bits(s.unsqueeze(0), level).sum())
            q = model.quantizer.decode(s, level)
            prev = torch.cat([torch.zeros_like(q[:1]), q[:-1]])
            full = psnr(model.decoder(q, prev, has_prev), x)
            cut, cut_prev = q.clone(), prev.clone()
            cut[:, m:] = 0
            cut_prev[:, m:] = 0
            print(f"{level:5d}  {bits / (t * hh * ww):.4f}  {full:8.2f}   {psnr(model.decoder(cut, cut_prev, has_prev), x):8.2f}")
        b = model.quantizer._bound(z) / model.quantizer._half_width
        prev = torch.cat([torch.zeros_like(b[:1]), b[:-1]])
        print(f"unquantized latents: {psnr(model.decoder(b, prev, has_prev), x):.2f} dB")
    w = model.decoder.stem.weight.abs().mean(dim=(0, 2, 3))[:model.quantizer.dim]
    print("decoder's first layer, mean |weight| per latent channel:", " ".join(f"{v:.4f}" for v in w.tolist()))


if __name__ == "__main__":
    main()
