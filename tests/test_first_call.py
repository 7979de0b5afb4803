"""A compiled step's first call compiles one XLA program, the step's own, and making
tensors from host data compiles none.

Each tiny program XLA compiles costs ~15-40 ms; a first call that compiled one per
parameter shape (packing optimizer state with ``jnp``) or per new tensor shape
(``jnp.asarray`` of NumPy data stages it through a program, as of jax 0.10) was
measurably slower than the hand-written ``jax.jit`` step's (benchmarks' first-call
target). Shapes here are ones no other test uses, so kernels cached by earlier tests
in the same process cannot hide a compile.
"""

from __future__ import annotations

import contextlib
import gc

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import _lazy
from eagerjax import _xla_budget as budget
from eagerjax.nn import functional as F


def _compiles(fn) -> int:
    n = budget._compiles
    fn()
    return budget._compiles - n


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_first_step_compiles_only_its_program(mode):
    ej.manual_seed(0)
    model = ej.nn.Sequential(ej.nn.Linear(41, 19), ej.nn.ReLU(), ej.nn.Linear(19, 7))
    opt = ej.optim.Adam(model.parameters(), lr=1e-3)
    x = ej.tensor(np.ones((11, 41), np.float32))
    y = ej.tensor(np.arange(11) % 7)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()  # (Adam's state is born here and packed: on the host)
        return loss

    fn = ej.compile(step) if mode == "compiled" else step
    ctx = ej.lazy if mode == "lazy" else contextlib.nullcontext
    losses = []

    def call():
        with ctx():
            losses.append(float(fn(x, y)))

    assert _compiles(call) == 1
    assert _compiles(call) == 0
    assert losses[1] < losses[0]


@pytest.mark.parametrize(
    "data",
    [
        np.ones((13, 29), np.float32),
        np.arange(17 * 3).reshape(17, 3),
        [[1.5, 2.5, 3.5]] * 23,
        [True, False] * 19,
        np.float16(2.5),
        3.25,
    ],
    ids=["float32", "int64", "list", "bool-list", "np-scalar", "float"],
)
def test_tensor_from_host_data_compiles_nothing(data):
    made = []
    assert _compiles(lambda: made.append(ej.tensor(data))) == 0
    t = made[0]
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=t.numpy().dtype))


def test_new_linear_storage_compiles_nothing_but_its_init():
    # reset_parameters draws from the generator in power-of-two buckets (>= 256): after a
    # first Linear has compiled the buckets, one of new shapes in the same buckets adds
    # nothing, its storage included
    ej.nn.Linear(43, 31)
    assert _compiles(lambda: ej.nn.Linear(31, 43)) == 0


def test_tensor_from_an_array_is_a_copy():
    # torch.tensor copies; a transfer without a compile may read the source after returning
    # (or alias it), so the caller's array must not be what is transferred
    for shape in [(4,), (64, 64), (300, 300)]:
        for _ in range(20):
            a = np.zeros(shape, np.float32)
            t = ej.tensor(a)
            a[...] = 5
            assert not t.numpy().any()


def test_tensor_made_inside_a_compiled_step_is_the_steps_own():
    # (made concrete there, and written in place, it would be state the step reads, found
    # anew by every discovery: "did not settle")
    @ej.compile
    def step(x):
        t = ej.tensor(np.array([1.0, 2.0], np.float32))
        u = ej.tensor([1.0, 2.0])
        return t.mul_(x), u.add_(x)

    for k in (3.0, 2.0):
        t, u = step(ej.tensor(k))
        assert t.tolist() == [k, 2 * k] and u.tolist() == [1 + k, 2 + k]
    assert step.stats()["traces"] == 1


def test_linear_made_inside_a_compiled_step_is_the_steps_own():
    @ej.compile
    def step(x):
        return ej.nn.Linear(3, 2)(x).sum()  # (fresh weights each call, as in eager)

    x = ej.tensor(np.ones((4, 3), np.float32))
    assert float(step(x)) != float(step(x))
    assert step.stats()["traces"] == 1


def _adam_mlp(n_in: int):
    ej.manual_seed(0)
    model = ej.nn.Sequential(ej.nn.Linear(n_in, 5), ej.nn.Tanh(), ej.nn.Linear(5, 3))
    opt = ej.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt


def test_collector_paused_while_a_compiled_step_traces_and_restored_after():
    model, opt = _adam_mlp(13)
    seen = []

    @ej.compile
    def step(x):
        seen.append(gc.isenabled())  # (runs only while discovered and traced)
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    assert gc.isenabled()
    step(ej.ones(4, 13))
    assert seen and not any(seen)
    assert gc.isenabled()
    step(ej.ones(4, 13))  # a hit runs no Python of the step
    assert len(seen) == step.stats()["traces"] + step.stats()["discoveries"]
    # A failing call (a shape error in the step's Python) leaves the collector on...
    with pytest.raises(Exception, match="13"):
        step(ej.ones(4, 12))
    assert gc.isenabled()
    # ...and one the user turned off stays off.
    gc.disable()
    try:
        step(ej.ones(6, 13))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collector_paused_while_lazy_mode_traces(monkeypatch):
    """Lazy mode traces each new kernel once for its output shapes and each new graph once
    for its program: the collector is off for both, and on again for the recording."""
    import jax

    model, opt = _adam_mlp(17)
    during = []
    shape_of = jax.eval_shape

    def eval_shape(*a, **k):
        during.append(gc.isenabled())
        return shape_of(*a, **k)

    monkeypatch.setattr(jax, "eval_shape", eval_shape)

    class JaxWithTracedPrograms:  # the graph's program notes the collector as it is traced
        def __getattr__(self, name):
            return getattr(jax, name)

        @staticmethod
        def jit(program, **kw):
            def noted(*consts):
                programs.append(gc.isenabled())
                return program(*consts)

            return jax.jit(noted, **kw)

    programs = []
    monkeypatch.setattr(_lazy, "jax", JaxWithTracedPrograms())
    with ej.lazy():
        opt.zero_grad()
        loss = model(ej.ones(4, 17)).square().mean()
        assert gc.isenabled()
        loss.backward()
        opt.step()
        assert gc.isenabled()
    assert during and not any(during)
    assert programs == [False]
    assert gc.isenabled()
