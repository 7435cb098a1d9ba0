"""The codec: the one place that joins the networks, the entropy coder and the .vtc format.

Per chunk (a group of ``gop`` frames, the unit of random access):

1. frames are padded (edge replicate) to multiples of 8 and tokenized: ``[T, S, h, w]`` symbols;
2. for every frame and every step of the prior's schedule (checkerboard pass x channel group),
   the integer-exact prior gives a frequency table per symbol (``models/intnet.py``);
3. all symbols of the chunk are range coded in one call, in stream order
   ``for frame, for step, for channel in the step, for position in raster order``;
4. the decoder rebuilds the same tables step by step, decodes the symbols, then runs the
   tokenizer's decoder over the whole chunk in batches and crops the padding.
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
    UNKNOWN_FRAMES,
    Chunk,
    Header,
    IndexEntry,
    end_chunk,
    index_chunk,
    read_chunk,
    read_header,
)
from .errors import FormatError, ModelError, VtcError
from .models import VTModel
from .models.intnet import pmf_from_logits
from .models.prior import schedule
from .zoo import DEFAULT_MODEL, find_model, load_model

DEFAULT_GOP = 32
BATCH = 8  # frames per network call (bounds memory at large sizes)


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


def _to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """``[T, H, W, 3]`` uint8 -> ``[T, 3, H8, W8]`` float in [0, 1], edge-padded to multiples of 8."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255
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

    def steps(self, h: int, w: int) -> list[tuple[torch.Tensor, torch.Tensor, list]]:
        if (h, w) not in self._steps:
            out = []
            for known, target in schedule(self.model.cfg.prior_groups, len(self.alphabets), h, w):
                chans = [(c, np.nonzero(target[c].numpy().ravel())[0]) for c in range(target.shape[0])
                         if bool(target[c].any())]
                if chans:  # a 1-position grid has no second checkerboard pass
                    out.append((known, target, chans))
            self._steps[(h, w)] = out
        return self._steps[(h, w)]

    def _tables(self, logits: np.ndarray, chans: list) -> np.ndarray:
        """Frequency tables ``[B, P_total, amax]`` for one step, rows in stream order."""
        b, s, a, h, w = logits.shape
        flat = logits.reshape(b, s, a, h * w)
        parts = []
        for c, pos in chans:
            z = flat[:, c][:, :, pos].transpose(0, 2, 1).reshape(-1, a)  # [B * P, A]
            pmf = np.zeros((z.shape[0], self.amax), dtype=np.int64)
            pmf[:, :self.alphabets[c]] = pmf_from_logits(z, self.alphabets[c])
            parts.append(pmf.reshape(b, len(pos), self.amax))
        return np.concatenate(parts, axis=1)

    def encode(self, symbols: torch.Tensor) -> tuple[bytes, float]:
        """Symbols ``[T, S, h, w]`` of one chunk -> (payload, ideal bits)."""
        t, s, h, w = symbols.shape
        steps = self.steps(h, w)
        prev = torch.cat([torch.zeros_like(symbols[:1]), symbols[:-1]])
        has_prev = (torch.arange(t) > 0).float()
        tables, syms = [], []
        for known, _, chans in steps:
            per_batch = []
            for i in range(0, t, BATCH):
                per_batch.append(self._tables(self.exact.logits(
                    prev[i:i + BATCH], has_prev[i:i + BATCH], symbols[i:i + BATCH], known), chans))
            tables.append(np.concatenate(per_batch))  # [T, P, A]
            flat = symbols.reshape(t, s, h * w).numpy()
            syms.append(np.concatenate([flat[:, c][:, pos] for c, pos in chans], axis=1))
        freqs = np.concatenate(tables, axis=1).reshape(-1, self.amax)  # frame-major order
        flat_syms = np.concatenate(syms, axis=1).reshape(-1)
        return entropy.encode(flat_syms, freqs), entropy.ideal_bits(flat_syms, freqs)

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
            for known, _, chans in steps:
                freqs = self._tables(self.exact.logits(prev, has_prev, cur, known), chans)[0]
                values = decoder.decode(freqs)
                n = 0
                for c, pos in chans:
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

    An instance is not thread-safe; separate instances may run in separate threads. The torch
    thread count is left to the caller.
    """

    def __init__(self, width: int, height: int, fps: float | Fraction = 25, quality: int | None = None,
                 model: str | os.PathLike = DEFAULT_MODEL, gop: int = DEFAULT_GOP, device: str = "cpu",
                 chroma: str = "420", matrix: int = 5, color_range: int = 1) -> None:
        if not 1 <= gop <= 1024:
            raise VtcError(f"gop must be in 1..1024, got {gop}")
        self.model = load_model(model, device=device)
        self.device = torch.device(device)
        fps = Fraction(fps).limit_denominator(1 << 30)
        self.header = Header(int(width), int(height), fps.numerator, fps.denominator, UNKNOWN_FRAMES,
                             chroma, matrix, color_range, self.model.cfg.quantizer,
                             _check_quality(self.model, quality), gop, self.model.cfg.name,
                             bytes.fromhex(self.model.sha256), f"vtcodec {__version__}")
        self.header.validate()
        self.coder = TokenCoder(self.model)
        self.stats = Stats(width=int(width), height=int(height), fps=Fraction(fps),
                           bytes=len(self.header.pack()))
        self.tokens: list[torch.Tensor] | None = None  # set to [] to keep every chunk's symbols
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
        symbols = torch.cat([self.model.tokenize(_to_tensor(frames[i:i + BATCH], self.device)).cpu()
                             for i in range(0, len(frames), BATCH)])
        payload, ideal = self.coder.encode(symbols)
        chunk = Chunk(self.stats.frames, len(frames), payload)
        if self.tokens is not None:
            self.tokens.append(symbols)
        st = self.stats
        st.frames += len(frames)
        st.chunks += 1
        st.payload_bits += len(payload) * 8
        st.ideal_bits += ideal
        st.raw_bits += self.model.quantizer.bits_per_token * symbols[0, 0].numel() * len(frames)
        data = chunk.pack()
        self._index.append(IndexEntry(chunk.first_frame, chunk.n_frames, st.bytes))
        st.bytes += len(data)
        return data


class Decoder:
    """Streaming decoder: feed .vtc bytes in slices of any size (as from a socket), get frames.

    ``decode(data)`` returns the frames of every chunk completed by ``data`` (``[H, W, 3]`` uint8
    numpy arrays, or ``av.VideoFrame`` / ``[3, H, W]`` float tensors with ``output="av"`` /
    ``"torch"``); ``flush()`` checks that the stream ended cleanly. Memory holds at most one chunk.
    Not thread-safe; separate instances may run in separate threads.
    """

    def __init__(self, device: str = "cpu", output: str = "numpy") -> None:
        if output not in ("numpy", "av", "torch"):
            raise VtcError(f"output must be numpy, av or torch, not {output!r}")
        self.device, self.output = device, output
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
            self.model = model_for(self.header, self.device)
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
    h, w = -(-header.height // 8), -(-header.width // 8)
    symbols = coder.decode(chunk.payload, chunk.n_frames, h, w, stop=hi)
    device = next(model.parameters()).device
    frames = []
    for i in range(lo, hi, BATCH):
        x = model.reconstruct(symbols[i:min(i + BATCH, hi)].to(device), starts_chunk=i == 0,
                              before=symbols[i - 1].to(device) if i else None)
        x = (x[:, :, :header.height, :header.width] * 255).round().to(torch.uint8)
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
    symbols = header.gop * -(-header.height // 8) * -(-header.width // 8) * model.n_symbols
    return 4 * symbols + 1024


def model_for(header: Header, device: str = "cpu") -> VTModel:
    """The installed model a stream was written with (same name and weights hash)."""
    try:
        entry = find_model(header.model)
    except ModelError:
        raise ModelError(f"stream was written with model {header.model!r}, which is not installed") from None
    if bytes.fromhex(entry.sha256) != header.weights_sha256:
        raise ModelError(f"stream was written with model {header.model!r} "
                         f"(weights {header.weights_sha256.hex()[:12]}), but the installed one has "
                         f"weights {entry.sha256[:12]}")
    return load_model(entry.path, device=device)


def _check_quality(model: VTModel, quality: int | None) -> int:
    levels = model.cfg.extra.get("qualities", [1]) if isinstance(model.cfg.extra, dict) else [1]
    if quality is None:
        return int(levels[0])
    if quality not in levels:
        raise VtcError(f"model {model.cfg.name} offers quality levels {levels}, not {quality}")
    return int(quality)


def digest_tokens(tokens: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tokens:
        h.update(t.to(torch.int64).numpy().tobytes())
    return h.hexdigest()
