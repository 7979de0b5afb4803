"""``NAdam``: torch's rule (momentum decay, L2 or decoupled weight decay, maximize), one kernel per group.

Written in jnp: ``optax.nadam`` is Adam with a Nesterov-style first moment but
without torch's momentum schedule ``mu_t = beta1 (1 - 0.5 * 0.96 ** (t *
momentum_decay))`` and its running product ``mu_product``, so it computes a
different update. The per-parameter ``mu_product`` is a float32 tensor, as in
torch; ``0.96 ** x`` is ``exp(x log 0.96)`` with the logarithm taken on the host.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _concrete_scalar, _zeros_like
from ._rules import check_args, decayed, defaults, lerp, one_minus_pow

__all__ = ["NAdam"]

_LOG_096 = math.log(0.96)
_STATE = (("mu_product", lambda p: _concrete_scalar(1.0)), ("exp_avg", _zeros_like), ("exp_avg_sq", _zeros_like))


class NAdam(Optimizer):
    """NAdam (``torch.optim.NAdam``): Adam with Nesterov momentum and a momentum-decay schedule."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "betas", "eps", "weight_decay", "momentum_decay")
    _rule_name = "nadam_step"
    _flags = ("decoupled_weight_decay",)

    def __init__(
        self,
        params,
        lr: float | Tensor = 2e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay, momentum_decay=momentum_decay)
        order = (
            "lr betas eps weight_decay momentum_decay decoupled_weight_decay maximize foreach capturable differentiable"
        )
        super().__init__(params, defaults(locals(), order))

    def _state_spec(self, opts: tuple) -> tuple:
        return _STATE

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, b1, b2, eps, wd, md = hypers
        bc2 = one_minus_pow(1 - b2, step)
        mu = b1 * (1.0 - 0.5 * jnp.exp(step * md * _LOG_096))
        mu_next = b1 * (1.0 - 0.5 * jnp.exp((step + 1) * md * _LOG_096))
        return bc2, mu, mu_next

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize, decoupled = opts
        lr, b1, b2, eps, wd, md = hypers
        bc2, mu, mu_next = shared
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize, decoupled)
        mu_prod = state[0] * mu
        m = lerp(state[1], g, (1 - b1).astype(dt))
        v = state[2] * b2.astype(dt) + (1 - b2).astype(dt) * g * g
        denom = jnp.sqrt(v / bc2.astype(dt)) + eps.astype(dt)
        c_grad = -lr * (1.0 - mu) / (1.0 - mu_prod)
        c_avg = (-lr * mu_next) / (1.0 - mu_prod * mu_next)
        p = p + c_grad.astype(dt) * g / denom
        p = p + c_avg.astype(dt) * m / denom
        return p, mu_prod, m, v
