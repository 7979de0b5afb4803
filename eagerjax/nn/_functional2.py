"""``torch.nn.functional``, part 2: convolution, pooling, normalization, embedding,
padding, interpolation, distances, channel dropout and the extra losses.

Each function checks its arguments in Python with torch's wording and runs ONE
row of ``eagerjax/_ops/_nn2.py``. Checks that need tensor *values* (embedding
index range, ``one_hot`` class range, BCE input range) run only in eager mode,
where reading a value is allowed; under ``ej.compile``/lazy capture they are
skipped.
"""

from __future__ import annotations

import math
import warnings

from .. import _dtypes
from .._autograd import no_grad
from .._dispatch import dispatch
from .._generate import _torch_name
from .._ops import _nn2  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._random import draw
from .._state import flags
from .._tensor import Tensor

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "layer_norm",
    "group_norm",
    "rms_norm",
    "embedding",
    "one_hot",
    "pad",
    "interpolate",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
    "bilinear",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "cosine_embedding_loss",
]

_CONV = OPS["_conv"]
_CONV_T = OPS["_conv_transpose"]
_MAX_POOL = OPS["_max_pool"]
_MAX_POOL_I = OPS["_max_pool_with_indices"]
_AVG_POOL = OPS["_avg_pool"]
_ADAPTIVE_AVG = OPS["_adaptive_avg_pool"]
_ADAPTIVE_MAX = OPS["_adaptive_max_pool"]
_LAYER_NORM = OPS["_layer_norm"]
_GROUP_NORM = OPS["_group_norm"]
_RMS_NORM = OPS["_rms_norm"]
_EMBEDDING = OPS["_embedding"]
_EMB_RENORM = OPS["_embedding_renorm"]
_ONE_HOT = OPS["_one_hot"]
_PAD = OPS["_pad"]
_INTERP = OPS["_interpolate"]
_NORMALIZE = OPS["_normalize"]
_COSSIM = OPS["_cosine_similarity"]
_PDIST = OPS["_pairwise_distance"]
_BILINEAR = OPS["_bilinear"]
_DROPOUT_ND = OPS["_dropout_nd"]
_MINMAX = OPS["_minmax"]


# --------------------------------------------------------------------------- helpers
def _tuple(x, n: int, name: str = "", fn: str = "") -> tuple:
    if isinstance(x, (list, tuple)):
        t = tuple(int(v) for v in x)
        if len(t) == 1:
            return t * n
        if len(t) != n and fn:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {n} values to match the "
                f"convolution dimensions, but got {name}={list(t)}"
            )
        return t
    return (int(x),) * n


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _is_eager() -> bool:
    return flags.mode is None


def _reduction(size_average, reduce, reduction: str) -> str:
    from .functional import _reduction

    return _reduction(size_average, reduce, reduction, stacklevel=5)  # one frame more: this wrapper


# --------------------------------------------------------------------------- convolution
def _conv_nd(nsp, input, weight, bias, stride, padding, dilation, groups, padding_mode="zeros"):
    name = f"conv{nsp}d"
    ishape, wshape = tuple(input.shape), tuple(weight.shape)
    if len(wshape) != nsp + 2:
        raise RuntimeError(
            f"Expected {nsp + 2}-dimensional weight for {name}, but got {len(wshape)}-dimensional weight of size "
            f"{_shape_str(wshape)} instead"
        )
    if len(ishape) not in (nsp + 1, nsp + 2):
        raise RuntimeError(
            f"Expected {nsp + 1}D (unbatched) or {nsp + 2}D (batched) input to {name}, but got input of size: "
            f"{_shape_str(ishape)}"
        )
    bshape = ishape if len(ishape) == nsp + 2 else (1,) + ishape
    stride = _tuple(stride, nsp, "stride", name)
    dilation = _tuple(dilation, nsp, "dilation", name)
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    ks = wshape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nsp
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = []
            for k, d in zip(ks, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            pads = tuple(pads)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        p = _tuple(padding, nsp, "padding", name)
        if any(v < 0 for v in p):
            raise RuntimeError("negative padding is not supported")
        pads = tuple((v, v) for v in p)
    if wshape[0] % groups != 0:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight "
            f"of size [{_shape_str(wshape)}] instead"
        )
    if bshape[1] != wshape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_shape_str(wshape)}, expected input{_shape_str(bshape)} to "
            f"have {wshape[1] * groups} channels, but got {bshape[1]} channels instead"
        )
    if bias is not None and tuple(bias.shape) != (wshape[0],):
        raise RuntimeError(
            f"Given weight of size {_shape_str(wshape)}, expected bias to be 1-dimensional with {wshape[0]} "
            f"elements, but got bias of size {_shape_str(tuple(bias.shape))} instead"
        )
    if padding_mode != "zeros":
        flat = []
        for lo, hi in reversed(pads):
            flat += [lo, hi]
        _check_mode_pad(ishape, tuple(flat), padding_mode)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(bshape[2:], pads))
    eff = tuple(d * (k - 1) + 1 for k, d in zip(ks, dilation))
    if any(e > n for e, n in zip(eff, padded)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
            f"({' x '.join(map(str, eff))}). Kernel size can't be greater than actual input size"
        )
    return dispatch(
        _CONV,
        (input, weight, bias),
        {"stride": stride, "padding": pads, "dilation": dilation, "groups": int(groups), "padding_mode": padding_mode},
    )


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1D convolution over ``(N, C_in, L)`` (or unbatched ``(C_in, L)``); weight ``(C_out, C_in/groups, k)``."""
    return _conv_nd(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2D convolution over ``(N, C_in, H, W)``; weight ``(C_out, C_in/groups, kH, kW)``; padding int/tuple/'same'/'valid'."""
    return _conv_nd(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    return _conv_nd(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose_nd(nsp, input, weight, bias, stride, padding, output_padding, groups, dilation):
    name = f"conv_transpose{nsp}d"
    ishape, wshape = tuple(input.shape), tuple(weight.shape)
    if len(ishape) not in (nsp + 1, nsp + 2) or len(wshape) != nsp + 2:
        raise RuntimeError(
            f"Expected {nsp + 1}D (unbatched) or {nsp + 2}D (batched) input to {name}, but got input of size: "
            f"{_shape_str(ishape)}"
        )
    bshape = ishape if len(ishape) == nsp + 2 else (1,) + ishape
    stride = _tuple(stride, nsp, "stride", name)
    padding = _tuple(padding, nsp, "padding", name)
    output_padding = _tuple(output_padding, nsp, "output_padding", name)
    dilation = _tuple(dilation, nsp, "dilation", name)
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(v < 0 for v in padding):
        raise RuntimeError("negative padding is not supported")
    if any(v < 0 for v in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(op_ >= s and op_ >= d for op_, s, d in zip(output_padding, stride, dilation)):
        dims = ["height", "width"] if nsp == 2 else (["width"] if nsp == 1 else ["depth", "height", "width"])
        parts = (
            [f"output_padding_{n}: {v}" for n, v in zip(dims, output_padding)]
            + [f"stride_{n}: {v}" for n, v in zip(dims, stride)]
            + [f"dilation_{n}: {v}" for n, v in zip(dims, dilation)]
        )
        raise RuntimeError("output padding must be smaller than either stride or dilation, but got " + " ".join(parts))
    if bshape[1] != wshape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape_str(wshape)}, expected input{_shape_str(bshape)} to have "
            f"{wshape[0]} channels, but got {bshape[1]} channels instead"
        )
    if wshape[0] % groups != 0:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight "
            f"of size [{_shape_str(wshape)}] instead"
        )
    if bias is not None and tuple(bias.shape) != (wshape[1] * groups,):
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape_str(wshape)}, expected bias to be 1-dimensional with "
            f"{wshape[1] * groups} elements, but got bias of size {_shape_str(tuple(bias.shape))} instead"
        )
    out = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op_ + 1
        for n, s, p, d, k, op_ in zip(bshape[2:], stride, padding, dilation, wshape[2:], output_padding)
    )
    if any(o <= 0 for o in out):
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, bshape[2:]))}). Calculated output size per "
            f"channel: ({' x '.join(map(str, out))}). Output size is too small"
        )
    return dispatch(
        _CONV_T,
        (input, weight, bias),
        {
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "dilation": dilation,
            "groups": int(groups),
        },
    )


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2D convolution; weight ``(C_in, C_out/groups, kH, kW)`` (torch's layout)."""
    return _conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


# --------------------------------------------------------------------------- pooling
def _pool_args(nsp, name, input, kernel_size, stride, padding, dilation, ceil_mode, kind="avg"):
    """Normalize pooling arguments and run torch's checks; ``kind``: "avg", "max" or "max_indices"."""
    ishape = tuple(input.shape)
    if len(ishape) not in (nsp + 1, nsp + 2) or 0 in ishape[1:]:
        dims = {1: "2D or 3D", 2: "3D or 4D", 3: "4D or 5D"}[nsp]
        raise RuntimeError(f"non-empty {dims} (batch mode) tensor expected for input")

    def tup(v, what):
        if isinstance(v, (list, tuple)):
            if len(v) == 1:
                return (int(v[0]),) * nsp
            if len(v) != nsp:
                n = {1: "one int", 2: "two ints", 3: "three ints"}[nsp]
                raise RuntimeError(f"{name}: {what} must either be a single int, or a tuple of {n}")
            return tuple(int(x) for x in v)
        return (int(v),) * nsp

    k = tup(kernel_size, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else tup(stride, "stride")
    p = tup(padding, "padding")
    d = tup(dilation, "dilation")
    if any(v <= 0 for v in k):
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_size={list(k)}")
    if any(v == 0 for v in s):
        raise RuntimeError("stride should not be zero")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"dilation should be greater than zero, but got dilation={list(d)}")
    if kind == "max" and nsp == 1 and p[0] > k[0] // 2:
        raise RuntimeError(
            f"max_pool1d() padding should be at most half of kernel size, but got padding={p[0]} and kernel_size={k[0]}"
        )
    for kk, pp, dd in zip(k, p, d):
        if pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pp}, kernel_size={kk} and "
                f"dilation={dd}"
            )
    if kind != "avg" and any(pp > kk // 2 for kk, pp in zip(k, p)):
        if nsp == 3:
            detail = f"kT: {k[0]} kW: {k[2]} kH: {k[1]} padT: {p[0]} padW: {p[2]} padH: {p[1]}"
        else:
            kh, kw = (1, k[0]) if nsp == 1 else k
            ph, pw = (0, p[0]) if nsp == 1 else p
            detail = f"padW = {pw}, padH = {ph}, kW = {kw}, kH = {kh}"
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got {detail}")
    spatial = ishape[-nsp:]
    outs = []
    for n, kk, ss, pp, dd in zip(spatial, k, s, p, d):
        eff = dd * (kk - 1) + 1
        num = n + 2 * pp - eff
        o = (-(-num // ss) if ceil_mode else num // ss) + 1
        if ceil_mode and (o - 1) * ss >= n + pp:
            o -= 1
        outs.append(o)
    if any(o <= 0 for o in outs):
        if kind == "max" and nsp == 1:
            raise RuntimeError(f"max_pool1d() Invalid computed output size: {outs[0]}")
        c = ishape[-nsp - 1]
        if nsp == 1:
            spatial, outs = (1,) + spatial, [1] + outs
        raise RuntimeError(
            f"Given input size: ({'x'.join(map(str, (c,) + spatial))}). Calculated output size: "
            f"({'x'.join(map(str, (c,) + tuple(outs)))}). Output size is too small"
        )
    return k, s, p, d


def _max_pool(nsp, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    kind = "max_indices" if return_indices else "max"
    k, s, p, d = _pool_args(nsp, f"max_pool{nsp}d", input, kernel_size, stride, padding, dilation, ceil_mode, kind)
    kw = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": bool(ceil_mode)}
    if return_indices:
        return dispatch(_MAX_POOL_I, (input,), kw)
    return dispatch(_MAX_POOL, (input,), kw)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling (``stride`` defaults to ``kernel_size``); ``return_indices`` gives flat per-plane argmaxes."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True
):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True
):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True
):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_pool(nsp, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    k, s, p, _ = _pool_args(nsp, f"avg_pool{nsp}d", input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    return dispatch(
        _AVG_POOL,
        (input,),
        {
            "kernel_size": k,
            "stride": s,
            "padding": p,
            "ceil_mode": bool(ceil_mode),
            "count_include_pad": bool(count_include_pad),
            "divisor_override": None if divisor_override is None else int(divisor_override),
        },
    )


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """Average pooling with torch's divisor rules (``count_include_pad``, ``ceil_mode``, ``divisor_override``)."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _adaptive_size(nsp, name, input, output_size):
    ishape = tuple(input.shape)
    if len(ishape) not in (nsp + 1, nsp + 2):
        dims = {1: "2D or 3D", 2: "3D or 4D", 3: "4D or 5D"}[nsp]
        raise RuntimeError(f"{name}(): Expected {dims} tensor, but got {_shape_str(ishape)}")
    for i in range(1, len(ishape)):
        if ishape[i] == 0:
            raise RuntimeError(
                f"{name}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
                f"{_shape_str(ishape)} with dimension {i} being empty"
            )
    if isinstance(output_size, (list, tuple)):
        if len(output_size) == 1:
            output_size = tuple(output_size) * nsp
        if len(output_size) != nsp:
            raise RuntimeError(f"{name}: output_size must be {nsp}")
    else:
        output_size = (output_size,) * nsp
    spatial = ishape[-nsp:]
    return tuple(int(n if o is None else o) for o, n in zip(output_size, spatial))


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    return dispatch(
        _ADAPTIVE_AVG, (input,), {"output_size": _adaptive_size(1, "adaptive_avg_pool1d", input, output_size)}
    )


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Adaptive average pooling with torch's bins (``None`` in ``output_size`` keeps that input size)."""
    return dispatch(
        _ADAPTIVE_AVG, (input,), {"output_size": _adaptive_size(2, "adaptive_avg_pool2d", input, output_size)}
    )


def adaptive_avg_pool3d(input, output_size) -> Tensor:
    return dispatch(
        _ADAPTIVE_AVG, (input,), {"output_size": _adaptive_size(3, "adaptive_avg_pool3d", input, output_size)}
    )


def adaptive_max_pool1d(input, output_size, return_indices=False):
    out = dispatch(
        _ADAPTIVE_MAX, (input,), {"output_size": _adaptive_size(1, "adaptive_max_pool1d", input, output_size)}
    )
    return out if return_indices else out[0]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    out = dispatch(
        _ADAPTIVE_MAX, (input,), {"output_size": _adaptive_size(2, "adaptive_max_pool2d", input, output_size)}
    )
    return out if return_indices else out[0]


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, True)


# --------------------------------------------------------------------------- normalization
def _norm_shape(normalized_shape) -> tuple:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(v) for v in normalized_shape)


def _check_norm_shape(input, ns: tuple, star: str) -> None:
    ishape = tuple(input.shape)
    if len(ns) == 0:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but "
            f"got normalized_shape = {list(ns)}"
        )
    if len(ishape) < len(ns) or ishape[len(ishape) - len(ns) :] != ns:
        raise RuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape [{star}{', '.join(map(str, ns))}], but "
            f"got input of size{_shape_str(ishape)}"
        )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims (``flax.linen.LayerNorm``)."""
    ns = _norm_shape(normalized_shape)
    _check_norm_shape(input, ns, "*, ")
    if weight is not None and tuple(weight.shape) != ns:
        raise RuntimeError(
            f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
            f"{_shape_str(tuple(weight.shape))} and normalized_shape = {_shape_str(ns)}"
        )
    if bias is not None and tuple(bias.shape) != ns:
        raise RuntimeError(
            f"Expected bias to be of same shape as normalized_shape, but got bias of shape "
            f"{_shape_str(tuple(bias.shape))} and normalized_shape = {_shape_str(ns)}"
        )
    return dispatch(_LAYER_NORM, (input, weight, bias), {"ndim": len(ns), "eps": float(eps)})


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Group normalization of an ``(N, C, *)`` input (``flax.linen.GroupNorm`` on the channels-last view)."""
    ishape = tuple(input.shape)
    if len(ishape) < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {len(ishape)}")
    c = ishape[1]
    if num_groups <= 0 or c % num_groups != 0:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{_shape_str(ishape)} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dim() != 1 or t.numel() != c):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in input, but got {name} "
                f"of shape {_shape_str(tuple(t.shape))} and input of shape {_shape_str(ishape)}"
            )
    return dispatch(_GROUP_NORM, (input, weight, bias), {"num_groups": int(num_groups), "eps": float(eps)})


def rms_norm(input, normalized_shape, weight=None, eps=None) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing dims; ``eps=None`` is ``finfo(dtype).eps``."""
    ns = _norm_shape(normalized_shape)
    _check_norm_shape(input, ns, "*")
    if weight is not None and tuple(weight.shape) != ns:
        raise RuntimeError(
            f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
            f"{_shape_str(tuple(weight.shape))} and normalized_shape = {_shape_str(ns)}"
        )
    if eps is None:
        import numpy as np

        dt = input.dtype if _dtypes.is_floating(input.dtype) else _dtypes.get_default_dtype()
        eps = float(np.finfo(dt).eps)
    return dispatch(_RMS_NORM, (input, weight), {"ndim": len(ns), "eps": float(eps)})


# --------------------------------------------------------------------------- embedding
def _check_indices(idx: Tensor, n: int, what: str) -> None:
    if not _dtypes.is_integer(idx.dtype):
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but "
            f"got torch.{_torch_name(idx.dtype)}Tensor instead (while checking arguments for {what})"
        )
    if _is_eager() and idx.numel() > 0:
        lo, hi = (int(v) for v in _minmax(idx))
        if lo < 0 or hi >= n:
            raise IndexError("index out of range in self")


def embedding(
    input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False
) -> Tensor:
    """Row lookup ``weight[input]`` (``flax.linen.Embed``); the ``padding_idx`` row gets no gradient.

    ``max_norm`` renormalizes the referenced rows of ``weight`` in place first (as torch
    does); ``sparse=True`` is accepted but gradients are dense.
    """
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    n = weight.size(0)
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < n, "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -n, "Padding_idx must be within num_embeddings"
            padding_idx = n + padding_idx
    _check_indices(input, n, "embedding")
    if max_norm is not None:
        with no_grad():
            new = dispatch(_EMB_RENORM, (weight, input), {"max_norm": float(max_norm), "norm_type": float(norm_type)})
            weight._assign(new._read())
    return dispatch(
        _EMBEDDING,
        (weight, input),
        {
            "padding_idx": None if padding_idx is None else int(padding_idx),
            "scale_grad_by_freq": bool(scale_grad_by_freq),
        },
    )


def one_hot(tensor, num_classes=-1) -> Tensor:
    """``(*) -> (*, num_classes)`` int64 one-hot; ``num_classes=-1`` reads ``max + 1`` (eager only)."""
    if not _dtypes.is_integer(tensor.dtype) or tensor.dtype == _dtypes.bool_:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1 or _is_eager():
        if tensor.numel() == 0:
            if num_classes <= 0:
                raise RuntimeError("Can not infer total number of classes from empty tensor.")
        else:
            lo, hi = (int(v) for v in _minmax(tensor))
            if lo < 0:
                raise RuntimeError("Class values must be non-negative.")
            if num_classes == -1:
                num_classes = hi + 1
            elif hi >= num_classes:
                raise RuntimeError("Class values must be smaller than num_classes.")
    return dispatch(_ONE_HOT, (tensor,), {"num_classes": int(num_classes)})


# --------------------------------------------------------------------------- padding / resizing
def pad(input, pad, mode="constant", value=None) -> Tensor:
    """torch's ``F.pad``: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``; modes constant
    (negative pads crop), reflect, replicate, circular."""
    pad = tuple(int(v) for v in pad)
    ishape = tuple(input.shape)
    if len(pad) % 2 != 0:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > len(ishape):
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but got padding length "
            f"{len(pad)} and input of dimension {len(ishape)}"
        )
    if mode == "constant":
        out = []
        for i in range(len(pad) // 2):
            d = len(ishape) - 1 - i
            n = ishape[d] + pad[2 * i] + pad[2 * i + 1]
            if n < 0:
                raise RuntimeError(
                    f"The input size {ishape[d]}, plus negative padding {pad[2 * i]} and {pad[2 * i + 1]} resulted "
                    f"in a negative output size, which is invalid. Check dimension {d} of your input."
                )
            out.append(n)
        return dispatch(_PAD, (input,), {"pad": pad, "mode": "constant", "value": 0.0 if value is None else value})
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    _check_mode_pad(ishape, pad, mode)
    return dispatch(_PAD, (input,), {"pad": pad, "mode": mode})


def _check_mode_pad(ishape: tuple, pad: tuple, mode: str) -> None:
    """torch's checks for the reflect / replicate / circular modes."""
    k = len(pad) // 2
    if k not in (1, 2, 3) or len(ishape) not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {len(ishape)}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    for i in range(k):
        d = len(ishape) - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = ishape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but got: "
                f"padding ({lo}, {hi}) at dimension {d} of input {_shape_str(ishape)}"
            )
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if mode == "replicate" and n == 0:
            raise RuntimeError("padding size is expected to be positive for replicate mode")


_INTERP_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_LINEAR_DIMS = {"linear": 3, "bilinear": 4, "trilinear": 5}


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
) -> Tensor:
    """Resize the spatial dims: nearest / nearest-exact / linear / bilinear / bicubic / trilinear /
    area, by ``size`` or ``scale_factor``, with torch's source-index rules (``align_corners`` too)."""
    ishape = tuple(input.shape)
    nsp = len(ishape) - 2
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | "
                "trilinear"
            )
    elif align_corners is None:
        align_corners = False
    if mode not in _INTERP_MODES or nsp not in (1, 2, 3) or (mode == "bicubic" and nsp != 2):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {len(ishape)}D) for the modes: nearest | "
            f"linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})"
        )
    if antialias:
        raise NotImplementedError("eagerjax: interpolate(antialias=True) is not supported yet")
    if mode in _LINEAR_DIMS and len(ishape) != _LINEAR_DIMS[mode]:
        raise NotImplementedError(f"Got {len(ishape)}D input, but {mode} mode needs {_LINEAR_DIMS[mode]}D input")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    spatial = ishape[2:]
    scales = None
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != nsp:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {list(spatial)} and output size of {size}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            out = tuple(int(v) for v in size)
        else:
            out = (int(size),) * nsp
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != nsp:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {list(spatial)} and scale_factor of shape {scale_factor}. Please provide "
                    "input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            sf = tuple(float(v) for v in scale_factor)
        else:
            sf = (float(scale_factor),) * nsp
        out = tuple(int(math.floor(float(n) * s)) for n, s in zip(spatial, sf))
        if not recompute_scale_factor:
            scales = sf
    else:
        raise ValueError("either size or scale_factor should be defined")
    if any(o <= 0 for o in out):
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input ({' x '.join(map(str, spatial))}) "
            f"output ({' x '.join(map(str, out))})"
        )
    if mode == "area":
        return adaptive_avg_pool1d(input, out) if nsp == 1 else dispatch(_ADAPTIVE_AVG, (input,), {"output_size": out})
    return dispatch(
        _INTERP,
        (input,),
        {"size": out, "mode": mode, "align_corners": bool(align_corners), "scales": scales},
    )


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None) -> Tensor:
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None) -> Tensor:
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None) -> Tensor:
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --------------------------------------------------------------------------- distances
def _wrap(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``."""
    d = _wrap(dim, input.dim())
    res = dispatch(_NORMALIZE, (input,), {"p": float(p), "dim": d, "eps": float(eps)})
    if out is not None:
        from .._generate import inplace_update

        return inplace_update(out, res, "normalize")
    return res


def _broadcast_check(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    a2 = (1,) * (n - len(a)) + a
    b2 = (1,) * (n - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(a2, b2)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}"
            )
        out.append(max(x, y))
    return tuple(out)


def cosine_similarity(x1, x2, dim=1, eps=1e-8) -> Tensor:
    """Cosine similarity along ``dim`` (inputs broadcast); each norm is clamped to ``eps``."""
    shape = _broadcast_check(tuple(x1.shape), tuple(x2.shape))
    d = _wrap(dim, len(shape))
    return dispatch(_COSSIM, (x1, x2), {"dim": d, "eps": float(eps)})


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim."""
    _broadcast_check(tuple(x1.shape), tuple(x2.shape))
    return dispatch(_PDIST, (x1, x2), {"p": float(p), "eps": float(eps), "keepdim": bool(keepdim)})


def bilinear(input1, input2, weight, bias=None) -> Tensor:
    """``y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o]``."""
    s1, s2, ws = tuple(input1.shape), tuple(input2.shape), tuple(weight.shape)
    if len(s1) != len(s2):
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {len(s1)} and {len(s2)}")
    for i in range(len(s1) - 1):
        if s1[i] != s2[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match: got {s1[i]} and {s2[i]}")
    if len(ws) != 3:
        raise RuntimeError(f"bilinear(): weight must be three-dimensional, but got {len(ws)} dimensions")
    if s1[-1] != ws[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {s1[-1]} but expected {ws[1]}")
    if s2[-1] != ws[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {s2[-1]} but expected {ws[2]}")
    if bias is not None and tuple(bias.shape)[-1:] != (ws[0],):
        raise RuntimeError(
            f"bilinear(): bias size does not match weight size: got {tuple(bias.shape)[-1]} but expected {ws[0]}"
        )
    return dispatch(_BILINEAR, (input1, input2, weight, bias), {})


# --------------------------------------------------------------------------- channel dropout
def _feature_dropout(input, p, training, inplace, batched):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    out = draw(_DROPOUT_ND, None, input, p=float(p), batched=bool(batched))
    if inplace:
        from .functional import _inplace

        return _inplace(input, out, True, "dropout_")
    return out


def dropout1d(input, p=0.5, training=True, inplace=False) -> Tensor:
    """Zero whole channels of ``(N, C, L)`` / ``(C, L)`` input with probability ``p``."""
    if input.dim() not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that dropout1d exists "
            "to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an "
            "optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return _feature_dropout(input, p, training, inplace, input.dim() == 3)


def dropout2d(input, p=0.5, training=True, inplace=False) -> Tensor:
    """Zero whole channels of ``(N, C, H, W)`` input with probability ``p`` (3D input: torch's
    legacy reading as ``(N, C, L)``, with its warning)."""
    d = input.dim()
    if d not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {d}-D input to dropout2d, which is deprecated and will result in an error in a "
            "future release. To retain the behavior and silence this warning, please use dropout instead. Note that "
            "dropout2d exists to provide channel-wise dropout on inputs with 2 spatial dimensions, a channel "
            "dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if d == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, inplace, d >= 2)


def dropout3d(input, p=0.5, training=True, inplace=False) -> Tensor:
    d = input.dim()
    if d not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {d}-D input to dropout3d, which is deprecated and will result in an error in a "
            "future release. To retain the behavior and silence this warning, please use dropout instead. Note that "
            "dropout3d exists to provide channel-wise dropout on inputs with 3 spatial dimensions, a channel "
            "dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, inplace, d != 4)


# --------------------------------------------------------------------------- losses
def _size_warning(input, target) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.size()!r}) that is different to the input size ({input.size()!r}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _check_weight_shape(input, weight) -> None:
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")


def _minmax(t: Tensor) -> tuple:
    lo, hi = dispatch(_MINMAX, (t,), {})
    return lo, hi


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None) -> Tensor:
    """Mean/sum/none of ``|input - target|`` (optional elementwise ``weight``)."""
    reduction = _reduction(size_average, reduce, reduction)
    _size_warning(input, target)
    _check_weight_shape(input, weight)
    return dispatch(OPS["_l1_loss"], (input, target, weight), {"reduction": reduction})


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - beta/2``."""
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _size_warning(input, target)
    return dispatch(OPS["_smooth_l1_loss"], (input, target), {"reduction": reduction, "beta": float(beta)})


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta * (|d| - delta/2)``."""
    _reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _size_warning(input, target)
    _check_weight_shape(input, weight)
    return dispatch(OPS["_huber_loss"], (input, target, weight), {"reduction": reduction, "delta": float(delta)})


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean") -> Tensor:
    """``-w (y log x + (1-y) log(1-x))`` with logs clamped at -100; ``input`` must lie in [0, 1]."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()!r}) that is different to the input size ({input.size()!r}) is "
            "deprecated. Please ensure they have the same size."
        )
    if _is_eager() and input.numel() > 0:
        lo, hi = (float(v) for v in _minmax(input))
        if lo < 0 or hi > 1:
            raise RuntimeError("all elements of input should be between 0 and 1")
    return dispatch(OPS["_bce"], (input, target, weight), {"reduction": reduction})


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
) -> Tensor:
    """Sigmoid + BCE in one numerically stable kernel; ``pos_weight`` weights the positive term per class."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.size()!r}) must be the same as input size ({input.size()!r})")
    shape = tuple(input.shape)
    for t in (weight, pos_weight):
        if t is not None:
            _broadcast_check(tuple(t.shape), shape)
    return dispatch(OPS["_bce_logits"], (input, target, weight, pos_weight), {"reduction": reduction})


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False) -> Tensor:
    """``target * (log(target) - input)`` (or ``exp(t) * (t - input)`` with ``log_target``); 'batchmean' too."""
    if size_average is not None or reduce is not None:
        from .functional import _legacy_reduction

        reduction = _legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size.'batchmean' "
            "divides only by the batch size, and aligns with the KL div math definition.'mean' will be changed to "
            "behave the same as 'batchmean' in the next major release.",
            stacklevel=2,
        )
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _broadcast_check(tuple(input.shape), tuple(target.shape))
    return dispatch(OPS["_kl_div"], (input, target), {"reduction": reduction, "log_target": bool(log_target)})


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean") -> Tensor:
    """``1 - cos(x1, x2)`` for ``y = 1``, ``max(0, cos(x1, x2) - margin)`` for ``y = -1``."""
    reduction = _reduction(size_average, reduce, reduction)
    s1, s2, st = tuple(input1.shape), tuple(input2.shape), tuple(target.shape)
    _broadcast_check(s1, s2)
    if len(s1) not in (1, 2):
        raise RuntimeError(
            f"1D target tensor expects 2D input tensors, but found inputs with sizes {list(s1)} and {list(s2)}."
        )
    if len(s1) == 2 and len(st) != 1:
        raise RuntimeError(
            f"1D target tensor expects 2D input tensors, but found inputs with sizes {list(s1)} and {list(s2)}."
        )
    if len(s1) == 1 and len(st) != 0:
        raise RuntimeError(
            f"0D target tensor expects 1D input tensors, but found inputs with sizes {list(s1)} and {list(s2)}."
        )
    if len(s1) == 2:
        _broadcast_check((s1[0],), st)
    return dispatch(
        OPS["_cosine_embedding_loss"], (input1, input2, target), {"margin": float(margin), "reduction": reduction}
    )
