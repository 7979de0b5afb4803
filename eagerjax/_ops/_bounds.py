"""Eager range checks of index *values*, raised in torch's words.

XLA cannot raise from inside a program: an out-of-range gather clamps or fills and a
scatter drops its update, silently. torch's CPU kernels check every index. So in eager
mode the rows that take index tensors (``Tensor[...]``, gather/scatter, ``index_*``,
``take``, class targets of ``cross_entropy``/``nll_loss``, ``embedding``) read the
index range on the host first: one small min/max program and a two-number transfer,
which waits for the index's value (for a batch of labels that is already there).

Inside ``ej.compile`` and lazy graphs nothing is checked: the values do not exist
when the op is recorded, and checking the program's result would cost a host sync per
step (JAX and PyTorch/XLA do not check either). README's "What differs" says so.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._dispatch import dispatch
from .._state import flags
from ._registry import op


def _index_range(index, ignore=None):
    """[min, max] of ``index`` (positions equal to ``ignore`` count as 0, always in range)."""
    if ignore is not None:
        index = jnp.where(index == ignore, 0, index)
    return jnp.stack([jnp.min(index), jnp.max(index)])


_RANGE = op("_index_range", _index_range, function=False, method=False, differentiable=False, scalars=(1,))


def out_of_range(index, n: int, *, wrap: bool, ignore: int | None = None) -> int | None:
    """The first value of ``index`` outside ``[-n, n)`` (``wrap``: negatives count from the
    end) or ``[0, n)``, skipping ``ignore``; None if all are in range, or when not eager."""
    if flags.mode is not None:
        return None
    shape = getattr(index, "shape", None)
    dtype = getattr(index, "dtype", None)
    if shape is None or dtype is None or np.dtype(dtype).kind not in "iu" or 0 in tuple(shape):
        return None
    lo, hi = (int(v) for v in np.asarray(dispatch(_RANGE, (index, ignore), {})._value))
    low = -n if wrap else 0
    if lo >= low and hi < n:
        return None
    a = np.asarray(getattr(index, "_value", index)).ravel()  # the error path only
    if ignore is not None:
        a = a[a != ignore]
    return int(a[np.flatnonzero((a < low) | (a >= n))[0]])


def check(index, n: int, dim: int, *, wrap: bool, error: type = IndexError, prefix: str = "") -> None:
    """torch's ``index V is out of bounds for dimension D with size N`` (eager only)."""
    v = out_of_range(index, n, wrap=wrap)
    if v is not None:
        raise error(f"{prefix}index {v} is out of bounds for dimension {dim} with size {n}")


def kind(v) -> str:
    """numpy's kind letter of a Tensor's / array's dtype, or of a Python number's type ("" if neither)."""
    t = type(v)
    if t is bool:
        return "b"
    if t is int:
        return "i"
    if t is float:
        return "f"
    if t is complex:
        return "c"
    dt = getattr(getattr(v, "_value", v), "dtype", None)
    return "" if dt is None else np.dtype(dt).kind if not hasattr(dt, "kind") else dt.kind


_ANY_ZERO = op("_any_zero", lambda d: jnp.any(d == 0), function=False, method=False, differentiable=False)


def integer_division_check(*, rounding: bool):
    """A row's ``check=``: torch's ``ZeroDivisionError`` for an integer division by zero (``//``,
    ``%``, ``fmod``; with ``rounding``, ``div`` only when a ``rounding_mode`` is given). A Python 0
    divisor needs no host read; a tensor divisor costs one small program and a one-bool transfer.
    Eager only: compiled and lazy programs return XLA's value (-1 for ``//`` of signed ints)."""

    def check(*args, **kwargs):
        if flags.mode is not None:
            return
        if rounding and (args[2] if len(args) > 2 else kwargs.get("rounding_mode")) is None:
            return
        x = args[0] if args else kwargs.get("input")
        y = args[1] if len(args) > 1 else kwargs.get("other")
        kx, ky = kind(x), kind(y)
        if not kx or not ky or kx not in "iub" or ky not in "iub":
            return
        try:
            n = int(np.prod(np.broadcast_shapes(tuple(getattr(x, "shape", ())), tuple(getattr(y, "shape", ())))))
        except ValueError:
            return  # (the kernel says the shapes do not broadcast)
        if n == 0:
            return
        if hasattr(y, "shape"):
            zero = bool(np.asarray(dispatch(_ANY_ZERO, (y,), {})._value))
        else:
            zero = y == 0
        if zero:
            raise RuntimeError("ZeroDivisionError")

    return check
