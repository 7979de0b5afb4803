"""``torch.linalg`` rows for orthogonal matrices: ``matrix_exp``, ``householder_product``
(and its old name ``orgqr``) and ``geqrf``.

``householder_product`` is written as a scan of rank-1 updates rather than with
``jax.lax.linalg.householder_product``: that primitive has no differentiation rule, and
``nn.utils.parametrizations.orthogonal``'s "householder" map trains through it.
``geqrf`` is LAPACK's (the one jax lowers to), so its reflectors and ``tau`` are the
ones torch returns; like torch's, it has no gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax._src.lax.linalg import geqrf as _jax_geqrf  # (not re-exported by jax.lax.linalg)

from ._linalg2 import _matrix, _torch_name
from ._reduction import return_type
from ._registry import alias, op

_LINALG = dict(function=False, method=False, namespaces=("linalg",))
Geqrf = return_type("geqrf", ("a", "tau"))


def _not_for_ints(a, kernel: str) -> None:
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_torch_name(a.dtype)}'")


def _matrix_exp(a):
    a = _matrix(a, "linalg.matrix_exp")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"linalg.matrix_exp: A must be batches of square matrices, but they are {a.shape[-2]} by "
            f"{a.shape[-1]} matrices"
        )
    return jax.scipy.linalg.expm(a)


def _check_householder(a, tau) -> None:
    name = "torch.linalg.householder_product"
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if a.shape[-2] < a.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if a.shape[-1] < tau.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if a.ndim - tau.ndim != 1:
        raise RuntimeError(
            f"{name}: Expected tau to have one dimension less than input, but got tau.ndim equal to {tau.ndim} "
            f"and input.ndim is equal to {a.ndim}"
        )
    if tau.shape[:-1] != a.shape[:-2]:
        raise RuntimeError(
            f"{name}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got {list(tau.shape[:-1])}"
        )
    if tau.dtype != a.dtype:
        raise RuntimeError(
            f"{name}: tau dtype {_dtype_word(tau.dtype)} does not match input dtype {_dtype_word(a.dtype)}"
        )
    _not_for_ints(a, "orgqr_cpu")


def _dtype_word(dt) -> str:
    return {"float32": "Float", "float64": "Double", "complex64": "ComplexFloat", "float16": "Half"}.get(
        str(dt), _torch_name(dt)
    )


def _householder_product(a, tau):
    """The first ``n`` columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^H``, where ``v_i`` is
    column ``i`` of ``a`` below the diagonal with an implicit 1 on it (LAPACK's ``orgqr``)."""
    _check_householder(a, tau)
    m, n = a.shape[-2:]
    k = tau.shape[-1]
    v = jnp.tril(a[..., :, :k], -1) + jnp.eye(m, k, dtype=a.dtype)
    q = jnp.broadcast_to(jnp.eye(m, n, dtype=a.dtype), a.shape)

    def apply(q, vt):  # q <- H_i q, right to left so that q ends as H_1 ... H_k I
        vi, ti = vt
        w = jnp.einsum("...m,...mn->...n", vi.conj(), q)
        return q - ti[..., None, None] * vi[..., :, None] * w[..., None, :], None

    q, _ = jax.lax.scan(apply, q, (jnp.moveaxis(v, -1, 0), jnp.moveaxis(tau, -1, 0)), reverse=True)
    return q


def _geqrf(a):
    if a.ndim < 2:
        raise RuntimeError("torch.geqrf: input must have at least 2 dimensions.")
    _not_for_ints(a, "geqrf_cpu")
    return _jax_geqrf(a)


op("linalg_matrix_exp", _matrix_exp, **_LINALG)
op("matrix_exp", _matrix_exp)
op("linalg_householder_product", _householder_product, **_LINALG)
alias("orgqr", "linalg_householder_product", function=True, method=True, namespaces=())
op("geqrf", _geqrf, out_type=Geqrf, differentiable=False)
