"""The Flax bridge: ``from_flax`` wraps a Flax module as an eagerjax Module; ``to_flax`` hands it back.

``from_flax(module, *example_inputs)`` accepts a ``flax.linen.Module`` or a
``flax.nnx.Module``. Its variables become eagerjax state: every parameter leaf an
``nn.Parameter``, every other variable (``batch_stats``, nnx ``BatchStat``, ...)
a buffer, registered under dotted names that mirror the Flax tree
(``Dense_0.kernel``, ``BatchNorm_0.mean``; nnx: ``bn.scale``, ``layers.0.kernel``).
Flax's names and layouts are kept: a Flax ``Dense`` kernel is ``(in, out)``.

The forward pass is ONE op: a ``Kernel`` whose pure function applies the Flax
module to the parameters, buffers, inputs and (when randomness is needed) the
generator key, run through ``call_kernel``. Autograd therefore differentiates the
whole Flax apply with one ``jax.vjp``; ``ej.compile`` and ``ej.lazy()`` trace or
record the same function. Kernels are cached per module configuration, variable
structure, input structure and training flag, so an eager call costs one cached
jitted apply, never an op-by-op Flax apply.

Training and evaluation follow ``module.training``:

- training: mutable collections (linen) / changed non-parameter variables (nnx)
  are returned by the kernel and written back into the buffers; a fresh key is
  split off eagerjax's generator exactly as ``ej.rand`` does (the key is an input
  of the op and the advanced key is written back), so eager, compiled and lazy
  runs draw identical dropout masks for the same seed. Linen gets
  ``rngs={'dropout': subkey}`` (further collections in ``rng_collections`` get
  ``fold_in(subkey, i)``); for nnx every ``RngKey`` in the module's rng state is
  replaced by ``fold_in(subkey, i)`` (i = its index in flat-state order) and every
  ``RngCount`` by 0, so all of the module's randomness is eagerjax's.
- eval (``model.eval()``): ``__call__`` keywords named ``train``/``training``/
  ``is_training`` get False and ``deterministic``/``use_running_average``/
  ``inference`` get True (the opposite while training), when ``__call__``
  accepts them; nnx modules additionally get ``set_attributes(deterministic=...,
  use_running_average=...)`` on the merged copy. ``train_kwargs``/``eval_kwargs``
  replace the detected keywords. Nothing is written back and no key is drawn
  (unless ``eval_rng=True``).

``to_flax(model)`` returns ``(linen_module, variables)`` for linen (use
``linen_module.apply(variables, x)``) or the original nnx module, updated in place
with ``nnx.update``. Arrays are copied at both edges, so donation inside compiled
steps can never invalidate arrays the Flax side holds.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._autograd import no_grad
from .._dispatch import Kernel, _static, call_kernel
from .._random import _split, default_generator
from .._state import flags
from .._tensor import Parameter, Tensor
from ._module import Module

__all__ = ["FlaxModule", "from_flax", "to_flax"]

# __call__ keywords that switch Flax modules between training and evaluation: (train value, eval value).
_MODE_KEYWORDS = {
    "train": (True, False),
    "training": (True, False),
    "is_training": (True, False),
    "deterministic": (False, True),
    "use_running_average": (False, True),
    "inference": (False, True),
}
_EXCLUDED_COLLECTIONS = ("intermediates",)  # linen's sow() output: not model state
_DYN = object()  # marks a dynamic input leaf in a static spec
_CACHE_SIZE = 512
_kernels: OrderedDict = OrderedDict()  # global: (config key, structure, call key) -> Kernel
_inits: OrderedDict = OrderedDict()  # linen: (module, input structure, keywords) -> jitted init


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


# --------------------------------------------------------------------------- bridges
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


# --------------------------------------------------------------------------- the module
class _FlaxKernel(Kernel):
    """A Kernel plus what its last trace learned: which buffers changed, the output tree."""

    __slots__ = ("cell",)

    def __init__(self, fn, name: str, cell: dict) -> None:
        super().__init__(fn, name)
        self.cell = cell


class _Scope(Module):
    """A node of the Flax variable tree: holds that node's parameters, buffers and children."""

    def _get_name(self) -> str:
        return "FlaxScope"


class FlaxModule(Module):
    """A Flax (linen or nnx) module as an eagerjax Module; build one with ``nn.from_flax``."""

    def __init__(
        self,
        bridge,
        *,
        train_kwargs: dict | None = None,
        eval_kwargs: dict | None = None,
        eval_rng: bool = False,
        generator=None,
    ) -> None:
        super().__init__()
        s = object.__setattr__
        s(self, "_bridge", bridge)
        s(self, "_generator", generator)
        s(self, "_eval_rng", bool(eval_rng))
        detected_train, detected_eval = ({}, {}) if bridge.var_kw else _mode_kwargs(bridge.call_names)
        s(self, "_train_kwargs", dict(detected_train if train_kwargs is None else train_kwargs))
        s(self, "_eval_kwargs", dict(detected_eval if eval_kwargs is None else eval_kwargs))
        s(self, "_slots_p", [])  # (scope, name) per Flax parameter leaf, in kernel order
        s(self, "_slots_b", [])
        s(self, "_kcache", {})

    # -- registration ------------------------------------------------------------------
    def _scope_for(self, path: tuple) -> Module:
        m = self
        for part in path:
            child = m._modules.get(part)
            if child is None:
                child = _Scope()
                m.add_module(part, child)
            m = child
        return m

    def _register(self, path: tuple, value, as_param: bool, collection: str | None = None) -> None:
        path = tuple(str(p) for p in path)
        scope = self._scope_for(path[:-1])
        name = path[-1]
        if name in scope._parameters or name in scope._buffers or name in scope._modules:
            if collection is None:
                raise ValueError(f"from_flax: two Flax variables map to the same name {'.'.join(path)!r}")
            return self._register((collection, *path), value, as_param)
        if not isinstance(value, (jax.Array, np.ndarray, np.generic)):
            value = np.asarray(value)  # a Python number held in a Flax variable
        t = Tensor._make(_copy(value))
        if as_param and jnp.issubdtype(t._value.dtype, jnp.inexact):
            scope.register_parameter(name, Parameter(t))
            self._slots_p.append((scope, name, True))
        else:
            scope.register_buffer(name, t)
            (self._slots_p if as_param else self._slots_b).append((scope, name, False))

    def _tensor(self, slot) -> Tensor:
        scope, name, is_param = slot
        return scope._parameters[name] if is_param else scope._buffers[name]

    # -- forward -------------------------------------------------------------------------
    def _kernel(self, key, training: bool, use_rng: bool, in_def, spec, mode_kw: dict):
        b = self._bridge
        gkey = (b.config_key, key)
        try:
            kern = _kernels.get(gkey)
        except TypeError:  # an unhashable override value: keep the kernel to this module
            gkey = (_ById(self), key)
            kern = _kernels.get(gkey)
        if kern is not None:
            _kernels.move_to_end(gkey)
            return kern

        def rebuild(dyn):
            it = iter(dyn)
            leaves = [next(it) if s is _DYN else s for s in spec]
            return jax.tree_util.tree_unflatten(in_def, leaves)

        cell: dict = {}
        fn = b.make_fn(training, use_rng, rebuild, dict(mode_kw), cell)
        kern = _FlaxKernel(fn, f"flax_{type(b.module).__name__}", cell)
        if len(_kernels) >= _CACHE_SIZE:
            _kernels.popitem(last=False)
        _kernels[gkey] = kern
        return kern

    def forward(self, *args, **kwargs):
        training = self.training
        b = self._bridge
        use_rng = b.uses_rng(training, self._eval_rng)
        leaves, in_def = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_tensor)
        spec = []
        dyn = []
        for x in leaves:
            if isinstance(x, Tensor):
                spec.append(_DYN)
                dyn.append(x)
            elif isinstance(x, (jax.Array, np.ndarray, np.generic)):
                spec.append(_DYN)
                dyn.append(Tensor._make(jnp.asarray(x)))
            else:
                spec.append(x)
        mode_kw = _not_given(self._train_kwargs if training else self._eval_kwargs, b.call_names, args, kwargs)
        try:
            statics = tuple(_DYN if s is _DYN else _static(s) for s in spec)
            key = (training, use_rng, in_def, statics, _freeze(mode_kw))
            kern = self._kcache.get(key)
        except TypeError as e:
            raise TypeError(f"from_flax module: non-array arguments must be hashable ({e})") from None
        if kern is None:
            if len(self._kcache) >= 64:  # many distinct static arguments: keep the local cache small
                self._kcache.clear()
            kern = self._kcache[key] = self._kernel(key, training, use_rng, in_def, spec, mode_kw)
        mode = flags.mode
        tens = [self._tensor(s) for s in self._slots_p] + [self._tensor(s) for s in self._slots_b]
        g = None
        if use_rng:
            g = default_generator if self._generator is None else self._generator
            tens.append(g._key)
        tens.extend(dyn)
        vals = [t._value if mode is None else t._read() for t in tens]
        outs = call_kernel(kern, vals, tens)
        cell = kern.cell
        i = 0
        with no_grad():
            if use_rng:
                g._key._assign(outs[0]._read())
                i = 1
            nb_slots = self._slots_b
            for j in cell["changed"]:
                self._tensor(nb_slots[j])._assign(outs[i]._read())
                i += 1
        return jax.tree_util.tree_unflatten(cell["out"], list(outs[i:]))

    # -- export / misc -------------------------------------------------------------------
    def _values(self, slots) -> list:
        return [_copy(self._tensor(s)._concrete("to_flax")) for s in slots]

    def to_flax(self):
        return self._bridge.export(self._values(self._slots_p), self._values(self._slots_b))

    @property
    def flax_module(self):
        return self._bridge.module

    def extra_repr(self) -> str:
        return f"{self._bridge.kind}: {type(self._bridge.module).__name__}"

    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        d["_kcache"] = {}
        return d

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_kcache", {})


def _freeze(d: dict) -> tuple:
    return tuple(sorted((k, _hashable(_static(v))) for k, v in d.items()))


# --------------------------------------------------------------------------- entry points
def _is_nnx(module) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a dependency
        return False
    return isinstance(module, nnx.Module)


def _is_linen(module) -> bool:
    try:
        import flax.linen as ln
    except ImportError:  # pragma: no cover
        return False
    return isinstance(module, ln.Module)


def from_flax(
    module,
    *example_inputs,
    rngs=None,
    variables=None,
    train_kwargs: dict | None = None,
    eval_kwargs: dict | None = None,
    mutable=None,
    rng_collections=("dropout",),
    eval_rng: bool = False,
    generator=None,
    **init_kwargs,
) -> FlaxModule:
    """Wrap a ``flax.linen.Module`` or ``flax.nnx.Module`` as an eagerjax Module.

    linen: variables come from ``module.init(rngs, *example_inputs, **init_kwargs)``
    (with the training keywords, e.g. ``train=True``, unless ``init_kwargs`` set them),
    or from ``variables=`` as is. ``rngs`` may be a key, a dict of keys or an int seed;
    by default keys are split off eagerjax's generator (``ej.manual_seed`` makes them
    reproducible). ``mutable`` overrides the collections written back (default: every
    non-``params`` collection while training, none in eval). ``rng_collections`` are
    the rng streams fed from the generator while training (default ``('dropout',)``).

    nnx: the module's current state is taken (``example_inputs``/``rngs`` are not
    needed); the module itself is left untouched until ``to_flax``.

    ``train_kwargs``/``eval_kwargs`` replace the detected mode keywords passed to
    ``__call__``; ``eval_rng=True`` feeds randomness in eval mode too; ``generator``
    is the ``ej.Generator`` to draw from (default: the global one).
    """
    if isinstance(module, FlaxModule):
        raise TypeError("from_flax: the module is already an eagerjax FlaxModule")
    kw = dict(train_kwargs=train_kwargs, eval_kwargs=eval_kwargs, eval_rng=eval_rng, generator=generator)
    if _is_nnx(module):
        if variables is not None or init_kwargs:
            raise TypeError("from_flax: `variables=` and init keywords apply to linen modules only")
        bridge = _NNXBridge(module)
        model = FlaxModule(bridge, **kw)
        for i, name in enumerate(bridge.p_names):
            model._register(name, bridge.p_leaves[i], True)
        for i, name in enumerate(bridge.b_names):
            model._register(name, bridge.b_leaves[i], False)
        bridge.p_leaves = bridge.b_leaves = None  # the module's Tensors hold the (copied) values now
        return model
    if not _is_linen(module):
        raise TypeError(f"from_flax expects a flax.linen.Module or flax.nnx.Module, got {type(module).__name__}")
    if variables is None:
        variables = _init_linen(module, example_inputs, rngs, rng_collections, train_kwargs, generator, init_kwargs)
    bridge = _LinenBridge(module, variables, rng_collections, mutable)
    model = FlaxModule(bridge, **kw)
    for i in bridge.param_idx:
        model._register(bridge.display_path(i), bridge.leaves[i], True)
    for i in bridge.buffer_idx:
        model._register(bridge.display_path(i), bridge.leaves[i], False, collection=bridge.names[i][0])
    bridge.leaves = None  # the module's Tensors hold the (copied) values now
    return model


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


def to_flax(module: Module):
    """Hand a ``from_flax`` module back to Flax with its current (trained) weights.

    linen: returns ``(linen_module, variables)``, so ``linen_module.apply(variables, x)``
    computes what the eagerjax module computes in eval mode. nnx: updates the original
    nnx module in place (``nnx.update``) and returns it.
    """
    if isinstance(module, FlaxModule):
        return module.to_flax()
    found = [m for m in module.modules() if isinstance(m, FlaxModule)] if isinstance(module, Module) else []
    hint = f" (it contains {len(found)} FlaxModule(s); call to_flax on those)" if found else ""
    raise TypeError(f"to_flax expects a module made by nn.from_flax, got {type(module).__name__}{hint}")
