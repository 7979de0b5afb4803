"""dtypes: torch names for numpy/jax dtypes, and torch's type-promotion rules.

JAX runs with 64-bit types disabled by default. We keep that (it is what XLA is
fast at and what the rest of a JAX program expects) and make the 64-bit names
*aliases* of their canonical 32-bit storage: ``ej.int64 is ej.int32`` and
``ej.float64 is ej.float32`` unless the user enabled ``jax_enable_x64`` before
importing eagerjax. So ``labels.long()``, ``dtype=torch.long`` and
``t.dtype == torch.long`` all work, with int32 storage.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

dtype = np.dtype  # the public type of ``Tensor.dtype``


def _canon(name: str) -> np.dtype:
    return np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(name)))


float32 = float_ = np.dtype("float32")
float16 = half = np.dtype("float16")
bfloat16 = np.dtype(jnp.bfloat16)
float64 = double = _canon("float64")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = int_ = np.dtype("int32")
int64 = long = _canon("int64")
uint8 = np.dtype("uint8")
uint32 = np.dtype("uint32")
bool_ = np.dtype("bool")
complex64 = cfloat = np.dtype("complex64")

_default_float = float32


def get_default_dtype() -> np.dtype:
    return _default_float


def set_default_dtype(d) -> None:
    """Set the dtype of float tensors made from Python floats (float32 by default)."""
    global _default_float
    d = to_dtype(d)
    if not is_floating(d):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def to_dtype(d) -> np.dtype | None:
    """Normalize any dtype spelling (np/jnp dtype, type, string, None) to a canonical np.dtype."""
    if d is None:
        return None
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    d = np.dtype(d)
    return np.dtype(jax.dtypes.canonicalize_dtype(d))


_TORCH_NAMES = {
    "float32": "Float",
    "float64": "Double",
    "float16": "Half",
    "bfloat16": "BFloat16",
    "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def torch_name(d) -> str:
    """torch's C++ name of a dtype, as its error messages spell it (``Float``, ``Long``, ``Bool``)."""
    name = jnp.dtype(d).name
    return _TORCH_NAMES.get(name, name)


# torch's C++ type names as its kernels print them (gcc's spelling: "long int", "c10::Half")
# in dtype-mismatch messages ("expected m1 and m2 to have the same dtype, but got: ...")
_CPP_TYPES = {
    "float32": "float",
    "float64": "double",
    "float16": "c10::Half",
    "bfloat16": "c10::BFloat16",
    "int64": "long int",
    "int32": "int",
    "int16": "short int",
    "int8": "signed char",
    "uint8": "unsigned char",
    "bool": "bool",
    "complex64": "c10::complex<float>",
    "complex128": "c10::complex<double>",
}


# ... and the fixed-width spellings of its overflow checks ("cannot be converted to type int8_t")
_FIXED_WIDTH = {"int64": "int64_t", "int16": "int16_t", "int8": "int8_t", "uint8": "uint8_t"}
_FIXED_WIDTH.update({f"uint{n}": f"uint{n}_t" for n in (16, 32, 64)})


def c_type(d, fixed_width: bool = False) -> str:
    """torch's C++ name of dtype ``d`` in its kernels' messages (``float``, ``c10::Half``;
    ``fixed_width``: ``int8_t`` where gcc says ``signed char``)."""
    name = np.dtype(d).name
    if fixed_width and name in _FIXED_WIDTH:
        return _FIXED_WIDTH[name]
    return _CPP_TYPES.get(name, name)


def is_floating(d: np.dtype) -> bool:
    return jnp.issubdtype(d, jnp.floating)


def is_complex(d: np.dtype) -> bool:
    return jnp.issubdtype(d, jnp.complexfloating)


def is_integer(d: np.dtype) -> bool:
    return jnp.issubdtype(d, jnp.integer)


def _category(d: np.dtype) -> int:
    if d == bool_:
        return 0
    if jnp.issubdtype(d, jnp.integer):
        return 1
    if jnp.issubdtype(d, jnp.floating):
        return 2
    return 3


def _scalar_category(x) -> int:
    if isinstance(x, bool):
        return 0
    if isinstance(x, int):
        return 1
    if isinstance(x, float):
        return 2
    return 3


def result_type(shaped: list, zero_dim: list, scalars: list) -> np.dtype:
    """torch.result_type over operands, grouped as torch ranks them.

    ``shaped`` are dtypes of tensors with ndim > 0, ``zero_dim`` of 0-d tensors,
    ``scalars`` Python numbers. A lower group only matters when its category
    (bool < int < float < complex) is higher than every higher group's.
    """
    res = None
    cat = -1
    for group in (shaped, zero_dim):
        if not group:
            continue
        g = group[0]
        for d in group[1:]:
            g = jnp.promote_types(g, d)
        gcat = _category(g)
        if res is None:
            res, cat = g, gcat
        elif gcat > cat:
            res, cat = g, gcat
    if scalars:
        scat = max(_scalar_category(s) for s in scalars)
        if res is None or scat > cat:
            if scat == 0:
                res = bool_
            elif scat == 1:
                res = int64
            elif scat == 2:
                res = _default_float if res is None or cat < 2 else res
            else:
                res = complex64
    return np.dtype(res)


def _limits(d: np.dtype) -> tuple:
    """(kind, lowest, highest) of a dtype: "b" bool, "f" floating/complex (the real part's finite
    range), "u" unsigned, "i" signed; cached (checks run on every call of the rows using them)."""
    lim = _LIMITS.get(d)
    if lim is None:
        if d == bool_:
            lim = ("b", 0, 1)
        elif is_floating(d) or is_complex(d):
            info = jnp.finfo(d)
            lim = ("f", float(info.min), float(info.max))
        else:
            info = np.iinfo(d)
            lim = ("u" if info.min == 0 else "i", int(info.min), int(info.max))
        _LIMITS[d] = lim
    return lim


_LIMITS: dict = {}


def _overflows(value, d: np.dtype) -> bool:
    """torch's check of a Python number converted to a tensor's dtype (``fill_``, ``clamp``,
    ``masked_fill``): a float out of a floating dtype's finite range (inf and NaN pass), any
    value out of an integer dtype's range (NaN and inf included; a negative *integer* may wrap
    into an unsigned dtype down to ``-max``); bool targets take anything."""
    return _outside(value, _limits(d), d)


def _outside(value, lim: tuple, d: np.dtype) -> bool:
    """``_overflows`` given the dtype's ``_limits``."""
    kind, lo, hi = lim
    if kind == "b":
        return False
    if isinstance(value, complex):
        if kind == "f" and is_complex(d):
            return _overflows(value.real, d) or _overflows(value.imag, d)
        value = value.real
    if kind == "f":
        if isinstance(value, float) and (value != value or abs(value) == float("inf")):
            return False
        return abs(value) > hi
    if isinstance(value, int):  # (bool too)
        if kind == "u" and value < 0:
            return -value > hi
        return not lo <= value <= hi
    return not (value == value and lo <= value <= hi)


def check_fits(value, d, *, half_checked: bool = True) -> None:
    """torch's ``RuntimeError: value cannot be converted to type uint8_t without overflow``
    when the Python number ``value`` does not fit dtype ``d`` (``full``, ``fill_``,
    ``masked_fill``, ``clamp``). A complex number with an imaginary part fits only complex
    dtypes. For float16/bfloat16, ``half_checked=False`` is torch's one-element fill, which
    converts through double unchecked."""
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) not in (int, float, complex, bool):
        return
    d = np.dtype(d)
    half = d == float16 or d == bfloat16
    if type(value) is complex and not is_complex(d) and d != bool_:
        if value.imag != 0:
            overflow_error(d if half_checked or not half else np.dtype("float64"))
        value = value.real
    if half and not half_checked:
        return
    if _overflows(value, d):
        overflow_error(d)


def overflow_error(d: np.dtype):
    raise RuntimeError(f"value cannot be converted to type {c_type(d, fixed_width=True)} without overflow")


def cast(x, d):
    """``x.astype(d)`` with torch's x86 CPU results for floats out of an integer dtype's range:
    the value goes through a 32-bit integer conversion (64-bit for a 64-bit target), which
    gives INT_MIN for NaN, inf and anything out of its range, and narrower integers keep the
    low bits (``-1.0`` -> 255 as uint8, ``300.0`` -> 44). In-range values truncate toward zero,
    as ``astype`` does. A jax function (traced inside kernels)."""
    d = np.dtype(d)
    src = np.dtype(x.dtype)
    if not (is_floating(src) and is_integer(d)):
        return x.astype(d)
    it = np.dtype("int64") if d.itemsize == 8 else int32  # (int64 only with 64-bit types on)
    bits = 8 * it.itemsize
    f = x if src.itemsize >= 4 else x.astype(float32)
    lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1)
    ok = (f >= lo) & (f < hi)
    i = jnp.where(ok, jnp.where(ok, f, 0).astype(it), jnp.iinfo(it).min)
    return i if i.dtype == d else i.astype(d)
