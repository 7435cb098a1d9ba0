"""``vtcodec compare``: one picture of the same crop from the source, x264, x265, vtcodec's
faithful decoder and a perceptual decoder of the same stream, at about the same bits.

vtcodec codes the clip in target-rate mode at ``bpp``; x264 and x265 (preset medium) take the CRF
whose rate is nearest vtcodec's actual one (bisection). Each panel's label gives what the codec
spent and got over the whole compared clip (bpp, PSNR-RGB, LPIPS), not over the frame shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import DEFAULT_MODEL
from .errors import VtcError

PANEL_MIN = 256  # panels smaller than this are enlarged by a whole factor (nearest neighbour)


@dataclass
class Panel:
    label: str
    frames: np.ndarray  # [T, H, W, 3] uint8
    bpp: float | None = None
    psnr: float | None = None
    lpips: float | None = None

    def caption(self) -> str:
        if self.bpp is None:
            return self.label
        lp = "" if self.lpips is None else f", LPIPS {self.lpips:.3f}"
        return f"{self.label}: {self.bpp:.4f} bpp, {self.psnr:.2f} dB{lp}"


def panels(src: np.ndarray, fps: Fraction, bpp: float, decoder: str | None, model: str,
           matrix: int = 5, color_range: int = 1, progress=None, notes: list[str] | None = None) -> list[Panel]:
    """Code ``src`` ``[T, H, W, 3]`` with each codec; the source first. ``notes`` receives a line
    for each codec that cannot code the clip."""
    from . import anchors, lpips
    from .codec import compress, decompress
    from .decoders import decoders_for, find_decoder
    from .metrics import psnr

    say = progress or (lambda m: None)
    pixels = src.shape[0] * src.shape[1] * src.shape[2]
    use_lpips = lpips.available() and min(src.shape[1:3]) >= 32

    def panel(label: str, frames: np.ndarray, nbytes: int) -> Panel:
        lp = lpips.lpips_frames(src, frames) if use_lpips else None
        return Panel(label, frames, nbytes * 8 / pixels, psnr(src, frames), lp)

    if decoder is None:
        choice = decoders_for(model)
        if not choice:
            raise VtcError(f"no perceptual decoder is installed for model {str(model)!r} (give --decoder)")
        decoder = choice[0].name
    else:
        decoder = find_decoder(decoder).name
    say(f"vtcodec at {bpp} bpp")
    data = compress(src, bpp=bpp, model=model, fps=fps)
    out = [Panel("source", src),
           panel("vtcodec faithful", decompress(data), len(data)),
           panel(f"vtcodec {decoder}", decompress(data, decoder=decoder), len(data))]
    actual = len(data) * 8 / pixels
    for codec in ("x264", "x265"):
        if (why := anchors.check_size(codec, src.shape[2], src.shape[1])) is not None:
            (notes if notes is not None else []).append(f"{codec} left out: {why}")
            continue
        say(f"{codec} near {actual:.4f} bpp")
        r = anchors.nearest(codec, src, fps, actual, matrix=matrix, color_range=color_range)
        out.insert(len(out) - 2, panel(f"{codec} CRF {r.crf}", r.frames, r.bytes))
    return out


def parse_crop(spec: str | None, width: int, height: int) -> tuple[int, int, int, int]:
    """``WxH+X+Y`` (ffmpeg's crop order: size, then place) -> (x, y, w, h) inside the frame; None:
    a centred crop of at most 256x256."""
    if spec is None:
        w, h = min(width, 256), min(height, 256)
        return (width - w) // 2, (height - h) // 2, w, h
    try:
        size, x, y = spec.split("+")
        w, h = (int(v) for v in size.lower().split("x"))
        x, y = int(x), int(y)
    except ValueError:
        raise VtcError(f"--crop {spec!r}: expected WxH+X+Y, e.g. 256x256+100+40") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise VtcError(f"--crop {spec}: outside the {width}x{height} frame")
    return x, y, w, h


def render(items: list[Panel], index: int, crop: tuple[int, int, int, int], path: str | os.PathLike) -> None:
    """Write the panels' frame ``index``, cropped, side by side with their captions, as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    x, y, w, h = crop
    zoom = max(1, -(-PANEL_MIN // max(w, h)))
    font = ImageFont.load_default()
    pad, text_h = 6, 14
    lines = [p.caption().split(": ", 1) for p in items]
    cols = min(len(items), 3)
    rows = -(-len(items) // cols)
    cell_w, cell_h = w * zoom + pad, h * zoom + pad + 2 * text_h
    canvas = Image.new("RGB", (cols * cell_w + pad, rows * cell_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (p, text) in enumerate(zip(items, lines, strict=True)):
        tile = Image.fromarray(np.ascontiguousarray(p.frames[index, y:y + h, x:x + w]))
        if zoom > 1:
            tile = tile.resize((w * zoom, h * zoom), Image.NEAREST)
        cx, cy = pad + (i % cols) * cell_w, pad + (i // cols) * cell_h
        canvas.paste(tile, (cx, cy + 2 * text_h))
        for j, line in enumerate(text):
            draw.text((cx, cy + j * text_h), line, fill=(0, 0, 0), font=font)
    canvas.save(path, format="PNG")


def compare(src_path: str | os.PathLike, out: str | os.PathLike, bpp: float = 0.03, frames: int | None = 30,
            frame: int | None = None, crop: str | None = None, decoder: str | None = None,
            model: str = DEFAULT_MODEL, force: bool = False, progress=None,
            notes: list[str] | None = None) -> list[Panel]:
    """Code the first ``frames`` frames of ``src_path`` with each codec and write the PNG
    ``out`` of frame ``frame`` (the middle one by default). Returns the panels; see ``panels``."""
    from .output import atomic_output
    from .video import read_video

    if not bpp > 0:
        raise VtcError("--bpp must be above 0")
    if not str(out).lower().endswith(".png"):
        raise VtcError(f"{out}: the comparison is written as a .png file")
    with atomic_output(out, force, source=src_path) as tmp:
        src, info = read_video(src_path, frames)
        if len(src) == 0:
            raise VtcError(f"{src_path}: contains no frames")
        index = len(src) // 2 if frame is None else frame
        if not 0 <= index < len(src):
            raise VtcError(f"--frame {index} is outside the {len(src)} frames compared")
        box = parse_crop(crop, src.shape[2], src.shape[1])
        items = panels(src, info.fps, bpp, decoder, model, info.matrix, info.color_range, progress, notes)
        render(items, index, box, Path(tmp))
    return items
