"""Gradients of scatter-style writes whose indices repeat a position, against torch.

torch differentiates a ``set`` write (``scatter``, ``index_put``, ``x[idx] = v``, ``index_copy``,
``put``) as ``grad.gather(index)`` for every source element, the duplicates included, and
splits an ``amax``/``amin`` reduction's gradient evenly among the ties (counting ``self``'s
element even when ``include_self=False``). Each case runs eagerly, inside ``ej.compile`` and
under ``ej.lazy()``. Sources that collide hold equal values, so torch's forward values are
deterministic and compared too. Also ``ej.embedding_bag`` (torch's four results).
"""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")  # (torch's)

RNG = np.random.default_rng(7)
MODES = ["eager", "compiled", "lazy"]


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- cases
# Each case: (inputs, fn(m, *tensors)). The first input is ``self``; float inputs get
# gradients. A source element that lands where another one does holds the same value.
X = _f32(3, 4)
D = _f32(3, 4)  # the value written at each destination
SC_IDX = np.array([[0, 1, 0, 2], [0, 0, 2, 2]])
SC_SRC = np.take_along_axis(D, SC_IDX, 0)
ROWS = np.array([0, 2, 0, 0])
ROW_V = D[ROWS]
COLS = np.array([1, 1, 3])
PUT_I = np.array([0, 5, 0, 5, 11])
PUT_V = D.reshape(-1)[PUT_I]


def _set_rows(m, x, i, v):
    y = x * 1
    y[i] = v
    return y


def _set_cols(m, x, i, v):
    y = x * 1
    y[:, i] = v
    return y


def _set_row_cols(m, x, i, v):
    y = x * 1
    y[1, i] = v
    return y


CASES = {
    "scatter": ([X, SC_IDX, SC_SRC], lambda m, x, i, s: x.scatter(0, i, s)),
    "scatter_fn": ([X, SC_IDX, SC_SRC], lambda m, x, i, s: m.scatter(x, 0, i, s)),
    "scatter_": ([X, SC_IDX, SC_SRC], lambda m, x, i, s: (x * 1).scatter_(0, i, s)),
    "scatter_dim1": (
        [X, np.array([[1, 1], [0, 3], [2, 2]]), np.take_along_axis(D, np.array([[1, 1], [0, 3], [2, 2]]), 1)],
        lambda m, x, i, s: x.scatter(1, i, s),
    ),
    "index_put": ([X, ROWS, ROW_V], lambda m, x, i, v: x.index_put((i,), v)),
    "index_put_": ([X, ROWS, ROW_V], lambda m, x, i, v: (x * 1).index_put_((i,), v)),
    "index_put_2d": (
        [X, np.array([0, 2, 0]), np.array([1, 1, 1]), D[[0, 2, 0], [1, 1, 1]]],
        lambda m, x, i, j, v: x.index_put((i, j), v),
    ),
    "setitem_rows": ([X, ROWS, ROW_V], _set_rows),
    "setitem_broadcast_row": ([X, ROWS, D[0]], _set_rows),
    "setitem_0d": ([X, ROWS, np.float32(1.5)], _set_rows),
    "setitem_cols": ([X, COLS, D[:, COLS]], _set_cols),
    "setitem_int_then_cols": ([X, COLS, D[1, COLS]], _set_row_cols),
    "index_copy": ([X, ROWS, ROW_V], lambda m, x, i, v: x.index_copy(0, i, v)),
    "index_copy_": ([X, ROWS, ROW_V], lambda m, x, i, v: (x * 1).index_copy_(0, i, v)),
    "put": ([X, PUT_I, PUT_V], lambda m, x, i, v: x.put(i, v)),
    "put_": ([X, PUT_I, PUT_V], lambda m, x, i, v: (x * 1).put_(i, v)),
    "scatter_no_dups": (
        [X, np.array([[2, 0, 1, 0], [1, 2, 0, 1]]), _f32(2, 4)],
        lambda m, x, i, s: x.scatter(0, i, s),
    ),
    "index_put_no_dups": ([X, np.array([2, 0]), _f32(2, 4)], lambda m, x, i, v: x.index_put((i,), v)),
}

# amax/amin: ties among the sources, and self's element equal to the result
XT = X.copy()
XT[0, 0] = 5.0
XT[2, 1] = -4.0
ST = _f32(2, 4)
ST[0, 0] = ST[1, 0] = 5.0
ST[0, 1] = ST[1, 1] = 0.25
ST[0, 2] = ST[1, 2] = -4.0
for red in ("amax", "amin"):
    for inc in (True, False):
        CASES[f"scatter_reduce_{red}_{inc}"] = (
            [XT, np.array([[0, 2, 2, 2], [0, 2, 2, 1]]), ST],
            lambda m, x, i, s, red=red, inc=inc: x.scatter_reduce(0, i, s, red, include_self=inc),
        )
        CASES[f"index_reduce_{red}_{inc}"] = (
            [XT, np.array([0, 0, 2]), np.stack([XT[0], XT[0], XT[2]])],
            lambda m, x, i, s, red=red, inc=inc: x.index_reduce(0, i, s, red, include_self=inc),
        )
CASES["scatter_reduce_mean_False"] = (
    [XT, np.array([[0, 2, 2, 2], [0, 2, 2, 1]]), ST],
    lambda m, x, i, s: x.scatter_reduce(0, i, s, "mean", include_self=False),
)


def _torch_run(inputs, fn, w):
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    out = fn(torch, *ts)
    grads = torch.autograd.grad((out * torch.tensor(w)).sum(), [t for t in ts if t.requires_grad])
    return out.detach().numpy(), [g.numpy() for g in grads]


def _ej_run(inputs, fn, w, mode):
    ts = [ej.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    wt = ej.tensor(w)

    def step():
        out = fn(ej, *ts)
        (out * wt).sum().backward()
        return out

    if mode == "compiled":
        out = ej.compile(step)()
    elif mode == "lazy":
        with ej.lazy():
            out = step()
            res = out.detach().numpy(), [t.grad.numpy() for t in ts if t.requires_grad]
        return res
    else:
        out = step()
    return out.detach().numpy(), [t.grad.numpy() for t in ts if t.requires_grad]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_grads_match_torch(name, mode):
    inputs, fn = CASES[name]
    with torch.no_grad():
        shape = fn(torch, *[torch.tensor(a) for a in inputs]).shape
    w = RNG.standard_normal(tuple(shape)).astype(np.float32)
    want, want_g = _torch_run(inputs, fn, w)
    got, got_g = _ej_run(inputs, fn, w, mode)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert len(got_g) == len(want_g)
    for g, t in zip(got_g, want_g):
        np.testing.assert_allclose(g, t, rtol=1e-5, atol=1e-6)


def test_duplicates_really_differ_from_a_single_winner():
    """The cases exercise the difference: torch gives every duplicate a gradient."""
    inputs, fn = CASES["index_put"]
    w = np.ones((3, 4), np.float32)
    _, (gx, gv) = _torch_run(inputs, fn, w)
    assert (gv == 1).all()  # rows 0, 2 and 3 of v all write row 0
    _, (ex, ev) = _ej_run(inputs, fn, w, "eager")
    assert (ev == 1).all() and (ex == gx).all()


def test_amax_tie_with_self_counts_self_without_include_self():
    """torch splits the gradient among the tied sources and ``self``'s equal element, though
    ``self`` gets none with ``include_self=False``."""
    x = ej.tensor([5.0, 1.0], requires_grad=True)
    s = ej.tensor([5.0, 5.0, 2.0], requires_grad=True)
    out = x.scatter_reduce(0, ej.tensor([0, 0, 1]), s, "amax", include_self=False)
    out.sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), [1 / 3, 1 / 3, 1.0], rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0])


# --------------------------------------------------------------------------- values kept bit for bit, ints
@pytest.mark.parametrize("mode", MODES)
def test_forward_bits_kept_signed_zeros_and_non_finite(mode):
    x = np.array([[-0.0, 1.0], [2.0, -0.0], [np.inf, np.nan]], np.float32)
    v = np.array([[-0.0, np.inf], [np.nan, -np.inf], [-0.0, np.inf]], np.float32)  # rows 0, 2 -> row 1
    rows = np.array([1, 0, 1])

    def run():
        xt, vt = ej.tensor(x, requires_grad=True), ej.tensor(v, requires_grad=True)
        out = xt.index_put((ej.tensor(rows),), vt)
        out.sum().backward()
        return out, vt.grad

    if mode == "compiled":
        out, g = ej.compile(run)()
    elif mode == "lazy":
        with ej.lazy():
            out, g = run()
            out, g = out.detach().numpy(), g.numpy()
    else:
        out, g = run()
    out, g = np.asarray(out), np.asarray(g)
    want = x.copy()
    want[1], want[0] = v[0], v[1]
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))  # -0.0, inf, nan kept
    # finite elements all get their gradient; of the repeated non-finite writes, one does
    assert g[1].tolist() == [1.0, 1.0]
    assert g[0, 0] == 1.0 and g[2, 0] == 1.0
    assert g[0, 1] + g[2, 1] == 1.0


def test_inf_source_without_duplicates_keeps_its_gradient():
    x = torch.zeros(3, requires_grad=True)
    s = torch.tensor([np.inf, 1.0], requires_grad=True)
    x.scatter(0, torch.tensor([2, 0]), s).sum().backward()
    xe = ej.zeros(3, requires_grad=True)
    se = ej.tensor([np.inf, 1.0], requires_grad=True)
    xe.scatter(0, ej.tensor([2, 0]), se).sum().backward()
    np.testing.assert_array_equal(se.grad.numpy(), s.grad.numpy())
    np.testing.assert_array_equal(xe.grad.numpy(), x.grad.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_integer_dtypes(mode):
    xi = np.arange(12, dtype=np.int32).reshape(3, 4)
    di = (np.arange(12, dtype=np.int32).reshape(3, 4) + 100)[SC_IDX, np.arange(4)]

    def fn(m, x, i, s, r, v, pi, pv):
        y = x.scatter(0, i, s)
        y = y.index_put((r,), v)
        z = y * 1
        z[r] = v
        return y + z + y.put(pi, pv) + x.index_copy(0, r, v)

    rv = (xi + 7)[ROWS]
    pv = (xi.reshape(-1) * 3)[PUT_I]
    inputs = [xi, SC_IDX, di, ROWS, rv, PUT_I, pv]
    want = fn(torch, *[torch.tensor(a) for a in inputs]).numpy()

    def run():
        return fn(ej, *[ej.tensor(a) for a in inputs])

    if mode == "compiled":
        got = ej.compile(run)()
    elif mode == "lazy":
        with ej.lazy():
            got = run().numpy()
    else:
        got = run()
    got = np.asarray(got)
    assert got.dtype.kind == "i"
    np.testing.assert_array_equal(got, want)


def test_vmap_and_func_grad():
    """The kernels stay pure jax: ``func.grad`` and ``vmap`` see torch's gradient too."""
    x, i, v = ej.tensor(X), ej.tensor(ROWS), ej.tensor(ROW_V)
    wt = ej.tensor(RNG.standard_normal((3, 4)).astype(np.float32))
    g = ej.func.grad(lambda vv: (x.index_put((i,), vv) * wt).sum())(v)
    np.testing.assert_allclose(g.numpy(), wt.numpy()[ROWS], rtol=1e-6)
    gb = ej.func.vmap(ej.func.grad(lambda vv: (x.index_put((i,), vv) * wt).sum()))(ej.stack([v, v * 2]))
    np.testing.assert_allclose(gb.numpy(), np.stack([wt.numpy()[ROWS]] * 2), rtol=1e-6)


# --------------------------------------------------------------------------- torch.embedding_bag
W = np.array([[1.0, 2.0], [1.0, 5.0], [3.0, 2.0], [0.0, 0.0], [-1.0, -1.0]], np.float32)
IDX = np.array([0, 1, 2, 1, 0, 3, 3, 4])
BAG_CASES = [
    # (offsets, mode, include_last_offset, padding_idx, per_sample_weights)
    ([0, 3, 5], 0, False, None, None),
    ([0, 3, 5], 1, False, None, None),
    ([0, 3, 5], 2, False, None, None),  # ties inside bags: the first in bag order
    ([0, 0, 4, 8], 0, False, 3, None),  # an empty bag
    ([0, 0, 4, 8], 1, False, None, None),
    ([0, 0, 4, 8], 2, False, None, None),
    ([0, 5, 7], 2, False, 3, None),  # a bag of padding only
    ([0, 5, 7], 1, False, -1, None),  # a negative padding_idx counts from the end
    ([0, 3, 5, 8], 0, True, None, None),
    ([0, 3, 5, 8], 2, True, 3, None),
    ([0, 3, 5], 0, False, None, np.linspace(0.5, 2.0, 8).astype(np.float32)),
]


def _bag(m, w, idx, off, mode, incl, pad, psw):
    return m.embedding_bag(w, idx, off, False, mode, False, psw, incl, pad)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(len(BAG_CASES)))
def test_embedding_bag_matches_torch(case, mode):
    off, bag_mode, incl, pad, psw = BAG_CASES[case]
    tw = torch.tensor(W, requires_grad=True)
    tp = None if psw is None else torch.tensor(psw, requires_grad=True)
    want = _bag(torch, tw, torch.tensor(IDX), torch.tensor(off), bag_mode, incl, pad, tp)
    wout = RNG.standard_normal(tuple(want[0].shape)).astype(np.float32)
    (want[0] * torch.tensor(wout)).sum().backward()

    ew = ej.tensor(W, requires_grad=True)
    ep = None if psw is None else ej.tensor(psw, requires_grad=True)

    def run():
        res = _bag(ej, ew, ej.tensor(IDX), ej.tensor(off), bag_mode, incl, pad, ep)
        (res[0] * ej.tensor(wout)).sum().backward()
        return res

    if mode == "compiled":
        got = ej.compile(run)()
    elif mode == "lazy":
        with ej.lazy():
            got = [t.detach().numpy() for t in run()]
    else:
        got = run()
    assert len(got) == 4
    for g, t in zip(got, want):
        g, t = np.asarray(g), t.detach().numpy()
        assert g.shape == t.shape
        np.testing.assert_allclose(g, t, rtol=1e-6)
    for k in (1, 2, 3):
        assert np.asarray(got[k]).dtype.kind == "i"
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    if psw is not None:
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_embedding_bag_forward_only_sizes():
    """Without any input requiring grad, torch sizes ``sum``'s zero ``bag_size`` and
    ``max_indices`` by ``offsets`` under ``include_last_offset``; with one, by the bags."""
    off = [0, 3, 5, 8]
    for rg in (False, True):
        want = torch.embedding_bag(
            torch.tensor(W, requires_grad=rg), torch.tensor(IDX), torch.tensor(off), False, 0, False, None, True
        )
        got = ej.embedding_bag(
            ej.tensor(W, requires_grad=rg), ej.tensor(IDX), ej.tensor(off), False, 0, False, None, True
        )
        for g, t in zip(got[1:], want[1:]):
            assert tuple(g.shape) == tuple(t.shape)
            np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_embedding_bag_errors():
    w, i, o = ej.tensor(W), ej.tensor(IDX), ej.tensor([0, 3])
    with pytest.raises(RuntimeError, match="`mode` must be sum, mean, or max."):
        ej.embedding_bag(w, i, o, False, 3)
    with pytest.raises(RuntimeError, match="per_sample_weights only supported with mode='sum'"):
        ej.embedding_bag(w, i, o, False, 1, False, ej.ones(8))
    with pytest.raises(RuntimeError, match="offsets\\[0\\] has to be 0"):
        ej.embedding_bag(w, i, ej.tensor([1, 3]), False, 0)
