"""nn.utils.parametrizations.orthogonal against torch: the weight right after registration
(from the same initial weight), state dict keys and values, gradients through
``parametrizations.weight.original``, 5 SGD / Adam steps in eager, ``ej.compile`` and
``ej.lazy()`` modes, assignments (``right_inverse``) and torch's errors.

For a non-square weight with ``use_trivialization=True`` the ``base`` buffer is completed
with random columns (eagerjax's generator, not torch's): the training tests load torch's
state dict, ``base`` included, after registration.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from eagerjax.nn.utils.parametrizations import orthogonal

import eagerjax as ej
import eagerjax.nn as nn
from eagerjax.nn.utils import parametrize
from eagerjax.testing import assert_close

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)
TP = torch.nn.utils.parametrizations

MAPS = [None, "matrix_exp", "cayley", "householder"]
SHAPES = [(3, 3), (5, 3), (3, 5)]  # (out, in): square, tall, wide
BASE = "parametrizations.weight.0.base"


class _Batched:
    """A module holding a (2, 4, 3) batch of matrices as ``weight``, in either framework."""

    @staticmethod
    def make(ns, shape):
        class M(ns.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = ns.nn.Parameter(ns.randn(*shape))

            def forward(self, x):
                return (self.weight @ x).sum(0)

        return M()


def _linear_pair(shape, seed: int = 0):
    torch.manual_seed(seed)
    theirs = torch.nn.Linear(shape[1], shape[0])
    ours = nn.Linear(shape[1], shape[0])
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _same_state(ours, theirs, skip=(), atol=1e-5) -> None:
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k, v in tsd.items():
        if k not in skip:
            assert_close(sd[k].numpy(), v.numpy(), rtol=1e-4, atol=atol)


def _np(t) -> np.ndarray:
    return t.detach().numpy()


# --------------------------------------------------------------------------- registration
@pytest.mark.parametrize("triv", [True, False])
@pytest.mark.parametrize("omap", MAPS)
@pytest.mark.parametrize("shape", SHAPES)
def test_registration_matches_torch(shape, omap, triv) -> None:
    ours, theirs = _linear_pair(shape)
    TP.orthogonal(theirs, orthogonal_map=omap, use_trivialization=triv)
    assert orthogonal(ours, orthogonal_map=omap, use_trivialization=triv) is ours
    assert type(ours).__name__ == "ParametrizedLinear" and parametrize.is_parametrized(ours, "weight")
    keys = ["bias", "parametrizations.weight.original"] + ([BASE] if triv else [])
    assert list(ours.state_dict()) == list(theirs.state_dict()) == keys
    # a non-square base's completion columns are random; its first columns are not
    skip = (BASE,) if triv and shape[0] != shape[1] else ()
    _same_state(ours, theirs, skip=skip)
    w = _np(ours.weight)
    assert_close(w, _np(theirs.weight), rtol=1e-5, atol=1e-6)
    small = min(shape)
    gram = w @ w.T if shape[0] < shape[1] else w.T @ w
    assert_close(gram, np.eye(small, dtype="float32"), atol=1e-5)
    if triv:
        base = _np(ours.parametrizations.weight[0].base)
        assert_close(base.T @ base, np.eye(max(shape), dtype="float32"), atol=1e-5)


def test_batched_weight_matches_torch() -> None:
    torch.manual_seed(1)
    theirs = _Batched.make(torch, (2, 4, 3))
    ours = _Batched.make(ej, (2, 4, 3))
    ours.load_state_dict({k: _np(v) for k, v in theirs.state_dict().items()})
    for omap in ("householder", "cayley"):
        o, t = _Batched.make(ej, (2, 4, 3)), _Batched.make(torch, (2, 4, 3))
        o.load_state_dict({k: _np(v) for k, v in theirs.state_dict().items()})
        t.load_state_dict(theirs.state_dict())
        orthogonal(o, orthogonal_map=omap, use_trivialization=False)
        TP.orthogonal(t, orthogonal_map=omap, use_trivialization=False)
        assert_close(_np(o.weight), _np(t.weight), rtol=1e-5, atol=1e-6)
        x = np.random.default_rng(0).standard_normal((3, 2)).astype("float32")
        (o(ej.tensor(x)) ** 2).sum().backward()
        (t(torch.tensor(x)) ** 2).sum().backward()
        og, tg = o.parametrizations.weight.original.grad, t.parametrizations.weight.original.grad
        assert_close(og.numpy(), tg.numpy(), rtol=1e-4, atol=1e-5)
    orthogonal(ours)  # trivialization: base is a batch of 4 x 4 orthogonal matrices
    TP.orthogonal(theirs)
    assert_close(_np(ours.weight), _np(theirs.weight), rtol=1e-5, atol=1e-6)
    assert tuple(ours.parametrizations.weight[0].base.shape) == (2, 4, 4)


# --------------------------------------------------------------------------- training
def _train(ours, theirs, opt_name: str, mode: str, steps: int = 5) -> None:
    rng = np.random.default_rng(3)
    n_in, n_out = ours.in_features, ours.out_features
    x, y = rng.standard_normal((6, n_in)).astype("float32"), rng.standard_normal((6, n_out)).astype("float32")
    kw = {"lr": 0.1} if opt_name == "SGD" else {"lr": 0.05}
    opt = getattr(ej.optim, opt_name)(ours.parameters(), **kw)
    topt = getattr(torch.optim, opt_name)(theirs.parameters(), **kw)
    orig, torig = ours.parametrizations.weight.original, theirs.parametrizations.weight.original

    def step(x, y):
        opt.zero_grad()
        loss = ((ours(x) - y) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if mode == "compile" else step
    ex, ey = ej.tensor(x), ej.tensor(y)
    tx, ty = torch.tensor(x), torch.tensor(y)
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        for i in range(steps):
            loss = fn(ex, ey)
            topt.zero_grad()
            tloss = ((theirs(tx) - ty) ** 2).sum()
            tloss.backward()
            topt.step()
            assert_close(float(loss), float(tloss), rtol=1e-4, atol=1e-5)
            if i == 0:  # the gradient reaches the unconstrained original
                assert_close(orig.grad.numpy(), torig.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert_close(_np(ours.weight), _np(theirs.weight), rtol=1e-4, atol=1e-5)
    _same_state(ours, theirs, atol=1e-5)
    if mode == "compile":
        assert fn.stats()["traces"] == 1


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
@pytest.mark.parametrize("triv", [True, False])
@pytest.mark.parametrize("omap", MAPS[1:])
def test_training_matches_torch(omap, triv, mode) -> None:
    # each (map, trivialization, mode) runs one shape and optimizer; all shapes and both
    # optimizers are covered across the map and mode parameters
    k = MAPS.index(omap) + ["eager", "compile", "lazy"].index(mode)
    shape = SHAPES[k % 3]
    ours, theirs = _linear_pair(shape, seed=k)
    TP.orthogonal(theirs, orthogonal_map=omap, use_trivialization=triv)
    orthogonal(ours, orthogonal_map=omap, use_trivialization=triv)
    ours.load_state_dict({k: _np(v) for k, v in theirs.state_dict().items()})  # (base's random columns)
    _train(ours, theirs, "SGD" if k % 2 else "Adam", mode)


# --------------------------------------------------------------------------- right_inverse
@pytest.mark.parametrize("mode", ["eager", "lazy"])
@pytest.mark.parametrize("omap", ["matrix_exp", "cayley", "householder"])
def test_assigning_a_weight_matches_torch(omap, mode) -> None:
    ours, theirs = _linear_pair((4, 4))
    TP.orthogonal(theirs, orthogonal_map=omap)
    orthogonal(ours, orthogonal_map=omap)
    rng = np.random.default_rng(5)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0].astype("float32")
    a = rng.standard_normal((4, 4)).astype("float32")
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        for w in (q, a):  # already orthogonal: kept as is; otherwise orthogonalized (QR)
            ours.weight = ej.tensor(w)
            theirs.weight = torch.tensor(w)
            assert_close(_np(ours.weight), _np(theirs.weight), rtol=1e-5, atol=1e-6)
            _same_state(ours, theirs)
    assert_close(_np(ours.weight), _np(theirs.weight), rtol=1e-5, atol=1e-6)


def test_assigning_without_trivialization() -> None:
    ours, theirs = _linear_pair((3, 5))
    TP.orthogonal(theirs, orthogonal_map="householder", use_trivialization=False)
    orthogonal(ours, orthogonal_map="householder", use_trivialization=False)
    rng = np.random.default_rng(6)
    for w in (rng.standard_normal((3, 5)), 2 * np.eye(3, 5)):  # (tau == 0 for the second)
        w = w.astype("float32")
        ours.weight = ej.tensor(w)
        theirs.weight = torch.tensor(w)
        _same_state(ours, theirs)
        assert_close(_np(ours.weight), _np(theirs.weight), rtol=1e-5, atol=1e-6)
    for omap in ("matrix_exp", "cayley"):
        m, tm = _linear_pair((3, 3))
        orthogonal(m, orthogonal_map=omap, use_trivialization=False)
        TP.orthogonal(tm, orthogonal_map=omap, use_trivialization=False)
        _raises_like(lambda: setattr(m, "weight", ej.eye(3)), lambda: setattr(tm, "weight", torch.eye(3)))


def test_remove_parametrizations_keeps_the_orthogonal_weight() -> None:
    ours, theirs = _linear_pair((5, 3))
    orthogonal(ours)
    TP.orthogonal(theirs)
    parametrize.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert type(ours) is nn.Linear and list(ours.state_dict()) == ["bias", "weight"]  # (torch's order too)
    _same_state(ours, theirs)


def test_complex_weight_matches_torch() -> None:
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))).astype("complex64")

    def make(ns):
        m = ns.nn.Module()
        m.weight = ns.nn.Parameter(ns.tensor(w))
        return m

    ours, theirs = make(ej), make(torch)
    orthogonal(ours)
    TP.orthogonal(theirs)
    assert ours.parametrizations.weight[0].orthogonal_map == "matrix_exp"
    q = _np(ours.weight)  # (assert_close is for real values)
    np.testing.assert_allclose(q, _np(theirs.weight), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.conj().T @ q, np.eye(3), atol=1e-5)


# --------------------------------------------------------------------------- errors
def _raises_like(ours, theirs) -> None:
    """Both raise the same exception type with the same message."""
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(type(te.value)) as ee:
        ours()
    assert str(ee.value) == str(te.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda ns, m: ns.nn.utils.parametrizations.orthogonal(m, "bias"),
        lambda ns, m: ns.nn.utils.parametrizations.orthogonal(m, "foo"),
        lambda ns, m: ns.nn.utils.parametrizations.orthogonal(m, orthogonal_map="qr"),
        lambda ns, m: setattr(ns.nn.utils.parametrizations.orthogonal(m), "weight", ns.eye(4)),
    ],
)
def test_errors_match_torch(call) -> None:
    ours, theirs = _linear_pair((3, 3))
    _raises_like(lambda: call(ej, ours), lambda: call(torch, theirs))


def test_complex_householder_is_refused() -> None:
    def make(ns):
        m = ns.nn.Module()
        m.weight = ns.nn.Parameter(ns.ones(3, 3, dtype=ns.complex64))
        return m

    _raises_like(
        lambda: orthogonal(make(ej), orthogonal_map="householder"),
        lambda: TP.orthogonal(make(torch), orthogonal_map="householder"),
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda ns: ns.linalg.matrix_exp(ns.ones(2, 3)),
        lambda ns: ns.linalg.matrix_exp(ns.ones(3)),
        lambda ns: ns.linalg.householder_product(ns.ones(2, 3), ns.ones(2)),
        lambda ns: ns.linalg.householder_product(ns.ones(4, 3), ns.ones(4)),
        lambda ns: ns.linalg.householder_product(ns.ones(2, 4, 3), ns.ones(3, 2)),
        lambda ns: ns.linalg.householder_product(ns.ones(2, 4, 3), ns.ones(2)),
        lambda ns: ns.geqrf(ns.ones(3)),
    ],
)
def test_linalg_errors_match_torch(call) -> None:
    _raises_like(lambda: call(ej), lambda: call(torch))
