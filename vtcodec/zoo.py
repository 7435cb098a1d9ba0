"""Model registry: stable name -> config, weights file and sha256.

A model is a folder holding ``weights.safetensors`` and ``model.json`` (name, config, sha256 of
the weights file, recipe). Bundled models live in ``models/zoo/NAME/``; a user's own model is
selected by the path of its folder. The sha256 is checked every time weights are loaded, and
``.vtc`` headers name a model by its name *and* that hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import ModelError, VtcError
from .models import ModelConfig, VTModel

ZOO_DIR = Path(__file__).resolve().parent.parent / "models" / "zoo"
if not ZOO_DIR.is_dir():  # installed wheel: models/ is the vtcodec.models package
    from . import models as _models

    ZOO_DIR = Path(_models.__file__).resolve().parent / "zoo"
DEFAULT_MODEL = "vt1-fsq"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path  # folder
    sha256: str
    size: int  # bytes of the weights file
    config: ModelConfig
    info: dict


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entry(folder: Path) -> ModelEntry:
    meta_path = folder / "model.json"
    try:
        meta = json.loads(meta_path.read_text())
        cfg = ModelConfig.from_dict(meta["config"])
        weights = folder / "weights.safetensors"
        return ModelEntry(meta["name"], folder, meta["sha256"], weights.stat().st_size, cfg, meta)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{folder}: not a vtcodec model folder ({exc})") from None


_REGISTERED: list[Path] = []  # model folders added with register_model()


def register_model(folder: str | os.PathLike) -> ModelEntry:
    """Make a model folder findable by its name (e.g. to decode streams that name it). Folders
    listed in the environment variable VTCODEC_MODEL_PATH (os.pathsep-separated; each either a
    model folder or a folder of model folders) are registered too."""
    entry = _entry(Path(folder))
    if entry.path not in _REGISTERED:
        _REGISTERED.append(entry.path)
    return entry


def _candidates() -> list[Path]:
    out = sorted(ZOO_DIR.iterdir()) if ZOO_DIR.is_dir() else []
    for item in os.environ.get("VTCODEC_MODEL_PATH", "").split(os.pathsep):
        if item and Path(item).is_dir():
            p = Path(item)
            out += [p] if (p / "model.json").is_file() else sorted(p.iterdir())
    return out + _REGISTERED


def list_models() -> list[ModelEntry]:
    """Bundled models, then those on VTCODEC_MODEL_PATH, then registered ones."""
    return [_entry(d) for d in _candidates() if (d / "model.json").is_file()]


def find_model(name_or_path: str | os.PathLike) -> ModelEntry:
    p = Path(name_or_path)
    if (p / "model.json").is_file():
        return _entry(p)
    for entry in list_models():
        if entry.name == str(name_or_path):
            return entry
    names = ", ".join(e.name for e in list_models()) or "none"
    raise ModelError(f"unknown model {str(name_or_path)!r} (bundled: {names}; or give a model folder)")


_CACHE: dict[tuple, VTModel] = {}  # loaded models, keyed by folder, device and file stamp


PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: str = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 natively (CPU: AVX512-BF16 or AMX; CUDA: Ampere+)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


def resolve_precision(precision: str | None = None, device: str = "cpu") -> str:
    """``precision`` (or ``$VTCODEC_PRECISION`` when None; default ``auto``) -> ``fp32`` | ``bf16``.
    ``auto`` is bf16 where the device computes it natively (about 6x faster tokenizer nets on an
    AMX CPU), else fp32."""
    p = (precision or os.environ.get("VTCODEC_PRECISION") or "auto").lower()
    if p not in PRECISIONS:
        raise VtcError(f"precision must be one of {', '.join(PRECISIONS)}, not {p!r}")
    if p == "auto":
        p = "bf16" if native_bf16(device) else "fp32"
    return p


def load_model(name_or_path: str | os.PathLike = DEFAULT_MODEL, device: str = "cpu",
               precision: str | None = None) -> VTModel:
    """Build a model and load its weights, after checking their sha256. ``precision``: see
    ``resolve_precision`` (the tokenizer's nets only; the prior always runs exactly)."""
    precision = resolve_precision(precision, device)
    entry = find_model(name_or_path)
    weights = entry.path / "weights.safetensors"
    st = weights.stat()
    key = (str(entry.path.resolve()), device, precision, st.st_mtime_ns, st.st_size)
    if key in _CACHE:
        return _CACHE[key]
    digest = sha256_file(weights)
    if digest != entry.sha256:
        raise ModelError(f"{weights}: sha256 {digest[:16]}... does not match the recorded "
                         f"{entry.sha256[:16]}... (corrupt or replaced weights)")
    model = VTModel(entry.config)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(f"{weights}: weights do not fit the config (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    model.eval().requires_grad_(False).to(device)
    # the tokenizer's decoder runs ~18% faster on this CPU with NHWC convolutions (same values up
    # to float rounding; the prior reads its weights in logical order, so its integers are equal)
    model.decoder.to(memory_format=torch.channels_last)
    model.precision = precision
    model.sha256 = entry.sha256
    model.entry = entry
    _CACHE[key] = model
    return model


def save_model(model: VTModel, folder: str | os.PathLike, info: dict | None = None) -> ModelEntry:
    """Write ``weights.safetensors`` (float16) and ``model.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    weights = folder / "weights.safetensors"
    save_file(state, str(weights), metadata={"config": model.cfg.to_json()})
    meta = {"name": model.cfg.name, "config": json.loads(model.cfg.to_json()),
            "sha256": sha256_file(weights), **(info or {})}
    (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return _entry(folder)
