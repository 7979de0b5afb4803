"""Lazy mode: record ops instead of running them; run each recorded graph as one cached program.

Inside ``with ej.lazy():`` every dispatched kernel (ops, the fused backward,
optimizer updates) is appended to a pending graph and returns ``LazyValue``
placeholders that know only their shape and dtype. The graph is *flushed* at an
iteration boundary (the end of ``optimizer.step()``), when a value is needed on
the host (``.item()``, ``print``, ``bool(t)``), or when the context exits.

A flush computes the graph's structural signature — kernels in order, how
they are wired, the shapes/dtypes of the concrete arrays feeding it, and which
of its values are still referenced from Python — and looks it up in a bounded
cache. A graph seen before runs its compiled program; a new one is turned into
a pure function, ``jax.jit``-ed once, and cached. Values nobody references any
more stay inside the program (XLA never materializes them).
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from collections import OrderedDict

import jax
import numpy as np

from . import _gradpack
from ._state import flags
from ._tensor import Tensor

_LOG = os.environ.get("EAGERJAX_LOG", "")
_SCALARS = (int, float, bool)
_MAX_PENDING = 5000  # recorded kernels before a forced flush


class LazyValue:
    """A value that a pending graph will compute: shape and dtype now, ``array`` after the flush."""

    __slots__ = ("shape", "dtype", "node", "leaf", "array", "__weakref__")

    def __init__(self, shape, dtype, node: int, leaf: int) -> None:
        self.shape = shape
        self.dtype = dtype
        self.node = node
        self.leaf = leaf
        self.array = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __jax_array__(self):
        if self.array is None:
            raise RuntimeError("internal: a lazy value was used before its graph was flushed")
        return self.array

    def __repr__(self) -> str:
        return f"LazyValue(shape={self.shape}, dtype={self.dtype.name})"


def concrete(v):
    """The array behind ``v`` (a materialized LazyValue or already an array)."""
    return v.array if type(v) is LazyValue else v


class LazyGraph:
    """The recorder installed as ``flags.mode`` in lazy mode (one per process)."""

    is_lazy = True

    def __init__(self, cache_size: int = 64) -> None:
        self.cache_size = cache_size
        self.cache: OrderedDict = OrderedDict()
        self.shapes: dict = {}  # (kernel uid, input avals) -> output ShapeDtypeStruct tree
        self.stats = {
            "ops_recorded": 0,
            "flushes": 0,
            "hits": 0,
            "misses": 0,
            "traces": 0,
            "compile_seconds": 0.0,
            "record_seconds": 0.0,
            "recompiles": [],
        }
        self._last_key = None
        self._reset()

    def _reset(self) -> None:
        self.nodes: list = []  # (kernel, refs, treedef, [weakref(LazyValue)])
        self.consts: list = []
        self.const_avals: list = []  # per const: (shape, dtype), or the Python scalar's type
        self.const_ids: dict = {}
        self.tracked: list = []  # weakrefs of tensors whose _value may be lazy
        self.overwritten: dict = {}  # const slot -> weakref of the tensor that held it and was written
        self.grad_owners: list = []  # weakrefs of tensors whose .grad was set

    # -- recorder protocol ---------------------------------------------------------
    def note_new(self, t: Tensor) -> None:
        if type(t._value) is LazyValue:
            self.tracked.append(weakref.ref(t))

    def note_write(self, t: Tensor) -> None:
        r = weakref.ref(t)
        slot = self.const_ids.get(id(_gradpack.raw_value(t)))  # (called before the write: the old value)
        if slot is not None:
            self.overwritten[slot] = r
        self.tracked.append(r)

    def note_grad(self, t: Tensor) -> None:
        self.grad_owners.append(weakref.ref(t))  # its new .grad may be packed at the flush

    def note_grad_access(self, t: Tensor) -> None:
        pass

    def note_module(self, m) -> None:
        pass

    def note_read(self, t: Tensor):
        return t._value

    def host_read(self, t: Tensor, what: str):
        v = t._value
        if type(v) is LazyValue:
            if v.array is None:
                self.flush(f"host read: {what}")
            v = t._value
            return v.array if type(v) is LazyValue else v
        return v

    def mark_step(self) -> None:
        """An iteration boundary (end of ``optimizer.step()``)."""
        if self.nodes:
            self.flush("step boundary")

    def run(self, kern, vals, tens):
        t0 = time.perf_counter()
        if kern.eager_only:
            # A value-dependent shape: materialize the inputs and run now.
            if any(type(v) is LazyValue and v.array is None for v in vals):
                self.flush(f"{kern.name}() needs concrete inputs")
            return kern.fn(*[concrete(v) for v in vals])
        refs = []
        avals = []
        consts = self.consts
        const_avals = self.const_avals
        const_ids = self.const_ids
        for v in vals:
            tv = type(v)
            if tv is LazyValue:
                if v.array is None:
                    refs.append(("n", v.node, v.leaf))
                    avals.append((v.shape, v.dtype))
                    continue
                v = v.array
                tv = type(v)
            if tv in _SCALARS:
                refs.append(("c", len(consts)))
                consts.append(v)
                const_avals.append(tv)
                avals.append(tv)
                continue
            k = id(v)
            slot = const_ids.get(k)
            if slot is None:
                slot = const_ids[k] = len(consts)
                consts.append(v)
                const_avals.append((v.shape, v.dtype))
            refs.append(("c", slot))
            avals.append(const_avals[slot])
        skey = (kern.uid, tuple(avals))
        shape = self.shapes.get(skey)
        if shape is None:
            args = [jax.ShapeDtypeStruct(a[0], a[1]) if type(a) is tuple else v for a, v in zip(avals, vals)]
            leaves, treedef = jax.tree_util.tree_flatten(jax.eval_shape(kern.fn, *args))
            single = treedef.num_leaves == 1 and not treedef.children() and treedef.num_nodes == 1
            shape = self.shapes[skey] = ([(tuple(x.shape), np.dtype(x.dtype)) for x in leaves], treedef, single)
        leaves, treedef, single = shape
        idx = len(self.nodes)
        outs = [LazyValue(sh, dt, idx, i) for i, (sh, dt) in enumerate(leaves)]
        self.nodes.append((kern, tuple(refs), [weakref.ref(o) for o in outs]))
        if idx >= _MAX_PENDING:
            # A loop with no boundary (no optimizer.step, no host read): keep graphs bounded.
            self.flush("pending graph reached its size limit")
        self.stats["ops_recorded"] += 1
        self.stats["record_seconds"] += time.perf_counter() - t0
        return outs[0] if single else jax.tree_util.tree_unflatten(treedef, outs)

    # -- flush ------------------------------------------------------------------------
    def flush(self, why: str = "explicit") -> None:
        if not self.nodes:
            self._reset()
            return
        nodes, consts, tracked, const_avals = self.nodes, self.consts, self.tracked, self.const_avals
        donate, reuse = _donatable(consts, const_avals, self.overwritten)
        grads, layout = _grads_to_pack(self.grad_owners)
        self._reset()
        self.stats["flushes"] += 1
        packed = {(v.node, v.leaf) for _, v in grads}
        live = []  # (node, leaf, LazyValue) still referenced from Python
        for i, (_, _, outs) in enumerate(nodes):
            for j, r in enumerate(outs):
                lv = r()
                if lv is not None and (i, j) not in packed:
                    live.append((i, j, lv))
        if reuse:
            # jax pairs each donated input with the first remaining output of its shape and
            # dtype. Listing every donated value's replacement first, in the same order, makes
            # each buffer hold its own tensor's new value; otherwise a parameter's buffer could
            # go to its gradient, which is computed while the parameter is still needed, and
            # XLA copies the parameter first (12 extra copies in the medium MLP's step).
            rank = {nl: k for k, nl in enumerate(reuse)}
            live.sort(key=lambda e: rank.get((e[0], e[1]), len(rank)))
        structure = tuple((k.uid, refs) for k, refs, _ in nodes)
        cavals = tuple(const_avals)
        outs_key = tuple((i, j) for i, j, _ in live)
        pack_key = tuple((v.node, v.leaf) for _, v in grads)
        key = (structure, cavals, outs_key, donate, pack_key)
        prog = self.cache.get(key)
        if prog is None:
            self.stats["misses"] += 1
            prog = self._compile(nodes, outs_key + pack_key, key, donate, len(pack_key))
        else:
            self.stats["hits"] += 1
            self.cache.move_to_end(key)
        self._last_key = key
        results = prog(*consts)
        for (_, _, lv), a in zip(live, results):
            lv.array = a
            lv.node = None
        if grads:
            _gradpack.attach([t for t, _ in grads], results[-1], layout)
        # Tensors get their arrays back; placeholders are only a recording device. (The raw
        # slot: a packed grad's value stays unsplit until someone reads it.)
        for r in tracked:
            t = r()
            if t is not None:
                v = _gradpack.raw_value(t)
                if type(v) is LazyValue and v.array is not None:
                    _gradpack.set_raw_value(t, v.array)

    def _compile(self, nodes, outs_key, key, donate: tuple, n_packed: int = 0):
        kernels = [k for k, _, _ in nodes]
        wiring = [refs for _, refs, _ in nodes]

        def program(*consts):
            self.stats["traces"] += 1
            results = []
            for k, refs in zip(kernels, wiring):
                args = [consts[r[1]] if r[0] == "c" else results[r[1]][r[2]] for r in refs]
                results.append(jax.tree_util.tree_leaves(k.fn(*args)))
            out = [results[i][j] for i, j in outs_key]
            if n_packed:
                # the last n_packed results are small gradients, returned in one buffer
                out = out[:-n_packed] + _gradpack.pack(out[-n_packed:])[0]
            return out

        reason = self._reason(key)
        self.stats["recompiles"].append(reason)
        if "recompile" in _LOG or "all" in _LOG:
            print(f"[eagerjax] lazy graph compile: {reason}", file=sys.stderr)
        jitted = jax.jit(program, donate_argnums=donate)
        t0 = time.perf_counter()

        def first(*consts):
            out = jitted(*consts)
            self.stats["compile_seconds"] += time.perf_counter() - t0
            self.cache[key] = jitted
            return out

        if len(self.cache) >= self.cache_size:
            self.cache.popitem(last=False)
        self.cache[key] = first
        return first

    def _reason(self, key) -> str:
        prev = self._last_key
        if prev is None:
            return "first graph"
        (sa, ca, _, da, _), (sb, cb, _, db, _) = prev, key
        if len(sa) != len(sb):
            return f"graph has {len(sb)} ops (was {len(sa)})"
        for i, (x, y) in enumerate(zip(sa, sb)):
            if x != y:
                return f"op {i} differs in kernel or wiring"
        for i, (x, y) in enumerate(zip(ca, cb)):
            if x != y:
                return f"input {i}: {_fmt(x)} -> {_fmt(y)}"
        if len(ca) != len(cb):
            return f"graph has {len(cb)} inputs (was {len(ca)})"
        if da != db:
            return f"inputs donated {list(db)} (were {list(da)}): other references to old values changed"
        return "a different set of results is still referenced"


def _donatable(consts: list, avals: list, overwritten: dict) -> tuple[tuple, list]:
    """Const slots whose buffer the program may reuse for its result: the old value of a
    tensor the graph overwrote with a same-shaped value, held by nothing but the graph;
    and, in the same order, the ``(node, leaf)`` of each one's new value.

    Donation lets XLA update parameters and optimizer state in place (as ``ej.compile``
    does) instead of allocating every state buffer afresh each step.
    """
    out = []
    for slot, ref in overwritten.items():
        t = ref()
        new = None if t is None else t._value
        if type(new) is not LazyValue or avals[slot] != (new.shape, new.dtype):
            continue
        # 2 references: the consts list and getrefcount's argument. A third (a `.data` or
        # detach() alias, a tensor saved for a backward not yet run) keeps the buffer.
        if sys.getrefcount(consts[slot]) <= 2:
            out.append((slot, (new.node, new.leaf)))
    out.sort()
    return tuple(s for s, _ in out), [nl for _, nl in out]


def _grads_to_pack(owners: list) -> tuple[list, tuple]:
    """The pending ``.grad``s of ``owners`` (weakrefs) to return in one packed buffer (see
    ``_gradpack``), as ``[(grad tensor, LazyValue)]`` in a fixed order, and their layout;
    ``([], ())`` if they do not qualify (fewer than two, mixed dtypes, too large) or one is
    shared: a ``.data`` or ``detach()`` alias, a node that saved it, would need the value."""
    seen = set()
    grads = []
    for r in owners:
        o = r()
        t = None if o is None else o._grad
        if type(t) is not _gradpack._PackedGrad or id(t) in seen:
            continue
        seen.add(id(t))
        v = _gradpack.raw_value(t)
        if type(v) is not LazyValue or v.array is not None or t._pack is not None:
            continue
        # references: t's slot, ``v``, getrefcount's argument (the graph's are weak)
        if sys.getrefcount(v) > 3:
            return [], ()
        grads.append((t, v))
    if len(grads) < 2 or not _gradpack.packable([(v.shape, v.dtype) for _, v in grads]):
        return [], ()
    grads.sort(key=lambda e: (e[1].node, e[1].leaf))
    return grads, _gradpack.layout_of([v.shape for _, v in grads])


def _fmt(a) -> str:
    if isinstance(a, tuple):
        return f"shape {a[0]} dtype {np.dtype(a[1]).name}"
    return f"python {a.__name__}"


_graph: LazyGraph | None = None


def _the_graph() -> LazyGraph:
    global _graph
    if _graph is None:
        _graph = LazyGraph()
    return _graph


class lazy:
    """``with ej.lazy():`` records ops and runs each iteration as one compiled program.

    Nested uses share the same graph; leaving the outermost context flushes it.
    """

    def __init__(self) -> None:
        self._prev = []

    def __enter__(self) -> lazy:
        self._prev.append(flags.mode)
        if not isinstance(flags.mode, LazyGraph):
            if flags.mode is not None:
                raise RuntimeError("ej.lazy() cannot be entered while a step is being captured by ej.compile")
            flags.mode = _the_graph()
        return self

    def __exit__(self, *exc) -> None:
        prev = self._prev.pop()
        if prev is None and isinstance(flags.mode, LazyGraph):
            try:
                flags.mode.flush("leaving ej.lazy()")
            finally:
                flags.mode = prev


def set_mode(mode: str) -> None:
    """Switch the whole process to ``"lazy"`` or back to ``"eager"`` (flushing pending work)."""
    if mode == "lazy":
        if flags.mode is None:
            flags.mode = _the_graph()
    elif mode == "eager":
        if isinstance(flags.mode, LazyGraph):
            g = flags.mode
            try:
                g.flush("switching to eager")
            finally:
                flags.mode = None
    else:
        raise ValueError(f"mode must be 'eager' or 'lazy', got {mode!r}")


def get_mode() -> str:
    m = flags.mode
    return "lazy" if isinstance(m, LazyGraph) else "eager" if m is None else "capture"


def mark_step() -> None:
    """Flush pending lazy work now (an explicit iteration boundary)."""
    if isinstance(flags.mode, LazyGraph):
        flags.mode.mark_step()


def lazy_stats() -> dict:
    """Counters of the lazy graph cache: flushes, hits, misses, traces, recompile reasons."""
    g = _the_graph()
    s = dict(g.stats)
    s["recompiles"] = list(s["recompiles"])
    s["cache_entries"] = len(g.cache)
    s["us_per_recorded_op"] = 1e6 * s["record_seconds"] / max(1, s["ops_recorded"])
    return s
