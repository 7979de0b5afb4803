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

This file holds ``FlaxModule`` and the entry points; ``_flax_linen.py`` and
``_flax_nnx.py`` hold the two bridges (variable layout, the kernel's pure function,
export) and ``_flax_common.py`` the helpers they share.
"""

from __future__ import annotations

from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np

from .._autograd import no_grad
from .._dispatch import Kernel, _static, call_kernel
from .._random import default_generator
from .._state import flags
from .._tensor import Parameter, Tensor
from ._flax_common import _DYN, _ById, _copy, _freeze, _is_tensor, _mode_kwargs, _not_given
from ._flax_linen import _init_linen, _LinenBridge
from ._flax_nnx import _NNXBridge
from ._module import Module

__all__ = ["FlaxModule", "from_flax", "to_flax"]

_CACHE_SIZE = 512
_kernels: OrderedDict = OrderedDict()  # global: (config key, structure, call key) -> Kernel


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
