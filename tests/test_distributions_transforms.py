"""eagerjax.distributions.transforms and TransformedDistribution against torch: forward, inverse and
log-det-Jacobian values and gradients, caching, shapes, and reparameterized sampling."""

from __future__ import annotations

import numpy as np
import pytest
from test_distributions2 import _close, _first_line, _np  # noqa: F401 - the shared comparison helpers

import eagerjax as ej
import eagerjax.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(1)


def _pos(*shape):
    return RNG.uniform(0.5, 2.0, size=shape).astype(np.float32)


def _real(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# ---- transforms ------------------------------------------------------------------------------------


def _transforms(M, lib):
    T = M.transforms
    return {
        "Exp": T.ExpTransform(),
        "Affine": T.AffineTransform(0.5, -2.0),
        "Affine-event": T.AffineTransform(lib([1.0, 0.0, -1.0, 2.0]), lib([-1.0, 2.0, 3.0, 0.5]), event_dim=1),
        "Sigmoid": T.SigmoidTransform(),
        "Tanh": T.TanhTransform(),
        "Power": T.PowerTransform(lib(2.5)),
        "StickBreaking": T.StickBreakingTransform(),
        "Compose": T.ComposeTransform([T.AffineTransform(0.0, 2.0), T.ExpTransform(), T.PowerTransform(0.5)]),
        "Compose-vector": T.ComposeTransform([T.TanhTransform(), T.StickBreakingTransform()]),
        "Exp.inv": T.ExpTransform().inv,
        "Identity": T.identity_transform,
    }


_T_NAMES = list(_transforms(D, ej.tensor))


@pytest.mark.parametrize("name", _T_NAMES)
def test_transform_forward_inverse_and_jacobian_match_torch(name):
    tt, te = _transforms(TD, torch.tensor)[name], _transforms(D, ej.tensor)[name]
    x_np = _real(3, 4) if name != "Exp.inv" else _pos(3, 4)
    if name in ("Power",):
        x_np = _pos(3, 4)
    xt, xe = torch.tensor(x_np, requires_grad=True), ej.tensor(x_np, requires_grad=True)
    yt, ye = tt(xt), te(xe)
    _close(ye, yt, msg=name)
    _close(te.inv(ye), x_np, rtol=1e-3, atol=1e-4, msg=f"{name} round trip")
    _close(te.inv(ye), tt.inv(yt), rtol=1e-4, atol=1e-4, msg=f"{name} inverse")
    assert repr(te.domain) == repr(tt.domain) and repr(te.codomain) == repr(tt.codomain)
    assert te.bijective == tt.bijective
    assert tuple(te.forward_shape((3, 4))) == tuple(tt.forward_shape((3, 4)))
    assert tuple(te.inverse_shape(tuple(yt.shape))) == tuple(tt.inverse_shape(yt.shape))
    try:
        sign_t = tt.sign
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            te.sign  # noqa: B018
    else:
        _close(te.sign, sign_t)
    lt, le = tt.log_abs_det_jacobian(xt, yt), te.log_abs_det_jacobian(xe, ye)
    _close(le, lt, msg=f"{name} log|det J|")
    # gradients through the forward and the Jacobian
    ((yt * 1.5).sum() + lt.sum()).backward()
    ((ye * 1.5).sum() + le.sum()).backward()
    _close(xe.grad, xt.grad, rtol=2e-4, atol=1e-4, msg=f"{name} grad")


def test_non_bijective_transforms():
    T, TT = D.transforms, TD.transforms
    x = _real(2, 5)
    for mk in (lambda M: M.AbsTransform(), lambda M: M.SoftmaxTransform()):
        te, tt = mk(T), mk(TT)
        assert not te.bijective
        _close(te(ej.tensor(x)), tt(torch.tensor(x)))
        y = tt(torch.tensor(x))
        _close(te.inv(ej.tensor(y.numpy())), tt.inv(y))
        with pytest.raises(NotImplementedError):
            te.log_abs_det_jacobian(ej.tensor(x), ej.tensor(y.numpy()))
    assert str(D.transforms.SoftmaxTransform().event_dim) == "1"
    with pytest.raises(ValueError, match="Too few dimensions on input"):
        T.StickBreakingTransform().forward_shape(())


def test_transform_api_cache_equality_and_errors():
    T = D.transforms
    t = T.TanhTransform(cache_size=1)
    x = ej.tensor([20.0, 0.5])
    y = t(x)
    assert t(x) is y  # the same tensor object is looked up, not recomputed
    assert t.inv(y) is x  # so tanh's saturated inverse is skipped
    assert T.TanhTransform().inv(y).numpy()[0] != 20.0
    assert t.inv.inv is t
    assert t.with_cache(1) is t and t.with_cache(0)._cache_size == 0
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        T.ExpTransform(cache_size=2)

    class Flatten(T.Transform):
        domain = D.constraints.independent(D.constraints.real, 2)
        codomain = D.constraints.real_vector

    with pytest.raises(ValueError, match="Please use either .domain.event_dim or .codomain.event_dim"):
        Flatten().event_dim  # noqa: B018
    assert T.StickBreakingTransform().event_dim == 1
    assert T.ExpTransform() == T.ExpTransform() and T.ExpTransform() != T.SigmoidTransform()
    assert T.ExpTransform().inv == T.ExpTransform().inv
    assert T.AffineTransform(1.0, 2.0) == T.AffineTransform(1.0, 2.0) != T.AffineTransform(1.0, 3.0)
    assert T.AffineTransform(ej.tensor([1.0]), 2.0) == T.AffineTransform(ej.tensor([1.0]), 2.0)
    c = T.ComposeTransform([T.ExpTransform(), T.AffineTransform(0.0, -1.0)])
    assert c.inv.inv is c and c.sign == -1 and c == T.ComposeTransform([T.ExpTransform(), T.AffineTransform(0.0, -1.0)])
    assert repr(c) == repr(TD.transforms.ComposeTransform([TD.ExpTransform(), TD.AffineTransform(0.0, -1.0)]))
    assert repr(T.ExpTransform().inv) == "_InverseTransform(ExpTransform())"
    assert T.ComposeTransform([T.ExpTransform()], cache_size=1).parts[0]._cache_size == 1
    assert T.AffineTransform(0.0, 0.0).sign == 0 and T.AffineTransform(0.0, -2.0).event_dim == 0
    assert D.ExpTransform is T.ExpTransform


# ---- TransformedDistribution ------------------------------------------------------------------------


def test_transformed_rsample_is_reparameterized():
    loc = ej.tensor([0.5, -1.0], requires_grad=True)
    scale = ej.tensor([0.3, 0.6], requires_grad=True)
    d = D.TransformedDistribution(D.Normal(loc, scale), [D.transforms.ExpTransform()])
    assert d.has_rsample
    ej.manual_seed(1)
    y = d.rsample((4,))
    y.sum().backward()
    eps = (y.detach().log() - loc.detach()) / scale.detach()
    _close(loc.grad, y.detach().sum(0))  # dy/dloc = y
    _close(scale.grad, (y.detach() * eps).sum(0), rtol=1e-3)  # dy/dscale = y * eps
    s = d.sample((3,))
    assert not s.requires_grad and tuple(s.shape) == (3, 2)
    # a tanh-squashed Gaussian scores its own saturated samples through the cache
    sq = D.TransformedDistribution(D.Normal(ej.zeros(3), 20.0), [D.transforms.TanhTransform(cache_size=1)])
    a = sq.rsample((50,))
    lp = sq.log_prob(a)
    assert np.isfinite(lp.numpy()).all()


def test_transformed_shapes_support_cdf_and_errors():
    # a vector transform turns the base's batch dim into an event dim (through Independent)
    de = D.TransformedDistribution(D.Normal(ej.zeros(2, 3), 1.0), D.transforms.StickBreakingTransform())
    dt = TD.TransformedDistribution(TD.Normal(torch.zeros(2, 3), 1.0), TD.StickBreakingTransform())
    assert tuple(de.batch_shape) == (2,) and tuple(de.event_shape) == (4,)
    assert isinstance(de.base_dist, D.Independent)
    assert repr(de.support) == repr(dt.support) == "Simplex()"
    # a transform's parameter broadcasts the base up
    de2 = D.TransformedDistribution(D.Normal(0.0, 1.0), D.transforms.AffineTransform(ej.zeros(3), 2.0))
    assert tuple(de2.batch_shape) == (3,)
    # a decreasing chain flips the cdf
    mk = lambda M, lib: M.TransformedDistribution(  # noqa: E731
        M.Normal(lib([0.2, -0.3]), lib([1.0, 2.0])),
        [M.transforms.AffineTransform(1.0, -2.0), M.transforms.ExpTransform()],
    )
    v, p = np.array([0.5, 3.0], np.float32), np.array([0.2, 0.7], np.float32)
    _close(mk(D, ej.tensor).cdf(ej.tensor(v)), mk(TD, torch.tensor).cdf(torch.tensor(v)))
    _close(mk(D, ej.tensor).icdf(ej.tensor(p)), mk(TD, torch.tensor).icdf(torch.tensor(p)))
    ee = mk(D, ej.tensor).expand((4, 2))
    assert tuple(ee.batch_shape) == (4, 2) and tuple(ee.base_dist.batch_shape) == (4, 2)
    for bad in (
        lambda M: M.TransformedDistribution(M.Normal(0.0, 1.0), "exp"),
        lambda M: M.TransformedDistribution(M.Normal(0.0, 1.0), [1]),
        lambda M: M.TransformedDistribution(M.Normal(0.0, 1.0), M.StickBreakingTransform()),
    ):
        assert _first_line(lambda: bad(D)) == _first_line(lambda: bad(TD))
    with pytest.raises(NotImplementedError):
        mk(D, ej.tensor).mean  # noqa: B018
