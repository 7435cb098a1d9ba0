"""Model registry: stable name -> config, weights file and sha256.

A model is a folder holding ``weights.safetensors`` and ``model.json`` (name, config, sha256 of
the weights file, recipe). Bundled models live in ``models/zoo/NAME/``; a user's own model is
selected by the path of its folder, or registered (``register_model``, ``VTCODEC_MODEL_PATH``)
so that streams naming it decode. ``.vtc`` headers name a model by its name *and* that hash, and
a stream's name is only ever looked up among registered models, never opened as a path.

A model folder may come from anyone, so it is checked before it is used, each way it can be wrong
giving one line (``ModelError``): both files regular (no FIFO, device or folder; opened without
blocking) and of bounded size; ``model.json`` an object with a valid name, a 64-hex-digit sha256
and a config every field of which is in range (``ModelConfig``); the weights' sha256 equal to the
recorded one before the file is parsed; the tensors exactly the model's (names, shapes, float
types) before the model is built; every weight finite.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import torch

from . import DEFAULT_BASE
from .errors import ModelError, VtcError
from .models import ModelConfig, VTModel

ZOO_DIR = Path(__file__).resolve().parent.parent / "models" / "zoo"
if not ZOO_DIR.is_dir():  # installed wheel: models/ is the vtcodec.models package
    from . import models as _models

    ZOO_DIR = Path(_models.__file__).resolve().parent / "zoo"
MAX_META_BYTES = 1 << 20  # model.json
MAX_WEIGHTS_BYTES = 1 << 28  # weights.safetensors (the bundled models: 0.6 and 6.3 MB)
SHA256 = re.compile(r"[0-9a-f]{64}")
FLOATS = (torch.float16, torch.bfloat16, torch.float32)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path  # folder
    sha256: str
    size: int  # bytes of the weights file
    config: ModelConfig
    info: dict


def _open_regular(path: Path, max_bytes: int) -> int:
    """A read-only descriptor of ``path`` if it is a regular file of at most ``max_bytes``
    (opened without blocking, so a FIFO cannot hang the caller)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ModelError(f"{path.parent}: not a vtcodec model folder ({path.name} is missing)") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot open ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ModelError(f"{path}: not a regular file")
    if st.st_size > max_bytes:
        os.close(fd)
        raise ModelError(f"{path}: {st.st_size} bytes, more than the {max_bytes} a model may have")
    return fd


def sha256_file(path: Path, max_bytes: int = MAX_WEIGHTS_BYTES) -> str:
    h = hashlib.sha256()
    with os.fdopen(_open_regular(Path(path), max_bytes), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_meta(folder: Path, meta_name: str, part: str) -> tuple[Path, dict, dict]:
    """(path, contents, ``contents[part]``) of a decoder's or layer's metadata file ``meta_name``:
    a JSON object whose ``part`` is an object too (``ModelError`` otherwise)."""
    meta_path = Path(folder) / meta_name
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or not isinstance(meta.get(part), dict):
        raise ModelError(f"{meta_path}: must hold a JSON object with {part!r}")
    return meta_path, meta, meta[part]


def check_sha256(meta_path: Path, *values: object) -> None:
    """``ModelError`` unless every value is a sha256 as a metadata file records it."""
    for value in values:
        if not isinstance(value, str) or not SHA256.fullmatch(value):
            raise ModelError(f"{meta_path}: sha256 must be 64 lowercase hex digits")


def weights_size(folder: Path) -> int:
    """The bytes of a folder's ``weights.safetensors``, a regular file of bounded size."""
    fd = _open_regular(Path(folder) / "weights.safetensors", MAX_WEIGHTS_BYTES)
    size = os.fstat(fd).st_size
    os.close(fd)
    return size


def write_folder(folder: Path, state: dict[str, torch.Tensor], meta_name: str, meta: dict,
                 metadata: dict | None = None) -> dict:
    """Write ``weights.safetensors`` (``state``) and the metadata file ``meta_name`` (``meta`` with
    the weights' sha256 first) into ``folder``, each through a temporary file renamed into place."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".weights.safetensors.part"
    save_file(state, str(tmp), metadata=metadata)
    meta = {"sha256": sha256_file(tmp), **meta}
    os.replace(tmp, folder / "weights.safetensors")
    tmp = folder / f".{meta_name}.part"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / meta_name)
    return meta


def read_json(path: Path) -> object:
    """The JSON value of a model's or decoder's metadata file: a regular file of at most
    ``MAX_META_BYTES``, parsed (``ModelError`` when it is not JSON, however deep it nests)."""
    with os.fdopen(_open_regular(path, MAX_META_BYTES), "rb") as f:
        raw = f.read(MAX_META_BYTES + 1)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:80]})") from None


def _entry(folder: Path) -> ModelEntry:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a folder")
    meta_path = folder / "model.json"
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_path}: must hold a JSON object")
    name, sha = meta.get("name"), meta.get("sha256")
    try:
        cfg = ModelConfig.from_dict(meta.get("config"))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{meta_path}: bad config ({exc})") from None
    if name != cfg.name:
        raise ModelError(f"{meta_path}: name {name!r} differs from the config's {cfg.name!r}")
    check_sha256(meta_path, sha)
    return ModelEntry(name, folder, sha, weights_size(folder), cfg, meta)


_REGISTERED: list[Path] = []  # model folders added with register_model()


def register_model(folder: str | os.PathLike):
    """Make a model folder findable by its name and hash (e.g. to decode streams that name it).
    Folders listed in the environment variable VTCODEC_MODEL_PATH (os.pathsep-separated; each
    either a model folder or a folder of model folders) are registered too. A layered model's
    layer folder (``vtcodec.layers``) registers the same way."""
    if (Path(folder) / "layer.json").exists():
        from .layers import _entry as layer_entry

        entry = layer_entry(Path(folder))
    else:
        entry = _entry(Path(folder))
    if entry.path not in _REGISTERED:
        _REGISTERED.append(entry.path)
    return entry


def _candidates() -> list[Path]:
    out = sorted(ZOO_DIR.iterdir()) if ZOO_DIR.is_dir() else []
    for item in os.environ.get("VTCODEC_MODEL_PATH", "").split(os.pathsep):
        if item and Path(item).is_dir():
            p = Path(item)
            leaf = any((p / meta).exists() for meta in ("model.json", "decoder.json", "layer.json"))
            out += [p] if leaf else sorted(p.iterdir())
    return out + _REGISTERED


def readable(read, folders: list[Path]) -> list:
    """``read(folder)`` of each folder that it reads without a ``ModelError`` (the others are left
    out: one broken folder on the model path hides nothing else)."""
    out = []
    for d in folders:
        try:
            out.append(read(d))
        except ModelError:
            continue
    return out


def list_models() -> list[ModelEntry]:
    """Bundled models, then those on VTCODEC_MODEL_PATH, then registered ones (folders that are
    not valid models are left out)."""
    return readable(_entry, _candidates())


def find_model(name_or_path: str | os.PathLike) -> ModelEntry:
    """A model by folder path (as given on a command line or to the API) or by registered name."""
    p = Path(name_or_path)
    if p.is_dir():
        return _entry(p)
    for entry in list_models():
        if entry.name == str(name_or_path):
            return entry
    names = ", ".join(dict.fromkeys(e.name for e in list_models())) or "none"
    raise ModelError(f"unknown model {str(name_or_path)!r} (installed: {names}; or give a model folder)")


def find_installed(name: str, sha256: str) -> ModelEntry:
    """The registered model a stream names: same name and weights hash, wherever it is registered
    (bundled, ``VTCODEC_MODEL_PATH``, ``register_model``, ``decode --model``)."""
    models = list_models()
    for entry in models:
        if entry.name == name and entry.sha256 == sha256:
            return entry
    need = f"stream needs model {name!r} with weights sha256 {sha256[:16]}..."
    same = [e for e in models if e.name == name]
    have = (f"; the installed {name!r} is another model (weights {same[0].sha256[:16]}... in {same[0].path})"
            if same else "; no model of that name is installed")
    raise ModelError(f"{need}{have}: give its folder with --model or VTCODEC_MODEL_PATH")


def bundled_models() -> list[ModelEntry]:
    """The models shipped with vtcodec (``models/zoo``): their names and folders are reserved."""
    return [e for e in list_models() if _inside(e.path, ZOO_DIR)]


def _inside(path: Path, folder: Path) -> bool:
    return Path(path).resolve().parent == folder.resolve()


def unique_name(name: str, tag: str, folder: Path) -> tuple[str, str]:
    """``name``, or ``NAME-TAG`` when another installed model already has that name (a model's
    identity is its name and weights hash, and a stream names both: two models of one name
    would leave one of them, or a bundled one, unable to decode its files). Also a note saying
    so, or ""."""
    taken = [e for e in list_models() if e.name == name and e.path.resolve() != Path(folder).resolve()]
    if not taken:
        return name, ""
    new = f"{name[:64 - 1 - len(tag)]}-{tag}"  # within the 64 characters a name may have
    where = "a bundled model" if any(_inside(e.path, ZOO_DIR) for e in taken) else f"the model in {taken[0].path}"
    return new, f"{name!r} is the name of {where}; this model is named {new!r} (choose one with --name)"


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


def read_weights(weights: Path, sha256: str, expected: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The float32 tensors of a weights file, after checking its sha256 against the recorded one
    (before parsing it), then their names, shapes (``expected``: name -> shape, found on the meta
    device, nothing allocated), float types and finiteness."""
    from safetensors import SafetensorError, safe_open

    digest = sha256_file(weights)
    if digest != sha256:
        raise ModelError(f"{weights}: sha256 {digest[:16]}... does not match the recorded "
                         f"{sha256[:16]}... (corrupt or replaced weights)")
    try:
        with safe_open(str(weights), framework="pt") as f:
            names = set(f.keys())
            if names != set(expected):
                odd = sorted(names ^ set(expected))
                raise ModelError(f"{weights}: tensors do not fit the config ({len(odd)} names differ, "
                                 f"e.g. {odd[0]!r})")
            state = {}
            for k in sorted(names):
                sl = f.get_slice(k)
                if tuple(sl.get_shape()) != expected[k]:
                    raise ModelError(f"{weights}: tensor {k!r} has shape {tuple(sl.get_shape())}, "
                                     f"the config needs {expected[k]}")
                t = f.get_tensor(k)
                if t.dtype not in FLOATS:
                    raise ModelError(f"{weights}: tensor {k!r} is {t.dtype}, not a float type")
                if not bool(torch.isfinite(t).all()):
                    raise ModelError(f"{weights}: tensor {k!r} holds NaN or infinite values")
                state[k] = t.float()
    except SafetensorError as exc:
        raise ModelError(f"{weights}: not a readable safetensors file ({str(exc)[:100]})") from None
    return state


def meta_shapes(cls, *args) -> dict[str, tuple[int, ...]]:
    """Name and shape of every tensor in the state of ``cls(*args)``, a network built on the meta
    device (no memory for its weights): what a weights file is checked against before loading."""
    with torch.device("meta"):
        net = cls(*args)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def load_model(name_or_path: str | os.PathLike = DEFAULT_BASE, device: str = "cpu",
               precision: str | None = None) -> VTModel:
    """Build a model and load its weights, after checking them (see the module's docstring).
    ``precision``: see ``resolve_precision`` (the tokenizer's nets only; the prior always runs
    exactly)."""
    precision = resolve_precision(precision, device)
    entry = find_model(name_or_path)
    weights = entry.path / "weights.safetensors"
    st = weights.stat()
    key = (str(entry.path.resolve()), device, precision, st.st_mtime_ns, st.st_size, entry.sha256)
    if key in _CACHE:
        return _CACHE[key]
    state = read_weights(weights, entry.sha256, VTModel.state_shapes(entry.config))
    model = VTModel(entry.config)
    model.load_state_dict(state, strict=True)
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
    """Write ``weights.safetensors`` (float16) and ``model.json`` into ``folder``, each through a
    temporary file renamed into place."""
    folder = Path(folder)
    write_folder(folder, weights_state(model), "model.json",
                 {"name": model.cfg.name, "config": json.loads(model.cfg.to_json()), **(info or {})},
                 metadata={"config": model.cfg.to_json()})
    return _entry(folder)


def weights_state(model: VTModel) -> dict[str, torch.Tensor]:
    """The tensors a model folder stores: float16, on the CPU, contiguous."""
    return {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
