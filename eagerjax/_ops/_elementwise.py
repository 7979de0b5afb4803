"""Elementwise rows: arithmetic, comparisons, logic, unary math, activations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _dtypes
from .._dispatch import every_mode
from .._tensor import Tensor
from . import _bounds
from . import _special_edges as _se
from ._accurate import _lgamma, _xlogy
from ._registry import alias, op

_BIN = (0, 1, "other", "input")


_NO_BOOL_SUB = (
    "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` "
    "operator instead."
)
_NO_BOOL_SUB1 = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, "
    "use the `~` or `logical_not()` operator instead."
)
_NO_BOOL_NEG = (
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
    "use the `~` or `logical_not()` operator instead."
)


_kind = _bounds.kind


def _check_alpha(x, y, alpha) -> None:
    """torch's refusals of ``alpha`` (a trace-time dtype check, so every mode raises)."""
    if type(alpha) is int and alpha == 1:
        return
    ak, rk = _kind(alpha), jnp.result_type(x, y).kind
    if ak == "b" and rk != "b":
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if ak in "fc" and rk in "iub":
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")


def _add(x, y, alpha=1):
    # `alpha` may be a tensor (torch-style optimizers: p.add_(g, alpha=-lr)).
    _check_alpha(x, y, alpha)
    return x + y if (type(alpha) is int and alpha == 1) else x + y * alpha


def _sub(x, y, alpha=1):
    # A bool operand promoted against another tensor's dtype arrives cast: `_sub_check` (eager) sees those.
    kx, ky = _kind(x), _kind(y)
    if kx == "b" or ky == "b":
        raise RuntimeError(_NO_BOOL_SUB if kx == ky else _NO_BOOL_SUB1)
    _check_alpha(x, y, alpha)
    return x - y if (type(alpha) is int and alpha == 1) else x - y * alpha


_BOOL = np.dtype(bool)


def _is_bool(v) -> bool:
    """A Python bool or a bool Tensor (the per-call check of every eager ``-``: kept cheap; a
    bool array's dtype is numpy's singleton)."""
    return type(v) is bool or getattr(getattr(v, "_value", None), "dtype", None) is _BOOL


def _operands(args, kwargs):
    x = args[0] if args else kwargs.get("input")
    y = args[1] if len(args) > 1 else kwargs.get("other")
    return x, y


def _sub_check(x=None, y=None, *_, **kwargs):
    """torch refuses bool operands of ``-`` even where type promotion would cast them (eager: the
    row's function sees operands after promotion; inside compiled/lazy steps only the operands that
    promotion leaves bool are refused)."""
    if kwargs:
        x, y = kwargs.get("input", x), kwargs.get("other", y)
    bx, by = _is_bool(x), _is_bool(y)
    if bx or by:
        raise RuntimeError(_NO_BOOL_SUB if bx and by else _NO_BOOL_SUB1)


def _rsub_check(*args, **kwargs):
    _sub_check(*reversed(_operands(args, kwargs)))


def _neg(x):
    if x.dtype == jnp.bool_:
        raise RuntimeError(_NO_BOOL_NEG)
    return jnp.negative(x)


def _true_div(x, y):
    """``x / y`` correctly rounded, as torch's CPU kernels divide.

    XLA's simplifier rewrites a division by a broadcast divisor (a Python number, a 0-d tensor,
    a keepdim reduction) into a multiplication by its reciprocal, which is an ulp off about half
    the time (``x / 255``). An optimization barrier around the broadcast divisor hides it from
    that rewrite; the barrier is gone before fusion, so the program is the same fused divide.
    float16/bfloat16 divide in float32 and round once (torch's way; a Python-number divisor is
    not rounded to the tensor's dtype first).
    """
    dt = jnp.result_type(x, y)
    if not jnp.issubdtype(dt, jnp.inexact):
        dt = jnp.dtype(jnp.float32)  # (torch: integer true division gives the default float)
    out = dt
    if dt == jnp.float16 or dt == jnp.bfloat16:
        dt = jnp.dtype(jnp.float32)
    shape = jnp.broadcast_shapes(jnp.shape(x), jnp.shape(y))
    x = jnp.asarray(x).astype(dt)
    y = jnp.asarray(y).astype(dt)
    if y.shape != shape:
        y = lax.optimization_barrier(jnp.broadcast_to(y, shape))
    q = x / y
    return q if out == dt else q.astype(out)


def _is_int(x, y) -> bool:
    return jnp.result_type(x, y).kind in "iub"


def _int_trunc_div(x, y):
    """C's integer division (truncation toward zero), exact at every magnitude."""
    dt = jnp.result_type(x, y)
    x, y = jnp.broadcast_arrays(jnp.asarray(x).astype(dt), jnp.asarray(y).astype(dt))
    return lax.div(x, y)


def _floor_div(x, y):
    """torch's floor division: exact integer division for integers; for floats
    ``(x - fmod(x, y)) / y`` corrected by one where the remainder's sign differs from ``y``'s,
    with ``x / y``'s signed zero and ``x / 0``'s infinities."""
    if _is_int(x, y):
        return jnp.floor_divide(x, y)
    dt = jnp.result_type(x, y)
    if dt.kind == "c":
        raise RuntimeError("floor_divide does not support complex inputs")  # (torch's refusal)
    x = jnp.asarray(x).astype(dt)
    y = jnp.asarray(y).astype(dt)
    mod = jnp.fmod(x, y)
    div = _true_div(x - mod, y)
    div = jnp.where((mod != 0) & ((y < 0) != (mod < 0)), div - 1, div)
    fl = jnp.floor(div)
    fl = jnp.where(div - fl > 0.5, fl + 1, fl)
    exact = _true_div(x, y)
    fl = jnp.where(div == 0, jnp.copysign(jnp.zeros_like(fl), exact), fl)
    return jnp.where(y == 0, exact, fl).astype(dt)


def _div(x, y, rounding_mode=None):
    if rounding_mode is None:
        return _true_div(x, y)
    if rounding_mode == "floor":
        return _floor_div(x, y)
    if rounding_mode == "trunc":
        if _is_int(x, y):
            return _int_trunc_div(x, y)
        return jnp.trunc(_true_div(x, y))
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


_NEG_POW = "Integers to negative integer powers are not allowed."


def _int_pow(x, y):
    """Integer ** integer with torch's answers for negative exponents: 1 for base 1, +-1 for
    base -1 (by the exponent's parity), 0 for any other base."""
    e = jnp.asarray(y)
    neg = e < 0
    p = jnp.power(x, jnp.where(neg, jnp.zeros_like(e), e))
    one = jnp.ones_like(p)
    at_neg = jnp.where(x == 1, one, jnp.where(x == -1, jnp.where(e % 2 == 0, one, -one), jnp.zeros_like(p)))
    return jnp.where(neg, at_neg, p)


def _pow(x, y):
    if _kind(x) == "b" and _kind(y) == "b":
        return jnp.logical_or(x, jnp.logical_not(y))  # (torch keeps bool: x ** False is True)
    if isinstance(y, int) and not isinstance(y, bool):
        if y < 0 and _kind(x) in "iub":
            raise RuntimeError(_NEG_POW)
        if _kind(x) == "b":
            x = jnp.asarray(x).astype(jnp.int32)  # (torch: bool ** int is an integer tensor)
        return lax.integer_pow(x, y) if y >= 0 else jnp.power(x, y)
    if _kind(x) in "iu" and _kind(y) in "iu":
        return _int_pow(x, y)
    return jnp.power(x, y)


_zero_div_check = _bounds.integer_division_check(rounding=False)
_zero_div_check_mode = _bounds.integer_division_check(rounding=True)

op("add", _add, scalars=_BIN + ("alpha",), inplace=True, promote=True, dunders=("__add__",), rdunders=("__radd__",))
op(
    "sub",
    _sub,
    scalars=_BIN + ("alpha",),
    inplace=True,
    promote=True,
    dunders=("__sub__",),
    rdunders=("__rsub__",),
    check=_sub_check,
)
alias("subtract", "sub", check=_sub_check)
op("mul", jnp.multiply, scalars=_BIN, inplace=True, promote=True, dunders=("__mul__",), rdunders=("__rmul__",))
alias("multiply", "mul", inplace=True)
op(
    "div",
    _div,
    scalars=_BIN,
    inplace=True,
    promote=True,
    dunders=("__truediv__",),
    check=_zero_div_check_mode,
)


def _rtruediv(y, x):
    """``number / tensor``: torch's operator is ``tensor.reciprocal() * number`` (not a division;
    float16/bfloat16 multiply in float32 by the unrounded number, as torch's kernels do)."""
    r = _true_div(1, x)
    if r.dtype == jnp.float16 or r.dtype == jnp.bfloat16:
        return (r.astype(jnp.float32) * jnp.asarray(y).astype(jnp.float32)).astype(r.dtype)
    return r * y


op("_rtruediv", _rtruediv, scalars=(0,), function=False, method=False, rdunders=("__rtruediv__",))
alias("divide", "div", inplace=True, check=_zero_div_check_mode)
alias("true_divide", "div", inplace=True, check=_zero_div_check_mode)
op(
    "floor_divide",
    _floor_div,
    scalars=_BIN,
    inplace=True,
    promote=True,
    dunders=("__floordiv__",),
    rdunders=("__rfloordiv__",),
    check=_zero_div_check,
)
op(
    "remainder",
    jnp.remainder,
    scalars=_BIN,
    inplace=True,
    promote=True,
    dunders=("__mod__",),
    rdunders=("__rmod__",),
    check=_zero_div_check,
)
op("fmod", jnp.fmod, scalars=_BIN, inplace=True, promote=True, check=_zero_div_check)
op("pow", _pow, scalars=(0, "input"), inplace=True, promote=True, dunders=("__pow__",), rdunders=("__rpow__",))
op("float_power", lambda x, y: jnp.power(jnp.asarray(x, jnp.float32), y), scalars=_BIN)
op("atan2", jnp.arctan2, scalars=_BIN, inplace=True, promote=True)
alias("arctan2", "atan2")
op("hypot", jnp.hypot, scalars=_BIN, inplace=True, promote=True)
op("maximum", jnp.maximum, promote=True)
op("minimum", jnp.minimum, promote=True)


def _fmax(x, y):
    # torch: NaN-ignoring max that returns `input` at ties (its gradient goes to `input` there;
    # jnp.fmax splits it, and picks `other`'s sign at a -0/+0 tie)
    return jnp.where((x >= y) | jnp.isnan(y), x, y)


def _fmin(x, y):
    return jnp.where((x <= y) | jnp.isnan(y), x, y)


op("fmax", _fmax, promote=True)
op("fmin", _fmin, promote=True)


def _copysign(x, y):
    # torch's gradient w.r.t. `input` is result / input, set to 0 where input == 0 (jax's is +-1
    # there); w.r.t. `other` it is 0 (as jax's). At an infinite or NaN input torch's is NaN, jax's +-1.
    c = jnp.copysign(x, y)
    return jnp.where(x == 0, lax.stop_gradient(c), c)


op("copysign", _copysign, scalars=_BIN, inplace=True, promote=True)
op("xlogy", _xlogy, scalars=_BIN, inplace=True, promote=True)


def _lerp(x, end, weight):
    """torch.lerp: ``end`` and a tensor ``weight`` must have ``input``'s dtype (no promotion),
    which must be floating or complex (trace-time checks: every mode raises)."""

    def name(v):
        return _dtypes.c_type(v.dtype)

    if end.dtype != x.dtype:
        raise RuntimeError(f"expected dtype {name(x)} for `end` but got dtype {name(end)}")
    scalar = not hasattr(weight, "dtype") or getattr(getattr(weight, "aval", None), "weak_type", False)
    if not scalar and weight.dtype != x.dtype:
        raise RuntimeError(f"expected dtype {name(x)} for `weight` but got dtype {name(weight)}")
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        kernel = "lerp_kernel_scalar" if scalar else "lerp_kernel_tensor"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.torch_name(x.dtype)}'")
    return x + jnp.asarray(weight).astype(x.dtype) * (end - x) if scalar else x + weight * (end - x)


op("lerp", _lerp, scalars=(2, "weight"), inplace=True)
op("addcmul", lambda x, t1, t2, value=1: x + value * t1 * t2, scalars=("value",), inplace=True, promote=True)
op("addcdiv", lambda x, t1, t2, value=1: x + value * t1 / t2, scalars=("value",), inplace=True, promote=True)

# comparisons and logic (not differentiable; results are bool)
for _name, _fn, _d, _rd in [
    ("eq", jnp.equal, "__eq__", None),
    ("ne", jnp.not_equal, "__ne__", None),
    ("lt", jnp.less, "__lt__", "__gt__"),
    ("le", jnp.less_equal, "__le__", "__ge__"),
    ("gt", jnp.greater, "__gt__", "__lt__"),
    ("ge", jnp.greater_equal, "__ge__", "__le__"),
]:
    op(_name, _fn, scalars=_BIN, dunders=(_d,), differentiable=False, promote=True, inplace=True)
alias("greater", "gt")
alias("greater_equal", "ge")
alias("less", "lt")
alias("less_equal", "le")
alias("not_equal", "ne")
op("logical_and", jnp.logical_and, scalars=_BIN, differentiable=False, inplace=True)
op("logical_or", jnp.logical_or, scalars=_BIN, differentiable=False, inplace=True)
op("logical_xor", jnp.logical_xor, scalars=_BIN, differentiable=False, inplace=True)
op("logical_not", jnp.logical_not, differentiable=False, inplace=True)


def _bitwise(f, kernel: str):
    """``f`` refusing floating/complex operands with torch's NotImplementedError (its CPU
    kernel's name and the promoted dtype; a trace-time check, so every mode raises)."""

    def g(x, y):
        dt = jnp.result_type(x, y)
        if not (dt == jnp.bool_ or jnp.issubdtype(dt, jnp.integer)) or (kernel[1] == "s" and dt == jnp.bool_):
            raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.torch_name(dt)}'")
        return f(x, y)

    g.__name__ = f.__name__
    return g


def _bitwise_not(x):
    if not (x.dtype == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return jnp.logical_not(x) if x.dtype == jnp.bool_ else jnp.bitwise_not(x)


op(
    "bitwise_and",
    _bitwise(jnp.bitwise_and, "bitwise_and_cpu"),
    scalars=_BIN,
    differentiable=False,
    inplace=True,
    promote=True,
    dunders=("__and__",),
    rdunders=("__rand__",),
)
op(
    "bitwise_or",
    _bitwise(jnp.bitwise_or, "bitwise_or_cpu"),
    scalars=_BIN,
    differentiable=False,
    inplace=True,
    promote=True,
    dunders=("__or__",),
    rdunders=("__ror__",),
)
op(
    "bitwise_xor",
    _bitwise(jnp.bitwise_xor, "bitwise_xor_cpu"),
    scalars=_BIN,
    differentiable=False,
    inplace=True,
    promote=True,
    dunders=("__xor__",),
    rdunders=("__rxor__",),
)
op(
    "bitwise_not",
    _bitwise_not,
    differentiable=False,
    inplace=True,
    dunders=("__invert__",),
)
op(
    "bitwise_left_shift",
    _bitwise(jnp.left_shift, "lshift_cpu"),
    scalars=_BIN,
    differentiable=False,
    dunders=("__lshift__",),
)
op(
    "bitwise_right_shift",
    _bitwise(jnp.right_shift, "rshift_cpu"),
    scalars=_BIN,
    differentiable=False,
    dunders=("__rshift__",),
)


def _float_unary(f):
    """Unary math on ints returns the default float, as in torch."""

    def g(x):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            x = x.astype(jnp.float32)
        return f(x)

    g.__name__ = getattr(f, "__name__", "unary")
    return g


for _name, _fn in [
    ("exp", jnp.exp),
    ("exp2", jnp.exp2),
    ("expm1", jnp.expm1),
    ("log", jnp.log),
    ("log2", jnp.log2),
    ("log10", jnp.log10),
    ("log1p", jnp.log1p),
    ("sqrt", jnp.sqrt),
    ("rsqrt", lax.rsqrt),
    ("sin", jnp.sin),
    ("cos", jnp.cos),
    ("tan", jnp.tan),
    ("asin", jnp.arcsin),
    ("acos", jnp.arccos),
    ("atan", jnp.arctan),
    ("sinh", jnp.sinh),
    ("cosh", jnp.cosh),
    ("tanh", jnp.tanh),
    ("asinh", jnp.arcsinh),
    ("acosh", jnp.arccosh),
    ("atanh", jnp.arctanh),
    ("sigmoid", jax.nn.sigmoid),
    ("erf", jax.scipy.special.erf),
    ("erfc", jax.scipy.special.erfc),
    ("erfinv", jax.scipy.special.erfinv),
    ("lgamma", _lgamma),
    ("digamma", _se.digamma),
    ("reciprocal", lambda x: 1 / x),
    ("sinc", jnp.sinc),
    ("deg2rad", jnp.deg2rad),
    ("rad2deg", jnp.rad2deg),
    ("i0", _se.i0),
]:
    op(_name, _float_unary(_fn), inplace=True)


op("logit", _se.logit, inplace=True)
alias("arcsin", "asin")
alias("arccos", "acos")
alias("arctan", "atan")
alias("arcsinh", "asinh")
alias("arccosh", "acosh")
alias("arctanh", "atanh")
# ``torch.special.<name>`` rows: named ``special_<name>``, public as ``ej.special.<name>``.
alias("special_erf", "erf", method=False, function=False, namespaces=("special",))


def _int_preserving(f):
    """floor/ceil/round/trunc leave integer tensors unchanged, like torch."""

    def g(x, *a, **k):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            return x
        return f(x, *a, **k)

    return g


def _round(x, decimals=0):
    return jnp.round(x, decimals)


op("floor", _int_preserving(jnp.floor), inplace=True)
op("ceil", _int_preserving(jnp.ceil), inplace=True)
op("round", _int_preserving(_round), inplace=True)
op("trunc", _int_preserving(jnp.trunc), inplace=True)
alias("fix", "trunc", inplace=True)
op("frac", lambda x: x - jnp.trunc(x), inplace=True)
op("neg", _neg, inplace=True, dunders=("__neg__",))
alias("negative", "neg", inplace=True)


def _positive(x):
    if x.dtype == jnp.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return x


op("positive", _positive, dunders=("__pos__",))


def _abs(x):
    # x * sign(x): |x| with torch's gradient sign(x), which is 0 at 0 (jnp.abs's is 1).
    if (
        x.dtype == jnp.bool_
        or jnp.issubdtype(x.dtype, jnp.unsignedinteger)
        or jnp.issubdtype(x.dtype, jnp.complexfloating)
    ):
        return jnp.abs(x)
    return x * jnp.sign(x)


op("abs", _abs, inplace=True, dunders=("__abs__",))
alias("absolute", "abs", inplace=True)
op("sign", jnp.sign, inplace=True)
op("sgn", jnp.sign, inplace=True)
op("signbit", jnp.signbit, differentiable=False)
op("square", jnp.square, inplace=True)
op("relu", jax.nn.relu, inplace=True)
op("relu6", jax.nn.relu6, method=False)
op("gelu", lambda x, approximate="none": jax.nn.gelu(x, approximate=(approximate == "tanh")), method=False)
op("silu", jax.nn.silu, method=False)
op("mish", lambda x: x * jnp.tanh(jax.nn.softplus(x)), method=False)
op(
    "softplus",
    lambda x, beta=1.0, threshold=20.0: jnp.where(x * beta > threshold, x, jax.nn.softplus(x * beta) / beta),
    method=False,
)
op("elu", lambda x, alpha=1.0: jax.nn.elu(x, alpha), method=False)
op("selu", jax.nn.selu, method=False)
op("celu", lambda x, alpha=1.0: jax.nn.celu(x, alpha), method=False)
# torch's gradient at 0 is the slope (jax.nn.leaky_relu's is 1)
op("leaky_relu", lambda x, negative_slope=0.01: jnp.where(x > 0, x, x * negative_slope), method=False)


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    # torch's gradient is 1 strictly inside (min_val, max_val), 0 at the bounds and beyond. At
    # NaN torch's vectorized CPU kernel gives 0 and its scalar tail loop 1: 0 here.
    inside = (x > min_val) & (x < max_val)
    return jnp.where(inside, x, lax.stop_gradient(_clamp(x, min_val, max_val)))


op("hardtanh", _hardtanh, method=False)
op("hardsigmoid", jax.nn.hard_sigmoid, method=False)
op("hardswish", jax.nn.hard_swish, method=False)
op("logsigmoid", jax.nn.log_sigmoid, method=False)
op("softsign", jax.nn.soft_sign, method=False)
op("tanhshrink", lambda x: x - jnp.tanh(x), method=False)


def _clamp(x, min=None, max=None):
    """torch.clamp, written as selections so jax's gradients are torch's: ``input`` gets the
    gradient where ``min <= x <= max`` (bounds included), a tensor ``min`` where ``x < min < max``,
    a tensor ``max`` where ``x > max`` or ``max < min``. At a tie the value is ``x`` (torch's
    signed zero); NaN in ``x`` or a bound gives NaN (the ``maximum``/``minimum`` value)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    # torch's result dtype (tensor operands arrive promoted; Python numbers weakly typed): an
    # integer bound converts into an integer dtype as C++ does (-1 -> 255 for uint8)
    dt = jnp.result_type(x, *(b for b in (min, max) if b is not None))
    x = x if x.dtype == dt else x.astype(dt)
    lo = None if min is None else jnp.asarray(min).astype(dt)
    hi = None if max is None else jnp.asarray(max).astype(dt)
    val = x
    if lo is not None:
        val = jnp.maximum(val, lo)
    if hi is not None:
        val = jnp.minimum(val, hi)
    rest = lax.stop_gradient(val)  # NaNs, and x < min == max: no gradient anywhere (torch's too)
    if lo is None:
        return jnp.where(x <= hi, x, jnp.where(x > hi, hi, rest))
    if hi is None:
        return jnp.where(x >= lo, x, jnp.where(x < lo, lo, rest))
    to_hi = ((x > hi) | (hi < lo)) & ~jnp.isnan(x) & ~jnp.isnan(lo)
    return jnp.where((x >= lo) & (x <= hi), x, jnp.where((x < lo) & (lo < hi), lo, jnp.where(to_hi, hi, rest)))


def _clamp_check(x, min=None, max=None):
    """torch's refusals of clamp's Python-number bounds: one that does not fit the result
    dtype (``int8.clamp(-200, 200)``), complex operands (dtypes and numbers only: every mode)."""
    tmin, tmax = type(min), type(max)
    if tmin in _PLAIN and tmax in _PLAIN and type(x) is Tensor:  # (the common call: kept cheap)
        key = (x._value.dtype, tmin, tmax, _dtypes._default_float)
        hit = _CLAMP_FAST.get(key)
        if hit is None:
            _clamp_check_slow(x, min, max)
            dt = _CLAMP_TYPES[(_dtypes._default_float, (x._value.dtype, x.ndim == 0), tmin, tmax)]
            hit = _CLAMP_FAST[key] = (dt, _dtypes._limits(dt))
            return
        dt, lim = hit
        if (min is not None and _dtypes._outside(min, lim, dt)) or (max is not None and _dtypes._outside(max, lim, dt)):
            _dtypes.overflow_error(dt)
        return
    _clamp_check_slow(x, min, max)


def _clamp_check_slow(x, min, max):
    key = [_dtypes._default_float]
    scalars = []
    for v in (x, min, max):
        if isinstance(v, np.generic):
            v = v.item()
        t = type(v)
        if t is int or t is float or t is bool:
            key.append(t)
            scalars.append(v)
        elif t is complex:
            raise NotImplementedError("clamp is not supported for complex types")
        else:
            dt = getattr(getattr(v, "_value", None), "dtype", None)
            key.append(t if dt is None else (dt, len(v._value.shape) == 0))
    key = tuple(key)
    dt = _CLAMP_TYPES.get(key)
    if dt is None:
        shaped = [k[0] for k in key[1:] if type(k) is tuple and not k[1]]
        zero_dim = [k[0] for k in key[1:] if type(k) is tuple and k[1]]
        dt = _CLAMP_TYPES[key] = _dtypes.result_type(shaped, zero_dim, scalars)
    if _dtypes.is_complex(dt):
        raise NotImplementedError("clamp is not supported for complex types")
    for s in scalars:
        _dtypes.check_fits(s, dt)


_CLAMP_TYPES: dict = {}  # (default float, each operand's type or (dtype, is 0-d)) -> result dtype
_CLAMP_FAST: dict = {}  # (x's dtype, min's type, max's type, default float) -> (result dtype, its limits)
_PLAIN = frozenset((int, float, bool, type(None)))
_CLAMP_CHECK = every_mode(_clamp_check)
op("clamp", _clamp, scalars=(1, 2, "min", "max"), inplace=True, promote=True, check=_CLAMP_CHECK)
alias("clip", "clamp", inplace=True, check=_CLAMP_CHECK)
op(
    "clamp_min",
    lambda x, min: _clamp(x, min=min),
    scalars=(1, "min"),
    inplace=True,
    promote=True,
    check=every_mode(lambda x, min: _clamp_check(x, min=min)),
)
op(
    "clamp_max",
    lambda x, max: _clamp(x, max=max),
    scalars=(1, "max"),
    inplace=True,
    promote=True,
    check=every_mode(lambda x, max: _clamp_check(x, max=max)),
)
op("isnan", jnp.isnan, differentiable=False)
op("isinf", jnp.isinf, differentiable=False)
op("isposinf", jnp.isposinf, differentiable=False)
op("isneginf", jnp.isneginf, differentiable=False)
op("isfinite", jnp.isfinite, differentiable=False)
op("isreal", jnp.isreal, differentiable=False)
op(
    "nan_to_num",
    lambda x, nan=0.0, posinf=None, neginf=None: jnp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
    inplace=True,
)


def _where(cond, x=None, y=None):
    return jnp.where(cond, x, y)


# Public as ``ej.where``/``Tensor.where`` through _indexing.py (one-argument form, method argument order).
op("where", _where, scalars=(1, 2, "input", "other"), function=False, method=False, promote=True)
op("_cast", _dtypes.cast, function=False)  # (torch's CPU results for out-of-range float -> int)
op("clone", lambda x, memory_format=None: jnp.array(x, copy=True))
op("real", jnp.real, method=False)  # Tensor.real / .imag are properties (_tensor_extra)


def _imag(x):
    if not jnp.iscomplexobj(x):
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return jnp.imag(x)


op("imag", _imag, method=False)
op("conj", jnp.conj)


def _scalar_name(dt) -> str:
    from .._generate import _torch_name

    return _torch_name(jnp.dtype(dt))


def _view_as_real(x):
    if not jnp.iscomplexobj(x):
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def _view_as_complex(x):
    if x.dtype not in (jnp.float16, jnp.float32, jnp.float64):
        raise RuntimeError(
            "view_as_complex is only supported for half, float and double tensors, but got a tensor of scalar "
            f"type: {_scalar_name(x.dtype)}"
        )
    if x.ndim == 0 or x.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    x = x.astype(jnp.float32) if x.dtype == jnp.float16 else x  # (XLA has no complex32)
    return lax.complex(x[..., 0], x[..., 1])


def _complex(real, imag):
    for v in (real, imag):
        if v.dtype not in (jnp.float16, jnp.float32, jnp.float64):
            raise RuntimeError(
                f"Expected both inputs to be Half, Float or Double tensors but got {_scalar_name(real.dtype)} and "
                f"{_scalar_name(imag.dtype)}"
            )
    if real.dtype != imag.dtype:
        raise RuntimeError(
            f"Expected object of scalar type {_scalar_name(real.dtype)} but got scalar type "
            f"{_scalar_name(imag.dtype)} for second argument"
        )
    if real.dtype == jnp.float16:
        real, imag = real.astype(jnp.float32), imag.astype(jnp.float32)
    return lax.complex(*jnp.broadcast_arrays(real, imag))


# (views are copies here: Tensors are values, see the README)
op("view_as_real", _view_as_real, method=False)  # (torch has no Tensor method forms)
op("view_as_complex", _view_as_complex, method=False)
op("complex", _complex, method=False)
op("polar", lambda abs, angle: _complex(abs * jnp.cos(angle), abs * jnp.sin(angle)), method=False)


def _angle(x):
    if jnp.iscomplexobj(x):
        return jnp.angle(x)
    # torch, for a real input: pi below zero, 0 at and above (-0.0 included: atan2 gives pi),
    # NaN for NaN, and a zero gradient (atan2(0, x)'s is NaN at x == 0)
    x = lax.stop_gradient(x)
    out = jnp.angle(x)
    return jnp.where((x < 0) | jnp.isnan(x), out, jnp.zeros((), out.dtype))


op("angle", _angle)


op(
    "isclose",
    lambda x, y, rtol=1e-05, atol=1e-08, equal_nan=False: jnp.isclose(x, y, rtol, atol, equal_nan),
    differentiable=False,
    promote=True,
)
op("logaddexp", jnp.logaddexp, promote=True)
op("logaddexp2", jnp.logaddexp2, promote=True)
op(
    "heaviside",
    lambda x, values: jnp.heaviside(x, values).astype(jnp.result_type(x, values)),
    promote=True,
    differentiable=False,
    inplace=True,
)
op("gcd", jnp.gcd, promote=True, differentiable=False, inplace=True)
op("lcm", jnp.lcm, promote=True, differentiable=False, inplace=True)


def _nextafter(x, y):
    # torch differentiates nextafter: gradient 1 w.r.t. `input` where x != y, 0 w.r.t. `other`.
    # The value is exactly jnp.nextafter's: n - (x - x) keeps -0.0 and NaN. XLA's CPU
    # arithmetic flushes subnormals, so a zero or subnormal result is only selected (no
    # gradient there), and an infinite x stays off the gradient path (inf - inf): torch's
    # gradient is 1 at those points too, the only places where this row differs.
    n = jnp.nextafter(lax.stop_gradient(x), lax.stop_gradient(y))
    xm = jnp.where((x != y) & ~jnp.isinf(x), x, jnp.zeros((), x.dtype))
    tiny = jnp.abs(n) < jnp.finfo(n.dtype).tiny
    return jnp.where(tiny, n, n - (lax.stop_gradient(xm) - xm))


op("nextafter", _nextafter, promote=True, inplace=True)
op("ldexp", lambda x, other: _float_unary(lambda a: a * jnp.exp2(other))(x), promote=True, inplace=True)
op("rsub", lambda x, y, alpha=1: _sub(y, x, alpha), scalars=_BIN, promote=True, method=False, check=_rsub_check)


op("polygamma", _se.polygamma, method=False)
op(
    "special_xlog1py",
    _se.xlog1py,
    scalars=_BIN,
    promote=True,
    method=False,
    function=False,
    namespaces=("special",),
)
