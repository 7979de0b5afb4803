"""Optimizer state held flat: one state column of a group (``exp_avg`` of every param) in
ONE array, each param's entry in ``opt.state`` a view into it.

Why: every array a compiled program takes or returns costs the runtime several
microseconds (buffer bookkeeping, donation, the write-back into its Tensor), and XLA:CPU
runs each small fusion as a task of its own. Adam's two moments are two thirds of a
small model's state arrays: held flat, the tiny MLP's step takes and returns 12 arrays
fewer, in every mode (the eager update kernel, lazy mode's flush, a compiled step).

The contract stays torch's: ``opt.state[p]['exp_avg']`` is a Tensor that stays the same
object across steps and shows the current value; an in-place write to it changes the
state the next step uses. Underneath, a ``_StatePack`` (a hidden Tensor: the state that
capture, lazy mode and donation see) holds the concatenation, and a ``_PackedState``
reads its slice when asked (one cached kernel) and writes by updating the pack. The
optimizer's update kernel takes a pack whole and returns it whole, so a training loop
never splits it.

Only state born together for a whole group is packed (the first step), and only small
same-dtype real floating columns, as for packed grads: views never replace tensors a
user made or loaded.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._dispatch import Kernel, run_kernel
from .._gradpack import PACK_MAX_ELEMENTS, PACK_MAX_RANK, layout_of
from .._state import flags
from .._tensor import Size, Tensor, _CopiesArePlain, _device_array

_Tracer = jax.core.Tracer


class _StatePack(_CopiesArePlain, Tensor):
    """The flat array behind one packed state column: a plain Tensor to every mode.
    ``_layout``: per member ``(offset, shape)`` in the flat array."""

    __slots__ = ("_layout",)


class _PackedState(_CopiesArePlain, Tensor):
    """A param's entry of a packed state column: a view of member ``_j`` of ``_pack``.

    Reads slice the pack (noted as a read of the pack by the active mode); writes update
    the pack. Neither capture nor lazy mode ever sees the view itself as state."""

    __slots__ = ("_pack", "_j")

    @classmethod
    def _view(cls, pack: _StatePack, j: int) -> _PackedState:
        t = cls._bare()
        Tensor.__dict__["_value"].__set__(t, None)
        t._pack = pack
        t._j = j
        return t

    # metadata without slicing
    @property
    def shape(self) -> Size:
        return Size(self._pack._layout[self._j][1])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._pack._value.dtype)

    @property
    def ndim(self) -> int:
        return len(self._pack._layout[self._j][1])

    def _read(self):
        pack = self._pack
        return run_kernel(_slicer(*pack._layout[self._j]), [pack._read()])

    @property
    def _value(self):
        return self._read()

    @_value.setter
    def _value(self, value) -> None:
        pack = self._pack
        pack._assign(run_kernel(_writer(*pack._layout[self._j]), [pack._read(), value]))

    def _assign(self, value) -> None:
        self._value = value
        self._version += 1


@functools.lru_cache(maxsize=256)
def _slicer(offset: int, shape: tuple) -> Kernel:
    n = math.prod(shape)
    return Kernel(lambda flat: lax.slice(flat, (offset,), (offset + n,)).reshape(shape), "packed_state_read")


@functools.lru_cache(maxsize=256)
def _writer(offset: int, shape: tuple) -> Kernel:
    def write(flat, v):
        v = jnp.broadcast_to(jnp.asarray(v), shape).astype(flat.dtype).reshape(-1)
        return lax.dynamic_update_slice(flat, v, (offset,))

    return Kernel(write, "packed_state_write")


def _concrete(v) -> bool:
    return isinstance(v, jax.Array) and not isinstance(v, _Tracer)


def maybe_pack(params: list, sts: list[dict], names: list[str], cols: list[list]) -> None:
    """Pack each column of ``cols`` (state ``names[c]`` of ``params``, just created for the
    whole group; ``sts`` their state dicts) that is worth it: ``cols[c]`` and the state
    dicts then hold views of one new pack."""
    if len(params) < 2:
        return
    for c, name in enumerate(names):
        col = cols[c]
        if any(type(t) is not Tensor or st.get(name) is not t for t, st in zip(col, sts)):
            continue  # (a subclass's own column layout, or not what the state dicts hold)
        vals = [Tensor.__dict__["_value"].__get__(t) for t in col]
        if not all(map(_concrete, vals)) or not _packable(vals):
            continue
        # On the host: state is born small (a pack is bounded), and jnp's ravel/concatenate
        # here would compile a program per parameter shape, in the first step's time.
        flat = _device_array(np.concatenate([np.asarray(v).ravel() for v in vals]))
        mode, flags.mode = flags.mode, None  # (born concrete; the mode hears of it below)
        try:
            pack = _StatePack._make(flat)
        finally:
            flags.mode = mode
        if mode is not None:
            mode.note_new(pack)
        pack._layout = layout_of([v.shape for v in vals])
        views = [_PackedState._view(pack, j) for j in range(len(col))]
        for st, v in zip(sts, views):
            st[name] = v
        cols[c] = views


def _packable(vals: list) -> bool:
    dt = vals[0].dtype
    total = 0
    for v in vals:
        if v.dtype != dt or v.ndim > PACK_MAX_RANK:
            return False
        total += v.size
    return total <= PACK_MAX_ELEMENTS and jnp.issubdtype(dt, jnp.floating)


def column_spec(col: list):
    """How a kernel takes a state column: None (one value per param) or ``(layout, sel)``:
    the column is views of one pack (``layout`` its layout, ``sel`` each param's member)."""
    first = col[0]
    if type(first) is not _PackedState:
        return None
    pack = first._pack
    sel = []
    for t in col:
        if type(t) is not _PackedState or t._pack is not pack:
            return None
        sel.append(t._j)
    return pack._layout, tuple(sel)


def has_views(col: list) -> bool:
    return any(type(t) is _PackedState for t in col)


def unpack_in(flat, spec: tuple) -> list:
    """Inside a kernel: the column's per-param values from its pack."""
    layout, sel = spec
    out = []
    for j in sel:
        off, shape = layout[j]
        out.append(lax.slice(flat, (off,), (off + math.prod(shape),)).reshape(shape))
    return out


def pack_out(flat, spec: tuple, new: list):
    """Inside a kernel: the pack with the selected members replaced by ``new``."""
    layout, sel = spec
    by_member = dict(zip(sel, lax.optimization_barrier(list(new))))
    parts = []
    for j, (off, shape) in enumerate(layout):
        v = by_member.get(j)
        if v is None:
            parts.append(lax.slice(flat, (off,), (off + math.prod(shape),)))
        else:
            parts.append(jnp.ravel(v).astype(flat.dtype))
    return jnp.concatenate(parts)
