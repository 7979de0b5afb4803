"""A compiled step or transformed function that reaches its state through a name (a global,
a closure variable) follows that name when it is rebound, and a function made anew per call
(a lambda in a loop) reuses one compiled function, its closure tensors passed as arguments."""

from __future__ import annotations

import numpy as np

import eagerjax as ej
import eagerjax.nn as nn
from eagerjax import _func, func

SCALE = ej.tensor(2.0)
MODEL = nn.Linear(3, 1)
OPT = ej.optim.SGD(MODEL.parameters(), lr=0.1)


def _scaled(x):
    return x * SCALE


def test_rebinding_a_global_tensor_is_followed():
    global SCALE
    f = ej.compile(_scaled)
    x = ej.ones(3)
    first = SCALE
    assert f(x).tolist() == [2.0] * 3
    SCALE = ej.tensor(5.0)
    assert f(x).tolist() == [5.0] * 3  # (the cached program would have kept 2.0)
    assert f.stats()["recompiles"][-1] == "global SCALE now holds a different object"
    SCALE = first  # the first object again: its program is still cached
    assert f(x).tolist() == [2.0] * 3
    assert f.stats()["traces"] == 2
    SCALE.fill_(3.0)  # a write into the same tensor: read as state, no retrace
    assert f(x).tolist() == [3.0] * 3 and f.stats()["traces"] == 2
    SCALE = ej.tensor(2.0)


def _train_step(x, y):
    OPT.zero_grad()
    loss = ((MODEL(x) - y) ** 2).mean()
    loss.backward()
    OPT.step()
    return loss


def test_rebinding_a_global_model_and_optimizer_trains_the_new_ones():
    """A notebook re-running ``MODEL = ...; OPT = ...`` with the same compiled step."""
    global MODEL, OPT
    step = ej.compile(_train_step)
    x, y = ej.ones(4, 3), ej.zeros(4, 1)
    step(x, y)
    old = MODEL
    old_w = old.weight.detach().numpy().copy()
    MODEL = nn.Linear(3, 1)
    OPT = ej.optim.SGD(MODEL.parameters(), lr=0.1)
    ref = nn.Linear(3, 1)
    ref.load_state_dict(MODEL.state_dict())
    ref_opt = ej.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(3):
        got = step(x, y)
        ref_opt.zero_grad()
        want = ((ref(x) - y) ** 2).mean()
        want.backward()
        ref_opt.step()
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
    np.testing.assert_allclose(MODEL.weight.detach().numpy(), ref.weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(old.weight.detach().numpy(), old_w)  # the old model is left alone
    assert "global OPT, global MODEL now hold different objects" in step.stats()["recompiles"]


def test_rebinding_a_closure_variable_is_followed():
    scale = ej.tensor(2.0)

    @ej.compile
    def f(x):
        return x * scale

    x = ej.ones(2)
    assert f(x).tolist() == [2.0, 2.0]
    scale = ej.tensor(7.0)  # noqa: F841 - read by f through its closure cell
    assert f(x).tolist() == [7.0, 7.0]
    assert f.stats()["recompiles"][-1] == "closure variable scale now holds a different object"


def test_a_transform_of_a_lambda_made_per_call_compiles_once():
    """``func.grad(lambda ...)`` inside a loop, closing over a tensor made in each iteration:
    one compiled function for every iteration, with each iteration's tensor."""
    before = set(_func._MEMO)
    p = ej.tensor([1.0, 2.0, 3.0])
    for k in range(4):
        c = ej.tensor([1.0, 0.5, 2.0]) * (k + 1)
        g = func.grad(lambda q: (q * q * c).sum())(p)
        np.testing.assert_allclose(g.numpy(), 2 * p.numpy() * c.numpy(), rtol=1e-6)
    new = [v for k, v in _func._MEMO.items() if k not in before]
    assert len(new) == 1 and new[0]._compiled.stats()["traces"] == 1


def test_a_closure_tensor_needing_grad_gets_its_gradient_through_a_transform():
    """``vmap(lambda r: r * s)`` where ``s`` comes from a parameter: the outer backward reaches
    the parameter through the lifted tensor, in every call."""
    w = nn.Parameter(ej.tensor([0.5, -1.0]))
    x = ej.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    for k in range(3):
        w.grad = None
        s = (w * (k + 1)).sum()
        out = func.vmap(lambda r: r * s)(x)
        out.sum().backward()
        # d/dw sum(x * s) = sum(x) * (k + 1) for each component of w
        np.testing.assert_allclose(w.grad.numpy(), [x.numpy().sum() * (k + 1)] * 2, rtol=1e-6)


def test_a_transform_reading_a_rebound_global_follows_it():
    global SCALE
    g = func.vmap(_scaled)
    x = ej.ones(2, 2)
    assert g(x).tolist() == [[2.0, 2.0]] * 2
    SCALE = ej.tensor(4.0)
    assert g(x).tolist() == [[4.0, 4.0]] * 2
    SCALE = ej.tensor(2.0)


def _helper_loss(x):
    return (MODEL(x) ** 2).mean()  # MODEL reached through a helper the step calls by name


def test_names_read_by_helpers_and_inner_transforms_are_followed():
    global MODEL, SCALE
    step = ej.compile(lambda x: _helper_loss(x) * 1.0)
    x = ej.ones(2, 3)
    step(x)
    MODEL = nn.Linear(3, 1)
    np.testing.assert_allclose(step(x).item(), _helper_loss(x).item(), rtol=1e-6)
    # a global read by the function inside vmap(grad(...)): the outer transform follows it too
    w = ej.tensor([1.0, -2.0])
    xs = ej.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    per_example = func.vmap(func.grad(lambda w, x: (x @ w) ** 2 * SCALE), in_dims=(None, 0))
    for k in (1.0, 3.0):
        SCALE = ej.tensor(k)
        want = 2 * (xs.numpy() @ w.numpy())[:, None] * xs.numpy() * k
        np.testing.assert_allclose(per_example(w, xs).numpy(), want, rtol=1e-6)
    SCALE = ej.tensor(2.0)


def test_a_partial_of_a_closure_made_per_call_uses_each_calls_tensor():
    import functools

    before = set(_func._MEMO)
    for k in range(3):
        c = ej.tensor(float(k + 1))

        def g(a, x):
            return (x * a * c).sum()

        got = func.grad(functools.partial(functools.partial(g, 2.0)))(ej.ones(2))
        assert got.tolist() == [2.0 * (k + 1)] * 2
    assert len([k for k in _func._MEMO if k not in before]) == 1


NOISE = True
GAIN = 2.0


def _flagged(x):
    return x * GAIN + (1.0 if NOISE else 0.0)


def test_a_rebound_python_value_the_trace_baked_in_retraces():
    """torch.compile guards the Python values a step reads by name: so does ej.compile."""
    global NOISE, GAIN
    f = ej.compile(_flagged)
    x = ej.ones(2)
    assert f(x).tolist() == [3.0, 3.0]
    GAIN = 3.0
    assert f(x).tolist() == [4.0, 4.0]
    NOISE = False
    assert f(x).tolist() == [3.0, 3.0]
    GAIN, NOISE = 2.0, True  # the first values again: the first program
    assert f(x).tolist() == [3.0, 3.0]
    assert f.stats()["traces"] == 3
    assert f.stats()["recompiles"][1:] == ["global GAIN: 2.0 -> 3.0", "global NOISE: True -> False"]


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x) * GAIN


def test_a_compiled_module_guards_the_names_its_forward_reads():
    global GAIN
    model = _Scaled()
    compiled = ej.compile(model)
    x = ej.ones(1, 2)
    a = compiled(x)
    GAIN = 4.0
    b = compiled(x)
    GAIN = 2.0
    np.testing.assert_allclose((b / a).detach().numpy(), [[2.0, 2.0]], rtol=1e-6)
    assert compiled.stats()["recompiles"] == ["first call", "global GAIN: 2.0 -> 4.0"]


class _Tempered(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.temp = 1.0

    def forward(self, x):
        return self.lin(x) / self.temp


class _Counting(nn.Module):
    """A forward that bumps a plain attribute: the step's own side effect."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x)


class _Config:
    gain = 1.0


CFG = _Config()


def test_a_modules_plain_attribute_is_part_of_the_key():
    """``model.temp = 2.0`` (or a dropout's ``p``) is baked into the trace: a new value
    retraces, with the reason in words, and the old value's program is still cached."""
    m = _Tempered()
    x = ej.ones(1, 2)
    want = m.lin(x).detach().numpy()
    f = ej.compile(lambda x: m(x))
    compiled_m = ej.compile(m)
    for run in (f, compiled_m):
        m.temp = 1.0
        np.testing.assert_allclose(run(x).detach().numpy(), want, rtol=1e-6)
        m.temp = 2.0
        np.testing.assert_allclose(run(x).detach().numpy(), want / 2, rtol=1e-6)
        assert run.stats()["recompiles"][-1] == "module _Tempered: temp 1.0 -> 2.0"
        m.temp = 1.0
        np.testing.assert_allclose(run(x).detach().numpy(), want, rtol=1e-6)
        assert run.stats()["traces"] == 2
    drop = nn.Dropout(0.0)
    g = ej.compile(lambda x: drop(x))
    assert g(ej.ones(1000)).tolist() == [1.0] * 1000
    drop.p = 1.0
    assert g(ej.ones(1000)).tolist() == [0.0] * 1000


def test_a_plain_attribute_the_step_itself_assigns_settles():
    """An attribute the forward assigns is the trace's own side effect (the program cannot
    repeat it): it is not keyed on, so the step settles instead of retracing every call."""
    m = _Counting()
    f = ej.compile(lambda x: m(x))
    for _ in range(6):
        f(ej.ones(1, 2))
    assert f.stats()["traces"] <= 2


def test_a_plain_value_read_through_an_attribute_is_followed():
    """``CFG.gain`` (an object's attribute) and ``_Config.gain`` (a class used as a namespace)."""
    x = ej.ones(2)
    f = ej.compile(lambda x: x * CFG.gain)
    g = ej.compile(lambda x: x * _Config.gain)
    assert f(x).tolist() == [1.0, 1.0] and g(x).tolist() == [1.0, 1.0]
    CFG.gain = 3.0
    assert f(x).tolist() == [3.0, 3.0]
    assert f.stats()["recompiles"][-1] == "global CFG.gain: 1.0 -> 3.0"
    _Config.gain = 4.0
    assert g(x).tolist() == [4.0, 4.0]
    assert g.stats()["recompiles"][-1] == "global _Config.gain: 1.0 -> 4.0"
    box = _Config()
    box.gain = 5.0
    h = ej.compile(lambda x: x * box.gain)
    assert h(x).tolist() == [5.0, 5.0]
    box.gain = 6.0
    assert h(x).tolist() == [6.0, 6.0]
    assert h.stats()["recompiles"][-1] == "closure variable box.gain: 5.0 -> 6.0"
    del CFG.gain
    _Config.gain = 1.0
