"""Indexing rows: gather/scatter, index_* and masked_* ops, searching, and ``Tensor[...]``.

Ops whose *output shape* depends on values (``nonzero``, ``bincount``) are
``eager_only`` rows. Where such an op must stay differentiable (boolean-mask
indexing, ``masked_select``, ``repeat_interleave`` with tensor repeats) the
public function first turns the values into static information eagerly (mask ->
integer indices, repeats -> output size) and then runs a shape-static row, so
the gather is an ordinary jitted kernel with an ordinary ``jax.vjp``.

This module also attaches the few public callables that are not a single row:
``Tensor.__getitem__``/``__setitem__``, ``where`` (its one-argument form is
``nonzero(as_tuple=True)``), ``masked_select``, ``repeat_interleave``,
``allclose``/``equal``, ``Tensor.fill_``/``zero_``/``copy_`` and ``Tensor.new_*``.
"""

from __future__ import annotations

import operator
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._dispatch import dispatch, every_mode
from .._generate import _torch_name, check_inplace, functional, inplace_update
from .._tensor import Tensor
from . import _bounds
from ._reduction import _long, _wrap
from ._registry import OPS, op


# --------------------------------------------------------------------------- eager index-range checks (see _bounds)
def _dim_index_args(args: tuple, kw: dict) -> tuple:
    """``(input, dim, index)`` of a ``(input, dim, index, ...)`` row, however they were passed."""
    padded = list(args[:3]) + [None] * (3 - min(len(args), 3))
    for k, name in enumerate(("x", "dim", "index")):
        if k >= len(args):
            padded[k] = kw.get(name, kw.get("input")) if k == 0 else kw.get(name)
    return tuple(padded)


def _along_dim(error: type, *, wrap: bool = False, prefix: str = "", message: str | None = None):
    """The check of a row indexing ``input`` along ``dim`` with ``index``: torch's words for it."""

    def check(*args, **kw):
        x, dim, index = _dim_index_args(args, kw)
        shape = tuple(getattr(x, "shape", ()))
        if type(dim) is not int or not -max(len(shape), 1) <= dim < max(len(shape), 1):
            return  # the kernel reports a bad dim
        d = dim % len(shape) if shape else 0
        n = shape[d] if shape else 1
        v = _bounds.out_of_range(index, n, wrap=wrap)
        if v is not None:
            raise error(message or f"{prefix}index {v} is out of bounds for dimension {d} with size {n}")

    return check


# --------------------------------------------------------------------------- writes with repeated indices
# ``x.at[idx].set(v)`` with an index repeated: jax's derivative gives the output's gradient to the
# one element of ``v`` that was written (the winner); torch gives it to every element of ``v`` at
# that position (``grad[idx]``, a gather). ``_set_at`` keeps the written value and routes ``v``'s
# gradient through a scatter-*add* that adds exactly zero to it (whose jax derivative is that
# gather). Elements that are not finite keep the ``set``'s own derivative (``inf - inf`` would not
# be zero), so only a non-finite element that lost a repeated write gets no gradient.
def _may_repeat(idx) -> bool:
    """Whether the index arrays in ``idx`` (a tuple, slices and ``None`` allowed) can name one
    position twice: they address more than one position (a static shape test)."""
    shapes = [jnp.shape(a) for a in idx if hasattr(a, "dtype")]
    return bool(shapes) and int(np.prod(jnp.broadcast_shapes(*shapes))) > 1


def _is_number(a) -> bool:
    """``a`` is a Python number (as traced: weakly typed), so nothing differentiates it."""
    return isinstance(a, (int, float, complex)) or bool(getattr(a, "weak_type", False))


def _set_at(base, idx, v, *, repeats: bool | None = None, const: bool = False):
    """``base.at[idx].set(v)`` (``v`` already of ``base``'s dtype) whose gradient for ``v`` is torch's
    when ``idx`` repeats a position; the value is unchanged bit for bit. ``const``: ``v`` came from
    a Python number (no gradient to route)."""
    if repeats is None:
        repeats = _may_repeat(idx if isinstance(idx, tuple) else (idx,))
    v = jnp.asarray(v)
    if const or not repeats or not jnp.issubdtype(base.dtype, jnp.inexact):
        return base.at[idx].set(v)
    sv = jax.lax.stop_gradient(v)
    finite = jnp.isfinite(sv)
    out = base.at[idx].set(jnp.where(finite, sv, v))
    # (sv - v) is +0 where finite, so this adds -0.0 at the written positions: the identity for
    # every value, +0.0 and -0.0 included (and a scatter over the index only, not all of base)
    zero = jnp.where(finite, sv - v, jnp.zeros((), v.dtype))
    return out.at[idx].add(-zero)


def _same_bits(a, b):
    """Elementwise: ``a`` and ``b`` hold the same bit pattern (``-0.0`` differs from ``0.0``)."""
    u = jnp.dtype(f"uint{jnp.dtype(a.dtype).itemsize * 8}")
    return jax.lax.bitcast_convert_type(a, u) == jax.lax.bitcast_convert_type(b, u)


# --------------------------------------------------------------------------- gather / scatter


def _grid(index, d):
    """Full advanced-index tuple addressing ``index``'s positions along ``d`` (torch's gather/scatter addressing)."""
    out = []
    for k in range(index.ndim):
        if k == d:
            out.append(index)
        else:
            shape = [1] * index.ndim
            shape[k] = index.shape[k]
            out.append(jnp.arange(index.shape[k]).reshape(shape))
    return tuple(out)


def _check_index_shape(x, d, index, name, other=None):
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(
            f"Index tensor must have the same number of dimensions as {'input' if other is None else other} tensor"
        )
    for k in range(index.ndim):
        if k != d and index.shape[k] > x.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to be no larger than self "
                f"{list(x.shape)} apart from dimension {d}"
            )
    if not jnp.issubdtype(index.dtype, jnp.integer):
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")


def _gather(x, dim, index, *, sparse_grad=False):
    if x.ndim == 0:
        return x.reshape(index.shape)
    d = _wrap(dim, x.ndim)
    _check_index_shape(x, d, index, "gather")
    xs = x[tuple(slice(None) if k == d else slice(0, index.shape[k]) for k in range(x.ndim))]
    return jnp.take_along_axis(xs, index, axis=d)


op("gather", _gather, check=_along_dim(RuntimeError))


def _src_values(src, index, dtype):
    s = jnp.asarray(src)
    if s.ndim:
        s = s[tuple(slice(0, n) for n in index.shape)]
    return jnp.broadcast_to(s.astype(dtype), index.shape)


def _scatter(x, dim, index, src=None, value=None, *, reduce=None):
    s = src if src is not None else value
    if x.ndim == 0:
        x1 = x.reshape(1)
        return _scatter(
            x1, 0, index.reshape(-1), None if s is None else jnp.reshape(s, (-1,))[:1], reduce=reduce
        ).reshape(())
    d = _wrap(dim, x.ndim)
    _check_index_shape(x, d, index, "scatter")
    g = _grid(index, d)
    v = _src_values(s, index, x.dtype)
    if reduce is None:
        return _set_at(x, g, v, repeats=index.shape[d] > 1, const=_is_number(s))
    if reduce == "add":
        return x.at[g].add(v)
    if reduce == "multiply":
        return _scatter_prod(x, g, v)
    raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")


def _scatter_prod(base, g, v):
    """``base.at[g].multiply(v)`` with duplicate indices, differentiable (jax's scatter-mul gradient
    needs unique indices): a segmented product over the sorted destinations, then one factor per
    destination."""
    n = base.size
    flat = jnp.zeros(jnp.broadcast_shapes(*(i.shape for i in g)), jnp.int32)
    for i, size in zip(g, base.shape):
        flat = flat * size + jnp.where(i < 0, i + size, i)
    flat, v = flat.reshape(-1), v.reshape(-1)
    if flat.size == 0:
        return base
    order = jnp.argsort(flat, stable=True)
    d, w = flat[order], v[order]
    start = jnp.concatenate([jnp.ones((1,), bool), d[1:] != d[:-1]])
    last = jnp.concatenate([d[1:] != d[:-1], jnp.ones((1,), bool)])

    def combine(a, b):
        return a[0] | b[0], jnp.where(b[0], b[1], a[1] * b[1])

    _, cum = jax.lax.associative_scan(combine, (start, w))
    factor = jnp.ones((n + 1,), base.dtype).at[jnp.where(last, d, n)].add(jnp.where(last, cum - 1, 0))
    return base * factor[:n].reshape(base.shape)


def _scatter_add(x, dim, index, src):
    return _scatter(x, dim, index, src, reduce="add")


_REDUCE_INIT = {"sum": 0, "prod": 1, "mean": 0}


def _scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    d = _wrap(dim, x.ndim) if x.ndim else 0
    if x.ndim == 0:
        return _scatter_reduce(
            x.reshape(1), 0, index.reshape(-1), src.reshape(-1), reduce, include_self=include_self
        ).reshape(())
    _check_index_shape(x, d, index, "scatter_reduce")
    g = _grid(index, d)
    v = _src_values(src, index, x.dtype)
    base = x
    if not include_self:
        if reduce in _REDUCE_INIT:
            init = _REDUCE_INIT[reduce]
        elif reduce == "amax":
            init = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
        elif reduce == "amin":
            init = jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).max
        else:
            init = 0
        base = x.at[g].set(jnp.asarray(init, x.dtype))
    if reduce == "sum":
        return base.at[g].add(v)
    if reduce == "prod":
        return _scatter_prod(base, g, v)
    if reduce in ("amax", "amin"):
        out = base.at[g].max(v) if reduce == "amax" else base.at[g].min(v)
        if include_self or not jnp.issubdtype(x.dtype, jnp.floating):
            return out
        return _extremal_ties(x, g, v, out, reduce)
    if reduce == "mean":
        total = base.at[g].add(v)
        cnt = jnp.zeros(x.shape, jnp.int32).at[g].add(1)
        div = cnt + (1 if include_self else 0)
        safe = jnp.maximum(div, 1).astype(x.dtype)
        mean = total // safe if jnp.issubdtype(x.dtype, jnp.integer) else total / safe
        return jnp.where(cnt > 0, mean, x)
    raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")


def _extremal_ties(x, g, v, out, reduce):
    """``out`` (amax/amin of ``v`` into ``x`` at ``g``, without ``x``'s values) with torch's
    gradient: the elements of ``v`` that tie for a position split its gradient with ``x``'s
    element there when that equals the result too, though ``x`` itself gets none (jax's
    derivative would split it among ``v``'s elements only). So the reduction is redone with
    ``x``'s element, gradient stopped, kept where it equals the result; the value stays ``out``."""
    sg = jax.lax.stop_gradient
    r = sg(out)
    hit = jnp.zeros(x.shape, bool).at[g].set(True)
    init = -jnp.inf if reduce == "amax" else jnp.inf
    base = jnp.where(hit, jnp.where(_same_bits(sg(x), r), sg(x), jnp.asarray(init, x.dtype)), x)
    redo = base.at[g].max(v) if reduce == "amax" else base.at[g].min(v)
    return jnp.where(_same_bits(sg(redo), r), redo, r)


op("scatter", _scatter, inplace=True, scalars=(3, "value", "src"), check=_along_dim(RuntimeError))
op("scatter_add", _scatter_add, inplace=True, check=_along_dim(RuntimeError))
op("scatter_reduce", _scatter_reduce, inplace=True, check=_along_dim(RuntimeError))


def _dim_index(x, d, index):
    return (slice(None),) * d + (index.reshape(-1),)


def _index_check(x, d, index, name):
    if index.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    if not jnp.issubdtype(index.dtype, jnp.integer):
        raise IndexError(f"{name}(): Expected dtype int32/int64 for index but got: {index.dtype}")


def _index_select(x, dim, index):
    if x.ndim == 0:
        return x.reshape(index.shape) if index.ndim == 0 else x.reshape(1)[index.reshape(-1) * 0]
    d = _wrap(dim, x.ndim)
    _index_check(x, d, index, "index_select")
    return jnp.take(x, index.reshape(-1), axis=d)


def _index_add(x, dim, index, source, *, alpha=1):
    d = _wrap(dim, x.ndim) if x.ndim else 0
    if x.ndim == 0:
        return x + (alpha * source).reshape(()).astype(x.dtype)
    _index_check(x, d, index, "index_add")
    return x.at[_dim_index(x, d, index)].add((alpha * source).astype(x.dtype))


def _index_copy(x, dim, index, source):
    if x.ndim == 0:
        return source.reshape(()).astype(x.dtype)
    d = _wrap(dim, x.ndim)
    _index_check(x, d, index, "index_copy")
    return _set_at(x, _dim_index(x, d, index), source.astype(x.dtype), repeats=index.size > 1)


def _index_fill(x, dim, index, value):
    if hasattr(value, "ndim") and value.ndim > 0:
        raise RuntimeError(
            f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
        )
    if x.ndim == 0:
        return jnp.asarray(value).astype(x.dtype)
    d = _wrap(dim, x.ndim)
    _index_check(x, d, index, "index_fill")
    return x.at[_dim_index(x, d, index)].set(jnp.asarray(value).astype(x.dtype))


op("index_select", _index_select, check=_along_dim(IndexError, message="index out of range in self"))
op("index_add", _index_add, inplace=True, scalars=("alpha",), check=_along_dim(RuntimeError))
op("index_copy", _index_copy, inplace=True, check=_along_dim(IndexError, prefix="index_copy_(): "))
op("index_fill", _index_fill, inplace=True, scalars=(3, "value"), check=_along_dim(IndexError, wrap=True))


def _index_put(x, indices, values, accumulate=False):
    idx = tuple(indices)
    v = jnp.asarray(values).astype(x.dtype)
    return x.at[idx].add(v) if accumulate else _set_at(x, idx, v, const=_is_number(values))


def _index_put_check(x, indices, *rest, **kw):
    for k, index in enumerate(indices):
        if k < x.ndim:
            _bounds.check(index, x.shape[k], k, wrap=True)


op("index_put", _index_put, inplace=True, check=_index_put_check)


def _masked_fill(x, mask, value):
    if mask.dtype != jnp.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    if hasattr(value, "ndim") and value.ndim > 0:
        raise RuntimeError(
            f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
        )
    return jnp.where(mask, jnp.asarray(value).astype(x.dtype), x)


def _masked_scatter(x, mask, source):
    if mask.dtype != jnp.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    shape = jnp.broadcast_shapes(x.shape, mask.shape)
    m = jnp.broadcast_to(mask, shape).reshape(-1)
    xb = jnp.broadcast_to(x, shape).reshape(-1)
    src = source.reshape(-1).astype(x.dtype)
    if src.size == 0:
        return xb.reshape(shape)
    pos = jnp.clip(jnp.cumsum(m) - 1, 0, src.size - 1)
    return jnp.where(m, src[pos], xb).reshape(shape)


def _masked_fill_check(x, mask, value) -> None:
    # torch range-checks a Python fill value against the tensor's dtype (half types always)
    if isinstance(value, (bool, int, float, complex)) and hasattr(x, "dtype"):
        _dtypes.check_fits(value, x.dtype)


op("masked_fill", _masked_fill, inplace=True, scalars=(2, "value"), check=every_mode(_masked_fill_check))
op("masked_scatter", _masked_scatter, inplace=True)


def _take(x, index):
    return x.reshape(-1)[index]


def _take_along_dim(x, indices, dim=None):
    if dim is None:
        return jnp.take_along_axis(x.reshape(-1), indices.reshape(-1), axis=0)
    d = _wrap(dim, x.ndim)
    xs, ix = list(x.shape), list(indices.shape)
    xs[d] = ix[d] = 1
    b = list(jnp.broadcast_shapes(tuple(xs), tuple(ix)))
    bx, bi = list(b), list(b)
    bx[d], bi[d] = x.shape[d], indices.shape[d]
    return jnp.take_along_axis(jnp.broadcast_to(x, tuple(bx)), jnp.broadcast_to(indices, tuple(bi)), axis=d)


def _take_check(x, index):
    n = int(np.prod(x.shape))
    v = _bounds.out_of_range(index, n, wrap=True)
    if v is not None:
        raise IndexError(f"out of range: tried to access index {v} on a tensor of {n} elements.")


op("take", _take, check=_take_check)
op("take_along_dim", _take_along_dim)


# --------------------------------------------------------------------------- searching and counting
def _searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    # (torch's operand names, so ``searchsorted(s, input=v)`` binds as in torch)
    seq, values = sorted_sequence, input
    side = side or ("right" if right else "left")
    if sorter is not None:
        seq = jnp.take_along_axis(seq, sorter, axis=-1)
    if seq.ndim <= 1:
        r = jnp.searchsorted(seq, values, side=side)
    else:
        r = jnp.vectorize(lambda s, q: jnp.searchsorted(s, q, side=side), signature="(n),(m)->(m)")(seq, values)
    return r.astype(jnp.int32 if out_int32 else _long())


def _bucketize(x, boundaries, *, out_int32=False, right=False):
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return _searchsorted(boundaries, x, out_int32=out_int32, right=right)


op("searchsorted", _searchsorted, method=False, differentiable=False, scalars=(1, "input", "values"))
op("bucketize", _bucketize, method=False, differentiable=False, scalars=(0, "input"))


def _histc(x, bins=100, min=0, max=0):
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise RuntimeError(f"\"histogram_cpu\" not implemented for '{x.dtype}'")
    lo = jnp.asarray(min, x.dtype)
    hi = jnp.asarray(max, x.dtype)
    same = lo == hi
    if x.size:
        lo = jnp.where(same, jnp.min(x), lo)
        hi = jnp.where(same, jnp.max(x), hi)
    same = lo == hi
    lo, hi = jnp.where(same, lo - 1, lo), jnp.where(same, hi + 1, hi)
    idx = jnp.floor((x - lo) * bins / (hi - lo)).astype(jnp.int32)
    idx = jnp.where(x == hi, bins - 1, idx)
    ok = (x >= lo) & (x <= hi)
    return jnp.zeros((bins,), x.dtype).at[jnp.where(ok, idx, 0).reshape(-1)].add(ok.reshape(-1).astype(x.dtype))


op("histc", _histc, differentiable=False, scalars=(2, 3, "min", "max"))


def _bincount(x, weights=None, minlength=0):
    if x.ndim != 1 or not jnp.issubdtype(x.dtype, jnp.integer) or (x.size and int(jnp.min(x)) < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    n = max(minlength, int(jnp.max(x)) + 1 if x.size else 0)
    if weights is None:
        return jnp.bincount(x, length=n).astype(_long())
    w = weights if jnp.issubdtype(weights.dtype, jnp.floating) else weights.astype(jnp.float32)
    return jnp.zeros((n,), w.dtype).at[x].add(w)


op("bincount", _bincount, eager_only=True, differentiable=False)


def _nonzero(x, *, as_tuple=False):
    if as_tuple:
        if x.ndim == 0:
            return (jnp.zeros((int(x != 0),), _long()),)
        return tuple(i.astype(_long()) for i in jnp.nonzero(x))
    return jnp.argwhere(x).astype(_long())


op("nonzero", _nonzero, eager_only=True, differentiable=False)
op("argwhere", lambda x: jnp.argwhere(x).astype(_long()), eager_only=True, differentiable=False)


# --------------------------------------------------------------------------- Tensor[...]
# An index expression becomes a static spec plus dynamic values. Python ints and the starts of
# unit-step slices are *traced* values (``x[i]``, ``x[i:i + bs]`` in a loop reuse one kernel); the
# length of a slice and everything else is static. Following torch, ints and slices are applied
# first (select / narrow), then the tensor indices with NumPy's advanced-indexing rules.
_T = "<tensor>"  # spec placeholder: an index array
_INT = "<int>"  # ("<int>", dim): a traced int index into input dim ``dim``
_DS = "<slice>"  # ("<slice>", dim, length): a traced start, static length, step 1


def _split(spec, arrays):
    it = iter(arrays)
    rest, ints, ds = [], [], []
    for s in spec:
        if s == _T:
            rest.append(next(it))
        elif type(s) is tuple and s and s[0] == _INT:
            ints.append((s[1], next(it)))
        elif type(s) is tuple and s and s[0] == _DS:
            ds.append((s[1], s[2], next(it)))
            rest.append(slice(None))
        else:
            rest.append(s)
    if all(r is Ellipsis or (type(r) is slice and r == slice(None)) for r in rest):
        rest = None
    return rest, ints, ds


def _window(x, ints, ds):
    """(starts, sizes, squeezed dims) of the block that ints and traced slices select."""
    starts = [0] * x.ndim
    sizes = list(x.shape)
    for d, length, st in ds:
        starts[d], sizes[d] = st, length
    for d, i in ints:
        starts[d], sizes[d] = i, 1
    return starts, sizes, tuple(sorted(d for d, _ in ints))


def _getitem(x, spec, *arrays):
    rest, ints, ds = _split(spec, arrays)
    if ints or ds:
        starts, sizes, sq = _window(x, ints, ds)
        x = jax.lax.squeeze(jax.lax.dynamic_slice(x, starts, sizes), sq)
    return x if rest is None else x[tuple(rest)]


def _setitem(x, value, spec, *arrays):
    rest, ints, ds = _split(spec, arrays)
    sub = x
    if ints or ds:
        starts, sizes, sq = _window(x, ints, ds)
        sub = jax.lax.squeeze(jax.lax.dynamic_slice(x, starts, sizes), sq)
    idx = tuple(rest) if rest is not None else ...
    v = jnp.asarray(value).astype(x.dtype)
    target = sub[idx].shape
    while v.ndim > len(target) and v.shape[0] == 1:
        v = v[0]
    try:
        jnp.broadcast_shapes(v.shape, target)
    except ValueError:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(v.shape)} cannot be broadcast to indexing result of "
            f"shape {list(target)}"
        ) from None
    sub = _set_at(sub, idx, v, const=_is_number(value)) if rest is not None else jnp.broadcast_to(v, sub.shape)
    if ints or ds:
        return jax.lax.dynamic_update_slice(x, jnp.expand_dims(sub, sq), starts)
    return sub


def _mask_set(x, mask, value):
    """``x[mask] = value`` for a leading-dims mask and a value that broadcasts to one selected
    element (or row): a ``where``, so the shape does not depend on the mask's values."""
    m = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    v = jnp.asarray(value).astype(x.dtype)
    while v.ndim > x.ndim - mask.ndim and v.shape[0] == 1:
        v = v[0]
    return jnp.where(m, v, x)


op("_mask_set", _mask_set, function=False, method=False, scalars=(2,))


def _mask_set_among(x, mask, value, enc: tuple):
    """``x[..., mask, ...] = scalar`` for one boolean mask among basic indices (``y[:, cols] =
    -1``, ``y[m, 2:4] = 1.5``): a ``where`` over the elements the index selects, so the shape
    does not depend on the mask's values. ``enc`` (from ``_mask_among``) is the index with
    ``...`` expanded: ``("m",)`` for the mask, ``("i", k)``, ``("s", start, stop, step)``, ``("n",)``."""
    idx, pos, seen = [], 0, False
    for e in enc:
        if e[0] == "m":
            idx += [slice(None)] * mask.ndim
            seen = True
        elif e[0] == "i":
            idx.append(e[1])
        else:
            idx.append(slice(*e[1:]) if e[0] == "s" else None)
            pos += not seen  # (a slice or new axis before the mask is a dim of the region)
    idx = tuple(idx)
    region = jnp.zeros(x.shape, bool)[idx]
    m = mask.reshape((1,) * pos + mask.shape + (1,) * (region.ndim - pos - mask.ndim))
    sel = jnp.zeros(x.shape, bool).at[idx].set(jnp.broadcast_to(m, region.shape))
    return jnp.where(sel, jnp.asarray(value).astype(x.dtype).reshape(()), x)


op("_mask_set_among", _mask_set_among, function=False, method=False, scalars=(2,))

_MAXIDX = 64  # index values can sit at any of these positions; Python ints there are traced
op("_getitem", _getitem, function=False, method=False, scalars=tuple(range(2, 2 + _MAXIDX)))
op("_setitem", _setitem, function=False, method=False, scalars=(1,) + tuple(range(3, 3 + _MAXIDX)))

_NONZERO = OPS["nonzero"]


def _mask_indices(mask: Tensor, what: str) -> tuple:
    """A boolean mask -> the integer index tensors of its True positions.

    The number of True values is data, so the mask is read on the host (``Tensor._concrete``:
    inside ``ej.compile`` that is a clear error naming ``what`` and the user's line, in lazy mode a
    flush); the gather that follows is an ordinary shape-static, differentiable kernel.
    """
    what = f"{what} with a boolean mask"
    v = mask._concrete(what)
    if isinstance(v, jax.core.Tracer):
        raise RuntimeError(
            f"{what}: the result's shape depends on the mask's values, so it cannot be traced into one "
            "XLA program. Use torch.where(mask, x, other) or multiply by the mask instead."
        )
    return tuple(Tensor._make(jnp.asarray(i.astype(np.int32))) for i in np.nonzero(np.asarray(v)))


_SEQ_WARNING = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in pytorch 2.9; "
    "use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as tensor index, "
    "x[torch.tensor(seq)], which will result either in an error or a different result"
)


def _is_sequence(o) -> bool:
    """Python's sequence protocol as torch's indexing tests it (``str`` counts; dicts, numbers,
    NumPy scalars do not)."""
    return not isinstance(o, (dict, np.generic)) and hasattr(type(o), "__getitem__")


def _as_tuple(idx, stacklevel: int = 3):
    """torch's legacy (NumPy's) rule for a non-tuple sequence index: a list (or other sequence) of
    fewer than 32 items holding a tensor, a sequence, a slice, ``...`` or ``None`` is a tuple of
    indices (``x[[rows, cols]]`` is ``x[rows, cols]``), with torch's deprecation warning; any other
    sequence (``x[[0, 2]]``) stays one index."""
    if type(idx) is tuple or isinstance(idx, (Tensor, np.ndarray, jax.Array)) or not _is_sequence(idx):
        return idx
    try:
        n = len(idx)
    except Exception:
        return idx
    if n >= 32:
        return idx
    for i in range(n):
        try:
            it = idx[i]
        except Exception:
            return idx
        if it is None or it is Ellipsis or isinstance(it, (Tensor, slice)) or _is_sequence(it):
            warnings.warn(_SEQ_WARNING, UserWarning, stacklevel=stacklevel)
            return tuple(idx[j] for j in range(n))
    return idx


def _parse_index(shape: tuple, idx, what: str = "Tensor.__getitem__"):
    """Split a torch index expression into a hashable spec and the index tensors it uses."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    known = {}  # id of a mask built from Python data -> its values (no host read needed)
    for it in idx:
        if isinstance(it, (list, tuple, range, np.ndarray)) and not isinstance(it, Tensor):
            a = np.asarray(it)
            if a.dtype == object:
                from .._factories import tensor

                it = tensor(it)
            else:
                it = Tensor._make(jnp.asarray(a if a.dtype == np.bool_ else a.astype(np.int32)))
                if a.dtype == np.bool_:
                    known[id(it)] = a
        elif isinstance(it, Tensor) and it.dtype == np.uint8:
            warnings.warn(
                "indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool instead.",
                UserWarning,
                stacklevel=3,
            )
            it = it.bool()
        items.append(it)
    # how many input dims each item consumes
    used = 0
    for it in items:
        if it is None or it is Ellipsis or isinstance(it, bool):
            continue
        if isinstance(it, Tensor) and it.dtype == np.bool_:
            used += max(it.ndim, 0)
        else:
            used += 1
    ndim = len(shape)
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    spec, arrays = [], []
    pos = 0
    for it in items:
        if it is Ellipsis:
            spec.append(Ellipsis)
            pos += ndim - used
        elif it is None:
            spec.append(None)
        elif isinstance(it, bool):
            spec.append(it)
        elif isinstance(it, Tensor):
            if it.dtype == np.bool_:
                if it.ndim == 0:
                    spec.append(bool(known[id(it)]) if id(it) in known else bool(it.item()))
                    continue
                for k in range(it.ndim):
                    if it.shape[k] != shape[pos + k]:
                        raise IndexError(
                            f"The shape of the mask {list(it.shape)} at index {k} does not match the shape of the "
                            f"indexed tensor {list(shape)} at index {pos + k}"
                        )
                if id(it) in known:
                    found = tuple(Tensor._make(jnp.asarray(i.astype(np.int32))) for i in np.nonzero(known[id(it)]))
                else:
                    found = _mask_indices(it, what)
                for t in found:
                    spec.append(_T)
                    arrays.append(t)
                pos += it.ndim
            elif it.dtype.kind in "iu":
                _bounds.check(it, shape[pos], pos, wrap=True)
                spec.append(_T)
                arrays.append(it)
                pos += 1
            else:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        elif isinstance(it, slice):
            start, stop, step = (None if v is None else operator.index(v) for v in (it.start, it.stop, it.step))
            if step is not None and step <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = slice(start, stop, step).indices(shape[pos])
            if step == 1 and start != 0:
                spec.append((_DS, pos, max(stop - start, 0)))
                arrays.append(start)
            else:
                spec.append(slice(start, stop, step))
            pos += 1
        else:
            try:
                i = operator.index(it)
            except TypeError:
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                    f"indices (got {type(it).__name__})"
                ) from None
            n = shape[pos]
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {pos} with size {n}")
            spec.append((_INT, pos))
            arrays.append(i % n)
            pos += 1
    return tuple(spec), arrays


_GET, _SET = OPS["_getitem"], OPS["_setitem"]
_INT0 = ((_INT, 0),)


def _tensor_getitem(self: Tensor, idx):
    if type(idx) is int:  # fast path: x[i]
        n = self.shape[0] if self.ndim else None
        if n is None:
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` "
                "in C++ to convert a 0-dim tensor to a number"
            )
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of bounds for dimension 0 with size {n}")
        return dispatch(_GET, (self, _INT0, idx % n), {})
    spec, arrays = _parse_index(tuple(self.shape), _as_tuple(idx))
    return dispatch(_GET, (self, spec, *arrays), {})


def _broadcasts_per_element(value, mask: Tensor, shape: tuple) -> bool:
    """Whether ``value`` fits every selected element (row) of ``x[mask]`` alike, so that
    ``x[mask] = value`` needs no count of the mask's True values."""
    if type(value) in (int, float, bool):
        return True
    vs = tuple(getattr(value, "shape", (None,)))
    rest = shape[mask.ndim :]
    while len(vs) > len(rest) and vs[0] == 1:
        vs = vs[1:]
    if len(vs) > len(rest):
        return False
    return all(a == 1 or a == b for a, b in zip(vs, rest[len(rest) - len(vs) :]))


_MASK_SET = OPS["_mask_set"]
_MASK_SET_AMONG = OPS["_mask_set_among"]


def _mask_among(idx: tuple, shape: tuple, value) -> tuple | None:
    """``_mask_set_among``'s encoding of ``idx`` when it holds exactly one boolean mask whose
    shape matches the dims it covers, otherwise basic indices (ints, slices, ``...``, None),
    and ``value`` is one number; else None (the general path, which reads the mask)."""
    if not (type(value) in (int, float, bool) or (isinstance(value, Tensor) and value.numel() == 1)):
        return None
    masks = [i for i, e in enumerate(idx) if isinstance(e, Tensor) and e.dtype == np.bool_]
    if len(masks) != 1 or idx[masks[0]].ndim == 0:
        return None
    mask = idx[masks[0]]
    used = 0
    for e in idx:
        if e is mask:
            used += mask.ndim
        elif type(e) is int or type(e) is slice:
            used += 1
        elif e is not None and e is not Ellipsis:
            return None
    if used > len(shape) or sum(e is Ellipsis for e in idx) > 1:
        return None
    enc, dim = [], 0
    for e in idx:
        if e is Ellipsis:
            enc += [("s", None, None, None)] * (len(shape) - used)
            dim += len(shape) - used
        elif e is None:
            enc.append(("n",))
        elif e is mask:
            if tuple(mask.shape) != shape[dim : dim + mask.ndim]:
                return None  # (the general path raises torch's shape error)
            enc.append(("m",))
            dim += mask.ndim
        elif type(e) is int:
            if not -shape[dim] <= e < shape[dim]:
                return None
            enc.append(("i", e))
            dim += 1
        elif all(v is None or type(v) is int for v in (e.start, e.stop, e.step)):
            enc.append(("s", e.start, e.stop, e.step))
            dim += 1
        else:
            return None
    return tuple(enc)


def _tensor_setitem(self: Tensor, idx, value) -> None:
    check_inplace(self, "__setitem__")
    if isinstance(value, (list, tuple, np.ndarray)):
        from .._factories import tensor

        value = tensor(value, dtype=self.dtype)
    idx = _as_tuple(idx)
    mask = idx[0] if type(idx) is tuple and len(idx) == 1 else idx
    shape = tuple(self.shape)
    if (
        isinstance(mask, Tensor)
        and mask.dtype == np.bool_
        and 0 < mask.ndim <= len(shape)
        and tuple(mask.shape) == shape[: mask.ndim]
        and _broadcasts_per_element(value, mask, shape)
    ):
        # ``x[mask] = v`` (``logits[pad] = -inf``): one shape-static where, in every mode
        inplace_update(self, dispatch(_MASK_SET, (self, mask, value), {}), "__setitem__")
        return
    enc = _mask_among(idx, shape, value) if type(idx) is tuple else None
    if enc is not None:
        mask = next(e for e in idx if isinstance(e, Tensor))
        inplace_update(self, dispatch(_MASK_SET_AMONG, (self, mask, value, enc), {}), "__setitem__")
        return
    spec, arrays = _parse_index(shape, idx, "Tensor.__setitem__")
    inplace_update(self, dispatch(_SET, (self, value, spec, *arrays), {}), "__setitem__")


Tensor.__getitem__ = _tensor_getitem
Tensor.__setitem__ = _tensor_setitem


# --------------------------------------------------------------------------- public callables that are not one row
def where(condition, input=None, other=None):
    """torch.where(condition, input, other); ``where(condition)`` is ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return dispatch(_NONZERO, (condition,), {"as_tuple": True})
    dt = getattr(condition, "dtype", None)
    if dt is not None and dt != np.bool_ and dt != np.uint8:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {_torch_name(dt)}"
        )
    return dispatch(OPS["where"], (condition, input, other), {})


def _tensor_where(self, condition, y):
    return where(condition, self, y)


def masked_select(input, mask):
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise RuntimeError(
            f"masked_select: expected BoolTensor for mask, got {getattr(mask, 'dtype', type(mask).__name__)}"
        )
    shape = tuple(np.broadcast_shapes(tuple(input.shape), tuple(mask.shape)))
    x = input if tuple(input.shape) == shape else input.expand(*shape)
    m = mask if tuple(mask.shape) == shape else mask.expand(*shape)
    if not shape:
        x, m = x.reshape(1), m.reshape(1)
    idx = _mask_indices(m, "masked_select")
    return dispatch(_GET, (x, (_T,) * len(idx), *idx), {})


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    if repeats is None:  # torch.repeat_interleave(repeats): repeat arange(n)
        repeats = input
        input = functional.arange(repeats.shape[0] if repeats.ndim else 1)
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        if repeats.numel() == 1:
            repeats = int(np.asarray(repeats._concrete("torch.repeat_interleave")).reshape(()))
        elif output_size is None:
            output_size = int(np.asarray(repeats._concrete("torch.repeat_interleave")).sum())
    return dispatch(OPS["repeat_interleave"], (input, repeats, dim), {"output_size": output_size})


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(functional.isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other) -> bool:
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(functional.eq(input, other).all())


for _f in (where, masked_select, repeat_interleave, allclose, equal):
    setattr(functional, _f.__name__, _f)
Tensor.where = _tensor_where
Tensor.masked_select = masked_select
Tensor.repeat_interleave = repeat_interleave
Tensor.allclose = allclose
Tensor.equal = equal

# public callables defined here rather than generated from one row (the op-table tests cover them too)
PUBLIC = ("where", "masked_select", "repeat_interleave", "allclose", "equal")


# --------------------------------------------------------------------------- in-place fills and Tensor.new_*
_FILL, _COPY = OPS["_fill"], OPS["_copy"]


def _fill_(self: Tensor, value) -> Tensor:
    check_inplace(self, "fill_")
    return inplace_update(self, dispatch(_FILL, (self, value), {}), "fill_")


def _zero_(self: Tensor) -> Tensor:
    check_inplace(self, "zero_")
    return inplace_update(self, dispatch(_FILL, (self, 0), {}), "zero_")


def _copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    check_inplace(self, "copy_")
    if not isinstance(src, Tensor):
        from .._factories import tensor

        src = tensor(src)
    return inplace_update(self, dispatch(_COPY, (self, src), {}), "copy_")


def _new(kind):
    def f(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, **kw):
        if "size" in kw and not size:
            size = (kw.pop("size"),)
        if kw:
            raise TypeError(f"new_{kind}() got an unexpected keyword argument '{next(iter(kw))}'")
        return getattr(functional, kind)(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    f.__name__ = "new_" + kind
    return f


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return functional.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    from .._factories import tensor

    if isinstance(data, Tensor):
        data = data.detach()
    return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


Tensor.fill_ = _fill_
Tensor.zero_ = _zero_
Tensor.copy_ = _copy_
Tensor.new_zeros = _new("zeros")
Tensor.new_ones = _new("ones")
Tensor.new_empty = _new("empty")
Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor
