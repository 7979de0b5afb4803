"""``torch.nn.functional``, part 3: instance norm, pixel (un)shuffle and embedding bag.

Each function checks its arguments in Python with torch's wording and runs ONE row of
``eagerjax/_ops/_nn3.py``. Checks that need tensor *values* (index and offset ranges)
run only in eager mode; under ``ej.compile``/lazy capture they are skipped.
"""

from __future__ import annotations

from .. import _dtypes
from .._autograd import no_grad
from .._dispatch import dispatch
from .._generate import _torch_name
from .._ops import _nn3  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._tensor import Size, Tensor
from ._functional_checks import _is_eager, _minmax
from ._functional_layers import _EMB_RENORM

__all__ = ["instance_norm", "pixel_shuffle", "pixel_unshuffle", "embedding_bag"]

_INSTANCE_NORM = OPS["_instance_norm"]
_PIXEL_SHUFFLE = OPS["_pixel_shuffle"]
_EMBEDDING_BAG = OPS["_embedding_bag"]


# --------------------------------------------------------------------------- instance norm
def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each ``(n, c)`` slice of an ``(N, C, *)`` input over its spatial dims.

    With ``use_input_stats`` and running statistics, those are updated in place with the
    batch mean of the per-instance statistics (unbiased variance), as torch does.
    """
    size = tuple(input.shape)
    if use_input_stats:
        n = 1
        for d in size[2:]:
            n *= d
        if n == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {Size(size)!r}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    if not use_input_stats and running_mean is None:
        raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
    nc = size[0] * size[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() * size[0] != nc:
            raise RuntimeError(f"{name} should contain {nc} elements not {t.numel() * size[0]}")
    outs = dispatch(
        _INSTANCE_NORM,
        (input, running_mean, running_var, weight, bias, float(momentum)),
        {"use_input_stats": bool(use_input_stats), "eps": float(eps)},
    )
    if len(outs) > 1:
        with no_grad():
            running_mean._assign(outs[1]._read())
            running_var._assign(outs[2]._read())
    return outs[0]


# --------------------------------------------------------------------------- pixel shuffle
def _check_3d(input: Tensor, name: str) -> tuple:
    shape = tuple(input.shape)
    if len(shape) < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with {len(shape)} dimension(s)"
        )
    return shape


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C*r*r, H, W) -> (*, C, H*r, W*r)`` with ``r = upscale_factor``."""
    shape = _check_3d(input, "pixel_shuffle")
    r = int(upscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    if shape[-3] % (r * r) != 0:
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, "
            f"but input.size(-3)={shape[-3]} is not divisible by {r * r}"
        )
    return dispatch(_PIXEL_SHUFFLE, (input,), {"factor": r, "inverse": False})


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H*r, W*r) -> (*, C*r*r, H, W)`` with ``r = downscale_factor``."""
    shape = _check_3d(input, "pixel_unshuffle")
    r = int(downscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    for what, d in (("height", -2), ("width", -1)):
        if shape[d] % r != 0:
            raise RuntimeError(
                f"pixel_unshuffle expects {what} to be divisible by downscale_factor, but input.size({d})="
                f"{shape[d]} is not divisible by {r}"
            )
    return dispatch(_PIXEL_SHUFFLE, (input,), {"factor": r, "inverse": True})


# --------------------------------------------------------------------------- embedding bag
def _check_bag_indices(input: Tensor, n: int) -> None:
    if not _dtypes.is_integer(input.dtype):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but "
            f"got torch.{_torch_name(input.dtype)}Tensor instead (while checking arguments for embedding_bag)"
        )
    if _is_eager() and input.numel() > 0:
        lo, hi = (int(v) for v in _minmax(input))
        if lo < 0 or hi >= n:
            flat = input.numpy(force=True).reshape(-1)
            i = int(((flat < 0) | (flat >= n)).argmax())
            raise RuntimeError(f"Index {i} of input takes value {flat[i]} which is not in the valid range [0, {n})")


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sums, means or maxes of bags of embeddings, without materializing the per-index rows.

    A 2-D ``input`` is a batch of fixed-length bags; a 1-D ``input`` is split into bags
    starting at ``offsets``. ``per_sample_weights`` (mode ``'sum'`` only) scales each row.
    ``sparse=True`` is accepted; gradients are dense.
    """
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({per_sample_weights.shape!r}) is not None, then it must have "
            f"the same shape as the input ({input.shape!r})"
        )
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length "
                f"sequences. However, found offsets of type {type(offsets)}"
            )
        num_bags, bag_size = (int(d) for d in input.shape)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        num_bags = int(offsets.shape[0]) - (1 if include_last_offset else 0)
        bag_size = 0
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    elif mode not in ("sum", "mean"):
        raise ValueError("mode has to be one of sum, mean or max")
    n = int(weight.shape[0])
    _check_bag_indices(input, n)
    if max_norm is not None:
        with no_grad():
            new = dispatch(_EMB_RENORM, (weight, input), {"max_norm": float(max_norm), "norm_type": float(norm_type)})
            weight._assign(new._read())
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' "
            f"(got mode='{mode}'). Please open a feature request on GitHub."
        )
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise RuntimeError(
                f"padding_idx must be within the number of embeddings, {-n} through {n - 1}, but got {padding_idx}"
            )
        padding_idx = int(padding_idx) % n
    if offsets is not None:
        if not _dtypes.is_integer(offsets.dtype):
            raise RuntimeError(
                "Expected tensor for argument #1 'offsets' to have one of the following scalar types: Long, Int"
            )
        if _is_eager() and offsets.numel() > 0:
            first = int(offsets[0].item())
            if first != 0:
                raise RuntimeError(
                    "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position "
                    f"0. However, got {first}"
                )
            if int(_minmax(offsets)[1]) > input.numel():
                raise IndexError("index out of range in self")
    return dispatch(
        _EMBEDDING_BAG,
        (weight, input, offsets, per_sample_weights),
        {
            "mode": mode,
            "num_bags": num_bags,
            "bag_size": bag_size,
            "padding_idx": padding_idx,
            "scale_grad_by_freq": bool(scale_grad_by_freq),
        },
    )
