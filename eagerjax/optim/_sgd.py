"""``SGD`` with momentum, dampening, Nesterov, weight decay and maximize: torch's rule, one kernel per group."""

from __future__ import annotations

from .._tensor import Tensor
from ._optimizer import Optimizer, _concrete_scalar, _concrete_zeros

__all__ = ["SGD"]


def _build_sgd(n: int, use_mom: bool, use_wd: bool, nesterov: bool, maximize: bool):
    import jax.numpy as jnp

    def sgd_step(*vals):
        ps = vals[:n]
        gs = vals[n : 2 * n]
        k = 2 * n
        bufs = vals[k : k + n] if use_mom else ()
        started = vals[k + n : k + 2 * n] if use_mom else ()
        lr, momentum, dampening, wd = vals[k + 2 * n if use_mom else k :]
        new_ps, new_bufs = [], []
        for i in range(n):
            p, g = ps[i], gs[i]
            if maximize:
                g = -g
            if use_wd:
                g = g + wd.astype(p.dtype) * p
            if use_mom:
                # torch: buf = g on a parameter's first step, then the momentum rule. The
                # "started" flag is a tensor, so the choice is data, not Python structure,
                # and a compiled step takes the same path as eager.
                later = bufs[i] * momentum.astype(p.dtype) + (1 - dampening).astype(p.dtype) * g
                buf = jnp.where(started[i] > 0, later, g)
                new_bufs.append(buf)
                g = g + momentum.astype(p.dtype) * buf if nesterov else buf
            new_ps.append(p + (-lr).astype(p.dtype) * g)
        flags = [jnp.ones((), jnp.float32) for _ in new_bufs]
        return tuple(new_ps + new_bufs + flags)

    return lambda: sgd_step


class SGD(Optimizer):
    """Stochastic gradient descent (``torch.optim.SGD``), numerically identical to torch's single-tensor rule.

    ``v = momentum * v + (1 - dampening) * g`` (``v = g`` on the first step),
    ``g = g + momentum * v`` with Nesterov else ``g = v``, ``p -= lr * g``.
    """

    _tensor_keys = ("lr", "momentum", "dampening", "weight_decay")

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _group_update(self, group, params: list[Tensor]) -> None:
        mom = group.known("momentum")
        use_mom = mom is None or mom != 0
        wd = group.known("weight_decay")
        use_wd = wd is None or wd != 0
        n = len(params)
        bufs: list[Tensor] = []
        started: list[Tensor] = []
        if use_mom:
            flags = self.__dict__.setdefault("_started", {})  # id(param) -> (buffer, started flag)
            for p in params:
                st = self.state[p]
                b = st.get("momentum_buffer")
                fresh = b is None
                if fresh:
                    b = st["momentum_buffer"] = _concrete_zeros(tuple(p.shape), p.dtype)
                entry = flags.get(id(p))
                if entry is None or entry[0] is not b:
                    # A buffer made here has not started; one that already existed (loaded
                    # with load_state_dict, or set by hand) has.
                    entry = flags[id(p)] = (b, _concrete_scalar(0.0 if fresh else 1.0))
                bufs.append(b)
                started.append(entry[1])
        nesterov = bool(group["nesterov"])
        maximize = bool(group["maximize"])
        key = ("sgd_step", n, use_mom, use_wd, nesterov, maximize)
        vals = [p._read() for p in params] + [p.grad._read() for p in params]
        vals += [b._read() for b in bufs] + [f._read() for f in started]
        vals += [
            group["lr"]._read(),
            group["momentum"]._read(),
            group["dampening"]._read(),
            group["weight_decay"]._read(),
        ]
        outs = self._run(key, _build_sgd(n, use_mom, use_wd, nesterov, maximize), vals)
        for p, v in zip(params, outs[:n]):
            p._assign(v)
        for b, v in zip(bufs, outs[n : 2 * n]):
            b._assign(v)
        for f, v in zip(started, outs[2 * n :]):
            f._assign(v)
