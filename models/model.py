"""``VTModel``: quantizer + tokenizer + prior, built from a ``ModelConfig``.

Tensors in, tensors out; the model never touches bytes (that is ``vtcodec.codec``).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from .bsq import BSQ
from .config import ModelConfig
from .fsq import FSQ
from .intnet import ACT_BITS, IntConvNet
from .prior import Prior, clip_costs
from .temporal import ExactState, ReconContext, StateNet
from .tokenizer import AnalysisNet, SynthesisNet, clips_previous, previous


class VTModel(nn.Module):
    def __init__(self, cfg: ModelConfig, meta: bool = False) -> None:
        """``meta``: build the networks without memory for their weights (``state_shapes``)."""
        super().__init__()
        self.cfg = cfg
        if cfg.quantizer == "fsq":
            self.quantizer: FSQ | BSQ = FSQ(cfg.fsq_levels, cfg.gains)
        elif cfg.quantizer == "bsq":
            self.quantizer = BSQ(cfg.bsq_bits, cfg.bsq_group_bits)
        else:
            raise ValueError(f"unknown quantizer {cfg.quantizer!r}")
        dim = self.quantizer.dim
        with torch.device("meta") if meta else contextlib.nullcontext():
            self.encoder = AnalysisNet(cfg, dim)
            self.decoder = SynthesisNet(cfg, dim)
            self.prior = Prior(dim, self.quantizer.alphabets, cfg.prior_width, cfg.prior_layers, cfg.gains,
                               cfg.state)
            self.temporal = StateNet(dim, cfg.state, cfg.state_width, cfg.state_layers) if cfg.state else None
            self.recon_ctx = ReconContext(cfg.recon) if cfg.recon else None
        self._exact = self._exact_state = None
        self.precision = "fp32"  # or "bf16": see ``autocast``

    @classmethod
    def state_shapes(cls, cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
        """Name and shape of every weight a model of ``cfg`` loads, found without allocating them
        (to check a weights file before building the model it describes)."""
        return {k: tuple(v.shape) for k, v in cls(cfg, meta=True).state_dict().items()}

    @property
    def alphabets(self) -> tuple[int, ...]:
        return self.quantizer.alphabets

    @property
    def levels(self) -> int:
        """Quality levels of a gained quantizer (vt2), 0 for a model without (vt1): then the
        ``level`` arguments below are ignored."""
        return self.cfg.gains

    @property
    def state(self) -> int:
        """Channels of the temporal state (``models/temporal.py``; format 3.1), 0 for none."""
        return self.cfg.state

    @property
    def recon(self) -> bool:
        """Whether the encoder and decoder see the previous decoded frame (``ReconContext``, format
        3.2): then a chunk's frames reconstruct in order, each from the one before."""
        return bool(self.cfg.recon)

    @property
    def conditional(self) -> bool:
        """Whether a frame's tokens depend on the frames before it in its chunk (a temporal state
        or a decoded-frame context): then the encoder codes a chunk frame after frame."""
        return bool(self.cfg.state or self.cfg.recon)

    @property
    def n_symbols(self) -> int:
        return len(self.quantizer.alphabets)

    # ----------------------------------------------------------------- tokens <-> frames
    def autocast(self) -> torch.autocast:
        """The tokenizer's nets run under bfloat16 autocast when ``precision == "bf16"`` (set by
        ``vtcodec.zoo.load_model`` where the processor computes bfloat16 natively). Tokens are
        the encoder's choice and the prior stays exact, so this changes only how closely the
        encoder's latents and the decoded pixels follow the float32 result."""
        return torch.autocast(next(self.parameters()).device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    def latents(self, x: torch.Tensor, ctx: torch.Tensor | None = None, level=None,
                recon: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``[B, 3, H, W]`` float in [0, 1], H and W multiples of 8 -> latents ``[B, D, H/8, W/8]``.
        ``ctx``: the temporal state before each frame (models with one); ``level``: the quality
        level (an encoder told it, ``ModelConfig.enc_levels``); ``recon``: the decoded-frame
        context's features (``recon_features``; models with one)."""
        with self.autocast():
            return self.encoder(x, ctx, level, recon).float()

    def recon_features(self, prev: torch.Tensor | None, size: tuple[int, int],
                       device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoded-frame context's features for a frame of ``size`` (H, W), from the decoded
        frame before it ``prev`` ``[1, 3, H, W]`` (None: the frame starts its chunk, and the
        features are zeros, as ``ReconContext`` gives for it)."""
        ctx = self.recon_ctx
        if prev is None:
            h, w = size
            return (torch.zeros(1, ctx.fine, h // 4, w // 4, device=device),
                    torch.zeros(1, ctx.channels, h // 8, w // 8, device=device))
        with self.autocast():
            f4, f8 = ctx(prev, torch.ones(1, device=prev.device))
        return f4.float(), f8.float()

    def _synthesize(self, q: torch.Tensor, q_prev: torch.Tensor, has_prev: torch.Tensor, state: torch.Tensor | None,
                    feats: tuple[torch.Tensor, torch.Tensor] | None = None,
                    decoder: nn.Module | None = None) -> torch.Tensor:
        """The decoder net (the model's own, or ``decoder``) on quantized latents -> frames in [0, 1]."""
        with self.autocast():
            x = (decoder or self.decoder)(q, q_prev, has_prev, state, feats)
        return x.float().clamp(0, 1)

    def tokenize_conditional(self, frames, margin: float = 0.0, level=None) -> tuple[torch.Tensor, torch.Tensor]:
        """A conditional model (a temporal state or a decoded-frame context): the frames of one
        chunk (an iterable of ``[1, 3, H, W]`` grids, the first starting the chunk) -> (latents
        ``[T, D, h, w]``, symbols ``[T, S, h, w]``), frame after frame, each frame's latents
        computed with the exact state its decoder will have and the context of the frame before
        as this encoder decodes it (``models/temporal.py``); ``margin`` as in ``tokenize_chunk``."""
        zs, syms, state, prev, shown, q_prev = [], [], None, None, None, None
        for x in frames:
            st = None
            if self.state:
                if state is None:
                    state = self.first_state(x.shape[2] // 8, x.shape[3] // 8)
                st = state.to(x.device, torch.float32)
            feats = self.recon_features(shown, x.shape[2:], x.device) if self.recon else None
            z = self.latents(x, st, level, feats)
            s = self._next_tokens(z, prev, margin, level)
            if self.recon:  # the frame as its decoder will see it, the next frame's context
                q = self.quantizer.decode(s, level)
                has_prev = torch.tensor([0.0 if q_prev is None else 1.0], device=q.device)
                shown = self._synthesize(q, torch.zeros_like(q) if q_prev is None else q_prev, has_prev, st, feats)
                q_prev = q
            if self.state:
                state = self.exact_state().step(state, self.quantizer.prior_values(s), level)
            zs.append(z)
            syms.append(s)
            prev = s
        return torch.cat(zs), torch.cat(syms)

    def first_state(self, h: int, w: int) -> torch.Tensor:
        """The exact temporal state before a chunk's first frame on an ``h x w`` token grid: zeros."""
        return torch.zeros(1, self.state, h, w, dtype=torch.float64, device=self.exact_state().device)

    def exact_states(self, symbols: torch.Tensor, level=None,
                     state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Symbols ``[T, S, h, w]`` of consecutive frames of one chunk -> (the exact temporal state
        before each frame ``[T, C, h, w]``, the state after the last ``[1, C, h, w]``), float64.
        ``state``: the state before ``symbols[0]`` (None: the run starts the chunk)."""
        t, _, h, w = symbols.shape
        exact = self.exact_state()
        if state is None:
            state = self.first_state(h, w)
        out = []
        for i in range(t):
            out.append(state)
            state = exact.step(state, self.quantizer.prior_values(symbols[i:i + 1]), level)
        return torch.cat(out), state

    def float_states(self, symbols: torch.Tensor, level=None) -> torch.Tensor:
        """Training: symbols ``[B, T, S, h, w]`` of clips that start a chunk -> the float state net's
        state before each frame ``[B, T, C, h, w]`` (differentiable in the net's weights)."""
        b, t = symbols.shape[:2]
        values = self.quantizer.prior_values(symbols.flatten(0, 1)).view(b, t, -1, *symbols.shape[3:])
        state = self.temporal.zeros(b, *symbols.shape[3:], device=symbols.device)
        out = []
        for i in range(t):
            out.append(state)
            state = self.temporal(state, values[:, i], level)
        return torch.stack(out, 1)

    def tokenize(self, x: torch.Tensor, level=None) -> torch.Tensor:
        """``[B, 3, H, W]`` float in [0, 1], H and W multiples of 8 -> symbols ``[B, S, H/8, W/8]``."""
        return self.quantizer.encode(self.latents(x, level=level), level)

    def tokenize_chunk(self, z: torch.Tensor, margin: float = 0.0,
                       before: torch.Tensor | None = None, level=None) -> torch.Tensor:
        """Latents ``[T, D, h, w]`` of consecutive frames of one chunk -> symbols; with ``margin``,
        each frame's tokens are held to the previous frame's where its latent stays near them
        (``quantizer.encode_sticky``); ``before``: symbols of the frame preceding ``z[0]``."""
        if margin <= 0:
            return self.quantizer.encode(z, level)
        out, prev = [], before
        for i in range(z.shape[0]):
            prev = self._next_tokens(z[i:i + 1], prev, margin, level)
            out.append(prev)
        return torch.cat(out)

    def _next_tokens(self, z: torch.Tensor, prev: torch.Tensor | None, margin: float, level) -> torch.Tensor:
        """One frame's symbols from its latents, held to ``prev``'s where within ``margin``."""
        if prev is None or margin <= 0:
            return self.quantizer.encode(z, level)
        return self.quantizer.encode_sticky(z, prev, margin, level)

    def reconstruct(self, symbols: torch.Tensor, starts_chunk: bool = True,
                    before: torch.Tensor | None = None, decoder: nn.Module | None = None,
                    level=None, state: torch.Tensor | None = None,
                    shown: torch.Tensor | None = None) -> torch.Tensor:
        """Symbols ``[T, S, h, w]`` of consecutive frames of one chunk -> ``[T, 3, 8h, 8w]`` in
        [0, 1]. ``before``: symbols ``[S, h, w]`` of the frame preceding this run (when the run
        does not start the chunk). ``decoder``: another ``SynthesisNet`` for these tokens
        (``vtcodec.decoders``) instead of the model's own. ``level``: the chunk's quality level
        (gained models). ``state``: a model with a temporal state needs the exact state before each
        frame ``[T, C, h, w]`` (``exact_states``) unless the run starts the chunk. ``shown``: a model
        with a decoded-frame context needs the decoded frame ``[1, 3, 8h, 8w]`` before the run
        unless the run starts the chunk; its frames are reconstructed one after another."""
        if self.recon and not starts_chunk and (shown is None or before is None):
            raise ValueError("a run inside a chunk needs the decoded frame and the symbols before it")
        q = self.quantizer.decode(symbols, level)
        q_prev, has_prev = previous(q, starts_chunk=starts_chunk)
        if not starts_chunk and before is not None:
            q_prev[0] = self.quantizer.decode(before.unsqueeze(0), level)[0]
        if self.state and state is None:
            if not starts_chunk:
                raise ValueError("a run inside a chunk needs its temporal state")
            state = self.exact_states(symbols, level)[0]
        if state is not None:
            state = state.to(q.device, torch.float32)
        if not self.recon:
            return self._synthesize(q, q_prev, has_prev, state, decoder=decoder)
        size, out = (q.shape[2] * 8, q.shape[3] * 8), []
        for i in range(q.shape[0]):  # frame after frame, each from the one decoded before it
            feats = self.recon_features(shown if has_prev[i] else None, size, q.device)
            one = slice(i, i + 1)
            shown = self._synthesize(q[one], q_prev[one], has_prev[one], None if state is None else state[one],
                                     feats, decoder)
            out.append(shown)
        return torch.cat(out)

    # ----------------------------------------------------------------------- training
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training pass over clips ``[B, T, 3, H, W]`` (each clip starts a chunk).

        Returns ``recon`` ``[B, T, 3, H, W]``, ``symbols`` ``[B, T, S, h, w]`` and ``bits``: the
        prior's cost of every symbol ``[B, T, S, h, w]`` (the prior is trained on detached tokens:
        it never pushes gradients into the tokenizer).
        """
        if self.conditional:
            raise ValueError("a conditional model (temporal state, decoded-frame context) trains with "
                             "vtcodec.train.ladder")
        b, t = x.shape[:2]
        z = self.encoder(x.flatten(0, 1))
        q = self.quantizer(z)
        symbols = self.quantizer.encode(z.detach())
        q_prev, has_prev = clips_previous(q.view(b, t, *q.shape[1:]))
        recon = self.decoder(q, q_prev, has_prev).view_as(x)
        bits = self.prior_bits(symbols.view(b, t, *symbols.shape[1:]))
        return {"recon": recon, "symbols": symbols.view(b, t, *symbols.shape[1:]), "bits": bits}

    def prior_bits(self, symbols: torch.Tensor, level=None) -> torch.Tensor:
        """Cost in bits under the float prior of symbols ``[B, T, S, h, w]``, every step of the
        coding schedule evaluated in one batch. ``level``: int or ``[B]`` (gained models)."""
        costs = self.prior_costs(symbols, level)
        return costs.gather(3, symbols.unsqueeze(3)).squeeze(3)

    def prior_costs(self, symbols: torch.Tensor, level=None, states: torch.Tensor | None = None) -> torch.Tensor:
        """The float prior's cost in bits of every alphabet entry ``[B, T, S, A, h, w]`` at every
        position of symbols ``[B, T, S, h, w]``, each priced in the step that codes it (the
        other symbols as its context). ``states``: the temporal state before each frame
        ``[B, T, C, h, w]`` (models with one; default: the float state net's, the clips starting a
        chunk). The pricing itself: ``models.prior.clip_costs``."""
        b, t, s, h, w = symbols.shape
        values = self.quantizer.prior_values(symbols.flatten(0, 1)).view(b, t, -1, h, w)
        lv = None
        if self.levels:
            if level is None:
                raise ValueError("a gained model's prior needs the quality level")
            lv = torch.as_tensor(level, device=symbols.device).float().view(-1).expand(b).repeat_interleave(t)
        st = None
        if self.state:
            if states is None:
                states = self.float_states(symbols, level)
            st = states.flatten(0, 1).float()
        return clip_costs(self.prior, self.cfg.prior_groups, values, s, lv, st, self.expand_mask)

    def expand_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Symbol-channel mask ``[S, h, w]`` -> latent-channel mask ``[D, h, w]``."""
        per = self.quantizer.dim // self.n_symbols
        return mask.repeat_interleave(per, dim=0)

    # ----------------------------------------------------------------- exact prior
    def exact_prior(self) -> ExactPrior:
        if self._exact is None:
            self._exact = ExactPrior(self)
        return self._exact

    def exact_state(self) -> ExactState:
        if self._exact_state is None:
            self._exact_state = ExactState(self.temporal, device=next(self.parameters()).device)
        return self._exact_state


class ExactPrior:
    """Integer-exact prior used for coding (see ``models/intnet.py``)."""

    def __init__(self, model: VTModel) -> None:
        self.model = model
        self.device = next(model.parameters()).device  # runs where the model runs: exact anywhere
        self.net = IntConvNet(list(model.prior.convs), device=self.device)
        self.alphabets = model.alphabets
        self.amax = max(self.alphabets)

    @torch.no_grad()
    def logits(self, prev: torch.Tensor, has_prev: torch.Tensor, cur: torch.Tensor,
               known: torch.Tensor, positions: torch.Tensor | None = None, level: int | None = None,
               state: torch.Tensor | None = None, channels: list[int] | None = None) -> np.ndarray:
        """``prev``/``cur`` symbols ``[B, S, h, w]`` (int), ``has_prev`` ``[B]``, ``known`` symbol
        mask ``[S, h, w]`` (bool), ``state`` the exact temporal state ``[B, C, h, w]`` (models with
        one). Returns integer logits (float64, exact) ``[B, S, A, h, w]``, or ``[B, S, A, P]`` at ``positions``
        (flat indices into ``h * w``) only; with ``channels``, those symbol channels' alone, in
        that order (``S = len(channels)``: the head computes no others)."""
        q, dev = self.model.quantizer, self.device
        pv = q.prior_values(prev.to(dev)).to(torch.float64)
        cv = q.prior_values(cur.to(dev)).to(torch.float64)
        km = self.model.expand_mask(known.to(dev)).to(torch.float64).unsqueeze(0).expand_as(cv)
        st = None if state is None else state.to(dev, torch.float64)
        x = self.model.prior.inputs(pv, has_prev.to(dev, torch.float64), cv, km, level, st)
        rows = None if channels is None else self.model.prior.head_rows(torch.tensor(channels, device=dev))
        out = self.net(torch.ldexp(x, torch.tensor(ACT_BITS, dtype=torch.float64, device=dev)),
                       None if positions is None else positions.to(dev), rows)
        return out.view(out.shape[0], -1, self.amax, *out.shape[2:]).cpu().numpy()
