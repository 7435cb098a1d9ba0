"""Chunk geometry (SPEC.md, "Frames chunk"): the coding grid of a scale index, the token grid on
it, and the largest payload and the most symbols a frames chunk may declare.

The scale index k (``SCALE_MIN`` .. ``SCALE_MAX``) sets the grid a chunk was coded on:
``coded_size(w, h, k)``, with the scale 2^((k - 128) / 16) taken from the integer table
``SCALE_Q16`` (16.16 fixed point) so that every implementation computes the same size. Tokens
cover 8x8 pixels of that grid (``TOKEN``).
"""

from __future__ import annotations

from ..errors import CorruptChunk, FormatError
from .header import Header

SCALE_MIN, SCALE_MAX, SCALE_ONE = 96, 144, 128  # coding-grid scale indices: 1/4 .. 2, 1 at 128
# round(65536 * 2 ** ((k - 128) / 16)) for k = SCALE_MIN .. SCALE_MAX
SCALE_Q16 = (16384, 17109, 17867, 18658, 19484, 20347, 21247, 22188, 23170, 24196, 25268, 26386,
             27554, 28774, 30048, 31379, 32768, 34219, 35734, 37316, 38968, 40693, 42495, 44376,
             46341, 48393, 50535, 52773, 55109, 57549, 60097, 62757, 65536, 68438, 71468, 74632,
             77936, 81386, 84990, 88752, 92682, 96785, 101070, 105545, 110218, 115098, 120194,
             125515, 131072)
TOKEN = 8  # pixels per token side on the coding grid


def coded_size(width: int, height: int, k: int) -> tuple[int, int]:
    """The (width, height) of the grid a chunk with scale index ``k`` was coded on."""
    if not SCALE_MIN <= k <= SCALE_MAX:
        raise FormatError(f"scale index {k} is out of range {SCALE_MIN}..{SCALE_MAX}")
    q = SCALE_Q16[k - SCALE_MIN]
    return max(1, (width * q + 32768) >> 16), max(1, (height * q + 32768) >> 16)


def token_grid(width: int, height: int, k: int) -> tuple[int, int]:
    """(rows, columns) of the token grid of a ``width x height`` frame coded with scale ``k``."""
    cw, ch = coded_size(width, height, k)
    return -(-ch // TOKEN), -(-cw // TOKEN)


def scale_range(header: Header) -> tuple[int, int]:
    """The scale indices a stream's frames chunks may carry (1.x: always 128)."""
    return (SCALE_MIN, SCALE_MAX) if header.major >= 2 else (SCALE_ONE, SCALE_ONE)


def frames_payload(payload: bytes, header: Header, what: str = "frames chunk") -> tuple[int, int, bytes]:
    """(scale index, quantizer level, range-coded bytes) of a frames chunk's payload (the level
    byte is there from 3.0 on, else 0; whether the model has that level is the decoder's check).
    In 4.x the second byte is the layer byte ``e`` (0: the base layer alone; ``e`` >= 1: the
    enhancement layer at its level ``e - 1``, ``split_layers`` then splits the bytes)."""
    if header.major < 2:
        return SCALE_ONE, 0, payload
    head = 2 if header.major >= 3 else 1
    if len(payload) < head:
        raise CorruptChunk(f"{what} has an empty payload" if not payload else f"{what} ends before its level byte")
    k = payload[0]
    if not SCALE_MIN <= k <= SCALE_MAX:
        raise CorruptChunk(f"{what} has scale index {k}, outside {SCALE_MIN}..{SCALE_MAX}")
    return k, (payload[1] if head == 2 else 0), payload[head:]


LAYER_LEN = 4  # 4.x, e >= 1: the u32 length of the base layer's words that follows the two head bytes


def split_layers(words: bytes, what: str = "frames chunk") -> tuple[bytes, bytes]:
    """A 4.x frames chunk's bytes after its head, when it carries the enhancement layer (``e`` >= 1)
    -> (the base layer's range-coder words, the layer's): a u32 length, then the base words."""
    if len(words) < LAYER_LEN:
        raise CorruptChunk(f"{what} ends before its base layer's length")
    n = int.from_bytes(words[:LAYER_LEN], "little")
    if n > len(words) - LAYER_LEN:
        raise CorruptChunk(f"{what}: its base layer's length ({n} bytes) runs past the payload")
    return words[LAYER_LEN:LAYER_LEN + n], words[LAYER_LEN + n:]


def layer_symbols(header: Header, n_layer: int) -> int:
    """Symbols a 4.x enhancement layer of ``n_layer`` channels codes per frame: one per 4x4 patch of
    the frame edge-padded to multiples of 8 (the layer codes at the source-size grid only); in 5.x
    at most one skip flag per 16x16 block more, in 6.x four (skip and prediction flags, a vector)."""
    rows, cols = token_grid(header.width, header.height, SCALE_ONE)
    per_block = 4 if header.major >= 6 else 1 if header.major >= 5 else 0
    return 4 * rows * cols * n_layer + per_block * (-(-rows // 2)) * (-(-cols // 2))


def payload_limit(header: Header, n_symbols: int, n_layer: int = 0) -> int:
    """The largest frames-chunk payload a stream may declare: 32 bits per symbol of a full group
    of frames on the largest grid (constriction's probabilities are at least 2^-24), plus 1024;
    ``n_layer``: a 4.x stream's enhancement-layer channels, whose symbols add to the bound."""
    rows, cols = token_grid(header.width, header.height, scale_range(header)[1])
    extra = layer_symbols(header, n_layer) if n_layer else 0
    return 4 * header.gop * (rows * cols * n_symbols + extra) + 1024


def frame_symbols(header: Header, k: int, n_symbols: int, n_layer: int = 0) -> int:
    """Symbols coded per frame on the grid of scale ``k``, plus those of ``n_layer`` enhancement
    channels (a 4.x chunk with its layer)."""
    rows, cols = token_grid(header.width, header.height, k)
    return rows * cols * n_symbols + (layer_symbols(header, n_layer) if n_layer else 0)
