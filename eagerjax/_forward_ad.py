"""``eagerjax.autograd.forward_ad``: forward-mode AD with dual tensors, as ``torch.autograd.forward_ad``.

Tangents come from JAX, never from hand-written rules: while a dual level is active,
``_dispatch.call_kernel`` hands every kernel call to ``_call`` here. When an input carries
a tangent, the op runs as a second Kernel, ``jax.jvp`` of the first one's function (built
once per kernel and per set of inputs carrying tangents), through the same path the op
would take (its ``jax.jit`` eagerly, the recorder's ``run`` under ``ej.compile`` and
``ej.lazy()``), so one program computes the primal outputs and their tangents. The primal
outputs are wrapped exactly as ``call_kernel`` wraps them (same autograd node), so
``backward()`` is unaffected. With no level active the whole cost is one global check.

Where tangents live: in the active level, keyed by the tensor (a weak reference) with the
tensor's ``_version`` when the tangent was attached, so ``exit_dual_level`` drops them all
and a tangent never outlives its tensor. A tensor written since (its version moved) has a
tangent only if the write was an in-place op: those run ``dispatch(op, (self, ...))`` and
then store the result's value into ``self``, so before each lookup (``_settle``) the first
tensor input of each of the last few dual ops is checked, and if it now holds the value
one of them produced, it takes that value's tangent. A write that came from elsewhere (an
optimizer step, ``.data = v``) leaves a stale tangent, and using it raises.
"""

from __future__ import annotations

import functools
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _dispatch, _xla_budget
from ._capture import Capture
from ._dispatch import Kernel, _floatlike, _op_error
from ._lazy import LazyValue
from ._state import flags
from ._tensor import Tensor

__all__ = ["UnpackedDualTensor", "dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual"]

# How many recent dual ops ``_settle`` looks back over: an in-place op is at most a couple of
# dispatches (the op, a dtype cast of its result) before its value is stored into ``self``.
_RECENT = 4

_LOST = (
    "forward AD: the tangent of this dual tensor was lost: its value was written while the dual "
    "level was active by something other than an op (an optimizer step, `.data = ...`, a module's "
    "running statistics, or an in-place op whose result is not floating point). Make it dual "
    "again with make_dual() after the write."
)


class UnpackedDualTensor(NamedTuple):
    """What ``unpack_dual`` returns: the ``primal`` (a tensor without tangent) and its
    ``tangent`` (None when the tensor has none at this level)."""

    primal: Any
    tangent: Tensor | None


class _Level:
    __slots__ = ("index", "capture", "tangents", "recent")

    def __init__(self, index: int, capture) -> None:
        self.index = index
        # The ``ej.compile`` trace (or torch.func transform) the level was entered in, or None:
        # tangents cannot cross into or out of a trace (they would be baked in as constants).
        self.capture = capture
        self.tangents: dict = {}  # id(tensor) -> (weakref(tensor), tensor._version, tangent Tensor)
        # per recent dual op: (weakref of its first tensor input, that input's _version then,
        # [(output value, tangent Tensor)]) -- see ``_settle``
        self.recent: deque = deque(maxlen=_RECENT)


_level: _Level | None = None
# Jvp kernels per primal kernel: {(which inputs carry tangents, differentiable): Kernel}.
_JVP: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _capture_of(mode):
    return mode if mode is not None and not getattr(mode, "is_lazy", False) else None


# -- public API -----------------------------------------------------------------------
def enter_dual_level() -> int:
    """Start a forward-AD level and return its index. Only one level may be active at a time
    (torch does not support nested forward AD either)."""
    global _level
    if _level is not None:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _level = _Level(0, _capture_of(flags.mode))
    _dispatch.forward_ad_hook = _call
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """End the active level: every tangent made in it is dropped."""
    global _level
    if _level is None:
        raise RuntimeError("Dual level must be a positive number.")
    if level is not None and level != _level.index:
        raise RuntimeError(
            "Trying to exit a forward AD level that was not the last one that was created. This is not supported."
        )
    _dispatch.forward_ad_hook = None
    _level.tangents.clear()
    _level.recent.clear()
    _level = None


class dual_level:
    """Context manager (or decorator) entering a dual level for its body; ``as`` gives the level."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc) -> None:
        exit_dual_level()

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with dual_level():
                return fn(*args, **kwargs)

        return wrapper


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A new tensor with ``tensor``'s value (and autograd history) whose tangent is ``tangent``.

    ``tensor`` itself stays without tangent. A tangent of another floating dtype is cast to
    ``tensor``'s (jax's jvp needs equal dtypes; torch keeps the tangent's own dtype).
    """
    lvl = _level
    if lvl is None:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to enter_dual_level() first."
        )
    if level is not None and level != lvl.index:
        raise RuntimeError("Invalid level given to _make_dual")
    for what, t in (("primal", tensor), ("tangent", tangent)):
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dual(): expected a Tensor as {what}, but got {type(t).__name__}")
        if not (t.is_floating_point() or t.is_complex()):
            raise ValueError(f"Expected {what} to be floating point or complex, but got: torch.{t.dtype.name}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the original Tensor, "
            f"this is not supported. Tensor is of size {list(tensor.shape)} while the given forward gradient "
            f"is of size {list(tangent.shape)}."
        )
    _settle(lvl)
    if _lookup(lvl, tensor) is not None:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the same level "
            f"{lvl.index} is not supported."
        )
    if tangent.dtype != tensor.dtype:
        tangent = tangent.to(tensor.dtype)
    dual = tensor.view_as(tensor)  # an op: the dual tensor keeps the gradient path to ``tensor``
    _attach(lvl, dual, tangent)
    return dual


def unpack_dual(tensor: Any, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor`` at the active level; ``tangent`` is None outside a
    level, after it ended, or for a tensor without one (then ``primal`` is ``tensor`` itself)."""
    lvl = _level
    if lvl is None or not isinstance(tensor, Tensor):
        return UnpackedDualTensor(tensor, None)
    if level is not None and level != lvl.index:
        raise RuntimeError("Invalid level given to _fw_primal")
    _settle(lvl)
    tangent = _lookup(lvl, tensor)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    if tensor.requires_grad:
        primal = tensor.view_as(tensor)  # keeps the gradient path; the op gave it a tangent: drop it
        lvl.tangents.pop(id(primal), None)
    else:
        primal = Tensor._make(tensor._read())
    return UnpackedDualTensor(primal, tangent)


# -- the per-op path ------------------------------------------------------------------
def check_compiled_call(name: str, args: tuple, kwargs: dict) -> None:
    """Raise if a compiled function is called with a dual tensor: its cached program runs no
    Python, so the tangent would be silently dropped."""
    lvl = _level
    if lvl is None or not lvl.tangents or lvl.capture is not None:
        return
    for a in jax.tree_util.tree_leaves((args, kwargs), is_leaf=lambda x: isinstance(x, Tensor)):
        if isinstance(a, Tensor) and id(a) in lvl.tangents and lvl.tangents[id(a)][0]() is a:
            raise RuntimeError(
                f"forward AD: ej.compile({name}) was called with a dual tensor; a compiled function cannot carry "
                "tangents into it. Enter the dual level inside the compiled function."
            )


def _attach(lvl: _Level, t: Tensor, tangent: Tensor) -> None:
    key = id(t)
    tangents = lvl.tangents

    def gone(ref, key=key, tangents=tangents):
        e = tangents.get(key)
        if e is not None and e[0] is ref:
            del tangents[key]

    tangents[key] = (weakref.ref(t, gone), t._version, tangent)


def _lookup(lvl: _Level, t: Tensor) -> Tensor | None:
    e = lvl.tangents.get(id(t))
    if e is None or e[0]() is not t:
        return None
    if e[1] != t._version:
        raise RuntimeError(_LOST)
    return e[2]


def _settle(lvl: _Level) -> None:
    """Give tensors written in place by a recent dual op the tangent of the value they now hold."""
    recent = lvl.recent
    if not recent:
        return
    tangents = lvl.tangents
    for ref, version, _ in recent:
        t = ref()
        if t is None:
            continue
        e = tangents.get(id(t))
        known = e[1] if e is not None and e[0]() is t else version
        if t._version == known:
            continue
        v = t._value
        for _, _, produced in recent:
            for pv, tangent in produced:
                if pv is v or (type(pv) is LazyValue and pv.array is v):
                    _attach(lvl, t, tangent)
                    break
            else:
                continue
            break


def _jvp_kernel(kern: Kernel, mask: tuple, differentiable: bool) -> Kernel:
    """The Kernel computing ``(outputs, tangents of outputs)`` of ``kern``, given its inputs and
    then the tangents of the inputs that ``mask`` marks (the others are constants). Tangents of
    non-floating outputs are None; a non-differentiable op's floating outputs get zeros."""
    per = _JVP.get(kern)
    if per is None:
        per = _JVP[kern] = {}
    k2 = per.get((mask, differentiable))
    if k2 is not None:
        return k2
    n = len(mask)
    where = tuple(i for i, m in enumerate(mask) if m)
    fn = kern.fn

    def jvp(*args):
        vals = args[:n]
        if not differentiable:
            out = fn(*vals)
            return out, jax.tree_util.tree_map(lambda o: jnp.zeros_like(o) if _floatlike(o) else None, out)

        def at(*dual):
            full = list(vals)
            for i, v in zip(where, dual):
                full[i] = v
            return fn(*full)

        out, tout = jax.jvp(at, tuple(vals[i] for i in where), tuple(args[n:]))
        return out, jax.tree_util.tree_map(lambda o, t: t if _floatlike(o) else None, out, tout)

    k2 = per[(mask, differentiable)] = Kernel(jvp, kern.name, kern.eager_only)
    return k2


def _call(kern: Kernel, vals: list, tens: list, differentiable: bool, out_type):
    """``call_kernel`` while a dual level is active: the results with their tangents, or None
    (run the op as usual) when no input carries a tangent."""
    lvl = _level
    _settle(lvl)
    mask = None
    tans = []
    for i, t in enumerate(tens):
        if t is not None:
            tg = _lookup(lvl, t)
            if tg is not None:
                if mask is None:
                    mask = [False] * len(tens)
                mask[i] = True
                tans.append(tg)
    mode = flags.mode
    if _capture_of(mode) is not lvl.capture and (mask is not None or (lvl.tangents and isinstance(mode, Capture))):
        # A compiled function's arguments are new tensors in its trace: a dual argument would
        # silently lose its tangent, so any trace started while dual tensors live refuses.
        raise RuntimeError(
            f"forward AD: {kern.name}() ran in an ej.compile trace (or a torch.func transform) while dual "
            "tensors from outside it are alive: a dual level entered outside a compiled function cannot carry "
            "tangents into it, nor out of it. Enter the dual level inside the compiled function."
        )
    if mask is None:
        return None
    k2 = _jvp_kernel(kern, tuple(mask), differentiable)
    args = list(vals) + [tg._value if mode is None else tg._read() for tg in tans]
    try:
        if mode is None:
            if _xla_budget.pressure:
                _xla_budget.relieve()
            out, tout = k2.jit(*args)
        else:
            out, tout = mode.run(k2, args, list(tens) + tans)
    except (TypeError, ValueError, IndexError) as e:
        raise _op_error(kern, vals, e) from None
    res = _dispatch.wrap_results(kern, out, vals, tens, differentiable, out_type)
    produced = []
    for r, tv in zip(res, tout) if isinstance(res, tuple) else ((res, tout),):
        if tv is not None:
            tangent = Tensor._make(tv)
            _attach(lvl, r, tangent)
            produced.append((r._value, tangent))
    first = tens[0] if tens else None
    if first is not None:
        lvl.recent.append((weakref.ref(first), first._version, produced))
    return res
