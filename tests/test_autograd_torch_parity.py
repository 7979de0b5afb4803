"""Autograd and ``func`` cases found to differ from torch 2.13, each checked against torch:
retained grads accumulate, ``backward(inputs=)`` runs and frees only what leads to the
inputs (non-leaf inputs get a ``.grad``), a leaf can be its own output, output gradients of
another float dtype are cast, custom Functions inside compiled forwards and transforms get
their gradients, and the ``func`` transforms follow torch's conventions."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

MODES = ["eager", "compile", "lazy"]


def _in_mode(mode: str, fn):
    """``fn()`` eagerly, as one compiled call, or under ``ej.lazy()``."""
    if mode == "compile":
        return ej.compile(fn)()
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        return fn()


def _np(t):
    return None if t is None else t.detach().numpy()


def _both(build, mode: str = "eager"):
    """``build(lib)`` for torch and for eagerjax (in ``mode``): two lists of arrays."""
    want = [_np(t) for t in build(torch)]
    got = [_np(t) for t in _in_mode(mode, lambda: build(ej))] if mode != "eager" else [_np(t) for t in build(ej)]
    return got, want


def _close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_a_retained_grad_accumulates_over_backward_calls(mode):
    def build(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        z = (y**2).sum()
        z.backward(retain_graph=True)
        z.backward()
        return [y.grad, x.grad]

    _close(*_both(build, mode))


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_backward_inputs_gives_non_leaf_inputs_a_grad(mode):
    def build(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([0.5, 1.0, 1.5], requires_grad=True)
        y = x.exp()
        (y * y * w).sum().backward(inputs=[y, w])
        return [y.grad, x.grad, w.grad]

    _close(*_both(build, mode))


def test_backward_inputs_leaves_other_branches_alone():
    """The GAN pattern: ``d_loss.backward(inputs=D's params)`` must not run (or free) the
    generator's part of the graph, nor fire hooks there."""
    results = []
    for lib in (torch, ej):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        calls = []
        y = x.exp()
        y.register_hook(lambda g: calls.append(1))
        (y * w).sum().backward(inputs=[w])
        first = list(calls)
        (y * 3).sum().backward()  # y's branch was never run: still there
        results.append((first, w.grad.numpy(), x.grad.numpy(), len(calls)))
    (f0, w0, x0, n0), (f1, w1, x1, n1) = results
    assert f0 == f1 == [] and n0 == n1 == 1
    np.testing.assert_allclose(w1, w0, rtol=1e-6)
    np.testing.assert_allclose(x1, x0, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_a_leaf_among_the_outputs_of_autograd_grad(mode):
    def build(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (a,) = lib.autograd.grad([x], x, [lib.ones(2)])
        (b,) = lib.autograd.grad([x, 2 * x], x, [lib.ones(2), lib.ones(2)])
        return [a, b]

    _close(*_both(build, mode))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_an_output_gradient_of_another_float_dtype_is_cast(dtype):
    def build(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (x * 2).backward(lib.ones(2, dtype=getattr(lib, dtype)))
        (g,) = lib.autograd.grad((x * 3), x, lib.ones(2, dtype=getattr(lib, dtype)))
        assert x.grad.dtype == lib.float32 and g.dtype == lib.float32
        return [x.grad, g]

    _close(*_both(build))


def _cube(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a**3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * g * a**2

    return Cube


def _cube_new_style(lib):
    """``_cube`` in the ``setup_context`` style torch's transforms require."""

    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(a):
            return a**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * g * a**2

    return Cube


def test_a_custom_function_in_a_compiled_forward_gets_its_gradients():
    """The backward of a compiled forward retraces it with grad off: the Function still
    sees its inputs as differentiated, and an ``is_grad_enabled()`` branch goes the same way."""
    results = []
    for lib, compiled in ((torch, False), (ej, False), (ej, True)):
        lin = lib.nn.Linear(2, 2)
        with lib.no_grad():
            lin.weight.copy_(lib.tensor([[1.0, 2.0], [3.0, 4.0]]) / 10)
            lin.bias.zero_()
        cube = _cube(lib)

        def f(x, lib=lib, lin=lin, cube=cube):
            h = cube.apply(lin(x))
            if lib.is_grad_enabled():
                h = h * 2
            return h.sum()

        fn = ej.compile(f) if compiled else f
        out = fn(lib.tensor([[1.0, -1.0]]))
        out.backward()
        results.append((float(out), lin.weight.grad.numpy(), lin.bias.grad.numpy()))
    for got in results[1:]:
        np.testing.assert_allclose(got[0], results[0][0], rtol=1e-6)
        np.testing.assert_allclose(got[1], results[0][1], rtol=1e-5)
        np.testing.assert_allclose(got[2], results[0][2], rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_a_custom_function_inside_func_transforms(mode):
    def build(lib):
        cube = _cube_new_style(lib)
        x = lib.tensor([1.0, 2.0])
        f = lambda v: cube.apply(v).sum()  # noqa: E731
        g = lib.func.grad(f)(x)
        (v,) = lib.func.vjp(lambda v: cube.apply(v), x)[1](lib.ones(2))
        j = lib.func.jacrev(lambda v: cube.apply(v))(x)
        return [g, v, j]

    _close(*_both(build, mode))


def test_grad_and_value_with_aux_returns_torchs_structure():
    for lib in (torch, ej):
        g, (v, aux) = lib.func.grad_and_value(lambda x: ((x**2).sum(), x * 10), has_aux=True)(lib.tensor([1.0, 2.0]))
        np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
        np.testing.assert_allclose(float(v), 5.0)
        np.testing.assert_allclose(aux.numpy(), [10.0, 20.0])


def test_complex_gradients_of_transforms_follow_torchs_convention():
    z = np.array([1 + 1j, 2 + 0j], dtype=np.complex64)
    got, want = [], []
    for lib, out in ((torch, want), (ej, got)):
        zt = lib.tensor(z)
        out.append(lib.func.grad(lambda v: (v * v.conj()).real.sum())(zt).numpy())
        out.append(lib.func.vjp(lambda v: v * v, zt)[1](lib.ones(2, dtype=lib.complex64))[0].numpy())
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_forward_mode_ignores_no_grad_as_torch_does():
    def f(lib, x):
        with lib.no_grad():
            z = x * 3
        return x * z

    x = [1.0, 2.0]
    for api in ("jvp", "jacfwd", "jacrev"):
        res = []
        for lib in (torch, ej):
            xt = lib.tensor(x)
            if api == "jvp":
                res.append(lib.func.jvp(lambda v, lib=lib: f(lib, v), (xt,), (lib.ones(2),))[1].numpy())
            else:
                res.append(getattr(lib.func, api)(lambda v, lib=lib: f(lib, v))(xt).numpy())
        np.testing.assert_allclose(res[1], res[0], rtol=1e-6, err_msg=api)


def test_autograd_grad_captures_a_non_leaf_input_before_its_hooks():
    """torch captures a non-leaf input's gradient before its hooks run (they still shape
    what flows on), a leaf input's after, and a retained ``.grad`` shows the hooks."""

    def build(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: g * 3)
        x.register_hook(lambda g: g * 5)
        gy, gx = lib.autograd.grad((y * y).sum(), [y, x])
        y2 = x * 2
        y2.retain_grad()
        y2.register_hook(lambda g: g * 3)
        (y2 * y2).sum().backward()
        return [gy, gx, y2.grad, x.grad]

    _close(*_both(build))


@pytest.mark.parametrize(
    "call",
    [
        lambda L, x: L.autograd.grad(
            (x * 2).sum(), [x, L.ones(1, requires_grad=True)], materialize_grads=True, allow_unused=False
        ),
        lambda L, x: L.autograd.grad((x * 2).sum(), [x, L.ones(1, requires_grad=True)]),
        lambda L, x: L.autograd.backward([(x * 2).sum(), L.ones(())]),
        lambda L, x: (x.register_hook(lambda g: g.sum()), (x * 2).sum().backward()),
        lambda L, x: L.tensor([1, 2]).requires_grad_(),
        lambda L, x: L.tensor([1, 2], requires_grad=True),
    ],
    ids=["materialize_and_not_allow_unused", "unused_index", "root_index", "hook_size", "int_method", "int_factory"],
)
def test_error_messages_match_torch(call):
    msgs = []
    for lib in (torch, ej):
        with pytest.raises((RuntimeError, ValueError)) as err:
            call(lib, lib.tensor([1.0, 2.0], requires_grad=True))
        msgs.append((err.type, str(err.value).splitlines()[0]))
    assert msgs[0] == msgs[1]
