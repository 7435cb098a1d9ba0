"""vt2: one token model for a whole quality ladder, trained for rate and distortion.

``python -m vtcodec.train.ladder --data-videos DIR --data-sequences DIR --data-stills DIR --out RUN
[--resume] [--time-limit S] [--steps N] [--device cuda]``, then ``vtcodec export RUN -o FOLDER``.

Why vt1 stops at 26-30 dB (issue 14): every 8x8 patch is one FSQ token of at most
log2(1000) = 9.97 bits whatever the quality, so the only rate knob is the coding grid's size.
vt2 keeps vt1's transforms (4x4 patchify, widths 64/160, causal token context) and changes what a
token holds:

* **more latent channels** (12 instead of 4) with **wide odd alphabets** (31 values each, within
  the range coder's fast range), so a token can carry up to 59 bits;
* a **gained FSQ** (``models/fsq.py``): a gain per quality level and channel (fixed, log-spaced
  1/16 .. 1: learned through straight-through rounding the gains only shrank, run 1) scales the
  latent before rounding and divides it after. The coarsest level leaves a few values in use
  (cheap), the finest all 31. One model, the tokens' information growing with the level, the
  alphabet fixed;
* the **prior is told the level** (one more input plane), so it knows how spread the values are;
* **rate-distortion training**: every clip draws a level ``l``; the loss is
  ``lambda_l * 255^2 * (MSE + ms * (1 - MS-SSIM)) + bpp``, with ``lambda`` log-spaced over the
  levels (as CompressAI's and DCVC's ladders are) and bpp the prior's bits of the actual tokens,
  made differentiable by pricing each latent between the two values it lies between
  (``vtcodec.refine.soft_bit_map``); the decoder sees straight-through rounded latents. The prior
  learns with the tokenizer from the same bits.

Warm start: vt1-fsq's encoder and decoder are copied (its four latent channels into the first
four; the new ones keep the default init, since started small the decoder never learned to read
them, run 3); the prior starts afresh (its inputs changed). Clips are 2 frames, so the decoder's
and the prior's temporal context learn too. Measured (models/README.md, "vt2-fsq"): after 75
minutes of this CPU the top levels stop where the transforms do and the bottom costs 0.1 bpp;
vt2 wants a GPU run of vt1's length. Run 5 (0.11: lambdas moved down to where a ladder's bottom
belongs, and ``enc_levels``, an encoder told the level, so that its coarse levels can go sparse
without costing the fine ones) brought the bottom to 0.02-0.04 bpp and the top above vt1-fsq's on
three clips, still 2x vt1-fsq's bits for its quality overall after 105 CPU minutes.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..models import ModelConfig, VTModel
from ..models.tokenizer import clips_previous
from .loop import autocast
from .mixrun import MixTrainer


def vt2_config(name: str = "vt2-fsq") -> ModelConfig:
    """The vt2 token model (module docstring)."""
    return ModelConfig(name=name, quantizer="fsq", fsq_levels=(31,) * 12, gains=10,
                       enc_widths=(64, 160), dec_widths=(64, 160), enc_blocks=3, dec_blocks=3,
                       prior_width=64, prior_layers=3, enc_levels=True,
                       prior_groups=((0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)))


@dataclass(frozen=True)
class LadderConfig:
    model: ModelConfig = field(default_factory=vt2_config)
    warm_start: str = "vt1-fsq"  # model whose transforms start the run ("" = from scratch)
    steps: int = 40000
    batch: int = 8  # clips per step
    crop: int = 128  # square crop side (multiple of 8)
    frames: int = 2  # consecutive frames per clip
    scales: tuple[float, ...] = (1.0, 1.0, 0.71, 0.5)  # crop scales
    # lambda of level 0 (bits per pixel per unit of MSE on the 0..255 scale): the slope of
    # vt1-fsq's curve near 0.01-0.02 bpp (2.5e-4, runs 1-4, is its slope near quality 6)
    lam_min: float = 0.00004
    lam_max: float = 0.064  # lambda of the top level
    ms: float = 0.01  # weight of (1 - MS-SSIM) beside MSE (0..1 scale) in the distortion
    rate_warmup: int = 1500  # steps over which the rate's weight on the tokenizer grows from 0 to 1
    lr: float = 2e-4
    warmup: int = 200
    final_lr_frac: float = 0.1
    grad_clip: float = 1.0
    shares: tuple[tuple[str, float], ...] = (("stills", 0.4), ("sequences", 0.35), ("videos", 0.25))
    seed: int = 0
    ckpt_every: int = 250
    log_every: int = 50

    def lambdas(self) -> torch.Tensor:
        n = self.model.gains
        return torch.logspace(math.log10(self.lam_min), math.log10(self.lam_max), n)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = json.loads(self.model.to_json())
        return d

    @classmethod
    def from_dict(cls, data: dict) -> LadderConfig:
        from .loop import known_settings

        cfg = cls(**known_settings(cls, data))
        if not cfg.model.gains:
            raise ValueError("a ladder model needs gains (quality levels)")
        return cfg


def warm_start(model: VTModel, source: VTModel) -> list[str]:
    """Copy ``source``'s transforms into ``model`` where shapes allow; the latent channels both
    have (the first ``min(D)``) keep their weights, new ones start small. The prior is copied too
    when both models have the same quantizer. A temporal state that ``source`` lacks
    (``models/temporal.py``) enters through weights set to zero, so ``model`` starts out computing
    exactly what ``source`` does. Returns what was copied."""
    dst, src = model.state_dict(), source.state_dict()
    d_new, d_old = model.quantizer.dim, source.quantizer.dim
    m = min(d_new, d_old)
    same_tokens = (model.cfg.quantizer, model.cfg.fsq_levels, model.cfg.gains) == \
        (source.cfg.quantizer, source.cfg.fsq_levels, source.cfg.gains)
    added_state = model.state and not source.state
    copied = []
    with torch.no_grad():
        if added_state:
            for key in ("encoder.ctx.weight", "encoder.ctx.bias"):
                dst[key].zero_()
        for key, value in src.items():
            if key not in dst or (key.startswith("prior.") and not same_tokens):
                continue
            target = dst[key]
            if target.shape == value.shape:
                target.copy_(value)
            elif (added_state and d_new == d_old and key in ("decoder.stem.weight", "prior.convs.0.weight")
                  and target.shape[1] == value.shape[1] + model.state):
                target[:, :value.shape[1]] = value  # the state's inputs come last
                target[:, value.shape[1]:] = 0
            elif key.startswith("encoder.head."):
                target[:m] = value[:m]
            elif key == "decoder.stem.weight":  # inputs: q (D), q_prev (D), flag
                # new channels keep the default init: at a tenth of it they stayed unused (run 3)
                target[:, :m] = value[:, :m]
                target[:, d_new:d_new + m] = value[:, d_old:d_old + m]
                target[:, 2 * d_new] = value[:, 2 * d_old]
            else:
                continue
            copied.append(key)
    return copied


def lr_at(cfg: LadderConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


class LadderTrainer(MixTrainer):
    kind = "ladder"  # what the checkpoint says it holds (``vtcodec export`` reads it)

    def __init__(self, cfg: LadderConfig, groups: dict[str, list[np.ndarray]], out: str | os.PathLike,
                 resume: bool = False, log=print, device: str = "cpu", steps: int | None = None) -> None:
        ck = self.begin(cfg, LadderConfig.from_dict, out, resume, log, device, steps)
        cfg = self.cfg
        self.model = VTModel(cfg.model).to(self.device)
        if ck is None and cfg.warm_start:
            from ..zoo import load_model

            copied = warm_start(self.model, load_model(cfg.warm_start, device=device))
            log(f"warm start from {cfg.warm_start}: {len(copied)} tensors")
        self.prepare(groups, cfg.lambdas(), ck)

    def begin(self, cfg, from_dict, out: str | os.PathLike, resume: bool, log, device: str,
              steps: int | None) -> dict | None:
        """Set the run folder, log, device and settings (a resumed run's own, from its checkpoint,
        read with ``from_dict``; ``steps`` overrides the step count); returns the checkpoint
        (None for a new run)."""
        from .loop import load_checkpoint

        self.out, self.log, self.device = Path(out), log, torch.device(device)
        self.out.mkdir(parents=True, exist_ok=True)
        ck = None
        if resume:
            ck = load_checkpoint(self.out / "last.pt")
            cfg = from_dict(ck["config"])
        self.cfg = cfg = replace(cfg, steps=steps) if steps else cfg
        torch.manual_seed(cfg.seed)
        return ck

    def prepare(self, groups: dict[str, list[np.ndarray]], lambdas: torch.Tensor, ck: dict | None) -> None:
        """Optimizer, lambdas and sampler for ``self.model`` under ``self.cfg``, and the state of
        checkpoint ``ck`` (None: a new run). The quantizer's gains stay where FSQ puts them
        (log-spaced): through straight-through rounding the distortion gives them no gradient and
        the rate only shrinks them (run 2, models/README.md)."""
        from .media import MixSampler

        cfg = self.cfg
        self.model.quantizer.log_gain.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
        self.lambdas = lambdas.to(self.device)
        self.sampler = MixSampler(groups, dict(cfg.shares), cfg.crop, cfg.frames, cfg.seed, cfg.scales)
        self.step, self.history = 0, []
        if ck is not None:
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["opt"])
            self.restore(ck)

    def save(self) -> None:
        self.write_checkpoint({"kind": self.kind, "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                               "config": self.cfg.to_dict(), **self.checkpoint_extra()})

    def checkpoint_extra(self) -> dict:
        """What a subclass's checkpoints carry besides the model, the optimizer and the config."""
        return {}

    def losses(self, x: torch.Tensor, level: torch.Tensor) -> dict[str, torch.Tensor]:
        """Clips ``[B, T, 3, H, W]`` and a level per clip -> per-clip ``mse``, ``msssim``, ``bpp``."""
        from ..refine import soft_bit_map

        model = self.model
        b, t = x.shape[:2]
        lv = level.repeat_interleave(t)
        amp = autocast(self.device)
        states = recon = None
        if model.conditional:  # frame after frame: each frame's encoder sees what its decoder will
            z, q, recon, states = self.unroll(x, level, amp)
        else:
            with amp:
                z = model.encoder(x.flatten(0, 1), level=lv).float()
            q = model.quantizer(z, lv)
        symbols = model.quantizer.encode(z.detach(), lv)
        with amp:  # the prior's convolutions too (as vt1's trainer ran them); its softmax in float32
            costs = model.prior_costs(symbols.view(b, t, *symbols.shape[1:]), level, states).flatten(0, 1)
        bits = soft_bit_map(model.quantizer, z, costs, lv)
        prior_bits = soft_bit_map(model.quantizer, z.detach(), costs, lv)  # teaches the prior alone
        if recon is None:
            q_prev, has_prev = clips_previous(q.view(b, t, *q.shape[1:]))
            with amp:
                recon = model.decoder(q, q_prev, has_prev, None if states is None else states.flatten(0, 1)).float()
        return self.per_clip(recon, x, bits, prior_bits)

    def per_clip(self, recon: torch.Tensor, x: torch.Tensor, bits: torch.Tensor,
                 prior_bits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decoded frames ``[B * T, 3, H, W]`` of clips ``x`` ``[B, T, 3, H, W]`` and the bit maps
        of their tokens (for the coder and for the prior alone) -> per-clip ``mse``, ``msssim``
        (1 when the distortion has no MS-SSIM term), ``bpp`` and ``prior_bpp``."""
        from ..metrics import msssim_tensor

        b, t, _, hh, ww = x.shape
        target = x.flatten(0, 1)
        mse = ((recon - target) ** 2).mean(dim=(1, 2, 3)).view(b, t).mean(1)
        ms = (msssim_tensor(recon.clamp(0, 1), target, 1.0, 7).view(b * t, -1).mean(1).view(b, t).mean(1)
              if self.cfg.ms > 0 else torch.ones_like(mse))
        return {"mse": mse, "msssim": ms, "bpp": bits.view(b, -1).sum(1) / (t * hh * ww),
                "prior_bpp": prior_bits.view(b, -1).sum(1) / (t * hh * ww)}

    def unroll(self, x: torch.Tensor, level: torch.Tensor, amp) -> tuple[torch.Tensor, ...]:
        """A conditional model over clips ``[B, T, 3, H, W]`` (each starting a chunk), frame after
        frame as its encoder and decoder run: each frame's encoder and decoder see the state before
        it and, with a decoded-frame context, the frame before as decoded (gradients flow through
        it, so a frame learns to serve as the next one's context). Returns latents and quantized
        latents ``[B * T, D, h, w]``, decoded frames ``[B * T, 3, H, W]`` and the state before each
        frame ``[B, T, C, h, w]`` (None without one)."""
        model = self.model
        b, t, _, hh, ww = x.shape
        state = model.temporal.zeros(b, hh // 8, ww // 8, x.device) if model.state else None
        shown, q_prev = torch.zeros_like(x[:, 0]), None
        zs, qs, outs, kept = [], [], [], []
        for i in range(t):
            has_prev = torch.full((b,), float(i > 0), device=x.device)
            with amp:
                feats = model.recon_ctx(shown, has_prev) if model.recon else None
                zi = model.encoder(x[:, i], state, level, feats).float()
            qi = model.quantizer(zi, level)
            with amp:
                ri = model.decoder(qi, torch.zeros_like(qi) if q_prev is None else q_prev, has_prev, state,
                                   feats).float()
            kept.append(state)
            zs.append(zi)
            qs.append(qi)
            outs.append(ri)
            if model.state:
                state = model.temporal(state, model.quantizer.prior_values(model.quantizer.encode(zi.detach(), level)),
                                       level)
            shown, q_prev = ri, qi
        states = torch.stack(kept, 1) if model.state else None
        return (torch.stack(zs, 1).flatten(0, 1), torch.stack(qs, 1).flatten(0, 1),
                torch.stack(outs, 1).flatten(0, 1), states)

    def record(self) -> dict:
        return {"gains": [round(float(g), 3) for g in self.model.quantizer.log_gain.detach().exp().mean(1)]}

    def train_step(self, x: torch.Tensor) -> dict:
        cfg = self.cfg
        lr = lr_at(cfg, self.step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        x = x.to(self.device, non_blocking=True)
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.step)
        level = torch.randint(0, cfg.model.gains, (x.shape[0],), generator=gen).to(self.device)
        out = self.losses(x, level)
        dist = out["mse"] + cfg.ms * (1 - out["msssim"])
        # early on the rate weighs little on the tokenizer (new latent channels get used before the
        # rate can close them; VCT weighs distortion 10x in its first steps), never on the prior
        w = min(1.0, self.step / cfg.rate_warmup) if cfg.rate_warmup else 1.0
        loss = (self.lambdas[level] * 255**2 * dist + w * out["bpp"] + (1 - w) * out["prior_bpp"]).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.step += 1
        psnr = -10 * torch.log10(out["mse"].detach().clamp(min=1e-10))
        per_clip = {"psnr": psnr, "bpp": out["bpp"].detach(), **self.logged(out, psnr)}
        rec = {"loss": loss.item()}
        n = cfg.model.gains
        for name, sel in (("lo", level < n // 3), ("mid", (level >= n // 3) & (level < 2 * n // 3)),
                          ("hi", level >= 2 * n // 3)):
            if bool(sel.any()):
                for key, value in per_clip.items():
                    rec[f"{key}_{name}"] = float(value[sel].mean())
        return rec

    def logged(self, out: dict[str, torch.Tensor], psnr: torch.Tensor) -> dict[str, torch.Tensor]:
        """More per-clip numbers for the log lines (averaged per band of levels); none here."""
        return {}


def main(argv: list[str] | None = None) -> int:
    from .mixrun import main as run_main

    return run_main("python -m vtcodec.train.ladder", LadderConfig.from_dict, LadderTrainer, argv)


if __name__ == "__main__":
    sys.exit(main())
