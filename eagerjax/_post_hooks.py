"""``Tensor.register_post_accumulate_grad_hook``: hooks run on a leaf after ``backward()``
has accumulated its ``.grad`` (e.g. an optimizer step per parameter, fused into backward).

The registry is keyed by the tensor's id (with a weak reference to it), so tensors carry
no extra slot and ``backward`` pays one emptiness check while no hook exists. Hooks run in
every mode: under ``ej.compile`` and ``ej.lazy()`` their ops are traced or recorded.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from ._tensor import Tensor, _HookHandle, _tells_steps

hooks: dict = {}  # id(tensor) -> (weakref to it, [hook, ...])


def register(self: Tensor, hook: Callable[[Tensor], None]) -> _HookHandle:
    """Call ``hook(self)`` each time ``backward()`` has accumulated ``self.grad`` (a leaf).
    Returns a handle with ``remove()``."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self._node is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    key = id(self)
    entry = hooks.get(key)
    if entry is None or entry[0]() is not self:
        # (the table is bound here: at interpreter exit module globals may already be None)
        def gone(ref, key=key, table=hooks):
            e = table.get(key)
            if e is not None and e[0] is ref:
                del table[key]

        entry = hooks[key] = (weakref.ref(self, gone), [])
    entry[1].append(hook)
    return _HookHandle(entry[1], hook, _tells_steps(self))


def run(owners: list) -> None:
    """Run the hooks of the leaves in ``owners`` whose ``.grad`` was just accumulated."""
    for t in owners:
        entry = hooks.get(id(t))
        if entry is not None and entry[0]() is t:
            for hook in list(entry[1]):
                if hook(t) is not None:
                    raise RuntimeError("Tensor post accumulate grad hooks should return None.")


Tensor.register_post_accumulate_grad_hook = register
