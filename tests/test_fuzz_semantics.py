"""Semantics fuzzing: random mixes of in-place ops, ``no_grad`` blocks, ``detach``,
``retain_graph``, hooks, gradient accumulation and clipping inside a training step behave
in compiled and lazy mode as they do eagerly; random bad inputs fail the same way eagerly
and compiled (exception type and key words) and a failed compiled call changes no state."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import example_start, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import _restore, _snapshot, assert_compile_equivalent, assert_fresh_equivalent, discover_state
from eagerjax.testing import modules as model_specs


@pytest.fixture(autouse=True)
def _eager_after():
    yield
    ej.set_mode("eager")


INPLACE = {
    "relu_": lambda h: h.relu_(),
    "mul_": lambda h: h.mul_(0.5),
    "add_": lambda h: h.add_(1.0),
    "clamp_": lambda h: h.clamp_(-1.0, 1.0),
    "tanh_": lambda h: h.tanh_(),
    "sigmoid_": lambda h: h.sigmoid_(),
    "iadd": lambda h: h.__iadd__(0.25),
    "imul": lambda h: h.__imul__(2.0),
}

FEATURES = st.fixed_dictionaries(
    {
        "inplace": st.lists(st.sampled_from(sorted(INPLACE)), max_size=3),
        "no_grad_buffer": st.booleans(),
        "detach": st.sampled_from([None, "branch", "data"]),
        "retain_graph": st.booleans(),
        "param_hook": st.booleans(),
        "tensor_hook": st.booleans(),
        "forward_hook": st.booleans(),
        "accumulate": st.booleans(),
        "clip": st.sampled_from([None, "norm", "value"]),
        "no_grad_eval": st.booleans(),
        "opt": st.sampled_from(["SGD", "Adam"]),
    }
)


def build(f: dict, seed: int = 0):
    """A fresh training step exercising the features ``f`` (deterministic for a seed)."""
    ej.manual_seed(seed)
    l1, l2 = nn.Linear(4, 6), nn.Linear(6, 3)
    params = list(l1.parameters()) + list(l2.parameters())
    buf = ej.zeros(6)
    # (Adam's eps well above rounding: see _fuzz_models.optimizers)
    opt = ej.optim.SGD(params, lr=0.1) if f["opt"] == "SGD" else ej.optim.Adam(params, lr=0.01, eps=1e-3)
    if f["param_hook"]:
        l1.weight.register_hook(lambda g: g * 0.5)
    if f["forward_hook"]:
        l2.register_forward_hook(lambda m, i, o: o * 2.0)

    def step(x, y):
        if not f["accumulate"]:
            opt.zero_grad()
        h = l1(x)
        for name in f["inplace"]:
            h = INPLACE[name](h)
        if f["tensor_hook"]:
            h.register_hook(lambda g: g.clamp(-0.05, 0.05))
        if f["no_grad_buffer"]:
            with ej.no_grad():
                buf.mul_(0.9).add_(h.mean(0), alpha=0.1)
        if f["detach"] == "branch":
            h = h + h.detach() * 0.5
        elif f["detach"] == "data":
            h = h * h.data.abs().mean()
        out = l2(h)
        loss = F.cross_entropy(out, y)
        if f["retain_graph"]:
            loss.backward(retain_graph=True)
            (out.pow(2).mean() * 0.1).backward()
        else:
            loss.backward()
        if f["clip"] == "norm":
            nn.utils.clip_grad_norm_(params, 1.0)
        elif f["clip"] == "value":
            nn.utils.clip_grad_value_(params, 0.1)
        opt.step()
        if f["no_grad_eval"]:
            with ej.no_grad():
                ev = l2(l1(x)).sum()
            return loss, ev, buf.sum()
        return loss, buf.sum()

    return step


# Found once hooks were drawn: a leaf hook plus gradient accumulation in lazy mode added two
# LazyValues with a raw `+` in the hook path of the backward (now dispatched as a tensor add).
HOOKS_ACCUMULATE_LAZY = dict(
    inplace=["relu_", "sigmoid_"],
    param_hook=True,
    no_grad_eval=True,
    detach="branch",
    forward_hook=False,
    no_grad_buffer=True,
    accumulate=True,
    tensor_hook=True,
    retain_graph=True,
    opt="SGD",
    clip="norm",
)


@fuzz_settings(ci=5, thorough=500)
@given(f=FEATURES, batch=st.integers(1, 4), steps=st.integers(1, 3))
@example(f=HOOKS_ACCUMULATE_LAZY, batch=2, steps=1)
def test_step_semantics(f, batch, steps):
    example_start("semantics steps")
    x, y = ej.randn(batch, 4, generator=ej.Generator().manual_seed(batch)), ej.tensor(list(range(batch))) % 3
    note = f"\nfeatures: {f}, batch {batch}, steps {steps}"
    try:
        assert_compile_equivalent(build(f), x, y, steps=steps, rtol=1e-4, atol=1e-6)
        assert_fresh_equivalent(lambda: build(f), x, y, steps=steps, rtol=1e-4, atol=1e-6)
    except AssertionError as e:
        raise AssertionError(f"{e}{note}") from None


@pytest.mark.parametrize("hook", ["tensor_hook", "param_hook"])
def test_hooks_inside_compiled_step(hook):
    """Regression (hook-capture): a tensor hook -- on an intermediate registered inside the step,
    or on a parameter registered outside it -- made ``ej.compile`` re-discover forever: the
    backward's hook path wraps the (concrete, cached) root cotangent in a Tensor born inside the
    step, which capture took for state ("state tensor():float32 was not in the plan", "did not
    settle after 4 discoveries"). Hooks run at trace time; their effect on gradients is captured,
    with one trace, as without the hook."""
    f = {
        "inplace": [],
        "no_grad_buffer": False,
        "detach": None,
        "retain_graph": False,
        "param_hook": False,
        "tensor_hook": False,
        "forward_hook": False,
        "accumulate": False,
        "clip": None,
        "no_grad_eval": False,
        "opt": "SGD",
        hook: True,
    }
    x, y = ej.randn(2, 4), ej.tensor([0, 1])
    assert_fresh_equivalent(lambda: build(f), x, y, steps=2, rtol=1e-4, atol=1e-6)
    counts = {}
    for h in (hook, None):
        c = ej.compile(build(dict(f, **{hook: h is not None})))
        for _ in range(3):
            c(x, y)
        counts[h] = (c.stats()["discoveries"], c.stats()["traces"], c.stats()["recompiles"])
    # as many discoveries (the second one: grads now exist) and traces as without the hook
    assert counts[hook] == counts[None] and counts[None][1] == 1, counts


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_hook_effect_on_gradients(mode):
    """A hook's effect on ``.grad`` (scaling, clamping, a ``None`` return that keeps the gradient)
    is the same in every mode: a leaf hook registered outside the step, a non-leaf hook inside."""

    def run(m):
        w = ej.tensor([1.0, -2.0, 3.0], requires_grad=True)
        w.register_hook(lambda g: None)
        w.register_hook(lambda g: g * 0.5)

        def step(x):
            h = w * x
            h.register_hook(lambda g: g.clamp(-1.5, 1.5))
            loss = (h * h).sum()
            loss.backward()
            return loss

        x = ej.tensor([1.0, 2.0, 0.1])
        if m == "compiled":
            c = ej.compile(step)
            c(x)
            w.grad = None
            out = c(x)
        elif m == "lazy":
            with ej.lazy():
                out = step(x)
        else:
            out = step(x)
        return float(out), w.grad.numpy().tolist()

    assert run(mode) == run("eager")


# --------------------------------------------------------------------------- bad inputs


def _corrupt(kind: str, x, y, draw_int):
    if kind == "features":
        return ej.randn(*x.shape[:-1], x.shape[-1] + draw_int(1, 3)), y
    if kind == "drop_batch":
        return x[0], y
    if kind == "extra_dim":
        return x.unsqueeze(0), y
    if kind == "swap_dims":
        return x.transpose(0, -1), y
    if kind in ("int32", "float16", "bool"):
        return x.to(getattr(ej, kind)), y
    if kind == "labels_len":
        return x, ej.zeros(x.shape[0] + draw_int(1, 3), dtype=ej.int64)
    if kind == "labels_float":
        return x, y.float()
    if kind == "labels_2d":
        return x, y.reshape(-1, 1)
    return x, y[:0]  # labels_empty


BAD = [
    "features",
    "drop_batch",
    "extra_dim",
    "swap_dims",
    "int32",
    "float16",
    "bool",
    "labels_len",
    "labels_float",
    "labels_2d",
    "labels_empty",
]


def _words(msg: str) -> set:
    core = msg.split("(operands:")[0]
    return {w.lower() for w in re.findall(r"[A-Za-z_]{3,}|\d+", core)}


def _run(fn, args, state, start):
    _restore(state, start)
    try:
        out = fn(*args)
    except Exception as e:  # noqa: BLE001 - the error itself is the result under test
        return "error", e, _snapshot(state)
    return "ok", [np.array(o.detach()) for o in (out if isinstance(out, tuple) else (out,))], _snapshot(state)


def _same_state(a, b, grads=True) -> bool:
    for (va, ga), (vb, gb) in zip(a, b):
        if not np.array_equal(np.asarray(va), np.asarray(vb)):
            return False
        if grads and ((ga is None) != (gb is None) or (ga is not None and not np.array_equal(ga, gb))):
            return False
    return True


@fuzz_settings(ci=8, thorough=600)
@given(
    spec=model_specs(max_layers=2, dropout=False),
    kind=st.sampled_from(BAD),
    opt=st.sampled_from(["SGD", "Adam"]),
    data=st.data(),
)
def test_bad_inputs_fail_alike_and_change_nothing(spec, kind, opt, data):
    example_start("bad inputs")
    net = spec.build(0)
    o = ej.optim.SGD(net.parameters(), lr=0.1) if opt == "SGD" else ej.optim.Adam(net.parameters(), lr=0.01, eps=1e-3)

    def step(x, y):
        o.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        o.step()
        return loss

    x, y = spec.inputs(3, 0)
    c = ej.compile(step)
    c(x, y)  # warm: state and optimizer moments exist, one program cached
    state = discover_state(step, x, y)
    params = {n for n, _ in net.named_parameters()}
    start = _snapshot(state)
    bx, by = _corrupt(kind, x, y, lambda lo, hi: data.draw(st.integers(lo, hi)))
    note = f"\nmodel: {spec}\ncorruption {kind}: x {tuple(bx.shape)} {bx.dtype}, y {tuple(by.shape)} {by.dtype}"
    ce = _run(c, (bx, by), state, start)
    ee = _run(step, (bx, by), state, start)
    assert ce[0] == ee[0], f"compiled: {ce[0]} ({ce[1]!r}), eager: {ee[0]} ({ee[1]!r}){note}"
    if ce[0] == "error":
        assert type(ce[1]) is type(ee[1]), f"compiled raised {ce[1]!r}, eager {ee[1]!r}{note}"
        missing = _words(str(ee[1])) - _words(str(ce[1]))
        assert len(missing) <= 1, f"compiled error lacks {missing}: {ce[1]} / eager: {ee[1]}{note}"
        assert _same_state(ce[2], start), f"a failed compiled call changed state{note}"
        # eagerly, effects before the failing op stand (as in torch: BatchNorm running stats
        # update before a later layer fails); parameters and optimizer state must not change
        keep = [k for k, (n, _) in enumerate(state) if n in params or not n.split(".")[-1].startswith("running_")]
        keep = [k for k in keep if not state[k][0].endswith("num_batches_tracked")]
        assert _same_state([ee[2][k] for k in keep], [start[k] for k in keep], grads=False), (
            f"a failed eager call changed parameters or optimizer state{note}"
        )
    else:
        for a, b in zip(ce[1], ee[1]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=note)
    # the compiled function still works (and is still cached) after the failure
    _restore(state, start)
    traces = c.stats()["traces"]
    good = c(x, y)
    assert np.isfinite(float(good)), note
    assert c.stats()["traces"] == traces + (0 if ce[0] == "error" else 0), f"{c.stats()['recompiles']}{note}"


def _arg_step(x, w):
    x.add_(1.0)  # an in-place update of an argument
    loss = (w * x).sum()
    loss.backward()  # .grad of an argument
    return loss


def _arg_step_no_grad(x, w):
    x.mul_(2.0)
    if w.grad is not None:
        w.grad.zero_()  # in place on an argument's existing .grad
    with ej.no_grad():
        w.sub_(0.5)  # an argument that requires grad, updated like a parameter
    return (w * x).sum().detach()


@pytest.mark.parametrize("step_fn", [_arg_step, _arg_step_no_grad])
@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_step_mutating_its_arguments(mode, step_fn):
    """Regression (arg-mutation): a compiled step's writes to its *arguments* were dropped:
    ``x.add_(1)`` on an argument left the caller's ``x`` unchanged and ``loss.backward()`` left
    ``w.grad`` None (eager, lazy and torch.compile update both). Now written back after the call,
    like state, over several calls (``.grad`` accumulates) with one trace per ``.grad`` presence."""
    got = {}
    for m in ("eager", mode):
        x, w = ej.ones(3), ej.ones(3, requires_grad=True)
        c = ej.compile(step_fn)
        outs = []
        for _ in range(3):
            if m == "compiled":
                out = c(x, w)
            elif m == "lazy":
                with ej.lazy():
                    out = step_fn(x, w)
            else:
                out = step_fn(x, w)
            outs.append(float(out))
            got[m] = (outs, x.numpy().tolist(), None if w.grad is None else w.grad.numpy().tolist())
        if m == "compiled":
            assert c.stats()["traces"] <= 2, c.stats()["recompiles"]  # .grad None, then a tensor
    assert got[mode] == got["eager"]


def test_failed_compiled_step_leaves_arguments_alone():
    """Argument write-back is transactional: a step that fails after mutating an argument
    leaves the caller's tensor (value and ``.grad``) as it was."""

    def step(x, w, bad):
        x.add_(1.0)
        (w * x).sum().backward()
        return w @ bad  # fails for a mismatched ``bad``

    c = ej.compile(step)
    x, w = ej.ones(3), ej.ones(3, requires_grad=True)
    c(x, w, ej.ones(3))
    before = (x.numpy().tolist(), w.grad.numpy().tolist())
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        c(x, w, ej.ones(4))
    assert (x.numpy().tolist(), w.grad.numpy().tolist()) == before


def test_autograd_grad_results_in_compiled_step():
    """``autograd.grad`` results are plain tensors (no grad_fn without create_graph), also when a
    compiled step differentiates w.r.t. its arguments and returns differentiable outputs too."""

    def f(x, w):
        a = ej.tanh(x) * w
        g = ej.autograd.grad((a.sum(dim=0) * 2).sum(), [x, w])
        return a, list(g)

    x, w = ej.arange(6.0).reshape(2, 3).requires_grad_(), ej.ones(3, requires_grad=True)
    (ea, eg), (ca, cg) = f(x, w), ej.compile(f)(x, w)
    for e, c in zip(eg, cg):
        np.testing.assert_allclose(c.detach().numpy(), e.numpy(), rtol=1e-6)
        assert c.requires_grad == e.requires_grad is False
    assert ca.requires_grad and ea.requires_grad


def test_equivalence_check_keeps_donation(monkeypatch):
    """Regression: ``assert_compile_equivalent``'s snapshot held the live state arrays, a second
    reference that made the compiled step give up buffer donation and compile a second program."""
    from eagerjax._compile import CompiledFunction

    fallbacks = []
    orig = CompiledFunction._no_donate
    monkeypatch.setattr(CompiledFunction, "_no_donate", staticmethod(lambda e: fallbacks.append(e) or orig(e)))
    step = build({**HOOKS_ACCUMULATE_LAZY, "inplace": [], "param_hook": False, "tensor_hook": False, "opt": "Adam"})
    x, y = ej.randn(3, 4), ej.tensor([0, 1, 2])
    assert_compile_equivalent(step, x, y, steps=3, rtol=1e-4, atol=1e-6)
    assert not fallbacks
