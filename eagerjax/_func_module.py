"""``torch.func.functional_call`` and ``stack_module_state``: modules as functions of their tensors.

``functional_call`` swaps the given tensors into the module's parameter and buffer slots for
one call and puts the originals back in ``finally``. The swap goes around ``__setattr__`` on
purpose: it is not a change of the module's state (nothing is bumped, a compiled step that
calls ``functional_call`` keeps its plan), and a plain Tensor may stand in for a Parameter.
Buffers the forward updates in place (BatchNorm's running statistics) update the tensor the
caller passed, as in torch. A key naming a plain tensor attribute (or a name the module does
not have) sets that attribute for the call; one whose submodule path does not exist raises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ._tensor import Tensor

__all__ = ["functional_call", "functionalize", "replace_all_batch_norm_modules_", "stack_module_state"]


def _merge(dicts) -> dict:
    if isinstance(dicts, dict):
        return dict(dicts)
    if not isinstance(dicts, (tuple, list)) or not all(isinstance(d, dict) for d in dicts):
        raise ValueError(
            f"Expected all elements of parameter_and_buffer_dicts to be dictionaries, got {type(dicts).__name__}"
        )
    merged: dict = {}
    seen: dict = {}
    for d in dicts:
        for k in d:
            seen[k] = seen.get(k, 0) + 1
    dup = sorted(k for k, n in seen.items() if n > 1)
    if dup:
        raise ValueError(f"{dup} appeared in multiple dictionaries; behavior of functional call is ambiguous")
    for d in dicts:
        merged.update(d)
    return merged


def _slot(module, name: str):
    """(owner module, kind, leaf name) of a dotted parameter/buffer name, or None."""
    *path, leaf = name.split(".")
    owner = module
    for p in path:
        sub = owner.__dict__.get("_modules", {}).get(p)
        if sub is None:
            return None
        owner = sub
    if leaf in owner.__dict__.get("_parameters", {}):
        return owner, "_parameters", leaf
    if leaf in owner.__dict__.get("_buffers", {}):
        return owner, "_buffers", leaf
    return None


def functional_call(
    module,
    parameter_and_buffer_dicts,
    args: Any = None,
    kwargs: dict | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """Call ``module(*args, **kwargs)`` with its parameters and buffers replaced by the given
    tensors (by ``state_dict`` name); the module is unchanged afterwards."""
    values = _merge(parameter_and_buffer_dicts)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = {} if kwargs is None else kwargs
    names: dict = {}  # id(original tensor) -> every name it is registered under
    for n, t in list(module.named_parameters(remove_duplicate=False)) + list(
        module.named_buffers(remove_duplicate=False)
    ):
        names.setdefault(id(t), []).append(n)
    if tie_weights:
        tied = {}
        for k in list(values):
            slot = _slot(module, k)
            if slot is None:
                continue
            owner, kind, leaf = slot
            orig = owner.__dict__[kind][leaf]
            for other in names.get(id(orig), ()):
                if other == k:
                    continue
                if other in values and values[other] is not values[k]:
                    raise ValueError(
                        f"functional_call got multiple values for keys {sorted([k, other])}, which are tied. "
                        "Consider using tie_weights=False"
                    )
                tied[other] = values[k]
        for k, v in tied.items():
            values.setdefault(k, v)
    if strict:
        expected = {n for ns in names.values() for n in ns}
        missing = sorted(expected - set(values))
        unexpected = sorted(set(values) - expected)
        if missing or unexpected:
            msg = f"Error(s) in reparametrizing for {type(module).__name__}:"
            if unexpected:
                msg += "\n\tUnexpected key(s): " + ", ".join(repr(k) for k in unexpected) + "."
            if missing:
                msg += "\n\tMissing key(s): " + ", ".join(repr(k) for k in missing) + "."
            raise RuntimeError(msg)
    memo: dict = {}  # submodule path -> module
    swaps = [(*_target(module, k, v, memo), v) for k, v in values.items()]
    saved = [(owner, kind, leaf, _get(owner, kind, leaf)) for owner, kind, leaf, _ in swaps]
    try:
        for owner, kind, leaf, v in swaps:
            _put(owner, kind, leaf, v)
        return module(*args, **kwargs)
    finally:
        for owner, kind, leaf, orig in reversed(saved):
            _put(owner, kind, leaf, orig)


_MISSING = object()


def _target(module, name: str, value, memo: dict):
    """(owner module, kind, leaf name) of the slot a ``functional_call`` key names, with
    torch's errors: kind is ``_parameters``/``_buffers``, ``__dict__`` for a plain attribute
    (or a new name, added for the call only), or ``attr`` for one a property handles."""
    from .nn import Module

    if value is not None and not isinstance(value, Tensor):
        raise TypeError(f"{value} is not an instance of torch.Tensor")
    prefix, _, leaf = name.rpartition(".")
    owner = _submodule(module, prefix, memo, Module)
    d = owner.__dict__
    for kind in ("_parameters", "_buffers"):
        if leaf in d.get(kind, {}):
            return owner, kind, leaf
    orig = d.get(leaf) if leaf in d or not hasattr(owner, leaf) else getattr(owner, leaf)
    if orig is not None and not isinstance(orig, Tensor):
        raise TypeError(f"attribute `{leaf}`: {orig} is not an instance of torch.Tensor")
    kind = "attr" if leaf not in d and isinstance(getattr(type(owner), leaf, None), property) else "__dict__"
    return owner, kind, leaf


def _submodule(module, path: str, memo: dict, module_cls):
    if not path:
        return module
    if path in memo:
        return memo[path]
    prefix, _, attr = path.rpartition(".")
    parent = _submodule(module, prefix, memo, module_cls)
    try:
        sub = getattr(parent, attr)
    except AttributeError:
        raise AttributeError(f"{parent._get_name()} has no attribute `{attr}`") from None
    if not isinstance(sub, module_cls):
        raise TypeError(f"submodule `{path}`: {sub} is not an instance of torch.nn.Module")
    memo[path] = sub
    return sub


def _get(owner, kind: str, leaf: str):
    if kind == "attr":
        return getattr(owner, leaf)
    d = owner.__dict__ if kind == "__dict__" else owner.__dict__[kind]
    return d.get(leaf, _MISSING)


def _put(owner, kind: str, leaf: str, value) -> None:
    # (around ``__setattr__``: a swap for one call is no change of the module's state)
    if kind == "attr":
        setattr(owner, leaf, value)
        return
    d = owner.__dict__ if kind == "__dict__" else owner.__dict__[kind]
    if value is _MISSING:
        d.pop(leaf, None)
    else:
        d[leaf] = value


def stack_module_state(models) -> tuple[dict, dict]:
    """The parameters and buffers of same-structured ``models`` stacked along a new leading
    dimension (for ``vmap`` over model ensembles): parameters as new leaves that require grad
    where the originals do, buffers as plain tensors."""
    from . import stack

    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    ref = type(models[0])
    if not all(type(m) is ref for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = {}
    for name, p in models[0].named_parameters():
        stacked = stack([dict(m.named_parameters())[name].detach() for m in models])
        params[name] = stacked.requires_grad_(p.requires_grad)
    buffers = {name: stack([dict(m.named_buffers())[name] for m in models]) for name, _ in models[0].named_buffers()}
    return params, buffers


def replace_all_batch_norm_modules_(root):
    """Make every BatchNorm in ``root`` (``root`` included) use batch statistics only, so it
    runs under ``vmap`` in training mode: its ``running_mean``/``running_var``/
    ``num_batches_tracked`` become None and ``track_running_stats`` False. Returns ``root``."""
    from .nn._norm import _BatchNorm

    for m in root.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root


_REMOVE = ("mutations", "mutations_and_views")


def functionalize(func: Callable, *, remove: str = "mutations") -> Callable:
    """``torch.func.functionalize``: ``func`` with its in-place ops and views replaced by
    out-of-place ones, writes to its arguments still applied when it returns.

    eagerjax programs are functional already: every in-place op computes a new value and
    rebinds the tensor it was called on, and views are copies (README, "Tensors are values"),
    so ``func`` itself already has the semantics functionalize gives; the wrapper only checks
    ``remove`` as torch does. It composes with the other transforms and with capture."""
    if remove not in _REMOVE:
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. "
            "Valid options are:\n     remove='mutations': all inplace and out= operators will be removed "
            "from the program, and replaced with their out-of-place equivalents.\n     "
            "remove='mutations_and_views': In addition to the above, all aliasing operators {view} will be "
            "replaced with their non-aliasing counterparts, {view}_copy.\n"
        )

    @functools.wraps(func)
    def functionalized(*args, **kwargs):
        return func(*args, **kwargs)

    return functionalized
