"""torch's dtype queries: ``finfo``/``iinfo`` and the type-promotion functions
(``result_type``, ``promote_types``, ``can_cast``, ``is_floating_point``, ``is_complex``).

Nothing here computes on arrays: every answer comes from dtypes (and Python scalar
types), so these work the same eagerly, inside ``ej.compile`` and under ``ej.lazy()``.
The promotion functions use eagerjax's own rules (``_dtypes.result_type``), which are
torch's. With 64-bit types off (JAX's default) ``ej.float64`` *is* ``ej.float32``, so
``finfo(ej.float64)`` describes float32 storage.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from . import _dtypes
from ._tensor import Tensor


def _torch_dtype_name(d: np.dtype) -> str:
    return "bool" if d == _dtypes.bool_ else d.name


class finfo:  # noqa: N801 - torch.finfo
    """Machine limits of a floating-point dtype, with torch's attributes.

    ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution``
    (``10 ** -digits10``) and ``dtype`` (the dtype's name, as torch gives it). A complex
    dtype describes its real part. ``finfo()`` is the default float dtype's.
    """

    bits: int
    eps: float
    max: float
    min: float
    tiny: float
    smallest_normal: float
    resolution: float
    dtype: str

    def __init__(self, type: Any = None) -> None:  # noqa: A002 - torch's parameter name
        d = _dtypes.get_default_dtype() if type is None else _dtypes.to_dtype(type)
        if _dtypes.is_complex(d):
            d = np.dtype(jnp.finfo(d).dtype)
        if not _dtypes.is_floating(d):
            raise TypeError(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to handle 'torch.finfo'"
            )
        info = jnp.finfo(d)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.tiny)
        self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)
        self.dtype = _torch_dtype_name(d)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, finfo) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
            f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})"
        )

    __str__ = __repr__


class iinfo:  # noqa: N801 - torch.iinfo
    """Limits of an integer dtype, with torch's attributes: ``bits``, ``max``, ``min``
    (Python ints) and ``dtype`` (the dtype's name)."""

    bits: int
    max: int
    min: int
    dtype: str

    def __init__(self, type: Any) -> None:  # noqa: A002 - torch's parameter name
        d = _dtypes.to_dtype(type)
        if d == _dtypes.bool_:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if not _dtypes.is_integer(d):
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle 'torch.iinfo'")
        info = np.iinfo(d)
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = _torch_dtype_name(d)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, iinfo) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"

    __str__ = __repr__


def _require_tensor(fn: str, x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def is_floating_point(input: Tensor) -> bool:  # noqa: A002 - torch's parameter name
    """True if ``input``'s dtype is a floating-point type (torch.is_floating_point)."""
    return _require_tensor("is_floating_point", input).is_floating_point()


def is_complex(input: Tensor) -> bool:  # noqa: A002 - torch's parameter name
    """True if ``input``'s dtype is a complex type (torch.is_complex)."""
    return _require_tensor("is_complex", input).is_complex()


_PY_SCALARS = (bool, int, float, complex)


def result_type(tensor1: Tensor | bool | int | float | complex, tensor2: Tensor | bool | int | float | complex):
    """The dtype an arithmetic op on the two operands returns (torch.result_type).

    Tensors with dimensions outrank 0-d tensors, which outrank Python numbers; a lower
    rank only matters when its category (bool < int < float < complex) is higher.
    """
    shaped: list = []
    zero_dim: list = []
    scalars: list = []
    for pos, a in enumerate((tensor1, tensor2), 1):
        if isinstance(a, Tensor):
            (shaped if a.ndim else zero_dim).append(a.dtype)
        elif isinstance(a, _PY_SCALARS):
            scalars.append(a)
        else:
            name = "tensor" if pos == 1 else "other"
            raise TypeError(f"result_type(): argument '{name}' must be Tensor or Number, not {type(a).__name__}")
    return _dtypes.result_type(shaped, zero_dim, scalars)


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to without losing their
    category (torch.promote_types)."""
    return _dtypes.result_type([_dtypes.to_dtype(type1), _dtypes.to_dtype(type2)], [], [])


def can_cast(from_: Any, to: Any) -> bool:
    """torch.can_cast: whether torch's casting rules allow ``from_`` -> ``to`` (never to a
    lower category: complex -> float, float -> int, or non-bool -> bool)."""
    return _dtypes._category(_dtypes.to_dtype(from_)) <= _dtypes._category(_dtypes.to_dtype(to))
