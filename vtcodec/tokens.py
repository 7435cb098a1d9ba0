"""Token grids <-> range-coded bytes for one model, the prior evaluated exactly (SPEC.md, "Token
stream inside a chunk payload").

Stream order: ``for frame, for step, for channel in the step, for position in raster order``.
For every frame and every step of the prior's schedule (checkerboard pass x channel group) the
integer-exact prior gives a frequency table per symbol (``models/intnet.py``); the encoder codes
each step's symbols into the chunk's one range coder as soon as their tables are known (a chunk's
tables at once would take gigabytes at high resolutions: ``entropy.SymbolWriter``), and the
decoder rebuilds the tables step by step and reads each step's symbols in one call.

A 5.0 enhancement layer (``skips``) also codes, before each frame's tokens after a chunk's first,
a skip flag per 16x16 block (and a skipped block's motion vector), and leaves out the tokens of
skipped blocks, which are the previous frame's (``vtcodec.skip``; SPEC.md, "Block skips"); a 6.0
layer (``motion``) also a prediction flag per coded block, and a vector where it is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from . import entropy
from .errors import CorruptChunk
from .models import VTModel
from .models.intnet import pmf_from_logits
from .models.prior import schedule
from .skip import TABLE_WIDTH, SkipModel, blocks, token_mask


class TokenCoder:
    """Token grids ``[T, S, h, w]`` of one chunk <-> its range-coded payload.

    ``model``: a token model (``VTModel``), or an enhancement layer (``models.enhance.Enhancer``),
    whose prior's extra planes are not a temporal state but the base layer's tokens: its callers
    pass them as ``side`` ``[T, C, h, w]`` (exact integers, ``Enhancer.side``)."""

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

    def position_bits(self, symbols: torch.Tensor, level: int | None = None,
                      side: torch.Tensor | None = None, first: int = 0) -> np.ndarray:
        """-log2 p of the symbols at each position, summed over the channels: ``[T, h, w]`` (the
        encoder's estimate of what a block's tokens cost); frames before ``first`` are left at 0
        (a chunk's first frame has no blocks to skip)."""
        t, _, h, w = symbols.shape
        out = np.zeros((t, h * w))
        for i, tables, syms, where in self._groups(symbols, level, side, first):
            f = tables[np.arange(len(syms)), syms].astype(np.float64)
            np.add.at(out[i], where, -np.log2(f / tables.sum(axis=1)))
        return out.reshape(t, h, w)

    def _tables(self, logits: np.ndarray, chans: list) -> np.ndarray:
        """Logits ``[B, K, A, P]`` of one step's ``K`` channels (``chans``, in order) at its
        positions -> frequency tables ``[B, N, amax]`` (int32), rows in stream order."""
        parts = []
        for j, (c, _, local) in enumerate(chans):
            z = logits[:, j] if len(local) == logits.shape[-1] else logits[:, j][:, :, local]  # [B, A, N_c]
            pmf = pmf_from_logits(z, self.alphabets[c], axis=1)
            if self.alphabets[c] < self.amax:
                pmf = np.pad(pmf, ((0, 0), (0, self.amax - self.alphabets[c]), (0, 0)))
            parts.append(pmf.transpose(0, 2, 1))
        return np.concatenate(parts, axis=1)

    def _groups(self, symbols: torch.Tensor, level: int | None = None, side: torch.Tensor | None = None,
                first: int = 0) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Symbols ``[T, S, h, w]`` of one chunk -> for each frame ``i`` (from ``first`` on) and
        each step of the prior's schedule, in stream order: ``(i, frequency tables [N, amax],
        symbols [N], flat position of each [N])``. One step's tables at a time: a chunk's would be
        large (``SymbolWriter``). ``level``: the chunk's quality level (gained models); ``side``: an
        enhancement layer's side planes (class docstring)."""
        t, s, h, w = symbols.shape
        states = side if side is not None else self.model.exact_states(symbols, level)[0] if self.model.state else None
        flat = symbols.reshape(t, s, h * w).numpy()
        for i in range(first, t):
            prev = symbols[i - 1:i] if i else torch.zeros_like(symbols[:1])
            has_prev = torch.tensor([1.0 if i else 0.0])
            for known, chans, positions in self.steps(h, w):
                tables = self._tables(self.exact.logits(
                    prev, has_prev, symbols[i:i + 1], known, positions, level,
                    None if states is None else states[i:i + 1], [c for c, _, _ in chans]), chans)[0]
                yield (i, tables, np.concatenate([flat[i, c][pos] for c, pos, _ in chans]),
                       np.concatenate([pos for _, pos, _ in chans]))

    def to_bytes(self, symbols: torch.Tensor, level: int | None = None,
                 side: torch.Tensor | None = None,
                 skips: tuple[np.ndarray, np.ndarray] | None = None, motion: bool = False) -> tuple[bytes, float]:
        """Symbols ``[T, S, h, w]`` of one chunk -> (payload, ideal bits). ``skips``: a 5.0
        layer's block flags ``[T, hb, wb]`` and vectors ``[T, hb, wb, 2]`` (frame 0's unused; the
        skipped blocks' symbols must be the previous frame's): each frame after the first starts
        with its blocks' flags and vectors, its skipped blocks' symbols are left out, and every
        table has ``max(amax, TABLE_WIDTH)`` entries. ``motion``: a 6.0 layer's (``flags`` holding
        ``vtcodec.skip``'s block modes, a coded block's prediction coded after its flag)."""
        h, w = symbols.shape[2:]
        writer = entropy.SymbolWriter()
        width = self.amax if skips is None else max(self.amax, TABLE_WIDTH)
        skip_model, frame, keep = SkipModel(motion), 0, None
        for i, tables, syms, where in self._groups(symbols, level, side):
            if skips is not None and i != frame:  # a later frame's first step: its blocks first
                frame, (flags, mvs) = i, skips
                ft, fs = skip_model.code(flags[i], mvs[i], flags[i - 1] if i > 1 else None, width)
                writer.write(fs, ft)
                keep = ~token_mask(flags[i], h, w).ravel()
            if keep is not None:
                coded = keep[where]
                tables, syms = tables[coded], syms[coded]
            if width > self.amax:
                tables = np.pad(tables, ((0, 0), (0, width - self.amax)))
            writer.write(syms, tables)
        return writer.finish(), writer.ideal

    def frame_bits(self, symbols: torch.Tensor, level: int | None = None) -> np.ndarray:
        """-log2 p of each frame's symbols ``[T, S, h, w]`` under the prior (for analysis)."""
        bits = np.zeros(len(symbols))
        for i, tables, syms, _ in self._groups(symbols, level):
            bits[i] += entropy.ideal_bits(syms, tables)
        return bits

    def from_bytes(self, payload: bytes, t: int, h: int, w: int, stop: int | None = None,
                   what: str = "chunk", level: int | None = None,
                   side: torch.Tensor | Callable[[int], torch.Tensor] | None = None,
                   skips_out: list | None = None, motion: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """The symbols ``[S, h, w]`` (int64) of each frame of a chunk of ``t`` frames, frame by
        frame as they are decoded, each with the exact temporal state ``[1, C, h, w]`` before the
        frame (None for a model without one); with ``stop``, only the first ``stop`` frames. A payload that
        runs out, holds a symbol outside its alphabet or (when every frame is read) holds more
        than the chunk's symbols raises ``CorruptChunk``. ``side``: an enhancement layer's side
        planes ``[T, C, h, w]`` (yielded in the state's place), or ``i -> [1, C, h, w]``, frame
        ``i``'s, asked for only when that frame is about to be decoded (so the base layer can be
        decoded frame by frame beside the layer). ``skips_out``: a 5.0 layer (each frame's block
        flags ``[hb, wb]`` and vectors ``[hb, wb, 2]``, read before its tokens, are appended to
        this list; zeros for a chunk's first frame); with ``motion``, a 6.0 layer's (the flags are
        ``vtcodec.skip``'s block modes)."""
        s = len(self.alphabets)
        reader = entropy.SymbolReader(payload, f"{what}: payload")
        steps = self.steps(h, w)
        prev = torch.zeros(1, s, h, w, dtype=torch.int64)
        side_at = side if callable(side) or side is None else (lambda i: side[i:i + 1])
        state = side_at(0) if side is not None else self.model.first_state(h, w) if self.model.state else None
        n_frames = t if stop is None else min(stop, t)
        skip_model, flags, width = SkipModel(motion), None, max(self.amax, TABLE_WIDTH)
        for i in range(n_frames):
            has_prev = torch.tensor([1.0 if i else 0.0])
            cur = torch.zeros(1, s, h, w, dtype=torch.int64)
            skipped = np.zeros(h * w, dtype=bool)
            if skips_out is not None:
                if i:
                    flags, mvs = skip_model.read(reader, blocks(h, w), flags if i > 1 else None, width)
                    skipped = token_mask(flags, h, w).ravel()
                    cur.view(1, s, -1)[:, :, skipped] = prev.view(1, s, -1)[:, :, skipped]
                else:
                    flags, mvs = np.zeros(blocks(h, w), dtype=np.int64), np.zeros((*blocks(h, w), 2), dtype=np.int64)
                skips_out.append((flags, mvs))
            for known, chans, positions in steps:
                tables = self._tables(self.exact.logits(prev, has_prev, cur, known, positions, level,
                                                        state, [c for c, _, _ in chans]), chans)[0]
                if skips_out is not None and width > self.amax:  # 5.0: every table has ``width`` entries
                    tables = np.pad(tables, ((0, 0), (0, width - self.amax)))
                coded = [pos[~skipped[pos]] for _, pos, _ in chans]
                values = reader.read(tables[~np.concatenate([skipped[pos] for _, pos, _ in chans])])
                n = 0
                for (c, _, _), pos in zip(chans, coded, strict=True):
                    part = values[n:n + len(pos)]
                    if part.max(initial=0) >= self.alphabets[c]:
                        raise CorruptChunk(f"{what}: decoded symbol out of range (corrupt stream)")
                    cur[0, c].view(-1)[torch.from_numpy(pos)] = torch.from_numpy(part)
                    n += len(pos)
            yield cur[0], state
            if side is not None and i + 1 < n_frames:
                state = side_at(i + 1)
            elif state is not None and i + 1 < n_frames:
                state = self.model.exact_states(cur, level, state)[1]
            prev = cur
        if n_frames == t:
            reader.finish()
