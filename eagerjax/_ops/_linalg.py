"""Linear algebra rows: products, triangular/diagonal helpers, decompositions and ``torch.linalg``.

Rows in the ``linalg`` namespace are named ``linalg_<name>`` and carry
``namespaces=("linalg",)``: they are public as ``ej.linalg.<name>``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._dtypes import c_type, torch_name
from .._tensor import not_a_tensor
from ._reduction import _to_float, _wrap, abs0, return_type, vector_norm
from ._registry import alias, op

_LINALG = ("linalg",)


def _shape_str(s) -> str:
    return "x".join(map(str, s))


# --------------------------------------------------------------------------- operand dtypes
# torch's products never promote: operands of different dtypes are an error (autocast casts
# first, inside the kernel, so these checks see the dtypes the product really gets).
_c_name = c_type


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


def _tensors(fn: str, *named) -> None:
    """torch's argument check (``not_a_tensor``): inside the kernel a Tensor is an array, and a
    Python number or list arrives as itself, which has no ``ndim``."""
    for pos, (name, v) in enumerate(named, 1):
        if not hasattr(v, "ndim"):
            raise not_a_tensor(fn, name, pos, v)


def _matmul(x, y):
    _tensors("matmul", ("input", x), ("other", y))
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
    _tensors("mm", ("input", x), ("mat2", y))
    if x.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if y.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return _matmul(x, y)


def _bmm(x, y):
    _tensors("bmm", ("input", x), ("mat2", y))
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
    _tensors("mv", ("input", x), ("vec", v))
    if x.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {x.ndim}, {v.ndim}")
    if x.shape[1] != v.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({x.shape[0]}), mat ({_shape_str(x.shape)}), vec ({v.shape[0]})")
    _check_mv(v, x, v)
    return jnp.matmul(x, v)


def _dot(x, y):
    _tensors("dot", ("input", x), ("tensor", y))
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


def _multi_dot(ms):
    ms = tuple(ms)
    n = len(ms)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    for i, m in enumerate(ms):
        if i in (0, n - 1):
            if m.ndim not in (1, 2):
                which = "first" if i == 0 else "last"
                raise RuntimeError(f"multi_dot(): the {which} tensor must be 1D or 2D but got {m.ndim}D")
        elif m.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {m.ndim}D")
        if m.dtype != ms[0].dtype:
            raise RuntimeError(
                f"multi_dot(): all tensors must have be the same dtype but tensor 0 is {_c_name(ms[0].dtype)} "
                f"and tensor {i} {_c_name(m.dtype)}"
            )
    for i in range(1, n):
        a, b = ms[i - 1], ms[i]
        if a.shape[-1] != b.shape[0]:
            raise RuntimeError(
                f"multi_dot(): tensors {i - 1} and {i} with shapes {list(a.shape)} and {list(b.shape)} "
                "cannot be multiplied"
            )
    return jnp.linalg.multi_dot(ms)


op("linalg_multi_dot", _multi_dot, function=False, method=False, namespaces=_LINALG)
op("kron", jnp.kron, promote=True)


def _tensordot(a, b, dims=2):
    if isinstance(dims, (list, tuple)):
        dims = (
            tuple(dims[0]) if isinstance(dims[0], (list, tuple)) else (dims[0],),
            tuple(dims[1]) if isinstance(dims[1], (list, tuple)) else (dims[1],),
        )
    return jnp.tensordot(a, b, axes=dims)


op("tensordot", _tensordot, method=False, promote=True)


def _same_ndim(x, y) -> None:
    if x.ndim != y.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")


def _cross(x, y, dim=None):
    _same_ndim(x, y)
    if dim is None:
        shape = jnp.broadcast_shapes(x.shape, y.shape)
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return _lcross(x, y, dim)


def _lcross(x, y, dim=-1):
    _same_ndim(x, y)
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
    if jnp.iscomplexobj(x):  # the complex log of det: log|det| + i arg(det)
        r = ld.astype(x.dtype) + 1j * jnp.angle(s).astype(ld.dtype)
        return jnp.where(s == 0, jnp.asarray(complex(-np.inf, np.nan), x.dtype), r)
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
    """A X = B (``left``) or X A = B; B is a (batch of) vector(s) when it is 1-D or
    ``B.shape == A.shape[:-1]`` (torch's rule), else a (batch of) matrices; batches broadcast."""
    _square(a, "solve")
    if b.dtype != a.dtype:
        raise RuntimeError(
            f"linalg.solve: Expected A and B to have the same dtype, but found A of type {torch_name(a.dtype)} "
            f"and B of type {torch_name(b.dtype)} instead"
        )
    vec = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if b.ndim == 0:
        raise RuntimeError("linalg.solve: The input tensor B must have at least 2 dimensions.")
    b2 = b[..., None] if vec else b
    n = a.shape[-1]
    if (b2.shape[-2] if left else b2.shape[-1]) != n:
        raise RuntimeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
            f"({n}x{n} and {b2.shape[-2]}x{b2.shape[-1]})"
        )
    batch = jnp.broadcast_shapes(a.shape[:-2], b2.shape[:-2])
    a = jnp.broadcast_to(a, batch + a.shape[-2:])
    b2 = jnp.broadcast_to(b2, batch + b2.shape[-2:])
    if left:
        x = jnp.linalg.solve(a, b2)
    else:  # X A = B  <=>  A^T X^T = B^T
        x = jnp.swapaxes(jnp.linalg.solve(jnp.swapaxes(a, -1, -2), jnp.swapaxes(b2, -1, -2)), -1, -2)
    return x[..., 0] if vec else x


op("linalg_solve", _solve, function=False, method=False, namespaces=_LINALG)


def _herm_from(a, upper: bool):
    """The Hermitian matrix torch's ``eigh``/``cholesky`` read from one triangle of ``a`` (its
    diagonal's imaginary part dropped by the symmetrizing decompositions). Its derivative is
    the identity: the gradient is the one jax gives the whole (symmetrized) input, which is
    torch's Hermitian gradient."""
    tri, off = (jnp.triu(a), jnp.triu(a, 1)) if upper else (jnp.tril(a), jnp.tril(a, -1))
    h = tri + jnp.swapaxes(off, -1, -2).conj()
    return lax.stop_gradient(h) + (a - lax.stop_gradient(a))


def _cholesky(a, upper=False):
    lo = jnp.linalg.cholesky(_herm_from(_square(a, "cholesky"), upper))
    return jnp.swapaxes(lo, -1, -2).conj() if upper else lo


def _cholesky_info(a, upper=False):
    """0, or the order of the first leading minor (of the triangle read) that is not
    positive-definite (``linalg.cholesky_ex``'s ``info``)."""
    from ._linalg5 import _cholesky_info as sweep  # (imports this module)

    h = _herm_from(a, upper)
    ok = jnp.all(jnp.isfinite(jnp.linalg.cholesky(h)))
    return lax.cond(ok, lambda x: jnp.zeros(x.shape[:-2], jnp.int32), sweep, h)


_CHOL_INFO = op("_cholesky_info", _cholesky_info, function=False, method=False, differentiable=False)


def _cholesky_check(name: str):
    """A ``check=`` raising torch's LinAlgError for a matrix that is not positive-definite
    (eager only: dispatch skips checks while compiling or recording)."""

    def check(a, upper=False, **kw):
        from .._dispatch import dispatch
        from ._linalg5 import LinAlgError

        if not hasattr(a, "_value") or not jnp.issubdtype(a.dtype, jnp.inexact) or a.ndim < 2:
            return
        if a.shape[-1] != a.shape[-2] or 0 in a.shape:
            return
        info = np.asarray(dispatch(_CHOL_INFO, (a, bool(kw.get("upper", upper))), {})._value)
        bad = np.flatnonzero(info.reshape(-1) > 0)
        if bad.size:
            k = int(bad[0])
            where = f"(Batch element {k}): " if info.ndim else ""
            raise LinAlgError(
                f"{name}: {where}The factorization could not be completed because the input is not "
                f"positive-definite (the leading minor of order {int(info.reshape(-1)[k])} is not positive-definite)."
            )

    return check


op("cholesky", _cholesky, check=_cholesky_check("cholesky"))
op(
    "linalg_cholesky",
    lambda a, *, upper=False: _cholesky(a, upper),
    function=False,
    method=False,
    namespaces=_LINALG,
    check=_cholesky_check("linalg.cholesky"),
)


def _refuse_grad(msg: str):
    """The identity, whose derivative raises ``RuntimeError(msg)`` (when a backward reaches it)."""

    @jax.custom_jvp
    def ident(x):
        return x

    @ident.defjvp
    def _jvp(primals, tangents):
        raise RuntimeError(msg)

    return ident


_QR_R = _refuse_grad(
    "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
    "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr."
)
_QR_COMPLETE = _refuse_grad("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")


def _qr(a, mode="reduced"):
    if mode == "r":
        return jnp.zeros((0,), a.dtype), jnp.linalg.qr(_QR_R(a), mode="r")
    if mode == "complete" and a.ndim >= 2 and a.shape[-2] > a.shape[-1]:
        a = _QR_COMPLETE(a)
    return tuple(jnp.linalg.qr(a, mode=mode))


op("linalg_qr", _qr, function=False, method=False, out_type=return_type("linalg_qr", ("Q", "R")), namespaces=_LINALG)
op("qr", lambda a, some=True: _qr(a, "reduced" if some else "complete"), out_type=QR)


@jax.custom_jvp
def _svd_full(a):
    return tuple(jnp.linalg.svd(a, full_matrices=True))


@_svd_full.defjvp
def _svd_full_jvp(primals, tangents):
    """The full SVD of a non-square matrix, differentiated as torch does: through the reduced
    factors (the first k = min(m, n) columns of U, rows of Vh), the others get no gradient."""
    (a,), (da,) = primals, tangents
    u, s, vh = _svd_full(a)
    k = s.shape[-1]

    def reduced(x):
        ur, sr, vhr = jnp.linalg.svd(x, full_matrices=False)
        # each reduced singular pair given the sign (phase) of the full one
        c = jnp.sum(ur.conj() * u[..., :k], axis=-2)
        c = lax.stop_gradient(c / jnp.where(c == 0, 1, jnp.abs(c)).astype(c.dtype))
        return ur * c[..., None, :], sr, vhr * c.conj()[..., :, None]

    _, (du, ds, dvh) = jax.jvp(reduced, (a,), (da,))
    m, n = a.shape[-2:]
    du = jnp.concatenate([du, jnp.zeros(u.shape[:-1] + (m - k,), du.dtype)], axis=-1)
    dvh = jnp.concatenate([dvh, jnp.zeros(vh.shape[:-2] + (n - k, n), dvh.dtype)], axis=-2)
    return (u, s, vh), (du, ds, dvh)


def _svd_any(a, full_matrices):
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise RuntimeError(
            f"linalg.svd: Expected a floating point or complex tensor as input. Got {torch_name(a.dtype)}"
        )
    if full_matrices and a.shape[-1] != a.shape[-2]:
        return _svd_full(a)
    return tuple(jnp.linalg.svd(a, full_matrices=False))


def _svd(a, full_matrices=True, *, driver=None):
    return _svd_any(a, full_matrices)


def _torch_svd(a, some=True, compute_uv=True):
    if not compute_uv:  # torch: zero-filled U (m, m) and V (n, n)
        m, n = a.shape[-2:]
        s = jnp.linalg.svd(a, compute_uv=False)
        return jnp.zeros(a.shape[:-2] + (m, m), a.dtype), s, jnp.zeros(a.shape[:-2] + (n, n), a.dtype)
    u, s, vh = _svd_any(a, not some)
    return u, s, jnp.swapaxes(vh, -1, -2).conj()


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
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    # torch reads only the UPLO triangle
    w, v = jnp.linalg.eigh(_herm_from(_square(a, "eigh"), UPLO == "U"), symmetrize_input=True)
    return w, v


op("linalg_eigh", _eigh, function=False, method=False, out_type=Eigh, namespaces=_LINALG)
op("linalg_eigvalsh", lambda a, UPLO="L": _eigh(a, UPLO)[0], function=False, method=False, namespaces=_LINALG)


def _atol_rtol(a, atol, rtol):
    """torch's tolerances: ``atol`` 0 when not given; ``rtol`` eps * max(m, n) when not given,
    unless ``atol`` is (and is > 0): then 0. The cut is ``max(atol, rtol * largest)``."""
    real = jnp.real(jnp.zeros((), a.dtype)).dtype
    default = float(jnp.finfo(real).eps) * max(a.shape[-2], a.shape[-1])
    if rtol is None:
        if atol is None:
            rtol = default
        elif isinstance(atol, (int, float)):
            rtol = 0.0 if atol > 0 else default
        else:
            rtol = jnp.where(atol > 0, 0.0, default)
    return (0.0 if atol is None else atol), rtol


def _check_tol(name, *tols):
    for t in tols:
        if t is not None and not isinstance(t, (int, float)) and jnp.iscomplexobj(t):
            raise RuntimeError(f"{name}: {'atol' if t is tols[0] else 'rtol'} tensor of complex type is not supported.")


def _pinv(a, *, atol=None, rtol=None, hermitian=False):
    if a.ndim < 2 or not jnp.issubdtype(a.dtype, jnp.inexact):
        raise RuntimeError(
            f"linalg.pinv({torch_name(a.dtype)}{{{list(a.shape)}}}): expected a tensor with 2 or more dimensions "
            "of float, double, cfloat or cdouble types"
        )
    _check_tol("linalg.pinv", atol, rtol)
    if hermitian:  # torch reads the lower triangle
        a = _herm_from(a, False)
    atol, rtol = _atol_rtol(a, atol, rtol)
    if not (isinstance(atol, (int, float)) and atol == 0):
        # jax's pinv cuts at rtol * largest: the same cut as an rtol of max(atol / largest, rtol)
        s = lax.stop_gradient(jnp.linalg.svd(a, compute_uv=False, hermitian=hermitian))
        top = s[..., 0] if not hermitian else jnp.max(s, axis=-1)
        atol = jnp.asarray(atol, top.dtype)
        rtol = jnp.maximum(jnp.where(top > 0, atol / jnp.where(top > 0, top, 1), jnp.inf), rtol)
    return jnp.linalg.pinv(a, rtol=rtol, hermitian=hermitian)


op("linalg_pinv", _pinv, function=False, method=False, namespaces=_LINALG)
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


def _matrix_rank(a, tol=None, hermitian=False, *, atol=None, rtol=None):
    """torch.linalg.matrix_rank: the number of singular values (|eigenvalues| of the lower
    triangle's Hermitian matrix, ``hermitian``) above ``max(atol, rtol * largest)``; ``tol`` is
    the deprecated absolute tolerance (``rtol`` then 0)."""
    if a.ndim < 2:
        raise RuntimeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise RuntimeError("This function doesn't handle types other than float and double")
    if tol is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg_matrix_rank(): tol cannot be given together with atol or rtol")
        atol, rtol = tol, 0.0
    _check_tol("torch.linalg.matrix_rank", atol, rtol)
    atol, rtol = _atol_rtol(a, atol, rtol)
    if hermitian:
        s = jnp.abs(jnp.linalg.eigvalsh(_herm_from(a, False)))
    else:
        s = jnp.linalg.svd(a, compute_uv=False)
    top = jnp.max(s, axis=-1, keepdims=True) if s.shape[-1] else jnp.zeros(s.shape[:-1] + (1,), s.dtype)
    atol = jnp.asarray(atol, s.dtype)
    rtol = jnp.asarray(rtol, s.dtype)
    cut = jnp.maximum(atol[..., None], rtol[..., None] * top)
    return jnp.sum(s > cut, axis=-1).astype(jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)


op(
    "linalg_matrix_rank",
    _matrix_rank,
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
    elif ord in (1, -1):  # (abs0: torch's zero gradient at zero entries)
        c = jnp.sum(abs0(m), axis=-2)
        r = jnp.max(c, axis=-1) if ord == 1 else jnp.min(c, axis=-1)
    elif ord in (float("inf"), float("-inf")):
        c = jnp.sum(abs0(m), axis=-1)
        r = jnp.max(c, axis=-1) if ord > 0 else jnp.min(c, axis=-1)
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if keepdim:
        for ax in sorted((d0, d1)):
            r = jnp.expand_dims(r, ax)
    return r


def _require_inexact(a, name: str) -> None:
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {torch_name(a.dtype)}")


def _lvector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    _require_inexact(x, "linalg.vector_norm")
    if isinstance(ord, str):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' (position 2) must be Number, not {type(ord).__name__}")
    return vector_norm(x, ord, dim, keepdim, dtype=dtype)


def _lmatrix_norm(a, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    if a.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    _require_inexact(a, "linalg.matrix_norm")
    if not isinstance(dim, (list, tuple)) or len(dim) != 2:
        n = len(dim) if isinstance(dim, (list, tuple)) else 1
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {n}")
    return _matrix_norm(a, ord, tuple(dim), keepdim, dtype=dtype)


def _linalg_norm(a, ord=None, dim=None, keepdim=False, *, dtype=None):
    if dim is not None and not isinstance(dim, (list, tuple)):
        dim = (dim,)
    if dim is not None:
        if len(dim) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}")
    elif ord is not None and a.ndim not in (1, 2):
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {a.ndim}D."
        )
    if isinstance(ord, str):  # "fro" / "nuc": always a matrix norm
        return _lmatrix_norm(a, ord, (0, 1) if dim is None else tuple(dim), keepdim, dtype=dtype)
    if ord is not None and ((dim is not None and len(dim) == 2) or (dim is None and a.ndim == 2)):
        return _lmatrix_norm(a, ord, (-2, -1) if dim is None else tuple(dim), keepdim, dtype=dtype)
    return _lvector_norm(a, 2 if ord is None else ord, None if dim is None else tuple(dim), keepdim, dtype=dtype)


op("linalg_norm", _linalg_norm, function=False, method=False, namespaces=_LINALG)
op("linalg_vector_norm", _lvector_norm, function=False, method=False, namespaces=_LINALG)
op("linalg_matrix_norm", _lmatrix_norm, function=False, method=False, namespaces=_LINALG)


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
