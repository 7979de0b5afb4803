"""Tensor memory metadata torch code reads: ``nbytes``, ``itemsize``, ``stride()`` and
``storage_offset()``; and the ``real``/``imag`` attributes (properties in torch).

eagerjax tensors own a whole jax array and have no strided views, so every tensor is
C-contiguous: strides are the contiguous ones torch gives a fresh tensor (a dimension
of size 0 or 1 counts as 1 in the products), and the storage offset is 0. All of it
comes from the shape and dtype, so it works under ``ej.compile`` and ``ej.lazy()``.
"""

from __future__ import annotations

import numpy as np

from ._tensor import Tensor


def _itemsize(self: Tensor) -> int:
    """Bytes per element (torch.Tensor.itemsize)."""
    return np.dtype(self.dtype).itemsize


def _nbytes(self: Tensor) -> int:
    """Bytes of the tensor's elements (torch.Tensor.nbytes)."""
    return self.numel() * np.dtype(self.dtype).itemsize


def contiguous_strides(shape: tuple) -> tuple[int, ...]:
    """torch's strides of a contiguous tensor of ``shape``, in elements."""
    out = []
    acc = 1
    for s in reversed(tuple(shape)):
        out.append(acc)
        acc *= max(int(s), 1)
    return tuple(reversed(out))


def _stride(self: Tensor, dim: int | None = None) -> tuple[int, ...] | int:
    """The step in elements between neighbours along each dimension (torch.Tensor.stride);
    eagerjax tensors are always contiguous."""
    strides = contiguous_strides(tuple(self.shape))
    if dim is None:
        return strides
    n = len(strides)
    if n == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return strides[dim % n]


def _storage_offset(self: Tensor) -> int:
    """Always 0: a tensor owns its whole array (torch.Tensor.storage_offset)."""
    return 0


Tensor.itemsize = property(_itemsize)
Tensor.nbytes = property(_nbytes)
Tensor.stride = _stride
Tensor.storage_offset = _storage_offset


def _part(name: str) -> property:
    def get(self: Tensor) -> Tensor:
        from ._generate import functional

        return getattr(functional, name)(self)

    get.__doc__ = f"The {name} part (an attribute, as in torch: ``z.{name}``)."
    return property(get)


Tensor.real = _part("real")
Tensor.imag = _part("imag")
