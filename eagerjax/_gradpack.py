"""Small ``.grad``s handed back by a compiled step in ONE buffer, split on first read.

Every output of an XLA program costs a buffer allocation and bookkeeping on each
call, a few microseconds apiece: for a small model's step that is a quarter of the
step. torch semantics still want every parameter's ``.grad`` after the step. So when
the grads a step writes are small and of one dtype, the program returns them
concatenated into one flat array, and each ``.grad`` is a ``_PackedGrad``: a Tensor
whose value is sliced out of that array the first time anything reads it (one cached
kernel splits all of them at once). A step that zeroes its grads and never reads
them between calls — the usual training loop — never pays for the split.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._tensor import Tensor, _CopiesArePlain

# Measured: packing takes the tiny MLP's step (6k grad elements) from 1.25x to 1.07x the
# hand-written one; the Transformer LM's (108k elements in 28 grads) gains nothing; and the
# small CNN's conv kernels (19k elements) cost 16% more packed, as the concatenation fights
# the kernels' layout. So: small dense grads only (weights, biases, norm scales).
PACK_MAX_ELEMENTS = 1 << 15
PACK_MAX_RANK = 2

# A tensor's value slot itself, bypassing ``_PackedGrad``'s property: reading it never
# splits a pack (lazy mode's flush uses these too).
_slot = Tensor.__dict__["_value"]
raw_value = _slot.__get__
set_raw_value = _slot.__set__


def packable(avals: list) -> bool:
    """Whether grads with these ``(shape, dtype)`` are worth packing: two or more, one
    floating dtype, small, none of rank above 2. (Cheap: lazy mode asks on every flush.)"""
    if len(avals) < 2:
        return False
    dt0 = avals[0][1]
    total = 0
    for shape, dt in avals:
        if len(shape) > PACK_MAX_RANK or dt != dt0:
            return False
        total += math.prod(shape)
    return total <= PACK_MAX_ELEMENTS and _floating(np.dtype(dt0))


@functools.lru_cache(maxsize=32)
def _floating(dt: np.dtype) -> bool:
    return bool(jnp.issubdtype(dt, jnp.floating))


def pack(grads: list) -> tuple[list, tuple]:
    """At trace time: the grads (None where the step left one None) as ``[flat]`` (or ``[]``
    when all are None) and the layout to split them by: per grad ``(offset, shape)`` or None."""
    parts = [jnp.ravel(g) for g in grads if g is not None]
    return ([jnp.concatenate(parts)] if parts else []), layout_of([None if g is None else g.shape for g in grads])


def layout_of(shapes: list) -> tuple:
    """Where each array of these shapes (None: absent) sits in their concatenation:
    ``(offset, shape)`` per entry, or None."""
    layout = []
    offset = 0
    for shape in shapes:
        if shape is None:
            layout.append(None)
            continue
        layout.append((offset, tuple(shape)))
        offset += math.prod(shape)
    return tuple(layout)


def unpack(owners: list, arrays: list, layout: tuple) -> None:
    """After a successful call: give each owner its ``.grad``, a view into the packed array."""
    shared = _Pack(arrays[0], layout) if arrays else None
    for t, lay in zip(owners, layout):
        t._grad = None if lay is None else _PackedGrad._view(shared, lay)


def attach(grads: list, flat, layout: tuple) -> None:
    """Lazy mode, after a flush: ``grads`` (``_PackedGrad``s holding pending values) become
    views into ``flat``, the packed result."""
    shared = _Pack(flat, layout)
    for t, lay in zip(grads, layout):
        t._bind(shared, lay)


@functools.lru_cache(maxsize=64)
def _splitter(layout: tuple):
    spans = [lay for lay in layout if lay is not None]

    def split(flat):
        return tuple(lax.slice(flat, (off,), (off + math.prod(shape),)).reshape(shape) for off, shape in spans)

    return jax.jit(split)


class _Pack:
    """One packed array and, once anyone reads a grad from it, all its grads split out."""

    __slots__ = ("flat", "layout", "parts")

    def __init__(self, flat, layout: tuple) -> None:
        self.flat = flat
        self.layout = layout
        self.parts = None

    def part(self, lay):
        if self.parts is None:
            # Concretely, even when the first read happens while a step is being traced.
            with jax.ensure_compile_time_eval():
                split = _splitter(self.layout)(self.flat)
            self.parts = dict(zip([lay for lay in self.layout if lay is not None], split))
            self.flat = None
        # Each view takes its part once: then its tensor is the part's only holder, so a
        # later step may donate it.
        return self.parts.pop(lay)


class _PackedGrad(_CopiesArePlain, Tensor):
    """A ``.grad`` whose value is a slice of a packed step output, taken on first read.

    Reading ``_value`` splits it out; writing ``_value`` (an in-place op, ``.zero_()``)
    detaches it from the pack. Otherwise it is a plain leaf Tensor."""

    __slots__ = ("_pack", "_at")

    @classmethod
    def _view(cls, shared: _Pack, lay: tuple) -> _PackedGrad:
        """A grad whose value is the ``lay`` part of ``shared``. (No mode hears of it: this
        runs on every compiled call, and the caller tells the mode, if any, itself.)"""
        t = cls._bare()
        t._bind(shared, lay)
        return t

    @classmethod
    def _pending(cls, v) -> _PackedGrad:
        """Lazy mode: a grad holding the placeholder ``v``, which the flush may pack."""
        t = cls._bare()
        _slot.__set__(t, v)
        t._pack = None
        return t

    def _bind(self, shared: _Pack, lay: tuple) -> None:
        """Make this tensor's value the ``lay`` part of ``shared``, split out on first read."""
        _slot.__set__(self, None)
        self._pack = shared
        self._at = lay

    @property
    def _value(self):
        p = self._pack
        if p is not None:
            _slot.__set__(self, p.part(self._at))
            self._pack = None
        return _slot.__get__(self)

    @_value.setter
    def _value(self, v) -> None:
        self._pack = None
        _slot.__set__(self, v)
