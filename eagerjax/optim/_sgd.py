"""``SGD`` with momentum, dampening, Nesterov, weight decay and maximize: torch's rule, one kernel per group."""

from __future__ import annotations

from .._tensor import Tensor
from ._optimizer import Optimizer, _concrete_zeros

__all__ = ["SGD"]


def _build_sgd(n: int, first: tuple, use_mom: bool, use_wd: bool, nesterov: bool, maximize: bool):
    n_old = sum(1 for f in first if not f) if use_mom else 0

    def sgd_step(*vals):
        ps = vals[:n]
        gs = vals[n : 2 * n]
        olds = iter(vals[2 * n : 2 * n + n_old])
        lr, momentum, dampening, wd = vals[2 * n + n_old :]
        new_ps, new_bufs = [], []
        for i in range(n):
            p, g = ps[i], gs[i]
            if maximize:
                g = -g
            if use_wd:
                g = g + wd.astype(p.dtype) * p
            if use_mom:
                if first[i]:
                    buf = g
                else:
                    buf = next(olds) * momentum.astype(p.dtype) + (1 - dampening).astype(p.dtype) * g
                new_bufs.append(buf)
                g = g + momentum.astype(p.dtype) * buf if nesterov else buf
            new_ps.append(p + (-lr).astype(p.dtype) * g)
        return tuple(new_ps + new_bufs)

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
        first = ()
        olds: list[Tensor] = []
        bufs: list[Tensor] = []
        if use_mom:
            fl = []
            for p in params:
                st = self.state[p]
                b = st.get("momentum_buffer")
                if b is None:
                    b = st["momentum_buffer"] = _concrete_zeros(tuple(p.shape), p.dtype)
                    fl.append(True)
                else:
                    olds.append(b)
                    fl.append(False)
                bufs.append(b)
            first = tuple(fl)
        nesterov = bool(group["nesterov"])
        maximize = bool(group["maximize"])
        key = ("sgd_step", n, first, use_mom, use_wd, nesterov, maximize)
        vals = [p._read() for p in params] + [p.grad._read() for p in params] + [b._read() for b in olds]
        vals += [
            group["lr"]._read(),
            group["momentum"]._read(),
            group["dampening"]._read(),
            group["weight_decay"]._read(),
        ]
        outs = self._run(key, _build_sgd(n, first, use_mom, use_wd, nesterov, maximize), vals)
        for p, v in zip(params, outs[:n]):
            p._assign(v._read())
        for b, v in zip(bufs, outs[n:]):
            b._assign(v._read())
