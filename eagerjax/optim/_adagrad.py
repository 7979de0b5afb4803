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
from ._optimizer import Optimizer
from ._rules import check_args, decayed, defaults

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``): ``clr = lr / (1 + (step - 1) lr_decay)``,
    ``sum += g * g``, ``p -= clr * g / (sqrt(sum) + eps)``."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "lr_decay", "weight_decay", "eps")
    _rule_name = "adagrad_step"

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
        check_args(
            lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        order = "lr lr_decay eps weight_decay initial_accumulator_value foreach maximize differentiable fused"
        super().__init__(params, defaults(locals(), order))
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        for group in self.param_groups:  # one step tensor per group; state_dict shows one per param
            sts = [self.state[p] for p in group["params"]]
            self._shared_steps(group, group["params"], sts)
            self._leaf_state(group["params"], sts, self._state_spec(()))

    def share_memory(self) -> None:
        """torch moves the accumulators to shared memory; arrays here need nothing."""

    def _state_spec(self, opts: tuple) -> tuple:
        init = self.defaults["initial_accumulator_value"]
        return (("sum", lambda p: Tensor._make(_device_array(np.full(tuple(p.shape), init, p.dtype)))),)

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, lr_decay, wd, eps = hypers
        return (lr / (1 + (step - 1) * lr_decay),)

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize = opts
        lr, lr_decay, wd, eps = hypers
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize)
        s = state[0] + g * g
        std = jnp.sqrt(s) + eps.astype(dt)
        return p + (-shared[0]).astype(dt) * g / std, s
