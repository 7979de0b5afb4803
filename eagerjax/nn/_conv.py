"""Convolutions: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` with torch's constructor
signatures, parameter layouts (``weight`` ``(out, in/groups, *k)``; transposed
``(in, out/groups, *k)``), default init and checks. The math runs through
``flax.linen.Conv``/``ConvTranspose`` inside one jitted kernel (see ``_ops/_nn2.py``).
"""

from __future__ import annotations

import math

from .._tensor import Tensor
from . import _functional_conv as F2
from . import init
from ._linear import _weight_and_bias
from ._module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(x, n: int) -> tuple:
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,) * n


class _ConvNd(Module):
    __constants__ = [
        "stride",
        "padding",
        "dilation",
        "groups",
        "padding_mode",
        "output_padding",
        "in_channels",
        "out_channels",
        "kernel_size",
    ]
    _nsp = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        transposed: bool,
        output_padding,
        groups: int,
        bias: bool,
        padding_mode: str,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        n = self._nsp
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {{'zeros', 'reflect', 'replicate', 'circular'}}, but got "
                f"padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.dilation = _ntuple(dilation, n)
        self.transposed = transposed
        self.output_padding = _ntuple(output_padding, n)
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(self.padding, str):
            rp = [0, 0] * n
            if padding == "same":
                for d, k, i in zip(self.dilation, self.kernel_size, range(n - 1, -1, -1)):
                    total = d * (k - 1)
                    left = total // 2
                    rp[2 * i] = left
                    rp[2 * i + 1] = total - left
            self._reversed_padding_repeated_twice = rp
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(self.padding) for _ in range(2)]
        if transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        _weight_and_bias(self, shape, (out_channels,), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch's default: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        n = self._nsp
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        if not hasattr(self, "padding_mode"):
            self.padding_mode = "zeros"


class _Conv(_ConvNd):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            False,
            0,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F2._conv_nd(
            self._nsp, input, weight, bias, self.stride, self.padding, self.dilation, self.groups, self.padding_mode
        )

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1D convolution over ``(N, C_in, L)``; weight ``(C_out, C_in/groups, k)``."""

    _nsp = 1


class Conv2d(_Conv):
    """2D convolution over ``(N, C_in, H, W)``; weight ``(C_out, C_in/groups, kH, kW)``.

    ``padding``: int, tuple, ``'valid'`` or ``'same'``; ``padding_mode``: zeros,
    reflect, replicate or circular. Runs as one ``flax.linen.Conv`` kernel.
    """

    _nsp = 2


class Conv3d(_Conv):
    _nsp = 3


class _ConvTransposeNd(_ConvNd):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            True,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _output_padding(
        self, input: Tensor, output_size, stride, padding, kernel_size, num_spatial_dims: int, dilation=None
    ) -> tuple:
        if output_size is None:
            return self.output_padding
        has_batch = input.dim() == num_spatial_dims + 2
        num_non_spatial = 2 if has_batch else 1
        output_size = list(output_size)
        if len(output_size) == num_non_spatial + num_spatial_dims:
            output_size = output_size[num_non_spatial:]
        if len(output_size) != num_spatial_dims:
            raise ValueError(
                f"ConvTranspose{num_spatial_dims}D: for {input.dim()}D input, output_size must have "
                f"{num_spatial_dims} or {num_non_spatial + num_spatial_dims} elements (got {len(output_size)})"
            )
        spatial = tuple(input.shape)[-num_spatial_dims:]
        dilation = dilation if dilation is not None else (1,) * num_spatial_dims
        min_sizes, max_sizes = [], []
        for d in range(num_spatial_dims):
            m = (spatial[d] - 1) * stride[d] - 2 * padding[d] + dilation[d] * (kernel_size[d] - 1) + 1
            min_sizes.append(m)
            max_sizes.append(m + stride[d] - 1)
        for i in range(len(output_size)):
            if not min_sizes[i] <= output_size[i] <= max_sizes[i]:
                raise ValueError(
                    f"requested an output size of {tuple(output_size)}, but valid sizes range from {min_sizes} to "
                    f"{max_sizes} (for an input of {input.size()[-num_spatial_dims:]!r})"
                )
        return tuple(output_size[d] - min_sizes[d] for d in range(num_spatial_dims))

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        if isinstance(self.padding, str):
            raise ValueError(f"Only 'zeros' padding mode is supported for {type(self).__name__}")
        op_ = self._output_padding(
            input, output_size, self.stride, self.padding, self.kernel_size, self._nsp, self.dilation
        )
        return F2._conv_transpose_nd(
            self._nsp, input, self.weight, self.bias, self.stride, self.padding, op_, self.groups, self.dilation
        )


class ConvTranspose1d(_ConvTransposeNd):
    _nsp = 1


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2D convolution; weight ``(C_in, C_out/groups, kH, kW)``; ``forward(input, output_size=None)``."""

    _nsp = 2


class ConvTranspose3d(_ConvTransposeNd):
    _nsp = 3
