"""Layered models: an enhancement layer (``models/enhance.py``) over a token model, as a stream
carries them (format 4.0; 5.0 adds block skips and 6.0 motion-compensated prediction,
``vtcodec.skip``; SPEC.md "Layered streams").

A layer is a folder holding ``weights.safetensors`` (the ``Enhancer``'s tensors) and
``layer.json``: its name, the sha256 of its weights, its config (``EnhanceConfig``) and the base
model it refines, by name and weights sha256 (``base``). A stream of a layered model names the
layer in its header (name and hash, as any model); its decoder finds the base among the installed
models by the name and hash the layer declares. Layers live where models do (``models/zoo``,
``VTCODEC_MODEL_PATH``, ``register_model``) and are checked the same way before use (regular files
of bounded size, every config field in range, hash before parsing, tensors exactly the network's,
finite).

What the layer adds (``Layered``): the base layer codes a chunk as the base model does, at the
source-size grid; the layer's encoder sees the source and the base decode *as the decoder shows
it* (8-bit RGB), and its tokens (one per 4x4 patch of the frame edge-padded to multiples of 8) are
range-coded under its exact prior, whose side planes are the base tokens. Its decoder adds a
correction to that base decode; in 6.0, to a *prediction* instead, where each 16x16 block of a
chunk's later frames is the base decode or the previous output moved into place (``code``). A
layer with a learned decoded-frame context (``recon`` > 0) has no format yet and is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ModelError
from .grid import from_grid, to_grid
from .models.config import NAME
from .models.enhance import EnhanceConfig, Enhancer
from .presets import Preset
from .refine import refine_layer
from .skip import CODED, SKIPPED, blocks, modes, predict, prediction, skipped, token_mask
from .zoo import (
    ZOO_DIR,
    _candidates,
    _inside,
    check_sha256,
    find_installed,
    find_model,
    list_models,
    load_model,
    meta_shapes,
    read_meta,
    read_weights,
    readable,
    weights_size,
    weights_state,
    write_folder,
)

META = "layer.json"
MAX_LEVELS = 32  # a layer's quality levels (the header's quality byte counts 10 base rungs + some of these)


@dataclass(frozen=True)
class LayerEntry:
    name: str
    path: Path  # folder
    sha256: str  # of the weights file
    size: int
    base: str  # the base model's name
    base_sha256: str  # and its weights' sha256
    config: EnhanceConfig
    info: dict

    @property
    def bundled(self) -> bool:
        """Shipped with vtcodec (``models/zoo``)."""
        return _inside(self.path, ZOO_DIR)


def is_layer(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` claims to be a layer (it has a ``layer.json``; ``_entry`` checks it)."""
    return os.path.lexists(Path(folder) / META)


def check_config(cfg: EnhanceConfig) -> None:
    """``ValueError`` naming the first field of a layer's config outside what vtcodec builds."""
    ranges = {"dim": (1, 64), "alphabet": (3, 63), "gains": (1, MAX_LEVELS), "width": (1, 512),
              "blocks": (0, 16), "prior_width": (1, 512), "prior_layers": (1, 8), "side": (1, 64)}
    for field, (lo, hi) in ranges.items():
        value = getattr(cfg, field)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ValueError(f"{field} must be an integer in {lo}..{hi}")
    if cfg.alphabet % 2 == 0:
        raise ValueError("alphabet must be odd")
    if not isinstance(cfg.name, str) or not NAME.fullmatch(cfg.name):
        raise ValueError("name must be 1..64 letters, digits or ._+-")
    if sorted(c for g in cfg.prior_groups for c in g) != list(range(cfg.dim)):
        raise ValueError("prior_groups must split the channels 0..dim-1")
    if cfg.recon or not isinstance(cfg.side_prev, bool):
        raise ValueError("a layer with a decoded-frame context (recon) has no format yet")


def _entry(folder: Path) -> LayerEntry:
    folder = Path(folder)
    meta_path, meta, base = read_meta(folder, META, "base")
    name, sha = meta.get("name"), meta.get("sha256")
    try:
        cfg = EnhanceConfig.from_dict(meta.get("config"))
        check_config(cfg)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{meta_path}: bad config ({exc})") from None
    if name != cfg.name:
        raise ModelError(f"{meta_path}: name {name!r} differs from the config's {cfg.name!r}")
    check_sha256(meta_path, sha, base.get("sha256"))
    if base.get("model") != cfg.base:
        raise ModelError(f"{meta_path}: base model {base.get('model')!r} differs from the config's {cfg.base!r}")
    return LayerEntry(name, folder, sha, weights_size(folder), cfg.base, base["sha256"], cfg, meta)


def list_layers() -> list[LayerEntry]:
    """Installed layers (bundled, ``VTCODEC_MODEL_PATH``, registered; broken folders left out)."""
    return readable(_entry, [d for d in _candidates() if is_layer(d)])


def find_layer(name_or_path: str | os.PathLike) -> LayerEntry | None:
    """The layer a name or folder names, or None when it names no layer (it may name a model)."""
    p = Path(name_or_path)
    if p.is_dir():
        return _entry(p) if is_layer(p) else None
    return next((e for e in list_layers() if e.name == str(name_or_path)), None)


def find_any(name_or_path: str | os.PathLike):
    """The layer or the model a name or folder names (``ModelError`` if neither): its ``name``,
    ``sha256`` and ``path``."""
    layer = find_layer(name_or_path)
    return layer if layer is not None else find_model(name_or_path)


def find_installed_layer(name: str, sha256: str) -> LayerEntry | None:
    """The installed layer a stream's header names (same name and weights hash), or None."""
    return next((e for e in list_layers() if e.name == name and e.sha256 == sha256), None)


def qualities(model: str | os.PathLike) -> range:
    """The ``--quality`` levels of a model or layered model (by name or folder)."""
    from .rate import Ladder

    layer = find_layer(model)
    return Ladder(0, 0 if layer is None else layer.config.gains).qualities


_CACHE: dict[tuple, Layered] = {}


def layer_state(entry: LayerEntry) -> dict[str, torch.Tensor]:
    """The tensors of ``entry``'s weights file (float16), checked against its hash and config."""
    return read_weights(entry.path / "weights.safetensors", entry.sha256, meta_shapes(Enhancer, entry.config))


def load_layer(entry: LayerEntry, device: str = "cpu", precision: str | None = None) -> Layered:
    """The layer of ``entry`` with its base model (found among the installed models by the name and
    hash the layer declares: ``ModelError`` when it is not installed, or is not a token model the
    layer can sit on)."""
    base_entry = find_installed(entry.base, entry.base_sha256)
    weights = entry.path / "weights.safetensors"
    st = weights.stat()
    key = (str(entry.path.resolve()), str(device), precision, st.st_mtime_ns, st.st_size, entry.sha256)
    if key in _CACHE:
        return _CACHE[key]
    base = load_model(base_entry.path, device=device, precision=precision)
    if base.levels or base.state or base.recon or len(base.alphabets) != entry.config.side:
        raise ModelError(f"layer {entry.name!r}: its base {entry.base!r} is not a token model it can refine "
                         f"(it needs {entry.config.side} token channels, no quality levels)")
    net = Enhancer(entry.config)
    net.load_state_dict(layer_state(entry), strict=True)
    net.eval().requires_grad_(False).to(device)
    layered = Layered(entry, base, net)
    _CACHE[key] = layered
    return layered


def save_layer(net: Enhancer, base, folder: str | os.PathLike, info: dict | None = None) -> LayerEntry:
    """Write a layer folder for ``net`` over ``base`` (a loaded model: its name and weights sha256
    go into ``base``), each file through a temporary file renamed into place. The name may not be
    another installed model's or layer's."""
    try:
        check_config(net.cfg)
    except ValueError as exc:
        raise ModelError(f"layer {net.cfg.name!r}: {exc}") from None
    folder = Path(folder)
    name = net.cfg.name
    taken = [e.path for e in list_models() if e.name == name]
    taken += [e.path for e in list_layers() if e.name == name and e.path.resolve() != folder.resolve()]
    if taken:
        raise ModelError(f"layer name {name!r} is taken ({taken[0]}); choose another with --name")
    write_folder(folder, weights_state(net), META, {"kind": "layer", "name": name, "config": net.cfg.to_dict(),
                                                    "base": {"model": base.cfg.name, "sha256": base.sha256},
                                                    **(info or {})})
    return _entry(folder)


class Layered:
    """A base token model and the enhancement layer over it: what an encoder and a decoder of a
    layered (format 4.0 or 5.0) stream hold (module docstring)."""

    def __init__(self, entry: LayerEntry, base, net: Enhancer) -> None:
        self.entry, self.base, self.net = entry, base, net
        self.cfg = net.cfg
        self.name, self.sha256 = entry.name, entry.sha256
        self.levels = self.cfg.gains
        self.device = next(net.parameters()).device

    @property
    def n_symbols(self) -> int:
        return len(self.net.alphabets)

    def grid(self, rows: int, cols: int) -> tuple[int, int]:
        """The layer's token grid over a base token grid of ``rows x cols``: one token per 4x4."""
        return 2 * rows, 2 * cols

    def side(self, values: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        """The layer prior's side planes ``[1, C, 2h, 2w]`` of a frame whose base symbols are
        ``values`` ``[S, h, w]`` (``prev``: the chunk's frame before, None for its first)."""
        return self.sides(values[None] if prev is None else torch.stack([prev, values]))[-1:]

    def sides(self, symbols: torch.Tensor) -> torch.Tensor:
        """The side planes ``[T, C, 2h, 2w]`` of a chunk's base symbols ``[T, S, h, w]``."""
        return self.net.side(self.base.quantizer.prior_values(symbols).unsqueeze(0).cpu())[0]

    @torch.inference_mode()
    def encode(self, frames: np.ndarray, shown: np.ndarray, level: int, batch: int,
               preset: Preset | None = None, side: torch.Tensor | None = None) -> torch.Tensor:
        """Source frames and the pictures the layer corrects (their base decode, or 6.0's
        prediction) ``[T, H, W, 3]`` uint8 -> the layer's symbols ``[T, S, 2h, 2w]`` at ``level``,
        ``batch`` frames per network call. A refining ``preset`` refines the latents first
        (``vtcodec.refine.refine_layer``; ``side``: the frames' side planes, which its rate term
        needs)."""
        z = torch.cat([self.net.latents(to_grid(frames[i:i + batch], self.device),
                                        to_grid(shown[i:i + batch], self.device), level).float()
                       for i in range(0, len(frames), batch)])
        if preset is not None and preset.layer_steps:
            h, w = frames.shape[1:3]
            side = side.to(self.device) if preset.layer_rate_slope > 0 else None
            z = refine_layer(self.net, z, to_grid(frames, self.device)[:, :, :h, :w], to_grid(shown, self.device),
                             side, level, preset.layer_steps, preset.layer_lr, preset.ms_weight, batch,
                             preset.layer_rate_slope)
        return self.net.quantizer.encode(z, level).cpu()

    def code(self, frames: np.ndarray, shown: np.ndarray, level: int, side: torch.Tensor, lam: float,
             bits: Callable[[torch.Tensor, int], np.ndarray], preset: Preset | None = None,
             ) -> tuple[torch.Tensor, tuple[np.ndarray, np.ndarray]]:
        """A 6.0 chunk's layer, frame after frame against the output the decoder will show: source
        frames and their base decode ``[T, H, W, 3]`` uint8, their side planes ``[T, C, 2h, 2w]``,
        the skips' ``lam`` (0: none) and ``bits`` (the -log2 p of each position of frame ``t``
        ``[2h, 2w]``, given the symbols of frames ``t - 1`` and ``t`` ``[2, S, 2h, 2w]`` and ``t``)
        -> (the layer's symbols ``[T, S, 2h, 2w]``, (modes ``[T, hb, wb]``, vectors
        ``[T, hb, wb, 2]``)). In each frame after the first, a
        block is coded over the previous output moved into place where that is closer to the
        source than the base decode (``vtcodec.skip.modes``); then the blocks whose moved previous
        output is as good as their coding's error plus ``lam`` times its bits are skipped (their
        symbols the previous frame's, as in 5.0)."""
        h, w = frames.shape[1:3]
        out, symbols = None, []
        flags = np.zeros((len(frames), *blocks(*self.grid(-(-h // 8), -(-w // 8)))), dtype=np.int64)
        mvs = np.zeros((*flags.shape, 2), dtype=np.int64)
        for t in range(len(frames)):
            pred = shown[t]
            if t:
                flags[t], best, found = modes(frames[t], shown[t], out, lam)
                pred = prediction(out, flags[t], found, shown[t])
            tokens = self.encode(frames[t:t + 1], pred[None], level, 1, preset, side[t:t + 1])
            coded = from_grid(self.reconstruct(tokens, pred[None], level), (h, w), (h, w))[0]
            if t and lam > 0:
                skip = skipped(best, frames[t], coded, bits(torch.cat([symbols[-1], tokens]), t), lam)
                if skip.any():
                    flags[t][skip] = SKIPPED
                    kept = torch.from_numpy(token_mask(flags[t], *tokens.shape[2:]))
                    tokens = torch.where(kept, symbols[-1], tokens)
                    pred = prediction(out, flags[t], found, shown[t])
                    coded = predict(out, flags[t], found,
                                    from_grid(self.reconstruct(tokens, pred[None], level), (h, w), (h, w))[0])
            if t:  # a coded block's vector is not in the stream
                mvs[t] = found * (flags[t] != CODED)[..., None]
            symbols.append(tokens)
            out = coded
        return torch.cat(symbols), (flags, mvs)

    @torch.inference_mode()
    def reconstruct(self, symbols: torch.Tensor, shown: np.ndarray, level: int,
                    decoder: torch.nn.Module | None = None) -> torch.Tensor:
        """The layer's symbols ``[B, S, 2h, 2w]`` and the frames' base decode ``[B, H, W, 3]`` uint8
        -> frames ``[B, 3, H8, W8]`` in [0, 1] (edge-padded, as ``vtcodec.grid.from_grid`` takes them).
        ``decoder``: another decoder of the layer's tokens (``vtcodec.decoders``, a
        ``LayerSynthesis``) instead of the layer's own."""
        q = self.net.quantizer.decode(symbols.to(self.device), level)
        net = self.net.synthesize if decoder is None else decoder
        return net(q, to_grid(shown, self.device)).float().clamp(0, 1)


def side_source(layered: Layered, base_symbols: list[torch.Tensor]) -> Callable[[int], torch.Tensor]:
    """``i -> side planes of frame i`` over the base symbols decoded so far (a list the caller
    fills frame by frame, ahead of the layer's decoding)."""
    return lambda i: layered.side(base_symbols[i], base_symbols[i - 1] if i else None)
