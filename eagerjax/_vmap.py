"""``torch.func.vmap``: run a function written for one example over a batch dimension.

The body is a ``_func._Transformed`` (an ``ej.compile``d step, see ``_func``) applying
``jax.vmap`` to a pure function of the batched inputs' arrays; the user's function sees
Tensors holding one example. Random draws follow ``randomness``: ``"error"`` (torch's
default) raises, ``"same"`` draws once for the whole batch, ``"different"`` draws per
example from keys split off the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._func import _flatten, _memo, _name, _out, _Transformed, _Trap, write_back
from ._state import vmap_randomness as _RANDOMNESS
from ._tensor import Tensor

__all__ = ["vmap"]


def vmap(
    func: Callable,
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable:
    """``func`` mapped over dimension ``in_dims`` of its inputs, results stacked along ``out_dims``.

    ``in_dims`` is an int or None for every input, or a tuple with one entry per positional
    argument (each an int, None or a nested structure matching that argument). With
    ``chunk_size``, the examples run ``chunk_size`` at a time, one chunk after another inside
    the one program (``lax.map`` over chunks, then the remainder): peak memory is one chunk's,
    the results are those of the unchunked call.
    """
    if chunk_size is not None and (type(chunk_size) is not int or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if not callable(func):
        raise RuntimeError(f"vmap: func must be callable, got {type(func)}")
    opts = (_freeze(in_dims), _freeze(out_dims), randomness, chunk_size)
    return _memo("vmap", (func,), opts, lambda: _make(func, in_dims, out_dims, randomness, chunk_size))


def _freeze(x):
    if isinstance(x, list):
        return ("list", tuple(_freeze(v) for v in x))
    if isinstance(x, tuple):
        return tuple(_freeze(v) for v in x)
    if isinstance(x, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in x.items())))
    return x


def _in_axes(func, in_dims, args: tuple) -> list:
    """One in_dim per leaf of ``args``, validated in torch's words."""
    fname = _name(func)
    if isinstance(in_dims, int) or in_dims is None:
        if in_dims is None:
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a (potentially "
                f"nested) tuple matching the structure of inputs, got: {type(in_dims)}."
            )
        dims = (in_dims,) * len(args)
    elif isinstance(in_dims, tuple):
        dims = in_dims
        if len(dims) != len(args):
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the structure of "
                f"`inputs`. in_dims has {len(dims)} entries but there are {len(args)} inputs."
            )
    else:
        raise ValueError(
            f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a (potentially "
            f"nested) tuple matching the structure of inputs, got: {type(in_dims)}."
        )
    out = []
    for arg, d in zip(args, dims):
        leaves, _ = _flatten(arg)
        if d is None or isinstance(d, int):
            out += [d] * len(leaves)
            continue
        try:
            per = jax.tree_util.tree_leaves(
                jax.tree_util.tree_map(lambda dd, a: [dd] * len(_flatten(a)[0]), d, arg, is_leaf=lambda x: x is None),
                is_leaf=lambda x: x is None,
            )
        except (ValueError, TypeError):
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the structure of "
                f"`inputs`."
            ) from None
        out += per
    return out


def _make(func, in_dims, out_dims, randomness: str, chunk_size: int | None = None) -> _Transformed:
    fname = _name(func)

    def body(*args, **kwargs):
        _check_out_dims(fname, out_dims)
        leaves, tree = _flatten(args)
        axes = _in_axes(func, in_dims, args)
        sizes = []
        batched = []  # (leaf index, normalized axis)
        for i, (x, d) in enumerate(zip(leaves, axes)):
            if d is None:
                continue
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but the input is "
                    f"of type {type(x)}. We cannot vmap over non-Tensor arguments, please use None as the "
                    f"respective in_dim"
                )
            if not -x.ndim <= d < max(x.ndim, 1) or x.ndim == 0:
                raise ValueError(
                    f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some input, but that input "
                    f"is a Tensor of dimensionality {x.ndim} so expected in_dim to satisfy -{x.ndim} <= in_dim < "
                    f"{x.ndim}."
                )
            d %= x.ndim
            sizes.append(x.shape[d])
            batched.append((i, d))
        if not batched:
            raise ValueError(
                f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>): at least one input must be batched (got no "
                f"Tensor inputs with a non-None in_dim)"
            )
        if len(set(sizes)) > 1:
            raise ValueError(
                f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes {sizes} for "
                f"the mapped dimension"
            )
        n = sizes[0]
        meta: dict = {}
        key_args = []
        gen = None
        if randomness == "different":
            from ._random import default_generator

            gen = default_generator
            # one key per example, split off the generator (which advances once for the batch)
            keys = jax.random.split(jax.random.wrap_key_data(gen._key._read()), n + 1)
            gen._key._assign(jax.random.key_data(keys[0]))
            key_args = [jax.random.key_data(keys[1:])]

        def inner(arrays, *key):
            # (the generator's per-example keys are swapped in and out here, not written back)
            with _Trap(ignore=[gen._key] if key else ()) as trap:
                new = list(leaves)
                for (i, _), a in zip(batched, arrays):
                    new[i] = Tensor._make(a, requires_grad=leaves[i].requires_grad)
                call_args = jax.tree_util.tree_unflatten(tree, new)
                _RANDOMNESS.append(randomness)
                saved = None
                if key:
                    saved = gen._key._value
                    gen._key._value = key[0]
                try:
                    out = func(*call_args, **kwargs)
                finally:
                    _RANDOMNESS.pop()
                    if key:
                        gen._key._value = saved
                outs, otree = _flatten(out)
                for o in outs:
                    if not isinstance(o, Tensor):
                        raise ValueError(
                            f"vmap({fname}, ...): `{fname}` must only return Tensors, got type {type(o)}. Did you "
                            f"mean to set out_dims= to None for output?"
                        )
                meta["tree"] = otree
                meta["rg"] = [o.requires_grad for o in outs]
                res = [o._value for o in outs]
                # batched arguments the function wrote in place (torch keeps such writes):
                # their new per-example values come back batched, to be written into the slices
                meta["args_written"] = [k for k, (i, _) in enumerate(batched) if new[i]._version]
                meta["args_rg"] = [new[batched[k][0]].requires_grad for k in meta["args_written"]]
                res += [new[batched[k][0]]._value for k in meta["args_written"]]
            meta["written"] = trap.tensors
            return res, trap.values

        in_axes = [d for _, d in batched]
        arrays = [leaves[i]._read() for i, _ in batched]
        # writes to tensors from outside must not depend on the example (out_axes None)
        try:
            if chunk_size is None or chunk_size >= n:
                mapped = jax.vmap(inner, in_axes=(in_axes, *([0] * len(key_args))), out_axes=(0, None))
                res, written = mapped(arrays, *key_args)
            else:
                res, written = _chunked(inner, chunk_size, n, in_axes, arrays, key_args)
        except ValueError as e:
            if "out_axes" not in str(e):
                raise
            raise RuntimeError(
                f"vmap({fname}): the function wrote a per-example value into a tensor created outside it (e.g. "
                f"BatchNorm's running statistics in training mode). In-place updates of such tensors are not "
                f"possible under vmap, as in torch: call .eval(), build the norm layers with "
                f"track_running_stats=False, or keep the update out of the vmapped function."
            ) from None
        write_back(meta["written"], written)
        n_out = meta["tree"].num_leaves
        res, arg_values = res[:n_out], res[n_out:]
        # {leaf index: new value} of the written batched arguments, copied in by the caller
        args_out = {
            batched[k][0]: _out(jnp.moveaxis(a, 0, batched[k][1]), rg)
            for k, a, rg in zip(meta["args_written"], arg_values, meta["args_rg"])
        }
        odims = _out_dims(fname, out_dims, meta["tree"])
        final = []
        for a, d, rg in zip(res, odims, meta["rg"]):
            if d is None:
                a = a[0]  # an output that does not depend on the batch: torch returns it unbatched
            else:
                if not -a.ndim <= d < a.ndim:
                    raise ValueError(
                        f"vmap({fname}, ...): out_dims={out_dims} is out of range for an output of "
                        f"dimensionality {a.ndim - 1}"
                    )
                a = jnp.moveaxis(a, 0, d)
            final.append(_out(a, rg))
        return jax.tree_util.tree_unflatten(meta["tree"], final), args_out

    return _VmapTransformed(body, f"vmap({fname})")


class _VmapTransformed(_Transformed):
    """A vmapped function: its body returns the results and the new values of the batched
    arguments the function wrote in place, which are copied into them here, outside the
    transform (an ordinary ``copy_``: on the tape, in every mode, as torch's writes are)."""

    def call_lifted(self, lifted: list, *args, **kwargs):
        out, args_out = super().call_lifted(lifted, *args, **kwargs)
        if args_out:
            leaves, _ = _flatten(args)
            for i, v in args_out.items():
                leaves[i].copy_(v)
        return out


def _chunked(inner, size: int, n: int, in_axes: list, arrays: list, key_args: list):
    """``inner`` vmapped over ``n`` examples, ``size`` at a time: the full chunks under
    ``lax.map`` (one chunk's intermediates live at a time), then the remainder; per-example
    results concatenated on axis 0, example-independent ones (the writes) from the last chunk."""
    arrays = [jnp.moveaxis(a, d, 0) for a, d in zip(arrays, in_axes)]
    batched = arrays + list(key_args)
    mapped = jax.vmap(lambda xs, ks: inner(xs, *ks), in_axes=(0, 0), out_axes=(0, None))
    full = n // size * size

    def split(xs):
        return xs[: len(arrays)], xs[len(arrays) :]

    chunks = [x[:full].reshape((n // size, size) + x.shape[1:]) for x in batched]
    res, written = jax.lax.map(lambda xs: mapped(*split(xs)), chunks)
    res = [r.reshape((full,) + r.shape[2:]) for r in res]
    written = [w[-1] for w in written]
    if full < n:
        rest = [x[full:] for x in batched]
        res_r, written = mapped(*split(rest))
        res = [jnp.concatenate([a, b]) for a, b in zip(res, res_r)]
    return res, written


def _check_out_dims(fname: str, out_dims) -> None:
    """``out_dims`` is an int, None, or a (nested) collection of them, as torch requires."""
    leaves = jax.tree_util.tree_leaves(out_dims, is_leaf=lambda x: x is None)
    if not all(d is None or isinstance(d, int) for d in leaves):
        raise ValueError(
            f"vmap({fname}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a python collection of "
            f"ints representing where in the outputs the vmapped dimension should appear."
        )


def _out_dims(fname: str, out_dims, otree) -> list:
    """One out_dim per output leaf: ``out_dims`` is broadcast over the output's structure
    (a prefix of it: ``{"a": 1, "b": (0, 1)}``, or one int for everything)."""
    n = otree.num_leaves
    if isinstance(out_dims, int) or out_dims is None:
        return [out_dims] * n
    if jax.tree_util.treedef_is_leaf(otree) and n == 1:
        # a lone Tensor output takes a one-entry tuple (torch's special case)
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            return list(out_dims)
    else:
        full = jax.tree_util.tree_unflatten(otree, [0] * n)
        per: list = []
        try:
            jax.tree_util.tree_map(
                lambda d, sub: per.extend([d] * len(jax.tree_util.tree_leaves(sub))),
                out_dims,
                full,
                is_leaf=lambda x: x is None,
            )
            return per
        except (ValueError, TypeError, KeyError):
            pass
    spec = jax.tree_util.tree_structure(out_dims, is_leaf=lambda x: x is None)
    raise ValueError(
        f"vmap({fname}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with the structure of "
        f"`outputs`. out_dims has structure {spec} but outputs has structure {otree}."
    )
