"""``torch.cpu``: the CPU device module, for ``torch.cpu.amp.autocast`` (torch's deprecated
spelling of ``torch.autocast("cpu", dtype=torch.bfloat16)``) and ``is_available()``."""

from __future__ import annotations

import sys
import types

from ._autocast import deprecated_autocast

__all__ = ["is_available", "amp"]


def is_available() -> bool:
    """Always True (torch's answer: a CPU is always there)."""
    return True


amp = types.ModuleType(f"{__name__}.amp", "``torch.cpu.amp``: the deprecated ``autocast`` for device type 'cpu'.")
amp.autocast = deprecated_autocast("cpu")
amp.__all__ = ["autocast"]
sys.modules[amp.__name__] = amp
