"""``torch.func``: composable function transforms (grad, vjp, jvp, jacrev, jacfwd, hessian,
vmap) and ``functional_call`` over ordinary eagerjax code.

A transformed function runs as an ``ej.compile``d step whose body applies the matching JAX
transform (``jax.grad``, ``jax.vmap``, ...) to a pure function of the transformed inputs'
arrays, in which the user's function runs on Tensors holding tracers. Going through
``ej.compile`` is what makes closures safe: the parameters and buffers the function reads
are discovered as state and passed in, never baked into a cached program as constants, so
training between calls is seen. It also gives each transform a cache keyed by shapes,
nesting (a transform called inside another one's trace runs inline: ``vmap(grad(f))`` is one
program), lazy mode (pending work is flushed, then the program runs), and differentiability:
with grad enabled, a transformed call whose inputs or state need grad is one op on the
autograd tape, so ``vmap(model)(x).sum().backward()`` and a ``grad`` inside a meta-learning
loop differentiate through it (by JAX, at any order).

Transformed functions are memoized per (transform, the function's code and closure
contents, options): ``grad(f)``, even ``grad(lambda p: ...)``, written inside a loop reuses
one compiled function instead of compiling per iteration; the tensors a closure holds are
passed to it as arguments (``_Lifted``), and rebinding a global it reads is a new cache key.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp

from . import _dtypes
from ._autograd import conj_complex
from ._compile import CompiledFunction, _cell_value
from ._state import flags, user_code
from ._tensor import Tensor

__all__ = ["grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "linearize", "vjp"]

_MEMO: OrderedDict = OrderedDict()
_MEMO_SIZE = 256


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _flatten(tree):
    return jax.tree_util.tree_flatten(tree, is_leaf=_is_tensor)


def _name(func) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


def _memo(kind: str, fns: tuple, opts: tuple, make: Callable[[], _Transformed]) -> Callable:
    """The transformed function of ``fns`` (made by ``make``), one per (transform, the functions'
    code and closure contents, options), least recently used out.

    Keyed by ``_fn_key``, not identity: ``grad(lambda p: ...)`` or a branch lambda written inside
    a loop is a new function object on every pass, and would otherwise compile every pass.
    What the functions close over is part of the key, except tensors: those are passed to the
    compiled function as arguments (``_Lifted``), since a closure often holds a tensor made
    afresh on every call (a batch statistic)."""
    try:
        key = (kind, tuple(map(_fn_key, fns)), opts)
        hash(key)
    except TypeError:  # unhashable options (a list of argnums): no reuse
        return make()
    cells = _tensor_cells(fns)
    tf = _MEMO.get(key)
    if tf is None:
        tf = _MEMO[key] = make()
        tf._cells = cells
        # the globals the functions read key the compiled function (their closure tensors are
        # arguments; other closure contents are in the memo key)
        tf._compiled._guard_fns, tf._compiled._guard_cells = tuple(fns), False
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    else:
        _MEMO.move_to_end(key)
    return _Lifted(tf, cells) if cells else tf


_VALUES = (int, float, complex, bool, str, bytes, type(None))
_EMPTY = object()


def _fn_key(f):
    """What makes ``f`` the same function as before: its code and what its closure holds
    (numbers by value, a tensor in a closure cell as a slot filled per call, anything else by
    identity: the memo keeps the first function, hence those objects, alive)."""

    def value(v):
        return (type(v), v) if type(v) in _VALUES else ("id", id(v))

    if type(f) is _Lifted:  # a transformed function (``jacfwd(jacrev(f))``): the memo's transform
        return ("lifted", id(f.tf))
    if hasattr(f, "__func__") and hasattr(f, "__self__"):  # a bound method
        return ("method", id(f.__self__), _fn_key(f.__func__))
    if isinstance(f, functools.partial):
        kw = tuple(sorted((k, value(v)) for k, v in f.keywords.items()))
        return ("partial", _fn_key(f.func), tuple(value(v) for v in f.args), kw)
    code = getattr(f, "__code__", None)
    if code is None:
        return ("object", id(f))
    cells = tuple(
        "tensor" if isinstance(c, Tensor) else value(c) for c in (_cell_value(c, _EMPTY) for c in f.__closure__ or ())
    )
    defaults = tuple(value(v) for v in f.__defaults__ or ())
    return ("function", code, cells, defaults, id(f.__globals__))


def _tensor_cells(fns) -> list:
    """The closure cells of ``fns`` that hold a Tensor, in ``_fn_key``'s order."""
    out = []
    for f in fns:
        if type(f) is _Lifted:
            out += f.cells
            continue
        f = getattr(f, "__func__", f)
        while isinstance(f, functools.partial):  # (as ``_fn_key`` keys it: by its innermost function)
            f = getattr(f.func, "__func__", f.func)
        out += [c for c in getattr(f, "__closure__", None) or () if isinstance(_cell_value(c), Tensor)]
    return out


def _closure_tensors(*fns) -> list:
    return [c.cell_contents for c in _tensor_cells(fns)]


class _Lifted:
    """A memoized transform bound to one call's functions: calls pass the tensors those
    functions close over (read now) to the transform, whose body, while it traces, puts them
    in the cells of the functions it was made with (same code, so the same cells)."""

    __slots__ = ("tf", "cells")

    def __init__(self, tf: _Transformed, cells: list) -> None:
        self.tf = tf
        self.cells = cells

    @property
    def __name__(self) -> str:
        return self.tf.__name__

    def __call__(self, *args, **kwargs):
        return self.tf.call_lifted([c.cell_contents for c in self.cells], *args, **kwargs)

    def __repr__(self) -> str:
        return repr(self.tf)


class _Transformed:
    """A transformed function: calls run its compiled body (inline inside another trace)."""

    def __init__(self, body: Callable, what: str) -> None:
        self._raw_body = body
        self._cells: list = []  # closure cells of the functions it was made with (``_memo``)
        # Tensors are the compiled function's traced inputs; everything else (Python numbers
        # included, unlike a plain ej.compile) is static, as the function sees it in torch.
        self._compiled = CompiledFunction(_call_split(self._body), static_argnums=(1,), name=what, what=what)
        self.__name__ = what

    def _body(self, lifted: list, *args, **kwargs):
        """The body, with ``lifted`` (the tensors of this call's closures) in the cells of the
        functions it was made with while it runs: it only runs to trace."""
        cells = self._cells
        saved = [c.cell_contents for c in cells]
        try:
            for c, t in zip(cells, lifted):
                c.cell_contents = t
            return self._raw_body(*args, **kwargs)
        finally:
            for c, v in zip(cells, saved):
                c.cell_contents = v

    def __call__(self, *args, **kwargs):
        return self.call_lifted([], *args, **kwargs)

    def call_lifted(self, lifted: list, *args, **kwargs):
        args = (lifted, *args)
        mode = flags.mode
        if mode is not None and not mode.is_lazy and flags.grad_enabled and type(mode) not in (_Probe, _Replay, _Trap):
            return _inline(self, args, kwargs)
        leaves, tree = _flatten((args, kwargs))
        tensors = [x for x in leaves if isinstance(x, Tensor)]
        static = _Static(tree, [None if isinstance(x, Tensor) else x for x in leaves])
        return self._compiled(tensors, static)


def _call_split(body: Callable) -> Callable:
    def call(tensors: list, static: _Static):
        it = iter(tensors)
        leaves = [next(it) if x is None and t else x for x, t in zip(static.leaves, static.is_tensor)]
        args, kwargs = jax.tree_util.tree_unflatten(static.tree, leaves)
        return body(*args, **kwargs)

    return call


class _Static:
    """The non-Tensor part of a call's arguments, as a hashable cache key."""

    __slots__ = ("tree", "leaves", "is_tensor", "_key")

    def __init__(self, tree, leaves: list) -> None:
        self.tree = tree
        self.is_tensor = tuple(x is None for x in leaves)
        # (a None leaf is never produced by tree_flatten: None is an empty subtree)
        self.leaves = leaves
        key = []
        for x in leaves:
            try:
                hash(x)
                key.append((type(x), x))
            except TypeError:  # an unhashable value (a numpy array): by identity
                key.append((type(x), id(x)))
        self._key = (tree, tuple(key))

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Static) and self._key == other._key

    def __repr__(self) -> str:
        return f"<eagerjax.func {self.__name__}>"


class _Probe:
    """The recorder while a transformed body runs inline in a captured step: everything goes
    to the step's recorder, and the tensors the body reads or makes are noted on the way."""

    is_lazy = False

    def __init__(self, outer) -> None:
        self._outer = outer
        self.reads: dict = {}  # id -> tensor, in first-read order
        self.born: set = set()

    def __getattr__(self, name: str):
        return getattr(self._outer, name)

    def note_read(self, t: Tensor):
        self.reads.setdefault(id(t), t)
        return self._outer.note_read(t)

    def note_new(self, t: Tensor) -> None:
        self.born.add(id(t))
        self._outer.note_new(t)


class _Replay:
    """The recorder while the backward replays a transformed body: side effects (buffer
    updates, generator advances) happened in the forward, so writes are undone afterwards
    and nothing reaches the step's recorder."""

    is_lazy = False
    discovering = False

    def __init__(self, outer) -> None:
        self._outer = outer
        self.saved: dict = {}

    def note_read(self, t: Tensor):
        return t._value

    def note_write(self, t: Tensor) -> None:
        self.saved.setdefault(id(t), (t, t._value, t._version))

    def note_writes(self, ts) -> None:
        for t in ts:
            self.note_write(t)

    def note_new(self, t: Tensor) -> None:
        pass

    def note_module(self, m) -> None:
        pass

    def note_grad_access(self, t: Tensor) -> None:
        pass

    def mark_step(self) -> None:
        pass

    def run(self, kern, vals, tens):
        return kern.fn(*vals)

    def host_read(self, t: Tensor, what: str):
        return self._outer.host_read(t, what)

    def undo(self) -> None:
        for t, v, ver in self.saved.values():
            t._value, t._version = v, ver


class _Trap:
    """``with _Trap() as trap:`` around a transformed function's run: tensors from outside the
    function that it writes (a non-differentiated argument updated in place, BatchNorm's
    running statistics, the generator's key) hold values of the transform's trace afterwards,
    which must not outlive it. On exit they get their old values back; ``trap.values`` are
    the new ones, for the body to return through the transform (as auxiliary outputs: JAX
    gives back their primal, unbatched values) and ``write_back`` after it, as torch's
    transforms leave such writes in place."""

    is_lazy = False

    def __init__(self, ignore=(), forward_mode: bool = False) -> None:
        self._forward_mode = forward_mode
        self._ignore = {id(t) for t in ignore}
        self.saved: dict = {}
        self.born: set = set()
        self.tensors: list = []
        self.values: list = []

    def __enter__(self) -> _Trap:
        self._outer = flags.mode
        flags.mode = self
        # torch's transforms ignore a no_grad around them (one inside the function counts)
        self._user = user_code(self._forward_mode)
        self._user.__enter__()
        self._in_transform = flags.in_transform
        flags.in_transform = True
        return self

    def __exit__(self, *exc) -> None:
        flags.mode = self._outer
        self._user.__exit__()
        flags.in_transform = self._in_transform
        for t, v, ver in self.saved.values():
            self.tensors.append(t)
            self.values.append(t._value)
            t._value, t._version = v, ver

    def __getattr__(self, name: str):
        return getattr(self._outer, name)

    def note_new(self, t: Tensor) -> None:
        self.born.add(id(t))
        self._outer.note_new(t)

    def note_write(self, t: Tensor) -> None:
        k = id(t)
        if k not in self.born and k not in self.saved and k not in self._ignore:
            self.saved[k] = (t, t._value, t._version)
        self._outer.note_write(t)

    def note_writes(self, ts) -> None:
        for t in ts:
            self.note_write(t)


def write_back(tensors: list, values) -> None:
    for t, v in zip(tensors, values):
        t._assign(v)


def _inline(tf: _Transformed, args: tuple, kwargs: dict):
    """A transformed call inside a captured step, with grad enabled: run the body now (its
    side effects are the step's), then tie the results that need grad to the autograd tape by
    one node whose inputs are every tensor needing grad that the body read (arguments,
    closed-over parameters, the step's intermediates) and whose function replays the body."""
    from ._autograd import raw_node
    from ._dispatch import Kernel

    outer = flags.mode
    probe = _Probe(outer)
    flags.mode = probe
    try:
        out = tf._body(*args, **kwargs)
    finally:
        flags.mode = outer
    leaves, _ = _flatten(out)
    heads = [t for t in leaves if isinstance(t, Tensor) and t.requires_grad and t._node is None]
    born = probe.born
    inputs = [t for k, t in probe.reads.items() if t.requires_grad and k not in born]
    if not heads or not inputs:
        return out
    heads_pos = [i for i, t in enumerate(leaves) if any(t is h for h in heads)]
    # the other tensors it read, as they were: a later write (a transform's own write-back
    # into its argument, a buffer update) must not change what the backward replays
    consts = [t for k, t in probe.reads.items() if not t.requires_grad and k not in born]
    const_values = [t._value for t in consts]

    def replay(*arrays):
        rep = _Replay(outer)
        prev = flags.mode
        swapped = [(t, t._value) for t in inputs + consts]
        flags.mode = rep
        try:
            for t, a in zip(inputs + consts, list(arrays) + const_values):
                t._value = a
            # off the tape (JAX differentiates the replay), yet the user's no_grad counts
            with _no_grad(), user_code():
                res, _ = _flatten(tf._body(*args, **kwargs))
            return tuple(res[i]._value for i in heads_pos)
        finally:
            rep.undo()
            for t, v in swapped:
                t._value = v
            flags.mode = prev

    parents = [t if t._node is None else (t._node, t._idx) for t in inputs]
    node = raw_node(Kernel(replay, tf.__name__), [t._value for t in inputs], parents, len(heads))
    for i, t in enumerate(heads):
        t._node, t._idx = node, i
    return out


def _no_grad():
    from ._autograd import no_grad

    return no_grad()


def _out(array, requires_grad: bool) -> Tensor:
    """A result Tensor; ``requires_grad`` marks it as depending on tensors that need grad, so a
    differentiable transformed call attaches it to the autograd tape."""
    t = Tensor._make(array)
    if requires_grad and flags.grad_enabled and (_dtypes.is_floating(t.dtype) or _dtypes.is_complex(t.dtype)):
        t.requires_grad = True
    return t


# ----------------------------------------------------------------------------- argnums
def _argnums(argnums, n_args: int, api: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) for i in nums):
        raise RuntimeError(f"{api}: argnums must be int or Tuple[int, ...], got: {argnums!r}")
    out = []
    for i in nums:
        if not -n_args <= i < n_args:
            raise RuntimeError(f"Got argnum={i}, but only {n_args} positional inputs")
        out.append(i % n_args)
    return tuple(out)


def _diff_inputs(args: tuple, nums: tuple, single: bool):
    """The differentiated inputs' Tensor leaves and a function rebuilding ``args`` from new leaves."""
    picked = args[nums[0]] if single else tuple(args[i] for i in nums)
    leaves, tree = _flatten(picked)
    for x in leaves:
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")

    def rebuild(new_leaves: list) -> list:
        new = jax.tree_util.tree_unflatten(tree, new_leaves)
        call = list(args)
        if single:
            call[nums[0]] = new
        else:
            for i, v in zip(nums, new):
                call[i] = v
        return call

    return leaves, tree, rebuild


def _wrap_like(arrays, originals) -> list:
    return [Tensor._make(a, requires_grad=o.requires_grad) for a, o in zip(arrays, originals)]


def _aux_arrays(aux, meta: dict) -> list:
    leaves, tree = _flatten(aux)
    for x in leaves:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(x)}")
    meta["aux"] = (tree, [x.requires_grad for x in leaves])
    return [x._value for x in leaves]


def _aux_out(arrays, meta: dict):
    tree, rgs = meta["aux"]
    return jax.tree_util.tree_unflatten(tree, [_out(a, rg) for a, rg in zip(arrays, rgs)])


def _split_aux(out, has_aux: bool, api: str):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{api}(f)(*args): output of function f should be a tuple: (output, aux) if has_aux is True")
    return out


# ----------------------------------------------------------------------------- grad
def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """``(grad, value)`` (``((grad, value), aux)`` with ``has_aux``) of a scalar-valued ``func``."""
    return _memo("grad_and_value", (func,), (argnums, has_aux), lambda: _grad(func, argnums, has_aux, True))


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar-valued ``func`` with respect to ``args[argnums]`` (pytrees allowed)."""
    return _memo("grad", (func,), (argnums, has_aux), lambda: _grad(func, argnums, has_aux, False))


def _grad(func, argnums, has_aux: bool, with_value: bool) -> _Transformed:
    def body(*args, **kwargs):
        nums = _argnums(argnums, len(args), "grad")
        leaves, tree, rebuild = _diff_inputs(args, nums, isinstance(argnums, int))
        meta: dict = {}

        def inner(arrays):
            with _Trap() as trap:
                out = func(*rebuild(_wrap_like(arrays, leaves)), **kwargs)
                out, aux = _split_aux(out, has_aux, "grad_and_value")
                if not isinstance(out, Tensor):
                    raise RuntimeError(f"Expected f(*args) to return a Tensor, got {type(out)}")
                if out.numel() != 1:
                    raise RuntimeError(
                        f"grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with "
                        f"{out.ndim} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
                    )
                meta["rg"] = out.requires_grad
                value = out._value
                aux_arrays = _aux_arrays(aux, meta)
            meta["written"] = trap.tensors
            return jnp.reshape(value, ()).astype(jnp.result_type(value)), (value, aux_arrays, trap.values)

        grads, (value, aux, written) = jax.grad(inner, has_aux=True)([x._read() for x in leaves])
        write_back(meta["written"], written)
        # A gradient depends on tensors needing grad if the function's value does. (Complex
        # inputs: torch's convention is the conjugate of JAX's, as on the tape.)
        g = jax.tree_util.tree_unflatten(tree, [_out(conj_complex(a), meta["rg"]) for a in grads])
        if not with_value:
            return (g, _aux_out(aux, meta)) if has_aux else g
        value = _out(value, meta["rg"])
        return (g, (value, _aux_out(aux, meta))) if has_aux else (g, value)

    return _Transformed(body, f"{'grad_and_value' if with_value else 'grad'}({_name(func)})")


# ----------------------------------------------------------------------------- vjp / jvp
def vjp(func: Callable, *primals, has_aux: bool = False):
    """``(func(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` returns one gradient per primal.

    ``vjp_fn`` recomputes the forward inside its own compiled program (XLA shares nothing
    between the two calls), so the pair costs one extra forward, not stored residuals. The
    recomputation starts from the default generator's state before the forward, so its
    random draws (dropout masks) are the forward's.
    """
    from ._random import default_generator

    fwd = _memo("vjp_fwd", (func,), (len(primals), has_aux), lambda: _vjp_forward(func, has_aux))
    bwd = _memo("vjp_bwd", (func,), (len(primals), has_aux), lambda: _vjp_backward(func, len(primals), has_aux))
    key = default_generator.get_state()
    res = fwd(*primals)
    out, aux = res if has_aux else (res, None)

    def vjp_fn(*cotangents):
        cts = cotangents[0] if len(cotangents) == 1 else cotangents
        return bwd(primals, cts, key)

    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _check_primals(primals) -> list:
    leaves, _ = _flatten(primals)
    for x in leaves:
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    return leaves


def _vjp_forward(func, has_aux: bool) -> _Transformed:
    def body(*primals):
        _check_primals(primals)
        return func(*primals)

    return _Transformed(body, f"vjp({_name(func)})")


def _vjp_backward(func, n: int, has_aux: bool) -> _Transformed:
    from ._random import default_generator

    def body(primals, cts, key):
        leaves = _check_primals(primals)
        _, tree = _flatten(primals)
        meta: dict = {}

        def inner(arrays):
            # (a recomputation: the forward call already made its writes; these are dropped)
            with _Trap():
                default_generator.set_state(key)  # the forward's draws again
                out = func(*jax.tree_util.tree_unflatten(tree, _wrap_like(arrays, leaves)))
                out, _aux = _split_aux(out, has_aux, "vjp")
                outs, otree = _flatten(out)
                meta["tree"] = otree
                meta["rg"] = any(isinstance(o, Tensor) and o.requires_grad for o in outs)
                return [o._value for o in outs]

        out_arrays, pullback = jax.vjp(inner, [x._read() for x in leaves])
        ct_leaves, ct_tree = _flatten(cts)
        if ct_tree != meta["tree"]:
            raise RuntimeError(
                f"Expected pytree structure of cotangents to be the same as pytree structure of outputs to the "
                f"function. cotangents: {ct_tree}, primal output: {meta['tree']}"
            )
        ct_arrays = []
        for c, o in zip(ct_leaves, out_arrays):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {tuple(c.shape)} and output[0] has a shape "
                    f"of {tuple(o.shape)}."
                )
            ct_arrays.append(c._read().astype(o.dtype))
        (grads,) = pullback([conj_complex(c) for c in ct_arrays])  # torch's complex convention
        grads = [conj_complex(g) for g in grads]
        rg = meta["rg"] or any(c.requires_grad for c in ct_leaves)
        return jax.tree_util.tree_unflatten(tree, [_out(g, rg) for g in grads])

    return _Transformed(body, f"vjp_fn({_name(func)})")


def jvp(func: Callable, primals: tuple, tangents: tuple, *, strict: bool = False, has_aux: bool = False):
    """``(func(*primals), J @ tangents)`` (and ``aux`` with ``has_aux``): forward-mode."""
    for what, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, tuple):
            raise RuntimeError(
                f"jvp(f, primals, tangents): Expected {what} to be a tuple. E.g. it should be valid to call f(*primals)."
            )
    if len(primals) != len(tangents):
        raise RuntimeError(
            "jvp(f, primals, tangents): Expected primals and tangents to have the same python structure. "
            f"For example, if primals is a tuple of 3 tensors, tangents also must be. Got {len(primals)} primals "
            f"and {len(tangents)} tangents."
        )
    *res, args_out = _memo("jvp", (func,), (len(primals), has_aux), lambda: _jvp(func, has_aux))(primals, tangents)
    if args_out:
        # primals the function updated in place: torch updates them and their tangents
        p_leaves, t_leaves = _flatten(primals)[0], _flatten(tangents)[0]
        for k, (p, t) in args_out.items():
            p_leaves[k].copy_(p)
            t_leaves[k].copy_(t)
    return tuple(res)


def _jvp(func, has_aux: bool) -> _Transformed:
    def body(primals, tangents):
        leaves = _check_primals(primals)
        t_leaves = _check_primals(tangents)
        _, tree = _flatten(primals)
        for p, t in zip(leaves, t_leaves):
            if tuple(p.shape) != tuple(t.shape):
                raise RuntimeError(
                    f"jvp(f, primals, tangents): Expected primals and tangents to have the same shape. "
                    f"Got primal of shape {tuple(p.shape)} and tangent of shape {tuple(t.shape)}."
                )
        meta: dict = {}

        def inner(arrays):
            with _Trap(forward_mode=True) as trap:
                duals = _wrap_like(arrays, leaves)
                out = func(*jax.tree_util.tree_unflatten(tree, duals))
                out, aux = _split_aux(out, has_aux, "jvp")
                outs, otree = _flatten(out)
                meta["tree"] = otree
                meta["rg"] = [isinstance(o, Tensor) and o.requires_grad for o in outs]
                # primals the function updated in place: torch updates the primal and its
                # tangent, so their new values come back as outputs (with their tangents)
                meta["args_written"] = [k for k, d in enumerate(duals) if d._version]
                meta["args_rg"] = [duals[k].requires_grad for k in meta["args_written"]]
                res = [o._value for o in outs] + [duals[k]._value for k in meta["args_written"]]
                res = res, _aux_arrays(aux, meta)
            meta["written"] = trap.tensors
            return res[0], (res[1], trap.values)

        primal_arrays = [x._read() for x in leaves]
        tangent_arrays = [t._read().astype(p.dtype) for t, p in zip(t_leaves, primal_arrays)]
        outs, jvps, (aux, written) = jax.jvp(inner, (primal_arrays,), (tangent_arrays,), has_aux=True)
        write_back(meta["written"], written)
        rg = meta["rg"]
        t_rg = any(t.requires_grad for t in t_leaves)
        n_out = meta["tree"].num_leaves
        # {primal leaf index: (new primal, new tangent)}, copied in by ``jvp`` (on the tape)
        args_out = {
            k: (_out(p, r), _out(t, r or t_rg))
            for k, p, t, r in zip(meta["args_written"], outs[n_out:], jvps[n_out:], meta["args_rg"])
        }
        outs, jvps = outs[:n_out], jvps[:n_out]
        out = jax.tree_util.tree_unflatten(meta["tree"], [_out(a, r) for a, r in zip(outs, rg)])
        tan = jax.tree_util.tree_unflatten(meta["tree"], [_out(a, r or t_rg) for a, r in zip(jvps, rg)])
        return (out, tan, _aux_out(aux, meta), args_out) if has_aux else (out, tan, args_out)

    return _Transformed(body, f"jvp({_name(func)})")


# ----------------------------------------------------------------------------- jacobians
def jacrev(
    func: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False, chunk_size=None, **_
) -> Callable:
    """The Jacobian of ``func`` with respect to ``args[argnums]`` by reverse mode: each output
    leaf's shape followed by each input leaf's shape (``chunk_size`` is accepted; XLA batches)."""
    return _memo("jacrev", (func,), (argnums, has_aux), lambda: _jac(func, argnums, has_aux, jax.jacrev, "jacrev"))


def jacfwd(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *, randomness: str = "error"):
    """The Jacobian of ``func`` with respect to ``args[argnums]`` by forward mode."""
    return _memo("jacfwd", (func,), (argnums, has_aux), lambda: _jac(func, argnums, has_aux, jax.jacfwd, "jacfwd"))


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Hessian of a scalar ``func``: ``jacfwd(jacrev(func, argnums), argnums)``."""
    return jacfwd(jacrev(func, argnums), argnums)  # (each memoized: jacfwd's key holds jacrev's)


def _jac(func, argnums, has_aux: bool, transform, api: str) -> _Transformed:
    def body(*args, **kwargs):
        nums = _argnums(argnums, len(args), api)
        single = isinstance(argnums, int)
        leaves, tree, rebuild = _diff_inputs(args, nums, single)
        meta: dict = {}

        def inner(diff):
            flat = jax.tree_util.tree_leaves(diff)
            with _Trap(forward_mode=transform is jax.jacfwd) as trap:
                out = func(*rebuild(_wrap_like(flat, leaves)), **kwargs)
                out, aux = _split_aux(out, has_aux, api)
                outs, otree = _flatten(out)
                for o in outs:
                    if not isinstance(o, Tensor):
                        raise RuntimeError(f"{api}(f, ...)(*args): expected f to return Tensors, got {type(o)}")
                meta["tree"] = otree
                meta["rg"] = any(o.requires_grad for o in outs)
                res = [o._value for o in outs], _aux_arrays(aux, meta)
            meta["written"] = trap.tensors
            return res[0], (res[1], trap.values)

        # the differentiated inputs as one pytree of arrays shaped like ``args[argnums]``
        diff = jax.tree_util.tree_unflatten(tree, [x._read() for x in leaves])
        jac, (aux, written) = transform(inner, has_aux=True)(diff)
        write_back(meta["written"], written)
        rg = meta["rg"]
        # jax nests the input structure inside each output leaf, as torch does
        per_out = [jax.tree_util.tree_map(lambda a: _out(a, rg), j) for j in jac]
        res = jax.tree_util.tree_unflatten(meta["tree"], per_out)
        return (res, _aux_out(aux, meta)) if has_aux else res

    return _Transformed(body, f"{api}({_name(func)})")


# ----------------------------------------------------------------------------- linearize
def linearize(func: Callable, *primals) -> tuple:
    """``(func(*primals), jvp_fn)``: ``jvp_fn(*tangents)`` is the Jacobian-vector product of
    ``func`` at ``primals`` (as they are now: a snapshot is kept) for tangents shaped like them.

    ``func`` runs once here, as a plain call; each ``jvp_fn`` call runs ``jvp`` again (one
    compiled program, memoized like the other transforms) instead of keeping a linear graph.
    """
    output = func(*primals)
    _, out_tree = _flatten(output)
    flat, tree = _flatten(primals)
    for x in flat:
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    snap = [x.detach() for x in flat]  # values are immutable: later writes to a primal miss it
    shapes = [x.shape for x in flat]
    dtypes = [x.dtype for x in flat]

    def jvp_fn(*tangents):
        t_flat, t_tree = _flatten(tangents)
        if t_tree != tree:
            raise RuntimeError(f"Expected the tangents {t_tree} to have the same argspec as the primals {tree}")
        for i, t in enumerate(t_flat):
            if not isinstance(t, Tensor):
                raise ValueError(f"Thing passed to transform API must be Tensor, got {type(t)}")
            if t.shape != shapes[i]:
                raise RuntimeError(
                    f"tangent:{i} with shape {t.shape} in flattened pytree doesn't match the shape "
                    f"{shapes[i]} of the corresponding primal."
                )
            if t.dtype != dtypes[i]:
                raise RuntimeError(
                    f"tangent:{i} with dtype {t.dtype} in flattened pytree doesn't match the dtype "
                    f"{dtypes[i]} of the corresponding primal."
                )
        ps = jax.tree_util.tree_unflatten(tree, [x.detach() for x in snap])
        _, tangent_out = jvp(func, tuple(ps), tuple(tangents))
        return jax.tree_util.tree_unflatten(out_tree, _flatten(tangent_out)[0])

    return output, jvp_fn
