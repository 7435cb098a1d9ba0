"""``python -m vtcodec.train --config CONFIG --data DIR... --out RUN_DIR [--resume]``."""

import argparse
import os
import sys

from .loop import TrainConfig, Trainer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vtcodec.train")
    ap.add_argument("--config", required=True, help="TOML file of training settings")
    ap.add_argument("--data", nargs="+", required=True, help="folders or files of videos")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, history)")
    ap.add_argument("--val", help="a video to validate on (first 8 frames)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, help="override the config's step count")
    ap.add_argument("--time-limit", type=float, help="save and stop after this many seconds")
    ap.add_argument("--fit-steps-to", type=float,
                    help="set the step count so the whole run takes about this many seconds")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda"):
        import torch

        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    cfg = TrainConfig.load(args.config)
    if args.steps:
        from dataclasses import replace

        cfg = replace(cfg, steps=args.steps)
    if os.environ.get("RANK", "0") == "0" and not args.resume:
        from ..zoo import bundled_models

        if cfg.model.name in {e.name for e in bundled_models()}:
            print(f"note: {cfg.model.name!r} is a bundled model's name: `vtcodec export` will name this model "
                  f"{cfg.model.name}-TAG (TAG from its weights) unless given --name", file=sys.stderr, flush=True)
    live = sys.stderr.isatty() and os.environ.get("RANK", "0") == "0"
    if not live:
        trainer = Trainer(cfg, args.data, args.out, val=args.val, device=args.device,
                          resume=args.resume, log=lambda m: print(m, flush=True))
        trainer.run(time_limit=args.time_limit, fit_steps_to=args.fit_steps_to)
        return 0
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"), console=console)
    with bar:
        trainer = Trainer(cfg, args.data, args.out, val=args.val, device=args.device,
                          resume=args.resume, log=bar.console.print)
        task = bar.add_task("train", total=trainer.cfg.steps, completed=trainer.step, info="")

        def show(step: int, stats: dict) -> None:
            last = trainer.history[-1] if trainer.history else {}
            val = f" | val {last['val_psnr']:.2f} dB {last['val_bpp']:.4f} bpp" if "val_psnr" in last else ""
            bar.update(task, completed=step, total=trainer.cfg.steps,
                       info=f"loss {stats['loss']:.4f} | {stats['psnr']:.2f} dB | {stats['bpp']:.4f} bpp{val}")

        trainer.run(progress=show, time_limit=args.time_limit, fit_steps_to=args.fit_steps_to)
    return 0


if __name__ == "__main__":
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # a torchrun worker whose process group is destroyed: leave without interpreter
        # finalisation, where gloo's worker threads can still be torn down and abort the
        # process after a clean run (seen under load on torch 2.13; pytorch/pytorch#179291)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
