"""torch.autograd.functional (jacobian, hessian, vjp, jvp, hvp, vhp) against torch: tensor and
tuple inputs/outputs, both jacobian strategies, create_graph, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
from eagerjax.autograd import functional as F

torch = pytest.importorskip("torch")
TF = torch.autograd.functional

RNG = np.random.default_rng(0)
X = RNG.standard_normal(3).astype(np.float32)
Y = RNG.standard_normal(3).astype(np.float32)


def _cmp(ours, theirs):
    if isinstance(theirs, list):  # (torch's forward-mode jacobian returns lists for some structures)
        theirs = tuple(theirs)
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _cmp(o, t)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.requires_grad == theirs.requires_grad
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)


def _both(make, *arrays, **kw):
    """Call ``make(lib)`` for eagerjax and torch on the same inputs."""
    out = []
    for lib, fns in ((ej, F), (torch, TF)):
        args = [lib.tensor(a) for a in arrays]
        out.append(make(lib, fns, *args, **kw))
    _cmp(*out)


def _scalar(lib):
    return lambda a: (lib.sin(a) * a).sum()


def _scalar2(lib):
    return lambda a, b: (a * b).sin().sum() + (a**2 * b).sum()


def _pair(lib):
    return lambda a, b: (a * b.exp(), a.sum() * b)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_shapes_follow_torch(strategy):
    kw = {"strategy": strategy, "vectorize": strategy == "forward-mode"}
    _both(lambda lib, fs, a: fs.jacobian(lambda v: v.exp() * v, a, **kw), X)
    _both(lambda lib, fs, a, b: fs.jacobian(_pair(lib), (a, b), **kw), X, Y)
    _both(lambda lib, fs, a: fs.jacobian(lambda v: (v.exp(), v * 2), a, **kw), X)
    _both(lambda lib, fs, a, b: fs.jacobian(lambda u, v: u * v, (a, b), **kw), X, Y)


def test_hessian_vjp_jvp_hvp_vhp():
    _both(lambda lib, fs, a: fs.hessian(_scalar(lib), a), X)
    _both(lambda lib, fs, a, b: fs.hessian(_scalar2(lib), (a, b)), X, Y)
    _both(lambda lib, fs, a: fs.vjp(_scalar(lib), a), X)
    _both(lambda lib, fs, a, b: fs.vjp(lambda v: v.exp(), a, b), X, Y)
    _both(lambda lib, fs, a, b: fs.vjp(_pair(lib), (a, b), (a, b)), X, Y)
    _both(lambda lib, fs, a, b: fs.jvp(lambda v: v.exp(), a, b), X, Y)
    _both(lambda lib, fs, a, b: fs.jvp(_pair(lib), (a, b), (b, a)), X, Y)
    _both(lambda lib, fs, a, b: fs.hvp(_scalar(lib), a, b), X, Y)
    _both(lambda lib, fs, a, b: fs.vhp(_scalar(lib), a, b), X, Y)
    _both(lambda lib, fs, a, b: fs.hvp(_scalar2(lib), (a, b), (b, a)), X, Y)


def test_create_graph_keeps_results_differentiable():
    for lib, fs in ((ej, F), (torch, TF)):
        w = lib.tensor(X, requires_grad=True)
        jac = fs.jacobian(lambda v: (v * w).sin(), lib.tensor(Y), create_graph=True)
        assert jac.requires_grad
        jac.sum().backward()
    plain = F.jacobian(lambda v: v.sin(), ej.tensor(X, requires_grad=True))
    assert not plain.requires_grad


def test_errors():
    with pytest.raises(RuntimeError, match="v can only be None"):
        F.vjp(lambda v: v * 2, ej.ones(3))
    with pytest.raises(RuntimeError, match="should contain a single element"):
        F.hessian(lambda v: v * 2, ej.ones(3))
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        F.jacobian(lambda v: v, [ej.ones(3)])
    with pytest.raises(NotImplementedError, match="strict=True"):
        F.jacobian(lambda v: v, ej.ones(3), strict=True)
