"""ej.cond (torch.cond): values and gradients against torch in every mode, no retrace when the
predicate flips, and torch's refusals (predicate shape, operands, branch mismatch, mutation)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _torch_validation_restored():
    """torch 2.13's cond/while_loop (dynamo) switch off torch.distributions' argument
    validation for the whole process and never restore it: put it back for later tests."""
    before = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(before)


X = np.array([0.5, -1.0, 2.0], np.float32)
W = np.array([1.0, 2.0, 3.0], np.float32)


def _branches(lib, w):
    def true_fn(x, y):
        return (x * w).sin() + y, x.sum() * w

    def false_fn(x, y):
        return x.cos() * 2 - y, (x * y).sum() + w

    return true_fn, false_fn


def _run(lib, w, x, y, pred):
    true_fn, false_fn = _branches(lib, w)
    a, b = lib.cond(pred, true_fn, false_fn, (x, y))
    return a, b


def _torch_ref(flip: bool):
    w = torch.nn.Parameter(torch.tensor(W))
    x = torch.tensor(X, requires_grad=True)
    y = torch.tensor(X[::-1].copy(), requires_grad=True)
    pred = (x.sum() > 0) ^ flip
    a, b = _run(torch, w, x, y, pred)
    ((a * a).sum() + b.sum()).backward()
    return [t.detach().numpy() for t in (a, b, x.grad, y.grad, w.grad)]


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_values_and_grads_match_torch(mode, flip):
    want = _torch_ref(flip)
    w = nn.Parameter(ej.tensor(W))
    x = ej.tensor(X, requires_grad=True)
    y = ej.tensor(X[::-1].copy(), requires_grad=True)

    def step(x, y):
        a, b = _run(ej, w, x, y, (x.sum() > 0) ^ flip)
        ((a * a).sum() + b.sum()).backward()
        return a, b

    if mode == "compile":
        a, b = ej.compile(step)(x, y)
    elif mode == "lazy":
        with ej.lazy():
            a, b = step(x, y)
    else:
        a, b = step(x, y)
    got = [t.detach().numpy() for t in (a, b, x.grad, y.grad, w.grad)]
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-6)


def _two_heads(lib, closure: bool = False):
    """A data-dependent choice of head: the kind of step ``if x.mean() > 0:`` cannot compile.
    ``closure``: the branches also close over a tensor made in each call (the features' mean)."""

    class TwoHeads(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = lib.nn.Linear(4, 8)
            self.a = lib.nn.Linear(8, 1)
            self.b = lib.nn.Linear(8, 1)

        def forward(self, x):
            h = self.body(x).relu()
            if closure:
                m = h.mean()
                return lib.cond(x.mean() > 0, lambda h: self.a(h) - m, lambda h: self.b(h).tanh() * m, (h,))
            return lib.cond(x.mean() > 0, lambda h: self.a(h), lambda h: self.b(h).tanh(), (h,))

    return TwoHeads()


def _train(lib, model, batches, step_fn=None):
    opt = lib.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    run = step_fn(step) if step_fn else step
    return [float(run(lib.tensor(x), lib.tensor(y))) for x, y in batches]


@pytest.mark.parametrize("closure", [False, True])
def test_training_step_matches_torch_and_compiles_once(closure):
    """With ``closure``, the tensor the branches close over is new in every call: it is an
    argument of the one compiled cond (gradients flow through it), not a new cond per call."""
    from eagerjax import _func

    rng = np.random.default_rng(0)
    # the sign of each batch's mean alternates: both branches are taken
    batches = [((rng.standard_normal((5, 4)) + (1.5 if i % 2 else -1.5)).astype(np.float32),
                rng.standard_normal((5, 1)).astype(np.float32)) for i in range(6)]  # fmt: skip
    ref = _two_heads(torch, closure)
    sd = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}
    want = _train(torch, ref, batches)
    for mode in ("eager", "compile", "lazy"):
        memo = len(_func._MEMO)
        model = _two_heads(ej, closure)
        model.load_state_dict({k: ej.tensor(v) for k, v in sd.items()})
        holder = {}

        def compiled(step, holder=holder):
            holder["fn"] = ej.compile(step)
            return holder["fn"]

        if mode == "lazy":
            with ej.lazy():
                got = _train(ej, model, batches)
        else:
            got = _train(ej, model, batches, compiled if mode == "compile" else None)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=mode)
        if mode == "compile":
            # one trace, and none more as the predicate flips between branches
            s = holder["fn"].stats()
            assert s["traces"] == 1 and s["hits"] == len(batches) - 1, s
        assert len(_func._MEMO) - memo == 1, mode  # one cond for all the calls


def test_branches_made_per_call_compile_once():
    """``forward`` makes new lambdas on every call: eager calls must still reuse one compiled
    cond (the same code and closure), tracing once whichever branch is taken."""
    from eagerjax import _func

    model = _two_heads(ej)
    rng = np.random.default_rng(1)
    keys = set(_func._MEMO)

    def calls(n):
        for i in range(n):
            out = model(ej.tensor((rng.standard_normal((5, 4)) + (1.5 if i % 2 else -1.5)).astype(np.float32)))
            out.sum().backward()

    calls(8)
    new = [v for k, v in _func._MEMO.items() if k not in keys]
    assert len(new) == 1, new
    stats = new[0]._compiled.stats()
    # one forward program; the backwards retrace it while the tape around it settles (the
    # layers' eager kernels fuse after a few calls), then never again
    assert stats["misses"] == 1 and stats["recompiles"][0] == "first call", stats
    calls(4)
    assert new[0]._compiled.stats()["traces"] == stats["traces"] and len(_func._MEMO) == len(keys) + 1
    # a partial of the same function with the same arguments is the same function too
    import functools

    def head(scale, h):
        return h * scale

    for _ in range(3):
        ej.cond(ej.tensor(True), functools.partial(head, 2.0), functools.partial(head, 3.0), (ej.ones(2),))
    assert len([k for k in _func._MEMO if k not in keys]) == 2
    # a different closure (another model) is another function
    _two_heads(ej)(ej.tensor(np.ones((5, 4), np.float32)))
    assert len([k for k in _func._MEMO if k not in keys]) == 3


def test_python_bool_and_nested_operands():
    x = ej.tensor(X)
    assert ej.cond(True, lambda d: d["a"] + 1, lambda d: d["a"] - 1, ({"a": x},)).tolist() == (X + 1).tolist()
    out = ej.cond(ej.tensor(0.0), lambda d: [d["a"] + 1], lambda d: [d["a"] - 1], ({"a": x},))
    assert isinstance(out, list) and out[0].tolist() == (X - 1).tolist()
    # no tensor needing grad in: none out
    assert not ej.cond(ej.tensor(True), lambda x: x * 2, lambda x: x, (x,)).requires_grad


@pytest.mark.parametrize(
    "case",
    ["pred", "operands", "operand_int", "dtype", "structure", "mutate_operand", "mutate_buffer", "shape"],
)
def test_refusals_in_torch_words(case):
    x = ej.tensor(X)
    bn = nn.BatchNorm1d(3).train()
    calls = {
        "pred": lambda: ej.cond(ej.tensor([True, False]), lambda x: x, lambda x: x, (x,)),
        "operands": lambda: ej.cond(ej.tensor(True), lambda x: x, lambda x: x, x),
        "operand_int": lambda: ej.cond(ej.tensor(True), lambda a: a, lambda a: a, (3,)),
        "dtype": lambda: ej.cond(ej.tensor(True), lambda x: x + 1, lambda x: x.int() + 1, (x,)),
        "structure": lambda: ej.cond(ej.tensor(True), lambda x: (x + 1, x + 2), lambda x: x + 1, (x,)),
        "mutate_operand": lambda: ej.cond(ej.tensor(True), lambda x: x.add_(1) + 0, lambda x: x + 1, (x,)),
        "mutate_buffer": lambda: ej.cond(ej.tensor(True), lambda x: bn(x[None].repeat(2, 1)), lambda x: x[None], (x,)),
        "shape": lambda: ej.cond(ej.tensor(True), lambda x: x + 1, lambda x: x[:2] + 1, (x,)),
    }
    words = {
        "pred": "Expected pred to be bool or single-element tensor",
        "operands": "Expect operands to be a tuple of possibly nested dict/list/tuple that only consists of tensor",
        "operand_int": "Expect operands to be a tuple",
        "dtype": "expected same dtype but got torch.float32 and torch.int32",
        "structure": "Unmatched output spec from torch.cond branches",
        "mutate_operand": "do not support input mutation",
        "mutate_buffer": "do not support input mutation",
        # (torch 2.13 merges differing shapes into a dynamic one; XLA compiles one shape)
        "shape": "expected same shape but got [3] and [2]",
    }
    with pytest.raises(RuntimeError, match=re.escape(words[case])):
        calls[case]()
    assert x.tolist() == X.tolist() and bn.running_mean.tolist() == [0.0, 0.0, 0.0]  # nothing half-written


# ----------------------------------------------------------------------------- while_loop
def _collatz(lib, start):
    """Steps of the Collatz map from each start until all reach 1: a value-dependent count."""

    def cond_fn(n, steps):
        return (n > 1).any()

    def body_fn(n, steps):
        odd = n % 2 == 1
        nxt = lib.where(odd, 3 * n + 1, n // 2)
        moving = n > 1
        return lib.where(moving, nxt, n), steps + moving.int()

    return lib.while_loop(cond_fn, body_fn, (start, lib.zeros_like(start)))


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_while_loop_matches_torch(mode):
    starts = np.array([6, 7, 27, 1], np.int32)
    want = [t.numpy() for t in _collatz(torch, torch.tensor(starts))]
    fn = (lambda s: _collatz(ej, s)) if mode != "compile" else ej.compile(lambda s: _collatz(ej, s))
    if mode == "lazy":
        with ej.lazy():
            got = [t.numpy() for t in fn(ej.tensor(starts))]
    else:
        got = [t.numpy() for t in fn(ej.tensor(starts))]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_while_loop_trip_count_is_data_not_structure():
    """A new bound (a traced argument) runs the same program: one trace."""

    def doubling(x, n):
        return ej.while_loop(lambda i, x: i < n, lambda i, x: (i + 1, x * 2), (ej.tensor(0), x))

    f = ej.compile(doubling)
    for n in (3, 5, 0):
        i, x = f(ej.ones(2), ej.tensor(n))
        assert int(i) == n and x.tolist() == [2.0**n] * 2
    assert f.stats()["traces"] == 1


def test_while_loop_refusals():
    i, x = ej.tensor(0), ej.ones(3)
    w = nn.Parameter(ej.ones(3))
    words = {
        "shape": (lambda: ej.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, ej.cat([x, x])), (i, x)),
                  "pair[1] differ in 'shape: torch.Size([6]) vs torch.Size([3])'"),
        "dtype": (lambda: ej.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x.int()), (i, x)),
                  "pair[1] differ in 'dtype: torch.int32 vs torch.float32'"),
        "arity": (lambda: ej.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1,), (i, x)),
                  "to have same number of outputs"),
        "mutation": (lambda: ej.while_loop(lambda i, x: i < 3, lambda i, x: (i.add_(1), x), (i.clone(), x)),
                     "do not support input mutation"),
        # inside ej.compile the trip count cannot be read: refused, never a silently zero gradient
        "grad_operand": (lambda: ej.compile(lambda x: ej.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2),
                                                                    (i, x)))(x.clone().requires_grad_()),
                         "gradients through a while loop inside ej.compile"),
        "grad_closure": (lambda: ej.compile(lambda x: ej.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * w),
                                                                    (i, x)))(x),
                         "gradients through a while loop inside ej.compile"),
    }  # fmt: skip
    for name, (call, msg) in words.items():
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            call()
    assert i.tolist() == 0  # nothing written
    with ej.no_grad():  # without gradients a loop reading a parameter runs
        _, out = ej.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * w), (i, x))
    assert out.tolist() == [1.0, 1.0, 1.0] and not out.requires_grad


def _py_while_loop(cond_fn, body_fn, carried):
    """torch's reference semantics as a plain Python loop. (torch 2.13's own torch.while_loop
    gets some gradients wrong: with no step run it still differentiates one, and a closed-over
    parameter gets only the last step's share when the carried input did not need grad.)"""
    while cond_fn(*carried):
        carried = body_fn(*carried)
    return carried


def _grad_loop(lib, w, x, limit):
    """A loop whose count depends on the values (until the sum passes ``limit``), reading a parameter."""
    loop = _py_while_loop if lib is torch else lib.while_loop
    i, h = loop(lambda i, h: h.sum() < limit, lambda i, h: (i + 1, h * w + 1), (lib.tensor(0), x))
    (h * h).sum().backward()
    wg = np.zeros(()) if w.grad is None else w.grad.numpy()  # (no step ran: a zero grad, as ej.cond's unused branch)
    return [i.numpy(), h.detach().numpy(), x.grad.numpy(), wg]


@pytest.mark.parametrize("limit", [40.0, 4.0, 2.0])  # 5 steps, 1 step, 0 steps
@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_while_loop_gradients_match_torch(mode, limit):
    """torch differentiates its loop: so does ej, where the trip count can be read first."""
    want = _grad_loop(torch, torch.nn.Parameter(torch.tensor(1.5)), torch.tensor([1.0, 2.0], requires_grad=True), limit)
    w, x = nn.Parameter(ej.tensor(1.5)), ej.tensor([1.0, 2.0], requires_grad=True)
    if mode == "lazy":
        with ej.lazy():
            got = _grad_loop(ej, w, x, limit)
    else:
        got = _grad_loop(ej, w, x, limit)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-6)


def test_while_loop_gradient_programs_are_reused():
    """One counting program per loop, one stepping program per trip count: a repeated count
    compiles nothing new, though the bound is a tensor made afresh for every call."""
    w = nn.Parameter(ej.tensor(1.5))

    def body_fn(i, h):
        return i + 1, h * w + 1

    def loop(v):
        limit = ej.tensor(v)
        return ej.while_loop(lambda i, h: h.sum() < limit, body_fn, (ej.tensor(0), ej.ones(2)))

    before = len(ej._func._MEMO)
    counts = [int(loop(v)[0]) for v in (10.0, 10.0, 30.0, 10.0)]
    assert counts == [3, 3, 5, 3]
    # count, 3 steps, 5 steps (the parameter needs grad: the plain loop is never traced)
    assert len(ej._func._MEMO) - before == 3


def test_while_loop_training_step_matches_torch():
    """A parameter refined by a loop of data-dependent length, trained by SGD for a few steps."""

    def train(lib, nn_, opt_cls):
        w = nn_.Parameter(lib.tensor(0.9))
        opt = opt_cls([w], lr=0.01)
        loop = _py_while_loop if lib is torch else lib.while_loop
        stop = lib.tensor(0)
        losses = []
        for n in (3, 5, 2, 4):
            opt.zero_grad()
            stop.fill_(n)
            _, h = loop(lambda i, h: i < stop, lambda i, h: (i + 1, h * w + 0.5), (lib.tensor(0), lib.ones(3)))
            loss = ((h - 2.0) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses + [w.item()]

    want = train(torch, torch.nn, torch.optim.SGD)
    np.testing.assert_allclose(train(ej, nn, ej.optim.SGD), want, rtol=1e-5)
    with ej.lazy():
        np.testing.assert_allclose(train(ej, nn, ej.optim.SGD), want, rtol=1e-5)
