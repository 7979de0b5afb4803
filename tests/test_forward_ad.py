"""autograd.forward_ad (dual tensors) against torch's forward AD: tangents of ops, tuple and
integer outputs, in-place ops, a Linear+ReLU model, errors — eager, under ej.compile (the
dual level inside the compiled function) and under ej.lazy(); backward is unaffected."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import nn
from eagerjax.autograd import forward_ad as fwAD

torch = pytest.importorskip("torch")
tfw = torch.autograd.forward_ad

RNG = np.random.default_rng(0)
MODES = ("eager", "compiled", "lazy")


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _close(ours, theirs, tol=1e-5):
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


def _jvp(lib, fw, f, primals, tangents):
    """Apply ``f`` to dual tensors and return ``[(primal, tangent)]`` per output (non-dual
    arguments: tangent None)."""
    with fw.dual_level():
        args = [p if t is None else fw.make_dual(p, t) for p, t in zip(primals, tangents)]
        out = f(lib, *args)
        outs = out if isinstance(out, tuple) else (out,)
        return [tuple(fw.unpack_dual(o)) for o in outs]


def _run(mode, f, xs, vs):
    """Our forward AD of ``f`` in ``mode``; ``xs``/``vs`` are numpy arrays (a None tangent: not dual)."""
    ps = [ej.tensor(x) for x in xs]
    ts = [None if v is None else ej.tensor(v) for v in vs]
    body = lambda *a: _jvp(ej, fwAD, f, a[: len(ps)], list(a[len(ps) :]))  # noqa: E731
    if mode == "eager":
        return body(*ps, *ts)
    if mode == "compiled":
        return ej.compile(body)(*ps, *ts)
    with ej.lazy():
        res = body(*ps, *ts)
    return res


def _check(f, xs, vs, mode, tol=1e-5):
    theirs = _jvp(torch, tfw, f, [torch.tensor(x) for x in xs], [None if v is None else torch.tensor(v) for v in vs])
    ours = _run(mode, f, xs, vs)
    assert len(ours) == len(theirs)
    for (op, ot), (tp, tt) in zip(ours, theirs):
        _close(op, tp, tol)
        _close(ot, tt, tol)


CASES = {
    "elementwise": (lambda L, x, y: x.sin() * y + x.exp() / (1 + y**2) - x.tanh(), [(3, 4), (3, 4)]),
    "broadcast_scalar": (lambda L, x, y: (x * 2.5 + y).pow(2) - 3.0 / (1 + x.abs()), [(3, 4), (4,)]),
    "matmul": (lambda L, x, y: x @ y, [(3, 4), (4, 5)]),
    "reductions": (lambda L, x, y: (x.sum(0), x.mean(), L.logsumexp(x, 1), x.norm(), (x * y).amax(1)), [(3, 4)] * 2),
    "softmax": (lambda L, x, y: L.softmax(x, -1) * y, [(3, 4), (3, 4)]),
    "shape": (
        lambda L, x, y: (
            x.reshape(4, 3).t(),
            L.cat([x, y], 0),
            L.stack([x, y], 2).permute(2, 0, 1),
            x[:, None].expand(3, 2, 4),
        ),
        [(3, 4), (3, 4)],
    ),
    "indexing": (
        lambda L, x, y: (
            x[1:, ::2],
            x[L.tensor([2, 0, 2])],
            L.gather(x, 1, L.tensor([[0, 3], [1, 1], [2, 0]])),
            y[0, 1],
        ),
        [(3, 4), (3, 4)],
    ),
    "tuple_and_integer_outputs": (
        lambda L, x, y: (*x.max(1), x.argmax(), x > y, x.sort(0).values, x.topk(2).indices),
        [(3, 4), (3, 4)],
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_tangents_match_torch(name, mode):
    f, shapes = CASES[name]
    xs = [_arr(*s) for s in shapes]
    vs = [_arr(*s) for s in shapes]
    _check(f, xs, vs, mode)


@pytest.mark.parametrize("mode", MODES)
def test_only_some_inputs_dual(mode):
    f = lambda L, x, w: (x @ w).relu().sum(1)  # noqa: E731
    xs = [_arr(3, 4), _arr(4, 2)]
    _check(f, xs, [_arr(3, 4), None], mode)
    _check(f, xs, [None, _arr(4, 2)], mode)


def _inplace(L, x, y):
    a = x.clone()
    a.mul_(y)  # dual *= dual
    a.add_(1.0)
    z = L.zeros(3, 4)
    z.add_(x)  # a plain tensor written from a dual one takes the tangent
    b = x.clone()
    b[0] = y[1]  # setitem of a dual slice
    c = x.clone()
    c.clamp_(-0.5, 0.5)
    e = x.clone()
    e.fill_(2.0)  # tangent zero
    g = x.clone()
    g.copy_(L.ones(3, 4))  # tangent zero
    h = x.clone()
    L.nn.functional.relu(h, inplace=True)
    return a, z, b, c, e, g, h


@pytest.mark.parametrize("mode", MODES)
def test_inplace_ops_propagate_tangents(mode):
    _check(_inplace, [_arr(3, 4), _arr(3, 4)], [_arr(3, 4), _arr(3, 4)], mode)


def _mlp_pair():
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    m.load_state_dict({k: ej.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return m, tm


@pytest.mark.parametrize("mode", MODES)
def test_linear_relu_model_jvp_matches_torch_func(mode):
    m, tm = _mlp_pair()
    x, v = _arr(5, 4), _arr(5, 4)
    tp, tt = torch.func.jvp(tm, (torch.tensor(x),), (torch.tensor(v),))

    def body(x, v):
        with fwAD.dual_level():
            return tuple(fwAD.unpack_dual(m(fwAD.make_dual(x, v))))

    run = {"eager": body, "compiled": ej.compile(body), "lazy": body}[mode]
    for _ in range(4):  # (a hot Sequential runs fused as one kernel in eager mode)
        if mode == "lazy":
            with ej.lazy():
                p, t = run(ej.tensor(x), ej.tensor(v))
        else:
            p, t = run(ej.tensor(x), ej.tensor(v))
        _close(p, tp)
        _close(t, tt)


@pytest.mark.parametrize("mode", ("eager", "lazy"))
def test_backward_unaffected_by_tangents(mode):
    m, tm = _mlp_pair()
    x, v = _arr(5, 4), _arr(5, 4)
    tx = torch.tensor(x, requires_grad=True)
    with tfw.dual_level():
        ty = tm(tfw.make_dual(tx, torch.tensor(v)))
        tt = tfw.unpack_dual(ty).tangent
        ty.pow(2).sum().backward()
    ex = ej.tensor(x, requires_grad=True)

    def body():
        with fwAD.dual_level():
            y = m(fwAD.make_dual(ex, ej.tensor(v)))
            t = fwAD.unpack_dual(y).tangent
            assert y.requires_grad and not t.requires_grad
            y.pow(2).sum().backward()
            return t

    if mode == "lazy":
        with ej.lazy():
            t = body()
    else:
        t = body()
    _close(t, tt)
    _close(ex.grad, tx.grad)
    for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
        _close(p.grad, tp.grad)


def test_primal_keeps_gradient_path_and_loses_tangent():
    x = ej.tensor(_arr(3), requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, ej.ones(3))
        assert fwAD.unpack_dual(x).tangent is None  # make_dual leaves its input alone
        assert fwAD.unpack_dual(d.detach()).tangent is None
        p, t = fwAD.unpack_dual(d)
        assert fwAD.unpack_dual(p).tangent is None and t is not None
        (p * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 3.0, np.float32))


def test_importable_as_a_submodule():
    import importlib

    assert importlib.import_module("eagerjax.autograd.forward_ad") is fwAD is ej.autograd.forward_ad
    assert set(fwAD.__all__) == set(tfw.__all__)


def test_unpack_outside_level_and_after_exit():
    x = ej.ones(3)
    p, t = fwAD.unpack_dual(x)
    assert p is x and t is None
    assert fwAD.unpack_dual(2.0) == (2.0, None)
    with fwAD.dual_level() as lvl:
        assert lvl == 0
        d = fwAD.make_dual(x, ej.ones(3))
        y = d * 2
        u = fwAD.unpack_dual(y)
        assert type(u).__name__ == "UnpackedDualTensor" and u._fields == ("primal", "tangent")
        assert fwAD.unpack_dual(d, level=0).tangent is not None
    assert fwAD.unpack_dual(d).tangent is None and fwAD.unpack_dual(y).tangent is None
    with fwAD.dual_level():  # a new level: the old tangents do not come back
        assert fwAD.unpack_dual(d).tangent is None


def test_tangent_dtype_is_cast_to_the_primal_dtype():
    with fwAD.dual_level():
        d = fwAD.make_dual(ej.ones(3), ej.ones(3, dtype=ej.float16))
        assert fwAD.unpack_dual(d).tangent.dtype == ej.float32


def _torch_error(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value), str(e.value)


def test_errors_in_torch_words():
    def both(f):
        theirs = _torch_error(lambda: f(torch, tfw))
        with pytest.raises(theirs[0]) as e:
            f(ej, fwAD)
        assert str(e.value) == theirs[1]

    both(lambda L, F: F.make_dual(L.ones(3), L.ones(3)))

    def inside(g):
        def f(L, F):
            with F.dual_level():
                g(L, F)

        return f

    both(inside(lambda L, F: F.make_dual(L.ones(3), L.ones(4))))
    both(inside(lambda L, F: F.make_dual(L.ones(3), L.ones(3, 1))))
    both(inside(lambda L, F: F.make_dual(L.ones(3, dtype=L.int32), L.ones(3))))
    both(inside(lambda L, F: F.make_dual(L.ones(3), L.ones(3, dtype=L.int32))))
    both(inside(lambda L, F: F.make_dual(L.ones(3), L.ones(3), level=4)))
    both(inside(lambda L, F: F.unpack_dual(F.make_dual(L.ones(3), L.ones(3)), level=4)))
    both(inside(lambda L, F: F.make_dual(F.make_dual(L.ones(3), L.ones(3)), L.ones(3))))
    both(inside(lambda L, F: F.enter_dual_level()))
    both(lambda L, F: F.exit_dual_level())

    def wrong_level(L, F):
        F.enter_dual_level()
        try:
            F.exit_dual_level(level=3)
        finally:
            F.exit_dual_level()

    both(wrong_level)
    with fwAD.dual_level(), pytest.raises(TypeError, match="expected a Tensor as primal"):
        fwAD.make_dual(3.0, ej.ones(()))


def test_a_value_written_outside_an_op_raises_instead_of_a_stale_tangent():
    with fwAD.dual_level():
        d = fwAD.make_dual(ej.ones(3), ej.ones(3))
        d.data = ej.zeros(3)
        with pytest.raises(RuntimeError, match="tangent of this dual tensor was lost"):
            fwAD.unpack_dual(d)
        with pytest.raises(RuntimeError, match="tangent of this dual tensor was lost"):
            d + 1


def test_dual_tensors_cannot_cross_into_a_compiled_function():
    f = ej.compile(lambda x: x * 2)
    with fwAD.dual_level():
        d = fwAD.make_dual(ej.ones(3), ej.ones(3))
        with pytest.raises(RuntimeError, match="Enter the dual level inside the compiled function"):
            f(d)
    f(ej.ones(3))  # traced and cached: a later call runs no Python, so it is checked at the call
    with fwAD.dual_level():
        d = fwAD.make_dual(ej.ones(3), ej.ones(3))
        with pytest.raises(RuntimeError, match="called with a dual tensor.*Enter the dual level inside"):
            f(d)
    with fwAD.dual_level():
        assert fwAD.unpack_dual(f(ej.ones(3))).tangent is None  # no dual tensor alive: fine


def test_decorator_and_no_leak_after_exception():
    @fwAD.dual_level()
    def g(x):
        return fwAD.unpack_dual(fwAD.make_dual(x, ej.ones(3)) * 2).tangent

    np.testing.assert_allclose(g(ej.ones(3)).numpy(), np.full(3, 2.0, np.float32))
    with pytest.raises(ZeroDivisionError), fwAD.dual_level():
        1 / 0
    with fwAD.dual_level():  # the failed level was exited
        pass
