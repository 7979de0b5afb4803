"""Define-by-run autograd: accumulation, retain_graph, grad modes, hooks, autograd.grad, errors."""

import numpy as np
import pytest

import eagerjax as ej


def t(x, rg=True):
    return ej.tensor(x, requires_grad=rg)


def test_grads_accumulate_across_backward_calls():
    x = t([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])


def test_retain_graph_and_freed_graph_error():
    x = t([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_implicit_gradient_needs_scalar_and_explicit_gradient_works():
    x = t([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.backward(ej.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(ej.ones(3))


def test_no_grad_enable_grad_set_grad_enabled_inference_mode():
    x = t([1.0])
    with ej.no_grad():
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with ej.enable_grad():
            assert (x * 2).requires_grad
    with ej.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ej.is_grad_enabled()
    with ej.inference_mode():
        assert not (x * 2).requires_grad

    @ej.no_grad()
    def f(a):
        return a * 2

    assert not f(x).requires_grad


def test_leaf_and_nonleaf_flags_retain_grad_and_grad_fn():
    x = t([1.0, 2.0])
    h = x * 3
    assert x.is_leaf and not h.is_leaf and h.grad_fn is not None and x.grad_fn is None
    assert "MulBackward0" in repr(h.grad_fn)
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), 18 * x.detach().numpy())


def test_hooks_on_leaf_and_intermediate():
    x = t([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    h = x * 2
    h.register_hook(lambda g: g + 1)
    h.sum().backward()
    np.testing.assert_allclose(seen[0], [4.0, 4.0])  # (1 + 1) * 2
    np.testing.assert_allclose(x.grad.numpy(), [40.0, 40.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_autograd_grad_and_higher_order():
    x = t([1.0, 2.0, 3.0])
    y = (x**3).sum()
    (g,) = ej.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([1.0, 4.0, 9.0]))
    assert x.grad is None  # autograd.grad does not accumulate
    (g2,) = ej.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [6.0, 12.0, 18.0])
    z = t([1.0])
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        ej.autograd.grad((x * 2).sum(), [x, z])
    a, b = ej.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert b is None and a is not None


def test_backward_inputs_restricts_accumulation():
    x, w = t([1.0, 2.0]), t([3.0, 4.0])
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])


def test_inplace_on_leaf_requiring_grad_is_an_error_but_fine_under_no_grad():
    x = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.add_(1)
    with ej.no_grad():
        x.add_(1)
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 3.0])


def test_inplace_on_intermediate_keeps_the_graph():
    x = t([1.0, 2.0])
    h = x * 2
    h.mul_(3)
    h.exp_()
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.exp(6 * np.array([1.0, 2.0])), rtol=1e-6)


def test_inplace_change_of_saved_tensor_is_safe_here():
    # torch raises "modified by an inplace operation"; nodes here save immutable arrays,
    # so the gradient is that of the graph as it was built.
    x = t([1.0, 2.0])
    h = x * 1
    y = (h * h).sum()
    with ej.no_grad():
        h.add_(100)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype can require gradients"):
        ej.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        ej.arange(3).requires_grad_()


def test_detach_and_data():
    x = t([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    x.data = ej.tensor([5.0, 6.0])
    np.testing.assert_allclose(x.detach().numpy(), [5.0, 6.0])
    assert x.requires_grad
    x.data.mul_(2)  # in place through the alias
    np.testing.assert_allclose(x.detach().numpy(), [10.0, 12.0])


def test_shape_errors_name_the_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        ej.ones(2, 3) @ ej.ones(4, 5)
    with pytest.raises(
        RuntimeError,
        match=r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 0",
    ):
        ej.ones(3) + ej.ones(4)


def test_matches_torch_on_a_small_script():
    torch = pytest.importorskip("torch")

    def script(lib, x0, w0):
        x = lib.tensor(x0, requires_grad=True)
        w = lib.tensor(w0, requires_grad=True)
        h = (x @ w).tanh()
        h.retain_grad()
        loss = (h.softmax(-1) * h.sigmoid()).sum() + (w**2).mean()
        loss.backward()
        return [loss.detach().numpy(), x.grad.numpy(), w.grad.numpy(), h.grad.numpy()]

    rng = np.random.default_rng(0)
    x0, w0 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    for a, b in zip(script(ej, x0, w0), script(torch, x0, w0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_linalg_and_special_namespaces():
    import eagerjax.linalg as linalg

    x = ej.tensor([3.0, 4.0], requires_grad=True)
    n = ej.linalg.norm(x)
    assert float(n) == 5.0
    n.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(linalg.inv(ej.eye(2) * 2).numpy(), np.eye(2) / 2)
    assert float(ej.special.erf(ej.tensor(0.0))) == 0.0


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_complex_gradients_follow_torchs_convention(mode):
    """A complex leaf's .grad is torch's (dL/dRe + i dL/dIm), the conjugate of JAX's, through
    complex->real, complex->complex (with a complex grad_output) and real->complex ops."""
    torch = pytest.importorskip("torch")
    z_np = np.array([1 + 2j, 3 - 1j, -0.5 + 0.25j], np.complex64)
    x_np = np.array([0.5, -1.0, 2.0], np.float32)

    def run(lib, fn):
        z = lib.tensor(z_np, requires_grad=True)
        x = lib.tensor(x_np, requires_grad=True)

        def step():
            w = (z * (2 + 1j)).exp() * lib.fft.fft(x)
            loss = (w.abs() ** 2).sum() + (z.conj() * z).real.sum() + (w * z).real.sum() + 2 * (w * z).imag.sum()
            loss.backward()
            return loss

        f = fn(step)
        if mode == "lazy" and lib is ej:
            with ej.lazy():
                f()
        else:
            f()
        return z.grad.detach().numpy(), x.grad.detach().numpy()

    ours = run(ej, ej.compile if mode == "compiled" else (lambda f: f))
    theirs = run(torch, lambda f: f)
    for a, b in zip(ours, theirs):  # (components of 5e6 next to 7e3: float32 rounding scales with the largest)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())


def test_custom_function_backward_sees_torchs_complex_convention():
    torch = pytest.importorskip("torch")

    def make(lib):
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, z):
                ctx.save_for_backward(z)
                return z * z

            @staticmethod
            def backward(ctx, g):
                (z,) = ctx.saved_tensors
                return g * 2 * z.conj()  # torch's rule for a holomorphic function

        return Square

    z_np = np.array([1 + 2j, -0.5 + 1j], np.complex64)
    grads = []
    for lib in (ej, torch):
        z = lib.tensor(z_np, requires_grad=True)
        (make(lib).apply(z).abs() ** 2).sum().backward()
        grads.append(z.grad.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5)


def test_complex_construction_errors_in_torchs_words():
    with pytest.raises(RuntimeError, match="view_as_real is only supported for complex tensors"):
        ej.view_as_real(ej.ones(3))
    with pytest.raises(RuntimeError, match="Tensor must have a last dimension of size 2"):
        ej.view_as_complex(ej.ones(3))
    with pytest.raises(RuntimeError, match="but got a tensor of scalar type: Int"):
        ej.view_as_complex(ej.ones(3, 2, dtype=ej.int32))
    with pytest.raises(RuntimeError, match="Expected object of scalar type Float but got scalar type Half"):
        ej.complex(ej.ones(2), ej.ones(2, dtype=ej.float16))
    z = ej.polar(ej.tensor([2.0]), ej.tensor([0.0]))
    assert z.dtype == ej.complex64 and z.numpy()[0] == 2.0


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_create_graph_backward_differentiates_through_grad_outputs(mode):
    """The double-backward trick: ``J^T v`` built with ``create_graph=True`` depends on
    ``v``, so differentiating it w.r.t. ``v`` gives the forward-mode product ``J u``
    (torch's gradgradcheck relies on the same dependence)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xn, wn, un = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal(3)

    def jvp(lib, x, w, u):
        x = x.detach().requires_grad_()
        y = (w @ x.sin()).tanh()
        v = lib.zeros(4, requires_grad=True)  # a dummy: the result does not depend on its value
        (vjp,) = lib.autograd.grad(y, x, v, create_graph=True)
        (ju,) = lib.autograd.grad(vjp, v, u)
        return ju, (w @ x.sin()).tanh()

    def ours(x, w, u):
        ju, y = jvp(ej, x, w, u)
        return ju.detach(), y.detach()

    if mode == "eager":
        got = ours(ej.tensor(xn), ej.tensor(wn), ej.tensor(un))
    elif mode == "compile":
        got = ej.compile(ours)(ej.tensor(xn), ej.tensor(wn), ej.tensor(un))
    else:
        with ej.lazy():
            got = ours(ej.tensor(xn), ej.tensor(wn), ej.tensor(un))
    want = jvp(torch, *(torch.tensor(a, dtype=torch.float32) for a in (xn, wn, un)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.detach().numpy(), rtol=1e-5, atol=1e-6)
    # a given output gradient that does not require grad stays a constant
    x = ej.tensor(xn, requires_grad=True)
    (g,) = ej.autograd.grad(x.sin(), x, ej.ones(3), create_graph=True)
    assert g.requires_grad
