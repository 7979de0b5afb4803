"""What the optimizers share besides the base class: the pieces of their per-leaf rules (torch's
arithmetic, written for float32 XLA) and torch's constructor checks.

The rule helpers are pure jax math on scalars/arrays, for use inside an
optimizer's fused kernel. The ``step`` counts are float32 tensors (no host
read, no recompile as they advance), so ``beta ** step`` style terms are
computed in a form that keeps float32's relative accuracy.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import Tensor


def lerp(a, b, w):
    """``torch.lerp(a, b, w)``: ``a + w (b - a)`` for ``|w| < 0.5``, else ``b - (b - a)(1 - w)``."""
    return jnp.where(jnp.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def one_minus_pow(one_minus_beta, step):
    """``1 - beta ** step`` (a bias correction) without cancellation, from ``1 - beta``."""
    return -jnp.expm1(step * jnp.log1p(-one_minus_beta))


def radam_rho(step, one_minus_beta2):
    """RAdam's ``rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)`` accurate in float32.

    Written directly, ``rho_inf`` (about ``2 / (1 - beta2)``, e.g. 2000) and the
    subtracted term cancel to about ``t - 1``, losing ~4 digits in float32. With
    ``c = 1 - beta2`` and ``L = -log(beta2)``:
    ``rho_t = (2/c - 2/L) - 1 + (2/L) q(t L)`` where ``q(z) = 1 - z / expm1(z)``;
    both ``2/c - 2/L = 2 (L - c) / (c L)`` and ``q`` are evaluated from their
    series where the direct form would cancel.
    """
    c = one_minus_beta2
    big_l = -jnp.log1p(-c)
    # L - c = sum_{k>=2} c^k / k  (Horner), direct where c is large enough not to cancel badly
    ser = jnp.zeros_like(c)
    for k in range(18, 1, -1):
        ser = ser * c + 1.0 / k
    l_minus_c = jnp.where(c < 0.25, ser * c * c, big_l - c)
    a = 2 * l_minus_c / (c * big_l)
    z = step * big_l
    # q(z) = z/2 - z^2/12 + z^4/720 - z^6/30240 + z^8/1209600 - ...
    z2 = z * z
    q_ser = z * (0.5 - z * (1 / 12 - z2 * (1 / 720 - z2 * (1 / 30240 - z2 / 1209600))))
    q_dir = 1 - z / jnp.expm1(jnp.maximum(z, 1e-30))
    q = jnp.where(z < 0.5, q_ser, q_dir)
    return a - 1 + 2 * q / big_l


def decayed(p, g, lr, wd, use_wd: bool, maximize: bool, decoupled: bool = False):
    """torch's first lines of every rule: ``g = -g`` to maximize, then weight decay, either
    L2 (``g += wd * p``) or decoupled (``p *= 1 - lr * wd``). Returns ``(p, g)``."""
    dt = p.dtype
    if maximize:
        g = -g
    if use_wd:
        if decoupled:
            p = p * (1 - lr * wd).astype(dt)
        else:
            g = g + wd.astype(dt) * p
    return p, g


# ------------------------------------------------------------------------------ constructors
_WHAT = {"lr": "learning rate", "eps": "epsilon value"}


def check_args(lr, foreach=None, capturable=False, *, nan_ok: bool = False, **values) -> None:
    """torch's constructor checks with its messages: a Tensor ``lr`` has one element, then ``lr``
    and each of ``values`` (in the order given) is ``>= 0``, ``betas`` in ``[0, 1)``. With
    ``nan_ok`` (SGD) a NaN passes, as torch's ``x < 0`` test lets it."""
    if isinstance(lr, Tensor):
        if foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
    for name, v in {"lr": lr, **values}.items():
        if name == "betas":
            for i in (0, 1):
                if not 0.0 <= v[i] < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {v[i]}")
        elif (v < 0.0) if nan_ok else not 0.0 <= v:
            raise ValueError(f"Invalid {_WHAT.get(name, name + ' value')}: {v}")


def defaults(args: dict, names: str) -> dict:
    """An optimizer's ``defaults`` in torch's order: the space-separated ``names`` taken from the
    constructor's ``locals()`` (``betas`` as a tuple)."""
    return {n: tuple(args[n]) if n == "betas" else args[n] for n in names.split()}
