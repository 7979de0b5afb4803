"""Eager forward fusion: a hot ``Sequential`` of small, pure layers runs as ONE kernel.

On a 2-core CPU one XLA execution costs ~10 µs however tiny the op, so a 32x64
MLP's forward is dominated by launching six kernels. When every child of a
``Sequential`` is a layer whose forward is a pure function of its input and its
parameters (``Linear``, activations, ``LayerNorm``, eval-mode ``Dropout``, ...), the
whole stack is one op: its kernel runs the children's own ``forward`` code on
tracers (so values and errors are the layers' own), and autograd records ONE node
whose gradient comes from ``jax.vjp`` of that kernel like any other op.

Invariants:
- Eager and lazy mode fuse; ``ej.compile`` traces the children one by one (XLA fuses
  them there anyway). Lazy mode records one op instead of one per layer, which is
  most of what it costs per layer.
- In eager mode a stack fuses from its ``_HOT_CALLS``-th call with the same structure
  and input shape: one-off calls keep the per-op kernels shared by every model. In
  lazy mode it fuses from the first call, so every iteration records the same graph.
- An eager backward recomputes a fused stack's intermediates from its inputs, which is
  only cheaper than launching kernels when they are small: a stack with any
  intermediate above autograd's recompute limit is not fused while grad is recorded
  (in lazy mode the backward is in the same XLA program as the forward and shares
  its values, so size does not matter there).
- Any forward or backward hook on a child (or any global module hook), an in-place layer
  that could write to the caller's input, or a layer attribute that is not a plain value
  keeps the per-op path.
- The kernel is keyed by structure (layer types, their plain attributes, training
  flags), never by the model instance: it runs on parameter-less clones of the
  first model's layers, so caching it keeps no model alive.
"""

from __future__ import annotations

import operator
import weakref
from collections import OrderedDict

import jax

from .. import _autocast
from .._autograd import _RECOMPUTE_MAX, no_grad
from .._dispatch import Kernel, call_kernel
from .._state import collector_paused, flags
from .._tensor import Tensor
from . import _activation as A
from . import _backward_hooks
from . import _layers4 as L4
from ._dropout import Dropout
from ._layers5 import ChannelShuffle
from ._layers6 import CrossMapLRN2d, LPPool1d, LPPool2d, LPPool3d
from ._linear import Flatten, Identity, Linear, Unflatten
from ._normalization import LayerNorm, RMSNorm

_HOT_CALLS = 3
_FRESH = (Linear, LayerNorm, RMSNorm)  # produce a new tensor: an in-place layer after one is safe
# (the _layers4 layers that are pure functions of their parameters: not the alpha dropouts,
# which draw random numbers, nor the distance layers, which take two inputs)
_PURE_L4 = [
    getattr(L4, n) for n in L4.__all__ if "Dropout" not in n and n not in ("PairwiseDistance", "CosineSimilarity")
]
_PURE = frozenset(
    [Linear, Identity, Flatten, Unflatten, LayerNorm, RMSNorm, Dropout, ChannelShuffle]
    + [getattr(A, n) for n in A.__all__]
    + _PURE_L4
    + [LPPool1d, LPPool2d, LPPool3d, CrossMapLRN2d]
)
_PLAIN = (int, float, bool, str, type(None))
_HOOK_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks")
_HOOK_DICTS += ("_forward_hooks_with_kwargs", "_forward_hooks_always_called")

# (structure, input shape, input dtype, grad recorded, autocast state) -> call count | Kernel | None (do not fuse)
_plans: dict = {}
_PLANS_MAX = 512
# Per Sequential (kept off the module's __dict__, so copies and pickles never see it).
_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_probe: list | None = None  # while deciding: each child's output size, from a shape-only trace


def _plain(v) -> bool:
    if type(v) is tuple:
        return all(_plain(x) for x in v)
    return type(v) in _PLAIN


def _layout(seq) -> tuple | None:
    """Per-epoch facts about ``seq``'s children, or None if they cannot fuse.

    Returns (static key, [(child dict, attribute getter, is Dropout)]): what can only change
    with a structure change (types, which parameters exist) is fixed here; plain attributes
    (training, p, negative_slope, ...) are re-read on every call by the getters.
    """
    children = tuple(seq._modules.values())
    if not children or _backward_hooks.any_global():
        return None
    static, per_call = [], []
    fresh = False
    for c in children:
        if type(c) not in _PURE or c._modules or _backward_hooks.has_backward_hooks(c):
            return None  # (registering a backward or global hook bumps the structure epoch)
        d = c.__dict__
        keys = tuple(k for k in d if k[0] != "_")
        if not all(_plain(d[k]) for k in keys):
            return None
        if d.get("inplace") and not fresh:
            return None  # would write into the caller's tensor
        fresh = fresh or isinstance(c, _FRESH)
        static.append((type(c), keys, tuple(p is not None for p in c._parameters.values())))
        per_call.append((d, operator.itemgetter(*keys) if keys else _nothing, type(c) is Dropout))
    return tuple(static), per_call


def _nothing(d: dict) -> tuple:
    return ()


def _structure(seq) -> tuple | None:
    """The structural key of ``seq`` for this call, or None if this call cannot fuse."""
    cache = _layouts.get(seq)
    if cache is None or cache[0] != flags.structure_epoch:
        cache = _layouts[seq] = (flags.structure_epoch, _layout(seq))
    lay = cache[1]
    if lay is None:
        return None
    static, per_call = lay
    key = [static]
    for d, get, dropout in per_call:
        # (the *_with_kwargs / *_always_called dicts only ever hold ids also in these two)
        if d["_forward_pre_hooks"] or d["_forward_hooks"]:
            return None
        if dropout and d["training"] and d["p"] > 0:
            return None  # draws random numbers: not a pure function of the parameters
        key.append(get(d))
    return tuple(key)


def _params(seq) -> list:
    return [p for c in seq._modules.values() for p in c._parameters.values() if p is not None]


def _build(seq) -> Kernel:
    """One kernel running clones of ``seq``'s children whose parameters are slots filled per call.

    The children's ops follow the ``ej.autocast`` state of the call that builds it (part of
    the plan's key), whenever the kernel is traced: its backward may retrace it outside.
    """
    autocast_state = flags.autocast_state
    slots: list[Tensor] = []
    skel = []
    for c in seq._modules.values():
        s = object.__new__(type(c))
        s.__dict__.update(c.__dict__)
        ps = OrderedDict()
        for k, p in c._parameters.items():
            if p is not None:
                p = Tensor._make(None)
                slots.append(p)
            ps[k] = p
        object.__setattr__(s, "_parameters", ps)
        object.__setattr__(s, "_buffers", OrderedDict())
        for h in _HOOK_DICTS:
            object.__setattr__(s, h, OrderedDict())
        skel.append(s)

    def fused(x, *pvals):
        # Runs at trace time only (under jit, jax.vjp, or a lazy flush): the children's
        # own forward code, eagerly dispatched on tracers, with no recorder active.
        saved = flags.mode
        flags.mode = None
        try:
            for t, v in zip(slots, pvals):
                t._value = v
            with no_grad(), _autocast.pinned(autocast_state):
                h = Tensor._make(x)
                for s in skel:
                    h = s.forward(h)
                    if _probe is not None:
                        _probe.append(h._value.size)
            return h._value
        finally:
            for t in slots:
                t._value = None
            flags.mode = saved

    return Kernel(fused, "sequential")


def _decide(seq, x: Tensor, key: tuple) -> Kernel | None:
    """Build the kernel for ``key``, or remember not to fuse it (large intermediates, a failing trace).

    ``key[3]``: whether an eager backward will recompute the intermediates (grad recorded,
    not lazy) -- then only small ones are worth it.
    """
    global _probe
    kern = _build(seq)
    _probe = []
    try:
        # A shape-only trace (no compile): catches errors early and sizes each child's output.
        avals = [jax.ShapeDtypeStruct(tuple(t.shape), t._value.dtype) for t in [x, *_params(seq)]]
        with collector_paused():
            jax.eval_shape(kern.fn, *avals)
        sizes = _probe[:-1]  # the last output is the result, not an intermediate
    except Exception:
        return None  # e.g. a shape error, not cached: the layer-by-layer path reports it
    finally:
        _probe = None
    if key[3] and any(n > _RECOMPUTE_MAX for n in sizes):
        kern = None
    if len(_plans) >= _PLANS_MAX:
        del _plans[next(iter(_plans))]
    _plans[key] = kern
    return kern


def fused_forward(seq, x) -> Tensor | None:
    """``seq(x)`` as one fused op, or None when this call should run layer by layer."""
    mode = flags.mode
    lazy = mode is not None and getattr(mode, "is_lazy", False)
    if (mode is not None and not lazy) or not isinstance(x, Tensor):
        return None
    try:
        struct = _structure(seq)
        if struct is None:
            return None
        # Recomputing intermediates costs only when an eager backward will run; a lazy graph is
        # one XLA program, where the backward shares the forward's values.
        key = (struct, tuple(x.shape), x._value.dtype, flags.grad_enabled and not lazy, flags.autocast_state)
        plan = _plans.get(key, 0)
    except TypeError:  # an attribute changed to something unhashable
        return None
    if type(plan) is int:
        # Lazy mode records one op per call and compiles the whole graph anyway: fuse from
        # the first call, so the recorded graph is the same every iteration.
        if plan + 1 < _HOT_CALLS and not lazy:
            _plans[key] = plan + 1
            return None
        plan = _decide(seq, x, key)
    if plan is None:
        return None
    params = _params(seq)
    tens = [x, *params]
    try:
        return call_kernel(plan, [t._value for t in tens], tens)
    except Exception:
        return None  # the layer-by-layer path raises the layers' own error
