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
from ._adam import _check_adam_args
from ._optimizer import Optimizer, _concrete_zeros
from ._rules import lerp, one_minus_pow, take

__all__ = ["Adamax"]


def _build_adamax(n: int, k: int, step_idx: tuple, use_wd: bool, maximize: bool):
    def adamax_step(*vals):
        it = iter(vals)
        ps, gs, ms, us, steps = take(it, n), take(it, n), take(it, n), take(it, n), take(it, k)
        lr, b1, b2, eps, wd = it
        new_steps = [s + 1 for s in steps]
        clrs = [lr / one_minus_pow(1 - b1, s) for s in new_steps]
        out_p, out_m, out_u = [], [], []
        for i in range(n):
            p, g = ps[i], gs[i]
            dt = p.dtype
            if maximize:
                g = -g
            if use_wd:
                g = g + wd.astype(dt) * p
            m = lerp(ms[i], g, (1 - b1).astype(dt))
            u = optax.tree.update_infinity_moment(g, us[i], b2.astype(dt), eps.astype(dt))
            out_p.append(p + (-clrs[step_idx[i]]).astype(dt) * m / u)
            out_m.append(m)
            out_u.append(u)
        return tuple(new_steps + out_p + out_m + out_u)

    return lambda: adamax_step


class Adamax(Optimizer):
    """Adamax (``torch.optim.Adamax``), Adam with the infinity norm."""

    _tensor_keys = ("lr", "betas", "eps", "weight_decay")

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
        _check_adam_args(lr, betas, eps, weight_decay, None, capturable)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _group_update(self, group, params: list[Tensor]) -> None:
        steps, step_idx = self._shared_steps(group, params)
        ms, us = [], []
        for p in params:
            st = self.state[p]
            if "exp_avg" not in st:
                st["exp_avg"] = _concrete_zeros(tuple(p.shape), p.dtype)
                st["exp_inf"] = _concrete_zeros(tuple(p.shape), p.dtype)
            ms.append(st["exp_avg"])
            us.append(st["exp_inf"])
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        maximize = bool(group["maximize"])
        n, k = len(params), len(steps)
        key = ("adamax_step", n, k, step_idx, use_wd, maximize)
        b1, b2 = group["betas"]
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [t._read() for t in ms + us + steps]
        vals += [t._read() for t in (group["lr"], b1, b2, group["eps"], group["weight_decay"])]
        outs = self._run(key, _build_adamax(n, k, step_idx, use_wd, maximize), vals)
        it = iter(outs)
        for t in steps + params + ms + us:
            t._assign(next(it))
