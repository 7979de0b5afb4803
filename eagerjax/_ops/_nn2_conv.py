"""The functions behind the ``nn2`` rows for padding, convolution and pooling (the rows
themselves are registered in ``_nn2.py``), plus the NCHW <-> NHWC layout helpers and
the zero-gradient ``|x|`` that the other ``_nn2_*`` modules share.

Convolutions go through ``flax.linen.Conv``/``ConvTranspose`` (a grouped transposed
convolution through ``lax.conv_general_dilated``: Flax's has no groups); pooling through
``flax.linen.max_pool``/``avg_pool`` where Flax expresses the torch option exactly,
otherwise through ``lax.reduce_window`` or a gather with index tables computed at trace
time (with torch's index arithmetic).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _dtypes
from ._linalg import is_half
from ._nn import GIVEN_PARAMS


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


def _add_bias_f32(y, bias, dtype, nsp: int):
    """float16/bfloat16 with a bias: the float32 accumulator ``y`` plus the bias, rounded once
    (torch's CPU kernels; adding the bias to the rounded product would round twice)."""
    return (y + bias.astype(jnp.float32).reshape((1, -1) + (1,) * nsp)).astype(dtype)


_CONV_F32 = functools.partial(lax.conv_general_dilated, preferred_element_type=jnp.float32)


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
    half_bias = bias is not None and is_half(x.dtype)
    params = _conv_params(weight, None if half_bias else bias)
    layer = fnn.Conv(
        features=weight.shape[0],
        kernel_size=tuple(weight.shape[2:]),
        strides=tuple(stride),
        padding=tuple(tuple(p) for p in padding),
        kernel_dilation=tuple(dilation),
        feature_group_count=groups,
        use_bias=bias is not None and not half_bias,
        **({"conv_general_dilated": _CONV_F32} if half_bias else {}),
        **GIVEN_PARAMS,
    )
    y = _to_first(layer.apply({"params": params}, _to_last(x, nsp)), nsp)
    if half_bias:
        y = _add_bias_f32(y, bias, x.dtype, nsp)
    return y[0] if unbatched else y


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
    half_bias = bias is not None and is_half(x.dtype)
    f32 = {"preferred_element_type": jnp.float32} if half_bias else {}
    if groups == 1:
        fnn = _flax()
        params = _conv_params(weight, None if half_bias else bias)
        layer = fnn.ConvTranspose(
            features=weight.shape[1],
            kernel_size=tuple(ks),
            strides=tuple(stride),
            padding=pads,
            kernel_dilation=tuple(dilation),
            use_bias=bias is not None and not half_bias,
            transpose_kernel=True,
            **f32,
            **GIVEN_PARAMS,
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
            **f32,
        )
        if bias is not None and not half_bias:
            y = y + bias.reshape((1, -1) + (1,) * nsp)
    if half_bias:
        y = _add_bias_f32(y, bias, x.dtype, nsp)
    return y[0] if unbatched else y


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


def _adaptive_bins(n: int, o: int):
    start = (np.arange(o) * n) // o
    end = -((-(np.arange(o) + 1) * n) // o)
    return start, end


def _adaptive_avg_pool(x, *, output_size):
    """torch's adaptive average pooling (bins ``[floor(i*n/o), ceil((i+1)*n/o))``) as one
    averaging matrix per spatial dim (the bins are rectangles, so the average separates).
    A dim that ``o`` divides has equal, disjoint bins: a reshape and a mean, which XLA runs
    in place (the matrix product made it transpose the activations: 7% of the cnn step)."""
    nsp = len(output_size)
    y = x
    for i, o in enumerate(output_size):
        ax = x.ndim - nsp + i
        n = x.shape[ax]
        if o > 0 and n % o == 0:
            y = jnp.mean(y.reshape(y.shape[:ax] + (o, n // o) + y.shape[ax + 1 :]), axis=ax + 1)
            continue
        start, end = _adaptive_bins(n, o)
        m = np.zeros((o, n), np.float64)
        for j in range(o):
            m[j, start[j] : end[j]] = 1.0 / (end[j] - start[j])
        y = jnp.moveaxis(jnp.tensordot(y, jnp.asarray(m, x.dtype), axes=[[ax], [1]]), -1, ax)
    return y


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
