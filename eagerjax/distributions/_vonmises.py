"""VonMises: the circular normal on ``[-pi, pi)``.

Sampling is Best & Fisher's (1979) rejection sampler run for a fixed number of proposal rounds in
one random row (``jax.lax.fori_loop``), so the program has a fixed shape and is the same eager,
under ``ej.compile`` and in ``ej.lazy()`` graphs. Each round accepts at least ~65% of proposals
for any concentration, so after ``_ROUNDS`` rounds an element is still unaccepted with
probability below ``0.35 ** 64 < 1e-29``: far below float resolution, i.e. exact in practice.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import i0e, i1e

from .._autograd import no_grad
from .._dispatch import dispatch
from .._ops._registry import op
from .._random import _split, draw
from .._tensor import Size, Tensor
from . import constraints
from ._distribution import Distribution
from ._utils import broadcast_all

__all__ = ["VonMises"]

_ROUNDS = 64


def _log_i0(x):
    # log I0(x) = log(i0e(x)) + |x|: no overflow for large concentrations
    return jnp.log(i0e(x)) + jnp.abs(x)


def _i1_over_i0(x):
    return i1e(x) / i0e(x)


def _proposal(kappa):
    """Best & Fisher's ``r = (1 + rho^2) / (2 rho)`` and ``q = (1 - rho) / (1 + rho)``, with
    ``rho`` and ``1 - rho`` written without cancellation."""
    s = jnp.sqrt(1 + 4 * kappa**2)
    tau = 1 + s
    rho = 2 * kappa * tau / ((s + 1) * (tau + jnp.sqrt(2 * tau)))
    # 1 - rho = (sqrt(2 tau) - 1 - 1 / (s + 2 kappa)) / (2 kappa), since s - 2 kappa = 1 / (s + 2 kappa)
    big = kappa > 1
    kb = jnp.where(big, kappa, 2.0)
    sb = jnp.sqrt(1 + 4 * kb**2)
    one_minus_rho = jnp.where(big, (jnp.sqrt(2 * (1 + sb)) - 1 - 1 / (sb + 2 * kb)) / (2 * kb), 1 - rho)
    r = (1 + rho**2) / (2 * rho)
    tiny = kappa < 1e-5  # torch's Taylor branch for tiny kappa
    r = jnp.where(tiny, 1 / kappa + kappa, r)
    q = jnp.where(tiny, 1.0, one_minus_rho / (1 + rho))
    return r, q


def _von_mises(key, loc, concentration):
    nk, k = _split(key)
    r, q = _proposal(concentration)

    def round_(i, carry):
        x, done = carry
        u1, u2, u3 = jax.random.uniform(jax.random.fold_in(k, i), (3,) + loc.shape, loc.dtype)
        z = jnp.cos(math.pi * u1)
        f = (1 + r * z) / (r + z)
        c = concentration * (r - f)
        accept = ((c * (2 - c) - u2) > 0) | (jnp.log(c / u2) + 1 - c >= 0)
        take = accept & ~done
        # arccos(f) = 2 atan(q tan(pi u1 / 2)): arccos of f near +-1 amplifies its rounding
        # (eager and compiled programs round f differently), this form does not
        theta = 2 * jnp.arctan(q * jnp.tan(0.5 * math.pi * u1))
        x = jnp.where(take | (i == _ROUNDS - 1) & ~done, jnp.sign(u3 - 0.5) * theta, x)
        return x, done | accept

    x0 = jnp.zeros(loc.shape, loc.dtype)
    x, _ = jax.lax.fori_loop(0, _ROUNDS, round_, (x0, jnp.zeros(loc.shape, bool)))
    return nk, jnp.mod(x + math.pi + loc, 2 * math.pi) - math.pi


_R = dict(function=False, method=False)
_log_i0_row = op("_dist_log_i0", _log_i0, **_R)
_i1_over_i0_row = op("_dist_i1_over_i0", _i1_over_i0, **_R)
_von_mises_row = op("_dist_von_mises", _von_mises, differentiable=False, **_R)


class VonMises(Distribution):
    """``torch.distributions.VonMises(loc, concentration)``.

    ``log_prob`` and ``variance`` use the exact Bessel functions (torch: a polynomial
    approximation, within ~1e-7). Like torch it has no ``rsample``, ``entropy``, ``cdf`` or ``icdf``.
    """

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, Size(()), validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(VonMises, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.loc = self.loc.expand(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        return self._finish_expand(new, VonMises, batch_shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_i0 = dispatch(_log_i0_row, (self.concentration,), {})
        return self.concentration * (value - self.loc).cos() - math.log(2 * math.pi) - log_i0

    def sample(self, sample_shape=()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return draw(_von_mises_row, None, self.loc.expand(shape), self.concentration.expand(shape))

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """The circular variance ``1 - I1(k) / I0(k)``."""
        return 1 - dispatch(_i1_over_i0_row, (self.concentration,), {})
