"""vtcodec: a video codec built on learned discrete tokens.

The public API (imported lazily, so ``import vtcodec.bitstream`` stays light)::

    data = vtcodec.compress("clip.mp4")              # or frames: [H, W, 3] uint8 arrays, ...
    frames = vtcodec.decompress(data)                # [T, H, W, 3] uint8

    enc = vtcodec.Encoder(width, height, fps, quality=None, model=vtcodec.DEFAULT_MODEL, device="cpu")
    packets = [enc.encode(frame) for frame in frames] + [enc.flush()]
    dec = vtcodec.Decoder(device="cpu")              # feed byte slices of any size
    out = [f for p in packets for f in dec.decode(p)]; dec.flush()
    sharp = vtcodec.decompress(data, decoder="vt1-fsq-sharp")  # same tokens, perceptual decoder
    fine = vtcodec.compress("clip.mp4", quality=14)  # the default layered model: 1..16 (qualities)

    vtcodec.load_model("vt1-fsq" | "path/to/model_folder")
    vtcodec.register_model("path/to/model_folder")   # decodable by name from then on
    report = vtcodec.inspect("clip.vtc")             # header, chunks, problems (vtcodec info)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.22.0"

# what ``vtcodec encode`` and ``Encoder`` code with when no model is named: a layered model
# (``vtcodec.layers``; qualities 1..8 its base's grids, 9..16 its enhancement layer), whose base
# ``DEFAULT_BASE`` is the token model ``load_model()`` loads (here, not in ``zoo``: the command
# line reads it without importing torch)
DEFAULT_MODEL = "vt1e-w24w-2"
DEFAULT_BASE = "vt1-fsq"

_EXPORTS = {
    "compress": "codec", "decompress": "codec", "encode_file": "files", "decode_file": "files",
    "Encoder": "codec", "Decoder": "codec", "Stats": "codec", "Preset": "presets", "PRESETS": "presets",
    "load_model": "zoo", "list_models": "zoo", "register_model": "zoo",
    "bundled_models": "zoo", "inspect": "report", "RawFormat": "video", "list_decoders": "decoders",
    "list_layers": "layers", "qualities": "layers",
    "VtcError": "errors", "FormatError": "errors", "UnsupportedVersion": "errors",
    "CorruptChunk": "errors", "VideoError": "errors", "ModelError": "errors", "OutputClosed": "errors",
}
__all__ = [  # noqa: RUF022 - grouped as in _EXPORTS
    "compress", "decompress", "encode_file", "decode_file", "Encoder", "Decoder", "Stats", "Preset", "PRESETS",
    "load_model", "list_models", "register_model", "DEFAULT_MODEL", "DEFAULT_BASE", "bundled_models", "inspect", "RawFormat", "list_decoders",
    "list_layers", "qualities", "VtcError",
    "FormatError",
    "UnsupportedVersion", "CorruptChunk", "VideoError", "ModelError", "OutputClosed",
]

if TYPE_CHECKING:
    from .codec import Decoder, Encoder, Stats, compress, decompress
    from .decoders import list_decoders
    from .errors import (
        CorruptChunk,
        FormatError,
        ModelError,
        OutputClosed,
        UnsupportedVersion,
        VideoError,
        VtcError,
    )
    from .files import decode_file, encode_file
    from .layers import list_layers, qualities
    from .presets import PRESETS, Preset
    from .report import inspect
    from .video import RawFormat
    from .zoo import bundled_models, list_models, load_model, register_model


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'vtcodec' has no attribute {name!r}")
