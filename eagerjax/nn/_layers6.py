"""More layers: ``RReLU``, ``LPPool1d/2d/3d``, ``MaxUnpool1d/2d/3d``, ``AdaptiveMaxPool3d``,
``FractionalMaxPool2d/3d``, ``CrossMapLRN2d`` and ``SyncBatchNorm``: thin modules over
``nn._functional6`` (and the ``_cross_map_lrn`` row) with torch's constructors, checks,
``extra_repr`` and state_dict layout.

``SyncBatchNorm`` runs in one process (eagerjax has no process groups): its forward is
``BatchNorm``'s, batch statistics over the local batch, which is what torch's computes when
it is not training under an initialized process group."""

from __future__ import annotations

from .._autograd import no_grad
from .._dispatch import dispatch
from .._ops._registry import OPS
from .._tensor import Tensor
from . import _functional6 as F6
from ._module import Module
from ._norm import _BatchNorm
from ._pooling import _AdaptiveMaxPoolNd

__all__ = [
    "RReLU",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "AdaptiveMaxPool3d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "CrossMapLRN2d",
    "SyncBatchNorm",
]


def _ntuple(v, n: int) -> tuple:
    if isinstance(v, (tuple, list)):
        return tuple(v)
    return (v,) * n


# --------------------------------------------------------------------------- activation
class RReLU(Module):
    """Randomized leaky ReLU: slopes ``U(lower, upper)`` drawn per element while training (from
    eagerjax's generator), the mean slope ``(lower + upper) / 2`` in eval mode."""

    __constants__ = ["lower", "upper", "inplace"]

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F6.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace_str}"


# --------------------------------------------------------------------------- pooling
class _LPPoolNd(Module):
    __constants__ = ["norm_type", "kernel_size", "stride", "ceil_mode"]

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )

    def forward(self, input: Tensor) -> Tensor:
        return self._pool(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class LPPool1d(_LPPoolNd):
    """Power-average pooling ``(sum x^p)^(1/p)`` over windows of the last dim."""

    _pool = staticmethod(F6.lp_pool1d)


class LPPool2d(_LPPoolNd):
    _pool = staticmethod(F6.lp_pool2d)


class LPPool3d(_LPPoolNd):
    _pool = staticmethod(F6.lp_pool3d)


class _MaxUnpoolNd(Module):
    _n = 1

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._n)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._n)
        self.padding = _ntuple(padding, self._n)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return self._unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool1d(_MaxUnpoolNd):
    """The inverse of ``MaxPool1d(return_indices=True)``: values back at their indices, zeros elsewhere."""

    _n = 1
    _unpool = staticmethod(F6.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    _n = 2
    _unpool = staticmethod(F6.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    _n = 3
    _unpool = staticmethod(F6.max_unpool3d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    _pool = staticmethod(F6.adaptive_max_pool3d)


class _FractionalMaxPoolNd(Module):
    """``_random_samples`` is a buffer (None unless given): with it, every call pools the same
    windows; without it, each call draws new samples from eagerjax's generator."""

    _n = 2
    __constants__ = ["kernel_size", "return_indices", "output_size", "output_ratio"]

    def __init__(
        self, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None
    ) -> None:
        super().__init__()
        n = self._n
        self.kernel_size = _ntuple(kernel_size, n)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _ntuple(output_size, n) if output_size is not None else None
        self.output_ratio = _ntuple(output_ratio, n) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"FractionalMaxPool{n}d requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor):
        return self._pool(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            _random_samples=self._random_samples,
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling to ``output_size`` (or ``output_ratio`` of the input size)."""

    _n = 2
    _pool = staticmethod(F6.fractional_max_pool2d)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    _n = 3
    _pool = staticmethod(F6.fractional_max_pool3d)


# --------------------------------------------------------------------------- normalization
class CrossMapLRN2d(Module):
    """torch's legacy cross-channel LRN on ``(N, C, H, W)``: ``x * (k + alpha/size * S)^-beta``.

    ``S`` is torch's running cross-channel sum of squares, channel 0's square included in
    every channel's sum (a quirk of torch's loop kept for equal values); its gradient is the
    exact derivative of that forward."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D instead.")
        static = {"size": int(self.size), "alpha": float(self.alpha), "beta": float(self.beta), "k": float(self.k)}
        return dispatch(OPS["_cross_map_lrn"], (input,), static)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class SyncBatchNorm(_BatchNorm):
    """Batch norm over any ``(N, C, *)`` input. Single-process: statistics are the local batch's
    (there are no process groups to reduce over), so it computes what ``BatchNorm`` does."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input: Tensor) -> None:
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        return super().forward(input)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every batch norm layer in it replaced by a ``SyncBatchNorm`` that holds
        the same parameter and buffer tensors (returns a new root if ``module`` is one)."""
        out = module
        if isinstance(module, _BatchNorm):
            out = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
            )
            if module.affine:
                with no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out.register_buffer(name, getattr(module, name))  # (the same tensors, as torch shares them)
            out.training = module.training
            if hasattr(module, "qconfig"):
                out.qconfig = module.qconfig
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out
