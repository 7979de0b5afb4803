"""``torch.nn.functional``: convolution (``conv1d/2d/3d``, ``conv_transpose1d/2d/3d``) and
pooling (max with or without indices, average, adaptive average / max).

Each function checks its arguments in Python with torch's wording and runs ONE
row of ``eagerjax/_ops/_nn2.py``.
"""

from __future__ import annotations

from .. import _autocast
from .._dispatch import dispatch
from .._dtypes import torch_name
from .._ops import _nn2  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._tensor import Tensor
from ._functional_checks import _check_mode_pad, _shape_str, c_type, require_tensor

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
]

_CONV = OPS["_conv"]
_CONV_T = OPS["_conv_transpose"]
_MAX_POOL = OPS["_max_pool"]
_MAX_POOL_I = OPS["_max_pool_with_indices"]
_AVG_POOL = OPS["_avg_pool"]
_ADAPTIVE_AVG = OPS["_adaptive_avg_pool"]
_ADAPTIVE_MAX = OPS["_adaptive_max_pool"]


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


# --------------------------------------------------------------------------- convolution
def _conv_nd(nsp, input, weight, bias, stride, padding, dilation, groups, padding_mode="zeros"):
    name = f"conv{nsp}d"
    require_tensor(name, "input", 1, input)
    ishape, wshape = tuple(input.shape), tuple(weight.shape)
    other, what = (bias, "bias") if bias is not None else (weight, "weight")
    if (input.dtype != other.dtype or input.dtype != weight.dtype) and not _autocast.casts(
        "conv", input, weight, other
    ):
        if bias is None or input.dtype == bias.dtype:
            # torch's bias-free CPU paths: bfloat16 input goes to oneDNN, the rest to the
            # slow kernel (the weight is checked before the bias)
            if torch_name(input.dtype) == "BFloat16":
                raise RuntimeError(
                    f"Input type (CPUBFloat16Type) and weight type (torch.{torch_name(weight.dtype)}Tensor) should "
                    "be the same or input should be a MKLDNN tensor and weight is a dense tensor"
                )
            raise RuntimeError(f"expected scalar type {torch_name(input.dtype)} but found {torch_name(weight.dtype)}")
        raise RuntimeError(
            f"Input type ({c_type(input.dtype)}) and {what} type ({c_type(other.dtype)}) should be the same"
        )
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
