"""MultivariateNormal and Independent (and the triangular-solve rows MVN's math needs)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from .._dispatch import dispatch
from .._ops._registry import op
from .._tensor import Size, Tensor
from . import constraints
from ._distribution import Distribution
from ._utils import _sum_rightmost, lazy_property, standard_normal

__all__ = ["MultivariateNormal", "Independent"]


def _tril_solve(a, b):
    """``a^{-1} b`` for lower-triangular ``a``; the batch dims broadcast."""
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = jnp.broadcast_to(a, batch + a.shape[-2:])
    b = jnp.broadcast_to(b, batch + b.shape[-2:])
    return solve_triangular(a, b, lower=True)


def _mahalanobis(L, x):
    """``x^T (L L^T)^{-1} x`` over the broadcast batch of ``L`` (..., n, n) and ``x`` (..., n)."""
    return jnp.square(_tril_solve(L, x[..., None])[..., 0]).sum(-1)


def _cholesky_inverse(L):
    eye = jnp.eye(L.shape[-1], dtype=L.dtype)
    li = _tril_solve(L, jnp.broadcast_to(eye, L.shape))
    return jnp.swapaxes(li, -1, -2) @ li


def _precision_to_scale_tril(P):
    # the lower Cholesky factor of P^{-1}, from the Cholesky factor of P flipped (as torch)
    lf = jnp.linalg.cholesky(jnp.flip(P, (-2, -1)))
    l_inv = jnp.swapaxes(jnp.flip(lf, (-2, -1)), -2, -1)
    eye = jnp.eye(P.shape[-1], dtype=P.dtype)
    return _tril_solve(l_inv, jnp.broadcast_to(eye, l_inv.shape))


_R = dict(function=False, method=False)
_tril_solve_row = op("_dist_tril_solve", _tril_solve, **_R)
_mahalanobis_row = op("_dist_mahalanobis", _mahalanobis, **_R)
_cholesky_inverse_row = op("_dist_cholesky_inverse", _cholesky_inverse, **_R)
_precision_to_scale_tril_row = op("_dist_precision_to_scale_tril", _precision_to_scale_tril, **_R)


def _batch_mahalanobis(bL: Tensor, bx: Tensor) -> Tensor:
    """The squared Mahalanobis distance ``x^T M^{-1} x`` for ``M = L L^T`` (batched)."""
    return dispatch(_mahalanobis_row, (bL, bx), {})


def tril_solve(a: Tensor, b: Tensor) -> Tensor:
    return dispatch(_tril_solve_row, (a, b), {})


def _bshape(*shapes) -> tuple:
    return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))


class TrilMatrices:
    """``scale_tril``, ``covariance_matrix`` (L Lᵀ) and ``precision_matrix`` of a distribution
    holding ``_unbroadcasted_scale_tril``, expanded to ``_full()``."""

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._unbroadcasted_scale_tril.expand(self._full())

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return (L @ L.mT).expand(self._full())

    @lazy_property
    def precision_matrix(self) -> Tensor:
        return dispatch(_cholesky_inverse_row, (self._unbroadcasted_scale_tril,), {}).expand(self._full())


class MultivariateNormal(TrilMatrices, Distribution):
    """``torch.distributions.MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None,
    scale_tril=None)``: exactly one of the three matrix parameters; everything is computed from
    the lower Cholesky factor of the covariance."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args: bool | None = None
    ) -> None:
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        for name, m in (
            ("scale_tril matrix", scale_tril),
            ("covariance_matrix", covariance_matrix),
            ("precision_matrix", precision_matrix),
        ):
            if m is None:
                continue
            if m.dim() < 2:
                raise ValueError(f"{name} must be at least two-dimensional, with optional leading batch dimensions")
            batch_shape = _bshape(m.shape[:-2], loc.shape[:-1])
            setattr(self, name.split(" ")[0], m.expand(batch_shape + (-1, -1)))
        self.loc = loc.expand(batch_shape + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            import eagerjax

            self._unbroadcasted_scale_tril = eagerjax.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = dispatch(_precision_to_scale_tril_row, (precision_matrix,), {})

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = Size(tuple(batch_shape))
        ev = tuple(self.event_shape)
        new.loc = self.loc.expand(tuple(batch_shape) + ev)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(tuple(batch_shape) + ev + ev))
        return self._finish_expand(new, MultivariateNormal, batch_shape)

    def _full(self) -> tuple:
        return tuple(self._batch_shape) + tuple(self._event_shape) * 2

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        v = self._unbroadcasted_scale_tril.pow(2).sum(-1)
        return v.expand(tuple(self._batch_shape) + tuple(self._event_shape))

    def rsample(self, sample_shape=()) -> Tensor:
        eps = standard_normal(self._extended_shape(sample_shape), self.loc.dtype)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + M) - self._half_log_det()

    def entropy(self):
        H = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return H if len(self._batch_shape) == 0 else H.expand(tuple(self._batch_shape))


class Independent(Distribution):
    """``torch.distributions.Independent(base_distribution, reinterpreted_batch_ndims)``: turns
    the rightmost batch dims into event dims (``log_prob`` sums over them)."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims: int, validate_args: bool | None = None) -> None:
        if reinterpreted_batch_ndims > len(base_distribution.batch_shape):
            raise ValueError(
                "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {reinterpreted_batch_ndims} vs {len(base_distribution.batch_shape)}"
            )
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = reinterpreted_batch_ndims + len(base_distribution.event_shape)
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        super().__init__(shape[: len(shape) - event_dim], shape[len(shape) - event_dim :], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Independent, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.base_dist = self.base_dist.expand(
            tuple(batch_shape) + tuple(self.event_shape[: self.reinterpreted_batch_ndims])
        )
        new.reinterpreted_batch_ndims = self.reinterpreted_batch_ndims
        return self._finish_expand(new, Independent, batch_shape)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        if self.reinterpreted_batch_ndims > 0:
            return False
        return self.base_dist.has_enumerate_support

    @constraints.dependent_property
    def support(self):
        result = self.base_dist.support
        if self.reinterpreted_batch_ndims:
            result = constraints.independent(result, self.reinterpreted_batch_ndims)
        return result

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape=()) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def enumerate_support(self, expand: bool = True):
        if self.reinterpreted_batch_ndims > 0:
            raise NotImplementedError("Enumeration over cartesian product is not implemented")
        return self.base_dist.enumerate_support(expand=expand)

    def __repr__(self) -> str:
        return self.__class__.__name__ + f"({self.base_dist}, {self.reinterpreted_batch_ndims})"
