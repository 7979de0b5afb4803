"""``torch.special`` rows, ``mvlgamma``, ``combinations``, ``channel_shuffle`` /
``nn.ChannelShuffle`` and ``linalg.cond`` / ``tensorinv`` / ``tensorsolve``: what
tests/op_cases.py cannot express (torch's errors, rows shared with the top-level names,
edge values, gradients torch itself cannot compute), and the new rows in eager,
``ej.compile`` and ``ej.lazy()`` runs."""

import math

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax._ops._registry import OPS
from eagerjax._ops._special import SAME_AS
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)
RNG = np.random.default_rng(0)


def _close(ours, theirs, tol=1e-5, what=""):
    a = ours.detach().numpy() if isinstance(ours, ej.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def _message(e: Exception, want: str) -> str:
    """Our first line without what dispatch adds to a TypeError/IndexError raised while
    tracing a row (the operand shapes behind, and the row's name in front where torch's
    message has none, as for every row: ``sum(): Dimension out of range ...``)."""
    msg = str(e).split(" (operands:")[0]
    head, sep, rest = msg.partition("(): ")
    if sep and head.isidentifier() and not want.startswith(head + "(): "):
        return rest
    return msg


# --------------------------------------------------------------------------- shared rows
@pytest.mark.parametrize(
    "name, row",
    SAME_AS,
)
def test_special_names_reuse_the_top_level_row(name, row):
    assert OPS[f"special_{name}"].fn is OPS[row].fn
    assert not hasattr(ej, f"special_{name}") and not hasattr(ej.Tensor, f"special_{name}")
    assert hasattr(torch.special, name)


def test_namespace_forms_are_torchs():
    """Functions live in ej.special only (no Tensor methods torch lacks); mvlgamma is a
    function, a method and an in-place method, as in torch."""
    for n in ("entr", "erfcx", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr", "zeta", "multigammaln", "logit"):
        assert callable(getattr(ej.special, n))
        assert not hasattr(ej.Tensor, n) or hasattr(torch.Tensor, n)
    for n in ("mvlgamma", "mvlgamma_"):
        assert hasattr(ej.Tensor, n) and hasattr(torch.Tensor, n)
    assert not hasattr(ej.Tensor, "combinations") and not hasattr(torch.Tensor, "combinations")
    assert F.channel_shuffle is not None and callable(ej.channel_shuffle)


# --------------------------------------------------------------------------- errors
def _t(framework, a):
    return framework.tensor(np.asarray(a))


def _pair(fn):
    """A call written once against the torch-like module ``m`` (eagerjax or torch)."""
    return lambda: fn(ej), lambda: fn(torch)


_X = [0.5, 1.0, 2.0]
_I32 = np.array([[1, 2], [3, 4]], np.int32)
_ERRORS = {
    "polygamma n < 0": lambda m: m.special.polygamma(-1, _t(m, _X)),
    "polygamma float n": lambda m: m.special.polygamma(1.5, _t(m, _X)),
    "multigammaln p < 1": lambda m: m.special.multigammaln(_t(m, _X), 0),
    "multigammaln float p": lambda m: m.special.multigammaln(_t(m, _X), 2.0),
    "mvlgamma p < 1": lambda m: m.mvlgamma(_t(m, _X), 0),
    "mvlgamma_ p < 1": lambda m: _t(m, _X).mvlgamma_(0),
    "softmax of ints": lambda m: m.special.softmax(_t(m, np.array([1, 2], np.int32)), 0),
    "log_softmax of ints": lambda m: m.special.log_softmax(_t(m, np.array([1, 2], np.int32)), 0),
    "combinations 2-d": lambda m: m.combinations(m.zeros(2, 3)),
    "combinations 0-d": lambda m: m.combinations(m.tensor(1.0)),
    "combinations r < 0": lambda m: m.combinations(m.zeros(3), -1),
    "combinations float r": lambda m: m.combinations(m.zeros(3), 2.0),
    "channel_shuffle 1-d": lambda m: m.nn.functional.channel_shuffle(m.zeros(6), 2),
    "channel_shuffle 2-d": lambda m: m.channel_shuffle(m.zeros(2, 6), 3),
    "channel_shuffle groups 0": lambda m: m.nn.functional.channel_shuffle(m.zeros(1, 6, 2), 0),
    "channel_shuffle groups < 0": lambda m: m.nn.ChannelShuffle(-1)(m.zeros(1, 6, 2)),
    "channel_shuffle indivisible": lambda m: m.nn.ChannelShuffle(2)(m.zeros(2, 5, 3)),
    "cond 1-d": lambda m: m.linalg.cond(m.zeros(3)),
    "cond p=3": lambda m: m.linalg.cond(m.eye(2), 3),
    "cond p='foo'": lambda m: m.linalg.cond(m.eye(2), "foo"),
    "cond fro non-square": lambda m: m.linalg.cond(m.zeros(2, 3), "fro"),
    "cond 1.0 non-square": lambda m: m.linalg.cond(m.zeros(2, 3), 1.0),
    "cond -inf non-square": lambda m: m.linalg.cond(m.zeros(2, 3), -math.inf),
    "cond nuc 0x3": lambda m: m.linalg.cond(m.zeros(0, 3), "nuc"),
    "cond of ints (svd)": lambda m: m.linalg.cond(_t(m, _I32)),
    "cond of ints (inv)": lambda m: m.linalg.cond(_t(m, _I32), 1),
    "tensorinv ind=0": lambda m: m.linalg.tensorinv(m.zeros(2, 3, 6), ind=0),
    "tensorinv ind<0": lambda m: m.linalg.tensorinv(m.zeros(2, 3, 6), ind=-1),
    "tensorinv sizes": lambda m: m.linalg.tensorinv(m.zeros(2, 3, 5)),
    "tensorinv of ints": lambda m: m.linalg.tensorinv(_t(m, _I32), ind=1),
    "tensorsolve sizes": lambda m: m.linalg.tensorsolve(m.zeros(2, 3, 5), m.zeros(2, 3)),
    "tensorsolve dtypes": lambda m: m.linalg.tensorsolve(m.zeros(2, 2), _t(m, np.array([1, 2], np.int32))),
    "tensorsolve of ints": lambda m: m.linalg.tensorsolve(_t(m, _I32), _t(m, np.array([1, 2], np.int32))),
    "tensorsolve dims": lambda m: m.linalg.tensorsolve(m.zeros(2, 3, 6), m.zeros(2, 3), dims=(5,)),
}


@pytest.mark.parametrize("case", list(_ERRORS))
def test_errors_are_torchs(case):
    ours, theirs = _pair(_ERRORS[case])
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(Exception) as ee:
        ours()
    # torch raises NotImplementedError for a dtype its kernel lacks, its own _LinAlgError never here
    assert type(ee.value) is type(te.value), (type(ee.value), te.value)
    want = str(te.value).splitlines()[0]
    assert _message(ee.value, want) == want


# --------------------------------------------------------------------------- values torch's cases miss
@pytest.mark.parametrize("eps", [None, 0.0, 0.2, 0.6, -1.0])
def test_logit_eps_edges(eps):
    """Values at and beyond 0 and 1, eps above 0.5 (torch clamps to the upper bound) and a
    negative eps (no clamp): values and gradients as torch's."""
    x = np.array([0.0, 0.1, 0.2, 0.5, 0.9, 1.0], np.float32)
    ex, tx = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = ej.special.logit(ex, eps=eps), torch.special.logit(tx, eps=eps)
    _close(ey, ty, 1e-5, "logit")
    keep = np.isfinite(ty.detach().numpy())  # (inf * 0 cotangents would only compare NaNs)
    g = np.where(keep, RNG.standard_normal(x.shape), 0).astype(np.float32)
    (ey * ej.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    _close(ex.grad, tx.grad, 1e-4, "dlogit")


def test_mvlgamma_in_place_and_at_the_domain_edge():
    x = np.array([0.5, 1.0, 1.7, 4.0], np.float32)
    e, t = ej.tensor(x), torch.tensor(x)
    e.mvlgamma_(3)
    t.mvlgamma_(3)
    _close(e, t, 1e-5, "mvlgamma_")  # inf where x <= (p - 1) / 2: torch does not raise
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        ej.tensor([2, 3]).mvlgamma_(2)


def test_zeta_gradient_in_x_matches_finite_differences():
    """torch has no derivative of zeta in its first argument; ours (JAX's) is checked against
    central differences of torch's float64 zeta. In ``q`` it is torch's (op_cases)."""
    x = np.array([1.5, 2.0, 3.5], np.float32)
    q = np.array([0.5, 1.0, 2.5], np.float32)
    ex = ej.tensor(x, requires_grad=True)
    ej.special.zeta(ex, ej.tensor(q)).sum().backward()
    h = 1e-6
    tx, tq = torch.tensor(x, dtype=torch.float64), torch.tensor(q, dtype=torch.float64)
    fd = (torch.special.zeta(tx + h, tq) - torch.special.zeta(tx - h, tq)) / (2 * h)
    np.testing.assert_allclose(ex.grad.numpy(), fd.numpy(), rtol=1e-3)
    with pytest.raises(RuntimeError, match="the derivative for 'zeta' is not implemented"):
        torch.special.zeta(torch.tensor(x, requires_grad=True), torch.tensor(q)).sum().backward()


@pytest.mark.parametrize("p", ["fro", math.inf, -math.inf, 1, -1, "nuc"])
def test_cond_gradient_is_torchs_formula(p):
    """torch's own backward of ``cond`` fails for most norm-based ``p`` (an in-place op
    inside it); ours is compared with the gradient of its definition in torch."""
    a = (RNG.standard_normal((2, 3, 3)) + 4 * np.eye(3)).astype(np.float32)
    ea, ta = ej.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ey = ej.linalg.cond(ea, p)
    ty = torch.linalg.matrix_norm(ta, p) * torch.linalg.matrix_norm(torch.linalg.inv(ta), p)
    _close(ey, ty, 1e-4, "cond")
    _close(ey, torch.linalg.cond(torch.tensor(a), p), 1e-4, "cond vs torch.linalg.cond")
    ey.sum().backward()
    ty.sum().backward()
    _close(ea.grad, ta.grad, 1e-4, "dcond")


@pytest.mark.parametrize("p", ["fro", math.inf, -math.inf, 1, -1])
def test_cond_of_a_singular_matrix_is_inf(p):
    s = [[1.0, 2.0], [2.0, 4.0]]
    assert ej.linalg.cond(ej.tensor(s), p).item() == math.inf == torch.linalg.cond(torch.tensor(s), p).item()


def test_cond_of_empty_matrices_is_zero():
    for shape, p in [((0, 0), None), ((0, 0), "fro"), ((2, 0, 0), 1), ((3, 0), -2)]:
        _close(ej.linalg.cond(ej.zeros(*shape), p), torch.linalg.cond(torch.zeros(*shape), p), 0, str((shape, p)))


def test_tensorsolve_and_tensorinv_invert_tensordot():
    a = (RNG.standard_normal((6, 6)) + 6 * np.eye(6)).astype(np.float32).reshape(2, 3, 6)
    inv = ej.linalg.tensorinv(ej.tensor(a), ind=2)
    _close(ej.tensordot(inv, ej.tensor(a), 2), np.eye(6, dtype=np.float32), 1e-5, "inv")
    b = RNG.standard_normal((2, 3)).astype(np.float32)
    x = ej.linalg.tensorsolve(ej.tensor(a), ej.tensor(b))
    _close(ej.tensordot(ej.tensor(a), x, 1), b, 1e-5, "solve")


# --------------------------------------------------------------------------- nn.ChannelShuffle
def test_channel_shuffle_module_is_torchs():
    x = RNG.standard_normal((2, 6, 3, 2)).astype(np.float32)
    ours, theirs = nn.ChannelShuffle(3), torch.nn.ChannelShuffle(3)
    assert repr(ours) == repr(theirs) == "ChannelShuffle(groups=3)"
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ex, tx = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = ours(ex), theirs(tx)
    _close(ey, ty, 0, "ChannelShuffle")
    g = RNG.standard_normal(x.shape).astype(np.float32)
    (ey * ej.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    _close(ex.grad, tx.grad, 0, "dChannelShuffle")
    _close(F.channel_shuffle(ej.tensor(x), 2), torch.nn.functional.channel_shuffle(torch.tensor(x), 2), 0, "F")


# --------------------------------------------------------------------------- every mode
def test_new_rows_in_eager_compiled_and_lazy_runs():
    """One step through the new rows (their gradients into a parameter, a shuffled activation,
    an in-place mvlgamma_): ej.compile and ej.lazy() give eager's outputs and state."""
    w = ej.nn.Parameter(ej.tensor(RNG.uniform(0.2, 0.8, (6,)).astype(np.float32)))
    a = ej.tensor((RNG.standard_normal((6, 6)) + 6 * np.eye(6)).astype(np.float32))
    buf = ej.tensor(RNG.uniform(5.0, 8.0, (4,)).astype(np.float32))
    shuffle = nn.ChannelShuffle(2)

    def step():
        pairs = ej.combinations(w, 2)
        s = ej.special
        loss = (
            s.logit(w, eps=0.25).sum()
            + s.entr(w).sum()
            + s.erfcx(w).sum()
            + s.i1e(w).sum()
            + s.log_ndtr(w).sum()
            + s.ndtri(w).sum()
            + s.zeta(3.0, w + 1).sum()
            + s.multigammaln(w + 2, 3).sum()
            + s.polygamma(1, w).sum()
            + s.softmax(pairs, 1)[:, 0].sum()
            + s.log_softmax(w, 0).sum()
            + ej.linalg.cond(a * w, "fro")
            + ej.linalg.cond(a * w)
            + ej.linalg.tensorinv((a * w).reshape(2, 3, 6)).sum()
            + ej.linalg.tensorsolve((a * w).reshape(2, 3, 6), w.reshape(2, 3)).sum()
            + shuffle(w.reshape(1, 6, 1)).mul(ej.arange(6.0).reshape(1, 6, 1)).sum()
        )
        loss.backward()
        buf.mvlgamma_(2)
        return loss

    assert_compile_equivalent(step, steps=2, rtol=1e-4, atol=1e-4)
