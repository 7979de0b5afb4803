"""``torch.set_float32_matmul_precision`` for every program eagerjax compiles.

PyTorch computes float32 matrix products in full float32 unless the user asks for less
(``"highest"`` is its default). JAX's default lets the backend choose: on NVIDIA GPUs
since Ampere that is TensorFloat32 (10 mantissa bits), measured on an H200 as a 3e-4
relative error on a 512x512 product against torch's 3e-7. So eagerjax sets the precision
itself, for its own programs only: ``traced(fn)`` wraps each function eagerjax hands to
``jax.jit`` (op kernels, fused backwards, optimizer updates, ``ej.compile`` steps, lazy
graphs), and enters JAX's ``default_matmul_precision`` while it is traced. The user's
own JAX code keeps JAX's default. Matrix products, einsums, linear layers, attention and
convolutions all follow the one setting. (PyTorch lets cuDNN convolutions use TF32 by
default; eagerjax's ``"highest"`` keeps them float32 too.)

The setting is read when a program is traced, so a change clears JAX's compilation
caches: every program traces once more, and ``ej.compile`` / lazy mode name the change
as the reason. On CPU, XLA computes float32 products in float32 whatever the setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax

from . import _xla_budget
from ._state import flags

# torch's names -> JAX's: "high" is TF32 (GPU) or three bfloat16 passes (TPU); "medium"
# is the backend's fastest (bfloat16 on TPU, TF32 on GPU).
_JAX_NAMES = {"highest": "highest", "high": "high", "medium": "default"}
_current = ["highest"]


def get_float32_matmul_precision() -> str:
    """The current float32 matmul precision: ``"highest"``, ``"high"`` or ``"medium"``."""
    return _current[0]


def set_float32_matmul_precision(precision: str) -> None:
    """Set the internal precision of float32 matrix products (and convolutions) in
    eagerjax's programs, with torch's names. Changing it retraces every program once."""
    if precision not in _JAX_NAMES:
        raise ValueError(f"{precision!r} is not one of 'highest', 'high', or 'medium'")
    old = _current[0]
    if precision == old:
        return
    if flags.mode is not None:
        if not flags.mode.is_lazy:
            raise RuntimeError("set_float32_matmul_precision() cannot be called inside a step being compiled")
        flags.mode.flush("float32 matmul precision changed")  # pending ops run as recorded
    _current[0] = precision
    _xla_budget.clear(f"float32 matmul precision changed: {old!r} -> {precision!r}")


def traced(fn: Callable) -> Callable:
    """``fn`` computing float32 products at the current precision when traced (or run)."""

    @functools.wraps(fn)
    def at_precision(*args, **kwargs):
        with jax.default_matmul_precision(_JAX_NAMES[_current[0]]):
            return fn(*args, **kwargs)

    return at_precision
