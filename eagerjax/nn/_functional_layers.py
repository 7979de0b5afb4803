"""``torch.nn.functional``: normalization (layer / group / RMS), embedding and ``one_hot``,
padding, interpolation (``interpolate`` and the deprecated ``upsample*``), distances
(``normalize``, ``cosine_similarity``, ``pairwise_distance``), ``bilinear`` and channel
dropout (``dropout1d/2d/3d``).

Each function checks its arguments in Python with torch's wording and runs ONE
row of ``eagerjax/_ops/_nn2.py``.
Checks that need tensor *values* (embedding index range, ``one_hot`` class range)
run only in eager mode, where reading a value is allowed; under ``ej.compile``/lazy
capture they are skipped.
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
from .._tensor import Tensor
from ._antialias import interpolate_aa
from ._functional_checks import _broadcast_check, _check_mode_pad, _is_eager, _minmax, _shape_str, require_tensor
from ._functional_conv import _ADAPTIVE_AVG, adaptive_avg_pool1d

__all__ = [
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
]

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
    """Normalize over the trailing ``normalized_shape`` dims, in torch's order:
    ``(x - mean) * rsqrt(var + eps) * weight + bias``."""
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
        import jax.numpy as jnp  # (its finfo knows bfloat16)

        dt = input.dtype if _dtypes.is_floating(input.dtype) else _dtypes.get_default_dtype()
        eps = float(jnp.finfo(dt).eps)
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
    require_tensor("embedding", "indices", 2, input)
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
    area, by ``size`` or ``scale_factor``, with torch's source-index rules (``align_corners`` too);
    ``antialias=True`` (bilinear / bicubic, 4-D input) filters as torch's ``_upsample_*2d_aa``."""
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
    if antialias and not (mode in ("bilinear", "bicubic") and len(ishape) == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
        )
    if mode in _LINEAR_DIMS and len(ishape) != _LINEAR_DIMS[mode]:
        raise NotImplementedError(f"Got {len(ishape)}D input, but {mode} mode needs {_LINEAR_DIMS[mode]}D input")
    if any(o <= 0 for o in out):
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input ({' x '.join(map(str, spatial))}) "
            f"output ({' x '.join(map(str, out))})"
        )
    if antialias:
        return interpolate_aa(input, out, mode, align_corners, scales)
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
