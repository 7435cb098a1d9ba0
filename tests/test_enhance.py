"""The enhancement layer (models/enhance.py, vtcodec.train.enhance): issue 14's scalable experiment."""

from __future__ import annotations

import numpy as np
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
