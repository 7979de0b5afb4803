"""Matrix transforms (re-exported by ``transforms``): CorrCholesky and PositiveDefinite.

``CorrCholeskyTransform`` maps a vector of ``D * (D - 1) / 2`` reals onto the lower Cholesky
factor of a ``D x D`` correlation matrix. Its forward, inverse and Jacobian are op rows of jax
math over the strict lower triangle taken in row-major order (torch's ``tril_indices`` order), so
gradients come from ``jax.vjp`` and the transform works eager, compiled and lazy.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._dispatch import dispatch
from .._ops._registry import op
from .._tensor import Size
from . import constraints
from .transforms import Transform, _Plain

__all__ = ["CorrCholeskyTransform", "PositiveDefiniteTransform"]


def _ej():
    import eagerjax

    return eagerjax


def _pad_one(a):
    """``a`` shifted one step right along the last dim, with a leading 1."""
    return jnp.concatenate([jnp.ones_like(a[..., :1]), a[..., :-1]], -1)


def _corr_cholesky(x, n: int):
    # the vector fills the strict lower triangle row by row; each row is the signed square root
    # of a stick broken by the squared tanh of its entries, the diagonal taking what is left
    eps = jnp.finfo(x.dtype).eps
    r = jnp.clip(jnp.tanh(x), -1 + eps, 1 - eps)
    rows, cols = np.tril_indices(n, -1)
    r = jnp.zeros(x.shape[:-1] + (n, n), x.dtype).at[..., rows, cols].set(r)
    left = jnp.cumprod(jnp.sqrt(1 - r * r), -1)
    return (r + jnp.eye(n, dtype=x.dtype)) * _pad_one(left)


def _corr_cholesky_inverse(y):
    n = y.shape[-1]
    rows, cols = np.tril_indices(n, -1)
    left = _pad_one(1 - jnp.cumsum(y * y, -1))
    t = y[..., rows, cols] / jnp.sqrt(left[..., rows, cols])
    return (jnp.log1p(t) - jnp.log1p(-t)) / 2  # atanh, written as torch computes it


def _corr_cholesky_ladj(x, y):
    # log|det| of the stick breaking (over the flattened strict lower triangle of y) plus the
    # tanh's; 1 - cumsum(y^2) read at offset -2 is the shifted stick without a pad
    rows, cols = np.tril_indices(y.shape[-1], -2)
    stick = 0.5 * jnp.log((1 - jnp.cumsum(y * y, -1))[..., rows, cols]).sum(-1)
    tanh = -2 * (x + jax.nn.softplus(-2 * x) - math.log(2.0)).sum(-1)
    return stick + tanh


_R = dict(function=False, method=False)
_fwd_row = op("_dist_corr_cholesky", _corr_cholesky, **_R)
_inv_row = op("_dist_corr_cholesky_inverse", _corr_cholesky_inverse, **_R)
_ladj_row = op("_dist_corr_cholesky_ladj", _corr_cholesky_ladj, **_R)


def _tril_size(x) -> int:
    """``D`` for a last dim of ``D * (D - 1) / 2``, with torch's errors for other sizes."""
    m = x.shape[-1]
    d = (1 + (1 + 8 * m) ** 0.5) / 2
    if round(d) - d > float(jnp.finfo(x.dtype).eps):
        raise ValueError(
            f"The size of last dimension is {m} which cannot be expressed as "
            "the lower triangular part of a square D x D matrix."
        )
    d = round(d)
    if d * (d - 1) // 2 != m:  # rounded down to a smaller triangle: torch's fill fails
        raise RuntimeError(
            f"shape mismatch: value tensor of shape [{m}] cannot be broadcast to indexing result "
            f"of shape [{d * (d - 1) // 2}]"
        )
    return d


class CorrCholeskyTransform(Transform):
    """``R^(D(D-1)/2)`` onto Cholesky factors of ``D x D`` correlation matrices (bijective).

    ``log_abs_det_jacobian`` is taken against the flattened strict lower triangle of ``y`` (the
    two spaces differ in dimension), as torch's. Two instances are equal only when they are the
    same object (torch's rule for it; ``PositiveDefiniteTransform``s all compare equal).
    """

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def _call(self, x):
        return dispatch(_fwd_row, (x,), {"n": _tril_size(x)})

    def _inverse(self, y):
        return dispatch(_inv_row, (y,), {})

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return dispatch(_ladj_row, (x, y), {})

    def forward_shape(self, shape) -> Size:
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        m = shape[-1]
        d = round((0.25 + 2 * m) ** 0.5 + 0.5)
        if d * (d - 1) // 2 != m:
            raise ValueError("Input is not a flattened lower-diagonal number")
        return Size(tuple(shape[:-1]) + (d, d))

    def inverse_shape(self, shape) -> Size:
        if len(shape) < 2:
            raise ValueError("Too few dimensions on input")
        if shape[-2] != shape[-1]:
            raise ValueError("Input is not square")
        d = shape[-1]
        return Size(tuple(shape[:-2]) + (d * (d - 1) // 2,))


class PositiveDefiniteTransform(_Plain):
    """Any square matrix to a positive-definite one, ``L L^T`` for ``L`` its
    ``LowerCholeskyTransform`` (not bijective: the upper triangle is dropped)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def _call(self, x):
        from ._transforms2 import LowerCholeskyTransform

        L = LowerCholeskyTransform()(x)
        return L @ L.mT

    def _inverse(self, y):
        from ._transforms2 import LowerCholeskyTransform

        return LowerCholeskyTransform().inv(_ej().linalg.cholesky(y))
