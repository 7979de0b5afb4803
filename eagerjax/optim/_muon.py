"""``Muon``: momentum orthogonalized by a Newton-Schulz iteration, for 2-D parameters; one
kernel per group.

The iteration runs in bfloat16 as torch's does: each matrix product (and each ``addmm``
with its ``alpha``/``beta``) is accumulated in float32 and rounded to bfloat16 once, which is
what torch's CPU bfloat16 ``mm``/``addmm`` do, so the orthogonalized update agrees with
torch's to about one bfloat16 rounding. The products of bfloat16 values are exact in float32
whatever ``ej.set_float32_matmul_precision`` says (their 8-bit mantissas fit TF32's), so the
precision setting does not change the result.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from .._tensor import Tensor
from ._optimizer import Optimizer, _zeros_like
from ._rules import decayed, lerp

__all__ = ["Muon"]

_BF16, _F32 = jnp.bfloat16, jnp.float32


def _mm(a, b):
    """A bfloat16 product accumulated in float32 (not yet rounded)."""
    return jnp.matmul(a, b, preferred_element_type=_F32)


def _newton_schulz(x, a, b, c, steps: int, eps):
    """torch's quintic Newton-Schulz orthogonalization of the 2-D ``x``, in bfloat16."""
    o = x.astype(_BF16)
    tall = x.shape[0] > x.shape[1]
    if tall:
        o = o.T
    of = o.astype(_F32)
    norm = jnp.sqrt(jnp.sum(of * of)).astype(_BF16)
    o = (of / jnp.maximum(norm, eps.astype(_BF16)).astype(_F32)).astype(_BF16)
    for _ in range(steps):
        gram = _mm(o, o.T).astype(_BF16)
        gram_update = (b * gram.astype(_F32) + c * _mm(gram, gram)).astype(_BF16)
        o = (a * o.astype(_F32) + _mm(gram_update, o)).astype(_BF16)
    return o.T if tall else o


def _lr_ratio(shape: tuple, adjust_lr_fn: str | None) -> float:
    """The factor ``adjust_lr_fn`` scales the learning rate by for a parameter of ``shape``."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


class Muon(Optimizer):
    """Muon (``torch.optim.Muon``): ``buf = lerp(buf, g, 1 - momentum)``, the update
    ``lerp(g, buf, momentum)`` (Nesterov) or ``buf`` orthogonalized by ``ns_steps``
    Newton-Schulz iterations, decoupled weight decay ``p *= 1 - lr * weight_decay``, then
    ``p -= adjusted_lr * update``. ``ns_steps``, ``nesterov`` and ``adjust_lr_fn`` are
    structural (a new value compiles a new kernel); the other hyperparameters are tensors."""

    _tensor_keys = _hyper_keys = ("lr", "weight_decay", "momentum", "eps", "ns_coefficients")
    _rule_name = "muon_step"
    _counts_steps = False

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        super().__init__(
            params,
            {
                "lr": lr,
                "weight_decay": weight_decay,
                "momentum": momentum,
                "nesterov": nesterov,
                "ns_coefficients": ns_coefficients,
                "eps": eps,
                "ns_steps": ns_steps,
                "adjust_lr_fn": adjust_lr_fn,
            },
        )
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        f"Muon only supports 2D parameters whereas we found a parameter with size: {p.size()}"
                    )

    def _options(self, group) -> tuple:
        wd = group.known("weight_decay")
        return (wd is None or wd != 0, bool(group["nesterov"]), int(group["ns_steps"]), group["adjust_lr_fn"])

    def _state_spec(self, opts: tuple) -> tuple:
        return (("momentum_buffer", _zeros_like),)

    def _group_update(self, group, params, tail=False, skip_if=None):
        # torch's checks at step time, in its order (a group added later is not checked when built)
        for p in params:
            if p.is_complex():
                raise RuntimeError("Muon does not support complex parameters")
        for p in params:
            if p.grad.ndim != 2:
                raise ValueError("Param gradient must be a 2D matrix")
            if group["ns_steps"] >= 100:
                raise ValueError("Number of steps must be less than 100 for computational efficiency")
            if len(group.raw("ns_coefficients")) != 3:
                raise ValueError("Coefficients must be a tuple of exactly 3 values")
        return super()._group_update(group, params, tail, skip_if)

    @staticmethod
    def _leaf(opts, p, g, state, shared, hypers):
        use_wd, nesterov, ns_steps, adjust_lr_fn = opts
        lr, wd, momentum, eps, a, b, c = hypers
        dt = p.dtype
        buf = lerp(state[0], g, (1 - momentum).astype(dt))
        update = lerp(g, buf, momentum.astype(dt)) if nesterov else buf
        update = _newton_schulz(update, a, b, c, ns_steps, eps)
        p, _ = decayed(p, g, lr, wd, use_wd, False, decoupled=True)
        step_size = (lr * _lr_ratio(tuple(p.shape), adjust_lr_fn)).astype(dt)
        return p + (-step_size) * update.astype(dt), buf
