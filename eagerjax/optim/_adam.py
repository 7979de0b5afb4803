"""``Adam`` and ``AdamW``: torch's single-tensor rule (amsgrad, weight decay, maximize), one kernel per group.

The update follows torch's arithmetic order. torch computes the bias
corrections ``1 - beta**step`` in float64 on the host; here the step count is a
tensor (no host read, no recompile as it advances) and they are computed as
``-expm1(step * log1p(-(1 - beta)))``, accurate to float32 rounding. Results
agree with torch to a few float32 ulps (XLA contracts multiply-adds into FMAs
where torch rounds in between). The rule is written in jnp rather than composed
from ``optax.scale_by_adam``: optax orders the arithmetic differently
(``sqrt(v / bc2) + eps``, ``b1 * m + (1 - b1) * g``), which drifts from torch by
more than the 1e-6 this package promises.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import check_args, decayed, defaults, lerp, one_minus_pow

__all__ = ["Adam", "AdamW"]

_STATE = (("exp_avg", _zeros_like), ("exp_avg_sq", _zeros_like))
_STATE_AMSGRAD = _STATE + (("max_exp_avg_sq", _zeros_like),)


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``); ``decoupled_weight_decay=True`` is AdamW."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "betas", "eps", "weight_decay")
    _rule_name = "adam_step"
    _flags = ("decoupled_weight_decay", "amsgrad")

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_args(lr, foreach, capturable, eps=eps, betas=betas, weight_decay=weight_decay)
        order = (
            "lr betas eps weight_decay amsgrad maximize foreach capturable differentiable fused decoupled_weight_decay"
        )
        super().__init__(params, defaults(locals(), order))

    def _state_spec(self, opts: tuple) -> tuple:
        return _STATE_AMSGRAD if opts[3] else _STATE

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, b1, b2, eps, wd = hypers
        return one_minus_pow(1 - b1, step), jnp.sqrt(one_minus_pow(1 - b2, step))

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize, decoupled, amsgrad = opts
        lr, b1, b2, eps, wd = hypers
        bc1, bc2_sqrt = shared
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize, decoupled)
        m = lerp(state[0], g, (1 - b1).astype(dt))
        v = state[1] * b2.astype(dt) + (1 - b2).astype(dt) * g * g
        step_size = (lr / bc1).astype(dt)
        vm = jnp.maximum(state[2], v) if amsgrad else v
        denom = jnp.sqrt(vm) / bc2_sqrt.astype(dt) + eps.astype(dt)
        p = p + (-step_size) * m / denom
        return (p, m, v, vm) if amsgrad else (p, m, v)


class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay ``p *= 1 - lr * weight_decay``."""

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
