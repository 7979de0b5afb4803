"""``detach()`` and the user's ``no_grad`` inside code that JAX differentiates (a
``func`` transform's function, a differentiable compiled call, a custom Function's
backward) make constants, as in torch -- while the library's own tape-off regions (the
backward engine, replays) leave JAX's gradients alone."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

X = np.array([0.5, -1.0, 2.0], dtype=np.float32)


def _detached(lib, x):
    return (x * x.detach()).sum() + x.sin().detach().sum()


def _no_grad_inside(lib, x):
    with lib.no_grad():
        z = x * 2
    with lib.set_grad_enabled(False):
        w = x.exp()
        with lib.enable_grad():
            u = x.cos()  # grad on again: differentiated
    return (x * z).sum() + w.sum() + (u * x).sum()


def _inference_inside(lib, x):
    with lib.inference_mode():
        z = x.square()
    return (x * z.clone()).sum()


FUNCS = [_detached, _no_grad_inside, _inference_inside]


def _torch_grad(f):
    return torch.func.grad(lambda x: f(torch, x))(torch.tensor(X)).numpy()


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_func_grad_treats_detached_and_no_grad_values_as_constants(f, mode):
    want = _torch_grad(f)
    with ej.lazy() if mode == "lazy" else _null():
        got = ej.func.grad(lambda x: f(ej, x))(ej.tensor(X)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.__name__)
def test_other_transforms_too(f):
    xt = torch.tensor(X)
    want_vjp = torch.func.vjp(lambda x: f(torch, x) * x, xt)[1](torch.ones(3))[0].numpy()
    want_jac = torch.func.jacrev(lambda x: f(torch, x) * x)(xt).numpy()
    xe = ej.tensor(X)
    got_vjp = ej.func.vjp(lambda x: f(ej, x) * x, xe)[1](ej.ones(3))[0].numpy()
    got_jac = ej.func.jacrev(lambda x: f(ej, x) * x)(xe).numpy()
    np.testing.assert_allclose(got_vjp, want_vjp, rtol=1e-6)
    np.testing.assert_allclose(got_jac, want_jac, rtol=1e-6)


def test_a_no_grad_around_a_transform_is_ignored_as_in_torch():
    with torch.no_grad():
        want = torch.func.grad(lambda x: (x**3).sum())(torch.tensor(X)).numpy()
    with ej.no_grad():
        got = ej.func.grad(lambda x: (x**3).sum())(ej.tensor(X)).numpy()
        assert not ej.is_grad_enabled()
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_backward_through_a_function_with_detach_and_no_grad(f, mode):
    """Compiled with grad on, the function is one differentiable op whose backward JAX
    derives by retracing it (under the engine's own no_grad)."""
    xt = torch.tensor(X, requires_grad=True)
    f(torch, xt).backward()
    xe = ej.tensor(X, requires_grad=True)
    fn = ej.compile(lambda x: f(ej, x)) if mode == "compile" else (lambda x: f(ej, x))
    with ej.lazy() if mode == "lazy" else _null():
        fn(xe).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_second_order_through_a_custom_function_backward_that_detaches():
    """The output gradient a custom backward detaches is a constant to double backward."""

    def make(lib):
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a**3

            @staticmethod
            def backward(ctx, g):
                (a,) = ctx.saved_tensors
                return 3 * g.detach() * a**2 + g * a

        return Cube

    got, want = [], []
    for lib, out in ((ej, got), (torch, want)):
        x = lib.tensor(X, requires_grad=True)
        v = lib.ones(3, requires_grad=True)
        (gx,) = lib.autograd.grad(make(lib).apply(x), x, v, create_graph=True)
        out += [t.detach().numpy() for t in lib.autograd.grad(gx.sum(), (x, v))]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _null():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_a_layer_kernel_first_traced_under_no_grad_still_differentiates(mode):
    """A fused layer kernel runs module code under the library's own no_grad; traced first
    inside the user's no_grad (an evaluation before training), it must keep its gradients."""

    def grads(evaluate_first: bool):
        ej.manual_seed(0)
        model = ej.nn.Sequential(ej.nn.Linear(3, 5), ej.nn.ReLU(), ej.nn.Linear(5, 2))
        x = ej.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        if evaluate_first:
            with ej.no_grad():
                model(x)

        def step(x):
            loss = model(x).square().sum()
            loss.backward()
            return loss

        fn = ej.compile(step) if mode == "compile" else step
        with ej.lazy() if mode == "lazy" else _null():
            fn(x)
        return [p.grad.numpy() for p in model.parameters()]

    for a, b in zip(grads(True), grads(False)):
        assert np.abs(b).sum() > 0
        np.testing.assert_allclose(a, b, rtol=1e-6)
