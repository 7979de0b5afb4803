"""``torch.nn.functional``: the stateless forms of the layers, activations and losses.

Layer math and losses are rows of ``eagerjax/_ops/_nn.py`` (one jitted kernel per
call); elementwise activations re-use the rows of the op table. Argument
checks that torch performs on shapes and dtypes happen here, in Python, with
torch's wording.
"""

from __future__ import annotations

import warnings

from .. import _autocast, _dtypes
from .._autograd import no_grad
from .._dispatch import dispatch
from .._generate import _torch_name, check_inplace, inplace_update
from .._generate import functional as _F
from .._ops._bounds import out_of_range
from .._ops._registry import OPS
from .._random import draw
from .._tensor import Size, Tensor
from ._functional_checks import check_dim, require_tensor

__all__ = [
    "linear",
    "dropout",
    "batch_norm",
    "softmax",
    "log_softmax",
    "softmin",
    "relu",
    "relu_",
    "relu6",
    "elu",
    "elu_",
    "selu",
    "celu",
    "leaky_relu",
    "leaky_relu_",
    "gelu",
    "silu",
    "mish",
    "hardtanh",
    "hardtanh_",
    "softplus",
    "sigmoid",
    "tanh",
    "logsigmoid",
    "hardsigmoid",
    "hardswish",
    "softsign",
    "tanhshrink",
    "mse_loss",
    "nll_loss",
    "cross_entropy",
]

_LINEAR = OPS["_linear"]
_DROPOUT = OPS["_dropout"]
_BATCH_NORM = OPS["_batch_norm"]
_SOFTMAX = OPS["_softmax"]
_LOG_SOFTMAX = OPS["_log_softmax"]
_MSE = OPS["_mse_loss"]
_NLL = OPS["_nll_loss"]
_CE = OPS["_cross_entropy"]


# --------------------------------------------------------------------------- helpers
def _dtype_name(d) -> str:
    """torch's short dtype name for messages; int32 storage of ``torch.long`` (no x64) reads as Long."""
    if d == _dtypes.int64:
        return "Long"
    return _torch_name(d)


def _inplace(input: Tensor, out: Tensor, inplace: bool, name: str) -> Tensor:
    if not inplace:
        return out
    check_inplace(input, name)
    return inplace_update(input, out, name)


def _legacy_reduction(size_average, reduce, emit_warning: bool = True, stacklevel: int = 3) -> str:
    warning = "size_average and reduce args will be deprecated, please use reduction='{}' instead."
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(warning.format(ret), stacklevel=stacklevel)
    return ret


def _check_reduction(reduction: str) -> str:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduction(size_average, reduce, reduction: str, stacklevel: int = 4) -> str:
    """A loss's checked ``reduction``, from the legacy ``size_average``/``reduce`` pair when either is given
    (its deprecation warning ``stacklevel`` frames up: by default the caller of the loss function)."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, stacklevel=stacklevel)
    return _check_reduction(reduction)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


# --------------------------------------------------------------------------- layers
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = input @ weight.T + bias`` (weight in torch's ``(out_features, in_features)`` layout)."""
    require_tensor("linear", "input", 1, input)
    ishape = tuple(input.shape)
    wshape = tuple(weight.shape)
    if not ishape or ishape[-1] != wshape[-1]:
        rows = 1
        for d in ishape[:-1]:
            rows *= d
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{ishape[-1] if ishape else 1} and "
            f"{wshape[-1]}x{wshape[0] if len(wshape) > 1 else 1})"
        )
    if input.dtype != weight.dtype and not _autocast.casts("linear", input, weight):
        # (torch does not promote: an int batch is a bug; autocast casts both first). Its
        # bias-free path is a matmul, with that kernel's message.
        if bias is None:
            from .._ops._linalg import _c_name

            raise RuntimeError(
                f"expected m1 and m2 to have the same dtype, but got: {_c_name(input.dtype)} != {_c_name(weight.dtype)}"
            )
        raise RuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {_torch_name(input.dtype)} and "
            f"{_torch_name(weight.dtype)}"
        )
    return dispatch(_LINEAR, (input, weight, bias), {})


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (identity when not training)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    out = draw(_DROPOUT, None, input, p=float(p))
    return _inplace(input, out, inplace, "dropout_")


def _verify_batch_size(size) -> None:
    n = size[0]
    for d in size[2:]:
        n *= d
    if n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {Size(size)!r}")


def _batch_norm(input, running_mean, running_var, weight, bias, num_batches, training, momentum, eps, cumulative):
    """One kernel: normalize, and (training with running stats) update them in place."""
    c = input.shape[1] if input.dim() >= 2 else None
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if c is not None and t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    if training:
        _verify_batch_size(tuple(input.shape))
    outs = dispatch(
        _BATCH_NORM,
        (input, running_mean, running_var, weight, bias, num_batches, momentum),
        {"training": bool(training), "eps": float(eps), "cumulative": bool(cumulative)},
    )
    if len(outs) > 1:
        with no_grad():
            running_mean._assign(outs[1]._read())
            running_var._assign(outs[2]._read())
            if len(outs) > 3:
                num_batches._assign(outs[3]._read())
    return outs[0]


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-05,
) -> Tensor:
    if training and (running_mean is None) != (running_var is None):
        raise RuntimeError("running_mean and running_var must be defined together")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
    return _batch_norm(input, running_mean, running_var, weight, bias, None, training, momentum, eps, False)


# --------------------------------------------------------------------------- softmax family
def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    check_dim(dim, input.dim())
    kw = {} if dtype is None else {"dtype": _dtypes.to_dtype(dtype)}
    return dispatch(_SOFTMAX, (input, dim), kw)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    check_dim(dim, input.dim())
    kw = {} if dtype is None else {"dtype": _dtypes.to_dtype(dtype)}
    return dispatch(_LOG_SOFTMAX, (input, dim), kw)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("softmin", input.dim(), _stacklevel)
    check_dim(dim, input.dim())
    kw = {} if dtype is None else {"dtype": _dtypes.to_dtype(dtype)}
    return dispatch(_SOFTMAX, (-input, dim), kw)


# --------------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.relu(input), inplace, "relu_")


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.relu6(input), inplace, "relu6_")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.elu(input, alpha=alpha), inplace, "elu_")


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.selu(input), inplace, "selu_")


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.celu(input, alpha=alpha), inplace, "celu_")


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.leaky_relu(input, negative_slope=negative_slope), inplace, "leaky_relu_")


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _F.gelu(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.silu(input), inplace, "silu_")


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.mish(input), inplace, "mish_")


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.hardtanh(input, min_val=min_val, max_val=max_val), inplace, "hardtanh_")


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _F.softplus(input, beta=beta, threshold=threshold)


def sigmoid(input: Tensor) -> Tensor:
    return _F.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return _F.tanh(input)


def logsigmoid(input: Tensor) -> Tensor:
    return _F.logsigmoid(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.hardsigmoid(input), inplace, "hardsigmoid_")


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _F.hardswish(input), inplace, "hardswish_")


def softsign(input: Tensor) -> Tensor:
    return _F.softsign(input)


def tanhshrink(input: Tensor) -> Tensor:
    return _F.tanhshrink(input)


# --------------------------------------------------------------------------- losses
def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.size()!r}) that is different to the input size ({input.size()!r}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=2,
        )
    return dispatch(_MSE, (input, target, weight), {"reduction": reduction})


def _check_index_target(input: Tensor, target: Tensor, ignore_index: int) -> None:
    if input.dim() <= 2 and target.dim() > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.dim() >= 3:
        want = (input.size(0), *input.shape[2:])
        if tuple(target.shape) != want:
            if input.dim() == 4:  # (torch's nll_loss2d words, spacing included)
                raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: {list(target.shape)}")
            raise RuntimeError(f"Expected target size {list(want)}, got {list(target.shape)}")
    if not _dtypes.is_integer(target.dtype) and target.dtype != _dtypes.uint8:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_dtype_name(target.dtype)}")
    if input.dim() >= 2 and target.dim() >= 1 and input.size(0) != target.size(0):
        raise ValueError(f"Expected input batch_size ({input.size(0)}) to match target batch_size ({target.size(0)}).")
    # eager only (see _ops/_bounds): XLA would give a NaN or a wrong loss, silently
    v = out_of_range(target, input.size(1) if input.dim() >= 2 else input.size(0), wrap=False, ignore=ignore_index)
    if v is not None:
        raise IndexError(f"Target {v} is out of bounds.")


def _check_weight(input: Tensor, weight: Tensor | None) -> None:
    if weight is None:
        return
    c = input.size(1) if input.dim() >= 2 else input.size(0)
    if tuple(weight.shape) != (c,):
        raise RuntimeError(
            f"weight tensor should be defined either for all {c} classes or no classes but got weight tensor "
            f"of shape: {list(weight.shape)}"
        )


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    require_tensor("nll_loss", "target", 2, target)
    _check_index_target(input, target, int(ignore_index))
    _check_weight(input, weight)
    return dispatch(_NLL, (input, target, weight), {"reduction": reduction, "ignore_index": int(ignore_index)})


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """log_softmax + nll in one kernel; class-index or class-probability targets, label smoothing, weights."""
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    require_tensor("cross_entropy_loss", "input", 1, input)
    require_tensor("cross_entropy_loss", "target", 2, target)
    probs = tuple(input.shape) == tuple(target.shape)
    if probs:
        if not _dtypes.is_floating(target.dtype):
            raise RuntimeError(
                f"Expected floating point type for target with class probabilities, got {_dtype_name(target.dtype)}"
            )
    else:
        _check_index_target(input, target, int(ignore_index))
    _check_weight(input, weight)
    return dispatch(
        _CE,
        (input, target, weight),
        {
            "reduction": reduction,
            "ignore_index": int(ignore_index),
            "label_smoothing": float(label_smoothing),
            "probs": probs,
        },
    )


# convolution and pooling (``_functional_conv``); normalization, embedding, padding, interpolation, distances and
# channel dropout (``_functional_layers``); the extra losses (``_functional_losses``); rows in ``_ops/_nn2.py``
from . import _functional_conv, _functional_layers, _functional_losses  # noqa: E402
from ._functional_conv import *  # noqa: E402, F401, F403
from ._functional_layers import *  # noqa: E402, F401, F403
from ._functional_losses import *  # noqa: E402, F401, F403

__all__ += _functional_conv.__all__ + _functional_layers.__all__ + _functional_losses.__all__

# instance norm, pixel (un)shuffle, embedding bag (rows in ``_ops/_nn3.py``)
from . import _functional3  # noqa: E402
from ._functional3 import *  # noqa: E402, F401, F403

__all__ += _functional3.__all__

# prelu / glu / shrinks, alpha dropout, LRN, unfold / fold, margin / NLL / CTC losses, gumbel_softmax (``_ops/_nn4.py``)
from . import _functional4  # noqa: E402
from ._functional4 import *  # noqa: E402, F401, F403

__all__ += _functional4.__all__

from . import _functional_grid  # noqa: E402
from ._functional_grid import *  # noqa: E402, F401, F403

__all__ += _functional_grid.__all__

# attention (rows in ``_ops/_nn_seq.py``)
from ._attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402

__all__ += ["scaled_dot_product_attention", "multi_head_attention_forward"]

# channel_shuffle (the op-table row ``ej.channel_shuffle``; ``nn.ChannelShuffle`` in ``_layers5``)
from ._layers5 import channel_shuffle  # noqa: E402

__all__ += ["channel_shuffle"]

# rrelu, celu_/selu_, lp / fractional / adaptive-3d pooling, max unpooling, pdist (rows in ``_ops/_nn6.py``)
from . import _functional6  # noqa: E402
from ._functional6 import *  # noqa: E402, F401, F403

__all__ += _functional6.__all__
