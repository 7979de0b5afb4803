"""More shape rows: ``Tensor.unfold`` (sliding windows), ``Tensor.view(dtype)`` (bit
casting), and the in-place shape methods ``unsqueeze_``, ``squeeze_``, ``t_``,
``transpose_``, ``swapdims_`` and ``swapaxes_``.

eagerjax has no strided views, so an in-place shape method *rebinds* the tensor to the
new value (``Tensor._assign``), the way every in-place op here works: a capture or a
lazy graph sees an ordinary write, and autograd gives the tensor the new value's
history (a leaf that requires grad raises torch's error).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._dispatch import dispatch
from .._generate import check_inplace, rebind
from .._tensor import Tensor
from ._reduction import _wrap
from ._registry import OPS, op

# --------------------------------------------------------------------------- unfold

_GATHER_FROM = 32  # windows longer than this are one gather instead of `size` strided slices


def _unfold(x, dimension: int, size: int, step: int):
    """Every ``size``-long window along ``dimension``, ``step`` apart: that dimension becomes
    the window count and the window is a new last dimension (torch's layout)."""
    nd = x.ndim
    d = _wrap(dimension, nd)
    n = x.shape[d] if nd else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if nd == 0:
        return jnp.reshape(x, (size,))
    count = (n - size) // step + 1
    if size == 0 or count == 0:
        shape = list(x.shape)
        shape[d] = count
        return jnp.zeros((*shape, size), x.dtype)
    if size > _GATHER_FROM:
        idx = np.arange(count)[:, None] * step + np.arange(size)[None, :]
        return jnp.moveaxis(jnp.take(x, jnp.asarray(idx, np.int32), axis=d), d + 1, -1)
    last = (count - 1) * step
    wins = [jax.lax.slice_in_dim(x, i, i + last + 1, step, axis=d) for i in range(size)]
    return jnp.stack(wins, axis=-1)


# torch has Tensor.unfold only (F.unfold is im2col); listed with the shape family.
op("unfold", _unfold, function=False).family = "shape"

# --------------------------------------------------------------------------- view(dtype)


def _bitcast(x, to: np.dtype):
    """``x``'s bytes read as ``to`` with torch's shape rule: same element size keeps the shape;
    otherwise the last dimension scales by the size ratio (it must divide when growing)."""
    src = np.dtype(x.dtype)
    to = np.dtype(to)
    if src == to:
        return x
    if to.kind == "c":  # through float32 pairs: (..., 2n) float32 -> (..., n) complex64
        f = _bitcast(x, np.dtype(np.float32)) if src.kind != "c" else x
        if f.dtype.kind == "c":
            return f.astype(to)
        f = f.reshape(*f.shape[:-1], f.shape[-1] // 2, 2)
        return jax.lax.complex(f[..., 0], f[..., 1]).astype(to)
    if src.kind == "c":  # (..., n) complex64 -> (..., 2n) float32 -> to
        f = jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1).astype(np.float32)
        return _bitcast(f.reshape(*x.shape[:-1], x.shape[-1] * 2), to)
    if to == np.bool_:
        return _bitcast(x, np.dtype(np.uint8)) != 0
    if src == np.bool_:
        return _bitcast(x.astype(np.uint8), to)
    if src.itemsize == to.itemsize:
        return jax.lax.bitcast_convert_type(x, to)
    if src.itemsize > to.itemsize:  # (..., n) -> (..., n * r)
        out = jax.lax.bitcast_convert_type(x, to)
        return out.reshape(*x.shape[:-1], x.shape[-1] * (src.itemsize // to.itemsize))
    r = to.itemsize // src.itemsize  # (..., n) -> (..., n / r)
    return jax.lax.bitcast_convert_type(x.reshape(*x.shape[:-1], x.shape[-1] // r, r), to)


def _torch_dtype(d: np.dtype) -> str:
    from .._generate import _torch_name

    return _torch_name(np.dtype(d))


def _view_dtype(x, dtype: np.dtype):
    src, to = np.dtype(x.dtype), np.dtype(dtype)
    if src.itemsize != to.itemsize:
        what = f"to view {_torch_dtype(src)} as {_torch_dtype(to)} (different element sizes)"
        if x.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 {what}")
        if src.itemsize < to.itemsize and x.shape[-1] % (to.itemsize // src.itemsize):
            raise RuntimeError(
                f"self.size(-1) must be divisible by {to.itemsize // src.itemsize} {what}, but got {x.shape[-1]}"
            )
    return _bitcast(x, to)


# Not differentiable, as in torch (``view.dtype``'s output never requires grad).
op("_view_dtype", _view_dtype, method=False, function=False, differentiable=False).family = "shape"


def _is_dtype(a: Any) -> bool:
    if isinstance(a, np.dtype):
        return True
    if isinstance(a, (Tensor, int, tuple, list)) or a is None:
        return False
    return isinstance(getattr(a, "dtype", None), np.dtype) or (isinstance(a, type) and issubclass(a, np.generic))


_VIEW = OPS["view"]
_VIEW_DTYPE = OPS["_view_dtype"]


def _tensor_view(self: Tensor, *shape: Any, **kwargs: Any) -> Tensor:
    """``view(*shape)``: the same elements in a new shape; ``view(dtype)``: the same bytes read
    as another dtype (torch's rule: a different element size rescales the last dimension).
    Both are copies here (jax arrays are immutable); ``view(dtype)`` is not differentiable."""
    if "dtype" in kwargs and not shape:
        return dispatch(_VIEW_DTYPE, (self, _dtypes.to_dtype(kwargs.pop("dtype"))), kwargs)
    if len(shape) == 1 and not kwargs and _is_dtype(shape[0]):
        return dispatch(_VIEW_DTYPE, (self, _dtypes.to_dtype(shape[0])), {})
    return dispatch(_VIEW, (self, *shape), kwargs)


_tensor_view.__name__ = _tensor_view.__qualname__ = "view"
Tensor.view = _tensor_view  # before _generate: the `view` row's method yields to this one

# --------------------------------------------------------------------------- in-place shape methods


def _inplace_shape(row: str, name: str):
    opdef = OPS[row]

    def f(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        check_inplace(self, name)
        return rebind(self, dispatch(opdef, (self, *args), kwargs))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"In-place ``{row}``: rebinds the tensor to the result (torch.Tensor.{name})."
    return f


for _row, _name in (
    ("unsqueeze", "unsqueeze_"),
    ("squeeze", "squeeze_"),
    ("t", "t_"),
    ("transpose", "transpose_"),
    ("swapdims", "swapdims_"),
    ("swapaxes", "swapaxes_"),
):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _inplace_shape(_row, _name))
