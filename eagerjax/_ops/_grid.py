"""Spatial sampling rows: ``affine_grid`` and ``grid_sample`` (2-D and 3-D), torch's semantics.

A grid holds normalized coordinates in ``[-1, 1]`` (``x`` first); ``align_corners`` says
whether -1 and 1 are the centres (True) or the outer edges (False) of the corner pixels.
Samples out of the input are zeros, the border value, or the reflection (``padding_mode``).
Interpolation is a gather of the neighbours with their weights (2 per axis for bilinear, 4
for bicubic, 2-D only), so JAX differentiates it with respect to both the input and the grid,
as torch does. The padding's clip passes the grid's gradient only strictly inside the input
(at the bounds and beyond it is zero, as in torch); bicubic pads each tap's integer
coordinate, so its grid gradient comes from the cubic weights alone, as in torch.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from ._registry import op

_P = dict(function=False, method=False)


def _base(n: int, align_corners: bool, dtype):
    """The normalized coordinates of ``n`` pixel positions, rounded as torch's ``linspace``
    rounds them (its first half counts up from -1, its second half down from 1; float32 steps
    with one rounding each), so points that land on pixel centres floor as they do in torch."""
    dt = np.dtype(dtype)
    if n <= 1:
        return jnp.zeros((max(n, 0),), dtype)
    i = np.arange(n)
    half = i < n // 2
    if dt == np.float32:
        step = np.float64(np.float32(2) / np.float32(n - 1))
        r = np.where(half, -1 + step * i, 1 - step * (n - 1 - i)).astype(np.float32)
        if not align_corners:
            r = (r * np.float32(n - 1)).astype(np.float32) / np.float32(n)
    else:  # 16-bit types: each product and sum rounded to the type (computed in float32)
        f32 = np.float32
        step = f32(f32(2) / f32(n - 1)).astype(dt).astype(f32)
        k = np.where(half, i, n - 1 - i).astype(f32)
        off = (step * k).astype(dt).astype(f32)
        r = np.where(half, -1 + off, 1 - off).astype(dt)
        if not align_corners:
            r = (r.astype(f32) * f32(n - 1)).astype(dt)
            r = (r.astype(f32) / f32(n)).astype(dt)
    return jnp.asarray(r.astype(dt))


def _affine_grid(theta, *, size, align_corners):
    """``(N, *spatial, k)`` sample points: the base grid (x, y[, z], 1) times ``theta^T``."""
    spatial = size[2:]
    axes = [_base(s, align_corners, theta.dtype) for s in reversed(spatial)]  # x first
    mesh = jnp.meshgrid(*reversed(axes), indexing="ij")  # in the spatial dims' order
    coords = [m for m in reversed(mesh)] + [jnp.ones_like(mesh[0])]  # (x, y[, z], 1)
    th = theta.reshape(theta.shape[:1] + (1,) * len(spatial) + theta.shape[1:])  # (N, 1.., k, k + 1)
    out = 0
    # summed in torch's order (XLA may fuse a product and a sum into an FMA: an ulp off torch
    # for a general theta, exact where theta's products are, as for the identity)
    for j, c in enumerate(coords):
        out = out + c[..., None] * th[..., j]
    return out


def _unnormalize(c, n: int, align_corners: bool):
    return (c + 1) / 2 * (n - 1) if align_corners else ((c + 1) * n - 1) / 2


def _clip(c, n: int):
    """``c`` clipped to ``[0, n - 1]``; its gradient passes only strictly inside (torch counts
    the bounds themselves as out of bounds for the gradient)."""
    inside = (c > 0) & (c < n - 1)
    return jnp.where(inside, c, lax.stop_gradient(jnp.clip(c, 0, n - 1)))


def _reflect(c, twice_low: int, twice_high: int):
    """``c`` reflected into ``[twice_low / 2, twice_high / 2]``; the gradient is +1 or -1 by the
    parity of the flips (the boundaries themselves are settled by the clip that follows)."""
    if twice_low == twice_high:
        return lax.stop_gradient(jnp.zeros_like(c))
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    c = jnp.abs(c - low)
    extra = jnp.fmod(c, span)
    flips = lax.stop_gradient(jnp.floor(c / span))
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _pad(c, n: int, padding_mode: str, align_corners: bool):
    """Pixel coordinate ``c`` after ``padding_mode`` (zeros leaves it as it is)."""
    if padding_mode == "border":
        return _clip(c, n)
    if padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (n - 1)) if align_corners else _reflect(c, -1, 2 * n - 1)
        return _clip(c, n)
    return c


def _cubic_weights(t, a: float = -0.75):
    """The four cubic-convolution weights (Keys, ``a = -0.75``) of taps at -1, 0, 1, 2 from the
    floor, for the fraction ``t``."""

    def near(s):  # |s| <= 1
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s):  # 1 < |s| < 2
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _grid_sample(x, grid, *, mode, padding_mode, align_corners):
    nsp = x.ndim - 2
    n, ch = x.shape[:2]
    sizes = x.shape[2:]  # (H, W) or (D, H, W)
    out_sp = grid.shape[1:-1]
    # grid's last axis is (x, y[, z]): x indexes the last spatial dim
    raw = [_unnormalize(grid[..., nsp - 1 - d], sizes[d], align_corners) for d in range(nsp)]
    flat = x.reshape(n, ch, -1)
    strides = [math.prod(sizes[d + 1 :]) for d in range(nsp)]

    def gather(idx):  # integer-valued coordinates per spatial dim, each (N, *out_sp)
        valid = jnp.ones(idx[0].shape, bool)
        lin = jnp.zeros(idx[0].shape, jnp.int32)
        for d in range(nsp):
            i = lax.stop_gradient(idx[d])
            valid = valid & (i >= 0) & (i < sizes[d])
            lin = lin + jnp.clip(i, 0, sizes[d] - 1).astype(jnp.int32) * strides[d]
        vals = jnp.take_along_axis(flat, lin.reshape(n, 1, -1), axis=2).reshape((n, ch) + out_sp)
        return vals * valid[:, None].astype(x.dtype)

    if mode == "bicubic":
        # the fraction comes from the unpadded coordinate; each of the 16 taps is padded on its own
        lo = [jnp.floor(p) for p in raw]
        wy, wx = (_cubic_weights(p - f) for p, f in zip(raw, lo))
        tap_y = [_pad(lo[0] + k - 1, sizes[0], padding_mode, align_corners) for k in range(4)]
        tap_x = [_pad(lo[1] + k - 1, sizes[1], padding_mode, align_corners) for k in range(4)]
        out = 0
        for i in range(4):
            row = 0
            for j in range(4):
                row = row + gather([tap_y[i], tap_x[j]]) * wx[j][:, None].astype(x.dtype)
            out = out + row * wy[i][:, None].astype(x.dtype)
        return out
    pos = [_pad(r, sizes[d], padding_mode, align_corners) for d, r in enumerate(raw)]
    if mode == "nearest":
        return gather([jnp.round(p) for p in pos])  # (half to even, as torch)
    lo = [jnp.floor(p) for p in pos]
    frac = [p - f for p, f in zip(pos, lo)]
    out = 0
    for corner in itertools.product((0, 1), repeat=nsp):
        w = 1
        for d, c in enumerate(corner):
            w = w * (frac[d] if c else 1 - frac[d])
        out = out + gather([lo[d] + c for d, c in enumerate(corner)]) * w[:, None].astype(x.dtype)
    return out


op("_affine_grid", _affine_grid, **_P)
op("_grid_sample", _grid_sample, **_P)
