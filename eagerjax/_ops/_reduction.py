"""Reductions with torch's ``dim``/``keepdim`` conventions."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp

from ._registry import op

ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _axis(dim):
    if isinstance(dim, list):
        return tuple(dim)
    return dim


def _sum(x, dim=None, keepdim=False, *, dtype=None):
    if dtype is None and (x.dtype == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.integer)):
        dtype = jnp.int32 if not jax.config.jax_enable_x64 else jnp.int64
    return jnp.sum(x, axis=_axis(dim), keepdims=keepdim, dtype=dtype)


def _mean(x, dim=None, keepdim=False, *, dtype=None):
    if not jnp.issubdtype(x.dtype, jnp.inexact) and dtype is None:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {x.dtype}"
        )
    return jnp.mean(x, axis=_axis(dim), keepdims=keepdim, dtype=dtype)


op("sum", _sum)
op("mean", _mean)
