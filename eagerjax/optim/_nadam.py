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
from ._adam import _check_adam_args
from ._optimizer import Optimizer, _concrete_scalar, _concrete_zeros
from ._rules import lerp, one_minus_pow, take

__all__ = ["NAdam"]

_LOG_096 = math.log(0.96)


def _build_nadam(n: int, k: int, step_idx: tuple, use_wd: bool, decoupled: bool, maximize: bool):
    def nadam_step(*vals):
        it = iter(vals)
        ps, gs, ms, vs, mus = take(it, n), take(it, n), take(it, n), take(it, n), take(it, n)
        steps = take(it, k)
        lr, b1, b2, eps, wd, md = it
        new_steps = [s + 1 for s in steps]
        omb1, omb2 = 1 - b1, 1 - b2
        bc2 = [one_minus_pow(omb2, s) for s in new_steps]
        mu = [b1 * (1.0 - 0.5 * jnp.exp(s * md * _LOG_096)) for s in new_steps]
        mu_next = [b1 * (1.0 - 0.5 * jnp.exp((s + 1) * md * _LOG_096)) for s in new_steps]
        out_p, out_m, out_v, out_mu = [], [], [], []
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
            mu_prod = mus[i] * mu[j]
            m = lerp(ms[i], g, omb1.astype(dt))
            v = vs[i] * b2.astype(dt) + omb2.astype(dt) * g * g
            denom = jnp.sqrt(v / bc2[j].astype(dt)) + eps.astype(dt)
            c_grad = -lr * (1.0 - mu[j]) / (1.0 - mu_prod)
            c_avg = (-lr * mu_next[j]) / (1.0 - mu_prod * mu_next[j])
            p = p + c_grad.astype(dt) * g / denom
            p = p + c_avg.astype(dt) * m / denom
            out_p.append(p)
            out_m.append(m)
            out_v.append(v)
            out_mu.append(mu_prod)
        return tuple(new_steps + out_p + out_m + out_v + out_mu)

    return lambda: nadam_step


class NAdam(Optimizer):
    """NAdam (``torch.optim.NAdam``): Adam with Nesterov momentum and a momentum-decay schedule."""

    _tensor_keys = ("lr", "betas", "eps", "weight_decay", "momentum_decay")

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
        _check_adam_args(lr, betas, eps, weight_decay, None, capturable)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _group_update(self, group, params: list[Tensor]) -> None:
        steps, step_idx = self._shared_steps(group, params)
        ms, vs, mus = [], [], []
        for p in params:
            st = self.state[p]
            if "mu_product" not in st:
                st["mu_product"] = _concrete_scalar(1.0)
                st["exp_avg"] = _concrete_zeros(tuple(p.shape), p.dtype)
                st["exp_avg_sq"] = _concrete_zeros(tuple(p.shape), p.dtype)
            ms.append(st["exp_avg"])
            vs.append(st["exp_avg_sq"])
            mus.append(st["mu_product"])
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        maximize = bool(group["maximize"])
        decoupled = bool(group["decoupled_weight_decay"])
        n, k = len(params), len(steps)
        key = ("nadam_step", n, k, step_idx, use_wd, decoupled, maximize)
        b1, b2 = group["betas"]
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [t._read() for t in ms + vs + mus + steps]
        hyp = (group["lr"], b1, b2, group["eps"], group["weight_decay"], group["momentum_decay"])
        vals += [t._read() for t in hyp]
        outs = self._run(key, _build_nadam(n, k, step_idx, use_wd, decoupled, maximize), vals)
        it = iter(outs)
        for t in steps + params + ms + vs + mus:
            t._assign(next(it))
