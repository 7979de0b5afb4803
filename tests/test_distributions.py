"""eagerjax.distributions against torch.distributions: values, gradients, sampling, modes."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(0)


def _pos(*shape):
    return (RNG.uniform(0.5, 2.0, size=shape)).astype(np.float32)


def _real(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _simplex(*shape):
    p = RNG.uniform(0.1, 1.0, size=shape).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


def _spd(n, *batch):
    a = RNG.normal(size=batch + (n, n)).astype(np.float32)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype=np.float32)).astype(np.float32)


def _tril(n, *batch):
    return np.linalg.cholesky(_spd(n, *batch)).astype(np.float32)


def _close(a, b, rtol=1e-4, atol=1e-5, msg=""):
    a = np.asarray(a.detach().numpy() if hasattr(a, "detach") else a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


# (name, params as numpy, a function building the distribution from a module and params,
#  values to score, the properties and methods to compare)
_P = {
    "Normal": (lambda M, p: M.Normal(p[0], p[1]), [_real(3), _pos(3)], _real(4, 3)),
    "Normal-scalar-bcast": (lambda M, p: M.Normal(p[0], p[1]), [_real(2, 1), _pos(3)], _real(2, 3)),
    "Laplace": (lambda M, p: M.Laplace(p[0], p[1]), [_real(3), _pos(3)], _real(2, 3)),
    "LogNormal": (lambda M, p: M.LogNormal(p[0], p[1]), [_real(3), _pos(3)], _pos(2, 3)),
    "Uniform": (lambda M, p: M.Uniform(p[0], p[0] + p[1]), [_real(3), _pos(3)], None),
    "Exponential": (lambda M, p: M.Exponential(p[0]), [_pos(3)], _pos(2, 3)),
    "Gamma": (lambda M, p: M.Gamma(p[0], p[1]), [_pos(3), _pos(3)], _pos(2, 3)),
    "Beta": (lambda M, p: M.Beta(p[0], p[1]), [_pos(3), _pos(3)], RNG.uniform(0.1, 0.9, (2, 3)).astype(np.float32)),
    "Dirichlet": (lambda M, p: M.Dirichlet(p[0]), [_pos(2, 4)], _simplex(3, 2, 4)),
    "Bernoulli-probs": (
        lambda M, p: M.Bernoulli(probs=p[0]),
        [_simplex(3, 2)[..., 0]],
        np.array([1.0, 0.0, 1.0], np.float32),
    ),
    "Bernoulli-logits": (
        lambda M, p: M.Bernoulli(logits=p[0]),
        [_real(2, 3)],
        np.array([[1.0, 0.0, 1.0]] * 2, np.float32),
    ),
    "Categorical-probs": (lambda M, p: M.Categorical(probs=p[0]), [_simplex(3, 4)], np.array([[0, 3, 1], [2, 2, 0]])),
    "Categorical-logits": (lambda M, p: M.Categorical(logits=p[0]), [_real(3, 4)], np.array([0, 3, 1])),
    "OneHotCategorical": (
        lambda M, p: M.OneHotCategorical(logits=p[0]),
        [_real(3, 4)],
        np.eye(4, dtype=np.float32)[[0, 3, 1]],
    ),
    "MVN-cov": (
        lambda M, p: M.MultivariateNormal(p[0], covariance_matrix=p[1]),
        [_real(2, 3), _spd(3)],
        _real(4, 2, 3),
    ),
    "MVN-prec": (lambda M, p: M.MultivariateNormal(p[0], precision_matrix=p[1]), [_real(3), _spd(3, 2)], _real(2, 3)),
    "MVN-tril": (lambda M, p: M.MultivariateNormal(p[0], scale_tril=p[1]), [_real(3), _tril(3)], _real(5, 3)),
    "Independent": (lambda M, p: M.Independent(M.Normal(p[0], p[1]), 1), [_real(2, 3), _pos(2, 3)], _real(4, 2, 3)),
}
_PROPS = ("mean", "variance", "stddev", "mode")
_METHODS = ("log_prob", "entropy", "cdf", "icdf")


def _build(name, mod, params, grad):
    ctor = _P[name][0]
    if mod is D:
        ts = [ej.tensor(p, requires_grad=grad and p.dtype == np.float32) for p in params]
    else:
        ts = [torch.tensor(p, requires_grad=grad and p.dtype == np.float32) for p in params]
    return ctor(mod, ts), ts


def _value(name, mod, dist_t):
    v = _P[name][2]
    if v is None:  # inside the support of the torch distribution
        v = dist_t.sample((2,)).numpy()
    return ej.tensor(v) if mod is D else torch.tensor(v)


def _calls(name, d, v, probs):
    out = {}
    for p in _PROPS:
        try:
            out[p] = getattr(d, p)
        except NotImplementedError:
            pass
    for m in _METHODS:
        try:
            if m == "entropy":
                out[m] = d.entropy()
            elif m == "icdf":
                out[m] = d.icdf(probs)
            else:
                out[m] = getattr(d, m)(v)
        except NotImplementedError:
            pass
    return out


@pytest.mark.parametrize("name", list(_P))
def test_values_and_gradients_match_torch(name):
    params = _P[name][1]
    dt, tt = _build(name, TD, params, grad=True)
    de, te = _build(name, D, params, grad=True)
    assert tuple(de.batch_shape) == tuple(dt.batch_shape)
    assert tuple(de.event_shape) == tuple(dt.event_shape)
    assert de.has_rsample == dt.has_rsample
    with torch.no_grad():
        v_np = _value(name, TD, dt).numpy()
    vt, ve = torch.tensor(v_np), ej.tensor(v_np)
    shape = tuple(dt.batch_shape)
    probs = RNG.uniform(0.1, 0.9, size=shape).astype(np.float32)
    rt = _calls(name, dt, vt, torch.tensor(probs))
    re_ = _calls(name, de, ve, ej.tensor(probs))
    assert set(rt) == set(re_), (set(rt), set(re_))
    assert "log_prob" in rt and "entropy" in rt
    for k in rt:
        _close(re_[k], rt[k].detach().numpy(), msg=f"{name}.{k}")
    # gradients of everything differentiable, through the tape
    keys = [k for k in rt if rt[k].requires_grad and not (name == "Gamma" and k == "cdf")]  # torch: no igamma grad
    tot_t = sum((rt[k] * (i + 1)).sum() for i, k in enumerate(keys))
    tot_e = sum((re_[k] * (i + 1)).sum() for i, k in enumerate(keys))
    tot_t.backward()
    tot_e.backward()
    for a, b in zip(te, tt):
        if b.requires_grad:
            _close(a.grad, b.grad.numpy(), rtol=2e-4, atol=1e-4, msg=f"{name} grad")


@pytest.mark.parametrize(
    "name", ["Normal", "Bernoulli-logits", "Categorical-probs", "MVN-cov", "Dirichlet", "Independent"]
)
def test_expand(name):
    dt, _ = _build(name, TD, _P[name][1], grad=False)
    de, _ = _build(name, D, _P[name][1], grad=False)
    new = (5,) + tuple(dt.batch_shape)
    et, ee = dt.expand(new), de.expand(new)
    assert type(ee) is type(de)
    assert tuple(ee.batch_shape) == tuple(et.batch_shape) and tuple(ee.event_shape) == tuple(et.event_shape)
    _close(ee.entropy(), et.entropy().detach().numpy())


def _kl_pairs():
    n1, n2 = [_real(3), _pos(3)], [_real(3), _pos(3)]
    g1, g2 = [_pos(3), _pos(3)], [_pos(3), _pos(3)]
    u_in = [np.full(3, 0.2, np.float32), np.full(3, 0.5, np.float32)]
    u_out = [np.full(3, -1.0, np.float32), np.full(3, 3.0, np.float32)]
    N = lambda M, p: M.Normal(p[0], p[1])  # noqa: E731
    L = lambda M, p: M.Laplace(p[0], p[1])  # noqa: E731
    G = lambda M, p: M.Gamma(p[0], p[1])  # noqa: E731
    B = lambda M, p: M.Beta(p[0], p[1])  # noqa: E731
    E = lambda M, p: M.Exponential(p[0])  # noqa: E731
    U = lambda M, p: M.Uniform(p[0], p[0] + p[1])  # noqa: E731
    return {
        "Normal": (N, n1, N, n2),
        "Laplace": (L, n1, L, n2),
        "LogNormal": (lambda M, p: M.LogNormal(p[0], p[1]), n1, lambda M, p: M.LogNormal(p[0], p[1]), n2),
        "Gamma": (G, g1, G, g2),
        "Beta": (B, g1, B, g2),
        "Exponential": (E, g1, E, g2),
        "Uniform-in": (U, u_in, U, u_out),
        "Uniform-inf": (U, u_out, U, u_in),
        "Dirichlet": (lambda M, p: M.Dirichlet(p[0]), [_pos(2, 4)], lambda M, p: M.Dirichlet(p[0]), [_pos(2, 4)]),
        "Bernoulli": (
            lambda M, p: M.Bernoulli(probs=p[0]),
            [np.array([0.0, 0.3, 1.0, 0.6], np.float32)],
            lambda M, p: M.Bernoulli(probs=p[0]),
            [np.array([0.2, 0.0, 1.0, 0.5], np.float32)],
        ),
        "Categorical": (
            lambda M, p: M.Categorical(probs=p[0]),
            [np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]], np.float32)],
            lambda M, p: M.Categorical(logits=p[0]),
            [_real(2, 3)],
        ),
        "OneHotCategorical": (
            lambda M, p: M.OneHotCategorical(logits=p[0]),
            [_real(2, 3)],
            lambda M, p: M.OneHotCategorical(probs=p[0]),
            [_simplex(2, 3)],
        ),
        "MVN": (
            lambda M, p: M.MultivariateNormal(p[0], covariance_matrix=p[1]),
            [_real(2, 3), _spd(3, 2)],
            lambda M, p: M.MultivariateNormal(p[0], scale_tril=p[1]),
            [_real(3), _tril(3)],
        ),
        "Independent": (
            lambda M, p: M.Independent(M.Normal(p[0], p[1]), 1),
            [_real(2, 3), _pos(2, 3)],
            lambda M, p: M.Independent(M.Normal(p[0], p[1]), 1),
            [_real(2, 3), _pos(2, 3)],
        ),
        "Normal-Laplace": (N, n1, L, n2),
        "Laplace-Normal": (L, n1, N, n2),
        "Gamma-Normal": (G, g1, N, n2),
        "Gamma-Exponential": (G, g1, E, g2),
        "Exponential-Gamma": (E, g1, G, g2),
        "Exponential-Normal": (E, g1, N, n2),
        "Beta-Normal": (B, g1, N, n2),
        "Beta-Gamma": (B, g1, G, g2),
        "Beta-Exponential": (B, g1, E, g2),
        "Beta-Uniform": (B, g1, U, u_out),
        "Uniform-Normal": (U, u_in, N, n2),
        "Uniform-Beta": (U, u_in, B, g2),
        "Uniform-Gamma": (U, u_in, G, g2),
        "Uniform-Exponential": (U, u_in, E, g2),
        "Normal-Gamma": (N, n1, G, g2),
    }


_KL = _kl_pairs()


@pytest.mark.parametrize("name", list(_KL))
def test_kl_divergence_matches_torch(name):
    fp, pp, fq, pq = _KL[name]

    def make(M, lib):
        ps = [lib(p, requires_grad=True) for p in pp]
        qs = [lib(p, requires_grad=True) for p in pq]
        return fp(M, ps), fq(M, qs), ps + qs

    pt, qt, tt = make(TD, torch.tensor)
    pe, qe, te = make(D, ej.tensor)
    kt, ke = TD.kl_divergence(pt, qt), D.kl_divergence(pe, qe)
    _close(ke, kt.detach().numpy(), msg=name)
    finite = torch.isfinite(kt)
    if finite.any():
        kt[finite].sum().backward()
        ke_f = ej.where(ej.tensor(finite.numpy()), ke, 0.0)
        ke_f.sum().backward()
        for a, b in zip(te, tt):
            if b.grad is not None:
                _close(a.grad, b.grad.numpy(), rtol=2e-4, atol=1e-4, msg=f"{name} grad")


def test_kl_unknown_pair_and_register_kl():
    p = D.Normal(0.0, 1.0)
    q = D.Categorical(logits=ej.zeros(3))
    with pytest.raises(
        NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type Categorical"
    ):
        D.kl_divergence(p, q)

    class MyNormal(D.Normal):
        pass

    # subclasses find the parent's KL; a registration for the subclass takes precedence
    assert float(D.kl_divergence(MyNormal(1.0, 1.0), D.Normal(0.0, 1.0))) == pytest.approx(0.5)

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return ej.tensor(42.0)

    assert float(D.kl_divergence(MyNormal(1.0, 1.0), D.Normal(0.0, 1.0))) == 42.0
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)


# ---- sampling --------------------------------------------------------------------------------

_N = 20000


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Normal(ej.tensor([0.5, -1.0]), ej.tensor([1.0, 2.0])),
        lambda: D.Uniform(ej.tensor([0.0, -2.0]), ej.tensor([1.0, 3.0])),
        lambda: D.Laplace(ej.tensor([0.5, -1.0]), ej.tensor([1.0, 0.5])),
        lambda: D.Exponential(ej.tensor([0.5, 2.0])),
        lambda: D.Gamma(ej.tensor([0.5, 3.0]), ej.tensor([1.0, 2.0])),
        lambda: D.Beta(ej.tensor([0.5, 3.0]), ej.tensor([2.0, 1.5])),
        lambda: D.LogNormal(ej.tensor([0.0, 0.3]), ej.tensor([0.3, 0.5])),
        lambda: D.Bernoulli(probs=ej.tensor([0.2, 0.7])),
        lambda: D.Categorical(probs=ej.tensor([[0.2, 0.3, 0.5], [0.0, 0.9, 0.1]])),
        lambda: D.OneHotCategorical(probs=ej.tensor([0.2, 0.3, 0.5])),
        lambda: D.Dirichlet(ej.tensor([0.5, 1.0, 2.0])),
        lambda: D.MultivariateNormal(ej.tensor([1.0, -1.0]), covariance_matrix=ej.tensor([[2.0, 0.6], [0.6, 1.0]])),
        lambda: D.Independent(D.Normal(ej.zeros(2, 3), ej.ones(2, 3) * 2), 2),
    ],
)
def test_sample_statistics(make):
    ej.manual_seed(0)
    d = make()
    s = d.sample((_N,))
    assert tuple(s.shape) == (_N,) + tuple(d.batch_shape) + tuple(d.event_shape)
    x = s.numpy().astype(np.float64)
    if isinstance(d, D.Categorical):
        p = d.probs.numpy()
        freq = np.stack([(x == k).mean(0) for k in range(p.shape[-1])], -1)
        np.testing.assert_allclose(freq, p, atol=0.015)
        assert not (x[:, 1] == 0).any()  # probability 0 is never drawn
        return
    mean, var = d.mean.numpy(), d.variance.numpy()
    se = np.sqrt(var / _N)
    assert (np.abs(x.mean(0) - mean) < 5 * se + 1e-6).all(), (x.mean(0), mean)
    np.testing.assert_allclose(x.var(0), var, rtol=0.08, atol=1e-3)
    if isinstance(d, D.MultivariateNormal):
        np.testing.assert_allclose(np.cov(x.T), d.covariance_matrix.numpy(), rtol=0.08, atol=0.03)
    lp = d.log_prob(s[:100])  # samples lie in the support (validation is on)
    assert np.isfinite(lp.numpy()).all()


def test_sample_is_seeded_and_off_the_tape():
    loc = ej.tensor([0.0, 1.0], requires_grad=True)
    d = D.Normal(loc, 1.0)
    ej.manual_seed(3)
    a = d.sample((4,))
    ej.manual_seed(3)
    b = d.sample((4,))
    assert not a.requires_grad
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = d.sample((4,))
    assert not np.array_equal(a.numpy(), c.numpy())


def test_rsample_gradients():
    loc = ej.tensor([0.5, -1.0], requires_grad=True)
    scale = ej.tensor([1.0, 2.0], requires_grad=True)
    ej.manual_seed(1)
    x = D.Normal(loc, scale).rsample((3,))
    x.sum().backward()
    eps = (x.detach() - loc.detach()) / scale.detach()
    _close(loc.grad, [3.0, 3.0])
    _close(scale.grad, eps.sum(0).numpy())
    # MVN: d/dloc = 1; Uniform: d/dlow + d/dhigh = 1
    m_loc = ej.zeros(2, requires_grad=True)
    tril = ej.tensor([[1.0, 0.0], [0.5, 2.0]], requires_grad=True)
    D.MultivariateNormal(m_loc, scale_tril=tril).rsample((5,)).sum().backward()
    _close(m_loc.grad, [5.0, 5.0])
    assert tril.grad is not None
    # Gamma (implicit reparameterization): d E[x] / d alpha = 1 / rate
    alpha = ej.tensor([0.7, 3.0], requires_grad=True)
    ej.manual_seed(2)
    D.Gamma(alpha, ej.tensor([1.0, 2.0])).rsample((_N,)).mean(0).sum().backward()
    _close(alpha.grad, [1.0, 0.5], rtol=0.05)
    # Beta: d E[x] / d a = b / (a + b)^2
    a = ej.tensor(2.0, requires_grad=True)
    D.Beta(a, ej.tensor(3.0)).rsample((_N,)).mean().backward()
    _close(a.grad, 3.0 / 25.0, rtol=0.08)


def _draw_all():
    loc = ej.tensor([0.5, -1.0])
    scale = ej.tensor([1.0, 2.0])
    logits = ej.tensor([[0.1, 0.5, -0.3], [1.0, 0.0, 0.0]])
    return (
        D.Normal(loc, scale).rsample((3,)),
        D.Categorical(logits=logits).sample((4,)),
        D.Bernoulli(logits=loc).sample((2,)),
        D.Gamma(scale, 1.0).rsample(),
        D.Dirichlet(ej.tensor([1.0, 2.0, 0.5])).sample((2,)),
        D.MultivariateNormal(loc, scale_tril=ej.diag(scale)).rsample((2,)),
        D.Laplace(loc, scale).sample(),
        D.OneHotCategorical(logits=logits).sample(),
    )


def test_same_seed_same_samples_in_every_mode():
    ej.manual_seed(7)
    ref = [t.numpy() for t in _draw_all()]
    f = ej.compile(_draw_all)
    ej.manual_seed(7)
    got = [t.numpy() for t in f()]
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    ej.manual_seed(7)
    with ej.lazy():
        outs = _draw_all()
        lazy = [t.numpy() for t in outs]
    for a, b in zip(lazy, ref):
        np.testing.assert_array_equal(a, b)
    # the generator advanced identically
    ej.manual_seed(7)
    _draw_all()
    after = ej.randn(2).numpy()
    ej.manual_seed(7)
    f()
    np.testing.assert_array_equal(ej.randn(2).numpy(), after)


# ---- validation --------------------------------------------------------------------------------


def test_validation_messages_match_torch():
    def msg(fn):
        with pytest.raises(ValueError) as e:
            fn()
        return str(e.value).split("\n")[0]

    cases = [
        lambda M, T: M.Normal(T([0.0, 1.0]), T([1.0, -1.0])),
        lambda M, T: M.Bernoulli(probs=T([1.5])),
        lambda M, T: M.Categorical(probs=T([0.5, -0.5])),
        lambda M, T: M.Normal(T([0.0, 1.0]), T([1.0, 1.0])).log_prob(T([0.0, 1.0, 2.0])),
        lambda M, T: M.Gamma(T([1.0]), T([1.0])).log_prob(T([-1.0])),
        lambda M, T: M.Bernoulli(probs=T([0.5])).log_prob(T([0.5])),
        lambda M, T: M.Categorical(logits=T([0.0, 0.0])).log_prob(T([3])),
        lambda M, T: M.MultivariateNormal(T([0.0, 0.0]), covariance_matrix=T([[1.0, 2.0], [2.0, 1.0]])),
        lambda M, T: M.Independent(M.Normal(T([0.0]), T([1.0])), 2),
        lambda M, T: M.Categorical(),
        lambda M, T: M.MultivariateNormal(T([0.0]), T([[1.0]]), scale_tril=T([[1.0]])),
        lambda M, T: M.Dirichlet(T([1.0, 0.0])),
    ]
    for c in cases:
        assert msg(lambda: c(D, ej.tensor)) == msg(lambda: c(TD, torch.tensor))
    D.Normal(ej.tensor([0.0]), ej.tensor([-1.0]), validate_args=False)  # off: no check


def test_set_default_validate_args():
    try:
        D.Distribution.set_default_validate_args(False)
        d = D.Normal(ej.tensor([0.0]), ej.tensor([-1.0]))
        assert not d._validate_args
        with pytest.raises(ValueError):
            D.Distribution.set_default_validate_args(3)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="satisfy the constraint"):
        D.Normal(ej.tensor([0.0]), ej.tensor([-1.0]))


def test_validation_skips_value_checks_when_captured():
    @ej.compile
    def f(scale, v):
        d = D.Normal(ej.zeros_like(scale), scale)  # would fail eagerly
        return d.log_prob(v)

    out = f(ej.tensor([-1.0, 1.0]), ej.tensor([0.0, 0.0]))
    assert np.isnan(out.numpy()[0])
    with pytest.raises(ValueError, match="broadcastable"):  # shape checks still run
        f(ej.tensor([1.0, 1.0]), ej.tensor([0.0, 0.0, 0.0]))
    with ej.lazy():
        lp = D.Bernoulli(probs=ej.tensor([0.5])).log_prob(ej.tensor([0.5]))
        assert np.isfinite(lp.numpy()).all()


def test_repr_shapes_and_misc():
    d = D.Normal(ej.tensor([0.0, 1.0]), 1.0)
    assert repr(d) == repr(TD.Normal(torch.tensor([0.0, 1.0]), 1.0))
    assert repr(D.Normal(0.0, 1.0)) == repr(TD.Normal(0.0, 1.0))
    assert tuple(D.Normal(0.0, 1.0).sample().shape) == ()
    assert isinstance(d.batch_shape, ej.Size)
    c = D.Categorical(logits=ej.zeros(2, 3))
    assert c.enumerate_support().shape == (3, 2)
    assert c.support.upper_bound == 2
    assert D.Bernoulli(probs=ej.tensor([0.3, 0.5])).enumerate_support(expand=False).shape == (2, 1)
    assert D.constraints.is_dependent(D.Uniform.support)
    assert D.Independent(D.Normal(ej.zeros(2, 3), 1.0), 1).event_shape == (3,)
    with pytest.raises(NotImplementedError):
        D.Categorical(logits=ej.zeros(3)).rsample()
    _close(D.Normal(0.0, 2.0).perplexity(), TD.Normal(0.0, 2.0).perplexity().numpy())


# ---- training ------------------------------------------------------------------------------------


class _VAE(ej.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = ej.nn.Linear(6, 4)
        self.dec = ej.nn.Linear(2, 6)

    def forward(self, x):
        h = self.enc(x)
        loc, log_scale = h[:, :2], h[:, 2:]
        q = D.Normal(loc, log_scale.exp())
        z = q.rsample()
        recon = ((self.dec(z) - x) ** 2).sum(-1).mean()
        kl = D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(-1).mean()
        return recon + kl


def _train_vae(mode: str, steps: int = 4):
    ej.manual_seed(0)
    model = _VAE()
    opt = ej.optim.Adam(model.parameters(), lr=1e-2)
    x = ej.tensor(np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32))

    def step(x):
        opt.zero_grad()
        loss = model(x)
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if mode == "compiled" else step
    ej.manual_seed(1)
    losses = []
    for _ in range(steps):
        if mode == "lazy":
            with ej.lazy():
                losses.append(step(x).item())
        else:
            losses.append(fn(x).item())
    return losses, model, fn


def test_vae_training_agrees_across_modes():
    ref, ref_model, _ = _train_vae("eager")
    assert ref[-1] < ref[0]
    comp, comp_model, fn = _train_vae("compiled")
    lazy, lazy_model, _ = _train_vae("lazy")
    np.testing.assert_allclose(comp, ref, rtol=1e-5)
    np.testing.assert_allclose(lazy, ref, rtol=1e-5)
    assert fn.stats()["traces"] == 1
    for m in (comp_model, lazy_model):
        for a, b in zip(m.parameters(), ref_model.parameters()):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def _reinforce(mode: str, steps: int = 3):
    ej.manual_seed(0)
    policy = ej.nn.Linear(4, 3)
    opt = ej.optim.SGD(policy.parameters(), lr=0.1)
    obs = ej.tensor(np.random.default_rng(2).normal(size=(16, 4)).astype(np.float32))

    def step(obs):
        opt.zero_grad()
        dist = D.Categorical(logits=policy(obs))
        action = dist.sample()
        reward = (action == 1).float()
        loss = -(dist.log_prob(action) * reward).mean() - 0.01 * dist.entropy().mean()
        loss.backward()
        opt.step()
        return loss, action

    fn = ej.compile(step) if mode == "compiled" else step
    ej.manual_seed(5)
    out = []
    for _ in range(steps):
        if mode == "lazy":
            with ej.lazy():
                loss, a = step(obs)
                out.append((loss.item(), a.numpy()))
        else:
            loss, a = fn(obs)
            out.append((loss.item(), a.numpy()))
    return out, policy


def test_reinforce_step_agrees_across_modes():
    ref, ref_policy = _reinforce("eager")
    for mode in ("compiled", "lazy"):
        got, policy = _reinforce(mode)
        for (la, aa), (lb, ab) in zip(got, ref):
            np.testing.assert_array_equal(aa, ab)
            assert la == pytest.approx(lb, rel=1e-5)
        w, ref_w = policy.weight.detach().numpy(), ref_policy.weight.detach().numpy()
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)
    # the score-function gradient matches torch's for the same actions
    w = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    obs = np.random.default_rng(4).normal(size=(5, 4)).astype(np.float32)
    act = np.array([0, 1, 2, 1, 1])
    we, wt = ej.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    (-D.Categorical(logits=ej.tensor(obs) @ we.T).log_prob(ej.tensor(act)).mean()).backward()
    (-TD.Categorical(logits=torch.tensor(obs) @ wt.T).log_prob(torch.tensor(act)).mean()).backward()
    _close(we.grad, wt.grad.numpy())
