"""The enhancement layer (models/enhance.py, vtcodec.train.enhance): issue 14's scalable experiment."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import synth_frames
from vtcodec.models.enhance import EnhanceConfig, Enhancer
from vtcodec.models.prior import schedule

TINY = EnhanceConfig(name="e-tiny", dim=4, alphabet=7, gains=3, width=8, blocks=1, prior_width=8, prior_layers=2,
                     prior_groups=((0, 1), (2, 3)))


def test_an_untrained_layer_returns_the_base_decode():
    torch.manual_seed(0)
    enh = Enhancer(TINY)
    x, base = torch.rand(2, 3, 16, 24), torch.rand(2, 3, 16, 24)
    z = enh.latents(x, base, torch.tensor([0, 2]))
    assert z.shape == (2, 4, 4, 6)
    assert torch.equal(enh.synthesize(enh.quantizer(z, torch.tensor([0, 2])), base), base)


def test_the_prior_prices_each_symbol_from_what_is_coded_before_it():
    """Costs are distributions, and a symbol's cost does not move when a symbol coded after it
    changes (the decoder could not rebuild it otherwise); the side planes and the level count."""
    torch.manual_seed(0)
    enh = Enhancer(TINY)
    for p in enh.prior.parameters():
        torch.nn.init.normal_(p, std=0.3)
    s = torch.randint(0, 7, (1, 2, 4, 5, 6))
    side = torch.randint(-3, 4, (1, 2, 4, 5, 6)).float()
    level = torch.tensor([1])
    with torch.no_grad():
        costs = enh.prior_costs(s, level, side)
        assert torch.allclose(torch.exp2(-costs).sum(3), torch.ones(1, 2, 4, 5, 6), atol=1e-4)
        steps = schedule(TINY.prior_groups, 4, 5, 6)
        known, target = steps[1]  # the anchors' second group: every later step's symbols may change
        later = ~(known | target)
        s2 = s.clone()  # the first frame's later symbols changed (the second frame sees them all)
        s2[:, 0] = torch.where(later, (s[:, 0] + 3) % 7, s[:, 0])
        again = enh.prior_costs(s2, level, side)
        first, second = costs[0, 0].permute(0, 2, 3, 1), again[0, 0].permute(0, 2, 3, 1)  # [S, h, w, A]
        assert torch.allclose(first[known | target], second[known | target])
        assert not torch.allclose(first[later], second[later])  # the later ones do see their context
        assert not torch.allclose(costs, enh.prior_costs(s, level, side + 1))
        assert not torch.allclose(costs, enh.prior_costs(s, torch.tensor([2]), side))


def test_training_runs_resumes_and_leaves_the_base_alone(tmp_path):
    from vtcodec.train.enhance import EnhanceTrainConfig, EnhanceTrainer, load_enhancer

    rng = np.random.default_rng(0)
    groups = {"stills": [rng.integers(0, 256, (1, 80, 80, 3), dtype=np.uint8)],
              "sequences": [synth_frames(72, 72, 4)]}
    cfg = EnhanceTrainConfig(model=TINY, steps=2, batch=2, crop=32, frames=2, scales=(1.0,), warmup=1,
                             rate_warmup=1, ckpt_every=1, log_every=1)
    run = tmp_path / "run"
    trainer = EnhanceTrainer(cfg, groups, run, log=lambda m: None)
    base_before = {k: v.clone() for k, v in trainer.base.state_dict().items()}
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    for key in ("enc_head.weight", "dec_head.weight", "prior.convs.0.weight"):
        assert not torch.equal(before[key], after[key]), key
    assert torch.equal(before["quantizer.log_gain"], after["quantizer.log_gain"])
    assert all(torch.equal(v, trainer.base.state_dict()[k]) for k, v in base_before.items())
    rec = trainer.history[-1]
    assert np.isfinite(rec["loss"]) and any(k.startswith("gain_") for k in rec)
    longer = EnhanceTrainer(EnhanceTrainConfig(), groups, run, resume=True, log=lambda m: None, steps=3)
    assert longer.step == 2 and longer.cfg.model == TINY  # the run's own settings
    longer.run()
    assert longer.step == 3
    loaded = load_enhancer(run)
    assert all(torch.equal(v, longer.model.state_dict()[k]) for k, v in loaded.state_dict().items())
    # exported, the run is a layered model that names its base by hash and codes a 6.0 stream
    from vtcodec import codec
    from vtcodec.train.export import export

    entry = export(run, tmp_path / "layer")
    assert (entry.name, entry.base, entry.base_sha256) == ("e-tiny", "vt1-fsq", trainer.base.sha256)
    from vtcodec.zoo import register_model

    src = synth_frames(24, 16, 2)
    tokens, back = [], []
    with codec.Encoder(24, 16, model=str(entry.path), quality=11, tokens_out=tokens) as enc:
        data = b"".join(enc.encode(f) for f in src) + enc.flush()
    register_model(entry.path)
    dec = codec.Decoder(tokens_out=back)
    assert data[4] == 6 and len(dec.decode(data) + dec.flush()) == 2
    assert codec.digest_tokens(tokens) == codec.digest_tokens(back) and len(tokens) == 2
    # a new run warm-starts from the exported layer (its float16 weights), and only from a layer
    # of the same architecture
    warm = EnhanceTrainer(replace(cfg, warm_start=str(entry.path)), groups, tmp_path / "warm", log=lambda m: None)
    assert warm.step == 0
    assert all(torch.equal(v.half().float(), warm.model.state_dict()[k]) for k, v in loaded.state_dict().items())
    warm.run()  # and its export records what it started from
    warmed = export(tmp_path / "warm", tmp_path / "layer2", name="e-tiny2")
    assert warmed.info["recipe"]["warm_start"] == {"name": "e-tiny", "path": str(entry.path), "sha256": entry.sha256,
                                                   "steps_done": 3}
    from vtcodec.errors import ModelError
    from vtcodec.layers import layer_state

    wider = replace(cfg, model=replace(TINY, width=12), warm_start=str(entry.path))
    with pytest.raises(ModelError, match="another architecture"):
        EnhanceTrainer(wider, groups, tmp_path / "wider", log=lambda m: None)
    # more latent channels: the layer is widened, and starts coding and decoding as the narrow one
    six = replace(TINY, dim=6, prior_groups=((0, 1, 4), (2, 3, 5)))
    wide = EnhanceTrainer(replace(cfg, model=six, warm_start=str(entry.path), widen_warmup=10), groups,
                          tmp_path / "six", log=lambda m: None)
    assert wide.warm["widened_from_dim"] == 4
    narrow, broad = Enhancer(TINY), wide.model
    narrow.load_state_dict({k: v.float() for k, v in layer_state(entry).items()})
    x = torch.rand(1, 2, 3, 16, 24)
    b = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    side = torch.randint(-3, 4, (1, 2, 4, 4, 6)).float()
    with torch.no_grad():
        for lv in (0, 2):
            z4, r4 = narrow.unroll(x, b, lv)
            z6, r6 = broad.unroll(x, b, lv)
            s4, s6 = narrow.quantizer.encode(z4, lv), broad.quantizer.encode(z6, lv)
            assert torch.equal(s6[:, :4], s4) and z6[:, 4:].abs().mean() > 0.05  # new channels carry features
            assert torch.allclose(r4, r6, atol=1e-6)  # that the decoder does not use yet
            c4 = narrow.prior_costs(s4.view(1, 2, 4, 4, 6), torch.tensor([lv]), side)
            c6 = broad.prior_costs(s6.view(1, 2, 6, 4, 6), torch.tensor([lv]), side)
            assert torch.allclose(c4, c6[:, :, :4], atol=1e-4)  # nor the prior of the old channels
            assert torch.allclose(c6[:, :, 4:], torch.full_like(c6[:, :, 4:], math.log2(7)), atol=1e-4)
    # during the widening's warm-up the new channels' rate does not reach their encoder rows
    # (the prior learns them all the same); after it, it does
    clip = torch.rand(2, 2, 3, 32, 32)
    with torch.no_grad():  # a prior that has learned something of them (a uniform one has no slope)
        wide.model.prior.convs[-1].bias[4 * 7:] = torch.randn(2 * 7)
    for step, frozen in ((0, True), (10, False)):
        wide.step = step
        wide.model.zero_grad()
        wide.losses(clip, torch.tensor([2, 1]))["bpp"].sum().backward()
        grad = wide.model.enc_head.weight.grad.abs().flatten(1).sum(1)
        assert (grad[:4] > 0).all() and (grad[4:] == 0).all() == frozen
        assert wide.model.prior.convs[-1].bias.grad[4 * 7:].abs().sum() > 0
    regrouped = replace(six, prior_groups=((0, 2, 4), (1, 3, 5)))  # v3's channels must keep their groups
    with pytest.raises(ModelError, match="another architecture"):
        EnhanceTrainer(replace(cfg, model=regrouped, warm_start=str(entry.path)), groups, tmp_path / "re",
                       log=lambda m: None)


def test_a_temporal_layer_sees_the_frame_before_as_decoded_and_nothing_later():
    """The decoded-frame context starts at zero (an untrained temporal layer codes as the intra
    one); once trained it carries frame t-1's decode into frame t, never frame t+1's; the first
    frame of a chunk has none. The prior's side planes add the previous frame's base tokens."""
    torch.manual_seed(0)
    intra = Enhancer(TINY)
    enh = Enhancer(replace(TINY, recon=8, side_prev=True))
    mine = enh.state_dict()
    enh.load_state_dict({k: v for k, v in intra.state_dict().items() if v.shape == mine[k].shape}, strict=False)
    x, base = torch.rand(2, 3, 3, 16, 24), torch.rand(2, 3, 3, 16, 24)
    level = torch.tensor([0, 2])
    with torch.no_grad():
        z0, out0 = intra.unroll(x, base, level)
        z1, out1 = enh.unroll(x, base, level)
        assert torch.allclose(z0, z1, atol=1e-6) and torch.allclose(out0, out1, atol=1e-6)
        for p in (*enh.enc_ctx.parameters(), *enh.dec_ctx.parameters(), *enh.dec_head.parameters()):
            torch.nn.init.normal_(p, std=0.3)
        z, out = enh.unroll(x, base, level)
        later = x.clone()
        later[:, 2] = 1 - later[:, 2]
        z2, out2 = enh.unroll(later, base, level)
        assert torch.equal(z.view(2, 3, -1)[:, :2], z2.view(2, 3, -1)[:, :2])  # frames 0-1 unchanged
        assert torch.equal(out.view(2, 3, -1)[:, :2], out2.view(2, 3, -1)[:, :2])
        earlier = x.clone()
        earlier[:, 0] = 1 - earlier[:, 0]
        z3, _ = enh.unroll(earlier, base, level)
        assert not torch.allclose(z.view(2, 3, -1)[:, 1], z3.view(2, 3, -1)[:, 1])  # frame 1 sees frame 0
        first = enh.context(torch.rand(2, 3, 16, 24), base[:, 0], torch.zeros(2))
        assert first.shape == (2, 8, 4, 6) and not first.any()
    values = torch.randint(-2, 3, (2, 3, 4, 2, 3)).float()
    side = enh.side(values)
    assert side.shape == (2, 3, 8, 4, 6)
    assert not side[:, 0, 4:].any() and torch.equal(side[:, 1, 4:], side[:, 0, :4])


def test_the_layer_tokens_range_code_exactly_with_the_base_tokens_as_side_planes():
    """TokenCoder codes an enhancement layer's tokens with its exact prior: they decode back,
    the payload is the prior's -log2 p, and the side planes are part of the model (other side
    planes, other payload; wrong side planes at the decoder, other tokens or a refusal)."""
    from vtcodec.errors import CorruptChunk
    from vtcodec.tokens import TokenCoder

    torch.manual_seed(0)
    enh = Enhancer(replace(TINY, side_prev=True))
    for p in enh.prior.parameters():
        torch.nn.init.normal_(p, std=0.2)
    s = torch.randint(2, 5, (3, 4, 5, 6))
    side = enh.side(torch.randint(-3, 4, (1, 3, 4, 3, 3)).float())[0, :, :, :5, :6]
    coder = TokenCoder(enh)
    payload, ideal = coder.to_bytes(s, 1, side)
    assert abs(len(payload) * 8 - ideal) <= 64 + 0.01 * ideal
    back = torch.stack([f for f, _ in coder.from_bytes(payload, 3, 5, 6, level=1, side=side)])
    assert torch.equal(back, s)
    assert coder.to_bytes(s, 1, side + 1)[0] != payload
    try:
        wrong = torch.stack([f for f, _ in coder.from_bytes(payload, 3, 5, 6, level=1, side=side + 1)])
        assert not torch.equal(wrong, s)
    except CorruptChunk:
        pass
