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
from ._optimizer import Optimizer, _concrete_zeros

__all__ = ["Adam", "AdamW"]


def _build_adam(n: int, k: int, step_idx: tuple, use_wd: bool, amsgrad: bool, maximize: bool, decoupled: bool):
    def adam_step(*vals):
        it = iter(vals)
        ps = [next(it) for _ in range(n)]
        gs = [next(it) for _ in range(n)]
        ms = [next(it) for _ in range(n)]
        vs = [next(it) for _ in range(n)]
        vmax = [next(it) for _ in range(n)] if amsgrad else []
        steps = [next(it) for _ in range(k)]
        lr, b1, b2, eps, wd = it
        omb1, omb2 = 1 - b1, 1 - b2
        new_steps = [s + 1 for s in steps]
        bc1 = [-jnp.expm1(s * jnp.log1p(-omb1)) for s in new_steps]
        bc2_sqrt = [jnp.sqrt(-jnp.expm1(s * jnp.log1p(-omb2))) for s in new_steps]
        out_p, out_m, out_v, out_vmax = [], [], [], []
        for i in range(n):
            p, g, m, v = ps[i], gs[i], ms[i], vs[i]
            dt = p.dtype
            if maximize:
                g = -g
            if use_wd:
                if decoupled:
                    p = p * (1 - lr * wd).astype(dt)
                else:
                    g = g + wd.astype(dt) * p
            w = omb1.astype(dt)
            # torch.lerp(m, g, w)
            m = jnp.where(jnp.abs(w) < 0.5, m + w * (g - m), g - (g - m) * (1 - w))
            v = v * b2.astype(dt) + omb2.astype(dt) * g * g
            j = step_idx[i]
            step_size = (lr / bc1[j]).astype(dt)
            if amsgrad:
                vm = jnp.maximum(vmax[i], v)
                out_vmax.append(vm)
                denom = jnp.sqrt(vm) / bc2_sqrt[j].astype(dt) + eps.astype(dt)
            else:
                denom = jnp.sqrt(v) / bc2_sqrt[j].astype(dt) + eps.astype(dt)
            out_p.append(p + (-step_size) * m / denom)
            out_m.append(m)
            out_v.append(v)
        return tuple(new_steps + out_p + out_m + out_v + out_vmax)

    return lambda: adam_step


def _check_adam_args(lr, betas, eps, weight_decay, foreach, capturable) -> None:
    if isinstance(lr, Tensor):
        if foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``); ``decoupled_weight_decay=True`` is AdamW."""

    _tensor_keys = ("lr", "betas", "eps", "weight_decay")

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
        _check_adam_args(lr, betas, eps, weight_decay, foreach, capturable)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _group_update(self, group, params: list[Tensor]) -> None:
        amsgrad = bool(group["amsgrad"])
        steps, step_idx = self._shared_steps(group, params)
        ms, vs, vmax = [], [], []
        for p in params:
            st = self.state[p]
            if "exp_avg" not in st:
                st["exp_avg"] = _concrete_zeros(tuple(p.shape), p.dtype)
                st["exp_avg_sq"] = _concrete_zeros(tuple(p.shape), p.dtype)
            ms.append(st["exp_avg"])
            vs.append(st["exp_avg_sq"])
            if amsgrad:
                if "max_exp_avg_sq" not in st:
                    st["max_exp_avg_sq"] = _concrete_zeros(tuple(p.shape), p.dtype)
                vmax.append(st["max_exp_avg_sq"])
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        maximize = bool(group["maximize"])
        decoupled = bool(group.get("decoupled_weight_decay", False))
        n, k = len(params), len(steps)
        key = ("adam_step", n, k, step_idx, use_wd, amsgrad, maximize, decoupled)
        b1, b2 = group["betas"]
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [t._read() for t in ms] + [t._read() for t in vs] + [t._read() for t in vmax]
        vals += [s._read() for s in steps]
        vals += [t._read() for t in (group["lr"], b1, b2, group["eps"], group["weight_decay"])]
        outs = self._run(key, _build_adam(n, k, step_idx, use_wd, amsgrad, maximize, decoupled), vals)
        it = iter(outs)
        for t in steps:
            t._assign(next(it))
        for group_of in (params, ms, vs, vmax):
            for t in group_of:
                t._assign(next(it))


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
