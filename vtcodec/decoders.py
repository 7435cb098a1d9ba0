"""Alternative decoders: one stream, decoded faithfully or perceptually, chosen at decode time.

A token model's own decoder is trained for fidelity (MSE). Because a ``.vtc`` stream holds tokens,
not pixels, another decoder can turn the same tokens into other frames: a perceptual one
(``vtcodec/train/perceptual.py``) draws texture where the faithful one draws blur. The stream and
its tokens stay the same; only the frames differ.

A decoder is a folder holding ``weights.safetensors`` (the decoder network's tensors, the
architecture of its token model's decoder) and ``decoder.json``: its name, the sha256 of its
weights, and the token model it serves, by name and weights sha256 (``serves``), with that
model's config. A decoder decodes only streams of that exact model: the header's model name and
hash still name the tokens, and a mismatch is refused with one line. Decoders live where models
do (``models/zoo``, ``VTCODEC_MODEL_PATH``, ``register_model``) and are checked the same way
before use (regular files of bounded size, hash before parsing, tensors exactly the network's,
finite).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import ModelError
from .models import ModelConfig
from .models.config import NAME
from .models.tokenizer import SynthesisNet
from .zoo import (
    ZOO_DIR,
    _candidates,
    _inside,
    check_sha256,
    list_models,
    read_meta,
    read_weights,
    readable,
    weights_size,
    weights_state,
    write_folder,
)

META = "decoder.json"


@dataclass(frozen=True)
class DecoderEntry:
    name: str
    path: Path  # folder
    sha256: str  # of the weights file
    size: int
    serves: str  # the token model's name
    serves_sha256: str  # and its weights' sha256
    config: ModelConfig  # the token model's config (the decoder's architecture)
    info: dict

    @property
    def bundled(self) -> bool:
        """Shipped with vtcodec (``models/zoo``)."""
        return _inside(self.path, ZOO_DIR)


def is_decoder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` claims to be a decoder (it has a ``decoder.json`` of any kind; whether it
    is one, ``_entry`` checks)."""
    return os.path.lexists(Path(folder) / META)


def _entry(folder: Path) -> DecoderEntry:
    folder = Path(folder)
    meta_path, meta, serves = read_meta(folder, META, "serves")
    name, sha = meta.get("name"), meta.get("sha256")
    try:
        cfg = ModelConfig.from_dict(serves.get("config"))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{meta_path}: bad config ({exc})") from None
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ModelError(f"{meta_path}: name must be 1..64 letters, digits or ._+-")
    check_sha256(meta_path, sha, serves.get("sha256"))
    if serves.get("model") != cfg.name:
        raise ModelError(f"{meta_path}: serves model {serves.get('model')!r}, but its config is {cfg.name!r}'s")
    return DecoderEntry(name, folder, sha, weights_size(folder), cfg.name, serves["sha256"], cfg, meta)


def list_decoders() -> list[DecoderEntry]:
    """Installed decoders (bundled, ``VTCODEC_MODEL_PATH``, registered; broken folders left out)."""
    return readable(_entry, [d for d in _candidates() if is_decoder(d)])


def find_decoder(name_or_path: str | os.PathLike) -> DecoderEntry:
    p = Path(name_or_path)
    if p.is_dir():
        if not is_decoder(p):
            raise ModelError(f"{p}: not a vtcodec decoder folder ({META} is missing)")
        return _entry(p)
    found = [e for e in list_decoders() if e.name == str(name_or_path)]
    if found:
        return found[0]
    names = ", ".join(dict.fromkeys(e.name for e in list_decoders())) or "none"
    raise ModelError(f"unknown decoder {str(name_or_path)!r} (installed: {names}; or give a decoder folder)")


def decoders_for(model: str | os.PathLike) -> list[DecoderEntry]:
    """The installed decoders for a model's streams (a name or folder): those serving that token
    model, or for a layered model those serving its base (they decode its chunks coded on the base
    alone: ``StreamDecoder``)."""
    from .layers import find_layer
    from .zoo import find_model

    layer = find_layer(model)
    name, sha = (layer.base, layer.base_sha256) if layer is not None else (find_model(model).name, find_model(model).sha256)
    return [d for d in list_decoders() if (d.serves, d.serves_sha256) == (name, sha)]


def _state_shapes(cfg: ModelConfig, dim: int) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        net = SynthesisNet(cfg, dim)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


_CACHE: dict[tuple, SynthesisNet] = {}


def load_decoder(name_or_path: str | os.PathLike | None, model, device: str = "cpu") -> SynthesisNet | None:
    """The decoder network to decode ``model``'s tokens with: ``None`` (or the model's own name)
    for the model's own decoder; else an installed decoder's name or a decoder folder, which must
    serve exactly this model (``ModelError`` otherwise, saying which model it serves)."""
    if name_or_path is None or str(name_or_path) in ("", model.cfg.name):
        return None
    entry = find_decoder(name_or_path)
    if (entry.serves, entry.serves_sha256) != (model.cfg.name, model.sha256):
        raise ModelError(f"decoder {entry.name!r} decodes model {entry.serves!r} (weights "
                         f"{entry.serves_sha256[:16]}...), not the stream's {model.cfg.name!r} (weights "
                         f"{model.sha256[:16]}...)")
    weights = entry.path / "weights.safetensors"
    st = weights.stat()
    key = (str(entry.path.resolve()), str(device), st.st_mtime_ns, st.st_size, entry.sha256)
    if key in _CACHE:
        return _CACHE[key]
    dim = model.quantizer.dim
    state = read_weights(weights, entry.sha256, _state_shapes(entry.config, dim))
    net = SynthesisNet(entry.config, dim)
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False).to(device).to(memory_format=torch.channels_last)
    net.entry = entry
    _CACHE[key] = net
    return net


def save_decoder(net: SynthesisNet, model, folder: str | os.PathLike, name: str, info: dict | None = None) -> DecoderEntry:
    """Write a decoder folder for ``net``, which decodes ``model``'s tokens (a loaded model: its
    name and weights sha256 go into ``serves``). ``name`` may be neither an installed model's nor
    another installed decoder's (``--decoder`` and ``vtcodec models`` find a decoder by name)."""
    if not NAME.fullmatch(name):
        raise ModelError(f"decoder name {name!r} must be 1..64 letters, digits or ._+-")
    folder = Path(folder)
    taken = [e for e in list_models() if e.name == name]
    if taken:
        raise ModelError(f"decoder name {name!r} is a model's name ({taken[0].path}); choose another")
    taken = [e for e in list_decoders() if e.name == name and e.path.resolve() != folder.resolve()]
    if taken:
        raise ModelError(f"decoder name {name!r} is taken ({taken[0].path}); choose another with --name")
    write_folder(folder, weights_state(net), META, {
        "kind": "decoder", "name": name,
        "serves": {"model": model.cfg.name, "sha256": model.sha256, "config": json.loads(model.cfg.to_json())},
        **(info or {})})
    return _entry(folder)
