"""Creation rows: tensors made from shapes and values rather than from other tensors,
plus the ``*_like`` family, ``Tensor.new_*`` and the in-place fills (``fill_``,
``zero_``, ``copy_``)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._dispatch import every_mode
from ._registry import op

_PY_NUMBERS = (bool, int, float, complex)


def _tname(v) -> str:
    """A value's type as torch's argument errors name it (arrays and tensors are ``Tensor``)."""
    return "Tensor" if hasattr(v, "shape") and hasattr(v, "dtype") else type(v).__name__


def _index(s):
    """A size entry as a Python int: ints, NumPy integers and one-element integer arrays or
    tensors (``zeros(torch.tensor(2))``, as torch reads them through ``__index__``); None for
    anything else. A traced array raises jax's concretization error (a size must be known)."""
    if isinstance(s, bool):
        return None
    if isinstance(s, (int, np.integer)):
        return int(s)
    v = getattr(s, "_value", s)  # an eagerjax Tensor (the eager-only ``check=`` hooks see those)
    dt = getattr(v, "dtype", None)
    if dt is not None and np.dtype(dt).kind in "iu" and v.ndim <= 1 and math.prod(v.shape) == 1:
        return int(v.reshape(()))
    return None


def _size(size, name: str = "empty", kw=None) -> tuple:
    """``f(2, 3)`` / ``f((2, 3))`` / ``f([2, t])`` / ``f(size=(2, 3))`` -> ``(2, 3)``, checked as
    torch's factories check it (``name`` is the factory's, for the messages)."""
    if kw is not None:
        if size:
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        if not isinstance(kw, (tuple, list)):
            raise TypeError(f"{name}(): argument 'size' must be tuple of ints, not {_tname(kw)}")
        size = (kw,)
    packed = len(size) == 1 and isinstance(size[0], (tuple, list))
    items = tuple(size[0]) if packed else tuple(size)
    out = []
    for i, s in enumerate(items):
        v = _index(s)
        if v is None:
            if not packed and len(items) == 1:
                raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, not {_tname(s)}")
            raise TypeError(
                f"{name}(): argument 'size' failed to unpack the object at pos {i + 1} with error "
                f'"type must be tuple of ints,but got {_tname(s)}"'
            )
        out.append(v)
    return _check_size(tuple(out), name)


def _check_size(size, name: str = "empty"):
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(
                f"{name}(): argument 'size' must be tuple of ints, but found element of type {type(s).__name__}"
            )
        if s < 0:
            if name == "zeros":
                raise RuntimeError("zeros: Dimension size must be non-negative.")
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return size


def _fdt(dtype):
    return _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()


# --------------------------------------------------------------------------- fill values
def _cast_scalar(value, dt) -> np.ndarray:
    """A Python number as a 0-d array of ``dt``, converted as C converts (ints wrap, floats
    truncate, a complex number's real part), after ``_dtypes.check_fits``."""
    dt = np.dtype(dt)
    if dt == np.bool_:
        return np.asarray(bool(value))
    if isinstance(value, complex) and dt.kind != "c":
        value = value.real
    if isinstance(value, int) and not isinstance(value, bool) and dt.kind in "iu":
        info = np.iinfo(dt)
        span = int(info.max) - int(info.min) + 1
        return np.asarray((value - int(info.min)) % span + int(info.min), dt)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(value).astype(dt)


def _host_scalar(value, dt, shape):
    """``value`` checked and converted to ``dt`` when it is a number known here (a NumPy
    host twin's argument, or a Python number inside a captured step); None when traced."""
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) in _PY_NUMBERS:
        _dtypes.check_fits(value, dt, half_checked=math.prod(shape) != 1)
        return _cast_scalar(value, dt)
    return None


def _filled(xp, shape, value, dt):
    v = _host_scalar(value, dt, shape)
    if v is not None:
        return xp.full(shape, v, dt)
    if np.dtype(value.dtype).kind == "c" and np.dtype(dt).kind != "c":
        value = xp.real(value)
    return xp.full(shape, value, dt)


# Every creation row has a NumPy ``host`` twin: in eager mode a new shape then costs no XLA
# compile (the result is copied to the device once); traced modes use the jnp function.
# ``check=`` hooks repeat a row's argument checks before an eager call, so the errors carry
# torch's exact text (errors raised inside a kernel name the op and its operands).
def _fill(value, xp, name):
    def make(
        *shape,
        size=None,
        dtype=None,
        device=None,
        requires_grad=False,
        layout=None,
        pin_memory=False,
        out=None,
        memory_format=None,
        names=None,
    ):
        return xp.full(_size(shape, name, size), value, _fdt(dtype))

    make.__name__ = name
    return make


def _size_check(name):
    def check(*shape, size=None, **_):
        _size(shape, name, size)

    return check


op("zeros", _fill(0, jnp, "zeros"), method=False, host=_fill(0, np, "zeros"), check=_size_check("zeros"))
op("ones", _fill(1, jnp, "ones"), method=False, host=_fill(1, np, "ones"), check=_size_check("ones"))
op("empty", _fill(0, jnp, "empty"), method=False, host=_fill(0, np, "empty"), check=_size_check("empty"))


def _long():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def _value_dtype(v):
    """torch.full's dtype inference from the fill value: bool -> bool, int -> long, float -> default."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return np.dtype(bool)
    if isinstance(v, int):
        return np.dtype(_long())
    if isinstance(v, float):
        return _dtypes.get_default_dtype()
    if isinstance(v, complex):
        return np.dtype(np.complex64)
    d = np.dtype(v.dtype)
    if getattr(v, "weak_type", False):  # a Python number traced as an operand
        if d.kind in "iu":
            return np.dtype(_long())
        if d.kind == "f":
            return _dtypes.get_default_dtype()
    return d


def _full_size(size):
    if not isinstance(size, (list, tuple)):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not {_tname(size)}")
    return _size((size,), "full")


def _full_impl(xp):
    def _full(
        size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None
    ):
        shape = _full_size(size)
        return _filled(xp, shape, fill_value, _dtypes.to_dtype(dtype) or _value_dtype(fill_value))

    return _full


def _check_full(size, fill_value=None, dtype=None, **_):
    shape = _full_size(size)
    if dtype is not None and type(fill_value) in _PY_NUMBERS:
        # (an every_mode check: it also runs in lazy mode, where the kernel sees no number)
        _dtypes.check_fits(fill_value, _dtypes.to_dtype(dtype), half_checked=math.prod(shape) != 1)


op(
    "full",
    _full_impl(jnp),
    method=False,
    scalars=(1, "fill_value"),
    host=_full_impl(np),
    check=every_mode(_check_full),
)


def _need_tensor(name: str, x) -> None:
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


def _like_check(name):
    def check(x=None, *_, **__):
        _need_tensor(name, x)

    return check


def _like(value, xp, name):
    def f(x, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None, pin_memory=False):
        _need_tensor(name, x)
        return xp.full(x.shape, value, _dtypes.to_dtype(dtype) or x.dtype)

    return f


def _full_like_impl(xp):
    def _full_like(
        x,
        fill_value,
        *,
        dtype=None,
        device=None,
        requires_grad=False,
        layout=None,
        memory_format=None,
        pin_memory=False,
    ):
        _need_tensor("full_like", x)
        return _filled(xp, x.shape, fill_value, _dtypes.to_dtype(dtype) or x.dtype)

    return _full_like


def _check_full_like(x=None, fill_value=None, *_, dtype=None, **__):
    _need_tensor("full_like", x)
    if type(fill_value) in _PY_NUMBERS:
        # (an every_mode check: it also runs in lazy mode, where the kernel sees no number)
        dt = _dtypes.to_dtype(dtype) or x.dtype
        _dtypes.check_fits(fill_value, dt, half_checked=math.prod(x.shape) != 1)


_ND = {"method": False, "differentiable": False}
for _name, _v in (("zeros_like", 0), ("ones_like", 1), ("empty_like", 0)):
    op(_name, _like(_v, jnp, _name), host=_like(_v, np, _name), check=_like_check(_name), **_ND)
op(
    "full_like",
    _full_like_impl(jnp),
    host=_full_like_impl(np),
    scalars=(1, "fill_value"),
    check=every_mode(_check_full_like),
    **_ND,
)


def _num(v):
    return v.item() if hasattr(v, "item") and not isinstance(v, (int, float)) else v


_UNSET = object()


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _arange_args(*args, start=_UNSET, end=_UNSET, step=_UNSET, **_):
    """``arange(end)`` / ``arange(start, end[, step])``, any of them as keywords -> (start, end, step)."""
    given = {"start": start, "end": end, "step": step}
    pos = list(args)
    if len(pos) > 3:
        raise TypeError(f"arange() takes from 1 to 3 positional arguments but {len(pos)} were given")
    if len(pos) == 1 and start is _UNSET and end is _UNSET:
        given["end"] = pos.pop()  # arange(end)
    for k in ("start", "end", "step"):
        if pos and given[k] is _UNSET:
            given[k] = pos.pop(0)
    if pos:
        raise TypeError("arange() got multiple values for an argument")
    if given["end"] is _UNSET:
        raise TypeError('arange() missing 1 required positional arguments: "end"')
    start = 0 if given["start"] is _UNSET else _num(given["start"])
    step = 1 if given["step"] is _UNSET else _num(given["step"])
    return start, _num(given["end"]), step


def _arange(*args, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None, **kw):
    start, end, step = _arange_args(*args, **kw)
    if not (step > 0 or step < 0):
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"unsupported range: {_fmt(start)} -> {_fmt(end)}")
    if (end - start) / step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    anyfloat = any(isinstance(v, float) for v in (start, end, step))
    dt = _dtypes.to_dtype(dtype) or (_dtypes.get_default_dtype() if anyfloat else np.dtype(_long()))
    n = max(int(math.ceil((end - start) / step)), 0)
    if anyfloat or jnp.issubdtype(dt, jnp.floating):
        # torch accumulates in double, then casts
        return (start + step * np.arange(n, dtype=np.float64)).astype(dt)
    return (start + step * np.arange(n, dtype=np.int64)).astype(dt)


op("arange", lambda *a, **k: jnp.asarray(_arange(*a, **k)), host=_arange, check=_arange_args, **_ND)


def _known(*vs) -> bool:
    """Every value is known here (Python numbers, NumPy values or concrete jax arrays)."""
    return not any(isinstance(v, jax.core.Tracer) for v in vs)


def _logspace_host(start, end, steps: int, base, dt) -> np.ndarray:
    """torch's logspace on the host: the ends rounded to the result's type (truncated for
    integers), the step and exponents in double, each value ``base ** exponent`` in double
    rounded once (an integer result raises a float32 base)."""
    if steps == 1:
        exps = np.asarray([float(start)])
        with np.errstate(over="ignore", invalid="ignore"):
            _dtypes.check_fits(float(np.power(np.float64(base), exps[0])), dt, half_checked=False)  # (a fill)
    else:
        if dt.kind in "iub":
            s, e = float(int(start)), float(int(end))
            base = float(np.float32(base))
            diff = e - s
        else:
            ar = dt.type
            s, e = ar(start), ar(end)
            with np.errstate(over="ignore", invalid="ignore"):
                diff = float(e - s)
            s, e = float(s), float(e)
        step = diff / (steps - 1)
        i = np.arange(steps, dtype=np.float64)
        exps = np.where(i < steps // 2, s + step * i, e - step * (steps - 1 - i))
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.power(np.float64(base), exps)
        # a float16/bfloat16 value is made from a float (double -> float -> half, as torch rounds)
        return (out.astype(np.float32) if dt.kind not in "iubc" else out).astype(dt)


def _spaced(xp):
    def values(start, end, steps):
        """torch's linspace formula: from both ends towards the middle, in float32."""
        if steps == 1:
            return xp.full((1,), start, xp.float32)
        i = xp.arange(steps, dtype=xp.float32)
        start = xp.asarray(start, xp.float32)
        end = xp.asarray(end, xp.float32)
        step = (end - start) / xp.float32(steps - 1)
        return xp.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step)

    def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, layout=None, out=None):
        if steps < 0:
            raise RuntimeError("number of steps must be non-negative")
        dt = _fdt(dtype)
        if steps == 0:
            return xp.zeros((0,), dt)
        return values(start, end, steps).astype(dt)

    def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, layout=None, out=None):
        if steps < 0:
            raise RuntimeError("number of steps must be non-negative")
        dt = np.dtype(_fdt(dtype))
        if steps == 0:
            return xp.zeros((0,), dt)
        if dt.kind != "c" and _known(start, end, base) and not isinstance(base, complex):
            # torch raises its double base to each exponent in double, then rounds once
            s, e = (np.asarray(v).item() for v in (start, end))
            return xp.asarray(_logspace_host(s, e, steps, base, dt))
        # tensor ends inside a traced step: float32 power (can be an ulp from torch's)
        return xp.power(xp.asarray(base, xp.float32), values(start, end, steps)).astype(dt)

    def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None):
        return xp.eye(n, n if m is None else m, dtype=_fdt(dtype))

    return linspace, logspace, eye


_J, _H = _spaced(jnp), _spaced(np)
op("linspace", _J[0], host=_H[0], scalars=(0, 1, "start", "end"), **_ND)
# logspace's Python-number ends and base are static: the values are computed on the host in
# double (as torch's kernel does), in every mode
op("logspace", _J[1], host=_H[1], **_ND)
op("eye", _J[2], host=_H[2], **_ND)


def _tri_indices(which, xp):
    def f(row, col, offset=0, *, dtype=None, device=None, layout=None):
        r, c = which(row, offset, col)
        return xp.asarray(np.stack([r, c]).astype(_dtypes.to_dtype(dtype) or np.dtype(_long())))

    return f


op("tril_indices", _tri_indices(np.tril_indices, jnp), host=_tri_indices(np.tril_indices, np), **_ND)
op("triu_indices", _tri_indices(np.triu_indices, jnp), host=_tri_indices(np.triu_indices, np), **_ND)


# --------------------------------------------------------------------------- in-place fills (see _indexing.py)
def _fill_value(x, value):
    if hasattr(value, "ndim") and value.ndim > 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
    v = _host_scalar(value, x.dtype, x.shape)
    if v is None:
        v = jnp.asarray(value)
        if v.dtype.kind == "c" and x.dtype.kind != "c":
            v = jnp.real(v)
    return jnp.broadcast_to(jnp.asarray(v).astype(x.dtype), x.shape)


def _check_fill(x, value) -> None:
    """Check of a Python fill value against the tensor's dtype, before dispatch in every
    mode (a lazy recording sees only the number's type)."""
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) in _PY_NUMBERS:
        _dtypes.check_fits(value, x.dtype, half_checked=x.numel() != 1)


def _copy_from(x, src):
    try:
        shape = jnp.broadcast_shapes(x.shape, src.shape)
    except ValueError:
        shape = None
    if shape != tuple(x.shape):
        raise RuntimeError(
            f"output with shape {list(x.shape)} doesn't match the broadcast shape "
            f"{list(shape) if shape is not None else list(src.shape)}"
        )
    return jnp.broadcast_to(_dtypes.cast(jnp.asarray(src), x.dtype), x.shape)  # (torch's float -> int results)


# ``self`` is an operand so the in-place result depends on it (zero gradient to its old value).
op("_fill", _fill_value, method=False, function=False, scalars=(1,), check=every_mode(_check_fill))
op("_copy", _copy_from, method=False, function=False)
