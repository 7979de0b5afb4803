"""``torch.linalg`` rows: ``cond``, ``tensorinv`` and ``tensorsolve``.

Singular inputs are values, not errors, here: torch raises from ``tensorinv`` and
``tensorsolve`` when the matrix is singular, which would need a host read of the
factorization; these rows return JAX's inf/NaN instead (like ``linalg.inv`` in this
table). ``cond`` with a norm-based ``p`` gives inf for a singular matrix, as torch does.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from ._linalg import _matrix_norm
from ._linalg2 import _torch_name
from ._reduction import _wrap
from ._registry import op

_LINALG = dict(function=False, method=False, namespaces=("linalg",))
_COND_P = (None, 2, -2, "fro", "nuc", math.inf, -math.inf, 1, -1)


def _name(dt) -> str:
    return {"float32": "Float", "float16": "Half", "bfloat16": "BFloat16", "float64": "Double"}.get(
        str(dt), _torch_name(dt)
    )


def _require_float(a, kernel: str) -> None:
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise RuntimeError(f"{kernel}: Expected a floating point or complex tensor as input. Got {_name(a.dtype)}")


def _ord_str(p) -> str:
    """``p`` as torch prints a Scalar: ints plainly, floats with six decimals (``inf`` as is)."""
    if isinstance(p, float) and math.isfinite(p):
        return f"{p:f}"
    return str(int(p)) if isinstance(p, bool) else str(p)


def _cond(a, p=None):
    """The condition number of (a batch of) matrices for the norm ``p``.

    p in (None, 2, -2): the ratio of extreme singular values (any m x n matrix). Other p:
    ``norm(A, p) * norm(inv(A), p)`` (square matrices), inf where ``inv`` is not finite
    although ``A`` is (a singular matrix). An empty matrix has condition number 0."""
    if a.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor must have at least 2 dimensions.")
    if isinstance(p, str) and p not in ("fro", "nuc") or not any(p is q or p == q for q in _COND_P):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    m, n = a.shape[-2:]
    svd_based = p is None or (not isinstance(p, str) and p in (2, -2))
    if not svd_based and m != n:
        raise RuntimeError(
            f"linalg.cond(ord={_ord_str(p)}): A must be batches of square matrices, but they are {m} by {n} matrices"
        )
    _require_float(a, "linalg.svd" if svd_based else "linalg.inv")
    real = jnp.zeros((), a.dtype).real.dtype
    if m == 0 or n == 0:
        return jnp.zeros(a.shape[:-2], real)
    if svd_based:
        s = jnp.linalg.svd(a, compute_uv=False)  # descending
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    inv = jnp.linalg.inv(a)
    r = _matrix_norm(a, p) * _matrix_norm(inv, p)
    singular = ~jnp.all(jnp.isfinite(inv), axis=(-2, -1)) & jnp.all(jnp.isfinite(a), axis=(-2, -1))
    return jnp.where(singular, jnp.asarray(jnp.inf, r.dtype), r)


op("linalg_cond", _cond, **_LINALG)


def _prod(shape) -> int:
    return math.prod(int(d) for d in shape)


def _tensorinv(a, ind=2):
    """The inverse of ``a`` viewed as a (prod(shape[:ind]), prod(shape[ind:])) matrix,
    shaped ``a.shape[ind:] + a.shape[:ind]``."""
    if not isinstance(ind, int) or ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    before, after = a.shape[:ind], a.shape[ind:]
    if _prod(after) != _prod(before):
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[ind:]) == prod(self.shape[:ind]), "
            f"but got {_prod(after)} != {_prod(before)}"
        )
    _require_float(a, "linalg.inv")
    k = _prod(before)
    return jnp.linalg.inv(a.reshape(k, k)).reshape(after + before)


op("linalg_tensorinv", _tensorinv, **_LINALG)


def _tensorsolve(a, b, dims=None):
    """x with ``tensordot(a, x, x.ndim) == b``: ``a``'s leading ``b.ndim`` dims pair with
    ``b`` (after ``dims`` of ``a`` are moved to the end), the rest are ``x``'s shape."""
    if dims is not None:
        src = [_wrap(d, a.ndim) for d in dims]
        a = jnp.moveaxis(a, src, list(range(a.ndim - len(src), a.ndim)))
    lead, rest = a.shape[: b.ndim], a.shape[b.ndim :]
    if _prod(rest) != _prod(lead):
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
            f"prod(self.shape[:other.ndim]), but got {_prod(rest)} != {_prod(lead)}"
        )
    _require_float(a, "linalg.solve")
    if a.dtype != b.dtype:
        raise RuntimeError(
            "linalg.solve: Expected A and B to have the same dtype, but found A of type "
            f"{_name(a.dtype)} and B of type {_name(b.dtype)} instead"
        )
    k = _prod(lead)
    return jnp.linalg.solve(a.reshape(k, k), b.reshape(k, 1))[:, 0].reshape(rest)


op("linalg_tensorsolve", _tensorsolve, **_LINALG)
