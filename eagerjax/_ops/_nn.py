"""nn rows: layer math (linear, dropout, batch norm), softmax and the losses.

Rows here are library-internal (``function=False, method=False``); the public
forms live in ``eagerjax.nn.functional`` (and ``softmax``/``log_softmax`` are
also registered as ``ej.softmax``/``Tensor.softmax`` when no other table module
has claimed those names). Each row is one jitted kernel per static
configuration, so a whole loss or a whole batch-norm forward (with its
running-statistics update) is a single compiled call in eager mode.
"""

from __future__ import annotations

# Imported up front (~60 ms) rather than inside the rows: otherwise the first step that
# runs a Linear -- often a compiled step being timed -- pays for importing Flax.
import flax.linen as fnn
import jax
import jax.numpy as jnp
from jax import lax

from .._random import _split
from ._linalg import _check_addmm, _check_mm, is_half
from ._registry import OPS, alias, op

_P = dict(function=False, method=False)

# Flax layers here are only ever applied to given params, yet Flax traces a layer's
# initializer on every trace of it (to check the given params' shapes against it): zeros
# trace in microseconds, the default kernel inits (a truncated normal; an orthogonal QR for
# recurrent kernels) in milliseconds each, paid by every first step and every new shape.
GIVEN_PARAMS = {"kernel_init": fnn.initializers.zeros_init(), "bias_init": fnn.initializers.zeros_init()}


# --------------------------------------------------------------------------- linear
def _linear(x, weight, bias=None):
    """torch's ``F.linear`` (weight in torch layout ``(out, in)``) through ``flax.linen.Dense``.

    The Dense module is applied with ``{'params': {'kernel': weight.T, 'bias': bias}}``;
    the row is jitted per shape, so Flax's apply costs nothing after the first trace.
    float16/bfloat16 with a bias: the product is accumulated in float32 and the bias added
    there, rounded once (torch's CPU kernel; Dense would round the product, then the sum).
    """
    if bias is None:
        _check_mm(x, weight)
    else:
        _check_addmm(bias, x, weight)
        if is_half(x.dtype):
            acc = jnp.matmul(x, weight.T, preferred_element_type=jnp.float32)
            return (acc + bias.astype(jnp.float32)).astype(x.dtype)
    params = {"kernel": weight.T}
    if bias is not None:
        params["bias"] = bias
    return fnn.Dense(features=weight.shape[0], use_bias=bias is not None, **GIVEN_PARAMS).apply({"params": params}, x)


op("_linear", _linear, autocast="linear", **_P)


# --------------------------------------------------------------------------- conv_tbc
def _conv_tbc(x, weight, bias, pad=0):
    """torch's ``conv_tbc``: a 1-d convolution over time of a (time, batch, channels) input with a
    (kernel, in, out) weight, ``pad`` zeros at both ends of time (public: ``ej.conv_tbc``)."""
    if x.ndim != 3:
        raise RuntimeError("Input must have 3 dims: time, batch, in_channel")
    if weight.ndim != 3:
        raise RuntimeError("Weight tensor must have 3 dims: kernel_width, in_channels, out_channels.")
    if bias.ndim != 1:
        raise RuntimeError("Bias must be 1-D")
    if x.shape[2] != weight.shape[1]:
        raise RuntimeError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if bias.shape[0] != weight.shape[2]:
        raise RuntimeError("Bias size must equal dim 2 in the weight tensor (output channels).")
    _check_addmm(x, x, weight)
    t = x.shape[0] + 2 * pad - weight.shape[0] + 1
    if t < 0:
        raise RuntimeError(
            f"Trying to create tensor with negative dimension {t}: [{t}, {x.shape[1]}, {weight.shape[2]}]"
        )
    if t == 0:
        return jnp.zeros((0, x.shape[1], weight.shape[2]), x.dtype)
    half = is_half(x.dtype)
    y = lax.conv_general_dilated(
        x,
        weight,
        (1,),
        [(pad, pad)],
        dimension_numbers=("WNC", "WIO", "WNC"),
        preferred_element_type=jnp.float32 if half else None,
    )
    if half:  # (the bias added in float32, one rounding)
        return (y + bias.astype(jnp.float32)).astype(x.dtype)
    return y + bias


op("conv_tbc", _conv_tbc, method=False)


# --------------------------------------------------------------------------- dropout
def _dropout(key, x, p):
    """(key, x, p) -> (new_key, x * mask / (1 - p)); torch's CPU formula ``x * (bernoulli(1-p) / (1-p))``."""
    nk, k = _split(key)
    keep = jax.random.bernoulli(k, 1.0 - p, x.shape)
    denom = jnp.asarray(1.0 - p, x.dtype)
    noise = jnp.where(p >= 1, jnp.zeros((), x.dtype), keep.astype(x.dtype) / denom)
    return nk, x * noise


op("_dropout", _dropout, scalars=("p", 2), **_P)


# --------------------------------------------------------------------------- batch norm
def _batch_norm(x, running_mean, running_var, weight, bias, num_batches, momentum, *, training, eps, cumulative):
    """Batch norm forward plus (in training with running stats) the running-stat update.

    Returns ``(y,)``, ``(y, new_mean, new_var)`` or ``(y, new_mean, new_var, new_count)``:
    the update happens in the same kernel as the forward. Normalization uses the
    biased batch variance, the running variance the unbiased one (torch's rule).
    """
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    outs = []
    # torch's mixed-precision rule: statistics and the affine map in float32 at least, the
    # result in the input's dtype (a bfloat16 activation with float32 parameters stays bfloat16)
    xs = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    if training:
        n = x.size // x.shape[1]
        mean = jnp.mean(xs, axis=axes)
        var_sum = jnp.sum(jnp.square(xs - mean.reshape(bshape)), axis=axes)
        var = var_sum / n
    else:
        mean, var = running_mean, running_var
    invstd = 1.0 / jnp.sqrt(var + eps)
    scale = invstd if weight is None else invstd * weight
    y = (xs - mean.reshape(bshape).astype(xs.dtype)) * scale.reshape(bshape).astype(xs.dtype)
    if bias is not None:
        y = y + bias.reshape(bshape)
    outs.append(y.astype(x.dtype))
    if training and running_mean is not None:
        new_count = None
        if num_batches is not None:
            new_count = num_batches + 1
        if cumulative:
            m = 1.0 / new_count.astype(running_mean.dtype)
        else:
            m = jnp.asarray(momentum, running_mean.dtype)
        unbiased = var_sum / (n - 1)  # n > 1 is checked before the call
        mean_s = lax.stop_gradient(mean).astype(running_mean.dtype)
        unb_s = lax.stop_gradient(unbiased).astype(running_var.dtype)
        outs.append(m * mean_s + (1 - m) * running_mean)
        outs.append(m * unb_s + (1 - m) * running_var)
        if new_count is not None:
            outs.append(new_count)
    return tuple(outs)


op("_batch_norm", _batch_norm, scalars=("momentum", 6), **_P)


# --------------------------------------------------------------------------- softmax
def _softmax_input(x, dtype, name: str):
    """``x`` cast to ``dtype`` if given; else it must be floating (torch's error names the kernel)."""
    if dtype is not None:
        return x.astype(dtype)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise RuntimeError(f"\"{name}_lastdim_kernel_impl\" not implemented for '{x.dtype}'")
    return x


def _softmax(x, dim, dtype=None):
    return jax.nn.softmax(_softmax_input(x, dtype, "softmax"), axis=dim)


def _log_softmax(x, dim, dtype=None):
    return jax.nn.log_softmax(_softmax_input(x, dtype, "log_softmax"), axis=dim)


op("_softmax", _softmax, **_P)
op("_log_softmax", _log_softmax, **_P)
# Public ``ej.softmax`` / ``Tensor.softmax`` unless another table module already defines them.
for _n in ("softmax", "log_softmax"):
    if _n not in OPS:
        alias(_n, "_" + _n, function=True, method=True)


# --------------------------------------------------------------------------- losses
def _reduce(loss, reduction):
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def _weighted_reduce(loss, w, reduction):
    """``_reduce``, except that 'mean' divides by the total weight ``w`` (torch's rule for weighted losses)."""
    if reduction == "mean":
        return jnp.sum(loss) / jnp.sum(w)
    return _reduce(loss, reduction)


def _mse_loss(x, target, weight=None, *, reduction):
    d = x - target
    sq = d * d
    if weight is None:
        return _reduce(sq, reduction)
    w = jnp.broadcast_to(weight, sq.shape).astype(sq.dtype)
    return _weighted_reduce(sq * w, w, reduction)


op("_mse_loss", _mse_loss, promote=True, **_P)


def _class_weight_shape(ndim: int, c: int) -> tuple:
    return (1, c) + (1,) * (ndim - 2)


def _nll_core(logp, target, weight, ignore_index):
    """Per-element ``-w[t] * logp[t]`` (0 where ignored) and the per-element weights."""
    mask = target != ignore_index
    safe = jnp.where(mask, target, 0).astype(jnp.int32)
    picked = jnp.take_along_axis(logp, jnp.expand_dims(safe, 1), axis=1).squeeze(1)
    if weight is not None:
        w = jnp.where(mask, weight[safe], 0).astype(logp.dtype)
    else:
        w = mask.astype(logp.dtype)
    # ignored elements are off the tape (torch gives them no gradient): a weighted 'mean' whose
    # weights sum to 0 backpropagates 1/0, and 0 * inf there would be NaN
    return jnp.where(mask, -picked * w, 0), w, mask


def _nll_loss(logp, target, weight=None, *, reduction, ignore_index):
    unbatched = logp.ndim == 1
    if unbatched:
        logp, target = logp[None], target[None]
    loss, w, _ = _nll_core(logp, target, weight, ignore_index)
    out = _weighted_reduce(loss, w, reduction)
    return out[0] if (unbatched and reduction == "none") else out


op("_nll_loss", _nll_loss, **_P)


def _cross_entropy(x, target, weight=None, *, reduction, ignore_index, label_smoothing, probs):
    unbatched = x.ndim == 1
    if unbatched:
        x, target = x[None], target[None]
    c = x.shape[1]
    logp = jax.nn.log_softmax(x, axis=1)
    wb = None if weight is None else weight.reshape(_class_weight_shape(x.ndim, c)).astype(logp.dtype)
    if probs:
        t = target.astype(logp.dtype)
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / c
        prod = logp * t if wb is None else logp * wb * t
        if reduction == "mean":
            return -jnp.sum(prod) / (logp.size // c)
        if reduction == "sum":
            return -jnp.sum(prod)
        out = -jnp.sum(prod, axis=1)
        return out[0] if unbatched else out
    loss, w, mask = _nll_core(logp, target, weight, ignore_index)
    nll = _weighted_reduce(loss, w, reduction)
    if label_smoothing <= 0:
        return nll[0] if (unbatched and reduction == "none") else nll
    smooth = -jnp.sum(logp if wb is None else logp * wb, axis=1)
    smooth = jnp.where(mask, smooth, 0)
    ret = _weighted_reduce(smooth, w, reduction)
    out = (1 - label_smoothing) * nll + ret * (label_smoothing / c)
    return out[0] if (unbatched and reduction == "none") else out


op("_cross_entropy", _cross_entropy, **_P)


# --------------------------------------------------------------------------- init helpers (random rows)
_HALF_LOG_2PI = 0.9189385332046727


def _inv_log_ndtr(t):
    """x with log Phi(x) = t (t <= 0), accurate where exp(t) underflows float32."""
    from jax.scipy.special import log_ndtr, ndtri

    deep = t < -60.0  # x < ~-10.7: start from the asymptotic inverse, refine by Newton on log Phi
    td = jnp.where(deep, t, -61.0)
    u = -2.0 * td
    x = -jnp.sqrt(u - jnp.log(u) - 2 * _HALF_LOG_2PI)
    for _ in range(4):
        lc = log_ndtr(x)
        x = x - (lc - td) * jnp.exp(lc + 0.5 * x * x + _HALF_LOG_2PI)
    return jnp.where(deep, x, ndtri(jnp.exp(t)))


def _trunc_normal(key, shape, dtype, mean=0.0, std=1.0, a=-2.0, b=2.0):
    # Inverse CDF in log space on the side of the interval nearer the left tail (reflected when
    # it lies right of the mean), so bounds many std from the mean still sample the truncated law.
    from jax.scipy.special import log_ndtr

    nk, k = _split(key)
    s = jnp.abs(std)
    lo = (a - mean) / s
    hi = (b - mean) / s
    flip = lo + hi > 0
    lo, hi = jnp.where(flip, -hi, lo), jnp.where(flip, -lo, hi)
    log_lo, log_hi = log_ndtr(lo), log_ndtr(hi)
    u = jax.random.uniform(k, shape, jnp.float32)
    z = _inv_log_ndtr(log_hi + jnp.log(u + (1 - u) * jnp.exp(log_lo - log_hi)))
    z = jnp.where(flip, -z, z)
    return nk, jnp.clip(mean + s * z, a, b).astype(dtype)


def _orthogonal(key, shape, dtype, gain=1.0):
    nk, k = _split(key)
    rows = shape[0]
    cols = 1
    for d in shape[1:]:
        cols *= d
    flat = jax.random.normal(k, (rows, cols), jnp.float32)
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    d = jnp.sign(jnp.diagonal(r))
    q = q * d[None, :]
    if rows < cols:
        q = q.T
    return nk, (q * gain).reshape(shape).astype(dtype)


_R = dict(function=False, method=False, differentiable=False)
op("_trunc_normal", _trunc_normal, scalars=("mean", "std", "a", "b"), **_R)
op("_orthogonal", _orthogonal, scalars=("gain",), **_R)


# --------------------------------------------------------------------------- parameter vectors (nn.utils)
op("_flat_cat", lambda xs: jnp.concatenate([jnp.ravel(x) for x in xs]), **_P)


def _split_to_shapes(v, shapes):
    out = []
    start = 0
    for s in shapes:
        n = 1
        for d in s:
            n *= d
        out.append(v[start : start + n].reshape(s))
        start += n
    return tuple(out)


op("_split_to_shapes", _split_to_shapes, **_P)
