"""nn rows, part 4: the remaining activations (``prelu``, ``glu``, ``threshold``, the
shrinks), alpha dropout, local response norm, im2col / col2im (``F.unfold`` /
``F.fold``), the margin / ranking / NLL losses, CTC and Gumbel-softmax.

Every function follows torch's ATen (or Python) formula in torch's order of
operations; where torch's kernel tests ``z > 0`` the row uses ``where(z > 0, z, 0)``
and where it calls ``clamp_min(0)`` the row uses ``where(z >= 0, z, 0)``, so gradients
at the kinks match too. ``hardshrink``, ``threshold`` and ``prelu`` are public rows
(``torch.hardshrink``/``Tensor.hardshrink``, ``torch.threshold``, ``torch.prelu``/
``Tensor.prelu``); the rest are library-internal (``function=False, method=False``)
and reached through ``eagerjax.nn._functional4``, which checks arguments with torch's
wording. Random rows (alpha dropout, Gumbel-softmax) take and return the generator's
key, like ``_dropout``, so eager, compiled and lazy runs draw the same numbers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from .._random import _split
from ._nn import _reduce
from ._nn2_layers import _pairwise_distance
from ._registry import op

_P = dict(function=False, method=False)


def _relu0(z):
    """``clamp_min(z, 0)`` with torch's gradient (1 at ``z == 0``)."""
    return jnp.where(z >= 0, z, jnp.zeros((), z.dtype))


def _pos(z):
    """``z if z > 0 else 0`` (torch's ``if (z > 0)`` kernels: gradient 0 at ``z == 0``)."""
    return jnp.where(z > 0, z, jnp.zeros((), z.dtype))


# --------------------------------------------------------------------------- activations
def _hardshrink(x, lambd=0.5):
    """``0`` on ``[-lambd, lambd]``, else ``x``."""
    return jnp.where((x >= -lambd) & (x <= lambd), jnp.zeros((), x.dtype), x)


op("hardshrink", _hardshrink, scalars=("lambd", 1))


def _softshrink(x, lambd):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else ``0``."""
    zero = jnp.zeros((), x.dtype)
    return jnp.where(x > lambd, x - lambd, jnp.where(x < -lambd, x + lambd, zero)).astype(x.dtype)


op("_softshrink", _softshrink, scalars=("lambd", 1), **_P)


def _threshold(x, threshold, value):
    """``value`` where ``x <= threshold``, else ``x``."""
    return jnp.where(x <= threshold, jnp.asarray(value).astype(x.dtype), x)


op("threshold", _threshold, scalars=("threshold", 1, "value", 2), method=False)


def _prelu(x, weight):
    """``x`` where ``x > 0``, else ``weight * x``; ``weight`` is per channel (dim 1) or one value."""
    if weight.size == 1:
        w = weight.reshape(())
    else:
        w = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return jnp.where(x > 0, x, w * x)


op("prelu", _prelu)


def _glu(x, *, dim):
    """First half times the sigmoid of the second half along ``dim``."""
    a, b = jnp.split(x, 2, axis=dim)
    return a * jax.nn.sigmoid(b)


op("_glu", _glu, **_P)


# --------------------------------------------------------------------------- alpha dropout
_SELU_ALPHA = 1.7580993408473766  # torch's alpha' = -scale * alpha of SELU


def _alpha_dropout(key, x, p, *, feature):
    """ATen's alpha dropout: ``x * (keep * a) + ((keep - 1) * alpha * a + alpha * a * p)``, with
    ``a = 1 / sqrt((alpha^2 p + 1)(1 - p))``; ``feature`` draws one mask per ``(n, c)`` channel.
    ``p >= 1`` gives zeros (torch: ``input * 0``)."""
    nk, k = _split(key)
    shape = x.shape if not feature else x.shape[:2] + (1,) * (x.ndim - 2)
    keep = jax.random.bernoulli(k, 1.0 - p, shape).astype(x.dtype)
    a = (1.0 / jnp.sqrt((_SELU_ALPHA * _SELU_ALPHA * p + 1) * (1 - p))).astype(x.dtype)
    b = (keep - 1) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    out = x * (keep * a) + b
    return nk, jnp.where(p >= 1, x * jnp.zeros((), x.dtype), out)


op("_alpha_dropout", _alpha_dropout, scalars=("p", 2), **_P)


# --------------------------------------------------------------------------- local response norm
def _local_response_norm(x, *, size, alpha, beta, k):
    """``x / (k + alpha * mean_window(x^2))^beta``; the window spans ``size`` channels, from
    ``size // 2`` before to ``(size - 1) // 2`` after, zero-padded (torch's avg-pool definition)."""
    c = x.shape[1]
    sq = x * x
    pads = [(0, 0)] * x.ndim
    pads[1] = (size // 2, (size - 1) // 2)
    sp = jnp.pad(sq, pads)
    total = lax.slice_in_dim(sp, 0, c, axis=1)
    for i in range(1, size):
        total = total + lax.slice_in_dim(sp, i, i + c, axis=1)
    div = (total / size * alpha + k) ** beta
    return x / div


op("_local_response_norm", _local_response_norm, **_P)


# --------------------------------------------------------------------------- im2col / col2im
def _blocks(size, k, d, p, s):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _im2col(x, *, kernel_size, dilation, padding, stride):
    """``(N, C, H, W) -> (N, C*kh*kw, L)``: every ``kh x kw`` block (dilated, strided, zero-padded)
    as a column, channels major then kernel rows then kernel columns (torch's order)."""
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    n, c, h, w = x.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    oh, ow = _blocks(h, kh, dh, ph, sh), _blocks(w, kw, dw, pw, sw)
    xp = jnp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = [
        lax.slice(
            xp, (0, 0, i * dh, j * dw), (n, c, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1), (1, 1, sh, sw)
        )
        for i in range(kh)
        for j in range(kw)
    ]
    out = jnp.stack(cols, axis=2).reshape(n, c * kh * kw, oh * ow)
    return out[0] if unbatched else out


op("_im2col", _im2col, **_P)


def _col2im(x, *, output_size, kernel_size, dilation, padding, stride):
    """``(N, C*kh*kw, L) -> (N, C, H, W)``: the inverse placement of ``_im2col``, overlapping
    entries summed (in torch's kernel-position order)."""
    unbatched = x.ndim == 2
    if unbatched:
        x = x[None]
    (h, w), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = output_size, kernel_size, dilation, padding, stride
    n = x.shape[0]
    c = x.shape[1] // (kh * kw)
    oh, ow = _blocks(h, kh, dh, ph, sh), _blocks(w, kw, dw, pw, sw)
    hp, wp = h + 2 * ph, w + 2 * pw
    cols = x.reshape(n, c, kh, kw, oh, ow)
    zero = jnp.zeros((), x.dtype)
    out = jnp.zeros((n, c, hp, wp), x.dtype)
    for i in range(kh):
        for j in range(kw):
            lo_h, lo_w = i * dh, j * dw
            hi_h = hp - (lo_h + (oh - 1) * sh + 1)
            hi_w = wp - (lo_w + (ow - 1) * sw + 1)
            cfg = ((0, 0, 0), (0, 0, 0), (lo_h, hi_h, sh - 1), (lo_w, hi_w, sw - 1))
            out = out + lax.pad(cols[:, :, i, j], zero, cfg)
    out = out[:, :, ph : ph + h, pw : pw + w]
    return out[0] if unbatched else out


op("_col2im", _col2im, **_P)


# --------------------------------------------------------------------------- losses
def _margin_ranking_loss(x1, x2, y, *, margin, reduction):
    """``max(0, -y * (x1 - x2) + margin)``."""
    return _reduce(_relu0(-y * (x1 - x2) + margin), reduction)


op("_margin_ranking_loss", _margin_ranking_loss, **_P)


def _hinge_embedding_loss(x, y, *, margin, reduction):
    """``x`` where ``y == 1``, ``max(0, margin - x)`` where ``y == -1`` (ATen: the two terms summed)."""
    zero = jnp.zeros((), x.dtype)
    loss = jnp.where(y != 1, _relu0(margin - x), zero) + jnp.where(y != -1, x, zero)
    return _reduce(loss, reduction)


op("_hinge_embedding_loss", _hinge_embedding_loss, **_P)


def _soft_margin_loss(x, y, *, reduction):
    """``log(1 + exp(-y * x))`` (ATen's ``log1p(exp(.))``)."""
    return _reduce(jnp.log1p(jnp.exp(-x * y)), reduction)


op("_soft_margin_loss", _soft_margin_loss, **_P)


def _multilabel_soft_margin_loss(x, y, weight=None, *, reduction):
    """``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``, weighted, averaged over the class dim."""
    loss = -(y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x))
    if weight is not None:
        loss = loss * weight
    c = x.shape[-1] if x.ndim else 1
    loss = jnp.sum(loss, axis=x.ndim - 1 if x.ndim else None) / c
    return _reduce(loss, reduction)


op("_multilabel_soft_margin_loss", _multilabel_soft_margin_loss, **_P)


def _multi_margin_loss(x, target, weight=None, *, p, margin, reduction):
    """Per sample ``sum_{i != y} max(0, margin - x[y] + x[i])^p * w[y] / C``."""
    squeeze = x.ndim <= 1
    c = x.shape[-1] if x.ndim else 1
    x2 = x.reshape(-1, c)
    t = target.reshape(-1)
    tc = jnp.clip(t, 0, c - 1)
    xt = jnp.take_along_axis(x2, tc[:, None], axis=1)
    h = _pos(margin - xt + x2)
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * weight[tc][:, None]
    h = jnp.where(jnp.arange(c)[None, :] == tc[:, None], jnp.zeros((), h.dtype), h)
    loss = jnp.sum(h, axis=1) / c
    if squeeze and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


op("_multi_margin_loss", _multi_margin_loss, **_P)


def _multilabel_margin_loss(x, target, *, reduction):
    """Per sample ``sum_{j, i not a target} max(0, 1 - (x[y_j] - x[i])) / C`` over the targets
    ``y_j`` listed before the first ``-1``."""
    squeeze = x.ndim <= 1
    c = x.shape[-1] if x.ndim else 1
    x2 = x.reshape(-1, c)
    t = target.reshape(-1, c)
    valid = jnp.cumprod((t >= 0).astype(jnp.int32), axis=1) > 0
    tc = jnp.where(valid, t, 0)
    is_target = jnp.any(valid[:, :, None] & (tc[:, :, None] == jnp.arange(c)[None, None, :]), axis=1)
    xt = jnp.take_along_axis(x2, tc, axis=1)
    z = _pos(1 - xt[:, :, None] + x2[:, None, :])
    keep = valid[:, :, None] & ~is_target[:, None, :]
    loss = jnp.sum(jnp.where(keep, z, jnp.zeros((), z.dtype)), axis=(1, 2)) / c
    if squeeze and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


op("_multilabel_margin_loss", _multilabel_margin_loss, **_P)


def _triplet_margin_loss(a, pos, neg, *, margin, p, eps, swap, reduction):
    """``max(0, margin + d(a, pos) - d(a, neg))`` with ``d`` the pairwise ``p``-distance
    (``swap``: ``d(a, neg)`` replaced by ``min(d(a, neg), d(pos, neg))``)."""
    dp = _pairwise_distance(a, pos, p=p, eps=eps, keepdim=False)
    dn = _pairwise_distance(a, neg, p=p, eps=eps, keepdim=False)
    if swap:
        dn = jnp.minimum(dn, _pairwise_distance(pos, neg, p=p, eps=eps, keepdim=False))
    return _reduce(_relu0(margin + dp - dn), reduction)


op("_triplet_margin_loss", _triplet_margin_loss, **_P)


def _poisson_nll_loss(x, target, *, log_input, full, eps, reduction):
    """``exp(x) - t x`` (``log_input``) or ``x - t log(x + eps)``; ``full`` adds Stirling's term
    ``t log t - t + log(2 pi t) / 2`` where ``t > 1``."""
    if log_input:
        loss = jnp.exp(x) - target * x
    else:
        loss = x - target * jnp.log(x + eps)
    if full:
        stirling = target * jnp.log(target) - target + 0.5 * jnp.log(2 * math.pi * target)
        loss = loss + jnp.where(target <= 1, jnp.zeros((), stirling.dtype), stirling)
    return _reduce(loss, reduction)


op("_poisson_nll_loss", _poisson_nll_loss, **_P)


def _gaussian_nll_loss(x, target, var, *, full, eps, reduction):
    """``(log(var) + (x - t)^2 / var) / 2`` with ``var`` clamped to ``eps`` outside autograd
    (torch clamps a clone under ``no_grad``: the gradient reaches ``var`` unclamped)."""
    v = var + lax.stop_gradient(jnp.maximum(var, eps) - var)
    loss = 0.5 * (jnp.log(v) + (x - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


op("_gaussian_nll_loss", _gaussian_nll_loss, **_P)


_CTC_NEG = -1e30  # log(0) in the CTC recursion: finite, so impossible paths keep finite gradients


def _lse3(a, b, c):
    m = lax.stop_gradient(jnp.maximum(jnp.maximum(a, b), c))
    return m + jnp.log(jnp.exp(a - m) + jnp.exp(b - m) + jnp.exp(c - m))


def _ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank, reduction, zero_infinity, concat):
    """CTC negative log likelihood of ``(T, N, C)`` log-probabilities (the forward recursion over
    the blank-extended targets, in log space).

    ``targets``: ``(N, S)`` padded, or (``concat``) all targets concatenated; per-sample
    ``input_lengths`` / ``target_lengths``. An impossible alignment gives ``inf`` (0 with
    ``zero_infinity``); 'mean' divides each loss by its target length (at least 1), then averages.
    """
    t_max, n, _ = log_probs.shape
    in_len = input_lengths.astype(jnp.int32)
    tg_len = target_lengths.astype(jnp.int32)
    if concat:
        s_max = targets.shape[0]
        offs = jnp.cumsum(tg_len) - tg_len
        tg = targets[jnp.clip(offs[:, None] + jnp.arange(s_max)[None, :], 0, max(s_max - 1, 0))]
    else:
        s_max = targets.shape[1]
        tg = targets
    tg = tg.astype(jnp.int32)
    ext = 2 * s_max + 1
    s = jnp.arange(ext)
    if s_max:
        lab = jnp.where(s % 2 == 1, tg[:, jnp.clip((s - 1) // 2, 0, s_max - 1)], blank)
    else:
        lab = jnp.full((n, ext), blank, jnp.int32)
    lab_m2 = jnp.concatenate([jnp.full((n, 2), blank, lab.dtype), lab[:, :-2]], axis=1)[:, :ext]
    skip = (s % 2 == 1) & (s >= 2) & (lab != lab_m2)
    live = s[None, :] < 2 * tg_len[:, None] + 1
    lpl = jnp.take_along_axis(log_probs, jnp.broadcast_to(lab[None], (t_max, n, ext)), axis=2)
    dt = log_probs.dtype
    neg = jnp.asarray(_CTC_NEG, dt)
    alpha0 = jnp.where((s[None, :] < 2) & live, lpl[0], neg)

    def step(alpha, inp):
        t, lp_t = inp
        a1 = jnp.concatenate([jnp.full((n, 1), neg, dt), alpha[:, :-1]], axis=1)
        a2 = jnp.concatenate([jnp.full((n, 2), neg, dt), alpha[:, :-2]], axis=1)[:, :ext]
        new = _lse3(alpha, a1, jnp.where(skip, a2, neg)) + lp_t
        new = jnp.where(live, new, neg)
        return jnp.where((t < in_len)[:, None], new, alpha), None

    alpha, _ = lax.scan(step, alpha0, (jnp.arange(1, t_max), lpl[1:]))
    end = 2 * tg_len
    a_end = jnp.take_along_axis(alpha, end[:, None], axis=1)[:, 0]
    a_prev = jnp.take_along_axis(alpha, jnp.maximum(end - 1, 0)[:, None], axis=1)[:, 0]
    a_prev = jnp.where(tg_len > 0, a_prev, neg)
    loss = -jnp.logaddexp(a_end, a_prev)
    impossible = loss > -_CTC_NEG / 10
    # torch's gradient is exp(lp) - posterior, the derivative through the log_softmax it assumes
    # made ``log_probs`` (the same when one did): a zero-valued exp(lp) - exp(lp) over each
    # sample's frames adds the exp(lp) (left out where exp overflows, lest inf - inf be NaN)
    frame = (jnp.arange(t_max)[:, None] < in_len[None, :])[:, :, None]
    frame = frame & jnp.isfinite(jnp.exp(lax.stop_gradient(log_probs)))
    e = jnp.exp(jnp.where(frame, log_probs, 0))
    loss = loss - jnp.sum(jnp.where(frame, lax.stop_gradient(e) - e, 0), axis=(0, 2))
    loss = jnp.where(impossible, jnp.asarray(0.0 if zero_infinity else jnp.inf, dt), loss)
    if reduction == "mean":
        return jnp.mean(loss / jnp.maximum(tg_len, 1).astype(dt))
    return _reduce(loss, reduction)


op("_ctc_loss", _ctc_loss, **_P)


# --------------------------------------------------------------------------- Gumbel-softmax
def _gumbel_softmax(key, logits, tau, *, hard, dim):
    """``softmax((logits + g) / tau)`` with ``g = -log(Exp(1))`` Gumbel noise; ``hard`` returns the
    one-hot argmax with the soft sample's gradient (straight-through)."""
    nk, k = _split(key)
    g = -jnp.log(jax.random.exponential(k, logits.shape, logits.dtype))
    y = jax.nn.softmax((logits + g) / tau, axis=dim)
    if not hard:
        return nk, y
    idx = jnp.argmax(y, axis=dim, keepdims=True)
    shape = [1] * logits.ndim
    shape[dim] = logits.shape[dim]
    hot = (jnp.arange(logits.shape[dim]).reshape(shape) == idx).astype(y.dtype)
    return nk, hot - lax.stop_gradient(y) + y


op("_gumbel_softmax", _gumbel_softmax, scalars=("tau", 2), **_P)
