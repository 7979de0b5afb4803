"""``torch.nn.functional``: the extra losses (``l1_loss``, ``smooth_l1_loss``, ``huber_loss``,
``binary_cross_entropy`` with and without logits, ``kl_div``, ``cosine_embedding_loss``);
the core ones (``mse_loss``, ``nll_loss``, ``cross_entropy``) are in ``functional.py``.

Each function checks its arguments in Python with torch's wording and runs ONE
row of ``eagerjax/_ops/_nn2.py``. The BCE input-range check reads tensor values, so
it runs only in eager mode; under ``ej.compile``/lazy capture it is skipped.
"""

from __future__ import annotations

import warnings

from .. import _dtypes
from .._dispatch import dispatch
from .._generate import _torch_name
from .._ops import _nn2  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._tensor import Tensor
from ._functional_checks import _broadcast_check, _is_eager, _minmax, require_tensor

__all__ = [
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "cosine_embedding_loss",
]


# --------------------------------------------------------------------------- losses
def _reduction(size_average, reduce, reduction: str) -> str:
    from .functional import _reduction

    return _reduction(size_average, reduce, reduction, stacklevel=5)  # one frame more: this wrapper


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
    require_tensor("binary_cross_entropy", "target", 2, target)
    if not _dtypes.is_floating(target.dtype):
        raise RuntimeError(f"Found dtype {_torch_name(target.dtype)} but expected {_torch_name(input.dtype)}")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()!r}) that is different to the input size ({input.size()!r}) is "
            "deprecated. Please ensure they have the same size."
        )
    if _is_eager() and input.numel() > 0:
        lo, hi = (float(v) for v in _minmax(input))
        if lo < 0 or hi > 1:
            raise RuntimeError("all elements of input should be between 0 and 1")
        lo, hi = (float(v) for v in _minmax(target))
        if lo < 0 or hi > 1:
            raise RuntimeError("all elements of target should be between 0 and 1")
    return dispatch(OPS["_bce"], (input, target, weight), {"reduction": reduction})


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
) -> Tensor:
    """Sigmoid + BCE in one numerically stable kernel; ``pos_weight`` weights the positive term per class."""
    reduction = _reduction(size_average, reduce, reduction)
    require_tensor("binary_cross_entropy_with_logits", "target", 2, target)
    if _dtypes.is_floating(input.dtype) and not _dtypes.is_floating(target.dtype):
        raise RuntimeError(
            f"result type {_torch_name(input.dtype)} can't be cast to the desired output type "
            f"{_torch_name(target.dtype)}"
        )
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
