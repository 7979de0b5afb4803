"""``nn.utils.parametrizations.orthogonal``: a weight kept orthogonal (or unitary) by
computing it from an unconstrained tensor on every access.

For a tall ``n x k`` matrix (a wide one is handled transposed) the maps are torch's:

- ``"matrix_exp"`` / ``"cayley"``: the lower triangle of ``original``, padded to ``n x n``
  with zeros, gives the skew-Hermitian ``A = X - X^H``; ``Q`` is the first ``k`` columns of
  ``exp(A)`` or of the Cayley transform ``(I - A/2)^-1 (I + A/2)``.
- ``"householder"``: the columns of ``original`` below the diagonal are Householder vectors
  with ``tau = 2 / (1 + |v|^2)`` (each reflector exactly orthogonal), and column ``j`` is
  multiplied by ``int(original[j, j])``, which ``right_inverse`` sets to +-1 (it gets no
  gradient, so training keeps it).

With ``use_trivialization=True`` the result is ``base @ Q`` where ``base`` is an orthogonal
``n x n`` buffer: ``right_inverse(W)`` (registration, or ``module.weight = W``) stores an
orthogonalized ``W`` there (completed with random columns when ``W`` is not square) and
resets ``original`` to ``-I``, for which every map gives the first ``k`` columns of ``I``;
so right after registration ``weight`` is ``W`` made orthogonal (QR with a positive
``R`` diagonal), as in torch. The random completion columns come from eagerjax's generator:
they matter for later steps, not for that first value.

Nothing reads values on the host: whether an assigned square ``W`` is already orthogonal
is decided with ``where`` (torch's ``allclose`` check), so assignments work in every mode.
"""

from __future__ import annotations

from .. import _ops  # noqa: F401 - (the op table is loaded before these use it)
from .._autograd import no_grad
from .._dtype_info import finfo
from .._tensor import Tensor
from ._module import Module
from ._parametrize import register_parametrization

_MAPS = ("matrix_exp", "cayley", "householder")


def _ej():
    import eagerjax

    return eagerjax


def _diag_mask(t: Tensor) -> Tensor:
    """True on the main diagonal of ``t``'s (possibly non-square) matrices."""
    n, k = t.shape[-2:]
    return _ej().eye(n, k, dtype=_ej().bool)


def _make_orthogonal(a: Tensor) -> Tensor:
    """The Q of ``a``'s QR decomposition with R's diagonal made positive (unique for full rank)."""
    ej = _ej()
    x, tau = ej.geqrf(a)
    q = ej.linalg.householder_product(x, tau)
    return q * x.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _is_orthogonal(q: Tensor) -> Tensor:
    """torch's ``allclose(Q^H Q, I, atol=10 n eps)`` over the whole batch, as a 0-d bool tensor."""
    ej = _ej()
    n, k = q.shape[-2:]
    eye = ej.eye(k, dtype=q.dtype)
    atol = 10.0 * n * finfo(q.dtype).eps
    return ((q.mH @ q - eye).abs() <= atol + 1e-5 * eye.abs()).all()


class _Orthogonal(Module):
    """The parametrization module (``parametrizations.<name>[0]``); ``base`` is its buffer."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True) -> None:
        super().__init__()
        if weight.is_complex() and orthogonal_map == "householder":
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = use_trivialization
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        ej = _ej()
        n, k = x.shape[-2:]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:
                x = ej.cat([x, x.new_zeros(n, n - k).expand(*x.shape[:-2], -1, -1)], dim=-1)
            a = x - x.mH
            if self.orthogonal_map == "matrix_exp":
                q = ej.linalg.matrix_exp(a)
            else:
                eye = ej.eye(n, dtype=a.dtype)
                q = ej.linalg.solve(eye - 0.5 * a, eye + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (a * a).sum(dim=-2))
            q = ej.linalg.householder_product(a, tau)
            # (the sign is data: +-1 from right_inverse, and truncation toward 0 as torch's .int())
            q = q * x.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if self.use_trivialization and self.base is not None:
            q = self.base @ q
        return q.mT if transposed else q

    def right_inverse(self, q: Tensor) -> Tensor:
        """The ``original`` that makes ``forward`` return ``q`` (``q`` orthogonalized first)."""
        if tuple(q.shape) != tuple(self.shape):
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape {q.shape}."
            )
        ej = _ej()
        with no_grad():
            q_init = q
            n, k = q.shape[-2:]
            transposed = n < k
            if transposed:
                q = q.mT
                n, k = k, n
            if not self.use_trivialization:
                if self.orthogonal_map != "householder":
                    raise NotImplementedError(
                        "It is not possible to assign to the matrix exponential or the Cayley parametrizations "
                        "when use_trivialization=False."
                    )
                a, tau = ej.geqrf(q)
                # diagonal -> sign(R_jj), flipped where LAPACK used no reflection (tau == 0)
                d = a.diagonal(dim1=-2, dim2=-1).sign()
                d = ej.where(tau == 0, -d, d)
                a = ej.where(_diag_mask(a), d.unsqueeze(-2), a)
                return a.mT if transposed else a
            if n == k:
                q = ej.where(_is_orthogonal(q), q, _make_orthogonal(q))
            else:
                fill = ej.randn(*q.shape[:-2], n, n - k, dtype=q.dtype)
                q = _make_orthogonal(ej.cat([q, fill], dim=-1))
            self.base = q
            return ej.where(_diag_mask(q_init), -1.0, 0.0).to(q_init.dtype).expand_as(q_init).clone()


def orthogonal(
    module: Module, name: str = "weight", orthogonal_map: str | None = None, *, use_trivialization: bool = True
) -> Module:
    """Parametrize ``module.<name>`` (a matrix or batch of matrices) to be orthogonal/unitary.

    ``orthogonal_map`` defaults to ``"matrix_exp"`` for square or complex matrices and to
    ``"householder"`` otherwise; see the module docstring for the maps and ``base``.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square or weight.is_complex() else "householder"
    if orthogonal_map not in _MAPS:
        raise ValueError(
            f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: {orthogonal_map}'
        )
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    register_parametrization(module, name, orth, unsafe=True)
    return module
