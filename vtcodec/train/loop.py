"""The training loop behind ``vtcodec train`` / ``python -m vtcodec.train``.

Losses (whatever a run uses is in its config, stored in every checkpoint):

* reconstruction: ``mse + l1_weight * l1`` on RGB in [0, 1];
* rate: the prior is trained *beside* the tokenizer on the tokenizer's detached tokens (its cross
  entropy, in bits per symbol). We argue for this second-stage-in-one-run scheme over joint
  rate-distortion training: FSQ/BSQ tokens are fixed-capacity, so the rate is set by the token
  grid and the codebook, and gradients of the rate through the rounding would be straight-through
  guesses; training the prior on detached tokens is stable, costs little, and reports the real
  coded bits per pixel as training goes.
"""

from __future__ import annotations

import json
import math
import os
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..errors import ModelError
from ..models import ModelConfig, VTModel
from .data import ClipSampler, find_videos, load_clip


def known_settings(cls: type, data: dict) -> dict:
    """A copy of ``data`` with the trainers' structured settings in their types (``model`` a
    ``ModelConfig``, ``scales`` a tuple of floats, ``shares`` (kind, share) pairs), after refusing
    keys that are not fields of the dataclass ``cls`` (``ValueError`` naming them)."""
    bad = set(data) - {f.name for f in fields(cls)}
    if bad:
        raise ValueError(f"unknown training settings: {sorted(bad)}")
    d = dict(data)
    if "model" in d:
        d["model"] = ModelConfig.from_dict(d["model"])
    if "scales" in d:
        d["scales"] = tuple(float(s) for s in d["scales"])
    if "shares" in d:
        d["shares"] = tuple((str(k), float(v)) for k, v in d["shares"])
    return d


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 20000  # optimizer steps
    batch: int = 8  # clips per step
    crop: int = 128  # square crop side (multiple of 8)
    frames: int = 3  # consecutive frames per clip (>= 2 trains the temporal context)
    lr: float = 5e-4  # AdamW peak learning rate (tokenizer and prior)
    warmup: int = 500  # linear warm-up steps, then cosine decay to lr * final_lr_frac
    final_lr_frac: float = 0.05
    weight_decay: float = 0.0
    l1_weight: float = 0.2  # reconstruction loss = mse + l1_weight * l1
    # perceptual term: msssim_weight * (1 - MS-SSIM), 7-tap window (crops >= 112 px); LPIPS needs
    # backbone weights this machine cannot download, so MS-SSIM is the weight-free stand-in
    msssim_weight: float = 0.0
    prior_weight: float = 0.01  # weight of the prior's cross entropy (bits/symbol) in the sum
    grad_clip: float = 1.0
    downscale_min_side: int = 480  # clips whose shorter side is >= this are halved (0: never)
    max_frames_per_clip: int = 400
    seed: int = 0
    val_every: int = 1000
    ckpt_every: int = 500
    log_every: int = 50

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return cls(**known_settings(cls, data))

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        with open(path, "rb") as f:
            return cls.from_dict(tomllib.load(f))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = json.loads(self.model.to_json())
        return d


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """A checkpoint written by ``Trainer.save``, loaded without unpickling code
    (``weights_only=True``: tensors, numbers, strings and containers only), so that a crafted
    file cannot run anything; ``ModelError`` when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint")
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file
        raise ModelError(f"{path}: not a vtcodec checkpoint ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(ck, dict) or not isinstance(ck.get("step"), int) or not isinstance(ck.get("config", ck.get("opt")), dict):
        raise ModelError(f"{path}: not a vtcodec checkpoint (unexpected contents)")
    return ck


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def autocast(device: torch.device) -> torch.autocast:
    """The mixed-material trainers' autocast: bfloat16 where ``device`` computes it natively (a
    GPU, an AMX or AVX512-BF16 CPU), float32 elsewhere, where bfloat16 is emulated: on a 2-core
    AVX2 CPU an enhancement-layer step took 25.5 s under autocast and 2.1 s in float32
    (``benchmarks/train_speed.py --precision``); ``$VTCODEC_PRECISION`` (fp32, bf16) overrides."""
    from ..zoo import resolve_precision

    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=resolve_precision(None, device.type) == "bf16")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.float().clamp(0, 1), b.float()).item()
    return 10 * math.log10(1 / max(mse, 1e-10))


class Trainer:
    """Holds model, optimizer, data and step; ``run()`` trains to ``cfg.steps``."""

    def __init__(self, cfg: TrainConfig, data: list[str], out: str | os.PathLike,
                 val: str | None = None, device: str = "cpu", resume: bool = False,
                 log=print) -> None:
        self.cfg, self.out, self.device, self.log = cfg, Path(out), torch.device(device), log
        self.out.mkdir(parents=True, exist_ok=True)
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
        torch.manual_seed(cfg.seed + self.rank)
        self.model = VTModel(cfg.model).to(self.device)
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                     betas=(0.9, 0.99))
        self.step = 0
        paths = find_videos(data)
        clips, names = [], []
        for p in paths:
            try:
                clips.append(load_clip(p, cfg.downscale_min_side, cfg.max_frames_per_clip))
                names.append(p.name)
            except Exception as exc:  # noqa: BLE001 - a bad training file is skipped, not fatal
                self.log(f"skipping {p}: {exc}")
        self.sampler = ClipSampler(clips, names, cfg.crop, cfg.frames, cfg.seed * 1000 + self.rank)
        self.log(f"data: {len(self.sampler.clips)} clips, "
                 f"{sum(c.shape[0] for c in self.sampler.clips)} frames")
        self.val = None
        if val:
            from ..video import read_video

            frames, _ = read_video(val, max_frames=8)
            h, w = frames.shape[1] // 8 * 8, frames.shape[2] // 8 * 8
            self.val = torch.from_numpy(frames[:, :h, :w]).permute(0, 3, 1, 2).float().div(255)
        self.history: list[dict] = []
        if resume:
            self.load(self.out / "last.pt")

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: Path) -> None:
        if self.rank != 0:
            return
        # the optimizer state goes in a file of its own (keeps each file small enough to move)
        opt_path = path.with_suffix(".opt.pt")
        torch.save({"opt": self.opt.state_dict(), "step": self.step}, opt_path.with_suffix(".tmp"))
        os.replace(opt_path.with_suffix(".tmp"), opt_path)
        tmp = path.with_suffix(".tmp")
        torch.save({
            "model": self.model.state_dict(), "step": self.step,
            "config": self.cfg.to_dict(), "version": __version__,
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
        }, tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        ck = load_checkpoint(path, self.device)
        self.model.load_state_dict(ck["model"])
        opt = load_checkpoint(path.with_suffix(".opt.pt"), self.device)
        if opt["step"] != ck["step"]:
            raise RuntimeError(f"{path}: optimizer state is from step {opt['step']}, model from {ck['step']}")
        self.opt.load_state_dict(opt["opt"])
        self.step = ck["step"]
        self.cfg = TrainConfig.from_dict(ck["config"])
        torch.set_rng_state(ck["torch_rng"].cpu())
        self.history = ck.get("history", [])
        self.log(f"resumed from {path} at step {self.step}")

    # ------------------------------------------------------------------------ steps
    def next_batch(self) -> torch.Tensor:
        """Batches come from a background thread, in the sampler's deterministic order."""
        if getattr(self, "_queue_step", None) != self.step:
            import queue
            import threading

            self._queue: queue.Queue = queue.Queue(maxsize=4)
            self._queue_step = self.step
            start, cuda = self.step, self.device.type == "cuda"

            def fill() -> None:
                step = start
                while True:
                    batch = self.sampler.batch(self.cfg.batch, step)
                    self._queue.put(batch.pin_memory() if cuda else batch)
                    step += 1

            threading.Thread(target=fill, daemon=True).start()
        self._queue_step += 1
        return self._queue.get()

    def train_step(self) -> dict:
        cfg = self.cfg
        for g in self.opt.param_groups:
            g["lr"] = lr_at(cfg, self.step)
        x = self.next_batch().to(self.device, non_blocking=True)
        # bfloat16 where the device computes it natively (with the prior's cheaper costs, steps
        # 3.3x faster on such a CPU than 0.10's float32 ones, benchmarks/train_speed.py), as for
        # the other trainers
        with autocast(self.device):
            out = self.net(x)
        recon = out["recon"].float()
        mse = F.mse_loss(recon, x)
        l1 = F.l1_loss(recon, x)
        bits = out["bits"].float()
        rate = bits.mean()
        loss = mse + cfg.l1_weight * l1 + cfg.prior_weight * rate
        if cfg.msssim_weight:
            from ..metrics import msssim_tensor

            ms = msssim_tensor(recon.flatten(0, 1).clamp(0, 1), x.flatten(0, 1)).mean()
            loss = loss + cfg.msssim_weight * (1 - ms)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.step += 1
        pixels = x.shape[0] * x.shape[1] * x.shape[3] * x.shape[4]
        return {"loss": loss.item(), "psnr": 10 * math.log10(1 / max(mse.item(), 1e-10)),
                "bpp": bits.sum().item() / pixels}

    @torch.no_grad()
    def validate(self) -> dict:
        if self.val is None:
            return {}
        self.model.eval()
        x = self.val.to(self.device)
        symbols = self.model.tokenize(x)
        recon = self.model.reconstruct(symbols)
        bits = self.model.prior_bits(symbols.unsqueeze(0))
        self.model.train()
        return {"val_psnr": psnr(recon, x), "val_bpp": bits.sum().item() / (x.numel() / 3)}

    def run(self, progress=None, time_limit: float | None = None,
            fit_steps_to: float | None = None) -> None:
        """Train until ``cfg.steps``, or until ``time_limit`` seconds have passed (then save and
        return; ``--resume`` continues). ``fit_steps_to``: after 50 timed steps, set ``cfg.steps``
        so that the whole run takes about that many seconds (the value is saved in checkpoints)."""
        from dataclasses import replace

        cfg = self.cfg
        self.model.train()
        t0, n0 = time.time(), self.step
        stats: list[dict] = []
        t_fit = t0
        while self.step < cfg.steps:
            if fit_steps_to and self.step == n0 + 60:
                rate = 50 / (time.time() - t_fit)
                cfg = self.cfg = replace(cfg, steps=max(self.step + 1, int(rate * fit_steps_to)))
                self.log(f"{rate:.2f} steps/s: training for {cfg.steps} steps")
            if self.step == n0 + 10:
                t_fit = time.time()
            stats.append(self.train_step())
            if time_limit and time.time() - t0 > time_limit:
                self.save(self.out / "last.pt")
                self.log(f"time limit reached at step {self.step}; saved {self.out / 'last.pt'}")
                return
            if progress is not None:
                progress(self.step, stats[-1])
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                rec = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}
                dt = time.time() - t0
                rec.update(step=self.step, crops_per_s=(self.step - n0) * cfg.batch / max(dt, 1e-9),
                           lr=lr_at(cfg, self.step), time=dt)
                if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                    rec.update(self.validate())
                self.history.append(rec)
                if self.rank == 0:
                    self.log(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                         for k, v in rec.items()}))
                stats = []
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                self.save(self.out / "last.pt")
        if self.rank == 0:
            (self.out / "history.json").write_text(json.dumps(self.history, indent=1))
        self.log(f"rank {self.rank} of {self.world} finished at step {self.step}")
        if self.world > 1:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
