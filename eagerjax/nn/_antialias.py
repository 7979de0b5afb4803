"""``F.interpolate(..., antialias=True)`` for ``bilinear`` / ``bicubic`` on 4-D input.

torch resamples each spatial dim separately with a PIL-style filter: a triangle
(bilinear) or Keys' cubic with ``a = -0.5`` (bicubic), its support widened by the
downsampling factor, the taps of each output pixel normalized to sum to one. The
weights depend only on the sizes and scales, so they are built here on the host with
NumPy (repeating torch's float32 index and weight arithmetic, so the taps it picks are
the same) and applied as one matrix product per resized dim; JAX differentiates that.
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


def _dense(n_in, xmin, xsize, w) -> np.ndarray:
    """The (n_out, n_in) matrix holding each output's taps."""
    n_out, width = w.shape
    m = np.zeros((n_out, n_in), w.dtype)
    rows, cols = np.nonzero(np.arange(width)[None, :] < xsize[:, None])
    m[rows, xmin[rows] + cols] = w[rows, cols]
    return m


@functools.lru_cache(maxsize=256)
def _float_matrix(n_in, n_out, mode, align_corners, scale, ft) -> np.ndarray:
    return _dense(n_in, *_taps(n_in, n_out, mode, align_corners, scale, ft))


@functools.lru_cache(maxsize=256)
def _int16_matrix(n_in, n_out, mode, align_corners, scale) -> tuple[np.ndarray, int]:
    """torch's uint8 weights: double taps scaled by ``2**precision`` and rounded half away
    from zero, ``precision`` the largest (< 22) keeping twice the largest tap under 2**15."""
    xmin, xsize, w = _taps(n_in, n_out, mode, align_corners, scale, np.float64)
    wt_max = max(float(w.max(initial=0.0)), 0.0)
    prec = 0
    while prec < 22 and int(0.5 + wt_max * (1 << (prec + 1))) < (1 << 15):
        prec += 1
    v = w * float(1 << prec)
    q = np.where(v < 0, np.trunc(v - 0.5), np.trunc(v + 0.5)).astype(np.int32)
    return _dense(n_in, xmin, xsize, q), prec


def _resize_dims(x, size, exact_order):
    """Which of (H, W) change: W first as torch (its uint8 rounds between the passes),
    else the order with the cheaper products first."""
    (h, w), (oh, ow) = x.shape[-2:], size
    dims = [d for d, (a, b) in ((1, (w, ow)), (0, (h, oh))) if a != b]
    if not exact_order and len(dims) == 2 and h * w * oh + oh * w * ow < h * w * ow + h * ow * oh:
        dims.reverse()
    return dims


def _apply(y, m, d):
    """Contract spatial dim ``d`` (0: H, 1: W) of ``y`` with ``m`` (out, in)."""
    if d == 1:
        return jnp.einsum("...hw,ow->...ho", y, m)
    return jnp.einsum("...hw,oh->...ow", y, m)


def _interpolate_aa(x, *, size, mode, align_corners, scales):
    ins = x.shape[-2:]
    sc = scales if scales is not None else (None, None)
    dims = _resize_dims(x, size, x.dtype == jnp.uint8)
    if x.dtype == jnp.uint8:
        y = x.astype(jnp.int32)
        for d in dims:
            m, prec = _int16_matrix(ins[d], size[d], mode, align_corners, sc[d])
            acc = _apply(y, jnp.asarray(m), d)
            y = jnp.clip((acc + (1 << (prec - 1))) >> prec, 0, 255)
        return y.astype(jnp.uint8)
    ft = np.float64 if x.dtype == jnp.float64 else np.float32
    ct = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
    y = x.astype(ct)
    for d in dims:
        y = _apply(y, jnp.asarray(_float_matrix(ins[d], size[d], mode, align_corners, sc[d], ft)), d)
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
