"""``ej.autograd.Function`` (custom autograd functions) against torch, in every mode.

Each case is written once against a ``lib`` (torch or eagerjax): ``build(lib)`` returns the
leaf tensors and a ``step(*data)`` that clears their grads, runs forward and backward and
returns its outputs. Torch's eager run is the reference; eagerjax's eager run must match
it, and ``ej.compile`` (one trace over repeated calls) and ``ej.lazy()`` must match eager.
"""

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X0 = RNG.standard_normal((3, 4)).astype(np.float32)
DATA = [(RNG.standard_normal((3, 4)).astype(np.float32),) for _ in range(3)]


pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)


def _np(t):
    return None if t is None else np.array(t.detach().numpy())  # (a copy: torch updates in place)


def _run(lib, build, data, mode="eager"):
    """[(outputs, leaf grads, leaf values) per call] as numpy, and the compiled stats."""
    leaves, step = build(lib)
    fn = ej.compile(step) if mode == "compile" else step
    results = []
    for d in data:
        args = [lib.tensor(a) for a in d]
        if mode == "lazy":
            with ej.lazy():
                outs = fn(*args)
        else:
            outs = fn(*args)
        results.append(([_np(o) for o in outs], [_np(p.grad) for p in leaves], [_np(p) for p in leaves]))
    return results, (fn.stats() if mode == "compile" else None)


def _close(a, b, rtol, atol, none_is_zero=False):
    for (oa, ga, va), (ob, gb, vb) in zip(a, b):
        for x, y in zip(oa + ga + va, ob + gb + vb):
            if none_is_zero and (x is None) != (y is None):
                x = np.zeros_like(y) if x is None else x
                y = np.zeros_like(x) if y is None else y
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def check(build, data=DATA, none_is_zero=False):
    ref, _ = _run(torch, build, data)
    eager, _ = _run(ej, build, data)
    _close(eager, ref, 1e-5, 1e-6, none_is_zero)
    comp, stats = _run(ej, build, data, "compile")
    assert stats["traces"] == 1, stats["recompiles"]
    _close(comp, eager, 1e-6, 1e-6)
    lazy, _ = _run(ej, build, data, "lazy")
    _close(lazy, eager, 1e-6, 1e-6)


# --------------------------------------------------------------------------- cases
def ste(lib):
    class Clamp01STE(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale=1.0):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x.clamp(0, 1) * scale

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return grad_out * ctx.scale, None

    x = lib.tensor(X0, requires_grad=True)

    def step(d):
        x.grad = None
        y = Clamp01STE.apply(x * d, 2.0)
        (y * y).sum().backward()
        return (y,)

    return [x], step


def grad_reversal(lib):
    class GradReverse(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, alpha):
            ctx.alpha = alpha
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output.neg() * ctx.alpha, None

    x = lib.tensor(X0, requires_grad=True)

    def step(d):
        x.grad = None
        h = x * d
        r = GradReverse.apply(h, 0.5)
        loss = (r**2).sum() + h.sum()
        loss.backward()
        return (r, loss)

    return [x], step


def two_in_two_out(lib):
    class MulAdd(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b, a + b

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            a, b = ctx.saved_tensors
            return g_prod * b + g_sum, None  # (no gradient for b)

    a = lib.tensor(X0, requires_grad=True)
    b = lib.tensor(X0[::-1].copy(), requires_grad=True)

    def step(d):
        a.grad = None
        b.grad = None
        p, s = MulAdd.apply(a, b * d)
        (p * s).sum().backward()
        return (p, s)

    return [a, b], step


def saves_input_and_output(lib):
    class Sigmoid(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = 1 / (1 + (-x).exp())
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y * (1 - y) + 0 * x

    x = lib.tensor(X0, requires_grad=True)

    def step(d):
        x.grad = None
        y = Sigmoid.apply(x + d)
        (y * d).sum().backward()
        return (y,)

    return [x], step


SEEN: dict = {}


def needs_input_grad(lib):
    class Mul(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            SEEN.setdefault(lib.__name__, []).append(tuple(ctx.needs_input_grad))
            ctx.save_for_backward(a, b)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = g * b if ctx.needs_input_grad[0] else None
            gb = g * a if ctx.needs_input_grad[1] else None
            return ga, gb, None

    a = lib.tensor(X0, requires_grad=True)

    def step(d):
        a.grad = None
        y = Mul.apply(a, d, 3)
        (y * y).sum().backward()
        return (y,)

    return [a], step


def non_differentiable(lib):
    class ScaleAndMask(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            mask = (x > 0).to(x.dtype)
            ctx.mark_non_differentiable(mask)
            return x * 2, mask

        @staticmethod
        def backward(ctx, g, g_mask):
            return g * 2 + g_mask  # g_mask: zeros, as in torch

    x = lib.tensor(X0, requires_grad=True)

    def step(d):
        x.grad = None
        y, mask = ScaleAndMask.apply(x * d)
        assert not mask.requires_grad and mask.grad_fn is None and y.requires_grad
        (y * mask).sum().backward()
        return (y, mask)

    return [x], step


def new_style(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(x, power=3):
            return x**power

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, power = inputs
            ctx.save_for_backward(x)
            ctx.power = power

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.power * x ** (ctx.power - 1), None

    x = lib.tensor(X0, requires_grad=True)

    def step(d):
        x.grad = None
        y = Cube.apply(x * d)
        y.sum().backward()
        return (y,)

    return [x], step


def ctx_tensor_attr_and_kwargs(lib):
    class Masked(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, cfg):
            ctx.mask = x > cfg["t"]
            ctx.cfg = cfg
            return x * ctx.mask, x.shape[0]  # a non-Tensor output comes back as is

        @staticmethod
        def backward(ctx, g, g_n):
            assert g_n is None
            return g * ctx.mask * ctx.cfg["s"], None  # cfg, given by keyword, counts as an input

    x = lib.tensor(X0, requires_grad=True)

    def step(d):
        x.grad = None
        y, n = Masked.apply(x * d, cfg={"t": 0.1, "s": 3.0})
        assert n == 3
        (y * y).sum().backward()
        return (y,)

    return [x], step


def module_trained(lib):
    class LeakySTE(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, slope):
            ctx.save_for_backward(x)
            ctx.slope = slope
            pos = (x > 0).to(x.dtype)
            return x * (pos + (1 - pos) * slope)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            pos = (x > 0).to(g.dtype)
            return g * (pos + (1 - pos) * ctx.slope), None

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = lib.nn.Linear(4, 8)
            self.fc2 = lib.nn.Linear(8, 1)

        def forward(self, x):
            return self.fc2(LeakySTE.apply(self.fc1(x), 0.1))

    net = Net()
    rng = np.random.default_rng(1)
    net.load_state_dict(
        {
            k: lib.tensor(rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.5)
            for k, v in net.state_dict().items()
        }
    )
    opt = lib.optim.Adam(net.parameters(), lr=0.05)

    def step(x, t):
        opt.zero_grad()
        loss = ((net(x) - t) ** 2).mean()
        loss.backward()
        opt.step()
        return (loss,)

    return list(net.parameters()), step


MODULE_DATA = [
    (RNG.standard_normal((5, 4)).astype(np.float32), RNG.standard_normal((5, 1)).astype(np.float32)) for _ in range(5)
]


@pytest.mark.parametrize(
    "build",
    [ste, grad_reversal, saves_input_and_output, non_differentiable, new_style, ctx_tensor_attr_and_kwargs],
)
def test_matches_torch_in_every_mode(build):
    check(build)


def test_two_inputs_two_outputs_with_a_none_gradient():
    # torch leaves b.grad None; eagerjax's backward is one jax.vjp, where "no gradient" is zeros
    check(two_in_two_out, none_is_zero=True)
    (a, b), step = two_in_two_out(ej)
    step(ej.tensor(DATA[0][0]))
    assert a.grad is not None and not b.grad.numpy().any()


def test_needs_input_grad():
    SEEN.clear()
    check(needs_input_grad)
    assert SEEN["torch"][0] == (True, False, False)
    assert all(s == (True, False, False) for s in SEEN["eagerjax"])


def test_module_trained_with_an_optimizer():
    check(module_trained, MODULE_DATA)


# --------------------------------------------------------------------------- behaviour
def _pair(lib, backward_result, forward=lambda ctx, x, k: x * k):
    class F(lib.autograd.Function):
        pass

    F.forward = staticmethod(forward)
    F.backward = staticmethod(lambda ctx, g: backward_result(g))
    return F


@pytest.mark.parametrize(
    "bwd",
    [
        lambda g: g,  # too few
        lambda g: (g, None, g),  # too many (not None)
        lambda g: (g, g),  # a gradient for the non-Tensor argument
        lambda g: (g.sum(0), None),  # a shape that does not broadcast to the input's
    ],
)
def test_backward_errors_match_torch(bwd):
    xt = torch.tensor(X0, requires_grad=True)
    with pytest.raises(RuntimeError) as et:
        _pair(torch, bwd).apply(xt, 2.0).sum().backward()
    xe = ej.tensor(X0, requires_grad=True)
    with pytest.raises(RuntimeError) as ee:
        _pair(ej, bwd).apply(xe, 2.0).sum().backward()
    assert str(ee.value) == str(et.value)


def test_gradient_summed_to_input_shape_and_cast_like_torch():
    def bwd(lib):
        return lambda g: ((g * 2).expand(5, *g.shape).to(lib.float64), None)

    xt = torch.tensor(X0, requires_grad=True)
    _pair(torch, bwd(torch)).apply(xt, 2.0).sum().backward()
    xe = ej.tensor(X0, requires_grad=True)
    _pair(ej, bwd(ej)).apply(xe, 2.0).sum().backward()
    assert xe.grad.dtype == ej.float32
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy())


def test_no_input_requiring_grad_and_no_grad_mode():
    F = _pair(ej, lambda g: (g, None))
    assert not F.apply(ej.tensor(X0), 2.0).requires_grad
    x = ej.tensor(X0, requires_grad=True)
    with ej.no_grad():
        assert not F.apply(x, 2.0).requires_grad
    y = F.apply(x, 2.0)
    assert y.requires_grad and type(y.grad_fn).__name__ != "NoneType"


def test_static_arguments_key_the_kernel():
    calls = []

    class Scale(ej.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            calls.append(k)
            ctx.k = k
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = ej.tensor(X0, requires_grad=True)
    for k in (2.0, 3.0, 2.0):
        x.grad = None
        Scale.apply(x, k).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.full_like(X0, k))
    assert 2.0 in calls and 3.0 in calls
    n = len(calls)
    Scale.apply(x, 2.0)
    assert len(calls) == n  # cached kernel: forward not traced again


def test_materialize_grads_false_gives_none_for_non_differentiable_outputs():
    got = []

    class F(ej.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            idx = x.argmax()
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            got.append(g_idx)
            return g * 2

    x = ej.tensor(X0, requires_grad=True)
    y, idx = F.apply(x)
    assert not idx.requires_grad
    y.sum().backward()
    assert got == [None]
    np.testing.assert_allclose(x.grad.numpy(), np.full_like(X0, 2.0))


def test_reading_a_tensor_not_passed_to_apply_raises():
    w = ej.tensor(X0)

    class UsesGlobal(ej.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g * w

    with pytest.raises(RuntimeError, match=r"UsesGlobal.forward\(\) used a tensor .* not passed to UsesGlobal.apply"):
        UsesGlobal.apply(ej.tensor(X0, requires_grad=True))


def test_double_backward_through_the_users_backward():
    def build(lib):
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = lib.tensor(X0, requires_grad=True)
        (g,) = lib.autograd.grad(Square.apply(x).pow(2).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        return g.detach().numpy(), gg.numpy()

    for a, b in zip(build(ej), build(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_int_input_nested_tensors_hooks_and_vjp_alias():
    from eagerjax.autograd.function import once_differentiable  # (the identity: fine for torch too)

    def run(lib):
        class Gather(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, idx, extra):
                ctx.save_for_backward(idx)
                ctx.n = x.shape[0]
                return x[idx] * extra[0], idx * 2  # an int output: no gradient

            @staticmethod
            @once_differentiable
            def vjp(ctx, g, g_idx):
                (idx,) = ctx.saved_tensors
                return lib.zeros(ctx.n).index_add(0, idx, g), None, None

        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y, i2 = Gather.apply(x, lib.tensor([0, 2, 2]), [lib.tensor(2.0)])  # a tensor in a list: no grad
        y.register_hook(lambda g: g * 10)  # the per-node backward path
        y.retain_grad()
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        assert not i2.requires_grad
        return [t.detach().numpy().copy() for t in (y, i2, x.grad, y.grad)]

    for a, b in zip(run(ej), run(torch)):
        np.testing.assert_array_equal(a, b)
