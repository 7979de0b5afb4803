"""``eagerjax.testing``: check that compiled and lazy runs compute what eager computes.

Two lines fuzz a training step::

    from eagerjax.testing import assert_compile_equivalent
    assert_compile_equivalent(train_step, x, y, steps=5)

The step's state is found the way ``ej.compile`` finds it (a discovery trace,
which also creates lazily-made state such as optimizer moments), snapshotted,
and the step is run ``steps`` times eagerly, compiled and lazily, each from the
same snapshot. Outputs of every step and the final state are compared; the
first difference is reported by name (``model.0.weight after step 3: ...``).
The state is left as the eager run left it. Since that discovery creates state before
the eager reference runs, a difference in a *first* step (a momentum buffer born early)
is invisible to it: ``assert_fresh_equivalent(make_step, x, y)`` builds everything anew
for each mode and catches that too.

Hypothesis strategies fuzz your own code (or eagerjax) in every mode: ``tensors`` and
``broadcastable_shapes`` for inputs, ``programs`` for random op sequences drawn from the op
table (checked against eager, compiled, lazy, a pure ``jax.numpy`` reference and PyTorch
with ``assert_program_equivalent``), ``modules`` and ``optimizers`` for random training
setups::

    from hypothesis import given
    from eagerjax.testing import modules, optimizers, assert_compile_equivalent

    @given(modules(), optimizers())
    def test_training(model_spec, opt_spec):
        model = model_spec.build(seed=0)
        opt, sched = opt_spec.build(model.parameters())
        x, y = model_spec.inputs(batch=4)
        assert_compile_equivalent(make_step(model, opt, sched), x, y, steps=3)

Hypothesis is only imported when a strategy is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ._capture import Capture
from ._compile import CompiledFunction, _is_leaf
from ._lazy import concrete, lazy, mark_step
from ._state import flags
from ._tensor import Tensor

__all__ = [
    "assert_close",
    "assert_compile_equivalent",
    "assert_fresh_equivalent",
    "discover_state",
    "default_tolerances",
    "tensors",
    "broadcastable_shapes",
    "programs",
    "assert_program_equivalent",
    "modules",
    "optimizers",
]

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


def assert_close(
    actual,
    expected,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_dtype: bool = True,
    msg: str = "",
) -> None:
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
        if not hasattr(m, "named_parameters"):
            continue  # (an optimizer: noted too, see Optimizer._capture_key)
        for n, p in list(m.named_parameters()) + list(m.named_buffers()):
            out.setdefault(id(p), n)
    return out


def _copy_array(v):
    """A fresh buffer holding ``v`` (same dtype and weak type; no compile)."""
    return jax.device_put(concrete(v), may_alias=False)


def _snapshot(state):
    # Copies: a snapshot holding the live arrays would be a second reference to buffers that
    # a compiled step donates, making it fall back to a second, non-donating compile.
    return [(_copy_array(t._value), None if t._grad is None else _copy_array(t._grad._value)) for _, t in state]


def _restore(state, snap) -> None:
    # Fresh copies again: the snapshot must survive a compiled step donating what it restored.
    for (_, t), (v, g) in zip(state, snap):
        t._value = _copy_array(v)
        t._grad = None if g is None else Tensor._make(_copy_array(g))


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
                assert_close(
                    t._value, rv, rtol=rtol, atol=atol, check_dtype=False, msg=f"{mode}: {name} after step {steps}: "
                )
                if (t._grad is None) != (rg is None):
                    raise AssertionError(
                        f"{mode}: {name}.grad is {'None' if t._grad is None else 'set'} "
                        f"after step {steps}, eager left it {'None' if rg is None else 'set'}"
                    )
                if rg is not None:
                    assert_close(
                        t._grad._value,
                        rg,
                        rtol=rtol,
                        atol=atol,
                        check_dtype=False,
                        msg=f"{mode}: {name}.grad after step {steps}: ",
                    )
    finally:
        _restore(state, ref_state)


def assert_fresh_equivalent(
    make_step: Callable,
    *args: Any,
    steps: int = 3,
    rtol: float | None = None,
    atol: float | None = None,
    modes: tuple[str, ...] = ("compiled", "lazy"),
    compile_kwargs: dict | None = None,
    **kwargs: Any,
) -> None:
    """Like ``assert_compile_equivalent``, but every mode starts from scratch.

    ``make_step()`` must build a fresh step (model, optimizer, scheduler...) deterministically,
    e.g. calling ``ej.manual_seed`` first. The eager reference then runs exactly as a user's
    eager loop would: no discovery trace creates optimizer state before its first step. This
    catches what ``assert_compile_equivalent`` cannot: a compiled or lazy first step that differs
    because state was created early (momentum buffers), or a step that compiles twice.
    Outputs of every step and the final state (named by a discovery after the run) are compared.
    """
    results = {}
    for mode in ("eager",) + tuple(modes):
        step_fn = make_step()
        if isinstance(step_fn, CompiledFunction):
            step_fn = step_fn.fn
        outs = _run_mode(mode, step_fn, args, kwargs, steps, compile_kwargs or {})
        state = discover_state(step_fn, *args, **kwargs)
        results[mode] = (outs, [(n, t._value, None if t._grad is None else t._grad._value) for n, t in state])
    ref_outs, ref_state = results["eager"]
    for mode in modes:
        outs, state = results[mode]
        for k, (o, r) in enumerate(zip(outs, ref_outs)):
            _compare(f"{mode} (fresh) step {k + 1}", o, r, rtol, atol)
        names = [n for n, _, _ in state]
        if names != [n for n, _, _ in ref_state]:
            raise AssertionError(
                f"{mode} (fresh): the step left state {names}, eager left {[n for n, _, _ in ref_state]}"
            )
        for (name, v, g), (_, rv, rg) in zip(state, ref_state):
            assert_close(
                v, rv, rtol=rtol, atol=atol, check_dtype=False, msg=f"{mode} (fresh): {name} after step {steps}: "
            )
            if (g is None) != (rg is None):
                raise AssertionError(
                    f"{mode} (fresh): {name}.grad is {'None' if g is None else 'set'} after step "
                    f"{steps}, eager left it {'None' if rg is None else 'set'}"
                )
            if rg is not None:
                assert_close(
                    g,
                    rg,
                    rtol=rtol,
                    atol=atol,
                    check_dtype=False,
                    msg=f"{mode} (fresh): {name}.grad after step {steps}: ",
                )


# --------------------------------------------------------------------------- hypothesis strategies
#
# Hypothesis is imported inside the functions: ``import eagerjax.testing`` works without it.


def _hyp():
    try:
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("eagerjax.testing strategies need hypothesis: pip install hypothesis") from e
    return st, hnp


def _strategy(x, st):
    """``x`` if it is already a strategy, else ``st.just(x)``."""
    return x if hasattr(x, "example") and hasattr(x, "map") else st.just(x)


def _default_elements(dtype, st):
    d = np.dtype(dtype)
    if d.kind == "b":
        return st.booleans()
    if d.kind in "iu":
        info = np.iinfo(d)
        return st.integers(max(info.min, -100), min(info.max, 100))
    width = 16 if d.itemsize == 2 else 32
    return st.floats(-10, 10, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def tensors(shape=None, dtype=None, elements=None, requires_grad: bool = False):
    """A hypothesis strategy for eagerjax tensors.

    Args:
        shape: a shape tuple, a strategy of shapes, or None for any shape with up to 4 dims of
            sizes 0-5 (``hypothesis.extra.numpy.array_shapes``).
        dtype: an eagerjax/numpy dtype or a strategy of dtypes (default ``ej.float32``);
            ``bfloat16`` is drawn as float32 and cast.
        elements: a strategy for the values (default: finite, non-subnormal floats in [-10, 10],
            integers in [-100, 100], booleans).
        requires_grad: make floating tensors leaves that require grad (ignored for other dtypes,
            which cannot require grad).

    Example::

        @given(tensors(shape=(3, 4)), tensors(dtype=st.sampled_from([ej.float32, ej.int32])))
        def test_add(a, b): ...
    """
    st, hnp = _hyp()
    from . import _dtypes

    shapes = (
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
        if shape is None
        else (_strategy(shape, st).map(tuple))
    )
    dtypes = _strategy(_dtypes.float32 if dtype is None else dtype, st)

    def build(sd):
        shp, dt = sd
        dt = _dtypes.to_dtype(dt)
        draw_dt = np.dtype("float32") if dt.name == "bfloat16" else dt
        el = elements if elements is not None else _default_elements(draw_dt, st)
        return hnp.arrays(draw_dt, shp, elements=el).map(lambda a: _as_tensor(a, dt, requires_grad))

    return st.tuples(shapes, dtypes).flatmap(build)


def _as_tensor(a, dt, requires_grad):
    from ._factories import tensor

    t = tensor(a, dtype=dt)
    if requires_grad and (np.dtype(dt).kind == "f" or np.dtype(dt).name == "bfloat16"):
        t.requires_grad_(True)
    return t


def broadcastable_shapes(n: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4):
    """A strategy for tuples of ``n`` shapes that broadcast together (torch/numpy rules).

    Shapes may differ in rank and use size-1 dims to broadcast; ``min_side=0`` allows size-0
    dims (which broadcast only with 0 or 1). Built on ``hypothesis.extra.numpy.mutually_broadcastable_shapes``.

    Example: ``@given(broadcastable_shapes(3))`` draws e.g. ``((2, 1, 3), (4, 1), ())``.
    """
    _, hnp = _hyp()
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda b: tuple(tuple(s) for s in b.input_shapes))


def programs(
    ops=None,
    max_ops: int = 12,
    *,
    min_ops: int = 1,
    dtypes=("float32", "float16", "int32", "bool"),
    inplace: bool = True,
    forms=("fn", "method", "op"),
    max_side: int = 4,
    zero_dims: bool = True,
    reject=None,
):
    """A strategy for random op programs drawn from the op table (a ``Program``).

    A program is ``min_ops``..``max_ops`` calls of op-table rows on 1-3 inputs of broadcastable
    shapes (plus inputs made for ops that need them: index tensors, matmul partners), each
    called as a function, a method, an operator or in place. Every step is checked on the
    program's own inputs while it is drawn, so a program is valid: in-domain, finite, and free
    of results that would legitimately differ between implementations (a ``floor`` only sees
    exactly computed values). Most inputs are float32; ``dtypes`` weights the rest.

    Args:
        ops: op names to draw from (default: every op the fuzzer knows, ~250 specs over the
            elementwise, reduction, shape, linear-algebra and indexing families).
        max_ops / min_ops: the number of steps (invalid draws are retried, then skipped).
        dtypes: dtypes inputs are drawn from (float32 dominates).
        inplace: allow in-place forms (``x.add_(y)``, ``x += y``).
        forms: call forms to draw from: ``"fn"`` (``torch.op(x)``), ``"method"``, ``"op"``.
        max_side / zero_dims: largest dim size; whether size-0 dims may appear.
        reject: ``reject(op_name, form, operands) -> bool`` vetoes a step (``operands`` are
            ``_fuzz_gen.Operand(name, dtype, shape, requires_grad, leaf)``, an in-place target
            first); tests use it to steer around known bugs.

    The program object: ``print(prog)`` shows runnable torch-style source with its inputs;
    ``prog.run(*prog.tensors())`` runs it with eagerjax in the current mode;
    ``prog.step_fn()`` is ``f(*inputs) -> (outputs, grads)`` for ``ej.compile``/``ej.lazy``;
    ``prog.reference()`` computes the same with the rows' pure jax functions (gradients by
    ``jax.grad``) and ``prog.torch()`` with PyTorch. ``assert_program_equivalent(prog)`` compares
    them all.
    """
    st, hnp = _hyp()
    from ._fuzz_catalog import SPECS
    from ._fuzz_gen import Gen, build_program
    from ._ops._registry import OPS

    specs = [s for s in SPECS if s.name in OPS and (ops is None or s.name in ops)]
    if not specs:
        raise ValueError(f"programs(): no op the fuzzer knows among {ops!r}")
    dts = tuple(np.dtype(d).name for d in dtypes)

    @st.composite
    def _programs(draw):
        g = Gen(
            draw,
            st,
            hnp,
            dtypes=dts,
            allow_inplace=inplace,
            forms=tuple(forms),
            max_side=max_side,
            zero_dims=zero_dims,
            reject=reject,
        )
        return build_program(g, specs, draw(st.integers(min_ops, max_ops)))

    return _programs()


def assert_program_equivalent(
    prog,
    modes=("reference", "compiled", "lazy", "torch"),
    *,
    grads: bool = True,
    rtol: float | None = None,
    torch_grads: bool = True,
) -> dict:
    """Run a ``programs()`` program eagerly and in each of ``modes`` and assert they agree.

    Compared: every output's values (float tolerance relative to the output's scale: 1e-4 for
    float32, 2e-2 for float16), shape and dtype (torch's int64/float64 read as int32/float32),
    ``requires_grad`` against torch, and the gradients of ``sum((out.float() * w).sum())`` w.r.t.
    the inputs that require grad. ``"compiled"`` also asserts a second call hits the cache (one
    trace). ``"torch"`` is skipped when PyTorch is not installed; torch's gradients are skipped
    when torch refuses the backward (an in-place write to a tensor saved for backward). Returns
    the results by mode; raises AssertionError with the program's source on any difference.
    """
    from ._fuzz_check import check_program

    return check_program(prog, modes, grads=grads, rtol=rtol, torch_grads=torch_grads)


def modules(
    kinds=("mlp", "conv1d", "conv2d", "attention"), max_layers: int = 4, *, dropout: bool = True, norm: bool = True
):
    """A strategy for random models (a ``ModelSpec``): layer stacks ending in ``(B, classes)`` logits.

    ``mlp``: Linear / LayerNorm / BatchNorm1d / activation / Dropout blocks; ``conv1d``/``conv2d``:
    Conv (random kernel, stride, padding; BatchNorm1d for 1-d) / activation / Dropout, then
    Flatten + Linear; ``attention``: ``nn.MultiheadAttention`` self-attention over ``(B, T, E)``
    with optional LayerNorm, averaged over time, then Linear. Activations from ReLU, Tanh, GELU,
    SiLU, Sigmoid, LeakyReLU, ELU.

    The spec prints as the model it builds; ``spec.build(seed)`` makes a fresh ``nn.Sequential``,
    ``spec.input_shape(batch)`` / ``spec.inputs(batch, seed)`` give matching data and labels
    (``spec.classes`` outputs). Use a batch >= 2 when ``spec.has_batchnorm``.
    """
    st, _ = _hyp()
    from ._fuzz_models import Draws, draw_model

    return st.composite(lambda draw: draw_model(Draws(draw, st), kinds, max_layers, dropout, norm))()


def optimizers(names=None, schedulers=None, *, p_scheduler: float = 0.5):
    """A strategy for a random optimizer recipe (an ``OptimizerSpec``) with valid hyperparameters.

    Draws a class from ``eagerjax.optim`` (SGD with momentum/nesterov/dampening/maximize, Adam,
    AdamW with amsgrad, RMSprop centered/momentum, Adagrad, Adamax, NAdam, RAdam: whichever
    exist), learning rate, weight decay and betas, and with probability ``p_scheduler`` an
    ``eagerjax.optim.lr_scheduler`` (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
    LinearLR, ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts). ``spec.build(params)``
    returns ``(optimizer, scheduler or None)``; the spec prints as the constructor calls.
    """
    st, _ = _hyp()
    from ._fuzz_models import OPTIMIZERS, SCHEDULERS, Draws, draw_optimizer

    names = OPTIMIZERS if names is None else list(names)
    scheds = SCHEDULERS if schedulers is None else list(schedulers)
    return st.composite(lambda draw: draw_optimizer(Draws(draw, st), names, scheds, p_scheduler))()
