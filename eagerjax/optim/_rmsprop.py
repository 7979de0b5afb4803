"""``RMSprop``: torch's rule (centered, momentum, weight decay, maximize), one kernel per group.

The normalization ``g / (sqrt(square_avg) + eps)`` (and its centered variant
``g / (sqrt(square_avg - grad_avg**2) + eps)``) is optax's own
``scale_by_rms`` / ``scale_by_stddev`` with ``eps_in_sqrt=False``: they keep
torch's moving averages and put ``eps`` outside the root as torch does, and
agree with torch to float32 rounding. Weight decay (added to the gradient
first), the momentum buffer ``buf = momentum * buf + g / avg`` and the update
``p -= lr * buf`` are written in jnp around it, in torch's order.
"""

from __future__ import annotations

import optax

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import check_args, decayed, defaults

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``)."""

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "alpha", "eps", "weight_decay", "momentum")
    _rule_name = "rmsprop_step"
    _flags = ("centered",)

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_args(lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        order = "lr momentum alpha eps centered weight_decay capturable foreach maximize differentiable"
        super().__init__(params, defaults(locals(), order))

    def _options(self, group) -> tuple:
        mom = group.known("momentum")
        # a momentum written as a tensor (a scheduler) counts as in use
        return super()._options(group) + (mom is None or mom > 0,)

    def _state_spec(self, opts: tuple) -> tuple:
        use_wd, maximize, centered, use_mom = opts
        return (
            (("square_avg", _zeros_like),)
            + ((("momentum_buffer", _zeros_like),) if use_mom else ())
            + ((("grad_avg", _zeros_like),) if centered else ())
        )

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize, centered, use_mom = opts
        lr, alpha, eps, wd, mom = hypers
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize)
        a, e = alpha.astype(dt), eps.astype(dt)
        if centered:
            tx = optax.scale_by_stddev(decay=a, eps=e, eps_in_sqrt=False)
            u, st = tx.update(g, optax.ScaleByRStdDevState(mu=state[-1], nu=state[0]))
        else:
            tx = optax.scale_by_rms(decay=a, eps=e, eps_in_sqrt=False)
            u, st = tx.update(g, optax.ScaleByRmsState(nu=state[0]))
        if use_mom:
            u = state[1] * mom.astype(dt) + u
        return (p + (-lr).astype(dt) * u, st.nu) + ((u,) if use_mom else ()) + ((st.mu,) if centered else ())
