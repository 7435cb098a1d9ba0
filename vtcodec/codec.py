"""The codec: the one place that joins the networks, the entropy coder and the .vtc format.

Per chunk (a group of ``gop`` frames, the unit of random access):

0. the chunk's frames are resampled to its coding grid (``coded_size``; see "Quality" below);
1. frames are padded (edge replicate) to multiples of 8 and tokenized: ``[T, S, h, w]`` symbols;
2. for every frame and every step of the prior's schedule (checkerboard pass x channel group),
   the integer-exact prior gives a frequency table per symbol (``models/intnet.py``);
3. all symbols of the chunk are range coded in one call, in stream order
   ``for frame, for step, for channel in the step, for position in raster order``;
4. the decoder rebuilds the same tables step by step, decodes the symbols, then runs the
   tokenizer's decoder over the whole chunk in batches, crops the padding and resamples the
   frames back to the stream's size.

Quality. The tokenizer spends a fixed number of bits per 8x8 patch of the grid it codes, so the
rate knob is the density of that grid: each chunk is coded on a grid scaled by 2^((k-128)/16)
(k in 96..144, 1/4 .. 2x per side; the scale index is the first byte of the chunk's payload).
Below 1 the frames are downscaled before tokenizing and upscaled after decoding, and above 1 the
other way round, so that a token covers fewer source pixels and fine detail survives. Bits scale
with the grid's area, about 2^(1/8) = 9% per step of k. This is a resolution ladder inside one
model family (as adaptive streaming builds per-title ladders), chosen over several checkpoints or
a multi-stage quantizer because it needs no extra training and is monotone by construction; a
residual-quantizer model can later add levels without changing the format (k stays per chunk).
``--quality`` 1..10 maps to k = 128 + 4 (q - 6): each level is 2^(1/4) per side, about 1.41x the
bits of the one below; 6 (the default) codes at the source size. Target-rate mode (``bitrate`` or
``bpp``) picks k per chunk, the finer steps letting even a one-chunk clip land near its target.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__, entropy
from .bitstream import (
    CHUNK_FRAMES,
    SCALE_MAX,
    SCALE_MIN,
    SCALE_ONE,
    UNKNOWN_FRAMES,
    Chunk,
    Header,
    IndexEntry,
    coded_size,
    end_chunk,
    frames_payload,
    index_chunk,
    read_chunk,
    read_header,
)
from .errors import FormatError, ModelError, VtcError
from .models import VTModel
from .models.intnet import pmf_from_logits
from .models.prior import schedule
from .refine import MS_WEIGHT, refine_latents
from .zoo import DEFAULT_MODEL, find_model, load_model, resolve_precision

DEFAULT_GOP = 32
BATCH = 8  # frames per network call (bounds memory at large sizes)
PRIOR_BATCH = 1  # frames per exact-prior call (the smallest working set; 8 measured no faster)
TOKEN_HYSTERESIS = 0.15  # see VTModel.tokenize_chunk: an encoder choice, not part of the format
# encoder presets, like x264's: more encoding time for better tokens at the same rate (latent
# refinement, vtcodec/refine.py: (steps, Adam learning rate, rate slope of the RD objective));
# the stream format is the same. veryslow puts the bits in the objective: without them, 12-30
# steps spent 2-7% more bits on ciscovt2people (benchmarks/refine.py --steps --rate-slopes); the
# BD-rate of each preset is in the README ("Presets").
PRESETS = {"medium": (0, 0.0, 0.0), "slow": (5, 0.04, 0.0), "veryslow": (30, 0.03, 0.3)}
DEFAULT_PRESET = "medium"
QUALITIES = tuple(range(1, 11))
DEFAULT_QUALITY = 6


def quality_scale(quality: int) -> int:
    """The scale index k of a ``--quality`` level (1..10; 6 = the source size)."""
    return SCALE_ONE + 4 * (quality - DEFAULT_QUALITY)


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

    @property
    def bpp(self) -> float:
        return self.bytes * 8 / max(1, self.frames * self.width * self.height)

    @property
    def kbps(self) -> float:
        return self.bytes * 8 / max(1e-9, self.frames / float(self.fps)) / 1000

    @property
    def speed(self) -> float:
        return self.frames / max(self.seconds, 1e-9)

    def summary(self, verb: str) -> str:
        return (f"{verb} {self.frames} frames {self.width}x{self.height}: {self.bytes} bytes, "
                f"{self.bpp:.4f} bpp, {self.kbps:.1f} kb/s, {self.speed:.2f} fps, {self.seconds:.2f} s")


def resample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[B, 3, h, w]`` in [0, 1] -> ``[B, 3, *size]``: antialiased bilinear down, bicubic up."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    if size[0] <= x.shape[2] and size[1] <= x.shape[3]:
        return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _to_tensor(frames: np.ndarray, device: torch.device, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``[T, H, W, 3]`` uint8 -> ``[T, 3, H8, W8]`` float in [0, 1], resampled to ``size``
    (height, width) when given, edge-padded to multiples of 8."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255
    if size is not None:
        x = resample(x, size)
    h, w = x.shape[2:]
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


class TokenCoder:
    """Token grids <-> entropy-coded bytes for one model (prior evaluated exactly)."""

    def __init__(self, model: VTModel) -> None:
        self.model = model
        self.exact = model.exact_prior()
        self.alphabets = model.alphabets
        self.amax = max(self.alphabets)
        # the schedule per grid size, shared by every coder of this model
        self._steps: dict[tuple[int, int], list] = self.exact.__dict__.setdefault("steps_cache", {})

    def steps(self, h: int, w: int) -> list[tuple[torch.Tensor, list, torch.Tensor]]:
        """The coding steps of an ``h x w`` grid: ``(known, chans, positions)`` with ``chans`` the
        ``(channel, flat positions)`` coded by the step, in stream order, and ``positions`` the
        union of those positions (where the prior is evaluated)."""
        if (h, w) not in self._steps:
            out = []
            for known, target in schedule(self.model.cfg.prior_groups, len(self.alphabets), h, w):
                chans = [(c, np.nonzero(target[c].numpy().ravel())[0]) for c in range(target.shape[0])
                         if bool(target[c].any())]
                if chans:  # a 1-position grid has no second checkerboard pass
                    union = np.unique(np.concatenate([pos for _, pos in chans]))
                    chans = [(c, pos, np.searchsorted(union, pos)) for c, pos in chans]
                    out.append((known, chans, torch.from_numpy(union)))
            self._steps[(h, w)] = out
        return self._steps[(h, w)]

    def _tables(self, logits: np.ndarray, chans: list) -> np.ndarray:
        """Logits ``[B, S, A, P]`` of one step at its positions -> frequency tables
        ``[B, N, amax]``, rows in stream order."""
        b, _, a, _ = logits.shape
        parts = []
        for c, _, local in chans:
            z = logits[:, c][:, :, local].transpose(0, 2, 1).reshape(-1, a)  # [B * N_c, A]
            pmf = np.zeros((z.shape[0], self.amax), dtype=np.int64)
            pmf[:, :self.alphabets[c]] = pmf_from_logits(z, self.alphabets[c])
            parts.append(pmf.reshape(b, len(local), self.amax))
        return np.concatenate(parts, axis=1)

    def _frame_tables(self, symbols: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Symbols ``[T, S, h, w]`` of one chunk -> (frequency tables ``[T, N, A]``, symbols
        ``[T, N]``), each frame's ``N`` symbols in stream order."""
        t, s, h, w = symbols.shape
        prev = torch.cat([torch.zeros_like(symbols[:1]), symbols[:-1]])
        has_prev = (torch.arange(t) > 0).float()
        flat = symbols.reshape(t, s, h * w).numpy()
        tables, syms = [], []
        for known, chans, positions in self.steps(h, w):
            tables.append(np.concatenate([self._tables(self.exact.logits(
                prev[i:i + PRIOR_BATCH], has_prev[i:i + PRIOR_BATCH], symbols[i:i + PRIOR_BATCH], known,
                positions), chans) for i in range(0, t, PRIOR_BATCH)]))  # [T, N, A]
            syms.append(np.concatenate([flat[:, c][:, pos] for c, pos, _ in chans], axis=1))
        return np.concatenate(tables, axis=1), np.concatenate(syms, axis=1)

    def encode(self, symbols: torch.Tensor) -> tuple[bytes, float]:
        """Symbols ``[T, S, h, w]`` of one chunk -> (payload, ideal bits)."""
        tables, syms = self._frame_tables(symbols)
        freqs, flat_syms = tables.reshape(-1, self.amax), syms.reshape(-1)  # frame-major order
        return entropy.encode(flat_syms, freqs), entropy.ideal_bits(flat_syms, freqs)

    def frame_bits(self, symbols: torch.Tensor) -> np.ndarray:
        """-log2 p of each frame's symbols ``[T, S, h, w]`` under the prior (for analysis)."""
        tables, syms = self._frame_tables(symbols)
        return np.array([entropy.ideal_bits(s, f) for f, s in zip(tables, syms, strict=True)])

    def decode(self, payload: bytes, t: int, h: int, w: int, stop: int | None = None) -> torch.Tensor:
        """Symbols ``[T, S, h, w]`` of a chunk of ``t`` frames; with ``stop``, only the first
        ``stop`` frames are decoded (the rest stay zero)."""
        s = len(self.alphabets)
        decoder = entropy.Decoder(payload)
        out = torch.zeros(t, s, h, w, dtype=torch.int64)
        steps = self.steps(h, w)
        for i in range(t if stop is None else min(stop, t)):
            prev = out[i - 1:i] if i else torch.zeros(1, s, h, w, dtype=torch.int64)
            has_prev = torch.tensor([1.0 if i else 0.0])
            cur = out[i:i + 1]
            for known, chans, positions in steps:
                freqs = self._tables(self.exact.logits(prev, has_prev, cur, known, positions), chans)[0]
                values = decoder.decode(freqs)
                n = 0
                for c, pos, _ in chans:
                    if values[n:n + len(pos)].max(initial=0) >= self.alphabets[c]:
                        raise FormatError("decoded symbol out of range (corrupt stream)")
                    cur[0, c].view(-1)[torch.from_numpy(pos)] = torch.from_numpy(values[n:n + len(pos)])
                    n += len(pos)
        return out


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


class Encoder:
    """Streaming encoder: push frames one at a time, get .vtc bytes as chunks complete.

    ``encode(frame)`` returns the bytes ready so far (the header with the first frame, then a chunk
    every ``gop`` frames, else ``b""``); ``flush()`` returns the last chunk. The concatenation of
    everything returned is a valid .vtc stream (frame count "unknown" in its header, since the
    header goes out before the count is known; ``header_bytes()`` gives the final header after
    ``flush()`` for writers that can seek back), closed by the random-access index and the end
    chunk. Memory holds at most one chunk of frames.

    ``quality`` (1..10) fixes the coding grid of every chunk; ``bitrate`` (kb/s) or ``bpp`` instead
    select target-rate mode (``RateControl``). ``preset`` (``PRESETS``: medium, slow, veryslow)
    spends more encoding time on the tokens (latent refinement, ``vtcodec.refine``) for better
    quality at about the same rate; any preset's stream decodes the same way. ``precision``: the
    tokenizer nets' (``vtcodec.zoo.resolve_precision``). An instance is not thread-safe; separate
    instances may run in separate threads. The torch thread count is left to the caller.
    """

    def __init__(self, width: int, height: int, fps: float | Fraction = 25, quality: int | None = None,
                 model: str | os.PathLike = DEFAULT_MODEL, gop: int = DEFAULT_GOP, device: str = "cpu",
                 chroma: str = "420", matrix: int = 5, color_range: int = 1,
                 bitrate: float | None = None, bpp: float | None = None,
                 precision: str | None = None, preset: str = DEFAULT_PRESET) -> None:
        if not 1 <= gop <= 1024:
            raise VtcError(f"gop must be in 1..1024, got {gop}")
        self.refine_steps, self.refine_lr, self.rate_slope = PRESETS[check_preset(preset)]
        self.refine_weight = MS_WEIGHT  # MS-SSIM in the refinement objective (vtcodec/refine.py)
        if sum(x is not None for x in (quality, bitrate, bpp)) > 1:
            raise VtcError("give one of quality, bitrate and bpp")
        self.model = load_model(model, device=device, precision=precision)
        self.device = torch.device(device)
        fps = Fraction(fps).limit_denominator(1 << 30)
        if fps <= 0:
            raise VtcError(f"frame rate must be positive, got {fps}")
        self.rate: RateControl | None = None
        if bitrate is not None or bpp is not None:
            per_frame = (bitrate * 1000 / float(fps)) if bitrate is not None else bpp * int(width) * int(height)
            if not per_frame > 0 or not np.isfinite(per_frame):
                raise VtcError("the target rate must be a positive number")
            self.rate = RateControl(per_frame)
            level = 0
        else:
            level = _check_quality(quality)
        self.header = Header(int(width), int(height), fps.numerator, fps.denominator, UNKNOWN_FRAMES,
                             chroma, matrix, color_range, self.model.cfg.quantizer, level, gop,
                             self.model.cfg.name, bytes.fromhex(self.model.sha256), f"vtcodec {__version__}")
        self.header.validate()
        self.coder = TokenCoder(self.model)
        self.stats = Stats(width=int(width), height=int(height), fps=Fraction(fps),
                           bytes=len(self.header.pack()), scales=[])
        self.tokens: list[torch.Tensor] | None = None  # set to [] to keep every chunk's symbols
        self.margin = TOKEN_HYSTERESIS
        self._pending: list[np.ndarray] = []
        self._index: list[IndexEntry] | None = []  # None once flushed
        self._started = False
        self._t0 = time.time()

    def encode(self, frame: object) -> bytes:
        if self._index is None:
            raise VtcError("this encoder was flushed: make a new Encoder for another stream")
        out = b""
        if not self._started:
            out, self._started = self.header.pack(), True
        self._pending.append(_as_rgb(frame, self.header.width, self.header.height))
        if len(self._pending) == self.header.gop:
            out += self._emit()
        return out

    def flush(self) -> bytes:
        """The last chunk, then the index of all chunks and the end chunk (ends the stream)."""
        if self._index is None:
            raise VtcError("this encoder was flushed: make a new Encoder for another stream")
        last = self._emit() if self._pending else b""
        if self.stats.frames == 0:
            raise VtcError("no frames to encode")
        index_offset = self.stats.bytes
        tail = index_chunk(self._index).pack() + end_chunk(index_offset).pack()
        self._index = None
        self.stats.bytes += len(tail)
        self.stats.seconds = time.time() - self._t0
        return last + tail

    def header_bytes(self) -> bytes:
        """The header with the frame count filled in (same size as the one sent first)."""
        from dataclasses import replace

        return replace(self.header, frame_count=self.stats.frames).pack()

    @torch.inference_mode()
    def _emit(self) -> bytes:
        frames = np.stack(self._pending)
        self._pending = []
        st = self.stats
        if self.rate is None:
            k = quality_scale(self.header.quality)
            symbols = self._tokenize(frames, k)
            payload, ideal = self.coder.encode(symbols)
        else:
            k, symbols, payload, ideal = self.rate.choose(self, frames)
        chunk = Chunk(st.frames, len(frames), bytes([k]) + payload)
        if self.tokens is not None:
            self.tokens.append(symbols)
        st.frames += len(frames)
        st.chunks += 1
        st.scales.append(k)
        st.payload_bits += len(payload) * 8
        st.ideal_bits += ideal
        st.raw_bits += self.model.quantizer.bits_per_token * symbols[0, 0].numel() * len(frames)
        data = chunk.pack()
        self._index.append(IndexEntry(chunk.first_frame, chunk.n_frames, st.bytes))
        st.bytes += len(data)
        return data

    def _tokenize(self, frames: np.ndarray, k: int, refine: bool = True) -> torch.Tensor:
        cw, ch = coded_size(self.header.width, self.header.height, k)
        z = torch.cat([self.model.latents(_to_tensor(frames[i:i + BATCH], self.device, (ch, cw)))
                       for i in range(0, len(frames), BATCH)])
        if refine and self.refine_steps:
            h, w = self.header.height, self.header.width
            window = min(max((1 << 21) // max(ch * cw, h * w), 1), BATCH)  # bounds backward's memory
            source = _to_tensor(frames, self.device)[:, :, :h, :w]
            z = refine_latents(self.model, z, source, self.refine_steps, self.refine_lr, self.refine_weight,
                               window=window, render=lambda r: resample(r[:, :, :ch, :cw], (h, w)),
                               rate_slope=self.rate_slope)
        return self.model.tokenize_chunk(z, self.margin).cpu()


class RateControl:
    """Target-rate mode: picks each chunk's scale index k so that the file tracks a budget.

    A chunk's budget is its frames' share of the target plus the running surplus or deficit of the
    chunks before it (bounded to 0.5..2x the share), so that errors do not accumulate. Bits grow
    with the grid's area, about 2^(1/8) per step of k: starting from the previous chunk's k (k=128
    for the first), the chunk is coded, k is corrected by 8 log2(budget / bits), and it is coded
    again, at most ``TRIALS`` times; the trial nearest the budget (in log ratio) is kept. A target
    outside what k = 96..144 reaches is clamped there, and ``Stats.note`` says so.
    """

    TRIALS = 4
    TOLERANCE = 0.03

    def __init__(self, bits_per_frame: float) -> None:
        self.per_frame = bits_per_frame
        self.k = SCALE_ONE
        self.low = False  # a chunk overshot its budget at the lowest k
        self.high = False  # a chunk fell short of its budget at the highest k

    def choose(self, enc: Encoder, frames: np.ndarray) -> tuple[int, torch.Tensor, bytes, float]:
        st = enc.stats
        n = len(frames)
        framing = 8 * 20  # chunk head, CRC and the scale byte
        surplus = self.per_frame * st.frames - (st.bytes * 8)
        budget = min(max(self.per_frame * n + surplus, 0.5 * self.per_frame * n), 2 * self.per_frame * n)
        budget = max(budget - framing, 1.0)
        trials: dict[int, tuple[torch.Tensor, bytes, float]] = {}
        k = self.k
        for _ in range(self.TRIALS):
            symbols = enc._tokenize(frames, k, refine=False)  # a refining preset refines the chosen k once
            payload, ideal = enc.coder.encode(symbols)
            trials[k] = (symbols, payload, ideal)
            bits = max(8 * len(payload), 8)
            if abs(bits / budget - 1) <= self.TOLERANCE:
                break
            step = round(8 * np.log2(budget / bits))
            nxt = min(max(k + (step if step else (1 if bits < budget else -1)), SCALE_MIN), SCALE_MAX)
            if nxt in trials:
                break
            k = nxt
        best = min(trials, key=lambda j: abs(np.log2(max(8 * len(trials[j][1]), 8) / budget)))
        bits = 8 * len(trials[best][1])
        if best == SCALE_MIN and bits > 1.1 * budget:
            self.low = True
        if best == SCALE_MAX and bits < 0.9 * budget:
            self.high = True
        self.k = best
        self._note(st)
        if enc.refine_steps:
            symbols = enc._tokenize(frames, best)
            return (best, symbols, *enc.coder.encode(symbols))
        return (best, *trials[best])

    def _note(self, st: Stats) -> None:
        if self.low:
            st.note = "target below the lowest rate this video reaches: coded at the lowest quality"
        elif self.high:
            st.note = "target above the highest rate this video reaches: coded at the highest quality"


class Decoder:
    """Streaming decoder: feed .vtc bytes in slices of any size (as from a socket), get frames.

    ``decode(data)`` returns the frames of every chunk completed by ``data`` (``[H, W, 3]`` uint8
    numpy arrays, or ``av.VideoFrame`` / ``[3, H, W]`` float tensors with ``output="av"`` /
    ``"torch"``); ``flush()`` checks that the stream ended cleanly. Memory holds at most one chunk.
    Not thread-safe; separate instances may run in separate threads.
    """

    def __init__(self, device: str = "cpu", output: str = "numpy", precision: str | None = None) -> None:
        if output not in ("numpy", "av", "torch"):
            raise VtcError(f"output must be numpy, av or torch, not {output!r}")
        self.device, self.output = device, output
        self.precision = resolve_precision(precision, device)
        self.header: Header | None = None
        self.model: VTModel | None = None
        self.coder: TokenCoder | None = None
        self.frames = 0
        self.tokens: list[torch.Tensor] | None = None  # set to [] to keep every chunk's symbols
        self._buf = bytearray()

    def decode(self, data: bytes) -> list:
        from .bitstream import chunk_size, header_size

        self._buf += data
        out: list = []
        if self.header is None:
            size = header_size(self._buf)
            if size is None or len(self._buf) < size:
                return out
            self.header = read_header(io.BytesIO(bytes(self._buf[:size])))
            check_limits(self.header)
            del self._buf[:size]
            self.model = model_for(self.header, self.device, self.precision)
            self.coder = TokenCoder(self.model)
            self._limit = payload_limit(self.header, self.model)
        while True:
            size = chunk_size(self._buf)
            if size is None:
                return out
            if self._buf[4] == CHUNK_FRAMES and size > self._limit:
                raise FormatError(f"chunk after frame {self.frames} claims {size} bytes, more than a "
                                  "chunk of this stream can hold")
            if len(self._buf) < size:
                return out
            raw = bytes(self._buf[:size])
            del self._buf[:size]
            chunk = read_chunk(io.BytesIO(raw), self.header, self.frames)
            if chunk is None or chunk.kind != CHUNK_FRAMES:
                continue  # the index, the end chunk, or a newer chunk type
            frames, symbols = decode_chunk(chunk, self.header, self.model, self.coder)
            if self.tokens is not None:
                self.tokens.append(symbols)
            self.frames += chunk.n_frames
            out += self._convert(frames)

    def flush(self) -> list:
        if self.header is None:
            raise FormatError("truncated stream: no complete header" if self._buf else "empty stream")
        if self._buf:
            raise FormatError(f"truncated stream: {len(self._buf)} bytes of an incomplete chunk "
                              f"after frame {self.frames}")
        count = self.header.frame_count
        if count != UNKNOWN_FRAMES and self.frames != count:
            raise FormatError(f"truncated stream: {self.frames} of {count} frames present")
        if self.frames == 0:
            raise FormatError("stream holds no frames")
        return []

    def _convert(self, frames: np.ndarray) -> list:
        if self.output == "numpy":
            return list(frames)
        if self.output == "torch":
            return [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames]
        from .video import rgb_to_frame

        return [rgb_to_frame(f) for f in frames]


@torch.inference_mode()
def decode_chunk(chunk: Chunk, header: Header, model: VTModel, coder: TokenCoder | None = None,
                 lo: int = 0, hi: int | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """-> (frames ``[hi - lo, H, W, 3]`` uint8, symbols ``[T, S, h, w]``). Only the frames
    ``lo .. hi - 1`` of the chunk are reconstructed, and tokens are decoded only up to ``hi``
    (tokens after it stay zero)."""
    coder = coder or TokenCoder(model)
    hi = chunk.n_frames if hi is None else hi
    k, payload = frames_payload(chunk, header)
    cw, ch = coded_size(header.width, header.height, k)
    symbols = coder.decode(payload, chunk.n_frames, -(-ch // 8), -(-cw // 8), stop=hi)
    device = next(model.parameters()).device
    frames = []
    for i in range(lo, hi, BATCH):
        x = model.reconstruct(symbols[i:min(i + BATCH, hi)].to(device), starts_chunk=i == 0,
                              before=symbols[i - 1].to(device) if i else None)
        x = resample(x[:, :, :ch, :cw], (header.height, header.width))
        x = (x * 255).round().to(torch.uint8)
        frames.append(x.permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(frames), symbols


# The format allows frames up to 2**26 pixels; a decoder sets its own resource limit, as decoders
# of classic codecs do with levels. Raise it with VTCODEC_MAX_PIXELS for larger video.
DEFAULT_MAX_PIXELS = 4096 * 2304


def check_limits(header: Header, max_pixels: int | None = None) -> None:
    """Refuse frames larger than this decoder's limit, before any work is done."""
    limit = max_pixels or int(os.environ.get("VTCODEC_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    if header.width * header.height > limit:
        raise FormatError(f"frame size {header.width}x{header.height} is above this decoder's limit "
                          f"of {limit} pixels (set VTCODEC_MAX_PIXELS to allow it)")


def payload_limit(header: Header, model: VTModel) -> int:
    """Largest chunk a stream can hold: at most 32 bits per symbol (constriction's probabilities
    are at least 2**-24) for a whole group of frames, plus the chunk's framing."""
    cw, ch = coded_size(header.width, header.height, SCALE_MAX if header.major >= 2 else SCALE_ONE)
    symbols = header.gop * -(-ch // 8) * -(-cw // 8) * model.n_symbols
    return 4 * symbols + 1024


def model_for(header: Header, device: str = "cpu", precision: str | None = None) -> VTModel:
    """The installed model a stream was written with (same name and weights hash)."""
    try:
        entry = find_model(header.model)
    except ModelError:
        raise ModelError(f"stream was written with model {header.model!r}, which is not installed") from None
    if bytes.fromhex(entry.sha256) != header.weights_sha256:
        raise ModelError(f"stream was written with model {header.model!r} "
                         f"(weights {header.weights_sha256.hex()[:12]}), but the installed one has "
                         f"weights {entry.sha256[:12]}")
    return load_model(entry.path, device=device, precision=precision)


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise VtcError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    return preset


def _check_quality(quality: int | None) -> int:
    if quality is None:
        return DEFAULT_QUALITY
    if quality not in QUALITIES:
        raise VtcError(f"quality must be {QUALITIES[0]}..{QUALITIES[-1]} "
                       f"({DEFAULT_QUALITY} codes at the source size), not {quality}")
    return int(quality)


def digest_tokens(tokens: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tokens:
        h.update(t.to(torch.int64).numpy().tobytes())
    return h.hexdigest()
