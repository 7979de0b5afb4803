"""nn rows, part 3: instance norm, pixel (un)shuffle, embedding bag and one step of a
recurrent cell.

Each row reuses the math of an existing row so the numbers agree with the layers
built on it: instance norm is ``_batch_norm`` on the ``(1, N*C, *)`` view (torch's
own definition), the embedding-bag lookup is ``_embedding`` (so
``scale_grad_by_freq`` behaves the same), and a recurrent cell is one step of the
``_rnn`` row's Flax-cell scan (torch's gate order i,f,g,o / r,z,n).

Rows are library-internal (``function=False, method=False``); the public forms
with torch's argument checks live in ``eagerjax.nn._functional3``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._autocast import rnn_cell_name
from ._nn import _batch_norm
from ._nn2 import _embedding
from ._nn_seq import _direction
from ._registry import op

_P = dict(function=False, method=False)


# --------------------------------------------------------------------------- instance norm
def _instance_norm(x, running_mean, running_var, weight, bias, momentum, *, use_input_stats, eps):
    """Batch norm of the ``(1, N*C, *)`` view; the new running statistics are the mean over
    the batch of the per-instance updates (torch's rule). Returns ``(y,)`` or ``(y, mean, var)``."""
    n, c = x.shape[0], x.shape[1]

    def rep(t):
        return None if t is None else jnp.tile(t, n)

    outs = _batch_norm(
        x.reshape((1, n * c) + x.shape[2:]),
        rep(running_mean),
        rep(running_var),
        rep(weight),
        rep(bias),
        None,
        momentum,
        training=use_input_stats,
        eps=eps,
        cumulative=False,
    )
    y = outs[0].reshape(x.shape)
    if len(outs) == 1:
        return (y,)
    return (y, jnp.mean(outs[1].reshape(n, c), axis=0), jnp.mean(outs[2].reshape(n, c), axis=0))


op("_instance_norm", _instance_norm, scalars=("momentum", 5), **_P)


# --------------------------------------------------------------------------- pixel shuffle
def _pixel_shuffle(x, *, factor, inverse):
    """``(*, C*r*r, H, W) <-> (*, C, H*r, W*r)``: torch's view ``(*, C, r, r, H, W)`` permuted
    to ``(*, C, H, r, W, r)`` (and back for ``pixel_unshuffle``)."""
    r = factor
    *b, c, h, w = x.shape
    n = len(b)
    lead = tuple(range(n))
    if not inverse:
        y = x.reshape(*b, c // (r * r), r, r, h, w)
        y = jnp.transpose(y, lead + (n, n + 3, n + 1, n + 4, n + 2))
        return y.reshape(*b, c // (r * r), h * r, w * r)
    y = x.reshape(*b, c, h // r, r, w // r, r)
    y = jnp.transpose(y, lead + (n, n + 2, n + 4, n + 1, n + 3))
    return y.reshape(*b, c * r * r, h // r, w // r)


op("_pixel_shuffle", _pixel_shuffle, **_P)


# --------------------------------------------------------------------------- embedding bag
def _embedding_bag(
    weight,
    idx,
    offsets=None,
    per_sample_weights=None,
    *,
    mode,
    num_bags,
    bag_size,
    padding_idx,
    scale_grad_by_freq,
):
    """Reduce the looked-up rows of each bag (sum / mean / max) to one row.

    Bags are fixed runs of ``bag_size`` indices (2-D input) or start at ``offsets``
    (1-D input; positions past ``num_bags`` bags are dropped, as with
    ``include_last_offset``). ``padding_idx`` entries are left out of every bag (and
    of the mean's count); empty bags give zeros. Max sends the gradient to the first
    maximal entry of each bag and feature, like torch's ``max_indices``.
    """
    dt = weight.dtype
    idx = idx.reshape(-1)
    if per_sample_weights is not None:
        per_sample_weights = per_sample_weights.reshape(-1)
    length = idx.shape[0]
    pos = jnp.arange(length)
    if offsets is None:
        seg = pos // max(bag_size, 1)
    else:
        seg = jnp.searchsorted(offsets, pos, side="right").astype(pos.dtype) - 1
    valid = (seg >= 0) & (seg < num_bags)
    if padding_idx is not None:
        valid = valid & (idx != padding_idx)
    seg = jnp.where(valid, seg, num_bags)  # out of range: dropped by the segment reductions
    emb = _embedding(weight, idx, scale_grad_by_freq=scale_grad_by_freq)
    keep = valid[:, None]
    if mode == "sum":
        rows = emb if per_sample_weights is None else emb * per_sample_weights.astype(dt)[:, None]
        return jax.ops.segment_sum(jnp.where(keep, rows, 0), seg, num_bags)
    if mode == "mean":
        total = jax.ops.segment_sum(jnp.where(keep, emb, 0), seg, num_bags)
        count = jax.ops.segment_sum(valid.astype(dt), seg, num_bags)
        return total / jnp.maximum(count, 1)[:, None]
    # max
    e = lax.stop_gradient(emb)
    best = jax.ops.segment_max(jnp.where(keep, e, -jnp.inf), seg, num_bags)
    segc = jnp.minimum(seg, num_bags - 1)
    hit = keep & (e == best[segc])
    first = jax.ops.segment_min(jnp.where(hit, pos[:, None], length), seg, num_bags)
    pick = hit & (pos[:, None] == first[segc])
    return jax.ops.segment_sum(jnp.where(pick, emb, 0), seg, num_bags)


op("_embedding_bag", _embedding_bag, **_P)


# --------------------------------------------------------------------------- recurrent cells
def _rnn_cell(x, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, *, mode, unbatched):
    """One step of an RNN / LSTM / GRU cell: the ``_rnn`` row's scan over a length-1 sequence.

    Returns ``h'`` (``(h', c')`` for LSTM); missing states start at zero.
    """
    if unbatched:
        x = x[None]
        hx = None if hx is None else hx[None]
        cx = None if cx is None else cx[None]
    hidden = w_hh.shape[1]
    zeros = jnp.zeros((x.shape[0], hidden), x.dtype)
    hx = zeros if hx is None else hx
    if mode == "LSTM" and cx is None:
        cx = zeros
    _, h, c = _direction(mode, x[None], hx, cx, w_ih, w_hh, b_ih, b_hh, None, False)
    if unbatched:
        h = h[0]
        c = None if c is None else c[0]
    return (h, c) if mode == "LSTM" else h


op("_rnn_cell", _rnn_cell, autocast=rnn_cell_name, **_P)
