"""The per-epoch schedules: ``LambdaLR``, ``MultiplicativeLR``, ``StepLR``, ``MultiStepLR``,
``ConstantLR``, ``LinearLR``, ``ExponentialLR``, ``PolynomialLR``, ``CosineAnnealingLR``; each is
its closed form and/or torch's recursive rule as jax math on tensors.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import jax.numpy as jnp

from . import _lr_host
from ._lr_base import (
    LRScheduler,
    _gamma_pow,
    _half_cos,
    _log,
    _tracing,
    _val,
)
from ._optimizer import Optimizer


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (see ``lr_scheduler``'s docstring for what the lambda receives)."""

    _has_chain = False

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        if not isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        else:
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _next_epoch(self, mode: str, epoch):
        """The epoch the lambdas are called with on the host (a Python int, as in torch)."""
        if mode in ("epoch", "restart"):
            return epoch
        return self.last_epoch + 1

    def _mode_hypers(self, mode: str, epoch) -> list:
        if mode in ("step", "initial") and _tracing():
            # traced with a Tensor epoch if the lambdas allow, else run on the host by a callback
            factors = _lr_host.epoch_values(
                self, "lr_lambdas", self.lr_lambdas, self._epoch, lambda ep: ep + 1, _lr_host.next_epoch
            )
        else:
            e = self._next_epoch(mode, epoch)
            factors = [_val(f(e)) for f in self.lr_lambdas]
        return factors + super()._mode_hypers(mode, epoch)

    @staticmethod
    def _group_hypers(i: int, n: int, hypers: list) -> list:
        return [hypers[i]]

    @staticmethod
    def _closed(static, e, base, factor):
        return base * factor

    def get_lr(self) -> list[float]:
        self._warn_get_lr()
        return [b * float(f(self.last_epoch)) for f, b in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d["lr_lambdas"] = [None if _is_function(f) else dict(f.__dict__) for f in self.lr_lambdas]
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state_dict)
        for f, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                f.__dict__.update(saved)


def _is_function(f) -> bool:
    import types

    return isinstance(f, types.FunctionType)


class MultiplicativeLR(LambdaLR):
    """``lr = lr * lr_lambda(epoch)`` on every step after the first (torch's recursive rule)."""

    _has_chain = True
    _has_closed = False

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)) and len(lr_lambda) != len(optimizer.param_groups):
            raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
        for f in lambdas:
            if not callable(f):
                raise TypeError(f"lr_lambda should be a function, but got {type(f).__name__}")
        super().__init__(optimizer, lambdas, last_epoch)

    @staticmethod
    def _chain(static, e, cur, base, initial, factor):
        return jnp.where(initial, cur, cur * factor)

    def get_lr(self) -> list[float]:
        return LRScheduler.get_lr(self)


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (self.step_size, _log(self.gamma), self.gamma)

    @staticmethod
    def _closed(static, e, base, step_size, log_gamma, gamma):
        return base * _gamma_pow(log_gamma, gamma, jnp.floor(e / step_size))

    @staticmethod
    def _chain(static, e, cur, base, initial, step_size, log_gamma, gamma):
        return jnp.where((e == 0) | (jnp.mod(e, step_size) != 0), cur, cur * gamma)


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
    def _closed(static, e, base, log_gamma, gamma):
        k = sum((e >= m).astype(jnp.float32) for m in static) if static else 0.0
        return base * _gamma_pow(log_gamma, gamma, k)

    @staticmethod
    def _chain(static, e, cur, base, initial, log_gamma, gamma):
        k = sum((e == m).astype(jnp.float32) for m in static) if static else 0.0
        return cur * _gamma_pow(log_gamma, gamma, k)


class ConstantLR(LRScheduler):
    """``lr = initial_lr * factor`` until ``total_iters``, then ``initial_lr``."""

    _hyper_attrs = ("factor", "total_iters")

    def __init__(
        self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, factor, total):
        return base * jnp.where(e >= total, 1.0, factor)

    @staticmethod
    def _chain(static, e, cur, base, initial, factor, total):
        return jnp.where(e == 0, cur * factor, jnp.where(e != total, cur, cur * (1.0 / factor)))


class LinearLR(LRScheduler):
    """``lr = initial_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``."""

    _hyper_attrs = ("start_factor", "end_factor", "total_iters")

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

    @staticmethod
    def _closed(static, e, base, start, end, total):
        frac = jnp.minimum(e, total) / jnp.maximum(total, 1)
        return base * (start + (end - start) * jnp.where(total == 0, 1.0, frac))

    @staticmethod
    def _chain(static, e, cur, base, initial, start, end, total):
        ratio = 1.0 + (end - start) / (total * start + (e - 1) * (end - start))
        return jnp.where(e == 0, cur * start, jnp.where(initial | (e > total), cur, cur * ratio))


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (_log(self.gamma), self.gamma)

    @staticmethod
    def _closed(static, e, base, log_gamma, gamma):
        return base * _gamma_pow(log_gamma, gamma, e)

    @staticmethod
    def _chain(static, e, cur, base, initial, log_gamma, gamma):
        return jnp.where(initial, cur, cur * gamma)


class PolynomialLR(LRScheduler):
    """``lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power``."""

    _hyper_attrs = ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, total, power):
        return base * jnp.power(1.0 - jnp.minimum(total, e) / total, power)

    @staticmethod
    def _chain(static, e, cur, base, initial, total, power):
        factor = jnp.power((1.0 - e / total) / (1.0 - (e - 1) / total), power)
        return jnp.where(initial | (e > total), cur, cur * factor)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``."""

    _hyper_attrs = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, t_max, eta_min):
        return jnp.where(e == 0, base, eta_min + (base - eta_min) * _half_cos(e, t_max))

    @staticmethod
    def _chain(static, e, cur, base, initial, t_max, eta_min):
        restart = jnp.mod(e - 1 - t_max, 2 * t_max) == 0
        bump = cur + (base - eta_min) * _half_cos(t_max - 1, t_max)  # (1 - cos(pi / T)) / 2
        ratio = _half_cos(e, t_max) / _half_cos(e - 1, t_max)
        return jnp.where(initial, cur, jnp.where(restart, bump, ratio * (cur - eta_min) + eta_min))
