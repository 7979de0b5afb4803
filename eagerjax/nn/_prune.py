"""``nn.utils.prune``: torch's pruning by masks and forward pre-hooks.

Pruning ``name`` of a module moves its Parameter to ``<name>_orig``, registers the
buffer ``<name>_mask`` and makes ``<name>`` a plain attribute equal to
``<name>_orig * <name>_mask``, recomputed by the pruning method (which is itself the
forward pre-hook) before every forward. Gradients therefore reach ``<name>_orig``
masked, and ``state_dict`` holds ``<name>_orig`` and ``<name>_mask`` as in torch.

Invariants:
- The hook's product is ordinary ops reading the parameter and the buffer, so a
  pruned model trains the same eager, under ``ej.compile`` and under ``ej.lazy()``.
  Inside a compiled step the recomputed ``<name>`` is an intermediate of the trace:
  after the step the attribute is ``Escaped`` until the next forward (as for the
  hook-based ``weight_norm``); ``remove`` recomputes it from the orig and the mask.
- A single method's mask is fixed-shape ops (``topk``/``kthvalue`` of magnitudes or
  random draws from eagerjax's generator, norms along dims) with a count known from
  the shape, so it traces. Pruning an already pruned tensor again computes the new
  mask on the still-unpruned entries only, which selects them by boolean indexing:
  a value-dependent shape, so iterative pruning runs eagerly (or lazily), not inside
  ``ej.compile``.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

from .. import _ops  # noqa: F401 - (the op table is loaded before these use it)
from .._autograd import no_grad
from .._generate import functional as _F
from .._random import rand, rand_like
from .._tensor import Tensor
from ._module import Module

__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]


# --------------------------------------------------------------------------- amount checks
def _validate_amount_init(amount) -> None:
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    integral = isinstance(amount, numbers.Integral)
    if (integral and amount < 0) or (not integral and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_amount(amount, tensor_size: int) -> None:
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _n_to_prune(amount, tensor_size: int) -> int:
    """How many of ``tensor_size`` entries ``amount`` prunes: an int as is, a fraction
    rounded half to even (Python's ``round``, as torch)."""
    _validate_amount_init(amount)
    if isinstance(amount, numbers.Integral):
        return amount
    return round(amount * tensor_size)


def _validate_structured(t: Tensor) -> None:
    if t.dim() <= 1:
        raise ValueError(
            "Structured pruning can only be applied to multidimensional tensors. Found tensor of shape "
            f"{t.shape} with {t.dim()} dims"
        )


def _validate_dim(t: Tensor, dim: int) -> None:
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")


# --------------------------------------------------------------------------- mask helpers
def _zero_entries(mask: Tensor, flat_idx: Tensor) -> Tensor:
    """A copy of ``mask`` with the entries at ``flat_idx`` (of its flattening) set to 0."""
    return mask.reshape(-1).index_fill(0, flat_idx, 0).reshape(mask.shape)


def _channels(t: Tensor, dim: int, keep: Tensor) -> Tensor:
    """A mask shaped like ``t``: 1 along the slices of ``dim`` where ``keep`` (a
    ``(t.shape[dim],)`` tensor) is 1, else 0."""
    shape = [1] * t.dim()
    shape[dim] = t.shape[dim]
    return _F.zeros_like(t) + keep.to(t.dtype).reshape(shape)


# --------------------------------------------------------------------------- the methods
class BasePruningMethod(ABC):
    """A pruning method: ``compute_mask`` says which entries of a tensor survive; an
    applied instance is also the forward pre-hook that recomputes the pruned tensor."""

    _tensor_name: str
    PRUNING_TYPE: str

    def __call__(self, module: Module, inputs) -> None:
        # (a plain attribute: the Parameter lives on as `<name>_orig`)
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask for ``t``, given the mask already in place (``default_mask``)."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_orig * <name>_mask`` of an already pruned ``module``."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return orig * mask

    @classmethod
    def apply(cls, module: Module, name: str, *args, importance_scores: Tensor | None = None, **kwargs):
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)``, combined with any pruning
        already applied to it (a ``PruningContainer``); returns the method now hooked."""
        old_key, old_method, found = None, None, 0
        for k, hook in module._forward_pre_hooks.items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                old_key, old_method = k, hook
                found += 1
        if found > 1:
            raise AssertionError(
                f"Avoid adding multiple pruning hooks to the same tensor {name} of module {module}. "
                "Use a PruningContainer."
            )
        method = cls(*args, **kwargs)
        method._tensor_name = name
        if isinstance(old_method, PruningContainer):
            old_method.add_pruning_method(method)
            method = old_method
        elif old_method is not None:
            container = PruningContainer(old_method)
            container.add_pruning_method(method)
            method = container

        orig = getattr(module, name)
        if importance_scores is not None:
            if importance_scores.shape != orig.shape:
                raise AssertionError(
                    f"importance_scores should have the same shape as parameter {name} of {module}, "
                    f"got {importance_scores.shape} vs {orig.shape}"
                )
        else:
            importance_scores = orig
        first = not isinstance(method, PruningContainer)
        if first:
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = _F.ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with no_grad():  # (a mask is data: nothing of it is differentiated)
                mask = method.compute_mask(importance_scores.detach(), default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if first:  # put the Parameter back as it was
                orig = module._parameters.pop(name + "_orig")
                module.register_parameter(name, orig)
            raise
        if old_key is not None:
            del module._forward_pre_hooks[old_key]
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None, importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times this method's mask (computed on ``importance_scores``, default ``t``)."""
        if importance_scores is not None:
            if importance_scores.shape != t.shape:
                raise AssertionError(
                    f"importance_scores should have the same shape as tensor t, got {importance_scores.shape} "
                    f"vs {t.shape}"
                )
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else _F.ones_like(t)
        with no_grad():
            mask = self.compute_mask(importance_scores.detach(), default_mask=default_mask)
        return t * mask

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes the Parameter again (the same
        object as ``<name>_orig``, holding the masked values); orig and mask go away."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        name = self._tensor_name
        with no_grad():
            weight = self.apply_mask(module)
        if hasattr(module, name):
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = weight
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """The methods applied in turn to one tensor: the last one prunes among the entries
    (or channels) the earlier ones kept."""

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod | None) -> None:
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(
                "Can only add pruning methods acting on the parameter named "
                f"'{self._tensor_name}' to PruningContainer. Found '{method._tensor_name}'"
            )
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` with the last method's mask written over the part it may still
        prune: the unpruned entries (unstructured), the unpruned channels along its ``dim``
        (structured) or everything (global)."""
        method = self._pruning_methods[-1]
        new_mask = default_mask.to(dtype=t.dtype).clone()
        kind = method.PRUNING_TYPE
        if kind == "unstructured":
            slc = default_mask == 1
        elif kind == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError(
                    'Pruning methods of PRUNING_TYPE "structured" need to have the attribute `dim` defined.'
                )
            n_dims = t.dim()
            dim = method.dim + n_dims if method.dim < 0 else method.dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
            others = [d for d in range(n_dims) if d != dim]
            idx = [slice(None)] * n_dims
            idx[dim] = default_mask.sum(dim=others) != 0
            slc = tuple(idx)
        elif kind == "global":
            slc = (slice(None),) * t.dim()
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {kind}")
        partial = method.compute_mask(t[slc], default_mask=default_mask[slc])
        new_mask[slc] = partial.to(dtype=new_mask.dtype)
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str):  # type: ignore[override]
        return super().apply(module, name)


class _Unstructured(BasePruningMethod):
    """Prunes ``amount`` entries (an int, or a fraction of them): those ``_scores`` ranks lowest."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_amount_init(amount)
        self.amount = amount

    def _scores(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        n = t.numel()
        k = _n_to_prune(self.amount, n)
        _validate_amount(k, n)
        mask = default_mask.clone()
        if k != 0:
            mask = _zero_entries(mask, _F.topk(self._scores(t).reshape(-1), k, largest=False).indices)
        return mask


class RandomUnstructured(_Unstructured):
    """Prunes ``amount`` entries (an int, or a fraction of them) chosen at random."""

    def _scores(self, t: Tensor) -> Tensor:
        return rand_like(t)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float):  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prunes the ``amount`` entries (an int, or a fraction of them) of smallest magnitude."""

    def _scores(self, t: Tensor) -> Tensor:
        return t.abs()

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, importance_scores: Tensor | None = None):  # type: ignore[override]
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` whole channels along ``dim``, chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t)
        _validate_dim(t, self.dim)
        n = t.shape[self.dim]
        k = _n_to_prune(self.amount, n)
        _validate_amount(k, n)
        if k == 0:
            return default_mask
        dim = self.dim % t.dim()
        prob = rand(n)
        # (prob > its k-th smallest value keeps all but the k smallest: ties have probability ~0)
        keep = prob > _F.kthvalue(prob, k).values
        return _channels(t, dim, keep) * default_mask.to(dtype=t.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, dim: int = -1):  # type: ignore[override]
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` channels along ``dim`` of smallest ``n``-norm."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, n, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t)
        _validate_dim(t, self.dim)
        size = t.shape[self.dim]
        k = _n_to_prune(self.amount, size)
        _validate_amount(k, size)
        if k == 0:
            return default_mask
        dim = self.dim % t.dim()
        norms = _F.norm(t, p=self.n, dim=[d for d in range(t.dim()) if d != dim])
        keep = _F.zeros_like(norms)
        if size - k > 0:
            keep = keep.index_fill(0, _F.topk(norms, size - k, largest=True).indices, 1)
        return _channels(t, dim, keep) * default_mask.to(dtype=t.dtype)

    @classmethod
    def apply(
        cls, module: Module, name: str, amount: int | float, n, dim: int, importance_scores: Tensor | None = None
    ):  # type: ignore[override]
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where the given ``mask`` is 0."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if default_mask.shape != self.mask.shape:
            raise AssertionError(
                f"default_mask shape {default_mask.shape} must match self.mask shape {self.mask.shape}"
            )
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor):  # type: ignore[override]
        return super().apply(module, name, mask=mask)


# --------------------------------------------------------------------------- functions
def identity(module: Module, name: str) -> Module:
    """Apply a mask of ones to ``module.<name>`` (it gets ``_orig``/``_mask`` and the hook)."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float) -> Module:
    """Prune ``amount`` random entries of ``module.<name>``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount: int | float, importance_scores: Tensor | None = None) -> Module:
    """Prune the ``amount`` entries of ``module.<name>`` with the smallest ``|importance_scores|``."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: int | float, dim: int) -> Module:
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount: int | float, n, dim: int, importance_scores: Tensor | None = None) -> Module:  # fmt: skip
    """Prune the ``amount`` channels along ``dim`` of smallest ``n``-norm of ``importance_scores``."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters: Iterable, pruning_method: type, importance_scores: dict | None = None, **kwargs) -> None:  # fmt: skip
    """Prune the ``(module, name)`` pairs of ``parameters`` together: ``pruning_method``
    (unstructured) ranks all their entries at once; each gets its share as a ``CustomFromMask``."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    with no_grad():
        scores = _F.cat([importance_scores.get((m, n), getattr(m, n)).reshape(-1) for m, n in parameters])
        # (a tensor pruned before keeps its mask: the new one is computed on its unpruned entries)
        masks = [
            getattr(m, n + "_mask") if hasattr(m, n + "_mask") else _F.ones_like(getattr(m, n)) for m, n in parameters
        ]
        default_mask = _F.cat([mask.reshape(-1) for mask in masks])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(
            'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
            f"{pruning_method} of type {method.PRUNING_TYPE}"
        )
    container.add_pruning_method(method)
    with no_grad():
        final_mask = container.compute_mask(scores, default_mask)
    start = 0
    for m, n in parameters:
        p = getattr(m, n)
        custom_from_mask(m, n, mask=final_mask[start : start + p.numel()].reshape(p.shape))
        start += p.numel()


def custom_from_mask(module: Module, name: str, mask: Tensor) -> Module:
    """Prune ``module.<name>`` where ``mask`` is 0."""
    CustomFromMask.apply(module, name, mask=mask)
    return module


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent and drop its hook, orig and mask."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or any submodule has a pruning hook."""
    return any(
        isinstance(hook, BasePruningMethod)
        for _, sub in module.named_modules()
        for hook in sub._forward_pre_hooks.values()
    )
