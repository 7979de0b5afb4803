"""``Embedding``: a lookup table ``weight`` of shape ``(num_embeddings, embedding_dim)``
(``flax.linen.Embed`` does the lookup), torch's init ``N(0, 1)`` with the ``padding_idx``
row zeroed, ``max_norm`` renormalization and ``from_pretrained``."""

from __future__ import annotations

import jax

from .._autograd import no_grad
from .._tensor import Parameter, Tensor
from . import _functional_layers as F2
from . import init
from ._linear import _empty
from ._module import Module

__all__ = ["Embedding"]


def _padding_idx(padding_idx: int | None, num_embeddings: int, what: str) -> int | None:
    """torch's range check of ``padding_idx`` (``what`` names it in the message), made non-negative."""
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num_embeddings, f"{what} must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -num_embeddings, f"{what} must be within num_embeddings"
            padding_idx = num_embeddings + padding_idx
    return padding_idx


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by integer tensors.

    ``sparse=True`` is accepted for compatibility; gradients are dense.
    """

    __constants__ = [
        "num_embeddings",
        "embedding_dim",
        "padding_idx",
        "max_norm",
        "norm_type",
        "scale_grad_by_freq",
        "sparse",
    ]

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _padding_idx(padding_idx, num_embeddings, "Padding_idx")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self._init_weight(_weight, dtype, requires_grad=not _freeze)
        self.sparse = sparse

    def _init_weight(self, _weight: Tensor | None, dtype, requires_grad: bool = True) -> None:
        """``weight`` from ``_weight`` (shape-checked), or fresh and initialized by ``reset_parameters``."""
        if _weight is None:
            self.weight = Parameter(_empty((self.num_embeddings, self.embedding_dim), dtype), requires_grad)
            self.reset_parameters()
        else:
            assert list(_weight.shape) == [self.num_embeddings, self.embedding_dim], (
                "Shape of weight does not match num_embeddings and embedding_dim"
            )
            self.weight = Parameter(_weight, requires_grad)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                with jax.ensure_compile_time_eval():
                    v = self.weight._read().at[self.padding_idx].set(0)
                self.weight._assign(v)

    def forward(self, input: Tensor) -> Tensor:
        return F2.embedding(
            input, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is (a copy of the storage of) ``embeddings``; frozen by default."""
        assert embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional"
        rows, cols = tuple(embeddings.shape)
        return cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )
