"""``Adamax``: torch's rule (weight decay, maximize), one kernel per group.

The infinity-norm average ``exp_inf = max(beta2 * exp_inf, |g| + eps)`` is
optax's ``optax.tree.update_infinity_moment``, which is exactly torch's
formula. The rest is jnp in torch's order: ``exp_avg`` by ``lerp``, then
``p -= (lr / (1 - beta1**step)) * exp_avg / exp_inf``. ``optax.scale_by_adamax``
as a whole is not used: it keeps an int32 count rather than torch's per-parameter
float step and divides in another order.
"""

from __future__ import annotations

import optax

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import check_args, decayed, defaults, lerp, one_minus_pow

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax (``torch.optim.Adamax``), Adam with the infinity norm."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "betas", "eps", "weight_decay")
    _rule_name = "adamax_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 2e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_args(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        super().__init__(
            params, defaults(locals(), "lr betas eps weight_decay foreach maximize differentiable capturable")
        )

    def _state_spec(self, opts: tuple) -> tuple:
        return (("exp_avg", _zeros_like), ("exp_inf", _zeros_like))

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, b1, b2, eps, wd = hypers
        return (lr / one_minus_pow(1 - b1, step),)

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        lr, b1, b2, eps, wd = hypers
        dt = p.dtype
        use_wd, maximize = opts
        p, g = decayed(p, g, lr, wd, use_wd, maximize)
        m = lerp(state[0], g, (1 - b1).astype(dt))
        u = optax.tree.update_infinity_moment(g, state[1], b2.astype(dt), eps.astype(dt))
        return p + (-shared[0]).astype(dt) * m / u, m, u
