"""Spatial sampling rows: ``affine_grid`` and ``grid_sample`` (2-D and 3-D), torch's semantics.

A grid holds normalized coordinates in ``[-1, 1]`` (``x`` first); ``align_corners`` says
whether -1 and 1 are the centres (True) or the outer edges (False) of the corner pixels.
Samples out of the input are zeros, the border value, or the reflection (``padding_mode``).
Interpolation is a gather of the neighbours with their weights, so JAX differentiates it
with respect to both the input and the grid, as torch does.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp

from ._registry import op

_P = dict(function=False, method=False)


def _base(n: int, align_corners: bool, dtype):
    """The normalized coordinates of ``n`` pixel positions."""
    if n <= 1:
        return jnp.zeros((max(n, 0),), dtype)
    r = jnp.linspace(-1.0, 1.0, n, dtype=dtype)
    return r if align_corners else r * (n - 1) / n


def _affine_grid(theta, *, size, align_corners):
    """``(N, *spatial, k)`` sample points: the base grid (x, y[, z], 1) times ``theta^T``."""
    spatial = size[2:]
    axes = [_base(s, align_corners, theta.dtype) for s in reversed(spatial)]  # x first
    mesh = jnp.meshgrid(*reversed(axes), indexing="ij")  # in the spatial dims' order
    coords = [m for m in reversed(mesh)] + [jnp.ones_like(mesh[0])]
    base = jnp.stack(coords, axis=-1)  # (*spatial, k + 1)
    return jnp.einsum("...j,nij->n...i", base, theta)


def _unnormalize(c, n: int, align_corners: bool):
    return (c + 1) / 2 * (n - 1) if align_corners else ((c + 1) * n - 1) / 2


def _reflect(c, twice_low: float, twice_high: float):
    if twice_low == twice_high:
        return jnp.zeros_like(c)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    c = jnp.abs(c - low)
    extra = jnp.fmod(c, span)
    flips = jnp.floor(c / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _source(c, n: int, padding_mode: str, align_corners: bool):
    """Pixel coordinate of normalized ``c`` along an axis of ``n`` pixels, after padding."""
    c = _unnormalize(c, n, align_corners)
    if padding_mode == "border":
        c = jnp.clip(c, 0, n - 1)
    elif padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (n - 1)) if align_corners else _reflect(c, -1, 2 * n - 1)
        c = jnp.clip(c, 0, n - 1)
    return c


def _grid_sample(x, grid, *, mode, padding_mode, align_corners):
    nsp = x.ndim - 2
    n, ch = x.shape[:2]
    sizes = x.shape[2:]  # (H, W) or (D, H, W)
    out_sp = grid.shape[1:-1]
    # grid's last axis is (x, y[, z]): x indexes the last spatial dim
    pos = [_source(grid[..., nsp - 1 - d], sizes[d], padding_mode, align_corners) for d in range(nsp)]
    flat = x.reshape(n, ch, -1)
    strides = [math.prod(sizes[d + 1 :]) for d in range(nsp)]

    def gather(idx):  # integer coordinates per spatial dim, each (N, *out_sp)
        valid = jnp.ones(idx[0].shape, bool)
        lin = jnp.zeros(idx[0].shape, jnp.int32)
        for d in range(nsp):
            valid = valid & (idx[d] >= 0) & (idx[d] < sizes[d])
            lin = lin + jnp.clip(idx[d], 0, sizes[d] - 1).astype(jnp.int32) * strides[d]
        vals = jnp.take_along_axis(flat, lin.reshape(n, 1, -1), axis=2).reshape((n, ch) + out_sp)
        return vals * valid[:, None].astype(x.dtype)

    if mode == "nearest":
        return gather([jnp.round(p).astype(jnp.int32) for p in pos])  # (half to even, as torch)
    lo = [jnp.floor(p) for p in pos]
    frac = [p - f for p, f in zip(pos, lo)]
    out = 0
    for corner in itertools.product((0, 1), repeat=nsp):
        w = 1
        for d, c in enumerate(corner):
            w = w * (frac[d] if c else 1 - frac[d])
        out = out + gather([(lo[d] + c).astype(jnp.int32) for d, c in enumerate(corner)]) * w[:, None].astype(x.dtype)
    return out


op("_affine_grid", _affine_grid, **_P)
op("_grid_sample", _grid_sample, **_P)
