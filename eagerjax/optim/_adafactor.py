"""``Adafactor``: torch's variant (lr-capped relative step, decoupled weight decay, update
clipping, factored second moments), one kernel per group.

Written in jnp to torch's semantics, not composed from ``optax.adafactor``: torch uses ``lr``
as the cap of the relative step ``rho_t = min(lr, 1/sqrt(t))`` and as the weight decay's
coefficient, keeps the row/column factors free of ``eps1`` (applying it only to the row
factor's mean and to the variance estimate) and averages squared gradients instead of
summing them. Where torch reads ``step``, ``RMS(p)`` and ``RMS(update)`` on the host (float64
scalars), the kernel computes them on the device in float32: no host read, no recompile.

A parameter with two or more dimensions keeps ``row_var`` (its last dimension reduced to 1)
and ``col_var`` (its second-to-last reduced to 1); a vector or scalar keeps a full
``variance``. The group's kernel takes two state columns, so a vector's second column is a
0-d placeholder kept beside the state (``_spare``), never shown in ``state`` or its dict.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._tensor import Tensor
from ._optimizer import Optimizer, _concrete_scalar, _concrete_zeros, _zeros_like
from ._rules import decayed, lerp

__all__ = ["Adafactor"]


def _factored(p: Tensor) -> bool:
    return p.ndim > 1


def _row_var(p: Tensor) -> Tensor:
    return _concrete_zeros((*tuple(p.shape)[:-1], 1), p.dtype)


def _col_var(p: Tensor) -> Tensor:
    s = tuple(p.shape)
    return _concrete_zeros((*s[:-2], 1, s[-1]), p.dtype)


def _rms(x):
    """``||x||_2 / sqrt(numel)`` in at least float32, as torch's ``norm(2) / numel ** 0.5``."""
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return jnp.sqrt(jnp.sum(x * x)) / np.float32(np.sqrt(x.size))


class Adafactor(Optimizer):
    """Adafactor (``torch.optim.Adafactor``).

    ``eps`` (``(eps1, eps2)``, ``eps1=None`` meaning the parameter dtype's machine epsilon) is
    a structural option, not a tensor: a new value compiles a new kernel.
    """

    _tensor_keys = _hyper_keys = ("lr", "beta2_decay", "d", "weight_decay")
    _rule_name = "adafactor_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(
            params,
            {
                "lr": lr,
                "beta2_decay": beta2_decay,
                "eps": tuple(eps),
                "d": d,
                "weight_decay": weight_decay,
                "foreach": foreach,
                "maximize": maximize,
            },
        )
        self._spare: dict = {}  # id(vector param) -> its 0-d placeholder second state column

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._spare = {}

    def _options(self, group) -> tuple:
        eps1, eps2 = group["eps"]
        return super()._options(group) + (None if eps1 is None else float(eps1), float(eps2))

    def _state_spec(self, opts: tuple) -> tuple:
        return (("row_var", _row_var), ("col_var", _col_var))  # (what ``_leaf_state`` builds)

    def _leaf_state(self, params: list[Tensor], sts: list[dict], spec: tuple) -> list[list[Tensor]]:
        """Two columns: ``row_var``/``col_var`` for a factored param, ``variance`` and a
        placeholder for a vector; missing state is born here (concrete), in torch's order."""
        rows, cols = [], []
        for p, st in zip(params, sts):
            if p.is_complex():
                raise RuntimeError("Adafactor does not support complex parameters")
            if _factored(p):
                if "row_var" not in st:
                    st["row_var"] = _row_var(p)
                    st["col_var"] = _col_var(p)
                rows.append(st["row_var"])
                cols.append(st["col_var"])
            else:
                if "variance" not in st:
                    st["variance"] = _zeros_like(p)
                rows.append(st["variance"])
                spare = self._spare.get(id(p))
                if spare is None:
                    spare = self._spare[id(p)] = _concrete_scalar(0.0)
                cols.append(spare)
        return [rows, cols]

    @staticmethod
    def _per_step(opts, step, hypers):
        lr, beta2_decay, d, wd = hypers
        # (1 - beta2_t = t ** beta2_decay, the weight of the new squared gradient; rho_t)
        return jnp.power(step, beta2_decay), jnp.minimum(lr, 1 / jnp.sqrt(step))

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, maximize, eps1, eps2 = opts
        lr, beta2_decay, d, wd = hypers
        dt = p.dtype
        if eps1 is None:
            eps1 = float(jnp.finfo(dt).eps)
        weight, rho_t = shared
        # the step size is set by the parameter's scale before weight decay touches it
        alpha = jnp.maximum(np.float32(eps2), _rms(p)) * rho_t
        p, g = decayed(p, g, lr, wd, use_wd, maximize, decoupled=True)
        w = weight.astype(dt)
        if g.ndim > 1:
            gg = g * g
            # torch squares the norm (sqrt then square) before dividing by the count
            row_mean = jnp.square(jnp.sqrt(jnp.sum(gg, axis=-1, keepdims=True))) / g.shape[-1]
            col_mean = jnp.square(jnp.sqrt(jnp.sum(gg, axis=-2, keepdims=True))) / g.shape[-2]
            row_var = lerp(state[0], row_mean, w)
            col_var = lerp(state[1], col_mean, w)
            # row_var @ col_var contracts a dimension of size 1: the outer product, one rounding
            var = row_var * col_var
            var = var / jnp.maximum(jnp.mean(row_var, axis=-2, keepdims=True), eps1)
            new_state = (row_var, col_var)
        else:
            var = lerp(state[0], g * g, w)
            new_state = (var, state[1])
        update = jax.lax.rsqrt(jnp.maximum(var, eps1 * eps1)) * g
        denom = jnp.maximum(1.0, _rms(update) / d)
        p = p + (-alpha / denom).astype(dt) * update
        return (p, *new_state)
