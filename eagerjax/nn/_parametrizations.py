"""Weight and spectral normalization: ``nn.utils.parametrizations.weight_norm`` /
``spectral_norm`` (on ``parametrize``) and torch's older hook-based
``nn.utils.weight_norm`` / ``spectral_norm`` with their ``remove_*``.

The math is ordinary ops, so eager, compiled and lazy agree; the power iteration of
spectral norm writes its ``u``/``v`` buffers in training mode, which compiled steps
discover as state like BatchNorm's running statistics.
"""

from __future__ import annotations

import warnings

from .. import _ops  # noqa: F401 - (the op table is loaded before these use it)
from .._autograd import no_grad
from .._tensor import Parameter, Tensor
from . import functional as F
from ._conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ._module import Module
from ._parametrize import register_parametrization

__all__ = ["remove_spectral_norm", "remove_weight_norm", "spectral_norm", "weight_norm"]
# (``nn.utils.parametrizations.weight_norm`` / ``spectral_norm`` are ``_weight_norm`` /
# ``_spectral_norm``, published under those names by ``nn/utils.py``)


def norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of ``v`` over every dim but ``dim`` (kept as size 1); ``dim=-1``: of all of it."""
    if dim == -1:
        return v.norm()
    nd = v.dim()
    if dim < 0:
        dim += nd
    keep = [1] * nd
    keep[dim] = v.shape[dim]
    moved = v.movedim(dim, 0).reshape(v.shape[dim], -1)
    return moved.norm(2, 1).reshape(*keep)


# --------------------------------------------------------------------------- parametrizations
class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight: Tensor):
        return norm_except_dim(weight, self.dim), weight


def _weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """``weight = g * v / ||v||`` with ``g`` (``original0``) and ``v`` (``original1``) trained."""
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def _to_matrix(weight: Tensor, dim: int) -> Tensor:
    if dim != 0:
        weight = weight.movedim(dim, 0)
    return weight.flatten(1)


def _power_iterations(weight_mat: Tensor, u: Tensor, v: Tensor, n: int, eps: float) -> tuple[Tensor, Tensor]:
    with no_grad():
        for _ in range(n):
            u = F.normalize(weight_mat.mv(v), dim=0, eps=eps)
            v = F.normalize(weight_mat.t().mv(u), dim=0, eps=eps)
    return u, v


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(
                f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            mat = _to_matrix(weight.detach(), self.dim)
            h, w = mat.shape
            u = F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps)
            v = F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps)
            u, v = _power_iterations(mat, u, v, 15, eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)

    def forward(self, weight: Tensor) -> Tensor:
        if weight.dim() == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        mat = _to_matrix(weight, self.dim)
        if self.training:
            # (assigning a registered buffer of the same shape writes into it: state, in every mode)
            self._u, self._v = _power_iterations(mat, self._u, self._v, self.n_power_iterations, self.eps)
        sigma = self._u.clone().dot(mat.mv(self._v.clone()))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def _default_dim(module: Module) -> int:
    return 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0


def _spectral_norm(
    module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> Module:
    """``weight / sigma(weight)``, sigma estimated by power iteration (``u``/``v`` buffers,
    updated on every access in training mode)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    dim = _default_dim(module) if dim is None else dim
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# --------------------------------------------------------------------------- torch's older hook API
class _WeightNormHook:
    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def compute(self, module: Module) -> Tensor:
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, self.dim))

    def __call__(self, module: Module, inputs) -> None:
        object.__setattr__(module, self.name, self.compute(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """torch's deprecated hook-based weight norm: parameters ``<name>_g`` and ``<name>_v``,
    ``<name>`` recomputed before every forward."""
    warnings.warn(
        "torch.nn.utils.weight_norm is deprecated in favor of torch.nn.utils.parametrizations.weight_norm.",
        FutureWarning,
        stacklevel=2,
    )
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, _WeightNormHook) and hook.name == name:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    dim = -1 if dim is None else dim
    fn = _WeightNormHook(name, dim)
    weight = getattr(module, name)
    if not isinstance(weight, Parameter):
        raise TypeError(f"weight_norm: '{name}' of {type(module).__name__} is not a Parameter")
    del module._parameters[name]
    with no_grad():
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, dim)))
        module.register_parameter(name + "_v", Parameter(weight))
    object.__setattr__(module, name, fn.compute(module))
    module.register_forward_pre_hook(fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, _WeightNormHook) and hook.name == name:
            with no_grad():
                w = hook.compute(module).detach()
            del module._forward_pre_hooks[k]
            object.__delattr__(module, name)
            del module._parameters[name + "_g"], module._parameters[name + "_v"]
            module.register_parameter(name, Parameter(w))
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")


class _SpectralNormHook:
    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float) -> None:
        self.name, self.n, self.dim, self.eps = name, n_power_iterations, dim, eps

    def compute(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        mat = _to_matrix(weight, self.dim)
        if do_power_iteration:
            with no_grad():
                for _ in range(self.n):  # (v first here, u first in the parametrization: torch's orders)
                    v = F.normalize(mat.t().mv(u), dim=0, eps=self.eps)
                    u = F.normalize(mat.mv(v), dim=0, eps=self.eps)
            setattr(module, self.name + "_u", u)
            setattr(module, self.name + "_v", v)
            u, v = u.clone(), v.clone()
        return weight / u.dot(mat.mv(v))

    def __call__(self, module: Module, inputs) -> None:
        object.__setattr__(module, self.name, self.compute(module, module.training))


def spectral_norm(
    module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> Module:
    """torch's hook-based spectral norm: parameter ``<name>_orig``, buffers ``<name>_u`` and
    ``<name>_v``, ``<name>`` recomputed before every forward (power iteration in training)."""
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, _SpectralNormHook) and hook.name == name:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
    if n_power_iterations <= 0:
        raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
    dim = _default_dim(module) if dim is None else dim
    fn = _SpectralNormHook(name, n_power_iterations, dim, eps)
    weight = module._parameters[name]
    with no_grad():
        mat = _to_matrix(weight, dim)
        h, w = mat.shape
        u = F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps)
        v = F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    object.__setattr__(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, _SpectralNormHook) and hook.name == name:
            with no_grad():
                w = hook.compute(module, do_power_iteration=False).detach()
            del module._forward_pre_hooks[k]
            object.__delattr__(module, name)
            del module._parameters[name + "_orig"]
            del module._buffers[name + "_u"], module._buffers[name + "_v"]
            module.register_parameter(name, Parameter(w))
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {module}")
