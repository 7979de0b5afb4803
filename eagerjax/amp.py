"""``torch.amp``: automatic mixed precision.

``autocast`` runs a region's ops in lower precision where torch does (see
``eagerjax/_autocast.py`` for the op tables and how the casts run in every mode);
``GradScaler`` scales the loss and skips steps with inf/NaN gradients, deciding on the
device (``eagerjax/_grad_scaler.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ._autocast import autocast, get_autocast_dtype, is_autocast_available, is_autocast_enabled
from ._grad_scaler import GradScaler
from ._tensor import Tensor

__all__ = ["autocast", "is_autocast_available", "GradScaler", "custom_fwd", "custom_bwd"]


def custom_fwd(fwd: Callable | None = None, *, device_type: str, cast_inputs=None) -> Callable:
    """Decorate a custom ``Function``'s ``forward`` for autocast regions, as torch's does.

    ``ctx`` (the first argument) remembers the region's state for ``custom_bwd``. With
    ``cast_inputs`` inside an enabled region, floating-point Tensor arguments (also inside
    lists, tuples and dicts) are cast to it and ``forward`` runs with autocast off.
    """
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def forward(ctx, *args, **kwargs):
        ctx._dtype = get_autocast_dtype(device_type)
        enabled = is_autocast_enabled(device_type)
        ctx._fwd_used_autocast = enabled and cast_inputs is None
        if cast_inputs is None or not enabled:
            return fwd(ctx, *args, **kwargs)
        with autocast(device_type=device_type, enabled=False):
            return fwd(ctx, *_cast(args, cast_inputs), **_cast(kwargs, cast_inputs))

    return forward


def custom_bwd(bwd: Callable | None = None, *, device_type: str) -> Callable:
    """Decorate a custom ``Function``'s ``backward`` to run in the autocast state its
    ``custom_fwd`` forward saw."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def backward(ctx, *args, **kwargs):
        with autocast(device_type=device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return bwd(ctx, *args, **kwargs)

    return backward


def _cast(value, dtype):
    if isinstance(value, Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast(v, dtype) for k, v in value.items()}
    return value
