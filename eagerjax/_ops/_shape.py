"""Shape rows: reshaping, permuting, joining and splitting (view-like ops return new
tensors: jax arrays are immutable)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from ._reduction import _wrap
from ._registry import alias, op


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _seq(tensors):
    """``f(a, b)`` or ``f([a, b])`` -> ``(a, b)``."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(tensors[0])
    return tuple(tensors)


def _reshape(x, *shape, **kw):
    shape = _shape_arg(shape) if shape else tuple(kw.pop("shape", kw.pop("size", ())))
    known = [s for s in shape if s != -1]
    n = math.prod(known)
    bad = shape.count(-1) > 1 or any(s < -1 for s in shape)
    if not bad:
        if -1 in shape:
            bad = n == 0 or x.size % n != 0
        else:
            bad = n != x.size
    if bad:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.size}")
    return jnp.reshape(x, shape)


op("reshape", _reshape)
op("view", _reshape, function=False)
op("view_as", lambda x, other: jnp.reshape(x, other.shape), function=False)
op("reshape_as", lambda x, other: jnp.reshape(x, other.shape), function=False)


def _transpose(x, dim0, dim1):
    if x.ndim == 0:
        return x
    return jnp.swapaxes(x, _wrap(dim0, x.ndim), _wrap(dim1, x.ndim))


op("transpose", _transpose)
alias("swapaxes", "transpose")
alias("swapdims", "transpose")


def _permute(x, *dims, **kw):
    dims = _shape_arg(dims) if dims or "dims" not in kw else tuple(kw["dims"])
    if len(dims) != x.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
            f"desired ordering of dimensions i.e. input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}"
        )
    perm = tuple(_wrap(d, x.ndim) for d in dims)
    if len(set(perm)) != len(perm):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return jnp.transpose(x, perm)


op("permute", _permute)


def _t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x.T if x.ndim == 2 else x


op("t", _t)
op("adjoint", lambda x: jnp.swapaxes(x, -1, -2).conj())


def _squeeze(x, dim=None):
    if dim is None:
        return jnp.squeeze(x)
    dims = dim if isinstance(dim, (list, tuple)) else (dim,)
    if x.ndim == 0:
        for d in dims:
            _wrap(d, 0)
        return x
    dims = tuple(sorted({_wrap(d, x.ndim) for d in dims if x.shape[_wrap(d, x.ndim)] == 1}))
    return jnp.squeeze(x, dims) if dims else x


def _unsqueeze(x, dim):
    return jnp.expand_dims(x, _wrap(dim, x.ndim + 1))


op("squeeze", _squeeze)
op("unsqueeze", _unsqueeze)


def _flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = _wrap(start_dim, x.ndim), _wrap(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return x.reshape(x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :])


def _unflatten(x, dim, sizes):
    d = _wrap(dim, x.ndim)
    sizes = tuple(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        sizes = tuple(x.shape[d] // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != x.shape[d]:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} ({x.shape[d]}) "
            "in the input tensor"
        )
    return x.reshape(x.shape[:d] + sizes + x.shape[d + 1 :])


op("flatten", _flatten)
op("ravel", lambda x: x.reshape(-1))
op("unflatten", _unflatten)


def _expand(x, *sizes, **kw):
    sizes = _shape_arg(sizes) if sizes or "size" not in kw else tuple(kw["size"])
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(x.shape)}}}, size=[{', '.join(map(str, sizes))}]): the number of "
            f"sizes provided ({len(sizes)}) must be greater or equal to the number of dimensions in the tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s == -1:
                raise RuntimeError(
                    f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                )
            out.append(s)
            continue
        have = x.shape[i - lead]
        if s == -1:
            out.append(have)
        elif have != s and have != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({have}) at non-singleton "
                f"dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(x.shape)}"
            )
        else:
            out.append(s)
    return jnp.broadcast_to(x, tuple(out))


op("expand", _expand, function=False)
op("expand_as", lambda x, other: _expand(x, *other.shape), function=False)
op("broadcast_to", lambda x, size: _expand(x, *size))


def _broadcast_tensors(*tensors):
    ts = _seq(tensors)
    shape = jnp.broadcast_shapes(*(t.shape for t in ts))
    return tuple(jnp.broadcast_to(t, shape) for t in ts)


op("broadcast_tensors", _broadcast_tensors, method=False)


def _repeat(x, *sizes, **kw):
    sizes = _shape_arg(sizes) if sizes or "repeats" not in kw else tuple(kw["repeats"])
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    x = x.reshape((1,) * (len(sizes) - x.ndim) + x.shape)
    return jnp.tile(x, sizes)


def _tile(x, dims):
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    if len(dims) < x.ndim:
        dims = (1,) * (x.ndim - len(dims)) + dims
    return _repeat(x, *dims)


op("repeat", _repeat, function=False)
op("tile", _tile)


def _repeat_interleave(x, repeats, dim=None, *, output_size=None):
    if dim is None:
        x = x.reshape(-1)
        dim = 0
    d = _wrap(dim, x.ndim)
    if hasattr(repeats, "shape"):
        if repeats.shape != (x.shape[d],):
            raise RuntimeError("repeats must have the same size as input along dim")
        return jnp.repeat(x, repeats, axis=d, total_repeat_length=output_size)
    return jnp.repeat(x, repeats, axis=d)


# The public ``repeat_interleave`` (in _indexing.py) computes ``output_size`` from
# concrete tensor repeats first, so this row stays shape-static.
op("repeat_interleave", _repeat_interleave, function=False, method=False)


def _chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    size = max(-(-n // chunks), 1) if n else 0
    if size == 0:
        return tuple(jnp.split(x, chunks, axis=d))
    return _split(x, size, d)


def _split(x, split_size_or_sections, dim=0):
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = tuple(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), "
                f"but got split_sizes={list(sizes)}"
            )
    else:
        s = split_size_or_sections
        if n == 0:
            sizes = (0,)
        else:
            sizes = (s,) * (n // s) + ((n % s,) if n % s else ())
    cuts = np.cumsum(sizes)[:-1].tolist()
    return tuple(jnp.split(x, cuts, axis=d))


def _tensor_split(x, indices_or_sections, dim=0):
    d = _wrap(dim, x.ndim)
    if hasattr(indices_or_sections, "shape"):
        raise RuntimeError("tensor_split: tensor indices_or_sections must be converted to Python ints first")
    if isinstance(indices_or_sections, (list, tuple)):
        return tuple(jnp.split(x, list(indices_or_sections), axis=d))
    return tuple(jnp.array_split(x, indices_or_sections, axis=d))


op("chunk", _chunk)
op("split", _split)
op("tensor_split", _tensor_split)
op("hsplit", lambda x, s: _tensor_split(x, s, 1 if x.ndim > 1 else 0))
op("vsplit", lambda x, s: _tensor_split(x, s, 0))
op("dsplit", lambda x, s: _tensor_split(x, s, 2))


def _unbind(x, dim=0):
    d = _wrap(dim, x.ndim)
    return tuple(jnp.moveaxis(x, d, 0))


op("unbind", _unbind)


def _narrow(x, dim, start, length):
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if start < 0:
        start += n
    if not 0 <= start <= n or start + length > n or length < 0:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    idx = [slice(None)] * x.ndim
    idx[d] = slice(start, start + length)
    return x[tuple(idx)]


def _select(x, dim, index):
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at dimension {d}")
    idx = [slice(None)] * x.ndim
    idx[d] = index % n
    return x[tuple(idx)]


op("narrow", _narrow)
op("select", _select)


def _flip(x, *dims, **kw):
    dims = _shape_arg(dims) if dims or "dims" not in kw else kw["dims"]
    dims = dims if isinstance(dims, (list, tuple)) else (dims,)
    if x.ndim == 0:
        return x
    return jnp.flip(x, tuple(_wrap(d, x.ndim) for d in dims))


def _fliplr(x):
    if x.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return jnp.flip(x, 1)


def _flipud(x):
    if x.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return jnp.flip(x, 0)


op("flip", _flip)
op("fliplr", _fliplr)
op("flipud", _flipud)


def _roll(x, shifts, dims=None):
    if dims is None:
        return jnp.roll(x.reshape(-1), shifts).reshape(x.shape)
    return jnp.roll(x, shifts, dims)


def _rot90(x, k=1, dims=(0, 1)):
    return jnp.rot90(x, k, tuple(dims))


op("roll", _roll)
op("rot90", _rot90)


def _movedim(x, source, destination):
    return jnp.moveaxis(x, source, destination)


op("movedim", _movedim)
alias("moveaxis", "movedim")


# --------------------------------------------------------------------------- joining
def _cat_check(ts, d, ndim):
    for i, t in enumerate(ts):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    ref = ts[0]
    for i, t in enumerate(ts[1:], 1):
        if t.ndim != ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ndim} and {t.ndim}")
        for k in range(ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {ref.shape[k]} but got "
                    f"size {t.shape[k]} for tensor number {i} in the list."
                )


def _tensor_list(fn: str, tensors) -> tuple:
    """torch's check that ``tensors`` is a sequence (``cat(x, y)`` forgets the brackets)."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")
    return tuple(tensors)


def _cat(tensors, dim=0):
    ts = _tensor_list("cat", tensors)
    if not ts:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    # torch skips legacy empty 1-D tensors of shape (0,)
    kept = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or [ts[0]]
    dt = jnp.result_type(*ts)
    d = _wrap(dim, kept[0].ndim)
    _cat_check(kept, d, kept[0].ndim)
    return jnp.concatenate([t.astype(dt) for t in kept], axis=d)


op("cat", _cat, method=False)
alias("concat", "cat")
alias("concatenate", "cat")


def _stack(tensors, dim=0):
    ts = _tensor_list("stack", tensors)
    if not ts:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(ts[1:], 1):
        if t.shape != ts[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ts[0].shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    dt = jnp.result_type(*ts)
    return jnp.stack([t.astype(dt) for t in ts], axis=_wrap(dim, ts[0].ndim + 1))


op("stack", _stack, method=False)
op("hstack", lambda tensors: jnp.hstack(tuple(tensors)), method=False)
op("vstack", lambda tensors: jnp.vstack(tuple(tensors)), method=False)
alias("row_stack", "vstack")
op("dstack", lambda tensors: jnp.dstack(tuple(tensors)), method=False)
op("column_stack", lambda tensors: jnp.column_stack(tuple(tensors)), method=False)


def _atleast(f):
    def g(*tensors):
        if len(tensors) == 1 and not isinstance(tensors[0], (list, tuple)):
            return f(tensors[0])
        return tuple(f(t) for t in _seq(tensors))

    return g


op("atleast_1d", _atleast(jnp.atleast_1d), method=False)
op("atleast_2d", _atleast(jnp.atleast_2d), method=False)
op("atleast_3d", _atleast(jnp.atleast_3d), method=False)


def _meshgrid(*tensors, indexing=None):
    ts = _seq(tensors)
    return tuple(jnp.meshgrid(*ts, indexing=indexing or "ij"))


op("meshgrid", _meshgrid, method=False)


def _diff(x, n=1, dim=-1, prepend=None, append=None):
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    return jnp.diff(x, n, axis=_wrap(dim, x.ndim), prepend=prepend, append=append)


op("diff", _diff)


def _cartesian_prod(*tensors):
    ts = _seq(tensors)
    if len(ts) == 1:
        return ts[0]
    grids = jnp.meshgrid(*ts, indexing="ij")
    return jnp.stack([g.reshape(-1) for g in grids], axis=1)


op("cartesian_prod", _cartesian_prod, method=False)


def _block_diag(*tensors):
    ts = [jnp.atleast_2d(t) if t.ndim < 2 else t for t in _seq(tensors)]
    if not ts:
        return jnp.zeros((0, 0), jnp.float32)
    dt = jnp.result_type(*ts)
    rows = sum(t.shape[0] for t in ts)
    cols = sum(t.shape[1] for t in ts)
    out = jnp.zeros((rows, cols), dt)
    r = c = 0
    for t in ts:
        out = out.at[r : r + t.shape[0], c : c + t.shape[1]].set(t.astype(dt))
        r += t.shape[0]
        c += t.shape[1]
    return out


op("block_diag", _block_diag, method=False)


# Indexing rows and the Tensor[...] operators live in their own family module.
from . import _indexing  # noqa: E402,F401
