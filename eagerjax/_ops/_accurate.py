"""Special functions where JAX's are less accurate than torch's, or have other gradients.

* ``xlogy``: torch's values (``xlogy(0, y) = 0`` for every ``y`` but NaN) and torch's gradient
  w.r.t. ``x``: ``log(y)``, except 0 where ``x == 0`` and ``y <= 0`` (JAX's is ``-inf`` at
  ``(0, 0)``, which made ``Gamma(1, 1).log_prob(0)``'s gradient ``-inf``); w.r.t. ``y``: ``x / y``.
* ``lgamma``: float32 ``lax.lgamma`` is off by ~5e-7 at 1 and 2, where lgamma is 0 (torch: 0).
  On (0, 8) it is the power series of ``lgamma(1 + z)`` (``z = x - 1``, or ``z = x`` below
  1/2, minus ``log x``) or of ``lgamma(2 + z)`` (``z = x - 2``; above 2.5 after the recurrence
  ``lgamma(x) = lgamma(x - n) + log((x - 1) ... (x - n))``), whose coefficients are zeta values:

      lgamma(1 + z) = -gamma z + sum_{k>=2} (-1)^k zeta(k) z^k / k
      lgamma(2 + z) = (1 - gamma) z + sum_{k>=2} (-1)^k (zeta(k) - 1) z^k / k

  Below 0, the reflection formula. Its derivative is ``digamma(x)``, as torch's backward.
* the regularized incomplete gamma functions ``P(a, x)`` and ``Q(a, x)``: JAX's lose about
  ``a * eps`` (its series' prefactor ``exp(a log x - x - lgamma(a))`` cancels), 3.7e-3 at
  a = 5000. For a >= 20 and ``|eta| <= 2`` (x/a in about [0.11, 3.9]; float64: 1.5) they come from Temme's
  uniform asymptotic expansion (DLMF 8.12):

      lambda = x / a,  eta = sign(lambda - 1) sqrt(2 (lambda - 1 - log lambda))
      Q(a, x) = erfc(eta sqrt(a / 2)) / 2 + exp(-a eta^2 / 2) / sqrt(2 pi a) sum_k c_k(eta) a^-k

  with ``c_0 = 1/(lambda - 1) - 1/eta`` and ``c_k = c_{k-1}'(eta) / eta + (-1)^k g_k / (lambda - 1)``
  (``g_k``: the coefficients of Stirling's series of ``Gamma*(a)``). The ``c_k`` are summed
  as Taylor polynomials in ``eta``, whose coefficients are computed once, exactly, in rational
  arithmetic (``lambda(eta)`` from its differential equation ``t t' = eta (1 + t)``,
  ``t = lambda - 1``). Elsewhere JAX's ``lax.igamma``/``igammac`` are used. The derivative
  w.r.t. x is the density ``x^(a-1) e^-x / Gamma(a)`` (computed without the cancellation for
  a >= 10), w.r.t. a the derivative of the expansion in its region, else JAX's
  ``lax.igamma_grad_a``.

Everything is ``where`` over branches evaluated at safe arguments: no host reads, and the
branch not taken adds no NaN to a gradient (each function's derivative is a ``custom_jvp``).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

__all__ = ["_xlogy", "_lgamma", "_igamma", "_igammac"]

_EULER = 0.57721566490153286061


def _is64(dtype) -> bool:
    return jnp.dtype(dtype) == jnp.float64


def _horner(coeffs, z):
    """sum_k coeffs[k] z^k."""
    out = jnp.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        out = out * z + c
    return out


# --------------------------------------------------------------------------- xlogy
@jax.custom_jvp
def _xlogy_core(x, y):
    out = jnp.where(x == 0, jnp.zeros_like(x), x * jnp.log(y))
    return jnp.where(jnp.isnan(y), jnp.full_like(out, jnp.nan), out)


def _nonzero(t) -> bool:
    """Whether a tangent is not a symbolic zero (an input nobody differentiates)."""
    return not isinstance(t, SymbolicZero)


def _sum_terms(terms, like):
    return functools.reduce(lambda u, v: u + v, terms) if terms else jnp.zeros_like(like)


@functools.partial(_xlogy_core.defjvp, symbolic_zeros=True)
def _xlogy_jvp(primals, tangents):
    # (a term per differentiated input only, as torch's forward AD: the other's x / y is NaN at 0 / 0)
    x, y = primals
    tx, ty = tangents
    out = _xlogy_core(x, y)
    terms = []
    if _nonzero(tx):
        terms.append(tx * jnp.where((x == 0) & (y <= 0), jnp.zeros_like(y), jnp.log(y)))
    if _nonzero(ty):
        terms.append(ty * (x / y))
    return out, _sum_terms(terms, out)


def _xlogy(x, y):
    """torch.xlogy: ``x * log(y)``, 0 where ``x == 0`` (unless ``y`` is NaN)."""
    dtype = jnp.result_type(x, y)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, 1.0)  # the default float (JAX's promotion of ints)
    return _xlogy_core(jnp.asarray(x, dtype), jnp.asarray(y, dtype))


# --------------------------------------------------------------------------- lgamma
@functools.cache
def _zeta_minus_one(kmax: int) -> tuple[float, ...]:
    """zeta(k) - 1 for k = 0..kmax (entries 0, 1 unused) by Euler-Maclaurin, in float64."""
    n = 20
    bern = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730]  # B_2, B_4, ..., B_12
    out = [0.0, 0.0]
    for k in range(2, kmax + 1):
        s = sum(m ** -float(k) for m in range(2, n))
        s += n ** (1.0 - k) / (k - 1) + 0.5 * n ** -float(k)
        rising = float(k)  # k (k+1) ... (k + 2j - 2)
        for j, b in enumerate(bern, start=1):
            s += b / math.factorial(2 * j) * rising * n ** (-float(k) - 2 * j + 1)
            rising *= (k + 2 * j - 1) * (k + 2 * j)
        out.append(s)
    return tuple(out)


@functools.cache
def _lgamma_series(is64: bool):
    """Taylor coefficients of lgamma(1 + z) and lgamma(2 + z) at z = 0 (|z| <= 1/2)."""
    n1, n2 = (52, 28) if is64 else (24, 13)
    zm1 = _zeta_minus_one(n1)
    near1 = [0.0, -_EULER] + [(-1) ** k * (zm1[k] + 1) / k for k in range(2, n1 + 1)]
    near2 = [0.0, 1 - _EULER] + [(-1) ** k * zm1[k] / k for k in range(2, n2 + 1)]
    return tuple(near1), tuple(near2)


def _series_at(coeffs, z):
    """sum_{k>=1} coeffs[k] z^k (no constant term: XLA drops `+ 0.0`, leaving -0.0 at z = 0)."""
    return jnp.where(z == 0, jnp.zeros_like(z), z * _horner(coeffs[1:], z))


def _lgamma_pos(x):
    near1, near2 = _lgamma_series(_is64(x.dtype))
    zero = jnp.zeros_like(x)
    low = (x > 0) & (x < 0.5)  # lgamma(1 + x) - log(x)
    one = (x >= 0.5) & (x < 1.5)
    two = (x >= 1.5) & (x <= 2.5)
    up = (x > 2.5) & (x < 8)  # lgamma(x - n) + log((x - 1) ... (x - n)), x - n in [1.5, 2.5)
    xl = jnp.where(low, x, 0.25)
    v_low = _series_at(near1, xl) - jnp.log(xl)
    v_one = _series_at(near1, jnp.where(one, x - 1, zero))
    v_two = _series_at(near2, jnp.where(two, x - 2, zero))
    xu = jnp.where(up, x, 3.0)
    n = jnp.floor(xu - 1.5)
    prod = jnp.ones_like(x)
    for k in range(1, 7):
        prod = prod * jnp.where(k <= n, xu - k, 1.0)  # (each x - k is exact)
    v_up = _series_at(near2, xu - n - 2) + jnp.log(prod)
    out = jnp.where(up, v_up, lax.lgamma(x))
    out = jnp.where(two, v_two, out)
    out = jnp.where(one, v_one, out)
    return jnp.where(low, v_low, out)


@jax.custom_jvp
def _lgamma_core(x):
    # x < 0 (not an integer): the reflection formula with -x (exact) rather than 1 - x:
    # lgamma(x) = log(pi / |sin(pi x)|) - log(-x) - lgamma(-x), sin(pi x) from x - round(x)
    neg = (x < 0) & (jnp.floor(x) != x) & (x > -jnp.inf)
    xn = jnp.where(neg, x, -0.5)
    r = xn - jnp.round(xn)
    v_neg = jnp.log(math.pi / jnp.abs(jnp.sin(math.pi * r))) - jnp.log(-xn) - _lgamma_pos(-xn)
    return jnp.where(neg, v_neg, _lgamma_pos(x))


@_lgamma_core.defjvp
def _lgamma_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _lgamma_core(x), t * lax.digamma(x)


def _lgamma(x):
    """torch.lgamma (float input): accurate to about an ulp near its zeros at 1 and 2."""
    if x.dtype in (jnp.float16, jnp.bfloat16):
        return _lgamma_core(x.astype(jnp.float32)).astype(x.dtype)
    return _lgamma_core(x)


# --------------------------------------------------------------------------- incomplete gamma
_TEMME_MIN_A = 20.0
# |eta| up to which (and how many orders and Taylor terms of c_k(eta)): the Taylor series
# converge within |eta| < 2 sqrt(pi); truncation errors there are ~6e-10 (float32's
# settings) and ~2e-14 (float64's), checked against SciPy in float64 for a >= 20.
_TEMME = {False: (2.0, 10, 32), True: (1.5, 12, 48)}


@functools.cache
def _temme_coeffs(orders: int, terms: int) -> tuple[tuple[float, ...], ...]:
    """Taylor coefficients (``terms`` each) of c_0 .. c_{orders-1} (exact, then rounded)."""
    n = terms + 2 * orders + 1
    # t = lambda - 1 = sum_m b_m eta^m solves t t' = eta (1 + t), b_1 = 1
    b = [Fraction(0), Fraction(1)]
    for m in range(2, n + 2):
        s = sum(b[i] * (m + 1 - i) * b[m + 1 - i] for i in range(2, m))
        b.append((b[m - 1] - s) / (m + 1))
    u = b[1:]  # t = eta u(eta)
    v = [Fraction(1)]  # 1 / u
    for k in range(1, n):
        v.append(-sum(u[i] * v[k - i] for i in range(1, k + 1)))
    # Stirling's series Gamma*(a) ~ sum g_k a^-k = exp(sum_m B_2m / (2m (2m - 1)) a^(1 - 2m))
    bern = [Fraction(1)]
    for m in range(1, orders + 2):
        bern.append(-sum(math.comb(m + 1, k) * bern[k] for k in range(m)) / (m + 1))
    log_series = [Fraction(0)] * (orders + 1)
    for m in range(1, orders + 1):
        if 2 * m - 1 <= orders:
            log_series[2 * m - 1] = bern[2 * m] / (2 * m * (2 * m - 1))
    g = [Fraction(1)] + [Fraction(0)] * orders
    for k in range(1, orders + 1):
        g[k] = sum(j * log_series[j] * g[k - j] for j in range(1, k + 1)) / k
    c = [v[1:]]  # c_0 = (1/u - 1) / eta
    for k in range(1, orders):
        prev, s = c[-1], (-1) ** k * g[k]
        # (1/eta) c_{k-1}' + s / (eta u): the 1/eta terms cancel (prev[1] + s == 0)
        c.append([(m + 2) * prev[m + 2] + s * v[m + 1] for m in range(len(prev) - 2)])
    return tuple(tuple(float(x) for x in ck[:terms]) for ck in c)


def _log1pmx_over_t2(t):
    """(log(1 + t) - t) / t^2 (t > -1), smooth through t = 0: with s = t / (2 + t),
    log(1 + t) = 2 atanh(s) and t - 2 s = s t, so log(1 + t) - t = -s t + 2 s^3 sum_k s^2k / (2k + 3)."""
    s = t / (2 + t)
    near = s * s <= 0.45  # t in about [-0.8, 4]
    tn = jnp.where(near, t, jnp.zeros_like(t))
    u = 1 / (2 + tn)
    w = jnp.square(tn * u)
    terms = 44 if _is64(t.dtype) else 20
    series = -u + 2 * tn * u * u * u * _horner([1 / (2 * k + 3) for k in range(terms)], w)
    tb = jnp.where(near, jnp.ones_like(t), t)
    return jnp.where(near, series, (jnp.log1p(tb) - tb) / (tb * tb))


def _log1pmx(t):
    """log(1 + t) - t, without cancellation for small t."""
    return t * t * _log1pmx_over_t2(t)


def _log_gamma_star(a):
    """log Gamma*(a) = lgamma(a) - (a - 1/2) log a + a - log(2 pi)/2, for a >= 10 (Stirling)."""
    r = 1 / a
    r2 = r * r
    return r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188)))))


def _temme(a, x):
    """(P, Q) by Temme's expansion (a >= 20, |eta| <= 1 assumed; other inputs give finite junk)."""
    _, orders, terms = _TEMME[_is64(a.dtype)]
    coeffs = _temme_coeffs(orders, terms)
    t = (x - a) / a
    ratio = -_log1pmx_over_t2(t)  # (lambda - 1 - log(lambda)) / t^2 > 0
    phi = t * t * ratio
    eta = t * jnp.sqrt(2 * ratio)  # (smooth through t = 0: its derivative gives dP/da)
    # c_k(eta) for every k at once: powers of eta times the coefficient table (a long chain of
    # Horner steps per c_k makes XLA's compile time and memory explode in float64)
    powers = jnp.cumprod(jnp.broadcast_to(eta[..., None], eta.shape + (terms - 1,)), axis=-1)
    powers = jnp.concatenate([jnp.ones_like(eta)[..., None], powers], axis=-1)
    table = jnp.asarray(coeffs, a.dtype)  # (orders, terms)
    ck = jnp.sum(powers[..., None, :] * table, axis=-1)  # (..., orders)
    inv_a = 1 / a
    total = jnp.zeros_like(a)
    for k in range(orders - 1, -1, -1):
        total = total * inv_a + ck[..., k]
    r = jnp.exp(-a * phi) / jnp.sqrt(2 * math.pi * a) * total
    y = eta * jnp.sqrt(a / 2)
    q_hi = 0.5 * lax.erfc(y) + r  # eta >= 0: Q is the smaller one
    p_lo = 0.5 * lax.erfc(-y) - r  # eta < 0: P is
    p = jnp.where(eta < 0, p_lo, 1 - q_hi)
    q = jnp.where(eta < 0, 1 - p_lo, q_hi)
    return p, q


def _in_temme(a, x):
    ok = (a >= _TEMME_MIN_A) & (a < jnp.inf) & (x > 0) & (x < jnp.inf)
    lam = jnp.where(ok, x / jnp.where(ok, a, 1), 1)
    max_eta = _TEMME[_is64(a.dtype)][0]
    # |eta| <= max_eta  <=>  lambda - 1 - log(lambda) <= max_eta^2 / 2
    return ok & (lam - 1 - jnp.log(lam) <= 0.5 * max_eta**2)


def _igamma_pq(a, x):
    use = _in_temme(a, x)
    a_s = jnp.where(use, a, _TEMME_MIN_A)
    x_s = jnp.where(use, x, _TEMME_MIN_A)
    p_t, q_t = _temme(a_s, x_s)
    return use, p_t, q_t


def _density(a, x):
    """x^(a-1) e^-x / Gamma(a): for a >= 10 as exp(a log1pmx(t)) sqrt(a / 2 pi) / (x Gamma*(a))."""
    big = (a >= 10) & (a < jnp.inf)
    a_b = jnp.where(big, a, 10)
    x_b = jnp.where(big & (x > 0), x, a_b)
    t = (x_b - a_b) / a_b
    scaled = jnp.exp(a_b * _log1pmx(t) - _log_gamma_star(a_b)) * jnp.sqrt(a_b / (2 * math.pi)) / x_b
    direct = jnp.exp(_xlogy_core(a - 1, x) - x - lax.lgamma(a))
    return jnp.where(big & (x > 0), scaled, direct)


@jax.custom_jvp
def _igamma_core(a, x):
    use, p, _ = _igamma_pq(a, x)
    return jnp.where(use, p, lax.igamma(a, x))


@jax.custom_jvp
def _igammac_core(a, x):
    use, _, q = _igamma_pq(a, x)
    return jnp.where(use, q, lax.igammac(a, x))


def _igamma_tangent(a, x, ta, tx):
    terms = []
    if _nonzero(tx):
        terms.append(tx * _density(a, x))
    if _nonzero(ta):
        # in Temme's region the derivative of the expansion (JAX's igamma_grad_a loses as many
        # digits as its igamma there: 3.7e-3 at a = 5000), elsewhere JAX's
        use = _in_temme(a, x)
        a_s = jnp.where(use, a, _TEMME_MIN_A)
        x_s = jnp.where(use, x, _TEMME_MIN_A)
        _, dp_da = jax.jvp(lambda v: _temme(v, x_s)[0], (a_s,), (jnp.ones_like(a_s),))
        terms.append(ta * jnp.where(use, dp_da, lax.igamma_grad_a(a, x)))
    return _sum_terms(terms, a)


@functools.partial(_igamma_core.defjvp, symbolic_zeros=True)
def _igamma_jvp(primals, tangents):
    a, x = primals
    return _igamma_core(a, x), _igamma_tangent(a, x, *tangents)


@functools.partial(_igammac_core.defjvp, symbolic_zeros=True)
def _igammac_jvp(primals, tangents):
    a, x = primals
    return _igammac_core(a, x), -_igamma_tangent(a, x, *tangents)


def _float_pair(a, x):
    dtype = jnp.result_type(a, x)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, 1.0)
    return jnp.broadcast_arrays(jnp.asarray(a, dtype), jnp.asarray(x, dtype))


def _igamma(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    return _igamma_core(*_float_pair(a, x))


def _igammac(a, x):
    """The regularized upper incomplete gamma function Q(a, x)."""
    return _igammac_core(*_float_pair(a, x))
