"""Custom ``autograd.Function`` details and ``requires_grad`` writes, against torch, in every mode.

- ``ctx.mark_dirty``: a forward that modifies an input in place and returns it; the input
  then holds the new value and the Function's history (gradients reach whoever made it).
- ``@once_differentiable``: first-order gradients as usual, a double backward raises.
- ``t.requires_grad = False`` / ``requires_grad_(False)`` on a non-leaf raise torch's error.
"""

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

from test_function import _np  # noqa: E402 - the shared copy helper

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)

ej_once = ej.autograd.function.once_differentiable
torch_once = torch.autograd.function.once_differentiable

MODES = ["eager", "compile", "lazy"]
RNG = np.random.default_rng(0)
A0 = RNG.standard_normal((3, 4)).astype(np.float32)
W0 = RNG.standard_normal((3, 4)).astype(np.float32)
DATA = [RNG.standard_normal((3, 4)).astype(np.float32) for _ in range(3)]


def _in_mode(mode, fn, *args):
    if mode == "lazy":
        with ej.lazy():
            return fn(*args)
    return fn(*args)


def _run(lib, build, mode="eager"):
    """Per call: the step's outputs, the leaves' grads and values (numpy)."""
    leaves, step = build(lib)
    fn = ej.compile(step) if mode == "compile" else step
    out = []
    for d in DATA:
        res = _in_mode(mode, fn, lib.tensor(d))
        out.append([_np(r) for r in res] + [_np(p.grad) for p in leaves] + [_np(p) for p in leaves])
    return out


def _check(build, rtol=1e-5, atol=1e-6):
    ref = _run(torch, build)
    for mode in MODES:
        got = _run(ej, build, mode)
        for a, b in zip(got, ref):
            for x, y in zip(a, b):
                assert (x is None) == (y is None), mode
                if x is not None:
                    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=mode)


# --------------------------------------------------------------------------- mark_dirty
def _mul_add_(lib):
    class MulAdd_(lib.autograd.Function):
        """x.mul_(w).add_(1) in place; returns x."""

        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(w)
            x.mul_(w).add_(1.0)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            (w,) = ctx.saved_tensors
            return g * w, None

    return MulAdd_


def dirty_non_leaf(lib):
    """The dirty input is a non-leaf: the gradient flows through the Function into its maker."""
    a = lib.nn.Parameter(lib.tensor(A0))
    w = lib.tensor(W0)
    F = _mul_add_(lib)

    def step(d):
        a.grad = None
        x = a * d
        y = F.apply(x, w)
        assert y is x and x.requires_grad and not x.is_leaf
        (y * y).sum().backward()
        return (x,)

    return [a], step


def dirty_then_more_ops(lib):
    """Ops after the in-place Function read the new value; the second input also gets a gradient."""
    a = lib.nn.Parameter(lib.tensor(A0))
    b = lib.nn.Parameter(lib.tensor(W0))

    class Scale_(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, s):
            ctx.save_for_backward(x.clone(), s)
            x.mul_(s)
            ctx.mark_dirty(x)
            return x, s * 2

        @staticmethod
        def backward(ctx, gx, gs2):
            x0, s = ctx.saved_tensors
            return gx * s, gx * x0 + gs2 * 2

    def step(d):
        a.grad = b.grad = None
        x = a + d
        y, s2 = Scale_.apply(x, b)
        (x.sin() * 3 + s2).sum().backward()
        return y, s2

    return [a, b], step


@pytest.mark.parametrize("build", [dirty_non_leaf, dirty_then_more_ops])
def test_mark_dirty_matches_torch_in_every_mode(build):
    _check(build)


@pytest.mark.parametrize("mode", MODES)
def test_mark_dirty_on_a_tensor_without_grad_writes_it(mode):
    """A buffer-like tensor modified by the Function: the write persists (compiled: written back)."""

    def run(lib, mode="eager"):
        buf = lib.zeros(3)
        F = _mul_add_(lib)
        w = lib.tensor([1.0, 2.0, 3.0])

        def step():
            r = F.apply(buf, w)
            assert r is buf and not buf.requires_grad
            return buf * 1

        fn = ej.compile(step) if mode == "compile" else step
        outs = [_np(_in_mode(mode, fn)) for _ in range(3)]
        return outs, _np(buf)

    got, ref = run(ej, mode), run(torch)
    for x, y in zip(got[0] + [got[1]], ref[0] + [ref[1]]):
        np.testing.assert_allclose(x, y)


@pytest.mark.parametrize("mode", MODES)
def test_mark_dirty_on_a_leaf_requiring_grad_raises(mode):
    for lib in (torch, ej):
        F = _mul_add_(lib)
        x = lib.ones(3, requires_grad=True)

        def go(F=F, x=x, lib=lib):
            return F.apply(x, lib.ones(3))

        fn = ej.compile(go) if lib is ej and mode == "compile" else go
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad has been used in an in-place"):
            _in_mode(mode, fn) if lib is ej else fn()
        assert x.is_leaf and x.grad_fn is None and x.requires_grad
        if mode == "eager":
            np.testing.assert_allclose(_np(x), [2.0, 2.0, 2.0])  # (torch's forward ran: x was modified)


def test_mark_dirty_under_no_grad_and_when_not_returned():
    for lib in (torch, ej):
        F = _mul_add_(lib)
        x = lib.ones(3, requires_grad=True)
        with lib.no_grad():
            r = F.apply(x, lib.full((3,), 2.0))
        # torch: the leaf is modified and a different tensor holding its value is returned
        assert r is not x and x.is_leaf and x.requires_grad and not r.requires_grad
        np.testing.assert_allclose(_np(x), [3.0, 3.0, 3.0])
        np.testing.assert_allclose(_np(r), [3.0, 3.0, 3.0])

        class NotReturned(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.add_(1.0)
                ctx.mark_dirty(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        a = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="Some elements marked as dirty during the forward method were not"):
            NotReturned.apply(a * 1)


# --------------------------------------------------------------------------- once_differentiable
def _square(lib, once):
    seen = []

    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once
        def backward(ctx, g):
            seen.append(lib.is_grad_enabled())
            (x,) = ctx.saved_tensors
            return 2 * x * g

    return Square, seen


def once_first_order(lib):
    a = lib.nn.Parameter(lib.tensor(A0))
    Square, _ = _square(lib, torch_once if lib is torch else ej_once)

    def step(d):
        a.grad = None
        y = Square.apply(a * d)
        (y * y).sum().backward()
        return (y,)

    return [a], step


def test_once_differentiable_first_order_matches_torch_in_every_mode():
    _check(once_first_order)


@pytest.mark.parametrize("mode", MODES)
def test_once_differentiable_double_backward_raises(mode):
    msg = "trying to differentiate twice a function that was marked with @once_differentiable"
    for lib in (torch, ej):
        Square, seen = _square(lib, torch_once if lib is torch else ej_once)
        x = lib.tensor([1.0, 2.0], requires_grad=True)

        def go(Square=Square, x=x, lib=lib):
            (g,) = lib.autograd.grad(Square.apply(x).pow(2).sum(), x, create_graph=True)
            assert g.requires_grad
            g.sum().backward()
            return x.grad

        fn = ej.compile(go) if lib is ej and mode == "compile" else go
        with pytest.raises(RuntimeError, match=msg):
            _in_mode(mode, fn) if lib is ej else fn()
            if lib is ej and mode == "lazy":
                _np(x.grad)  # (a lazy graph may only fail at its flush)
        assert seen and not any(seen)  # grad mode is off inside the backward


def test_once_differentiable_backward_without_create_graph_keeps_grad_mode_off():
    for lib, once in ((torch, torch_once), (ej, ej_once)):
        Square, seen = _square(lib, once)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        Square.apply(x).sum().backward()
        np.testing.assert_allclose(_np(x.grad), [2.0, 4.0])
        assert seen == [False] or (lib is ej and not any(seen))


@pytest.mark.parametrize("materialize", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_set_materialize_grads(mode, materialize):
    """An output that got no gradient reaches ``backward`` as None under
    ``set_materialize_grads(False)`` and as zeros otherwise, as in torch, in every mode (the
    per-node and fused backward, inside ``ej.compile``, lazily, and under ``func.grad``)."""
    for lib in (torch, ej):
        got = []

        class Two(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                got.append((g1 is None, g2 is None))
                if g2 is None:
                    return g1 * 2
                return (0 if g1 is None else g1 * 2) + g2 * 3

        def step(x, which):
            y = Two.apply(x)[which]
            y.sum().backward()
            return x.grad

        want = [False, not materialize]
        for which in (0, 1):
            got.clear()
            x = lib.ones(2, requires_grad=True)
            fn = ej.compile(step, static_argnums=(1,)) if lib is ej and mode == "compile" else step
            g = _in_mode(mode, fn, x, which) if lib is ej else step(x, which)
            np.testing.assert_allclose(_np(g), [2.0 + which, 2.0 + which])
            assert got and got[-1] == (tuple(want) if which == 0 else tuple(want[::-1])), (lib, which, got)
        if lib is ej and mode == "eager":
            got.clear()
            gx = ej.func.grad(lambda x: Two.apply(x)[0].sum())(ej.ones(2))
            np.testing.assert_allclose(_np(gx), [2.0, 2.0])
            assert got[-1] == tuple(want)


# --------------------------------------------------------------------------- requires_grad writes
LEAF_MSG = "you can only change requires_grad flags of leaf variables. If you want to use a computed variable"


@pytest.mark.parametrize("mode", MODES)
def test_requires_grad_false_on_a_non_leaf_raises(mode):
    for lib in (torch, ej):
        x = lib.ones(2, requires_grad=True)

        def set_attr(x=x):
            y = x * 2
            y.requires_grad = False

        def set_method(x=x, lib=lib):
            y = x * 2
            assert y.requires_grad_(True) is y  # (allowed: it already requires grad)
            y.requires_grad_(False)

        for f in (set_attr, set_method):
            fn = ej.compile(f) if lib is ej and mode == "compile" else f
            with pytest.raises(RuntimeError, match=LEAF_MSG) as e:
                _in_mode(mode, fn) if lib is ej else fn()
            assert str(e.value).endswith("var_no_grad = var.detach().")


@pytest.mark.parametrize("mode", MODES)
def test_requires_grad_true_on_a_non_leaf_raises(mode):
    """torch refuses even ``y.requires_grad = True`` on a non-leaf (short message), while
    ``requires_grad_(True)`` and in-place results that take history stay allowed."""
    for lib in (torch, ej):
        x = lib.ones(2, requires_grad=True)

        def set_true(x=x):
            y = x * 2
            y.requires_grad = True

        fn = ej.compile(set_true) if lib is ej and mode == "compile" else set_true
        with pytest.raises(RuntimeError) as e:
            _in_mode(mode, fn) if lib is ej else fn()
        assert str(e.value).splitlines()[0] == "you can only change requires_grad flags of leaf variables."

        def in_place(x=x, lib=lib):
            z = lib.zeros(2)
            z.add_(x)  # a leaf that took history: now a non-leaf requiring grad
            assert z.requires_grad and not z.is_leaf
            return z.sum()

        f2 = ej.compile(in_place) if lib is ej and mode == "compile" else in_place
        out = _in_mode(mode, f2) if lib is ej else f2()
        out.backward()
        np.testing.assert_allclose(_np(x.grad), [1.0, 1.0])


def test_requires_grad_writes_allowed_like_torch():
    for lib in (torch, ej):
        x = lib.ones(2, requires_grad=True)
        x.requires_grad = False  # a leaf
        assert not x.requires_grad and x.is_leaf
        with lib.no_grad():
            y = x * 2
        y.requires_grad = True  # made under no_grad: a leaf
        assert y.requires_grad and y.is_leaf
        i = lib.ones(2, dtype=lib.int32)
        i.requires_grad = False
        with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype can require"):
            i.requires_grad = True
        with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
            i.requires_grad_(True)
        p = lib.nn.Parameter(lib.ones(2))
        p.requires_grad = False
        assert not p.requires_grad
        d = (x * 2).detach()
        d.requires_grad = True
        assert d.requires_grad
