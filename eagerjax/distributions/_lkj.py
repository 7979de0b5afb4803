"""LKJCholesky: the LKJ distribution over Cholesky factors of correlation matrices."""

from __future__ import annotations

import math

import jax.numpy as jnp

from .._autograd import no_grad
from .._dispatch import dispatch
from .._ops._registry import op
from .._tensor import Size, Tensor
from . import constraints
from ._distribution import Distribution
from ._gamma import Beta
from ._utils import broadcast_all, standard_normal

__all__ = ["LKJCholesky"]


def _ej():
    import eagerjax

    return eagerjax


def _onion(y, u):
    """Rows of a correlation Cholesky factor from Beta draws ``y`` (..., D, 1) and strictly
    lower normal draws ``u`` (..., D, D): row ``i`` is ``sqrt(y_i)`` times a uniform direction
    in its first ``i`` coordinates, and its diagonal entry takes the rest of the unit length."""
    norm = jnp.sqrt(jnp.sum(u * u, -1, keepdims=True))
    # the first row has no coordinates below the diagonal: its direction is zero, not 0/0
    direction = jnp.where(norm > 0, u / jnp.where(norm > 0, norm, 1), 0)
    w = jnp.sqrt(y) * direction
    diag = jnp.sqrt(jnp.maximum(1 - jnp.sum(w * w, -1), jnp.finfo(w.dtype).tiny))
    return w + diag[..., None] * jnp.eye(w.shape[-1], dtype=w.dtype)


_onion_row = op("_dist_lkj_onion", _onion, differentiable=False, function=False, method=False)


class LKJCholesky(Distribution):
    """``torch.distributions.LKJCholesky(dim, concentration=1.0)``: the Cholesky factor ``L``
    of a ``dim x dim`` correlation matrix ``L L^T`` whose density is proportional to
    ``det(L L^T) ** (concentration - 1)``.

    ``sample`` is the onion method (a Beta draw per row for its squared off-diagonal length, a
    uniform direction for it); there is no ``rsample``, as in torch.
    """

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration=1.0, validate_args: bool | None = None) -> None:
        if dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        # row i >= 1 has squared length Beta(i / 2, c + (D - 1 - i) / 2) below the diagonal
        # (the onion method; row 0, drawn like row 1, is all diagonal). torch 2.13 draws
        # Beta(i - 1/2, ...) there, which spreads rows >= 2 wider than the LKJ density it scores.
        ej = _ej()
        dt = self.concentration.dtype
        offset = ej.cat([ej.zeros(1, dtype=dt), ej.arange(dim - 1, dtype=dt)])  # 0, 0, 1, ..., D - 2
        marginal = self.concentration + 0.5 * (dim - 2)
        self._beta = Beta(0.5 * (offset + 1), marginal.unsqueeze(-1) - 0.5 * offset)
        super().__init__(self.concentration.shape, (dim, dim), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.dim = self.dim
        new.concentration = self.concentration.expand(batch_shape)
        new._beta = self._beta.expand(tuple(batch_shape) + (self.dim,))
        return self._finish_expand(new, LKJCholesky, batch_shape)

    def sample(self, sample_shape=()) -> Tensor:
        with no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u = standard_normal(self._extended_shape(sample_shape), y.dtype).tril(-1)
            return dispatch(_onion_row, (y, u), {})

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        ej = _ej()
        d, c = self.dim, self.concentration
        # the density of L is prod_i L_ii ** (2 (c - 1) + D - i) over rows i = 2..D (1-based):
        # det(L L^T) ** (c - 1) times the Jacobian of L -> L L^T
        power = 2 * (c - 1).unsqueeze(-1) + d - ej.arange(2, d + 1, dtype=c.dtype)
        unnormalized = (power * value.diagonal(dim1=-2, dim2=-1)[..., 1:].log()).sum(-1)
        # log of the normalizing constant (Lewandowski, Kurowicka & Joe 2009, p. 1999)
        alpha = c + 0.5 * (d - 1)
        log_norm = 0.5 * (d - 1) * math.log(math.pi) + ej.mvlgamma(alpha - 0.5, p=d - 1) - (d - 1) * alpha.lgamma()
        return unnormalized - log_norm
