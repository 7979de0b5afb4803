"""``torch.cuda``'s two questions a training script asks (``device = "cuda" if
torch.cuda.is_available() else "cpu"``), answered for JAX's devices.

eagerjax places every tensor on JAX's default device, so ``.to("cuda")`` and
``device=`` are accepted and change nothing; these say whether that device is a GPU.
"""

from __future__ import annotations

import sys
import types

import jax

from ._autocast import deprecated_autocast
from ._tensor import default_device

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "amp"]


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


# ``torch.cuda.amp.autocast(...)``: torch's deprecated spelling of ``torch.autocast("cuda", ...)``
# (float16 by default; on a machine without a GPU it warns and stays disabled, as torch's does).
amp = types.ModuleType(f"{__name__}.amp", "``torch.cuda.amp``: the deprecated ``autocast`` for device type 'cuda'.")
amp.autocast = deprecated_autocast("cuda")
amp.__all__ = ["autocast"]
sys.modules[amp.__name__] = amp
