"""Poisson, Binomial and Geometric (counts), with their KL divergences.

Samples come from the ``ej.poisson`` / ``ej.binomial`` random rows (or uniform noise for the
geometric), so they follow the generator in every mode and are never differentiable.
"""

from __future__ import annotations

import math
import numbers

import jax.numpy as jnp
import numpy as np

from .. import _random
from .._autograd import no_grad
from .._tensor import Size, Tensor
from . import constraints
from ._distribution import Distribution, ExponentialFamily
from ._utils import (
    BinaryParams,
    broadcast_all,
    eager,
    host_all,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
    standard_uniform,
)
from .kl import register_kl

__all__ = ["Poisson", "Binomial", "Geometric"]


def _ej():
    import eagerjax

    return eagerjax


class Poisson(ExponentialFamily):
    """``torch.distributions.Poisson(rate)``: counts ``0, 1, 2, ...`` (floats, as in torch).

    Like torch it has no closed-form ``entropy`` (it raises ``NotImplementedError``).
    """

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        batch_shape = Size(()) if isinstance(rate, numbers.Number) else self.rate.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Poisson, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.rate = self.rate.expand(batch_shape)
        return self._finish_expand(new, Poisson, batch_shape)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape=()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return _random.poisson(self.rate.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return _ej().xlogy(value, rate) - rate - (value + 1).lgamma()

    @property
    def _natural_params(self):
        return (self.rate.log(),)

    def _log_normalizer(self, x):
        return x.exp()


def _clamp_by_zero(x: Tensor) -> Tensor:
    # max(x, 0) whose gradient at 0 is 1/2 (torch's choice, so gradients match at logits == 0)
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


class Binomial(BinaryParams, Distribution):
    """``torch.distributions.Binomial(total_count=1, probs=None, logits=None)``.

    ``enumerate_support`` and ``entropy`` need one ``total_count`` for the whole batch. Given as
    a Python number it is known everywhere; given as a tensor its value is read on the host, so
    there they work in eager mode only (inside ``ej.compile``/``ej.lazy()`` they raise).
    """

    arg_constraints = {
        "total_count": constraints.nonnegative_integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.to(self.probs.dtype)
            is_scalar = isinstance(probs, numbers.Number)
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.to(self.logits.dtype)
            is_scalar = isinstance(logits, numbers.Number)
        if not (isinstance(total_count, Tensor) and total_count.requires_grad):
            # (broadcasting with a parameter that requires grad put the count on the tape)
            self.total_count = self.total_count.detach()
        self._param = self.probs if probs is not None else self.logits
        self._static_count = total_count if isinstance(total_count, numbers.Number) else None
        batch_shape = Size(()) if is_scalar else self._param.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Binomial, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.total_count = self.total_count.expand(batch_shape)
        if "probs" in self.__dict__:
            new.probs = new._param = self.probs.expand(batch_shape)
        if "logits" in self.__dict__:
            new.logits = new._param = self.logits.expand(batch_shape)
        new._static_count = self._static_count
        return self._finish_expand(new, Binomial, batch_shape)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return _random.binomial(self.total_count.expand(shape), self.probs.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n, k, logits = self.total_count, value, self.logits
        log_binom = (n + 1).lgamma() - (k + 1).lgamma() - (n - k + 1).lgamma()
        # log(1 + exp(logits)) * n, written so that large |logits| neither overflow nor cancel
        log_norm = n * _clamp_by_zero(logits) + n * (-logits.abs()).exp().log1p()
        return log_binom + k * logits - log_norm

    def _homogeneous_count(self, what: str) -> int:
        if self._static_count is not None:
            return int(self._static_count)
        if not eager():
            raise RuntimeError(
                f"Binomial.{what} reads total_count on the host, which cannot happen inside ej.compile "
                "or ej.lazy(): give total_count as a Python number"
            )
        tc = np.asarray(self.total_count._value)
        hi = int(tc.max())
        if tc.min() != hi:
            raise NotImplementedError(f"Inhomogeneous total count not supported by `{what}`.")
        return hi

    def enumerate_support(self, expand: bool = True):
        n = self._homogeneous_count("enumerate_support")
        values = _ej().arange(1 + n, dtype=self._param.dtype)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + tuple(self._batch_shape))
        return values

    def entropy(self):
        n = self._homogeneous_count("entropy")
        support = _ej().arange(1 + n, dtype=self._param.dtype).view((-1,) + (1,) * len(self._batch_shape))
        log_prob = self.log_prob(support)
        return -(log_prob.exp() * log_prob).sum(0)


class Geometric(Distribution):
    """``torch.distributions.Geometric(probs=None, logits=None)``: failures before the first success."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        given = probs if probs is not None else logits
        batch_shape = Size(()) if isinstance(given, numbers.Number) else given.size()
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args and probs is not None and eager():
            # beyond unit_interval: a success probability of 0 never stops
            value = self.probs
            with no_grad():
                valid = value > 0
                if not host_all(valid):
                    raise ValueError(
                        "Expected parameter probs "
                        f"({type(value).__name__} of shape {tuple(value.shape)}) "
                        f"of distribution {self!r} "
                        f"to be positive but found invalid values:\n{value.detach()[~valid]}"
                    )

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Geometric, _instance)
        batch_shape = Size(tuple(batch_shape))
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape)
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(batch_shape)
        return self._finish_expand(new, Geometric, batch_shape)

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return _ej().zeros_like(self.probs)

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            p = self.probs
            tiny = float(jnp.finfo(p.dtype).tiny)
            u = standard_uniform(shape, p.dtype).clamp(min=tiny)  # log(0) would be -inf
            return (u.log() / (-p).log1p()).floor()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        # a sure success (p = 1) at value 0: 0 * log(0) counts as 0
        probs = _ej().where((probs == 1) & (value == 0), 0.0, probs)
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self):
        bce = _ej().nn.functional.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
        return bce / self.probs


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p, q):
    """Finite for equal counts; +inf where ``p``'s count exceeds ``q``'s (values checked eagerly)."""
    if eager() and bool(np.asarray((p.total_count < q.total_count)._value).any()):
        raise NotImplementedError("KL between Binomials where q.total_count > p.total_count is not implemented")
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p() - (-q.probs).log1p())
    return _ej().where(p.total_count > q.total_count, math.inf, kl)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p, q):
    return -p.entropy() - (-q.probs).log1p() / p.probs - q.logits
