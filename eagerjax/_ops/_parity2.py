"""More torch 2.x names eagerjax adds for parity (rows): ``histogramdd`` and
``segment_reduce``. Their non-row companions (``from_dlpack``, ``frombuffer``,
``svd_lowrank`` / ``pca_lowrank``, ``grid_sampler_2d`` / ``_3d``, the legacy autocast
accessors, ``apply_`` / ``map_`` / ``map2_``, ...) live in ``eagerjax/_toplevel2.py``.

Both rows have static output shapes (the bin counts; the number of segments is the length
of ``lengths``' last axis), so they run under ``ej.compile`` and ``ej.lazy()``. torch's
``segment_reduce`` refuses ``indices=`` ("not supported yet"); so does this one.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
import numpy as np

from .._tensor import Tensor
from ._math5 import _dim_bins
from ._reduction import return_type
from ._registry import op


def _tname(dt) -> str:
    from .. import _dtypes

    return _dtypes.torch_name(np.dtype(dt))


# --------------------------------------------------------------------------- histogramdd
Histogramdd = return_type("histogramdd", ("hist", "bin_edges"))


def _histogramdd_out(hist, *edges):
    return Histogramdd(hist, tuple(edges))


def _histogramdd(x, bins, *, range=None, weight=None, density=False):  # noqa: A002 - torch's keyword
    """``(hist, bin_edges)`` of the points ``x[..., :]`` (the last axis holds a point's D
    coordinates): ``bins`` is an int (every dimension), D ints, or D edge tensors; ``range``
    gives ``2 * D`` bounds. Points outside the edges are dropped; each last bin is closed."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_tname(x.dtype)}'")
    dims = x.shape[-1] if x.ndim else 1
    pts = x.reshape(-1, dims)
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * dims
    if len(per_dim) != dims:
        raise RuntimeError("histogramdd: The size of bins must be equal to the innermost dimension of the input.")
    if range is not None and len(range) != 2 * dims:
        raise RuntimeError(
            f"torch.histogramdd: for a {dims}-dimensional histogram range should have {2 * dims} elements, but got "
            f"{len(range)}"
        )
    if weight is not None and tuple(weight.shape) != tuple(x.shape[:-1]):
        raise RuntimeError(
            "torch.histogramdd: if weight tensor is provided it should have the same shape as the input tensor "
            f"excluding its innermost dimension, but got input with shape {list(x.shape)} and weight with shape "
            f"{list(weight.shape)}"
        )
    edges, lin, shape = [], jnp.zeros(pts.shape[0], jnp.int32), []
    inside = jnp.ones(pts.shape[0], bool)
    for d, nb in enumerate(per_dim):
        nb = int(nb) if isinstance(nb, (int, np.integer)) else nb
        e, pos, n, ok = _dim_bins(pts[:, d], d, nb, None if range is None else range[2 * d : 2 * d + 2])
        edges.append(e)
        lin, inside = lin * n + pos, inside & ok
        shape.append(n)
    w = jnp.ones(pts.shape[0], x.dtype) if weight is None else weight.reshape(-1).astype(x.dtype)
    hist = jnp.zeros(int(np.prod(shape)), x.dtype).at[lin].add(jnp.where(inside, w, 0)).reshape(shape)
    if density:
        vol = jnp.ones((), x.dtype)
        for d, e in enumerate(edges):
            vol = vol * jnp.diff(e).reshape([-1 if k == d else 1 for k in builtins.range(dims)])
        hist = hist / (jnp.sum(hist) * vol)
    return (hist, *edges)


op("histogramdd", _histogramdd, out_type=_histogramdd_out, differentiable=False, method=False).family = "math5"


# --------------------------------------------------------------------------- segment_reduce
_SEG_REDUCE = {"sum": "sum", "mean": "mean", "max": "max", "amax": "max", "min": "min", "amin": "min", "prod": "prod"}


def _segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0, unsafe=False, initial=None):
    """Reduce ``data`` over consecutive segments along ``axis`` (sizes ``lengths``, or the
    differences of ``offsets``); ``lengths`` has ``data``'s leading ``axis`` dims plus a
    segment axis. Empty segments give ``initial`` (else 0 / nan / -inf / inf / 1)."""
    if reduce not in _SEG_REDUCE:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    kind = _SEG_REDUCE[reduce]
    if indices is not None and lengths is None and offsets is None:
        raise RuntimeError("segment_reduce(): indices based reduction is not supported yet.")
    if lengths is None and offsets is None:
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined.")
    if not jnp.issubdtype(data.dtype, jnp.floating):
        raise NotImplementedError(f"\"_segment_reduce_cpu\" not implemented for '{_tname(data.dtype)}'")
    seg = lengths if lengths is not None else offsets
    if not jnp.issubdtype(seg.dtype, jnp.integer):
        what = "lengths" if lengths is not None else "offsets"
        raise NotImplementedError(f"\"_segment_reduce_{what}_cpu_kernel1\" not implemented for '{_tname(seg.dtype)}'")
    axis = axis % data.ndim
    if lengths is not None:
        ends = jnp.cumsum(lengths, axis=-1)
        starts = ends - lengths
    else:
        starts, ends = offsets[..., :-1], offsets[..., 1:]
    # mask (*lead, S, N): element n of the row lies in segment s
    n = jnp.arange(data.shape[axis])
    mask = (n >= starts[..., None]) & (n < ends[..., None])
    count = (ends - starts).astype(data.dtype)
    trail = data.ndim - axis - 1
    mask = mask.reshape(mask.shape + (1,) * trail)
    x = jnp.expand_dims(data, axis)  # (*lead, 1, N, *trail)
    if kind in ("sum", "mean"):
        out = jnp.where(mask, x, 0).sum(axis + 1)
    elif kind == "prod":
        out = jnp.where(mask, x, 1).prod(axis + 1)
    elif kind == "max":
        out = jnp.where(mask, x, -jnp.inf).max(axis + 1)
    else:
        out = jnp.where(mask, x, jnp.inf).min(axis + 1)
    count = count.reshape(count.shape + (1,) * trail)
    if initial is not None:
        init = jnp.asarray(initial, data.dtype)
        out = {"sum": out + init, "mean": out + init, "prod": out * init}.get(kind, out)
        if kind == "max":
            out = jnp.maximum(out, init)
        elif kind == "min":
            out = jnp.minimum(out, init)
        if kind == "mean":
            out = jnp.where(count == 0, init, out / jnp.where(count == 0, 1, count))
    elif kind == "mean":
        out = out / count
    return out.astype(data.dtype)


def _check_segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0, unsafe=False, **_):
    """torch's check that the segments cover ``data`` exactly (eager only: reads values)."""
    if unsafe or not isinstance(data, Tensor):
        return
    seg = lengths if lengths is not None else offsets
    if not isinstance(seg, Tensor) or isinstance(seg._value, jax.core.Tracer):
        return
    v = np.asarray(seg._value)
    if not np.issubdtype(v.dtype, np.integer):
        return
    size = data.shape[axis % max(data.ndim, 1)] if data.ndim else 1
    if lengths is not None:
        if v.size and not (v.sum(-1) == size).all():
            raise RuntimeError(
                "segment_reduce(): Expected all rows of lengths along axis to sum to data.size(lengths.dim()-1) "
                "when !unsafe."
            )
        if (v < 0).any():
            raise RuntimeError("segment_reduce(): lengths contains negative value!")
    elif v.size and not (v[..., -1] == size).all():
        raise RuntimeError(
            "segment_reduce(): Expected all rows of offsets along axis to end at data.size(offsets.dim()-1) "
            "when !unsafe."
        )


op("segment_reduce", _segment_reduce, method=False, check=_check_segment_reduce).family = "reduction"
