"""``nn.Buffer`` (torch >= 2.5): a tensor marked to be registered as a buffer when assigned
to a module attribute (``self.stats = nn.Buffer(t, persistent=False)``); ``Module.__setattr__``
calls ``register_buffer`` with its ``persistent`` flag. Like torch's, it is a detached copy of
the data with the data's ``requires_grad``; math on it gives plain tensors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._tensor import Tensor

__all__ = ["Buffer"]


def _rebuild_buffer(array, requires_grad: bool, persistent: bool) -> Buffer:
    return Buffer(Tensor._make(jnp.asarray(array), requires_grad), persistent=persistent)


class Buffer(Tensor):
    """A tensor that a Module registers as a buffer (``persistent``: whether it is in the state_dict)."""

    __slots__ = ("_persistent",)

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        if data is None:
            data = Tensor._make(jnp.zeros((0,), _dtypes.get_default_dtype()))
        t = cls._make(data.detach()._read(), data.requires_grad)
        t._persistent = bool(persistent)
        return t

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass  # (made in __new__; Tensor.__init__ would read `data` as sizes)

    @property
    def persistent(self) -> bool:
        return getattr(self, "_persistent", True)

    @persistent.setter
    def persistent(self, value: bool) -> None:
        self._persistent = bool(value)

    def __reduce_ex__(self, protocol):
        return (_rebuild_buffer, (np.asarray(self._concrete("pickle")), self.requires_grad, self.persistent))

    def __deepcopy__(self, memo):
        t = super().__deepcopy__(memo)
        t._persistent = self.persistent
        return t
