"""More of ``nn.utils``: ``clip_grads_with_norm_``, ``skip_init``, the conv weight memory-format
converters, ``fuse_*`` (from ``nn.utils.fusion``) and the deprecated ``nn.utils.stateless``.

``clip_grads_with_norm_`` scales every gradient in ONE kernel with no host read (the total
norm stays a tensor), so it works under ``ej.compile`` and ``ej.lazy()``. Memory formats
do not exist in eagerjax (a tensor is an XLA array whose layout XLA picks), so the
converters return the module unchanged."""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Iterable

import jax.numpy as jnp

from .. import _func_module
from .._autograd import no_grad
from .._dispatch import Kernel, call_kernel
from .._tensor import Tensor
from ._fuse import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights
from ._module import Module

__all__ = [
    "clip_grads_with_norm_",
    "skip_init",
    "convert_conv2d_weight_memory_format",
    "convert_conv3d_weight_memory_format",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "stateless",
]

_kernels: dict[int, Kernel] = {}


def _scale_kernel(n: int) -> Kernel:
    k = _kernels.get(n)
    if k is None:

        def scale(*vals):
            grads, max_norm, total = vals[:n], vals[n], vals[n + 1]
            coef = jnp.minimum(max_norm / (total + 1e-6), 1.0)
            return tuple(g * coef.astype(g.dtype) for g in grads)

        k = _kernels[n] = Kernel(scale, "clip_grads_with_norm")
    return k


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, total_norm: Tensor, foreach: bool | None = None
) -> None:
    """Scale the gradients by ``min(max_norm / (total_norm + 1e-6), 1)`` in place, ``total_norm``
    given (e.g. from ``get_total_norm``): the second half of ``clip_grad_norm_``."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    total = total_norm._read() if isinstance(total_norm, Tensor) else jnp.asarray(total_norm, jnp.float32)
    mx = max_norm._read() if isinstance(max_norm, Tensor) else float(max_norm)
    vals = [g._read() for g in grads] + [mx, total]
    with no_grad():
        outs = call_kernel(_scale_kernel(len(grads)), vals, [None] * len(vals), differentiable=False)
        Tensor._assign_all(grads, [o._read() for o in outs])


def skip_init(module_cls, *args, **kwargs) -> Module:
    """``module_cls(*args, **kwargs)`` whose parameter values are not to be relied on (torch leaves
    them uninitialized). eagerjax has no meta device: the module is built, and initialized, as usual."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    return module_cls(*args, **kwargs)


def convert_conv2d_weight_memory_format(module: Module, memory_format) -> Module:
    """Returns ``module`` unchanged: eagerjax tensors have no memory format (XLA picks layouts)."""
    return module


def convert_conv3d_weight_memory_format(module: Module, memory_format) -> Module:
    """Returns ``module`` unchanged: eagerjax tensors have no memory format (XLA picks layouts)."""
    return module


def _stateless_functional_call(
    module: Module,
    parameters_and_buffers: dict,
    args=None,
    kwargs: dict | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed in a "
        "future version of PyTorch. Please use `torch.func.functional_call` instead which is a drop-in "
        "replacement.",
        FutureWarning,
        stacklevel=2,
    )
    return _func_module.functional_call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )


_stateless_functional_call.__name__ = "functional_call"
stateless = types.ModuleType(
    "eagerjax.nn.utils.stateless", "torch's deprecated ``nn.utils.stateless``: use ``func.functional_call``."
)
stateless.functional_call = _stateless_functional_call
