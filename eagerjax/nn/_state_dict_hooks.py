"""Module state-dict hooks: ``register_state_dict_pre_hook``/``register_state_dict_post_hook``
(and the old-style ``_register_state_dict_hook``), ``register_load_state_dict_pre_hook``/
``register_load_state_dict_post_hook`` (and ``_register_load_state_dict_pre_hook``).

Each module keeps four ordered dicts of hooks (made in ``Module.__init__``) keyed by the
id of the ``RemovableHandle`` that registration returns. ``Module.state_dict`` runs a
module's pre-hooks before it saves its own entries and its post-hooks once its children
have saved theirs; ``Module._load_from_state_dict`` runs the load pre-hooks first (so
subclasses that override it and call ``super()`` see them run at that point, as in torch),
and ``load_state_dict`` runs a module's load post-hooks once its subtree is loaded, with
the running ``missing_keys``/``unexpected_keys`` lists, which is what ``strict`` checks.

All of this is host-side Python around the value copies: nothing here touches values.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

__all__ = [
    "HOOK_DICTS",
    "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook",
    "register_load_state_dict_pre_hook_private",
    "register_state_dict_hook_private",
    "register_state_dict_post_hook",
    "register_state_dict_pre_hook",
    "run_load_post_hooks",
    "run_state_dict_post_hooks",
]

HOOK_DICTS = ("_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")

_POST_RETURNED = "state_dict post-hook must return None"
_LOAD_POST_RETURNED = (
    "Hooks registered with ``register_load_state_dict_post_hook`` are not expected to return new values, "
    "if incompatible_keys need to be modified, it should be done inplace."
)


class _WrappedHook:
    """A load pre-hook, called with its module first when ``with_module`` (held weakly: a hook
    never keeps its module alive). Copies and pickles of the module rebind it to the copy."""

    def __init__(self, hook, module=None) -> None:
        self.hook = hook
        functools.update_wrapper(self, hook)
        self.with_module = module is not None
        if module is not None:
            self.module = weakref.ref(module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.with_module:
            return self.hook(*args, **kwargs)
        module = self.module()
        if module is None:
            raise RuntimeError("You are trying to call the hook of a dead Module!")
        return self.hook(module, *args, **kwargs)

    def __getstate__(self) -> dict:
        state = {"hook": self.hook, "with_module": self.with_module}
        if self.with_module:
            state["module"] = self.module()  # a strong reference, so deepcopy maps it to the copy
        return state

    def __setstate__(self, state: dict) -> None:
        self.hook = state["hook"]
        self.with_module = state["with_module"]
        if self.with_module:
            if state["module"] is None:
                raise RuntimeError("You are trying to revive the hook of a dead Module!")
            self.module = weakref.ref(state["module"])


class _PublicHook:
    """A callable that cannot carry the public-API mark itself (a bound method), wrapped."""

    _from_public_api = True

    def __init__(self, hook) -> None:
        self.hook = hook
        functools.update_wrapper(self, hook)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.hook(*args, **kwargs)


def _add(module, table: str, hook):
    from ._module import RemovableHandle

    hooks = getattr(module, table)
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


# -------------------------------------------------------------------- state_dict
def register_state_dict_pre_hook(module, hook):
    """``hook(module, prefix, keep_vars)`` runs when ``state_dict()`` reaches this module,
    before it saves its entries. Returns a ``RemovableHandle``."""
    return _add(module, "_state_dict_pre_hooks", hook)


def register_state_dict_post_hook(module, hook):
    """``hook(module, state_dict, prefix, local_metadata)`` runs once this module and its
    children have saved their entries; it may change ``state_dict`` in place and must return
    None (a returned value raises torch's RuntimeError). Returns a ``RemovableHandle``."""
    try:
        hook._from_public_api = True
    except AttributeError:  # a bound method (torch raises here): marked through a wrapper
        hook = _PublicHook(hook)
    return _add(module, "_state_dict_hooks", hook)


def register_state_dict_hook_private(module, hook):
    """torch's old-style ``_register_state_dict_hook``: as the post-hook, but a returned
    mapping replaces the state dict (respected when this module is the one ``state_dict()``
    was called on, as in torch)."""
    if getattr(hook, "_from_public_api", False):
        raise RuntimeError(
            "Cannot register the same function as the state dict post hook that was previously registered via "
            "register_state_dict_post_hook"
        )
    return _add(module, "_state_dict_hooks", hook)


def run_state_dict_post_hooks(module, destination, prefix: str, local_metadata: dict):
    for hook in module._state_dict_hooks.values():
        out = hook(module, destination, prefix, local_metadata)
        if getattr(hook, "_from_public_api", False):
            if out is not None:
                raise RuntimeError(_POST_RETURNED)
        elif out is not None:
            destination = out
    return destination


# -------------------------------------------------------------------- load_state_dict
def register_load_state_dict_pre_hook_private(module, hook, with_module: bool = False):
    """torch's ``_register_load_state_dict_pre_hook``: ``hook(state_dict, prefix, local_metadata,
    strict, missing_keys, unexpected_keys, error_msgs)``, with the module first if ``with_module``."""
    return _add(module, "_load_state_dict_pre_hooks", _WrappedHook(hook, module if with_module else None))


def register_load_state_dict_pre_hook(module, hook):
    """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
    error_msgs)`` runs before this module loads its entries; ``state_dict`` holds this module's
    subtree (prefixed keys) and may be changed in place. Returns a ``RemovableHandle``."""
    return register_load_state_dict_pre_hook_private(module, hook, with_module=True)


def register_load_state_dict_post_hook(module, hook):
    """``hook(module, incompatible_keys)`` runs once this module and its children are loaded;
    changes it makes to ``incompatible_keys.missing_keys``/``.unexpected_keys`` (in place) are
    what ``strict`` then checks. Must return None. Returns a ``RemovableHandle``."""
    return _add(module, "_load_state_dict_post_hooks", hook)


def run_load_post_hooks(module, missing_keys: list, unexpected_keys: list) -> None:
    from ._module import _IncompatibleKeys

    keys = _IncompatibleKeys(missing_keys, unexpected_keys)
    for hook in module._load_state_dict_post_hooks.values():
        if hook(module, keys) is not None:
            raise AssertionError(_LOAD_POST_RETURNED)
