"""``Rprop`` and ``ASGD``: torch's single-tensor rules, one kernel per group.

Both keep a per-parameter state torch fills from the group's ``lr`` when the parameter
is first stepped (Rprop's ``step_size``, ASGD's ``eta``). The state is born with zeros
and the rule takes ``lr`` where the step count is 1, so that first value is data, not
Python: the same kernel serves the first step and the rest, in every mode.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _concrete_scalar, _zeros_like
from ._rules import check_args, defaults

__all__ = ["ASGD", "Rprop"]


class Rprop(Optimizer):
    """Resilient backprop (``torch.optim.Rprop``): each weight's step size grows by ``etaplus``
    while its gradient keeps its sign and shrinks by ``etaminus`` when it flips (that step is
    skipped), clamped to ``step_sizes``; the update is ``-sign(g) * step_size``."""

    _tensor_keys = _hyper_keys = ("lr", "etas", "step_sizes")
    _rule_name = "rprop_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_args(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        etas, step_sizes = tuple(etas), tuple(step_sizes)
        super().__init__(params, defaults(locals(), "lr etas step_sizes foreach maximize differentiable capturable"))

    def _options(self, group) -> tuple:
        return (bool(group["maximize"]),)

    def _state_spec(self, opts: tuple) -> tuple:
        return (("prev", _zeros_like), ("step_size", _zeros_like))

    @staticmethod
    def _per_step(opts, step, hypers):
        return (step == 1,)

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        (maximize,) = opts
        lr, etaminus, etaplus, smin, smax = hypers
        dt = p.dtype
        if maximize:
            g = -g
        prev, size = state
        size = jnp.where(shared[0], lr.astype(dt), size)  # torch fills it with lr on the first step
        sign = jnp.sign(g * prev)
        factor = jnp.where(sign > 0, etaplus.astype(dt), jnp.where(sign < 0, etaminus.astype(dt), jnp.ones((), dt)))
        size = jnp.clip(size * factor, smin.astype(dt), smax.astype(dt))
        g = jnp.where(factor == etaminus.astype(dt), jnp.zeros((), dt), g)
        return p - jnp.sign(g) * size, g, size


class ASGD(Optimizer):
    """Averaged SGD (``torch.optim.ASGD``): ``p *= 1 - lambd * eta``, ``p -= eta * g``, then
    ``ax`` averages ``p`` from step ``t0`` on; ``eta = lr / (1 + lambd * lr * step) ** alpha``
    and ``mu = 1 / max(1, step - t0)`` are per-parameter state, as in torch."""

    _tensor_keys = _hyper_keys = ("lr", "lambd", "alpha", "t0", "weight_decay")
    _rule_name = "asgd_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_args(lr, weight_decay=weight_decay)
        order = "lr lambd alpha t0 weight_decay foreach maximize differentiable capturable"
        super().__init__(params, defaults(locals(), order))

    def _state_spec(self, opts: tuple) -> tuple:
        return (
            ("eta", lambda p: _concrete_scalar(0.0)),
            ("mu", lambda p: _concrete_scalar(1.0)),
            ("ax", _zeros_like),
        )

    @staticmethod
    def _per_step(opts, step, hypers):
        return (step,)

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize = opts
        lr, lambd, alpha, t0, wd = hypers
        (step,) = shared
        dt = p.dtype
        eta, mu, ax = state
        eta = jnp.where(step == 1, lr, eta)  # torch's state starts at the group's lr
        if maximize:  # (negated before the weight decay, in torch's order)
            g = -g
        if use_wd:
            g = g + wd.astype(dt) * p
        p = p * (1 - lambd * eta).astype(dt)
        p = p - eta.astype(dt) * g
        ax = jnp.where(mu != 1, ax + (p - ax) * mu.astype(dt), p)
        new_eta = lr / (1 + lambd * lr * step) ** alpha
        new_mu = 1 / jnp.maximum(1.0, step - t0)
        return p, eta.dtype.type(0) + new_eta, mu.dtype.type(0) + new_mu, ax
