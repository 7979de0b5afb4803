"""More ``torch.linalg`` rows: LU (``lu``, ``lu_factor``, ``lu_solve``, ``torch.lu``,
``lu_unpack``), least squares (``lstsq``) and the general eigendecomposition
(``eig``, ``eigvals``).

Pivots are LAPACK's, 1-based, as torch gives them. Output shapes never depend on
values (an XLA program's cannot): ``lstsq``'s ``residuals`` are computed whenever the
driver computes them for a tall ``A`` (torch leaves them empty when ``A`` is
rank-deficient).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._dtypes import torch_name as _torch_name
from .._tensor import default_device
from ._reduction import return_type
from ._registry import op

_LINALG = dict(function=False, method=False, namespaces=("linalg",))
LU = return_type("linalg_lu", ("P", "L", "U"))
LUFactor = return_type("linalg_lu_factor", ("LU", "pivots"))
Lstsq = return_type("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))
Eig = return_type("linalg_eig", ("eigenvalues", "eigenvectors"))
LUUnpack = return_type("lu_unpack", ("P", "L", "U"))


def _matrix(a, name: str):
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {_torch_name(a.dtype)}")
    return a


def _unpack(lu, perm):
    """P, L, U with A = P @ L @ U, from packed factors and the row permutation."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    eye = jnp.eye(m, k, dtype=lu.dtype)
    lo = jnp.tril(lu[..., :, :k], -1) + eye
    up = jnp.triu(lu[..., :k, :])
    # perm[i] is the row of A that row i of L @ U is: P[perm[i], i] = 1
    p = jnp.swapaxes(jax.nn.one_hot(perm, m, dtype=lu.dtype), -1, -2)
    return p, lo, up


def _no_pivot(name: str, pivot: bool) -> None:
    if not pivot:
        raise RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU")


def _lu(a, *, pivot=True):
    _no_pivot("linalg.lu", pivot)
    lu, _, perm = jax.lax.linalg.lu(_matrix(a, "linalg.lu"))
    return _unpack(lu, perm)


def _lu_factor(a, *, pivot=True):
    _no_pivot("linalg.lu_factor", pivot)
    lu, piv, _ = jax.lax.linalg.lu(_matrix(a, "linalg.lu_factor"))
    return lu, (piv + 1).astype(jnp.int32)


def _torch_lu(a, pivot=True, get_infos=False):
    lu, piv = _lu_factor(a, pivot=pivot)
    if get_infos:
        return lu, piv, jnp.zeros(a.shape[:-2], jnp.int32)
    return lu, piv


def _perm(lu_data, pivots):
    return jax.lax.linalg.lu_pivots_to_permutation(pivots.astype(jnp.int32) - 1, lu_data.shape[-2])


def _lu_unpack(lu_data, lu_pivots, unpack_data=True, unpack_pivots=True):
    p, lo, up = _unpack(lu_data, _perm(lu_data, lu_pivots))
    empty = jnp.zeros((0,), lu_data.dtype)
    return (p if unpack_pivots else empty, lo if unpack_data else empty, up if unpack_data else empty)


def _lu_solve(lu_data, pivots, b, *, left=True, adjoint=False):
    """Solve A X = B (``left``) or X A = B with ``lu_factor``'s output."""
    piv = pivots.astype(jnp.int32) - 1
    trans = (2 if jnp.iscomplexobj(lu_data) else 1) if adjoint else 0
    if left:
        return jax.scipy.linalg.lu_solve((lu_data, piv), b, trans=trans)
    bt = jnp.swapaxes(b, -1, -2)
    if not adjoint:  # X A = B  <=>  A^T X^T = B^T
        xt = jax.scipy.linalg.lu_solve((lu_data, piv), bt, trans=1)
    else:  # X A^H = B  <=>  conj(A) X^T = B^T  <=>  A conj(X^T) = conj(B^T)
        xt = jax.scipy.linalg.lu_solve((lu_data, piv), bt.conj(), trans=0).conj()
    return jnp.swapaxes(xt, -1, -2)


def _lstsq(a, b, rcond=None, *, driver=None):
    a = _matrix(a, "torch.linalg.lstsq")
    drv = driver or ("gelsy" if default_device().type == "cpu" else "gels")
    if drv not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    vec = b.ndim == a.ndim - 1
    if vec:
        b = b[..., None]
    m, n = a.shape[-2:]
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    cut = (jnp.finfo(a.dtype).eps * max(m, n) if rcond is None else rcond) * s[..., :1]
    keep = s > cut
    s_inv = jnp.where(keep, 1 / jnp.where(keep, s, 1), 0)
    x = jnp.matmul(jnp.swapaxes(vh, -1, -2).conj(), s_inv[..., None] * jnp.matmul(jnp.swapaxes(u, -1, -2).conj(), b))
    empty = jnp.zeros((0,), jnp.real(x).dtype)
    if drv != "gelsy" and m > n:
        res = jnp.sum(jnp.abs(jnp.matmul(a, x) - b) ** 2, axis=-2)
        res = res[..., 0] if vec else res
    else:
        res = empty
    rank = jnp.sum(keep, -1).astype(jnp.int32) if drv != "gels" else jnp.zeros((0,), jnp.int32)
    sv = s if drv in ("gelsd", "gelss") else empty
    return (x[..., 0] if vec else x), res, rank, sv


def _eig(a):
    a = _matrix(a, "linalg.eig")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"linalg.eig: A must be batches of square matrices, but they are {a.shape[-2]} by {a.shape[-1]} matrices"
        )
    return _eig_core(a)


@jax.custom_jvp
def _eig_core(a):
    w, v = jnp.linalg.eig(a)
    return w, v


@_eig_core.defjvp
def _eig_jvp(primals, tangents):
    """Eigenvalues and (unit-norm) eigenvectors of a general matrix, differentiated as torch
    does (jax refuses eigenvector derivatives): with X = V^-1 dA V, dL = diag(X) and
    dV = V (X / (L_j - L_i) off the diagonal), less the part that changes the columns' norms."""
    (a,), (da,) = primals, tangents
    w, v = _eig_core(a)
    x = jnp.linalg.solve(v, jnp.matmul(da.astype(v.dtype), v))
    dw = jnp.diagonal(x, axis1=-2, axis2=-1)
    eye = jnp.eye(w.shape[-1], dtype=bool)
    gap = w[..., None, :] - w[..., :, None]
    dv = jnp.matmul(v, jnp.where(eye, 0, x / jnp.where(eye, 1, gap)))
    dv = dv - v * jnp.real(jnp.sum(v.conj() * dv, axis=-2))[..., None, :].astype(v.dtype)
    return (w, v), (dw, dv)


op("linalg_lu", _lu, out_type=LU, **_LINALG)
op("linalg_lu_factor", _lu_factor, out_type=LUFactor, **_LINALG)
op("linalg_lu_solve", _lu_solve, **_LINALG)
op("lu", _torch_lu, method=False)
op("lu_unpack", _lu_unpack, method=False, out_type=LUUnpack)
op("linalg_lstsq", _lstsq, out_type=Lstsq, **_LINALG)
op("linalg_eig", _eig, out_type=Eig, **_LINALG)
op("linalg_eigvals", lambda a: _eig(a)[0], **_LINALG)
