"""Shared pieces of the per-leaf update rules: torch's arithmetic, written for float32 XLA.

Every helper is pure jax math on scalars/arrays, for use inside an optimizer's
fused kernel. The ``step`` counts are float32 tensors (no host read, no
recompile as they advance), so ``beta ** step`` style terms are computed in a
form that keeps float32's relative accuracy.
"""

from __future__ import annotations

import jax.numpy as jnp


def take(it, n: int) -> list:
    """The next ``n`` values of the iterator ``it``."""
    return [next(it) for _ in range(n)]


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
