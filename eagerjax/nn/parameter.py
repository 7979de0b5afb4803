"""``torch.nn.parameter``: ``Parameter`` and the lazy modules' ``UninitializedParameter`` /
``UninitializedBuffer``.

An uninitialized tensor holds no value yet, only its dtype (in a 0-element array in the
value slot, so ``Module.to(dtype)`` still applies to it). Everything that would compute with
it raises torch's errors: its ``_value`` is a property that refuses to be read, which every
op, host read and recorder goes through. ``materialize(shape)`` gives it zeros of ``shape``
and turns the SAME object into a ``Parameter`` (or plain ``Tensor``) by class assignment, so
an optimizer or a list that already holds it keeps working.
"""

from __future__ import annotations

import numpy as np

from .. import _dtypes
from .._state import bump_state, flags
from .._tensor import Parameter, Size, Tensor, _device_array
from ._buffer import Buffer  # noqa: F401 - torch.nn.parameter.Buffer

__all__ = [
    "Buffer",
    "Parameter",
    "UninitializedBuffer",
    "UninitializedParameter",
    "UninitializedTensorMixin",
    "is_lazy",
]

_VALUE_SLOT = Tensor.__dict__["_value"]  # the slot itself (the mixin's property shadows it)

_USE_MSG = (
    "Attempted to use an uninitialized parameter in {}. This error happens when you are using a "
    "`LazyModule` or explicitly manipulating `torch.nn.parameter.UninitializedParameter` objects. When "
    "using LazyModules Call `forward` with a dummy batch to initialize the parameters before calling "
    "torch functions"
)
_SHAPE_MSG = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
    "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
    "`forward` to initialize the parameters before accessing their attributes."
)


def _use_error(what: str) -> ValueError:
    return ValueError(_USE_MSG.format(what))


def _empty_value(dtype):
    """The placeholder an uninitialized tensor holds: 0 elements of its dtype, concrete even under a trace."""
    dt = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
    return _device_array(np.zeros((0,), dt))


class UninitializedTensorMixin:
    """What ``UninitializedParameter`` and ``UninitializedBuffer`` share (see the module docstring)."""

    __slots__ = ()
    cls_to_become: type = Tensor

    @classmethod
    def _new_uninitialized(cls, requires_grad: bool, dtype=None):
        # Made outside any recorder: it has no value for a compiled step or lazy graph to
        # track (the recorders' note_new would read it); it is state only once materialized.
        mode = flags.mode
        flags.mode = None
        try:
            t = cls._make(_empty_value(dtype))
        finally:
            flags.mode = mode
        if requires_grad:
            t.requires_grad_(True)
        return t

    # -- the value: refused until materialized ------------------------------------------
    @property
    def _value(self):
        raise _use_error("a tensor operation")

    @_value.setter
    def _value(self, value) -> None:
        _VALUE_SLOT.__set__(self, value)

    def _read(self):
        raise _use_error("a tensor operation")

    def _concrete(self, what: str):
        raise _use_error(what)

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give this tensor zeros of ``shape`` (the module's ``reset_parameters`` fills them) and
        make it a ``cls_to_become`` in place: whoever holds it now holds the real tensor."""
        if isinstance(shape, int):
            shape = (shape,)
        dt = _dtypes.to_dtype(dtype) or np.dtype(_VALUE_SLOT.__get__(self).dtype)
        _VALUE_SLOT.__set__(self, _device_array(np.zeros(tuple(shape), dt)))
        self._version += 1
        self.__class__ = self.cls_to_become
        bump_state()  # a new state tensor exists (for compiled steps to find)

    # -- metadata that exists before materialization ----------------------------------------
    @property
    def shape(self):
        raise RuntimeError(_SHAPE_MSG)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_VALUE_SLOT.__get__(self).dtype)

    @property
    def ndim(self) -> int:
        raise _use_error("Tensor.ndim")

    def size(self, dim: int | None = None):
        """torch answers ``size()`` of the empty placeholder: ``Size([0])``."""
        return Size((0,)) if dim is None else (0,)[dim]

    def dim(self) -> int:
        raise _use_error("Tensor.dim()")

    ndimension = dim

    def numel(self) -> int:
        raise _use_error("Tensor.numel()")

    nelement = numel

    def __len__(self) -> int:
        raise _use_error("len()")

    def __iter__(self):
        raise _use_error("iter()")

    def _cast(self, dtype) -> Tensor:
        # ``Module.to(dtype)`` / ``.half()``: the placeholder takes the new dtype, so the
        # tensor materializes in it (as torch's lazy modules do).
        return Tensor._make(_empty_value(dtype))

    # -- copies -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    def __deepcopy__(self, memo):
        t = type(self)._new_uninitialized(self.requires_grad, self.dtype)
        memo[id(self)] = t
        return t

    def __reduce_ex__(self, protocol):
        return (_rebuild_uninitialized, (type(self), self.requires_grad, self.dtype.name))


def _rebuild_uninitialized(cls, requires_grad: bool, dtype: str):
    return cls._new_uninitialized(requires_grad, np.dtype(dtype))


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape is not known yet (a lazy module's, until its first forward).

    ``materialize(shape)`` turns this very object into a ``Parameter``, so an optimizer built
    on the module's ``parameters()`` before the first forward optimizes the real parameters.
    Reading ``.shape`` raises RuntimeError, using it in any op raises ValueError (torch's errors).
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        return cls._new_uninitialized(requires_grad, dtype)

    def __init__(self, requires_grad: bool = True, device=None, dtype=None) -> None:
        pass  # (made by __new__; Parameter.__init__ would set requires_grad again)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet; ``materialize(shape)`` makes it a plain ``Tensor``.

    ``persistent=False`` (torch's ``Buffer`` flag) is not supported: register the buffer with
    ``register_buffer(name, buf, persistent=False)`` instead.
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True):
        if not persistent:
            raise NotImplementedError(
                "UninitializedBuffer(persistent=False) is not supported: use "
                "module.register_buffer(name, UninitializedBuffer(), persistent=False)"
            )
        return cls._new_uninitialized(requires_grad, dtype)

    def __init__(self, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True) -> None:
        pass  # (made by __new__; Tensor.__init__ would parse data)


def is_lazy(param) -> bool:
    """Whether ``param`` is an uninitialized parameter or buffer (torch.nn.parameter.is_lazy)."""
    return isinstance(param, UninitializedTensorMixin)
