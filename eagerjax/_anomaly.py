"""``autograd.detect_anomaly`` / ``set_detect_anomaly``: torch's anomaly mode, eagerly.

While it is on, every op that records a node also keeps the stack of the Python call
that ran it, and ``backward()`` takes the per-node path, reading each node's gradients
on the host: the first node whose gradient has a NaN raises torch's error, after a
warning showing where that op was called in the forward. Reading values on the host is
impossible inside a compiled step or a lazy graph's program, so there the checks are
skipped (as in torch.compile); the forward stacks are still kept.
"""

from __future__ import annotations

import traceback
import warnings
import weakref

__all__ = ["detect_anomaly", "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "set_detect_anomaly"]

# [enabled, check_nan]: read by the autograd engine on every backward (one list lookup)
state = [False, True]
stacks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # node -> forward call stack


def is_anomaly_enabled() -> bool:
    return state[0]


def is_anomaly_check_nan_enabled() -> bool:
    return state[1]


class set_detect_anomaly:  # noqa: N801 - torch's name
    """Turn anomaly mode on or off: as a call, or as a context manager restoring it on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = list(state)
        state[0], state[1] = bool(mode), bool(check_nan)

    def __enter__(self) -> set_detect_anomaly:
        return self

    def __exit__(self, *exc) -> None:
        state[:] = self.prev


class detect_anomaly:  # noqa: N801 - torch's name
    """Context manager enabling anomaly mode inside."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
            "enabled for debugging.",
            stacklevel=2,
        )

    def __enter__(self) -> None:
        self.prev = list(state)
        state[0], state[1] = True, self.check_nan

    def __exit__(self, *exc) -> None:
        state[:] = self.prev


def forward_stack() -> list[str]:
    """The user's call stack, without eagerjax's own frames (kept on a node)."""
    return [f for f in traceback.format_stack()[:-1] if "/eagerjax/" not in f]


def report(node_name: str, stack: list[str] | None, index: int) -> RuntimeError:
    """torch's warning (where the op ran) and the error to raise."""
    if stack:
        warnings.warn(
            f"Error detected in {node_name}. Traceback of forward call that caused the error:\n" + "".join(stack),
            stacklevel=3,
        )
    return RuntimeError(f"Function '{node_name}' returned nan values in its {index}th output.")
