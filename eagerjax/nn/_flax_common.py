"""Helpers shared by the Flax bridge (``_flax.py``, ``_flax_linen.py``, ``_flax_nnx.py``):
cache keys for unhashable configurations, array conversion and copying at the edges,
jax key paths as dotted names, the train/eval ``__call__`` keywords, the generator key
split at initialization and in each call, and the layout of a bridge kernel's results.
"""

from __future__ import annotations

import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._dispatch import _static
from .._random import _split, default_generator
from .._tensor import Tensor

# __call__ keywords that switch Flax modules between training and evaluation: (train value, eval value).
_MODE_KEYWORDS = {
    "train": (True, False),
    "training": (True, False),
    "is_training": (True, False),
    "deterministic": (False, True),
    "use_running_average": (False, True),
    "inference": (False, True),
}
_DYN = object()  # marks a dynamic input leaf in a static spec


class _ById:
    """A cache-key stand-in for an unhashable configuration: identity, keeping the object alive."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return type(other) is _ById and other.obj is self.obj


def _hashable(obj):
    try:
        hash(obj)
    except TypeError:
        return _ById(obj)
    return obj


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _to_jax(x, what: str):
    """An example input / user array as a concrete jax array."""
    if isinstance(x, Tensor):
        return x._concrete(what)
    mod = type(x).__module__ or ""
    if mod.startswith("torch") and hasattr(x, "detach"):
        return jnp.asarray(x.detach().cpu().numpy())
    if isinstance(x, (np.ndarray, np.generic, jax.Array)):
        return jnp.asarray(x)
    return x


def _copy(v):
    """A fresh device buffer (so donation on one side never deletes the other side's array)."""
    if isinstance(v, (jax.Array, np.ndarray, np.generic)):
        with jax.ensure_compile_time_eval():
            return jnp.array(v, copy=True)
    return v


def _key_name(k) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _path_names(path) -> tuple:
    """A jax key path as a tuple of strings; a Variable/box's trailing ``.value`` is dropped."""
    names = [_key_name(k) for k in path]
    while len(names) > 1 and _is_value_attr(path[len(names) - 1]):
        names.pop()
    return tuple(names)


def _is_value_attr(k) -> bool:
    return type(k).__name__ == "GetAttrKey" and k.name in ("value", "raw_value")


def _call_signature(fn) -> tuple[dict, bool]:
    """({keyword-passable parameter: its position, or None if keyword-only}, accepts **kwargs) of ``__call__``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}, False
    names = {}
    var_kw = False
    for i, p in enumerate(sig.parameters.values()):
        if p.kind == p.POSITIONAL_OR_KEYWORD:
            names[p.name] = i
        elif p.kind == p.KEYWORD_ONLY:
            names[p.name] = None
        elif p.kind == p.VAR_KEYWORD:
            var_kw = True
    return names, var_kw


def _mode_kwargs(names) -> tuple[dict, dict]:
    train = {k: v[0] for k, v in _MODE_KEYWORDS.items() if k in names}
    ev = {k: v[1] for k, v in _MODE_KEYWORDS.items() if k in names}
    return train, ev


def _not_given(mode_kw: dict, positions: dict, args: tuple, kwargs: dict) -> dict:
    """The mode keywords the caller did not pass itself (by keyword, or positionally)."""
    n = len(args)
    out = {}
    for k, v in mode_kw.items():
        if k in kwargs:
            continue
        pos = positions.get(k)
        if pos is not None and pos < n:
            continue
        out[k] = v
    return out


def _generator_key_data(generator) -> Any:
    """Split the generator once, concretely (as torch's layer init consumes the global RNG)."""
    g = default_generator if generator is None else generator
    with jax.ensure_compile_time_eval():
        key = g._key._concrete("from_flax (initializing Flax variables)")
        new, sub = _split(key)
    g._key._assign(new)
    return sub


def _rng_dict(key, collections) -> dict:
    out = {}
    for i, c in enumerate(collections):
        out[c] = key if i == 0 else jax.random.fold_in(key, i)
    return out


def _take_key(vals, k: int, use_rng: bool) -> tuple[list, Any, int]:
    """With ``use_rng``: ``vals[k]`` split into ([new key to return], this call's subkey, k + 1); else ([], None, k)."""
    if not use_rng:
        return [], None, k
    new_key, sub = _split(vals[k])
    return [new_key], sub, k + 1


def _updated(bufs, positions: dict, tree) -> list:
    """``bufs`` with each leaf of the updated-state ``tree`` put at its path's position."""
    new_bufs = list(bufs)
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        j = positions.get(_path_names(path))
        if j is not None:
            new_bufs[j] = leaf
    return new_bufs


def _results(cell: dict, prefix: list, bufs, new_bufs: list, out) -> tuple:
    """A bridge kernel's results (new key, changed buffers, output leaves); ``cell`` notes the layout."""
    changed = tuple(j for j in range(len(bufs)) if new_bufs[j] is not bufs[j])
    out_leaves, out_def = jax.tree_util.tree_flatten(out)
    cell["changed"] = changed
    cell["out"] = out_def
    return (*prefix, *[new_bufs[j] for j in changed], *out_leaves)


def _freeze(d: dict) -> tuple:
    return tuple(sorted((k, _hashable(_static(v))) for k, v in d.items()))
