"""Perceptual decoders: a second decoder for a token model's streams, trained on frozen tokens.

``python -m vtcodec.train.perceptual --data-videos DIR --data-sequences DIR --data-stills DIR
--out RUN [--resume] [--time-limit S]``, then ``vtcodec export RUN -o FOLDER``.

The token model (encoder, quantizer, prior) is frozen and only a copy of its decoder learns, so a
stream decodes the same tokens with either decoder (HiFiC, Mentzer et al. 2020,
https://arxiv.org/abs/2006.09965, trains its generator the same way in its second stage;
multi-realism decoding, Agustsson et al. 2023, makes the receiver's choice explicit). The loss,
per frame of a clip of ``frames`` consecutive frames (the first one starts a chunk):

    lpips * LPIPS-Alex(x_hat, x) + mse * MSE(x_hat, x) + adv * G(x_hat | q)
        + temporal * L1((x_hat_t - x_hat_{t-1}) - (x_t - x_{t-1}))

* LPIPS is ``vtcodec.lpips.LPIPS`` (the metric ``vtcodec rd`` reports), differentiable;
* MSE is the light anchor that keeps colours and low frequencies where the faithful decoder has
  them;
* G is the non-saturating generator loss of a patch discriminator that sees the frame and the
  tokens it was decoded from (HiFiC's conditioning): texture that fits the tokens, not any
  texture; it starts after ``adv_start`` steps, once LPIPS has moved the decoder off the blur;
* the temporal term compares frame differences with the source's: invented texture that changes
  from frame to frame (flicker) costs, a texture that moves with the content does not.

The decoder has the token model's decoder architecture and starts from its weights: the same
speed at decode time, and a warm start that a CPU can fine-tune in hours.

``token_model`` may name a layered model (``vtcodec.layers``): then the decoder of its
enhancement layer learns (``models.enhance.LayerSynthesis``), its base model, the layer's encoder
and prior frozen. Each clip draws one of the layer's levels; the base codes the clip's frames at
the source size as the codec does, and the layer's decoder sees its tokens at that level over the
base decode as the decoder shows it (8-bit); the discriminator sees the frame and the base
tokens. ``base_decoder`` names the decoder the exported one records for the stream's chunks on
the base alone (e.g. vt1-fsq-sharp; "" for the base's own), so that one ``--decoder`` serves every
quality.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.enhance import LayerSynthesis
from ..models.tokenizer import SynthesisNet
from .loop import autocast
from .mixrun import MixTrainer


@dataclass(frozen=True)
class PerceptualConfig:
    name: str = "vt1-fsq-sharp"  # the decoder's name (what `--decoder` takes)
    token_model: str = "vt1-fsq"  # name or folder of the token model it decodes
    steps: int = 20000
    batch: int = 8  # clips per step
    crop: int = 128  # square crop side (multiple of 8)
    frames: int = 3  # consecutive frames per clip
    scales: tuple[float, ...] = (1.0, 1.0, 0.71, 0.5)  # crop scales (frames coded on a reduced grid)
    lr: float = 1e-4  # decoder AdamW learning rate (a fine-tune)
    d_lr: float = 2e-4  # discriminator learning rate
    warmup: int = 200
    lpips: float = 1.0
    mse: float = 15.0
    adv: float = 0.05
    adv_start: int = 500  # steps of LPIPS + MSE before the adversarial term joins
    temporal: float = 1.0
    margin: float = 0.15  # token hysteresis as the default encoder uses it (presets.TOKEN_HYSTERESIS)
    shares: tuple[tuple[str, float], ...] = (("stills", 0.4), ("sequences", 0.35), ("videos", 0.25))
    seed: int = 0
    ckpt_every: int = 200
    log_every: int = 50
    base_decoder: str = ""  # a layered model's: the decoder the export names for its base-only chunks

    @classmethod
    def from_dict(cls, data: dict) -> PerceptualConfig:
        from .loop import known_settings

        return cls(**known_settings(cls, data))


class PatchDiscriminator(nn.Module):
    """``D(x, q)``: frames ``[B, 3, H, W]`` and their token values ``[B, D, H/8, W/8]`` -> a score
    per 8x8 patch ``[B, 1, H/8, W/8]``. Three stride-2 convolutions with spectral norm bring the
    frame to the token grid, where the tokens join (HiFiC's conditional discriminator)."""

    def __init__(self, token_dim: int, width: int = 64) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.down = nn.Sequential(
            sn(nn.Conv2d(3, width, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 4 * width, 4, 2, 1)), nn.LeakyReLU(0.2))
        self.cond = sn(nn.Conv2d(token_dim, 4 * width, 1))
        self.head = nn.Sequential(sn(nn.Conv2d(4 * width, 4 * width, 3, 1, 1)), nn.LeakyReLU(0.2),
                                  nn.Conv2d(4 * width, 1, 1))

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.head(self.down(x * 2 - 1) + self.cond(q))


def lr_at(base: float, warmup: int, steps: int, step: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, steps - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


class PerceptualTrainer(MixTrainer):
    def __init__(self, cfg: PerceptualConfig, groups: dict[str, list[np.ndarray]], out: str | os.PathLike,
                 resume: bool = False, log=print, device: str = "cpu", steps: int | None = None) -> None:
        """``resume``: continue the run in ``out`` with its own settings (``steps`` may extend it)."""
        from dataclasses import replace

        from ..layers import find_layer, load_layer
        from ..lpips import LPIPS
        from ..zoo import load_model
        from .loop import load_checkpoint
        from .media import MixSampler

        self.out, self.log, self.device = Path(out), log, torch.device(device)
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            ck = load_checkpoint(self.out / "last.pt")
            cfg = PerceptualConfig.from_dict(ck["config"])
        self.cfg = cfg = replace(cfg, steps=steps) if steps else cfg
        torch.manual_seed(cfg.seed)
        layer = find_layer(cfg.token_model)
        self.layered = None if layer is None else load_layer(layer, device, precision="bf16")
        self.tokens = load_model(cfg.token_model, device=device, precision="bf16") if layer is None else self.layered.base
        mcfg = self.tokens.cfg
        if mcfg.state or mcfg.recon:
            raise ValueError(f"{cfg.token_model}: perceptual decoders for a model with a temporal state or a "
                             "decoded-frame context are not supported yet")
        if self.layered is None:
            self.decoder = SynthesisNet(mcfg, self.tokens.quantizer.dim).to(self.device)
            self.decoder.load_state_dict(self.tokens.decoder.state_dict())
        else:
            self.decoder = LayerSynthesis.of(self.layered.net)  # a fresh float32 net: it learns
        self.disc = PatchDiscriminator(self.tokens.quantizer.dim).to(self.device)
        self.lpips = LPIPS().requires_grad_(False).to(self.device)
        self.opt = torch.optim.AdamW(self.decoder.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
        self.d_opt = torch.optim.AdamW(self.disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.99), weight_decay=0.0)
        self.sampler = MixSampler(groups, dict(cfg.shares), cfg.crop, cfg.frames, cfg.seed, cfg.scales)
        self.step, self.history = 0, []
        if resume:
            self.decoder.load_state_dict(ck["decoder"])
            self.disc.load_state_dict(ck["disc"])
            self.opt.load_state_dict(ck["opt"])
            self.d_opt.load_state_dict(ck["d_opt"])
            self.restore(ck)

    def save(self) -> None:
        self.write_checkpoint({"kind": "decoder", "decoder": self.decoder.state_dict(), "disc": self.disc.state_dict(),
                               "opt": self.opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                               "config": asdict(self.cfg), "token_model": {"name": self.tokens.cfg.name,
                                                                            "sha256": self.tokens.sha256},
                               **({} if self.layered is None else
                                  {"layer": {"name": self.layered.name, "sha256": self.layered.sha256}})})

    def token_values(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``[B, T, 3, H, W]`` -> the decoder's input ``[B, T, D, h, w]``, tokenized as the
        default encoder does (plain rounding on a chunk's first frame, hysteresis after)."""
        b, t = x.shape[:2]
        quant = self.tokens.quantizer
        # a model with quality levels (vt2): each clip at a level drawn from all of them
        level = torch.randint(0, self.tokens.levels, (b,), device=x.device) if self.tokens.levels else None
        z = self.tokens.latents(x.flatten(0, 1), level=None if level is None else level.repeat_interleave(t))
        z = z.view(b, t, *z.shape[1:])
        sym = [quant.encode(z[:, 0], level)]
        for i in range(1, t):
            sym.append(quant.encode_sticky(z[:, i], sym[-1], self.cfg.margin, level) if self.cfg.margin > 0
                       else quant.encode(z[:, i], level))
        return torch.stack([quant.decode(s, level) for s in sym], dim=1)

    @torch.no_grad()
    def layer_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Clips ``[B, T, 3, H, W]`` -> a layered model's base decode as the decoder shows it
        (8-bit) ``[B * T, 3, H, W]``, its layer's token values ``[B * T, D, H/4, W/4]`` at a level
        drawn per clip, and the base token values ``[B * T, 4, H/8, W/8]`` (the discriminator's
        condition)."""
        from .enhance import base_layer

        b, t = x.shape[:2]
        net = self.layered.net
        amp = autocast(self.device)
        symbols, base = base_layer(self.tokens, x, amp)
        base = (base * 255).round() / 255
        level = torch.randint(0, self.layered.levels, (b,), device=x.device).repeat_interleave(t)
        with amp:
            z = net.latents(x.flatten(0, 1), base, level).float()
        q = net.quantizer.decode(net.quantizer.encode(z, level), level)
        return base, q, self.tokens.quantizer.decode(symbols)

    def train_step(self, x: torch.Tensor) -> dict:
        cfg = self.cfg
        b, t = x.shape[:2]
        lr = lr_at(cfg.lr, cfg.warmup, cfg.steps, self.step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        x = x.to(self.device, non_blocking=True)
        use_adv = cfg.adv > 0 and self.step >= cfg.adv_start
        amp = autocast(self.device)
        if self.layered is None:
            q = self.token_values(x)
            q_prev = torch.cat([torch.zeros_like(q[:, :1]), q[:, :-1]], dim=1)
            has_prev = (torch.arange(t, device=self.device) > 0).float().repeat(b)
            flat_q = q.flatten(0, 1)
            inputs = (flat_q, q_prev.flatten(0, 1), has_prev)
        else:
            base, q_layer, flat_q = self.layer_inputs(x)  # the discriminator's condition: the base tokens
            inputs = (q_layer, base)
        with amp:
            recon = self.decoder(*inputs)
            lp = self.lpips(recon.clamp(0, 1), x.flatten(0, 1)).float().mean()
            g_adv = F.softplus(-self.disc(recon, flat_q)).float().mean() if use_adv else x.new_zeros(())
        recon = recon.float()
        target = x.flatten(0, 1)
        mse = F.mse_loss(recon, target)
        r, s = recon.view_as(x), x
        temporal = F.l1_loss(r[:, 1:] - r[:, :-1], s[:, 1:] - s[:, :-1]) if t > 1 else x.new_zeros(())
        loss = cfg.lpips * lp + cfg.mse * mse + cfg.adv * g_adv + cfg.temporal * temporal
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.decoder.parameters(), 1.0)
        self.opt.step()
        d_loss = x.new_zeros(())
        if cfg.adv > 0 and self.step >= cfg.adv_start - 100:  # the discriminator warms up first
            for g in self.d_opt.param_groups:
                g["lr"] = lr_at(cfg.d_lr, 100, cfg.steps, self.step - (cfg.adv_start - 100))
            with amp:
                real = self.disc(target, flat_q).float()
                fake = self.disc(recon.detach(), flat_q).float()
            d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
            self.d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_opt.step()
        self.step += 1
        return {"loss": loss.item(), "lpips": lp.item(), "psnr": 10 * math.log10(1 / max(mse.item(), 1e-10)),
                "g_adv": g_adv.item(), "d_loss": d_loss.item(), "temporal": temporal.item()}


def main(argv: list[str] | None = None) -> int:
    from .mixrun import main as run_main

    return run_main("python -m vtcodec.train.perceptual", PerceptualConfig.from_dict, PerceptualTrainer, argv)


if __name__ == "__main__":
    sys.exit(main())
