"""Training material of three kinds, held in memory as uint8 RGB and sampled as short clips.

* **videos** (``find_videos``): every file PyAV reads, decoded as in ``data.load_clip``;
* **sequences**: folders of consecutive frames stored as images (every folder that directly
  holds two or more image files is one sequence, its frames in name order: ../shared/data/frames),
  or as video files there (``tools/pack_data.py --sequences``), read at their own size;
* **stills**: single photos (every image file under the folders: ../shared/data/images). A still
  becomes a clip by panning the crop window a few pixels per frame, so it teaches the temporal
  context too (and a zero pan teaches a static scene).

Each kind gets a share of every batch (``MixSampler.shares``); a batch is a function of
(seed, step) alone, so a resumed run sees the batches it would have seen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VideoError
from .data import find_files

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".webp"}


def load_image(path: Path, halve_min_side: int = 0) -> np.ndarray:
    """``[H, W, 3]`` uint8; images whose shorter side is at least ``halve_min_side`` are halved
    (box filter), which brings large photos nearer the scale of video (0: never)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if halve_min_side and min(im.size) >= halve_min_side:
            im = im.reduce(2)
        return np.asarray(im, dtype=np.uint8).copy()


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def find_sequences(dirs: list[str | os.PathLike]) -> list[list[Path]]:
    out = []
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            raise VideoError(f"{d}: no such folder")
        for folder in sorted([p, *(q for q in p.rglob("*") if q.is_dir())]):
            frames = _images(folder)
            if len(frames) >= 2:
                out.append(frames)
    return out


def find_stills(dirs: list[str | os.PathLike]) -> list[Path]:
    return find_files(dirs, IMAGE_EXTS)


def load_material(videos: list[str], sequences: list[str], stills: list[str], log=print) -> dict[str, list[np.ndarray]]:
    """The three kinds of material (module docstring) in memory, by kind; unreadable videos and
    photos are skipped with a log line."""
    from .data import VIDEO_EXTS, find_files, find_videos, load_clip

    groups: dict[str, list[np.ndarray]] = {"videos": [], "sequences": [], "stills": []}
    for p in find_videos(videos) if videos else []:
        try:
            groups["videos"].append(load_clip(p, 480, 200))
        except Exception as exc:  # noqa: BLE001 - a bad training file is skipped, not fatal
            log(f"skipping {p}: {exc}")
    for seq in find_sequences(sequences) if sequences else []:
        groups["sequences"].append(np.stack([load_image(f) for f in seq]))
    # packed sequences (tools/pack_data.py), unscaled; folders of frames may hold none
    for p in find_files(sequences, VIDEO_EXTS) if sequences else []:
        try:
            groups["sequences"].append(load_clip(p, 0, 200))
        except Exception as exc:  # noqa: BLE001
            log(f"skipping {p}: {exc}")
    for p in find_stills(stills) if stills else []:
        try:
            groups["stills"].append(load_image(p, halve_min_side=1000)[None])
        except Exception as exc:  # noqa: BLE001
            log(f"skipping {p}: {exc}")
    log("material: " + ", ".join(f"{k} {len(v)} ({sum(c.shape[0] for c in v)} frames)" for k, v in groups.items()))
    return {k: v for k, v in groups.items() if v}


@dataclass
class MixSampler:
    """Batches ``[n, frames, 3, crop, crop]`` float32 in [0, 1] drawn from clips (``[N, H, W, 3]``
    arrays; N = 1 for a still) grouped by kind. ``scales``: each crop is taken at one of these
    scales (a window of ``crop / s`` pixels, or as much as the clip has, resampled to ``crop``),
    since the codec decodes frames that it coded on a reduced grid; ``pan``: the largest pan of a
    still, pixels per frame."""

    groups: dict[str, list[np.ndarray]]
    shares: dict[str, float]
    crop: int
    frames: int
    seed: int
    scales: tuple[float, ...] = (1.0,)
    pan: int = 3
    _weights: dict[str, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        drift = self.pan * (self.frames - 1)  # the most a still's window moves
        for kind in list(self.groups):
            keep = [c for c in self.groups[kind] if (c.shape[0] == 1 and min(c.shape[1:3]) >= self.crop + drift)
                    or (c.shape[0] >= self.frames and min(c.shape[1:3]) >= self.crop)]
            if keep:
                self.groups[kind] = keep
                w = np.array([np.sqrt(c.shape[0]) for c in keep])
                self._weights[kind] = w / w.sum()
            else:
                del self.groups[kind]
        if not self.groups:
            raise VideoError(f"no material of at least {self.crop}x{self.crop} pixels and {self.frames} frames")
        total = sum(self.shares.get(k, 0.0) for k in self.groups)
        self.shares = {k: self.shares.get(k, 0.0) / total for k in self.groups}

    def _clip(self, rng: np.random.Generator, clip: np.ndarray) -> torch.Tensor:
        s = float(rng.choice(self.scales))
        still = clip.shape[0] == 1
        side = min(round(self.crop / s), min(clip.shape[1:3]) - (self.pan * (self.frames - 1) if still else 0))
        if still:  # pan the window
            v = rng.integers(-self.pan, self.pan + 1, size=2) * (rng.random() < 0.75)
            span = np.abs(v) * (self.frames - 1)
            y0 = rng.integers(0, clip.shape[1] - side - span[0] + 1) + (span[0] if v[0] < 0 else 0)
            x0 = rng.integers(0, clip.shape[2] - side - span[1] + 1) + (span[1] if v[1] < 0 else 0)
            piece = np.stack([clip[0, y0 + t * v[0]:y0 + t * v[0] + side, x0 + t * v[1]:x0 + t * v[1] + side]
                              for t in range(self.frames)])
        else:
            t0 = rng.integers(0, clip.shape[0] - self.frames + 1)
            y0 = rng.integers(0, clip.shape[1] - side + 1)
            x0 = rng.integers(0, clip.shape[2] - side + 1)
            piece = clip[t0:t0 + self.frames, y0:y0 + side, x0:x0 + side]
            if rng.random() < 0.2:
                piece = piece[::-1]
        if rng.random() < 0.5:
            piece = piece[:, :, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(piece)).permute(0, 3, 1, 2).float().div_(255)
        if side != self.crop:
            x = F.interpolate(x, size=(self.crop, self.crop), mode="bilinear", antialias=True,
                              align_corners=False).clamp_(0, 1)
        return x

    def batch(self, n: int, step: int) -> torch.Tensor:
        rng = np.random.default_rng((self.seed, step))
        kinds = list(self.groups)
        p = np.array([self.shares[k] for k in kinds])
        out = []
        for _ in range(n):
            kind = kinds[rng.choice(len(kinds), p=p)]
            group = self.groups[kind]
            out.append(self._clip(rng, group[rng.choice(len(group), p=self._weights[kind])]))
        return torch.stack(out)
