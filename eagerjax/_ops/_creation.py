"""Creation rows: tensors made from shapes and values rather than from other tensors,
plus the ``*_like`` family, ``Tensor.new_*`` and the in-place fills (``fill_``,
``zero_``, ``copy_``)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from ._registry import op


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _check_size(size):
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(
                f"empty(): argument 'size' must be tuple of ints, but found element of type {type(s).__name__}"
            )
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return size


def _fdt(dtype):
    return _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()


# Every creation row has a NumPy ``host`` twin: in eager mode a new shape then costs no XLA
# compile (the result is copied to the device once); traced modes use the jnp function.
def _fill(value, xp):
    def make(
        *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None, memory_format=None
    ):
        return xp.full(_check_size(_size(size)), value, _fdt(dtype))

    make.__name__ = "zeros" if value == 0 else "ones"
    return make


op("zeros", _fill(0, jnp), method=False, host=_fill(0, np))
op("ones", _fill(1, jnp), method=False, host=_fill(1, np))
op("empty", _fill(0, jnp), method=False, host=_fill(0, np))


def _long():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def _value_dtype(v):
    """torch.full's dtype inference from the fill value: bool -> bool, int -> long, float -> default."""
    if isinstance(v, bool):
        return np.dtype(bool)
    if isinstance(v, int):
        return np.dtype(_long())
    if isinstance(v, float):
        return _dtypes.get_default_dtype()
    if isinstance(v, complex):
        return np.dtype(np.complex64)
    d = np.dtype(v.dtype)
    if getattr(v, "weak_type", False):  # a Python number traced as an operand
        if d.kind in "iu":
            return np.dtype(_long())
        if d.kind == "f":
            return _dtypes.get_default_dtype()
    return d


def _full_impl(xp):
    def _full(
        size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None
    ):
        size = _check_size(tuple(size) if isinstance(size, (list, tuple)) else (size,))
        dt = _dtypes.to_dtype(dtype) or _value_dtype(fill_value)
        return xp.full(size, fill_value, dt)

    return _full


op("full", _full_impl(jnp), method=False, scalars=(1, "fill_value"), host=_full_impl(np))


def _like(value, xp):
    def f(x, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None, pin_memory=False):
        return xp.full(x.shape, value, _dtypes.to_dtype(dtype) or x.dtype)

    return f


def _full_like_impl(xp):
    def _full_like(
        x,
        fill_value,
        *,
        dtype=None,
        device=None,
        requires_grad=False,
        layout=None,
        memory_format=None,
        pin_memory=False,
    ):
        return xp.full(x.shape, fill_value, _dtypes.to_dtype(dtype) or x.dtype)

    return _full_like


_ND = {"method": False, "differentiable": False}
op("zeros_like", _like(0, jnp), host=_like(0, np), **_ND)
op("ones_like", _like(1, jnp), host=_like(1, np), **_ND)
op("empty_like", _like(0, jnp), host=_like(0, np), **_ND)
op("full_like", _full_like_impl(jnp), host=_full_like_impl(np), scalars=(1, "fill_value"), **_ND)


def _num(v):
    return v.item() if hasattr(v, "item") and not isinstance(v, (int, float)) else v


def _arange(
    start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None
):
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    anyfloat = any(isinstance(v, float) for v in (start, end, step))
    dt = _dtypes.to_dtype(dtype) or (_dtypes.get_default_dtype() if anyfloat else np.dtype(_long()))
    n = max(int(math.ceil((end - start) / step)), 0)
    if anyfloat or jnp.issubdtype(dt, jnp.floating):
        # torch accumulates in double, then casts
        return (start + step * np.arange(n, dtype=np.float64)).astype(dt)
    return (start + step * np.arange(n, dtype=np.int64)).astype(dt)


op("arange", lambda *a, **k: jnp.asarray(_arange(*a, **k)), host=_arange, **_ND)


def _spaced(xp):
    def values(start, end, steps):
        """torch's linspace formula: from both ends towards the middle, in float32."""
        if steps == 1:
            return xp.full((1,), start, xp.float32)
        i = xp.arange(steps, dtype=xp.float32)
        start = xp.asarray(start, xp.float32)
        end = xp.asarray(end, xp.float32)
        step = (end - start) / xp.float32(steps - 1)
        return xp.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step)

    def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, layout=None, out=None):
        if steps < 0:
            raise RuntimeError("number of steps must be non-negative")
        dt = _fdt(dtype)
        if steps == 0:
            return xp.zeros((0,), dt)
        return values(start, end, steps).astype(dt)

    def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, layout=None, out=None):
        dt = _fdt(dtype)
        if steps == 0:
            return xp.zeros((0,), dt)
        return xp.power(xp.asarray(base, xp.float32), values(start, end, steps)).astype(dt)

    def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None):
        return xp.eye(n, n if m is None else m, dtype=_fdt(dtype))

    return linspace, logspace, eye


_J, _H = _spaced(jnp), _spaced(np)
op("linspace", _J[0], host=_H[0], scalars=(0, 1, "start", "end"), **_ND)
op("logspace", _J[1], host=_H[1], scalars=(0, 1, 3, "start", "end", "base"), **_ND)
op("eye", _J[2], host=_H[2], **_ND)


def _tri_indices(which, xp):
    def f(row, col, offset=0, *, dtype=None, device=None, layout=None):
        r, c = which(row, offset, col)
        return xp.asarray(np.stack([r, c]).astype(_dtypes.to_dtype(dtype) or np.dtype(_long())))

    return f


op("tril_indices", _tri_indices(np.tril_indices, jnp), host=_tri_indices(np.tril_indices, np), **_ND)
op("triu_indices", _tri_indices(np.triu_indices, jnp), host=_tri_indices(np.triu_indices, np), **_ND)


# --------------------------------------------------------------------------- in-place fills (see _indexing.py)
def _fill_value(x, value):
    if hasattr(value, "ndim") and value.ndim > 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
    return jnp.broadcast_to(jnp.asarray(value).astype(x.dtype), x.shape)


def _copy_from(x, src):
    try:
        shape = jnp.broadcast_shapes(x.shape, src.shape)
    except ValueError:
        shape = None
    if shape != tuple(x.shape):
        raise RuntimeError(
            f"output with shape {list(x.shape)} doesn't match the broadcast shape "
            f"{list(shape) if shape is not None else list(src.shape)}"
        )
    return jnp.broadcast_to(jnp.asarray(src).astype(x.dtype), x.shape)


# ``self`` is an operand so the in-place result depends on it (zero gradient to its old value).
op("_fill", _fill_value, method=False, function=False, scalars=(1,))
op("_copy", _copy_from, method=False, function=False)
