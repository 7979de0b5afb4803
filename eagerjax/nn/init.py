"""``nn.init``: in-place initializers with torch's names, signatures and formulas.

Random fills draw from the global generator (or ``generator=``) through random
op rows, so ``manual_seed`` makes model initialization reproducible. Every
initializer runs under ``no_grad`` and writes through ``Tensor._assign``.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp

from .._autograd import no_grad
from .._ops._registry import OPS
from .._random import draw
from .._tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
]


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table)."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fill(tensor: Tensor, value) -> Tensor:
    """Write a concrete array into ``tensor`` (born concrete even under a capture trace)."""
    tensor._assign(value)
    return tensor


def _full(tensor: Tensor, val) -> Tensor:
    with no_grad():
        with jax.ensure_compile_time_eval():
            v = jnp.full(tuple(tensor.shape), val, tensor.dtype)
        return _fill(tensor, v)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def _trunc_normal_impl(tensor: Tensor, mean, std, a, b, generator, stacklevel: int) -> Tensor:
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=stacklevel + 1,
        )
    _ = (b - mean) / std  # torch's ZeroDivisionError for std == 0 (a Python division, as there)
    if float(a) > float(b):  # torch reaches its uniform_ fill here, which refuses the range
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={float(a):g} > to={float(b):g}"
        )
    with no_grad():
        s = draw(
            OPS["_trunc_normal"],
            generator,
            shape=tuple(tensor.shape),
            dtype=tensor.dtype,
            mean=float(mean),
            std=float(std),
            a=float(a),
            b=float(b),
        )
        return _fill(tensor, s._read())


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None
) -> Tensor:
    """Fill from N(mean, std) truncated to ``[a, b]`` (absolute bounds, as in torch).

    Sampled by inverse CDF in log space, so bounds far in the tail still give the truncated law
    (torch warns there, and so do we).
    """
    return _trunc_normal_impl(tensor, mean, std, a, b, generator, stacklevel=2)


# torch's private helpers (timm and others import them): the fills above under no_grad.
def _no_grad_uniform_(tensor: Tensor, a: float, b: float, generator=None) -> Tensor:
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def _no_grad_normal_(tensor: Tensor, mean: float, std: float, generator=None) -> Tensor:
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def _no_grad_trunc_normal_(tensor: Tensor, mean: float, std: float, a: float, b: float, generator=None) -> Tensor:
    return _trunc_normal_impl(tensor, mean, std, a, b, generator, stacklevel=2)


def _no_grad_fill_(tensor: Tensor, val: float) -> Tensor:
    with no_grad():
        return tensor.fill_(val)


def _no_grad_zero_(tensor: Tensor) -> Tensor:
    with no_grad():
        return tensor.zero_()


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _full(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    return _full(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    return _full(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        with jax.ensure_compile_time_eval():
            v = jnp.eye(*tensor.shape, dtype=tensor.dtype)
        return _fill(tensor, v)


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    dims = tensor.ndim
    if dims not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    min_dim = min(out_per_group, sizes[1])
    import numpy as np

    a = np.zeros(sizes, dtype=np.float32)
    for g in range(groups):
        for d in range(min_dim):
            idx = (g * out_per_group + d, d) + tuple(s // 2 for s in sizes[2:])
            a[idx] = 1
    with no_grad():
        with jax.ensure_compile_time_eval():
            v = jnp.asarray(a, tensor.dtype)
        return _fill(tensor, v)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    dimensions = tensor.dim()
    if dimensions < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    num_input_fmaps = tensor.size(1)
    num_output_fmaps = tensor.size(0)
    receptive_field_size = 1
    for s in tuple(tensor.shape)[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid = ["fan_in", "fan_out"]
    if mode not in valid:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _xavier_std(tensor: Tensor, gain: float) -> float:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    a = math.sqrt(3.0) * _xavier_std(tensor, gain)
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    return normal_(tensor, 0.0, _xavier_std(tensor, gain), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """torch's kaiming std ``gain / sqrt(fan)``; None (after torch's warning) for a zero-element tensor."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw, sign-fixed like torch."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    with no_grad():
        s = draw(OPS["_orthogonal"], generator, shape=tuple(tensor.shape), dtype=tensor.dtype, gain=float(gain))
        return _fill(tensor, s._read())


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tuple(tensor.shape)
    num_zeros = int(math.ceil(sparsity * rows))
    with no_grad():
        normal_(tensor, 0.0, std, generator)
        if num_zeros:
            from .._random import randperm

            keys = [randperm(rows, generator=generator)._read()[:num_zeros] for _ in range(cols)]
            v = tensor._read()
            for j, k in enumerate(keys):
                v = v.at[k, j].set(0)
            _fill(tensor, v)
    return tensor


# torch's deprecated non-underscore aliases
def _deprecated(f):
    def g(*args, **kwargs):
        warnings.warn(
            f"`nn.init.{f.__name__[:-1]}` is now deprecated in favor of `nn.init.{f.__name__}`.",
            FutureWarning,
            stacklevel=2,
        )
        return f(*args, **kwargs)

    g.__name__ = f.__name__[:-1]
    return g


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
dirac = _deprecated(dirac_)
eye = _deprecated(eye_)
sparse = _deprecated(sparse_)
