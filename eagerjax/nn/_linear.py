"""``Linear``, ``Identity``, ``Flatten``, ``Unflatten``."""

from __future__ import annotations

import math

import numpy as np

from .. import _dtypes
from .._ops._creation import _check_size
from .._tensor import Parameter, Tensor, _host_array
from . import functional as F
from . import init
from ._module import Module

__all__ = ["Identity", "Linear", "Flatten", "Unflatten"]


def _empty(shape: tuple, dtype=None) -> Tensor:
    """Storage for a new parameter (filled by ``reset_parameters``): a transfer, not an XLA
    compile per new shape; inside a captured step, the step's own value (``_host_array``)."""
    dt = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
    return Tensor._make(_host_array(np.zeros(_check_size(tuple(shape)), dt)))  # (torch's negative-size error)


def _weight_and_bias(module: Module, weight_shape: tuple, bias_shape: tuple, bias: bool, dtype) -> None:
    """torch's ``weight`` and ``bias`` Parameters (storage for ``reset_parameters`` to fill); without
    ``bias``, ``bias`` is registered as None so that it still shows in ``_parameters``, as in torch."""
    module.weight = Parameter(_empty(weight_shape, dtype))
    if bias:
        module.bias = Parameter(_empty(bias_shape, dtype))
    else:
        module.register_parameter("bias", None)


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ W.T + b`` with ``weight`` of shape ``(out_features, in_features)`` (torch's layout).

    Default init as in torch: ``kaiming_uniform_(weight, a=sqrt(5))`` and bias
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``. The math runs through
    ``flax.linen.Dense`` inside one jitted kernel.
    """

    __constants__ = ["in_features", "out_features"]

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _weight_and_bias(self, (out_features, in_features), (out_features,), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one."""

    __constants__ = ["start_dim", "end_dim"]

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        n = max(len(shape), 1)
        s = self.start_dim % n
        e = self.end_dim % n
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if not shape:
            return input.reshape(1)
        mid = 1
        for d in shape[s : e + 1]:
            mid *= d
        return input.reshape(shape[:s] + (mid,) + shape[e + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dim ``dim`` into ``unflattened_size``."""

    __constants__ = ["dim", "unflattened_size"]

    def __init__(self, dim: int | str, unflattened_size) -> None:
        super().__init__()
        if isinstance(dim, int):
            if not isinstance(unflattened_size, (tuple, list)):
                raise TypeError(
                    f"unflattened_size must be tuple of ints, but found type {type(unflattened_size).__name__}"
                )
            for i, e in enumerate(unflattened_size):
                if not isinstance(e, int):
                    raise TypeError(
                        f"unflattened_size must be tuple of ints, but found element of type {type(e).__name__} at pos {i}"
                    )
        else:
            raise TypeError("invalid argument type for dim parameter (named tensors are not supported)")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        d = self.dim % len(shape)
        sizes = list(self.unflattened_size)
        if -1 in sizes:
            known = 1
            for x in sizes:
                if x != -1:
                    known *= x
            sizes[sizes.index(-1)] = shape[d] // known if known else 0
        prod = 1
        for x in sizes:
            prod *= x
        if prod != shape[d]:
            raise RuntimeError(
                f"unflatten: Provided sizes {list(self.unflattened_size)} don't multiply up to the size of dim "
                f"{self.dim} ({shape[d]}) in the input tensor"
            )
        return input.reshape(shape[:d] + tuple(sizes) + shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
