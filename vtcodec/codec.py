"""The codec: the one place that joins the networks, the entropy coder and the .vtc format.

Per chunk (a group of ``gop`` frames, the unit of random access), the encoder

0. resamples the chunk's frames to its coding grid (``vtcodec.grid``; the grid's scale index k
   comes from the quality ladder or from rate control, ``vtcodec.rate``);
1. pads them to multiples of 8 and tokenizes them: ``[T, S, h, w]`` symbols (refined first by a
   slow preset, ``vtcodec.presets``);
2. range codes every symbol of the chunk under the exact prior (``vtcodec.tokens``).

The decoder is one ``StreamDecoder`` per stream, used by both the streaming ``Decoder`` (bytes as
they arrive) and the file reader (``vtcodec.files``): it checks the header against this decoder's
limits, finds the stream's model, checks every chunk's framing and place in the stream
(``ChunkSequence``), refuses a chunk that asks for more work than its bytes can justify, and
decodes frame by frame, reconstructing frames in small batches as their tokens arrive, so memory
never depends on what a header declares.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Self

import numpy as np
import torch

from . import DEFAULT_MODEL, __version__
from .bitstream import (
    CHUNK_AUDIO_PACKETS,
    CHUNK_AUDIO_STREAM,
    CHUNK_END,
    CHUNK_FRAMES,
    CHUNK_INDEX,
    MIN_FRAMES_CHUNK,
    SCALE_ONE,
    SIDE_KINDS,
    UNKNOWN_FRAMES,
    UNSPECIFIED,
    Chunk,
    ChunkSequence,
    Header,
    IndexEntry,
    coded_size,
    end_chunk,
    frame_symbols,
    frames_payload,
    header_size,
    index_chunk,
    parse_head,
    payload_limit,
    read_chunk,
    read_header,
    scale_range,
    split_layers,
    token_grid,
)
from .decoders import base_decoder_of, load_decoder
from .errors import CorruptChunk, FormatError, ModelError, VtcError
from .grid import batch_frames, from_grid, resample, to_grid
from .layers import Layered, find_installed_layer, find_layer, load_layer, side_source
from .presets import DEFAULT_PRESET, Preset, get_preset
from .rate import Ladder, RateControl, check_quality
from .refine import refine_latents
from .skip import predict, prediction, skip_lambda
from .tokens import TokenCoder
from .workers import Workers, check_jobs
from .zoo import find_installed, find_model, load_model, resolve_precision

DEFAULT_GOP = 32

# Decoder limits. The format allows frames up to 2^26 pixels; a decoder sets its own resource
# limit, as decoders of classic codecs do with levels (raise it with VTCODEC_MAX_PIXELS).
DEFAULT_MAX_PIXELS = 4096 * 2304
# The work limit (SPEC.md, "Decoder limits"): a frames chunk may declare at most this many token
# symbols per byte of its payload, plus FREE_SYMBOLS. The bundled models code a black frame, the
# cheapest content there is, at 340 symbols per byte at most (every quality, 64x64 and 320x240);
# 4096 is 12x beyond that, and keeps the decoder's work, memory and output in proportion to the
# bytes it is given. VTCODEC_MAX_SYMBOLS_PER_BYTE raises it.
MAX_SYMBOLS_PER_BYTE = 4096
FREE_SYMBOLS = 16384


@dataclass
class Stats:
    frames: int = 0
    width: int = 0
    height: int = 0
    fps: Fraction = Fraction(25)
    bytes: int = 0  # whole file
    payload_bits: int = 0  # entropy-coded bits (chunk payloads)
    ideal_bits: float = 0.0  # sum of -log2 p of the coded symbols under the prior
    raw_bits: float = 0.0  # log2(codebook size) per token
    chunks: int = 0
    seconds: float = 0.0
    header: Header | None = None  # the stream's header (set by decoders)
    scales: list[int] | None = None  # scale index k of each chunk (encoders)
    note: str = ""  # what rate control had to give up, if anything
    stream_frames: int | None = None  # frames of the whole stream, when fewer were decoded
    side_bytes: int = 0  # of the audio chunks, included in ``bytes`` (bpp and kb/s leave them out)
    timed: bool = False  # the stream carries frame times (variable frame rate; set by decoders)

    @property
    def bpp(self) -> float:
        """The video's bits per pixel (``bytes`` but audio, over all the stream's frames, also after
        a partial decode)."""
        return (self.bytes - self.side_bytes) * 8 / max(1, (self.stream_frames or self.frames) * self.width * self.height)

    @property
    def kbps(self) -> float:
        """The video's rate (audio left out)."""
        return (self.bytes - self.side_bytes) * 8 / max(1e-9, (self.stream_frames or self.frames) / float(self.fps)) / 1000

    @property
    def speed(self) -> float:
        return self.frames / max(self.seconds, 1e-9)

    def summary(self, verb: str) -> str:
        audio = f" (audio {self.side_bytes} bytes)" if self.side_bytes else ""
        return (f"{verb} {self.frames} frames {self.width}x{self.height}: {self.bytes} bytes{audio}, "
                f"{self.bpp:.4f} bpp, {self.kbps:.1f} kb/s, {self.speed:.2f} fps, {self.seconds:.2f} s")


def frame_size(frame: object) -> tuple[int, int]:
    """(width, height) of a frame in any of the forms ``_as_rgb`` takes."""
    if hasattr(frame, "to_ndarray") and hasattr(frame, "format"):
        return int(frame.width), int(frame.height)
    if isinstance(frame, torch.Tensor) and frame.is_floating_point():
        return int(frame.shape[-1]), int(frame.shape[-2])
    shape = np.shape(frame)
    if len(shape) not in (2, 3):
        raise VtcError(f"a frame must be [H, W, 3] or [H, W], got shape {shape}")
    return int(shape[1]), int(shape[0])


def _as_rgb(frame: object, width: int, height: int) -> np.ndarray:
    """A frame as ``[H, W, 3]`` uint8 RGB: numpy ``[H, W, 3]`` / ``[H, W]`` uint8, an
    ``av.VideoFrame``, or a torch tensor ``[3, H, W]`` float in [0, 1] (or uint8 ``[H, W, 3]``)."""
    if hasattr(frame, "to_ndarray") and hasattr(frame, "format"):
        from .video import frame_to_rgb

        arr = frame_to_rgb(frame)
    elif isinstance(frame, torch.Tensor):
        t = frame.detach().cpu()
        if t.is_floating_point():
            t = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
        arr = t.numpy()
    else:
        arr = np.asarray(frame)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.dtype != np.uint8 or arr.shape != (height, width, 3):
        raise VtcError(f"expected a {width}x{height} RGB uint8 frame, got {arr.dtype} {arr.shape}")
    return arr


# ------------------------------------------------------------------------------------ limits
def check_limits(header: Header, max_pixels: int | None = None) -> None:
    """Refuse frames larger than this decoder's limit, before any work is done."""
    limit = max_pixels or _env_int("VTCODEC_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    if header.width * header.height > limit:
        raise FormatError(f"frame size {header.width}x{header.height} is above this decoder's limit "
                          f"of {limit} pixels (set VTCODEC_MAX_PIXELS to allow it)")


def max_symbols_per_byte() -> int:
    return _env_int("VTCODEC_MAX_SYMBOLS_PER_BYTE", MAX_SYMBOLS_PER_BYTE)


def check_work(header: Header, k: int, n_symbols: int, n_frames: int, payload_len: int, what: str,
               n_layer: int = 0) -> None:
    """Refuse a frames chunk that declares more symbols than the work limit allows its payload."""
    symbols = n_frames * frame_symbols(header, k, n_symbols, n_layer)
    per_byte = max_symbols_per_byte()
    if symbols > per_byte * payload_len + FREE_SYMBOLS:
        raise CorruptChunk(f"{what} declares {symbols} token symbols in a {payload_len}-byte payload, "
                           f"beyond the decoder's work limit of {per_byte} per byte "
                           "(set VTCODEC_MAX_SYMBOLS_PER_BYTE to allow it)")


def frames_bound(header: Header, n_symbols: int, nbytes: int) -> int:
    """The most frames ``nbytes`` of frames chunks of this stream can hold under the work limit:
    ``min(gop (B // 20 + 1), (per_byte B + FREE_SYMBOLS (B // 20 + 1)) // symbols per frame at the
    smallest grid)`` (SPEC.md, "Decoder limits")."""
    chunks = nbytes // MIN_FRAMES_CHUNK + 1
    per_frame = frame_symbols(header, scale_range(header)[0], n_symbols)
    by_work = (max_symbols_per_byte() * nbytes + FREE_SYMBOLS * chunks) // per_frame
    return min(chunks * header.gop, by_work)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise VtcError(f"{name}={text!r}: expected a whole number") from None
    if value < 1:
        raise VtcError(f"{name}={text!r}: must be positive")
    return value


# ----------------------------------------------------------------------------------- encoding
def version_of(model, layered: Layered | None = None) -> dict[str, int]:
    """The format version a stream of ``model`` is written as (SPEC.md, "Version policy"): 6.0 for
    a layered model (``layered``: an enhancement layer over ``model``; 4.0 and 5.0 streams, without
    block skips or without motion-compensated prediction, are read but no longer written), 3.2 for a model with a
    decoded-frame context, 3.1 for one with a temporal state, 3.0 for one with quality levels
    only, 2.1 for the others."""
    major, minor = ((6, 0) if layered is not None else (3, 2) if model.recon else (3, 1) if model.state
                    else (3, 0) if model.levels else (2, 1))
    return {"major": major, "minor": minor}


class ChunkCoder:
    """The model's part of encoding: one chunk's frames -> tokens -> payload. It depends on the
    chunk alone, so it is what each worker process holds when chunks are coded in parallel."""

    def __init__(self, width: int, height: int, model: str | os.PathLike = DEFAULT_MODEL,
                 device: str = "cpu", precision: str | None = None, preset: str | Preset = DEFAULT_PRESET,
                 sha256: str | None = None) -> None:
        self.width, self.height = int(width), int(height)
        layer = find_layer(model)  # a layered model (format 5.0), named like a model
        self.layered = None if layer is None else load_layer(layer, device, precision)
        self.model = load_model(model, device=device, precision=precision) if layer is None else self.layered.base
        have = self.model.sha256 if layer is None else self.layered.sha256
        if sha256 is not None and have != sha256:
            raise ModelError(f"{model}: its weights changed while encoding (sha256 {have[:16]}..., "
                             f"expected {sha256[:16]}...)")
        self.device = torch.device(device)
        self.preset = get_preset(preset)
        self.coder = TokenCoder(self.model)
        self.layer_coder = None if layer is None else TokenCoder(self.layered.net)
        self.ladder = Ladder(self.model.levels, 0 if layer is None else self.layered.levels)

    @property
    def name(self) -> str:
        """The name a stream's header gives: the model's, or the layer's."""
        return self.model.cfg.name if self.layered is None else self.layered.name

    @property
    def sha256(self) -> str:
        return self.model.sha256 if self.layered is None else self.layered.sha256

    def code(self, frames: np.ndarray, r: int, refine: bool = True) -> tuple[torch.Tensor, bytes, float]:
        """Frames ``[T, H, W, 3]`` of one chunk at rung ``r`` of the model's ladder (for a model
        without levels: the scale index) -> (symbols, payload without its head bytes, ideal bits);
        a layered model's chunk with its layer gives ``[base symbols, layer symbols]``."""
        k, level = self.ladder.rung(r)  # level 0 for a model without levels, which ignores it
        if self.layered is None:
            symbols = self.tokenize(frames, k, refine, level)
            return (symbols, *self.coder.to_bytes(symbols, level))
        symbols = self.tokenize(frames, k, refine)  # a layered model: ``level`` is the layer byte
        payload, ideal = self.coder.to_bytes(symbols)
        if not level:
            return symbols, payload, ideal
        layer, extra, bits = self.code_layer(frames, symbols, level - 1, refine)
        return [symbols, layer], len(payload).to_bytes(4, "little") + payload + extra, ideal + bits

    def code_layer(self, frames: np.ndarray, symbols: torch.Tensor, level: int,
                   refine: bool = True) -> tuple[torch.Tensor, bytes, float]:
        """The enhancement layer of a chunk (format 6.0) at ``level``: the base decode of its base
        symbols ``symbols`` (as the decoder reconstructs it: ``StreamDecoder``), the layer's
        tokens over it or over the previous output moved into place, block by block (refined by a
        refining preset), the blocks of its later frames that show the previous output frame
        instead (``vtcodec.skip``, with the preset's ``layer_skip``; ``Layered.code``) and their
        payload -> (layer symbols, payload, ideal bits)."""
        w, h = self.width, self.height
        batch = batch_frames((w, h), (w, h))
        shown = []
        for i in range(0, len(symbols), batch):
            x = self.model.reconstruct(symbols[i:i + batch].to(self.device), starts_chunk=i == 0,
                                       before=symbols[i - 1].to(self.device) if i else None)
            shown.append(from_grid(x, (h, w), (h, w)))
        shown = np.concatenate(shown)
        side = self.layered.sides(symbols)
        lam = skip_lambda(level, self.preset.layer_skip)
        layer, skips = self.layered.code(
            frames, shown, level, side, lam,
            lambda pair, t: self.layer_coder.position_bits(pair, level, side[t - 1:t + 1], first=1)[1],
            self.preset if refine else None)
        return (layer, *self.layer_coder.to_bytes(layer, level, side, skips, motion=True))

    def head(self, r: int) -> bytes:
        """The bytes that start a frames chunk's payload at rung ``r``: the scale index, and the
        quantizer level for a model with levels (format 3.0) or the layer byte for a layered
        model (4.0 to 6.0)."""
        k, level = self.ladder.rung(r)
        return bytes([k, level]) if self.model.levels or self.layered is not None else bytes([k])

    def n_layer(self, r: int) -> int:
        """The enhancement layer's channels a chunk at rung ``r`` codes (0: none)."""
        return self.layered.n_symbols if self.layered is not None and self.ladder.rung(r)[1] else 0

    def tokenize(self, frames: np.ndarray, k: int, refine: bool = True, level: int | None = None) -> torch.Tensor:
        """Frames ``[T, H, W, 3]`` -> symbols ``[T, S, h, w]`` on the grid of scale ``k``."""
        cw, ch = coded_size(self.width, self.height, k)
        h, w = self.height, self.width
        batch = batch_frames((cw, ch), (w, h))
        p = self.preset
        if self.model.conditional:  # frame after frame, each with the context its decoder will have
            z, symbols = self.model.tokenize_conditional(
                (to_grid(frames[i:i + 1], self.device, (ch, cw)) for i in range(len(frames))), p.margin, level)
            # refining a decoded-frame context's tokens would need the decoder in the loop of every
            # refinement step: its tokens are the conditional encoder's, at every preset
            if not (refine and p.refine_steps) or self.model.recon:
                return symbols.cpu()
        else:
            z = torch.cat([self.model.latents(to_grid(frames[i:i + batch], self.device, (ch, cw)), level=level)
                           for i in range(0, len(frames), batch)])
        if refine and p.refine_steps:
            window = min(max((1 << 21) // max(ch * cw, h * w), 1), batch)  # bounds backward's memory
            source = to_grid(frames, self.device)[:, :, :h, :w]
            z = refine_latents(self.model, z, source, p.refine_steps, p.refine_lr, p.ms_weight,
                               window=window, render=lambda r: resample(r[:, :, :ch, :cw], (h, w)),
                               rate_slope=p.rate_slope, level=level)
        return self.model.tokenize_chunk(z, p.margin, level=level).cpu()


Trial = tuple[torch.Tensor, bytes, float]  # (symbols, payload, ideal bits) of a chunk at one rung


@torch.inference_mode()
def _chunk_trials(coder: ChunkCoder, frames: np.ndarray, r: int | None, share: float | None) -> dict[int, Trial]:
    """The first step of coding a chunk: at rung ``r`` of the model's ladder (fixed quality: the
    final coding), or target-rate mode's trials for a chunk aiming at ``share`` bits
    (``RateControl.trials``)."""
    if share is None:
        return {r: coder.code(frames, r)}
    return RateControl.trials(share, lambda j: coder.code(frames, j, refine=False), coder.ladder)


@torch.inference_mode()
def _chunk_final(coder: ChunkCoder, frames: np.ndarray, r: int) -> Trial:
    """Target-rate mode with a refining preset: the chosen rung, refined."""
    return coder.code(frames, r)


@dataclass
class _Job:
    """A chunk on its way through the workers."""

    frames: np.ndarray | None
    first: int  # its first frame
    n: int
    trials: Future
    k: int | None = None  # its rung (``vtcodec.rate.Ladder``), once picked
    final: Future | None = None
    result: Trial | None = None


class Encoder:
    """Streaming encoder: push frames one at a time, get .vtc bytes as chunks complete.

    ``encode(frame)`` returns the bytes ready so far (the header with the first frame, then a chunk
    every ``gop`` frames, else ``b""``); ``flush()`` returns the rest. The concatenation of
    everything returned is a valid .vtc stream (frame count "unknown" in its header, since the
    header goes out before the count is known; ``header_bytes()`` gives the final header after
    ``flush()`` for writers that can seek back), closed by the random-access index and the end
    chunk.

    ``quality`` (1..10) fixes the coding grid of every chunk; ``bitrate`` (kb/s) or ``bpp`` instead
    select target-rate mode (``vtcodec.rate.RateControl``). ``preset`` (a name in
    ``vtcodec.presets.PRESETS``: medium, slow, veryslow, or a ``Preset``) spends more encoding time
    on the tokens for better quality at about the same rate; any preset's stream decodes the same
    way. ``precision``: the tokenizer nets' (``vtcodec.zoo.resolve_precision``). ``tokens_out``: a
    list that receives each chunk's symbols ``[T, S, h, w]`` (for verification; a layered model's
    chunk with its layer: the base symbols, then the layer's). The encoder
    refuses frames its own decoder would refuse (``VTCODEC_MAX_PIXELS``).

    ``jobs`` > 1 codes that many chunks at once in worker processes (``vtcodec.workers``; each
    with a share of the cores), so bytes come out in bursts; they are the same bytes as with one
    job, target-rate mode included (its trials depend on the chunk alone, its picks are made in
    stream order). Memory holds one chunk of frames with one job, about two per job with more.
    Call ``close()`` (or use the encoder as a context manager) to stop the workers of an encoder
    abandoned before ``flush()``; a program that uses ``jobs`` > 1 must guard its entry point with
    ``if __name__ == "__main__"``, as Python's multiprocessing requires. An instance is not thread-safe; separate instances may
    run in separate threads. With one job the torch thread count is left to the caller.
    """

    def __init__(self, width: int, height: int, fps: float | Fraction = 25, quality: int | None = None,
                 model: str | os.PathLike = DEFAULT_MODEL, gop: int = DEFAULT_GOP, device: str = "cpu",
                 chroma: str = "420", matrix: int = 5, color_range: int = 1,
                 bitrate: float | None = None, bpp: float | None = None,
                 precision: str | None = None, preset: str | Preset = DEFAULT_PRESET,
                 tokens_out: list | None = None, jobs: int = 1, rotation: int = 0,
                 primaries: int = UNSPECIFIED, transfer: int = UNSPECIFIED, bit_depth: int = 8) -> None:
        if not 1 <= gop <= 1024:
            raise VtcError(f"gop must be in 1..1024, got {gop}")
        self.preset = get_preset(preset)
        check_jobs(jobs)
        if sum(x is not None for x in (quality, bitrate, bpp)) > 1:
            raise VtcError("give one of quality, bitrate and bpp")
        fps = Fraction(fps).limit_denominator(1 << 30)
        if fps <= 0:
            raise VtcError(f"frame rate must be positive, got {fps}")
        self.rate: RateControl | None = None
        header = Header(int(width), int(height), fps.numerator, fps.denominator, UNKNOWN_FRAMES, chroma,
                        matrix, color_range, "fsq", 0, gop, "model", bytes(32), f"vtcodec {__version__}",
                        rotation=rotation, primaries=primaries, transfer=transfer, bit_depth=bit_depth)
        header.validate()  # the caller's values, before the model loads
        check_limits(header)
        self.chunk_coder = ChunkCoder(width, height, model, device, precision, self.preset)
        self.model = self.chunk_coder.model
        self.coder = self.chunk_coder.coder
        self.device = self.chunk_coder.device
        self.ladder = self.chunk_coder.ladder
        layered = self.chunk_coder.layered
        level = (check_quality(quality, self.ladder.qualities, "" if layered is None else layered.name)
                 if bitrate is None and bpp is None else 0)
        self.header = replace(header, quantizer=self.model.cfg.quantizer, model=self.chunk_coder.name,
                              weights_sha256=bytes.fromhex(self.chunk_coder.sha256), quality=level,
                              **version_of(self.model, layered))
        self.header.validate()
        if bitrate is not None or bpp is not None:
            per_frame = (bitrate * 1000 / float(fps)) if bitrate is not None else bpp * int(width) * int(height)
            self.rate = RateControl(per_frame)
        self.stats = Stats(width=int(width), height=int(height), fps=Fraction(fps),
                           bytes=len(self.header.pack()), scales=[])
        self.tokens_out = tokens_out
        self._pending: list[np.ndarray] = []
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # frames handed to the workers so far
        self._index: list[IndexEntry] | None = []  # None once flushed
        self._side: deque[tuple[int, Chunk]] = deque()  # attached chunks, by the frames pushed before them
        self._started = False
        self._t0 = time.time()
        # workers load the model by its folder (a name registered here is unknown to them), and
        # check that its weights are the ones this process loaded
        folder = None
        if jobs > 1:
            folder = str(find_model(model).path if layered is None else layered.entry.path)
        self.workers = Workers(jobs, ChunkCoder, (width, height, folder, device, precision, self.preset,
                                                  self.chunk_coder.sha256), local=self.chunk_coder)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (``flush()`` does too)."""
        self.workers.close()

    def encode(self, frame: object) -> bytes:
        if self._index is None:
            raise VtcError("this encoder was flushed: make a new Encoder for another stream")
        out = b""
        if not self._started:
            out, self._started = self.header.pack(), True
        self._pending.append(_as_rgb(frame, self.header.width, self.header.height))
        if len(self._pending) == self.header.gop:
            self._submit()
        return out + self._drain(self.workers.depth - 1)

    def attach(self, kind: int, payload: bytes, first_frame: int | None = None, n_frames: int = 0) -> None:
        """Put a chunk of another type (audio: ``vtcodec.bitstream.audio``; frame times:
        ``vtcodec.bitstream.timing``) into the stream, before the frames chunk that holds the next
        frame pushed (or before the index, after the last). Its frame fields are ``first_frame``
        (default: the frames pushed so far) and ``n_frames``."""
        if self._index is None:
            raise VtcError("this encoder was flushed: make a new Encoder for another stream")
        if kind in (CHUNK_FRAMES, CHUNK_INDEX, CHUNK_END) or not 0 <= kind <= 255:
            raise VtcError(f"chunk type {kind} cannot be attached")
        pushed = self._queued + len(self._pending)
        chunk = Chunk(pushed if first_frame is None else first_frame, n_frames, bytes(payload), kind)
        self._side.append((pushed, chunk))

    def _side_chunks(self, upto: int | None) -> bytes:
        """The attached chunks that go before frame ``upto`` (all: None), counted in the stats (audio
        apart: ``side_bytes``)."""
        out = b""
        while self._side and (upto is None or self._side[0][0] < upto):
            chunk = self._side.popleft()[1]
            data = chunk.pack()
            self.stats.bytes += len(data)
            if chunk.kind in (CHUNK_AUDIO_STREAM, CHUNK_AUDIO_PACKETS):
                self.stats.side_bytes += len(data)
            out += data
        return out

    def flush(self) -> bytes:
        """The last chunks, then the index of all chunks and the end chunk (ends the stream)."""
        if self._index is None:
            raise VtcError("this encoder was flushed: make a new Encoder for another stream")
        if self._pending:
            self._submit()
        try:
            last = self._drain(0)
        finally:
            self.close()
        if self.stats.frames == 0:
            raise VtcError("no frames to encode")
        last += self._side_chunks(None)
        index_offset = self.stats.bytes
        tail = index_chunk(self._index).pack() + end_chunk(index_offset).pack()
        self._index = None
        self.stats.bytes += len(tail)
        self.stats.seconds = time.time() - self._t0
        return last + tail

    def header_bytes(self) -> bytes:
        """The header with the frame count filled in (same size as the one sent first)."""
        return replace(self.header, frame_count=self.stats.frames).pack()

    def code(self, frames: np.ndarray, r: int, refine: bool = True) -> Trial:
        """Frames ``[T, H, W, 3]`` of one chunk at rung ``r`` of the model's ladder -> (symbols,
        payload without its head bytes, ideal bits), in this process."""
        return self.chunk_coder.code(frames, r, refine)

    def tokenize(self, frames: np.ndarray, r: int, refine: bool = True) -> torch.Tensor:
        k, level = self.ladder.rung(r)
        return self.chunk_coder.tokenize(frames, k, refine, level)

    def _submit(self) -> None:
        frames, self._pending = np.stack(self._pending), []
        if self.rate is None:
            trials = self.workers.submit(_chunk_trials, frames, self.ladder.quality(self.header.quality), None)
        else:
            trials = self.workers.submit(_chunk_trials, frames, None, self.rate.share(len(frames)))
        refines = self.rate is not None and self.preset.refine_steps > 0
        self._jobs.append(_Job(frames if refines else None, self._queued, len(frames), trials))
        self._queued += len(frames)

    def _drain(self, keep: int) -> bytes:
        """The chunks that are done, in stream order, waiting until at most ``keep`` are left."""
        out = b""
        while self._jobs:
            job = self._jobs[0]
            must = len(self._jobs) > keep
            if job.k is None:
                if not (must or self.workers.done(job.trials)):
                    break
                self._pick(job)
            if job.final is not None and not (must or self.workers.done(job.final)):
                break
            out += self._emit(self._jobs.popleft())
        for job in self._jobs:  # pick, in order, the chunks whose trials are done (refinement starts)
            if job.k is None:
                if not self.workers.done(job.trials):
                    break
                self._pick(job)
        return out

    def _pick(self, job: _Job) -> None:
        trials = self.workers.result(job.trials)
        job.k = self.rate.pick(job.n, trials, self.ladder) if self.rate is not None else next(iter(trials))
        if job.frames is not None:  # a refining preset in target-rate mode
            job.final = self.workers.submit(_chunk_final, job.frames, job.k)
            job.frames = None
        else:
            job.result = trials[job.k]
        if self.rate is not None:
            self.stats.note = self.rate.note

    def _emit(self, job: _Job) -> bytes:
        symbols, payload, ideal = job.result if job.final is None else self.workers.result(job.final)
        side = self._side_chunks(job.first + job.n)
        st = self.stats
        k = self.ladder.rung(job.k)[0]
        chunk = Chunk(job.first, job.n, self.chunk_coder.head(job.k) + payload)
        check_work(self.header, k, self.model.n_symbols, job.n, len(chunk.payload), chunk.what,
                   self.chunk_coder.n_layer(job.k))
        layers = symbols if isinstance(symbols, list) else [symbols]  # a layered chunk: base, layer
        if self.tokens_out is not None:
            self.tokens_out.extend(layers)
        st.frames += job.n
        st.chunks += 1
        st.scales.append(k)
        st.payload_bits += len(payload) * 8
        st.ideal_bits += ideal
        st.raw_bits += self.model.quantizer.bits_per_token * layers[0][0, 0].numel() * job.n
        if len(layers) > 1:
            st.raw_bits += self.chunk_coder.layered.net.quantizer.bits_per_token * layers[1][0, 0].numel() * job.n
        data = chunk.pack()
        self._index.append(IndexEntry(chunk.first_frame, chunk.n_frames, st.bytes))
        st.bytes += len(data)
        return side + data


# ----------------------------------------------------------------------------------- decoding
class StreamDecoder:
    """The chunk decoder of one stream: the single place, for every way of reading a stream, that
    checks the header against this decoder's limits, finds the model, checks each chunk's place
    in the stream and its work, and turns chunks into frames."""

    def __init__(self, header: Header, device: str = "cpu", precision: str | None = None,
                 max_pixels: int | None = None, decoder: str | os.PathLike | None = None) -> None:
        """``decoder``: decode the tokens with another decoder for the stream's model (its name or
        folder: ``vtcodec.decoders``) instead of the model's own. A layered stream takes a decoder
        of its layer, or one of its base model. A base decoder decodes the chunks coded on the
        base alone (qualities 1..8), while a chunk that carries the layer decodes as the layer
        needs: the base's own decoder (the base decode the layer's encoder saw) under the layer's
        correction. A layer decoder replaces the layer's correction, and decodes the chunks on the
        base alone with the base decoder it names (else the base's own)."""
        check_limits(header, max_pixels)
        self.header = header
        self.layered = self.layer_coder = None
        if header.major >= 4:  # a layered model: the header names the layer, the layer its base
            self.layered = self._find_layer(header, device, precision)
            self.model = self.layered.base
            self.model_folder = self.layered.entry.path
            self.layer_coder = TokenCoder(self.layered.net)
        else:
            # the installed model the stream was written with (same name and weights hash); the name
            # is looked up among registered models only, never opened as a path
            self.model_folder = find_installed(header.model, header.weights_sha256.hex()).path
            self.model = load_model(self.model_folder, device=device, precision=precision)
        if header.major < 4 and (header.major >= 3) != bool(self.model.levels):
            raise FormatError(f"model {header.model!r} {'has' if self.model.levels else 'has no'} quality levels, "
                              f"but the stream is format {header.major}.{header.minor} (corrupt header)")
        version, need = (header.major, header.minor), tuple(version_of(self.model).values())
        # 3.1 declares the state, 3.2 a decoded-frame context; a later 3.x may add more, so below
        # it the version must be the model's own, from it on at least the model's
        if header.major == 3 and (version != need if version <= (3, 2) else version < need):
            raise FormatError(f"model {header.model!r} writes format {need[0]}.{need[1]} streams, "
                              f"but the stream is format {header.major}.{header.minor} (corrupt header)")
        self.synthesis = load_decoder(decoder, self.model, device, self.layered)
        self.layer_synthesis = None  # a layer decoder (``LayerSynthesis``) for the chunks with the layer
        self.chosen = None if self.synthesis is None else self.synthesis.entry
        if self.chosen is not None and self.chosen.layer:
            self.layer_synthesis, base = self.synthesis, base_decoder_of(self.chosen)
            self.synthesis = None if base is None else load_decoder(base.path, self.model, device)
        self.coder = TokenCoder(self.model)
        self.n_layer = 0 if self.layered is None else self.layered.n_symbols
        self.max_payload = payload_limit(header, self.model.n_symbols, self.n_layer)
        self.sequence = ChunkSequence(header)
        self.device = next(self.model.parameters()).device

    @staticmethod
    def _find_layer(header: Header, device: str, precision: str | None) -> Layered:
        sha = header.weights_sha256.hex()
        entry = find_installed_layer(header.model, sha)
        if entry is None:
            raise ModelError(f"stream needs the layered model {header.model!r} with weights sha256 {sha[:16]}..., "
                             "which is not installed: give its folder with --model or VTCODEC_MODEL_PATH")
        return load_layer(entry, device, precision)

    @property
    def decoder_folder(self) -> str | None:
        """The folder of the decoder asked for instead of the model's own (None: the model's own)."""
        return None if self.chosen is None else str(self.chosen.path.resolve())

    def frames_for_bytes(self, nbytes: int) -> int:
        """The most frames ``nbytes`` of frames chunks can hold under the work limit (the bound on
        what concealment may fill in for them)."""
        return frames_bound(self.header, self.model.n_symbols, nbytes)

    def frames(self, chunk: Chunk, lo: int = 0, hi: int | None = None,
               tokens_out: list | None = None) -> Iterator[np.ndarray]:
        """Frames ``lo .. hi - 1`` of a frames chunk, ``[B, H, W, 3]`` uint8 a few at a time, as
        their tokens are decoded (tokens after ``hi`` are not decoded). ``tokens_out`` receives the
        symbols ``[hi, S, h, w]`` once the chunk is done (a 4.x chunk with its layer: the base
        symbols, then the layer's)."""
        header, what = self.header, chunk.what
        hi = chunk.n_frames if hi is None else hi
        k, level, payload = frames_payload(chunk.payload, header, what)
        if self.model.levels and level >= self.model.levels:
            raise CorruptChunk(f"{what} has quality level {level}, outside the model's 0..{self.model.levels - 1}")
        if self.layered is not None:
            if level > self.layered.levels:
                raise CorruptChunk(f"{what} has layer byte {level}, outside the layer's 0..{self.layered.levels}")
            if level and k != SCALE_ONE:
                raise CorruptChunk(f"{what} carries its enhancement layer on the grid of scale index {k} "
                                   f"(only {SCALE_ONE}, the source size, may)")
        check_work(header, k, self.model.n_symbols, chunk.n_frames, len(chunk.payload), what,
                   self.n_layer if level and self.layered is not None else 0)
        if level and self.layered is not None:
            yield from self._layered_frames(chunk, lo, hi, tokens_out, level - 1, payload)
            return
        rows, cols = token_grid(header.width, header.height, k)
        cw, ch = coded_size(header.width, header.height, k)
        batch = batch_frames((cw, ch), (header.width, header.height))
        kept: list[torch.Tensor] = []
        pending: list[torch.Tensor] = []  # decoded frames waiting for their network call
        states: list[torch.Tensor] = []  # the temporal state before each pending frame (models with one)
        last = before = None  # symbols of the latest frame; of the frame before ``pending``
        shown = None  # a decoded-frame context's model: the latest reconstructed frame
        first = 0 if self.model.recon else lo  # such a model reconstructs every frame, in order
        with torch.inference_mode():
            for i, (symbols, state) in enumerate(self.coder.from_bytes(payload, chunk.n_frames, rows, cols, hi,
                                                                       what, level)):
                if tokens_out is not None:
                    kept.append(symbols)
                if i >= first:
                    if not pending:
                        before = last
                    pending.append(symbols)
                    states.append(state)
                if pending and (len(pending) == batch or i == hi - 1):
                    start = i + 1 - len(pending)
                    x = self.model.reconstruct(torch.stack(pending).to(self.device), starts_chunk=start == 0,
                                               before=before.to(self.device) if start else None,
                                               decoder=self.synthesis, level=level,
                                               state=torch.cat(states) if self.model.state else None,
                                               shown=shown)
                    shown = x[-1:]
                    if i >= lo:
                        yield from_grid(x[max(lo - start, 0):], (ch, cw), (header.height, header.width))
                    pending, states = [], []
                last = symbols
        if tokens_out is not None:
            tokens_out.append(torch.stack(kept))

    def _layered_frames(self, chunk: Chunk, lo: int, hi: int, tokens_out: list | None, level: int,
                        payload: bytes) -> Iterator[np.ndarray]:
        """``frames`` for a 4.x to 6.x chunk that carries the enhancement layer at ``level``: each
        frame's base symbols, then its layer symbols (whose prior's side planes are those base
        symbols), the two range-coder streams read side by side; the base decode, then the
        layer's. From 5.x a frame's skipped blocks show the previous output frame, and in 6.x the
        layer corrects blocks of it moved into place, so the chunk's frames reconstruct in order
        from its first (``vtcodec.skip``)."""
        header, what, layered = self.header, chunk.what, self.layered
        base_words, layer_words = split_layers(payload, what)
        w, h = header.width, header.height
        rows, cols = token_grid(w, h, SCALE_ONE)
        base: list[torch.Tensor | None] = []  # the base symbols decoded so far (the layer's side planes)
        skips: list | None = [] if header.major >= 5 else None  # each frame's block modes and vectors
        motion = header.major >= 6
        bases = self.coder.from_bytes(base_words, chunk.n_frames, rows, cols, hi, f"{what}, base layer")
        layers = self.layer_coder.from_bytes(layer_words, chunk.n_frames, *layered.grid(rows, cols), hi,
                                             f"{what}, enhancement layer", level, side_source(layered, base),
                                             skips, motion)
        first = 0 if skips is not None else lo
        shown = None  # 5.x, 6.x: the latest output frame
        batch = batch_frames((w, h), (w, h))
        kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        before = None  # base symbols of the frame before ``pending``
        with torch.inference_mode():
            for i in range(hi):
                symbols = next(bases)[0]
                base.append(symbols)
                if i >= 2:
                    base[i - 2] = None  # the side planes of frame i need frames i and i - 1 only
                layer = next(layers)[0]
                if tokens_out is not None:
                    kept.append((symbols, layer))
                if i >= first:
                    if not pending:
                        before = base[i - 1] if i else None
                    pending.append((symbols, layer))
                if pending and (len(pending) == batch or i == hi - 1):
                    start = i + 1 - len(pending)
                    x = self.model.reconstruct(torch.stack([b for b, _ in pending]).to(self.device),
                                               starts_chunk=start == 0,
                                               before=before.to(self.device) if start else None)
                    x = from_grid(x, (h, w), (h, w))
                    if motion:  # 6.x: each frame's layer corrects a picture made from the output before
                        y = np.empty_like(x)
                    else:
                        y = from_grid(layered.reconstruct(torch.stack([e for _, e in pending]), x, level,
                                                          self.layer_synthesis), (h, w), (h, w))
                    for j in range(len(y) if skips is not None else 0):  # 5.x, 6.x: in order
                        if motion:
                            pred = x[j] if shown is None else prediction(shown, *skips[start + j], x[j])
                            y[j] = from_grid(layered.reconstruct(pending[j][1][None], pred[None], level,
                                                                 self.layer_synthesis), (h, w), (h, w))[0]
                        if shown is not None:
                            y[j] = predict(shown, *skips[start + j], y[j])
                        shown = y[j].copy()  # what is yielded is the caller's to change
                    if i >= lo:
                        yield y[max(lo - start, 0):]
                    pending = []
            if hi == chunk.n_frames:  # both streams read to their end: each checks its own length
                for coded in (bases, layers):
                    next(coded, None)
        if tokens_out is not None:
            tokens_out.extend([torch.stack([b for b, _ in kept]), torch.stack([e for _, e in kept])])

    def finish(self) -> None:
        self.sequence.finish()


class Decoder:
    """Streaming decoder: feed .vtc bytes in slices of any size (as from a socket), get frames.

    ``decode(data)`` returns the frames of every chunk completed by ``data`` (``[H, W, 3]`` uint8
    numpy arrays, or ``av.VideoFrame`` / ``[3, H, W]`` float tensors with ``output="av"`` /
    ``"torch"``); ``flush()`` checks that the stream ended cleanly. Memory holds at most one chunk
    (and never more than its bytes justify: see ``StreamDecoder``). ``tokens_out``: a list that
    receives each chunk's symbols. ``side``: a list that receives the stream's audio and frame
    times chunks (``vtcodec.bitstream.audio``, ``.timing``) as they arrive. ``decoder``: another
    decoder for the stream's model, by name or folder (``vtcodec.decoders``; e.g. a perceptual
    one), instead of the model's own: the same tokens, other frames. Not thread-safe; separate
    instances may run in separate threads.
    """

    def __init__(self, device: str = "cpu", output: str = "numpy", precision: str | None = None,
                 tokens_out: list | None = None, side: list | None = None,
                 decoder: str | os.PathLike | None = None) -> None:
        if output not in ("numpy", "av", "torch"):
            raise VtcError(f"output must be numpy, av or torch, not {output!r}")
        self.device, self.output = device, output
        self.precision = resolve_precision(precision, device)
        self.tokens_out = tokens_out
        self.side = side
        self.decoder = decoder
        self.stream: StreamDecoder | None = None
        self._buf = bytearray()
        self._offset = 0  # stream offset of the first byte in the buffer

    @property
    def header(self) -> Header | None:
        return self.stream.header if self.stream else None

    @property
    def frames(self) -> int:
        return self.stream.sequence.frames if self.stream else 0

    def decode(self, data: bytes) -> list:
        self._buf += data
        out: list = []
        if self.stream is None:
            size = header_size(self._buf)
            if size is None or len(self._buf) < size:
                return out
            header = read_header(io.BytesIO(bytes(self._buf[:size])))
            self.stream = StreamDecoder(header, self.device, self.precision, decoder=self.decoder)
            del self._buf[:size]
            self._offset = size
        stream = self.stream
        while self._buf:
            if stream.sequence.ended:
                raise FormatError(f"data after the end chunk (offset {self._offset})")
            head = parse_head(self._buf, f" after frame {stream.sequence.frames} (offset {self._offset})")
            if head is None:
                return out
            head.check_fits(stream.max_payload, stream.sequence.frames)
            if len(self._buf) < head.size:
                return out
            raw = io.BytesIO(bytes(self._buf[:head.size]))
            del self._buf[:head.size]
            chunk = read_chunk(raw, stream.header, stream.sequence.frames, offset=self._offset)
            self._offset += head.size
            if stream.sequence.add(chunk):
                for batch in stream.frames(chunk, tokens_out=self.tokens_out):
                    out += self._convert(batch)
            elif self.side is not None and chunk.kind in SIDE_KINDS:
                self.side.append(chunk)
        return out

    def flush(self) -> list:
        if self.stream is None:
            raise FormatError("truncated stream: no complete header" if self._buf else "empty stream")
        if self._buf:
            raise FormatError(f"truncated stream: {len(self._buf)} bytes of an incomplete chunk "
                              f"after frame {self.frames}")
        self.stream.finish()
        return []

    def _convert(self, frames: np.ndarray) -> list:
        if self.output == "numpy":
            return list(frames)
        if self.output == "torch":
            return [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames]
        from .video import rgb_to_frame

        return [rgb_to_frame(f) for f in frames]


# ------------------------------------------------------------------------- in-memory API
def compress(frames_or_path: str | os.PathLike | Iterable, quality: int | None = None,
             model: str = DEFAULT_MODEL, gop: int = DEFAULT_GOP, fps: float | Fraction = 25,
             device: str = "cpu", bitrate: float | None = None, bpp: float | None = None,
             precision: str | None = None, preset: str | Preset = DEFAULT_PRESET, jobs: int = 1) -> bytes:
    """Frames (``[H, W, 3]`` uint8 arrays, a ``[T, H, W, 3]`` array, ``av.VideoFrame`` s or
    ``[3, H, W]`` float tensors) or a video path -> the bytes of a .vtc stream. ``precision``:
    the tokenizer nets' (``vtcodec.zoo.resolve_precision``); ``jobs``: see ``Encoder``."""
    if isinstance(frames_or_path, (str, os.PathLike)):
        from .video import VideoReader

        frames: Iterable = VideoReader(frames_or_path)
        info = frames.info
        w, h, fps = info.width, info.height, info.fps
        kw = {"chroma": info.chroma, "matrix": info.matrix, "color_range": info.color_range}
    else:
        it = iter(frames_or_path)
        first = next(it, None)
        if first is None:
            raise VtcError("no frames to encode")
        w, h = frame_size(first)
        frames, kw = itertools.chain([first], it), {}
    with Encoder(w, h, fps, quality=quality, model=model, gop=gop, device=device, bitrate=bitrate,
                 bpp=bpp, precision=precision, preset=preset, jobs=jobs, **kw) as encoder:
        parts = [encoder.encode(frame) for frame in frames]
        parts.append(encoder.flush())
    data = b"".join(parts)
    head = encoder.header_bytes()
    return head + data[len(head):]


def decompress(data: bytes, device: str = "cpu", precision: str | None = None,
               decoder: str | os.PathLike | None = None) -> np.ndarray:
    """The bytes of a .vtc stream -> frames ``[T, H, W, 3]`` uint8; ``decoder``: see ``Decoder``."""
    decoder = Decoder(device=device, precision=precision, decoder=decoder)
    frames = decoder.decode(data)
    decoder.flush()
    return np.stack(frames)


def digest_tokens(tokens: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tokens:
        h.update(t.to(torch.int64).numpy().tobytes())
    return h.hexdigest()
