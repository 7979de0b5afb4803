"""The functions behind the ``nn2`` rows for normalization (LayerNorm and RMSNorm in
torch's order, ``flax.linen.GroupNorm``), embedding (``flax.linen.Embed``) and ``one_hot``, distances,
interpolation (gathers and blends with index tables built at trace time, in float32 as
torch's CPU kernels compute them), ``bilinear`` and channel dropout. The rows themselves
are registered in ``_nn2.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _dtypes
from .._random import _split
from ._nn2_conv import _abs0, _adaptive_avg_pool, _flax, _to_first, _to_last


# --------------------------------------------------------------------------- normalization
def _norm_params(weight, bias=None) -> dict:
    """A Flax norm layer's ``params`` from torch's optional ``weight``/``bias``."""
    params = {}
    if weight is not None:
        params["scale"] = weight
    if bias is not None:
        params["bias"] = bias
    return params


def _layer_norm(x, weight=None, bias=None, *, ndim, eps):
    """torch's ``layer_norm`` over the trailing ``ndim`` dims, in torch's order (see ``_scaled``)."""
    axes = tuple(range(-ndim, 0))
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))  # statistics in float32 at least
    centered = xf - xf.mean(axes, keepdims=True)
    var = jnp.square(centered).mean(axes, keepdims=True)  # exact two-pass variance, like torch
    return _scaled(centered * lax.rsqrt(var + eps), weight, bias).astype(x.dtype)


def _scaled(normed, weight, bias):
    """``normed * weight + bias``, applied to the already normalized rows.

    Not through ``flax.linen.LayerNorm``/``RMSNorm``: they fold the weight into the
    per-row inverse deviation first (``(x - mu) * (rsqrt(var + eps) * weight)``), a
    product of full input size whose backward made the Transformer LM's training step
    7% slower than torch's order (``(x - mu) * rsqrt(var + eps) * weight + bias``) does.
    """
    if weight is not None:
        normed = normed * weight
    if bias is not None:
        normed = normed + bias
    return normed


def _group_norm(x, weight=None, bias=None, *, num_groups, eps):
    """``flax.linen.GroupNorm`` on the channels-last view of an ``(N, C, *)`` input."""
    nsp = x.ndim - 2
    layer = _flax().GroupNorm(
        num_groups=num_groups,
        epsilon=eps,
        use_scale=weight is not None,
        use_bias=bias is not None,
        use_fast_variance=False,
    )
    params = _norm_params(weight, bias)
    y = layer.apply({"params": params}, _to_last(x, nsp) if nsp else x)
    return (_to_first(y, nsp) if nsp else y).astype(x.dtype)


def _rms_norm(x, weight=None, *, ndim, eps):
    """torch's ``rms_norm`` over the trailing ``ndim`` dims: ``x * rsqrt(mean(x^2) + eps) * weight``."""
    axes = tuple(range(-ndim, 0))
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    ms = jnp.square(xf).mean(axes, keepdims=True)
    return _scaled(xf * lax.rsqrt(ms + eps), weight, None).astype(x.dtype)


# --------------------------------------------------------------------------- embedding
def _embedding(weight, idx, *, padding_idx=None, scale_grad_by_freq=False):
    """``flax.linen.Embed`` lookup; the ``padding_idx`` row receives no gradient and
    ``scale_grad_by_freq`` divides each row's gradient by its count in ``idx``."""
    out = _flax().Embed(weight.shape[0], weight.shape[1]).apply({"params": {"embedding": weight}}, idx)
    out = out.astype(weight.dtype)
    if scale_grad_by_freq:
        counts = jnp.bincount(idx.reshape(-1), length=weight.shape[0]).astype(weight.dtype)
        c = counts[idx][..., None]
        const = lax.stop_gradient(out)
        out = const + (out - const) / c  # value unchanged, gradient scaled by 1/count
    if padding_idx is not None:
        out = jnp.where((idx == padding_idx)[..., None], lax.stop_gradient(out), out)
    return out


def _embedding_renorm(weight, idx, *, max_norm, norm_type):
    """The weight with every row referenced by ``idx`` rescaled to norm ``<= max_norm`` (torch's rule)."""
    used = jnp.zeros((weight.shape[0],), bool).at[idx.reshape(-1)].set(True)
    norms = _vector_norm(weight, norm_type, axis=1, keepdims=False)
    scale = jnp.where(used & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)
    return weight * scale[:, None].astype(weight.dtype)


def _one_hot(x, *, num_classes):
    return jax.nn.one_hot(x, num_classes, dtype=_dtypes.int64)


# --------------------------------------------------------------------------- distances
def _vector_norm(x, p, axis, keepdims):
    """p-norm whose gradient at 0 is 0 (torch's subgradient), not NaN."""
    if p == float("inf"):
        return jnp.max(jnp.abs(x), axis=axis, keepdims=keepdims)
    if p == float("-inf"):
        return jnp.min(jnp.abs(x), axis=axis, keepdims=keepdims)
    if p == 0:
        return jnp.sum(x != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    if p == 1:
        return jnp.sum(_abs0(x), axis=axis, keepdims=keepdims)
    if p == 2:
        s = jnp.sum(x * x, axis=axis, keepdims=keepdims)
        pos = s > 0
        return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1)), 0)
    a = jnp.abs(x)
    s = jnp.sum(jnp.where(a > 0, a, 1) ** p * (a > 0), axis=axis, keepdims=keepdims)
    pos = s > 0
    return jnp.where(pos, jnp.where(pos, s, 1) ** (1.0 / p), 0)


def _normalize(x, *, p, dim, eps):
    n = _vector_norm(x, p, dim, True)
    return x / jnp.maximum(n, eps).astype(x.dtype)


def _clamped_norm(x, dim, eps):
    """``max(|x|, eps)`` whose gradient is that of the unclamped norm: torch clamps the
    norm in place outside autograd, so its backward differentiates through ``|x|`` even
    where the clamp is active."""
    n = _vector_norm(x, 2, dim, True)
    return n + lax.stop_gradient(jnp.maximum(n, eps) - n)


def _cosine_similarity(x1, x2, *, dim, eps):
    """``sum(x1/max(|x1|, eps) * x2/max(|x2|, eps))`` along ``dim`` (inputs broadcast)."""
    x1, x2 = jnp.broadcast_arrays(x1, x2)
    return jnp.sum((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps)), axis=dim)


def _pairwise_distance(x1, x2, *, p, eps, keepdim):
    """``||x1 - x2 + eps||_p`` over the last dim."""
    d = x1 - x2 + eps
    if d.ndim == 0:
        d = d[None]
    return _vector_norm(d, p, -1, keepdim)


# --------------------------------------------------------------------------- interpolation
def _interp_scale(n_in: int, n_out: int, align_corners: bool, scale) -> np.float32:
    """torch's source/destination scale, computed in float32 as torch's CPU kernels do."""
    if align_corners:
        return np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(n_in) / np.float32(n_out)


def _nearest_index(n_in: int, n_out: int, scale, exact: bool, shortcuts: bool) -> np.ndarray:
    """torch's nearest source index ``min(floor((dst [+ 0.5]) * scale), n_in - 1)`` in float32.

    torch's 2D 'nearest' kernel (only) maps ``n_out == n_in`` to the identity and
    ``n_out == 2 * n_in`` to ``dst // 2`` before using the scale; ``shortcuts`` mirrors that.
    """
    dst = np.arange(n_out)
    if shortcuts:
        if n_out == n_in:
            return dst
        if n_out == 2 * n_in:
            return dst >> 1
    s = _interp_scale(n_in, n_out, False, scale)
    off = np.float32(0.5) if exact else np.float32(0)
    src = np.floor((dst.astype(np.float32) + off) * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _linear_weights(n_in: int, n_out: int, align_corners: bool, scale):
    s = _interp_scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out).astype(np.float32)
    if align_corners:
        src = s * dst
    else:
        src = np.maximum(s * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    i0 = src.astype(np.int64)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    l1 = (src - i0.astype(np.float32)).astype(np.float32)
    l0 = (np.float32(1) - l1).astype(np.float32)
    return i0, i1, l0, l1


_CUBIC_A = np.float32(-0.75)


def _cubic_weights(n_in: int, n_out: int, align_corners: bool, scale):
    """torch's bicubic taps: 4 source indices per output (clamped to the edges) and their
    Keys-kernel weights (``a = -0.75``), computed in float32 as torch's CPU kernel does."""
    s = _interp_scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out).astype(np.float32)
    src = s * dst if align_corners else s * (dst + np.float32(0.5)) - np.float32(0.5)  # no clamp at 0
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - i0.astype(np.float32), np.float32(0), np.float32(1)).astype(np.float32)
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    one = np.float32(1)
    w = np.stack([far(t + one), near(t), near(one - t), far(one - t + one)], axis=1).astype(np.float32)
    idx = np.clip(i0[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1)
    return idx, w


def _interpolate(x, *, size, mode, align_corners, scales):
    """torch's ``interpolate`` for nearest / nearest-exact / (bi/tri)linear / bicubic / area: one
    gather (and, for the interpolating modes, one 2- or 4-tap blend) per spatial dim with index
    tables built at trace time."""
    nsp = len(size)
    if mode == "area":
        return _adaptive_avg_pool(x, output_size=tuple(size))
    y = x
    # last dim first, so the blend nests like torch's kernels (outer weight = first spatial dim)
    for i in reversed(range(nsp)):
        ax = x.ndim - nsp + i
        n_in, n_out = x.shape[ax], size[i]
        sc = scales[i] if scales is not None else None
        if mode in ("nearest", "nearest-exact"):
            idx = _nearest_index(n_in, n_out, sc, mode == "nearest-exact", nsp == 2 and mode == "nearest")
            y = jnp.take(y, jnp.asarray(idx, jnp.int32), axis=ax)
        elif mode == "bicubic":
            idx, w = _cubic_weights(n_in, n_out, bool(align_corners), sc)
            bshape = [1] * x.ndim
            bshape[ax] = n_out
            acc = None
            for k in range(4):
                term = jnp.take(y, jnp.asarray(idx[:, k], jnp.int32), axis=ax) * jnp.asarray(
                    w[:, k].reshape(bshape), x.dtype
                )
                acc = term if acc is None else acc + term
            y = acc
        elif n_in == n_out:
            continue  # torch's linear kernels copy a dim whose size does not change, whatever the scale
        else:
            i0, i1, l0, l1 = _linear_weights(n_in, n_out, bool(align_corners), sc)
            bshape = [1] * x.ndim
            bshape[ax] = n_out
            a = jnp.take(y, jnp.asarray(i0, jnp.int32), axis=ax)
            b = jnp.take(y, jnp.asarray(i1, jnp.int32), axis=ax)
            y = a * jnp.asarray(l0.reshape(bshape), x.dtype) + b * jnp.asarray(l1.reshape(bshape), x.dtype)
    return y


# --------------------------------------------------------------------------- bilinear layer
def _bilinear(x1, x2, weight, bias=None):
    y = jnp.einsum("...i,oij,...j->...o", x1, weight, x2)
    if bias is not None:
        y = y + bias
    return y


# --------------------------------------------------------------------------- channel dropout (random row)
def _dropout_nd(key, x, p, *, batched):
    """(key, x, p) -> (new_key, x * mask / (1 - p)) with one Bernoulli draw per (sample, channel)."""
    nk, k = _split(key)
    lead = 2 if batched else 1
    shape = x.shape[:lead] + (1,) * (x.ndim - lead)
    keep = jax.random.bernoulli(k, 1.0 - p, shape)
    denom = jnp.asarray(1.0 - p, x.dtype)
    noise = jnp.where(p >= 1, jnp.zeros((), x.dtype), keep.astype(x.dtype) / denom)
    return nk, x * noise
