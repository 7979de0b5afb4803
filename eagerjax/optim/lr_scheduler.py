"""Learning-rate schedulers whose step count is a TENSOR.

``scheduler.step()`` runs one small kernel: ``epoch + 1`` and each group's new
learning rate computed with tensor math from the epoch tensor and the groups'
``initial_lr`` tensors, written into ``group['lr']`` with ``Tensor._assign``. No
host value is read, so inside a compiled training step the schedule advances
on every call of the compiled program. The learning rates are torch's, from
the closed form of each schedule (torch's recursive updates give the same
numbers); ``get_last_lr()`` reads them back on the host.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

import jax.numpy as jnp

from .._autograd import no_grad
from .._dispatch import Kernel, call_kernel
from ._optimizer import Optimizer, _concrete_scalar

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"]

_kernels: dict = {}

_EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)


class LRScheduler:
    """Base class: ``last_epoch``, ``base_lrs``, ``step()``, ``get_last_lr()``, ``state_dict()``.

    Subclasses implement the static method ``_lr(static, epoch, base_lr, *hypers)``
    (jax math on the epoch tensor), ``_hypers()`` (the numbers it needs, passed as
    traced scalars) and ``_static()`` (anything that changes the shape of that
    math). Kernels are cached by class and static structure and hold no reference
    to a scheduler instance.
    """

    _get_lr_called_within_step = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                known = group.known("lr")
                group.setdefault("initial_lr", known if known is not None else group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler with "
                        "last_epoch >= 0.\nThis typically happens when:\n1. You're trying to resume training from a "
                        "checkpoint but haven't properly loaded the optimizer state\n2. You're using last_epoch >= 0 "
                        "for a fresh training run (not recommended)"
                    )
        self._base = [group["initial_lr"] for group in optimizer.param_groups]
        self._epoch = _concrete_scalar(float(last_epoch))
        self._is_initial = True
        self._step_count = 0
        self.step()
        self._is_initial = False

    # -- the schedule (subclasses) ----------------------------------------------------------
    @staticmethod
    def _lr(static, epoch, base, *hypers):
        raise NotImplementedError

    def _hypers(self) -> tuple:
        return ()

    def _static(self) -> tuple:
        return ()

    # -- public API ---------------------------------------------------------------------------
    @property
    def last_epoch(self) -> int:
        return int(float(self._epoch))

    @last_epoch.setter
    def last_epoch(self, value) -> None:
        self._epoch._assign(_concrete_scalar(float(value))._read())

    @property
    def base_lrs(self) -> list[float]:
        return [float(b) for b in self._base]

    @base_lrs.setter
    def base_lrs(self, values) -> None:
        for b, v in zip(self._base, values):
            b._assign(_concrete_scalar(float(v))._read())

    def _kernel(self, advance: bool) -> Kernel:
        n = len(self._base)
        static = self._static()
        key = (type(self), n, advance, static)
        k = _kernels.get(key)
        if k is None:
            lr_fn = type(self)._lr

            def schedule(epoch, *rest):
                bases, hypers = rest[:n], rest[n:]
                e = epoch + 1 if advance else epoch
                return (e, *[jnp.asarray(lr_fn(static, e, b, *hypers), jnp.float32) for b in bases])

            k = _kernels[key] = Kernel(schedule, "lr_schedule")
        return k

    def step(self, epoch: int | None = None) -> None:
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
            self.last_epoch = epoch
        vals = [self._epoch._read()] + [b._read() for b in self._base] + [float(h) for h in self._hypers()]
        with no_grad():
            outs = call_kernel(self._kernel(epoch is None), vals, [None] * len(vals), differentiable=False)
            self._epoch._assign(outs[0]._read())
            for group, lr in zip(self.optimizer.param_groups, outs[1:]):
                group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set (read on the host)."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                UserWarning,
                stacklevel=2,
            )
        e = self._epoch._read()
        hypers = [float(h) for h in self._hypers()]
        return [float(type(self)._lr(self._static(), e, b._read(), *hypers)) for b in self._base]

    def state_dict(self) -> dict[str, Any]:
        skip = {"optimizer", "_epoch", "_base"}
        d = {k: v for k, v in self.__dict__.items() if k not in skip}
        d["base_lrs"] = self.base_lrs
        d["last_epoch"] = self.last_epoch
        d["_last_lr"] = self.get_last_lr()
        d["_get_lr_called_within_step"] = False
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        last_epoch = state_dict.pop("last_epoch", None)
        base_lrs = state_dict.pop("base_lrs", None)
        state_dict.pop("_last_lr", None)
        state_dict.pop("_get_lr_called_within_step", None)
        self.__dict__.update(state_dict)
        if last_epoch is not None:
            self.last_epoch = last_epoch
        if base_lrs is not None:
            self.base_lrs = base_lrs


_LRScheduler = LRScheduler


def _pow(log_gamma, k):
    """gamma ** k as exp(k * log(gamma)) with log(gamma) taken in float64 on the host (exact to f32)."""
    return jnp.exp(k * log_gamma)


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (self.step_size, _log(self.gamma), self.gamma)

    @staticmethod
    def _lr(static, epoch, base, step_size, log_gamma, gamma):
        k = jnp.floor(epoch / step_size)
        return jnp.where(k == 0, base, base * jnp.where(gamma == 0, 0.0, _pow(log_gamma, k)))


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (number of milestones <= epoch)`` (repeated milestones count repeatedly)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _static(self) -> tuple:
        return tuple(sorted(self.milestones.elements()))

    def _hypers(self) -> tuple:
        return (_log(self.gamma), self.gamma)

    @staticmethod
    def _lr(static, epoch, base, log_gamma, gamma):
        k = jnp.zeros((), jnp.float32)
        for m in static:
            k = k + (epoch >= m).astype(jnp.float32)
        return jnp.where(k == 0, base, base * jnp.where(gamma == 0, 0.0, _pow(log_gamma, k)))


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (_log(self.gamma), self.gamma)

    @staticmethod
    def _lr(static, epoch, base, log_gamma, gamma):
        return jnp.where(epoch == 0, base, base * jnp.where(gamma == 0, 0.0, _pow(log_gamma, epoch)))


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (self.T_max, self.eta_min)

    @staticmethod
    def _lr(static, epoch, base, t_max, eta_min):
        # (1 + cos(pi e / T)) / 2 == sin(pi |T - e mod 2T| / (2T)) ** 2: an argument in [0, pi/2]
        # computed from exact integers, so float32 keeps full relative accuracy near eta_min
        d = jnp.abs(t_max - jnp.mod(epoch, 2 * t_max))
        s = jnp.sin(jnp.pi * d / (2 * t_max))
        return jnp.where(epoch == 0, base, eta_min + (base - eta_min) * (s * s))


class LinearLR(LRScheduler):
    """``lr = initial_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (self.start_factor, self.end_factor, self.total_iters)

    @staticmethod
    def _lr(static, epoch, base, start, end, total):
        frac = jnp.minimum(epoch, total) / jnp.maximum(total, 1)
        return base * (start + (end - start) * jnp.where(total == 0, 1.0, frac))
