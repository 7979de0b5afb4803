"""RReLU, LPPool*, MaxUnpool*, AdaptiveMaxPool3d, FractionalMaxPool*, pdist, CrossMapLRN2d,
SyncBatchNorm, AdaptiveLogSoftmaxWithLoss, nn.Buffer, the deprecated init aliases and the
nn.utils extras (fusion, clip_grads_with_norm_, skip_init, stateless) versus torch.

Layers load torch's state_dict and compare outputs (1e-5) and input + parameter gradients
(1e-4) for a random cotangent; random layers are checked for their invariants and for
drawing the same numbers eager, under ``ej.compile`` and under ``ej.lazy()``; a small model
built from the deterministic ones trains like torch's in every mode.
"""

import math

import numpy as np
import pytest
from test_nn_layers import close, rand
from test_nn_layers4 import run_pair  # the shared torch-comparison helper

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:torch.*"), pytest.mark.usefixtures("fresh_lazy")]


def module_pair(ours, theirs, *arrays, tol=1e-5, gtol=1e-4):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    ep, tp = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ep) == list(tp)
    out = run_pair(ours, theirs, list(arrays), params=[(k, ep[k], tp[k]) for k in tp], tol=tol, gtol=gtol)
    assert repr(ours) == repr(theirs)
    return out


def raises_like(ours, theirs):
    """Both raise the same exception type with the same message."""
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(type(te.value)) as ee:
        ours()
    assert str(ee.value) == str(te.value)


def T(a):
    return torch.tensor(np.asarray(a))


def E(a):
    return ej.tensor(np.asarray(a))


# --------------------------------------------------------------------------- RReLU
@pytest.mark.parametrize("lower, upper", [(1 / 8, 1 / 3), (0.1, 0.1), (0.0, 0.5)])
def test_rrelu_eval_matches_torch(lower, upper):
    x = rand(3, 4, 5)
    x[0, 0, :2] = 0.0  # the kink: torch's gradient there is the slope
    module_pair(nn.RReLU(lower, upper).eval(), torch.nn.RReLU(lower, upper).eval(), x)
    run_pair(lambda t: F.rrelu(t, lower, upper), lambda t: TF.rrelu(t, lower, upper), [x])


def test_rrelu_training_slopes_are_in_range_and_are_the_gradient():
    x = rand(400)
    x[:3] = 0.0
    t = ej.tensor(x, requires_grad=True)
    y = nn.RReLU(0.1, 0.3)(t)
    y.sum().backward()
    yv, g = y.detach().numpy(), t.grad.numpy()
    pos = x > 0
    np.testing.assert_array_equal(yv[pos], x[pos])
    np.testing.assert_array_equal(g[pos], 1.0)
    neg = x < 0
    r = yv[neg] / x[neg]
    assert r.min() >= 0.1 - 1e-6 and r.max() <= 0.3 + 1e-6 and r.std() > 0.03  # drawn, not fixed
    np.testing.assert_allclose(g[neg], r, rtol=1e-5)
    assert np.all((g[:3] >= 0.1) & (g[:3] <= 0.3))  # at 0: the drawn slope, as torch's noise
    # same seed, same slopes; another call, other slopes
    ej.manual_seed(3)
    a = F.rrelu(E(x), 0.1, 0.3, training=True).numpy()
    b = F.rrelu(E(x), 0.1, 0.3, training=True).numpy()
    ej.manual_seed(3)
    np.testing.assert_array_equal(F.rrelu(E(x), 0.1, 0.3, training=True).numpy(), a)
    assert not np.array_equal(a, b)


def test_rrelu_inplace_and_repr_and_errors():
    x = rand(6)
    e, t = E(x), T(x)
    assert F.rrelu_(e, 0.2, 0.4) is e
    TF.rrelu_(t, 0.2, 0.4)
    close(e, t)
    e2 = E(x)
    assert nn.RReLU(0.1, 0.3, inplace=True).eval()(e2) is e2
    assert repr(nn.RReLU(0.1, 0.3, True)) == repr(torch.nn.RReLU(0.1, 0.3, True))
    raises_like(lambda: F.rrelu(E(x), 0.5, 0.1, training=True), lambda: TF.rrelu(T(x), 0.5, 0.1, training=True))
    raises_like(lambda: F.rrelu(E(x), 0.5, 0.1), lambda: TF.rrelu(T(x), 0.5, 0.1))
    xi = np.arange(4)
    raises_like(lambda: F.rrelu(E(xi), training=True), lambda: TF.rrelu(T(xi), training=True))
    raises_like(lambda: F.rrelu(E(xi)), lambda: TF.rrelu(T(xi)))


def test_celu_selu_inplace():
    x = rand(3, 4)
    for ours, theirs, kw in ((F.celu_, TF.celu_, {"alpha": 0.7}), (F.selu_, TF.selu_, {})):
        e, t = E(x), T(x)
        assert ours(e, **kw) is e
        theirs(t, **kw)
        close(e, t)


# --------------------------------------------------------------------------- LP pooling
@pytest.mark.parametrize(
    "nsp, p, k, s, ceil, shape",
    [
        (1, 2, 3, None, False, (2, 3, 10)),
        (1, 1.5, 2, 1, True, (3, 7)),
        (2, 2, 2, None, False, (2, 3, 6, 6)),
        (2, 3, (2, 3), (1, 2), True, (1, 2, 7, 8)),
        (2, 1, 3, 2, False, (2, 5, 5)),
        (3, 2, 2, None, False, (1, 2, 4, 4, 4)),
        (3, 1.5, (1, 2, 2), 1, True, (2, 3, 5, 4)),
    ],
)
def test_lp_pool_matches_torch(nsp, p, k, s, ceil, shape):
    x = rand(*shape, low=0.1, high=2.0) if p != int(p) else rand(*shape)
    ours, theirs = getattr(nn, f"LPPool{nsp}d")(p, k, s, ceil), getattr(torch.nn, f"LPPool{nsp}d")(p, k, s, ceil)
    module_pair(ours, theirs, x)
    fn = f"lp_pool{nsp}d"
    run_pair(lambda t: getattr(F, fn)(t, p, k, s, ceil), lambda t: getattr(TF, fn)(t, p, k, s, ceil), [x])


def test_lp_pool_errors():
    x = rand(1, 1, 4, 4)
    raises_like(lambda: F.lp_pool2d(E(x), 2, 5), lambda: TF.lp_pool2d(T(x), 2, 5))
    raises_like(lambda: F.lp_pool1d(E(x[0]), 2, 5), lambda: TF.lp_pool1d(T(x[0]), 2, 5))
    raises_like(lambda: F.lp_pool1d(E(x[0]), 2, (2,)), lambda: TF.lp_pool1d(T(x[0]), 2, (2,)))


# --------------------------------------------------------------------------- max unpooling
@pytest.mark.parametrize(
    "nsp, k, s, p, shape, output_size",
    [
        (1, 2, None, 0, (2, 3, 8), None),
        (1, 3, 2, 1, (3, 9), None),
        (2, 2, None, 0, (2, 3, 6, 6), None),
        (2, 3, 2, 1, (1, 2, 7, 7), None),
        (2, 2, 2, 0, (2, 5, 5), [5, 5]),
        (2, 2, 2, 0, (1, 2, 5, 5), (1, 2, 5, 5)),
        (3, 2, None, 0, (1, 2, 4, 4, 4), None),
        (3, 2, 2, 0, (2, 5, 4, 5), (5, 4, 5)),
    ],
)
def test_max_unpool_matches_torch(nsp, k, s, p, shape, output_size):
    x = rand(*shape)
    pool = f"max_pool{nsp}d"
    eo, ei = getattr(F, pool)(E(x), k, s, p, return_indices=True)
    to, ti = getattr(TF, pool)(T(x), k, s, p, return_indices=True)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    ours, theirs = getattr(nn, f"MaxUnpool{nsp}d")(k, s, p), getattr(torch.nn, f"MaxUnpool{nsp}d")(k, s, p)
    assert repr(ours) == repr(theirs)
    pooled = to.detach().numpy()
    run_pair(lambda v: ours(v, ei, output_size), lambda v: theirs(v, ti, output_size), [pooled])
    fn = f"max_unpool{nsp}d"
    run_pair(
        lambda v: getattr(F, fn)(v, ei, k, s, p, output_size), lambda v: getattr(TF, fn)(v, ti, k, s, p, output_size),
        [pooled],
    )  # fmt: skip


def _one_bad(i, v):
    j = i.copy()
    j[..., 0, 1] = v
    return j


def test_max_unpool_errors():
    x = rand(1, 1, 4, 4)
    to, ti = TF.max_pool2d(T(x), 2, return_indices=True)
    o, i = to.numpy(), ti.numpy()
    cases = [
        (lambda f, t, j: f.max_unpool2d(t(o), t(j.astype(np.float32)), 2), i),
        (lambda f, t, j: f.max_unpool2d(t(o), t(j[..., :1]), 2), i),
        (lambda f, t, j: f.max_unpool2d(t(o), t(j), 2), _one_bad(i, 27)),  # (torch names one of several)
        (lambda f, t, j: f.max_unpool2d(t(o), t(j), 2, output_size=(9, 9)), i),
        (lambda f, t, j: f.max_unpool2d(t(o), t(j), 2, output_size=(1, 2, 3)), i),
        (lambda f, t, j: f.max_unpool2d(t(o[0, 0]), t(j[0, 0]), 2), i),
        (lambda f, t, j: f.max_unpool1d(t(o[0, 0, 0]), t(j[0, 0, 0]), 2), i),
        (lambda f, t, j: f.max_unpool3d(t(o[0]), t(j[0]), 2), i),
        (lambda f, t, j: f.max_unpool3d(t(o), t(j), 2), _one_bad(i, 100)),
    ]
    for case, j in cases:
        raises_like(lambda: case(F, E, j), lambda: case(TF, T, j))
    t1, j1 = TF.max_pool1d(T(rand(2, 8)), 2, return_indices=True)
    j1 = _one_bad(j1.numpy(), -1)
    raises_like(lambda: F.max_unpool1d(E(t1), E(j1), 2), lambda: TF.max_unpool1d(t1, T(j1), 2))


def test_max_unpool_inverts_max_pool_in_every_mode():
    x = ej.tensor(rand(2, 3, 6, 6), requires_grad=True)
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)

    def step(x):
        y, i = pool(x)
        return unpool(y, i, output_size=x.size())

    assert_compile_equivalent(step, x, steps=2)


# --------------------------------------------------------------------------- adaptive max pooling 3-D
@pytest.mark.parametrize(
    "shape, size", [((2, 3, 5, 6, 7), 2), ((3, 4, 4, 5), (2, None, 3)), ((1, 2, 3, 3, 3), (3, 1, 2))]
)
def test_adaptive_max_pool3d_matches_torch(shape, size):
    x = rand(*shape)
    ours, theirs = nn.AdaptiveMaxPool3d(size, return_indices=True), torch.nn.AdaptiveMaxPool3d(size, True)
    assert repr(ours) == repr(theirs)
    (eo, ei), (to, ti) = run_pair(ours, theirs, [x])
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    run_pair(lambda t: F.adaptive_max_pool3d(t, size), lambda t: TF.adaptive_max_pool3d(t, size), [x])
    eo, ei = F.adaptive_max_pool3d_with_indices(E(x), size)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


def test_adaptive_max_pool3d_errors():
    for x, size in [(rand(2, 3), 2), (rand(2, 3, 4, 5), (2, 2)), (rand(2, 0, 4, 5), 2)]:
        raises_like(lambda: F.adaptive_max_pool3d(E(x), size), lambda: TF.adaptive_max_pool3d(T(x), size))


# --------------------------------------------------------------------------- fractional max pooling
@pytest.mark.parametrize(
    "nsp, k, out, ratio, shape",
    [
        (2, 2, 3, None, (2, 3, 7, 9)),
        (2, (2, 3), (4, 5), None, (1, 2, 9, 10)),
        (2, 3, None, (0.5, 0.7), (3, 11, 10)),
        (2, 2, 1, None, (1, 1, 5, 5)),
        (3, 2, 3, None, (1, 2, 7, 8, 9)),
        (3, (1, 2, 3), (4, 3, 2), None, (2, 6, 7, 8)),
        (3, 2, None, 0.5, (1, 2, 8, 8, 8)),
    ],
)
def test_fractional_max_pool_matches_torch_with_given_samples(nsp, k, out, ratio, shape):
    x = rand(*shape)
    batch = 1 if len(shape) == nsp + 1 else shape[0]
    samples = rand(batch, shape[-nsp - 1], nsp, low=0.0, high=1.0)
    kw = dict(output_size=out, output_ratio=ratio, return_indices=True)
    ours = getattr(nn, f"FractionalMaxPool{nsp}d")(k, _random_samples=E(samples), **kw)
    theirs = getattr(torch.nn, f"FractionalMaxPool{nsp}d")(k, _random_samples=T(samples), **kw)
    (eo, ei), (to, ti) = module_pair(ours, theirs, x)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    assert list(ours.state_dict()) == ["_random_samples"]
    fn = f"fractional_max_pool{nsp}d"
    run_pair(
        lambda t: getattr(F, fn)(t, k, out, ratio, _random_samples=E(samples)),
        lambda t: getattr(TF, fn)(t, k, out, ratio, _random_samples=T(samples)),
        [x],
    )


def test_fractional_max_pool_draws_from_our_generator_in_every_mode():
    m = nn.FractionalMaxPool2d(2, output_ratio=0.5)
    assert m._random_samples is None and list(m.state_dict()) == [] and repr(m) == "FractionalMaxPool2d()"
    x = ej.tensor(rand(2, 3, 8, 9), requires_grad=True)
    ej.manual_seed(1)
    a = m(x)
    assert tuple(a.shape) == (2, 3, 4, 4)
    ej.manual_seed(1)
    np.testing.assert_array_equal(m(x).detach().numpy(), a.detach().numpy())
    m3 = nn.FractionalMaxPool3d(2, output_size=(1, 3, 2))

    def step(x):
        return m(x).sum() + m3(x.unsqueeze(0)).sum()

    assert_compile_equivalent(step, x, steps=2)


def test_fractional_max_pool_errors():
    x = rand(2, 3, 7, 9)
    bad = [
        (2, (x, 2), {}),
        (2, (x, 3), {"output_size": 6}),
        (2, (x, 2), {"output_ratio": 1.5}),
        (2, (x, 2), {"output_size": 3, "_random_samples": rand(2, 3, 3)}),
        (2, (x, 2), {"output_size": 3, "_random_samples": rand(1, 3, 2)}),
        (2, (x, 2), {"output_size": 3, "_random_samples": rand(2, 2, 2)}),
        (2, (x, 2), {"output_size": 3, "_random_samples": rand(2, 3)}),
        (2, (x[0, 0], 2), {"output_size": 3}),
        (2, (rand(1, 2, 3, 4, 5), 2), {"output_size": 2}),
        (2, (rand(1, 0, 5, 5), 2), {"output_size": 2}),
        (2, (x, 2), {"output_ratio": (0.5, 0.5, 0.5)}),
        (2, (x, (2, 2, 2)), {"output_size": 2}),
        (3, (rand(1, 1, 9, 5, 5), (2, 3, 3)), {"output_size": (8, 4, 4)}),
        (3, (rand(1, 1, 1, 5, 5, 5), 2), {"output_size": 2}),
        (3, (rand(1, 0, 5, 5, 5), 2), {"output_size": 2}),
        (3, (rand(1, 1, 5, 5, 5), 2), {"output_size": (2, 2)}),
    ]
    for nsp, (a, k), kw in bad:
        fn = f"fractional_max_pool{nsp}d"
        ekw = {n: E(v) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
        tkw = {n: T(v) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
        raises_like(lambda: getattr(F, fn)(E(a), k, **ekw), lambda: getattr(TF, fn)(T(a), k, **tkw))
    raises_like(lambda: nn.FractionalMaxPool2d(2), lambda: torch.nn.FractionalMaxPool2d(2))
    raises_like(lambda: nn.FractionalMaxPool3d(2), lambda: torch.nn.FractionalMaxPool3d(2))
    raises_like(
        lambda: nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5),
        lambda: torch.nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5),
    )
    raises_like(
        lambda: nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.0)),
        lambda: torch.nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.0)),
    )


# --------------------------------------------------------------------------- pdist
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, 0, math.inf])
def test_pdist_matches_torch(p):
    x = rand(6, 4)
    run_pair(lambda t: F.pdist(t, p), lambda t: TF.pdist(t, p), [x], grad=p != 0)
    run_pair(lambda t: F.pdist(t, p), lambda t: torch.pdist(t, p), [rand(1, 3)], grad=False)


def test_pdist_zero_distance_has_zero_gradient_and_errors():
    x = rand(4, 3)
    x[2] = x[0]  # one pair at distance 0: torch's backward gives 0 there, not NaN
    for p in (2, 3):
        run_pair(lambda t: F.pdist(t, p), lambda t: TF.pdist(t, p), [x])
    for a, p in [(rand(2, 3, 4), 2), (rand(3, 4), -1), (np.arange(6).reshape(3, 2), 2)]:
        raises_like(lambda: F.pdist(E(a), p), lambda: TF.pdist(T(a), p))


# --------------------------------------------------------------------------- CrossMapLRN2d
def _torch_cross_map(x, size, alpha, beta, k):
    """torch's CrossMapLRN2d forward written with differentiable ops (channel 0 in every sum)."""
    c = x.shape[1]
    pre = int((size - 1) / 2 + 1)
    sq = x * x
    sums = []
    for ch in range(c):
        idx = [0] + list(range(max(1, ch - pre + 1), min(ch + pre - 1, c - 1) + 1))
        sums.append(sq[:, idx].sum(1))
    return x * (torch.stack(sums, 1) * (alpha / size) + k) ** (-beta)


@pytest.mark.parametrize("size, alpha, beta, k, c", [(1, 1e-2, 0.75, 2, 5), (2, 1e-1, 0.5, 1, 6), (3, 1e-4, 0.75, 1, 4),
                                                     (4, 0.3, 0.75, 1.5, 7), (5, 0.2, 1.0, 2.0, 3)])  # fmt: skip
def test_cross_map_lrn2d_matches_torch(size, alpha, beta, k, c):
    x = rand(2, c, 3, 4)
    ours, theirs = nn.CrossMapLRN2d(size, alpha, beta, k), torch.nn.CrossMapLRN2d(size, alpha, beta, k)
    assert repr(ours) == repr(theirs)
    close(ours(E(x)), theirs(T(x)), 1e-5, "forward")
    # gradients: the exact derivative of torch's forward (torch's hand-written backward is not it)
    run_pair(ours, lambda t: _torch_cross_map(t, size, alpha, beta, k), [x])
    raises_like(lambda: ours(E(x[0])), lambda: theirs(T(x[0])))


def test_pure_layers_fuse_in_a_hot_sequential():
    """LPPool*/CrossMapLRN2d are in ``_fusion._PURE``: a hot Sequential of them runs as one
    kernel in eager mode and gives the per-layer values and gradients."""
    from eagerjax.nn import _fusion

    assert {nn.LPPool1d, nn.LPPool2d, nn.LPPool3d, nn.CrossMapLRN2d} <= _fusion._PURE
    from eagerjax._dispatch import Kernel

    def fused_plans():
        return sum(isinstance(v, Kernel) for v in _fusion._plans.values())

    seq = nn.Sequential(nn.CrossMapLRN2d(3, 0.1), nn.LPPool2d(2, 2), nn.Tanh(), nn.Flatten(2), nn.LPPool1d(2, 2))
    x = rand(2, 4, 8, 8)
    ref = ej.tensor(x, requires_grad=True)
    h = ref
    for layer in seq:
        h = layer(h)
    h.sum().backward()
    before = fused_plans()
    for _ in range(_fusion._HOT_CALLS + 1):
        t = ej.tensor(x, requires_grad=True)
        y = seq(t)
        y.sum().backward()
    assert fused_plans() == before + 1
    close(y, h, 1e-5, "fused output")
    close(t.grad, ref.grad, 1e-5, "fused input grad")
