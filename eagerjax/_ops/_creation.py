"""Creation rows: tensors made from shapes and values rather than from other tensors."""

from __future__ import annotations

import jax.numpy as jnp

from .. import _dtypes
from ._registry import op


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _fill(value):
    def make(*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        return jnp.full(_size(size), value, _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype())

    return make


op("zeros", _fill(0), method=False)
op("ones", _fill(1), method=False)
