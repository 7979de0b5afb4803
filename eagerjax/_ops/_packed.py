"""Rows for ``nn.utils.rnn`` (padding and packing variable-length sequences) and for
RNN/LSTM/GRU stacks run on a ``PackedSequence``.

Everything here is shape-static: a packed sequence's layout (its ``batch_sizes``
and sort order) is host data, turned by ``nn/_rnn_utils.py`` into integer index
arrays that reach the rows as *dynamic* operands, so a kernel is keyed only by
shapes (the padded ``(T, B)`` and the packed length), never by the lengths.

- ``_pad_sequence``: ``pad_sequence`` (one stack of padded copies).
- ``_pack_gather`` / ``_pack_scatter``: padded -> packed and packed -> padded; packed
  row ``k`` is ``padded[t_idx[k], b_idx[k]]`` (time-major), the sort order folded into
  ``b_idx``, so packing with ``enforce_sorted=False`` is one gather.
- ``_unpad``: ``unpad_sequence`` (one kernel returning every sequence).
- ``_invert_permutation``: ``invert_permutation`` for a permutation tensor.
- ``_rnn_packed`` / ``_rnn_packed_dropout``: a whole recurrent stack on packed data
  as ONE kernel: scatter to padded (sorted batch order), a ``lax.scan`` per
  layer-direction with a per-step validity mask, gather back to packed. Past a
  sequence's end the carry is frozen, so the forward direction ends at each
  sequence's own last step; the reverse direction scans from the padded end with its
  carry held at ``h0`` until it reaches the sequence's last valid step, so it starts
  there (no per-sequence reversal needed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._autocast import rnn_name
from ._nn_seq import _GATES, _cell, _dropout_apply
from ._registry import op

_P = dict(function=False, method=False)


# --------------------------------------------------------------------------- padding and packing
def _pad_sequence(seqs, padding_value, *, batch_first: bool, left: bool, trailing: tuple):
    """Sequences ``(L_i, *)`` -> ``(T, B, *)`` (or ``(B, T, *)``) in the first sequence's dtype.

    ``trailing`` is the first sequence's trailing shape; the others are broadcast to it
    (torch copies each sequence into a slice of a tensor of that shape)."""
    dt = seqs[0].dtype
    T = max(s.shape[0] for s in seqs)
    fill = jnp.asarray(padding_value, dt)
    cols = []
    for s in seqs:
        n = s.shape[0]
        s = jnp.broadcast_to(s.astype(dt), (n, *trailing))
        pad = [(T - n, 0) if left else (0, T - n)] + [(0, 0)] * len(trailing)
        cols.append(jnp.pad(s, pad, constant_values=fill))
    return jnp.stack(cols, axis=0 if batch_first else 1)


def _pack_gather(x, t_idx, b_idx, *, batch_first: bool):
    return x[b_idx, t_idx] if batch_first else x[t_idx, b_idx]


def _pack_scatter(data, t_idx, b_idx, padding_value, *, T: int, B: int, batch_first: bool):
    """Packed rows into a ``padding_value``-filled padded tensor (each position written once)."""
    lead, idx = ((B, T), (b_idx, t_idx)) if batch_first else ((T, B), (t_idx, b_idx))
    out = jnp.full((*lead, *data.shape[1:]), padding_value, data.dtype)
    return out.at[idx].set(data, unique_indices=True)


def _unpad(x, *, lengths: tuple, batch_first: bool):
    if batch_first:
        return tuple(x[i, :n] for i, n in enumerate(lengths))
    return tuple(x[:n, i] for i, n in enumerate(lengths))


def _invert_permutation(p):
    return jnp.zeros_like(p).at[p].set(jnp.arange(p.shape[0], dtype=p.dtype), unique_indices=True)


op("_pad_sequence", _pad_sequence, scalars=("padding_value", 1), **_P)
op("_pack_gather", _pack_gather, **_P)
op("_pack_scatter", _pack_scatter, scalars=("padding_value", 3), **_P)
op("_unpad", _unpad, **_P)
op("_invert_permutation", _invert_permutation, differentiable=False, **_P)


# --------------------------------------------------------------------------- recurrent stacks on packed input


def _masked_direction(mode, x, mask, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse: bool):
    """One layer-direction over padded ``x (T, B, F)`` where ``mask[t, b]`` says step t of
    sequence b is real: the carry only moves on real steps and padded outputs are 0.

    Returns ``(outputs (T, B, H_out), h_last, c_last | None)``."""
    step = _cell(mode, w_ih, w_hh, b_ih, b_hh, w_hr)
    lstm = mode == "LSTM"

    def masked(carry, inp):
        xt, mt = inp
        new, y = step(carry, xt)
        m = mt[:, None]
        carry = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, carry)
        return carry, jnp.where(m, y, jnp.zeros((), y.dtype))

    carry, ys = lax.scan(masked, (c0, h0) if lstm else h0, (x, mask), reverse=reverse)
    if lstm:
        c, h = carry
        return ys, h, c
    return ys, carry, None


def _rnn_packed_core(
    rng,
    data,
    hx,
    cx,
    weights,
    t_idx,
    b_idx,
    lengths,
    sorted_idx,
    unsorted_idx,
    p,
    *,
    mode,
    num_layers,
    bidirectional,
    has_bias,
    proj_size,
    T,
    B,
):
    """``data`` is packed (sorted batch order); ``hx``/``cx`` and the returned states are in
    the caller's (unsorted) batch order, permuted here by ``sorted_idx``/``unsorted_idx``."""
    x = jnp.zeros((T, B, data.shape[-1]), data.dtype).at[t_idx, b_idx].set(data, unique_indices=True)
    mask = jnp.arange(T)[:, None] < lengths[None, :]
    D = 2 if bidirectional else 1
    per = 2 + (2 if has_bias else 0) + (1 if proj_size else 0)
    hidden = weights[0].shape[0] // _GATES[mode]
    h_out = proj_size or hidden
    if hx is None:
        hx = jnp.zeros((num_layers * D, B, h_out), data.dtype)
    elif sorted_idx is not None:
        hx = hx[:, sorted_idx]
    if mode == "LSTM":
        if cx is None:
            cx = jnp.zeros((num_layers * D, B, hidden), data.dtype)
        elif sorted_idx is not None:
            cx = cx[:, sorted_idx]
    inp = x
    hs, cs = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            idx = layer * D + d
            w = weights[idx * per : (idx + 1) * per]
            b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
            w_hr = w[-1] if proj_size else None
            c0 = None if cx is None else cx[idx]
            ys, h, c = _masked_direction(mode, inp, mask, hx[idx], c0, w[0], w[1], b_ih, b_hh, w_hr, d == 1)
            outs.append(ys)
            hs.append(h)
            cs.append(c)
        inp = outs[0] if D == 1 else jnp.concatenate(outs, axis=-1)
        if rng is not None and layer < num_layers - 1:
            rng, inp = _dropout_apply(rng, inp, p)
    out = inp[t_idx, b_idx]
    h_n = jnp.stack(hs)
    c_n = jnp.stack(cs) if mode == "LSTM" else None
    if unsorted_idx is not None:
        h_n = h_n[:, unsorted_idx]
        c_n = None if c_n is None else c_n[:, unsorted_idx]
    res = (out, h_n) if c_n is None else (out, h_n, c_n)
    return res if rng is None else (rng, *res)


def _rnn_packed(data, hx, cx, weights, t_idx, b_idx, lengths, sorted_idx, unsorted_idx, **static):
    return _rnn_packed_core(None, data, hx, cx, weights, t_idx, b_idx, lengths, sorted_idx, unsorted_idx, 0.0, **static)


def _rnn_packed_dropout(key, data, hx, cx, weights, t_idx, b_idx, lengths, sorted_idx, unsorted_idx, *, p, **static):
    return _rnn_packed_core(key, data, hx, cx, weights, t_idx, b_idx, lengths, sorted_idx, unsorted_idx, p, **static)


op("_rnn_packed", _rnn_packed, autocast=rnn_name, **_P)
op("_rnn_packed_dropout", _rnn_packed_dropout, scalars=("p",), autocast=rnn_name, **_P)
