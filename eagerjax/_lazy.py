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

import functools
import os
import sys
import time
import weakref
from collections import OrderedDict

import jax
import numpy as np

from . import _callback, _gradpack, _xla_budget
from ._precision import traced
from ._state import collector_paused, flags
from ._tensor import Tensor, _device_array

_LOG = os.environ.get("EAGERJAX_LOG", "")
_SCALARS = (int, float, bool)
_MAX_PENDING = 5000  # recorded kernels before a forced flush
_LEAF_BITS = 24  # a kernel's outputs are numbered below 2**24
_LEAF_MASK = (1 << _LEAF_BITS) - 1


class LazyValue:
    """A value that a pending graph will compute: shape and dtype now, ``array`` after the flush."""

    __slots__ = ("shape", "dtype", "aid", "node", "leaf", "array", "__weakref__")

    def __init__(self, shape, dtype, aid: int, node: int, leaf: int) -> None:
        self.shape = shape
        self.dtype = dtype
        self.aid = aid  # the interned (shape, dtype): see ``_aval_id``
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
        self._last_prog = None
        self._clears = _xla_budget.clears
        self._cleared = False
        self._stood_in: dict = {}  # id(owner) -> weakref: owners whose new .grad got a stand-in donor
        self._reset()

    def _reset(self) -> None:
        # (kernel, refs): per input, a const slot (>= 0) or ``~(node << _LEAF_BITS | leaf)``
        # (flat ints: the graph's signature is hashed and compared on every flush)
        self.nodes: list = []
        self.outrefs: list = []  # weakref of every LazyValue recorded, in node order
        self.consts: list = []
        self.const_avals: list = []  # per const: its interned aval (``_aval_id``)
        self.const_ids: dict = {}
        self.tracked: list = []  # weakrefs of tensors whose _value may be lazy
        self.overwritten: dict = {}  # const slot -> weakref of the tensor that held it and was written
        self.grad_owners: list = []  # weakrefs of tensors whose .grad was set
        self.updates: list = []  # (node, target tensors, output aval ids) of run_update
        self.dead: list = []  # (owner weakref, buffer) of concrete .grads dropped while recording
        # (tensor weakref, its value before the graph wrote it) where that value is not one of
        # the graph's consts (``overwritten`` has those): put back if the graph fails
        self.before: list = []

    # -- recorder protocol ---------------------------------------------------------
    def note_new(self, t: Tensor) -> None:
        if type(t._value) is LazyValue:
            self.tracked.append(weakref.ref(t))

    def note_write(self, t: Tensor) -> None:
        self.note_writes((t,))

    def note_writes(self, ts) -> None:
        """Tensors about to be written (called before the write, so each still holds its old
        value): a const slot they held may be donated; their new values are restored at the flush."""
        refs = list(map(weakref.ref, ts))
        self.tracked += refs
        const_ids = self.const_ids
        raw = _gradpack.raw_value
        before = self.before
        for t, r in zip(ts, refs):
            old = raw(t)
            slot = const_ids.get(id(old))
            if slot is not None:
                self.overwritten[slot] = r
            elif type(old) is not LazyValue:
                before.append((r, old))

    def note_grad(self, t: Tensor) -> None:
        """``t.grad`` is about to be set (``zero_grad()``): its new .grad may be packed at the
        flush, and the buffer of the old one, once nothing holds it, may be donated to it."""
        r = weakref.ref(t)
        self.grad_owners.append(r)
        old = t._grad
        if old is not None:
            v = _gradpack.raw_value(old)  # (None for a grad still inside a pack)
            if v is not None and type(v) is not LazyValue:
                self.dead.append((r, v))

    def set_grads(self, owners: list, grads: list) -> None:
        """``backward()`` gives each owner its new ``.grad`` (values, placeholders or Tensors).
        A pending one becomes a ``_PackedGrad``: the flush may return it packed with others."""
        self.grad_owners += map(weakref.ref, owners)
        tracked = self.tracked
        for t, g in zip(owners, grads):
            if type(g) is LazyValue:
                g = _gradpack._PackedGrad._pending(g)
                tracked.append(weakref.ref(g))
            elif not isinstance(g, Tensor):
                g = Tensor._make(g)
            t._grad = g

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
            if v.array is None:
                # Not a result itself (a grad returned packed): the tensor's value now. A value
                # that is computed when read (a packed optimizer state's slice) records a new
                # op on each read, so that one is flushed too.
                v = t._value
                if type(v) is LazyValue and v.array is None:
                    self.flush(f"host read: {what}")
            return v.array if type(v) is LazyValue else v
        return v

    def mark_step(self) -> None:
        """An iteration boundary (end of ``optimizer.step()``)."""
        if self.nodes:
            self.flush("step boundary")

    def _record_inputs(self, kern, vals) -> tuple[list, tuple]:
        """Each input's ref (registering new consts) and the kernel's output shapes for them."""
        refs = []
        avals = []
        consts = self.consts
        const_avals = self.const_avals
        const_ids = self.const_ids
        for v in vals:
            tv = type(v)
            if tv is LazyValue:
                if v.array is None:
                    refs.append(~(v.node << _LEAF_BITS | v.leaf))
                    avals.append(v.aid)
                    continue
                v = v.array
                tv = type(v)
            if tv in _SCALARS:
                refs.append(len(consts))
                consts.append(v)
                a = _SCALAR_AIDS[tv]
                const_avals.append(a)
                avals.append(a)
                continue
            k = id(v)
            slot = const_ids.get(k)
            if slot is None:
                slot = const_ids[k] = len(consts)
                consts.append(v)
                try:
                    a = _BY_AVAL.get(v.aval)
                except AttributeError:  # (not a jax array)
                    a = None
                if a is None:
                    a = _aval_id(v)
                const_avals.append(a)
            else:
                a = const_avals[slot]
            refs.append(slot)
            avals.append(a)
        skey = (kern.uid, tuple(avals))
        shape = self.shapes.get(skey)
        if shape is None:
            args = [_as_spec(_AVALS[a], v) for a, v in zip(avals, vals)]
            with collector_paused():
                leaves, treedef = jax.tree_util.tree_flatten(jax.eval_shape(traced(kern.fn), *args))
            if len(leaves) > _LEAF_MASK:
                raise RuntimeError(f"{kern.name}(): too many outputs to record lazily ({len(leaves)})")
            single = treedef.num_leaves == 1 and not treedef.children() and treedef.num_nodes == 1
            sds = [(tuple(x.shape), np.dtype(x.dtype)) for x in leaves]
            shape = self.shapes[skey] = ([(sh, dt, _intern(sh, dt)) for sh, dt in sds], treedef, single)
        return refs, shape

    def run(self, kern, vals, tens):
        t0 = time.perf_counter()
        if kern.eager_only:
            # A value-dependent shape: materialize the inputs and run now.
            if any(type(v) is LazyValue and v.array is None for v in vals):
                self.flush(f"{kern.name}() needs concrete inputs")
            return kern.fn(*[concrete(v) for v in vals])
        refs, (leaves, treedef, single) = self._record_inputs(kern, vals)
        idx = len(self.nodes)
        outs = [LazyValue(sh, dt, a, idx, i) for i, (sh, dt, a) in enumerate(leaves)]
        self.nodes.append((kern, tuple(refs)))
        self.outrefs += map(weakref.ref, outs)
        if idx >= _MAX_PENDING:
            # A loop with no boundary (no optimizer.step, no host read): keep graphs bounded.
            self.flush("pending graph reached its size limit")
        self.stats["ops_recorded"] += 1
        self.stats["record_seconds"] += time.perf_counter() - t0
        return outs[0] if single else jax.tree_util.tree_unflatten(treedef, outs)

    def run_update(self, kern, vals, targets: list) -> None:
        """Record ``kern(*vals)`` whose outputs are ``targets``' new values (an optimizer
        update), written straight into them by the next flush, which must come before
        anything reads them: ``Optimizer.step`` flushes right after.

        Unlike ``run`` this makes no placeholders: the update is a graph's last node, its
        outputs are results by construction, and each target's old buffer is donated to
        its new value when nothing else holds it. (Per state tensor that saves making,
        noting, checking and restoring a placeholder: ~15 us of a small model's step.)
        """
        t0 = time.perf_counter()
        refs, (leaves, _, _) = self._record_inputs(kern, vals)
        if len(leaves) != len(targets):
            raise RuntimeError(f"internal: {kern.name} has {len(leaves)} outputs for {len(targets)} targets")
        idx = len(self.nodes)
        self.nodes.append((kern, tuple(refs)))
        self.updates.append((idx, targets, [a for _, _, a in leaves]))
        self.stats["ops_recorded"] += 1
        self.stats["record_seconds"] += time.perf_counter() - t0
        if idx >= _MAX_PENDING:
            self.flush("pending graph reached its size limit")

    # -- flush ------------------------------------------------------------------------
    def flush(self, why: str = "explicit") -> None:
        if not self.nodes:
            self._reset()
            return
        if _xla_budget.pressure:
            _xla_budget.relieve()
        if self._clears != _xla_budget.clears:
            # JAX's caches were cleared: compile afresh (and say why) rather than let each
            # cached program retrace unannounced.
            self._clears = _xla_budget.clears
            self.cache.clear()
            self._last_prog = None
            self._cleared = True
        nodes, consts, tracked, const_avals = self.nodes, self.consts, self.tracked, self.const_avals
        overwritten, before = self.overwritten, self.before
        donated = _donatable(consts, const_avals, overwritten)
        rest = []  # (code, sink) of results not replacing a donated buffer
        if self.updates:
            _update_results(self.updates, consts, const_avals, self.const_ids, donated, rest)
        grads, layout = _grads_to_pack(self.grad_owners)
        if not grads and self.grad_owners:
            _dead_grad_donors(self.grad_owners, self.dead, consts, const_avals, donated, self._stood_in)
        outrefs = self.outrefs
        self._reset()
        self.stats["flushes"] += 1
        # The results: values still referenced from Python and the updates' outputs, except
        # packed grads (returned in one buffer at the end). jax pairs each donated input with
        # the first remaining output of its shape and dtype, so every donated value's
        # replacement comes first, in the same order: each buffer then holds its own
        # tensor's new value. (Otherwise a parameter's buffer could go to its gradient, which
        # is computed while the parameter is still needed, and XLA would copy the parameter
        # first: 12 extra copies in the medium MLP's step.) A sink is the LazyValue to
        # materialize, or the update's target tensor.
        donated.sort(key=lambda e: e[0])
        donate = tuple([slot for slot, _, _ in donated])
        skip = {id(v) for _, v in grads}
        skip.update([id(sink) for _, _, sink in donated])
        codes = [code for _, code, _ in donated]
        live = [sink for _, _, sink in donated]
        for code, sink in rest:
            codes.append(code)
            live.append(sink)
        for r in outrefs:
            lv = r()
            if lv is not None and id(lv) not in skip:
                codes.append(lv.node << _LEAF_BITS | lv.leaf)
                live.append(lv)
        structure = tuple((k.uid, refs) for k, refs in nodes)
        outs_key = tuple(codes)
        pack_key = tuple([v.node << _LEAF_BITS | v.leaf for _, v in grads])
        key = (structure, tuple(const_avals), outs_key, donate, pack_key)
        prog = self.cache.get(key)
        if prog is None:
            self.stats["misses"] += 1
            prog = self._compile(nodes, outs_key + pack_key, key, donate, len(pack_key))
        else:
            self.stats["hits"] += 1
            if prog is not self._last_prog:  # (the last one used is already the newest)
                self.cache.move_to_end(key)
        self._last_key = key
        self._last_prog = prog
        try:
            if any(k.callback for k, _ in nodes):
                # User Python runs inside: wait for it, so that its failure is seen here,
                # before any result is written (such a graph donates nothing: see _compile).
                results = jax.block_until_ready(prog(*consts))
            else:
                results = prog(*consts)
        except Exception as e:
            _failed(e, overwritten, before, consts, outrefs, tracked)
            _callback.reraise(e)
            raise
        for sink, a in zip(live, results):
            if type(sink) is LazyValue:
                sink.array = a
                sink.node = None
            else:  # an update's target: its new value, in place
                sink._value = a
                sink._version += 1
        if grads:
            _gradpack.attach([t for t, _ in grads], results[-1], layout)
        # Tensors get their arrays back; placeholders are only a recording device. (The raw
        # slot: a packed grad's value stays unsplit until someone reads it.)
        raw, set_raw = _gradpack.raw_value, _gradpack.set_raw_value
        for r in tracked:
            t = r()
            if t is not None:
                v = raw(t)
                if type(v) is LazyValue and v.array is not None:
                    set_raw(t, v.array)

    def _compile(self, nodes, outs_key, key, donate: tuple, n_packed: int = 0):
        kernels = [k for k, _ in nodes]
        wiring = [refs for _, refs in nodes]

        def program(*consts):
            self.stats["traces"] += 1
            results = []
            for k, refs in zip(kernels, wiring):
                args = [consts[r] if r >= 0 else results[~r >> _LEAF_BITS][~r & _LEAF_MASK] for r in refs]
                results.append(jax.tree_util.tree_leaves(k.fn(*args)))
            out = [results[c >> _LEAF_BITS][c & _LEAF_MASK] for c in outs_key]
            if n_packed:
                # the last n_packed results are small gradients, returned in one buffer
                out = out[:-n_packed] + _gradpack.pack(out[-n_packed:])[0]
            return out

        reason = self._reason(key)
        self.stats["recompiles"].append(reason)
        if "recompile" in _LOG or "all" in _LOG:
            print(f"[eagerjax] lazy graph compile: {reason}", file=sys.stderr)
        if any(k.callback for k in kernels):
            donate = ()  # (a failing callback must leave every input alive: see ``_failed``)
        # keep_unused: a dead grad's buffer is an unread input, kept so XLA can reuse it
        jitted = jax.jit(traced(program), donate_argnums=donate, keep_unused=True)
        t0 = time.perf_counter()

        def first(*consts):
            with collector_paused():
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
        if self._cleared:
            self._cleared = False
            return _xla_budget.reason
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
                return f"input {i}: {_fmt(_AVALS[x])} -> {_fmt(_AVALS[y])}"
        if len(ca) != len(cb):
            return f"graph has {len(cb)} inputs (was {len(ca)})"
        if da != db:
            return f"inputs donated {list(db)} (were {list(da)}): other references to old values changed"
        return "a different set of results is still referenced"


class _Failed:
    """What a value of a graph whose program failed holds instead of an array: any use says so."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def _raise(self, *args):
        raise RuntimeError(
            f"this tensor's value was never computed: the lazy graph that computes it failed ({self.why})"
        )

    def __getattr__(self, name):
        self._raise()

    __array__ = __jax_array__ = __float__ = __int__ = __bool__ = __index__ = __len__ = _raise

    def __repr__(self) -> str:
        return f"<value of a failed lazy graph: {self.why}>"


def _failed(err: Exception, overwritten: dict, before: list, consts: list, outrefs: list, tracked: list) -> None:
    """A graph's program raised: tensors it wrote get their values from before the graph back
    (those it had as inputs, and the others ``note_writes`` kept); what only the graph would
    have computed (its intermediates, new ``.grad``s) raises a clear error when used."""
    raw, set_raw = _gradpack.raw_value, _gradpack.set_raw_value
    for slot, r in overwritten.items():
        t = r()
        if t is not None and type(raw(t)) is LazyValue:
            set_raw(t, consts[slot])
    for r, old in reversed(before):  # (the earliest value a tensor held wins)
        t = r()
        if t is not None and type(raw(t)) is LazyValue:
            set_raw(t, old)
    bad = _Failed(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300])
    for r in outrefs:
        lv = r()
        if lv is not None and lv.array is None:
            lv.array = bad
            lv.node = None
    for r in tracked:
        t = r()
        if t is not None:
            v = raw(t)
            if type(v) is LazyValue and v.array is bad:
                set_raw(t, bad)


def _donatable(consts: list, avals: list, overwritten: dict) -> list:
    """``(slot, code, new value)`` per const slot whose buffer the program may reuse for its
    result: the old value of a tensor the graph overwrote with a same-shaped value, held by
    nothing but the graph.

    Donation lets XLA update parameters and optimizer state in place (as ``ej.compile``
    does) instead of allocating every state buffer afresh each step.
    """
    out = []
    seen = set()
    raw = _gradpack.raw_value
    getrefcount = sys.getrefcount
    for slot in sorted(overwritten):
        t = overwritten[slot]()
        new = None if t is None else raw(t)
        if type(new) is not LazyValue or avals[slot] != new.aid or id(new) in seen:
            continue
        # 2 references: the consts list and getrefcount's argument. A third (a `.data` or
        # detach() alias, a tensor saved for a backward not yet run) keeps the buffer.
        if getrefcount(consts[slot]) <= 2:
            out.append((slot, new.node << _LEAF_BITS | new.leaf, new))
            seen.add(id(new))
    return out


def _update_results(updates: list, consts: list, avals: list, const_ids: dict, donated: list, rest: list) -> None:
    """Sort ``run_update`` outputs into ``donated`` (``(slot, code, target)``: the target's
    old buffer, a const of the graph that nothing else holds, is reused for its new value)
    and ``rest`` (``(code, target)``)."""
    raw = _gradpack.raw_value
    getrefcount = sys.getrefcount
    taken = {slot for slot, _, _ in donated}
    for node, targets, aids in updates:
        for j, (t, aid) in enumerate(zip(targets, aids)):
            code = node << _LEAF_BITS | j
            old = raw(t)
            slot = const_ids.get(id(old))
            # references: the consts list, the target's slot, ``old`` and getrefcount's argument
            if slot is not None and avals[slot] == aid and slot not in taken and getrefcount(old) <= 4:
                donated.append((slot, code, t))
                taken.add(slot)
            else:
                rest.append((code, t))


def _dead_grad_donors(owners: list, dead: list, consts: list, avals: list, donated: list, stood_in: dict) -> None:
    """Donate to each pending, unpacked ``.grad`` the buffer of the ``.grad`` it replaced
    (``zero_grad()`` dropped it; nothing else holds it), appended to the graph's inputs as
    an unread const: XLA then writes the new gradient into the old one's memory, as
    ``ej.compile`` does, instead of taking fresh pages from the OS every step (a third of
    the medium MLP's lazy overhead). An owner's first gradient gets a zero stand-in once,
    so that the first step already compiles the steady state's program."""
    old_of = {id(r()): v for r, v in dead}  # (a comprehension: no loop variable keeps a buffer)
    raw = _gradpack.raw_value
    getrefcount = sys.getrefcount
    sinks = {id(sink) for _, _, sink in donated}
    found = []
    for r in owners:
        t = r()
        if t is None or t._grad is None:
            continue
        new = raw(t._grad)
        if type(new) is not LazyValue or new.array is not None or id(new) in sinks:
            continue
        sinks.add(id(new))
        old = old_of.get(id(t))
        if old is None:
            w = stood_in.get(id(t))
            if w is not None and w() is t:
                continue
            if len(stood_in) > 4096:
                stood_in.clear()
            stood_in[id(t)] = weakref.ref(t)
            shape, dt = _AVALS[new.aid]
            old = _device_array(np.zeros(shape, dt))
        # references: the dead list's tuple, old_of, ``old`` and getrefcount's argument
        elif getrefcount(old) > 4 or (_BY_AVAL.get(old.aval) or _aval_id(old)) != new.aid:
            continue
        found.append((new.node << _LEAF_BITS | new.leaf, new, old))
    # In the graph's order, not the owners': zero_grad() notes owners in parameter order, the
    # first step's backward in its own, and the donors' order is part of the graph's signature.
    found.sort(key=lambda e: e[0])
    for code, new, old in found:
        donated.append((len(consts), code, new))
        consts.append(old)
        avals.append(new.aid)


def _grads_to_pack(owners: list) -> tuple[list, tuple]:
    """The pending ``.grad``s of ``owners`` (weakrefs) to return in one packed buffer (see
    ``_gradpack``), as ``[(grad tensor, LazyValue)]`` in a fixed order, and their layout;
    ``([], ())`` if they do not qualify (fewer than two, mixed dtypes, too large) or one is
    shared: a ``.data`` or ``detach()`` alias, a node that saved it, would need the value."""
    seen = set()
    grads = []
    raw = _gradpack.raw_value
    getrefcount = sys.getrefcount
    for r in owners:
        o = r()
        t = None if o is None else o._grad
        if type(t) is not _gradpack._PackedGrad or id(t) in seen:
            continue
        seen.add(id(t))
        v = raw(t)
        if type(v) is not LazyValue or v.array is not None or t._pack is not None:
            continue
        # references: t's slot, ``v``, getrefcount's argument (the graph's are weak)
        if getrefcount(v) > 3:
            return [], ()
        grads.append((t, v))
    if len(grads) < 2:
        return [], ()
    grads.sort(key=lambda e: (e[1].node, e[1].leaf))
    layout = _pack_layout(tuple([v.aid for _, v in grads]))
    return (grads, layout) if layout is not None else ([], ())


@functools.lru_cache(maxsize=256)
def _pack_layout(aids: tuple) -> tuple | None:
    """The packed layout of grads with these interned avals, or None if not packable."""
    avals = [_AVALS[a] for a in aids]
    if not _gradpack.packable(avals):
        return None
    return _gradpack.layout_of([shape for shape, _ in avals])


# Avals interned as small ints, so graph signatures hash and compare as flat tuples of ints.
# An id stands for one (shape, dtype), or a Python scalar type, for the whole process (ids
# are never reused: the table only grows, by the distinct shapes a process records).
_AVALS: list = list(_SCALARS)  # id -> (shape, dtype) or the scalar type
_IDS: dict = {t: i for i, t in enumerate(_SCALARS)}  # (shape, dtype) or scalar type -> id
_SCALAR_AIDS = dict(_IDS)
_BY_AVAL: dict = {}  # a jax array's .aval -> id of its (shape, dtype) (no weak-type split)


def _intern(shape: tuple, dtype) -> int:
    k = (shape, dtype)
    a = _IDS.get(k)
    if a is None:
        a = _IDS[k] = len(_AVALS)
        _AVALS.append(k)
    return a


def _aval_id(v) -> int:
    """The interned (shape, dtype) of the array ``v``."""
    a = _intern(tuple(v.shape), np.dtype(v.dtype))
    aval = getattr(v, "aval", None)
    if aval is not None:
        _BY_AVAL[aval] = a
    return a


def _as_spec(a, v):
    return jax.ShapeDtypeStruct(a[0], a[1]) if type(a) is tuple else v


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
