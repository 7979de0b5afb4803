"""Statistics and numerical-calculus rows: ``cov``, ``corrcoef``, ``histogram``, ``isin``,
``frexp``, ``trapezoid`` / ``trapz`` / ``cumulative_trapezoid``, ``gradient``, ``vander``
(and ``linalg.vander``), ``diagflat``, ``renorm``, ``unravel_index`` and the deprecated
``nuclear_norm`` / ``frobenius_norm``.

Every output shape here is a function of the input shapes and static arguments (a
``histogram`` with ``bins`` edges or an int count has static shapes), so all rows run
under ``ej.compile`` and ``ej.lazy()``. Integer inputs of the floating-point results
(``cov``, ``trapezoid``, ``gradient``) are promoted to float32, as torch's default dtype.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._dispatch import dispatch
from .._generate import functional
from .._tensor import Tensor
from ._linalg import _matrix_norm
from ._reduction import _long, _tname, _to_float, _wrap, return_type, vector_norm
from ._registry import op


# --------------------------------------------------------------------------- cov / corrcoef
def _weights(w, name: str, n: int, integral: bool):
    if w.ndim > 1:
        raise RuntimeError(
            f"cov(): expected {name} to have one or fewer dimensions but got {name} with {w.ndim} dimensions"
        )
    is_int = jnp.issubdtype(w.dtype, jnp.integer)
    if integral and not is_int:
        raise RuntimeError(f"cov(): expected {name} to have integral dtype but got {name} with {_tname(w.dtype)} dtype")
    if not integral and not jnp.issubdtype(w.dtype, jnp.floating):
        raise RuntimeError(
            f"cov(): expected {name} to have floating point dtype but got {name} with {_tname(w.dtype)} dtype"
        )
    if w.size != n:
        raise RuntimeError(
            f"cov(): expected {name} to have the same numel as there are observations in the input but got "
            f"{w.size} != {n}"
        )


def _cov(x, *, correction=1, fweights=None, aweights=None):
    """Covariance of the rows of ``x`` (variables) over its columns (observations).

    The normalizer is torch's: N - correction without weights; with weights w = fw * aw,
    sum(w) - correction * sum(w * aw) / sum(w) (sum(w) - correction without ``aweights``),
    clamped at 0 (a non-positive normalizer gives inf/NaN, as in torch)."""
    if x.ndim > 2:
        raise RuntimeError(
            f"cov(): expected input to have two or fewer dimensions but got an input with {x.ndim} dimensions"
        )
    x = _to_float(x)
    obs = x.reshape(1, -1) if x.ndim < 2 else x
    n = obs.shape[1]
    w = None
    if fweights is not None:
        _weights(fweights, "fweights", n, True)
        w = fweights.reshape(-1)
    if aweights is not None:
        _weights(aweights, "aweights", n, False)
        a = aweights.reshape(-1)
        w = a if w is None else w * a
    real = jnp.zeros((), x.dtype).real.dtype
    if w is None:
        avg = jnp.mean(obs, axis=1)
        norm = jnp.asarray(n - correction, real)
    else:
        w = w.astype(real)
        wsum = jnp.sum(w)
        avg = jnp.sum(obs * w, axis=1) / wsum
        if correction == 0:
            norm = wsum
        elif aweights is None:
            norm = wsum - correction
        else:
            norm = wsum - correction * jnp.sum(w * aweights.reshape(-1).astype(real)) / wsum
    norm = jnp.maximum(norm, 0)
    xm = obs - avg[:, None]
    xw = xm if w is None else xm * w
    c = jnp.matmul(xw, jnp.conj(xm).T) / norm
    return c.reshape(()) if x.ndim < 2 else c


def _check_cov(x, *, correction=1, fweights=None, aweights=None) -> None:
    """torch's value checks of the weights (eager only: a host read)."""
    for w, name in ((fweights, "fweights"), (aweights, "aweights")):
        if isinstance(w, Tensor) and w.numel() and bool((np.asarray(w._value) < 0).any()):
            raise RuntimeError(f"cov(): {name} cannot be negative")


def _corrcoef(x):
    if x.ndim > 2:
        raise RuntimeError(
            f"corrcoef(): expected input to have two or fewer dimensions but got an input with {x.ndim} dimensions"
        )
    c = _cov(x)
    if c.ndim == 0:
        return c / c
    d = jnp.diagonal(c)
    sd = jnp.sqrt(jnp.real(d))
    c = c / sd[:, None] / sd[None, :]
    # rounding can push |c| past 1: torch clips the real (and imaginary) parts to [-1, 1]
    if jnp.iscomplexobj(c):
        return jnp.clip(c.real, -1, 1) + 1j * jnp.clip(c.imag, -1, 1)
    return jnp.clip(c, -1, 1)


op("cov", _cov, check=_check_cov)
op("corrcoef", _corrcoef)


# --------------------------------------------------------------------------- histogram, isin
Histogram = return_type("histogram", ("hist", "bin_edges"))


def _dim_bins(col, d, nbins, lo_hi):
    """``(edges, bin index, bin count, inside)`` of the values ``col`` along dimension ``d``
    (``histogram``'s one, ``histogramdd``'s each): an int ``nbins`` makes equal bins over
    ``lo_hi`` (the data's min..max by default, widened by 0.5 each side when they coincide), a
    tensor gives the edges; the last bin includes its right edge."""
    if isinstance(nbins, int):
        if nbins <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {nbins} for dimension {d}")
        if lo_hi is not None:
            if lo_hi[0] > lo_hi[1]:
                raise RuntimeError(
                    f"torch.histogramdd(): leftmost edge {lo_hi[0]:g} of dimension {d} must be less than or equal "
                    f"to rightmost edge {lo_hi[1]:g} of dimension {d}"
                )
            lo, hi = jnp.asarray(lo_hi[0], col.dtype), jnp.asarray(lo_hi[1], col.dtype)
        elif col.size:
            lo, hi = jnp.min(col), jnp.max(col)
        else:
            lo, hi = jnp.asarray(0, col.dtype), jnp.asarray(1, col.dtype)
        same = lo == hi
        lo, hi = jnp.where(same, lo - 0.5, lo), jnp.where(same, hi + 0.5, hi)
        edges = jnp.linspace(lo, hi, nbins + 1).astype(col.dtype)
        pos = jnp.floor((col - lo) * nbins / (hi - lo)).astype(jnp.int32)
        nb = nbins
    else:
        if nbins.ndim != 1:
            raise RuntimeError(f"torch.histogramdd(): bins tensor should have one dimension, but got {nbins.ndim}")
        edges = nbins.astype(col.dtype)
        nb = edges.shape[0] - 1
        lo, hi = edges[0], edges[-1]
        pos = jnp.searchsorted(edges, col, side="right").astype(jnp.int32) - 1
    pos = jnp.clip(jnp.where(col == hi, nb - 1, pos), 0, max(nb - 1, 0))
    return edges, pos, nb, (col >= lo) & (col <= hi)


def _histogram(x, bins, *, range=None, weight=None, density=False):  # noqa: A002 - torch's keyword
    """``(hist, bin_edges)``: an int ``bins`` makes equal bins over ``range`` (the data's
    min..max by default, widened by 0.5 each side when they coincide); a tensor ``bins`` gives
    the edges. Values outside the edges are dropped; the last bin includes its right edge."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_tname(x.dtype)}'")
    flat = x.reshape(-1)
    if isinstance(bins, int) and bins <= 0:
        raise RuntimeError(f"torch.histogramdd(): number of bins must be positive, but got {bins}")
    edges, pos, nb, inside = _dim_bins(flat, 0, bins, range)
    w = jnp.ones_like(flat) if weight is None else weight.reshape(-1).astype(x.dtype)
    hist = jnp.zeros((nb,), x.dtype).at[pos].add(jnp.where(inside, w, 0))
    if density:
        hist = hist / (jnp.sum(hist) * jnp.diff(edges))
    return hist, edges


op("histogram", _histogram, out_type=Histogram, differentiable=False)


def _isin(elements, test_elements, *, assume_unique=False, invert=False):
    e, t = jnp.asarray(elements), jnp.asarray(test_elements)
    # (a compare of every pair: static shapes, no sort; torch's answer for any assume_unique)
    hit = jnp.any(e[..., None] == t.reshape(-1), axis=-1) if t.size else jnp.zeros(e.shape, bool)
    return ~hit if invert else hit


op("isin", _isin, method=False, differentiable=False, scalars=(0, 1, "elements", "test_elements"))


# --------------------------------------------------------------------------- frexp, diagflat, vander
def _frexp(x):
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, e = jnp.frexp(x)
    return m, e.astype(jnp.int32)


op("frexp", _frexp, out_type=return_type("frexp", ("mantissa", "exponent")))
op("diagflat", lambda x, offset=0: jnp.diagflat(x.reshape(-1), offset))


def _powers(x, n: int):
    """x ** [0, 1, ..., n-1] along a new last axis, by cumulative products (torch's order:
    the gradient at x == 0 is the polynomial's, not pow's NaN)."""
    if n == 0:
        return jnp.zeros(x.shape + (0,), x.dtype)
    ones = jnp.ones(x.shape + (1,), x.dtype)
    if n == 1:
        return ones
    reps = jnp.broadcast_to(x[..., None], x.shape + (n - 1,))
    return jnp.concatenate([ones, jnp.cumprod(reps, axis=-1)], axis=-1)


def _promote_int(x):
    return x.astype(_long()) if x.dtype == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.integer) else x


def _vander(x, N=None, increasing=False):
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    v = _powers(_promote_int(x), n)
    return v if increasing else v[..., ::-1]


def _linalg_vander(x, *, N=None):
    if x.ndim == 0:
        raise RuntimeError("linalg.vander: x must have at least one dimension. Got a 0-dimensional tensor.")
    n = x.shape[-1] if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    return _powers(_promote_int(x), n)


op("vander", _vander, method=False)
op("linalg_vander", _linalg_vander, function=False, method=False, namespaces=("linalg",))


# --------------------------------------------------------------------------- renorm, norms
def _renorm(x, p, dim, maxnorm):
    """Each slice ``x.select(dim, i)`` whose p-norm exceeds ``maxnorm`` scaled to norm maxnorm
    (torch's factor ``maxnorm / (norm + 1e-7)``)."""
    if not p > 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm:g}")
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise RuntimeError(f"\"renorm_out\" not implemented for '{_tname(x.dtype)}'")
    d = _wrap(dim, x.ndim)
    others = tuple(k for k in range(x.ndim) if k != d)
    norm = vector_norm(x, p, others, True)
    factor = jnp.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1).astype(x.dtype)
    return x * factor


op("renorm", _renorm, inplace=True)


def _nuclear_norm(x, dim=None, keepdim=False):
    if isinstance(dim, bool):  # torch's overload nuclear_norm(input, keepdim)
        dim, keepdim = None, dim
    if dim is None and x.ndim != 2:
        raise RuntimeError(f"Expected a tensor with 2 dimensions, but got a tensor with {x.ndim} dimensions instead.")
    return _matrix_norm(x, "nuc", (-2, -1) if dim is None else tuple(dim), keepdim)


def _frobenius_norm(x, dim, keepdim=False):
    dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    if len(dims) > 2:
        raise RuntimeError(f"Expected at most 2 dimensions, but got {len(dims)} dimensions instead.")
    return vector_norm(x, 2, dims, keepdim)


op("nuclear_norm", _nuclear_norm, method=False)
op("frobenius_norm", _frobenius_norm, method=False)


# --------------------------------------------------------------------------- unravel_index
def _torch_dtype(dt) -> str:
    return f"torch.{jnp.dtype(dt).name}"


def _unravel_index(indices, shape):
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"expected 'indices' to be integer dtype, but got {_torch_dtype(indices.dtype)}")
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(s < 0 for s in dims):
        raise ValueError(f"'shape' cannot have negative values, but got {dims}")
    idx = indices.astype(_long())
    out = []
    for s in reversed(dims):  # floor division: -1 is the last element, as in torch
        out.append(idx % s if s else idx)
        idx = idx // s if s else idx
    return tuple(reversed(out))


op("unravel_index", _unravel_index, method=False, differentiable=False)


# --------------------------------------------------------------------------- trapezoid & co
def _trapz_parts(y, x, dx, dim):
    """The per-interval areas along ``dim`` (moved last): ``(y[i] + y[i+1]) / 2 * dx_i``."""
    y = _to_float(y)
    d = _wrap(dim, y.ndim)
    y = jnp.moveaxis(y, d, -1)
    mid = (y[..., 1:] + y[..., :-1]) / 2
    if x is None:
        return mid * (1 if dx is None else dx), d
    x = _to_float(x)
    if x.ndim == 1:
        if x.shape[0] != y.shape[-1]:
            raise RuntimeError("trapezoid: There must be one `x` value for each sample point")
        steps = jnp.diff(x)
    else:
        steps = jnp.diff(jnp.moveaxis(x, _wrap(dim, x.ndim), -1), axis=-1)
    return mid * steps, d


def _trapezoid(y, x=None, *, dx=None, dim=-1):
    parts, _ = _trapz_parts(y, x, dx, dim)
    return jnp.sum(parts, axis=-1)


def _trapz(y, x=None, *, dx=1, dim=-1):
    return _trapezoid(y, x, dx=dx if x is None else None, dim=dim)


def _cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    parts, d = _trapz_parts(y, x, dx, dim)
    return jnp.moveaxis(jnp.cumsum(parts, axis=-1), -1, d)


op("trapezoid", _trapezoid, method=False)
op("trapz", _trapz, method=False)
op("cumulative_trapezoid", _cumulative_trapezoid, method=False)


# --------------------------------------------------------------------------- gradient
def _edge_diffs(f, h, edge_order):
    """Derivative of ``f`` along its last axis at the sample coordinates ``h`` (a 1-d array of
    coordinates) or with the uniform spacing ``h`` (a number): second-order central
    differences inside, ``edge_order`` one-sided ones at both ends (NumPy's/torch's formulas)."""
    if not hasattr(h, "ndim") or h.ndim == 0:
        inner = (f[..., 2:] - f[..., :-2]) / (2 * h)
        if edge_order == 1:
            first = (f[..., 1:2] - f[..., :1]) / h
            last = (f[..., -1:] - f[..., -2:-1]) / h
        else:
            first = (-1.5 * f[..., :1] + 2 * f[..., 1:2] - 0.5 * f[..., 2:3]) / h
            last = (0.5 * f[..., -3:-2] - 2 * f[..., -2:-1] + 1.5 * f[..., -1:]) / h
        return jnp.concatenate([first, inner, last], axis=-1)
    dx = jnp.diff(h).astype(f.dtype)
    a, b = dx[:-1], dx[1:]
    inner = (-b / (a * (a + b))) * f[..., :-2] + ((b - a) / (a * b)) * f[..., 1:-1] + (a / (b * (a + b))) * f[..., 2:]
    if edge_order == 1:
        first = (f[..., 1:2] - f[..., :1]) / dx[0]
        last = (f[..., -1:] - f[..., -2:-1]) / dx[-1]
    else:
        d1, d2 = dx[0], dx[1]
        first = (
            -(2 * d1 + d2) / (d1 * (d1 + d2)) * f[..., :1]
            + (d1 + d2) / (d1 * d2) * f[..., 1:2]
            - d1 / (d2 * (d1 + d2)) * f[..., 2:3]
        )
        d1, d2 = dx[-2], dx[-1]
        last = (
            d2 / (d1 * (d1 + d2)) * f[..., -3:-2]
            - (d1 + d2) / (d1 * d2) * f[..., -2:-1]
            + (2 * d2 + d1) / (d2 * (d1 + d2)) * f[..., -1:]
        )
    return jnp.concatenate([first, inner, last], axis=-1)


def _gradient(f, spacing=1, dim=None, edge_order=1):
    """``torch.gradient``: one tensor per dim in ``dim`` (every dim by default). ``spacing`` is
    one number for all dims, a list of numbers, or a list of 1-d coordinate tensors."""
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = list(range(f.ndim)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    dims = [_wrap(d, f.ndim) for d in dims]
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(dims):
            raise RuntimeError(
                f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim arguments to "
                f"have the same length, but got a spacing argument of length {len(spacing)} and a dim argument of "
                f"length {len(dims)}."
            )
        hs = list(spacing)
    else:
        hs = [spacing] * len(dims)
    f = _to_float(f)
    for d in dims:
        if f.shape[d] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
    out = []
    for d, h in zip(dims, hs):
        if hasattr(h, "ndim") and h.ndim == 1 and h.shape[0] != f.shape[d]:
            raise RuntimeError(
                f"torch.gradient expected each tensor to be on the same device and to have one coordinate per "
                f"element of dimension {d}, but got {h.shape[0]} coordinates for {f.shape[d]} elements"
            )
        g = _edge_diffs(jnp.moveaxis(f, d, -1), h, edge_order)
        out.append(jnp.moveaxis(g, -1, d))
    return tuple(out)


# The row takes ``spacing`` positionally: a list of coordinate tensors is a list of operands
# only in a positional slot (keyword values are static), so the public function moves it.
_GRADIENT = op("gradient", _gradient, function=False, method=False)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple[Tensor, ...]:  # noqa: A002
    """torch.gradient: central differences of ``input`` along each dim in ``dim``, one tensor per dim."""
    return dispatch(_GRADIENT, (input, spacing), {"dim": dim, "edge_order": edge_order})


functional.gradient = gradient
