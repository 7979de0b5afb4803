"""``SparseAdam``: Adam's lazy variant for embeddings, one kernel per group.

torch's SparseAdam takes sparse gradients and touches only the rows they hold: those rows'
moments and values are updated, every other row is left exactly as it was (no decay). Our
gradients are dense (``Embedding(sparse=True)`` included), so a row counts as held when its
gradient is not all zeros — the rows a batch looked up, less ``padding_idx``, as torch's
sparse gradient has them. The choice is a ``where`` on the device, so eager, compiled and
lazy steps agree. The arithmetic follows torch's order (``m += (g - m) * (1 - b1)``).
"""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import check_args, defaults, one_minus_pow

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    """SparseAdam (``torch.optim.SparseAdam``): only rows with a nonzero gradient move."""

    _tensor_keys = _hyper_keys = ("lr", "betas", "eps")
    _rule_name = "sparse_adam_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        check_args(lr, eps=eps, betas=betas)
        super().__init__(params, defaults(locals(), "lr betas eps maximize"))
        bad = [[i, j] for i, g in enumerate(self.param_groups) for j, p in enumerate(g["params"]) if p.is_complex()]
        if bad:
            raise ValueError(f"Complex params at indices {bad}: SparseAdam does not support complex parameters")

    def _state_spec(self, opts: tuple) -> tuple:
        return (("exp_avg", _zeros_like), ("exp_avg_sq", _zeros_like))

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, b1, b2, eps = hypers
        return (lr * jnp.sqrt(one_minus_pow(1 - b2, step)) / one_minus_pow(1 - b1, step),)

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        _, maximize = opts[:2]
        lr, b1, b2, eps = hypers
        dt = p.dtype
        if maximize:
            g = -g
        # a row (the leading dimension, torch's sparse dimension) is held if any entry is nonzero
        held = g != 0 if g.ndim < 2 else jnp.any(g != 0, axis=tuple(range(1, g.ndim)), keepdims=True)
        m_old, v_old = state
        m = m_old + (g - m_old) * (1 - b1).astype(dt)
        v = v_old + (g * g - v_old) * (1 - b2).astype(dt)
        new_p = p + (-shared[0]).astype(dt) * (m / (jnp.sqrt(v) + eps.astype(dt)))
        return jnp.where(held, new_p, p), jnp.where(held, m, m_old), jnp.where(held, v, v_old)
