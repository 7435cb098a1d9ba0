"""Model configuration: one frozen dataclass that fully rebuilds a tokenizer + prior.

The config is stored inside every weights file (safetensors metadata) and every training
checkpoint, so a model rebuilds itself from its file alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tiny"  # stable model name written into every .vtc header
    quantizer: str = "fsq"  # "fsq" or "bsq"
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)  # FSQ levels per latent channel
    bsq_bits: int = 12  # BSQ latent dimension (bits per token)
    bsq_group_bits: int = 4  # BSQ bits per entropy-coded symbol (alphabet 2**group_bits)
    enc_widths: tuple[int, int] = (64, 128)  # encoder widths at 1/4 and 1/8 resolution
    dec_widths: tuple[int, int] = (64, 128)  # decoder widths at 1/4 and 1/8 resolution
    enc_blocks: int = 2  # residual blocks at 1/8 resolution in the encoder
    dec_blocks: int = 2  # residual blocks at 1/8 resolution in the decoder
    context: bool = True  # decoder also sees the previous frame's tokens (causal)
    prior_width: int = 48  # channels of the prior's conv net
    prior_layers: int = 3  # 3x3 conv layers of the prior before its 1x1 head
    # symbol channels coded together in one step after the checkerboard split; () = all at once
    prior_groups: tuple[tuple[int, ...], ...] = ()
    extra: dict = field(default_factory=dict, compare=False)  # free-form notes (recipe, ...)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key in ("fsq_levels", "enc_widths", "dec_widths"):
                value = tuple(int(v) for v in value)
            elif key == "prior_groups":
                value = tuple(tuple(int(c) for c in g) for g in value)
            kwargs[key] = value
        return cls(**kwargs)
