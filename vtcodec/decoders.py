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
from .layers import check_config as check_layer_config
from .layers import list_layers
from .models import ModelConfig
from .models.config import NAME
from .models.enhance import EnhanceConfig, LayerSynthesis
from .models.tokenizer import SynthesisNet
from .zoo import (
    ZOO_DIR,
    _candidates,
    _inside,
    check_sha256,
    list_models,
    meta_shapes,
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
    serves: str  # the token model's name (a layer decoder's: the layered model's)
    serves_sha256: str  # and its weights' sha256
    config: ModelConfig | EnhanceConfig  # the model's or the layer's config (the decoder's architecture)
    info: dict
    # a layer decoder: the decoder (name, weights sha256) for the chunks coded on the base alone, or None
    base_decoder: tuple[str, str] | None = None

    @property
    def layer(self) -> bool:
        """Whether it decodes a layered model's enhancement layer (else a token model's tokens)."""
        return isinstance(self.config, EnhanceConfig)

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
    layer = "layer" in serves  # a layer decoder: serves {"layer": NAME, "sha256", "config" (EnhanceConfig)}
    try:
        cfg = (EnhanceConfig.from_dict(serves.get("config")) if layer
               else ModelConfig.from_dict(serves.get("config")))
        if layer:
            check_layer_config(cfg)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{meta_path}: bad config ({str(exc)[:200]})") from None
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ModelError(f"{meta_path}: name must be 1..64 letters, digits or ._+-")
    check_sha256(meta_path, sha, serves.get("sha256"))
    base_decoder = None
    if layer:
        served = serves.get("layer")
        if not isinstance(served, str) or not NAME.fullmatch(served):
            raise ModelError(f"{meta_path}: serves layer must be a layered model's name")
        if serves.get("base_decoder") is not None:  # the decoder of the base-only chunks
            bd = serves["base_decoder"]
            if not isinstance(bd, dict) or not isinstance(bd.get("name"), str) or not NAME.fullmatch(bd["name"]):
                raise ModelError(f"{meta_path}: base_decoder must name a decoder (name and sha256)")
            check_sha256(meta_path, bd.get("sha256"))
            base_decoder = (bd["name"], bd["sha256"])
    else:
        served = cfg.name
        if serves.get("model") != cfg.name:
            raise ModelError(f"{meta_path}: serves model {serves.get('model')!r}, but its config is {cfg.name!r}'s")
    return DecoderEntry(name, folder, sha, weights_size(folder), served, serves["sha256"], cfg, meta, base_decoder)


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
    model; for a layered model, those of its layer (every chunk), then those serving its base
    (its chunks coded on the base alone: ``StreamDecoder``)."""
    from .layers import find_layer
    from .zoo import find_model

    layer = find_layer(model)
    if layer is None:
        entry = find_model(model)
        return [d for d in list_decoders() if not d.layer and (d.serves, d.serves_sha256) == (entry.name, entry.sha256)]
    found = list_decoders()
    return ([d for d in found if d.layer and (d.serves, d.serves_sha256) == (layer.name, layer.sha256)]
            + [d for d in found if not d.layer and (d.serves, d.serves_sha256) == (layer.base, layer.base_sha256)])


_CACHE: dict[tuple, torch.nn.Module] = {}


def load_decoder(name_or_path: str | os.PathLike | None, model, device: str = "cpu",
                 layered=None) -> SynthesisNet | LayerSynthesis | None:
    """The decoder network to decode ``model``'s tokens with (``layered``: the stream's layered
    model, whose base ``model`` is): ``None`` (or the model's or the layered model's own name) for
    the own decoder; else an installed decoder's name or a decoder folder, which must serve
    exactly this model, or this layered model's layer (a ``LayerSynthesis``); ``ModelError``
    otherwise, saying which model it serves."""
    own = {"", model.cfg.name} | ({layered.name} if layered is not None else set())
    if name_or_path is None or str(name_or_path) in own:
        return None
    entry = find_decoder(name_or_path)
    name, sha = (layered.name, layered.sha256) if entry.layer and layered is not None else (model.cfg.name, model.sha256)
    if (entry.serves, entry.serves_sha256) != (name, sha):
        stream = (f"{model.cfg.name!r} (weights {model.sha256[:16]}...)" if layered is None else
                  f"layered model {layered.name!r} (weights {layered.sha256[:16]}...) or its base "
                  f"{model.cfg.name!r} (weights {model.sha256[:16]}...)")
        raise ModelError(f"decoder {entry.name!r} decodes {'layered ' if entry.layer else ''}model {entry.serves!r} "
                         f"(weights {entry.serves_sha256[:16]}...), not the stream's {stream}")
    if entry.layer and entry.config != layered.cfg:
        raise ModelError(f"decoder {entry.name!r}: its config is not the layer's it serves ({layered.name!r})")
    weights = entry.path / "weights.safetensors"
    st = weights.stat()
    key = (str(entry.path.resolve()), str(device), st.st_mtime_ns, st.st_size, entry.sha256)
    if key in _CACHE:
        return _CACHE[key]
    if entry.layer:
        state = read_weights(weights, entry.sha256, meta_shapes(LayerSynthesis, entry.config))
        net = LayerSynthesis(entry.config)
    else:
        dim = model.quantizer.dim
        state = read_weights(weights, entry.sha256, meta_shapes(SynthesisNet, entry.config, dim))
        net = SynthesisNet(entry.config, dim)
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False).to(device)
    if not entry.layer:
        net.to(memory_format=torch.channels_last)
    net.entry = entry
    _CACHE[key] = net
    return net


def base_decoder_of(entry: DecoderEntry) -> DecoderEntry | None:
    """The decoder a layer decoder names for its stream's chunks coded on the base alone (found by
    name and weights hash among the installed decoders; ``ModelError`` when it is not installed)."""
    if entry.base_decoder is None:
        return None
    name, sha = entry.base_decoder
    found = [d for d in list_decoders() if (d.name, d.sha256) == (name, sha)]
    if not found:
        raise ModelError(f"decoder {entry.name!r} needs the decoder {name!r} (weights {sha[:16]}...) for the "
                         "chunks on the base alone, which is not installed")
    return found[0]


def save_decoder(net: SynthesisNet | LayerSynthesis, model, folder: str | os.PathLike, name: str,
                 info: dict | None = None, base_decoder: DecoderEntry | None = None) -> DecoderEntry:
    """Write a decoder folder for ``net``, which decodes ``model``'s tokens (a loaded model: its
    name and weights sha256 go into ``serves``; a ``LayerSynthesis``: ``model`` is the loaded
    ``Layered`` whose layer it decodes, and ``base_decoder`` the decoder of that stream's chunks
    on the base alone, if any). ``name`` may be neither an installed model's nor another
    installed decoder's (``--decoder`` and ``vtcodec models`` find a decoder by name)."""
    if not NAME.fullmatch(name):
        raise ModelError(f"decoder name {name!r} must be 1..64 letters, digits or ._+-")
    folder = Path(folder)
    taken = [e for e in [*list_models(), *list_layers()] if e.name == name]
    if taken:
        raise ModelError(f"decoder name {name!r} is a model's name ({taken[0].path}); choose another")
    taken = [e for e in list_decoders() if e.name == name and e.path.resolve() != folder.resolve()]
    if taken:
        raise ModelError(f"decoder name {name!r} is taken ({taken[0].path}); choose another with --name")
    if isinstance(net, LayerSynthesis):
        serves = {"layer": model.name, "sha256": model.sha256, "config": model.cfg.to_dict()}
        if base_decoder is not None:
            if (base_decoder.serves, base_decoder.serves_sha256) != (model.base.cfg.name, model.base.sha256):
                raise ModelError(f"decoder {base_decoder.name!r} does not decode {model.name!r}'s base")
            serves["base_decoder"] = {"name": base_decoder.name, "sha256": base_decoder.sha256}
    else:
        serves = {"model": model.cfg.name, "sha256": model.sha256, "config": json.loads(model.cfg.to_json())}
    write_folder(folder, weights_state(net), META, {"kind": "decoder", "name": name, "serves": serves, **(info or {})})
    return _entry(folder)
