"""``eagerjax.testing``: check that compiled and lazy runs compute what eager computes.

Two lines fuzz a training step::

    from eagerjax.testing import assert_compile_equivalent
    assert_compile_equivalent(train_step, x, y, steps=5)

The step's state is found the way ``ej.compile`` finds it (a discovery trace,
which also creates lazily-made state such as optimizer moments), snapshotted,
and the step is run ``steps`` times eagerly, compiled and lazily, each from the
same snapshot. Outputs of every step and the final state are compared; the
first difference is reported by name (``model.0.weight after step 3: ...``).
The state is left as the eager run left it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ._capture import Capture
from ._compile import CompiledFunction, _is_leaf
from ._lazy import lazy, mark_step
from ._state import flags
from ._tensor import Tensor

__all__ = ["assert_close", "assert_compile_equivalent", "discover_state", "default_tolerances"]

_TOL = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
}


def default_tolerances(dtype) -> tuple[float, float]:
    """torch.testing.assert_close's (rtol, atol) for ``dtype``; exact for ints and bools."""
    return _TOL.get(np.dtype(dtype).name, (0.0, 0.0))


def _np(x) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x._concrete("assert_close")
    a = np.asarray(x)
    if a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    return a


def assert_close(actual, expected, *, rtol: float | None = None, atol: float | None = None,
                 equal_nan: bool = False, check_dtype: bool = True, msg: str = "") -> None:
    """torch.testing.assert_close for eagerjax tensors (and arrays/numbers), with per-dtype defaults."""
    a, e = _np(actual), _np(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg}shape mismatch: {a.shape} vs {e.shape}")
    if check_dtype and isinstance(actual, Tensor) and isinstance(expected, Tensor) and actual.dtype != expected.dtype:
        raise AssertionError(f"{msg}dtype mismatch: {actual.dtype} vs {expected.dtype}")
    dr, da = default_tolerances(np.asarray(_np(actual)).dtype)
    rtol = dr if rtol is None else rtol
    atol = da if atol is None else atol
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":
        bad = a != e
    else:
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(a64 - e64) <= atol + rtol * np.abs(e64))
        if equal_nan:
            bad &= ~(np.isnan(a64) & np.isnan(e64))
        bad &= ~((a64 == e64) & np.isinf(a64))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        raise AssertionError(
            f"{msg}{int(bad.sum())} of {a.size} elements differ (rtol={rtol}, atol={atol}); "
            f"max abs diff {float(np.nanmax(diff)) if diff.size else 0:.3g}; first at {idx}: "
            f"{a[idx]!r} vs {e[idx]!r}"
        )


def discover_state(step_fn: Callable, *args, **kwargs) -> list[tuple[str, Tensor]]:
    """The (name, tensor) pairs a step reads or writes, found by a discovery trace.

    Lazily created state (optimizer moments) exists afterwards, as ``ej.compile`` would make it.
    """
    cap = Capture(None, True, "discovery for eagerjax.testing")
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_leaf)
    vals = [x._value if isinstance(x, Tensor) else x for x in leaves if isinstance(x, Tensor)]
    prev = flags.mode
    flags.mode = cap
    try:

        def f(*dyn):
            it = iter(dyn)
            new = [Tensor._make(next(it)) if isinstance(x, Tensor) else x for x in leaves]
            for n, o in zip(new, leaves):
                if isinstance(o, Tensor):
                    n.requires_grad = o.requires_grad
            a, k = jax.tree_util.tree_unflatten(treedef, new)
            out = step_fn(*a, **k)
            return [x._value for x in jax.tree_util.tree_leaves(out, is_leaf=_is_leaf) if isinstance(x, Tensor)]

        jax.eval_shape(f, *vals)
    finally:
        flags.mode = prev
        cap.restore()
    names = _names(cap.modules.values())
    owners = list(cap.owners.values())
    for t in list(cap.read_grad.values()) + list(cap.wrote_grad.values()):
        if all(t is not o for o in owners):
            owners.append(t)
    return [(names.get(id(t)) or t._name or f"state[{i}]{tuple(t.shape)}", t) for i, t in enumerate(owners)]


def _names(modules) -> dict[int, str]:
    """Dotted names for parameters and buffers, relative to the outermost module called."""
    out: dict[int, str] = {}
    for m in modules:  # first noted = outermost
        for n, p in list(m.named_parameters()) + list(m.named_buffers()):
            out.setdefault(id(p), n)
    return out


def _snapshot(state):
    return [(t._value, t._grad._value if t._grad is not None else None) for _, t in state]


def _restore(state, snap) -> None:
    for (_, t), (v, g) in zip(state, snap):
        t._value = v
        t._grad = None if g is None else Tensor._make(g)


def _outputs(out) -> list:
    return [x for x in jax.tree_util.tree_leaves(out, is_leaf=_is_leaf)]


def _compare(what: str, got: list, ref: list, rtol, atol) -> None:
    for i, (g, r) in enumerate(zip(got, ref)):
        if isinstance(r, Tensor) or isinstance(g, Tensor):
            assert_close(g, r, rtol=rtol, atol=atol, check_dtype=False, msg=f"{what} output {i}: ")
        elif isinstance(r, float) and math.isnan(r):
            continue
        elif g != r:
            raise AssertionError(f"{what} output {i}: {g!r} != {r!r}")


def _run_mode(mode: str, step_fn, args, kwargs, steps: int, compile_kwargs: dict):
    outs = []
    if mode == "eager":
        for _ in range(steps):
            outs.append([_copy(x) for x in _outputs(step_fn(*args, **kwargs))])
    elif mode == "compiled":
        c = step_fn if isinstance(step_fn, CompiledFunction) else CompiledFunction(step_fn, **compile_kwargs)
        for _ in range(steps):
            outs.append([_copy(x) for x in _outputs(c(*args, **kwargs))])
    else:
        with lazy():
            for _ in range(steps):
                res = _outputs(step_fn(*args, **kwargs))
                mark_step()
                outs.append(res)
        outs = [[_copy(x) for x in o] for o in outs]
    return outs


def _copy(x):
    if isinstance(x, Tensor):
        return Tensor._make(np.array(x._concrete("eagerjax.testing")))
    return x


def assert_compile_equivalent(
    step_fn: Callable,
    *args: Any,
    steps: int = 3,
    rtol: float | None = None,
    atol: float | None = None,
    modes: tuple[str, ...] = ("compiled", "lazy"),
    compile_kwargs: dict | None = None,
    **kwargs: Any,
) -> None:
    """Run ``step_fn(*args, **kwargs)`` ``steps`` times eagerly and in each of ``modes`` from the
    same state, and assert every output and the final state agree (per-dtype tolerances by
    default). Raises AssertionError naming the first differing tensor.
    """
    if isinstance(step_fn, CompiledFunction):
        step_fn = step_fn.fn
    state = discover_state(step_fn, *args, **kwargs)
    start = _snapshot(state)
    ref_outs = _run_mode("eager", step_fn, args, kwargs, steps, {})
    ref_state = _snapshot(state)
    try:
        for mode in modes:
            _restore(state, start)
            outs = _run_mode(mode, step_fn, args, kwargs, steps, compile_kwargs or {})
            for k, (o, r) in enumerate(zip(outs, ref_outs)):
                _compare(f"{mode} step {k + 1}", o, r, rtol, atol)
            for (name, t), (rv, rg) in zip(state, ref_state):
                assert_close(t._value, rv, rtol=rtol, atol=atol, check_dtype=False,
                             msg=f"{mode}: {name} after step {steps}: ")
                if (t._grad is None) != (rg is None):
                    raise AssertionError(f"{mode}: {name}.grad is {'None' if t._grad is None else 'set'} "
                                         f"after step {steps}, eager left it {'None' if rg is None else 'set'}")
                if rg is not None:
                    assert_close(t._grad._value, rg, rtol=rtol, atol=atol, check_dtype=False,
                                 msg=f"{mode}: {name}.grad after step {steps}: ")
    finally:
        _restore(state, ref_state)
