"""Argument checks shared by the ``torch.nn.functional`` modules over ``_ops/_nn2.py``
(``_functional_conv``, ``_functional_layers``, ``_functional_losses``) and by
``_functional3``: torch's shape formatting, the eager-mode test, the eager-only
min/max read behind value checks (index ranges, BCE input range), torch's broadcast
check and its checks for the reflect / replicate / circular padding modes (used by
``pad`` and by convolutions with a ``padding_mode``).
"""

from __future__ import annotations

import jax

from .. import _dtypes
from .._dispatch import dispatch
from .._ops import _nn2  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._state import flags
from .._tensor import Tensor, not_a_tensor

_MINMAX = OPS["_minmax"]


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _is_eager() -> bool:
    return flags.mode is None


def require_tensor(fn: str, name: str, pos: int, x) -> None:
    """torch's argument check: ``linear(): argument 'input' (position 1) must be Tensor, not list``."""
    if not isinstance(x, Tensor):
        raise not_a_tensor(fn, name, pos, x)


c_type = _dtypes.c_type  # torch's C++ type names in its "Input type (...) and bias type (...)" messages


def check_dim(dim: int, ndim: int) -> None:
    """torch's IndexError for a ``dim`` outside ``[-ndim, ndim)`` (a 0-d tensor takes 0 and -1)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")


def _minmax(t: Tensor) -> tuple:
    """min and max of ``t`` as NumPy scalars (eager only): one program, one transfer."""
    lo, hi = dispatch(_MINMAX, (t,), {})
    return tuple(jax.device_get((lo._value, hi._value)))


def _broadcast_check(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    a2 = (1,) * (n - len(a)) + a
    b2 = (1,) * (n - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(a2, b2)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}"
            )
        out.append(max(x, y))
    return tuple(out)


def _check_mode_pad(ishape: tuple, pad: tuple, mode: str) -> None:
    """torch's checks for the reflect / replicate / circular modes."""
    k = len(pad) // 2
    if k not in (1, 2, 3) or len(ishape) not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {len(ishape)}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    for i in range(k):
        d = len(ishape) - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = ishape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but got: "
                f"padding ({lo}, {hi}) at dimension {d} of input {_shape_str(ishape)}"
            )
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if mode == "replicate" and n == 0:
            raise RuntimeError("padding size is expected to be positive for replicate mode")
