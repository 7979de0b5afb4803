"""The capture context: what a step reads and writes, found while its Python runs.

A ``Capture`` is installed as ``_state.flags.mode`` while a step is traced.
Tensors report to it: ``note_read`` on every value used by an op,
``note_write`` on every in-place value change, ``note_grad`` on every ``.grad``
assignment, ``note_new`` on creation, ``note_module`` on every Module call.
From those it derives the step's *state*: the tensors that existed before
the step (the "owners": parameters, buffers, optimizer moments, generator
keys, hyperparameters) whose value or ``.grad`` the step reads or writes.

It also keeps an undo log: whatever the trace wrote into owners (tracers,
new grads) is put back exactly as it was by ``restore()``, which the caller
runs in ``finally``. Nothing a trace does survives it; compiled results are
written back only after the compiled program has succeeded.
"""

from __future__ import annotations

import os
import sys
import weakref

import jax

from ._tensor import Tensor, _set_rg

# Reads that turn a 0-d tensor into a Python number: often a number the user passed to the
# step, which ej.compile traces like a tensor.
_NUMBER_READS = ("Tensor.__index__", "int(Tensor)", "float(Tensor)", "Tensor.item()")
_STATIC_HINT = (
    " If it is a Python number passed to the step (a size, an index, a count): ej.compile traces"
    " those; make it static with ej.compile(fn, static_argnums=...) or static_argnames=... (one"
    " compile per value)."
)

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


class CaptureError(RuntimeError):
    """A step did something that cannot be captured (a host read of a traced value, ...)."""


class GraphBreak(Exception):
    """Internal: a host read under ``fullgraph=False``; the step will run eagerly."""


class StateMiss(Exception):
    """Internal: the trace read a tensor its state plan did not list; re-plan and retrace."""


def user_frame() -> str:
    """'file.py:42: source line' of the innermost frame outside eagerjax (for error messages)."""
    f = sys._getframe(1)
    while f is not None:
        fn = os.path.abspath(f.f_code.co_filename)
        if not fn.startswith(_PKG_DIR) and "/jax/" not in fn and "/flax/" not in fn:
            import linecache

            line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
            return f"{os.path.basename(fn)}:{f.f_lineno}: `{line}`"
        f = f.f_back
    return "<unknown>"


class _IdSet:
    """A weak set by identity (WeakSet would compare with Tensor.__eq__, an op)."""

    __slots__ = ("refs",)

    def __init__(self) -> None:
        self.refs: dict[int, weakref.ref] = {}

    def add(self, t) -> None:
        self.refs[id(t)] = weakref.ref(t)

    def __contains__(self, t) -> bool:
        r = self.refs.get(id(t))
        return r is not None and r() is t

    def alive(self) -> list:
        return [x for x in (r() for r in self.refs.values()) if x is not None]


_raw = Tensor.__dict__["_value"].__get__  # the value slot itself (no subclass property)
_set_raw = Tensor.__dict__["_value"].__set__


class Escaped:
    """The value of a tensor that a step computed while being traced and kept somewhere
    (``self.ema = ...``, a list): it never had a value. Shape and dtype answer; using it
    raises ``CaptureError`` saying so (instead of jax's tracer-leak errors, later)."""

    __slots__ = ("shape", "dtype", "what")

    def __init__(self, shape, dtype, what: str) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.what = what

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def error(self) -> CaptureError:
        return CaptureError(
            f"this tensor (shape {self.shape}) was computed inside a {self.what} while it was traced, "
            "and kept outside it (e.g. `self.x = ...` or appended to a list): it has no value. A "
            "compiled step hands values out only by returning them or by writing into tensors that "
            "exist before the call (in-place: `self.x.copy_(...)`, a registered buffer, `p.data = ...`)."
        )

    def _fail(self, *args, **kwargs):
        raise self.error()

    __jax_array__ = __array__ = __float__ = __int__ = __bool__ = __index__ = _fail

    def __repr__(self) -> str:
        return f"<escaped tracer: shape {self.shape}>"


class Capture:
    """Recorder protocol for one trace (discovery or the real jit trace).

    ``plan`` is None while discovering; otherwise the dict id -> owner of the
    tensors whose values are trace inputs (already swapped to tracers).
    """

    is_lazy = False

    def __init__(self, plan: dict | None, fullgraph: bool = True, what: str = "compiled step") -> None:
        self.plan = plan
        self.discovering = plan is None  # a shape-only pass: values are never used
        self.fullgraph = fullgraph
        self.what = what
        self.owners: dict[int, Tensor] = {}  # first-seen order of every owner touched
        self.read_value: dict[int, Tensor] = {}
        self.read_grad: dict[int, Tensor] = {}  # owner id -> owner whose .grad was read
        self.wrote_value: dict[int, Tensor] = {}
        self.wrote_grad: dict[int, Tensor] = {}
        self.grad_of: dict[int, Tensor] = {}  # id(grad tensor) -> its owner
        self.undo: dict[int, tuple] = {}
        self.born = _IdSet()
        self.born_read: dict[int, Tensor] = {}  # born-concrete tensors read before any write
        self.modules: dict[int, object] = {}
        self.missed: list[Tensor] = []
        self.grad_seen: set = set()  # ids of tensors whose .grad was looked at (None or not)
        self.callback = False  # the step ran a kernel that calls user Python (see ``_callback``)

    # -- the protocol ------------------------------------------------------------
    def _owner(self, t: Tensor) -> None:
        k = id(t)
        if k not in self.owners:
            self.owners[k] = t
            self._save(t)
            g = t._grad
            if g is not None:
                self.grad_of[id(g)] = t

    def _save(self, t: Tensor) -> None:
        if id(t) not in self.undo:
            self.undo[id(t)] = (t, t._value, t._grad, t._node, t._idx, t.requires_grad, t._version)

    def note_new(self, t: Tensor) -> None:
        self.born.add(t)

    def note_module(self, m) -> None:
        self.modules.setdefault(id(m), m)

    def note_read(self, t: Tensor):
        v = t._value
        k = id(t)
        owner = self.grad_of.get(k)
        if owner is not None:  # reading an owner's .grad (one that existed before the step)
            self.read_grad.setdefault(id(owner), owner)
            return v
        if t in self.born and k not in self.owners:
            if not isinstance(v, jax.core.Tracer):
                # A constant born concrete inside this step: a wrapper the backward engine
                # makes around a cached cotangent (hooks take that path), or state created
                # under ensure_compile_time_eval (optimizer moments). Either way its value is
                # known now; it becomes state only if the step also writes it (note_write
                # promotes the read), which is what persistent state does.
                self.born_read.setdefault(id(t), t)
            # Otherwise an intermediate of this step.
            return v
        self._owner(t)
        self.read_value.setdefault(k, t)
        if self.plan is not None and k not in self.plan and not isinstance(v, jax.core.Tracer):
            self.missed.append(t)
        return v

    def note_write(self, t: Tensor) -> None:
        k = id(t)
        owner = self.grad_of.get(k)
        if owner is not None:  # in-place on an owner's .grad (grad clipping, accumulate)
            self._save(t)
            self.wrote_grad.setdefault(id(owner), owner)
            return
        if t in self.born and isinstance(t._value, jax.core.Tracer) and k not in self.owners:
            return  # an intermediate of this step
        if k in self.born_read and k not in self.owners:
            # State born concrete in this step, read before this first write: its old value
            # is an input of the step (a later trace will find it existing, not born).
            self._owner(t)
            self.read_value.setdefault(k, t)
        self._owner(t)
        self.wrote_value.setdefault(id(t), t)

    def note_writes(self, ts: list) -> None:
        for t in ts:
            self.note_write(t)

    def note_grad(self, t: Tensor) -> None:
        if t in self.born and id(t) not in self.owners:
            return
        self._owner(t)
        self.wrote_grad.setdefault(id(t), t)

    def set_grads(self, owners: list, grads: list) -> None:
        """``backward()`` gives each owner its new ``.grad``."""
        for t, g in zip(owners, grads):
            self.note_grad(t)
            t._grad = g if isinstance(g, Tensor) else Tensor._make(g)

    def note_grad_access(self, t: Tensor) -> None:
        """``t.grad`` was read: remember whose grad that tensor is, so in-place ops on it
        (``clip_grad_norm_`` before the optimizer has touched ``t``) count as ``t``'s grad
        being read and written, not as a separate state tensor. A grad made inside this
        step (by ``backward()``) stays an intermediate."""
        self.grad_seen.add(id(t))
        g = t._grad
        if g is not None and id(g) not in self.grad_of and t not in self.born and g not in self.born:
            self._save(t)
            self.grad_of[id(g)] = t

    def mark_step(self) -> None:
        """Iteration boundaries mean nothing inside a captured step."""

    def host_read(self, t: Tensor, what: str):
        v = t._value
        # Only a constant born inside the step is known on the host; anything else is
        # state (a tracer in the real trace, even if concrete while discovering).
        if isinstance(v, jax.core.Tracer) or t not in self.born:
            if not self.fullgraph:
                raise GraphBreak(what)
            raise CaptureError(
                f"{what} inside a {self.what} at {user_frame()}: tensor values are not known while the "
                f"step is traced into one XLA program. Return the tensor from the step and read it "
                f"afterwards, use tensor ops (e.g. ej.where) instead of Python control flow on values, "
                f"or use ej.compile(fn, fullgraph=False) to run steps like this one eagerly."
                + (_STATIC_HINT if t.ndim == 0 and what in _NUMBER_READS else "")
            )
        return v

    def run(self, kern, vals, tens):
        if kern.eager_only:
            raise CaptureError(
                f"{kern.name}() inside a {self.what} at {user_frame()}: its output shape depends on "
                f"tensor values, which XLA cannot compile. Use a fixed-size alternative "
                f"(e.g. masked ops / ej.where) or run it outside the step."
            )
        if kern.callback:
            self.callback = True
        return kern.fn(*vals)

    # -- after the trace -------------------------------------------------------------
    def restore(self) -> None:
        """Put every touched owner (value, grad, graph links) back as before the trace, and
        mark tensors the step made from traced values as escaped (see ``Escaped``)."""
        for t, v, g, node, idx, rg, ver in self.undo.values():
            t._value = v
            t._grad = g
            t._node = node
            t._idx = idx
            _set_rg(t, rg)
            t._version = ver
        for t in self.born.alive():
            v = _raw(t)
            if isinstance(v, jax.core.Tracer):
                _set_raw(t, Escaped(v.shape, v.dtype, self.what))
