"""What the trainers on mixed material (``train.media``) share: batches prepared in a thread, the
step loop (log lines, checkpoints, a time limit) and the command line.

A trainer subclassing ``MixTrainer`` has ``cfg`` (with ``steps``, ``batch``, ``log_every``,
``ckpt_every``), ``sampler``, ``step``, ``history``, ``log``, ``out``, and defines
``train_step(batch) -> dict of numbers`` and ``save()`` (through ``write_checkpoint``).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..errors import ModelError, VtcError


class MixTrainer:
    def write_checkpoint(self, state: dict) -> None:
        """``OUT/last.pt``: the trainer's own ``state`` plus the step, the history, the torch RNG and
        the code version, written to a temporary file renamed into place."""
        from .. import __version__

        tmp = self.out / "last.tmp"
        torch.save({**state, "step": self.step, "version": __version__, "history": self.history,
                    "torch_rng": torch.get_rng_state()}, tmp)
        os.replace(tmp, self.out / "last.pt")

    def restore(self, ck: dict) -> None:
        """The step, history and torch RNG of a checkpoint ``write_checkpoint`` wrote."""
        self.step, self.history = ck["step"], ck.get("history", [])
        torch.set_rng_state(ck["torch_rng"])
        self.log(f"resumed at step {self.step}")

    def batches(self) -> Iterator[torch.Tensor]:
        """The sampler's batches from the current step on, prepared in a thread (a batch is a
        function of the seed and the step, so a resumed run sees the batches it would have seen)."""
        q: queue.Queue = queue.Queue(maxsize=3)

        def fill(step: int) -> None:
            while True:
                q.put(self.sampler.batch(self.cfg.batch, step))
                step += 1

        threading.Thread(target=fill, args=(self.step,), daemon=True).start()
        while True:
            yield q.get()

    def record(self) -> dict:
        """Numbers added to each log line besides the step's means (none by default)."""
        return {}

    def run(self, time_limit: float | None = None) -> None:
        t0, stats = time.time(), []
        batches = self.batches()
        while self.step < self.cfg.steps:
            stats.append(self.train_step(next(batches)))
            if self.step % self.cfg.log_every == 0:
                keys = sorted({k for s in stats for k in s})
                rec = {k: round(float(np.mean([s[k] for s in stats if k in s])), 5) for k in keys}
                rec.update(step=self.step, time=round(time.time() - t0, 1), **self.record())
                self.history.append(rec)
                self.log(json.dumps(rec))
                stats = []
            if self.step % self.cfg.ckpt_every == 0:
                self.save()
            if time_limit and time.time() - t0 > time_limit:
                break
        self.save()
        self.log(f"saved step {self.step} to {self.out / 'last.pt'}")


def main(prog: str, config_from_dict: Callable[[dict], object], trainer: Callable[..., MixTrainer],
         argv: list[str] | None = None) -> int:
    """The command line of a mixed-material trainer: ``--config TOML``, the three kinds of data,
    ``--out``, ``--resume``, ``--steps``, ``--device``, ``--time-limit``."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--config", help="TOML file of settings")
    ap.add_argument("--data-videos", nargs="*", default=[], help="folders or files of videos")
    ap.add_argument("--data-sequences", nargs="*", default=[], help="folders of frame folders (or packed videos)")
    ap.add_argument("--data-stills", nargs="*", default=[], help="folders or files of photos")
    ap.add_argument("--out", required=True, help="run folder (checkpoint, history)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, help="override the settings' step count (also when resuming)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (bfloat16 autocast on either)")
    ap.add_argument("--time-limit", type=float, help="save and stop after this many seconds")
    args = ap.parse_args(argv)
    try:
        data = {}
        if args.config:
            import tomllib

            with open(args.config, "rb") as f:
                data = tomllib.load(f)
        cfg = config_from_dict(data)

        def log(message: str) -> None:
            print(message, flush=True)

        from .media import load_material

        groups = load_material(args.data_videos, args.data_sequences, args.data_stills, log)
        if not groups:
            raise VtcError("no training material (give --data-videos, --data-sequences or --data-stills)")
        trainer(cfg, groups, args.out, resume=args.resume, log=log, device=args.device, steps=args.steps).run(args.time_limit)
    except (VtcError, ModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
