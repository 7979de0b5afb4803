"""Cauchy, Chi2 and StudentT."""

from __future__ import annotations

import math

from .._tensor import Size, Tensor
from . import constraints
from ._distribution import Distribution
from ._gamma import Gamma
from ._normal import _LocScale
from ._utils import broadcast_all, standard_normal, standard_uniform
from .kl import register_kl

__all__ = ["Cauchy", "Chi2", "StudentT"]


def _ej():
    import eagerjax

    return eagerjax


class Cauchy(_LocScale, Distribution):
    """``torch.distributions.Cauchy(loc, scale)``: mean NaN and variance inf, as in torch."""

    @property
    def mean(self) -> Tensor:
        return _ej().full(self._extended_shape(), math.nan, dtype=self.loc.dtype)

    @property
    def variance(self) -> Tensor:
        return _ej().full(self._extended_shape(), math.inf, dtype=self.loc.dtype)

    def rsample(self, sample_shape=()) -> Tensor:
        u = standard_uniform(self._extended_shape(sample_shape), self.loc.dtype)
        eps = (math.pi * (u - 0.5)).tan()  # a standard Cauchy draw by inversion
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -math.log(math.pi) - self.scale.log() - (((value - self.loc) / self.scale) ** 2).log1p()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value):
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class Chi2(Gamma):
    """``torch.distributions.Chi2(df)``: ``Gamma(df / 2, 1 / 2)``."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args: bool | None = None) -> None:
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Chi2, _instance)
        return super().expand(batch_shape, new)

    @property
    def df(self) -> Tensor:
        return self.concentration * 2


class StudentT(Distribution):
    """``torch.distributions.StudentT(df, loc=0.0, scale=1.0)``.

    ``rsample`` is ``loc + scale * X / sqrt(Z / df)`` with ``X`` normal and ``Z ~ Chi2(df)``, so
    it is reparameterized in ``loc``, ``scale`` and (through the gamma draw) ``df``.
    """

    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args: bool | None = None) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        super().__init__(self.df.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(StudentT, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.df = self.df.expand(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new._chi2 = self._chi2.expand(batch_shape)
        return self._finish_expand(new, StudentT, batch_shape)

    @property
    def mean(self) -> Tensor:
        return _ej().where(self.df <= 1, math.nan, self.loc)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        ej = _ej()
        df = self.df
        finite = self.scale.pow(2) * df / (df - 2)
        # where() picks a branch per element; df - 2 <= 0 elsewhere never reaches the result
        return ej.where(df > 2, finite, ej.where(df > 1, math.inf, math.nan))

    def rsample(self, sample_shape=()) -> Tensor:
        x = standard_normal(self._extended_shape(sample_shape), self.df.dtype)
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        log_norm = (
            self.scale.log()
            + 0.5 * df.log()
            + 0.5 * math.log(math.pi)
            + (0.5 * df).lgamma()
            - (0.5 * (df + 1.0)).lgamma()
        )
        return -0.5 * (df + 1.0) * (y**2.0 / df).log1p() - log_norm

    def entropy(self):
        df = self.df
        lbeta = (0.5 * df).lgamma() + math.lgamma(0.5) - (0.5 * (df + 1)).lgamma()
        return (
            self.scale.log()
            + 0.5 * (df + 1) * ((0.5 * (df + 1)).digamma() - (0.5 * df).digamma())
            + 0.5 * df.log()
            + lbeta
        )


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p, q):
    num = ((p.scale + q.scale).pow(2) + (p.loc - q.loc).pow(2)).log()
    return num - (4 * p.scale * q.scale).log()
