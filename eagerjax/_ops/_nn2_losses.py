"""The functions behind the ``nn2`` loss rows (l1, smooth l1, Huber, binary cross entropy
with and without logits, KL divergence, cosine embedding); the rows themselves are
registered in ``_nn2.py``. Reductions go through ``_nn``'s ``_reduce``/``_weighted_reduce``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._nn import _reduce, _weighted_reduce
from ._nn2_conv import _abs0


# --------------------------------------------------------------------------- losses
def _l1_loss(x, y, weight=None, *, reduction):
    """``|x - y|``; with ``weight``, 'mean' divides by the weight sum (torch's rule for l1)."""
    loss = _abs0(x - y)
    if weight is None:
        return _reduce(loss, reduction)
    return _weighted_reduce(loss * weight, weight, reduction)


def _smooth_l1_loss(x, y, *, reduction, beta):
    d = _abs0(x - y)
    if beta == 0:
        return _reduce(d, reduction)
    loss = jnp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def _huber_loss(x, y, weight=None, *, reduction, delta):
    """``0.5 d^2`` below ``delta``, else ``delta (|d| - delta/2)``; weighted 'mean' is the plain mean."""
    d = _abs0(x - y)
    loss = jnp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _bce(x, y, weight=None, *, reduction):
    """``-(y*log(x) + (1-y)*log(1-x))`` with each log clamped at -100 (torch's rule).

    torch's input gradient is ``(x - y) / max(x(1-x), 1e-12)``: the derivative of the unclamped
    loss where ``x(1-x) >= 1e-12``, finite below (where the loss's own derivative is -y/x, or
    0 * inf at the clamp). So the value is computed with ``x`` off the tape (the target's
    gradient is the value's own, torch's ``-logit(x)``) and a zero-valued ``t - t`` adds the input
    gradient: ``t`` is the unclamped loss where ``x(1-x) >= eps`` (evaluated at a safe ``x``
    elsewhere) and ``(x - y)^2 / (2 eps)`` below, whose derivative is ``(x - y) / eps``.
    """
    sx = lax.stop_gradient(x)
    loss = -(y * jnp.maximum(jnp.log(sx), -100.0) + (1 - y) * jnp.maximum(jnp.log1p(-sx), -100.0))
    # torch's eps in the input's dtype; in float16 it would be 0 (0/0 where x == y is 0 or 1)
    eps = 1e-12 if x.dtype == jnp.float16 else float(np.asarray(1e-12, x.dtype))
    ct = jnp.promote_types(x.dtype, jnp.float32)  # t reaches 5e11: float32 at least
    xc, yc = x.astype(ct), lax.stop_gradient(y).astype(ct)
    ok = (1 - xc) * xc >= eps
    xs = jnp.where(ok, xc, 0.5)
    t = jnp.where(ok, -(yc * jnp.log(xs) + (1 - yc) * jnp.log1p(-xs)), (xc - yc) ** 2 / (2 * eps))
    loss = loss - (lax.stop_gradient(t) - t).astype(loss.dtype)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _bce_logits(x, y, weight=None, pos_weight=None, *, reduction):
    """``(1-y)*x + (1 + (pw-1)*y) * softplus(-x)`` in the overflow-free form."""
    sp = jnp.logaddexp(0, -x)  # softplus(-x) = log1p(exp(-|x|)) + max(-x, 0), gradient exactly -sigmoid(-x)
    if pos_weight is not None:
        lw = 1 + (pos_weight - 1) * y
        loss = (1 - y) * x + lw * sp
    else:
        loss = (1 - y) * x + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _kl_div(x, y, *, reduction, log_target):
    if log_target:
        loss = jnp.exp(y) * (y - x)
    else:
        loss = jax.scipy.special.xlogy(y, y) - y * x
    if reduction == "batchmean":
        return jnp.sum(loss) / (x.shape[0] if x.ndim else 1)
    return _reduce(loss, reduction)


def _cosine_embedding_loss(x1, x2, y, *, margin, reduction):
    eps = 1e-12
    dim = x1.ndim - 1
    prod = jnp.sum(x1 * x2, axis=dim)
    m1 = jnp.sum(x1 * x1, axis=dim) + eps
    m2 = jnp.sum(x2 * x2, axis=dim) + eps
    cos = prod / jnp.sqrt(m1 * m2)
    zeros = jnp.zeros_like(cos)
    pos = 1 - cos
    neg = jnp.maximum(zeros, cos - margin)
    loss = jnp.where(y == 1, pos, zeros) + jnp.where(y == -1, neg, zeros)
    return _reduce(loss, reduction)
