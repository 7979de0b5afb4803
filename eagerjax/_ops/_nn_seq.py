"""Sequence-model rows: scaled dot-product attention, multi-head attention, RNN/LSTM/GRU stacks.

Every row is a pure function of jax arrays (plus static configuration), so one
call is one cached compiled kernel in eager mode and a traced piece of the step
under ``ej.compile`` / lazy mode. Rows that use randomness (attention dropout,
dropout between recurrent layers) take the generator key first and return the
advanced key first, like every random row (``_random.draw``).

- ``_sdpa`` / ``_sdpa_dropout``: ``F.scaled_dot_product_attention``.
- ``_mha`` / ``_mha_dropout``: the whole ``nn.MultiheadAttention`` forward (input
  projections, bias_kv / zero-attention padding, mask merging, attention, output
  projection, optional head-averaged weights) as ONE kernel.
- ``_rnn`` / ``_rnn_dropout``: a whole RNN/LSTM/GRU stack (all layers and both
  directions) as ONE kernel; each layer-direction is a ``lax.scan`` over time
  whose step is Flax's ``LSTMCell`` / ``GRUCell`` / ``SimpleCell`` fed torch's
  weights (gate order i,f,g,o and r,z,n), so torch checkpoints load as is
  (LSTM with ``proj_size`` uses the same math written out: Flax has no projection).
- ``_uniform_many``: the initial RNN weights from one random draw.
- ``_mask_to_float``: a bool mask as a 0 / -inf float mask (mismatched mask types).

Numerics follow torch: masked scores are ``-inf``; the ``need_weights`` path of
multi-head attention uses a plain softmax (fully masked rows give NaN, as in
torch), while ``scaled_dot_product_attention`` (and multi-head attention with
``need_weights=False``, which torch routes through it) gives zeros for fully
masked rows.

float16/bfloat16 follow torch's CPU kernels: scaled dot-product attention (and so multi-head
attention with ``need_weights=False``) computes the scores, softmax and weighted sum in
float32 and rounds the result once; the ``need_weights`` path rounds the scores, the
softmax and the product to the input dtype once each (torch's baddbmm / softmax / bmm),
and every projection with a bias adds it in float32 before rounding.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._autocast import rnn_name
from .._random import _split
from ._linalg import is_half
from ._nn import GIVEN_PARAMS
from ._registry import op

# (recurrent kernels too: their default init is an orthogonal QR, the costliest to trace)
_GIVEN_CELL = {**GIVEN_PARAMS, "recurrent_kernel_init": GIVEN_PARAMS["kernel_init"]}

_P = dict(function=False, method=False)


# --------------------------------------------------------------------------- helpers
def _dropout_apply(key, x, p):
    """(key, x, p) -> (new_key, x * keep / (1 - p)); p may be traced; p == 1 gives zeros."""
    nk, k = _split(key)
    keep = jax.random.bernoulli(k, 1.0 - p, x.shape)
    noise = jnp.where(p >= 1, jnp.zeros((), x.dtype), keep.astype(x.dtype) / jnp.asarray(1.0 - p, x.dtype))
    return nk, x * noise


def _softmax(s, maskable: bool):
    """Softmax over the last axis; ``maskable``: a mask may have emptied a row, which must
    give 0 (the guard costs a reduction and two selects each way, so only then)."""
    return _safe_softmax(s) if maskable else jax.nn.softmax(s, axis=-1)


def _safe_softmax(s):
    """Softmax over the last axis that gives 0 (and zero gradients) for rows that are all ``-inf``."""
    dead = jnp.all(s == -jnp.inf, axis=-1, keepdims=True)
    y = jax.nn.softmax(jnp.where(dead, jnp.zeros((), s.dtype), s), axis=-1)
    return jnp.where(dead, jnp.zeros((), y.dtype), y)


def _causal_bias(L: int, S: int, dtype):
    """0 on and below the diagonal, -inf above, added to the scores as torch's reference
    attention does (a constant: the backward passes the cotangent through, where a
    ``where`` on the scores would cost a select each way).

    Up to ``_CONST_BIAS_MAX`` elements it is a literal of the program, which XLA
    broadcasts inside the fusion that adds it; built from ``iota`` instead, it was
    materialized at the scores' full (batch * heads, L, S) size on every call."""
    if L * S <= _CONST_BIAS_MAX:
        return np.triu(np.full((L, S), -np.inf, np.dtype(dtype)), k=1)
    return jnp.where(jnp.tril(jnp.ones((L, S), jnp.bool_)), jnp.zeros((), dtype), jnp.asarray(-jnp.inf, dtype))


_CONST_BIAS_MAX = 1 << 16


def _mask_to_bias(mask, dtype):
    """torch's ``_canonical_mask``: a bool mask (True = masked out) becomes 0 / -inf; a float mask stays."""
    if mask.dtype == jnp.bool_:
        return jnp.where(mask, jnp.asarray(-jnp.inf, dtype), jnp.zeros((), dtype))
    return mask


op("_mask_to_float", lambda mask, *, dtype: _mask_to_bias(mask, dtype), differentiable=False, **_P)


def _pad_last(x, value=0):
    pad = [(0, 0)] * (x.ndim - 1) + [(0, 1)]
    return jnp.pad(x, pad, constant_values=jnp.asarray(value, x.dtype))


# --------------------------------------------------------------------------- scaled dot-product attention
def _sdpa_core(rng, q, k, v, attn_mask, p, is_causal, scale, enable_gqa):
    if enable_gqa and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        rep = q.shape[-3] // k.shape[-3]
        k = jnp.repeat(k, rep, axis=-3)
        v = jnp.repeat(v, rep, axis=-3)
    L, S = q.shape[-2], k.shape[-2]
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    half = is_half(q.dtype)
    if half:  # torch's CPU kernel: float32 scores, softmax and sum, one rounding at the end
        s = jnp.matmul(q, jnp.swapaxes(k, -1, -2), preferred_element_type=jnp.float32)
        s = s * jnp.asarray(scale, jnp.float32)
    else:
        s = jnp.matmul(q, jnp.swapaxes(k, -1, -2)) * jnp.asarray(scale, q.dtype)
    if is_causal:
        s = s + _causal_bias(L, S, s.dtype)
    if attn_mask is not None:
        if attn_mask.dtype == jnp.bool_:  # sdpa's convention: True = takes part in attention
            s = jnp.where(attn_mask, s, jnp.asarray(-jnp.inf, s.dtype))
        else:
            s = s + attn_mask.astype(s.dtype)
    w = _softmax(s, maskable=attn_mask is not None)  # (a causal row keeps its diagonal)
    if rng is not None:
        rng, w = _dropout_apply(rng, w, p)
    if half:
        out = jnp.matmul(w, v.astype(jnp.float32)).astype(q.dtype)
    else:
        out = jnp.matmul(w, v)
    return out if rng is None else (rng, out)


def _sdpa(q, k, v, attn_mask=None, *, is_causal=False, scale=None, enable_gqa=False):
    return _sdpa_core(None, q, k, v, attn_mask, 0.0, is_causal, scale, enable_gqa)


def _sdpa_dropout(key, q, k, v, attn_mask=None, *, p, is_causal=False, scale=None, enable_gqa=False):
    return _sdpa_core(key, q, k, v, attn_mask, p, is_causal, scale, enable_gqa)


op("_sdpa", _sdpa, scalars=("scale",), **_P)
op("_sdpa_dropout", _sdpa_dropout, scalars=("p", "scale"), autocast="sdpa", **_P)


# --------------------------------------------------------------------------- multi-head attention
def _proj(x, w, b):
    if b is not None and is_half(x.dtype):  # (torch's linear: the bias added in float32, one rounding)
        return (jnp.matmul(x, w.T, preferred_element_type=jnp.float32) + b.astype(jnp.float32)).astype(x.dtype)
    y = jnp.matmul(x, w.T)
    return y if b is None else y + b


def _mha_core(
    rng,
    query,
    key,
    value,
    in_w,
    in_b,
    q_w,
    k_w,
    v_w,
    bias_k,
    bias_v,
    out_w,
    out_b,
    kpm,
    attn_mask,
    static_k,
    static_v,
    p,
    *,
    num_heads,
    need_weights,
    average,
    add_zero_attn,
    batch_first,
    unbatched,
    causal,
    self_attn=False,
):
    """torch's ``multi_head_attention_forward`` on (L, N, E) inputs (transposed/unsqueezed here first).

    ``self_attn``: query, key and value are one tensor and ``in_w`` packs the three
    projections; they are then ONE matmul (and one for their gradient), not three."""
    if unbatched:
        query, key, value = query[:, None], key[:, None], value[:, None]
        if kpm is not None:
            kpm = kpm[None]
    elif batch_first:
        query, key, value = (jnp.swapaxes(t, 0, 1) for t in (query, key, value))
    L, N, E = query.shape
    H = num_heads
    D = E // H
    dt = query.dtype
    if self_attn:
        q, k, v = jnp.split(_proj(query, in_w, in_b), 3, axis=-1)
    else:
        wq, wk, wv = jnp.split(in_w, 3, axis=0) if in_w is not None else (q_w, k_w, v_w)
        bq, bk, bv = jnp.split(in_b, 3) if in_b is not None else (None, None, None)
        q = _proj(query, wq, bq)
        k = _proj(key, wk, bk)
        v = _proj(value, wv, bv)
    if bias_k is not None:
        k = jnp.concatenate([k, jnp.broadcast_to(bias_k, (1, N, E)).astype(k.dtype)], 0)
        v = jnp.concatenate([v, jnp.broadcast_to(bias_v, (1, N, E)).astype(v.dtype)], 0)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if kpm is not None:
            kpm = _pad_last(kpm)
    q = jnp.swapaxes(q.reshape(L, N * H, D), 0, 1)  # (N*H, L, D); row n*H + h
    k = jnp.swapaxes(k.reshape(k.shape[0], N * H, D), 0, 1) if static_k is None else static_k
    v = jnp.swapaxes(v.reshape(v.shape[0], N * H, D), 0, 1) if static_v is None else static_v
    if add_zero_attn:
        k = jnp.concatenate([k, jnp.zeros((N * H, 1, D), k.dtype)], 1)
        v = jnp.concatenate([v, jnp.zeros((N * H, 1, D), v.dtype)], 1)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if kpm is not None:
            kpm = _pad_last(kpm)
    S = k.shape[1]
    bias = None
    if attn_mask is not None:
        am = _mask_to_bias(attn_mask, dt)
        bias = am[None] if am.ndim == 2 else am  # (1 | N*H, L, S)
    if kpm is not None:
        kp = _mask_to_bias(kpm, dt)
        kp = jnp.broadcast_to(kp.reshape(N, 1, 1, S), (N, H, 1, S)).reshape(N * H, 1, S)
        bias = kp if bias is None else bias + kp
    half = is_half(dt)
    if half and not need_weights:  # torch: scaled_dot_product_attention (float32 inside)
        s = jnp.matmul(q, jnp.swapaxes(k, 1, 2), preferred_element_type=jnp.float32)
        s = s * jnp.asarray(1.0 / math.sqrt(D), jnp.float32)
    elif half and (bias is not None or causal):  # torch: baddbmm of the mask, rounded once
        s = jnp.matmul(
            q * jnp.asarray(math.sqrt(1.0 / D), dt), jnp.swapaxes(k, 1, 2), preferred_element_type=jnp.float32
        )
    else:
        s = jnp.matmul(q * jnp.asarray(math.sqrt(1.0 / D), dt), jnp.swapaxes(k, 1, 2))
    if bias is not None:
        s = s + bias.astype(s.dtype)
    if causal:
        s = s + _causal_bias(L, S, s.dtype)
    # torch: the need_weights path is a plain softmax (NaN on fully masked rows); the
    # need_weights=False path goes through scaled_dot_product_attention (zeros there).
    if half and need_weights:  # torch's half softmax: float32 inside, rounded once
        w = _softmax(s.astype(dt).astype(jnp.float32), maskable=False).astype(dt)
    else:
        w = _softmax(s, maskable=not need_weights and bias is not None)
    if rng is not None:
        rng, w = _dropout_apply(rng, w, p)
    if half and not need_weights:
        o = jnp.matmul(w, v.astype(jnp.float32)).astype(dt)
    else:
        o = jnp.matmul(w, v)  # (N*H, L, D)
    o = jnp.swapaxes(o, 0, 1).reshape(L, N, E)
    out = _proj(o, out_w, out_b)
    if unbatched:
        out = out[:, 0]
    elif batch_first:
        out = jnp.swapaxes(out, 0, 1)
    res = (out,)
    if need_weights:
        w = w.reshape(N, H, L, S)
        if average:
            w = jnp.mean(w, axis=1)
        if unbatched:
            w = w[0]
        res = (out, w)
    if rng is not None:
        return (rng, *res)
    return res


def _mha(*args, **static):
    return _mha_core(None, *args, 0.0, **static)


def _mha_dropout(key, *args, p, **static):
    return _mha_core(key, *args, p, **static)


op("_mha", _mha, **_P)
op("_mha_dropout", _mha_dropout, scalars=("p",), autocast="mha", **_P)


# --------------------------------------------------------------------------- recurrent stacks
def _uniform_many(key, *, shapes, dtype, low, high):
    """(key) -> (new_key, *samples): U(low, high) draws for several shapes from ONE flat draw.

    Initializing every weight of an RNN stack this way compiles one random kernel
    per configuration instead of one per distinct weight shape.
    """
    nk, k = _split(key)
    sizes = [math.prod(s) for s in shapes]
    flat = jax.random.uniform(k, (sum(sizes),), dtype, low, high)
    out, start = [], 0
    for s, n in zip(shapes, sizes):
        out.append(flat[start : start + n].reshape(s))
        start += n
    return (nk, *out)


op("_uniform_many", _uniform_many, scalars=("low", "high"), differentiable=False, **_P)

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _cell(mode: str, w_ih, w_hh, b_ih, b_hh, w_hr):
    """``step(carry, x_t) -> (carry, y_t)`` of one layer-direction, torch-layout weights.

    Flax's cells, fed torch's gate order (LSTM with projections written out: no Flax
    cell has them); the carry is ``(c, h)`` for LSTM, ``h`` otherwise.
    """
    import flax.linen as fnn  # trace time only

    G = _GATES[mode]
    H = w_hh.shape[1] if w_hr is None else w_hr.shape[1]
    if b_ih is None:
        b_ih = b_hh = jnp.zeros((G * H,), w_ih.dtype)
    if mode == "LSTM" and w_hr is not None:
        wi_t, wh_t, wr_t = w_ih.T, w_hh.T, w_hr.T
        b = b_ih + b_hh

        def proj_step(carry, xt):
            c, h = carry
            i, f, g, o = jnp.split(jnp.matmul(xt, wi_t) + jnp.matmul(h, wh_t) + b, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jnp.matmul(jax.nn.sigmoid(o) * jnp.tanh(c), wr_t)
            return (c, h), h

        return proj_step
    if mode == "LSTM":
        wi = w_ih.reshape(4, H, -1)
        wh = w_hh.reshape(4, H, H)
        b = (b_ih + b_hh).reshape(4, H)
        params = {}
        for j, g in enumerate("ifgo"):
            params["i" + g] = {"kernel": wi[j].T}
            params["h" + g] = {"kernel": wh[j].T, "bias": b[j]}
        cell = fnn.LSTMCell(features=H, **_GIVEN_CELL)
    elif mode == "GRU":
        wi = w_ih.reshape(3, H, -1)
        wh = w_hh.reshape(3, H, H)
        bi = b_ih.reshape(3, H)
        bh = b_hh.reshape(3, H)
        params = {
            "ir": {"kernel": wi[0].T, "bias": bi[0] + bh[0]},
            "iz": {"kernel": wi[1].T, "bias": bi[1] + bh[1]},
            "in": {"kernel": wi[2].T, "bias": bi[2]},
            "hr": {"kernel": wh[0].T},
            "hz": {"kernel": wh[1].T},
            "hn": {"kernel": wh[2].T, "bias": bh[2]},
        }
        cell = fnn.GRUCell(features=H, **_GIVEN_CELL)
    else:
        params = {"i": {"kernel": w_ih.T, "bias": b_ih + b_hh}, "h": {"kernel": w_hh.T}}
        act = jnp.tanh if mode == "RNN_TANH" else jax.nn.relu
        cell = fnn.SimpleCell(features=H, activation_fn=act, **_GIVEN_CELL)

    def step(carry, xt):
        return cell.apply({"params": params}, carry, xt)

    return step


def _direction(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    """One layer-direction: ``lax.scan`` of ``_cell`` over time.

    Returns ``(outputs (T, N, H_out), h_T, c_T | None)``.
    """
    step = _cell(mode, w_ih, w_hh, b_ih, b_hh, w_hr)
    if mode == "LSTM":
        (c, h), ys = lax.scan(step, (c0, h0), x, reverse=reverse)
        return ys, h, c
    h, ys = lax.scan(step, h0, x, reverse=reverse)
    return ys, h, None


def _rnn_core(
    rng, x, hx, cx, weights, p, *, mode, num_layers, bidirectional, has_bias, proj_size, batch_first, unbatched
):
    if unbatched:
        x = x[:, None]
        hx = None if hx is None else hx[:, None]
        cx = None if cx is None else cx[:, None]
    elif batch_first:
        x = jnp.swapaxes(x, 0, 1)
    N = x.shape[1]
    D = 2 if bidirectional else 1
    per = 2 + (2 if has_bias else 0) + (1 if proj_size else 0)
    hidden = weights[0].shape[0] // _GATES[mode]
    h_out = proj_size or hidden
    if hx is None:
        hx = jnp.zeros((num_layers * D, N, h_out), x.dtype)
    if mode == "LSTM" and cx is None:
        cx = jnp.zeros((num_layers * D, N, hidden), x.dtype)
    inp = x
    hs, cs = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            idx = layer * D + d
            w = weights[idx * per : (idx + 1) * per]
            b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
            w_hr = w[-1] if proj_size else None
            ys, h, c = _direction(
                mode, inp, hx[idx], None if cx is None else cx[idx], w[0], w[1], b_ih, b_hh, w_hr, d == 1
            )
            outs.append(ys)
            hs.append(h)
            cs.append(c)
        inp = outs[0] if D == 1 else jnp.concatenate(outs, axis=-1)
        if rng is not None and layer < num_layers - 1:
            rng, inp = _dropout_apply(rng, inp, p)
    out = inp
    h_n = jnp.stack(hs)
    c_n = jnp.stack(cs) if mode == "LSTM" else None
    if unbatched:
        out = out[:, 0]
        h_n = h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    elif batch_first:
        out = jnp.swapaxes(out, 0, 1)
    res = (out, h_n) if c_n is None else (out, h_n, c_n)
    return res if rng is None else (rng, *res)


def _rnn(x, hx, cx, weights, **static):
    return _rnn_core(None, x, hx, cx, weights, 0.0, **static)


def _rnn_dropout(key, x, hx, cx, weights, *, p, **static):
    return _rnn_core(key, x, hx, cx, weights, p, **static)


op("_rnn", _rnn, autocast=rnn_name, **_P)
op("_rnn_dropout", _rnn_dropout, scalars=("p",), autocast=rnn_name, **_P)
