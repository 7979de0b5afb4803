"""``F.interpolate(..., antialias=True)`` for ``bilinear`` / ``bicubic`` on 4-D input.

torch resamples each spatial dim separately with a PIL-style filter: a triangle
(bilinear) or Keys' cubic with ``a = -0.5`` (bicubic), its support widened by the
downsampling factor, the taps of each output pixel normalized to sum to one. The
weights depend only on the sizes and scales, so they are built here on the host with
NumPy (repeating torch's float32 index and weight arithmetic, so the taps it picks are
the same) and applied per resized dim as a gather of each output's taps (an index array of
shape (out, K), K the longest window) and their weighted sum, in torch's order; JAX
differentiates that. Only the taps in an output's window are read, so a NaN or inf reaches
the outputs whose windows hold it, as in torch (a dense (out, in) product would spread it
to every output: 0 * NaN is NaN).
A dim whose size does not change is copied, as torch does, whatever the scale.

uint8 input follows torch's fixed-point path: weights rounded to int16 at the largest
precision that fits, an integer sum per pass, rounded and clamped to 0..255 after each
pass. float16/bfloat16 (which torch's CPU kernel refuses) are computed in float32 and
rounded once, as torch's CUDA kernel does.
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._dispatch import dispatch
from .._ops._registry import op

__all__ = ["interpolate_aa"]

# half-width of each filter's support at scale 1 (torch's interp_size / 2)
_HALF = {"bilinear": 1, "bicubic": 2}


def _filter(mode: str, x: np.ndarray, ft) -> np.ndarray:
    """The filter at ``x``, evaluated in ``ft`` as torch's ``aa_filter<scalar_t>``."""
    x = np.abs(x.astype(ft))
    one, zero = ft(1), ft(0)
    if mode == "bilinear":
        return np.where(x < one, one - x, zero).astype(ft)
    a = ft(-0.5)
    near = ((a + ft(2)) * x - (a + ft(3))) * x * x + one
    far = ((a * x - ft(5) * a) * x + ft(8) * a) * x - ft(4) * a
    return np.where(x < one, near, np.where(x < ft(2), far, zero)).astype(ft)


def _taps(n_in: int, n_out: int, mode: str, align_corners: bool, scale, ft):
    """Per output index: first input index, tap count and (normalized) tap weights, in ``ft``."""
    if align_corners:
        s = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
    elif scale is not None and scale > 0:
        s = ft(1.0 / scale)
    else:
        s = ft(n_in) / ft(n_out)
    half = _HALF[mode]
    support = ft(half * float(s)) if s >= 1.0 else ft(half)
    width = int(math.ceil(support)) * 2 + 1
    invscale = ft(1.0 / float(s)) if s >= 1.0 else ft(1.0)
    center = (float(s) * (np.arange(n_out, dtype=np.float64) + 0.5)).astype(ft)
    # float sums, then + 0.5 in double and truncation toward zero (C++'s int64 cast)
    xmin = np.maximum(((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)
    xmax = np.minimum(((center + support).astype(np.float64) + 0.5).astype(np.int64), n_in)
    xsize = np.clip(xmax - xmin, 0, width)
    idx = xmin[:, None] + np.arange(width)[None, :]
    arg = ((idx.astype(ft) - center[:, None]).astype(np.float64) + 0.5) * float(invscale)
    w = np.where(np.arange(width)[None, :] < xsize[:, None], _filter(mode, arg, ft), ft(0)).astype(ft)
    total = np.zeros(n_out, ft)
    for k in range(width):  # torch's running sum, in order
        total = (total + w[:, k]).astype(ft)
    w = np.where(total[:, None] != 0, w / np.where(total == 0, ft(1), total)[:, None], w).astype(ft)
    return xmin, xsize, w


def _banded(xmin, xsize, w):
    """Per output: the input index of each of ``K`` taps (``K`` the longest window), the tap
    weights and whether each tap is in the window. A short window's extra taps repeat its last
    index with weight 0; they are masked out (a 0 weight alone would still turn a NaN there into
    a NaN output, which torch's kernel, reading the window only, does not)."""
    n_out = w.shape[0]
    K = max(int(xsize.max(initial=1)), 1)
    k = np.arange(K)
    real = k[None, :] < xsize[:, None]
    last = xmin + np.maximum(xsize, 1) - 1
    idx = np.minimum(xmin[:, None] + k[None, :], last[:, None]).astype(np.int32)
    w = np.where(real, w[:, :K], 0).astype(w.dtype)
    # each tap's indices rise with the output (xmin and the window's end both do)
    ordered = n_out < 2 or bool(np.all(np.diff(idx, axis=0) >= 0))
    return idx, w, real, ordered


@functools.lru_cache(maxsize=256)
def _float_bands(n_in, n_out, mode, align_corners, scale, ft):
    return _banded(*_taps(n_in, n_out, mode, align_corners, scale, ft))


@functools.lru_cache(maxsize=256)
def _int16_bands(n_in, n_out, mode, align_corners, scale):
    """torch's uint8 weights: double taps scaled by ``2**precision`` and rounded half away
    from zero, ``precision`` the largest (< 22) keeping twice the largest tap under 2**15."""
    xmin, xsize, w = _taps(n_in, n_out, mode, align_corners, scale, np.float64)
    wt_max = max(float(w.max(initial=0.0)), 0.0)
    prec = 0
    while prec < 22 and int(0.5 + wt_max * (1 << (prec + 1))) < (1 << 15):
        prec += 1
    v = w * float(1 << prec)
    q = np.where(v < 0, np.trunc(v - 0.5), np.trunc(v + 0.5)).astype(np.int32)
    return _banded(xmin, xsize, q), prec


def _resize_dims(x, size, bands, exact_order):
    """Which of (H, W) change: W first as torch (its uint8 rounds between the passes),
    else the order with fewer multiply-adds first."""
    (h, w), (oh, ow) = x.shape[-2:], size
    dims = [d for d, (a, b) in ((1, (w, ow)), (0, (h, oh))) if a != b]
    if not exact_order and len(dims) == 2:
        kh, kw = bands[0][0].shape[1], bands[1][0].shape[1]
        if oh * w * kh + oh * ow * kw < h * ow * kw + oh * ow * kh:
            dims.reverse()
    return dims


# longest filter applied tap by tap (in torch's order); longer ones (downscales by more than
# ~8 for bicubic, ~16 for bilinear) are gathered at once and summed, to keep the program small
_UNROLL = 32


def _apply(y, bands, d):
    """Resample spatial dim ``d`` (0: H, 1: W) of ``y``: per output, its taps summed in torch's
    order (first tap first), a tap outside the output's window contributing an exact 0."""
    idx, w, real, ordered = bands
    ax = y.ndim - 2 + d
    # the width moved to the front, so that each tap gathers whole rows (the gather's gradient,
    # a scatter-add, costs about half as much on rows as on single elements)
    yt = jnp.moveaxis(y, ax, 0) if d == 1 else y
    a = 0 if d == 1 else ax
    n_out, taps = idx.shape
    if taps > _UNROLL:  # a long filter (a large downscale): one gather, summed along the taps
        v = yt.at[(slice(None),) * a + (jnp.asarray(idx.reshape(-1)),)].get(mode="promise_in_bounds")
        v = v.reshape(yt.shape[:a] + (n_out, taps) + yt.shape[a + 1 :])
        shape = [1] * v.ndim
        shape[a], shape[a + 1] = n_out, taps
        if jnp.issubdtype(v.dtype, jnp.inexact):
            v = jnp.where(jnp.asarray(real.reshape(shape)), v, jnp.zeros((), v.dtype))
        acc = jnp.sum(v * jnp.asarray(w.reshape(shape)), axis=a + 1)
        return jnp.moveaxis(acc, 0, ax) if d == 1 else acc
    shape = [1] * yt.ndim
    shape[a] = -1
    acc = None
    for k in range(idx.shape[1]):
        pick = (slice(None),) * a + (jnp.asarray(idx[:, k]),)
        v = yt.at[pick].get(mode="promise_in_bounds", indices_are_sorted=ordered)
        if not real[:, k].all() and jnp.issubdtype(v.dtype, jnp.inexact):  # ints hold no NaN
            v = jnp.where(jnp.asarray(real[:, k].reshape(shape)), v, jnp.zeros((), v.dtype))
        t = v * jnp.asarray(w[:, k].reshape(shape))
        acc = t if acc is None else acc + t
    return jnp.moveaxis(acc, 0, ax) if d == 1 else acc


def _interpolate_aa(x, *, size, mode, align_corners, scales):
    ins = x.shape[-2:]
    sc = scales if scales is not None else (None, None)
    if x.dtype == jnp.uint8:
        bands = [_int16_bands(ins[d], size[d], mode, align_corners, sc[d]) for d in (0, 1)]
        y = x.astype(jnp.int32)
        for d in _resize_dims(x, size, [b for b, _ in bands], True):
            b, prec = bands[d]
            y = jnp.clip((_apply(y, b, d) + (1 << (prec - 1))) >> prec, 0, 255)
        return y.astype(jnp.uint8)
    ft = np.float64 if x.dtype == jnp.float64 else np.float32
    ct = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
    bands = [_float_bands(ins[d], size[d], mode, align_corners, sc[d], ft) for d in (0, 1)]
    y = x.astype(ct)
    for d in _resize_dims(x, size, bands, False):
        y = _apply(y, bands[d], d)
    return y.astype(x.dtype)


_AA = op("_interpolate_aa", _interpolate_aa, autocast="interpolate", function=False, method=False)
_AA.family = "nn2"
# torch's names of the dtypes its kernel refuses
_SCALAR_NAMES = {
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "bool": "Bool",
    "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}


def interpolate_aa(input, size, mode, align_corners, scales):
    """Run the antialiased resize of ``(N, C, H, W)`` ``input`` to ``size`` (checked by the caller)."""
    dt = input.dtype
    if dt != _dtypes.uint8 and not _dtypes.is_floating(dt):
        name = _SCALAR_NAMES.get(np.dtype(dt).name, np.dtype(dt).name)
        raise NotImplementedError(f"\"compute_index_ranges_weights\" not implemented for '{name}'")
    return dispatch(
        _AA,
        (input,),
        {
            "size": tuple(size),
            "mode": mode,
            "align_corners": bool(align_corners),
            "scales": None if scales is None else tuple(scales),
        },
    )
