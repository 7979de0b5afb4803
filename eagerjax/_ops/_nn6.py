"""nn rows, part 6: randomized leaky ReLU, power-average pooling, max unpooling, fractional
max pooling, ``pdist`` and the legacy ``CrossMapLRN2d``.

Every row is a pure function of jax arrays and static Python values, library-internal
(``function=False, method=False``) and reached through ``eagerjax.nn._functional6``,
which checks arguments with torch's wording. Gradients come from ``jax.vjp`` of these
functions. ``_rrelu`` is a random row: it takes and returns the generator's key (like
``_dropout``), so eager, compiled and lazy runs draw the same slopes. Index tables are
numpy arrays computed at trace time with torch's index arithmetic.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _dtypes
from .._random import _split
from ._nn2_conv import _abs0, _avg_pool
from ._registry import op

_P = dict(function=False, method=False)


# --------------------------------------------------------------------------- rrelu
def _rrelu(key, x, lower, upper):
    """Training-mode RReLU: ``x`` where ``x > 0``, else ``x * r`` with ``r ~ U(lower, upper)``
    drawn per element (so the gradient at ``x == 0`` is ``r``, as torch's noise gives)."""
    nk, k = _split(key)
    r = jax.random.uniform(k, x.shape, x.dtype, lower, upper)
    return nk, jnp.where(x > 0, x, x * r)


op("_rrelu", _rrelu, scalars=("lower", 2, "upper", 3), **_P)


# --------------------------------------------------------------------------- lp pooling
def _lp_pool(x, *, norm_type, kernel_size, stride, ceil_mode):
    """torch's definition: ``avg_pool(x^p)`` (no padding, torch's divisors), made a sum again by
    multiplying by the kernel volume, then ``sign * relu(|.|)`` and the ``1/p`` power."""
    nsp = len(kernel_size)
    out = _avg_pool(
        x**norm_type,
        kernel_size=kernel_size,
        stride=stride,
        padding=(0,) * nsp,
        ceil_mode=ceil_mode,
        count_include_pad=True,
    )
    vol = math.prod(kernel_size)
    return (lax.stop_gradient(jnp.sign(out)) * jax.nn.relu(_abs0(out)) * vol) ** (1.0 / norm_type)


op("_lp_pool", _lp_pool, **_P)


# --------------------------------------------------------------------------- max unpooling
def _max_unpool(x, indices, *, output_size):
    """Scatter each value of ``x`` to its flat per-plane position ``indices`` in a zero tensor
    of spatial size ``output_size`` (the inverse of max pooling with indices).

    Overlapping pooling windows can name one position twice; torch's gradient then gives each
    value the output's gradient at its position (a gather). A scatter-``set`` would give it to
    one of them only, so the value is the ``set`` and the gradient flows through a
    scatter-``add`` that contributes exactly zero to the value."""
    nsp = len(output_size)
    lead = x.shape[: x.ndim - nsp]
    planes = math.prod(lead)
    total = math.prod(output_size)
    vals = x.reshape(planes, -1)
    idx = indices.reshape(planes, -1).astype(jnp.int32)
    rows = jnp.arange(planes, dtype=jnp.int32)[:, None]
    zeros = jnp.zeros((planes, total), x.dtype)
    out = zeros.at[rows, idx].set(lax.stop_gradient(vals), mode="drop")
    finite = jnp.where(jnp.isfinite(vals), vals, jnp.zeros((), vals.dtype))  # (inf - inf would be NaN)
    summed = zeros.at[rows, idx].add(finite, mode="drop")
    out = out + (summed - lax.stop_gradient(summed))
    return out.reshape(lead + tuple(output_size))


op("_max_unpool", _max_unpool, **_P)


# --------------------------------------------------------------------------- fractional max pooling
# which entry of a plane's ``_random_samples`` row drives each spatial dim (torch: the last
# dim takes sample 0 in 2-D; time, height, width take 0, 1, 2 in 3-D)
_SAMPLE_OF_DIM = {2: (1, 0), 3: (0, 1, 2)}


def _window_starts(u, n: int, o: int, k: int):
    """torch's pseudo-random interval starts for one dim: ``int((i + u) * a) - int(u * a)`` with
    ``a = (n - k) / (o - 1)`` in the input's float type, the last window flush with the end."""
    last = jnp.full(u.shape + (min(o, 1),), n - k, jnp.int32)
    if o <= 1:
        return last
    alpha = jnp.asarray(n - k, u.dtype) / jnp.asarray(o - 1, u.dtype)
    i = jnp.arange(o - 1, dtype=u.dtype)
    seq = ((i + u[..., None]) * alpha).astype(jnp.int32) - (u * alpha).astype(jnp.int32)[..., None]
    return jnp.concatenate([seq, last], axis=-1)


def _fractional_max_pool(x, samples, *, kernel_size, output_size):
    """Fractional max pooling with one pseudo-random interval sequence per plane and dim;
    returns ``(values, flat per-plane argmax indices)`` (first maximum wins)."""
    nsp = len(kernel_size)
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = x[None]
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    u = lax.stop_gradient(samples[:n]).astype(x.dtype)
    strides = [math.prod(spatial[d + 1 :]) for d in range(nsp)]
    flat = jnp.zeros((n, c) + (1,) * (2 * nsp), jnp.int32)
    for d in range(nsp):
        starts = _window_starts(u[..., _SAMPLE_OF_DIM[nsp][d]], spatial[d], output_size[d], kernel_size[d])
        pos = starts[..., :, None] + jnp.arange(kernel_size[d], dtype=jnp.int32)  # (n, c, o_d, k_d)
        shape = [n, c] + [1] * (2 * nsp)
        shape[2 + d] = output_size[d]
        shape[2 + nsp + d] = kernel_size[d]
        flat = flat + pos.reshape(shape) * strides[d]
    win = math.prod(kernel_size)
    flat = jnp.broadcast_to(flat, (n, c) + tuple(output_size) + tuple(kernel_size)).reshape(n, c, -1)
    patches = jnp.take_along_axis(x.reshape(n, c, -1), flat, axis=2).reshape((n, c) + tuple(output_size) + (win,))
    am = jnp.argmax(patches, axis=-1)
    vals = jnp.take_along_axis(patches, am[..., None], axis=-1)[..., 0]
    idx = jnp.take_along_axis(flat.reshape(patches.shape), am[..., None], axis=-1)[..., 0]
    idx = lax.stop_gradient(idx).astype(_dtypes.int64)
    if unbatched:
        return vals[0], idx[0]
    return vals, idx


op("_fractional_max_pool", _fractional_max_pool, **_P)


# --------------------------------------------------------------------------- pdist
def _pdist(x, *, p):
    """The ``p``-norm distance of every pair of rows ``i < j`` (row-major upper triangle). A zero
    distance has gradient 0, as torch's ``pdist`` backward gives."""
    i, j = np.triu_indices(x.shape[0], 1)
    d = x[i] - x[j]
    if p == 0:
        return jnp.sum(d != 0, axis=-1).astype(x.dtype)
    if p == math.inf:
        return jnp.max(_abs0(d), axis=-1, initial=0.0).astype(x.dtype)
    if p == 1:
        return jnp.sum(_abs0(d), axis=-1)
    s = jnp.sum(d * d, axis=-1) if p == 2 else jnp.sum(_abs0(d) ** p, axis=-1)
    pos = s > 0
    safe = jnp.where(pos, s, jnp.ones((), s.dtype))
    root = jnp.sqrt(safe) if p == 2 else safe ** (1.0 / p)
    return jnp.where(pos, root, jnp.zeros((), s.dtype))


op("_pdist", _pdist, **_P)


# --------------------------------------------------------------------------- CrossMapLRN2d
def _cross_map_table(c: int, size: int) -> np.ndarray:
    """For each channel, the channels its legacy running sum holds (``c`` marks padding).

    torch's loop adds channel ``ch + pre - 1`` and removes channel ``ch - pre`` only for
    ``ch > pre``, so channel 0 is never removed: every channel's sum includes it."""
    pre = int((size - 1) / 2 + 1)
    rows = []
    for ch in range(c):
        lo, hi = max(1, ch - pre + 1), min(ch + pre - 1, c - 1)
        rows.append([0] + list(range(lo, hi + 1)))
    width = max(len(r) for r in rows)
    return np.array([r + [c] * (width - len(r)) for r in rows], np.int32)


def _cross_map_lrn(x, *, size, alpha, beta, k):
    """``x * (k + alpha / size * S)^-beta``, ``S`` the legacy cross-channel sum of squares."""
    c = x.shape[1]
    sq = x * x
    sq = jnp.concatenate([sq, jnp.zeros(sq.shape[:1] + (1,) + sq.shape[2:], sq.dtype)], axis=1)
    table = _cross_map_table(c, size)
    s = jnp.sum(jnp.take(sq, jnp.asarray(table.reshape(-1)), axis=1).reshape(
        (x.shape[0], c, table.shape[1]) + x.shape[2:]), axis=2)  # fmt: skip
    scale = s * (alpha / size) + k
    return scale ** (-beta) * x


op("_cross_map_lrn", _cross_map_lrn, **_P)
