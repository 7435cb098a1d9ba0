"""Train an enhancement layer (``models/enhance.py``) on a frozen base token model.

``python -m vtcodec.train.enhance [--config TOML] --data-videos DIR --data-sequences DIR
--data-stills DIR --out RUN [--resume] [--time-limit S] [--steps N] [--device cuda]``.

Every clip draws a level ``l``; the base model codes its frames as the codec does at the source
size (its own tokens, decoded with the previous token frame as context, no gradient); the loss is
``lambda_l * 255^2 * (MSE + ms * (1 - MS-SSIM)) + bpp`` with bpp the enhancement tokens' bits under
the prior, made differentiable as vt2's are (``vtcodec.refine.soft_bit_map``), the decoder seeing
straight-through rounded latents. The base layer's bits do not depend on the enhancement and are
left out.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..models.enhance import EnhanceConfig, Enhancer
from ..models.tokenizer import clips_previous
from .ladder import LadderTrainer
from .loop import autocast


@dataclass(frozen=True)
class EnhanceTrainConfig:
    model: EnhanceConfig = field(default_factory=EnhanceConfig)
    steps: int = 20000
    batch: int = 8
    crop: int = 128
    frames: int = 2
    scales: tuple[float, ...] = (1.0, 1.0, 0.71)
    # lambda (bpp per unit of MSE on the 0..255 scale) of the coarsest and the finest level: near
    # the slope of vt1-fsq's curve at its top (coarsest) and of a codec near 40 dB (finest)
    lam_min: float = 0.004
    lam_max: float = 0.3
    ms: float = 0.01
    rate_warmup: int = 500
    lr: float = 3e-4
    warmup: int = 200
    final_lr_frac: float = 0.1
    grad_clip: float = 1.0
    # lossless material first: photos and frame sequences carry detail that the lossy clips lost
    shares: tuple[tuple[str, float], ...] = (("stills", 0.5), ("sequences", 0.35), ("videos", 0.15))
    seed: int = 0
    ckpt_every: int = 250
    log_every: int = 50
    # a layer (installed name or folder) whose weights start a new run ("" = from scratch): the
    # same architecture over the same base; its optimizer state is not stored, so the run warms its
    # learning rate up again (``warmup``), and the rate term needs no warm-up (``rate_warmup = 0``)
    warm_start: str = ""
    # a warm start into more latent channels (``widened``): steps over which the rate's weight on
    # the new channels' encoder grows from 0 to 1 (the prior learns their symbols throughout). At
    # full weight from the start, the rate of symbols the prior has not learned yet would drown
    # the decoder's first use of them
    widen_warmup: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict) -> EnhanceTrainConfig:
        from .loop import known_settings

        data = dict(data)
        model = EnhanceConfig.from_dict(data.pop("model", {}))
        return cls(model=model, **known_settings(cls, data))


@torch.no_grad()
def base_layer(base, x: torch.Tensor, amp) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips ``[B, T, 3, H, W]`` (each starting a chunk; H, W multiples of 8) -> the base model's
    symbols ``[B * T, S, H/8, W/8]`` and its decode ``[B * T, 3, H, W]`` in [0, 1]."""
    b, t = x.shape[:2]
    with amp:
        z = base.encoder(x.flatten(0, 1)).float()
    symbols = base.quantizer.encode(z)
    q = base.quantizer.decode(symbols).view(b, t, *z.shape[1:])
    q_prev, has_prev = clips_previous(q)
    with amp:
        out = base.decoder(q.flatten(0, 1), q_prev, has_prev).float()
    return symbols, out.clamp(0, 1)


class EnhanceTrainer(LadderTrainer):
    """``LadderTrainer``'s steps, log and checkpoints for an ``Enhancer`` over a frozen base."""

    kind = "enhance"

    def __init__(self, cfg: EnhanceTrainConfig, groups: dict[str, list[np.ndarray]], out: str | os.PathLike,
                 resume: bool = False, log=print, device: str = "cpu", steps: int | None = None) -> None:
        from ..zoo import load_model

        ck = self.begin(cfg, EnhanceTrainConfig.from_dict, out, resume, log, device, steps)
        cfg = self.cfg
        self.base = load_model(cfg.model.base, device=device).eval()
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.model = Enhancer(cfg.model).to(self.device)
        self.warm = (ck or {}).get("warm_start")
        if ck is None and cfg.warm_start:
            self.warm = warm_start(self.model, cfg.warm_start, self.base)
            log(f"warm start from {self.warm['path']} ({self.warm['steps_done']} steps)")
        self.prepare(groups, Enhancer.lambdas(cfg.lam_min, cfg.lam_max, cfg.model.gains), ck)

    def losses(self, x: torch.Tensor, level: torch.Tensor) -> dict[str, torch.Tensor]:
        from ..refine import soft_bit_map

        enh = self.model
        b, t = x.shape[:2]
        lv = level.repeat_interleave(t)
        amp = autocast(self.device)
        base_symbols, base = base_layer(self.base, x, amp)
        side = enh.side(self.base.quantizer.prior_values(base_symbols).view(b, t, -1, *base_symbols.shape[2:]))
        target = x.flatten(0, 1)
        with amp:
            z, recon = enh.unroll(x, base.view(x.shape), level)
        symbols = enh.quantizer.encode(z.detach(), lv)
        with amp:
            costs = enh.prior_costs(symbols.view(b, t, *symbols.shape[1:]), level, side).flatten(0, 1)
        bits = soft_bit_map(enh.quantizer, z, costs, lv)
        prior_bits = soft_bit_map(enh.quantizer, z.detach(), costs, lv)
        new = (self.warm or {}).get("widened_from_dim")
        if new is not None and self.step < self.cfg.widen_warmup:
            w = self.step / self.cfg.widen_warmup
            bits = torch.cat([bits[:, :new], w * bits[:, new:] + (1 - w) * prior_bits[:, new:]], 1)
        base_mse = ((base - target) ** 2).mean(dim=(1, 2, 3)).view(b, t).mean(1)
        return {**self.per_clip(recon, x, bits, prior_bits), "base_mse": base_mse}

    def checkpoint_extra(self) -> dict:
        """The base model the layer was trained over, by name and weights hash (what ``vtcodec
        export`` writes into the layer folder, so the layer names exactly the base it refines)."""
        extra = {"token_model": {"name": self.base.cfg.name, "sha256": self.base.sha256}}
        return extra | ({"warm_start": self.warm} if self.warm else {})

    def logged(self, out: dict[str, torch.Tensor], psnr: torch.Tensor) -> dict[str, torch.Tensor]:
        """The layer's gain over the base decode of the same clips, dB."""
        return {"gain": psnr + 10 * torch.log10(out["base_mse"].clamp(min=1e-10))}


def warm_start(model: Enhancer, source: str, base) -> dict:
    """Load the weights of layer ``source`` (an installed name or a folder) into ``model``: the same
    architecture, trained over ``base`` (the same weights, by hash). Returns what the run's
    checkpoints (and the folder it is exported to) record of it: name, folder, weights sha256 and
    the steps it was trained for."""
    from ..errors import ModelError
    from ..layers import find_layer, layer_state

    entry = find_layer(source)
    if entry is None:
        raise ModelError(f"warm start: no layer named {source!r}")
    wide = replace(entry.config, name=model.cfg.name) != model.cfg
    if wide and not widens(entry.config, model.cfg):
        raise ModelError(f"warm start: layer {entry.name!r} has another architecture than the run's")
    if entry.base_sha256 != base.sha256:
        raise ModelError(f"warm start: layer {entry.name!r} was trained over another base than {base.cfg.name!r}")
    state = layer_state(entry)  # float16 values, copied into the float32 net
    model.load_state_dict(widened(state, entry.config, model) if wide else state)
    steps = (entry.info.get("recipe") or {}).get("steps_done")
    return {"name": entry.name, "path": str(entry.path), "sha256": entry.sha256, "steps_done": steps} \
        | ({"widened_from_dim": entry.config.dim} if wide else {})


def widens(src: EnhanceConfig, cfg: EnhanceConfig) -> bool:
    """Whether a layer of ``src``'s architecture can start a run of ``cfg``'s by widening: the same
    nets but more latent channels, the source's channels keeping their indices and their prior
    groups (group ``i`` of ``cfg`` holds ``src``'s group ``i``, and new channels beside them)."""
    same = replace(src, name=cfg.name, dim=cfg.dim, prior_groups=cfg.prior_groups) == cfg
    return (same and cfg.dim > src.dim and len(cfg.prior_groups) == len(src.prior_groups)
            and all(set(a) <= set(b) for a, b in zip(src.prior_groups, cfg.prior_groups)))


def widened(state: dict[str, torch.Tensor], src: EnhanceConfig, model: Enhancer) -> dict[str, torch.Tensor]:
    """``src``'s weights (``state``) set into a wider ``model``'s (``widens``), so that the wider
    layer starts decoding as the narrow one: the decoder's weights on the new latents are zero,
    and so are the prior's on them (the old channels' probabilities are the narrow layer's). The
    new channels' encoder rows keep their fresh initialisation, so their symbols carry the
    encoder's features from the first step and the decoder's gradient reaches its new weights at
    once; the prior starts them uniform, and ``widen_warmup`` keeps their rate off the encoder while
    the prior learns them. (Trial, models/README.md: new rows starting near zero under a prior
    sure of symbol 0 shrank and stayed at 0 through 250 steps, with or without that warm-up.)
    New channels take each level's mean gain."""
    d, n = src.dim, model.cfg.dim
    out = {k: v.clone().float() for k, v in model.state_dict().items()}
    for k, v in state.items():
        if out[k].shape == v.shape:
            out[k] = v.float()
    g = state["quantizer.log_gain"].float()
    out["quantizer.log_gain"] = torch.cat([g, g.mean(1, keepdim=True).expand(-1, n - d)], 1)
    out["enc_head.weight"][:d], out["enc_head.bias"][:d] = state["enc_head.weight"].float(), state["enc_head.bias"].float()
    stem = out["dec_stem.weight"]  # input: latents (dim), then the base decode's 48 patch values
    stem[:, :d], stem[:, d:n], stem[:, n:] = state["dec_stem.weight"][:, :d].float(), 0.0, state["dec_stem.weight"][:, d:].float()
    first = out["prior.convs.0.weight"]  # input: prev (dim), cur * known (dim), known (dim), the rest
    old = state["prior.convs.0.weight"].float()
    first.zero_()
    for i in range(3):
        first[:, i * n:i * n + d] = old[:, i * d:(i + 1) * d]
    first[:, 3 * n:] = old[:, 3 * d:]
    head = f"prior.convs.{len(model.prior.convs) - 1}"  # rows: channel-major, ``alphabet`` each
    a = model.cfg.alphabet
    hw, hb = out[f"{head}.weight"], out[f"{head}.bias"]
    hw[:d * a], hb[:d * a] = state[f"{head}.weight"].float(), state[f"{head}.bias"].float()
    hw[d * a:], hb[d * a:] = 0.0, 0.0
    return out


def load_enhancer(path: str | os.PathLike, device: str = "cpu") -> Enhancer:
    """The enhancement layer of a run folder's ``last.pt``."""
    from .loop import load_checkpoint

    ck = load_checkpoint(Path(path) / "last.pt" if Path(path).is_dir() else path, device)
    model = Enhancer(EnhanceConfig.from_dict(ck["config"]["model"])).to(device)
    model.load_state_dict(ck["model"])
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    from .mixrun import main as run_main

    return run_main("python -m vtcodec.train.enhance", EnhanceTrainConfig.from_dict, EnhanceTrainer, argv)


if __name__ == "__main__":
    sys.exit(main())
