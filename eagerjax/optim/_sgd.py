"""``SGD`` with momentum, dampening, Nesterov, weight decay and maximize: torch's rule, one kernel per group."""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _concrete_scalar, _zeros_like
from ._rules import check_args, decayed, defaults

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (``torch.optim.SGD``), numerically identical to torch's single-tensor rule.

    ``v = momentum * v + (1 - dampening) * g`` (``v = g`` on the first step),
    ``g = g + momentum * v`` with Nesterov else ``g = v``, ``p -= lr * g``.
    """

    _elementwise = True

    _tensor_keys = _hyper_keys = ("lr", "momentum", "dampening", "weight_decay")
    _rule_name = "sgd_step"
    _flags = ("nesterov",)
    _counts_steps = False

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
        check_args(lr, nan_ok=True, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        order = "lr momentum dampening weight_decay nesterov maximize foreach differentiable fused"
        super().__init__(params, defaults(locals(), order))
        self._started: dict = {}  # id(param) -> has its momentum buffer started (0-d tensor)

    def _options(self, group) -> tuple:
        mom = group.known("momentum")
        return super()._options(group) + (mom is None or mom != 0,)

    def _state_spec(self, opts: tuple) -> tuple:
        return (("momentum_buffer", self._new_buffer),) if opts[3] else ()

    # Beside each momentum buffer (not in ``state``), whether it has started: torch sets ``buf = g``
    # on a parameter's first step. The flag is a tensor, so the choice is data, not Python
    # structure, and a compiled step takes the same path as eager. A buffer born here is flagged 0
    # until its first update sets 1; one this optimizer did not make (load_state_dict, set by hand)
    # has started. The flags are keyed by id(param): a copied or unpickled optimizer drops them
    # (its existing buffers have started).
    def _new_buffer(self, p: Tensor) -> Tensor:
        self._started[id(p)] = _concrete_scalar(0.0)
        return _zeros_like(p)

    def _leaf_state(self, params: list[Tensor], sts: list[dict], spec: tuple) -> list[list[Tensor]]:
        cols = super()._leaf_state(params, sts, spec)
        if cols:
            started = self._started
            try:
                cols.append([started[id(p)] for p in params])
            except KeyError:
                for p in params:
                    if id(p) not in started:
                        started[id(p)] = _concrete_scalar(1.0)
                cols.append([started[id(p)] for p in params])
        return cols

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._started = {}

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize, nesterov, use_mom = opts
        lr, momentum, dampening, wd = hypers
        dt = p.dtype
        p, g = decayed(p, g, lr, wd, use_wd, maximize)
        if not use_mom:
            return (p + (-lr).astype(dt) * g,)
        buf, started = state
        buf = jnp.where(started > 0, buf * momentum.astype(dt) + (1 - dampening).astype(dt) * g, g)
        g = g + momentum.astype(dt) * buf if nesterov else buf
        return p + (-lr).astype(dt) * g, buf, jnp.ones((), jnp.float32)
