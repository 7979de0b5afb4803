"""Tensors from Python data: ``tensor``, ``as_tensor``, ``from_numpy``."""

from __future__ import annotations

import numpy as np

from ._tensor import Tensor, _to_array, check_device


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (torch's dtype inference: floats -> float32)."""
    check_device(device)
    t = Tensor._make(_to_array(data, dtype))
    if requires_grad:
        t._require_grad()
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    check_device(device)
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


def _legacy_type(name: str, dtype) -> type:
    """torch's typed constructors (``LongTensor(data)`` / ``LongTensor(*sizes)``), and the
    type ``isinstance(t, LongTensor)`` asks about (a Tensor of that dtype)."""

    class _Meta(type):
        def __instancecheck__(cls, obj) -> bool:
            return isinstance(obj, Tensor) and obj.dtype == dtype

        def __call__(cls, *args) -> Tensor:
            return Tensor(*args, dtype=dtype)

    return _Meta(name, (), {"__doc__": f"torch.{name}: a tensor of dtype {np.dtype(dtype).name}."})


def _legacy_dtypes() -> dict:
    from . import _dtypes

    return {
        "FloatTensor": _dtypes.float32,
        "DoubleTensor": _dtypes.float64,
        "HalfTensor": _dtypes.float16,
        "BFloat16Tensor": _dtypes.bfloat16,
        "LongTensor": _dtypes.int64,
        "IntTensor": _dtypes.int32,
        "ShortTensor": _dtypes.int16,
        "CharTensor": _dtypes.int8,
        "ByteTensor": _dtypes.uint8,
        "BoolTensor": _dtypes.bool_,
    }


LEGACY_DTYPES = _legacy_dtypes()  # torch's legacy tensor type names -> dtype


LEGACY_TYPES = {n: _legacy_type(n, d) for n, d in LEGACY_DTYPES.items()}
