"""Model configuration: one frozen dataclass that fully rebuilds a tokenizer + prior.

The config is stored inside every weights file (safetensors metadata) and every training
checkpoint, so a model rebuilds itself from its file alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields

# a model's stable name: what .vtc headers and `vtcodec models` show
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tiny"  # stable model name written into every .vtc header
    quantizer: str = "fsq"  # "fsq" or "bsq"
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)  # FSQ levels per latent channel
    gains: int = 0  # quality levels of a gained FSQ (vt2: one model, a ladder of steps); 0 = none
    bsq_bits: int = 12  # BSQ latent dimension (bits per token)
    bsq_group_bits: int = 4  # BSQ bits per entropy-coded symbol (alphabet 2**group_bits)
    enc_widths: tuple[int, int] = (64, 128)  # encoder widths at 1/4 and 1/8 resolution
    dec_widths: tuple[int, int] = (64, 128)  # decoder widths at 1/4 and 1/8 resolution
    enc_blocks: int = 2  # residual blocks at 1/8 resolution in the encoder
    dec_blocks: int = 2  # residual blocks at 1/8 resolution in the decoder
    context: bool = True  # decoder also sees the previous frame's tokens (causal)
    # a gained model's encoder told the quality level (a scale and shift of its features and a
    # scale of its latents per level, models/tokenizer.py); the encoder only: streams are unchanged
    enc_levels: bool = False
    prior_width: int = 48  # channels of the prior's conv net
    prior_layers: int = 3  # 3x3 conv layers of the prior before its 1x1 head
    # symbol channels coded together in one step after the checkerboard split; () = all at once
    prior_groups: tuple[tuple[int, ...], ...] = ()
    # temporal state (format 3.1, models/temporal.py): channels of a state carried from frame to
    # frame within a chunk, computed exactly from the tokens and seen by encoder, decoder and prior
    state: int = 0  # 0 = none (the decoder and prior see the previous token frame only)
    state_width: int = 32  # channels of the state net's hidden layers
    state_layers: int = 2  # 3x3 conv layers of the state net (the last one outputs the state)
    # decoded-frame context (format 3.2, models/temporal.py ``ReconContext``): channels at 1/8
    # resolution of features of the previous decoded frame, seen by the encoder and the decoder
    recon: int = 0  # 0 = none
    extra: dict = field(default_factory=dict, compare=False)  # free-form notes (recipe, ...)

    def __post_init__(self) -> None:
        """Refuse settings no model can be built from (``ValueError``, one line saying which):
        configs come from files a user may have received from anyone, so every field is checked
        for its type and a range that keeps the model's size within reason before it is built."""

        def ints(name: str, values, lo: int, hi: int) -> None:
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                    raise ValueError(f"config field {name} must hold whole numbers in {lo}..{hi}, got {v!r}")

        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(f"model name {self.name!r} must be 1..64 letters, digits or ._+- "
                             "(starting with a letter or digit)")
        if self.quantizer not in ("fsq", "bsq"):
            raise ValueError(f"unknown quantizer {self.quantizer!r} (fsq or bsq)")
        if not isinstance(self.fsq_levels, tuple) or not 1 <= len(self.fsq_levels) <= 16:
            raise ValueError("config field fsq_levels must hold 1..16 levels")
        ints("fsq_levels", self.fsq_levels, 2, 64)
        ints("gains", [self.gains], 0, 64)
        if self.gains and (self.quantizer != "fsq" or any(x % 2 == 0 for x in self.fsq_levels)):
            raise ValueError("config field gains needs an fsq quantizer with odd level counts")
        ints("bsq_bits", [self.bsq_bits], 1, 32)
        ints("bsq_group_bits", [self.bsq_group_bits], 1, 6)
        if self.bsq_bits % self.bsq_group_bits:
            raise ValueError("config field bsq_bits must be a multiple of bsq_group_bits")
        for name in ("enc_widths", "dec_widths"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 2:
                raise ValueError(f"config field {name} must hold two widths")
            ints(name, value, 1, 1024)
        ints("enc_blocks/dec_blocks", [self.enc_blocks, self.dec_blocks], 0, 32)
        ints("prior_width", [self.prior_width], 1, 1024)
        ints("prior_layers", [self.prior_layers], 1, 32)
        ints("state", [self.state], 0, 64)
        ints("state_width", [self.state_width], 1, 256)
        ints("state_layers", [self.state_layers], 1, 8)
        if self.state and not self.gains:
            raise ValueError("config field state needs a model with quality levels (gains)")
        ints("recon", [self.recon], 0, 512)
        if self.recon and not self.gains:
            raise ValueError("config field recon needs a model with quality levels (gains)")
        if not isinstance(self.context, bool) or not isinstance(self.enc_levels, bool):
            raise TypeError("config fields context and enc_levels must be true or false")
        if self.enc_levels and not self.gains:
            raise ValueError("config field enc_levels needs a model with quality levels (gains)")
        n = len(self.fsq_levels) if self.quantizer == "fsq" else self.bsq_bits // self.bsq_group_bits
        if not isinstance(self.prior_groups, tuple):
            raise TypeError("config field prior_groups must be a list of channel lists")
        for group in self.prior_groups:
            ints("prior_groups", group, 0, n - 1)
        flat = [c for g in self.prior_groups for c in g]
        if self.prior_groups and (sorted(flat) != list(range(n)) or not all(self.prior_groups)):
            raise ValueError(f"config field prior_groups must split the {n} symbol channels into "
                             "non-empty groups, each channel once")
        if not isinstance(self.extra, dict):
            raise TypeError("config field extra must be an object")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """A config from its JSON form (lists for tuples); ``ValueError``/``TypeError`` when it is not one."""
        if not isinstance(data, dict):
            raise TypeError("config must be an object")
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key in ("fsq_levels", "enc_widths", "dec_widths"):
                if not isinstance(value, list | tuple):
                    raise ValueError(f"config field {key} must be a list")
                value = tuple(value)
            elif key == "prior_groups":
                if not isinstance(value, list | tuple) or not all(isinstance(g, list | tuple) for g in value):
                    raise ValueError("config field prior_groups must be a list of channel lists")
                value = tuple(tuple(g) for g in value)
            kwargs[key] = value
        return cls(**kwargs)
