"""torch's top-level spellings of nn features: ``torch.conv2d``, ``torch.batch_norm``,
``torch.dropout(x, p, train)``, ``torch.kl_div(x, y, reduction=1)`` and friends, plus the
top-level in-place functions that are not op-table rows (``torch.zero_``, ``torch.selu_``).

These are torch's ATen signatures, which often differ from ``nn.functional``'s: the
arguments are positional and mostly required, reductions are ints (0 none, 1 mean, 2 sum),
``batch_norm`` takes ``weight, bias`` before the running statistics, ``embedding`` takes the
weight first, pools take ``stride=()`` for "the kernel size". Each maps onto the
``nn.functional`` implementation (rows and kernels), so it is differentiable and works
eager, compiled and lazy like the functional form.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import _dtypes
from ._autograd import no_grad
from ._dispatch import dispatch
from ._generate import check_inplace, functional, inplace_update
from ._ops._registry import OPS
from ._random import draw
from ._state import flags
from ._tensor import Tensor
from .nn import functional as F
from .nn._functional_layers import _feature_dropout

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "affine_grid_generator",
    "alpha_dropout",
    "alpha_dropout_",
    "avg_pool1d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy_with_logits",
    "celu_",
    "conj_physical",
    "conj_physical_",
    "constant_pad_nd",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "convolution",
    "cosine_embedding_loss",
    "cosine_similarity",
    "ctc_loss",
    "dropout",
    "dropout_",
    "embedding",
    "embedding_bag",
    "feature_alpha_dropout",
    "feature_alpha_dropout_",
    "feature_dropout",
    "feature_dropout_",
    "grid_sampler",
    "group_norm",
    "hinge_embedding_loss",
    "instance_norm",
    "kl_div",
    "layer_norm",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool3d",
    "native_batch_norm",
    "native_channel_shuffle",
    "native_dropout",
    "native_layer_norm",
    "pairwise_distance",
    "pdist",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "rms_norm",
    "rrelu",
    "rrelu_",
    "selu_",
    "threshold_",
    "triplet_margin_loss",
]

# Same signature as nn.functional's: the functional form itself.
conv1d = F.conv1d
conv2d = F.conv2d
conv3d = F.conv3d
conv_transpose1d = F.conv_transpose1d
conv_transpose2d = F.conv_transpose2d
conv_transpose3d = F.conv_transpose3d
rms_norm = F.rms_norm
bilinear = F.bilinear
cosine_similarity = F.cosine_similarity
pairwise_distance = F.pairwise_distance
pdist = F.pdist
pixel_shuffle = F.pixel_shuffle
pixel_unshuffle = F.pixel_unshuffle
adaptive_avg_pool1d = F.adaptive_avg_pool1d


def convolution(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
) -> Tensor:
    """torch.convolution: the N-d (transposed) convolution that ``weight``'s rank names."""
    n = weight.dim() - 2
    if n not in (1, 2, 3):
        raise RuntimeError(f"Expected 3D, 4D or 5D weight for convolution, but got weight of size {list(weight.shape)}")
    if transposed:
        conv = getattr(F, f"conv_transpose{n}d")
        return conv(input, weight, bias, tuple(stride), tuple(padding), tuple(output_padding), groups, tuple(dilation))
    return getattr(F, f"conv{n}d")(input, weight, bias, tuple(stride), tuple(padding), tuple(dilation), groups)


# --------------------------------------------------------------------------- normalization
def batch_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Tensor:
    """torch.batch_norm: ``weight, bias`` come before the running statistics (which a
    training call updates in place, as F.batch_norm does); ``cudnn_enabled`` is ignored."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def native_batch_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_batch_norm: ``(out, save_mean, save_invstd)``; training saves the batch mean
    and ``1/sqrt(biased var + eps)`` and updates given running stats in place (one kernel, the
    ``_native_batch_norm`` row); eval normalizes with the running stats and saves empty tensors."""
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
    if training and (running_mean is None) != (running_var is None):
        raise RuntimeError("running_mean and running_var must be defined together")
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.requires_grad and flags.grad_enabled:
            raise RuntimeError(
                f"The function 'native_batch_norm' is not differentiable with respect to argument '{name}'. This "
                "input cannot have requires_grad True."
            )
    outs = dispatch(
        OPS["_native_batch_norm"],
        (input, weight, bias, running_mean, running_var, bool(training), momentum, float(eps)),
        {},
    )
    if len(outs) > 3:
        with no_grad():
            running_mean._assign(outs[3]._read())
            running_var._assign(outs[4]._read())
    return outs[0], outs[1].detach(), outs[2].detach()  # (torch's saved stats do not require grad)


def native_layer_norm(
    input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_layer_norm: ``(out, mean, rstd)``, the statistics shaped like ``input`` with
    the normalized dims of size 1; as in torch, only ``out`` requires grad."""
    out, mean, rstd = dispatch(OPS["native_layer_norm"], (input, normalized_shape, weight, bias, eps), {})
    return out, mean.detach(), rstd.detach()


def instance_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    use_input_stats: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Tensor:
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(
    input: Tensor,
    normalized_shape: Sequence[int] | int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    cudnn_enable: bool = True,
) -> Tensor:
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    cudnn_enabled: bool = True,
) -> Tensor:
    return F.group_norm(input, num_groups, weight, bias, eps)


# --------------------------------------------------------------------------- dropout
def _check_p(p: float) -> None:
    # ATen's dropouts raise RuntimeError (nn.functional's raise ValueError), also when not training
    if p < 0.0 or p > 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")


def _check_feature(input: Tensor, train: bool) -> None:
    if train and input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    return F.dropout(input, p, train)


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    return F.dropout(input, p, train, inplace=True)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    return F.alpha_dropout(input, p, train)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    return F.alpha_dropout(input, p, train, inplace=True)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    _check_feature(input, train)
    return F.feature_alpha_dropout(input, p, train)


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    _check_feature(input, train)
    return F.feature_alpha_dropout(input, p, train, inplace=True)


def native_dropout(input: Tensor, p: float, train: bool | None) -> tuple[Tensor, Tensor]:
    """torch.native_dropout: ``(out, mask)``, the kept elements scaled by ``1/(1-p)``; the mask
    is drawn from eagerjax's generator as F.dropout's is. ``train=None`` means training; eval
    returns a copy of ``input`` and an all-True mask."""
    if train is not None and not train:
        return functional.clone(input), functional.ones_like(input, dtype=_dtypes.bool_)
    if not 0.0 <= 1.0 - p <= 1.0:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={1.0 - p}")
    if not _dtypes.is_floating(input.dtype) and not _dtypes.is_complex(input.dtype):
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {_dtypes.torch_name(input.dtype)}"
        )
    return draw(OPS["_native_dropout"], None, input, float(p))


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """Zero whole ``(n, c)`` slices of an ``(N, C, *)`` input (any rank >= 2)."""
    _check_p(p)
    _check_feature(input, train)
    return _feature_dropout(input, p, train, False, True)


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    _check_p(p)
    _check_feature(input, train)
    return _feature_dropout(input, p, train, True, True)


# --------------------------------------------------------------------------- activations in place
def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """torch.rrelu: F.rrelu without ``inplace`` (training draws the slopes from eagerjax's generator)."""
    return F.rrelu(input, lower, upper, training)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return F.rrelu_(input, lower, upper, training)


def selu_(input: Tensor) -> Tensor:
    return F.selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return F.celu(input, alpha, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return F.threshold(input, threshold, value, inplace=True)


# --------------------------------------------------------------------------- embedding, pooling
def embedding(
    weight: Tensor, indices: Tensor, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False
) -> Tensor:
    """torch.embedding: the weight comes first, and a negative ``padding_idx`` means none
    (F.embedding resolves negative indices before calling it)."""
    pad = padding_idx if padding_idx >= 0 else None
    return F.embedding(indices, weight, pad, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


def embedding_bag(
    weight: Tensor,
    indices: Tensor,
    offsets: Tensor,
    scale_grad_by_freq: bool = False,
    mode: int = 0,
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """torch.embedding_bag: the weight first, 1-D ``indices`` split at ``offsets``, ``mode`` an
    int (0 sum, 1 mean, 2 max), a negative ``padding_idx`` counted from the end. Returns
    ``(output, offset2bag, bag_size, max_indices)`` as torch's CPU kernel does; the output is
    ``F.embedding_bag``'s (differentiable), the other three are integer bookkeeping."""
    from ._dispatch import dispatch
    from ._ops._registry import OPS

    if mode not in _BAG_MODES:
        raise RuntimeError("`mode` must be sum, mean, or max.")
    if per_sample_weights is not None and mode != 0:
        raise RuntimeError("embedding_bag: per_sample_weights only supported with mode='sum'")
    if indices.dim() != 1:
        raise ValueError(
            f"embedding_bag: indices has to be a 1D Tensor, but got Tensor of dimension {indices.dim()} "
            "(nn.functional.embedding_bag takes 2-D bags)"
        )
    name = _BAG_MODES[mode]
    out = F.embedding_bag(
        indices,
        weight,
        offsets,
        scale_grad_by_freq=scale_grad_by_freq,
        mode=name,
        sparse=sparse,
        per_sample_weights=per_sample_weights,
        include_last_offset=include_last_offset,
        padding_idx=padding_idx,
    )
    num_bags = int(offsets.shape[0]) - (1 if include_last_offset else 0)
    grad = weight.requires_grad or (per_sample_weights is not None and per_sample_weights.requires_grad)
    pad = None if padding_idx is None else int(padding_idx) % int(weight.shape[0])
    extra = dispatch(
        OPS["_embedding_bag_aux"],
        (weight, indices, offsets),
        {
            "mode": name,
            "num_bags": num_bags,
            "padding_idx": pad,
            # torch's forward-only kernel (no input requiring grad) sizes sum's zeros by offsets
            "size": num_bags if grad or not include_last_offset else int(offsets.shape[0]),
        },
    )
    return (out, *extra)


def _stride(stride):
    # ATen's "stride=[]" means "the kernel size", nn.functional's stride=None
    return None if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else stride


def max_pool1d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1, ceil_mode: bool = False) -> Tensor:
    return F.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1, ceil_mode: bool = False) -> Tensor:
    return F.max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool3d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1, ceil_mode: bool = False) -> Tensor:
    return F.max_pool3d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool1d_with_indices(
    input: Tensor, kernel_size, stride=(), padding=0, dilation=1, ceil_mode: bool = False
) -> tuple[Tensor, Tensor]:
    return F.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode, return_indices=True)


def avg_pool1d(
    input: Tensor, kernel_size, stride=(), padding=0, ceil_mode: bool = False, count_include_pad: bool = True
) -> Tensor:
    return F.avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad)


def adaptive_max_pool1d(input: Tensor, output_size) -> tuple[Tensor, Tensor]:
    """torch.adaptive_max_pool1d always returns ``(values, indices)``."""
    return F.adaptive_max_pool1d(input, output_size, return_indices=True)


# --------------------------------------------------------------------------- losses (int reductions)
# Omitted, the reduction is 0 ("none"): what torch 2.13's Python bindings of these functions
# do (their ATen schemas say 1), e.g. ``torch.kl_div(x, y).shape == x.shape``.
_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(r: int) -> str:
    if r not in _REDUCTIONS:
        raise ValueError(f"{r} is not a valid value for reduction (0: none, 1: mean, 2: sum)")
    return _REDUCTIONS[r]


def kl_div(input: Tensor, target: Tensor, reduction: int = 0, *, log_target: bool = False) -> Tensor:
    """torch.kl_div: ``reduction=1`` is the plain mean over every element (F.kl_div's
    ``'mean'``, without its batchmean warning); omitted, no reduction (as torch's)."""
    r = _reduction(reduction)
    if r == "mean":
        return F.kl_div(input, target, reduction="none", log_target=log_target).mean()
    return F.kl_div(input, target, reduction=r, log_target=log_target)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: int = 0,
) -> Tensor:
    return F.binary_cross_entropy_with_logits(
        input, target, weight, reduction=_reduction(reduction), pos_weight=pos_weight
    )


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, reduction: int = 0) -> Tensor:
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int = 0
) -> Tensor:
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int = 0
) -> Tensor:
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: int = 0,
) -> Tensor:
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=_reduction(reduction))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float, reduction: int) -> Tensor:
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_reduction(reduction))


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: int = 0,
    zero_infinity: bool = False,
) -> Tensor:
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, _reduction(reduction), zero_infinity)


# --------------------------------------------------------------------------- padding, shuffles, grids
def constant_pad_nd(input: Tensor, pad: Sequence[int], value: float = 0) -> Tensor:
    """Pad (or crop, for negative amounts) the last ``len(pad) // 2`` dimensions with ``value``."""
    return F.pad(input, tuple(pad), "constant", value)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    return F.channel_shuffle(input, groups)


_INTERP = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def grid_sampler(
    input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool
) -> Tensor:
    """torch.grid_sampler: F.grid_sample with ATen's enum codes (interpolation 0 bilinear,
    1 nearest, 2 bicubic; padding 0 zeros, 1 border, 2 reflection)."""
    if interpolation_mode not in _INTERP:
        raise ValueError(f"grid_sampler(): invalid interpolation_mode {interpolation_mode} (0, 1 or 2)")
    if padding_mode not in _PADDING:
        raise ValueError(f"grid_sampler(): invalid padding_mode {padding_mode} (0, 1 or 2)")
    return F.grid_sample(input, grid, _INTERP[interpolation_mode], _PADDING[padding_mode], bool(align_corners))


def affine_grid_generator(theta: Tensor, size: Sequence[int], align_corners: bool) -> Tensor:
    return F.affine_grid(theta, list(size), bool(align_corners))


# --------------------------------------------------------------------------- conj_physical
def conj_physical(input: Tensor) -> Tensor:
    """The conjugate as a new tensor (eagerjax has no lazy conjugate bit: ``conj`` is the same)."""
    return functional.conj(input)


def conj_physical_(input: Tensor) -> Tensor:
    check_inplace(input, "conj_physical_")
    return inplace_update(input, functional.conj(input), "conj_physical_")
