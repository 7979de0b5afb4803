"""The linen side of the Flax bridge: ``_LinenBridge`` (how a ``flax.linen.Module``'s
variables map to eagerjax parameters and buffers, how one ``module.apply`` runs inside
the kernel, and the export back to ``(module, variables)``) and ``_init_linen``
(``module.init`` on the example inputs, jitted and cached per configuration).
``from_flax``/``to_flax`` in ``_flax.py`` use them.
"""

from __future__ import annotations

from collections import OrderedDict

import jax

from .._dispatch import _static
from ._flax_common import (
    _DYN,
    _call_signature,
    _freeze,
    _generator_key_data,
    _hashable,
    _is_tensor,
    _mode_kwargs,
    _not_given,
    _path_names,
    _results,
    _rng_dict,
    _take_key,
    _to_jax,
    _updated,
)

_EXCLUDED_COLLECTIONS = ("intermediates",)  # linen's sow() output: not model state
_inits: OrderedDict = OrderedDict()  # linen: (module, input structure, keywords) -> jitted init


class _LinenBridge:
    """How a linen module's variables are laid out and how one apply runs."""

    kind = "linen"

    def __init__(self, module, variables, rng_collections, mutable) -> None:
        self.module = module
        variables = {c: v for c, v in dict(variables).items() if c not in _EXCLUDED_COLLECTIONS}
        leaves_p, self.treedef = jax.tree_util.tree_flatten_with_path(variables)
        self.names = [_path_names(p) for p, _ in leaves_p]  # (collection, *path)
        self.leaves = [leaf for _, leaf in leaves_p]
        self.param_idx = [i for i, n in enumerate(self.names) if n[0] == "params"]
        self.buffer_idx = [i for i, n in enumerate(self.names) if n[0] != "params"]
        self.collections = tuple(sorted({self.names[i][0] for i in self.buffer_idx}))
        self.mutable = None if mutable is None else (tuple(mutable) if not isinstance(mutable, bool) else mutable)
        self.rng_collections = tuple(rng_collections)
        names, self.var_kw = _call_signature(module.__call__)
        self.call_names = names
        self.config_key = (
            "linen",
            _hashable(module),
            self.treedef,
            tuple(self.names),
            self.mutable,
            self.rng_collections,
        )

    def display_path(self, i: int) -> tuple:
        n = self.names[i]
        return n[1:] if n[0] in ("params", "batch_stats") else n

    def uses_rng(self, training: bool, eval_rng: bool) -> bool:
        return bool(self.rng_collections) and (training or eval_rng)

    def mutable_for(self, training: bool):
        if self.mutable is not None:
            return self.mutable
        return list(self.collections) if training and self.collections else False

    def make_fn(self, training: bool, use_rng: bool, rebuild, mode_kw: dict, cell: dict):
        module = self.module
        treedef = self.treedef
        pidx, bidx = self.param_idx, self.buffer_idx
        n = len(self.names)
        nb = len(bidx)
        buf_pos = {self.names[i]: j for j, i in enumerate(bidx)}
        mutable = self.mutable_for(training)
        rcols = self.rng_collections

        def fn(*vals):
            leaves = [None] * n
            np_ = len(pidx)
            for j, i in enumerate(pidx):
                leaves[i] = vals[j]
            bufs = vals[np_ : np_ + nb]
            for j, i in enumerate(bidx):
                leaves[i] = bufs[j]
            prefix, sub, k = _take_key(vals, np_ + nb, use_rng)
            kw = {"rngs": _rng_dict(sub, rcols)} if use_rng else {}
            args, kwargs = rebuild(vals[k:])
            variables = jax.tree_util.tree_unflatten(treedef, leaves)
            call_kw = {**mode_kw, **kwargs, **kw}
            if mutable:
                out, upd = module.apply(variables, *args, mutable=mutable, **call_kw)
                new_bufs = _updated(bufs, buf_pos, dict(upd))
            else:
                out = module.apply(variables, *args, **call_kw)
                new_bufs = list(bufs)
            return _results(cell, prefix, bufs, new_bufs, out)

        return fn

    def export(self, param_vals: list, buffer_vals: list):
        leaves = [None] * len(self.names)
        for i, v in zip(self.param_idx, param_vals):
            leaves[i] = v
        for i, v in zip(self.buffer_idx, buffer_vals):
            leaves[i] = v
        return self.module, jax.tree_util.tree_unflatten(self.treedef, leaves)


def _init_linen(module, example_inputs, rngs, rng_collections, train_kwargs, generator, init_kwargs):
    if not example_inputs:
        raise TypeError("from_flax(linen_module, *example_inputs): example inputs are needed to initialize it")
    if rngs is None:
        rngs = _generator_key_data(generator)
    if isinstance(rngs, int):
        rngs = jax.random.key(rngs)
    if not isinstance(rngs, dict):
        base = rngs
        rngs = {"params": base}
        for i, c in enumerate(rng_collections):
            rngs[c] = jax.random.fold_in(base, i + 1)
    names, var_kw = _call_signature(module.__call__)
    mode_kw = {} if var_kw else _mode_kwargs(names)[0]
    if train_kwargs is not None:
        mode_kw = dict(train_kwargs)
    call_kw = {**_not_given(mode_kw, names, example_inputs, init_kwargs), **init_kwargs}
    inputs = jax.tree_util.tree_map(lambda x: _to_jax(x, "from_flax example input"), example_inputs, is_leaf=_is_tensor)
    dyn_leaves, in_def = jax.tree_util.tree_flatten(inputs)
    is_arr = [isinstance(x, jax.Array) for x in dyn_leaves]
    arrays = [x for x, a in zip(dyn_leaves, is_arr) if a]
    statics = tuple(_DYN if a else _hashable(_static(x)) for x, a in zip(dyn_leaves, is_arr))
    key = (_hashable(module), in_def, statics, _freeze(call_kw), tuple(sorted(rngs)))
    init = _inits.get(key)
    if init is None:

        def init_fn(rngs, *arrs):
            it = iter(arrs)
            leaves = [next(it) if a else x for x, a in zip(dyn_leaves, is_arr)]
            return module.init(rngs, *jax.tree_util.tree_unflatten(in_def, leaves), **call_kw)

        # cached, so building several models of one configuration compiles the init once
        init = jax.jit(init_fn)
        if len(_inits) >= 64:
            _inits.popitem(last=False)
        _inits[key] = init
    return init(rngs, *arrays)
