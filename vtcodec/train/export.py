"""``vtcodec export RUN_DIR -o models/zoo/NAME``: checkpoint -> safetensors + model.json."""

from __future__ import annotations

import os
from pathlib import Path

from ..models import VTModel
from ..zoo import ModelEntry, save_model
from .loop import TrainConfig, load_checkpoint


def export(run_dir: str | os.PathLike, out_dir: str | os.PathLike, command: str = "") -> ModelEntry:
    ck = load_checkpoint(Path(run_dir) / "last.pt")
    cfg = TrainConfig.from_dict(ck["config"])
    model = VTModel(cfg.model)
    model.load_state_dict(ck["model"])
    history = ck.get("history", [])
    info = {
        "recipe": {"train_config": cfg.to_dict(), "steps_done": ck["step"], "command": command,
                   "code_version": ck.get("version", "")},
        "training_history": [{k: h[k] for k in ("step", "psnr", "bpp", "val_psnr", "val_bpp", "time")
                              if k in h} for h in history if "val_psnr" in h],
    }
    return save_model(model, out_dir, info)
