"""Linear algebra rows."""

from __future__ import annotations

import jax.numpy as jnp

from ._registry import op


def _matmul(x, y):
    if x.ndim == 0 or y.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{x.ndim}D and {y.ndim}D")
    kx = x.shape[-1]
    ky = y.shape[-2] if y.ndim > 1 else y.shape[0]
    if kx != ky:
        sx = "x".join(map(str, x.shape if x.ndim > 1 else (1,) + x.shape))
        sy = "x".join(map(str, y.shape if y.ndim > 1 else y.shape + (1,)))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sx} and {sy})")
    return jnp.matmul(x, y)


op("matmul", _matmul, promote=True, dunders=("__matmul__",), rdunders=("__rmatmul__",))
