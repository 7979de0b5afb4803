"""``torch.special``'s Bessel and Airy functions, the regularized incomplete gamma
functions (also ``ej.igamma``/``igammac`` and their Tensor methods) and the classical
orthogonal polynomials.

JAX has no J0, J1, Y0, Y1, K0, K1 or Ai, so they are computed here from their mathematics
(the power series, Hankel's asymptotic expansions and an integral representation):

* ``|x| <= 8`` (J, Y; K below 2; Ai on [-6, 1]): the power series, with the logarithmic
  part of Y and K taken out, summed as a Chebyshev expansion whose coefficients are
  interpolated once at import from the series in float64 NumPy. Summing the series
  itself in float32 loses 4 digits to cancellation near x = 8.
* ``|x| > 8`` (J, Y; Ai below -6): Hankel's asymptotic expansions, truncated where
  their terms are smallest at the switch point (~1e-9 there).
* ``K_nu(x)``, ``x > 2`` and ``Ai(x) = sqrt(x/3) / pi K_{1/3}(2/3 x^1.5)``, ``x >= 1``:
  the trapezoid rule on ``e^x K_nu(x) = int_0^inf exp(-2x sinh(t/2)^2) cosh(nu t) dt``,
  24 steps of ``min(1/4, 1/(2 sqrt(x)))``: exponentially accurate for this analytic
  integrand (~1e-15 relative), including for large x where it narrows like 1/sqrt(x).

Each branch is evaluated at its argument clamped into its own range and the results
are picked with ``where``: the unpicked branches stay finite, so they add no NaN to
the gradient. float16 inputs compute in float32 (torch's CPU kernels reject them).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
from numpy.polynomial import chebyshev as _npcheb

from . import _special  # noqa: F401 - registers special_i1 (aliased below)
from ._accurate import _igamma, _igammac
from ._linalg2 import _torch_name
from ._registry import op
from ._special import _SPECIAL, _in_float32, _same

_EULER = 0.5772156649015329


# --------------------------------------------------------------------------- expansions (import time)
def _series(s: np.ndarray, coef, terms: int = 60) -> np.ndarray:
    """sum_k coef(k) (s/4)^k in float64."""
    out, p = np.zeros_like(s), np.ones_like(s)
    for k in range(terms):
        out += coef(k) * p
        p = p * (s / 4)
    return out


def _cheb(f, a: float, b: float, deg: int) -> tuple[float, ...]:
    """Chebyshev coefficients of f on [a, b] (interpolation at Chebyshev points)."""
    return tuple(float(c) for c in _npcheb.chebinterpolate(lambda t: f(a + (b - a) * (t + 1) / 2), deg))


_FACT = [math.factorial(k) for k in range(80)]
_HARM = [sum(1.0 / j for j in range(1, k + 1)) for k in range(80)]  # H_k; psi(k + 1) = H_k - gamma


def _dpsi(k: int) -> float:
    """psi(k + 1) + psi(k + 2)."""
    return 2 * _HARM[k] + 1.0 / (k + 1) - 2 * _EULER


# Functions of s = x^2 (all entire):
#   J0 = j0(s)          Y0 = 2/pi ln(x/2) J0 + y0(s)
#   J1 = x j1(s)        Y1 = 2/pi ln(x/2) J1 - 2/(pi x) + x y1(s)
#   K0 = -ln(x/2) I0 + k0(s)      K1 = 1/x + ln(x/2) I1 + x k1(s)
def _j0s(s):
    return _series(s, lambda k: (-1) ** k / _FACT[k] ** 2)


_J0 = _cheb(_j0s, 0.0, 64.0, 18)
_J1 = _cheb(lambda s: 0.5 * _series(s, lambda k: (-1) ** k / (_FACT[k] * _FACT[k + 1])), 0.0, 64.0, 17)
_Y0 = _cheb(
    lambda s: 2 / math.pi * (_EULER * _j0s(s) + _series(s, lambda k: (-1) ** (k + 1) * _HARM[k] / _FACT[k] ** 2)),
    0.0,
    64.0,
    18,
)
_Y1 = _cheb(
    lambda s: -1 / (2 * math.pi) * _series(s, lambda k: (-1) ** k * _dpsi(k) / (_FACT[k] * _FACT[k + 1])), 0.0, 64.0, 17
)
_K0 = _cheb(lambda s: _series(s, lambda k: (_HARM[k] - _EULER) / _FACT[k] ** 2), 0.0, 4.0, 11)
_K1 = _cheb(lambda s: -0.25 * _series(s, lambda k: _dpsi(k) / (_FACT[k] * _FACT[k + 1])), 0.0, 4.0, 11)


def _airy_series(x: np.ndarray) -> np.ndarray:
    """Maclaurin series of Ai: c1 f(x) - c2 g(x)."""
    c1 = 1 / (3 ** (2 / 3) * math.gamma(2 / 3))
    c2 = 1 / (3 ** (1 / 3) * math.gamma(1 / 3))
    f, g = np.ones_like(x), x.copy()
    sf, sg = f.copy(), g.copy()
    for k in range(120):
        f = f * x**3 / ((3 * k + 2) * (3 * k + 3))
        g = g * x**3 / ((3 * k + 3) * (3 * k + 4))
        sf, sg = sf + f, sg + g
    return c1 * sf - c2 * sg


_AI_LO, _AI_HI = -6.0, 1.0
_AI = _cheb(_airy_series, _AI_LO, _AI_HI, 34)


def _hankel_coeffs(nu: float, terms: int) -> tuple[float, ...]:
    """a_k(nu) = prod_{j <= k} (4 nu^2 - (2j - 1)^2) / (k! 8^k)."""
    mu, a = 4 * nu * nu, [1.0]
    for k in range(1, terms + 1):
        a.append(a[-1] * (mu - (2 * k - 1) ** 2) / (8 * k))
    return tuple(a)


_HANKEL = {0: _hankel_coeffs(0, 16), 1: _hankel_coeffs(1, 16)}
# Ai(-z) ~ (sin(zeta + pi/4) P - cos(zeta + pi/4) Q) / (sqrt(pi) z^(1/4)), zeta = 2/3 z^1.5
_AIRY_U = [1.0]
for _k in range(1, 13):
    _AIRY_U.append(_AIRY_U[-1] * (6 * _k - 5) * (6 * _k - 3) * (6 * _k - 1) / ((2 * _k - 1) * 216 * _k))


# --------------------------------------------------------------------------- evaluation (jax)
def _clenshaw(c: tuple[float, ...], t):
    """sum_k c_k T_k(t)."""
    b1 = b2 = jnp.zeros_like(t)
    for ck in c[:0:-1]:
        b1, b2 = ck + 2 * t * b1 - b2, b1
    return c[0] + t * b1 - b2


def _on(c: tuple[float, ...], s, hi: float):
    """The expansion ``c`` of a function on [0, hi] at s."""
    return _clenshaw(c, s * (2 / hi) - 1)


def _alternating(a, w, start: int):
    """sum_k (-1)^k a[start + 2k] w^k (Horner)."""
    coeffs = a[start::2]
    out = jnp.zeros_like(w)
    for k in range(len(coeffs) - 1, -1, -1):
        out = (-1) ** k * coeffs[k] + w * out
    return out


def _hankel(nu: int, x):
    """(J_nu(x), Y_nu(x)) for x >= 8 from Hankel's expansions.

    cos/sin of the phase x - (nu/2 + 1/4) pi come from cos x and sin x: adding the
    constant to a large float32 x first would round it away."""
    a = _HANKEL[nu]
    w = 1 / (x * x)
    p = _alternating(a, w, 0)
    q = _alternating(a, w, 1) / x
    c, s = jnp.cos(x), jnp.sin(x)
    r = math.sqrt(0.5)
    cos_chi, sin_chi = ((c + s) * r, (s - c) * r) if nu == 0 else ((s - c) * r, -(s + c) * r)
    amp = jnp.sqrt(2 / (math.pi * x))
    return amp * (p * cos_chi - q * sin_chi), amp * (p * sin_chi + q * cos_chi)


def _k_scaled(nu: float, x):
    """e^x K_nu(x) for x >= ~0.6 by the trapezoid rule (see the module docstring)."""
    h = jnp.minimum(0.25, 0.5 / jnp.sqrt(x))
    total = 0.5 * jnp.ones_like(x)
    for j in range(1, 25):
        t = j * h
        term = jnp.exp(-2 * x * jnp.square(jnp.sinh(t / 2)))
        total = total + (term * jnp.cosh(nu * t) if nu else term)
    return h * total


def _upto(x, hi):
    """x where x <= hi, else hi: unlike ``jnp.minimum``, all of the gradient reaches x at x == hi."""
    return jnp.where(x > hi, hi, x)  # (NaN stays NaN)


def _from(x, lo):
    """x where x >= lo, else lo."""
    return jnp.where(x < lo, lo, x)


_J_SWITCH = 8.0


def _bessel_j0(x):
    ax = jnp.abs(x)
    near = _on(_J0, jnp.square(_upto(ax, _J_SWITCH)), 64.0)
    far = _hankel(0, _from(ax, _J_SWITCH))[0]
    return jnp.where(ax <= _J_SWITCH, near, far)


def _bessel_j1(x):
    ax = jnp.abs(x)
    xn = jnp.where(ax <= _J_SWITCH, x, _J_SWITCH)
    near = xn * _on(_J1, xn * xn, 64.0)
    far = _hankel(1, _from(ax, _J_SWITCH))[0]
    return jnp.where(ax <= _J_SWITCH, near, jnp.where(x < 0, -far, far))


def _bessel_y(nu: int):
    def y(x):
        xn = _upto(_from(x, 0), _J_SWITCH)
        s = xn * xn
        log = 2 / math.pi * jnp.log(xn / 2)
        if nu == 0:
            near = log * _on(_J0, s, 64.0) + _on(_Y0, s, 64.0)
        else:
            near = log * xn * _on(_J1, s, 64.0) - 2 / (math.pi * xn) + xn * _on(_Y1, s, 64.0)
        far = _hankel(nu, _from(x, _J_SWITCH))[1]
        out = jnp.where(x <= _J_SWITCH, near, far)
        return jnp.where(x < 0, jnp.nan, jnp.where(x == 0, -jnp.inf, out))

    y.__name__ = f"bessel_y{nu}"
    return y


_K_SWITCH = 2.0


def _bessel_k(nu: int, scaled: bool):
    def k(x):
        xn = _upto(_from(x, 0), _K_SWITCH)
        s = xn * xn
        log = jnp.log(xn / 2)
        if nu == 0:
            near = -log * jss.i0(xn) + _on(_K0, s, 4.0)
        else:
            near = 1 / xn + log * jss.i1(xn) + xn * _on(_K1, s, 4.0)
        xf = jnp.where(jnp.isinf(x), _K_SWITCH, _from(x, _K_SWITCH))
        far = _k_scaled(nu, xf)
        if scaled:
            near = near * jnp.exp(xn)
        else:
            far = far * jnp.exp(-xf)
        out = jnp.where(x <= _K_SWITCH, near, far)
        return jnp.where(x < 0, jnp.nan, jnp.where(x == 0, jnp.inf, jnp.where(x == jnp.inf, 0, out)))

    k.__name__ = f"{'scaled_' if scaled else ''}modified_bessel_k{nu}"
    return k


def _airy_ai(x):
    # [-6, 1]: the Chebyshev expansion of the Maclaurin series
    xm = _upto(_from(x, _AI_LO), _AI_HI)
    mid = _clenshaw(_AI, (xm - _AI_LO) * (2 / (_AI_HI - _AI_LO)) - 1)
    # x >= 1: through K_{1/3}
    xp = _from(x, _AI_HI)
    zeta = 2 / 3 * xp * jnp.sqrt(xp)
    right = jnp.sqrt(xp / 3) / math.pi * jnp.exp(-zeta) * _k_scaled(1 / 3, zeta)
    # x <= -6: the asymptotic expansion (phase zeta + pi/4 from cos/sin of zeta, as in _hankel)
    z = _from(-x, -_AI_LO)
    zeta = 2 / 3 * z * jnp.sqrt(z)
    w = 1 / (zeta * zeta)
    p = _alternating(_AIRY_U, w, 0)
    q = _alternating(_AIRY_U, w, 1) / zeta
    c, s = jnp.cos(zeta), jnp.sin(zeta)
    r = math.sqrt(0.5)
    left = ((s + c) * r * p - (c - s) * r * q) / (math.sqrt(math.pi) * jnp.sqrt(jnp.sqrt(z)))
    out = jnp.where(x < _AI_LO, left, jnp.where(x < _AI_HI, mid, right))
    return jnp.where(jnp.isinf(x), jnp.nan, out)  # torch's value at +-inf


def _spherical_bessel_j0(x):
    """sin(x)/x; a Taylor polynomial below 1/2, where the quotient's derivative cancels."""
    small = jnp.abs(x) < 0.5
    xs = jnp.where(small, x, 0.0)
    s = xs * xs
    taylor = 1 + s * (-1 / 6 + s * (1 / 120 + s * (-1 / 5040 + s * (1 / 362880 + s * (-1 / 39916800)))))
    xb = jnp.where(small | jnp.isinf(x), 1.0, x)
    quotient = jnp.sin(xb) / xb
    return jnp.where(jnp.isinf(x), 0, jnp.where(small, taylor, quotient))


for _name, _fn in [
    ("bessel_j0", _bessel_j0),
    ("bessel_j1", _bessel_j1),
    ("bessel_y0", _bessel_y(0)),
    ("bessel_y1", _bessel_y(1)),
    ("modified_bessel_k0", _bessel_k(0, False)),
    ("modified_bessel_k1", _bessel_k(1, False)),
    ("scaled_modified_bessel_k0", _bessel_k(0, True)),
    ("scaled_modified_bessel_k1", _bessel_k(1, True)),
    ("airy_ai", _airy_ai),
    ("spherical_bessel_j0", _spherical_bessel_j0),
]:
    _fn.__name__ = _name
    op(f"special_{_name}", _in_float32(_fn), **_SPECIAL)

_same("modified_bessel_i0", "i0")
_same("modified_bessel_i1", "special_i1")


# --------------------------------------------------------------------------- incomplete gamma
def _igamma_of(name: str, upper: bool):
    """P(a, x) (Q(a, x) when ``upper``), torch's values at a = inf (JAX gives NaN there);
    accurate for large a through ``_accurate`` (Temme's expansion)."""

    def f(input, other):
        for k, (arg, v) in enumerate((("input", input), ("other", other))):
            if not hasattr(v, "dtype"):
                raise TypeError(f"{name}(): argument '{arg}' (position {k + 1}) must be Tensor, not {type(v).__name__}")
        if not jnp.issubdtype(jnp.result_type(input, other), jnp.inexact):
            kernel = "igammac" if upper else "igamma"
            raise NotImplementedError(f"\"{kernel}_cpu\" not implemented for '{_torch_name(jnp.result_type(input))}'")

        def g(a, x):
            at_inf = (a == jnp.inf) & (x < jnp.inf)
            a_safe = jnp.where(at_inf, 1.0, a)
            v = (_igammac if upper else _igamma)(a_safe, x)
            return jnp.where(at_inf, 1.0 if upper else 0.0, v)

        dtype = jnp.result_type(input, other)
        a, x = jnp.broadcast_arrays(jnp.asarray(input, dtype), jnp.asarray(other, dtype))
        if a.dtype in (jnp.float16, jnp.bfloat16):
            return g(a.astype(jnp.float32), x.astype(jnp.float32)).astype(a.dtype)
        return g(a, x)

    f.__name__ = name
    return f


op("igamma", _igamma_of("igamma", False), inplace=True, promote=True)
op("igammac", _igamma_of("igammac", True), inplace=True, promote=True)
op("special_gammainc", _igamma_of("special_gammainc", False), promote=True, **_SPECIAL)
op("special_gammaincc", _igamma_of("special_gammaincc", True), promote=True, **_SPECIAL)


# --------------------------------------------------------------------------- orthogonal polynomials
def _three_term(k, x, a, b):
    """Chebyshev's p_{k+1} = 2x p_k - p_{k-1} (T, U, V and W differ in p_1 only)."""
    return 2 * x * b - a


# name: (p_1(x), p_{k+1} from (k, x, p_{k-1}, p_k)); p_0 = 1 and p_n = 0 for n < 0 throughout.
_POLYNOMIALS = {
    "chebyshev_polynomial_t": (lambda x: x, _three_term),
    "chebyshev_polynomial_u": (lambda x: 2 * x, _three_term),
    "chebyshev_polynomial_v": (lambda x: 2 * x - 1, _three_term),
    "chebyshev_polynomial_w": (lambda x: 2 * x + 1, _three_term),
    "hermite_polynomial_h": (lambda x: 2 * x, lambda k, x, a, b: 2 * x * b - 2 * k * a),
    "hermite_polynomial_he": (lambda x: x, lambda k, x, a, b: x * b - k * a),
    "laguerre_polynomial_l": (lambda x: 1 - x, lambda k, x, a, b: ((2 * k + 1 - x) * b - k * a) / (k + 1)),
    "legendre_polynomial_p": (lambda x: x, lambda k, x, a, b: ((2 * k + 1) * x * b - k * a) / (k + 1)),
}


def _static_degree(x, n: int, first, step):
    """p_n(x) for a Python int n: exactly n - 1 steps (a scan: reverse-differentiable)."""
    if n <= 0:
        return jnp.full_like(x, 1 if n == 0 else 0)
    p1 = first(x)
    if n == 1:
        return p1
    return jax.lax.fori_loop(1, n, lambda k, c: (c[1], step(k, x, c[0], c[1])), (jnp.ones_like(x), p1))[1]


def _dynamic_degree(first, step):
    """p_n(x) for a tensor n: the recurrence runs to max(n), each element stopping at its own n.

    That loop's trip count is a value, which reverse mode cannot go through; the result is
    elementwise in x, so its derivative is JAX's forward-mode one (the JVP with unit
    tangents) times the incoming tangent, which reverse mode transposes."""

    def loop(x, n):
        def body(c):
            k, a, b = c
            go = k < n
            return k + 1, jnp.where(go, b, a), jnp.where(go, step(k, x, a, b), b)

        top = jnp.max(n, initial=1)
        init = (jnp.asarray(1, n.dtype), jnp.ones_like(x), first(x))
        p = jax.lax.while_loop(lambda c: c[0] < top, body, init)[2]
        return jnp.where(n < 0, 0, jnp.where(n == 0, 1, p)).astype(x.dtype)

    f = jax.custom_jvp(loop)

    @f.defjvp
    def _jvp(primals, tangents):
        x, n = primals
        y, dy = jax.jvp(lambda v: loop(v, n), (x,), (jnp.ones_like(x),))
        return y, dy * tangents[0]

    return f


def _polynomial_row(name: str, first, step, shifted: bool):
    dynamic = _dynamic_degree(first, step)

    def f(x, n):
        if getattr(x, "weak_type", False) and not hasattr(n, "dtype"):  # two Python numbers
            kind = {"f": "float", "b": "bool"}.get(np.dtype(x.dtype).kind, "int")
            got = f"({kind}, {type(n).__name__})"
            raise TypeError(
                f"special_{name}() received an invalid combination of arguments - got {got}, but expected one of:"
            )
        dtype = jnp.result_type(x, n) if hasattr(n, "dtype") else jnp.result_type(x)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.float32
        work = jnp.float32 if dtype in (jnp.float16, jnp.bfloat16) else dtype  # as _in_float32
        x = jnp.asarray(x, work)
        if shifted:
            x = 2 * x - 1
        if hasattr(n, "dtype"):
            x, n = jnp.broadcast_arrays(x, n.astype(jnp.int32))  # torch truncates a float degree
            out = dynamic(x, n)
        else:
            out = _static_degree(x, int(n), first, step)
        return out.astype(dtype)

    f.__name__ = name
    return f


for _name, (_first, _step) in _POLYNOMIALS.items():
    op(f"special_{_name}", _polynomial_row(_name, _first, _step, False), scalars=(0, "x"), promote=True, **_SPECIAL)
    if _name.startswith("chebyshev"):
        _shifted = "shifted_" + _name
        _row = _polynomial_row(_shifted, _first, _step, True)
        op(f"special_{_shifted}", _row, scalars=(0, "x"), promote=True, **_SPECIAL)
