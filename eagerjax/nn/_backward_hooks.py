"""Module backward hooks and torch's global module hooks (``torch.nn.modules.module``).

``register_full_backward_hook`` / ``register_full_backward_pre_hook`` (and the deprecated
``register_backward_hook``, which behaves as the full one) fire from the tape, with no
autograd machinery of their own:

- A hooked call routes the tensor arguments that require grad through two identity
  nodes (D, then C) before ``forward``, and the tensor outputs that require grad
  through two more (B, then A) after the forward hooks. The nodes run nothing
  forward (their outputs share their inputs' values); their backward is ``jax.vjp``
  of an identity like any node's.
- Each node carries a tensor hook per output (``Tensor.register_hook``), so the
  backward takes the per-node path, where a node's hooks run once all of its
  cotangents are in. A hook sees one output's gradient only, which is why every side
  has two nodes: A's hooks record ``grad_output`` (an output that got no gradient has
  no hook call: ``None``); B is reached through A's vjp, so every B output has a
  gradient and the first B hook to run has the whole tuple: it calls the pre-hooks
  and each B hook returns its output's (possibly replaced) gradient. C and D do the
  same for ``grad_input`` and the full hooks.
- When no argument requires grad, the full hooks fire from B with ``grad_input`` all
  ``None``, as torch's do (with torch's warning).

Nothing costs anything until a hook exists: ``Module.__call__`` stays ``_call_impl``
(whose fast path checks the forward hook dicts only) until the first backward hook or
global hook is registered, which swaps in ``_call_any`` for every module. Registering
bumps the structure epoch, so a fused ``Sequential`` (``_fusion``) re-checks its children.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

from .._dispatch import Kernel, call_kernel, wrap_results
from .._state import bump_structure, flags
from .._tensor import Tensor

__all__ = [
    "register_module_forward_pre_hook",
    "register_module_forward_hook",
    "register_module_backward_hook",
    "register_module_full_backward_pre_hook",
    "register_module_full_backward_hook",
]

# torch.nn.modules.module's global hook dicts (the same names)
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()
_global_is_full_backward_hook: bool | None = None
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_forward_hooks_always_called: OrderedDict = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict = OrderedDict()

_MIXED_MODULE = (
    "Cannot use both regular backward hooks and full backward hooks on a single Module. Please use only one of them."
)
_MIXED_GLOBAL = (
    "Cannot use both regular backward hooks and full backward hooks as a global Module hook. "
    "Please use only one of them."
)
_NO_INPUT_GRAD_WARNING = (
    "Full backward hook is firing when gradients are computed with respect to module outputs since no inputs "
    "require gradients. See https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
    "#torch.nn.Module.register_full_backward_hook for more details."
)


def any_global() -> bool:
    """Whether a global module hook is registered (then no ``Sequential`` fuses its children)."""
    return bool(
        _global_forward_pre_hooks or _global_forward_hooks or _global_backward_hooks or _global_backward_pre_hooks
    )


def has_backward_hooks(module) -> bool:
    d = module.__dict__
    return bool(d.get("_backward_hooks") or d.get("_backward_pre_hooks"))


# --------------------------------------------------------------------------- registration
def _enable() -> None:
    """Route every module call through ``_call_any`` from now on (the structure epoch moves,
    so fused stacks re-check their children for hooks)."""
    from ._module import Module

    if Module.__call__ is not _call_any:
        Module.__call__ = _call_any
    bump_structure()


def _add(hooks: OrderedDict, hook, prepend: bool = False, extra: tuple = ()):
    from ._module import RemovableHandle

    handle = RemovableHandle(hooks, *extra)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    _enable()
    return handle


def register_backward_pre_hook(module, hook, prepend: bool):
    return _add(module._backward_pre_hooks, hook, prepend)


def register_backward_hook(module, hook, prepend: bool, full: bool):
    if module._is_full_backward_hook is (not full):
        raise RuntimeError(_MIXED_MODULE)
    object.__setattr__(module, "_is_full_backward_hook", full)
    return _add(module._backward_hooks, hook, prepend)


def register_module_forward_pre_hook(hook):
    """A forward pre-hook every module runs (before its own), as torch's global one."""
    return _add(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False):
    """A forward hook every module runs (before its own), as torch's global one."""
    handle = _add(
        _global_forward_hooks, hook, extra=(_global_forward_hooks_with_kwargs, _global_forward_hooks_always_called)
    )
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def _register_global_backward(hook, full: bool):
    global _global_is_full_backward_hook
    if _global_is_full_backward_hook is (not full):
        raise RuntimeError(_MIXED_GLOBAL)
    _global_is_full_backward_hook = full
    return _add(_global_backward_hooks, hook)


def register_module_full_backward_hook(hook):
    """A full backward hook every module runs (before its own), as torch's global one."""
    return _register_global_backward(hook, True)


def register_module_backward_hook(hook):
    """torch's deprecated global backward hook: here it behaves as the full one."""
    return _register_global_backward(hook, False)


def register_module_full_backward_pre_hook(hook):
    """A backward pre-hook every module runs (before its own), as torch's global one."""
    return _add(_global_backward_pre_hooks, hook)


# --------------------------------------------------------------------------- calling
def _call_any(self, *args, **kwargs):
    """``Module.__call__`` once any backward or global hook was registered."""
    m = flags.mode
    if m is not None:
        m.note_module(self)
    if not (
        self._forward_pre_hooks
        or self._forward_hooks
        or self._backward_hooks
        or self._backward_pre_hooks
        or _global_forward_pre_hooks
        or _global_forward_hooks
        or _global_backward_hooks
        or _global_backward_pre_hooks
    ):
        return self.forward(*args, **kwargs)
    return call_hooked(self, args, kwargs)


def _run_always_called(module, args, kwargs) -> None:
    """The ``always_call`` forward hooks after ``forward`` raised (their errors are dropped)."""
    for hooks, with_kwargs, always in (
        (_global_forward_hooks, _global_forward_hooks_with_kwargs, _global_forward_hooks_always_called),
        (module._forward_hooks, module._forward_hooks_with_kwargs, module._forward_hooks_always_called),
    ):
        for hid, hook in list(hooks.items()):
            if hid in always:
                try:
                    if hid in with_kwargs:
                        hook(module, args, kwargs, None)
                    else:
                        hook(module, args, None)
                except Exception:
                    pass


def call_hooked(module, args: tuple, kwargs: dict):
    """A module call with hooks, in torch's order: forward pre-hooks (global, then the
    module's), backward-hook wrapping of the arguments, ``forward``, forward hooks (global,
    then the module's), backward-hook wrapping of the result."""
    for hook in list(_global_forward_pre_hooks.values()):
        res = hook(module, args)
        if res is not None:
            args = res if isinstance(res, tuple) else (res,)
    for hid, hook in list(module._forward_pre_hooks.items()):
        if hid in module._forward_pre_hooks_with_kwargs:
            res = hook(module, args, kwargs)
            if res is not None:
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise RuntimeError(
                        f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {res}."
                    )
                args, kwargs = res
        else:
            res = hook(module, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
    bw = None
    if (
        module.__dict__.get("_backward_hooks")
        or module.__dict__.get("_backward_pre_hooks")
        or (_global_backward_hooks or _global_backward_pre_hooks)
    ):
        full = list(_global_backward_hooks.values()) + list(module._backward_hooks.values())
        pre = list(_global_backward_pre_hooks.values()) + list(module._backward_pre_hooks.values())
        if full or pre:
            bw = _Call(module, full, pre)
            args = bw.setup_inputs(args)
    try:
        result = module.forward(*args, **kwargs)
    except Exception:
        _run_always_called(module, args, kwargs)
        raise
    for hooks, with_kwargs in (
        (_global_forward_hooks, _global_forward_hooks_with_kwargs),
        (module._forward_hooks, module._forward_hooks_with_kwargs),
    ):
        for hid, hook in list(hooks.items()):
            res = hook(module, args, kwargs, result) if hid in with_kwargs else hook(module, args, result)
            if res is not None:
                result = res
    if bw is not None:
        result = bw.setup_outputs(result)
    return result


# --------------------------------------------------------------------------- the tape side
def _identity(*xs):
    return tuple(xs)


_IDENTITY = Kernel(_identity, "backward_hook_function")


def _route(tensors: list) -> tuple:
    """``tensors`` again, as the outputs of one identity node on the tape (no kernel runs;
    with forward AD active the identity runs, so tangents follow)."""
    from .. import _dispatch

    vals = [t._read() for t in tensors]
    if _dispatch.forward_ad_hook is not None:
        return call_kernel(_IDENTITY, vals, list(tensors))
    return wrap_results(_IDENTITY, tuple(vals), vals, list(tensors), True, None)


def _zeros(shape, dtype) -> Tensor:
    from .._generate import functional as F

    return F.zeros(shape, dtype=dtype)


def _hooked_outputs(outs: tuple, on_grad) -> None:
    """One tensor hook per output of their (shared) node, in output order; each hook is
    named ``hook`` so a wrong-sized replacement raises torch's message."""
    for k, t in enumerate(outs):

        def hook(g, k=k):
            return on_grad(k, g)

        t.register_hook(hook)


class _Side:
    """One side (the outputs or the arguments) of a hooked call in the backward: two identity
    nodes in a row, each output hooked. The first node's hooks collect the gradients
    (``grad``); the second's see them all arrived, so the first of them runs the module hooks
    (``run``) once, and each returns its tensor's replacement, if a hook gave one (``ready``)."""

    __slots__ = ("got", "fresh", "replaced", "run")

    def __init__(self, run) -> None:
        self.got: dict = {}  # routed index -> gradient
        self.fresh = False  # gradients arrived that the module hooks have not seen
        self.replaced = None  # per routed index, the gradient to pass on instead
        self.run = run

    def grad(self, k: int, g):
        self.got[k] = g
        self.fresh = True
        return None

    def ready(self, k: int, g):
        if self.fresh:
            self.fresh = False
            self.run()
        r = self.replaced
        return None if r is None else r[k]

    def take(self) -> dict:
        got = self.got
        self.got = {}
        return got


class _Call:
    """The backward-hook state of one module call (torch's ``BackwardHook``)."""

    __slots__ = (
        "module",
        "full",
        "pre",
        "n_in",
        "in_tensors",
        "in_meta",
        "in_routed",
        "ins",
        "n_out",
        "out_routed",
        "outs",
        "out_meta",
        "grad_outputs",
    )

    def __init__(self, module, full: list, pre: list) -> None:
        self.module = module
        self.full = full
        self.pre = pre
        self.n_in = 0
        self.in_tensors = None  # positions of the tensor arguments, or None: none requires grad
        self.in_meta: dict = {}  # position -> (shape, dtype) of each tensor argument
        self.in_routed: list = []  # positions routed through the input nodes
        self.ins = _Side(self._run_full_hooks)
        self.n_out = 0
        self.out_routed: list = []
        self.out_meta: list = []
        self.outs = _Side(self._run_pre_hooks)
        self.grad_outputs = None

    # -- forward
    def setup_inputs(self, args: tuple) -> tuple:
        self.n_in = len(args)
        pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        routed = [i for i in pos if args[i].requires_grad]
        if not (routed and flags.grad_enabled):
            return args
        self.in_tensors = pos
        self.in_meta = {i: (tuple(args[i].shape), args[i].dtype) for i in pos}
        self.in_routed = routed
        d = _route([args[i] for i in routed])
        _hooked_outputs(d, self.ins.ready)
        c = _route(list(d))
        _hooked_outputs(c, self.ins.grad)
        new = list(args)
        for i, t in zip(routed, c):
            new[i] = t
        return tuple(new)

    def setup_outputs(self, result):
        single = isinstance(result, Tensor)
        if not (single or isinstance(result, tuple)):
            warnings.warn(
                "For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                f"but received {type(result)}",
                stacklevel=4,
            )
            return result
        outs = (result,) if single else tuple(result)
        self.n_out = len(outs)
        routed = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not (routed and flags.grad_enabled):
            return result
        self.out_routed = routed
        self.out_meta = [(tuple(outs[i].shape), outs[i].dtype) for i in routed]
        b = _route([outs[i] for i in routed])
        _hooked_outputs(b, self.outs.ready)
        a = _route(list(b))
        _hooked_outputs(a, self.outs.grad)
        if single:
            return a[0]
        new = list(outs)
        for i, t in zip(routed, a):
            new[i] = t
        if type(result) is tuple:
            return tuple(new)
        return type(result)(*new) if hasattr(result, "_fields") else type(result)(new)

    # -- backward: the routed outputs' gradients (A), then all of them arrived (B)
    def _run_pre_hooks(self) -> None:
        got = self.outs.take()
        go = [None] * self.n_out
        for k, i in enumerate(self.out_routed):
            go[i] = got.get(k)
        go = tuple(go)
        res = go
        for hook in self.pre:
            out = hook(self.module, res)
            if out is None:
                continue
            if len(out) != len(res):
                raise RuntimeError(
                    f"Backward pre hook returned an invalid number of grad_output, got {len(out)}, "
                    f"but expected {len(res)}"
                )
            res = out
        self.grad_outputs = res
        self.outs.replaced = None if res is go else self._replacements(res, self.out_routed, self.out_meta)
        if self.in_tensors is None:
            # No argument requires grad: the full hooks fire here, with no grad_input.
            gi = (None,) * self.n_in
            if self.full:
                warnings.warn(_NO_INPUT_GRAD_WARNING, stacklevel=2)
            for hook in self.full:
                out = hook(self.module, gi, res)
                if out is not None and not (isinstance(out, tuple) and all(x is None for x in out)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should always return None "
                        "or None for all gradients."
                    )
            self.grad_outputs = None

    # -- backward: the arguments' gradients as forward received them (C), then all arrived (D)
    def _run_full_hooks(self) -> None:
        got = self.ins.take()
        self.ins.replaced = None
        if self.grad_outputs is None:
            return  # the gradient reached the arguments without passing through the outputs
        routed = {i: k for k, i in enumerate(self.in_routed)}
        gi = [None] * self.n_in
        for i in self.in_tensors:
            g = got.get(routed[i]) if i in routed else None
            gi[i] = g if g is not None else _zeros(*self.in_meta[i])  # (torch materializes zeros)
        gi = tuple(gi)
        res = gi
        for hook in self.full:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            if len(out) != len(res):
                raise RuntimeError(
                    f"Backward hook returned an invalid number of grad_input, got {len(out)}, but expected {len(res)}"
                )
            res = out
        self.grad_outputs = None
        if res is not gi:
            self.ins.replaced = self._replacements(res, self.in_routed, [self.in_meta[i] for i in self.in_routed])

    @staticmethod
    def _replacements(res, positions: list, meta: list) -> list:
        """The gradients a hook returned for the routed positions (None -> zeros: a tensor
        hook cannot drop a gradient)."""
        out = []
        for i, (shape, dtype) in zip(positions, meta):
            g = res[i]
            out.append(_zeros(shape, dtype) if g is None else g)
        return out
