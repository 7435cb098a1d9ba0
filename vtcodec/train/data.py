"""Training data: every video PyAV reads under the given folders, held in memory as uint8 RGB,
sampled as random spatio-temporal crops with a seeded generator."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import VideoError
from ..video import VideoReader

VIDEO_EXTS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".mpg", ".mpeg", ".m4v", ".ts"}


def find_files(dirs: list[str | os.PathLike], exts: set[str]) -> list[Path]:
    """The files given, and those under the folders given whose extension is in ``exts``."""
    out: list[Path] = []
    for d in dirs:
        p = Path(d)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in exts)
        else:
            raise VideoError(f"{d}: no such file or folder")
    return out


def find_videos(dirs: list[str | os.PathLike]) -> list[Path]:
    out = find_files(dirs, VIDEO_EXTS)
    if not out:
        raise VideoError(f"no videos found in {', '.join(map(str, dirs))}")
    return out


def load_clip(path: Path, downscale_min_side: int, max_frames: int, stride: int = 1) -> np.ndarray:
    """Decode up to ``max_frames`` frames; clips whose shorter side is at least
    ``downscale_min_side`` are scaled by 1/2 (area filter), which hides the source's compression
    artefacts (0 disables)."""
    reader = VideoReader(path)
    w, h = reader.info.width, reader.info.height
    if downscale_min_side and min(w, h) >= downscale_min_side:
        reader.size = (w // 2 // 2 * 2, h // 2 // 2 * 2)
    frames = []
    for i, frame in enumerate(reader):
        if i % stride == 0:
            frames.append(frame)
        if len(frames) >= max_frames:
            break
    reader.close()
    if not frames:
        raise VideoError(f"{path}: contains no frames")
    return np.stack(frames)


@dataclass
class ClipSampler:
    clips: list[np.ndarray]  # each [N, H, W, 3] uint8
    names: list[str]
    crop: int
    frames: int
    seed: int

    def __post_init__(self) -> None:
        keep = [i for i, c in enumerate(self.clips)
                if c.shape[0] >= self.frames and min(c.shape[1:3]) >= self.crop]
        if not keep:
            raise VideoError(f"no clip has {self.frames} frames of at least {self.crop}x{self.crop}")
        self.clips = [self.clips[i] for i in keep]
        self.names = [self.names[i] for i in keep]
        # weight clips by the square root of their frame count: long clips are seen more, but
        # short ones are not drowned
        wts = np.array([np.sqrt(c.shape[0]) for c in self.clips])
        self.weights = wts / wts.sum()

    def batch(self, n: int, step: int) -> torch.Tensor:
        """The batch of step ``step``: ``[n, frames, 3, crop, crop]`` float32 in [0, 1]. A function
        of (seed, step) alone, so a resumed run sees exactly the batches it would have seen."""
        rng = np.random.default_rng((self.seed, step))
        out = np.empty((n, self.frames, self.crop, self.crop, 3), dtype=np.uint8)
        for i in range(n):
            clip = self.clips[rng.choice(len(self.clips), p=self.weights)]
            t0 = rng.integers(0, clip.shape[0] - self.frames + 1)
            y0 = rng.integers(0, clip.shape[1] - self.crop + 1)
            x0 = rng.integers(0, clip.shape[2] - self.crop + 1)
            piece = clip[t0:t0 + self.frames, y0:y0 + self.crop, x0:x0 + self.crop]
            if rng.random() < 0.5:
                piece = piece[:, :, ::-1]
            if rng.random() < 0.2:
                piece = piece[::-1]  # time reversal: motion in both directions
            out[i] = piece
        return torch.from_numpy(out).permute(0, 1, 4, 2, 3).float().div_(255)
