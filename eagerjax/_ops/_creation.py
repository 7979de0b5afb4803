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


def _fill(value):
    def make(
        *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None, memory_format=None
    ):
        return jnp.full(_check_size(_size(size)), value, _fdt(dtype))

    make.__name__ = "zeros" if value == 0 else "ones"
    return make


op("zeros", _fill(0), method=False)
op("ones", _fill(1), method=False)
op("empty", _fill(0), method=False)


def _long():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def _value_dtype(v):
    """torch.full's dtype inference from the fill value: bool -> bool, int -> long, float -> default."""
    d = jnp.asarray(v).dtype
    if d == jnp.bool_:
        return jnp.bool_
    if jnp.issubdtype(d, jnp.integer):
        return _long() if getattr(v, "weak_type", False) or isinstance(v, int) else d
    if jnp.issubdtype(d, jnp.complexfloating):
        return d
    if getattr(v, "weak_type", False) or isinstance(v, float):
        return _dtypes.get_default_dtype()
    return d


def _full(size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None):
    size = _check_size(tuple(size) if isinstance(size, (list, tuple)) else (size,))
    dt = _dtypes.to_dtype(dtype) or _value_dtype(fill_value)
    return jnp.full(size, fill_value, dt)


op("full", _full, method=False, scalars=(1, "fill_value"))


def _like(value):
    def f(x, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None, pin_memory=False):
        return jnp.full(x.shape, value, _dtypes.to_dtype(dtype) or x.dtype)

    return f


def _full_like(
    x, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None, pin_memory=False
):
    return jnp.full(x.shape, fill_value, _dtypes.to_dtype(dtype) or x.dtype)


op("zeros_like", _like(0), method=False, differentiable=False)
op("ones_like", _like(1), method=False, differentiable=False)
op("empty_like", _like(0), method=False, differentiable=False)
op("full_like", _full_like, method=False, differentiable=False, scalars=(1, "fill_value"))


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
        return jnp.asarray((start + step * np.arange(n, dtype=np.float64)).astype(dt))
    return jnp.asarray((start + step * np.arange(n, dtype=np.int64)).astype(dt))


op("arange", _arange, method=False, differentiable=False)


def _linspace_values(start, end, steps, dt):
    if steps == 1:
        return jnp.full((1,), start, dt)
    i = jnp.arange(steps, dtype=jnp.float32)
    start = jnp.asarray(start, jnp.float32)
    end = jnp.asarray(end, jnp.float32)
    step = (end - start) / (steps - 1)
    half = steps // 2
    v = jnp.where(i < half, start + i * step, end - (steps - 1 - i) * step)
    return v


def _linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, layout=None, out=None):
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _fdt(dtype)
    if steps == 0:
        return jnp.zeros((0,), dt)
    return _linspace_values(start, end, steps, dt).astype(dt)


def _logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, layout=None, out=None):
    dt = _fdt(dtype)
    if steps == 0:
        return jnp.zeros((0,), dt)
    return jnp.power(jnp.asarray(base, jnp.float32), _linspace_values(start, end, steps, dt)).astype(dt)


op("linspace", _linspace, method=False, differentiable=False, scalars=(0, 1, "start", "end"))
op("logspace", _logspace, method=False, differentiable=False, scalars=(0, 1, 3, "start", "end", "base"))


def _eye(n, m=None, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None):
    return jnp.eye(n, n if m is None else m, dtype=_fdt(dtype))


op("eye", _eye, method=False, differentiable=False)


def _tri_indices(which):
    def f(row, col, offset=0, *, dtype=None, device=None, layout=None):
        r, c = which(row, offset, col)
        return jnp.asarray(np.stack([r, c]).astype(_dtypes.to_dtype(dtype) or np.dtype(_long())))

    return f


op("tril_indices", _tri_indices(np.tril_indices), method=False, differentiable=False)
op("triu_indices", _tri_indices(np.triu_indices), method=False, differentiable=False)


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
