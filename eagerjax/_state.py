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
    __slots__ = ("grad_enabled", "mode", "structure_epoch", "state_epoch", "autocast", "autocast_state")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.mode = None
        # Bumped whenever something a compiled step bakes in as Python structure
        # changes (train/eval, param groups, registered params): capture
        # re-checks its structural key only when this moved.
        self.structure_epoch = 0
        # Bumped (with structure_epoch) when *which* tensors are state may have changed: a
        # module's parameter, buffer or submodule (re)assigned, a parameter's requires_grad
        # flipped, an optimizer created or its state loaded. A compiled step then finds its
        # state again (programs are reused when it is the same state).
        self.state_epoch = 0
        # ``ej.autocast``: the policy of the region active for the tensors' device type (None:
        # no autocasting, the one check ``dispatch`` pays), and the whole autocast state as a
        # hashable token (None: the default state) that keys compiled steps. Set only by
        # ``_autocast._set``.
        self.autocast = None
        self.autocast_state = None


flags = _Flags()


def bump_structure() -> None:
    flags.structure_epoch += 1


def bump_state() -> None:
    """See ``state_epoch``. Not while a step is being traced: what it assigns there is part
    of the traced program (and would make every later call re-discover)."""
    flags.structure_epoch += 1
    if flags.mode is None or getattr(flags.mode, "is_lazy", False):
        flags.state_epoch += 1


# The ``randomness`` of each ``func.vmap`` being traced, innermost last (see ``_vmap``): a
# random draw inside ``randomness="error"`` raises, as torch's does.
vmap_randomness: list[str] = []
