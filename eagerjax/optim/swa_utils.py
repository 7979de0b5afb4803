"""``optim.swa_utils``: weight averaging (SWA, EMA) as torch has it: ``AveragedModel``,
``SWALR``, ``update_bn`` and the ``get_*_avg_fn`` helpers.

``AveragedModel.update_parameters`` never reads a value on the host, unlike torch's
(``if n_averaged == 0``): the first update's copy is a ``where`` on the ``n_averaged``
buffer, so it runs the same eagerly, inside ``ej.compile`` and in lazy graphs. With the
built-in SWA or EMA averaging, the whole update is one kernel over all parameters.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable

import jax.numpy as jnp

from .. import _dtypes
from .._autograd import no_grad
from .._dispatch import Kernel, run_kernel
from .._tensor import Tensor
from ..nn._module import Module
from ..nn._norm import _BatchNorm
from ._lr_base import LRScheduler
from ._optimizer import Optimizer

__all__ = [
    "AveragedModel",
    "SWALR",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]


# --------------------------------------------------------------------------- averaging rules
class _Lerp:
    """A built-in ``multi_avg_fn``: ``avg += w * (current - avg)`` in place, with ``w`` fixed
    (EMA: ``1 - decay``) or ``1 / (n + 1)`` (SWA). ``AveragedModel`` fuses it into one kernel."""

    def __init__(self, decay: float | None) -> None:
        self.decay = decay

    def weight(self, n):
        return 1.0 - self.decay if self.decay is not None else 1.0 / (n + 1.0)

    def __call__(self, averaged: list[Tensor], current: list[Tensor], num_averaged) -> None:
        n = num_averaged.float() if isinstance(num_averaged, Tensor) else float(num_averaged)
        w = self.weight(n)
        with no_grad():
            for a, c in zip(averaged, current):
                a.copy_(a + (c - a) * w if a.is_floating_point() else a * (1 - w) + c * w)


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """Exponential moving average over lists of tensors: ``ema = decay * ema + (1 - decay) * p``."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")
    return _Lerp(decay)


def get_swa_multi_avg_fn() -> Callable:
    """Equal-weight running average over lists of tensors: ``avg += (p - avg) / (n + 1)``."""
    return _Lerp(None)


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable:
    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


_kernels: dict = {}


def _fused_update(n: int, decay: float | None, dtypes: tuple) -> Kernel:
    """(averaged..., current..., n_averaged) -> new averaged...: the first update copies."""
    key = (n, decay, dtypes)
    kern = _kernels.get(key)
    if kern is None:

        def update(*vals):
            avg, cur, count = vals[:n], vals[n : 2 * n], vals[-1]
            w = (1.0 - decay) if decay is not None else 1.0 / (count.astype(jnp.float32) + 1.0)
            out = []
            for a, c in zip(avg, cur):
                c = c.astype(a.dtype)
                if jnp.issubdtype(a.dtype, jnp.inexact):
                    new = a + (c - a) * jnp.asarray(w, a.dtype)
                else:  # integer buffers (use_buffers=True): averaged in float, truncated as torch's copy_
                    new = (a * (1 - w) + c * w).astype(a.dtype)
                out.append(jnp.where(count == 0, c, new))
            return tuple(out)

        kern = _kernels[key] = Kernel(update, "averaged_model_update")
    return kern


# --------------------------------------------------------------------------- AveragedModel
class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and buffers, with ``use_buffers``) are a running
    average of ``model``'s, updated by ``update_parameters(model)``; the default averaging is
    SWA's equal weights, ``multi_avg_fn=get_ema_multi_avg_fn(0.999)`` gives an EMA."""

    def __init__(
        self,
        model: Module,
        device=None,
        avg_fn: Callable | None = None,
        multi_avg_fn: Callable | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor._make(jnp.zeros((), _dtypes.int64)))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _pairs(self, model: Module) -> tuple[list[Tensor], list[Tensor]]:
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine, theirs = list(self.module.parameters()), list(model.parameters())
        k = min(len(mine), len(theirs))
        return mine[:k], [t.detach() for t in theirs[:k]]

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        mine, theirs = self._pairs(model)
        count = self.n_averaged
        fn = self.multi_avg_fn or self.avg_fn or get_swa_multi_avg_fn()
        if isinstance(fn, _Lerp):
            kern = _fused_update(len(mine), fn.decay, tuple(str(a.dtype) for a in mine))
            vals = [a._read() for a in mine] + [c._read() for c in theirs] + [count._read()]
            Tensor._assign_all(mine, list(run_kernel(kern, vals)))
        else:
            from .. import where

            first = count == 0
            if fn is self.avg_fn:
                new = [fn(a.detach(), c, count) for a, c in zip(mine, theirs)]
            else:  # a user's in-place rule on the averaged tensors themselves
                fn(mine, theirs, count)
                new = mine
            # the first update copies the model (torch decides that on the host; here it is data)
            Tensor._assign_all(mine, [where(first, c, n.to(a.dtype))._read() for a, c, n in zip(mine, theirs, new)])
        if not self.use_buffers:
            for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                b_avg.copy_(b_model.detach())
        self.n_averaged.add_(1)


@no_grad()
def update_bn(loader: Iterable, model: Module, device=None) -> None:
    """Recompute every BatchNorm's running statistics as the plain average over one pass of
    ``loader`` (each batch a tensor, or a list/tuple whose first item is the input)."""
    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None:
            batch = batch.to(device)
        model(batch)
    for m, mom in momenta.items():
        m.momentum = mom
    model.train(was_training)


# --------------------------------------------------------------------------- SWALR
def _anneal(strategy: str, t):
    return (1 - jnp.cos(math.pi * t)) / 2 if strategy == "cos" else t


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` steps (cosine or linear),
    then hold it: torch's recursive rule, from the group's current lr."""

    _has_closed = False

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        lrs = list(swa_lr) if isinstance(swa_lr, (list, tuple)) else [swa_lr] * len(optimizer.param_groups)
        if len(lrs) != len(optimizer.param_groups):
            raise ValueError(
                f"swa_lr must have the same length as optimizer.param_groups: swa_lr has {len(lrs)}, "
                f"optimizer.param_groups has {len(optimizer.param_groups)}"
            )
        for lr, group in zip(lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must by one of 'cos' or 'linear', instead got {anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_func = anneal_strategy
        self.anneal_epochs = anneal_epochs
        self._swa_lrs = [float(lr) for lr in lrs]
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (*self._swa_lrs, float(self.anneal_epochs))

    def _static(self) -> tuple:
        return (self.anneal_func,)

    @staticmethod
    def _group_hypers(i: int, n: int, hypers: list) -> list:
        return [hypers[i], hypers[n]]

    @staticmethod
    def _chain(static, e, cur, base, initial, swa_lr, anneal_epochs):
        step = jnp.where(anneal_epochs == 0, jnp.maximum(1.0, e), e)
        span = jnp.maximum(1.0, anneal_epochs)
        prev_alpha = _anneal(static[0], jnp.clip((step - 1) / span, 0.0, 1.0))
        # the lr the previous step would have annealed from, then this step's blend
        prev = jnp.where(
            prev_alpha == 1, swa_lr, (cur - prev_alpha * swa_lr) / jnp.where(prev_alpha == 1, 1, 1 - prev_alpha)
        )
        alpha = _anneal(static[0], jnp.clip(step / span, 0.0, 1.0))
        return swa_lr * alpha + prev * (1 - alpha)
