"""Shape and indexing rows (view-like ops return new tensors: jax arrays are immutable)."""

from __future__ import annotations

import jax.numpy as jnp

from ._registry import op


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _reshape(x, *shape):
    shape = _shape_arg(shape)
    try:
        return jnp.reshape(x, shape)
    except TypeError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.size}") from None


op("reshape", _reshape)
op("view", _reshape, function=False)


def _transpose(x, dim0, dim1):
    return jnp.swapaxes(x, dim0, dim1)


op("transpose", _transpose)
op("permute", lambda x, *dims: jnp.transpose(x, _shape_arg(dims)))
