"""``Adadelta``: torch's rule (weight decay, maximize), one kernel per group.

Written in jnp in torch's order of operations (``optax.adadelta`` puts the
learning rate and the moving averages in a different order): ``eps`` goes
inside both square roots, the squared-gradient average is updated before the
delta is formed and the delta average after it.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import check_args, decayed, defaults

__all__ = ["Adadelta"]

_STATE = (("square_avg", _zeros_like), ("acc_delta", _zeros_like))


class Adadelta(Optimizer):
    """Adadelta (``torch.optim.Adadelta``): ``v = rho v + (1 - rho) g^2``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``, ``u = rho u + (1 - rho) delta^2``,
    ``p -= lr * delta``. ``step`` is counted (torch keeps it) though the rule never reads it."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "rho", "eps", "weight_decay")
    _rule_name = "adadelta_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_args(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_args(lr, eps=eps, weight_decay=weight_decay)
        order = "lr rho eps weight_decay maximize capturable foreach differentiable"
        super().__init__(params, defaults(locals(), order))

    def _state_spec(self, opts: tuple) -> tuple:
        return _STATE

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize = opts
        lr, rho, eps, wd = hypers
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize)
        r, e = rho.astype(dt), eps.astype(dt)
        square_avg = state[0] * r + (1 - rho).astype(dt) * g * g
        delta = jnp.sqrt(state[1] + e) / jnp.sqrt(square_avg + e) * g
        acc_delta = state[1] * r + (1 - rho).astype(dt) * delta * delta
        return p + (-lr).astype(dt) * delta, square_avg, acc_delta
