"""Shape rows: reshaping, permuting, joining and splitting (view-like ops return new
tensors: jax arrays are immutable)."""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import numpy as np

from .._dispatch import dispatch
from .._dtypes import torch_name
from .._generate import functional
from .._tensor import Tensor
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


def _tile(x, *dims, **kw):
    if "dims" in kw:
        if dims:
            raise TypeError("tile() got multiple values for argument 'dims'")
        dims = (kw.pop("dims"),)
    if not dims:
        raise TypeError('tile() missing 1 required positional arguments: "dims"')
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else tuple(dims)
    if len(dims) < x.ndim:
        dims = (1,) * (x.ndim - len(dims)) + dims
    shape = (1,) * (len(dims) - x.ndim) + tuple(x.shape)
    sizes = [n * r for n, r in zip(shape, dims)]
    if any(s < 0 for s in sizes):
        neg = next(s for s in sizes if s < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {neg}: {sizes}")
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
    if x.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    size = max(-(-n // chunks), 1) if n else 0
    if size == 0:
        return tuple(jnp.split(x, chunks, axis=d))
    return _split(x, size, d)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _split(x, split_size_or_sections=None, dim=0, *, split_size=None):
    if split_size is not None:
        if split_size_or_sections is not None:
            raise TypeError("split() got multiple values for argument 'split_size'")
        split_size_or_sections = split_size
    if split_size_or_sections is None:
        raise TypeError('split() missing 1 required positional arguments: "split_size"')
    if x.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = tuple(split_size_or_sections)
        if not all(_is_int(s) for s in sizes):
            bad = next(s for s in sizes if not _is_int(s))
            raise TypeError(
                f"split_with_sizes(): argument 'split_sizes' must be tuple of ints, not {type(bad).__name__}"
            )
        if any(s < 0 for s in sizes):
            raise RuntimeError(
                f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                f"split_sizes={list(sizes)}"
            )
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), "
                f"but got split_sizes={list(sizes)}"
            )
    else:
        s = split_size_or_sections
        if not _is_int(s):
            raise TypeError(
                f"split_with_sizes(): argument 'split_sizes' (position 2) must be tuple of ints, not {type(s).__name__}"
            )
        if s < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={s}")
        if s == 0 and n != 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        if n == 0:
            sizes = (0,)
        else:
            sizes = (s,) * (n // s) + ((n % s,) if n % s else ())
    cuts = np.cumsum(sizes)[:-1].tolist()
    return tuple(jnp.split(x, cuts, axis=d))


def _slice_at(x, d: int, a: int, b: int):
    """``x[a:b]`` along ``d`` with Python's slice rules (negative ends wrap, ends clamp, and an
    end before the start gives an empty piece), as torch's ``slice`` takes them."""
    n = x.shape[d]
    a = min(max(a + n if a < 0 else a, 0), n)
    b = min(max(b + n if b < 0 else b, 0), n)
    return jax.lax.slice_in_dim(x, a, max(a, b), axis=d)


def _split_arg(fn: str, indices_or_sections, indices, sections):
    """The one of ``indices_or_sections`` / ``indices=`` / ``sections=`` that was given."""
    given = [v for v in (indices_or_sections, indices, sections) if v is not None]
    if len(given) != 1:
        raise TypeError(f"{fn}() expects exactly one of indices_or_sections, indices or sections")
    return given[0]


def _tensor_split(x, indices_or_sections=None, dim=0, *, indices=None, sections=None):
    arg = _split_arg("tensor_split", indices_or_sections, indices, sections)
    if x.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    d = _wrap(dim, x.ndim)
    if hasattr(arg, "shape"):
        # (the public function reads a tensor's values first; this is a traced one)
        raise RuntimeError("tensor_split: tensor indices_or_sections must be converted to Python ints first")
    if isinstance(arg, (list, tuple)):
        bounds = [0, *(int(i) for i in arg), None]
        return tuple(_slice_at(x, d, a, x.shape[d] if b is None else b) for a, b in zip(bounds[:-1], bounds[1:]))
    if not _is_int(arg):
        raise TypeError(f"tensor_split(): argument 'sections' must be int, not {type(arg).__name__}")
    if arg <= 0:
        raise RuntimeError(f"number of sections must be larger than 0, got {arg}")
    n = x.shape[d]
    q, r = divmod(n, arg)
    out, a = [], 0
    for k in range(arg):
        b = a + q + (1 if k < r else 0)
        out.append(jax.lax.slice_in_dim(x, a, b, axis=d))
        a = b
    return tuple(out)


def _dir_split(fn: str, min_dims: int, dim_of):
    def split(x, indices_or_sections=None, *, indices=None, sections=None):
        arg = _split_arg(fn, indices_or_sections, indices, sections)
        if x.ndim < min_dims:
            raise RuntimeError(
                f"torch.{fn} requires a tensor with at least {min_dims} dimension, but got a tensor with "
                f"{x.ndim} dimensions!"
            )
        d = dim_of(x)
        if _is_int(arg) and not (arg != 0 and x.shape[d] % arg == 0):
            raise RuntimeError(
                f"torch.{fn} attempted to split along dimension {d}, but the size of the dimension "
                f"{x.shape[d]} is not divisible by the split_size {arg}!"
            )
        return _tensor_split(x, arg, d)

    return split


def tensor_split(
    input, indices_or_sections=None, dim=0, *, indices=None, sections=None, tensor_indices_or_sections=None
):  # noqa: A002
    """``torch.tensor_split``. A tensor of indices (1-D) or sections (0-D) is read on the host
    first (the pieces' shapes depend on it): in eager mode and lazy graphs; inside a compiled
    step it raises ``CaptureError``, as any value-dependent shape does."""
    if tensor_indices_or_sections is not None:
        if not (indices_or_sections is None and indices is None and sections is None):
            raise TypeError("tensor_split() expects exactly one of indices_or_sections, indices or sections")
        indices_or_sections = tensor_indices_or_sections
    if isinstance(indices_or_sections, Tensor):
        t = indices_or_sections
        if t.dtype.kind not in "iu":
            raise RuntimeError(
                f"tensor_split expected tensor_indices_or_sections to have dtype of long, but got {torch_name(t.dtype)}"
            )
        if t.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional "
                f"tensor, but got a tensor with {t.ndim} dims"
            )
        v = np.asarray(t._concrete("tensor_split"))
        indices_or_sections = int(v) if v.ndim == 0 else [int(i) for i in v]
    elif isinstance(indices_or_sections, (list, tuple)) and any(isinstance(i, Tensor) for i in indices_or_sections):
        indices_or_sections = [operator.index(i) for i in indices_or_sections]
    kw = {"indices": indices} if indices is not None else {"sections": sections} if sections is not None else {}
    return dispatch(_TENSOR_SPLIT, (input, indices_or_sections, dim) if not kw else (input, None, dim), kw)


op("chunk", _chunk)
op("split", _split)
# ``tensor_split``'s public forms are the function above (it reads tensor indices first)
_TENSOR_SPLIT = op("tensor_split", _tensor_split, function=False)
Tensor.tensor_split = tensor_split
functional.tensor_split = tensor_split
op("hsplit", _dir_split("hsplit", 1, lambda x: 1 if x.ndim > 1 else 0))
op("vsplit", _dir_split("vsplit", 2, lambda x: 0))
op("dsplit", _dir_split("dsplit", 3, lambda x: 2))


def _unbind(x, dim=0):
    _check_unbind(x, dim)
    d = _wrap(dim, x.ndim)
    return tuple(jnp.moveaxis(x, d, 0))


def _check_unbind(x, dim=0) -> None:
    if x.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")


op("unbind", _unbind, check=_check_unbind)


def _narrow_bounds(x, dim, start, length):
    """torch's checks of ``narrow``'s arguments; returns (dim, start) with start wrapped, or
    start None for a tensor start whose value is not read here."""
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if hasattr(start, "shape"):
        if start.ndim != 0 or np.dtype(start.dtype).kind not in "iu":
            raise RuntimeError("start must be an 0-dim integral Tensor.")
        if not isinstance(start, Tensor):  # (a jax value inside the kernel: checked by ``check=``)
            return d, None
        start = int(np.asarray(start._value))
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return d, start


def _narrow(x, dim, start, length):
    d, s = _narrow_bounds(x, dim, start, length)
    if s is None:
        # a 0-d tensor start: a dynamic slice (its range is checked in eager mode only)
        n = x.shape[d]
        s = jnp.where(start < 0, start + n, start)
        return jax.lax.dynamic_slice_in_dim(x, s, length, axis=d)
    return jax.lax.slice_in_dim(x, s, s + length, axis=d)


def _check_narrow(x, dim, start, length) -> None:
    _narrow_bounds(x, dim, start, length)


def _select(x, dim, index):
    d = _wrap(dim, x.ndim)
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at dimension {d}")
    idx = [slice(None)] * x.ndim
    idx[d] = index % n
    return x[tuple(idx)]


op("narrow", _narrow, check=_check_narrow)
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


def _cat(tensors, dim=0, *, axis=None, out=None):
    ts = _tensor_list("cat", tensors)
    if not ts:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    if axis is not None:
        dim = axis
    # torch skips legacy empty 1-D tensors of shape (0,)
    kept = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or [ts[0]]
    dt = jnp.result_type(*ts)
    d = _wrap(dim, kept[0].ndim)
    _cat_check(kept, d, kept[0].ndim)
    return jnp.concatenate([t.astype(dt) for t in kept], axis=d)


def _check_cat(tensors=(), *_, **__) -> None:
    if isinstance(tensors, (list, tuple)) and not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")


op("cat", _cat, method=False, check=_check_cat)
alias("concat", "cat", check=_check_cat)
alias("concatenate", "cat", check=_check_cat)


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
