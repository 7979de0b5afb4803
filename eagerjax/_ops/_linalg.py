"""Linear algebra rows: products, triangular/diagonal helpers, decompositions and ``torch.linalg``.

Rows in the ``linalg`` namespace are named ``linalg_<name>`` and carry
``namespaces=("linalg",)``: they are public as ``ej.linalg.<name>``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._dtypes import torch_name
from ._reduction import _to_float, _wrap, return_type, vector_norm
from ._registry import alias, op

_LINALG = ("linalg",)


def _shape_str(s) -> str:
    return "x".join(map(str, s))


# --------------------------------------------------------------------------- operand dtypes
# torch's products never promote: operands of different dtypes are an error (autocast casts
# first, inside the kernel, so these checks see the dtypes the product really gets).
_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
            "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
            "uint8": "unsigned char", "bool": "bool", "complex64": "c10::complex<float>",
            "complex128": "c10::complex<double>"}  # fmt: skip


def _c_name(d) -> str:
    name = jnp.dtype(d).name
    return _C_NAMES.get(name, name)


def _check_mm(x, y) -> None:
    if x.dtype != y.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_c_name(x.dtype)} != {_c_name(y.dtype)}"
        )


def _check_bmm(x, y) -> None:
    if x.dtype != y.dtype:
        raise RuntimeError(f"expected scalar type {torch_name(x.dtype)} but found {torch_name(y.dtype)}")


def _check_mv(s, m, v) -> None:
    if not s.dtype == m.dtype == v.dtype:
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {torch_name(s.dtype)}, "
            f"{torch_name(m.dtype)}, and {torch_name(v.dtype)}"
        )


def _check_dot(x, y) -> None:
    if x.dtype != y.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found {torch_name(x.dtype)} and {torch_name(y.dtype)}"
        )


def _check_addmm(s, m1, m2) -> None:
    """addmm / addbmm (and a linear with a bias): ``self`` against ``mat2`` first, then the factors."""
    if s.dtype != m2.dtype:
        raise RuntimeError(
            f"self and mat2 must have the same dtype, but got {torch_name(s.dtype)} and {torch_name(m2.dtype)}"
        )
    if m1.dtype != m2.dtype:
        raise RuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {torch_name(m1.dtype)} and {torch_name(m2.dtype)}"
        )


def _check_matmul(x, y) -> None:
    """The check of the kernel torch's ``matmul`` picks for these ranks."""
    if x.dtype == y.dtype:
        return
    if y.ndim == 1 and x.ndim == 1:
        _check_dot(x, y)
    elif y.ndim == 1:
        _check_mv(y, x, y)
    elif y.ndim == 2:
        _check_mm(x, y)
    else:
        _check_bmm(x, y)


# --------------------------------------------------------------------------- half precision
# torch's CPU kernels accumulate float16/bfloat16 products in float32 and round once, with
# the bias (``beta * input``) added in that accumulator: the same here (a float16/bfloat16
# product without an addend already rounds once, so only sums with an addend take this path).
def is_half(d) -> bool:
    return d == jnp.bfloat16 or d == jnp.float16


def matmul_f32(x, y):
    """``x @ y`` of half-precision operands, accumulated and returned in float32."""
    return jnp.matmul(x, y, preferred_element_type=jnp.float32)


def _matmul(x, y):
    if x.ndim == 0 or y.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {x.ndim}D and {y.ndim}D")
    kx = x.shape[-1]
    ky = y.shape[-2] if y.ndim > 1 else y.shape[0]
    if kx != ky:
        sx = _shape_str(x.shape if x.ndim > 1 else (1,) + x.shape)
        sy = _shape_str(y.shape if y.ndim > 1 else y.shape + (1,))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sx} and {sy})")
    _check_matmul(x, y)
    return jnp.matmul(x, y)


op("matmul", _matmul, dunders=("__matmul__",), rdunders=("__rmatmul__",))


def _mm(x, y):
    if x.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if y.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return _matmul(x, y)


def _bmm(x, y):
    if x.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if y.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if y.shape[0] != x.shape[0] or y.shape[1] != x.shape[2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{x.shape[0]}, {x.shape[2]}] "
            f"but got: [{y.shape[0]}, {y.shape[1]}]."
        )
    _check_bmm(x, y)
    return jnp.matmul(x, y)


def _mv(x, v):
    if x.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {x.ndim}, {v.ndim}")
    if x.shape[1] != v.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({x.shape[0]}), mat ({_shape_str(x.shape)}), vec ({v.shape[0]})")
    _check_mv(v, x, v)
    return jnp.matmul(x, v)


def _dot(x, y):
    if x.ndim != 1 or y.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {x.ndim}D and {y.ndim}D tensors")
    if x.shape[0] != y.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] to have the same "
            f"number of elements, but got {x.shape[0]} and {y.shape[0]} elements respectively"
        )
    _check_dot(x, y)
    return jnp.dot(x, y)


def _vdot(x, y):
    _dot(x, y)
    return jnp.vdot(x, y)


def _inner(x, y):
    if x.ndim == 0 or y.ndim == 0:
        return x * y
    return jnp.inner(x, y)


op("mm", _mm)
op("bmm", _bmm)
op("mv", _mv)
op("dot", _dot)
op("vdot", _vdot, promote=True)
op("inner", _inner, promote=True)
op("outer", lambda x, y: jnp.outer(x, y), promote=True)
alias("ger", "outer")

_BA = ("beta", "alpha")


def _add_scaled(x, prod, beta, alpha):
    """``beta * x + alpha * prod()``; with half-precision operands in float32 (``prod`` then
    returns the float32 accumulator), rounded once."""
    if not is_half(x.dtype):
        return beta * x + alpha * prod(jnp.matmul)
    return (beta * x.astype(jnp.float32) + alpha * prod(matmul_f32)).astype(x.dtype)


def _addmm(x, m1, m2, *, beta=1, alpha=1):
    _check_addmm(x, m1, m2)
    _mm(m1, m2)  # (the shape checks)
    return _add_scaled(x, lambda mm: mm(m1, m2), beta, alpha)


def _addmv(x, m, v, *, beta=1, alpha=1):
    _check_mv(x, m, v)
    _mv(m, v)
    return _add_scaled(x, lambda mm: mm(m, v), beta, alpha)


def _addbmm(x, b1, b2, *, beta=1, alpha=1):
    _check_addmm(x, b1, b2)
    _bmm(b1, b2)
    if not is_half(x.dtype) or b1.shape[0] == 0:
        return _add_scaled(x, lambda mm: jnp.sum(mm(b1, b2), axis=0), beta, alpha)
    # torch's CPU addbmm in half precision: one addmm per batch entry, each rounded once

    def step(r, mats):
        return (r.astype(jnp.float32) + alpha * matmul_f32(*mats)).astype(x.dtype), None

    r = (beta * x.astype(jnp.float32) + alpha * matmul_f32(b1[0], b2[0])).astype(x.dtype)
    return jax.lax.scan(step, r, (b1[1:], b2[1:]))[0]


def _baddbmm(x, b1, b2, *, beta=1, alpha=1):
    if x.dtype != b1.dtype:
        raise RuntimeError(
            f"Input dtypes must be the same, got: input {_c_name(x.dtype)}, batch1: {_c_name(b1.dtype)}, "
            f"batch2: {_c_name(b2.dtype)}"
        )
    _bmm(b1, b2)
    return _add_scaled(x, lambda mm: mm(b1, b2), beta, alpha)


def _addr(x, v1, v2, *, beta=1, alpha=1):
    return beta * x + alpha * jnp.outer(v1, v2)


op("addmm", _addmm, scalars=_BA, inplace=True)
op("addmv", _addmv, scalars=_BA, inplace=True)
op("addbmm", _addbmm, scalars=_BA, inplace=True)
op("baddbmm", _baddbmm, scalars=_BA, inplace=True)
op("addr", _addr, scalars=_BA, promote=True, inplace=True)


def _einsum(eq, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return jnp.einsum(eq, *operands)


op("einsum", _einsum, method=False)


def _chain_matmul(*ms):
    if len(ms) == 1 and isinstance(ms[0], (list, tuple)):
        ms = tuple(ms[0])
    return jnp.linalg.multi_dot(ms) if len(ms) > 1 else ms[0]


op("linalg_multi_dot", lambda ms: _chain_matmul(ms), function=False, method=False, namespaces=_LINALG)
op("kron", jnp.kron, promote=True)


def _tensordot(a, b, dims=2):
    if isinstance(dims, (list, tuple)):
        dims = (
            tuple(dims[0]) if isinstance(dims[0], (list, tuple)) else (dims[0],),
            tuple(dims[1]) if isinstance(dims[1], (list, tuple)) else (dims[1],),
        )
    return jnp.tensordot(a, b, axes=dims)


op("tensordot", _tensordot, method=False, promote=True)


def _cross(x, y, dim=None):
    if dim is None:
        shape = jnp.broadcast_shapes(x.shape, y.shape)
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return _lcross(x, y, dim)


def _lcross(x, y, dim=-1):
    shape = jnp.broadcast_shapes(x.shape, y.shape)
    d = _wrap(dim, len(shape))
    if shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {x.shape[d]} and {y.shape[d]}"
        )
    x, y = jnp.broadcast_to(x, shape), jnp.broadcast_to(y, shape)
    return jnp.cross(x, y, axis=d)


op("cross", _cross, promote=True)
op("linalg_cross", _lcross, function=False, method=False, promote=True, namespaces=_LINALG)


def _trace(x):
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    dt = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    return jnp.trace(x, dtype=dt if (x.dtype == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.integer)) else None)


op("trace", _trace)


def _diag(x, diagonal=0):
    if x.ndim not in (1, 2):
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{x.ndim}D")
    return jnp.diag(x, diagonal)


op("diag", _diag)
op("diagonal", lambda x, offset=0, dim1=0, dim2=1: jnp.diagonal(x, offset, dim1, dim2))


def _diag_embed(x, offset=0, dim1=-2, dim2=-1):
    n = x.shape[-1] + abs(offset)
    i = jnp.arange(x.shape[-1])
    rows, cols = i + max(-offset, 0), i + max(offset, 0)
    out = jnp.zeros(x.shape[:-1] + (n, n), x.dtype).at[..., rows, cols].set(x)
    nd = out.ndim
    return jnp.moveaxis(out, (-2, -1), (_wrap(dim1, nd), _wrap(dim2, nd)))


op("diag_embed", _diag_embed)


def _tril(x, diagonal=0):
    if x.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return jnp.tril(x, diagonal)


def _triu(x, diagonal=0):
    if x.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return jnp.triu(x, diagonal)


op("tril", _tril, inplace=True)
op("triu", _triu, inplace=True)


def _square(x, name):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise RuntimeError(
            f"linalg.{name}: A must be batches of square matrices, but they are {x.shape[-2] if x.ndim > 1 else 1} "
            f"by {x.shape[-1] if x.ndim else 1} matrices"
        )
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as input. Got {x.dtype}")
    return x


SignLogAbsDet = return_type("slogdet", ("sign", "logabsdet"))
QR = return_type("qr", ("Q", "R"))
SVD = return_type("linalg_svd", ("U", "S", "Vh"))
Eigh = return_type("linalg_eigh", ("eigenvalues", "eigenvectors"))
TorchSVD = return_type("svd", ("U", "S", "V"))


def _det(x):
    return jnp.linalg.det(_square(x, "det"))


def _inv(x):
    return jnp.linalg.inv(_square(x, "inv"))


def _slogdet(x):
    s, ld = jnp.linalg.slogdet(_square(x, "slogdet"))
    return s, ld


def _logdet(x):
    s, ld = jnp.linalg.slogdet(_square(x, "logdet"))
    return jnp.where(s < 0, jnp.nan, jnp.where(s == 0, -jnp.inf, ld))


op("det", _det)
op("linalg_det", _det, function=False, method=False, namespaces=_LINALG)
op("inverse", _inv)
op("linalg_inv", _inv, function=False, method=False, namespaces=_LINALG)
op("slogdet", _slogdet, out_type=SignLogAbsDet)
op(
    "linalg_slogdet",
    _slogdet,
    function=False,
    method=False,
    out_type=return_type("linalg_slogdet", ("sign", "logabsdet")),
    namespaces=_LINALG,
)
op("logdet", _logdet)


def _solve(a, b, *, left=True):
    _square(a, "solve")
    if not left:
        vec = b.ndim == a.ndim - 1
        bt = b if vec else jnp.swapaxes(b, -1, -2)
        x = _solve(jnp.swapaxes(a, -1, -2), bt)
        return x if vec else jnp.swapaxes(x, -1, -2)
    if b.ndim == a.ndim - 1 and b.shape == a.shape[:-1]:  # a batch of vectors
        return jnp.linalg.solve(a, b[..., None])[..., 0]
    return jnp.linalg.solve(a, b)


op("linalg_solve", _solve, function=False, method=False, promote=True, namespaces=_LINALG)


def _cholesky(a, upper=False):
    lo = jnp.linalg.cholesky(_square(a, "cholesky"))
    return jnp.swapaxes(lo, -1, -2).conj() if upper else lo


op("cholesky", _cholesky)
op("linalg_cholesky", lambda a, *, upper=False: _cholesky(a, upper), function=False, method=False, namespaces=_LINALG)


def _qr(a, mode="reduced"):
    if mode == "r":
        return jnp.zeros((0,), a.dtype), jnp.linalg.qr(a, mode="r")
    return tuple(jnp.linalg.qr(a, mode=mode))


op("linalg_qr", _qr, function=False, method=False, out_type=return_type("linalg_qr", ("Q", "R")), namespaces=_LINALG)
op("qr", lambda a, some=True: _qr(a, "reduced" if some else "complete"), out_type=QR)


def _svd(a, full_matrices=True, *, driver=None):
    u, s, vh = jnp.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def _torch_svd(a, some=True, compute_uv=True):
    u, s, vh = jnp.linalg.svd(a, full_matrices=not some)
    v = jnp.swapaxes(vh, -1, -2).conj()
    if not compute_uv:
        return jnp.zeros_like(u), s, jnp.zeros_like(v)
    return u, s, v


op("linalg_svd", _svd, function=False, method=False, out_type=SVD, namespaces=_LINALG)
op("svd", _torch_svd, out_type=TorchSVD)
op(
    "linalg_svdvals",
    lambda a, *, driver=None: jnp.linalg.svd(a, compute_uv=False),
    function=False,
    method=False,
    namespaces=_LINALG,
)


def _eigh(a, UPLO="L"):
    w, v = jnp.linalg.eigh(_square(a, "eigh"), UPLO=UPLO, symmetrize_input=True)
    return w, v


op("linalg_eigh", _eigh, function=False, method=False, out_type=Eigh, namespaces=_LINALG)
op("linalg_eigvalsh", lambda a, UPLO="L": _eigh(a, UPLO)[0], function=False, method=False, namespaces=_LINALG)
op(
    "linalg_pinv",
    lambda a, *, atol=None, rtol=None, hermitian=False: jnp.linalg.pinv(a, rtol=rtol, hermitian=hermitian),
    function=False,
    method=False,
    namespaces=_LINALG,
)
op("pinverse", lambda a, rcond=1e-15: jnp.linalg.pinv(a, rtol=rcond))


def _matrix_power(a, n):
    if n < 0 and is_half(a.dtype):  # (under autocast: torch inverts in float32, multiplies in a.dtype)
        return jnp.linalg.matrix_power(jnp.linalg.inv(a.astype(jnp.float32)).astype(a.dtype), -n)
    return jnp.linalg.matrix_power(a, n)


def _matrix_power_autocast(kw: dict):
    """torch composes ``matrix_power`` from matmuls: under autocast it comes out in the low dtype
    when it multiplies (|n| >= 2). An ``n`` given by position is not seen here: taken as >= 2."""
    n = kw.get("n", 2)
    return "linalg_matrix_power" if not isinstance(n, int) or abs(n) >= 2 else None


def _ormqr(a, tau, other, left=True, transpose=False):
    """``Q @ other`` (``left``) or ``other @ Q``, with ``Q^H`` for ``transpose``; Q = H_1 ... H_k from
    the reflectors in ``a``'s columns below the diagonal (implicit 1 on it) and ``tau``
    (LAPACK's ``ormqr``, as ``geqrf`` leaves them). A scan of rank-1 updates: differentiable."""
    name = "torch.ormqr"
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if other.ndim < 2:
        raise RuntimeError(f"{name}: other must have at least 2 dimensions.")
    if other.ndim != a.ndim:
        raise RuntimeError(
            f"{name}: Expected other to have the same number of dimensions as input, but got other.ndim equal to "
            f"{other.ndim} and input.ndim is equal to {a.ndim}"
        )
    side = -2 if left else -1
    if other.shape[side] != a.shape[-2]:
        raise RuntimeError(f"{name}: other.shape[{side}] must be equal to input.shape[-2]")
    k = tau.shape[-1]
    if k != min(other.shape[side], a.shape[-1]):
        raise RuntimeError(f"{name}: tau.shape[-1] must be equal to min(other.shape[{side}], input.shape[-1])")
    for what, x in (("tau", tau), ("other", other)):
        if x.dtype != a.dtype:  # (torch's message has no space after "dtype")
            raise RuntimeError(
                f"{name}: Expected input and {what} to have the same dtype, but input has dtype"
                f"{torch_name(a.dtype)} and {what} has dtype {torch_name(x.dtype)}"
            )
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise NotImplementedError(f"\"ormqr_cpu\" not implemented for '{torch_name(a.dtype)}'")
    n = a.shape[-2]
    v = jnp.tril(a[..., :, :k], -1) + jnp.eye(n, k, dtype=a.dtype)
    t = tau.conj() if transpose else tau
    # left: Q C applies H_k first, Q^H C applies H_1^H first; right: C Q applies H_1 first
    reverse = left != transpose

    def apply(c, vt):
        vi, ti = vt
        if left:  # c <- (I - t v v^H) c
            w = jnp.einsum("...m,...mn->...n", vi.conj(), c)
            return c - ti[..., None, None] * vi[..., :, None] * w[..., None, :], None
        w = jnp.einsum("...mn,...n->...m", c, vi)  # c <- c (I - t v v^H)
        return c - ti[..., None, None] * w[..., :, None] * vi.conj()[..., None, :], None

    out, _ = jax.lax.scan(apply, other, (jnp.moveaxis(v, -1, 0), jnp.moveaxis(t, -1, 0)), reverse=reverse)
    return out


op("ormqr", _ormqr)


op(
    "linalg_matrix_power",
    _matrix_power,
    function=False,
    method=False,
    namespaces=_LINALG,
    autocast=_matrix_power_autocast,
)
alias("matrix_power", "linalg_matrix_power", function=True, method=True, namespaces=())
op(
    "linalg_matrix_rank",
    lambda a, *, atol=None, rtol=None, hermitian=False: jnp.linalg.matrix_rank(a, rtol=rtol).astype(
        jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    ),
    function=False,
    method=False,
    differentiable=False,
    namespaces=_LINALG,
)


# --------------------------------------------------------------------------- norms
def _matrix_norm(a, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    if dtype is not None:
        a = a.astype(dtype)
    a = _to_float(a)
    if a.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    d0, d1 = _wrap(dim[0], a.ndim), _wrap(dim[1], a.ndim)
    if ord == "fro":
        return vector_norm(a, 2, (d0, d1), keepdim)
    m = jnp.moveaxis(a, (d0, d1), (-2, -1))
    if ord == "nuc":
        r = jnp.sum(jnp.linalg.svd(m, compute_uv=False), axis=-1)
    elif ord in (2, -2):
        s = jnp.linalg.svd(m, compute_uv=False)
        r = jnp.max(s, axis=-1) if ord == 2 else jnp.min(s, axis=-1)
    elif ord in (1, -1):
        c = jnp.sum(jnp.abs(m), axis=-2)
        r = jnp.max(c, axis=-1) if ord == 1 else jnp.min(c, axis=-1)
    elif ord in (float("inf"), float("-inf")):
        c = jnp.sum(jnp.abs(m), axis=-1)
        r = jnp.max(c, axis=-1) if ord > 0 else jnp.min(c, axis=-1)
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if keepdim:
        for ax in sorted((d0, d1)):
            r = jnp.expand_dims(r, ax)
    return r


def _linalg_norm(a, ord=None, dim=None, keepdim=False, *, dtype=None):
    if dim is not None and not isinstance(dim, (list, tuple)):
        dim = (dim,)
    if ord is None:
        return vector_norm(a, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if a.ndim == 2:
            return _matrix_norm(a, ord, (-2, -1), keepdim, dtype=dtype)
        if a.ndim != 1:
            raise RuntimeError(
                f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {a.ndim}D."
            )
        return vector_norm(a, ord, None, keepdim, dtype=dtype)
    if len(dim) == 2:
        return _matrix_norm(a, ord, tuple(dim), keepdim, dtype=dtype)
    return vector_norm(a, ord, tuple(dim), keepdim, dtype=dtype)


op("linalg_norm", _linalg_norm, function=False, method=False, namespaces=_LINALG)
op("linalg_vector_norm", vector_norm, function=False, method=False, namespaces=_LINALG)
op("linalg_matrix_norm", _matrix_norm, function=False, method=False, namespaces=_LINALG)


def _cdist(x1, x2, p=2.0, compute_mode=None):
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    diff = x1[..., :, None, :] - x2[..., None, :, :]
    return vector_norm(diff, p, -1)


op("cdist", _cdist, method=False, promote=True)


def _vecdot(x, y, *, dim=-1):
    return jnp.sum(jnp.conj(x) * y, axis=dim)


op("linalg_vecdot", _vecdot, function=False, method=False, promote=True, namespaces=_LINALG)
