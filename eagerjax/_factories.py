"""Tensors from Python data: ``tensor``, ``as_tensor``, ``from_numpy``."""

from __future__ import annotations

import numpy as np

from ._tensor import Tensor, _to_array


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (torch's dtype inference: floats -> float32)."""
    t = Tensor._make(_to_array(data, dtype))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    return Tensor._make(_to_array(data, dtype))


def from_numpy(a: np.ndarray) -> Tensor:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    return Tensor._make(_to_array(a, None))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()
