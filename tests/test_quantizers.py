import math

import torch
from vtcodec.models.bsq import BSQ
from vtcodec.models.fsq import FSQ


def test_fsq_symbols_decode_to_forward_values():
    q = FSQ((8, 5, 5, 5))
    z = torch.randn(2, 4, 6, 7) * 3
    s = q.encode(z)
    assert s.dtype == torch.int64
    for c, lv in enumerate(q.levels):
        assert int(s[:, c].min()) >= 0 and int(s[:, c].max()) < lv
    assert torch.allclose(q.decode(s), q(z), atol=1e-6)
    assert math.isclose(q.bits_per_token, math.log2(1000), rel_tol=1e-9)


def test_fsq_uses_every_level():
    q = FSQ((8, 5))
    z = torch.linspace(-6, 6, 1000).view(1, 1, 1, -1).repeat(1, 2, 1, 1)
    s = q.encode(z)
    assert set(s[0, 0].flatten().tolist()) == set(range(8))
    assert set(s[0, 1].flatten().tolist()) == set(range(5))


def test_bsq_bits_round_trip_and_unit_norm():
    q = BSQ(12, 4)
    z = torch.randn(3, 12, 4, 5)
    s = q.encode(z)
    assert s.shape == (3, 3, 4, 5) and int(s.max()) < 16
    v = q.decode(s)
    assert torch.allclose(v, q(z), atol=1e-6)
    assert torch.allclose(v.norm(dim=1), torch.ones(3, 4, 5), atol=1e-5)
    assert torch.equal(q.prior_values(s) > 0, z > 0)
