"""torch's process-wide switches that training scripts set in their first lines:
``backends.cudnn.*``, ``backends.cuda.matmul.allow_tf32``, ``set_num_threads``,
``use_deterministic_algorithms``.

What each one means on XLA, since none of them can silently do nothing:

- ``backends.cuda.matmul.allow_tf32`` *is* the float32 matmul precision, exactly as in
  torch (``True`` -> ``"high"``, ``False`` -> ``"highest"``).
- ``backends.cudnn.benchmark`` / ``deterministic`` / ``allow_tf32`` / ``enabled`` are
  stored and read back: XLA chooses its convolution algorithms itself (convolutions follow
  the matmul precision, README "What differs").
- ``set_num_threads``: XLA:CPU sizes its thread pool when JAX starts; the call is
  checked, and warns once that it cannot resize it; ``get_num_threads`` reports the pool's
  real size.
- ``use_deterministic_algorithms``: XLA:CPU programs are deterministic; on a GPU XLA needs
  ``--xla_gpu_deterministic_ops=true`` in ``XLA_FLAGS`` before JAX starts, and turning
  determinism on without it warns and says so.
"""

from __future__ import annotations

import os
import sys
import types
import warnings

from ._precision import get_float32_matmul_precision, set_float32_matmul_precision
from ._tensor import default_device

__all__ = [
    "are_deterministic_algorithms_enabled",
    "backends",
    "get_num_interop_threads",
    "get_num_threads",
    "is_deterministic_algorithms_warn_only_enabled",
    "set_num_interop_threads",
    "set_num_threads",
    "use_deterministic_algorithms",
]

_deterministic = [False, False]  # [enabled, warn_only]
_warned_threads = [False]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not on Linux)
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """The size of XLA:CPU's intra-op thread pool (one per core JAX may use)."""
    return _cores()


def set_num_threads(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    if n != _cores() and not _warned_threads[0]:
        _warned_threads[0] = True
        warnings.warn(
            f"set_num_threads({n}): XLA:CPU sizes its thread pool ({_cores()} threads) when JAX starts and "
            "cannot resize it; limit the process's CPUs (taskset) to change it.",
            stacklevel=2,
        )


def get_num_interop_threads() -> int:
    return 1  # XLA runs one program at a time per device stream


def set_num_interop_threads(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise RuntimeError("Expected positive number of threads")


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    _deterministic[:] = [bool(mode), bool(warn_only)]
    if mode and default_device().type == "cuda" and "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        warnings.warn(
            "use_deterministic_algorithms(True): on a GPU, XLA's programs are deterministic only with "
            "XLA_FLAGS=--xla_gpu_deterministic_ops=true set before JAX starts (it is not set).",
            stacklevel=2,
        )


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic[0]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic[1]


# --------------------------------------------------------------------------- backends
class _Matmul:
    """``backends.cuda.matmul``: ``allow_tf32`` is the float32 matmul precision (as in torch)."""

    @property
    def allow_tf32(self) -> bool:
        return get_float32_matmul_precision() != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        set_float32_matmul_precision("high" if value else "highest")

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


def _module(name: str, doc: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(f"{__package__}.backends.{name}" if name else f"{__package__}.backends", doc)
    m.__dict__.update(attrs)
    sys.modules[m.__name__] = m
    return m


def _gpu() -> bool:
    return default_device().type == "cuda"


cudnn = _module(
    "cudnn",
    "torch.backends.cudnn's flags, stored: XLA picks convolution algorithms itself.",
    enabled=True,
    benchmark=False,
    deterministic=False,
    allow_tf32=True,
    is_available=_gpu,
    version=lambda: None,
)
cuda = _module(
    "cuda",
    "torch.backends.cuda: matmul.allow_tf32 sets the float32 matmul precision.",
    matmul=_Matmul(),
    is_built=_gpu,
)
mps = _module("mps", "No Metal backend under JAX here.", is_available=lambda: False, is_built=lambda: False)
backends = _module("", "torch.backends' switches (see eagerjax._torch_flags).", cudnn=cudnn, cuda=cuda, mps=mps)
