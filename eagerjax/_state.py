"""Process-wide execution state, read on every op (kept as plain module globals
in one object so the hot path pays one attribute lookup per flag).

``mode`` is None for eager execution, or the active recorder: a capture context
(``ej.compile`` tracing) or a lazy graph (``ej.lazy``). Both expose the same
small protocol used by dispatch, Tensor writes and the backward engine:
``note_read(t)``, ``note_write(t)`` / ``note_writes(ts)``, ``note_new(t)``,
``set_grads(owners, grads)``, ``run(kernel, vals, tens)``; ``is_lazy`` tells them apart.
"""

from __future__ import annotations

import gc


class _Flags:
    __slots__ = (
        "grad_enabled",
        "stop_traced",
        "in_kernel",
        "in_transform",
        "mode",
        "structure_epoch",
        "state_epoch",
        "autocast",
        "autocast_state",
    )

    def __init__(self) -> None:
        self.grad_enabled = True
        # Set while the user has turned grad off (``no_grad``, ``set_grad_enabled(False)``,
        # ``inference_mode``): results made from traced values then stop JAX's gradient too,
        # so code that JAX differentiates (a ``func.grad``'s function, a differentiable
        # compiled call) treats them as constants, as torch does. Never inside a kernel
        # (``in_kernel``): library code that runs Tensor ops as a kernel's pure function
        # turns grad off only to keep them off the tape. Code that replays the user's
        # Python under JAX (transforms, compiled forwards, custom Functions, backward
        # replays) starts with both unset: ``user_code()``.
        self.stop_traced = False
        self.in_kernel = False
        # Inside a ``func`` transform's function: JAX, not the tape, decides what is
        # differentiated, so a custom Function treats every float input as needing grad.
        self.in_transform = False
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


class user_code:
    """``with user_code():`` around a replay of the user's Python under a JAX trace: only
    the grad mode the user sets inside it stops JAX's gradients (see ``stop_traced``).
    ``forward_mode``: JAX differentiates it forward (``jvp``, ``jacfwd``), where torch's
    ``no_grad`` stops nothing (``detach()`` still does)."""

    __slots__ = ("prev", "forward_mode")

    def __init__(self, forward_mode: bool = False) -> None:
        self.forward_mode = forward_mode

    def __enter__(self) -> None:
        self.prev = (flags.stop_traced, flags.in_kernel)
        flags.stop_traced = False
        flags.in_kernel = self.forward_mode  # (no_grad then leaves stop_traced unset)

    def __exit__(self, *exc) -> None:
        flags.stop_traced, flags.in_kernel = self.prev


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

# ``(state dict, param)`` of optimizer state an ``ej.compile`` step created while it was traced
# (its first ``step()``): kept when the call succeeds, dropped again when it fails, so that a
# failed call leaves ``optimizer.state`` as it was (see ``CompiledFunction.__call__``).
born_state: list = []


def drop_born_state(mark: int) -> None:
    """Forget the optimizer state created since ``len(born_state)`` was ``mark``."""
    for st, p in born_state[mark:]:
        st.pop(p, None)
    del born_state[mark:]


class collector_paused:
    """Python's cyclic garbage collector off while a program is traced and compiled.

    Tracing allocates a great many short-lived objects, which reference counting frees;
    the collector would scan the whole heap for cycles among them (a full collection
    took 0.15-0.2 s of the Transformer's first compiled or lazy step, measured). Nests;
    leaves the collector as it found it, also when the body raises. Only for one-off
    work (a cache miss), never per step.
    """

    __slots__ = ("_was",)

    def __enter__(self) -> None:
        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self._was:
            gc.enable()
