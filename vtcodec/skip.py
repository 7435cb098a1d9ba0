"""Block skips and motion-compensated prediction for an enhancement layer (formats 5.0 and 6.0,
SPEC.md "Layered streams", "Block skips", "Motion-compensated prediction").

Why: an intra layer codes every frame's correction afresh. Where the picture stands still or moves
as a whole, the previous frame *as decoded*, moved into place, is already as good as a new
correction, while the base decode under it changes with the base tokens, so the layer's tokens do
not repeat (the later frames of a chunk cost 0.85-1.06 of its first's: models/README.md,
"vt1e-r"). Motion-compensated conditional replenishment, the oldest tool of video coding, adds
that without a network: for each frame after a chunk's first, each 16x16 block either is coded as
in 4.0, or is *skipped*: the decoder shows there the chunk's previous output frame displaced by the
block's motion vector (whole pixels, at most ``MV_RANGE`` each way, edges replicated), and the
layer's tokens of the block are the previous frame's at the same place (so the prior's context and
the layer decoder's receptive field see values both sides know), coded as nothing. Each block's
flag, and a skipped block's vector, are range-coded before the frame's tokens with adaptive models
(``SkipModel``).

The encoder's choice is a Lagrangian one per block (``search``, ``skipped``): the vector within
``SEARCH`` pixels with the least squared error, and skip where that error is at most the coded
block's plus lambda times the bits of its tokens, lambda the slope of the layer's rate-distortion
curve at the level (``skip_lambda``). Measured through the codec (models/README.md, "Block skips";
`vtcodec rd`, 7 clips, 10 frames, vt1e-fsq-v2): at quality 11 the bits fall to 0.34-0.62x of 4.0's
for 0.55-1.19 dB less PSNR-RGB, at quality 16 to 0.39-0.95x for 0.02-0.76 dB less; all 7 clips need
2.51x x264's bits for its PSNR-RGB where they needed 3.04x.

Tried on vt1e-w24w-2 (0.21; the 4 dev clips and carphone, 10 frames, qualities 9-16, `vtcodec rd`
then `benchmarks/matched.py` against the same points with these settings; the encoder patched for
the trial): a search reach of 7 (all the format allows) needs 1.00x the bits for the same PSNR-RGB,
MS-SSIM-RGB and LPIPS (these clips move little); lambda x2 (``layer_skip`` = 2) 1.00x for PSNR-RGB,
1.03x for MS-SSIM-RGB and 0.90x for LPIPS (more blocks keep the previous frame's texture); lambda
x0.5 1.05x, 1.01x and 1.11x. None is kept: lambda x1 is the best of the three for MS-SSIM-RGB.
The codec's own slope between adjacent levels on those clips, 3 x MSE-RGB per bpp, is 873, 623,
248, 123, 65, 32, 15 from levels 0-1 to 6-7: 1.3-2.4x ``skip_lambda`` between them.

**Motion-compensated prediction** (6.0): 5.0's blocks are shown or not, and a coded block's
tokens still code the whole correction over a base decode that changes with every frame's base
tokens, even where the previous output, moved, is far closer to the source than that base decode
(a skip's all-or-nothing misses it wherever the block still needs a correction). In 6.0 a coded
block may be *moved* (a prediction flag and a vector after its skip flag): the layer's decoder
corrects the previous output displaced by the vector there instead of the base decode, the same
network taking that picture in the base decode's place (``prediction``), as classic codecs code
an inter block's residual. The encoder (``modes``, ``vtcodec.layers.Layered.code``) moves a block
where ``search``'s cost (the displaced error plus lambda times the vector's bits) is below the
base decode's error, codes the layer over that picture, then skips blocks as in 5.0. No weights
change, and the layer was trained on base decodes only, yet on vt1e-w24w-2 (the 4 dev clips and
carphone, 10 frames, `vtcodec rd` at qualities 9-16 against the same points of 0.21, then
`benchmarks/matched.py`) the same PSNR-RGB costs 0.89x the bits (0.80-0.96x per clip), MS-SSIM-RGB
0.96x, LPIPS 0.87x (models/README.md, "Motion-compensated prediction"). Moving a block where
the moved cost is below 1.5x the base decode's error (more blocks moved) needed 1.02x the bits for
the same PSNR-RGB, MS-SSIM-RGB and LPIPS; below 0.7x of it (fewer), 0.99x, 1.00x and 1.00x: the
plain comparison is kept. A layer trained with moved pictures in its input should gain more.
"""

from __future__ import annotations

import numpy as np
import torch

from .entropy import probabilities
from .errors import CorruptChunk

# a block's mode (``flags``); MOTION (6.0): coded over the previous output frame, moved
CODED, SKIPPED, MOTION = 0, 1, 2
BLOCK = 4  # layer tokens per block side
PIXELS = 4 * BLOCK  # pixels per block side
MV_RANGE = 7  # a motion vector's components lie in -7..7
MV_ALPHABET = 2 * MV_RANGE + 1
SEARCH = 4  # how far the encoder looks (pixels each way)
FLAG_ONE = 1 << 12  # a flag's frequency table sums to this
COUNT_MAX = 255  # a flag context halves its counts once they pass this
MV_COUNT_MAX = 1023  # and a vector component's table
CONTEXTS = 6  # the flag's context: previous frame's flag (0/1) + 2 x (left + top flags of this frame)
MOTION_CONTEXTS = 3  # 6.0, a coded block's prediction flag: its left and top blocks moved (not CODED)
TABLE_WIDTH = MV_ALPHABET  # the fewest columns a table of these symbols needs
_FLAG_P: dict[tuple[int, int], np.ndarray] = {}  # SkipModel._flag_probabilities

# the layer's rate-distortion slope (8-bit RGB squared error per bit) at level l is about
# LAMBDA_0 * LAMBDA_RATIO ** l: measured between adjacent levels of vt1e-fsq-v2 on 7 clips (the
# geometric mean of d(SSE)/d(bits) from `vtcodec rd`, levels 2-7: 139, 76, 43, 21, 9.7 between
# neighbours, so about 190, 103, 57, 30, 14, 7 at the levels themselves)
LAMBDA_0 = 650.0
LAMBDA_RATIO = 0.54
MV_BITS = 6.0  # what the encoder reckons a non-zero vector costs (2 for a zero one)


def skip_lambda(level: int, scale: float = 1.0) -> float:
    """The encoder's lambda at a layer ``level`` (``scale`` 0: never skip)."""
    return scale * LAMBDA_0 * LAMBDA_RATIO ** level


def blocks(rows: int, cols: int) -> tuple[int, int]:
    """The block grid over a layer token grid of ``rows x cols``."""
    return -(-rows // BLOCK), -(-cols // BLOCK)


def token_mask(flags: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Block modes ``[hb, wb]`` -> the skipped layer positions ``[rows, cols]`` (bool)."""
    return np.kron(flags == SKIPPED, np.ones((BLOCK, BLOCK), bool))[:rows, :cols]


def _pixels(blocks_mask: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.kron(blocks_mask, np.ones((PIXELS, PIXELS), bool))[:height, :width]


def _moved(previous: np.ndarray, where: np.ndarray, mvs: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other`` ``[H, W, 3]``, except in the blocks ``where`` ``[hb, wb]``: there pixel ``(y, x)``
    of ``previous`` at ``(clamp(y + dy), clamp(x + dx))``, ``mvs`` ``[hb, wb, 2]`` holding each
    block's ``(dy, dx)``."""
    h, w = other.shape[:2]
    mask = _pixels(where, h, w)
    if not mask.any():
        return other
    per_px = np.kron(mvs * where[..., None], np.ones((PIXELS, PIXELS, 1), dtype=mvs.dtype))[:h, :w]
    ys = np.clip(np.arange(h)[:, None] + per_px[..., 0], 0, h - 1)
    xs = np.clip(np.arange(w)[None, :] + per_px[..., 1], 0, w - 1)
    return np.where(mask[..., None], previous[ys, xs], other)


def predict(previous: np.ndarray, flags: np.ndarray, mvs: np.ndarray, coded: np.ndarray) -> np.ndarray:
    """A frame's output ``[H, W, 3]``: ``coded`` where its blocks are coded; in a skipped block,
    pixel ``(y, x)`` of ``previous`` at ``(clamp(y + dy), clamp(x + dx))``, ``mvs`` ``[hb, wb, 2]``
    holding each block's ``(dy, dx)``."""
    return _moved(previous, flags == SKIPPED, mvs, coded)


def prediction(previous: np.ndarray, flags: np.ndarray, mvs: np.ndarray, base: np.ndarray) -> np.ndarray:
    """6.0: the picture a frame's layer corrects ``[H, W, 3]``: the base decode ``base`` in its
    ``CODED`` blocks, the ``previous`` output frame displaced by the block's vector in the others
    (``MOTION`` and ``SKIPPED``), as ``predict`` displaces it."""
    return _moved(previous, flags != CODED, mvs, base)


class SkipModel:
    """The adaptive models of one chunk's skips (SPEC.md, "Block skips"), in raster order of
    blocks. A flag's context is ``prev + 2 (left + top)``: the same block's flag in the previous
    frame (0 for the chunk's second frame) and this frame's flags left of and above it (0 outside
    the frame), a flag being 1 where the block is skipped; each of the 6 contexts counts the zeros
    and ones seen so far in the chunk (1 and 1 at its start), halved (rounding up) once their sum
    passes ``COUNT_MAX``, and the flag's table is ``[FLAG_ONE - f1, f1]``, ``f1 = clamp(n1 FLAG_ONE
    // (n0 + n1), 1, FLAG_ONE - 1)``. A skipped block's ``dy + MV_RANGE``, then ``dx + MV_RANGE``,
    follow its flag, each with a table that is its component's counts of the values seen so far in
    the chunk (1 each at its start, +1 per value coded, halved rounding up once their sum passes
    ``MV_COUNT_MAX``). With ``motion`` (6.0) a coded block's flag is followed by its prediction
    flag (1: ``MOTION``), modelled as the skip flag is, in context ``left + top`` (those blocks
    not ``CODED``), and a ``MOTION`` block's vector follows it as a skipped block's does, with
    the same counts."""

    def __init__(self, motion: bool = False) -> None:
        # plain lists: a frame's flags are modelled one block at a time, where numpy's per-call
        # overhead would dominate
        self.flags = [[1, 1] for _ in range(CONTEXTS)]
        self.moves = [[1, 1] for _ in range(MOTION_CONTEXTS)] if motion else None
        self.mvs = [[1] * MV_ALPHABET for _ in range(2)]

    @staticmethod
    def _f1(counts: list[int]) -> int:
        n0, n1 = counts
        return min(max(n1 * FLAG_ONE // (n0 + n1), 1), FLAG_ONE - 1)

    @classmethod
    def _flag_table(cls, counts: list[int], width: int) -> np.ndarray:
        f1 = cls._f1(counts)
        row = np.zeros(width, dtype=np.int64)
        row[0], row[1] = FLAG_ONE - f1, f1
        return row

    @classmethod
    def _flag_probabilities(cls, counts: list[int], width: int) -> np.ndarray:
        """A flag's table as ``entropy.probabilities`` turns it into ``[1, width]``, kept per
        table (at most ``FLAG_ONE - 1`` of them)."""
        key = (cls._f1(counts), width)
        if key not in _FLAG_P:
            _FLAG_P[key] = probabilities(cls._flag_table(counts, width)[None])
            _FLAG_P[key].flags.writeable = False
        return _FLAG_P[key]

    def _mv_table(self, comp: int, width: int) -> np.ndarray:
        row = np.zeros(width, dtype=np.int64)
        row[:MV_ALPHABET] = self.mvs[comp]
        return row

    @staticmethod
    def _update(counts: list[int], value: int, cap: int) -> None:
        counts[value] += 1
        if sum(counts) > cap:
            counts[:] = [(c + 1) // 2 for c in counts]

    @staticmethod
    def _context(flags: np.ndarray, prev: np.ndarray | None, y: int, x: int) -> int:
        left = int(flags[y, x - 1] == SKIPPED) if x else 0
        top = int(flags[y - 1, x] == SKIPPED) if y else 0
        return (int(prev[y, x] == SKIPPED) if prev is not None else 0) + 2 * (left + top)

    @staticmethod
    def _motion_context(flags: np.ndarray, y: int, x: int) -> int:
        return (int(flags[y, x - 1] != CODED) if x else 0) + (int(flags[y - 1, x] != CODED) if y else 0)

    def code(self, flags: np.ndarray, mvs: np.ndarray, prev: np.ndarray | None,
             width: int) -> tuple[np.ndarray, np.ndarray]:
        """One frame's modes ``[hb, wb]`` and vectors ``[hb, wb, 2]`` -> (tables ``[N, width]``,
        symbols ``[N]``) in stream order (the models adapt to them, as the decoder's will)."""
        tables, symbols = [], []

        def put(table: np.ndarray, value: int) -> None:
            tables.append(table)
            symbols.append(value)

        for y, x in np.ndindex(*flags.shape):
            ctx, mode = self._context(flags, prev, y, x), int(flags[y, x])
            f = int(mode == SKIPPED)
            put(self._flag_table(self.flags[ctx], width), f)
            self._update(self.flags[ctx], f, COUNT_MAX)
            if not f and self.moves is not None:
                counts = self.moves[self._motion_context(flags, y, x)]
                put(self._flag_table(counts, width), int(mode == MOTION))
                self._update(counts, int(mode == MOTION), COUNT_MAX)
            if mode != CODED:
                for comp in (0, 1):
                    v = int(mvs[y, x, comp]) + MV_RANGE
                    put(self._mv_table(comp, width), v)
                    self._update(self.mvs[comp], v, MV_COUNT_MAX)
        return np.array(tables, dtype=np.int64).reshape(-1, width), np.array(symbols, dtype=np.int64)

    def _read_flag(self, reader, counts: list[int], width: int, what: str) -> int:
        f = int(reader.read_probabilities(self._flag_probabilities(counts, width))[0])
        if f > 1:  # a corrupt stream's symbol past the table's values
            raise CorruptChunk(f"{reader.what}: decoded {what} out of range (corrupt stream)")
        self._update(counts, f, COUNT_MAX)
        return f

    def read(self, reader, shape: tuple[int, int], prev: np.ndarray | None,
             width: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode one frame's modes ``[hb, wb]`` and vectors ``[hb, wb, 2]`` from ``reader``
        (``entropy.SymbolReader``)."""
        flags = np.zeros(shape, dtype=np.int64)
        mvs = np.zeros((*shape, 2), dtype=np.int64)
        for y, x in np.ndindex(*shape):
            mode = SKIPPED if self._read_flag(reader, self.flags[self._context(flags, prev, y, x)], width,
                                              "skip flag") else CODED
            if mode == CODED and self.moves is not None:
                counts = self.moves[self._motion_context(flags, y, x)]
                mode = MOTION if self._read_flag(reader, counts, width, "prediction flag") else CODED
            flags[y, x] = mode
            if mode != CODED:
                for comp in (0, 1):
                    v = int(reader.read(self._mv_table(comp, width)[None])[0])
                    if v >= MV_ALPHABET:
                        raise CorruptChunk(f"{reader.what}: decoded motion vector out of range (corrupt stream)")
                    mvs[y, x, comp] = v - MV_RANGE
                    self._update(self.mvs[comp], v, MV_COUNT_MAX)
        return flags, mvs


def block_sums(values: np.ndarray, side: int, shape: tuple[int, int]) -> np.ndarray:
    """Sums of ``values`` ``[H, W]`` over ``side x side`` blocks -> ``shape`` ``[hb, wb]``
    (blocks past the edge sum what they cover)."""
    h, w = values.shape
    padded = np.zeros((shape[0] * side, shape[1] * side), dtype=np.float64)
    padded[:h, :w] = values
    return padded.reshape(shape[0], side, shape[1], side).sum(axis=(1, 3))


def _block_sse(err: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """Differences ``[3, H, W]`` (int32; overwritten) -> the sum of their squares over each block
    of ``shape`` ``[hb, wb]`` (float64, exact: integers)."""
    return block_sums(err.square_().sum(0).numpy(), PIXELS, shape)


def _planes(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(torch.int32)


def block_errors(source: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The squared error of ``image`` against ``source`` (``[H, W, 3]`` uint8) over each block
    ``[hb, wb]`` (float64, exact)."""
    shape = (-(-source.shape[0] // PIXELS), -(-source.shape[1] // PIXELS))
    return _block_sse(_planes(source) - _planes(image), shape)


def search(source: np.ndarray, previous: np.ndarray, lam: float,
           reach: int = SEARCH) -> tuple[np.ndarray, np.ndarray]:
    """Per block ``[hb, wb]``: the vector within ``reach`` pixels whose displaced ``previous``
    output frame has the least squared error against ``source`` plus ``lam`` times what the vector
    costs (``MV_BITS``; 2 bits for a zero one) -> (that cost, the vectors ``[hb, wb, 2]``)."""
    h, w = source.shape[:2]
    shape = (-(-h // PIXELS), -(-w // PIXELS))
    x = _planes(source)
    # the previous frame edge-padded by ``reach``: each displacement is a window of it (the
    # clamped coordinates of ``predict``); squared errors of 8-bit values are exact in integers
    prev = _planes(np.pad(previous, ((reach, reach), (reach, reach), (0, 0)), mode="edge"))
    best = np.full(shape, np.inf)
    mvs = np.zeros((*shape, 2), dtype=np.int64)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            d = _block_sse(x - prev[:, reach + dy:reach + dy + h, reach + dx:reach + dx + w], shape)
            d += lam * (2.0 if dy == dx == 0 else MV_BITS)
            better = d < best
            best[better] = d[better]
            mvs[better] = (dy, dx)
    return best, mvs


def skipped(best: np.ndarray, source: np.ndarray, coded: np.ndarray, bits: np.ndarray,
            lam: float) -> np.ndarray:
    """The blocks to skip ``[hb, wb]`` (bool): where ``search``'s cost ``best`` is at most the coded
    block's error plus ``lam`` times ``bits``, the -log2 p of its tokens (per layer position
    ``[rows, cols]``). ``coded``: the frame as its own tokens decode."""
    return best <= block_errors(source, coded) + lam * block_sums(bits, BLOCK, best.shape)


def modes(source: np.ndarray, base: np.ndarray, previous: np.ndarray,
          lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """6.0, before the layer is coded: each block ``MOTION`` where the best displaced ``previous``
    frame (``search``) is closer to ``source`` than its base decode ``base`` is, else ``CODED``
    -> (modes ``[hb, wb]``, ``search``'s costs and vectors, for the skips after)."""
    best, mvs = search(source, previous, lam)
    return np.where(best < block_errors(source, base), MOTION, CODED), best, mvs
