"""Module backward hooks (``register_full_backward_hook``, ``register_full_backward_pre_hook``,
the deprecated ``register_backward_hook``) and torch's global module hooks
(``nn.modules.module.register_module_*``) against torch: when they fire, what they receive,
and how returned gradients change the parameters' gradients, eager, compiled and lazy."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import eagerjax as ej
from eagerjax.nn.modules import module as ej_module

torch = pytest.importorskip("torch")
from torch.nn.modules import module as torch_module  # noqa: E402

X = np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4)
Y = np.array([0, 1, 2, 0, 1, 2])
NO_INPUT_GRAD = "Full backward hook is firing when gradients are computed with respect to module outputs"


@pytest.fixture(autouse=True)
def _eager_after():
    yield
    ej.set_mode("eager")


def _np(g):
    if g is None:
        return None
    return g.detach().numpy().copy()


def _same(a, b, tol=1e-5):
    """Nested tuples/lists of arrays (or None) equal."""
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _same(x, y, tol)
    elif a is None or b is None:
        assert a is None and b is None, (a, b)
    else:
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


def _mlp(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 3))


def _pair():
    """The same MLP in torch and eagerjax."""
    tm = _mlp(torch)
    em = _mlp(ej)
    em.load_state_dict({k: v.detach() for k, v in tm.state_dict().items()})
    return tm, em


def _recorders(lib_mod, log: list, tag):
    def pre(m, go):
        log.append((tag, "pre", [_np(g) for g in go]))

    def full(m, gi, go):
        log.append((tag, "full", [_np(g) for g in gi], [_np(g) for g in go]))

    lib_mod.register_full_backward_pre_hook(pre)
    lib_mod.register_full_backward_hook(full)


# --------------------------------------------------------------------------- what hooks receive
def _modules(lib):
    nn = lib.nn

    class Two(nn.Module):  # a non-tensor argument, an unused output, an output without grad
        def forward(self, x, k, y):
            return x * 2, y.sum() * k, x.detach()

    class Mul(nn.Module):  # an argument that does not require grad
        def forward(self, x, y):
            return x * y

    class Unused(nn.Module):  # an argument forward ignores
        def forward(self, x, y):
            return x * 2

    class Gather(nn.Module):  # an integer tensor argument
        def forward(self, x, idx):
            return x[idx]

    class NoArgs(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(lib.ones(2))

        def forward(self):
            return self.w * 2

    return Two, Mul, Unused, Gather, NoArgs


def _cases(lib):
    Two, Mul, Unused, Gather, NoArgs = _modules(lib)
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = lib.tensor([4.0, -5.0, 6.0], requires_grad=True)
    y0 = lib.tensor([4.0, -5.0, 6.0])
    lib.manual_seed(0)
    lin = lib.nn.Linear(3, 2)
    return [
        (Two(), lambda m: m(x, 3, y)[0].sum()),
        (Two(), lambda m: m(x, 3, y)[1]),  # grad_output[0] is None, y's input grad flows
        (Mul(), lambda m: m(x, y0).sum()),
        (Unused(), lambda m: m(x, y).sum()),
        (Gather(), lambda m: m(x, lib.tensor([0, 2])).sum()),
        (lin, lambda m: (m(lib.tensor(X[:2, :3])) ** 2).sum()),  # no input requires grad
        (NoArgs(), lambda m: m().sum()),
    ]


def test_hooks_receive_torch_gradients():
    for i, ((tm, tf), (em, ef)) in enumerate(zip(_cases(torch), _cases(ej))):
        if i == 5:
            em.load_state_dict({k: v.detach() for k, v in tm.state_dict().items()})
        logs = []
        for m, f in ((tm, tf), (em, ef)):
            log = []
            _recorders(m, log, "m")
            with pytest.warns(UserWarning, match=NO_INPUT_GRAD) if i in (5, 6) else _nothing():
                f(m).backward()
            logs.append(log)
        assert [e[:2] for e in logs[0]] == [("m", "pre"), ("m", "full")], logs[0]
        assert [e[:2] for e in logs[1]] == [e[:2] for e in logs[0]], i
        _same([e[2:] for e in logs[1]], [e[2:] for e in logs[0]])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_call_order_prepend_remove_and_repeats():
    """Pre-hooks of the outer module first, full hooks innermost first; ``prepend``; removed
    handles; one call per backward (twice with ``retain_graph``), per module call."""
    orders = []
    for lib in (torch, ej):
        _, m = _pair() if lib is ej else (None, _mlp(torch))
        order = []
        handles = []
        for name, mod in [("seq", m), ("0", m[0]), ("1", m[1]), ("2", m[2])]:
            handles.append(mod.register_full_backward_pre_hook(lambda mo, go, n=name: order.append(("pre", n))))
            handles.append(mod.register_full_backward_hook(lambda mo, gi, go, n=name: order.append(("full", n))))
        m[2].register_full_backward_hook(lambda mo, gi, go: order.append(("first", "2")), prepend=True)
        x = lib.tensor(X, requires_grad=True)
        out = m(x).sum()
        out.backward(retain_graph=True)
        out.backward()
        handles[2].remove()  # the pre-hook of m[0]
        with handles[7]:  # the full hook of m[2], removed at exit
            pass
        m(m[0](x)[:, :4]).sum().backward()  # m[0] runs twice in this forward
        orders.append(order)
    assert orders[1] == orders[0]
    assert orders[0].count(("first", "2")) == 3 and orders[0].count(("full", "0")) == 4


# --------------------------------------------------------------------------- returned gradients
def _hooked(m, lib):
    # scale what reaches the last layer, clamp what it sends on, zero the first layer's input grad
    m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * 3.0,))
    m[2].register_full_backward_hook(lambda mod, gi, go: (gi[0].clamp(-0.05, 0.05),))
    m[1].register_backward_hook(lambda mod, gi, go: (gi[0] * -1.0,))  # the deprecated one: full here
    m[0].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0.0,))
    return m


def _train(lib, mode: str, steps: int = 3):
    if lib is torch:
        m = _hooked(_mlp(torch), torch)
    else:
        m = _hooked(_pair()[1], ej)
    opt = lib.optim.SGD(m.parameters(), lr=0.5)
    x, y = lib.tensor(X, requires_grad=True), lib.tensor(Y)

    def step(x, y):
        opt.zero_grad()
        x.grad = None
        loss = lib.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    losses, grads = [], []
    run = ej.compile(step) if mode == "compiled" else step
    for _ in range(steps):
        if mode == "lazy":
            with ej.lazy():
                loss = run(x, y)
        else:
            loss = run(x, y)
        losses.append(float(loss))
        grads.append([_np(p.grad) for p in m.parameters()] + [_np(x.grad)])
    return losses, grads, [_np(p) for p in m.parameters()]


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_returned_gradients_change_parameter_gradients_like_torch(mode):
    want = _train(torch, "eager")
    got = _train(ej, mode)
    _same(got, want, 2e-5)
    # the hooks did something: without them the first layer's gradients differ
    plain = _mlp(torch)
    torch.nn.functional.cross_entropy(plain(torch.tensor(X)), torch.tensor(Y)).backward()
    assert not np.allclose(_np(plain[0].weight.grad), want[1][0][0], atol=1e-4)
    assert np.all(want[1][0][-1] == 0)  # x.grad zeroed by m[0]'s hook


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_recorded_gradients_in_eager_and_lazy(mode):
    """A hook that records what it receives (reading values: in lazy mode that runs the pending
    graph from inside the backward) sees torch's values in every iteration."""
    results = []
    for lib in (torch, ej):
        m = _mlp(torch) if lib is torch else _pair()[1]
        log = []
        _recorders(m[2], log, "2")
        x, y = lib.tensor(X, requires_grad=True), lib.tensor(Y)
        for _ in range(3):
            if lib is ej and mode == "lazy":
                with ej.lazy():
                    lib.nn.functional.cross_entropy(m(x), y).backward()
            else:
                lib.nn.functional.cross_entropy(m(x), y).backward()
        results.append((log, [_np(p.grad) for p in m.parameters()]))
    assert len(results[1][0]) == len(results[0][0]) == 6
    _same([e[2:] for e in results[1][0]], [e[2:] for e in results[0][0]])
    _same(results[1][1], results[0][1])


def test_recording_hook_runs_at_trace_time_in_a_compiled_step():
    """Inside ``ej.compile`` the backward (hooks included) is traced once: a hook's effect on
    the gradients is compiled in, but a Python side effect happens only while tracing."""
    m = _pair()[1]
    calls = []
    m[2].register_full_backward_hook(lambda mod, gi, go: calls.append(1))
    opt = ej.optim.SGD(m.parameters(), lr=0.1)

    @ej.compile
    def step(x, y):
        opt.zero_grad()
        ej.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    x, y = ej.tensor(X), ej.tensor(Y)
    step(x, y)
    step(x, y)  # (a second discovery: the grads exist now)
    n = len(calls)
    for _ in range(3):
        step(x, y)
    assert n >= 1 and len(calls) == n and step.stats()["traces"] == 1


# --------------------------------------------------------------------------- when hooks do not fire
def test_no_hooks_without_grad_or_for_non_tuple_outputs():
    for lib in (torch, ej):
        calls = []
        lin = lib.nn.Linear(4, 3)
        lin.register_full_backward_hook(lambda *a: calls.append("full"))
        lin.register_full_backward_pre_hook(lambda *a: calls.append("pre"))
        x = lib.tensor(X, requires_grad=True)
        with lib.no_grad():
            out = lin(x)
        assert out.grad_fn is None and not out.requires_grad

        class Dict(lib.nn.Module):
            def forward(self, x):
                return {"a": x * 2}

        d = Dict()
        d.register_full_backward_hook(lambda *a: calls.append("dict"))
        with pytest.warns(UserWarning, match="module output should be a Tensor or a tuple of Tensors"):
            r = d(x)
        r["a"].sum().backward()

        Pair = collections.namedtuple("Pair", "a b")

        class Named(lib.nn.Module):
            def forward(self, x):
                return Pair(x * 2, x * 3)

        n = Named()
        n.register_full_backward_hook(lambda m, gi, go: calls.append(("named", [g is None for g in go])))
        r = n(x)
        assert type(r) is Pair
        r.a.sum().backward()
        assert calls == [("named", [False, True])], calls


def test_fused_sequential_children_still_fire():
    """A hot ``Sequential`` of pure layers runs as one kernel in eager/lazy mode; a backward
    hook on a child (or a global hook) keeps the layer-by-layer path, so it fires."""
    _, m = _pair()
    x = ej.tensor(X, requires_grad=True)
    for _ in range(4):
        m(x).sum().backward()  # hot: fused from here on
    calls = []
    h = m[1].register_full_backward_hook(lambda *a: calls.append(1))
    for _ in range(4):
        m(x).sum().backward()
    with ej.lazy():
        m(x).sum().backward()
    h.remove()
    assert len(calls) == 5


# --------------------------------------------------------------------------- errors
def test_errors_in_torch_words():
    for lib in (torch, ej):
        x = lib.tensor(X, requires_grad=True)
        lin = lib.nn.Linear(4, 3)
        lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of grad_input, got 2, but"):
            lin(x).sum().backward()
        lin = lib.nn.Linear(4, 3)
        lin.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
        with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of grad_output, got 2"):
            lin(x).sum().backward()
        lin = lib.nn.Linear(4, 3)
        lin.register_full_backward_hook(lambda m, gi, go: (lib.ones(5),))
        with pytest.raises(RuntimeError, match="hook 'hook' has changed the size of value"):
            lin(x).sum().backward()
        lin = lib.nn.Linear(4, 3)
        lin.register_full_backward_hook(lambda m, gi, go: (lib.ones(4),))
        with pytest.warns(UserWarning, match=NO_INPUT_GRAD):
            with pytest.raises(RuntimeError, match="no input requires gradient should always return None"):
                lin(lib.tensor(X)).sum().backward()
        lin.register_full_backward_hook(lambda *a: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            lin.register_backward_hook(lambda *a: None)
        h = (
            torch_module.register_module_full_backward_hook
            if lib is torch
            else ej_module.register_module_full_backward_hook
        )
        handle = h(lambda *a: None)
        try:
            reg = (torch_module if lib is torch else ej_module).register_module_backward_hook
            with pytest.raises(RuntimeError, match="as a global Module hook"):
                reg(lambda *a: None)
        finally:
            handle.remove()


# --------------------------------------------------------------------------- global hooks
def _with_global_hooks(lib, log: list):
    mod = torch_module if lib is torch else ej_module
    return [
        mod.register_module_forward_pre_hook(lambda m, a: log.append(("fpre", type(m).__name__))),
        mod.register_module_forward_hook(lambda m, a, o: log.append(("fwd", type(m).__name__))),
        mod.register_module_forward_hook(
            lambda m, a, kw, o: log.append(("fwd_kw", type(m).__name__, sorted(kw))), with_kwargs=True
        ),
        mod.register_module_full_backward_pre_hook(lambda m, go: log.append(("bpre", type(m).__name__))),
        mod.register_module_full_backward_hook(
            lambda m, gi, go: log.append(("bwd", type(m).__name__, [_np(g) for g in gi]))
        ),
    ]


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_global_module_hooks(mode):
    logs = []
    for lib in (torch, ej):
        m = _mlp(torch) if lib is torch else _pair()[1]
        log = []
        m[0].register_forward_hook(lambda *a: log.append(("local_fwd", "Linear")))
        m[0].register_full_backward_hook(lambda *a: log.append(("local_bwd", "Linear")))
        handles = _with_global_hooks(lib, log)
        try:
            x = lib.tensor(X, requires_grad=True)
            for _ in range(2):
                if lib is ej and mode == "lazy":
                    with ej.lazy():
                        m(x).sum().backward()
                else:
                    m(x).sum().backward()
        finally:
            for h in handles:
                h.remove()
        m(x).sum().backward()  # no global hooks any more
        logs.append(log)
    assert [e[:2] for e in logs[1]] == [e[:2] for e in logs[0]]
    _same([e[2:] for e in logs[1]], [e[2:] for e in logs[0]])
    assert ("bwd", "Sequential") in [e[:2] for e in logs[0]] and logs[0].count(("local_bwd", "Linear")) == 3


def test_global_hooks_in_a_compiled_step():
    """A global forward hook that rescales outputs and a global backward hook that rescales
    input gradients are compiled into the step, as torch computes them eagerly."""
    results = []
    for lib in (torch, ej):
        mod = torch_module if lib is torch else ej_module
        m = _mlp(torch) if lib is torch else _pair()[1]
        handles = [
            mod.register_module_forward_hook(
                lambda mo, a, o: o * 0.5 if isinstance(mo, (torch.nn.Tanh, ej.nn.Tanh)) else None
            ),
            mod.register_module_full_backward_hook(
                lambda mo, gi, go: (
                    tuple(None if g is None else g * 2.0 for g in gi)
                    if isinstance(mo, (torch.nn.Linear, ej.nn.Linear))
                    else None
                )
            ),
        ]
        try:
            opt = lib.optim.SGD(m.parameters(), lr=0.5)

            def step(x, y, opt=opt, m=m):
                opt.zero_grad()
                loss = lib.nn.functional.cross_entropy(m(x), y)
                loss.backward()
                opt.step()
                return loss

            run = ej.compile(step) if lib is ej else step
            x, y = lib.tensor(X, requires_grad=True), lib.tensor(Y)
            losses = [float(run(x, y)) for _ in range(3)]
            results.append((losses, [_np(p) for p in m.parameters()]))
        finally:
            for h in handles:
                h.remove()
    _same(results[1], results[0], 2e-5)


def test_module_attributes_and_import_path():
    lin = ej.nn.Linear(2, 2)
    assert lin._backward_hooks == {} and lin._backward_pre_hooks == {} and lin._is_full_backward_hook is None
    h = lin.register_full_backward_hook(lambda *a: None)
    assert list(lin._backward_hooks) == [h.id] and lin._is_full_backward_hook is True
    h.remove()
    assert lin._backward_hooks == {}
    assert ej.nn.modules.module.Module is ej.nn.Module
    for name in ("forward_pre", "forward", "backward", "full_backward_pre", "full_backward"):
        assert hasattr(torch_module, f"register_module_{name}_hook")
        assert callable(getattr(ej_module, f"register_module_{name}_hook"))
