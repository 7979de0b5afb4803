"""torch's values and gradients of special functions at their poles and edges.

JAX's special functions are NaN (or differ from torch) at several points where torch
returns a limit; these functions keep JAX's values elsewhere and follow torch there:

* ``digamma``: ``-inf`` at ``+0``, ``+inf`` at ``-0`` (NaN at the negative integers and at
  ``-inf``, as JAX's). Its derivative is ``trigamma``.
* ``trigamma`` (``polygamma(1, .)``): torch's formula, the reflection
  ``pi^2 / sin^2(pi x) - trigamma(1 - x)`` below 1/2, six steps of the recurrence and the
  asymptotic series after them. At the negative integers ``sin(pi x)`` of the float32
  product is not 0, so the value is large but finite there, as torch's (``+inf`` at 0).
* ``polygamma(n >= 2, x)`` is ``(-1)^(n+1) n! zeta(n + 1, x)`` with the ``zeta`` below, so it
  is ``+-inf`` at 0 and the negative integers. Each ``polygamma(n, .)``'s derivative is
  ``polygamma(n + 1, .)``.
* ``zeta(x, q)`` (Hurwitz): ``inf`` where ``x == 1``, NaN where ``x < 1``; for ``q <= 0``:
  ``inf`` where ``q`` is an integer, NaN where ``x`` is not, else the sum of the series
  ``sum_k (q + k)^-x`` (``_zeta_negative``); above 2^20 its Euler-Maclaurin expansion at ``q``
  (JAX's underflows there). ``x = inf``: 1 at ``q == 1``, ``inf`` below 1, NaN above (torch's
  series gives exactly these). The derivative w.r.t. ``q`` is ``-x zeta(x + 1, q)``; torch has
  none w.r.t. ``x`` (it raises), here it is JAX's.
* ``i0``: its derivative is ``i1`` (``+-inf`` where ``i1`` overflows; JAX's was NaN there).
* ``logit``: the derivative is ``1 / (x (1 - x))`` (``inf`` at 0 and 1), NaN outside [0, 1];
  with ``eps`` it is 0 where ``x`` was clamped, as torch's.
* ``xlog1py(x, y)``: ``x * log1p(y)``, 0 where ``x == 0`` unless ``y`` is NaN; gradient
  ``log1p(y)`` w.r.t. ``x`` except 0 where ``x == 0`` and ``y <= -1``, and ``x / (1 + y)``
  w.r.t. ``y``. Integer operands (a Python int ``other`` too) compute in the default float.

Everything is ``where`` over branches evaluated at safe arguments and ``custom_jvp``
derivatives: no host reads, so every mode computes the same thing.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import jax.scipy.special as jss

from .._dtypes import torch_name

__all__ = ["digamma", "trigamma", "polygamma", "zeta", "i0", "logit", "xlog1py"]


def _to_float(x):
    x = jnp.asarray(x)  # (a Python number stays weakly typed)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def _in_float32(f):
    """``f`` of a float input, computing half types in float32 and casting back (several of
    JAX's special functions reject float16; torch's CPU kernels compute half in float32)."""

    @functools.wraps(f)
    def g(x, *args):
        x = _to_float(x)
        if x.dtype in (jnp.float16, jnp.bfloat16):
            return f(x.astype(jnp.float32), *args).astype(x.dtype)
        return f(x, *args)

    return g


def _full(x, v):
    return jnp.full_like(x, v)


def _is_int(x):
    return x == jnp.floor(x)


# --------------------------------------------------------------------------- zeta
_PAIRS = 8  # terms of a negative q's series summed in pairs (see _zeta_negative)
_BIG_Q = 2.0**20  # above it, zeta(x, q) is its Euler-Maclaurin expansion at q


def _zeta_negative(x, q):
    """zeta(x, q) for a negative non-integer q and an integer x > 1: ``sum_k (q + k)^-x``.

    With ``f = q - floor(q)`` and ``b = ceil(q) - q`` (both exact) the terms are ``(f + k)^-x``
    for every k >= 0 and ``(-1)^x (b + j)^-x`` for the ``m = -floor(q)`` negative ones. For
    even x all are positive: ``zeta(x, f) + zeta(x, b) - zeta(x, 1 - q)``. For odd x they cancel
    pairwise, so the first pairs ``(f + k)^-x - (b + k)^-x`` are computed as
    ``(b + k)^-x expm1(-x log1p((f - b) / (b + k)))``, and only the tails' difference (small
    next to the result) as a difference of zetas.
    """
    f = q - jnp.floor(q)
    b = jnp.ceil(q) - q
    m = -jnp.floor(q)
    even = jnp.fmod(x, 2.0) == 0
    total_even = jss.zeta(x, f) + jss.zeta(x, b) - jss.zeta(x, 1 - q)
    d = f - b
    pairs = jnp.zeros_like(q)
    for k in range(_PAIRS):
        bk = b + k
        pair = bk**-x * jnp.expm1(-x * jnp.log1p(d / bk))
        pairs = pairs + jnp.where(k < m, pair, jnp.zeros_like(pair))
    big = m > _PAIRS
    n = jnp.minimum(m, _PAIRS)
    rest = jss.zeta(x, jnp.where(big, b + _PAIRS, _full(q, 1.0))) - jss.zeta(x, jnp.where(big, 1 - q, _full(q, 1.0)))
    total_odd = pairs + jss.zeta(x, f + n) - rest
    return jnp.where(even, total_even, total_odd)


def _zeta_large_q(x, q):
    """q^(1-x) / (x-1) + q^-x / 2 + x q^(-x-1) / 12, each through exp(log q) (no underflow
    in the intermediate powers)."""
    lq = jnp.log(q)
    return jnp.exp((1 - x) * lq) / (x - 1) + 0.5 * jnp.exp(-x * lq) + x / 12 * jnp.exp((-x - 1) * lq)


def _zeta_value(x, q):
    """Hurwitz zeta with torch's conventions (see the module's docstring)."""
    one = jnp.ones_like(x)
    pole = (q <= 0) & _is_int(q)
    neg = (q < 0) & ~pole  # a negative non-integer q (x an integer there, else NaN below)
    x_ok = (x > 1) & jnp.isfinite(x)
    xs = jnp.where(x_ok, x, _full(x, 2.0))
    big = (q > _BIG_Q) & jnp.isfinite(q)
    qs = jnp.where(neg | pole | big | ~(q > 0), _full(q, 1.0), q)
    out = jss.zeta(xs, qs)
    out = jnp.where(big, _zeta_large_q(xs, jnp.where(big, q, _full(q, 2.0))), out)
    out = jnp.where(neg, _zeta_negative(xs, jnp.where(neg, q, _full(q, -0.5))), out)
    out = jnp.where(jnp.isnan(q), _full(out, jnp.nan), out)
    # x = inf: (q + k)^-inf is 0 for |q + k| > 1, 1 at 1 and inf below 1
    out_inf = jnp.where(q == 1, one, jnp.where((q < 1) | neg, _full(x, jnp.inf), _full(x, jnp.nan)))
    out = jnp.where(x == jnp.inf, out_inf, out)
    out = jnp.where(jnp.isnan(x), _full(out, jnp.nan), out)
    out = jnp.where((q <= 0) & ~pole & ~_is_int(x), _full(out, jnp.nan), out)
    out = jnp.where(pole, _full(out, jnp.inf), out)
    out = jnp.where(x < 1, _full(out, jnp.nan), out)
    return jnp.where(x == 1, _full(out, jnp.inf), out)


@jax.custom_jvp
def _zeta_core(x, q):
    return _zeta_value(x, q)


@_zeta_core.defjvp
def _zeta_jvp(primals, tangents):
    x, q = primals
    tx, tq = tangents
    out = _zeta_core(x, q)
    # JAX's derivative w.r.t. x where its series is valid (torch has none)
    ok = (x > 1) & (q > 0) & jnp.isfinite(x) & jnp.isfinite(q)
    xs = jnp.where(ok, x, _full(x, 2.0))
    qs = jnp.where(ok, q, _full(q, 1.0))
    dx = jax.jvp(lambda a: jss.zeta(a, qs), (xs,), (jnp.ones_like(xs),))[1]
    dx = jnp.where(ok, dx, _full(dx, jnp.nan))
    dq = -x * _zeta_core(x + 1, q)
    return out, tx * dx + tq * dq


def zeta(x, q):
    """torch.special.zeta (integer operands compute in the default float)."""
    x, q = jnp.asarray(x), jnp.asarray(q)
    dtype = jnp.result_type(x, q)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.float32
    x, q = jnp.asarray(x, dtype), jnp.asarray(q, dtype)
    if dtype in (jnp.float16, jnp.bfloat16):  # torch's CPU kernel has no half types
        raise NotImplementedError(f"\"zeta_cpu\" not implemented for '{torch_name(dtype)}'")
    return _zeta_core(x, q)


# --------------------------------------------------------------------------- polygamma family
def _trigamma_value(x):
    small = x < 0.5
    s = jnp.sin(jnp.asarray(math.pi, x.dtype) * x)
    z = jnp.where(small, 1 - x, x)
    acc = jnp.zeros_like(z)
    for _ in range(6):
        acc = acc + 1 / (z * z)
        z = z + 1
    ixx = 1 / (z * z)
    acc = acc + (1 + 1 / (2 * z) + ixx * (1 / 6 - ixx * (1 / 30 - ixx * (1 / 42)))) / z
    pi2 = jnp.asarray(math.pi**2, x.dtype)
    return jnp.where(small, pi2 / (s * s) - acc, acc)


def _digamma_value(x):
    out = jss.digamma(x)
    return jnp.where(x == 0, jnp.copysign(_full(x, jnp.inf), -x), out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _polygamma_core(n, x):
    if n == 0:
        return _digamma_value(x)
    if n == 1:
        return _trigamma_value(x)
    c = float(math.factorial(n)) * (1.0 if n % 2 else -1.0)
    return jnp.asarray(c, x.dtype) * _zeta_core(jnp.full_like(x, n + 1), x)


@_polygamma_core.defjvp
def _polygamma_jvp(n, primals, tangents):
    (x,), (t,) = primals, tangents
    return _polygamma_core(n, x), t * _polygamma_core(n + 1, x)


@_in_float32
def digamma(x):
    """torch.digamma."""
    return _polygamma_core(0, x)


@_in_float32
def trigamma(x):
    """torch.polygamma(1, x)."""
    return _polygamma_core(1, x)


def polygamma(n, x):
    """torch.polygamma(n, x) (``n`` a static Python int)."""
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return _in_float32(lambda a: _polygamma_core(int(n), a))(x)


# --------------------------------------------------------------------------- i0
@jax.custom_jvp
def _i0_core(x):
    return jnp.i0(x)


@_i0_core.defjvp
def _i0_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _i0_core(x), t * jss.i1(x)


@_in_float32
def i0(x):
    """torch.i0, whose derivative is torch's ``i1`` (it overflows to +-inf, not NaN)."""
    return _i0_core(x)


# --------------------------------------------------------------------------- logit
@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _logit_core(x, eps):
    if eps is not None and eps >= 0:
        lo = jnp.asarray(eps, x.dtype)
        hi = jnp.asarray(1 - eps, x.dtype)
        x = jnp.where(x < lo, lo, jnp.where(x > hi, hi, x))
    return jnp.log(x / (1 - x))


@_logit_core.defjvp
def _logit_jvp(eps, primals, tangents):
    (x,), (t,) = primals, tangents
    d = 1 / (x * (1 - x))
    if eps is not None and eps >= 0:
        d = jnp.where((x < eps) | (x > 1 - eps), jnp.zeros_like(d), d)
    else:
        d = jnp.where((x < 0) | (x > 1), _full(d, jnp.nan), d)
    return _logit_core(x, eps), t * d


def logit(x, eps=None):
    """torch.logit: ``log(z / (1 - z))``, ``z`` = x clamped to [eps, 1 - eps] (eps None or
    negative: no clamp; the clamp is torch's ``x < lo ? lo : (x > hi ? hi : x)``, so eps > 0.5
    picks the bound torch does)."""
    x = _to_float(x)
    return _logit_core(x, None if eps is None else float(eps))


# --------------------------------------------------------------------------- xlog1py
@jax.custom_jvp
def _xlog1py_core(x, y):
    out = jnp.where(x == 0, jnp.zeros_like(x), x * jnp.log1p(y))
    return jnp.where(jnp.isnan(y), _full(out, jnp.nan), out)


@_xlog1py_core.defjvp
def _xlog1py_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    dx = jnp.where((x == 0) & (y <= -1), jnp.zeros_like(y), jnp.log1p(y))
    return _xlog1py_core(x, y), tx * dx + ty * (x / (1 + y))


def xlog1py(x, y):
    """torch.special.xlog1py."""
    dtype = jnp.result_type(x, y)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, 1.0)  # the default float (JAX's promotion of ints)
    return _xlog1py_core(jnp.asarray(x, dtype), jnp.asarray(y, dtype))
