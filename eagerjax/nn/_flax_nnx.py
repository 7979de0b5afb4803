"""The nnx side of the Flax bridge: ``_NNXBridge`` (how a ``flax.nnx.Module``'s state
splits into eagerjax parameters and buffers, how one call of a merged copy runs inside
the kernel with every rng stream fed from eagerjax's generator, and ``nnx.update`` of
the original module on export). ``from_flax``/``to_flax`` in ``_flax.py`` use it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._flax_common import _call_signature, _copy, _path_names, _results, _take_key, _updated


class _NNXBridge:
    """How an nnx module's state is laid out and how one call of a merged copy runs."""

    kind = "nnx"

    def __init__(self, module) -> None:
        from flax import nnx

        self.module = module
        graphdef, params, rng, rest = nnx.split(module, nnx.Param, nnx.RngState, ...)
        self.graphdef = graphdef
        p_leaves, self.p_def = jax.tree_util.tree_flatten_with_path(params)
        b_leaves, self.b_def = jax.tree_util.tree_flatten_with_path(rest)
        r_leaves, self.r_def = jax.tree_util.tree_flatten_with_path(rng)
        self.p_names = [_path_names(p) for p, _ in p_leaves]
        self.b_names = [_path_names(p) for p, _ in b_leaves]
        self.p_leaves = [leaf for _, leaf in p_leaves]
        self.b_leaves = [leaf for _, leaf in b_leaves]
        self.r_spec = []
        for _, leaf in r_leaves:
            if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                self.r_spec.append(("key", tuple(leaf.shape)))
            elif hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.integer):
                self.r_spec.append(("count", tuple(leaf.shape), leaf.dtype))
            else:
                self.r_spec.append(("const", _copy(leaf)))
        names, self.var_kw = _call_signature(module.__call__)
        self.call_names = names
        self.takes_rngs = "rngs" in names
        self.config_key = ("nnx", graphdef, self.p_def, self.b_def, self.r_def)

    def uses_rng(self, training: bool, eval_rng: bool) -> bool:
        return (bool(self.r_spec) or self.takes_rngs) and (training or eval_rng)

    def _rng_leaves(self, key):
        out = []
        for i, spec in enumerate(self.r_spec):
            if spec[0] == "key":
                k = jax.random.fold_in(key, i)
                out.append(k if spec[1] == () else jax.random.split(k, spec[1]))
            elif spec[0] == "count":
                out.append(jnp.zeros(spec[1], spec[2]))
            else:
                out.append(spec[1])
        return out

    def make_fn(self, training: bool, use_rng: bool, rebuild, mode_kw: dict, cell: dict):
        from flax import nnx

        graphdef = self.graphdef
        p_def, b_def, r_def = self.p_def, self.b_def, self.r_def
        np_, nb = len(self.p_names), len(self.b_names)
        b_pos = {n: j for j, n in enumerate(self.b_names)}
        takes_rngs = self.takes_rngs
        rng_leaves = self._rng_leaves
        deterministic = not training

        def fn(*vals):
            params = jax.tree_util.tree_unflatten(p_def, list(vals[:np_]))
            bufs = vals[np_ : np_ + nb]
            rest = jax.tree_util.tree_unflatten(b_def, list(bufs))
            prefix, sub, k = _take_key(vals, np_ + nb, use_rng)
            kw = {}
            if sub is None:
                sub = jax.random.key(0)  # randomness is unused here; any fixed key will do
            rng = jax.tree_util.tree_unflatten(r_def, rng_leaves(sub))
            args, kwargs = rebuild(vals[k:])
            if use_rng and takes_rngs and "rngs" not in kwargs:
                kw["rngs"] = nnx.Rngs(jax.random.fold_in(sub, len(self.r_spec)))
            model = nnx.merge(graphdef, params, rng, rest)
            model.set_attributes(
                deterministic=deterministic, use_running_average=deterministic, raise_if_not_found=False
            )
            out = model(*args, **{**mode_kw, **kwargs, **kw})
            _, _, _, new_rest = nnx.split(model, nnx.Param, nnx.RngState, ...)
            return _results(cell, prefix, bufs, _updated(bufs, b_pos, new_rest), out)

        return fn

    def export(self, param_vals: list, buffer_vals: list):
        from flax import nnx

        params = jax.tree_util.tree_unflatten(self.p_def, param_vals)
        rest = jax.tree_util.tree_unflatten(self.b_def, buffer_vals)
        nnx.update(self.module, params, rest)
        return self.module
