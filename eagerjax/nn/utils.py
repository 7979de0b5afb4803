"""``nn.utils``: gradient clipping, parameter <-> vector conversion, and ``rnn``
(packed sequences; also importable as the module ``eagerjax.nn.utils.rnn``).

``clip_grad_norm_`` is ONE fused kernel over all gradients (per-tensor norms,
total norm, clip coefficient and the scaled gradients together), with no host
read, so it costs one compiled call eagerly and traces cleanly under capture.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from collections.abc import Iterable

import jax.numpy as jnp

from .._autograd import no_grad
from .._dispatch import Kernel, call_kernel, dispatch
from .._ops._registry import OPS
from .._tensor import Tensor
from . import _parametrize as parametrize
from . import _prune as prune
from . import _rnn_utils as rnn
from ._module import typename
from ._orthogonal import orthogonal as _orthogonal
from ._parametrizations import (
    _spectral_norm,
    _weight_norm,
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grad_norm",
    "parameters_to_vector",
    "vector_to_parameters",
    "get_total_norm",
    "rnn",
    "parametrize",
    "prune",
    "parametrizations",
    "weight_norm",
    "remove_weight_norm",
    "spectral_norm",
    "remove_spectral_norm",
]

sys.modules[__name__ + ".rnn"] = rnn  # `from eagerjax.nn.utils.rnn import pad_sequence`
sys.modules[__name__ + ".parametrize"] = parametrize
sys.modules[__name__ + ".prune"] = prune  # `import eagerjax.nn.utils.prune`
# torch's nn.utils.parametrizations module: the parametrize-based weight and spectral norms, orthogonal
parametrizations = types.ModuleType(
    __name__ + ".parametrizations", "Weight norm, spectral norm and orthogonal as parametrizations."
)
parametrizations.weight_norm = _weight_norm
parametrizations.spectral_norm = _spectral_norm
parametrizations.orthogonal = _orthogonal
sys.modules[parametrizations.__name__] = parametrizations

_kernels: dict = {}


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(x, norm_type: float):
    if norm_type == math.inf:
        return jnp.max(jnp.abs(x))
    if norm_type == -math.inf:
        return jnp.min(jnp.abs(x))
    if norm_type == 0:
        return jnp.sum(x != 0).astype(x.dtype)
    if norm_type == 2.0:
        return jnp.sqrt(jnp.sum(jnp.square(jnp.abs(x))))
    return jnp.sum(jnp.abs(x) ** norm_type) ** (1.0 / norm_type)


def _clip_norm_kernel(n: int, norm_type: float) -> Kernel:
    key = ("clip_grad_norm", n, norm_type)
    k = _kernels.get(key)
    if k is None:

        def clip(*vals):
            grads, max_norm = vals[:n], vals[n]
            norms = [_norm(jnp.ravel(g), norm_type) for g in grads]
            total = _norm(jnp.stack(norms), norm_type)
            coef = jnp.minimum(max_norm / (total + 1e-6), 1.0)
            return (total, *[g * coef.astype(g.dtype) for g in grads])

        k = _kernels[key] = Kernel(clip, "clip_grad_norm")
    return k


def _clip_value_kernel(n: int) -> Kernel:
    key = ("clip_grad_value", n)
    k = _kernels.get(key)
    if k is None:

        def clip(*vals):
            grads, c = vals[:n], vals[n]
            return tuple(jnp.clip(g, -c, c).astype(g.dtype) for g in grads)

        k = _kernels[key] = Kernel(clip, "clip_grad_value")
    return k


def _total_norm_kernel(n: int, norm_type: float) -> Kernel:
    key = ("total_norm", n, norm_type)
    k = _kernels.get(key)
    if k is None:

        def total(*grads):
            return _norm(jnp.stack([_norm(jnp.ravel(g), norm_type) for g in grads]), norm_type)

        k = _kernels[key] = Kernel(total, "get_total_norm")
    return k


def _scalar_value(x):
    return x._read() if isinstance(x, Tensor) else float(x)


def _check_finite(total: Tensor, norm_type: float, fn: str) -> None:
    """torch's host-side check of ``error_if_nonfinite=True`` (a host read, as in torch)."""
    from .._capture import CaptureError

    try:
        v = float(total)
    except CaptureError as e:
        raise CaptureError(
            f"{fn}(error_if_nonfinite=True) reads the total norm on the host to decide whether to raise (as "
            "torch does), which a compiled step cannot do: inside ej.compile use error_if_nonfinite=False (the "
            "default) and check the returned norm after the step, or run the step eagerly or under ej.lazy(). "
            f"({e})"
        ) from None
    if math.isnan(v) or math.isinf(v):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot "
            "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale all gradients so their joint ``norm_type``-norm is at most ``max_norm``; returns the total norm.

    One fused kernel (norms, coefficient and the scaled gradients) with no host read. With
    ``error_if_nonfinite=True`` the total norm is computed and read on the host first (as torch
    does), so a non-finite norm raises before any gradient is touched.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor._make(jnp.zeros((), jnp.float32))
    if error_if_nonfinite:
        total = get_total_norm(grads, norm_type)
        _check_finite(total, norm_type, "clip_grad_norm_")
        _utils6.clip_grads_with_norm_(parameters, max_norm, total)
        return total
    kern = _clip_norm_kernel(len(grads), norm_type)
    vals = [g._read() for g in grads] + [_scalar_value(max_norm)]
    with no_grad():
        outs = call_kernel(kern, vals, [None] * len(vals), differentiable=False)
        Tensor._assign_all(grads, [o._read() for o in outs[1:]])
    return outs[0]


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of the per-tensor norms of ``tensors`` (one kernel)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._make(jnp.zeros((), jnp.float32))
    vals = [t._read() for t in tensors]
    with no_grad():
        total = call_kernel(_total_norm_kernel(len(tensors), norm_type), vals, [None] * len(vals), differentiable=False)
    if error_if_nonfinite:
        _check_finite(total, norm_type, "get_total_norm")
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:  # fmt: skip
    """torch's deprecated spelling of ``clip_grad_norm_`` (same warning)."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient elementwise to ``[-clip_value, clip_value]`` (one kernel)."""
    grads = _grads(parameters)
    if not grads:
        return
    kern = _clip_value_kernel(len(grads))
    vals = [g._read() for g in grads] + [_scalar_value(clip_value)]
    with no_grad():
        outs = call_kernel(kern, vals, [None] * len(vals), differentiable=False)
        for g, new in zip(grads, outs):
            g._assign(new._read())


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable)."""
    params = list(parameters)
    return dispatch(OPS["_flat_cat"], (params,), {})


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy slices of ``vec`` into the parameters (in order), in place."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {typename(vec)}")
    params = list(parameters)
    shapes = tuple(tuple(p.shape) for p in params)
    size, start = (vec.shape[0] if vec.ndim else 1), 0
    for shape in shapes:  # checked before any parameter is written (torch writes the ones before)
        n = math.prod(shape)
        got = max(0, min(size, start + n) - start)
        if got != n:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {got}")
        start += n
    with no_grad():
        outs = dispatch(OPS["_split_to_shapes"], (vec, shapes), {})
        for p, v in zip(params, outs):
            p._assign(v._cast(p.dtype)._read() if v.dtype != p.dtype else v._read())


# clip_grads_with_norm_, skip_init, memory-format no-ops, the fusion and stateless submodules (_utils6, _fuse)
from . import _fuse as fusion  # noqa: E402
from . import _utils6  # noqa: E402
from ._utils6 import *  # noqa: E402, F403

__all__ += _utils6.__all__ + ["fusion"]

# torch's submodules `nn.utils.clip_grad` and `nn.utils.convert_parameters`: the functions above
clip_grad = types.ModuleType(__name__ + ".clip_grad", "Gradient clipping (``nn.utils`` re-exports it).")
convert_parameters = types.ModuleType(__name__ + ".convert_parameters", "Parameters <-> one flat vector.")
for _f in (clip_grad_norm_, clip_grad_norm, clip_grad_value_, get_total_norm, clip_grads_with_norm_):  # noqa: F405
    setattr(clip_grad, _f.__name__, _f)
clip_grad.__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_"]
convert_parameters.parameters_to_vector = parameters_to_vector
convert_parameters.vector_to_parameters = vector_to_parameters
for _m in (clip_grad, convert_parameters):
    sys.modules[_m.__name__] = _m
del _f, _m
sys.modules[__name__ + ".fusion"] = fusion
sys.modules[__name__ + ".stateless"] = stateless  # noqa: F405
