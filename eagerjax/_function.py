"""``ej.autograd.Function``: torch's custom autograd functions, each call ONE kernel.

``MyFn.apply(*args)`` runs as one ``Kernel`` (``call_kernel``), so eager mode, ``ej.compile``
and ``ej.lazy()`` treat it like any op, and autograd records one ``Node`` for it. The
kernel's ``fn`` is a ``jax.custom_vjp`` function:

- its forward (and primal) wraps the jax values of the Tensor arguments as Tensors and
  runs the user's ``forward`` on them (so every eagerjax op inside is traced into the
  kernel), returning the output values and, as residuals, the values of
  ``ctx.save_for_backward``'d tensors and of tensors/arrays set as ``ctx`` attributes;
  every other ``ctx`` attribute travels as static pytree aux data;
- its bwd rebuilds a ctx from the residuals, wraps the output cotangents as Tensors,
  runs the user's ``backward`` and returns one cotangent per traced input (torch's
  checks: the number of gradients, None for non-Tensor inputs, shapes — a gradient
  whose shape the input broadcasts to is summed down, as torch does — and dtype).

``ctx.mark_dirty(x)`` (an input modified in place and returned): the kernel returns the new
value like any output, and ``apply`` then writes it into the caller's tensor and gives that
tensor the output's history (``_rebind_dirty``), as an in-place op does. A backward under
``@once_differentiable`` sees its residuals as constants and its incoming gradients through
``_once_guard``, whose derivative raises torch's error: only a double backward reaches it.

So the gradient comes from ``jax.vjp`` like every other node's, and the fused backward's
program caching keeps working. One kernel is cached per (Function subclass, static
arguments, which arguments are Tensors and which of them require grad).

Invariants:
- Non-Tensor arguments are static: they key the kernel cache and reach ``forward`` as
  they were given (rebuilt from the key, so mutating a list later cannot change a cached
  kernel). Tensors nested in a list/tuple/dict argument are traced inputs without a
  gradient (torch does not track them either).
- The user's ``forward``/``backward`` run at trace time under ``_Inside``, a mode of
  their own: grad recording is off, nothing reaches the compile/lazy recorder, ops run
  their kernels' raw functions on the tracers, and reading a tensor that was not passed
  to ``apply`` (a module's parameter, a global tensor, the random generator) or a host
  read of a traced value raises a clear error instead of baking a stale constant into
  the cached program or leaking a tracer.
- Like any kernel, ``forward`` is re-traced wherever the kernel is (the eager jit, the
  backward program, a compiled step): its Python side effects happen at trace time.
"""

from __future__ import annotations

import functools
import inspect
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from . import _autocast
from ._autograd import conj_complex
from ._dispatch import Kernel, _static, _unstatic, call_kernel
from ._state import flags
from ._tensor import Tensor

__all__ = ["Function", "FunctionCtx", "once_differentiable"]

MAX_KERNELS_PER_FUNCTION = 1024
_PRIVATE = "_ej_"


# --------------------------------------------------------------------------- ctx
class FunctionCtx:
    """The ``ctx`` handed to ``forward``/``setup_context`` and ``backward``."""

    def save_for_backward(self, *tensors) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {i} is of type {type(t).__name__}"
                )
        self._ej_saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        return tuple(self.__dict__.get("_ej_saved", ()))

    def mark_non_differentiable(self, *args) -> None:
        self._ej_non_diff = tuple(args)

    def set_materialize_grads(self, value: bool) -> None:
        self._ej_materialize = bool(value)

    def mark_dirty(self, *args) -> None:
        self._ej_dirty = tuple(args)


# --------------------------------------------------------------------------- inner mode
class _Inside:
    """``flags.mode`` while a user's ``forward``/``backward`` is traced inside its kernel.

    Speaks the recorder protocol (see ``_state``): ops run their raw functions on the
    tracers, tensors born here may be read and written, others may not.
    """

    is_lazy = False
    discovering = False

    def __init__(self, where: str) -> None:
        self.where = where
        self.ids: set = set()
        self.born: list = []  # keeps the ids unique while the trace runs

    def note_new(self, t) -> None:
        self.ids.add(id(t))
        self.born.append(t)

    def _outside(self, t) -> RuntimeError:
        fn = self.where.split(".")[0]
        return RuntimeError(
            f"{self.where} used a tensor of shape {tuple(t._value.shape) if t._value is not None else '?'} "
            f"that was not passed to {fn}.apply() (a module's parameter, a global tensor, the random "
            f"generator): a custom Function runs as one traced computation of its arguments, so pass "
            f"the tensor to {fn}.apply() as an argument (its gradient is then returned by backward)"
        )

    def note_read(self, t):
        if id(t) not in self.ids:
            raise self._outside(t)
        return t._value

    def note_write(self, t) -> None:
        if id(t) not in self.ids:
            raise self._outside(t)

    def note_writes(self, ts) -> None:
        for t in ts:
            self.note_write(t)

    def host_read(self, t, what: str):
        v = t._value
        if id(t) in self.ids and not isinstance(v, jax.core.Tracer):
            return v  # a constant made inside
        raise RuntimeError(
            f"{what} inside {self.where}: a custom Function's forward and backward are traced into "
            f"one XLA computation, where tensor values are not known on the host. Use tensor ops "
            f"(e.g. ej.where) instead of Python control flow on values."
        )

    def run(self, kern, vals, tens):
        if kern.eager_only:
            raise RuntimeError(
                f"{kern.name}() inside {self.where}: its output shape depends on tensor values, which "
                f"cannot be traced; use a fixed-size alternative (e.g. masked ops / ej.where)"
            )
        return kern.fn(*vals)

    def set_grads(self, owners, grads) -> None:  # an autograd.backward() inside backward
        for t, g in zip(owners, grads):
            t._grad = g if isinstance(g, Tensor) else Tensor._make(g)

    def note_grad_access(self, t) -> None:
        pass

    def note_grad(self, t) -> None:
        pass

    def note_module(self, m) -> None:
        pass

    def flush(self, reason=None) -> None:
        pass

    def mark_step(self) -> None:
        pass


class _Enter:
    """Install an ``_Inside`` mode with grad recording off and the given ``ej.autocast`` state
    (the forward's: the kernel's cache key; the backward's: off); restore all on exit."""

    __slots__ = ("inside", "prev", "pin")

    def __init__(self, where: str, autocast_state=None) -> None:
        self.inside = _Inside(where)
        self.pin = _autocast.pinned(autocast_state)

    def __enter__(self) -> _Inside:
        self.prev = (flags.mode, flags.grad_enabled, flags.stop_traced, flags.in_kernel)
        flags.mode = self.inside
        flags.grad_enabled = False
        flags.stop_traced = flags.in_kernel = False  # the user's code: see ``user_code``
        self.pin.__enter__()
        return self.inside

    def __exit__(self, *exc) -> None:
        self.pin.__exit__()
        flags.mode, flags.grad_enabled, flags.stop_traced, flags.in_kernel = self.prev


class _Box:
    """Static residuals (ctx attributes that are not arrays, output avals): pytree aux data,
    compared by identity."""

    __slots__ = ("v",)

    def __init__(self, v) -> None:
        self.v = v


jax.tree_util.register_pytree_node(_Box, lambda b: ((), b), lambda aux, _: aux)


class _ById:
    """A cache-key stand-in for an unhashable static argument (compared by identity)."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other) -> bool:
        return type(other) is _ById and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _key_of(a):
    s = _static(a)
    try:
        hash(s)
    except TypeError:
        return _ById(a)
    return s


def _value_of(s):
    return s.obj if type(s) is _ById else _unstatic(s)


def _is_array(x) -> bool:
    return isinstance(x, jax.Array)  # (tracers included)


# --------------------------------------------------------------------------- the kernel
_T = "T"  # spec: a top-level Tensor argument
_S = "S"  # spec: a static argument
_P = "P"  # spec: a container holding Tensors (traced, no gradient)


def _zero_cotangent(shape, dtype):
    if jnp.issubdtype(dtype, jnp.inexact):
        return jnp.zeros(shape, dtype)
    return np.zeros(shape, jax.dtypes.float0)


def _sum_to(g, shape: tuple):
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _expandable(shape: tuple, to: tuple) -> bool:
    if len(shape) > len(to):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(to)))


def _build(cls, spec: tuple, kwspec: tuple, new_style: bool):
    """The kernel for one (Function subclass, argument spec), and its per-trace ``info``."""
    name = cls.__name__
    bname = name + "Backward"
    user_bwd = _backward_of(cls)
    once = getattr(user_bwd, "_ej_once_differentiable", False)
    n_args = len(spec)
    nig = tuple(s[0] == _T and s[1] for s in spec)
    info: dict = {}
    autocast_state = flags.autocast_state  # (part of the cache key)

    def rebuild(vals, inside):
        it = iter(enumerate(vals))
        top = inside.top = {}  # id(a top-level Tensor argument) -> its index in vals

        def from_spec(s):
            if s[0] == _T:
                i, v = next(it)
                t = Tensor._make(v)
                t.requires_grad = s[1]  # as torch's forward sees it (grad recording is off)
                top[id(t)] = i
                return t
            if s[0] == _S:
                return _value_of(s[1])
            _, treedef, leaves = s
            return jax.tree_util.tree_unflatten(
                treedef, [Tensor._make(next(it)[1]) if x is _T else _value_of(x) for x in leaves]
            )

        args = [from_spec(s) for s in spec]
        kwargs = {k: from_spec(s) for k, s in kwspec}
        return args, kwargs

    def run_forward(vals):
        with _Enter(f"{name}.forward()", autocast_state) as inside:
            args, kwargs = rebuild(vals, inside)
            ctx = FunctionCtx()
            ctx.needs_input_grad = nig
            if new_style:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, tuple(args), out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
            single = type(out) is not tuple
            items = (out,) if single else out
            layout = tuple(isinstance(o, Tensor) or _is_array(o) for o in items)
            consts = tuple(None if is_t else o for o, is_t in zip(items, layout))
            outs = [inside.note_read(o) if isinstance(o, Tensor) else o for o, is_t in zip(items, layout) if is_t]
            nd = {id(t) for t in ctx.__dict__.get("_ej_non_diff", ())}
            tens_out = [o for o, is_t in zip(items, layout) if is_t]
            non_diff = frozenset(k for k, o in enumerate(tens_out) if id(o) in nd)
            dirty = _dirty_outputs(ctx, tens_out, inside.top)
            # residuals: saved tensors, then tensors/arrays among ctx's attributes
            arrays = []
            saved = []
            for t in ctx.__dict__.get("_ej_saved", ()):
                if t is None:
                    saved.append(None)
                else:
                    saved.append(len(arrays))
                    arrays.append(inside.note_read(t))
            attrs = []
            for k, v in ctx.__dict__.items():
                if k.startswith(_PRIVATE) or k == "needs_input_grad":
                    continue
                leaves, treedef = jax.tree_util.tree_flatten(v)
                ls = []
                for x in leaves:
                    if isinstance(x, Tensor):
                        ls.append((_T, len(arrays)))
                        arrays.append(inside.note_read(x))
                    elif _is_array(x):
                        ls.append((_P, len(arrays)))
                        arrays.append(x)
                    else:
                        ls.append((_S, x))
                attrs.append((k, treedef, tuple(ls)))
            info["layout"], info["consts"], info["non_diff"], info["single"] = layout, consts, non_diff, single
            info["dirty"] = dirty
            static = {
                "saved": tuple(saved),
                "attrs": tuple(attrs),
                "out_avals": tuple((tuple(o.shape), o.dtype) for o in outs),
                "in_avals": tuple((tuple(jnp.shape(v)), jnp.result_type(v)) for v in vals),
                "layout": layout,
                "non_diff": non_diff,
                "materialize": ctx.__dict__.get("_ej_materialize", True),
            }
            res = (tuple(arrays), _Box(static))
            return (outs[0] if single and outs else tuple(outs)), res

    def run_backward(res, cts):
        arrays, box = res
        st = box.v
        if once:
            # torch's @once_differentiable: the gradients are constants of the saved tensors,
            # and differentiating them through the incoming gradients raises
            arrays = tuple(jax.lax.stop_gradient(a) for a in arrays)
            cts = _map_cts(lambda c: c if c.dtype == jax.dtypes.float0 else _once_guard(c), cts)
        with _Enter(f"{name}.backward()") as inside:
            ts = [Tensor._make(a) for a in arrays]
            ctx = FunctionCtx()
            ctx.needs_input_grad = nig
            ctx._ej_saved = tuple(None if i is None else ts[i] for i in st["saved"])
            for k, treedef, ls in st["attrs"]:
                leaves = [ts[x] if kind == _T else arrays[x] if kind == _P else x for kind, x in ls]
                setattr(ctx, k, jax.tree_util.tree_unflatten(treedef, leaves))
            out_avals = st["out_avals"]
            cts = cts if type(cts) is tuple else (cts,)
            grad_outs = []
            k = 0
            for is_t in st["layout"]:
                if not is_t:
                    grad_outs.append(None)
                    continue
                c = cts[k]
                shape, dtype = out_avals[k]
                if type(c) is SymbolicZero or k in st["non_diff"] or c.dtype == jax.dtypes.float0:
                    grad_outs.append(Tensor._make(jnp.zeros(shape, dtype)) if st["materialize"] else None)
                else:
                    grad_outs.append(Tensor._make(c))
                k += 1
            grads = user_bwd(ctx, *grad_outs)
            if type(grads) is not tuple:
                grads = (grads,)
            if len(grads) > n_args and all(g is None for g in grads[n_args:]):
                grads = grads[:n_args]
            if len(grads) != n_args:
                raise RuntimeError(
                    f"function {bname} returned an incorrect number of gradients (expected {n_args}, got {len(grads)})"
                )
            out = []
            it = iter(st["in_avals"])
            for i, (s, g) in enumerate(zip(spec, grads)):
                if s[0] != _T:
                    if g is not None:
                        raise RuntimeError(
                            f"function {bname} returned a gradient different than None at position {i + 1}, "
                            f"but the corresponding forward input was not a Variable"
                        )
                    if s[0] == _P:
                        out += [_zero_cotangent(*next(it)) for x in s[2] if x is _T]
                    continue
                shape, dtype = next(it)
                if g is None or not s[1] or not jnp.issubdtype(dtype, jnp.inexact):
                    out.append(_zero_cotangent(shape, dtype))
                    continue
                gv = inside.note_read(g) if isinstance(g, Tensor) else jnp.asarray(g)
                if tuple(gv.shape) != shape:
                    if not _expandable(shape, tuple(gv.shape)):
                        raise RuntimeError(
                            f"Function {bname} returned an invalid gradient at index {i} - got "
                            f"{list(gv.shape)} but expected shape compatible with {list(shape)}"
                        )
                    gv = _sum_to(gv, shape)
                out.append(gv.astype(dtype) if gv.dtype != dtype else gv)
            for _, s in kwspec:
                if s[0] == _T:
                    out.append(_zero_cotangent(*next(it)))
                elif s[0] == _P:
                    out += [_zero_cotangent(*next(it)) for x in s[2] if x is _T]
            return tuple(out)

    @jax.custom_vjp
    def fn(*vals):
        return run_forward(vals)[0]

    def fwd(*vals):
        return run_forward(tuple([v.value for v in vals]))  # (CustomVJPPrimal: symbolic_zeros)

    def bwd(res, cts):
        # The engine calls this in JAX's convention for complex values (see
        # _autograd._node_vjp); the user's backward is written in torch's.
        grads = run_backward(res, _map_cts(conj_complex, cts))
        return tuple(None if g is None else conj_complex(g) for g in grads)

    # symbolic zeros: an output that got no gradient reaches ``backward`` as None or as zeros,
    # as ``ctx.set_materialize_grads`` asks
    fn.defvjp(fwd, bwd, symbolic_zeros=True)
    return Kernel(fn, name), info


def _map_cts(f, cts):
    """``f`` over the cotangents, leaving JAX's symbolic zeros (outputs without one) as they are."""
    if type(cts) is tuple:
        return tuple([c if type(c) is SymbolicZero else f(c) for c in cts])
    return cts if type(cts) is SymbolicZero else f(cts)


def _backward_of(cls):
    b = cls.backward
    if getattr(b, "__func__", b) is _base_backward and "vjp" in _defined(cls):
        return cls.vjp
    return b


def _defined(cls) -> set:
    names = set()
    for c in cls.__mro__:
        if c is Function:
            break
        names.update(c.__dict__)
    return names


# --------------------------------------------------------------------------- Function
_kernels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # cls -> {key: (Kernel, info)}
_signatures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Function(FunctionCtx):
    """Base class of custom autograd functions (torch's ``torch.autograd.Function``).

    Subclass it with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``
    (or ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``) and call
    ``YourFunction.apply(*args)``. See the module docstring for how it runs.
    """

    @staticmethod
    def forward(*args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom autograd.Function "
            "to use it with backward mode AD."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        new_style = "setup_context" in _defined(cls)
        if kwargs or new_style:
            args, kwargs = _bind(cls, args, kwargs, new_style)
        mode = flags.mode
        vals: list = []
        tens: list = []
        objs: list = []  # the Tensor each value came from

        def spec_of(a, grad: bool):
            if isinstance(a, Tensor):
                vals.append(a._value if mode is None else a._read())
                tens.append(a if grad else None)
                objs.append(a)
                # (inside a func transform JAX decides what is differentiated)
                return (_T, grad and (a.requires_grad or (flags.in_transform and _inexact(a))))
            if type(a) in (list, tuple, dict):
                leaves, treedef = jax.tree_util.tree_flatten(a)
                if any(isinstance(x, Tensor) for x in leaves):
                    ls = []
                    for x in leaves:
                        if isinstance(x, Tensor):
                            vals.append(x._value if mode is None else x._read())
                            tens.append(None)
                            objs.append(x)
                            ls.append(_T)
                        else:
                            ls.append(_key_of(x))
                    return (_P, treedef, tuple(ls))
            return (_S, _key_of(a))

        spec = tuple(spec_of(a, True) for a in args)
        kwspec = tuple((k, spec_of(a, False)) for k, a in kwargs.items())
        key = (spec, kwspec, flags.autocast_state)
        cache = _kernels.get(cls)
        if cache is None:
            cache = _kernels[cls] = {}
        hit = cache.get(key)
        if hit is None:
            if len(cache) >= MAX_KERNELS_PER_FUNCTION:
                del cache[next(iter(cache))]
            hit = cache[key] = _build(cls, spec, kwspec, new_style)
        kern, info = hit
        out = call_kernel(kern, vals, tens)
        res = out if type(out) is tuple else (out,)
        for k in info["non_diff"]:
            t = res[k]
            t._node = None
            t.requires_grad = False
        if info["dirty"]:
            res = list(res)
            for k, i in info["dirty"]:
                res[k] = _rebind_dirty(objs[i], res[k])
        it = iter(res)
        items = [next(it) if is_t else c for is_t, c in zip(info["layout"], info["consts"])]
        return items[0] if info["single"] else tuple(items)


def _inexact(t: Tensor) -> bool:
    return bool(jnp.issubdtype(t.dtype, jnp.inexact))


_base_backward = Function.__dict__["backward"].__func__


def once_differentiable(fn):
    """torch's decorator for a ``backward`` that is not itself differentiable: it runs with grad
    mode off (as every backward here), its gradients are constants of the saved tensors, and a double backward through
    the incoming gradients raises torch's error (``_once_guard``)."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        # (grad mode is already off in every backward here: the user's ``no_grad`` would
        # also stop JAX's gradient of the incoming gradients, hiding the error below)
        return fn(ctx, *args)

    wrapper._ej_once_differentiable = True
    return wrapper


@jax.custom_vjp
def _once_guard(x):
    """The identity, whose derivative raises: an incoming gradient of a ``@once_differentiable``
    backward passes through it, so only differentiating the backward (a double backward)
    reaches the error. Integer (float0) cotangents pass unguarded."""
    return x


def _once_guard_fwd(x):
    return x, None


def _once_guard_bwd(_, g):
    raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


_once_guard.defvjp(_once_guard_fwd, _once_guard_bwd)


def _dirty_outputs(ctx, outs: list, top: dict) -> tuple:
    """``ctx.mark_dirty``'s tensors as (output index, index of the argument's value) pairs."""
    dirty = ctx.__dict__.get("_ej_dirty", ())
    if not dirty:
        return ()
    pairs = []
    for d in dirty:
        k = next((k for k, o in enumerate(outs) if o is d), None)
        if k is None:
            raise RuntimeError(
                "Some elements marked as dirty during the forward method were not returned as output. "
                "The inputs that are modified inplace must all be outputs of the Function."
            )
        i = top.get(id(d))
        if i is None:
            raise RuntimeError("ctx.mark_dirty(): only the Function's (top-level) tensor arguments can be marked dirty")
        pairs.append((k, i))
    return tuple(pairs)


def _rebind_dirty(orig: Tensor, new: Tensor) -> Tensor:
    """A dirty argument after ``apply``: it holds the Function's output value and, where the
    output is on the tape, its history (torch's in-place semantics). Returns what ``apply``
    gives back in that output's place."""
    if flags.grad_enabled and orig.requires_grad and orig._node is None:
        orig._assign(new._value)  # (torch has modified it by then too)
        raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
    orig._assign(new._value)
    if not flags.grad_enabled:
        return new  # (torch: the modified input's value, as another tensor)
    if new._node is not None:
        orig._node, orig._idx, orig._rg = new._node, new._idx, True
    return orig


def _bind(cls, args: tuple, kwargs: dict, new_style: bool):
    """Keyword arguments bound to forward's positions (torch's ``needs_input_grad`` and
    backward's gradients count them); keyword-only ones stay keywords."""
    sig = _signatures.get(cls)
    if sig is None:
        sig = _signatures[cls] = inspect.signature(cls.forward)
    try:
        b = sig.bind(*args, **kwargs) if new_style else sig.bind(None, *args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}.apply(): {e}") from None
    if new_style:
        b.apply_defaults()
    pos = b.args if new_style else b.args[1:]
    return tuple(pos), dict(b.kwargs)
