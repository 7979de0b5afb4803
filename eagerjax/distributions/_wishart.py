"""Wishart: distributions over positive-definite matrices, sampled by the Bartlett decomposition."""

from __future__ import annotations

import math
import numbers
import warnings

import jax
import jax.numpy as jnp

from .._dispatch import dispatch
from .._ops._registry import op
from .._tensor import Size, Tensor
from . import constraints
from ._distribution import ExponentialFamily
from ._mvn import TrilMatrices, _bshape, _precision_to_scale_tril_row, _tril_solve
from ._utils import eager, host_all, sample_gamma, standard_normal

__all__ = ["Wishart"]

_LOG_2 = math.log(2.0)


def _ej():
    import eagerjax

    return eagerjax


def _trace_solve(L, X):
    """``tr((L L^T)^{-1} X)`` by two triangular solves: ``tr(L^{-1} X^T L^{-T})``."""
    a = _tril_solve(L, X)
    return jnp.trace(_tril_solve(L, jnp.swapaxes(a, -1, -2)), axis1=-2, axis2=-1)


def _pick_nonsingular(L, A):
    """``(L A)(L A)^T`` for each candidate Bartlett factor ``A`` (leading dim: the tries), keeping
    per matrix the first candidate whose eigenvalues are all positive (the test
    ``constraints.positive_definite`` makes, so a kept sample passes ``log_prob``'s validation;
    the last try when none does). A fixed number of candidates keeps the program's shape, so
    eager, compiled and lazy runs keep the same matrices, where torch redraws on the host."""
    c = L @ A
    s = c @ jnp.swapaxes(c, -1, -2)
    ok = (jnp.linalg.eigvalsh(jax.lax.stop_gradient(s)) > 0).all(-1)
    first = jnp.where(ok.any(0), jnp.argmax(ok, 0), s.shape[0] - 1)
    return jnp.take_along_axis(s, first[None, ..., None, None], 0)[0]


_R = dict(function=False, method=False)
_trace_row = op("_dist_wishart_trace", _trace_solve, **_R)
_pick_row = op("_dist_wishart_pick", _pick_nonsingular, **_R)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """The multivariate digamma: ``sum_i digamma(x - i / 2)`` for ``i < p``."""
    half = _ej().arange(p, dtype=x.dtype) / 2
    return (x.unsqueeze(-1) - half).digamma().sum(-1)


class Wishart(TrilMatrices, ExponentialFamily):
    """``torch.distributions.Wishart(df, covariance_matrix=None, precision_matrix=None,
    scale_tril=None)``: exactly one of the three matrix parameters; ``df`` must exceed
    ``p - 1`` for ``p x p`` matrices (checked at construction, a host read in eager mode only
    when ``df`` is a tensor).

    ``rsample(sample_shape, max_try_correction=None)`` draws ``1 + max_try_correction``
    Bartlett candidates (3 corrections by default) and keeps the first non-singular one per
    matrix; it is reparameterized in every parameter, ``df`` included (through the gamma draws).
    """

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(
        self,
        df,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise AssertionError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        param = given[0]
        if param.dim() < 2:  # (torch names scale_tril whichever was given)
            raise ValueError("scale_tril must be at least two-dimensional, with optional leading batch dimensions")
        if isinstance(df, numbers.Number):
            batch_shape = tuple(param.shape[:-2])
            self.df = _ej().tensor(float(df), dtype=param.dtype)
        else:
            batch_shape = _bshape(param.shape[:-2], df.shape)
            self.df = df.expand(batch_shape)
        p = param.shape[-1]
        number = isinstance(df, numbers.Number)
        if number or eager():  # (a tensor df is read on the host: eager mode only)
            # (torch's "any <=": a NaN df passes)
            if df <= p - 1 if number else not host_all((self.df.detach() <= p - 1).logical_not()):
                raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
            if df < p if number else not host_all((self.df.detach() < p).logical_not()):
                warnings.warn(
                    "Low df values detected. Singular samples are highly likely to occur for ndim - 1 < df < ndim.",
                    stacklevel=2,
                )
        for name, m in (
            ("covariance_matrix", covariance_matrix),
            ("precision_matrix", precision_matrix),
            ("scale_tril", scale_tril),
        ):
            if m is not None:
                setattr(self, name, m.expand(batch_shape + (-1, -1)))
        super().__init__(batch_shape, param.shape[-2:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = _ej().linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = dispatch(_precision_to_scale_tril_row, (precision_matrix,), {})

    @property
    def arg_constraints(self) -> dict:  # type: ignore[override]
        # df's bound depends on the matrices' size
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self._event_shape[-1] - 1),
        }

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = Size(tuple(batch_shape))
        full = tuple(batch_shape) + tuple(self._event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(full)
        new.df = self.df.expand(batch_shape)
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(full))
        return self._finish_expand(new, Wishart, batch_shape)

    def _full(self) -> tuple:
        return tuple(self._batch_shape) + tuple(self._event_shape)

    def _df_matrix(self) -> Tensor:
        """``df`` viewed against the event dims (``batch_shape + (1, 1)``)."""
        return self.df.reshape(tuple(self._batch_shape) + (1, 1))

    @property
    def mean(self) -> Tensor:
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        factor = self.df - self._event_shape[-1] - 1
        factor = _ej().where(factor > 0, factor, math.nan)  # no mode for df <= p + 1 (NaN, as torch)
        return factor.reshape(tuple(self._batch_shape) + (1, 1)) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        V = self.covariance_matrix
        d = V.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (V.pow(2) + d.unsqueeze(-1) * d.unsqueeze(-2))

    def _bartlett(self, shape: tuple) -> Tensor:
        """Bartlett factors ``A`` of ``shape + (p, p)``: ``sqrt(chi2(df - i))`` on the diagonal
        (clamped at machine epsilon, as torch), standard normals below it."""
        p = self._event_shape[-1]
        dtype = self._unbroadcasted_scale_tril.dtype
        half_df = (self.df.unsqueeze(-1) - _ej().arange(p, dtype=dtype)) / 2
        chi2 = 2 * sample_gamma(half_df.expand(shape + (p,)))
        diag = chi2.sqrt().clamp(min=float(_ej().finfo(dtype).eps))
        return standard_normal(shape + (p, p), dtype).tril(-1) + _ej().diag_embed(diag)

    def rsample(self, sample_shape=(), max_try_correction: int | None = None) -> Tensor:
        tries = 1 + max(0, 3 if max_try_correction is None else int(max_try_correction))
        shape = (tries,) + tuple(sample_shape) + tuple(self._batch_shape)
        return dispatch(_pick_row, (self._unbroadcasted_scale_tril, self._bartlett(shape)), {})

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        ej = _ej()
        nu, p = self.df, self._event_shape[-1]
        log_norm = nu * (p * _LOG_2 / 2 + self._half_log_det()) + ej.mvlgamma(nu / 2, p=p)
        trace = dispatch(_trace_row, (self._unbroadcasted_scale_tril, value), {})
        return (nu - p - 1) / 2 * ej.linalg.slogdet(value).logabsdet - trace / 2 - log_norm

    def entropy(self):
        ej = _ej()
        nu, p = self.df, self._event_shape[-1]
        return (
            (p + 1) * (p * _LOG_2 / 2 + self._half_log_det())
            + ej.mvlgamma(nu / 2, p=p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p)
            + nu * p / 2
        )

    @property
    def _natural_params(self):
        return -self.precision_matrix / 2, (self.df - self._event_shape[-1] - 1) / 2

    def _log_normalizer(self, x, y):
        ej = _ej()
        p = self._event_shape[-1]
        a = y + (p + 1) / 2
        return a * (p * _LOG_2 - ej.linalg.slogdet(-2 * x).logabsdet) + ej.mvlgamma(a, p=p)
