"""``Adagrad``: torch's rule (lr decay, weight decay, initial accumulator, maximize), one kernel per group.

Written in jnp, not with ``optax.adagrad``/``scale_by_rss``: optax puts ``eps``
inside the square root (``g / sqrt(sum + eps)``) where torch adds it outside
(``g / (sqrt(sum) + eps)``), and has no ``lr_decay``. As in torch, the state
(``step`` and ``sum``, filled with ``initial_accumulator_value``) is created
when the optimizer is built, not on the first step.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._tensor import Tensor, _device_array
from ._optimizer import Optimizer, _concrete_scalar
from ._rules import take

__all__ = ["Adagrad"]


def _concrete_full(shape: tuple, value: float, dtype) -> Tensor:
    return Tensor._make(_device_array(np.full(shape, value, dtype)))


def _build_adagrad(n: int, k: int, step_idx: tuple, use_wd: bool, maximize: bool):
    def adagrad_step(*vals):
        it = iter(vals)
        ps, gs, sums, steps = take(it, n), take(it, n), take(it, n), take(it, k)
        lr, lr_decay, wd, eps = it
        new_steps = [s + 1 for s in steps]
        clrs = [lr / (1 + (s - 1) * lr_decay) for s in new_steps]
        out_p, out_s = [], []
        for i in range(n):
            p, g, s = ps[i], gs[i], sums[i]
            dt = p.dtype
            if maximize:
                g = -g
            if use_wd:
                g = g + wd.astype(dt) * p
            s = s + g * g
            std = jnp.sqrt(s) + eps.astype(dt)
            out_p.append(p + (-clrs[step_idx[i]]).astype(dt) * g / std)
            out_s.append(s)
        return tuple(new_steps + out_p + out_s)

    return lambda: adagrad_step


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``): ``clr = lr / (1 + (step - 1) lr_decay)``,
    ``sum += g * g``, ``p -= clr * g / (sqrt(sum) + eps)``."""

    _tensor_keys = ("lr", "lr_decay", "weight_decay", "eps")

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        for group in self.param_groups:
            step = _concrete_scalar(0.0)  # one step tensor per group; state_dict shows one per param
            for p in group["params"]:
                st = self.state[p]
                st["step"] = step
                st["sum"] = _concrete_full(tuple(p.shape), initial_accumulator_value, p.dtype)

    def share_memory(self) -> None:
        """torch moves the accumulators to shared memory; arrays here need nothing."""

    def _group_update(self, group, params: list[Tensor]) -> None:
        init = self.defaults["initial_accumulator_value"]
        for p in params:
            st = self.state[p]
            if "sum" not in st:  # a param group added after construction
                st["sum"] = _concrete_full(tuple(p.shape), init, p.dtype)
        steps, step_idx = self._shared_steps(group, params)
        sums = [self.state[p]["sum"] for p in params]
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        maximize = bool(group["maximize"])
        n, k = len(params), len(steps)
        key = ("adagrad_step", n, k, step_idx, use_wd, maximize)
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [t._read() for t in sums + steps]
        vals += [group[h]._read() for h in ("lr", "lr_decay", "weight_decay", "eps")]
        outs = self._run(key, _build_adagrad(n, k, step_idx, use_wd, maximize), vals)
        it = iter(outs)
        for t in steps + params + sums:
            t._assign(next(it))
