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
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__, entropy
from .bitstream import UNKNOWN_FRAMES, Chunk, Header, iter_chunks, read_header
from .errors import FormatError, ModelError, VideoError, VtcError
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
        self._steps: dict[tuple[int, int], list] = {}

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

    def decode(self, payload: bytes, t: int, h: int, w: int) -> torch.Tensor:
        s = len(self.alphabets)
        decoder = entropy.Decoder(payload)
        out = torch.zeros(t, s, h, w, dtype=torch.int64)
        steps = self.steps(h, w)
        for i in range(t):
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


class ChunkEncoder:
    """Frames -> chunks for one stream (shape fixed by the header)."""

    def __init__(self, header: Header, model: VTModel) -> None:
        self.header, self.model = header, model
        self.coder = TokenCoder(model)
        self.device = next(model.parameters()).device
        self.next_frame = 0

    @torch.inference_mode()
    def tokenize(self, frames: np.ndarray) -> torch.Tensor:
        return torch.cat([self.model.tokenize(_to_tensor(frames[i:i + BATCH], self.device)).cpu()
                          for i in range(0, len(frames), BATCH)])

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> tuple[Chunk, torch.Tensor, float]:
        """``[T, H, W, 3]`` uint8 (T <= gop) -> (chunk, symbols, ideal bits)."""
        symbols = self.tokenize(frames)
        payload, ideal = self.coder.encode(symbols)
        chunk = Chunk(self.next_frame, len(frames), payload)
        self.next_frame += len(frames)
        return chunk, symbols, ideal


@torch.inference_mode()
def decode_chunk(chunk: Chunk, header: Header, model: VTModel,
                 coder: TokenCoder | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """-> (frames ``[T, H, W, 3]`` uint8, symbols ``[T, S, h, w]``)."""
    coder = coder or TokenCoder(model)
    h, w = -(-header.height // 8), -(-header.width // 8)
    symbols = coder.decode(chunk.payload, chunk.n_frames, h, w)
    device = next(model.parameters()).device
    frames = []
    for i in range(0, chunk.n_frames, BATCH):
        x = model.reconstruct(symbols[i:i + BATCH].to(device), starts_chunk=i == 0,
                              before=symbols[i - 1].to(device) if i else None)
        x = (x[:, :, :header.height, :header.width] * 255).round().to(torch.uint8)
        frames.append(x.permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(frames), symbols


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


# ------------------------------------------------------------------------------- files
@contextmanager
def atomic_output(path: str | os.PathLike, force: bool, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path (a file, or a folder when ``is_dir``) beside ``path``; it replaces
    ``path`` only if the block succeeds. Refuses to overwrite without ``force``; an unwritable
    destination fails before any work."""
    path = Path(path)
    if path.exists() and not force and (not is_dir or any(path.iterdir())):
        raise VtcError(f"{path}: already exists (use -f to overwrite)")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise VtcError(f"{path}: folder {parent} does not exist")
    try:
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as exc:
        raise VtcError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        yield tmp
        if is_dir:
            path.mkdir(exist_ok=True)
            for f in sorted(tmp.iterdir()):
                os.replace(f, path / f.name)
            tmp.rmdir()
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
        elif tmp.exists():
            tmp.unlink()
        raise


def _groups(frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    group: list[np.ndarray] = []
    for frame in frames:
        group.append(frame)
        if len(group) == size:
            yield np.stack(group)
            group = []
    if group:
        yield np.stack(group)


Progress = Callable[[int, int | None], None]  # (frames done, frames total or None)


def encode_file(src: str | os.PathLike, dst: str | os.PathLike, model: str = DEFAULT_MODEL,
                quality: int | None = None, gop: int = DEFAULT_GOP, force: bool = False,
                progress: Progress | None = None, tokens_out: list | None = None) -> Stats:
    """Compress a video file into a .vtc file. ``tokens_out`` (a list) receives each chunk's
    symbols, for verification."""
    from .video import VideoReader

    t0 = time.time()
    net = load_model(model)
    quality = _check_quality(net, quality)
    reader = VideoReader(src)
    info = reader.info
    if not 1 <= gop <= 1024:
        raise VtcError(f"--gop must be in 1..1024, got {gop}")
    fps = info.fps.limit_denominator(1 << 30)
    header = Header(info.width, info.height, fps.numerator, fps.denominator, UNKNOWN_FRAMES,
                    info.chroma, info.matrix, info.color_range, net.cfg.quantizer, quality, gop,
                    net.cfg.name, bytes.fromhex(net.sha256), f"vtcodec {__version__}")
    stats = Stats(width=info.width, height=info.height, fps=info.fps)
    encoder = ChunkEncoder(header, net)
    h8, w8 = -(-info.height // 8), -(-info.width // 8)
    with atomic_output(dst, force) as tmp, open(tmp, "wb") as f:
        f.write(header.pack())
        for frames in _groups(reader, gop):
            chunk, symbols, ideal = encoder.encode(frames)
            f.write(chunk.pack())
            if tokens_out is not None:
                tokens_out.append(symbols)
            stats.frames += len(frames)
            stats.chunks += 1
            stats.payload_bits += len(chunk.payload) * 8
            stats.ideal_bits += ideal
            stats.raw_bits += net.quantizer.bits_per_token * h8 * w8 * len(frames)
            if progress:
                progress(stats.frames, info.frame_count)
        if stats.frames == 0:
            raise VideoError(f"{src}: contains no frames")
        f.seek(0)
        f.write(_with_frame_count(header, stats.frames).pack())
        stats.bytes = f.seek(0, os.SEEK_END)
    stats.seconds = time.time() - t0
    return stats


def _with_frame_count(header: Header, n: int) -> Header:
    from dataclasses import replace

    return replace(header, frame_count=n)


def _check_quality(model: VTModel, quality: int | None) -> int:
    levels = model.cfg.extra.get("qualities", [1]) if isinstance(model.cfg.extra, dict) else [1]
    if quality is None:
        return int(levels[0])
    if quality not in levels:
        raise VtcError(f"model {model.cfg.name} offers quality levels {levels}, not {quality}")
    return int(quality)


def open_stream(src: str | os.PathLike):
    """(file object, header, size) of a .vtc file, checked."""
    path = Path(src)
    if not path.exists():
        raise VtcError(f"{src}: no such file")
    if path.is_dir():
        raise VtcError(f"{src}: is a directory")
    f = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    try:
        header = read_header(f)
    except BaseException:
        f.close()
        raise
    return f, header, path.stat().st_size


def iter_decode(src: str | os.PathLike, stats: Stats | None = None,
                tokens_out: list | None = None) -> Iterator[np.ndarray]:
    """Decode a .vtc file chunk by chunk: yields frames ``[T, H, W, 3]`` uint8 per chunk."""
    f, header, size = open_stream(src)
    with f:
        net = model_for(header)
        coder = TokenCoder(net)
        total = None if header.frame_count == UNKNOWN_FRAMES else header.frame_count
        done = 0
        for chunk in iter_chunks(f, header, size):
            frames, symbols = decode_chunk(chunk, header, net, coder)
            if tokens_out is not None:
                tokens_out.append(symbols)
            if stats is not None:
                stats.chunks += 1
                stats.payload_bits += len(chunk.payload) * 8
            done += chunk.n_frames
            yield frames
        if total is not None and done != total:
            raise FormatError(f"truncated stream: {done} of {total} frames present")
        if done == 0:
            raise FormatError("stream holds no frames")


def decode_file(src: str | os.PathLike, dst: str | os.PathLike, force: bool = False,
                progress: Progress | None = None, tokens_out: list | None = None) -> Stats:
    """Decompress a .vtc file to .y4m / .mkv / .mp4 or a folder of PNG frames."""
    from .video import VideoWriter, writer_kind

    t0 = time.time()
    kind = writer_kind(str(dst))  # fail early on an unknown output type
    f, header, size = open_stream(src)  # fail early on a bad header, before touching dst
    f.close()
    fps = Fraction(header.fps_num, header.fps_den)
    stats = Stats(width=header.width, height=header.height, fps=fps, bytes=size)
    total = None if header.frame_count == UNKNOWN_FRAMES else header.frame_count
    with atomic_output(dst, force, is_dir=kind == "png") as tmp:
        target = str(tmp) + ("/" if kind == "png" else "")
        writer = VideoWriter(target, header.width, header.height, fps, header.chroma,
                             header.matrix, header.color_range)
        try:
            for frames in iter_decode(src, stats, tokens_out):
                for frame in frames:
                    writer.write(frame)
                stats.frames += len(frames)
                if progress:
                    progress(stats.frames, total)
        finally:
            writer.close()
    stats.seconds = time.time() - t0
    return stats


def digest_tokens(tokens: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tokens:
        h.update(t.to(torch.int64).numpy().tobytes())
    return h.hexdigest()
