import numpy as np
import torch
import torch.nn.functional as F
from vtcodec.models import intnet
from vtcodec.models.intnet import (
    ACT_BITS,
    EXP2_TABLE,
    PMF_BITS,
    PMF_FLOOR,
    IntConvNet,
    pmf_from_logits,
)


def convs(seed: int = 0) -> list[torch.nn.Conv2d]:
    torch.manual_seed(seed)
    return [torch.nn.Conv2d(5, 16, 3, padding=1), torch.nn.Conv2d(16, 16, 3, padding=1),
            torch.nn.Conv2d(16, 12, 1)]


def reference(layers, x: torch.Tensor) -> torch.Tensor:
    """The same integer network evaluated another way (direct conv2d, one thread)."""
    a = x
    for i, (w_int, b_int, inv_scale, k) in enumerate(layers):
        w = w_int.view(w_int.shape[0], -1, k, k)
        acc = F.conv2d(a, w, padding=k // 2) + b_int.view(1, -1, 1, 1)
        scale = 1 / inv_scale  # a power of two
        a = torch.floor(torch.relu(acc) / scale) if i < len(layers) - 1 else torch.floor(acc / scale)
    return a


def test_integer_net_is_exact_and_thread_independent():
    net = IntConvNet(convs())
    x = torch.randint(-8, 8, (3, 5, 13, 11)).double() * 2**ACT_BITS
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net(x)
        ref = reference(net.layers, x)
        torch.set_num_threads(2)
        two = net(x)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, two)
    assert torch.equal(one, ref)
    assert torch.equal(one, torch.round(one))  # integers only
    # and close to the float network it came from
    h = x / 2**ACT_BITS
    with torch.no_grad():
        for i, c in enumerate(net_convs := convs()):
            h = c(h.float()).double()
            if i < len(net_convs) - 1:
                h = torch.relu(h)
    assert float((one / 2**ACT_BITS - h).abs().max()) < 0.05 * float(h.abs().max()) + 0.1


def test_pmf_from_logits_is_integer_monotone_and_floored():
    z = np.array([[0, 64, 128, -5000], [10, 10, 10, 10]], dtype=np.int64)
    pmf = pmf_from_logits(z, 4)
    assert pmf.dtype == np.int32
    assert pmf[0, 2] > pmf[0, 1] > pmf[0, 0] > pmf[0, 3] > 0
    # one bit (64 units) more logit doubles the probability mass (up to the floor)
    assert abs(pmf[0, 2] / pmf[0, 1] - 2) < 0.01
    assert len(set(pmf[1].tolist())) == 1


def test_pmf_from_logits_equals_the_formula_in_int64_for_any_logits():
    """The int32 path (differences capped) gives the formula's values computed in int64, down to
    logits far apart (up to 2**50) and alphabets narrower than the logits."""
    rng = np.random.default_rng(3)
    z = np.round(rng.normal(size=(4000, 9)) * rng.choice([30.0, 300.0, 3000.0], size=(4000, 1)))
    z[::5, 2] = 2.0**50
    z[1::5, 4] = -(2.0**50)
    for alphabet in (9, 5, 1):
        zi = z[:, :alphabet].astype(np.int64)
        d = (zi.max(axis=1, keepdims=True) - zi) >> (ACT_BITS - 4)
        want = (EXP2_TABLE[d & 15] >> np.minimum(d >> 4, PMF_BITS + 1)) + PMF_FLOOR
        assert np.array_equal(pmf_from_logits(z, alphabet), want)


def test_integer_net_at_positions_and_odd_grids():
    """Outputs at chosen positions equal the full grid's there, on grids down to 1x1."""
    net = IntConvNet(convs(1))
    for h, w in ((1, 1), (1, 7), (6, 1), (5, 9)):
        x = torch.randint(-8, 8, (2, 5, h, w)).double() * 2**ACT_BITS
        full = net(x)
        assert torch.equal(full, reference(net.layers, x))
        pos = torch.arange(h * w)[torch.arange(h * w) % 2 == 1] if h * w > 1 else torch.arange(1)
        assert torch.equal(net(x, pos), full.reshape(2, full.shape[1], h * w)[:, :, pos])


def test_float32_where_the_bound_allows_float64_elsewhere_the_same_integers(monkeypatch):
    """Small activations run every layer in float32, large ones fall back to float64; both equal
    the float64 reference. Forcing float32 past the bound does not, so the bound is what keeps the
    float32 path exact."""
    net = IntConvNet(convs(2))
    small = torch.randint(-4, 4, (2, 5, 9, 7)).double() * 2**ACT_BITS
    large = torch.randint(-2**13, 2**13, (2, 5, 9, 7)).double() * 2**ACT_BITS
    chosen = []
    check = net._float32_exact
    monkeypatch.setattr(net, "_float32_exact", lambda *args: chosen.append(check(*args)) or chosen[-1])
    assert torch.equal(net(small), reference(net.layers, small))
    assert chosen == [True] * len(chosen) and len(chosen) == 2 * len(net.layers)
    chosen.clear()
    want = reference(net.layers, large)
    assert torch.equal(net(large), want)
    assert False in chosen
    monkeypatch.setattr(intnet, "FLOAT32_EXACT", float("inf"))  # float32 everywhere
    assert not torch.equal(net(large), want)


def test_reduced_precision_matmul_settings_keep_the_exact_path():
    """A process that lets torch compute float32 products in TF32 or bfloat16 (the legacy call or
    torch 2.9's attributes) gets float64 products, and no error from mixing the two APIs."""
    net = IntConvNet(convs(3))
    x = torch.randint(-8, 8, (1, 5, 6, 6)).double() * 2**ACT_BITS
    want = reference(net.layers, x)
    cpu = torch.device("cpu")
    assert intnet.float32_matmul_is_exact(cpu)
    try:
        torch.set_float32_matmul_precision("medium")
        assert not intnet.float32_matmul_is_exact(cpu)
        assert torch.equal(net(x), want)
    finally:
        torch.set_float32_matmul_precision("highest")
    if hasattr(torch.backends.mkldnn.matmul, "fp32_precision"):  # torch >= 2.9
        leaves = {torch.backends.mkldnn.matmul: "bf16", torch.backends.cuda.matmul: "tf32"}
        before = {leaf: leaf.fp32_precision for leaf in leaves}
        try:
            for leaf, setting in leaves.items():
                leaf.fp32_precision = setting
            assert not intnet.float32_matmul_is_exact(cpu)
            assert not intnet.float32_matmul_is_exact(torch.device("cuda"))
            assert torch.equal(net(x), want)
        finally:
            for leaf, setting in before.items():
                leaf.fp32_precision = setting
    assert intnet.float32_matmul_is_exact(cpu)
