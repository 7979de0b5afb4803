"""More indexing rows: ``select_scatter``, ``slice_scatter``, ``diagonal_scatter``,
``index_reduce``, ``put``, ``Tensor.fill_diagonal_`` and ``Tensor.sum_to_size``.

The ``*_scatter`` ops are the out-of-place forms of writing into a view: the result is
``input`` with the view's elements replaced by ``src`` (and the gradient splits between
the two accordingly). Index *values* (``index_reduce``, ``put``) are range-checked in
eager mode only (see ``_bounds``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import _bounds
from ._indexing import _along_dim, _scatter_reduce, _set_at
from ._reduction import _tname, _wrap
from ._registry import op


def _src_shape(src, want) -> None:
    if tuple(src.shape) != tuple(want):
        raise RuntimeError(
            "expected src to have a size equal to the slice of self. "
            f"src size = {list(src.shape)}, slice size = {list(want)}"
        )


def _select_scatter(x, src, dim, index):
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at dimension {d}")
    _src_shape(src, x.shape[:d] + x.shape[d + 1 :])
    return x.at[(slice(None),) * d + (index,)].set(src.astype(x.dtype))


def _slice_scatter(x, src, dim=0, start=None, end=None, step=1):
    d = _wrap(dim, x.ndim)
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    sl = (slice(None),) * d + (slice(start, end, step),)
    want = np.empty(x.shape, dtype=bool)[sl].shape  # the slice's shape, as Python slicing clamps it
    _src_shape(src, want)
    return x.at[sl].set(src.astype(x.dtype))


def _diag_positions(shape, offset, dim1, dim2):
    nd = len(shape)
    d1, d2 = _wrap(dim1, nd), _wrap(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    r0, c0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(shape[d1] - r0, shape[d2] - c0))
    return d1, d2, r0, c0, length


def _diagonal_scatter(x, src, offset=0, dim1=0, dim2=1):
    d1, d2, r0, c0, length = _diag_positions(x.shape, offset, dim1, dim2)
    rest = tuple(s for k, s in enumerate(x.shape) if k not in (d1, d2))
    _src_shape(src, rest + (length,))
    moved = jnp.moveaxis(x, (d1, d2), (-2, -1))
    i = jnp.arange(length)
    moved = moved.at[..., i + r0, i + c0].set(src.astype(x.dtype))
    return jnp.moveaxis(moved, (-2, -1), (d1, d2))


op("select_scatter", _select_scatter)
op("slice_scatter", _slice_scatter)
op("diagonal_scatter", _diagonal_scatter)


# --------------------------------------------------------------------------- index_reduce, put
def _index_reduce(x, dim, index, source, reduce, *, include_self=True):
    """``source``'s slices reduced (prod/mean/amax/amin) into ``x``'s slices ``index`` along
    ``dim``: ``scatter_reduce`` with the index repeated across the other dims."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    if x.dtype != source.dtype:
        raise RuntimeError(
            f"index_reduce_(): self ({_tname(x.dtype)}) and source ({_tname(source.dtype)}) must have the same "
            "scalar type"
        )
    if index.ndim > 1:
        raise IndexError("index_reduce_(): Index is supposed to be a vector")
    if x.ndim == 0:
        x, source = x.reshape(1), source.reshape(1)
        return _index_reduce(x, 0, index, source, reduce, include_self=include_self).reshape(())
    d = _wrap(dim, x.ndim)
    src = source if source.ndim else source.reshape(1)
    if src.ndim != x.ndim or any(a != b for k, (a, b) in enumerate(zip(x.shape, src.shape)) if k != d):
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified dimension. "
            f"Got self.shape = {list(x.shape)} source.shape = {list(src.shape)}"
        )
    if index.size != src.shape[d]:
        raise RuntimeError(
            f"index_reduce_(): Number of indices ({index.size}) should be equal to source.size(dim): "
            f"({src.shape[d]}), for dim: {dim}"
        )
    shape = [1] * x.ndim
    shape[d] = index.size
    full = jnp.broadcast_to(index.reshape(shape), src.shape)
    return _scatter_reduce(x, d, full, src, reduce, include_self=include_self)


op(
    "index_reduce",
    _index_reduce,
    inplace=True,
    check=_along_dim(IndexError, message="index out of range in self"),
)


def _put(x, index, source, accumulate=False):
    if index.size != source.size:
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.size}, index.numel() = {index.size}"
        )
    if x.dtype != source.dtype:
        raise RuntimeError(
            "put_(): self and source expected to have the same dtype, but got "
            f"self.dtype = {_tname(x.dtype)} and source.dtype = {_tname(source.dtype)}"
        )
    flat, i, v = x.reshape(-1), index.reshape(-1), source.reshape(-1)
    flat = flat.at[i].add(v) if accumulate else _set_at(flat, i, v, repeats=i.size > 1)
    return flat.reshape(x.shape)


def _put_check(x, index, source, accumulate=False) -> None:
    n = int(np.prod(x.shape))
    v = _bounds.out_of_range(index, n, wrap=True)
    if v is not None:
        raise IndexError(f"out of range: tried to access index {v} on a tensor of {n} elements.")


op("put", _put, inplace=True, check=_put_check)


# --------------------------------------------------------------------------- torch.embedding_bag's extra results
def _embedding_bag_aux(weight, idx, offsets, *, mode: str, num_bags: int, padding_idx, size: int):
    """``(offset2bag, bag_size, max_indices)`` as torch's CPU ``embedding_bag`` returns them next
    to its output: each index's bag; the bag's count of non-padding indices (zeros for ``sum``);
    for ``max`` the weight row that gave each bag's feature its value (the first in bag order,
    0 for an empty bag), for ``mean`` the bag sizes again, for ``sum`` zeros. ``sum`` without a
    ``padding_idx`` leaves ``offset2bag`` empty (torch's fast path). ``size``: the length of the
    zeros ``sum`` returns (torch's forward-only path makes it ``offsets``'s length)."""
    it = jnp.promote_types(idx.dtype, offsets.dtype)
    length = idx.shape[0]
    pos = jnp.arange(length)
    seg = (jnp.searchsorted(offsets, pos, side="right") - 1).astype(it)
    if mode == "sum":
        zeros = jnp.zeros((size,), it)
        return (seg if padding_idx is not None else jnp.zeros((0,), it)), zeros, zeros
    valid = (seg >= 0) & (seg < num_bags)
    if padding_idx is not None:
        valid = valid & (idx != padding_idx)
    where = jnp.where(valid, seg, num_bags)
    bag_size = jnp.zeros((num_bags + 1,), it).at[where].add(1)[:num_bags]
    if mode == "mean":
        return seg, bag_size, bag_size
    e = weight[idx]
    keep = valid[:, None]
    low = -jnp.inf if jnp.issubdtype(e.dtype, jnp.floating) else jnp.iinfo(e.dtype).min
    best = jnp.full((num_bags + 1, e.shape[1]), low, e.dtype).at[where].max(jnp.where(keep, e, low))
    hit = keep & (e == best[where])
    first = jnp.full((num_bags + 1, e.shape[1]), length, jnp.int32).at[where].min(jnp.where(hit, pos[:, None], length))
    first = first[:num_bags]
    rows = jnp.where(first < length, idx[jnp.minimum(first, max(length - 1, 0))] if length else 0, 0)
    return seg, bag_size, rows.astype(it)


op("_embedding_bag_aux", _embedding_bag_aux, function=False, method=False, differentiable=False)


# --------------------------------------------------------------------------- fill_diagonal_, sum_to_size
def _fill_diagonal(x, fill_value, wrap=False):
    """``x`` with its main diagonal set; a tall matrix with ``wrap`` restarts the diagonal
    every ``cols + 1`` rows (torch's: every ``cols + 1``-th element of the flattened matrix)."""
    if x.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if x.ndim > 2 and len(set(x.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    v = jnp.asarray(fill_value).astype(x.dtype)
    if x.ndim > 2:
        i = jnp.arange(x.shape[0])
        return x.at[(i,) * x.ndim].set(v)
    h, w = x.shape
    count = -(-(h * w) // (w + 1)) if wrap and h > w else min(h, w)
    pos = jnp.arange(count) * (w + 1)
    return x.reshape(-1).at[pos].set(v).reshape(x.shape)


# Only ``Tensor.fill_diagonal_`` is public (torch has no function or out-of-place form).
op("fill_diagonal", _fill_diagonal, function=False, method=False, inplace=True, scalars=(1, "fill_value"))


def _sum_to_size(x, *size):
    """``x`` summed down to ``size`` (which ``x`` must be expandable from)."""
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = tuple(size[0])
    size = tuple(int(s) for s in size)
    lead = x.ndim - len(size)
    ok = lead >= 0 and all(s in (1, n) for s, n in zip(size, x.shape[lead:]))
    if not ok:
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(x.shape)}}}.")
    r = jnp.sum(x, axis=tuple(range(lead))) if lead else x
    axes = tuple(k for k, (s, n) in enumerate(zip(size, r.shape)) if s == 1 and n != 1)
    return jnp.sum(r, axis=axes, keepdims=True) if axes else r


op("sum_to_size", _sum_to_size, function=False)
