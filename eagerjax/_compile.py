"""``ej.compile``: a whole imperative step as ONE cached, compiled pure function.

Capture runs in explicit phases (see ``_capture.Capture`` for the bookkeeping):

1. **discover** — trace the step abstractly (``jax.eval_shape``) with state left
   concrete, recording which pre-existing tensors it reads and writes: the
   *plan*. Nothing compiles; every effect is undone.
2. **trace** — build ``pure(state_in, args) -> (state_out, outputs)``: swap
   tracers into the plan's tensors, run the user's Python once, read the new
   state out, restore. ``jax.jit`` it with the written state donated.
3. **run** — on later calls with the same structure, call the cached program
   and write the new state back. A failing call writes nothing.

The cache key is the step's *structure*: argument tree and static values,
grad mode, the ``training`` flags of the modules it calls, which state tensors
have a ``.grad``, and the shapes/dtypes of array arguments. Python numbers
and state values (learning rates included) are traced, never baked in, so
changing them never recompiles. Every recompile records its reason in words.
"""

from __future__ import annotations

import dis
import functools
import inspect
import math
import os
import sys
import time
import types
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _autocast, _callback, _dispatch, _gradpack, _post_hooks, _state, _xla_budget
from ._capture import Capture, CaptureError, GraphBreak, StateMiss
from ._precision import traced
from ._state import collector_paused, flags, user_code
from ._tensor import Tensor, _device_array, _set_rg

_LOG = os.environ.get("EAGERJAX_LOG", "")


def _fast_key(args: tuple, grad_owners: list, bound: tuple) -> tuple | None:
    """A cheap stand-in for the full cache key of a call whose arguments are all Tensors
    (None otherwise): what ``_split`` and ``_dynamic_key`` would read, plus the structure
    epoch (train/eval flags, param groups), grad mode and ``ej.autocast`` state."""
    key = [flags.structure_epoch, flags.grad_enabled, flags.autocast_state, bound]
    for a in args:
        if type(a) is not Tensor:
            return None
        v = a._value
        key.append((v.shape, v.dtype, a._rg, a._grad is None))
    for t in grad_owners:
        key.append(t._grad is None)
    n = len(args)
    if (args[0] is args[1]) if n == 2 else (n > 2 and len({id(a) for a in args}) != n):
        return None  # one tensor passed twice: the full key records which
    return tuple(key)


def _holds_state(v) -> bool:
    """A Tensor, Module or Optimizer (whose tensors a step may read as state), or a Python
    number, string, bool or None (which its trace bakes in): what a rebinding must be seen of."""
    return type(v) in _BAKED or isinstance(v, Tensor) or hasattr(v, "_parameters") or hasattr(v, "param_groups")


_BAKED = (bool, int, float, complex, str, type(None))
# functions of these read no user state by name (and eagerjax's own flags change as it runs)
_LIBRARIES = ("eagerjax", "jax", "numpy", "flax", "optax", "torch")


def _identity(v):
    """How ``_bound_ids`` tells a binding's object: a baked-in value by value, else by identity."""
    if type(v) in _BAKED:
        return (type(v), "nan" if v != v else v)
    return id(v)


def _code_names(code) -> list:
    """The global names ``code`` and the functions defined in it (lambdas, comprehensions) read."""
    out = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out += _code_names(c)
    return out


def _bindings(fns, cells: bool = True) -> tuple[list, list]:
    """Where ``fns`` find state by name: ``(globals, name)`` of each global they read that holds
    a Tensor, Module, Optimizer or Python value now, and (with ``cells``) ``(cell, name)`` of
    each closure cell holding one; also through the plain functions, compiled functions and
    transforms they call by name (a helper in the same file, ``vmap(grad(f))``), a few
    levels deep.

    A plan records the state objects a step read, not how it reached them, and its trace
    bakes in the Python values it read: after ``model = Net()``, ``scale = ej.tensor(2.0)``
    or ``USE_NOISE = False`` rebinds a name, a cached program would silently keep using the
    old ones. What these bindings hold (objects by identity, values by value) is part of
    the cache key instead (``_bound_ids``), so such a call finds its state again or
    retraces, as torch.compile's guards make it."""
    from ._func import _Lifted, _Transformed

    names, found = [], []
    seen: set = set()
    todo = [(f, 0, cells) for f in fns]
    while todo:
        f, depth, with_cells = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if type(f) is _Lifted:
            f = f.tf
        if isinstance(f, _Transformed):
            f = f._compiled
        if isinstance(f, CompiledFunction):  # (its closure tensors: lifted by a transform, else its own key)
            todo += [(g, depth, f._guard_cells) for g in f._guard_fns]
            continue
        f = getattr(f, "__func__", f)
        while isinstance(f, functools.partial):
            f = f.func
        code = getattr(f, "__code__", None)
        if code is None or (getattr(f, "__module__", None) or "").partition(".")[0] in _LIBRARIES:
            continue
        g = f.__globals__
        values = [(g[n], (g, n), False) for n in _code_names(code) if n in g]
        values += [(_cell_value(c), (c, n), True) for n, c in zip(code.co_freevars, f.__closure__ or ())]
        attrs = None
        for v, where, is_cell in values:
            if not _holds_state(v) and not isinstance(v, (types.ModuleType, types.FunctionType)):
                # a plain value read through an attribute (``cfg.gain``, ``Config.lr``)
                if getattr(v, "__dict__", None) is not None:
                    if attrs is None:
                        attrs = _code_attrs(code)
                    for a in attrs.get(where[1], ()):
                        if type(_plain_attr(v, a)) in _BAKED and (not is_cell or with_cells):
                            names.append((_AttrOf(where[0], where[1], a), f"{where[1]}.{a}"))
            if _holds_state(v):
                if not is_cell and (id(g), where[1]) not in seen:
                    seen.add((id(g), where[1]))
                    names.append(where)
                elif is_cell and with_cells:
                    found.append(where)
            elif depth < 3 and callable(v) and id(v) not in seen:
                if isinstance(v, (types.FunctionType, CompiledFunction, _Transformed, _Lifted)):
                    todo.append((v, depth + 1, with_cells))
    return names, found


def _code_attrs(code) -> dict:
    """``{name: {attr, ...}}``: the attributes ``code`` (and code defined in it) reads
    straight off a global or closure name (``cfg.gain``)."""
    out: dict = {}
    prev = None
    for ins in dis.get_instructions(code):
        if ins.opname == "LOAD_ATTR" and prev is not None:
            out.setdefault(prev, set()).add(ins.argval)
        prev = ins.argval if ins.opname in ("LOAD_GLOBAL", "LOAD_DEREF", "LOAD_NAME") else None
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            for k, v in _code_attrs(c).items():
                out.setdefault(k, set()).update(v)
    return out


class _AttrOf:
    """A guard on ``root.attr`` (``root`` a global or closure name): ``get`` reads it now,
    through whatever the name holds now, as ``_bound_ids`` reads a name's value."""

    __slots__ = ("where", "name", "attr")

    def __init__(self, where, name: str, attr: str) -> None:
        self.where, self.name, self.attr = where, name, attr

    def get(self, _label):
        w = self.where
        return _plain_attr(w.get(self.name) if type(w) is dict else _cell_value(w), self.attr)


_NO_ATTR = object()


def _plain_attr(obj, attr: str):
    """``obj.attr`` as stored (its own, else its class's), without running a property or
    ``__getattr__``: a marker when there is none."""
    d = getattr(obj, "__dict__", None)
    v = _NO_ATTR if d is None else d.get(attr, _NO_ATTR)
    return inspect.getattr_static(obj, attr, _NO_ATTR) if v is _NO_ATTR else v


def _module_key(m) -> tuple:
    """``(name, value)`` of each plain Python attribute of ``m`` (``training``, ``p``, ``eps``,
    a temperature): a step's trace bakes them in, so a new value must find another program
    (as torch.compile's guards on module attributes do). Module.__setattr__ bumps the
    structure epoch when one changes, so this runs only then. Attributes a trace assigned
    itself (``_module.traced_writes``) are left out."""
    from .nn._module import traced_writes

    own = getattr(m, "_capture_key", None)
    if own is not None:  # (an optimizer)
        return own()
    skip = traced_writes.get(m, ())
    key = [(k, _identity(v)) for k, v in m.__dict__.items() if type(v) in _BAKED and k not in skip]
    # its forward hooks, traced in (registering or removing one bumps the structure epoch)
    hooks = m.__dict__.get("_forward_pre_hooks"), m.__dict__.get("_forward_hooks")
    if hooks[0] or hooks[1]:
        key.append(("forward hooks", (tuple(hooks[0] or ()), tuple(hooks[1] or ()))))
    return tuple(key)


def _cell_value(c, unbound=None):
    """A closure cell's contents (``unbound`` for a name not bound yet)."""
    try:
        return c.cell_contents
    except ValueError:
        return unbound


def _bound_ids(names: list, cells: list) -> tuple:
    return tuple([_identity(g.get(n)) for g, n in names] + [_identity(_cell_value(c)) for c, _ in cells])


def _is_leaf(x) -> bool:
    return isinstance(x, Tensor)


def _aval(v) -> tuple:
    return (tuple(v.shape), np.dtype(v.dtype).name)


def _fmt_aval(a) -> str:
    return f"shape {a[0]} dtype {a[1]}"


class _Plan:
    """What one step structure reads and writes (the discovered state)."""

    def __init__(self, cap: Capture, none_at_end: set = frozenset()) -> None:
        # Latest-touched first. The order of a program's inputs and outputs steers XLA's
        # schedule: the backward yields the last layer's gradients first, and updating that
        # layer's state first lets its temporaries die early (the medium MLP's step needs
        # 0.5 MB of temporaries in this order, 1.5-3.3 MB in others). Plans are shared by
        # ``signature()``, which does not depend on the order.
        writes = list(cap.wrote_value.values())[::-1]
        reads = list(cap.read_value.values())[::-1]
        read = set(cap.read_value)
        # Inputs read and overwritten are donated: their old buffers become the new ones.
        # They lead the outputs in the same order, because jax gives each donated buffer to
        # the first remaining output of its shape (a buffer given to another tensor whose
        # value is computed while the old one is still needed makes XLA copy it first).
        self.value_donated = [t for t in writes if id(t) in read]
        self.value_out = self.value_donated + [t for t in writes if id(t) not in read]
        self.value_kept = [t for t in reads if id(t) not in cap.wrote_value]
        self.grad_out = list(cap.wrote_grad.values())[::-1]
        gwrote = set(cap.wrote_grad)
        self.grad_in = [t for t in list(cap.read_grad.values())[::-1] if t._grad is not None]
        # (not those the step reads and then leaves None, ``zero_grad()`` after ``step()``:
        # no output would reuse their buffers, and jax would warn)
        self.grad_donated = [t for t in self.grad_in if id(t) in gwrote and id(t) not in none_at_end]
        donated = {id(t) for t in self.grad_donated}
        self.grad_kept = [t for t in self.grad_in if id(t) not in donated]
        # .grads the step writes without reading (``zero_grad()`` then ``backward()``): their
        # old buffers are dead once the step runs, so they are donated too (unread inputs
        # that XLA reuses for the new gradients), as the hand-written step frees its grads.
        # Not those it leaves None: nothing would reuse them (and jax would warn).
        gin = {id(t) for t in self.grad_in}
        self.grad_dead = [t for t in self.grad_out if id(t) not in gin and id(t) not in none_at_end]
        self.input_ids = {id(t) for t in reads}
        self.requiring_grad = [t for t in self.value_out + self.value_kept if t.requires_grad]
        # the gradient hooks of state leaves, traced into the backward (registering or
        # removing one on a Parameter bumps the state epoch: the step finds its state again)
        post = _post_hooks.hooks
        hooked = [(t, post[id(t)][1] if id(t) in post else ()) for t in self.value_out + self.value_kept]
        self.hooks = tuple(
            sorted((id(t), tuple(map(id, t._hooks or ())), tuple(map(id, p))) for t, p in hooked if t._hooks or p)
        )
        self.modules = list(cap.modules.values())
        self.last_sig: tuple | None = None
        self.entries: dict = {}  # argument avals -> _Entry traced for this plan

    def signature(self) -> tuple:
        """Identity of the plan: two discoveries that found the same state (and called the same
        modules: a stateless submodule may have been swapped) share programs, whatever order
        they met it in (zero_grad before or after backward). Which state tensors require
        grad is part of it: the trace baked in what ``backward()`` reaches, so a parameter
        frozen (or unfrozen) between calls needs its own program."""
        return tuple(
            tuple(sorted(id(t) for t in group))
            for group in (
                self.value_donated,
                self.value_kept,
                self.value_out,
                self.grad_donated,
                self.grad_kept,
                self.grad_out,
                self.modules,
                self.requiring_grad,
            )
        ) + (self.hooks,)


class _Entry:
    __slots__ = (
        "plan",
        "jitted",
        "jitted_plain",
        "dead_fill",
        "dead_missing",
        "pure",
        "out_tree",
        "out_rg",
        "out_args",
        "differentiable",
        "kernel",
        "tens_mask",
        "arg_grad_in",
        "arg_writes",
        "pack",
        "grad_layout",
        "callback",
    )

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.jitted = None
        self.jitted_plain = None
        self.dead_fill = None  # stand-ins for dead grads that are None (never donated)
        self.dead_missing = False  # a call has met a dead grad that was None
        self.pure = None
        self.out_tree = None
        self.out_rg = None
        self.out_args = None  # per tensor output: the argument it is (returned as that tensor), or None
        self.differentiable = False
        self.kernel = None
        self.arg_grad_in: list = []  # dyn indices of Tensor arguments whose .grad is an input
        # What the step did to its Tensor arguments (set when traced), written back to the
        # caller's tensors after a successful call: None if nothing, else
        # (value written: [dyn index], .grad written: [(dyn index, not None)], [(dyn index, requires_grad)])
        self.arg_writes = None
        # The grads the step writes come back packed in one array (see _gradpack); their
        # layout is known once traced.
        self.pack = False
        self.grad_layout = None
        self.callback = None  # (once traced) the step runs user Python on the host: see _callback


class CompiledFunction:
    """A step function compiled by ``ej.compile``. Call it like the original.

    ``stats()`` reports hits, misses, traces, discoveries, compile seconds and the
    reason of every recompile.
    """

    def __init__(
        self,
        fn: Callable,
        *,
        static_argnums: tuple[int, ...] = (),
        static_argnames: tuple[str, ...] = (),
        fullgraph: bool = True,
        donate: bool = True,
        cache_size: int = 64,
        name: str | None = None,
        what: str = "compiled step",
    ) -> None:
        self.fn = fn
        self.what = what  # how errors raised while tracing name it
        self.static_argnums = frozenset(
            static_argnums if isinstance(static_argnums, (tuple, list)) else (static_argnums,)
        )
        self.static_argnames = frozenset((static_argnames,) if isinstance(static_argnames, str) else static_argnames)
        self.fullgraph = fullgraph
        self.donate = donate
        self.cache_size = int(cache_size)
        self.name = name or getattr(fn, "__qualname__", getattr(fn, "__name__", "step"))
        self._plans: dict = {}
        self._plans_by_sig: dict = {}
        self._treedefs: dict = {}
        self._fast: dict = {}  # all-Tensor positional calls: cheap key -> (full cache key, entry)
        self._cache: OrderedDict = OrderedDict()
        self._modules: list = []  # every module any discovery saw (their flags key the cache)
        self._grad_owners: list = []  # every tensor whose .grad presence matters
        # id -> weakref of argument tensors the step also uses as state (a parameter passed
        # in): passed by identity, not as a traced value (see ``_state_arguments``)
        self._state_args: dict = {}
        self._epoch = -1
        self._train_key: tuple = ()
        self._last_key: tuple | None = None
        self._eager = False
        self._warned_evict = False
        # the names through which the step reaches state objects (``_bindings``); a transform
        # sets its user functions instead (``_func._memo``), whose closure tensors it lifts
        self._guard_fns: tuple = (fn,)
        self._guard_cells = True
        self._guards: tuple | None = None
        self._stats = {
            "calls": 0,
            "hits": 0,
            "misses": 0,
            "traces": 0,
            "discoveries": 0,
            "compile_seconds": 0.0,
            "recompiles": [],
            "evictions": 0,
        }
        functools.update_wrapper(self, fn)

    # ------------------------------------------------------------------ public
    def stats(self) -> dict:
        """Counters and recompile reasons (a copy)."""
        s = dict(self._stats)
        s["recompiles"] = list(s["recompiles"])
        s["cache_entries"] = len(self._cache)
        return s

    def clear_cache(self) -> None:
        self._plans.clear()
        self._plans_by_sig.clear()  # plans hold their programs (plan.entries)
        self._cache.clear()
        self._fast.clear()

    def __get__(self, obj, objtype=None):
        # Used as a method decorator: bind like a function, one compiled cache per instance.
        if obj is None:
            return self
        bound = obj.__dict__.get(("__ej_compiled__", self.name))
        if bound is None:
            bound = CompiledFunction(
                self.fn.__get__(obj, objtype),
                static_argnums=tuple(self.static_argnums),
                static_argnames=tuple(self.static_argnames),
                fullgraph=self.fullgraph,
                donate=self.donate,
                cache_size=self.cache_size,
                name=self.name,
            )
            try:
                obj.__dict__[("__ej_compiled__", self.name)] = bound
            except (AttributeError, TypeError):
                pass
        return bound

    def __call__(self, *args, **kwargs):
        self._stats["calls"] += 1
        if _dispatch.forward_ad_hook is not None:
            from ._forward_ad import check_compiled_call

            check_compiled_call(self.name, args, kwargs)
        mode = flags.mode
        if mode is not None and getattr(mode, "is_lazy", False):
            # Inside lazy mode: settle pending work, then run compiled as usual.
            mode.flush("calling a compiled function")
            flags.mode = None
            try:
                return self(*args, **kwargs)
            finally:
                flags.mode = mode
        if _xla_budget.pressure and mode is None:
            _xla_budget.relieve()
        if self._eager or mode is not None:
            # Graph broke earlier (fullgraph=False), or we are inside another
            # capture: run the Python as is (an outer capture traces it inline).
            return self.fn(*args, **kwargs)
        fast = None
        if not kwargs and not (self.static_argnums or self.static_argnames or self._state_args):
            fast = _fast_key(args, self._grad_owners, self._bound())
            if fast is not None:
                hit = self._fast.get(fast)
                if hit is not None:
                    # The steady state: same shapes, flags and structure as a cached call
                    # (an evicted entry's fast keys are dropped with it).
                    key, entry = hit
                    if key is not self._last_key:
                        self._cache.move_to_end(key)
                        self._last_key = key
                    self._stats["hits"] += 1
                    vals = [a._value for a in args]
                    if entry.differentiable or entry.arg_writes is not None or entry.arg_grad_in or entry.out_args:
                        return self._run(entry, vals, key[0][0], list(args))
                    return self._run(entry, vals, key[0][0])
        if fast is not None:
            # The common call, step(x, y): every argument is a leaf.
            leaves = args
            treedef = self._treedefs.get(len(args))
            if treedef is None:
                treedef = self._treedefs[len(args)] = jax.tree_util.tree_structure((args, {}), is_leaf=_is_leaf)
        else:
            leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_leaf)
        vals, avals, spec = self._split(leaves, treedef, len(args))
        skey = (treedef, spec, flags.grad_enabled, self._dynamic_key())
        key = (skey, avals)
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            self._last_key = key
            self._stats["hits"] += 1
            if fast is not None:
                if len(self._fast) >= 4 * self.cache_size:
                    self._fast.clear()
                self._fast[fast] = (key, entry)
            if entry.differentiable or entry.arg_writes is not None or entry.arg_grad_in or entry.out_args:
                tens = [a if isinstance(a, Tensor) else None for a, sp in zip(leaves, spec) if type(sp) is not tuple]
                return self._run(entry, vals, treedef, tens)
            return self._run(entry, vals, treedef)
        self._stats["misses"] += 1
        mark = len(_state.born_state)
        try:
            with collector_paused():
                out = self._miss(skey, key, vals, avals, treedef, args, kwargs)
            del _state.born_state[mark:]  # (the state the trace made is the program's now)
            return out
        except GraphBreak as gb:
            _state.drop_born_state(mark)  # (the eager run makes its own)
            self._eager = True
            warnings.warn(
                f"ej.compile({self.name}): {gb.args[0]} reads a tensor value on the host; "
                f"with fullgraph=False this step now runs eagerly.",
                stacklevel=2,
            )
            return self.fn(*args, **kwargs)
        except BaseException:
            _state.drop_born_state(mark)
            raise

    # ------------------------------------------------------------------ keys
    def _split(self, leaves, treedef, nargs):
        """Dynamic values, their avals, and the hashable spec of every argument leaf.

        Tensors, arrays and Python ints/floats are dynamic (traced) unless their
        argument is marked static; every other leaf is static (hashed into the key).
        """
        static = self._static_leaves(treedef) if (self.static_argnums or self.static_argnames) else ()
        vals, avals, spec = [], [], []
        first: dict = {}  # id of a Tensor argument -> its first leaf (one tensor passed twice)
        for i, a in enumerate(leaves):
            if i in static:
                # (its value, read directly: this also runs while a discovery traces the step)
                spec.append(("S", _hashable(np.asarray(a._value).tolist() if isinstance(a, Tensor) else a)))
            elif isinstance(a, Tensor) and self._state_args and _is_state_arg(self._state_args, a):
                # the step's own state tensor: itself inside the step (an identity in the key)
                spec.append(("S", ("state", id(a))))
            elif isinstance(a, Tensor):
                v = a._value
                vals.append(v)
                # whether it has a .grad: the step may read or accumulate into it
                avals.append((v.shape, v.dtype, a.requires_grad, a._grad is not None))
                k = first.setdefault(id(a), i)
                spec.append("T" if k == i else f"T={k}")
            elif isinstance(a, (jax.Array, np.ndarray)):
                v = jnp.asarray(a)
                vals.append(v)
                avals.append((v.shape, v.dtype, False))
                spec.append("A")
            elif type(a) is int or type(a) is float:
                vals.append(a)
                avals.append(type(a))
                spec.append("N")
            else:
                spec.append(("S", _hashable(a)))
        return vals, tuple(avals), tuple(spec)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - keyed by treedef, lives as long as the function
    def _static_leaves(self, treedef) -> frozenset:
        args, kwargs = jax.tree_util.tree_unflatten(treedef, list(range(treedef.num_leaves)))
        out = set()
        for i, sub in enumerate(args):
            if i in self.static_argnums:
                out.update(jax.tree_util.tree_leaves(sub))
        for k, sub in kwargs.items():
            if k in self.static_argnames:
                out.update(jax.tree_util.tree_leaves(sub))
        return frozenset(out)

    def _dynamic_key(self) -> tuple:
        """Training flags, which grads exist, the state epoch and the ``ej.autocast`` state
        around the call: after a module's tensors are reassigned (or a parameter frozen, an
        optimizer's state loaded) the key differs, so the next call finds its state again; the
        same state found reuses the plan's programs. (An autocast region entered inside the
        step is traced; one around it changes which kernels the step's ops use.)"""
        if flags.structure_epoch != self._epoch:
            self._epoch = flags.structure_epoch
            self._train_key = tuple(map(_module_key, self._modules))
        grads = tuple(t._grad is None for t in self._grad_owners)
        return self._train_key, grads, flags.state_epoch, flags.autocast_state, self._bound()

    def _bound(self) -> tuple:
        """The identities of the objects the step's names hold now (see ``_bindings``)."""
        g = self._guards
        if g is None:
            g = self._guards = _bindings(self._guard_fns, self._guard_cells)
        return _bound_ids(*g) if g[0] or g[1] else ()

    # ------------------------------------------------------------------ miss: discover + trace
    def _miss(self, skey, key, vals, avals, treedef, args, kwargs):
        plan = self._plans.get(skey)
        for _ in range(4):
            if plan is None:
                plan = self._discover(vals, treedef, args, kwargs)
                if plan is None:  # an argument turned out to be state: key it by identity
                    leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_leaf)
                    vals, avals, spec = self._split(leaves, treedef, len(args))
                    skey = (treedef, spec, flags.grad_enabled, self._dynamic_key())
                    key = (skey, avals)
                    continue
                # Discovery may have met new modules / grad owners: the key grows.
                skey = (skey[0], skey[1], skey[2], self._dynamic_key())
                key = (skey, key[1])
                # The same state found again (e.g. grads now exist but the step
                # zeroes them before reading): reuse that plan and its programs.
                plan = self._plans_by_sig.setdefault(plan.signature(), plan)
                self._plans[skey] = plan
            leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_leaf)
            spec = skey[1]
            tens = [a if isinstance(a, Tensor) else None for a, sp in zip(leaves, spec) if type(sp) is not tuple]
            entry = plan.entries.get(_entry_key(key))
            if entry is not None and entry.out_tree is not None and not entry.differentiable:
                self._cache[key] = entry
                self._last_key = key  # (the next recompile's reason compares with this call)
                self._stats["hits"] += 1
                self._stats["misses"] -= 1
                return self._run(entry, vals, treedef, tens)
            entry = _Entry(plan)
            template = self._template(leaves, spec)
            entry.arg_grad_in = [i for i, t in enumerate(tens) if t is not None and t._grad is not None]
            try:
                out = self._first_run(entry, key, vals, treedef, template, tens)
            except StateMiss as miss:
                self._plans.pop(skey, None)
                plan = None
                self._log(f"state {miss.args[0]} was not in the plan: re-discovering")
                continue
            return out
        raise CaptureError(f"ej.compile({self.name}): the step's state did not settle after 4 discoveries")

    def _discover(self, vals, treedef, args, kwargs) -> _Plan:
        self._stats["discoveries"] += 1
        cap = Capture(None, self.fullgraph, self.what)
        prev = flags.mode
        flags.mode = cap
        leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_leaf)
        spec = self._split(leaves, treedef, len(args))[2]
        template = self._template(leaves, spec)
        grads = [a._grad._value for a, sp in zip(leaves, spec) if type(sp) is not tuple and _has_grad(a)]
        try:

            def f(*dyn):
                (a, k), _ = self._rebuild(template, treedef, dyn)
                out = self.fn(*a, **k)
                return [x._value for x in jax.tree_util.tree_leaves(out, is_leaf=_is_leaf) if isinstance(x, Tensor)]

            jax.eval_shape(traced(f), *vals, *grads)  # (traced: as the step will be)
            # .grads the step leaves None (``opt.zero_grad()`` at its end): no new value
            # could reuse their old buffers
            none_at_end = {id(t) for t in cap.wrote_grad.values() if t._grad is None}
        finally:
            flags.mode = prev
            cap.restore()
        if self._state_arguments(cap, leaves, spec):
            return None
        plan = _Plan(cap, none_at_end)
        for m in plan.modules:
            if all(m is not x for x in self._modules):
                self._modules.append(m)
                self._epoch = -1
        for t in list(cap.read_grad.values()) + list(cap.wrote_grad.values()):
            if all(t is not x for x in self._grad_owners):
                self._grad_owners.append(t)
        return plan

    def _state_arguments(self, cap: Capture, leaves, spec) -> bool:
        """Whether the discovery found argument tensors that the step also reaches as state
        (a parameter passed in that an optimizer updates, or whose .grad a backward sets): inside the
        step an argument is a fresh Tensor around the traced value, which the optimizer
        holding the original would never see. Such arguments are then passed as
        themselves; the caller rediscovers."""
        found = False
        # (read alone, the original holds the argument's own value: nothing to do)
        touched = (cap.wrote_value, cap.read_grad, cap.wrote_grad, cap.grad_seen)
        for a, sp in zip(leaves, spec):
            if isinstance(a, Tensor) and type(sp) is not tuple and any(id(a) in s for s in touched):
                self._state_args[id(a)] = weakref.ref(a)
                found = True
        if found:
            self._fast.clear()
        return found

    @staticmethod
    def _template(leaves, spec) -> list:
        """What each argument leaf is, without holding on to the caller's arrays:
        ("S", static value) or ("T", requires_grad, has a .grad, index of the same tensor)."""
        out = []
        dyn = {}  # leaf -> its dynamic index
        for i, (a, sp) in enumerate(zip(leaves, spec)):
            if type(sp) is tuple:
                out.append(("S", a))
                continue
            dyn[i] = len(dyn)
            # the 4th field: the dynamic index of the same tensor's first leaf (it is one
            # Tensor inside the step too, so a write through one name is seen through the other)
            same = dyn[int(sp[2:])] if sp.startswith("T=") else None
            out.append(("T", isinstance(a, Tensor) and a.requires_grad, _has_grad(a), same))
        return out

    @staticmethod
    def _rebuild(template, treedef, dyn):
        """Arguments for the user's function: array leaves become Tensors around ``dyn``
        (values first, then the ``.grad`` of those that have one). Returns the argument
        tree and the Tensors made, one per dynamic leaf."""
        it = iter(dyn)
        new = []
        made = []
        for e in template:
            if e[0] == "S":
                new.append(e[1])
            elif e[3] is not None:
                next(it)
                new.append(made[e[3]])
                made.append(made[e[3]])
            else:
                t = Tensor._make(next(it), e[1])
                new.append(t)
                made.append(t)
        for t, e in zip(made, [e for e in template if e[0] != "S"]):
            if e[2]:
                t._grad = Tensor._make(next(it))
        return jax.tree_util.tree_unflatten(treedef, new), made

    def _make_pure(self, entry: _Entry, key, treedef, template):
        plan = entry.plan
        value_in = plan.value_donated + plan.value_kept
        grad_in = plan.grad_donated + plan.grad_kept

        seen = [None]  # _xla_budget.clears at this function's last trace (a second trace is jax's)
        # A compiled forward's backward retraces ``pure`` after the call: under the autocast
        # state of the call (its key), wherever that happens.
        autocast = _autocast.pinned(key[0][3][3])
        grad_mode = key[0][2]

        def pure(value_don, value_kept, grad_don, grad_kept, dyn, dead=()):
            cleared = seen[0] is not None and seen[0] != _xla_budget.clears
            self._count_trace(plan, key, value_don + value_kept, grad_don + grad_kept, cleared)
            seen[0] = _xla_budget.clears
            cap = Capture(plan.input_ids, self.fullgraph, self.what)
            prev = flags.mode
            flags.mode = cap
            # A compiled forward's backward retraces this inside its kernel, with grad off:
            # the step sees the call's grad mode again (an is_grad_enabled() branch takes the
            # same way), only its own no_grad stops JAX's gradients, and its custom Functions
            # leave to JAX which inputs are differentiated.
            user = user_code()
            user.__enter__()
            outer_grad, outer_transform = flags.grad_enabled, flags.in_transform
            flags.grad_enabled = grad_mode
            flags.in_transform = outer_transform or entry.differentiable
            autocast.__enter__()
            try:
                for t, v in zip(value_in, list(value_don) + list(value_kept)):
                    cap._owner(t)
                    t._value = v
                for t, v in zip(grad_in, list(grad_don) + list(grad_kept)):
                    cap._owner(t)
                    t._grad = Tensor._make(v)
                    cap.grad_of[id(t._grad)] = t
                (a, k), made = self._rebuild(template, treedef, dyn)
                before = [(t._value, t._grad, None if t._grad is None else t._grad._value) for t in made]
                out = self.fn(*a, **k)
                entry.callback = cap.callback
                if cap.missed:
                    raise StateMiss(_describe(cap.missed[0]))
                extra = [t for i, t in cap.wrote_value.items() if all(t is not x for x in plan.value_out)]
                if extra:
                    raise StateMiss(_describe(extra[0]))
                extra = [t for i, t in cap.wrote_grad.items() if all(t is not x for x in plan.grad_out)]
                if extra:
                    raise StateMiss(_describe(extra[0]) + ".grad")
                new_vals = [t._value for t in plan.value_out]
                new_grads = [None if t._grad is None else t._grad._value for t in plan.grad_out]
                if entry.pack:
                    new_grads, entry.grad_layout = _gradpack.pack(new_grads)
                out_leaves, out_tree = jax.tree_util.tree_flatten(out, is_leaf=_is_leaf)
                entry.out_tree = (out_tree, [None if isinstance(x, Tensor) else x for x in out_leaves])
                ids = {id(t): i for i, t in enumerate(made)}
                which = [ids.get(id(x)) for x in out_leaves if isinstance(x, Tensor)]
                entry.out_args = which if any(i is not None for i in which) else None
                if entry.out_rg is None:
                    # The first trace's: a compiled forward's backward retraces this function
                    # (under jax.vjp, without grad) and must not turn its outputs' grad off.
                    entry.out_rg = [x.requires_grad for x in out_leaves if isinstance(x, Tensor)]
                arrays = [x._value for x in out_leaves if isinstance(x, Tensor)]
                return new_vals, new_grads, arrays, _arg_effects(entry, template, made, before)
            finally:
                autocast.__exit__()
                user.__exit__()
                flags.grad_enabled, flags.in_transform = outer_grad, outer_transform
                flags.mode = prev
                cap.restore()

        return pure

    def _first_run(self, entry: _Entry, key, vals, treedef, template, tens):
        plan = entry.plan
        # (traced: its float32 products at the set precision, in every jit made of it)
        pure = entry.pure = traced(self._make_pure(entry, key, treedef, template))
        # A step with no backward inside, run with grad enabled on tensors that need
        # grad (a compiled forward), becomes ONE differentiable op on the tape.
        owners = plan.value_donated + plan.value_kept
        entry.differentiable = (
            flags.grad_enabled
            and not plan.grad_out
            and not plan.grad_in
            and (any(t.requires_grad for t in owners) or any(t is not None and t.requires_grad for t in tens))
        )
        if entry.differentiable:
            entry.kernel = _pure_kernel(pure, len(plan.value_donated), len(plan.value_kept), self.name)
        else:
            # ``dead`` (the old buffers of grads the step overwrites unread) is never read:
            # keep_unused keeps it a parameter, so its buffers can be donated to the outputs.
            donate = (0, 2, 5) if self.donate else ()
            # Small grads that are all overwritten unread come back in one buffer, and the
            # previous call's buffer, whole, is the one dead input (``_dead_pack``).
            entry.pack = len(plan.grad_out) == len(plan.grad_dead) and _gradpack.packable(
                [(t._value.shape, t._value.dtype) for t in plan.grad_out]
            )
            entry.jitted = jax.jit(pure, donate_argnums=donate, keep_unused=True)
        entry.tens_mask = [t is not None for t in tens]
        t0 = time.perf_counter()
        out = self._run(entry, vals, treedef, tens)
        self._stats["compile_seconds"] += time.perf_counter() - t0
        self._cache[key] = entry
        self._last_key = key
        plan.entries[_entry_key(key)] = entry
        if len(self._cache) > self.cache_size:
            old_key, old = self._cache.popitem(last=False)
            # Drop every reference to the evicted program, so the bound also bounds memory
            # (unless another key shares it: the same program with and without .grads).
            if all(e is not old for e in self._cache.values()):
                old.plan.entries.pop(_entry_key(old_key), None)
            self._fast.clear()
            self._stats["evictions"] += 1
            if not self._warned_evict:
                self._warned_evict = True
                warnings.warn(
                    f"ej.compile({self.name}): more than cache_size={self.cache_size} compiled variants; "
                    f"evicting the least recently used (see .stats()['recompiles'] for why shapes vary).",
                    stacklevel=3,
                )
        self._last_key = key
        return out

    # ------------------------------------------------------------------ run + write back
    def _run(self, entry: _Entry, vals, treedef, tens=None):
        plan = entry.plan
        vd = [t._value for t in plan.value_donated]
        vk = [t._value for t in plan.value_kept]
        if entry.differentiable:
            return self._run_differentiable(entry, vd, vk, vals, tens)
        gd = [t._grad._value for t in plan.grad_donated]
        gk = [t._grad._value for t in plan.grad_kept]
        fn = entry.jitted
        dead = (_dead_pack(entry) if entry.pack else _dead_grads(entry)) if plan.grad_dead else []
        if self.donate:
            # Donate only buffers nothing else holds (a `.data` alias, a saved
            # activation, a user's detach()). 3 references are ours: the tensor,
            # the list and getrefcount's argument. A user's alias of a .grad is a
            # second reference to its Tensor (the parameter holds one).
            rc = sys.getrefcount
            if (
                max(map(rc, vd), default=0) > 3
                or max(map(rc, gd), default=0) > 3
                or any(rc(t._grad) > 2 for t in plan.grad_donated)
                or dead is None
            ):
                fn = self._no_donate(entry)
                if dead is None:
                    dead = _dead_fill(entry)
        if entry.arg_grad_in:
            vals = list(vals) + [tens[i]._grad._value for i in entry.arg_grad_in]
        if entry.callback is None:
            fn.trace(vd, vk, gd, gk, vals, dead)  # (the first call: the run below reuses this trace)
        if entry.callback:
            # User Python runs inside (a LambdaLR lambda): if it raises, the program fails after
            # its inputs were donated. So nothing is donated, and the results are waited for
            # before any state is written; the error raised is the user's own.
            try:
                res = jax.block_until_ready(self._no_donate(entry)(vd, vk, gd, gk, vals, dead))
            except Exception as e:
                _callback.reraise(e)
                raise
            new_vals, new_grads, arrays, arg_out = res
        else:
            new_vals, new_grads, arrays, arg_out = fn(vd, vk, gd, gk, vals, dead)
        # Success: only now does any state change.
        for t, v in zip(plan.value_out, new_vals):
            t._value = v
            t._version += 1
        if entry.pack:
            _gradpack.unpack(plan.grad_out, new_grads, entry.grad_layout)
        else:
            for t, g in zip(plan.grad_out, new_grads):
                t._grad = None if g is None else Tensor._make(g)
        if entry.arg_writes is not None:
            _write_args(entry, tens, arg_out)
        tree, statics = entry.out_tree
        if entry.out_args is not None and tens is not None:
            # A returned argument is the caller's tensor (updated above), as in eager.
            outs_t = [Tensor._make(a) if i is None else tens[i] for a, i in zip(arrays, entry.out_args)]
        elif tree.num_nodes == 1 and statics == [None]:
            return Tensor._make(arrays[0])  # a step returning one tensor (the loss)
        else:
            outs_t = [Tensor._make(a) for a in arrays]
        it = iter(outs_t)
        outs = [next(it) if s is None else s for s in statics]
        return jax.tree_util.tree_unflatten(tree, outs)

    @staticmethod
    def _no_donate(entry: _Entry):
        if entry.jitted_plain is None:
            entry.jitted_plain = jax.jit(entry.pure, keep_unused=True)  # shares jitted's trace
        return entry.jitted_plain

    def _run_differentiable(self, entry: _Entry, vd, vk, vals, tens):
        """Run the step as one op recorded on the autograd tape (gradients via jax.vjp of ``pure``)."""
        from ._dispatch import call_kernel

        plan = entry.plan
        if tens is None:
            tens = [None] * len(vals)
        owners = plan.value_donated + plan.value_kept
        gin = [tens[i]._grad._value for i in entry.arg_grad_in]
        res = call_kernel(entry.kernel, vd + vk + list(vals) + gin, owners + list(tens) + [None] * len(gin))
        n_new = len(plan.value_out)
        for t, v in zip(plan.value_out, res[:n_new]):
            t._value = v._value  # buffer updates (e.g. running stats) carry no gradient
            t._version += 1
        if entry.arg_writes is not None:
            # (known once the kernel has traced) writes to arguments, off the tape like buffers
            n_arg = len(entry.arg_writes[0]) + sum(p for _, p in entry.arg_writes[1])
            _write_args(entry, tens, [r._value for r in res[n_new : n_new + n_arg]])
            n_new += n_arg
        tree, statics = entry.out_tree
        # Outputs the step detached (or that never needed grad) stay off the tape.
        it = iter(r if rg else Tensor._make(r._value) for r, rg in zip(res[n_new:], entry.out_rg))
        outs = [next(it) if s is None else s for s in statics]
        return jax.tree_util.tree_unflatten(tree, outs)

    # ------------------------------------------------------------------ diagnostics
    def _count_trace(self, plan: _Plan, key, value_in, grad_in, cleared: bool = False) -> None:
        """Count a trace and record why; ``cleared``: a retrace because JAX's caches were cleared."""
        sig = (key, tuple(_aval(v) for v in value_in), tuple(_aval(v) for v in grad_in))
        if cleared:
            reason = _xla_budget.reason
        else:
            reason = self._reason(plan, sig)
        plan.last_sig = sig
        self._last_key = key
        self._stats["traces"] += 1
        self._stats["recompiles"].append(reason)
        self._log(reason)

    def _reason(self, plan: _Plan, sig) -> str:
        prev = self._last_key
        if prev is None:
            return "first call"
        if prev != sig[0]:
            prev = self._nearest(sig[0], prev)
        if prev != sig[0]:
            return self._key_diff(prev, sig[0]) or "new step structure"
        last = plan.last_sig
        if last is None:
            return "new step structure"
        known = _state_names(plan.modules)
        names = [_describe(t, known) for t in plan.value_donated + plan.value_kept]
        for n, a, b in zip(names, last[1], sig[1]):
            if a != b:
                return f"state {n}: {_aval_change(a, b)}"
        for t, a, b in zip(plan.grad_donated + plan.grad_kept, last[2], sig[2]):
            if a != b:
                return f"state {_describe(t, known)}.grad: {_aval_change(a, b)}"
        return "retraced by jax"

    def _nearest(self, key, last):
        """The cached key that differs from ``key`` in the fewest parts (``last`` on a tie), so
        a reason names what is new, not what changed since the last call (which may be cached:
        shapes (6, 3), (5, 3), then (6, 3) with a new dtype of y is y's dtype)."""

        def distance(k):
            (sa, aa), (sb, ab) = k, key
            return (
                sum(x != y for x, y in zip(sa, sb)) * 1000
                + sum(x != y for x, y in zip(aa, ab))
                + abs(len(aa) - len(ab))
            )

        best, score = last, distance(last)
        for k in self._cache:
            d = distance(k)
            if d < score:
                best, score = k, d
        return best

    def _key_diff(self, a, b) -> str | None:
        (sa, aa), (sb, ab) = a, b
        if sa[1] != sb[1] or sa[0] != sb[0]:
            for i, (x, y) in enumerate(zip(sa[1], sb[1])):
                if x != y:
                    return f"argument leaf {i}: {_short(x)} -> {_short(y)}"
            return "argument structure changed"
        if sa[2] != sb[2]:
            return f"grad mode {'enabled' if sa[2] else 'disabled'} -> {'enabled' if sb[2] else 'disabled'}"
        if sa[3] != sb[3]:
            (ta, ga, ea, aa, ba), (tb, gb, eb, ab, bb) = sa[3], sb[3]
            if aa != ab:
                return f"autocast: {_autocast.describe(aa)} -> {_autocast.describe(ab)}"
            if ba != bb and self._guards is not None:
                names, cells = self._guards
                closure = [type(w) is _AttrOf and type(w.where) is not dict for w, _ in names]
                labels = [f"{'closure variable' if c else 'global'} {n}" for (_, n), c in zip(names, closure)]
                labels += [f"closure variable {n}" for _, n in cells]
                values = [f"{label}: {x[1]!r} -> {y[1]!r}" for label, x, y in zip(labels, ba, bb)
                          if x != y and type(x) is tuple and type(y) is tuple]  # fmt: skip
                if values:
                    return ", ".join(values)
                changed = [label for label, x, y in zip(labels, ba, bb) if x != y]
                if len(changed) == 1:
                    return f"{changed[0]} now holds a different object"
                if changed:
                    return f"{', '.join(changed)} now hold different objects"
            if ea != eb:
                return self._state_diff(a, b)
            for m, x, y in zip(self._modules, ta, tb):
                if x != y:
                    was, now = dict(x), dict(y)
                    for name in list(was) + [n for n in now if n not in was]:
                        if was.get(name) != now.get(name):
                            shown = [v[1] if v else "(unset)" for v in (was.get(name), now.get(name))]
                            what = "optimizer" if hasattr(m, "param_groups") else "module"
                            return f"{what} {type(m).__name__}: {name} {shown[0]!r} -> {shown[1]!r}"
            if len(ta) != len(tb):
                return "new modules in the step"
            for t, x, y in zip(self._grad_owners, ga, gb):
                if x != y:
                    t = _describe(t, _state_names(self._modules))
                    return f"state {t}.grad: {'None' if x else 'tensor'} -> {'None' if y else 'tensor'}"
            return "new state with gradients"
        dyn_leaves = [i for i, sp in enumerate(sb[1]) if type(sp) is str]
        for i, (x, y) in enumerate(zip(aa, ab)):
            if x != y:
                return f"argument {self._arg_name(sb[0], dyn_leaves[i])}: {_av_change(x, y)}"
        return None

    def _state_diff(self, a, b) -> str:
        """Why a step found new state: what its plan reads or writes now and did not, or no longer."""
        old, new = self._plans.get(a[0]), self._plans.get(b[0])
        what = "state changed (a module's tensors reassigned, requires_grad flipped, or optimizer state loaded)"
        if old is None or new is None:
            return what
        parts = []
        names = _state_names(old.modules + new.modules)
        for label, attr in (("writes", "value_out"), ("reads", "value_kept"), ("writes the .grad of", "grad_out")):
            was = {id(t) for t in getattr(old, attr)}
            now = {id(t) for t in getattr(new, attr)}
            added = [_describe(t, names) for t in getattr(new, attr) if id(t) not in was]
            gone = [_describe(t, names) for t in getattr(old, attr) if id(t) not in now]
            if added:
                parts.append(f"now {label} {', '.join(added[:3])}" + (" ..." if len(added) > 3 else ""))
            if gone:
                parts.append(f"no longer {label} {', '.join(gone[:3])}" + (" ..." if len(gone) > 3 else ""))
        was_state = {id(t) for t in old.value_out + old.value_kept}
        was_rg = {id(t) for t in old.requiring_grad}
        for t in new.value_out + new.value_kept:
            if id(t) in was_state and (id(t) in was_rg) != t.requires_grad:
                parts.append(f"{_describe(t, names)}.requires_grad {not t.requires_grad} -> {t.requires_grad}")
        return what + (": " + "; ".join(parts) if parts else "")

    def _arg_name(self, treedef, leaf: int) -> str:
        """'0 (x)' for a leaf that is a whole positional argument, else the leaf index."""
        try:
            args, kwargs = jax.tree_util.tree_unflatten(treedef, list(range(treedef.num_leaves)))
            params = list(inspect.signature(self.fn).parameters)
        except (TypeError, ValueError):
            return f"leaf {leaf}"
        for p, a in enumerate(args):
            if a == leaf:
                return f"{p} ({params[p]})" if p < len(params) else str(p)
        for k, a in kwargs.items():
            if a == leaf:
                return k
        return f"leaf {leaf}"

    def _log(self, msg: str) -> None:
        if "recompile" in _LOG or "all" in _LOG:
            print(f"[eagerjax] compile {self.name}: {msg}", file=sys.stderr)


def _entry_key(key) -> tuple:
    """A program is shared by keys that differ only in which grads exist (the plan decides the
    rest; the bindings carry the Python values its trace baked in)."""
    (treedef, spec, grad_mode, (train, _, _, autocast, bound)), avals = key
    return treedef, spec, grad_mode, train, autocast, bound, avals


def _dead_grads(entry: _Entry) -> list | None:
    """The old buffers of the plan's dead grads, or None when one cannot be donated:
    someone else holds it (a user's ``g = p.grad``; a saved tensor), or it is None again.

    A .grad always has its tensor's shape and dtype (the setter enforces it, as torch's
    does), so the program's signature holds. The first call usually has no grads yet:
    fresh zeros stand in, so only the donating program compiles; a step whose grads are
    None on every call (``zero_grad()`` outside it) takes the non-donating program rather
    than paying for stand-ins each call."""
    rc = sys.getrefcount
    out = []
    missing = False
    for t in entry.plan.grad_dead:
        g = t._grad
        if g is None:
            if entry.dead_missing:
                return None
            missing = True
            out.append(_device_array(np.zeros(t._value.shape, t._value.dtype)))
            continue
        a = g._value
        # references: t._grad, ``g``, the argument (the Tensor); g._value, ``a``, the argument
        if rc(g) > 3 or rc(a) > 3:
            return None
        out.append(a)
    if missing:
        entry.dead_missing = True  # the next call with a missing grad takes the non-donating program
    return out


def _dead_pack(entry: _Entry) -> list:
    """A packing step's one dead input: the buffer of the previous call's grad pack, when
    every dead grad is still an unread view of it and nothing else holds it (the usual loop:
    ``zero_grad()`` inside the step, no grad read between calls), else fresh zeros in its
    place. Either way the donating program runs: XLA writes the new pack over the old one,
    as the hand-written step reuses its grads' memory, and the parameters stay donated."""
    ts = entry.plan.grad_dead
    g = ts[0]._grad
    shared = getattr(g, "_pack", None)
    if type(shared) is _gradpack._Pack and shared.flat is not None:
        rc = sys.getrefcount
        # references: each view's ``_pack``, ``shared``, the argument / t._grad, ``g``, the argument
        ok = rc(shared) == len(ts) + 2
        for t in ts:
            g = t._grad
            if not ok or type(g) is not _gradpack._PackedGrad or g._pack is not shared or rc(g) > 3:
                ok = False
                break
        flat = shared.flat
        # (this program's own last output has its layout: its avals, the grads' dtype)
        # references: ``shared.flat``, ``flat``, the argument
        if ok and shared.layout == entry.grad_layout and flat.dtype == ts[0]._value.dtype and rc(flat) == 3:
            return [flat]  # (its views are all replaced once the call returns)
    return [_device_array(np.zeros(*aval)) for aval in _dead_avals(entry)]


def _dead_avals(entry: _Entry) -> list:
    """``(shape, dtype)`` of each dead input: the dead grads', or a packing step's one flat
    buffer of them all (every dead grad is written: a plan never packs one it leaves None)."""
    ts = entry.plan.grad_dead
    if entry.pack:
        return [((sum(math.prod(t._value.shape) for t in ts),), ts[0]._value.dtype)]
    return [(t._value.shape, t._value.dtype) for t in ts]


def _dead_fill(entry: _Entry) -> list:
    """Stand-ins for the dead inputs, made once per program and never donated."""
    if entry.dead_fill is None:
        entry.dead_fill = [_device_array(np.zeros(*aval)) for aval in _dead_avals(entry)]
    return entry.dead_fill


def _pure_kernel(pure, n_don: int, n_kept: int, name: str):
    """Wrap ``pure`` as a flat-argument Kernel: (state..., args...) -> (new state..., outputs...)."""
    from ._dispatch import Kernel

    def flat(*xs):
        new_vals, _, arrays, arg_out = pure(
            list(xs[:n_don]), list(xs[n_don : n_don + n_kept]), [], [], list(xs[n_don + n_kept :])
        )
        return tuple(new_vals) + tuple(arg_out) + tuple(arrays)

    return Kernel(flat, f"compiled_{name}")


def _has_grad(a) -> bool:
    return isinstance(a, Tensor) and a._grad is not None


def _is_state_arg(state_args: dict, a: Tensor) -> bool:
    w = state_args.get(id(a))
    if w is None:
        return False
    if w() is a:
        return True
    del state_args[id(a)]  # a dead tensor's id, reused
    return False


def _arg_effects(entry: _Entry, template, made, before) -> list:
    """At trace time: what the step did to the Tensors standing for its arguments.

    Records it on ``entry.arg_writes`` and returns the arrays to hand back: written values,
    then the written (non-None) ``.grad``s."""
    kinds = [e for e in template if e[0] != "S"]
    vals, grads, rgs, out = [], [], [], []
    for i, (t, e, (v0, g0, gv0)) in enumerate(zip(made, kinds, before)):
        if t._value is not v0:
            vals.append(i)
            out.append(t._value)
        g = t._grad
        if g is not g0 or (g is not None and g._value is not gv0):
            grads.append((i, g is not None))
        if t.requires_grad != e[1]:
            rgs.append((i, t.requires_grad))
    out += [made[i]._grad._value for i, present in grads if present]
    entry.arg_writes = (vals, grads, rgs) if (vals or grads or rgs) else None
    return out


def _write_args(entry: _Entry, tens, arg_out) -> None:
    """Write a successful call's argument updates back to the caller's tensors."""
    vals, grads, rgs = entry.arg_writes
    it = iter(arg_out)
    for i in vals:
        v = next(it)
        t = tens[i]
        if t is not None:
            t._value = v
            t._version += 1
    for i, present in grads:
        g = next(it) if present else None
        t = tens[i]
        if t is not None:
            t._grad = None if g is None else Tensor._make(g)
    for i, rg in rgs:
        if tens[i] is not None:
            _set_rg(tens[i], rg)


def _av(x) -> str:
    if isinstance(x, tuple):
        return f"shape {tuple(x[0])} dtype {np.dtype(x[1]).name}"
    return f"python {x.__name__}"


def _av_change(x, y) -> str:
    if isinstance(x, tuple) and isinstance(y, tuple) and x[:2] == y[:2]:
        if x[2] != y[2]:
            return f"requires_grad {x[2]} -> {y[2]}"
        return f".grad {'tensor' if x[3] else 'None'} -> {'tensor' if y[3] else 'None'}"
    return f"{_av(x)} -> {_av(y)}"


def _short(x) -> str:
    if isinstance(x, tuple) and x and x[0] == "S":
        return f"static {x[1]!r}"
    if isinstance(x, str) and x.startswith("T="):
        return f"the tensor of leaf {x[2:]}"
    return {"T": "tensor", "A": "array", "N": "number"}.get(x, repr(x))


def _aval_change(a, b) -> str:
    if a[0] != b[0]:
        return f"shape {a[0]} -> {b[0]}"
    return f"dtype {a[1]} -> {b[1]}"


def _describe(t: Tensor, names: dict | None = None) -> str:
    """``Net.fc.weight`` for a parameter or buffer of a module the step called (outermost
    module first), else its shape and dtype."""
    n = getattr(t, "_name", None) or (names or {}).get(id(t))
    if n:
        return n
    return f"tensor{tuple(t.shape)}:{np.dtype(t._value.dtype).name}"


def _state_names(modules: list) -> dict:
    """id -> qualified name of the parameters and buffers of ``modules`` (outermost first)."""
    names: dict = {}
    for m in modules:
        root = type(m).__name__
        if not hasattr(m, "named_parameters"):
            continue  # (an optimizer)
        for kind in ("named_parameters", "named_buffers"):
            for n, t in getattr(m, kind)():
                names.setdefault(id(t), f"{root}.{n}")
    return names


def _hashable(a) -> Any:
    try:
        hash(a)
        return a
    except TypeError:
        return repr(a)


def compile(
    fn: Callable | None = None,
    *,
    static_argnums: tuple[int, ...] | int = (),
    static_argnames: tuple[str, ...] | str = (),
    fullgraph: bool = True,
    donate: bool = True,
    cache_size: int = 64,
    **torch_options: Any,
):
    """Compile a step (function or ``nn.Module``) into one cached XLA program.

    Usable as ``@ej.compile``, ``@ej.compile(...)`` or ``ej.compile(model)``. torch.compile
    options such as ``mode=`` or ``backend=`` are accepted and ignored.
    """
    opts = dict(
        static_argnums=static_argnums if isinstance(static_argnums, tuple) else (static_argnums,),
        static_argnames=static_argnames,
        fullgraph=fullgraph,
        donate=donate,
        cache_size=cache_size,
    )
    if fn is None:
        return lambda f: compile(f, **opts)
    if hasattr(fn, "forward") and hasattr(fn, "named_parameters"):
        return _compile_module(fn, opts)
    return CompiledFunction(fn, **opts)


def _compile_module(module, opts):
    from ._compiled_module import CompiledModule

    compiled = CompiledFunction(module.__call__, name=type(module).__name__, **opts)
    compiled._guard_fns = (module.forward,)  # (the names the user's forward reads, not Module.__call__'s)
    return CompiledModule(module, compiled)
