"""``vtcodec export RUN_DIR -o FOLDER``: checkpoint -> safetensors + model.json.

A model's identity is its name and its weights hash, and every .vtc header names both. So that a
model trained from a bundled recipe can never shadow the bundled one (whose files would then stop
decoding), export refuses to write into a bundled model's folder, and a name that an installed
model already uses becomes ``NAME-TAG`` (TAG: 8 hex digits of the weights' own hash), with a note.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, replace
from pathlib import Path

from ..errors import ModelError
from ..models import VTModel
from ..zoo import ModelEntry, bundled_models, save_model, unique_name, weights_state
from .loop import TrainConfig, load_checkpoint


def export(run_dir: str | os.PathLike, out_dir: str | os.PathLike, command: str = "", name: str | None = None,
           force: bool = False, notes: list[str] | None = None) -> ModelEntry:
    """Write the run's model into ``out_dir``. ``name`` replaces the recipe's model name (an error
    if an installed model has it); without it, a taken name gets a suffix (see the module).
    ``force`` replaces a model already in ``out_dir`` (never a bundled one). Notes go to ``notes``."""
    from ..layers import list_layers

    out = Path(out_dir)
    for entry in [*bundled_models(), *(e for e in list_layers() if e.bundled)]:
        if out.resolve() == entry.path.resolve():
            raise ModelError(f"{out_dir}: is the bundled model {entry.name!r}; replacing it would stop "
                             "every file written with it from decoding (export to another folder)")
    if any((out / meta).exists() for meta in ("model.json", "decoder.json", "layer.json")) and not force:
        raise ModelError(f"{out_dir}: holds a model already (-f replaces it)")
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out_dir}: exists and is not a folder")
    ck = load_checkpoint(Path(run_dir) / "last.pt")
    if ck.get("kind") == "decoder":
        return export_decoder(ck, out, command, name)
    if ck.get("kind") == "enhance":
        return export_layer(ck, out, command, name)
    if ck.get("kind") == "ladder":
        from .ladder import LadderConfig

        cfg = LadderConfig.from_dict(ck["config"])
    else:
        cfg = TrainConfig.from_dict(ck["config"])
    try:
        model_cfg = cfg.model if name is None else replace(cfg.model, name=name)
    except ValueError as exc:
        raise ModelError(f"--name: {exc}") from None
    model = VTModel(model_cfg)
    model.load_state_dict(ck["model"])
    tag = hashlib.sha256()
    for key, tensor in sorted(weights_state(model).items()):
        tag.update(key.encode() + tensor.numpy().tobytes())
    new, note = unique_name(model_cfg.name, tag.hexdigest()[:8], out)
    if note and name is not None:
        raise ModelError(f"--name {name!r}: {note.split(';')[0]} (choose another)")
    if note:
        model.cfg = replace(model_cfg, name=new)  # the name only: the weights and the nets are the same
        (notes if notes is not None else []).append(note)
    history = ck.get("history", [])
    info = {
        "recipe": recipe(cfg.to_dict(), ck, command),
        "training_history": (history[::max(1, len(history) // 40)] if ck.get("kind") == "ladder" else
                             [{k: h[k] for k in ("step", "psnr", "bpp", "val_psnr", "val_bpp", "time")
                               if k in h} for h in history if "val_psnr" in h]),
    }
    return save_model(model, out, info)


def export_decoder(ck: dict, out: Path, command: str = "", name: str | None = None):
    """A perceptual run's decoder (``vtcodec.train.perceptual``) as a decoder folder
    (``vtcodec.decoders``) serving the token model it was trained on, which must be installed."""
    from ..decoders import save_decoder
    from ..models.tokenizer import SynthesisNet
    from ..zoo import find_installed, load_model
    from .perceptual import PerceptualConfig

    cfg = PerceptualConfig.from_dict(ck["config"])
    info = {"recipe": recipe(asdict(cfg), ck, command),
            "training_history": ck.get("history", [])[-40:]}
    name = name or cfg.name
    if ck.get("layer"):  # a layered model's layer decoder (and the decoder of its base-only chunks)
        from ..decoders import find_decoder
        from ..errors import ModelError
        from ..layers import find_installed_layer, load_layer
        from ..models.enhance import LayerSynthesis

        layer = find_installed_layer(str(ck["layer"].get("name")), str(ck["layer"].get("sha256")))
        if layer is None:
            raise ModelError(f"the run decodes the layered model {ck['layer'].get('name')!r}, which is not installed")
        layered = load_layer(layer, precision="fp32")
        net = LayerSynthesis(layered.cfg)
        net.load_state_dict(ck["decoder"])
        base = find_decoder(cfg.base_decoder) if cfg.base_decoder else None
        return save_decoder(net, layered, out, name, info, base)
    serves = ck.get("token_model") or {}
    model = load_model(find_installed(str(serves.get("name")), str(serves.get("sha256"))).path, precision="fp32")
    net = SynthesisNet(model.cfg, model.quantizer.dim)
    net.load_state_dict(ck["decoder"])
    return save_decoder(net, model, out, name, info)


def export_layer(ck: dict, out: Path, command: str = "", name: str | None = None):
    """An enhancement run's layer (``vtcodec.train.enhance``) as a layer folder (``vtcodec.layers``)
    over the base model it was trained on: the one its checkpoint names by weights hash, or (a
    checkpoint from before vtcodec 0.15) the installed model of its config's base name."""
    from ..layers import save_layer
    from ..models.enhance import Enhancer
    from ..zoo import find_installed, find_model, load_model
    from .enhance import EnhanceTrainConfig

    cfg = EnhanceTrainConfig.from_dict(ck["config"])
    base = ck.get("token_model") or {}
    entry = (find_installed(str(base.get("name")), str(base.get("sha256"))) if base
             else find_model(cfg.model.base))
    net = Enhancer(cfg.model if name is None else replace(cfg.model, name=name))  # save_layer checks the name
    net.load_state_dict(ck["model"])
    history = ck.get("history", [])
    info = {"recipe": recipe(cfg.to_dict(), ck, command), "training_history": history[::max(1, len(history) // 40)]}
    return save_layer(net, load_model(entry.path, precision="fp32"), out, info)


def recipe(train_config: dict, ck: dict, command: str) -> dict:
    """The ``recipe`` a model, decoder or layer folder records: its run's settings, steps, command
    and code version, and the weights it started from where its checkpoint names them."""
    return {"train_config": train_config, "steps_done": ck["step"], "command": command,
            "code_version": ck.get("version", ""), **({"warm_start": ck["warm_start"]} if ck.get("warm_start") else {})}
