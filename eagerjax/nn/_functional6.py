"""``torch.nn.functional``, part 6: ``rrelu``/``rrelu_``, ``celu_``/``selu_``, ``lp_pool1d/2d/3d``,
``max_unpool1d/2d/3d``, ``adaptive_max_pool3d``, ``fractional_max_pool2d/3d`` and ``pdist``.

Each function checks its arguments in Python with torch's wording and runs ONE row of
``eagerjax/_ops/_nn6.py`` (``adaptive_max_pool3d``: the adaptive max row of ``_nn2``;
``rrelu`` in eval mode: ``leaky_relu``). Random draws (``rrelu``'s slopes, fractional
pooling's samples) come from eagerjax's generator, so they match across eager, compiled
and lazy runs, not torch's numbers for a seed; ``_random_samples=`` fixes them.
Index checks that read values (``max_unpool``) run in eager mode only.
"""

from __future__ import annotations

import math

from .. import _dtypes
from .._dispatch import dispatch
from .._generate import _torch_name
from .._generate import functional as _F
from .._ops import _nn6  # noqa: F401 - registers the rows
from .._ops._bounds import out_of_range
from .._ops._registry import OPS
from .._random import draw, rand
from .._tensor import Tensor
from . import _functional_conv as FC
from ._functional_checks import _shape_str, check_dim, require_tensor
from .functional import _dtype_name, _inplace

__all__ = [
    "rrelu",
    "rrelu_",
    "celu_",
    "selu_",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d_with_indices",
    "pdist",
]

_RRELU = OPS["_rrelu"]
_LP_POOL = OPS["_lp_pool"]
_MAX_UNPOOL = OPS["_max_unpool"]
_FRACTIONAL = OPS["_fractional_max_pool"]
_PDIST = OPS["_pdist"]
_ADAPTIVE_MAX = OPS["_adaptive_max_pool"]


def _check_float(input: Tensor, kernel: str) -> None:
    if not _dtypes.is_floating(input.dtype):
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtype_name(input.dtype)}'")


# --------------------------------------------------------------------------- activations
def rrelu(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False
) -> Tensor:
    """Randomized leaky ReLU: training draws a slope ``U(lower, upper)`` per negative element
    (from eagerjax's generator); eval uses the fixed slope ``(lower + upper) / 2``."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        _check_float(input, "leaky_relu_cpu")
        out = _F.leaky_relu(input, negative_slope=(lower + upper) / 2)
    else:
        _check_float(input, "rrelu_with_noise_out_cpu")
        out = draw(_RRELU, None, input, float(lower), float(upper))
    return _inplace(input, out, inplace, "rrelu_")


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return _inplace(input, _F.celu(input, alpha=alpha), True, "celu_")


def selu_(input: Tensor) -> Tensor:
    return _inplace(input, _F.selu(input), True, "selu_")


# --------------------------------------------------------------------------- lp pooling
def _lp_pool(nsp: int, input, norm_type, kernel_size, stride, ceil_mode) -> Tensor:
    name = f"avg_pool{nsp}d"
    k, s, _, _ = FC._pool_args(nsp, name, input, kernel_size, stride, 0, 1, ceil_mode)
    return dispatch(
        _LP_POOL, (input,), {"norm_type": norm_type, "kernel_size": k, "stride": s, "ceil_mode": bool(ceil_mode)}
    )


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling: ``(sum over the window of x^p)^(1/p)`` (no padding)."""
    if isinstance(kernel_size, (tuple, list)):  # (torch multiplies by the raw kernel_size)
        raise TypeError(f"mul(): argument 'other' (position 1) must be Tensor, not {type(kernel_size).__name__}")
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling, torch's ``avg_pool2d(x^p) * kh * kw`` then the ``1/p`` power."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# --------------------------------------------------------------------------- max unpooling
def _ntuple(v, n: int) -> tuple:
    if isinstance(v, (tuple, list)):
        return tuple(int(x) for x in v) if len(v) != 1 else (int(v[0]),) * n
    return (int(v),) * n


def _unpool_output_size(input, kernel_size, stride, padding, output_size) -> tuple:
    """torch's default ``(in - 1) * stride + kernel - 2 * padding``, or a checked ``output_size``."""
    n = len(kernel_size)
    size = tuple(input.shape)
    default = [(size[len(size) - n + d] - 1) * stride[d] + kernel_size[d] - 2 * padding[d] for d in range(n)]
    if output_size is None:
        return tuple(default)
    given = output_size
    if len(output_size) == n + 2:
        output_size = output_size[2:]
    if len(output_size) != n:
        raise ValueError(
            f"output_size should be a sequence containing {n} or {n + 2} elements, but it has a length of "
            f"'{len(output_size)}'"
        )
    for d in range(n):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError(f'invalid output_size "{given}" (dim {d} must be between {lo} and {hi})')
    return tuple(int(v) for v in output_size)


def _max_unpool(nsp: int, input, indices, kernel_size, stride, padding, output_size) -> Tensor:
    """1-D unpooling is checked as torch runs it: a 2-D unpooling of the input with a trailing 1."""
    shown, extra = (2, 1) if nsp == 1 else (nsp, 0)
    k = _ntuple(kernel_size, nsp)
    s = _ntuple(stride, nsp) if stride is not None else k
    p = _ntuple(padding, nsp)
    out = _unpool_output_size(input, k, s, p, output_size)
    if input.dim() + extra not in (shown + 1, shown + 2):
        raise RuntimeError(
            f"Input to max_unpooling{shown}d should be a {shown + 1}d or {shown + 2}d Tensor, but got a tensor with "
            f"{input.dim() + extra} dimensions."
        )
    if indices.dtype != _dtypes.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: {_torch_name(indices.dtype)}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor ({_shape_str(input.shape)}) but got "
            f"indices tensor with shape: {_shape_str(indices.shape)}"
        )
    total = math.prod(out)
    bad = out_of_range(indices, total, wrap=False)  # eager only: XLA would drop the value silently
    if bad is not None:
        sizes = out + (1,) * extra
        close = "" if input.dim() == 5 else ")"  # (torch's batched 3-D message has no closing parenthesis)
        raise RuntimeError(
            f"Found an invalid max index: {bad} (output volumes are of size {'x'.join(map(str, sizes))}{close}"
        )
    return dispatch(_MAX_UNPOOL, (input, indices), {"output_size": out})


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of ``max_pool1d``: each value back at its index, zeros elsewhere."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of ``max_pool2d(return_indices=True)``; ``output_size`` resolves ambiguous sizes."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


# --------------------------------------------------------------------------- adaptive max pooling 3-D
def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive max pooling over the last three dims (``None`` in ``output_size`` keeps that size)."""
    if input.dim() not in (4, 5):
        raise RuntimeError(f"adaptive_max_pool3d(): Expected 4D or 5D tensor, but got: {_shape_str(input.shape)}")
    if isinstance(output_size, (list, tuple)) and len(output_size) not in (1, 3):
        raise RuntimeError("adaptive_max_pool3d(): internal error: output_size.size() must be 3")
    size = FC._adaptive_size(3, "adaptive_max_pool3d", input, output_size)
    out = dispatch(_ADAPTIVE_MAX, (input,), {"output_size": size})
    return out if return_indices else out[0]


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = True):
    return adaptive_max_pool3d(input, output_size, True)


# --------------------------------------------------------------------------- fractional max pooling
_WORDS = {2: "", 3: "three "}
_DIM_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _fractional(nsp: int, input, kernel_size, output_size, output_ratio, _random_samples):
    fn = f"fractional_max_pool{nsp}d"
    native = fn if nsp == 2 else fn + "_out"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{fn} requires specifying either an output_size or an output_ratio")

    def tup(v, what):
        if isinstance(v, (list, tuple)):
            if len(v) == 1:
                return (v[0],) * nsp
            if len(v) != nsp:
                raise RuntimeError(f"{fn}: {what} must either be a single Int or tuple of {_WORDS[nsp]}Ints")
            return tuple(v)
        return (v,) * nsp

    if output_size is None:
        if nsp == 2 and len(output_ratio) > 2:  # (torch's 2-D form takes len() of it: a float raises TypeError)
            raise ValueError(f"{fn} requires output_ratio to either be a single Int or tuple of Ints.")
        ratio = tup(output_ratio, "output_ratio")
        output_size = [int(input.size(d - nsp) * r) for d, r in enumerate(ratio)]
    if _random_samples is None:
        check_dim(-nsp - 1, input.dim())
        batch = 1 if input.dim() == nsp + 1 else input.size(0)
        _random_samples = rand(batch, input.size(-nsp - 1), nsp, dtype=input.dtype)
    k = tuple(int(v) for v in tup(kernel_size, "kernel_size"))
    o = tuple(int(v) for v in tup(output_size, "output_size"))
    shape = tuple(input.shape)
    if len(shape) not in (nsp + 1, nsp + 2):
        raise RuntimeError(f"{native}(): Expected {nsp + 1}D or {nsp + 2}D tensor, but got: {_shape_str(shape)}")
    for i in range(len(shape) - nsp - 1, len(shape)):
        if shape[i] == 0:
            raise RuntimeError(
                f"{native}(): Expected input to have non-zero size for non-batch dimensions, but got"
                f"{_shape_str(shape)} with dimension {i} being empty."
            )
    for name, n, kk, oo in zip(_DIM_NAMES[nsp], shape[-nsp:], k, o):
        # (torch's 3-D check is strict where the 2-D one allows an exact fit)
        if (oo + kk - 1 > n) if nsp == 2 else (oo + kk - 1 >= n):
            raise RuntimeError(f"{native}(): pool {name} {kk} too large relative to input {name} {n}")
    rs = _random_samples
    if rs.dim() != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {rs.dim()}")
    batch = 1 if len(shape) == nsp + 1 else shape[0]
    if rs.size(0) < batch:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    if rs.size(1) != shape[-nsp - 1]:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if rs.size(2) != nsp:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {nsp}; got {rs.size(2)}.")
    if rs.dtype != input.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    return dispatch(_FRACTIONAL, (input, rs), {"kernel_size": k, "output_size": o})


def fractional_max_pool2d(
    input: Tensor, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None
):
    """Fractional max pooling (Graham): pseudo-random, overlapping-free window starts per plane,
    drawn from eagerjax's generator unless ``_random_samples`` (``(N, C, 2)`` in ``[0, 1)``) is given."""
    out = _fractional(2, input, kernel_size, output_size, output_ratio, _random_samples)
    return out if return_indices else out[0]


def fractional_max_pool3d(
    input: Tensor, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None
):
    out = _fractional(3, input, kernel_size, output_size, output_ratio, _random_samples)
    return out if return_indices else out[0]


def fractional_max_pool2d_with_indices(
    input: Tensor, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None
):
    return _fractional(2, input, kernel_size, output_size, output_ratio, _random_samples)


def fractional_max_pool3d_with_indices(
    input: Tensor, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None
):
    return _fractional(3, input, kernel_size, output_size, output_ratio, _random_samples)


# --------------------------------------------------------------------------- pdist
def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm distances between all pairs of rows of an ``(N, M)`` input, as the
    ``N * (N - 1) / 2`` upper-triangle entries in row-major order."""
    require_tensor("pdist", "input", 1, input)
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if not _dtypes.is_floating(input.dtype):
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    return dispatch(_PDIST, (input,), {"p": float(p)})
