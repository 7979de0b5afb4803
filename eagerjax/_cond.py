"""``torch.cond`` and ``torch.while_loop``: data-dependent control flow that compiles
(``jax.lax.cond``, ``jax.lax.while_loop``).

``ej.cond(pred, true_fn, false_fn, operands)`` calls one of two functions of the operands by
a tensor's value without reading it on the host, so it works inside ``ej.compile`` and
``ej.lazy()`` where ``if t > 0:`` cannot. It is a transform like ``ej.func.vmap``: the call
runs as a compiled function whose body is ``lax.cond`` over both branches traced on
Tensors holding tracers, so closed-over parameters are discovered as state (never baked
in), a call inside a captured step is traced inline, and the result is differentiable with
respect to the operands and to whatever the branches read (one op on the autograd tape;
JAX differentiates ``lax.cond``).

As in torch, the branches must be functional (no in-place write to anything from outside
them, which includes buffer updates and random draws) and return the same structure of
tensors with the same dtypes; unlike torch's dynamic shapes, the shapes must match too
(XLA compiles one output shape). A Python bool ``pred`` just calls its branch.

``ej.while_loop(cond_fn, body_fn, carried_inputs)`` runs ``body_fn`` while ``cond_fn`` holds,
on the device (a generation loop until a stop token, a solver until convergence). XLA's
loop has no trip count known when the program compiles, so JAX cannot differentiate it
backwards. Where torch differentiates it, eagerjax first runs the loop counting its steps,
reads that count on the host, then runs exactly that many steps as a scan, which JAX does
differentiate (a second pass, and one compiled program per distinct count). Inside
``ej.compile`` the count cannot be read: there it raises rather than drop the gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._autograd import no_grad
from ._func import _closure_tensors, _flatten, _fn_key, _memo, _name, _out, _Transformed, _Trap, _wrap_like
from ._state import flags
from ._tensor import Tensor

__all__ = ["cond", "while_loop"]


def cond(pred, true_fn: Callable, false_fn: Callable, operands: tuple | list = ()):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, chosen on the device."""
    leaves, _ = _flatten(operands)
    if not isinstance(operands, (tuple, list)) or not all(isinstance(x, Tensor) for x in leaves):
        raise RuntimeError(
            "Expect operands to be a tuple of possibly nested dict/list/tuple that only consists of tensor "
            f"leaves, but got {operands}."
        )
    if not isinstance(pred, Tensor):
        if not isinstance(pred, (bool, int, float)):
            raise RuntimeError(f"Expected pred to be bool or a tensor, but got {pred}.")
        return (true_fn if pred else false_fn)(*operands)
    if pred.numel() != 1:
        raise RuntimeError(f"Expected pred to be bool or single-element tensor, but got {pred}.")
    name = f"cond({_name(true_fn)}, {_name(false_fn)})"
    make = lambda: _Transformed(_body(true_fn, false_fn), name)  # noqa: E731
    return _memo("cond", (true_fn, false_fn), (), make)(pred, *operands)


def _branch(fn: Callable, which: str, leaves: list, tree, meta: dict) -> Callable:
    """``fn`` as a function of the operands' arrays, returning its outputs' arrays."""

    def run(arrays):
        args = jax.tree_util.tree_unflatten(tree, _wrap_like(arrays, leaves))  # (made outside: writes trapped)
        with _Trap() as trap:
            out = fn(*args)
        if trap.tensors:
            raise RuntimeError(
                f"torch.cond: {which} wrote to a tensor from outside it (an in-place op on an operand, a buffer "
                "update such as BatchNorm's in training, a random draw): Higher order ops do not support input "
                "mutation; the branches must be functional"
            )
        outs, out_tree = _flatten(out)
        bad = [type(x) for x in outs if not isinstance(x, Tensor)]
        if bad:
            raise RuntimeError(f"torch.cond: {which} must return only tensors (in tuples/lists/dicts), got {bad}")
        meta[which] = (out_tree, outs)
        return [x._value for x in outs]

    return run


def _mismatch(meta: dict) -> RuntimeError | None:
    """torch's words for branches whose outputs cannot merge (None: not that)."""
    if "true_fn" not in meta or "false_fn" not in meta:
        return None
    (ta, a), (tb, b) = meta["true_fn"], meta["false_fn"]
    if ta != tb:
        return RuntimeError(
            f"Unmatched output spec from torch.cond branches: true branch tree_spec {ta} vs false branch "
            f"tree_spec {tb}."
        )
    for x, y in zip(a, b):
        if x.dtype != y.dtype:
            return RuntimeError(
                "When merging two branches' output in torch.cond, expected same dtype but got "
                f"torch.{jnp.dtype(x.dtype).name} and torch.{jnp.dtype(y.dtype).name}."
            )
        if tuple(x.shape) != tuple(y.shape):
            return RuntimeError(
                f"When merging two branches' output in torch.cond, expected same shape but got {list(x.shape)} "
                f"and {list(y.shape)} (eagerjax compiles one output shape: pad or slice the branches to agree)."
            )
    return None


def _body(true_fn: Callable, false_fn: Callable) -> Callable:
    def body(pred: Tensor, *operands):
        leaves, tree = _flatten(operands)
        meta: dict = {}
        p = jnp.reshape(pred._read(), ()).astype(bool)
        arrays = [x._read() for x in leaves]
        try:
            res = jax.lax.cond(
                p,
                _branch(true_fn, "true_fn", leaves, tree, meta),
                _branch(false_fn, "false_fn", leaves, tree, meta),
                arrays,
            )
        except TypeError as e:
            err = _mismatch(meta)
            if err is None:
                raise
            raise err from e
        out_tree, outs = meta["true_fn"]
        rg = [x.requires_grad or y.requires_grad for x, y in zip(outs, meta["false_fn"][1])]
        return jax.tree_util.tree_unflatten(out_tree, [_out(a, g) for a, g in zip(res, rg)])

    return body


class _Reads(_Trap):
    """A ``_Trap`` that also notes whether the function read a tensor needing grad from
    outside it (a parameter, an operand)."""

    needs_grad = False

    def note_read(self, t: Tensor):
        if t.requires_grad and id(t) not in self.born:
            self.needs_grad = True
        return self._outer.note_read(t)


def while_loop(cond_fn: Callable, body_fn: Callable, carried_inputs: tuple | list):
    """``while cond_fn(*carried): carried = body_fn(*carried)``, on the device; the last ``carried``."""
    if not isinstance(carried_inputs, (tuple, list)) or not all(isinstance(x, Tensor) for x in carried_inputs):
        raise RuntimeError(
            f"carried_inputs must be a tuple or list of tensors, got {type(carried_inputs).__name__}: {carried_inputs}"
        )
    name = f"while_loop({_name(cond_fn)}, {_name(body_fn)})"
    key = (_fn_key(cond_fn), _fn_key(body_fn))

    lifted = _closure_tensors(cond_fn, body_fn)

    def run(how):
        make = lambda: _Transformed(_loop(cond_fn, body_fn, how), name)  # noqa: E731
        return _memo("while_loop", (cond_fn, body_fn), (how,), make)(*carried_inputs)

    if flags.grad_enabled and (
        key in _GRAD_LOOPS or any(x.requires_grad for x in carried_inputs) or any(x.requires_grad for x in lifted)
    ):
        return _counted(run)
    try:
        return run("while")
    except _NeedsGrad:
        # (found while tracing: the functions read a parameter; remembered, so later calls
        # go straight to the counted loop instead of tracing the plain one again)
        if len(_GRAD_LOOPS) > 256:
            _GRAD_LOOPS.clear()
        _GRAD_LOOPS.add(key)
        return _counted(run)


_GRAD_LOOPS: set = set()  # keys of loops whose functions read tensors needing grad


class _NeedsGrad(RuntimeError):
    pass


def _counted(run: Callable):
    """The loop as a differentiable op: its trip count read on the host, then that many steps."""
    m = flags.mode
    if m is not None and not m.is_lazy:
        raise _NeedsGrad(
            "torch.while_loop: gradients through a while loop inside ej.compile (or another transform) are not "
            "supported: XLA's loop has no trip count known when the step compiles, so JAX cannot run it backwards. "
            "Call it outside the compiled step (eagerly or in ej.lazy(), where eagerjax reads the count first), "
            "run it under ej.no_grad(), or write a Python loop with a fixed count."
        )
    with no_grad():
        n = run("count")
    return run(int(n.item()))


def _no_writes(trap: _Trap, what: str) -> None:
    if trap.tensors:
        raise RuntimeError(
            f"torch.while_loop: {what} wrote to a tensor from outside it (an in-place op on a carried input, a "
            "buffer update, a random draw): Higher order ops do not support input mutation"
        )


def _loop(cond_fn: Callable, body_fn: Callable, how: str | int) -> Callable:
    """The loop's body for ``_Transformed``. ``how``: ``"while"`` (``lax.while_loop``; refuses
    to be differentiated), ``"count"`` (only the number of steps it takes, as a tensor) or an
    int ``n`` (exactly ``n`` steps as ``lax.fori_loop`` with static bounds: a scan, which JAX
    differentiates)."""

    def body(*carried):
        grad_reads = []

        def test(arrays):
            with _Reads() as trap:
                r = cond_fn(*_wrap_like(arrays, carried))
            _no_writes(trap, "cond_fn")
            grad_reads.append(trap.needs_grad)
            if not isinstance(r, Tensor) or r.numel() != 1:
                raise RuntimeError(f"cond_fn must return a boolean scalar tensor or a boolean, but got {r}")
            return jnp.reshape(r._value, ()).astype(bool)

        def step(arrays):
            args = _wrap_like(arrays, carried)  # (made outside the trap: writes to them are refused)
            with _Reads() as trap:
                out = body_fn(*args)
            _no_writes(trap, "body_fn")
            grad_reads.append(trap.needs_grad)
            outs, tree = _flatten(out)
            if len(outs) != len(carried) or not all(isinstance(x, Tensor) for x in outs):
                raise RuntimeError(
                    "Expected body_fn_output and carried_inputs to have same number of outputs but got "
                    f"lhs:{[tuple(x.shape) if isinstance(x, Tensor) else x for x in outs]} and "
                    f"rhs:{[tuple(x.shape) for x in carried]}"
                )
            for i, (x, c) in enumerate(zip(outs, carried)):
                for what, a, b in (("shape", list(x.shape), list(c.shape)), ("dtype", x.dtype, c.dtype)):
                    if a != b:
                        if what == "dtype":
                            a, b = f"torch.{jnp.dtype(a).name}", f"torch.{jnp.dtype(b).name}"
                        else:
                            a, b = f"torch.Size({a})", f"torch.Size({b})"
                        raise RuntimeError(
                            "Expected body_fn_output and carried_inputs to have same metadata but found:\n"
                            f"pair[{i}] differ in '{what}: {a} vs {b}'"
                        )
            grad_reads.append(tree)
            return [x._value for x in outs]

        init = [x._read() for x in carried]
        if how == "count":
            _, n = jax.lax.while_loop(lambda s: test(s[0]), lambda s: (step(s[0]), s[1] + 1), (init, jnp.int32(0)))
            return _out(n, False)
        if type(how) is int:
            test(init)  # (traced for its checks: a loop that runs 0 times still validates cond_fn)
            res = jax.lax.fori_loop(0, how, lambda _, a: step(a), init)
            tree = grad_reads.pop()
            needs = any(grad_reads) or any(x.requires_grad for x in carried)
            return jax.tree_util.tree_unflatten(tree, [_out(a, needs) for a in res])
        res = jax.lax.while_loop(test, step, init)
        tree = grad_reads.pop()
        if flags.grad_enabled and (any(grad_reads) or any(x.requires_grad for x in carried)):
            raise _NeedsGrad(
                "torch.while_loop: gradients through a while loop are not supported here (XLA's loop has "
                "no trip count known when it compiles, so JAX cannot run it backwards)"
            )
        return jax.tree_util.tree_unflatten(tree, [_out(a, False) for a in res])

    return body
