"""Reductions, scans, sorting and selection with torch's ``dim``/``keepdim`` conventions.

Ops that return values *and* indices take the values with ``take_along_axis``
at the chosen indices, so the gradient flows to exactly the selected elements
(torch's rule), not evenly to ties.
"""

from __future__ import annotations

import collections
import math
import types

import jax
import jax.numpy as jnp
from jax import lax

from .. import _dtypes
from ._registry import op


def return_type(name: str, fields: tuple = ("values", "indices")) -> type:
    """A namedtuple printing like ``torch.return_types.<name>`` (what torch returns for multi-output ops)."""
    base = collections.namedtuple(name, fields)

    def __repr__(self) -> str:
        body = ",\n".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"torch.return_types.{name}(\n{body})"

    have = getattr(return_types, name, None)
    if have is not None and have._fields == tuple(fields):
        return have
    cls = type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__module__": __name__})
    cls.__qualname__ = f"return_types.{name}"  # picklable by reference
    setattr(return_types, name, cls)
    return cls


return_types = types.SimpleNamespace()  # like ``torch.return_types``


ValuesIndices = return_type("ValuesIndices")  # the generic (values, indices) pair
MinMax = return_type("aminmax", ("min", "max"))


def _long():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def _axis(dim, ndim: int):
    """torch ``dim`` (None, int, list, tuple; ``()``/``[]`` mean all dims) -> jnp ``axis``,
    checked as torch does (a 0-d tensor takes dim 0 or -1, and reduces over nothing)."""
    if dim is None:
        return None
    dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    if not dims:
        return None
    seen = set()
    for d in dims:
        w = _wrap(d, ndim)
        if w in seen:
            raise RuntimeError(f"dim {w} appears multiple times in the list of dims")
        seen.add(w)
    if ndim == 0:
        return None
    return dims if isinstance(dim, (list, tuple)) else dim


def _wrap(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def _is_int(x) -> bool:
    return x.dtype == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.integer)


def _to_float(x):
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def _require_float(x, name: str):
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise RuntimeError(
            f"{name}(): input dtype should be either floating point or complex. Got {_tname(x.dtype)} instead."
        )


_tname = _dtypes.torch_name


def _nonempty(x, name: str):
    if x.size == 0:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )


# --------------------------------------------------------------------------- sums and means
def _acc_input(x, dtype):
    """(input, jnp dtype) of a sum/prod: torch converts the input to ``dtype`` first; integers
    and bools sum as long; floats pass no dtype, so jnp accumulates float16/bfloat16 in float32
    and rounds the result once (torch's CPU kernels do the same)."""
    if dtype is None:
        return x, (_long() if _is_int(x) else None)
    x = x.astype(dtype)
    return x, (None if jnp.issubdtype(x.dtype, jnp.inexact) else x.dtype)


def _sum(x, dim=None, keepdim=False, *, dtype=None):
    x, dtype = _acc_input(x, dtype)
    return jnp.sum(x, axis=_axis(dim, x.ndim), keepdims=keepdim, dtype=dtype)


def _nansum(x, dim=None, keepdim=False, *, dtype=None):
    x, dtype = _acc_input(x, dtype)
    return jnp.nansum(x, axis=_axis(dim, x.ndim), keepdims=keepdim, dtype=dtype)


def _mean(x, dim=None, keepdim=False, *, dtype=None):
    if not jnp.issubdtype(x.dtype, jnp.inexact) and dtype is None:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
            f"Got: {_tname(x.dtype)}"
        )
    if dtype is not None:
        half = jnp.dtype(dtype) in (jnp.float16, jnp.bfloat16)
        if half and jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits > 16:
            # torch averages a wider float input in its own precision and rounds the mean once
            return jnp.mean(x, axis=_axis(dim, x.ndim), keepdims=keepdim).astype(dtype)
        x = x.astype(dtype)
    return jnp.mean(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


def _nanmean(x, dim=None, keepdim=False, *, dtype=None):
    if not jnp.issubdtype(x.dtype, jnp.inexact) and dtype is None:
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got " + _tname(x.dtype)
        )
    if dtype is not None:
        x = x.astype(dtype)
    return jnp.nanmean(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


def _prod(x, dim=None, keepdim=False, *, dtype=None):
    x, dtype = _acc_input(x, dtype)
    # unlike its sum, torch's CPU product of float16/bfloat16 multiplies in the half type
    return jnp.prod(x, axis=_axis(dim, x.ndim), keepdims=keepdim, dtype=x.dtype if dtype is None else dtype)


op("sum", _sum)
op("nansum", _nansum)
op("mean", _mean)
op("nanmean", _nanmean)
op("prod", _prod)


# --------------------------------------------------------------------------- max / min family
def _select_along(x, dim, keepdim, arg):
    """(values, indices) at ``arg(x, axis=dim)``; values gathered so gradients go to the chosen element."""
    if x.ndim == 0:
        return x, jnp.zeros((), _long())
    d = _wrap(dim, x.ndim)
    if x.shape[d] == 0:
        raise IndexError(f"max(): Expected reduction dim {d} to have non-zero size.")
    idx = arg(x, axis=d, keepdims=True).astype(_long())
    vals = jnp.take_along_axis(x, idx, axis=d)
    if not keepdim:
        vals, idx = jnp.squeeze(vals, d), jnp.squeeze(idx, d)
    return vals, idx


def _maxmin(name, red, arg, binary):
    def f(x, dim=None, keepdim=False):
        if dim is None:
            _nonempty(x, name)
            return red(x)
        if hasattr(dim, "shape"):  # max(a, b): the elementwise maximum
            return binary(x, dim)
        return _select_along(x, dim, keepdim, arg)

    f.__name__ = name
    return f


op("max", _maxmin("max", jnp.max, jnp.argmax, jnp.maximum), out_type=return_type("max"), promote=True)
op("min", _maxmin("min", jnp.min, jnp.argmin, jnp.minimum), out_type=return_type("min"), promote=True)


def _amax(x, dim=(), keepdim=False):
    return jnp.max(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


def _amin(x, dim=(), keepdim=False):
    return jnp.min(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


op("amax", _amax)
op("amin", _amin)


def _aminmax(x, *, dim=None, keepdim=False):
    return jnp.min(x, axis=_axis(dim, x.ndim), keepdims=keepdim), jnp.max(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


op("aminmax", _aminmax, out_type=MinMax)


def _argmaxmin(arg, name):
    def f(x, dim=None, keepdim=False):
        if x.dtype == jnp.bool_:
            raise RuntimeError(f"{name}(): does not support bool input")
        if dim is None:
            r = arg(x.reshape(-1)).astype(_long())
            return r.reshape((1,) * x.ndim) if keepdim else r
        d = _wrap(dim, x.ndim)
        if x.ndim == 0:
            return jnp.zeros((), _long())
        return arg(x, axis=d, keepdims=keepdim).astype(_long())

    return f


op("argmax", _argmaxmin(jnp.argmax, "argmax"), differentiable=False)
op("argmin", _argmaxmin(jnp.argmin, "argmin"), differentiable=False)


# --------------------------------------------------------------------------- statistics
def _correction(dim, unbiased, correction):
    """Sort out torch's overloads: ``var(x, unbiased)``, ``var(x, dim, unbiased, keepdim)``, ``correction=``."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


def _require_float_var(x, what: str = "std and var"):
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise RuntimeError(f"{what} only support floating point and complex dtypes")


def _var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _require_float_var(x)
    dim, c = _correction(dim, unbiased, correction)
    return jnp.var(x, axis=_axis(dim, x.ndim), ddof=c, keepdims=keepdim)


def _std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _require_float_var(x)
    dim, c = _correction(dim, unbiased, correction)
    # jnp.std is sqrt(var); the root with torch's zero gradient where the spread is 0 (not NaN)
    return _safe_root(jnp.var(x, axis=_axis(dim, x.ndim), ddof=c, keepdims=keepdim), 2)


def _var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _require_float_var(x, "var_mean")
    return _var(x, dim, unbiased, keepdim, correction=correction), _mean(
        x, _correction(dim, unbiased, correction)[0], keepdim
    )


def _std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _require_float_var(x, "std_mean")
    return _std(x, dim, unbiased, keepdim, correction=correction), _mean(
        x, _correction(dim, unbiased, correction)[0], keepdim
    )


op("var", _var)
op("std", _std)
op("var_mean", _var_mean, method=False)
op("std_mean", _std_mean, method=False)


def _safe_root(s, p):
    """``s ** (1/p)`` with a zero gradient at ``s == 0`` (torch's norm/std backward at the origin);
    NaN stays NaN (a norm of a tensor holding NaN is NaN, as in torch)."""
    zero = s == 0
    safe = jnp.where(zero, 1, s)
    r = jnp.sqrt(safe) if p == 2 else safe ** (1.0 / p)
    return jnp.where(zero, jnp.zeros((), r.dtype), r)


def abs0(x):
    """``|x|`` with torch's gradient ``sgn(x)``: 0 at ``x == 0`` (and at a real NaN), where
    ``jnp.abs``'s is 1 (real) or NaN (complex)."""
    if jnp.iscomplexobj(x):
        nz = x != 0
        return jnp.where(nz, jnp.abs(jnp.where(nz, x, 1)), jnp.zeros((), jnp.real(x).dtype))
    return jnp.where(x > 0, x, jnp.where(x < 0, -x, lax.stop_gradient(jnp.abs(x))))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.vector_norm; shared by ``norm``, ``cdist``, ``linalg.norm``. Gradients are
    torch's at zero entries (``sgn(x)``: 0) and at a zero norm (0 where torch masks them)."""
    if dtype is not None:
        x = x.astype(dtype)
    x = _to_float(x)
    ax = _axis(dim, x.ndim)
    if ord == float("inf"):
        return jnp.max(abs0(x), axis=ax, keepdims=keepdim)
    if ord == float("-inf"):
        return jnp.min(abs0(x), axis=ax, keepdims=keepdim)
    if ord == 0:
        return jnp.sum((x != 0).astype(jnp.real(x).dtype), axis=ax, keepdims=keepdim)
    if ord == 1:
        return jnp.sum(abs0(x), axis=ax, keepdims=keepdim)
    if ord == 2:
        return _safe_root(jnp.sum(jnp.real(x * jnp.conj(x)), axis=ax, keepdims=keepdim), 2)
    # |x|^p with no gradient at x == 0 (torch masks it there); a zero entry under p < 0 gives
    # an infinite term, so a norm of 0 whose gradient is 0 (torch's norm^(1-p) factor)
    nz = x != 0
    a = jnp.abs(jnp.where(nz, x, 1))
    zero_term = jnp.zeros((), a.dtype) if ord > 0 else jnp.full((), jnp.inf, a.dtype)
    return _safe_root(jnp.sum(jnp.where(nz, a**ord, zero_term), axis=ax, keepdims=keepdim), ord)


def _norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    if not jnp.issubdtype(x.dtype, jnp.inexact):  # torch's norm is linalg's
        kernel = "linalg.matrix_norm" if p == "nuc" else "linalg.vector_norm"
        raise RuntimeError(f"{kernel}: Expected a floating point or complex tensor as input. Got {_tname(x.dtype)}")
    if p == "nuc":
        axes = (-2, -1) if dim is None else tuple(dim)
        x = _to_float(x)
        s = jnp.linalg.svd(jnp.moveaxis(x, axes, (-2, -1)), compute_uv=False)
        r = jnp.sum(s, axis=-1)
        if keepdim:
            for a in sorted(_wrap(d, x.ndim) for d in axes):
                r = jnp.expand_dims(r, a)
        return r
    if p == "fro" or p is None:
        p = 2
    return vector_norm(x, p, dim, keepdim, dtype=dtype)


op("norm", _norm)


def _logsumexp(x, dim, keepdim=False):
    x = _to_float(x)
    ax = _axis(dim, x.ndim)
    if x.ndim == 0:
        return x
    return jax.scipy.special.logsumexp(x, axis=ax, keepdims=keepdim)


op("logsumexp", _logsumexp)


def _all(x, dim=None, keepdim=False):
    return jnp.all(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


def _any(x, dim=None, keepdim=False):
    return jnp.any(x, axis=_axis(dim, x.ndim), keepdims=keepdim)


op("all", _all, differentiable=False)
op("any", _any, differentiable=False)


def _count_nonzero(x, dim=None):
    return jnp.sum(x != 0, axis=_axis(dim, x.ndim), dtype=_long())


op("count_nonzero", _count_nonzero, differentiable=False)


# --------------------------------------------------------------------------- scans
def _scan_dtype(x, dtype):
    if dtype is not None:
        return x.astype(dtype)
    if _is_int(x):
        return x.astype(_long())
    return x


def _half_acc(scan):
    """A scan of float16/bfloat16 run in float32 with each output rounded back to the half type
    (torch's CPU kernels accumulate half types in float; a half running sum drifts)."""

    def f(x, axis):
        if x.dtype in (jnp.float16, jnp.bfloat16):
            fi = jnp.finfo(x.dtype)
            # the explicit rounding keeps XLA (which may drop a convert pair inside a fused
            # program) from scanning the unrounded float32 values a producer computed
            up = lax.reduce_precision(x.astype(jnp.float32), fi.nexp, fi.nmant)
            return scan(up, axis=axis).astype(x.dtype)
        return scan(x, axis=axis)

    return f


_acc_cumsum, _acc_cumprod = _half_acc(jnp.cumsum), _half_acc(jnp.cumprod)
_acc_cumlogsumexp = _half_acc(lax.cumlogsumexp)


def _cumsum(x, dim, *, dtype=None):
    x = _scan_dtype(x, dtype)
    if x.ndim == 0:
        return x
    return _acc_cumsum(x, axis=_wrap(dim, x.ndim))


def _cumprod(x, dim, *, dtype=None):
    x = _scan_dtype(x, dtype)
    if x.ndim == 0:
        return x
    return _acc_cumprod(x, axis=_wrap(dim, x.ndim))


def _cumext(scan, cmp):
    def f(x, dim):
        if x.ndim == 0:
            return x, jnp.zeros((), _long())
        d = _wrap(dim, x.ndim)
        run = scan(x, axis=d)
        shape = [1] * x.ndim
        shape[d] = x.shape[d]
        pos = jnp.arange(x.shape[d], dtype=_long()).reshape(shape)
        # the latest position that reached the running extreme (torch keeps the last tie)
        cand = jnp.where(cmp(x, run), pos, -1)
        idx = lax.cummax(cand, axis=d)
        return jnp.take_along_axis(x, idx, axis=d), idx

    return f


def _logcumsumexp(x, dim):
    x = _to_float(x)
    if x.ndim == 0:
        return x
    return _acc_cumlogsumexp(x, axis=_wrap(dim, x.ndim))


op("cumsum", _cumsum, inplace=True)
op("cumprod", _cumprod, inplace=True)
op("cummax", _cumext(lax.cummax, lambda x, r: x == r), out_type=return_type("cummax"))
op("cummin", _cumext(lax.cummin, lambda x, r: x == r), out_type=return_type("cummin"))
op("logcumsumexp", _logcumsumexp)


def _softmax(x, dim=None, dtype=None, *, _stacklevel=3):
    if dtype is not None:
        x = x.astype(dtype)
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # torch's legacy implicit dim
    if x.ndim == 0:
        return jnp.ones_like(x)
    return jax.nn.softmax(x, axis=_wrap(dim, x.ndim))


def _log_softmax(x, dim=None, dtype=None, *, _stacklevel=3):
    if dtype is not None:
        x = x.astype(dtype)
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
    if x.ndim == 0:
        return jnp.zeros_like(x)
    return jax.nn.log_softmax(x, axis=_wrap(dim, x.ndim))


op("softmax", _softmax)
op("log_softmax", _log_softmax)


# --------------------------------------------------------------------------- sorting and selection
def _sort(x, dim=-1, descending=False, stable=False):
    if x.ndim == 0:
        return x, jnp.zeros((), _long())
    d = _wrap(dim, x.ndim)
    idx = jnp.argsort(x, axis=d, stable=True, descending=descending).astype(_long())
    return jnp.take_along_axis(x, idx, axis=d), idx


def _argsort(x, dim=-1, descending=False, stable=False):
    return _sort(x, dim, descending, stable)[1]


def _msort(x):
    return _sort(x, 0)[0]


op("sort", _sort, out_type=return_type("sort"))
op("argsort", _argsort, differentiable=False)
op("msort", _msort)


def _topk(x, k, dim=-1, largest=True, sorted=True):
    if x.ndim == 0:
        if k > 1:
            raise RuntimeError("selected index k out of range")
        return x, jnp.zeros((), _long())
    d = _wrap(dim, x.ndim)
    if not 0 <= k <= x.shape[d]:
        raise RuntimeError("selected index k out of range")
    xm = jnp.moveaxis(x, d, -1)
    key = xm if largest else _negate_order(xm)
    _, idx = lax.top_k(key, k)
    idx = jnp.moveaxis(idx.astype(_long()), -1, d)
    return jnp.take_along_axis(x, idx, axis=d), idx


def _negate_order(x):
    """A key that sorts in the reverse order of ``x`` (for ``largest=False``)."""
    if x.dtype == jnp.bool_:
        return ~x
    if jnp.issubdtype(x.dtype, jnp.unsignedinteger):
        return jnp.iinfo(x.dtype).max - x
    if jnp.issubdtype(x.dtype, jnp.integer):
        return ~x  # -x - 1: order-reversing without overflow
    return -x


op("topk", _topk, out_type=return_type("topk"))


def _kthvalue(x, k, dim=-1, keepdim=False):
    if x.ndim == 0:
        return x, jnp.zeros((), _long())
    d = _wrap(dim, x.ndim)
    if not 1 <= k <= x.shape[d]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    idx = jnp.argsort(x, axis=d, stable=True)
    idx = lax.slice_in_dim(idx, k - 1, k, axis=d).astype(_long())
    vals = jnp.take_along_axis(x, idx, axis=d)
    if not keepdim:
        vals, idx = jnp.squeeze(vals, d), jnp.squeeze(idx, d)
    return vals, idx


op("kthvalue", _kthvalue, out_type=return_type("kthvalue"))


def _evenly(flat, m):
    """``m`` (an element of ``flat``) with torch's gradient of a full ``median()``/``nanmedian()``:
    spread evenly over every element equal to it (NaN: over the NaNs), not all to one index.
    The value is exactly ``m``: it only subtracts ``sg(v) - v``, which is +0 (infinite elements
    are left off the gradient: inf - inf)."""
    m = lax.stop_gradient(m)
    mask = (flat == m) | (jnp.isnan(flat) & jnp.isnan(m))
    count = jnp.maximum(jnp.sum(mask), 1).astype(flat.dtype)
    zero = jnp.where(mask & ~jnp.isinf(flat), lax.stop_gradient(flat) - flat, jnp.zeros((), flat.dtype))
    return m - jnp.sum(zero) / count


def _median(x, dim=None, keepdim=False):
    """torch's median is the *lower* median (no averaging); a NaN anywhere in a slice makes it
    NaN (with the first NaN's index), unlike ``nanmedian``."""
    inexact = jnp.issubdtype(x.dtype, jnp.inexact)
    if dim is None:
        _nonempty(x, "median")
        flat = x.reshape(-1)
        m = jnp.take(flat, jnp.argsort(flat, stable=True)[(flat.size - 1) // 2])
        if not inexact:
            return m
        m = jnp.where(jnp.any(jnp.isnan(flat)), jnp.full((), jnp.nan, flat.dtype), m)
        return _evenly(flat, m)
    if x.ndim == 0:
        return x, jnp.zeros((), _long())
    d = _wrap(dim, x.ndim)
    vals, idx = _kthvalue(x, (x.shape[d] - 1) // 2 + 1, d, True)
    if inexact:
        nan = jnp.isnan(x)
        idx = jnp.where(
            jnp.any(nan, axis=d, keepdims=True), jnp.argmax(nan, axis=d, keepdims=True).astype(idx.dtype), idx
        )
        vals = jnp.take_along_axis(x, idx, axis=d)
    if not keepdim:
        vals, idx = jnp.squeeze(vals, d), jnp.squeeze(idx, d)
    return vals, idx


def _nanmedian(x, dim=None, keepdim=False):
    """Lower median over the non-NaN values (NaN only where a slice is all NaN)."""
    if dim is None:
        _nonempty(x, "nanmedian")
        x = x.reshape(-1)
        d = 0
    else:
        if x.ndim == 0:
            return x, jnp.zeros((), _long())
        d = _wrap(dim, x.ndim)
    idx = jnp.argsort(x, axis=d, stable=True)  # NaNs sort last
    n = jnp.sum(~jnp.isnan(x), axis=d, keepdims=True)
    k = jnp.maximum((n - 1) // 2, 0)
    sel = jnp.take_along_axis(idx, k, axis=d).astype(_long())
    vals = jnp.take_along_axis(x, sel, axis=d)
    if dim is None:
        return _evenly(x, vals.reshape(()))
    if not keepdim:
        vals, sel = jnp.squeeze(vals, d), jnp.squeeze(sel, d)
    return vals, sel


op("median", _median, out_type=return_type("median"))
op("nanmedian", _nanmedian, out_type=return_type("nanmedian"))


def _mode(x, dim=-1, keepdim=False):
    """Most frequent value along ``dim`` (smallest on ties) and the last index holding it."""
    if x.ndim == 0:
        return x, jnp.zeros((), _long())
    d = _wrap(dim, x.ndim)
    xm = jnp.moveaxis(x, d, -1)
    n = xm.shape[-1]
    eq = xm[..., :, None] == xm[..., None, :]  # (..., n, n)
    counts = jnp.sum(eq, axis=-1)
    best = jnp.max(counts, axis=-1, keepdims=True)
    # among the most frequent values pick the smallest
    big = jnp.where(counts == best, xm, _max_of(xm.dtype))
    val = jnp.min(big, axis=-1, keepdims=True)
    pos = jnp.arange(n, dtype=_long())
    idx = jnp.max(jnp.where(xm == val, pos, -1), axis=-1, keepdims=True)
    vals = jnp.take_along_axis(xm, idx, axis=-1)
    vals, idx = jnp.moveaxis(vals, -1, d), jnp.moveaxis(idx, -1, d)
    if not keepdim:
        vals, idx = jnp.squeeze(vals, d), jnp.squeeze(idx, d)
    return vals, idx


def _max_of(dt):
    if dt == jnp.bool_:
        return True
    if jnp.issubdtype(dt, jnp.integer):
        return jnp.iinfo(dt).max
    return jnp.inf


op("mode", _mode, out_type=return_type("mode"))


def _quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    _require_float(x, "quantile")
    if dim is None:
        x = x.reshape(-1)
        dim = 0
        r = jnp.quantile(x, q, axis=0, method=interpolation)
        return r
    return jnp.quantile(x, q, axis=_wrap(dim, x.ndim), keepdims=keepdim, method=interpolation)


def _nanquantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    _require_float(x, "nanquantile")
    if dim is None:
        return jnp.nanquantile(x.reshape(-1), q, axis=0, method=interpolation)
    return jnp.nanquantile(x, q, axis=_wrap(dim, x.ndim), keepdims=keepdim, method=interpolation)


op("quantile", _quantile, scalars=(1, "q"))
op("nanquantile", _nanquantile, scalars=(1, "q"))


def _dist(x, y, p=2):
    return vector_norm(x - y, p)


op("dist", _dist, promote=True)


# --------------------------------------------------------------------------- value-dependent shapes
def _no_complex(x, name: str = "unique"):
    if jnp.iscomplexobj(x):
        raise NotImplementedError(f"\"{name}\" not implemented for '{_tname(x.dtype)}'")


def _unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Sorted unique values (or slices along ``dim``) compared with ``==``, as torch does: every
    NaN is a value of its own (NaNs sort last, in their input order)."""
    _no_complex(x)
    if dim is None:
        src = x.reshape(-1, 1)
    else:
        d = _wrap(dim, x.ndim)
        src = jnp.moveaxis(x, d, 0)
        if src.size == 0 and src.shape[0] > 0:
            raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
        src = src.reshape(src.shape[0], math.prod(src.shape[1:]))
    n = src.shape[0]
    key = src
    if jnp.issubdtype(src.dtype, jnp.floating):
        key = jnp.where(src == 0, jnp.zeros((), src.dtype), src)  # -0.0 sorts with 0.0
    # a stable lexicographic sort of the rows (the first column is the primary key)
    order = jnp.lexsort(tuple(key[:, j] for j in reversed(range(key.shape[1])))) if n else jnp.zeros((0,), int)
    srt = src[order]
    keep = jnp.concatenate([jnp.ones((min(n, 1),), bool), jnp.any(srt[1:] != srt[:-1], axis=1)])
    starts = jnp.nonzero(keep)[0]
    u = srt[starts]
    u = u.reshape(-1) if dim is None else jnp.moveaxis(u.reshape((-1,) + x.shape[:d] + x.shape[d + 1 :]), 0, d)
    out = (u,)
    if return_inverse:
        inv = jnp.zeros((n,), _long()).at[order].set((jnp.cumsum(keep) - 1).astype(_long()))
        out += (inv.reshape(x.shape) if dim is None else inv,)
    if return_counts:
        out += (jnp.diff(jnp.append(starts, n)).astype(_long()),)
    return out[0] if len(out) == 1 else out


def _unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    _no_complex(x)
    if dim is None:
        src = x.reshape(-1)
        d = 0
    else:
        d = _wrap(dim, x.ndim)
        src = jnp.moveaxis(x, d, 0)
    n = src.shape[0]
    if n == 0:
        keep = jnp.zeros((0,), bool)
    else:
        ne = src[1:] != src[:-1]
        if ne.ndim > 1:
            ne = jnp.any(ne.reshape(ne.shape[0], -1), axis=1)
        keep = jnp.concatenate([jnp.ones((1,), bool), ne])
    starts = jnp.nonzero(keep)[0]
    u = src[starts]
    if dim is not None:
        u = jnp.moveaxis(u, 0, d)
    out = (u,)
    if return_inverse:
        inv = jnp.cumsum(keep) - 1
        out += ((inv.reshape(x.shape) if dim is None else inv).astype(_long()),)
    if return_counts:
        out += (jnp.diff(jnp.append(starts, n)).astype(_long()),)
    return out[0] if len(out) == 1 else out


op("unique", _unique, eager_only=True, differentiable=False)
op("unique_consecutive", _unique_consecutive, eager_only=True, differentiable=False)
