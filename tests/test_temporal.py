"""Temporal state (models/temporal.py, issue 15, format 3.1): a state carried from frame to frame
within a chunk, computed exactly from the tokens, seen by the encoder, the decoder and the prior."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import synth_frames, write_clip
from vtcodec.bitstream import read_header
from vtcodec.models import ModelConfig, VTModel
from vtcodec.models.temporal import STATE_LIMIT, STEP

from vtcodec import codec, files
from vtcodec.errors import FormatError
from vtcodec.zoo import load_model

STATE = "vt2t-fsq-tiny"  # bundled: levels and a 4-channel state
CFG = ModelConfig(name="vt2t-test", fsq_levels=(7, 7, 7), gains=4, enc_widths=(8, 16), dec_widths=(8, 16),
                  enc_blocks=1, dec_blocks=1, prior_width=8, prior_layers=2, state=3, state_width=8)


def test_a_state_needs_levels():
    with pytest.raises(ValueError, match="state needs a model with quality levels"):
        ModelConfig(name="x", state=2)


def test_the_exact_state_follows_the_float_net_on_its_grid():
    torch.manual_seed(0)
    model = VTModel(CFG)
    symbols = torch.randint(0, 7, (5, 3, 6, 7))
    exact, after = model.exact_states(symbols, level=2)
    with torch.no_grad():
        floated = model.float_states(symbols.unsqueeze(0), level=2)[0]
    assert exact.dtype == torch.float64 and exact.shape == (5, 3, 6, 7) and after.shape == (1, 3, 6, 7)
    assert torch.count_nonzero(exact[0]) == 0  # a chunk starts from nothing
    assert torch.equal(exact, torch.floor(exact / STEP) * STEP)  # on the 2^-6 grid
    assert float(exact.abs().max()) <= STATE_LIMIT and float(exact[1:].abs().max()) > 0
    # weights rounded to 10 bits and hidden layers floored: close to the float net, not equal
    assert float((exact - floated.double()).abs().max()) < 0.1
    # a state continues where the one before stopped
    again, _ = model.exact_states(symbols[2:], level=2, state=exact[2:3])
    assert torch.equal(again, exact[2:])


def test_a_state_model_round_trips_and_writes_format_3_1(tmp_path):
    frames = synth_frames(40, 24, 7, seed=4)
    tokens: list = []
    with codec.Encoder(40, 24, quality=6, model=STATE, gop=5, tokens_out=tokens) as enc:
        data = b"".join(enc.encode(f) for f in frames) + enc.flush()
    head = enc.header_bytes()
    data = head + data[len(head):]
    header = read_header(io.BytesIO(data))
    assert (header.major, header.minor) == (3, 1)
    out = codec.decompress(data)
    (tmp_path / "a.vtc").write_bytes(data)
    decoded: list = []
    files.decode_file(tmp_path / "a.vtc", tmp_path / "a.y4m", tokens_out=decoded)
    assert len(tokens) == len(decoded) == 2
    assert all(torch.equal(a, b) for a, b in zip(tokens, decoded, strict=True))
    # the decoder's frames are the model's reconstruction of those tokens with their exact states
    model = load_model(STATE)
    level = enc.ladder.rung(enc.ladder.quality(6))[1]
    x = model.reconstruct(tokens[0], level=level)
    ref = codec.from_grid(x, x.shape[2:], (24, 40))
    assert np.array_equal(out[:5], ref)
    # random access inside a chunk: frames 3.. decode as they did in the whole
    src = write_clip(tmp_path / "src.y4m", frames)
    files.encode_file(src, tmp_path / "a.vtc", model=STATE, quality=6, gop=5, force=True)
    files.decode_file(tmp_path / "a.vtc", tmp_path / "all.y4m")
    files.decode_file(tmp_path / "a.vtc", tmp_path / "part.y4m", start=3, frames=3)
    from vtcodec.video import read_video

    whole, part = read_video(tmp_path / "all.y4m")[0], read_video(tmp_path / "part.y4m")[0]
    assert np.array_equal(whole[3:6], part)


def test_the_prior_and_the_decoder_read_the_state():
    model = load_model(STATE)
    symbols = model.tokenize_conditional([torch.rand(1, 3, 32, 48) for _ in range(3)], level=3)[1]
    states = model.exact_states(symbols, level=3)[0]
    assert float(states[2].abs().max()) > 0
    exact = model.exact_prior()
    known = torch.zeros(symbols.shape[1:], dtype=torch.bool)
    args = (symbols[1:2], torch.ones(1), symbols[2:3], known)
    with_state = exact.logits(*args, level=3, state=states[2:3])
    without = exact.logits(*args, level=3, state=torch.zeros_like(states[2:3]))
    assert not np.array_equal(with_state, without)
    a = model.reconstruct(symbols, level=3)
    b = model.reconstruct(symbols, level=3, state=torch.zeros_like(states))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[2], b[2])  # frame 0 has no state either way


def test_the_version_must_match_the_models_state(tmp_path):
    import zlib

    from vtcodec.bitstream import header_size

    src = write_clip(tmp_path / "a.y4m", synth_frames(24, 16, 2))
    for model, minor in ((STATE, 0), ("vt2-fsq-tiny", 1)):
        files.encode_file(src, tmp_path / "a.vtc", model=model, quality=3, force=True)
        data = bytearray((tmp_path / "a.vtc").read_bytes())
        assert data[4:6] == bytes([3, 1 - minor])
        data[5] = minor
        end = header_size(bytes(data))
        data[end - 4:end] = zlib.crc32(bytes(data[:end - 4])).to_bytes(4, "little")
        with pytest.raises(FormatError, match="temporal state"):
            codec.decompress(bytes(data))


def test_training_teaches_the_state_net_and_the_encoders_context(tmp_path):
    from vtcodec.train.ladder import LadderConfig, LadderTrainer

    rng = np.random.default_rng(0)
    groups = {"sequences": [synth_frames(72, 72, 5)], "stills": [rng.integers(0, 256, (1, 80, 80, 3), dtype=np.uint8)]}
    cfg = LadderConfig(model=CFG, warm_start="", steps=2, batch=2, crop=32, frames=3, scales=(1.0,), warmup=1,
                       rate_warmup=1, ckpt_every=10, log_every=1)
    trainer = LadderTrainer(cfg, groups, tmp_path / "run", log=lambda m: None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    for key in ("temporal.convs.0.weight", "encoder.ctx.weight", "prior.convs.0.weight"):
        assert not torch.equal(before[key], after[key]), key
