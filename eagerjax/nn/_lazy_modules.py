"""torch's lazy modules: ``LazyLinear``, ``LazyConv1d/2d/3d``, ``LazyConvTranspose1d/2d/3d``,
``LazyBatchNorm1d/2d/3d`` and ``LazyInstanceNorm1d/2d/3d``, on ``LazyModuleMixin``.

A lazy module is built with ``UninitializedParameter``/``UninitializedBuffer`` where the size
depends on the input (``in_features``, ``in_channels``, ``num_features``). Its first call (a
forward pre-hook) infers that size, materializes the SAME parameter objects in place (an
optimizer built before the first call keeps working), runs the ordinary ``reset_parameters``
(the same random draws, in the same order, as the non-lazy class: a seeded lazy model equals
the non-lazy one built with the same seed), and turns the module into its non-lazy class
(``cls_to_become``: ``type(m) is nn.Linear`` afterwards).

Modes: the first call works eagerly and under ``ej.lazy()`` (the initialization is recorded
into the pending graph like any other op). Under ``ej.compile`` the first call is traced, where
the initial values cannot be produced as concrete state: it raises ``CaptureError`` asking for
one eager forward (a dry run) before compiling, as torch's docs advise.
"""

from __future__ import annotations

import itertools
from typing import Any

import jax.numpy as jnp

from .. import _dtypes
from .._autograd import no_grad
from .._state import bump_state, flags
from .._tensor import Tensor
from ._conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ._extra_layers import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from ._linear import Linear
from ._norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, _buffer, _NormBase
from .parameter import UninitializedBuffer, UninitializedParameter, is_lazy

__all__ = [
    "LazyModuleMixin",
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]


class LazyModuleMixin:
    """Mixin of modules whose parameters are shaped by their first input (torch's contract).

    A subclass registers ``UninitializedParameter``/``UninitializedBuffer`` entries, implements
    ``initialize_parameters(*args, **kwargs)`` (materialize them from the first call's input,
    then ``reset_parameters()``) and names its ``cls_to_become``. ``load_state_dict`` into an
    uninitialized module materializes its entries from the checkpoint's shapes first.
    """

    cls_to_become: type | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        """Whether any of this module's own parameters or buffers is still uninitialized."""
        return any(is_lazy(t) for t in itertools.chain(self._parameters.values(), self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"initialize_parameters is not implemented for {self.__class__.__name__}")

    def _infer_parameters(self, module, args: tuple, kwargs: dict | None = None) -> None:
        """The forward pre-hook of the first call: initialize, then become ``cls_to_become``."""
        if self.has_uninitialized_params():
            mode = flags.mode
            if mode is not None and not mode.is_lazy:
                from .._capture import CaptureError

                raise CaptureError(
                    f"{self._get_name()} has uninitialized parameters inside a traced step (ej.compile): a "
                    "lazy module infers their shapes and draws their initial values on its first call, which "
                    "cannot create state while a step is traced. Run one forward pass eagerly first (a dry "
                    "run with a dummy batch), then compile."
                )
        with no_grad():
            self.initialize_parameters(*args, **(kwargs or {}))
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        self._remove_infer_hook()
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become
        bump_state()  # new class, new state tensors: compiled steps and fused stacks look again

    def _remove_infer_hook(self) -> None:
        # Found by identity rather than kept as a handle: a handle would point at the hook
        # dicts of the original after a deepcopy or pickle round trip.
        for hid, hook in list(self._forward_pre_hooks.items()):
            if getattr(hook, "__self__", None) is self and getattr(hook, "__name__", "") == "_infer_parameters":
                del self._forward_pre_hooks[hid]
                self._forward_pre_hooks_with_kwargs.pop(hid, None)

    # -- state dict -------------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        # An uninitialized entry is saved as itself (it has no value to alias), as torch does.
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars or is_lazy(p) else p.data
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars or is_lazy(b) else b.data

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        """torch's ``_lazy_load_hook``: an uninitialized entry takes the checkpoint's shape
        (materialized, then loaded); one the checkpoint also has uninitialized stays so."""
        own = {"_parameters": self._parameters, "_buffers": self._buffers}
        hidden: list[tuple[dict, str]] = []
        for table in own.values():
            for name, t in table.items():
                if not is_lazy(t):
                    continue
                key = prefix + name
                value = state_dict.get(key)
                if value is not None and not is_lazy(value):
                    t.materialize(tuple(value.shape))
                else:
                    hidden.append((table, name))
        # The entries left uninitialized have nothing to load: hidden from the generic loader
        # (which would read their shapes), their keys accounted for here.
        saved = [(table, name, table[name]) for table, name in hidden]
        for table, name in hidden:
            table[name] = None
        try:
            super()._load_from_state_dict(
                state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
            )
        finally:
            for table, name, t in saved:
                table[name] = t
        for _, name, _ in saved:
            key = prefix + name
            if key in state_dict:
                if key in unexpected_keys:
                    unexpected_keys.remove(key)
            elif strict:
                missing_keys.append(key)


# --------------------------------------------------------------------------- linear
class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` whose ``in_features`` is the last dimension of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        # (skipped while there is nothing to fill: no random draws before the first call)
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
        if self.in_features == 0:  # loaded from a checkpoint: the weight knows it
            if input.shape[-1] != self.weight.shape[-1]:
                raise AssertionError(
                    f"The in_features inferred from input: {input.shape[-1]} is not equal to in_features from "
                    f"self.weight: {self.weight.shape[-1]}"
                )
            self.in_features = input.shape[-1]


# --------------------------------------------------------------------------- convolutions
class _LazyConvXdMixin(LazyModuleMixin):
    def _lazy_params(self, out_channels: int, bias: bool, dtype) -> None:
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _get_in_channels(self, input: Tensor) -> int:
        no_batch = self._nsp + 1
        if input.dim() not in (no_batch, no_batch + 1):
            raise RuntimeError(
                f"Expected {no_batch}D (unbatched) or {no_batch + 1}D (batched) input to {self.__class__.__name__}, "
                f"but got input of size: {input.shape!r}"
            )
        return input.shape[1] if input.dim() == no_batch + 1 else input.shape[0]

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            if self.transposed:
                shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
            else:
                shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
            self.weight.materialize(shape)
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()
        elif self.in_channels == 0:
            # loaded from a checkpoint: the weight knows it (torch leaves 0 in the repr)
            w = self.weight.shape
            self.in_channels = w[0] if self.transposed else w[1] * self.groups


class _LazyConv(_LazyConvXdMixin):
    def __init__(
        self,
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
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_params(out_channels, bias, dtype)


class _LazyConvTranspose(_LazyConvXdMixin):
    def __init__(
        self,
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
        super().__init__(
            0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode, device, dtype
        )
        self._lazy_params(out_channels, bias, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """``Conv1d`` whose ``in_channels`` comes from its first input (dim 1, or 0 unbatched)."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """``Conv2d`` whose ``in_channels`` comes from its first input (dim 1, or 0 unbatched)."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """``Conv3d`` whose ``in_channels`` comes from its first input (dim 1, or 0 unbatched)."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """``ConvTranspose1d`` whose ``in_channels`` comes from its first input."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """``ConvTranspose2d`` whose ``in_channels`` comes from its first input."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """``ConvTranspose3d`` whose ``in_channels`` comes from its first input."""

    cls_to_become = ConvTranspose3d


# --------------------------------------------------------------------------- normalization
class _LazyNormBase(LazyModuleMixin, _NormBase):
    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        # built without affine parameters or running stats, which are then declared uninitialized
        super().__init__(0, eps, momentum, False, False, device, dtype, bias=bias)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(dtype=dtype)
            self.running_var = UninitializedBuffer(dtype=dtype)
            self.num_batches_tracked = _buffer(jnp.zeros((), _dtypes.int64))

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _feature_dim(self, input: Tensor) -> int:
        return 1

    def initialize_parameters(self, input: Tensor) -> None:
        if self.has_uninitialized_params():
            # (checked first: a wrong input leaves the module uninitialized, ready for a right one)
            self._check_input_dim(input)
            self.num_features = input.shape[self._feature_dim(input)]
            if self.affine:
                self.weight.materialize((self.num_features,))
                if self.bias is not None:
                    self.bias.materialize((self.num_features,))
            if self.track_running_stats:
                self.running_mean.materialize((self.num_features,))
                self.running_var.materialize((self.num_features,))
            self.reset_parameters()
        elif self.num_features == 0:
            # loaded from a checkpoint: the loaded tensors know it (torch leaves 0 in the repr)
            known = self.weight if self.weight is not None else self.running_mean
            if known is not None:
                self.num_features = known.shape[0]


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    """``BatchNorm1d`` whose ``num_features`` is dim 1 of its first input."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    """``BatchNorm2d`` whose ``num_features`` is dim 1 of its first input."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    """``BatchNorm3d`` whose ``num_features`` is dim 1 of its first input."""

    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNormBase):
    def _feature_dim(self, input: Tensor) -> int:
        # the channel dim of a batched or an unbatched input (torch reads dim 1 of both)
        return input.dim() - self._get_no_batch_dim()


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """``InstanceNorm1d`` whose ``num_features`` is the channel dim of its first input."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """``InstanceNorm2d`` whose ``num_features`` is the channel dim of its first input."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """``InstanceNorm3d`` whose ``num_features`` is the channel dim of its first input."""

    cls_to_become = InstanceNorm3d
