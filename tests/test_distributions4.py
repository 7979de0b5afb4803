"""eagerjax.distributions, part 4, against torch: the transforms added with part 3 (Softplus,
Independent, Reshape, LowerCholesky, CumulativeDistribution), ``biject_to``/``transform_to``, the
new constraints, and the argument errors and reprs of part 3's distributions."""

from __future__ import annotations

import numpy as np
import pytest
from test_distributions2 import _close, _first_line, _np  # noqa: F401 - the shared comparison helpers

import eagerjax as ej
import eagerjax.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(4)


def _real(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# ---- transforms ------------------------------------------------------------------------------------


def _transforms(M, lib):
    T = M.transforms
    return {
        "Softplus": T.SoftplusTransform(),
        "Independent": T.IndependentTransform(T.AffineTransform(lib([1.0, 2.0, 3.0, 4.0]), 2.0), 1),
        "Reshape": T.ReshapeTransform((4,), (2, 2)),
        "CDF": T.CumulativeDistributionTransform(M.Normal(lib(0.5), lib(2.0))),
        "Compose-Softplus": T.ComposeTransform([T.SoftplusTransform(), T.PowerTransform(lib(0.5))]),
    }


@pytest.mark.parametrize("name", list(_transforms(D, ej.tensor)))
def test_transform_forward_inverse_and_jacobian_match_torch(name):
    tt, te = _transforms(TD, torch.tensor)[name], _transforms(D, ej.tensor)[name]
    x_np = _real(3, 4) * 3
    xt, xe = torch.tensor(x_np, requires_grad=True), ej.tensor(x_np, requires_grad=True)
    yt, ye = tt(xt), te(xe)
    _close(ye, yt, msg=name)
    _close(te.inv(ye), x_np, rtol=1e-3, atol=1e-4, msg=f"{name} round trip")
    assert repr(te.domain) == repr(tt.domain) and repr(te.codomain) == repr(tt.codomain)
    assert te.bijective == tt.bijective and repr(te) == repr(tt)
    assert tuple(te.forward_shape((3, 4))) == tuple(tt.forward_shape((3, 4)))
    assert tuple(te.inverse_shape(tuple(yt.shape))) == tuple(tt.inverse_shape(yt.shape))
    lt, le = tt.log_abs_det_jacobian(xt, yt), te.log_abs_det_jacobian(xe, ye)
    _close(le, lt, msg=f"{name} log|det J|")
    ((yt * 1.5).sum() + lt.sum()).backward()
    ((ye * 1.5).sum() + le.sum()).backward()
    _close(xe.grad, xt.grad, rtol=2e-4, atol=1e-4, msg=f"{name} grad")


def test_softplus_inverse_is_stable_and_lower_cholesky():
    T = D.transforms
    y = ej.tensor([1e-6, 0.5, 50.0, 1e4])
    _close(T.SoftplusTransform().inv(y), TD.SoftplusTransform().inv(torch.tensor(y.numpy())), rtol=1e-5)
    x = _real(2, 3, 3)
    le, lt = T.LowerCholeskyTransform(), TD.LowerCholeskyTransform()
    _close(le(ej.tensor(x)), lt(torch.tensor(x)))
    _close(le.inv(le(ej.tensor(x))), np.tril(x))
    assert not le.bijective and le == T.LowerCholeskyTransform() and le != T.SoftplusTransform()
    assert bool(D.constraints.lower_cholesky.check(le(ej.tensor(x))).all())
    assert T.SoftplusTransform().sign == 1 and T.IndependentTransform(T.ExpTransform(), 1).sign == 1
    assert D.SoftplusTransform is T.SoftplusTransform


def test_transform_shapes_cache_and_errors():
    T, TT = D.transforms, TD.transforms
    for mk in (lambda M: M.ReshapeTransform((2, 3), (5,)),):
        assert _first_line(lambda: mk(T)) == _first_line(lambda: mk(TT))
    for what, shape in (("forward_shape", (4, 3, 2)), ("forward_shape", (5,)), ("inverse_shape", (4, 3, 2))):
        e = _first_line(lambda: getattr(T.ReshapeTransform((2, 3), (6,)), what)(shape))
        assert e == _first_line(lambda: getattr(TT.ReshapeTransform((2, 3), (6,)), what)(shape))
    ind = T.IndependentTransform(T.TanhTransform(), 2, cache_size=1)
    assert ind.base_transform._cache_size == 1 and ind.with_cache(1) is ind
    assert ind.with_cache(0)._cache_size == 0 and ind.event_dim == 2
    x = ej.tensor([[30.0, 0.1]])
    assert ind.inv(ind(x)) is x  # the cache skips tanh's saturated inverse
    with pytest.raises(ValueError, match="Too few dimensions on input"):
        ind(ej.tensor([1.0]))
    r = T.ReshapeTransform((2, 2), (4,))
    assert tuple(r.log_abs_det_jacobian(ej.zeros(5, 2, 2), ej.zeros(5, 4)).shape) == (5,)
    assert r.with_cache(1)._cache_size == 1
    cdf = T.CumulativeDistributionTransform(D.Normal(0.0, 1.0))
    assert cdf.with_cache(1).distribution is cdf.distribution and cdf.sign == 1


def test_transformed_distribution_with_new_transforms():
    # a matrix-valued Normal through a reshape and a lower-Cholesky map, and a copula-style CDF
    mk = lambda M, lib: M.TransformedDistribution(  # noqa: E731
        M.Normal(lib(_LOC), lib(_SCALE)),
        [M.transforms.ReshapeTransform((4,), (2, 2)), M.transforms.SoftplusTransform()],
    )
    de, dt = mk(D, ej.tensor), mk(TD, torch.tensor)
    assert tuple(de.event_shape) == tuple(dt.event_shape) == (2, 2)
    torch.manual_seed(4)  # (a fixed sample to score)
    v = dt.sample((3,)).numpy()
    _close(de.log_prob(ej.tensor(v)), dt.log_prob(torch.tensor(v)))
    ej.manual_seed(0)
    assert tuple(de.rsample((5,)).shape) == (5, 3, 2, 2)


_LOC = _real(3, 4)
_SCALE = np.abs(_real(3, 4)) + 0.5


# ---- biject_to / transform_to ------------------------------------------------------------------------


def _constraints(C, lib):
    return [
        C.real,
        C.positive,
        C.nonnegative,
        C.greater_than(2.0),
        C.greater_than_eq(-1.0),
        C.less_than(1.0),
        C.unit_interval,
        C.interval(-1.0, 3.0),
        C.half_open_interval(0.0, 1.0),
        C.interval(lib([0.0, 1.0, 2.0, 3.0]), lib([1.0, 3.0, 2.5, 7.0])),
        C.simplex,
        C.real_vector,
        C.independent(C.positive, 1),
        C.lower_cholesky,
    ]


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
def test_constraint_registries_match_torch(registry):
    re_, rt = getattr(D, registry), getattr(TD, registry)
    for ce, ct in zip(_constraints(D.constraints, ej.tensor), _constraints(TD.constraints, torch.tensor)):
        try:
            tt = rt(ct)
        except NotImplementedError:
            assert _first_line(lambda: re_(ce), NotImplementedError) == _first_line(lambda: rt(ct), NotImplementedError)
            continue
        te = re_(ce)
        assert repr(te) == repr(tt), repr(ce)
        x = _real(3, 4, 4) if ce is D.constraints.lower_cholesky else _real(3, 4)
        xt, xe = torch.tensor(x, requires_grad=True), ej.tensor(x, requires_grad=True)
        yt, ye = tt(xt), te(xe)
        _close(ye, yt, msg=repr(ce))
        assert bool(ce.check(ye).all()), repr(ce)  # lands inside the constraint
        if te.bijective:
            lt, le = tt.log_abs_det_jacobian(xt, yt), te.log_abs_det_jacobian(xe, ye)
            _close(le, lt, msg=repr(ce))
            (ye.sum() + le.sum()).backward()
            (yt.sum() + lt.sum()).backward()
            _close(xe.grad, xt.grad, rtol=2e-4, atol=1e-4, msg=repr(ce))


def test_registry_api():
    reg = D.constraint_registry.ConstraintRegistry()
    with pytest.raises(TypeError, match="Expected constraint to be either a Constraint subclass or instance"):
        reg.register(3, lambda c: None)

    @reg.register(D.constraints.positive)
    def _soft(constraint):
        return D.transforms.SoftplusTransform()

    assert isinstance(reg(D.constraints.greater_than(5.0)), D.transforms.SoftplusTransform)  # keyed by class
    e = _first_line(lambda: D.biject_to(D.constraints.boolean), NotImplementedError)
    assert e == _first_line(lambda: TD.biject_to(TD.constraints.boolean), NotImplementedError)
    # an unconstrained parameter optimized into the simplex, compiled
    u = ej.zeros(3, requires_grad=True)
    opt = ej.optim.SGD([u], lr=1.0)
    target = ej.tensor([0.7, 0.2, 0.1])

    @ej.compile
    def step():
        opt.zero_grad()
        p = D.transform_to(D.constraints.simplex)(u)
        loss = (p - target).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    losses = [float(step()) for _ in range(30)]
    assert losses[-1] < 0.1 * losses[0]


# ---- constraints, errors, reprs ----------------------------------------------------------------------


def test_new_constraints():
    C, TC = D.constraints, TD.constraints
    v = np.array([[1.0, 2.0, 0.0], [3.0, -1.0, 1.0], [2.0, 2.0, 2.0]], np.float32)
    np.testing.assert_array_equal(
        C.multinomial(4).check(ej.tensor(v)).numpy(), TC.multinomial(4).check(torch.tensor(v))
    )
    m, mt = C.MixtureSameFamilyConstraint(C.positive), TC.MixtureSameFamilyConstraint(TC.positive)
    np.testing.assert_array_equal(m.check(ej.tensor(v)).numpy(), mt.check(torch.tensor(v)))
    assert repr(m) == repr(mt) and m.event_dim == 0 and not m.is_discrete
    assert C.multinomial(3).is_discrete and C.multinomial(3).event_dim == 1
    with pytest.raises(AssertionError, match="base_constraint must be a Constraint"):
        C.MixtureSameFamilyConstraint(1)


def test_validation_messages_match_torch():
    cases = [
        lambda M, T: M.NegativeBinomial(T([-1.0]), probs=T([0.5])),
        lambda M, T: M.NegativeBinomial(T([2.0]), probs=T([1.0])),
        lambda M, T: M.NegativeBinomial(T([2.0]), probs=T([0.5])).log_prob(T([1.5])),
        lambda M, T: M.NegativeBinomial(2.0),
        lambda M, T: M.Multinomial(3, probs=T([-0.1, 1.1])),
        lambda M, T: M.Multinomial(3, probs=T([0.5, 0.5])).log_prob(T([4.0, 1.0])),
        lambda M, T: M.Weibull(T([1.0]), T([-1.0])),
        lambda M, T: M.Weibull(T([1.0]), T([1.0])).log_prob(T([-1.0])),
        lambda M, T: M.HalfCauchy(T([0.0])),
        lambda M, T: M.Pareto(T([1.0]), T([1.0])).log_prob(T([0.5])),
        lambda M, T: M.LogisticNormal(T([0.0]), T([-1.0])),
        lambda M, T: M.RelaxedBernoulli(T(0.5), probs=T([1.5])),
        lambda M, T: M.RelaxedBernoulli(T(0.5), probs=T([0.5])).log_prob(T([1.5])),
        lambda M, T: M.RelaxedOneHotCategorical(T(0.5), probs=T([-0.1, 1.1])),
        lambda M, T: M.ContinuousBernoulli(T([1.5]), validate_args=True),
        lambda M, T: M.ContinuousBernoulli(T([0.5])).log_prob(T([1.5])),
        lambda M, T: M.LowRankMultivariateNormal(T([0.0, 0.0]), T([[1.0], [1.0]]), T([1.0, -1.0])),
        lambda M, T: M.LowRankMultivariateNormal(T(0.0), T([[1.0]]), T([1.0])),
        lambda M, T: M.LowRankMultivariateNormal(T([0.0, 0.0]), T([1.0, 1.0]), T([1.0, 1.0])),
        lambda M, T: M.LowRankMultivariateNormal(T([0.0, 0.0]), T([[1.0, 1.0, 1.0]]), T([1.0, 1.0])),
        lambda M, T: M.LowRankMultivariateNormal(T([0.0, 0.0]), T([[1.0], [1.0]]), T([1.0])),
        lambda M, T: M.LowRankMultivariateNormal(T([[0.0, 0.0]] * 3), T([[[1.0], [1.0]]] * 2), T([1.0, 1.0])),
        lambda M, T: M.VonMises(T([0.0]), T([0.0])),
        lambda M, T: M.Kumaraswamy(T([1.0]), T([-1.0])),
        lambda M, T: M.Kumaraswamy(T([1.0]), T([1.0])).log_prob(T([1.5])),
        lambda M, T: M.MixtureSameFamily(M.Categorical(T([0.5, 0.5])), M.Normal(T([0.0, 1.0, 2.0]), 1.0)),
        lambda M, T: M.MixtureSameFamily(M.Normal(0.0, 1.0), M.Normal(T([0.0]), 1.0)),
        lambda M, T: M.MixtureSameFamily(M.Categorical(T([0.5, 0.5])), 3),
        lambda M, T: M.MixtureSameFamily(M.Categorical(T([[0.5, 0.5]] * 2)), M.Normal(T([[0.0, 1.0]] * 3), 1.0)),
    ]
    for c in cases:
        assert _first_line(lambda: c(D, ej.tensor)) == _first_line(lambda: c(TD, torch.tensor))
    e = _first_line(lambda: D.Multinomial(ej.tensor(3), probs=ej.tensor([0.5, 0.5])), NotImplementedError)
    assert e == _first_line(
        lambda: TD.Multinomial(torch.tensor(3), probs=torch.tensor([0.5, 0.5])), NotImplementedError
    )
    D.NegativeBinomial(ej.tensor([-1.0]), probs=ej.tensor([0.5]), validate_args=False)  # off: no check

    @ej.compile
    def traced(p):  # values cannot be read inside a step: only shapes are checked there
        return D.Weibull(p, p).mean

    assert not np.isfinite(traced(ej.tensor([-1.0])).numpy()).any()  # garbage in, no error raised


def test_repr_and_misc():
    for mk in (
        lambda M, T: M.Multinomial(3, probs=T([0.5, 0.5])),
        lambda M, T: M.NegativeBinomial(T([3.0, 2.0]), probs=T([0.5, 0.5])),
        lambda M, T: M.Weibull(T([1.0]), T([2.0])),
        lambda M, T: M.Pareto(2.0, 3.0),
        lambda M, T: M.RelaxedBernoulli(T(0.5), probs=T([0.2])),
        lambda M, T: M.ContinuousBernoulli(T([0.3])),
        lambda M, T: M.LowRankMultivariateNormal(T([0.0, 0.0]), T([[1.0], [2.0]]), T([1.0, 1.0])),
        lambda M, T: M.VonMises(T([0.0]), T([1.0])),
        lambda M, T: M.MixtureSameFamily(M.Categorical(T([0.5, 0.5])), M.Normal(T([0.0, 1.0]), T([1.0, 1.0]))),
    ):
        assert repr(mk(D, ej.tensor)) == repr(mk(TD, torch.tensor))
    for cls in ("Weibull", "HalfCauchy", "Pareto", "LogisticNormal", "RelaxedBernoulli", "Kumaraswamy"):
        assert issubclass(getattr(D, cls), D.TransformedDistribution)
    assert not D.MixtureSameFamily.has_rsample and not D.VonMises.has_rsample
    assert D.constraints.is_dependent(D.Multinomial.support) and D.constraints.is_dependent(D.Pareto.support)
    m = D.MixtureSameFamily(D.Categorical(ej.tensor([0.5, 0.5])), D.Normal(ej.tensor([0.0, 1.0]), 1.0))
    assert m.mixture_distribution is m._mixture_distribution and isinstance(m.component_distribution, D.Normal)
    _close(
        m.cdf(ej.tensor([0.3])),
        TD.MixtureSameFamily(TD.Categorical(torch.tensor([0.5, 0.5])), TD.Normal(torch.tensor([0.0, 1.0]), 1.0)).cdf(
            torch.tensor([0.3])
        ),
    )
    for what in ("entropy", "cdf", "icdf"):
        with pytest.raises(NotImplementedError):
            getattr(D.VonMises(ej.tensor([0.0]), ej.tensor([1.0])), what)(*([] if what == "entropy" else [ej.zeros(1)]))
    cb = D.ContinuousBernoulli(logits=ej.tensor([-1.0, 0.0005, 2.0]))
    cbt = TD.ContinuousBernoulli(logits=torch.tensor([-1.0, 0.0005, 2.0]))
    (x,) = cb._natural_params
    _close(cb._log_normalizer(x), cbt._log_normalizer(*cbt._natural_params))
