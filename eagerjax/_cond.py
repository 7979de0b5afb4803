"""``torch.cond``: data-dependent control flow that compiles (``jax.lax.cond``).

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
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._func import _flatten, _memo, _name, _out, _Transformed, _Trap, _wrap_like
from ._tensor import Tensor

__all__ = ["cond"]


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
    return _memo("cond", (_fn_key(true_fn), _fn_key(false_fn)), (), make)(pred, *operands)


_VALUES = (int, float, complex, bool, str, bytes, type(None))


def _fn_key(f):
    """What makes a branch the same function as before: its code and what its closure holds.

    Branches are often lambdas made anew on every call (``lambda h: self.head(h)`` in a
    ``forward``); keyed by identity, each call would compile afresh. Two functions with the
    same code, defaults and closure contents (numbers by value, anything else by identity: the
    memo keeps the first function, hence those objects, alive) compute the same thing, so
    the first one's compiled function is reused."""
    if hasattr(f, "__func__") and hasattr(f, "__self__"):  # a bound method
        return ("method", id(f.__self__), _fn_key(f.__func__))
    code = getattr(f, "__code__", None)
    if code is None:
        return ("object", id(f))

    def value(v):
        return (type(v), v) if type(v) in _VALUES else ("id", id(v))

    cells = tuple(value(c.cell_contents) for c in f.__closure__ or ())
    defaults = tuple(value(v) for v in f.__defaults__ or ())
    return ("function", code, cells, defaults, id(f.__globals__))


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
