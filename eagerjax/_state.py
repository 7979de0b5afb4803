"""Process-wide execution state, read on every op (kept as plain module globals
in one object so the hot path pays one attribute lookup per flag).

``mode`` is None for eager execution, or the active recorder: a capture context
(``ej.compile`` tracing) or a lazy graph (``ej.lazy``). Both expose the same
small protocol used by dispatch, Tensor writes and the backward engine:
``note_read(t)``, ``note_write(t)`` / ``note_writes(ts)``, ``note_new(t)``,
``set_grads(owners, grads)``, ``run(kernel, vals, tens)``; ``is_lazy`` tells them apart.
"""

from __future__ import annotations


class _Flags:
    __slots__ = ("grad_enabled", "mode", "structure_epoch")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.mode = None
        # Bumped whenever something a compiled step bakes in as Python structure
        # changes (train/eval, param groups, registered params): capture
        # re-checks its structural key only when this moved.
        self.structure_epoch = 0


flags = _Flags()


def bump_structure() -> None:
    flags.structure_epoch += 1
