"""Define-by-run autograd: the tape is a graph of ``Node``s; JAX computes every derivative.

Each op that needs a gradient records a ``Node``: the kernel that ran, the
values it ran on (jax arrays are immutable, so a later in-place write to a
tensor can never corrupt what a node saved — torch's "modified by an inplace
operation" error cannot arise and is not needed), and where each input came
from (a leaf Tensor, another node's output, or nothing).

``backward`` walks the graph once, builds a *structural key* (kernels and
wiring, no values) and runs ONE cached ``jax.jit`` program that applies
``jax.vjp`` to every node in reverse order and accumulates leaf gradients. A
training loop's backward therefore costs one compiled call per step, not one
per op. Hooks on non-leaf tensors and ``create_graph=True`` take the per-node
path instead, where each node's vjp is itself dispatched as an op (so it is
recorded, and higher-order gradients work).
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _anomaly, _post_hooks
from ._lazy import concrete
from ._state import flags
from ._tensor import Tensor, _device_array

_FREED = None


class Node:
    """One recorded op: what ran, on what, and where its inputs came from."""

    __slots__ = ("kernel", "vals", "parents", "n_out", "retained", "hooks", "packed", "__weakref__")

    def __init__(self, kernel, vals, tens, n_out: int) -> None:
        self.kernel = kernel
        self.vals = tuple(vals)
        ps = []
        for t in tens:
            if t is None or not t._rg:
                ps.append(None)
            elif t._node is None:
                ps.append(t)  # a leaf: its .grad receives the gradient
            else:
                ps.append((t._node, t._idx))
        self.parents = tuple(ps)
        self.n_out = n_out
        self.retained = None  # {out_idx: weakref(Tensor)} for retain_grad()
        self.hooks = None  # {out_idx: [hook]} from register_hook on a non-leaf
        self.packed = None  # (unpack, packed vals) under autograd.graph.saved_tensors_hooks
        if _region is not None:  # inside a checkpointed region (``_checkpoint``)
            _region.append(self)
        elif saved_hooks:
            self._pack(*saved_hooks[-1])
        if _anomaly.state[0]:
            _anomaly.stacks[self] = _anomaly.forward_stack()

    def _pack(self, pack, unpack) -> None:
        """Hand the saved inputs to ``pack`` (Tensors; Python numbers stay) and keep only
        what it returns until a backward ``unpack``s them (``_unpack_saved``)."""
        packed = tuple(v if type(v) in (int, float, bool) else pack(Tensor._make(v)) for v in self.vals)
        self.packed = (unpack, packed)
        self.vals = ()
        packed_nodes[0] = True

    def name(self) -> str:
        n = self.kernel.name
        return "".join(p[:1].upper() + p[1:] for p in n.strip("_").split("_")) + "Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object>"

    @property
    def next_functions(self) -> tuple:
        out = []
        for p in self.parents:
            if p is None:
                out.append((None, 0))
            elif type(p) is tuple:
                out.append(p)
            else:
                out.append((_AccumulateGrad(p), 0))
        return tuple(out)


# The nodes recorded inside the innermost running ``checkpoint`` region, in creation order.
_region: list | None = None
# ``autograd.graph.saved_tensors_hooks`` in force, innermost last: (pack, unpack).
saved_hooks: list = []
packed_nodes = [False]  # whether any node was ever packed


def _unpack_saved(topo) -> None:
    """Give packed nodes their inputs back (``unpack`` of each packed value), for a backward."""
    for n in topo:
        if n.packed is not None:
            unpack, packed = n.packed
            vals = []
            for p in packed:
                if type(p) in (int, float, bool):
                    vals.append(p)
                    continue
                t = unpack(p)
                if not isinstance(t, Tensor):
                    raise TypeError(f"saved_tensors_hooks: unpack_hook must return a Tensor, got {type(t).__name__}")
                vals.append(t._read())
            n.vals = tuple(vals)


def raw_node(kernel, vals, parents, n_out: int) -> Node:
    """A node wired to known ``parents`` (leaf Tensors, ``(node, out)`` pairs or None)."""
    n = Node(kernel, (), (), n_out)
    n.vals = tuple(vals)
    n.parents = tuple(parents)
    return n


class _AccumulateGrad:
    def __init__(self, t) -> None:
        self.variable = t

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return "<AccumulateGrad object>"


# --------------------------------------------------------------------------- grad mode
class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.prev = []

    def __enter__(self):
        self.prev.append((flags.grad_enabled, flags.stop_traced))
        flags.grad_enabled = self.enabled
        if not flags.in_kernel:
            flags.stop_traced = not self.enabled
        return self

    def __exit__(self, *exc) -> None:
        flags.grad_enabled, flags.stop_traced = self.prev.pop()


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record no gradients."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradMode):
    def __init__(self) -> None:
        super().__init__(True)


class set_grad_enabled(_GradMode):
    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        # torch also lets `set_grad_enabled(False)` act as a plain function call.
        super().__enter__()

    def __enter__(self):
        return self


INFERENCE_MODE = [False]  # read by ej.is_inference_mode_enabled()


class inference_mode(_GradMode):
    """no_grad that also answers ``is_inference_mode_enabled()`` (no inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)
        self.mode = bool(mode)
        self.prev_inference: list = []

    def __enter__(self):
        self.prev_inference.append(INFERENCE_MODE[0])
        INFERENCE_MODE[0] = self.mode
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        INFERENCE_MODE[0] = self.prev_inference.pop()
        super().__exit__(*exc)


def is_grad_enabled() -> bool:
    return flags.grad_enabled


# --------------------------------------------------------------------------- graph walk
_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


def _topo(roots: list) -> list:
    """Nodes reachable from ``roots`` in topological order (inputs before users)."""
    order = []
    seen = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            n, done = stack.pop()
            if done:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            if n.vals is _FREED:
                raise RuntimeError(_FREED_MSG)
            stack.append((n, True))
            for p in n.parents:
                if type(p) is tuple and id(p[0]) not in seen:
                    stack.append((p[0], False))
    return order


def _zero_ct(out):
    if jnp.issubdtype(out.dtype, jnp.inexact):
        return jnp.zeros(out.shape, out.dtype)
    return np.zeros(out.shape, jax.dtypes.float0)


def _node_vjp(fn, args: list, diff_pos: tuple, cts: list):
    """Cotangents of ``fn``'s differentiable inputs given cotangents of its outputs (None = zero).

    Outputs without a cotangent are left out of the differentiated function rather than given
    zeros, so a custom Function's ``backward`` sees them as JAX's symbolic zeros (``None`` under
    ``ctx.set_materialize_grads(False)``, as in torch)."""
    some = len(cts) > 1 and None in cts

    def f(*d):
        a = list(args)
        for j, x in zip(diff_pos, d):
            a[j] = x
        out = fn(*a)
        return tuple([o for o, c in zip(out, cts) if c is not None]) if some else out

    out, vjp = jax.vjp(f, *[args[j] for j in diff_pos])
    if some:
        ct = tuple([c for c in cts if c is not None])
    elif type(out) is tuple or type(out) is list:
        ct = type(out)(c if c is not None else _zero_ct(o) for c, o in zip(cts, out))
    else:
        ct = cts[0] if cts[0] is not None else _zero_ct(out)
    if _has_complex(ct) or any(_is_complex(args[j]) for j in diff_pos):
        # torch's convention for complex values is the conjugate of JAX's (a real loss's
        # gradient is dL/dRe + i dL/dIm): every node's vjp in torch's convention is
        # conj . jax_vjp . conj, so the whole tape, hooks and .grad follow torch. (Real
        # values never reach here: no conj in their programs.)
        return tuple(map(conj_complex, vjp(jax.tree_util.tree_map(conj_complex, ct))))
    return vjp(ct)


def _is_complex(x) -> bool:
    dt = getattr(x, "dtype", None)
    return dt is not None and jnp.issubdtype(dt, jnp.complexfloating)


def _has_complex(tree) -> bool:
    return any(map(_is_complex, jax.tree_util.tree_leaves(tree)))


def conj_complex(x):
    """``conj(x)`` for a complex array, ``x`` itself otherwise (see ``_node_vjp``)."""
    return jnp.conj(x) if _is_complex(x) else x


def _add(a, b):
    return b if a is None else a + b


# --------------------------------------------------------------------------- fused path
@functools.lru_cache(maxsize=512)
def _fused_program(structure: tuple, kernels_ref: tuple):
    """Build the jitted backward for one graph structure.

    structure = (nodes, roots, leaf_old, targets) where
      nodes[i] = (in_spec, diff_pos, n_out) with in_spec = ((slot, parent), ...),
        parent None | ('n', node_index, out_idx) | ('l', leaf_index)
      roots = ((node_index, out_idx), ...) aligned with the root cotangents
      leaf_old[k] = leaf k's existing .grad is passed in and added to
      targets = (('n', i, o) | ('l', k), ...): extra cotangents to return (retain_grad / autograd.grad)
    """
    nodes, roots, leaf_old, targets, nleaves = structure
    fns = [k.fn for k in kernels_ref]
    # Nodes whose (small) outputs are recomputed here instead of passed in. Every
    # node's inputs are scanned, so producers of recomputed inputs are covered too.
    needed = [False] * len(nodes)
    for in_spec, _, _ in nodes:
        for s, _ in in_spec:
            if type(s) is tuple:
                needed[s[1]] = True

    def program(vals, root_cts, old_grads):
        fwd = [None] * len(nodes)

        def resolve(s):
            return vals[s] if type(s) is int else fwd[s[1]][s[2]]

        for i, need in enumerate(needed):
            if need:
                out = fns[i](*[resolve(s) for s, _ in nodes[i][0]])
                fwd[i] = out if type(out) in (tuple, list) else (out,)
        cts = [None] * len(nodes)
        for (ni, oi), c in zip(roots, root_cts):
            if cts[ni] is None:
                cts[ni] = [None] * nodes[ni][2]
            cts[ni][oi] = _add(cts[ni][oi], c)
        leaf_g = [None] * nleaves
        wanted = {}
        for i in range(len(nodes) - 1, -1, -1):
            c = cts[i]
            if c is None:
                continue
            in_spec, diff_pos, _ = nodes[i]
            for t in targets:
                if t[0] == "n" and t[1] == i:
                    wanted[t] = c[t[2]]
            args = [resolve(s) for s, _ in in_spec]
            gs = _node_vjp(fns[i], args, diff_pos, c)
            for j, g in zip(diff_pos, gs):
                p = in_spec[j][1]
                if p[0] == "l":
                    leaf_g[p[1]] = _add(leaf_g[p[1]], g)
                else:
                    pn, po = p[1], p[2]
                    if cts[pn] is None:
                        cts[pn] = [None] * nodes[pn][2]
                    cts[pn][po] = _add(cts[pn][po], g)
        for t in targets:
            if t[0] == "l":
                wanted[t] = leaf_g[t[1]]
        old = iter(old_grads)
        out_leaf = []
        for k in range(nleaves):
            g = leaf_g[k]
            if leaf_old[k]:
                o = next(old)
                g = o if g is None else o + g
            out_leaf.append(g)
        return out_leaf, [wanted.get(t) for t in targets]

    return program


class _LRU(dict):
    """A bounded dict: the oldest entry goes when full (graph structures are usually few)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def put(self, k, v):
        if len(self) >= self.cap:
            del self[next(iter(self))]
        self[k] = v
        return v


_jit_programs = _LRU(1024)


_RECOMPUTE_MAX = 16384  # elements: smaller intermediates are recomputed, larger ones passed


def _cheap(v) -> bool:
    shape = getattr(v, "shape", None)
    if shape is None:
        return False
    n = 1
    for d in shape:
        n *= d
    return n <= _RECOMPUTE_MAX


def _run_fused(topo, roots, root_cts, leaves, accumulate: bool, targets_t):
    """Assemble the structural key for ``topo`` and run its cached jitted backward."""
    recompute = flags.mode is None
    node_idx = {id(n): i for i, n in enumerate(topo)}
    leaf_idx = {id(t): k for k, t in enumerate(leaves)}
    slots = {}
    vals = []
    nodes = []
    kernels = []
    for n in topo:
        spec = []
        diff = []
        for j, (v, p) in enumerate(zip(n.vals, n.parents)):
            s = slots.get(id(v))
            if s is None:
                if recompute and type(p) is tuple and id(p[0]) in node_idx and _cheap(v):
                    # Recomputing a small intermediate inside the program beats passing it in
                    # (eagerly; under capture or lazy recording the value is in the same program).
                    s = slots[id(v)] = ("r", node_idx[id(p[0])], p[1])
                else:
                    s = slots[id(v)] = len(vals)
                    vals.append(v)
            if p is None or (type(p) is tuple and id(p[0]) not in node_idx):
                ps = None  # (a node pruned by _leading_to: its gradient is not wanted)
            elif type(p) is tuple:
                ps = ("n", node_idx[id(p[0])], p[1])
                diff.append(j)
            else:
                k = leaf_idx.get(id(p))
                if k is None:
                    k = leaf_idx[id(p)] = len(leaves)
                    leaves.append(p)
                ps = ("l", k)
                diff.append(j)
            spec.append((s, ps))
        nodes.append((tuple(spec), tuple(diff), n.n_out))
        kernels.append(n.kernel)
    root_spec = tuple((node_idx[id(n)], o) for n, o in roots)
    targets = []
    for t in targets_t:
        if t._node is None:
            k = leaf_idx.get(id(t))
            targets.append(("l", k) if k is not None else None)
        else:
            ni = node_idx.get(id(t._node))
            targets.append(("n", ni, t._idx) if ni is not None else None)
    leaf_old = tuple(accumulate and t._grad is not None for t in leaves)
    old = [t._grad._read() for t, o in zip(leaves, leaf_old) if o]
    if getattr(flags.mode, "discovering", False):
        # ej.compile's discovery pass learns only which state the step touches, from a
        # shape-only trace: the backward's values are not needed, just their shapes (a
        # gradient has its primal's shape and dtype), so it skips tracing every node's vjp.
        with no_grad():
            got = iter(old)
            leaf_grads = [_zeros_of(t) + next(got) if o else _zeros_of(t) for t, o in zip(leaves, leaf_old)]
            return leaf_grads, [None if t is None else _zeros_of(t) for t in targets_t]
    real_targets = tuple(t for t in targets if t is not None)
    structure = (tuple(nodes), root_spec, leaf_old, real_targets, len(leaves))
    kkey = tuple(k.uid for k in kernels)
    full_key = (structure, kkey)
    kern = _jit_programs.get(full_key)
    if kern is None:
        from ._dispatch import Kernel  # (_dispatch imports this module)

        prog = _fused_program(structure, tuple(kernels))

        def flat(*args, _n=len(vals), _r=len(root_cts)):
            return prog(list(args[:_n]), list(args[_n : _n + _r]), list(args[_n + _r :]))

        kern = _jit_programs.put(full_key, Kernel(flat, "backward"))
    with no_grad():
        # Through the mode's runner, so lazy mode records the backward and capture traces it.
        args = list(vals) + list(root_cts) + old
        if flags.mode is not None:
            out = flags.mode.run(kern, args, [None] * len(args))
        else:
            out = kern.jit(*[concrete(v) for v in args])
    leaf_grads, wanted = out
    got = iter(wanted)
    target_grads = [next(got) if t is not None else None for t in targets]
    return leaf_grads, target_grads


def _zeros_of(t):
    v = t._value
    return jnp.zeros(v.shape, v.dtype)


# --------------------------------------------------------------------------- entry points
def _as_root_ct(t, g, create_graph: bool = False):
    """The root cotangent for output ``t``: a raw value, or with ``create_graph`` a given
    Tensor that requires grad itself, so the backward's graph reaches it (the
    double-backward trick ``grad(grad(y, x, v, create_graph=True), v)`` needs that)."""
    if g is None:
        if t.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return _ones(tuple(t.shape), t.dtype)
    if isinstance(g, Tensor):
        if tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} and output[0] has a shape of {tuple(t.shape)}."
            )
        if create_graph and g.requires_grad:
            return g if g.dtype == t.dtype else g.to(t.dtype)
        v = g._read()
        return v if v.dtype == t._value.dtype else v.astype(t._value.dtype)  # (torch casts too)
    return jnp.asarray(g, t.dtype)


_ones_cache: dict = {}


def _ones(shape, dtype):
    """A cached concrete ones array (the implicit root cotangent). Under a trace a concrete
    constant is fine: it is the same value every step."""
    key = (shape, dtype)
    v = _ones_cache.get(key)
    if v is None:
        # From the host: jnp.ones would compile a program for it, in the first step's time.
        v = _device_array(np.ones(shape, dtype))
        if len(_ones_cache) >= 256:
            _ones_cache.clear()
        _ones_cache[key] = v
    return v


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(sum(tensors * grad_tensors))/d(leaf) into each leaf's ``.grad``."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    _check_roots(tensors)
    cts = [_as_root_ct(t, g, create_graph) for t, g in zip(tensors, grad_tensors)]
    only = None
    keep = ()
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        only = {id(x) for x in inputs if x._node is None}
        keep = [x for x in inputs if x._node is not None]  # non-leaf inputs get a .grad too
    _engine(list(tensors), cts, retain_graph, create_graph, accumulate=True, only=only, keep=keep)


def _check_roots(tensors) -> None:
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")


def _engine(tensors, cts, retain_graph, create_graph, accumulate, targets=(), only=None, keep=()):
    """``keep``: non-leaf tensors whose ``.grad`` is accumulated like a retained one's
    (``backward(inputs=[...])`` naming one)."""
    leaf_roots = [(t, c) for t, c in zip(tensors, cts) if t._node is None]
    node_roots = [((t._node, t._idx), c) for t, c in zip(tensors, cts) if t._node is not None]
    topo = _topo([r[0][0] for r in node_roots])
    if topo and (targets or only is not None):
        # torch runs (and frees) only the nodes on a path to what was asked for
        topo = _leading_to(topo, list(targets) + list(keep), only)
        alive = {id(n) for n in topo}
        node_roots = [r for r in node_roots if id(r[0][0]) in alive]
    if packed_nodes[0]:  # (set once a node was packed: the whole cost before that)
        _unpack_saved(topo)
    slow = (
        create_graph
        or _anomaly.state[0]
        or any(n.hooks for n in topo)
        or any(p._hooks for n in topo for p in n.parents if p is not None and type(p) is not tuple)
        or any(t._hooks for t, _ in leaf_roots)
    )
    retained = list(keep)
    for n in topo:
        if n.retained:
            for ref in n.retained.values():
                r = ref()
                if r is not None:
                    retained.append(r)
    leaves: list = []
    if slow:
        leaf_grads, target_grads, leaves = _slow_engine(
            topo, node_roots, leaf_roots, list(targets) + retained, create_graph, len(targets)
        )
    elif topo:
        leaf_grads, target_grads = _run_fused(
            topo, [r[0] for r in node_roots], [r[1] for r in node_roots], leaves, accumulate, list(targets) + retained
        )
        for t, c in leaf_roots:
            # a leaf passed directly as a root
            k = next((i for i, x in enumerate(leaves) if x is t), None)
            if k is not None:
                leaf_grads[k] = _sum(leaf_grads[k], c)
            else:
                leaves.append(t)
                leaf_grads.append(_sum(t._grad._read(), c) if accumulate and t._grad is not None else c)
        if leaf_roots:
            target_grads = [_add_roots(g, t, leaf_roots) for g, t in zip(target_grads, list(targets) + retained)]
    else:
        leaves = [t for t, _ in leaf_roots]
        leaf_grads = [c for _, c in leaf_roots]
        target_grads = [_add_roots(None, t, leaf_roots) for t in list(targets) + retained]
        if accumulate:
            leaf_grads = [_sum(t._grad._read(), g) if t._grad is not None else g for t, g in zip(leaves, leaf_grads)]
    if not retain_graph:
        for n in topo:
            n.vals = _FREED
            n.packed = None
    nt = len(targets)
    for t, g in zip(retained, target_grads[nt:]):
        if g is not None:
            g = g if isinstance(g, Tensor) else Tensor._make(g)
            if t._grad is not None:  # a retained .grad accumulates over backward calls, as a leaf's
                with set_grad_enabled(create_graph):
                    g = t._grad + g
            t._grad = g
    if accumulate:
        # (the .grad setter's shape check is moot: each g has its leaf's shape by construction)
        owners = []
        grads = []
        for t, g in zip(leaves, leaf_grads):
            if g is not None and t._rg and (only is None or id(t) in only):
                owners.append(t)
                grads.append(g)
        mode = flags.mode
        if mode is not None:
            mode.set_grads(owners, grads)
        else:
            for t, g in zip(owners, grads):
                t._grad = g if isinstance(g, Tensor) else Tensor._make(g)
        if _post_hooks.hooks:
            _post_hooks.run(owners)
        return None
    return target_grads[:nt]


def _run_hook(h, g):
    """A tensor hook's result (``g`` itself when it returns None), checked as torch does."""
    r = h(g)
    if r is None:
        return g
    if tuple(getattr(r, "shape", ())) != tuple(g.shape):
        raise RuntimeError(f"hook '{getattr(h, '__name__', type(h).__name__)}' has changed the size of value")
    return r


def _add_roots(g, t, leaf_roots):
    """``g`` (a target's gradient, or None) plus the cotangents of roots that are ``t`` itself."""
    for x, c in leaf_roots:
        if x is t:
            g = c if g is None else _sum(g, c)
    return g


def _sum(a, b):
    """``a + b`` of two raw values (arrays, tracers or lazy placeholders) or Tensors."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a + b
    return (Tensor._make(a) + Tensor._make(b))._read()


def _leading_to(topo: list, wanted: list, only) -> list:
    """The nodes of ``topo`` (inputs before users) that lie on a path to a ``wanted`` tensor
    or a leaf whose id is in ``only``: the ones whose backward is needed."""
    leaf_ids = set(only or ()) | {id(t) for t in wanted if t._node is None}
    node_ids = {id(t._node) for t in wanted if t._node is not None}
    need: set = set()
    out = []
    for n in topo:
        if id(n) in node_ids or any(
            p is not None and (id(p[0]) in need if type(p) is tuple else id(p) in leaf_ids) for p in n.parents
        ):
            need.add(id(n))
            out.append(n)
    return out


def _slow_engine(topo, node_roots, leaf_roots, targets, create_graph, n_inputs=0):
    """Per-node backward through dispatch: used for hooks and create_graph. The first
    ``n_inputs`` targets are ``autograd.grad``'s inputs: a non-leaf one gets its gradient as
    it was before its hooks ran (torch's capture; a retained ``.grad`` shows them)."""
    from ._dispatch import call_kernel

    def wrap(c):
        return c if isinstance(c, Tensor) else Tensor._make(c)

    node_idx = {id(n): i for i, n in enumerate(topo)}
    cts = [None] * len(topo)
    for (n, o), c in node_roots:
        i = node_idx[id(n)]
        if cts[i] is None:
            cts[i] = [None] * n.n_out
        cts[i][o] = wrap(c) if cts[i][o] is None else cts[i][o] + wrap(c)
    leaves, leaf_g = [], []

    def add_leaf(t, g):
        for k, x in enumerate(leaves):
            if x is t:
                leaf_g[k] = leaf_g[k] + g
                return
        leaves.append(t)
        leaf_g.append(g)

    for t, c in leaf_roots:
        add_leaf(t, wrap(c))
    wanted = {}
    before_hooks = {}
    with set_grad_enabled(create_graph):
        for i in range(len(topo) - 1, -1, -1):
            n = topo[i]
            c = cts[i]
            if c is None:
                continue
            if n.hooks:
                for o in range(n.n_out):
                    before_hooks[(id(n), o)] = c[o]
                for o, hs in n.hooks.items():
                    for h in hs:
                        if c[o] is not None:
                            c[o] = _run_hook(h, c[o])
            for o in range(n.n_out):
                wanted[(id(n), o)] = c[o]
            # (a parent node pruned by _leading_to gets no gradient)
            diff = tuple(
                j for j, p in enumerate(n.parents) if p is not None and (type(p) is not tuple or id(p[0]) in node_idx)
            )
            kern = _vjp_kernel(n.kernel, len(n.vals), diff, tuple(x is not None for x in c))
            ins = [_input_tensor(v, p) for v, p in zip(n.vals, n.parents)]
            present = [x for x in c if x is not None]
            gs = call_kernel(
                kern,
                [x._read() if isinstance(x, Tensor) else x for x in ins] + [x._read() for x in present],
                [x if isinstance(x, Tensor) else None for x in ins] + present,
            )
            if isinstance(gs, Tensor):
                gs = (gs,)
            if _anomaly.state[0] and _anomaly.state[1] and flags.mode is None:
                for j, g in zip(diff, gs):
                    if g is not None and jnp.issubdtype(g.dtype, jnp.inexact) and bool(jnp.isnan(g._value).any()):
                        raise _anomaly.report(n.name(), _anomaly.stacks.get(n), j)
            for j, g in zip(diff, gs):
                p = n.parents[j]
                if type(p) is tuple:
                    pi = node_idx[id(p[0])]
                    if cts[pi] is None:
                        cts[pi] = [None] * p[0].n_out
                    cts[pi][p[1]] = g if cts[pi][p[1]] is None else cts[pi][p[1]] + g
                else:
                    add_leaf(p, g)
        for k, t in enumerate(leaves):
            if t._hooks:
                for h in t._hooks:
                    leaf_g[k] = _run_hook(h, leaf_g[k])
        out_t = []
        for i, t in enumerate(targets):
            if t._node is None:
                out_t.append(next((g for x, g in zip(leaves, leaf_g) if x is t), None))
            else:
                k = (id(t._node), t._idx)
                out_t.append(before_hooks[k] if i < n_inputs and k in before_hooks else wanted.get(k))
        final = []
        for t, g in zip(leaves, leaf_g):
            if t._grad is not None:
                # through dispatch (not raw `+` on values): lazy mode holds LazyValues here
                g = t._grad + g if create_graph else Tensor._make((t._grad + g)._read())
            final.append(g if create_graph else Tensor._make(g._read()))
    return final, out_t, leaves


def _input_tensor(v, p):
    if p is None:
        return v if not hasattr(v, "shape") else Tensor._make(v)
    if type(p) is tuple:
        return Tensor._make(v, True, p[0], p[1])
    return p if p._value is v else Tensor._make(v)


@functools.lru_cache(maxsize=4096)
def _vjp_kernel(kernel, n_in: int, diff: tuple, present: tuple):
    from ._dispatch import Kernel

    def fn(*a):
        args = list(a[:n_in])
        cts = iter(a[n_in:])
        c = [next(cts) if p else None for p in present]
        return tuple(_node_vjp(kernel.fn, args, diff, c))

    return Kernel(fn, kernel.name + "_backward")


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not accumulated into ``.grad``)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but got: allow_unused=False."
        )
    _check_roots(outputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    cts = [_as_root_ct(t, g, create_graph) for t, g in zip(outputs, grad_outputs)]
    res = _engine(outputs, cts, retain_graph, create_graph, accumulate=False, targets=inputs)
    out = []
    for i, (t, g) in enumerate(zip(inputs, res)):
        if g is None:
            if materialize_grads:
                from ._generate import functional as F

                out.append(F.zeros_like(t))
                continue
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
            out.append(None)
        else:
            out.append(g if isinstance(g, Tensor) else Tensor._make(g))
    return tuple(out)
