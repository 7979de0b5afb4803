"""nn rows, part 2: convolution, pooling, normalization, embedding, padding,
interpolation, distances and the extra losses.

Every row is a pure function of jax arrays and static Python values, jitted per
static configuration by ``_dispatch`` (so the NCHW <-> NHWC transposes around a
Flax layer fuse into the one compiled kernel). Gradients come from ``jax.vjp``.
Layer math goes through Flax where Flax has the layer and can express the torch
option exactly (``flax.linen.Conv``/``ConvTranspose``/``max_pool``/``avg_pool``/
``LayerNorm``/``GroupNorm``/``RMSNorm``/``Embed``); otherwise the row uses
``lax.conv_general_dilated``/``lax.reduce_window`` or a gather with index tables
computed at trace time (with torch's index arithmetic) so results match torch.

Rows are library-internal (``function=False, method=False``); the public forms
with torch's argument checks live in ``eagerjax.nn._functional_conv``,
``_functional_layers`` and ``_functional_losses``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _dtypes
from .._random import _split
from ._nn import _reduce, _weighted_reduce
from ._registry import op

_P = dict(function=False, method=False)
_ND = dict(function=False, method=False, differentiable=False)


def _flax():
    import flax.linen as fnn  # imported at trace time only: keeps ``import eagerjax`` light

    return fnn


def _to_last(x, nsp: int):
    """(N, C, *spatial) -> (N, *spatial, C)."""
    return jnp.transpose(x, (0,) + tuple(range(2, nsp + 2)) + (1,))


def _to_first(y, nsp: int):
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return jnp.transpose(y, (0, nsp + 1) + tuple(range(1, nsp + 1)))


def _conv_params(weight, bias) -> dict:
    """A Flax conv's ``params``: the torch-layout weight as ``kernel`` ``(*k, in, out)``, and ``bias``."""
    params = {"kernel": jnp.transpose(weight, tuple(range(2, weight.ndim)) + (1, 0))}
    if bias is not None:
        params["bias"] = bias
    return params


def _dim_numbers(nsp: int):
    sp = "DHW"[3 - nsp :]
    return ("NC" + sp, "OI" + sp, "NC" + sp)


# --------------------------------------------------------------------------- padding
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(x, *, pad, mode="constant", value=0.0):
    """torch's ``F.pad``: ``pad`` lists (lo, hi) pairs starting from the LAST dim."""
    n = len(pad) // 2
    pairs = [(0, 0)] * (x.ndim - n) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(n))]
    if mode == "constant":
        v = jnp.asarray(0.0 if value is None else value, x.dtype)
        return lax.pad(x, v, [(lo, hi, 0) for lo, hi in pairs])
    # negative pads crop first, positive pads then extend (as torch allows for these modes)
    crop = tuple(slice(max(-lo, 0), x.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(pairs))
    x = x[crop]
    return jnp.pad(x, [(max(lo, 0), max(hi, 0)) for lo, hi in pairs], mode=_PAD_MODES[mode])


op("_pad", _pad, **_P)


# --------------------------------------------------------------------------- convolution
def _conv(x, weight, bias=None, *, stride, padding, dilation, groups, padding_mode="zeros"):
    """torch's ``F.convNd`` (weight ``(O, I/groups, *k)``) through ``flax.linen.Conv``.

    ``padding`` is one ``(lo, hi)`` pair per spatial dim. The NC* input and the
    OI* weight are transposed to Flax's channels-last / *IO layouts inside the row.
    """
    fnn = _flax()
    nsp = weight.ndim - 2
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = x[None]
    if padding_mode != "zeros":
        flat = []
        for lo, hi in reversed(padding):
            flat += [lo, hi]
        x = _pad(x, pad=tuple(flat), mode=padding_mode)
        padding = ((0, 0),) * nsp
    params = _conv_params(weight, bias)
    layer = fnn.Conv(
        features=weight.shape[0],
        kernel_size=tuple(weight.shape[2:]),
        strides=tuple(stride),
        padding=tuple(tuple(p) for p in padding),
        kernel_dilation=tuple(dilation),
        feature_group_count=groups,
        use_bias=bias is not None,
    )
    y = _to_first(layer.apply({"params": params}, _to_last(x, nsp)), nsp)
    return y[0] if unbatched else y


op("_conv", _conv, **_P)


def _conv_transpose(x, weight, bias=None, *, stride, padding, output_padding, dilation, groups):
    """torch's ``F.conv_transposeNd`` (weight ``(I, O/groups, *k)``).

    ``groups == 1``: ``flax.linen.ConvTranspose(transpose_kernel=True)`` with the
    explicit padding ``(d*(k-1) - p, d*(k-1) - p + output_padding)`` of the
    stride-dilated input; grouped: the same convolution through
    ``lax.conv_general_dilated`` (Flax's ConvTranspose has no groups).
    """
    nsp = weight.ndim - 2
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = x[None]
    ks = weight.shape[2:]
    pads = tuple(
        (d * (k - 1) - p, d * (k - 1) - p + op_) for k, p, op_, d in zip(ks, padding, output_padding, dilation)
    )
    if groups == 1:
        fnn = _flax()
        params = _conv_params(weight, bias)
        layer = fnn.ConvTranspose(
            features=weight.shape[1],
            kernel_size=tuple(ks),
            strides=tuple(stride),
            padding=pads,
            kernel_dilation=tuple(dilation),
            use_bias=bias is not None,
            transpose_kernel=True,
        )
        y = _to_first(layer.apply({"params": params}, _to_last(x, nsp)), nsp)
    else:
        cin, coutg = weight.shape[:2]
        w = weight.reshape((groups, cin // groups, coutg) + tuple(ks))
        w = jnp.swapaxes(w, 1, 2).reshape((groups * coutg, cin // groups) + tuple(ks))
        w = jnp.flip(w, axis=tuple(range(2, nsp + 2)))
        y = lax.conv_general_dilated(
            x,
            w.astype(x.dtype),
            window_strides=(1,) * nsp,
            padding=pads,
            lhs_dilation=tuple(stride),
            rhs_dilation=tuple(dilation),
            dimension_numbers=_dim_numbers(nsp),
            feature_group_count=groups,
        )
        if bias is not None:
            y = y + bias.reshape((1, -1) + (1,) * nsp)
    return y[0] if unbatched else y


op("_conv_transpose", _conv_transpose, **_P)


# --------------------------------------------------------------------------- pooling
def _pool_geometry(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> tuple[int, int]:
    """torch's pooled length and the right padding that realizes it with a plain window."""
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    hi = max((out - 1) * s + eff - size - p, 0)
    return out, hi


def _geometry(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    outs, pads = [], []
    for n, k, s, p, d in zip(spatial, kernel_size, stride, padding, dilation):
        o, hi = _pool_geometry(n, k, s, p, d, ceil_mode)
        outs.append(o)
        pads.append((p, hi))
    return tuple(outs), tuple(pads)


def _lowest(dtype):
    """The max-reduction identity as a concrete numpy scalar (jax only differentiates
    ``reduce_window`` when the init value is a known monoid identity)."""
    if jnp.issubdtype(dtype, jnp.floating):
        return np.array(-np.inf, dtype)
    return np.array(jnp.iinfo(dtype).min, dtype)


def _abs0(x):
    """``|x|`` whose gradient at 0 is 0 (torch's ``sign(0)``), not jax's 1."""
    return x * lax.stop_gradient(jnp.sign(x))


def _max_pool(x, *, kernel_size, stride, padding, dilation, ceil_mode):
    """Max pooling over the trailing ``len(kernel_size)`` dims: ``flax.linen.max_pool``
    (dilation 1), else a gather of the dilated windows (jax cannot differentiate a
    dilated max ``reduce_window``)."""
    nsp = len(kernel_size)
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = x[None]
    if any(d != 1 for d in dilation):
        # jax has no VJP for a dilated max reduce_window: gather the windows instead
        y = _max_pool_with_indices(
            x, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode
        )[0]
        return y[0] if unbatched else y
    _, pads = _geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    if jnp.issubdtype(x.dtype, jnp.floating):
        y = _to_first(_flax().max_pool(_to_last(x, nsp), tuple(kernel_size), tuple(stride), pads), nsp)
    else:
        y = lax.reduce_window(
            x,
            _lowest(x.dtype),
            lax.max,
            (1, 1) + tuple(kernel_size),
            (1, 1) + tuple(stride),
            ((0, 0), (0, 0)) + pads,
        )
    return y[0] if unbatched else y


op("_max_pool", _max_pool, **_P)


def _window_index_table(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """For every output position and window offset, the flat input index (``-1`` in padding)."""
    outs, _ = _geometry(spatial, kernel_size, stride, padding, dilation, ceil_mode)
    per_dim = []
    for n, o, k, s, p, d in zip(spatial, outs, kernel_size, stride, padding, dilation):
        pos = np.arange(o)[:, None] * s - p + np.arange(k)[None, :] * d  # (o, k)
        per_dim.append(np.where((pos >= 0) & (pos < n), pos, -1))
    nsp = len(spatial)
    flat = np.zeros((1,) * (2 * nsp), np.int64)
    valid = np.ones((1,) * (2 * nsp), bool)
    mult = 1
    for i in reversed(range(nsp)):
        shape = [1] * (2 * nsp)
        shape[i] = outs[i]
        shape[nsp + i] = kernel_size[i]
        idx = per_dim[i].reshape(shape)
        flat = flat + np.where(idx >= 0, idx, 0) * mult
        valid = valid & (idx >= 0)
        mult *= spatial[i]
    flat = np.where(valid, flat, -1)
    kprod = int(np.prod(kernel_size))
    return flat.reshape(tuple(outs) + (kprod,)), outs


def _max_pool_with_indices(x, *, kernel_size, stride, padding, dilation, ceil_mode):
    """Max pooling that also returns torch's flat per-plane argmax indices (first max wins, NaN propagates)."""
    nsp = len(kernel_size)
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = x[None]
    spatial = x.shape[2:]
    table, outs = _window_index_table(spatial, kernel_size, stride, padding, dilation, ceil_mode)
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    flat = jnp.concatenate([flat, jnp.broadcast_to(_lowest(x.dtype), (n, c, 1))], axis=2)
    tbl = np.where(table >= 0, table, flat.shape[2] - 1).reshape(-1)
    patches = jnp.take(flat, jnp.asarray(tbl, jnp.int32), axis=2).reshape((n, c) + table.shape)
    am = jnp.argmax(patches, axis=-1)  # first maximum; a NaN counts as the maximum
    vals = jnp.take_along_axis(patches, am[..., None], axis=-1)[..., 0]
    idx = jnp.take_along_axis(jnp.asarray(table, jnp.int32)[None, None], am[..., None], axis=-1)[..., 0]
    idx = lax.stop_gradient(idx).astype(_dtypes.int64)
    if unbatched:
        return vals[0], idx[0]
    return vals, idx


op("_max_pool_with_indices", _max_pool_with_indices, **_P)


def _avg_divisor(spatial, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """torch's per-window divisor (padding counted up to the padded edge, never the ceil overhang)."""
    outs, _ = _geometry(spatial, kernel_size, stride, padding, (1,) * len(spatial), ceil_mode)
    div = np.ones((), np.float64)
    for n, o, k, s, p in zip(spatial, outs, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        size = end - start
        if not count_include_pad:
            size = np.minimum(end, n) - np.maximum(start, 0)
        div = np.multiply.outer(div, size)
    return div


def _avg_pool(x, *, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    """Average pooling: ``flax.linen.avg_pool`` where its divisor is torch's, else a window sum over
    ``lax.reduce_window`` divided by torch's static per-window divisor."""
    nsp = len(kernel_size)
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = x[None]
    spatial = x.shape[2:]
    ones = (1,) * nsp
    outs, pads = _geometry(spatial, kernel_size, stride, padding, ones, ceil_mode)
    overhang = any(hi > p for (p, hi) in pads)
    if divisor_override is None and (not count_include_pad or not overhang):
        y = _flax().avg_pool(
            _to_last(x, nsp), tuple(kernel_size), tuple(stride), pads, count_include_pad=count_include_pad
        )
        y = _to_first(y, nsp).astype(x.dtype)
    else:
        s = lax.reduce_window(
            x,
            np.array(0, x.dtype),
            lax.add,
            (1, 1) + tuple(kernel_size),
            (1, 1) + tuple(stride),
            ((0, 0), (0, 0)) + pads,
        )
        if divisor_override is not None:
            y = s / jnp.asarray(divisor_override, x.dtype)
        else:
            div = _avg_divisor(spatial, kernel_size, stride, padding, ceil_mode, count_include_pad)
            y = s / jnp.asarray(div, x.dtype)
    return y[0] if unbatched else y


op("_avg_pool", _avg_pool, **_P)


def _adaptive_bins(n: int, o: int):
    start = (np.arange(o) * n) // o
    end = -((-(np.arange(o) + 1) * n) // o)
    return start, end


def _adaptive_avg_pool(x, *, output_size):
    """torch's adaptive average pooling (bins ``[floor(i*n/o), ceil((i+1)*n/o))``) as one
    averaging matrix per spatial dim (the bins are rectangles, so the average separates)."""
    nsp = len(output_size)
    y = x
    for i, o in enumerate(output_size):
        ax = x.ndim - nsp + i
        n = x.shape[ax]
        start, end = _adaptive_bins(n, o)
        m = np.zeros((o, n), np.float64)
        for j in range(o):
            m[j, start[j] : end[j]] = 1.0 / (end[j] - start[j])
        y = jnp.moveaxis(jnp.tensordot(y, jnp.asarray(m, x.dtype), axes=[[ax], [1]]), -1, ax)
    return y


op("_adaptive_avg_pool", _adaptive_avg_pool, **_P)


def _adaptive_max_pool(x, *, output_size):
    """Adaptive max pooling with torch's bins; returns ``(values, flat per-plane indices)``."""
    nsp = len(output_size)
    lead = x.shape[: x.ndim - nsp]
    spatial = x.shape[x.ndim - nsp :]
    per_dim = []
    for n, o in zip(spatial, output_size):
        start, end = _adaptive_bins(n, o)
        kmax = int((end - start).max())
        pos = start[:, None] + np.arange(kmax)[None, :]
        per_dim.append((np.where(pos < end[:, None], pos, -1), kmax))
    flat = np.zeros((1,) * (2 * nsp), np.int64)
    valid = np.ones((1,) * (2 * nsp), bool)
    mult = 1
    for i in reversed(range(nsp)):
        shape = [1] * (2 * nsp)
        shape[i] = output_size[i]
        shape[nsp + i] = per_dim[i][1]
        idx = per_dim[i][0].reshape(shape)
        flat = flat + np.where(idx >= 0, idx, 0) * mult
        valid = valid & (idx >= 0)
        mult *= spatial[i]
    table = np.where(valid, flat, -1).reshape(tuple(output_size) + (-1,))
    xf = x.reshape(lead + (-1,))
    xf = jnp.concatenate([xf, jnp.broadcast_to(_lowest(x.dtype), lead + (1,))], axis=-1)
    tbl = np.where(table >= 0, table, xf.shape[-1] - 1).reshape(-1)
    patches = jnp.take(xf, jnp.asarray(tbl, jnp.int32), axis=-1).reshape(lead + table.shape)
    am = jnp.argmax(patches, axis=-1)
    vals = jnp.take_along_axis(patches, am[..., None], axis=-1)[..., 0]
    tb = jnp.broadcast_to(jnp.asarray(table, jnp.int32), lead + table.shape)
    idx = lax.stop_gradient(jnp.take_along_axis(tb, am[..., None], axis=-1)[..., 0]).astype(_dtypes.int64)
    return vals, idx


op("_adaptive_max_pool", _adaptive_max_pool, **_P)


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
    """``flax.linen.LayerNorm`` over the trailing ``ndim`` dims (exact two-pass variance, like torch)."""
    axes = tuple(range(-ndim, 0))
    layer = _flax().LayerNorm(
        epsilon=eps,
        use_scale=weight is not None,
        use_bias=bias is not None,
        reduction_axes=axes,
        feature_axes=axes,
        use_fast_variance=False,
    )
    params = _norm_params(weight, bias)
    return layer.apply({"params": params}, x).astype(x.dtype)


op("_layer_norm", _layer_norm, **_P)


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


op("_group_norm", _group_norm, **_P)


def _rms_norm(x, weight=None, *, ndim, eps):
    """``flax.linen.RMSNorm`` over the trailing ``ndim`` dims: ``x * rsqrt(mean(x^2) + eps) * weight``."""
    axes = tuple(range(-ndim, 0))
    layer = _flax().RMSNorm(epsilon=eps, use_scale=weight is not None, reduction_axes=axes, feature_axes=axes)
    params = _norm_params(weight)
    return layer.apply({"params": params}, x).astype(x.dtype)


op("_rms_norm", _rms_norm, **_P)


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


op("_embedding", _embedding, **_P)


def _embedding_renorm(weight, idx, *, max_norm, norm_type):
    """The weight with every row referenced by ``idx`` rescaled to norm ``<= max_norm`` (torch's rule)."""
    used = jnp.zeros((weight.shape[0],), bool).at[idx.reshape(-1)].set(True)
    norms = _vector_norm(weight, norm_type, axis=1, keepdims=False)
    scale = jnp.where(used & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)
    return weight * scale[:, None].astype(weight.dtype)


op("_embedding_renorm", _embedding_renorm, **_ND)


def _one_hot(x, *, num_classes):
    return jax.nn.one_hot(x, num_classes, dtype=_dtypes.int64)


op("_one_hot", _one_hot, **_ND)
op("_minmax", lambda x: (jnp.min(x), jnp.max(x)), **_ND)  # eager-only value checks (index ranges)


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


op("_normalize", _normalize, **_P)


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


op("_cosine_similarity", _cosine_similarity, promote=True, **_P)


def _pairwise_distance(x1, x2, *, p, eps, keepdim):
    """``||x1 - x2 + eps||_p`` over the last dim."""
    d = x1 - x2 + eps
    if d.ndim == 0:
        d = d[None]
    return _vector_norm(d, p, -1, keepdim)


op("_pairwise_distance", _pairwise_distance, promote=True, **_P)


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


op("_interpolate", _interpolate, **_P)


# --------------------------------------------------------------------------- bilinear layer
def _bilinear(x1, x2, weight, bias=None):
    y = jnp.einsum("...i,oij,...j->...o", x1, weight, x2)
    if bias is not None:
        y = y + bias
    return y


op("_bilinear", _bilinear, promote=True, **_P)


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


op("_dropout_nd", _dropout_nd, scalars=("p", 2), **_P)


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
    """``-(y*log(x) + (1-y)*log(1-x))`` with each log clamped at -100 (torch's rule)."""
    logx = jnp.maximum(jnp.log(x), -100.0)
    log1mx = jnp.maximum(jnp.log1p(-x), -100.0)
    loss = -(y * logx + (1 - y) * log1mx)
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


op("_l1_loss", _l1_loss, promote=True, **_P)
op("_smooth_l1_loss", _smooth_l1_loss, promote=True, **_P)
op("_huber_loss", _huber_loss, promote=True, **_P)
op("_bce", _bce, promote=True, **_P)
op("_bce_logits", _bce_logits, promote=True, **_P)
op("_kl_div", _kl_div, promote=True, **_P)
op("_cosine_embedding_loss", _cosine_embedding_loss, **_P)
