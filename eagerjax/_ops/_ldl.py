"""``torch.linalg.ldl_factor``, ``ldl_factor_ex`` and ``ldl_solve``: LAPACK's ``sytrf``/``hetrf``
(Bunch–Kaufman) and ``sytrs``/``hetrs``, as torch calls them.

The pivots *are* LAPACK's (1-based; a negative pair marks a 2x2 block of D), so the factor
can only be reproduced by running LAPACK itself: XLA has no symmetric-indefinite
factorization. The kernels therefore call SciPy's LAPACK wrappers (SciPy comes with JAX)
through ``jax.pure_callback``, which works eagerly, in compiled programs and lazy graphs
(on an accelerator the matrices make a round trip through the host). Like torch's, these
rows have no derivative; their results do not require grad.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._dtypes import torch_name
from ._linalg2 import _matrix
from ._linalg5 import _ROWS, LinAlgError, _first_failure
from ._reduction import return_type
from ._registry import op

_LINALG = dict(function=False, method=False, namespaces=("linalg",), differentiable=False)
_PREFIX = {
    np.dtype(np.float32): "s",
    np.dtype(np.float64): "d",
    np.dtype(np.complex64): "c",
    np.dtype(np.complex128): "z",
}


def _routine(dtype, hermitian: bool, kind: str):
    """SciPy's wrapper of LAPACK's ``?sytr<kind>`` (``?hetr<kind>`` for a Hermitian complex A)."""
    from scipy.linalg import lapack

    dt = np.dtype(dtype)
    sym = "he" if hermitian and dt.kind == "c" else "sy"
    return getattr(lapack, f"{_PREFIX[dt]}{sym}tr{kind}")


def _factor_host(a, hermitian: bool):
    a = np.asarray(a)
    n = a.shape[-1]
    flat = a.reshape(int(np.prod(a.shape[:-2])), n, n)
    ld = np.zeros_like(flat)
    piv = np.zeros(flat.shape[:2], np.int32)
    info = np.zeros(flat.shape[0], np.int32)
    if n:
        trf = _routine(a.dtype, hermitian, "f")
        for k in range(flat.shape[0]):
            ldu, p, i = trf(flat[k], lower=1)
            ld[k] = np.tril(ldu)  # (torch returns the strict upper triangle zeroed)
            piv[k] = p
            info[k] = i
    return ld.reshape(a.shape), piv.reshape(a.shape[:-1]), info.reshape(a.shape[:-2])


def _solve_host(ld, piv, b, hermitian: bool):
    ld, piv, b = np.asarray(ld), np.asarray(piv, np.int32), np.asarray(b)
    n, k = b.shape[-2], b.shape[-1]
    nb = int(np.prod(b.shape[:-2]))
    flat_ld, flat_piv, flat_b = ld.reshape(nb, n, n), piv.reshape(nb, n), b.reshape(nb, n, k)
    x = np.zeros_like(flat_b)
    if n and k:
        trs = _routine(ld.dtype, hermitian, "s")
        for j in range(flat_b.shape[0]):
            x[j] = trs(flat_ld[j], flat_piv[j], flat_b[j], lower=1)[0]
    return x.reshape(b.shape)


def _check_dtype(a, name: str) -> None:
    _matrix(a, name)
    if a.dtype in (jnp.float16, jnp.bfloat16):
        raise NotImplementedError(f"\"ldl_factor_kernel_cpu\" not implemented for '{torch_name(a.dtype)}'")


def _ldl_factor_ex(a, *, hermitian=False, check_errors=False):
    name = "torch.linalg.ldl_factor_ex"
    _check_dtype(a, name)
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"{name}: A must be batches of square matrices, but they are {a.shape[-2]} by {a.shape[-1]} matrices"
        )
    out = (
        jax.ShapeDtypeStruct(a.shape, a.dtype),
        jax.ShapeDtypeStruct(a.shape[:-1], jnp.int32),
        jax.ShapeDtypeStruct(a.shape[:-2], jnp.int32),
    )
    return jax.pure_callback(lambda x: _factor_host(x, hermitian), out, a, vmap_method="broadcast_all")


def _ldl_factor(a, *, hermitian=False):
    ld, piv, _ = _ldl_factor_ex(a, hermitian=hermitian)
    return ld, piv


def _ldl_solve(ld, pivots, b, *, hermitian=False):
    name = "torch.linalg.ldl_solve"
    if ld.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor LD must have at least 2 dimensions.")
    if ld.shape[-1] != ld.shape[-2]:
        raise RuntimeError(
            f"{name}: LD must be batches of square matrices, but they are {ld.shape[-2]} by {ld.shape[-1]} matrices"
        )
    if b.ndim < 2:
        raise IndexError(f"Dimension out of range (expected to be in range of [-{b.ndim}, {b.ndim - 1}], but got -2)")
    if tuple(pivots.shape) != tuple(ld.shape[:-1]):
        raise RuntimeError(
            f"{name}: Expected LD.shape[:-1] and pivots.shape to be the same, but got pivots with shape "
            f"{list(pivots.shape)} instead"
        )
    if not jnp.issubdtype(pivots.dtype, jnp.integer):
        raise RuntimeError(f"{name}: Expected pivots to be integers. Got {pivots.dtype}")
    if b.dtype != ld.dtype:
        raise RuntimeError(
            f"Expected b and A to have the same dtype, but found b of type {torch_name(b.dtype)} and A of "
            f"type {torch_name(ld.dtype)} instead."
        )
    n = ld.shape[-1]
    if b.shape[-2] != n:
        raise RuntimeError(
            f"Incompatible matrix sizes for {name}: each A matrix is {n} by {n} but each b matrix is "
            f"{b.shape[-2]} by {b.shape[-1]}"
        )
    batch = jnp.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
    ld = jnp.broadcast_to(ld, batch + ld.shape[-2:])
    pivots = jnp.broadcast_to(pivots.astype(jnp.int32), batch + pivots.shape[-1:])
    b = jnp.broadcast_to(b, batch + b.shape[-2:])
    out = jax.ShapeDtypeStruct(b.shape, b.dtype)
    return jax.pure_callback(lambda *xs: _solve_host(*xs, hermitian), out, ld, pivots, b, vmap_method="broadcast_all")


def _check_ldl(name: str):
    """Eager mode raises where LAPACK reported a zero pivot of D (``info > 0``), as torch's
    ``ldl_factor`` (always) and ``ldl_factor_ex(check_errors=True)`` do."""
    always = name == "ldl_factor"

    def check(*args, **kw) -> None:
        f = _first_failure("linalg_ldl_factor_ex", args, dict(kw, check_errors=always or kw.get("check_errors", False)))
        if f:
            raise LinAlgError(
                f"torch.linalg.{name}: {f[0]}The factorization could not be completed because the input is singular: "
                f"D[{f[1]},{f[1]}] is zero (LAPACK's info = {f[1]})."
            )

    return check


_ROWS["linalg_ldl_factor_ex"] = op(
    "linalg_ldl_factor_ex",
    _ldl_factor_ex,
    out_type=return_type("linalg_ldl_factor_ex", ("LD", "pivots", "info")),
    check=_check_ldl("ldl_factor_ex"),
    **_LINALG,
)
op(
    "linalg_ldl_factor",
    _ldl_factor,
    out_type=return_type("linalg_ldl_factor", ("LD", "pivots")),
    check=_check_ldl("ldl_factor"),
    **_LINALG,
)
op("linalg_ldl_solve", _ldl_solve, **_LINALG)
