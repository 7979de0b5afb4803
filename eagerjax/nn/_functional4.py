"""``torch.nn.functional``, part 4: ``prelu``, ``glu``, ``threshold``, the shrinks, alpha
dropout, ``local_response_norm``, ``unfold``/``fold`` (im2col / col2im), the margin,
ranking and NLL losses, ``ctc_loss`` and ``gumbel_softmax``.

Each function checks its arguments in Python with torch's wording and runs ONE row of
``eagerjax/_ops/_nn4.py`` (``triplet_margin_with_distance_loss`` composes rows, as
its distance is any callable). Checks that read tensor *values* (target ranges, a
negative variance) run only in eager mode; under ``ej.compile``/lazy capture they
are skipped.
"""

from __future__ import annotations

import warnings

from .. import _dtypes
from .._dispatch import dispatch
from .._dtype_info import finfo, iinfo
from .._generate import _torch_name, check_inplace, inplace_update
from .._generate import functional as _F
from .._ops import _nn4  # noqa: F401 - registers the rows
from .._ops._bounds import out_of_range
from .._ops._registry import OPS
from .._random import draw
from .._tensor import Tensor
from ._functional_checks import _broadcast_check, _is_eager, _minmax, _shape_str, check_dim, require_tensor
from ._functional_losses import _reduction  # (torch's legacy size_average/reduce, one frame deep)

__all__ = [
    "prelu",
    "glu",
    "threshold",
    "threshold_",
    "hardshrink",
    "softshrink",
    "alpha_dropout",
    "feature_alpha_dropout",
    "local_response_norm",
    "unfold",
    "fold",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "ctc_loss",
    "gumbel_softmax",
]


def _pair(v) -> tuple:
    if isinstance(v, (tuple, list)):
        return tuple(int(x) for x in v)
    return (int(v), int(v))


def _size_repr(t: Tensor) -> str:
    return repr(t.size())


# --------------------------------------------------------------------------- activations
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where positive, else ``weight * x`` (``weight``: one value or one per channel, dim 1)."""
    require_tensor("prelu", "weight", 2, weight)
    if weight.dim() > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}")
    n = weight.numel()
    if n != 1:
        channels = input.size(1) if input.dim() >= 2 else 1
        if n != channels:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                f"{n} and channel size = {channels}."
            )
    return _F.prelu(input, weight)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """``a * sigmoid(b)`` for the two halves ``a, b`` of ``input`` along ``dim``."""
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    check_dim(dim, input.dim())
    d = dim % input.dim()
    if input.size(d) % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {input.size(d)}")
    return dispatch(OPS["_glu"], (input,), {"dim": d})


def _threshold(input: Tensor, th: float, value: float, inplace: bool) -> Tensor:
    out = _F.threshold(input, th, value)
    if not inplace:
        return out
    check_inplace(input, "threshold_")
    return inplace_update(input, out, "threshold_")


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``value`` where ``input <= threshold``, else ``input``."""
    return _threshold(input, threshold, value, inplace)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _threshold(input, threshold, value, True)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``0`` on ``[-lambd, lambd]``, else ``input``."""
    return _F.hardshrink(input, lambd)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``input -/+ lambd`` outside ``[-lambd, lambd]``, ``0`` inside."""
    if lambd < 0:
        dt = input.dtype
        hi = finfo(dt).max if _dtypes.is_floating(dt) else iinfo(dt).max
        raise RuntimeError(
            f"lambda must be in range [0, {float(hi):g}] for input dtype {_torch_name(dt)}, but found {lambd:g}"
        )
    return dispatch(OPS["_softshrink"], (input, lambd), {})


# --------------------------------------------------------------------------- alpha dropout
def _alpha(input, p, training, inplace, feature, name):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        return input
    if feature and input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    out = draw(OPS["_alpha_dropout"], None, input, p=float(p), feature=bool(feature))
    if not inplace:
        return out
    check_inplace(input, name)
    return inplace_update(input, out, name)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout that keeps a SELU network's mean and variance (masked values go to SELU's negative saturation)."""
    return _alpha(input, p, training, inplace, False, "alpha_dropout_")


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels (one draw per ``(n, c)``)."""
    return _alpha(input, p, training, inplace, True, "feature_alpha_dropout_")


# --------------------------------------------------------------------------- local response norm
def local_response_norm(input: Tensor, size: int, alpha: float = 0.0001, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """``x / (k + alpha * mean of x^2 over size neighbouring channels)^beta``."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    return dispatch(
        OPS["_local_response_norm"],
        (input,),
        {"size": int(size), "alpha": float(alpha), "beta": float(beta), "k": float(k)},
    )


# --------------------------------------------------------------------------- unfold / fold
def _check_window(kernel, dilation, padding, stride) -> None:
    if kernel[0] <= 0 or kernel[1] <= 0:
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kernel_height: {kernel[0]} kernel_width: {kernel[1]}"
        )
    if stride[0] <= 0 or stride[1] <= 0:
        raise RuntimeError(
            f"stride should be greater than zero, but got stride_height: {stride[0]} stride_width: {stride[1]}"
        )
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise RuntimeError(
            "dilation should be greater than zero, but got dilation_height: "
            f"{dilation[0]} dilation_width: {dilation[1]}"
        )
    if padding[0] < 0 or padding[1] < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {padding[0]} pad_width: {padding[1]}")


def _nblocks(size, kernel, dilation, padding, stride) -> tuple:
    return tuple((size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(2))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: ``(N, C, H, W) -> (N, C * kh * kw, L)``, one column per sliding block."""
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    _check_window(k, d, p, s)
    shape = tuple(input.shape)
    if len(shape) not in (3, 4) or any(v == 0 for v in shape[-3:]):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for "
            f"input, but got: {_shape_str(shape)}"
        )
    oh, ow = _nblocks(shape[-2:], k, d, p, s)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given input with spatial size ({shape[-2]}, {shape[-1]}), kernel_size=({k[0]}, {k[1]}), "
            f"dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), calculated shape of the array of sliding "
            f"blocks as ({oh}, {ow}), but its components must be at least one."
        )
    return dispatch(OPS["_im2col"], (input,), {"kernel_size": k, "dilation": d, "padding": p, "stride": s})


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im: ``(N, C * kh * kw, L) -> (N, C, H, W)``, overlapping values summed."""
    o, k, d, p, s = _pair(output_size), _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    _check_window(k, d, p, s)
    shape = tuple(input.shape)
    if len(shape) not in (2, 3) or any(v == 0 for v in shape[-2:]):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions "
            f"for input, but got: {_shape_str(shape)}"
        )
    if shape[-2] % (k[0] * k[1]) != 0:
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
            f"input.size(1)={shape[-2]} and kernel_size=({k[0]}, {k[1]})."
        )
    oh, ow = _nblocks(o, k, d, p, s)
    where = (
        f"Given output_size=({o[0]}, {o[1]}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), "
        f"padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), "
    )
    if shape[-1] != oh * ow:
        raise RuntimeError(
            where + f"expected size of input's dimension 2 to match the calculated number of sliding blocks "
            f"{oh} * {ow} = {oh * ow}, but got input.size(2)={shape[-1]}."
        )
    if oh < 1 or ow < 1:
        raise RuntimeError(
            where + f"calculated shape of the array of sliding blocks as ({oh}, {ow}), but its components must be "
            "at least one."
        )
    return dispatch(
        OPS["_col2im"], (input,), {"output_size": o, "kernel_size": k, "dilation": d, "padding": p, "stride": s}
    )


# --------------------------------------------------------------------------- losses
def margin_ranking_loss(
    input1, input2, target, margin: float = 0, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {_size_repr(input1)}, input2: {_size_repr(input2)}, target: {_size_repr(target)} "
        )
    _broadcast_check(_broadcast_check(tuple(input1.shape), tuple(input2.shape)), tuple(target.shape))
    return dispatch(
        OPS["_margin_ranking_loss"], (input1, input2, target), {"margin": float(margin), "reduction": reduction}
    )


def hinge_embedding_loss(
    input, target, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1``."""
    reduction = _reduction(size_average, reduce, reduction)
    _broadcast_check(tuple(input.shape), tuple(target.shape))
    return dispatch(OPS["_hinge_embedding_loss"], (input, target), {"margin": float(margin), "reduction": reduction})


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-target * input))``."""
    reduction = _reduction(size_average, reduce, reduction)
    _broadcast_check(tuple(input.shape), tuple(target.shape))
    return dispatch(OPS["_soft_margin_loss"], (input, target), {"reduction": reduction})


def multilabel_soft_margin_loss(
    input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """Per-class logistic loss averaged over the classes (last dim)."""
    if size_average is not None or reduce is not None:
        from .functional import _legacy_reduction

        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    shape = _broadcast_check(tuple(target.shape), tuple(input.shape))
    if weight is not None:
        _broadcast_check(shape, tuple(weight.shape))
    return dispatch(OPS["_multilabel_soft_margin_loss"], (input, target, weight), {"reduction": reduction})


def _check_margin_input(input) -> tuple:
    shape = tuple(input.shape)
    if not (len(shape) <= 1 and input.numel() > 0 or len(shape) == 2 and shape[1] > 0):
        raise RuntimeError(
            f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {_shape_str(shape)}"
        )
    n = shape[0] if len(shape) == 2 else 1
    c = shape[-1] if shape else 1
    return n, c


def _long_target(target) -> None:
    if not _dtypes.is_integer(target.dtype):
        raise RuntimeError(f"expected scalar type Long but found {_torch_name(target.dtype)}")


def multi_margin_loss(
    input, target, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None, reduction="mean"
) -> Tensor:
    """Multi-class hinge loss: ``sum_{i != y} max(0, margin - x[y] + x[i])^p * w[y] / C``."""
    reduction = _reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    n, c = _check_margin_input(input)
    if target.dim() > 1 or target.numel() != n:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch "
            f"size). Expected target size [{n}], but got {_shape_str(target.shape)}. Input has shape "
            f"{_shape_str(input.shape)}."
        )
    _long_target(target)
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got {_shape_str(weight.shape)}")
    if out_of_range(target, c, wrap=False) is not None:
        raise RuntimeError("target out of range")
    out = dispatch(
        OPS["_multi_margin_loss"],
        (input, target, weight),
        {"p": int(p), "margin": float(margin), "reduction": reduction},
    )
    if reduction == "none" and input.dim() <= 1 and target.dim() == 1:
        out = out.reshape(1)
    return out


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss over the target classes listed before the first ``-1`` of each row."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_margin_input(input)
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(
            f"inconsistent target size: {_shape_str(target.shape)} for input of size: {_shape_str(input.shape)}"
        )
    _long_target(target)
    if _is_eager() and target.numel() > 0:
        c = input.shape[-1] if input.dim() else 1
        lo, hi = (int(v) for v in _minmax(target))
        if lo < -1 or hi >= c:
            raise RuntimeError("argument #2 'target' is out of range")
    return dispatch(OPS["_multilabel_margin_loss"], (input, target), {"reduction": reduction})


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-06,
    swap: bool = False,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with the pairwise ``p``-distance."""
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_triplet_dims(anchor, positive, negative)
    for other in (positive, negative):
        _broadcast_check(tuple(anchor.shape), tuple(other.shape))
    return dispatch(
        OPS["_triplet_margin_loss"],
        (anchor, positive, negative),
        {"margin": float(margin), "p": float(p), "eps": float(eps), "swap": bool(swap), "reduction": reduction},
    )


def _check_triplet_dims(anchor, positive, negative) -> None:
    a, p, n = anchor.dim(), positive.dim(), negative.dim()
    if not (a == p and p == n):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {a}D, positive {p}D, and negative {n}D inputs"
        )


def triplet_margin_with_distance_loss(
    anchor, positive, negative, *, distance_function=None, margin: float = 1.0, swap: bool = False, reduction="mean"
) -> Tensor:
    """Triplet loss with any distance callable (default: ``pairwise_distance``)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_triplet_dims(anchor, positive, negative)
    if distance_function is None:
        from ._functional_layers import pairwise_distance as distance_function
    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    if swap:
        dist_neg = _F.minimum(dist_neg, distance_function(positive, negative))
    loss = _F.clamp_min(margin + dist_pos - dist_neg, 0)
    if reduction == "sum":
        return _F.sum(loss)
    if reduction == "mean":
        return _F.mean(loss)
    return loss


def poisson_nll_loss(
    input,
    target,
    log_input: bool = True,
    full: bool = False,
    size_average=None,
    eps: float = 1e-08,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``exp(input) - target * input`` (``log_input``) or ``input - target * log(input + eps)``."""
    if size_average is not None or reduce is not None:
        from .functional import _legacy_reduction

        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    _broadcast_check(tuple(target.shape), tuple(input.shape))
    return dispatch(
        OPS["_poisson_nll_loss"],
        (input, target),
        {"log_input": bool(log_input), "full": bool(full), "eps": float(eps), "reduction": reduction},
    )


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-06, reduction: str = "mean") -> Tensor:
    """``(log(max(var, eps)) + (input - target)^2 / max(var, eps)) / 2`` (+ ``log(2 pi) / 2`` with ``full``)."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _F.full_like(input, var)
    elif not isinstance(var, Tensor):
        require_tensor("any", "input", 1, var)
    elif _is_eager() and var.numel() > 0 and float(_minmax(var)[0]) < 0:
        raise ValueError("var has negative entry/entries")
    ishape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape != ishape:
        if ishape[:-1] == vshape:
            var = var.unsqueeze(-1)
        elif len(ishape) == len(vshape) and sum(y for x, y in zip(ishape, vshape) if x != y) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    return dispatch(
        OPS["_gaussian_nll_loss"], (input, target, var), {"full": bool(full), "eps": float(eps), "reduction": reduction}
    )


def _lengths(v, what: str, n: int) -> Tensor:
    if not isinstance(v, Tensor):
        from .._factories import tensor

        v = tensor(list(v) if isinstance(v, (list, tuple)) else [int(v)], dtype=_dtypes.int64)
    v = v.reshape(-1)
    if v.numel() != n:
        raise RuntimeError(f"{what} must be of size batch_size")
    return v


def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss of ``(T, N, C)`` (or ``(T, C)``) log-probabilities.

    ``targets``: ``(N, S)`` padded or 1-D concatenated; 'mean' divides each sample's loss by its
    target length before averaging (torch's definition).
    """
    _reduction(None, None, reduction)
    unbatched = log_probs.dim() == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        if targets.dim() == 1:
            targets = targets.unsqueeze(0)
    t_max, n, c = tuple(log_probs.shape)
    if not 0 <= blank < c:
        raise RuntimeError("blank must be in label range")
    in_lens = _lengths(input_lengths, "input_lengths", n)
    tg_lens = _lengths(target_lengths, "target_lengths", n)
    concat = targets.dim() == 1
    if _is_eager():
        lo_hi = _minmax(in_lens)
        if int(lo_hi[1]) > t_max:
            raise RuntimeError(
                f"Expected input_lengths to have value at most {t_max}, but got value {int(lo_hi[1])} (while "
                "checking arguments for ctc_loss_allocate_outputs)"
            )
        tl = tg_lens.numpy(force=True)
        if concat:
            if int(tl.sum()) != targets.size(0):
                raise RuntimeError(
                    f"Expected tensor to have size {int(tl.sum())} at dimension 0, but got size {targets.size(0)} "
                    "for argument #2 'targets' (while checking arguments for ctc_loss_allocate_outputs)"
                )
        elif n and int(tl.max()) > targets.size(1):
            raise RuntimeError(
                f"Expected tensor to have size at least {int(tl.max())} at dimension 1, but got size "
                f"{targets.size(1)} for argument #2 'targets' (while checking arguments for "
                "ctc_loss_allocate_outputs)"
            )
    out = dispatch(
        OPS["_ctc_loss"],
        (log_probs, targets, in_lens, tg_lens),
        {"blank": int(blank), "reduction": reduction, "zero_infinity": bool(zero_infinity), "concat": concat},
    )
    if unbatched and reduction == "none":
        out = out.reshape(())
    return out


# --------------------------------------------------------------------------- Gumbel-softmax
def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample of the Gumbel-softmax distribution (one-hot with straight-through gradients if ``hard``),
    drawn from eagerjax's global generator."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    check_dim(dim, logits.dim())
    d = dim % max(logits.dim(), 1)
    return draw(OPS["_gumbel_softmax"], None, logits, float(tau), hard=bool(hard), dim=d)
