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
from ._optimizer import Optimizer, _concrete_zeros
from ._rules import take

__all__ = ["RMSprop"]


def _build_rmsprop(n: int, k: int, use_wd: bool, use_mom: bool, centered: bool, maximize: bool):
    def rmsprop_step(*vals):
        it = iter(vals)
        ps, gs, sqs = take(it, n), take(it, n), take(it, n)
        bufs = take(it, n) if use_mom else []
        gavgs = take(it, n) if centered else []
        steps = take(it, k)
        lr, alpha, eps, wd, mom = it
        new_steps = [s + 1 for s in steps]
        out_p, out_sq, out_buf, out_gavg = [], [], [], []
        for i in range(n):
            p, g = ps[i], gs[i]
            dt = p.dtype
            if maximize:
                g = -g
            if use_wd:
                g = g + wd.astype(dt) * p
            a, e = alpha.astype(dt), eps.astype(dt)
            if centered:
                tx = optax.scale_by_stddev(decay=a, eps=e, eps_in_sqrt=False)
                u, st = tx.update(g, optax.ScaleByRStdDevState(mu=gavgs[i], nu=sqs[i]))
                out_gavg.append(st.mu)
            else:
                tx = optax.scale_by_rms(decay=a, eps=e, eps_in_sqrt=False)
                u, st = tx.update(g, optax.ScaleByRmsState(nu=sqs[i]))
            out_sq.append(st.nu)
            if use_mom:
                u = bufs[i] * mom.astype(dt) + u
                out_buf.append(u)
            out_p.append(p + (-lr).astype(dt) * u)
        return tuple(new_steps + out_p + out_sq + out_buf + out_gavg)

    return lambda: rmsprop_step


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``)."""

    _tensor_keys = ("lr", "alpha", "eps", "weight_decay", "momentum")

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
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _group_update(self, group, params: list[Tensor]) -> None:
        centered = bool(group["centered"])
        mom = group.known("momentum")
        use_mom = mom is None or mom > 0  # a momentum written as a tensor (a scheduler) counts as in use
        steps, step_idx = self._shared_steps(group, params)
        sqs, bufs, gavgs = [], [], []
        for p in params:
            st = self.state[p]
            shape = tuple(p.shape)
            if "square_avg" not in st:
                st["square_avg"] = _concrete_zeros(shape, p.dtype)
            if use_mom and "momentum_buffer" not in st:
                st["momentum_buffer"] = _concrete_zeros(shape, p.dtype)
            if centered and "grad_avg" not in st:
                st["grad_avg"] = _concrete_zeros(shape, p.dtype)
            sqs.append(st["square_avg"])
            if use_mom:
                bufs.append(st["momentum_buffer"])
            if centered:
                gavgs.append(st["grad_avg"])
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        maximize = bool(group["maximize"])
        n, k = len(params), len(steps)
        key = ("rmsprop_step", n, k, use_wd, use_mom, centered, maximize)
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [t._read() for t in sqs + bufs + gavgs + steps]
        vals += [group[h]._read() for h in ("lr", "alpha", "eps", "weight_decay", "momentum")]
        outs = self._run(key, _build_rmsprop(n, k, use_wd, use_mom, centered, maximize), vals)
        it = iter(outs)
        for t in steps:
            t._assign(next(it))
        for t in params + sqs + bufs + gavgs:
            t._assign(next(it))
