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
from ._adam import _check_adam_args
from ._optimizer import Optimizer, _concrete_zeros
from ._rules import lerp, one_minus_pow, radam_rho, take

__all__ = ["RAdam"]


def _build_radam(n: int, k: int, step_idx: tuple, use_wd: bool, decoupled: bool, maximize: bool):
    def radam_step(*vals):
        it = iter(vals)
        ps, gs, ms, vs, steps = take(it, n), take(it, n), take(it, n), take(it, n), take(it, k)
        lr, b1, b2, eps, wd = it
        new_steps = [s + 1 for s in steps]
        omb1, omb2 = 1 - b1, 1 - b2
        bc1 = [one_minus_pow(omb1, s) for s in new_steps]
        bc2 = [one_minus_pow(omb2, s) for s in new_steps]
        rho_inf = 2 / omb2 - 1
        rho = [radam_rho(s, omb2) for s in new_steps]
        rect = [
            jnp.sqrt(jnp.maximum((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r), 0.0)) for r in rho
        ]
        out_p, out_m, out_v = [], [], []
        for i in range(n):
            p, g = ps[i], gs[i]
            dt = p.dtype
            j = step_idx[i]
            if maximize:
                g = -g
            if use_wd:
                if decoupled:
                    p = p * (1 - lr * wd).astype(dt)
                else:
                    g = g + wd.astype(dt) * p
            m = lerp(ms[i], g, omb1.astype(dt))
            v = vs[i] * b2.astype(dt) + omb2.astype(dt) * g * g
            step_avg = m / bc1[j].astype(dt) * lr.astype(dt)
            adaptive = jnp.sqrt(bc2[j]).astype(dt) / (jnp.sqrt(v) + eps.astype(dt))
            rectified = step_avg * adaptive * rect[j].astype(dt)
            out_p.append(p - jnp.where(rho[j] > 5.0, rectified, step_avg))
            out_m.append(m)
            out_v.append(v)
        return tuple(new_steps + out_p + out_m + out_v)

    return lambda: radam_step


class RAdam(Optimizer):
    """RAdam (``torch.optim.RAdam``): Adam with the variance rectification of Liu et al. (2019)."""

    _tensor_keys = ("lr", "betas", "eps", "weight_decay")

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
        _check_adam_args(lr, betas, eps, weight_decay, None, capturable)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _group_update(self, group, params: list[Tensor]) -> None:
        steps, step_idx = self._shared_steps(group, params)
        ms, vs = [], []
        for p in params:
            st = self.state[p]
            if "exp_avg" not in st:
                st["exp_avg"] = _concrete_zeros(tuple(p.shape), p.dtype)
                st["exp_avg_sq"] = _concrete_zeros(tuple(p.shape), p.dtype)
            ms.append(st["exp_avg"])
            vs.append(st["exp_avg_sq"])
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        maximize = bool(group["maximize"])
        decoupled = bool(group["decoupled_weight_decay"])
        n, k = len(params), len(steps)
        key = ("radam_step", n, k, step_idx, use_wd, decoupled, maximize)
        b1, b2 = group["betas"]
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [t._read() for t in ms + vs + steps]
        vals += [t._read() for t in (group["lr"], b1, b2, group["eps"], group["weight_decay"])]
        outs = self._run(key, _build_radam(n, k, step_idx, use_wd, decoupled, maximize), vals)
        it = iter(outs)
        for t in steps + params + ms + vs:
            t._assign(next(it))
