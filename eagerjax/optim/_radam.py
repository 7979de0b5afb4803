"""``RAdam``: torch's rule (L2 or decoupled weight decay, maximize), one kernel per group.

Written in jnp rather than with ``optax.radam``: optax adds ``eps`` to the
bias-corrected root (``sqrt(v / bc2) + eps``) where torch uses
``sqrt(bc2) / (sqrt(v) + eps)``, and keeps an int32 count. The rectification
switch ``rho_t > 5`` is a ``jnp.where`` on the step tensor (no host read), and
``rho_t`` is computed without the cancellation its textbook form suffers in
float32 (see ``_rules.radam_rho``).
"""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import check_args, decayed, defaults, lerp, one_minus_pow, radam_rho

__all__ = ["RAdam"]

_STATE = (("exp_avg", _zeros_like), ("exp_avg_sq", _zeros_like))


class RAdam(Optimizer):
    """RAdam (``torch.optim.RAdam``): Adam with the variance rectification of Liu et al. (2019)."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "betas", "eps", "weight_decay")
    _rule_name = "radam_step"
    _flags = ("decoupled_weight_decay",)

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        order = "lr betas eps weight_decay maximize foreach capturable decoupled_weight_decay differentiable"
        super().__init__(params, defaults(locals(), order))

    def _state_spec(self, opts: tuple) -> tuple:
        return _STATE

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, b1, b2, eps, wd = hypers
        omb2 = 1 - b2
        rho_inf = 2 / omb2 - 1
        rho = radam_rho(step, omb2)
        rect = jnp.sqrt(jnp.maximum((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho), 0.0))
        return one_minus_pow(1 - b1, step), one_minus_pow(omb2, step), rho, rect

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize, decoupled = opts
        lr, b1, b2, eps, wd = hypers
        bc1, bc2, rho, rect = shared
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize, decoupled)
        m = lerp(state[0], g, (1 - b1).astype(dt))
        v = state[1] * b2.astype(dt) + (1 - b2).astype(dt) * g * g
        step_avg = m / bc1.astype(dt) * lr.astype(dt)
        adaptive = jnp.sqrt(bc2).astype(dt) / (jnp.sqrt(v) + eps.astype(dt))
        rectified = step_avg * adaptive * rect.astype(dt)
        return p - jnp.where(rho > 5.0, rectified, step_avg), m, v
