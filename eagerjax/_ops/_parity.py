"""torch 2.x names eagerjax adds for parity: the ``*_copy`` view functions (``view_copy``,
``narrow_copy`` & co), ``nonzero_static``, ``empty_strided`` / ``empty_permuted``, the ATen
normalization entry points ``native_layer_norm`` / ``native_batch_norm`` /
``native_group_norm``, and the Tensor methods ``polygamma(n)``, ``polygamma_``,
``float_power_``, ``bitwise_left_shift_`` / ``bitwise_right_shift_``, ``resize_``,
``resize_as_`` and ``new_empty_strided``.

jax arrays are immutable, so every view here is already a fresh array: each ``*_copy``
row computes exactly what its view row computes. ``nonzero_static`` has a fixed output
shape (``size`` rows), so unlike ``nonzero`` it runs under ``ej.compile`` and ``ej.lazy()``.
The saved statistics of ``native_layer_norm`` / ``native_batch_norm`` are ``stop_gradient``-ed
(torch's are outputs that do not require grad); ``native_group_norm``'s are differentiable, as
in torch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _dtypes
from .._dispatch import dispatch
from .._generate import check_inplace, functional, inplace_update, rebind
from .._random import _split as _split_key
from .._tensor import Tensor
from . import _linalg  # noqa: F401 - registers the diagonal row read below
from ._creation import _fdt, _size
from ._elementwise import _view_as_complex, _view_as_real
from ._reduction import _long, _wrap
from ._registry import OPS, op
from ._shape import (
    _check_narrow,
    _check_unbind,
    _expand,
    _narrow,
    _permute,
    _reshape,
    _select,
    _split,
    _squeeze,
    _t,
    _transpose,
    _unbind,
    _unsqueeze,
)
from ._shape_extra import _is_dtype, _unfold, _view_dtype


# --------------------------------------------------------------------------- *_copy
def _view_copy(x, size):
    """``view_copy(x, size)`` or ``view_copy(x, dtype)`` (the bytes read as ``dtype``)."""
    if _is_dtype(size):
        return _view_dtype(x, _dtypes.to_dtype(size))
    return _reshape(x, size)


def _slice_copy(x, dim=0, start=None, end=None, step=1):
    """``x[..., start:end:step]`` along ``dim`` (torch's ``aten::slice``; out-of-range bounds clamp)."""
    if x.ndim == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    idx = [slice(None)] * x.ndim
    idx[_wrap(dim, x.ndim)] = slice(start, end, step)
    return x[tuple(idx)]


def _check_slice(x, dim=0, start=None, end=None, step=1) -> None:
    if x.ndim == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")


def _split_copy(x, split_size, dim=0):
    if not isinstance(split_size, (int, np.integer)) or isinstance(split_size, bool):
        raise TypeError(
            f"split_copy(): argument 'split_size' (position 2) must be int, not {type(split_size).__name__}"
        )
    return _split(x, int(split_size), dim)


def _split_with_sizes_copy(x, split_sizes, dim=0):
    return _split(x, [int(s) for s in split_sizes], dim)


def _expand_copy(x, size, *, implicit=False):
    return _expand(x, *size)


_COPY = dict(method=False)
for _name, _fn, _kw in (
    ("view_copy", _view_copy, {}),
    ("permute_copy", lambda x, dims: _permute(x, *dims), {}),
    ("transpose_copy", _transpose, {}),
    ("t_copy", _t, {}),
    ("squeeze_copy", _squeeze, {}),
    ("unsqueeze_copy", _unsqueeze, {}),
    ("expand_copy", _expand_copy, {}),
    ("diagonal_copy", OPS["diagonal"].fn, {}),
    ("select_copy", _select, {}),
    ("slice_copy", _slice_copy, {"check": _check_slice}),
    ("split_copy", _split_copy, {}),
    ("split_with_sizes_copy", _split_with_sizes_copy, {}),
    ("unbind_copy", _unbind, {"check": _check_unbind}),
    ("unfold_copy", _unfold, {}),
    ("alias_copy", lambda x: x, {}),
    # torch's result still requires grad, but its backward is not implemented: none here
    ("detach_copy", lambda x: x, {"differentiable": False}),
    ("view_as_real_copy", _view_as_real, {}),
    ("view_as_complex_copy", _view_as_complex, {}),
):
    op(_name, _fn, **_COPY, **_kw).family = "shape"
op("narrow_copy", _narrow, check=_check_narrow).family = "shape"


# --------------------------------------------------------------------------- nonzero_static
def _nonzero_static(x, *, size, fill_value=-1):
    """The first ``size`` rows of ``nonzero(x)``, padded with ``fill_value`` rows: a fixed shape."""
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f"nonzero_static(): argument 'size' must be int, not {type(size).__name__}")
    if size < 0:
        raise RuntimeError("nonzero_static: 'size' must be an non-negative integer")
    if x.ndim == 0:
        return jnp.zeros((size, 0), _long())
    idx = jnp.nonzero(x, size=int(size), fill_value=fill_value)
    return jnp.stack(idx, axis=1).astype(_long())


op("nonzero_static", _nonzero_static, differentiable=False).family = "indexing"


# --------------------------------------------------------------------------- empty_strided / empty_permuted
def _empty_strided(xp):
    def make(size, stride, *, dtype=None, layout=None, device=None, pin_memory=False):
        shape = _size((size,), "empty_strided")
        if len(tuple(stride)) != len(shape):
            raise RuntimeError(
                f"dimensionality of sizes ({len(shape)}) must match dimensionality of strides ({len(tuple(stride))})"
            )
        return xp.zeros(shape, _fdt(dtype))

    make.__name__ = "empty_strided"
    return make


def _empty_permuted(xp):
    def make(size, physical_layout, *, dtype=None, layout=None, device=None, pin_memory=False):
        shape = _size((size,), "empty_permuted")
        perm = [int(p) for p in physical_layout]
        if len(perm) != len(shape):
            raise RuntimeError(
                "Number of dimensions in size does not match the length of the physical_layout; i.e. "
                f"len(size) = {len(shape)} is not equal to len(physical_layout) = {len(perm)}"
            )
        seen = set()
        for i, p in enumerate(perm):
            if not 0 <= p < len(shape):
                raise RuntimeError(
                    f"Dimension out of range (expected to be between 0 and {len(shape) - 1}, but got {p} at index "
                    f"{i}).  NB: negative dims not currently supported; file an issue if you want it."
                )
            if p in seen:
                raise RuntimeError("Duplicate dim not allowed")
            seen.add(p)
        return xp.zeros(shape, _fdt(dtype))

    make.__name__ = "empty_permuted"
    return make


_EMPTY_DOC = (
    "eagerjax.{0}: torch.{0}. XLA owns the physical layout, so the {1} is only validated "
    "(the tensor is contiguous; ``stride()`` answers the contiguous strides). torch leaves "
    "the values uninitialized; here they are zeros."
)
for _name, _make, _what in (
    ("empty_strided", _empty_strided, "stride"),
    ("empty_permuted", _empty_permuted, "physical layout"),
):
    _row = op(_name, _make(jnp), method=False, host=_make(np), doc=_EMPTY_DOC.format(_name, _what))
    _row.family = "creation"


def _new_empty_strided(
    self: Tensor, size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False
) -> Tensor:
    """``empty_strided`` with ``self``'s dtype by default (the stride is only validated; zeros)."""
    return functional.empty_strided(size, stride, dtype=dtype or self.dtype, requires_grad=requires_grad)


Tensor.new_empty_strided = _new_empty_strided


# --------------------------------------------------------------------------- resize_
def _resize(x, shape):
    """``x``'s elements in flattened order, cut or zero-padded to ``prod(shape)``, in ``shape``."""
    n = math.prod(shape)
    flat = x.reshape(-1)
    if n <= flat.size:
        flat = flat[:n]
    else:
        flat = jnp.concatenate([flat, jnp.zeros((n - flat.size,), x.dtype)])
    return flat.reshape(shape)


_RESIZE = op("_resize", _resize, method=False, function=False, differentiable=False)
_RESIZE.family = "shape"


def _resize_(self: Tensor, *sizes, memory_format=None) -> Tensor:
    """In-place resize (torch.Tensor.resize_): the elements keep their flattened order; new
    elements (torch: uninitialized) are zeros. Refused on a tensor that requires grad."""
    shape = _size(sizes, "resize_")
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    if tuple(shape) == tuple(self.shape):
        return self
    return rebind(self, dispatch(_RESIZE, (self, tuple(shape)), {}))


def _resize_as_(self: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:
    """``self.resize_(the_template.shape)`` (torch.Tensor.resize_as_)."""
    return _resize_(self, tuple(the_template.shape))


Tensor.resize_ = _resize_
Tensor.resize_as_ = _resize_as_


# --------------------------------------------------------------------------- methods of existing rows
_POLYGAMMA = OPS["polygamma"]
_FLOAT_POWER = OPS["float_power"]


def _polygamma(self: Tensor, n: int) -> Tensor:
    """``polygamma(n, self)``: torch's method takes the order first (``x.polygamma(1)``)."""
    return dispatch(_POLYGAMMA, (n, self), {})


def _polygamma_(self: Tensor, n: int) -> Tensor:
    check_inplace(self, "polygamma_")
    return inplace_update(self, dispatch(_POLYGAMMA, (n, self), {}), "polygamma_")


def _float_power_(self: Tensor, exponent) -> Tensor:
    """In-place ``float_power``: ``self`` must already have the double result dtype (torch's
    rule). Without ``jax_enable_x64`` eagerjax's double *is* float32 (complex64 for complex)."""
    check_inplace(self, "float_power_")
    cplx = _dtypes.is_complex(self.dtype) or (
        _dtypes.is_complex(exponent.dtype) if isinstance(exponent, Tensor) else isinstance(exponent, complex)
    )
    want = _dtypes._canon("complex128" if cplx else "float64")
    if self.dtype != want:
        raise RuntimeError(
            f"the base given to float_power_ has dtype {_dtypes.torch_name(self.dtype)} but the operation's result "
            f"requires dtype {'ComplexDouble' if cplx else 'Double'}"
        )
    return inplace_update(self, dispatch(_FLOAT_POWER, (self, exponent), {}), "float_power_")


Tensor.polygamma = _polygamma
Tensor.polygamma_ = _polygamma_
Tensor.float_power_ = _float_power_
for _name in ("bitwise_left_shift", "bitwise_right_shift"):
    OPS[_name].inplace = True  # Tensor.<name>_ (generated with the other in-place variants)


# --------------------------------------------------------------------------- native_* norms
def _stats_dtype(x):
    return jnp.promote_types(x.dtype, jnp.float32)  # statistics in float32 at least


def _native_layer_norm(x, normalized_shape, weight, bias, eps):
    """(out, mean, rstd): the stats keep the normalized dims as size 1, in ``x``'s dtype."""
    ns = tuple(int(s) for s in normalized_shape)
    nd = len(ns)
    if nd == 0 or x.ndim < nd or tuple(x.shape[x.ndim - nd :]) != ns:
        raise RuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape [*, {', '.join(map(str, ns))}], but got "
            f"input of size{list(x.shape)}"
        )
    axes = tuple(range(x.ndim - nd, x.ndim))
    xf = x.astype(_stats_dtype(x))
    mean = xf.mean(axes, keepdims=True)
    centered = xf - mean
    rstd = lax.rsqrt(jnp.square(centered).mean(axes, keepdims=True) + eps)
    out = centered * rstd
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    keep = lax.stop_gradient
    return out.astype(x.dtype), keep(mean).astype(x.dtype), keep(rstd).astype(x.dtype)


def _native_group_norm(x, weight, bias, N, C, HxW, group, eps):
    """(out, mean, rstd) of an ``(N, C, *)`` input in ``group`` groups; the stats are ``(N, group)``."""
    if math.prod(x.shape) != N * C * HxW:
        raise RuntimeError(
            "Expected X.numel() == N * C * HxW to be true, but got false.  (Could this error message be improved?  "
            "If so, please report an enhancement request to PyTorch.)"
        )
    if group <= 0 or C % group:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(x.shape)} and num_groups={group}"
        )
    xf = x.astype(_stats_dtype(x)).reshape(N, group, -1)
    mean = xf.mean(-1, keepdims=True)
    centered = xf - mean
    rstd = lax.rsqrt(jnp.square(centered).mean(-1, keepdims=True) + eps)
    out = (centered * rstd).reshape(N, C, -1)
    if weight is not None:
        out = out * weight.reshape(C, 1)
    if bias is not None:
        out = out + bias.reshape(C, 1)
    # (torch's group-norm statistics are differentiable outputs, unlike layer/batch norm's)
    return (
        out.reshape(x.shape).astype(x.dtype),
        mean.reshape(N, group).astype(x.dtype),
        rstd.reshape(N, group).astype(x.dtype),
    )


def _native_batch_norm_all(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """(out, save_mean, save_invstd[, new_running_mean, new_running_var]).

    Training normalizes with the batch statistics (saved: mean and 1/sqrt(biased var + eps));
    with running stats given it also returns their update (the unbiased variance, as torch).
    Eval normalizes with the running stats and saves empty tensors (torch's ``[0]``-shaped)."""
    axes = (0,) + tuple(range(2, x.ndim))
    c = x.shape[1] if x.ndim > 1 else 1
    bshape = (1, c) + (1,) * (x.ndim - 2)
    xf = x.astype(_stats_dtype(x))
    keep = lax.stop_gradient  # (the running stats are not differentiable inputs, as in torch)
    if training:
        mean = xf.mean(axes)
        var_sum = jnp.square(xf - mean.reshape(bshape)).sum(axes)
        n = math.prod(x.shape) // c
        var = var_sum / n
    else:
        mean, var = keep(running_mean).astype(xf.dtype), keep(running_var).astype(xf.dtype)
    invstd = lax.rsqrt(var + eps)
    out = (xf - mean.reshape(bshape)) * invstd.reshape(bshape)
    if weight is not None:
        out = out * weight.reshape(bshape)
    if bias is not None:
        out = out + bias.reshape(bshape)
    out = out.astype(x.dtype)
    if not training:
        empty = jnp.zeros((0,), x.dtype)
        return out, empty, empty
    outs = (out, keep(mean).astype(x.dtype), keep(invstd).astype(x.dtype))
    if running_mean is None:
        return outs
    unbiased = keep(var_sum / max(n - 1, 1))
    m = jnp.asarray(momentum, running_mean.dtype)
    new_mean = (1 - m) * running_mean + m * keep(mean).astype(running_mean.dtype)
    new_var = (1 - m) * running_var + m * unbiased.astype(running_var.dtype)
    return (*outs, new_mean, new_var)


def _native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    return _native_batch_norm_all(x, weight, bias, running_mean, running_var, training, momentum, eps)[:3]


for _name, _fn in (("native_layer_norm", _native_layer_norm), ("native_group_norm", _native_group_norm)):
    op(_name, _fn, method=False).family = "nn2"
# ``ej.native_batch_norm`` (``_toplevel.py``) also writes the running stats, through the private row.
op("native_batch_norm", _native_batch_norm, method=False, scalars=("momentum", 6)).family = "nn2"
op("_native_batch_norm", _native_batch_norm_all, method=False, function=False, scalars=("momentum", 6))


# --------------------------------------------------------------------------- native_dropout
def _native_dropout(key, x, p):
    """(key, x, p) -> (new_key, x * mask / (1 - p), mask): torch's ``native_dropout`` (the
    public ``ej.native_dropout`` in ``_toplevel.py`` draws the key from eagerjax's generator)."""
    nk, k = _split_key(key)
    mask = jax.random.bernoulli(k, 1.0 - p, x.shape)
    scale = jnp.where(p >= 1, jnp.zeros((), x.dtype), jnp.asarray(1.0, x.dtype) / jnp.asarray(1.0 - p, x.dtype))
    return nk, x * mask.astype(x.dtype) * scale, mask


op("_native_dropout", _native_dropout, scalars=("p", 2), method=False, function=False).family = "nn"
