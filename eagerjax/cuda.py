"""``torch.cuda``'s questions a training script asks (``device = "cuda" if
torch.cuda.is_available() else "cpu"``, memory use, ``synchronize()`` before timing),
answered for JAX's devices.

eagerjax places every tensor on JAX's default device, so ``.to("cuda")`` and
``device=`` are accepted and change nothing; these say whether that device is a GPU.
"""

from __future__ import annotations

import sys
import types
import warnings

import jax

from ._autocast import deprecated_autocast
from ._grad_scaler import GradScaler
from ._tensor import default_device

__all__ = [
    "is_available",
    "device_count",
    "manual_seed",
    "manual_seed_all",
    "amp",
    "synchronize",
    "empty_cache",
    "current_device",
    "set_device",
    "get_device_name",
    "memory_allocated",
    "max_memory_allocated",
    "memory_reserved",
]


def is_available() -> bool:
    """True when JAX's default device (where eagerjax's tensors live) is a GPU."""
    return default_device().type == "cuda"


def device_count() -> int:
    """The number of GPUs JAX sees (0 when its default backend is not a GPU)."""
    return len(jax.devices()) if is_available() else 0


def manual_seed(seed: int) -> None:
    """Seeds the one default generator, which draws for every device (torch keeps one per
    GPU; here a single stream serves them all, so this is ``ej.manual_seed``)."""
    from ._random import manual_seed as _seed

    _seed(seed)


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Wait until all work queued so far has finished (a lazy graph's pending ops included)."""
    from ._state import flags

    mode = flags.mode
    if mode is not None and getattr(mode, "is_lazy", False):
        mode.flush("cuda.synchronize()")
    jax.block_until_ready(jax.live_arrays())


def empty_cache() -> None:
    """Returns at once: XLA's allocator has no call that hands its free pool back to the
    driver (torch's releases cached blocks). Memory of dropped tensors is reused by XLA."""


def _gpu(what: str):
    if not is_available():
        raise RuntimeError("No CUDA GPUs are available")
    return jax.devices()[0]


def current_device() -> int:
    _gpu("current_device")
    return default_device().index or 0


def set_device(device) -> None:
    """Only the device eagerjax places tensors on (JAX's default) can be current."""
    index = device if isinstance(device, int) else getattr(device, "index", None)
    if isinstance(device, str):
        index = int(device.split(":")[1]) if ":" in device else 0
    _gpu("set_device")
    if (index or 0) != current_device():
        raise RuntimeError(
            f"set_device({device!r}): eagerjax places every tensor on JAX's default device "
            f"(cuda:{current_device()}); choose the GPU with CUDA_VISIBLE_DEVICES before JAX starts"
        )


def get_device_name(device=None) -> str:
    return _gpu("get_device_name").device_kind


def _stat(key: str) -> int:
    if not is_available():
        return 0
    stats = jax.devices()[0].memory_stats() or {}
    return int(stats.get(key, 0))


def memory_allocated(device=None) -> int:
    """Bytes in use by tensors on the GPU (XLA's allocator statistics)."""
    return _stat("bytes_in_use")


def max_memory_allocated(device=None) -> int:
    """The peak of ``memory_allocated`` since the process started (XLA keeps no resettable peak)."""
    return _stat("peak_bytes_in_use")


def memory_reserved(device=None) -> int:
    """Bytes XLA's allocator holds from the driver (its pool)."""
    return _stat("bytes_reserved") or _stat("bytes_limit")


# ``torch.cuda.amp.autocast(...)``: torch's deprecated spelling of ``torch.autocast("cuda", ...)``
# (float16 by default; on a machine without a GPU it warns and stays disabled, as torch's does).
amp = types.ModuleType(f"{__name__}.amp", "``torch.cuda.amp``: the deprecated ``autocast`` for device type 'cuda'.")
amp.autocast = deprecated_autocast("cuda")


class _CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler``: deprecated, ``GradScaler("cuda", ...)``."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True):
        warnings.warn(
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use `torch.amp.GradScaler('cuda', args...)` "
            "instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


_CudaGradScaler.__name__ = _CudaGradScaler.__qualname__ = "GradScaler"
amp.GradScaler = _CudaGradScaler
amp.__all__ = ["autocast", "GradScaler"]
sys.modules[amp.__name__] = amp
