"""eagerjax.distributions, part 5, against torch: Wishart, LKJCholesky, CorrCholeskyTransform and
PositiveDefiniteTransform, the ``corr_cholesky``/``positive_semidefinite`` constraints and their
``biject_to``/``transform_to`` entries: values and gradients (torch's seeded samples scored by
both), sample statistics, the same draws eager / ``ej.compile`` / ``ej.lazy()``, training steps
in every mode, and errors in torch's words."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_distributions2 import _calls as _calls2
from test_distributions2 import _close, _first_line, same_draws_in_every_mode
from test_distributions3 import _seeded_torch  # noqa: F401 - autouse: torch seeded per test

import eagerjax as ej
import eagerjax.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(5)
_N = 20000


def _real(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _spd(n, *batch):
    a = RNG.normal(size=batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) / n + np.eye(n)).astype(np.float32)


def _tril(n, *batch):
    return np.linalg.cholesky(_spd(n, *batch)).astype(np.float32)


def _torch_sample(dt, n):
    # torch 2.13's Wishart warns "Singular sample detected." on every draw (it tests the
    # opposite of what it means); the samples themselves are fine to score
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return dt.sample((n,)).numpy()


# ---- values and gradients ------------------------------------------------------------------------

# (constructor from a module and tensors, params as numpy)
_P = {
    "Wishart-cov": (
        lambda M, p: M.Wishart(p[0], covariance_matrix=p[1]),
        [np.array([3.5, 6.0], np.float32), _spd(3, 2)],
    ),
    "Wishart-precision": (lambda M, p: M.Wishart(p[0], precision_matrix=p[1]), [np.float32(4.0), _spd(2)]),
    # (through tril(): the two libraries' gradients of the unused upper triangle differ)
    "Wishart-tril-broadcast": (
        lambda M, p: M.Wishart(p[0], scale_tril=p[1].tril()),
        [np.array([[5.0], [2.5]], np.float32), _tril(2, 3)],
    ),
    "Wishart-number-df": (lambda M, p: M.Wishart(7.0, covariance_matrix=p[0]), [_spd(4)]),
    "LKJ-scalar": (lambda M, p: M.LKJCholesky(3, p[0]), [np.float32(1.5)]),
    "LKJ-batch": (lambda M, p: M.LKJCholesky(4, p[0]), [np.array([0.5, 1.0, 3.0], np.float32)]),
    "LKJ-dim2-default": (lambda M, p: M.LKJCholesky(2), []),
}
_PROPS = ("mean", "variance", "stddev", "mode", "covariance_matrix", "precision_matrix", "scale_tril")


def _build(name, mod, grad):
    ctor, params = _P[name]
    lib = ej.tensor if mod is D else torch.tensor
    ts = [lib(p, requires_grad=grad) for p in params]
    return ctor(mod, ts), ts


@pytest.mark.parametrize("name", list(_P))
def test_values_and_gradients_match_torch(name):
    dt, tt = _build(name, TD, grad=True)
    de, te = _build(name, D, grad=True)
    assert tuple(de.batch_shape) == tuple(dt.batch_shape)
    assert tuple(de.event_shape) == tuple(dt.event_shape)
    assert de.has_rsample == dt.has_rsample
    assert repr(de.support) == repr(dt.support) and repr(de) == repr(dt)
    v = _torch_sample(dt, 3)  # torch's seeded draws, scored by both
    # (neither has cdf/icdf: the value passed as probs is never used)
    rt = _calls2(dt, torch.tensor(v), torch.tensor(v), _PROPS)
    re_ = _calls2(de, ej.tensor(v), ej.tensor(v), _PROPS)
    assert set(rt) == set(re_), (set(rt), set(re_))
    assert "log_prob" in rt
    for k in rt:
        _close(re_[k], rt[k], rtol=2e-4, atol=1e-4, msg=f"{name}.{k}")  # (NaN modes agree too)
    keys = [k for k in rt if rt[k].requires_grad and bool(torch.isfinite(rt[k]).all())]
    if not keys:
        return
    sum(((rt[k] * (i + 1)).sum() for i, k in enumerate(keys))).backward()
    sum(((re_[k] * (i + 1)).sum() for i, k in enumerate(keys))).backward()
    for a, b in zip(te, tt):
        if b.grad is not None:
            _close(a.grad, b.grad, rtol=5e-4, atol=2e-4, msg=f"{name} grad")


@pytest.mark.parametrize("name", ["Wishart-cov", "Wishart-precision", "LKJ-batch"])
def test_expand(name):
    dt, _ = _build(name, TD, grad=False)
    de, _ = _build(name, D, grad=False)
    new = (5,) + tuple(dt.batch_shape)
    et, ee = dt.expand(new), de.expand(new)
    assert type(ee) is type(de) and tuple(ee.batch_shape) == tuple(et.batch_shape)
    v = _torch_sample(et, 2)
    _close(ee.log_prob(ej.tensor(v)), et.log_prob(torch.tensor(v)), rtol=2e-4, atol=1e-4)
    assert tuple(ee.sample((3,)).shape) == tuple(_torch_sample(et, 3).shape)
    if isinstance(de, D.Wishart):
        _close(ee.mean, et.mean, rtol=1e-5)
        _close(ee.entropy(), et.entropy(), rtol=1e-5)


def test_wishart_natural_parameters():
    de, _ = _build("Wishart-cov", D, grad=False)
    dt, _ = _build("Wishart-cov", TD, grad=False)
    for a, b in zip(de._natural_params, dt._natural_params):
        _close(a, b, rtol=1e-5)
    _close(de._log_normalizer(*de._natural_params), dt._log_normalizer(*dt._natural_params), rtol=1e-5)


# ---- sampling ------------------------------------------------------------------------------------


def test_wishart_sample_statistics():
    ej.manual_seed(0)
    d = D.Wishart(ej.tensor([3.5, 8.0]), covariance_matrix=ej.tensor(_spd(3, 2)))
    s = d.sample((_N,))
    assert tuple(s.shape) == (_N, 2, 3, 3) and s.dtype == ej.float32 and not s.requires_grad
    x = s.numpy().astype(np.float64)
    mean, var = d.mean.numpy(), d.variance.numpy()
    assert (np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / _N)).all(), (x.mean(0), mean)
    np.testing.assert_allclose(x.var(0), var, rtol=0.15)
    _close(s[:4], s[:4].mT, rtol=0, atol=0)  # exactly symmetric
    assert bool(D.constraints.positive_definite.check(s).all())
    # our draws scored by both libraries
    dt = TD.Wishart(torch.tensor([3.5, 8.0]), covariance_matrix=torch.tensor(d.covariance_matrix.numpy()))
    _close(d.log_prob(s[:50]), dt.log_prob(torch.tensor(s[:50].numpy())), rtol=2e-4, atol=1e-4)


def test_wishart_rsample_is_reparameterized():
    df = ej.tensor(5.0, requires_grad=True)
    cov_np = _spd(2)
    cov = ej.tensor(cov_np, requires_grad=True)
    ej.manual_seed(1)
    D.Wishart(df, covariance_matrix=cov).rsample((_N,)).mean(0).sum().backward()
    _close(df.grad, cov_np.sum(), rtol=0.05)  # d E[X] / d df = sum(cov)
    _close(cov.grad, np.full((2, 2), 5.0), rtol=0.05)  # d E[X] / d cov = df
    w = D.Wishart(ej.tensor([4.0]), scale_tril=ej.tensor(_tril(3)))
    ej.manual_seed(2)
    assert tuple(w.rsample((4, 2), max_try_correction=0).shape) == (4, 2, 1, 3, 3)


def test_wishart_low_df_corrects_singular_samples():
    c = ej.eye(3)
    with pytest.warns(UserWarning, match="Low df values detected") as rec:
        d = D.Wishart(ej.tensor(2.5), covariance_matrix=c)
    with pytest.warns(UserWarning) as rec_t:
        TD.Wishart(torch.tensor(2.5), covariance_matrix=torch.eye(3))
    assert str(rec[0].message) == str(rec_t[0].message)
    bad = []
    for m in (0, 3):
        ej.manual_seed(0)
        bad.append(int((~D.constraints.positive_definite.check(d.rsample((_N,), max_try_correction=m))).sum()))
    assert bad[0] > 50 and bad[1] < bad[0] / 10, bad  # redrawn candidates replace singular ones


def test_lkj_sample_statistics_and_support():
    eta = np.array([0.5, 2.0], np.float32)
    ej.manual_seed(0)
    d = D.LKJCholesky(4, ej.tensor(eta))
    s = d.sample((_N,))
    assert tuple(s.shape) == (_N, 2, 4, 4) and not s.requires_grad and not d.has_rsample
    assert bool(D.constraints.corr_cholesky.check(s).all())
    corr = (s @ s.mT).numpy().astype(np.float64)
    np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0, atol=1e-5)
    # every off-diagonal correlation (the density is exchangeable) is a Beta(eta - 1 + D/2, same)
    # stretched onto (-1, 1): mean 0, variance 1 / (2 eta + D - 1). (torch 2.13's sampler spreads
    # rows >= 2 wider: 0.279 against 0.25 for eta = 0.5.)
    want_var = 1 / (2 * eta + 4 - 1)
    rows, cols = np.tril_indices(4, -1)
    for r in corr[..., rows, cols].transpose(2, 0, 1):
        assert (np.abs(r.mean(0)) < 5 * np.sqrt(want_var / _N)).all()
        np.testing.assert_allclose(r.var(0), want_var, rtol=0.06)
    # our draws scored by both libraries
    dt = TD.LKJCholesky(4, torch.tensor(eta))
    _close(d.log_prob(s[:50]), dt.log_prob(torch.tensor(s[:50].numpy())), rtol=2e-4, atol=1e-4)
    with pytest.raises(NotImplementedError):
        d.rsample()


def test_lkj_density_integrates_to_one():
    # dim 2: L = [[1, 0], [r, sqrt(1 - r^2)]]; the density is over r in (-1, 1)
    r = np.linspace(-0.9995, 0.9995, 4001, dtype=np.float64)
    L = np.zeros((r.size, 2, 2), np.float32)
    L[:, 0, 0], L[:, 1, 0], L[:, 1, 1] = 1.0, r, np.sqrt(1 - r**2)
    for eta in (0.8, 1.0, 3.0):
        p = np.exp(D.LKJCholesky(2, eta).log_prob(ej.tensor(L)).numpy().astype(np.float64))
        assert abs(np.trapezoid(p, r) - 1.0) < 0.02, eta


def _draw_all():
    return (
        D.Wishart(ej.tensor([3.0, 6.0]), covariance_matrix=ej.tensor(_SPD2)).rsample((3,)),
        D.LKJCholesky(3, ej.tensor([0.5, 2.0])).sample((2,)),
        D.CorrCholeskyTransform()(ej.randn(4, 6)),
    )


_SPD2 = _spd(3, 2)


def test_same_seed_same_samples_in_every_mode():
    same_draws_in_every_mode(_draw_all, rtol=1e-5, atol=1e-6)


# ---- every mode: log_prob in a training step, sampling in a step ---------------------------------


def _loss(df, raw_cov, x, eta):
    cov = raw_cov @ raw_cov.mT + ej.eye(3)
    t = D.CorrCholeskyTransform()
    L = t(x)
    lkj = D.LKJCholesky(3, eta)
    w = D.Wishart(df, covariance_matrix=cov)
    target = ej.tensor(_SPD2)
    return (
        -w.log_prob(target).sum()
        - (lkj.log_prob(L) + t.log_abs_det_jacobian(x, L)).sum()
        + w.entropy().sum()
        + D.transform_to(D.constraints.positive_definite)(raw_cov).diagonal(dim1=-2, dim2=-1).sum()
    )


def test_log_prob_training_step_in_every_mode():
    init = [np.array([4.0, 5.0], np.float32), _real(3, 3), _real(2, 3), np.array([1.5, 0.7], np.float32)]

    def run(mode):
        ts = [ej.tensor(a, requires_grad=True) for a in init]
        opt = ej.optim.SGD(ts, lr=0.01)

        def step():
            opt.zero_grad()
            loss = _loss(*ts)
            loss.backward()
            opt.step()
            return loss.detach()

        fn = ej.compile(step) if mode == "compiled" else step
        losses = []
        for _ in range(3):
            if mode == "lazy":
                with ej.lazy():
                    losses.append(fn())
            else:
                losses.append(fn())
        return [float(v) for v in losses] + [t.detach().numpy() for t in ts]

    ref = run("eager")
    tt = [torch.tensor(a, requires_grad=True) for a in init]
    cov_t = tt[1] @ tt[1].mT + torch.eye(3)
    ct = TD.transforms.CorrCholeskyTransform()
    w_t = TD.Wishart(tt[0], covariance_matrix=cov_t)
    L_t = ct(tt[2])
    loss_t = (
        -w_t.log_prob(torch.tensor(_SPD2)).sum()
        - (TD.LKJCholesky(3, tt[3]).log_prob(L_t) + ct.log_abs_det_jacobian(tt[2], L_t)).sum()
        + w_t.entropy().sum()
        + TD.transform_to(TD.constraints.positive_definite)(tt[1]).diagonal(dim1=-2, dim2=-1).sum()
    )
    _close(ref[0], loss_t, rtol=1e-4)  # the first loss is torch's
    for mode in ("compiled", "lazy"):
        for a, b in zip(run(mode), ref):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=mode)


def test_rsample_step_in_every_mode():
    tril = _tril(2)

    def run(mode):
        df = ej.tensor(5.0, requires_grad=True)
        raw = ej.tensor(tril, requires_grad=True)

        def step():
            s = D.Wishart(df, scale_tril=raw.tril()).rsample((8,))
            out = s.diagonal(dim1=-2, dim2=-1).sum()
            out.backward()
            return out.detach()

        ej.manual_seed(3)
        if mode == "compiled":
            out = ej.compile(step)()
        elif mode == "lazy":
            with ej.lazy():
                out = step()
        else:
            out = step()
        return [out.numpy(), df.grad.numpy(), raw.grad.numpy()]

    ref = run("eager")
    assert np.isfinite(ref[1]) and ref[1] != 0
    for mode in ("compiled", "lazy"):
        for a, b in zip(run(mode), ref):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=mode)


# ---- transforms, constraints, registries ----------------------------------------------------------


@pytest.mark.parametrize("shape", [(1,), (3,), (4, 6), (2, 1, 10)])
def test_corr_cholesky_transform_matches_torch(shape):
    te, tt = D.transforms.CorrCholeskyTransform(), TD.transforms.CorrCholeskyTransform()
    x = _real(*shape) * 1.5
    xe, xt = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = te(xe), tt(xt)
    _close(ye, yt, rtol=1e-5, atol=1e-6)
    assert bool(D.constraints.corr_cholesky.check(ye).all())
    _close(te.inv(ye), x, rtol=1e-3, atol=2e-4)
    _close(te.inv(ej.tensor(yt.detach().numpy())), tt.inv(yt.detach()), rtol=1e-4, atol=1e-5)
    le, lt = te.log_abs_det_jacobian(xe, ye), tt.log_abs_det_jacobian(xt, yt)
    _close(le, lt, rtol=1e-5, atol=1e-5)
    assert tuple(te.forward_shape(shape)) == tuple(tt.forward_shape(torch.Size(shape)))
    assert tuple(te.inverse_shape(tuple(yt.shape))) == tuple(tt.inverse_shape(yt.shape))
    w = _real(*yt.shape)
    ((yt * torch.tensor(w)).sum() + lt.sum()).backward()
    ((ye * ej.tensor(w)).sum() + le.sum()).backward()
    _close(xe.grad, xt.grad, rtol=2e-4, atol=1e-4)
    # the inverse's gradient too
    ye2 = ej.tensor(yt.detach().numpy(), requires_grad=True)
    yt2 = yt.detach().clone().requires_grad_(True)
    te.inv(ye2).sum().backward()
    tt.inv(yt2).sum().backward()
    _close(ye2.grad, yt2.grad, rtol=2e-4, atol=1e-4)


def test_corr_cholesky_jacobian_is_the_volume_change():
    # log|det| of d(strict lower triangle of y)/dx, by jax's Jacobian of the forward row
    import jax
    import jax.numpy as jnp

    from eagerjax.distributions._transforms3 import _corr_cholesky

    x = _real(6) * 0.8
    rows, cols = np.tril_indices(4, -1)
    jac = jax.jacfwd(lambda v: _corr_cholesky(v, 4)[rows, cols])(jnp.asarray(x, jnp.float32))
    want = np.linalg.slogdet(np.asarray(jac, np.float64))[1]
    t = D.CorrCholeskyTransform()
    got = t.log_abs_det_jacobian(ej.tensor(x), t(ej.tensor(x)))
    _close(got, want, rtol=1e-4, atol=1e-4)


def test_transforms_api_shapes_and_errors():
    T, TT = D.transforms, TD.transforms
    t = T.CorrCholeskyTransform()
    assert repr(t) == repr(TT.CorrCholeskyTransform())
    assert (t == T.CorrCholeskyTransform()) == (TT.CorrCholeskyTransform() == TT.CorrCholeskyTransform())
    assert T.PositiveDefiniteTransform() == T.PositiveDefiniteTransform()
    assert (
        t.bijective
        and repr(t.domain) == "IndependentConstraint(Real(), 1)"
        and t.codomain is D.constraints.corr_cholesky
    )
    assert t.domain.event_dim == 1 and t.codomain.event_dim == 2
    assert (
        D.CorrCholeskyTransform is T.CorrCholeskyTransform
        and D.PositiveDefiniteTransform is T.PositiveDefiniteTransform
    )
    for n in (2, 4, 5, 7, 8):
        e = _first_line(lambda: t(ej.zeros(n)), (ValueError, RuntimeError))
        assert e == _first_line(lambda: TT.CorrCholeskyTransform()(torch.zeros(n)), (ValueError, RuntimeError)), n
    for what, shape in (
        ("forward_shape", ()),
        ("forward_shape", (4,)),
        ("inverse_shape", (3,)),
        ("inverse_shape", (3, 4)),
    ):
        e = _first_line(lambda: getattr(t, what)(shape))
        assert e == _first_line(lambda: getattr(TT.CorrCholeskyTransform(), what)(torch.Size(shape)))
    with pytest.raises(IndexError):
        t(ej.tensor(0.0))
    with pytest.raises(NotImplementedError):
        t.sign  # noqa: B018
    cached = t.with_cache(1)
    x = ej.randn(3)
    assert cached.inv(cached(x)) is x
    # PositiveDefiniteTransform against torch
    x = _real(2, 3, 3)
    pe, pt = T.PositiveDefiniteTransform(), TT.PositiveDefiniteTransform()
    _close(pe(ej.tensor(x)), pt(torch.tensor(x)), rtol=1e-5)
    _close(pe.inv(pe(ej.tensor(x))), pt.inv(pt(torch.tensor(x))), rtol=1e-3, atol=1e-4)
    assert repr(pe) == repr(pt) and not pe.bijective and repr(pe.codomain) == repr(pt.codomain)


def test_constraints_and_registries_match_torch():
    C, TC = D.constraints, TD.constraints
    assert repr(C.corr_cholesky) == repr(TC.corr_cholesky) and C.corr_cholesky.event_dim == 2
    assert repr(C.positive_semidefinite) == repr(TC.positive_semidefinite) and C.positive_semidefinite.event_dim == 2
    L = TD.LKJCholesky(3, 1.0).sample((4,)).numpy()
    mats = {
        "corr": L,
        "scaled": L * 1.01,
        "upper": np.swapaxes(L, -1, -2),
        "psd": np.array([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.5], [0.5, 1.0]]], np.float32),
        "asym": np.array([[[1.0, 0.5], [0.0, 1.0]]], np.float32),
    }
    for name, m in mats.items():
        for c, tc in ((C.corr_cholesky, TC.corr_cholesky), (C.positive_semidefinite, TC.positive_semidefinite)):
            want = tc.check(torch.tensor(m))
            if want.all() or c is not C.positive_semidefinite:
                np.testing.assert_array_equal(c.check(ej.tensor(m)).numpy(), want.numpy(), err_msg=f"{name} {c}")
            else:  # torch returns only the symmetry check when that fails anywhere
                assert not c.check(ej.tensor(m)).numpy()[~want.numpy()].any()
    for reg, treg in ((D.biject_to, TD.biject_to), (D.transform_to, TD.transform_to)):
        assert repr(reg(C.corr_cholesky)) == repr(treg(TC.corr_cholesky))
    for c, tc in ((C.positive_definite, TC.positive_definite), (C.positive_semidefinite, TC.positive_semidefinite)):
        assert repr(D.transform_to(c)) == repr(TD.transform_to(tc))
        e = _first_line(lambda: D.biject_to(c), NotImplementedError)
        assert e == _first_line(lambda: TD.biject_to(tc), NotImplementedError)
    # a TransformedDistribution onto correlation factors scores like torch's
    loc = _real(3)
    mk = lambda M, lib: M.TransformedDistribution(M.Normal(lib(loc), 1.0), M.biject_to(M.constraints.corr_cholesky))  # noqa: E731
    de, dt = mk(D, ej.tensor), mk(TD, torch.tensor)
    v = dt.sample((5,)).numpy()
    assert tuple(de.event_shape) == tuple(dt.event_shape) == (3, 3)
    _close(de.log_prob(ej.tensor(v)), dt.log_prob(torch.tensor(v)), rtol=2e-4, atol=1e-4)


# ---- errors ------------------------------------------------------------------------------------------


def test_validation_messages_match_torch():
    eye = np.eye(2, dtype=np.float32)
    cases = [
        lambda M, T: M.Wishart(3.0, covariance_matrix=T(eye), scale_tril=T(eye)),
        lambda M, T: M.Wishart(3.0, precision_matrix=T([1.0, 2.0])),
        lambda M, T: M.Wishart(0.5, covariance_matrix=T(eye)),
        lambda M, T: M.Wishart(T([0.5, 3.0]), covariance_matrix=T(eye)),
        lambda M, T: M.Wishart(3.0, covariance_matrix=-T(eye)),
        lambda M, T: M.Wishart(3.0, scale_tril=T([[1.0, 1.0], [0.0, 1.0]])),
        lambda M, T: M.Wishart(3.0, covariance_matrix=T(eye)).log_prob(-T(eye)),
        lambda M, T: M.Wishart(3.0, covariance_matrix=T(eye)).log_prob(T(np.eye(3, dtype=np.float32))),
        lambda M, T: M.Wishart(T([3.0, 4.0]), covariance_matrix=T(eye)).log_prob(T(np.stack([eye] * 3))),
        lambda M, T: M.LKJCholesky(1),
        lambda M, T: M.LKJCholesky(3, T([0.5, -1.0])),
        lambda M, T: M.LKJCholesky(2, 0.5).log_prob(2 * T(eye)),
        lambda M, T: M.LKJCholesky(3, 0.5).log_prob(T(eye)),
    ]
    for c in cases:
        exc = AssertionError if c is cases[0] else ValueError
        assert _first_line(lambda: c(D, ej.tensor), exc) == _first_line(lambda: c(TD, torch.tensor), exc)
    for what in ("mean", "variance", "entropy"):
        with pytest.raises(NotImplementedError):
            v = getattr(D.LKJCholesky(3), what)
            v() if callable(v) else None
    # validation off: the constraint is not checked, and the factorization refuses (as torch's)
    with pytest.raises(torch.linalg.LinAlgError, match="not positive-definite"):
        TD.Wishart(3.0, covariance_matrix=-torch.eye(2), validate_args=False)
    with pytest.raises(ej.linalg.LinAlgError, match="not positive-definite"):
        D.Wishart(3.0, covariance_matrix=-ej.eye(2), validate_args=False)

    @ej.compile
    def traced(df):  # a tensor df cannot be read inside a step: no check there
        return D.Wishart(df, covariance_matrix=ej.eye(2)).mean

    assert tuple(traced(ej.tensor([0.5, 3.0])).shape) == (2, 2, 2)
    assert math.isnan(D.Wishart(3.0, covariance_matrix=ej.eye(2)).mode.numpy()[0, 0])
