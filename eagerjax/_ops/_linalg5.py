"""More linear-algebra rows: triangular and Cholesky solves (``triangular_solve``,
``linalg.solve_triangular``, ``cholesky_solve``, ``cholesky_inverse``), ``lu_solve``,
``chain_matmul``, the ``linalg.*_ex`` factorizations, ``linalg.diagonal``,
``linalg.matmul`` and the ``linalg.LinAlgError`` exception.

The ``info`` of the ``_ex`` rows is computed inside the kernel (no host read), so it
works compiled and lazy too: for LU-based rows it is LAPACK's (the 1-based position of
the first zero on U's diagonal), for ``cholesky_ex`` the order of the first leading minor
that is not positive-definite (found by a column sweep that runs only when the
factorization failed). ``check_errors=True`` raises, in torch's words, in eager mode only
(an XLA program cannot raise); compiled and lazy calls return ``info`` instead.
A failed Cholesky factor is all NaN (LAPACK's partial factor is not reproduced).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._dispatch import dispatch
from .._state import flags
from .._tensor import Tensor
from ._linalg import _cholesky as _chol
from ._linalg import _cholesky_info as _chol_info
from ._linalg import _solve, _square
from ._linalg2 import _lu_factor, _lu_solve, _matrix
from ._reduction import return_type
from ._registry import alias, op

_LINALG = dict(function=False, method=False, namespaces=("linalg",))


class LinAlgError(RuntimeError):
    """``torch.linalg.LinAlgError``: a linear-algebra failure that depends on the input's
    values (a singular or non-positive-definite matrix); a subclass of RuntimeError."""


LinAlgError.__module__ = "eagerjax.linalg"


def _batch_broadcast(a, b):
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return jnp.broadcast_to(a, batch + a.shape[-2:]), jnp.broadcast_to(b, batch + b.shape[-2:])


def _tri(a, b, *, upper, left=True, unit=False, transpose=False):
    """Solve op(A) X = B (``left``) or X op(A) = B with triangular A (batches broadcast)."""
    a, b = _batch_broadcast(a, b)
    return jax.lax.linalg.triangular_solve(
        a, b, left_side=left, lower=not upper, transpose_a=transpose, unit_diagonal=unit
    )


def _solve_triangular(a, b, *, upper, left=True, unitriangular=False):
    for t, name in ((a, "A"), (b, "B")):
        if t.ndim < 2:
            raise RuntimeError(f"linalg.solve_triangular: The input tensor {name} must have at least 2 dimensions.")
    _matrix(a, "linalg.solve_triangular")
    n = a.shape[-1]
    if a.shape[-2] != n:
        raise RuntimeError(
            f"linalg.solve_triangular: A must be batches of square matrices, but they are {a.shape[-2]} by {n} matrices"
        )
    if (b.shape[-2] if left else b.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(
            f"linalg.solve_triangular: Incompatible shapes of A and B for the equation {eq} "
            f"({a.shape[-2]}x{n} and {b.shape[-2]}x{b.shape[-1]})"
        )
    return _tri(a, b, upper=upper, left=left, unit=unitriangular)


op("linalg_solve_triangular", _solve_triangular, promote=True, **_LINALG)


def _triangular_solve(b, a, upper=True, transpose=False, unitriangular=False):
    """torch.triangular_solve (deprecated): ``(solution, cloned_coefficient)`` of A X = B."""
    if b.ndim < 2:
        raise RuntimeError(
            f"torch.triangular_solve: Expected b to have at least 2 dimensions, but it has {b.ndim} dimensions instead"
        )
    if a.ndim < 2:
        raise RuntimeError(
            f"torch.triangular_solve: Expected A to have at least 2 dimensions, but it has {a.ndim} dimensions instead"
        )
    x = _tri(a, b, upper=upper, unit=unitriangular, transpose=transpose)
    batch = x.shape[:-2]
    return x, jnp.broadcast_to(a, batch + a.shape[-2:])


op(
    "triangular_solve",
    _triangular_solve,
    promote=True,
    out_type=return_type("triangular_solve", ("solution", "cloned_coefficient")),
)


# --------------------------------------------------------------------------- Cholesky solves, lu_solve
def _cholesky_solve(b, factor, upper=False):
    """X with A X = B for A = L L^H (``upper``: A = U^H U), from the Cholesky factor."""
    if b.ndim < 2:
        raise RuntimeError(f"b should have at least 2 dimensions, but has {b.ndim} dimensions instead")
    if factor.ndim < 2:
        raise RuntimeError(f"u should have at least 2 dimensions, but has {factor.ndim} dimensions instead")
    n = factor.shape[-1]
    if b.shape[-2] != n:
        raise RuntimeError(
            f"Incompatible matrix sizes for cholesky_solve: each A matrix is {factor.shape[-2]} by {n} but each b "
            f"matrix is {b.shape[-2]} by {b.shape[-1]}"
        )
    lo = jnp.swapaxes(factor, -1, -2).conj() if upper else factor
    # L Y = B, then L^H X = Y: the value reads L's triangle only
    y = _tri(lo, b, upper=False)
    lo2, y = _batch_broadcast(lo, y)
    x = jax.lax.linalg.triangular_solve(lo2, y, left_side=True, lower=True, transpose_a=True, conjugate_a=True)
    # torch's gradient is that of (F F^H)^-1 B for the whole factor F (its other triangle
    # included): the value above, with the gradient jax gives that formula.
    full = factor if not upper else jnp.swapaxes(factor, -1, -2).conj()
    a, bb = _batch_broadcast(jnp.matmul(full, jnp.swapaxes(full, -1, -2).conj()), b)
    g = jnp.linalg.solve(a, bb)
    return jax.lax.stop_gradient(x) + (g - jax.lax.stop_gradient(g))


def _cholesky_inverse(factor, upper=False):
    if factor.ndim < 2:
        raise RuntimeError("cholesky_inverse: The input tensor A must have at least 2 dimensions.")
    eye = jnp.broadcast_to(jnp.eye(factor.shape[-1], dtype=factor.dtype), factor.shape)
    return _cholesky_solve(eye, factor, upper)


op("cholesky_solve", _cholesky_solve, promote=True)
op("cholesky_inverse", _cholesky_inverse)
op("lu_solve", lambda b, lu_data, lu_pivots: _lu_solve(lu_data, lu_pivots, b))


def _chain_matmul(*ms):
    if len(ms) == 1 and isinstance(ms[0], (list, tuple)):
        ms = tuple(ms[0])
    if not ms:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in ms:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    return jnp.linalg.multi_dot(ms) if len(ms) > 1 else ms[0]


op("chain_matmul", _chain_matmul, method=False)
op("linalg_diagonal", lambda a, *, offset=0, dim1=-2, dim2=-1: jnp.diagonal(a, offset, dim1, dim2), **_LINALG)
alias("linalg_matmul", "matmul", **_LINALG)


# --------------------------------------------------------------------------- the _ex factorizations
def _lu_info(lu):
    """LAPACK getrf's info: 1 + the first index where U's diagonal is zero, else 0."""
    zero = jnp.diagonal(lu, axis1=-2, axis2=-1) == 0
    return jnp.where(jnp.any(zero, -1), jnp.argmax(zero, -1) + 1, 0).astype(jnp.int32)


def _cholesky_info(a):
    """The order of the first leading minor of (the lower triangle of) ``a`` that is not
    positive-definite, else 0: the pivots of an unblocked Cholesky sweep."""
    n = a.shape[-1]
    lower = jnp.tril(a)
    m = lower + jnp.swapaxes(jnp.tril(a, -1), -1, -2).conj()
    rows = jnp.arange(n)

    def step(k, carry):
        m, info = carry
        p = jnp.real(m[..., k, k])
        bad = ~(p > 0)
        info = jnp.where((info == 0) & bad, k + 1, info)
        col = m[..., :, k] / jnp.sqrt(jnp.where(bad, 1, p)).astype(m.dtype)[..., None]
        col = jnp.where(rows > k, col, 0)
        return m - col[..., :, None] * col[..., None, :].conj(), info

    _, info = jax.lax.fori_loop(0, n, step, (m, jnp.zeros(a.shape[:-2], jnp.int32)))
    return info


def _cholesky_ex(a, *, upper=False, check_errors=False):
    # linalg.cholesky's factor and pivots: the triangle ``upper`` names, read as a Hermitian
    # matrix (torch reads only that triangle), with torch's Hermitian gradient
    _square(a, "cholesky_ex")
    return _chol(a, upper), _chol_info(jax.lax.stop_gradient(a), upper)


def _inv_ex(a, *, check_errors=False):
    _square(a, "inv_ex")
    lu, _, _ = jax.lax.linalg.lu(jax.lax.stop_gradient(a))
    return jnp.linalg.inv(a), _lu_info(lu)


def _solve_ex(a, b, *, left=True, check_errors=False):
    x = _solve(a, b, left=left)
    lu, _, _ = jax.lax.linalg.lu(jax.lax.stop_gradient(a))
    return x, _lu_info(lu)


def _lu_factor_ex(a, *, pivot=True, check_errors=False):
    lu, piv = _lu_factor(a, pivot=pivot)
    return lu, piv, _lu_info(jax.lax.stop_gradient(lu))


# Eager-only checks: run the row (without check_errors) and read ``info`` on the host.
def _batch_prefix(info: np.ndarray, k: int) -> str:
    return f"(Batch element {k}): " if info.ndim else ""


def _first_failure(row: str, args, kwargs):
    if flags.mode is not None or not kwargs.get("check_errors", False):
        return None
    kw = dict(kwargs, check_errors=False)
    out = dispatch(_ROWS[row], args, kw)
    info = np.asarray(out[-1]._value if isinstance(out[-1], Tensor) else out[-1])
    bad = np.flatnonzero(info.reshape(-1) > 0)
    if not bad.size:
        return None
    k = int(bad[0])
    return _batch_prefix(info, k), int(info.reshape(-1)[k])


def _check_cholesky(*args, **kw) -> None:
    f = _first_failure("linalg_cholesky_ex", args, kw)
    if f:
        raise LinAlgError(
            f"linalg.cholesky_ex: {f[0]}The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {f[1]} is not positive-definite)."
        )


def _check_inv(*args, **kw) -> None:
    f = _first_failure("linalg_inv_ex", args, kw)
    if f:
        raise LinAlgError(
            f"linalg.inv_ex: {f[0]}The diagonal element {f[1]} is zero, the inversion could not be completed "
            "because the input matrix is singular."
        )


def _check_solve(*args, **kw) -> None:
    f = _first_failure("linalg_solve_ex", args, kw)
    if f:
        raise LinAlgError(f"torch.linalg.solve_ex: {f[0]}The solver failed because the input matrix is singular.")


def _check_lu(*args, **kw) -> None:
    f = _first_failure("linalg_lu_factor_ex", args, kw)
    if f:
        raise RuntimeError(
            f"torch.linalg.lu_factor_ex: {f[0]}U[{f[1]},{f[1]}] is zero and using it on lu_solve would result in a "
            "division by zero. If you still want to perform the factorization, consider calling linalg.lu(A, pivot) "
            "or linalg.lu_factor_ex(A, pivot)"
        )


_ROWS = {
    "linalg_cholesky_ex": op(
        "linalg_cholesky_ex",
        _cholesky_ex,
        out_type=return_type("linalg_cholesky_ex", ("L", "info")),
        check=_check_cholesky,
        **_LINALG,
    ),
    "linalg_inv_ex": op(
        "linalg_inv_ex",
        _inv_ex,
        out_type=return_type("linalg_inv_ex", ("inverse", "info")),
        check=_check_inv,
        **_LINALG,
    ),
    "linalg_solve_ex": op(
        "linalg_solve_ex",
        _solve_ex,
        out_type=return_type("linalg_solve_ex", ("result", "info")),
        check=_check_solve,
        **_LINALG,
    ),
    "linalg_lu_factor_ex": op(
        "linalg_lu_factor_ex",
        _lu_factor_ex,
        out_type=return_type("linalg_lu_factor_ex", ("LU", "pivots", "info")),
        check=_check_lu,
        **_LINALG,
    ),
}
