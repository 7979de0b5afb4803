"""Small torch utilities at the top level and on Tensor: ``detach``/``fill``/``zero_``,
``scalar_tensor``, ``asarray``, ``range``, ``broadcast_shapes``, the ``is_*`` queries,
``set_printoptions``, default-device and global-flag accessors, and Tensor methods such as
``split_with_sizes``, ``get_device``, ``layout`` and legacy ``new``.

eagerjax has no conjugate/negative bits, no inference tensors and one layout, so the
queries about them answer the constant torch gives an ordinary tensor (``is_conj`` False,
``resolve_conj(x) is x``, ``layout`` is ``strided``). All math goes through rows, so
``fill``/``range`` work under ``ej.compile`` and ``ej.lazy()``.
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections.abc import Sequence

import numpy as np

from . import _anomaly, _dtypes, _repr
from ._autograd import INFERENCE_MODE
from ._dispatch import dispatch
from ._factories import tensor
from ._generate import functional
from ._ops._registry import OPS
from ._tensor import Device, Size, Tensor, default_device

__all__ = [
    "asarray",
    "broadcast_shapes",
    "detach",
    "detach_",
    "fill",
    "fill_",
    "get_default_device",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_conj",
    "is_inference",
    "is_inference_mode_enabled",
    "is_neg",
    "is_nonzero",
    "is_same_size",
    "is_signed",
    "is_warn_always_enabled",
    "layout",
    "range",
    "resolve_conj",
    "resolve_neg",
    "scalar_tensor",
    "set_anomaly_enabled",
    "set_default_device",
    "set_printoptions",
    "set_warn_always",
    "split_with_sizes",
    "strided",
    "sym_float",
    "sym_int",
    "sym_ite",
    "sym_max",
    "sym_min",
    "sym_not",
    "sym_sqrt",
    "sym_sum",
    "memory_format",
    "contiguous_format",
    "preserve_format",
    "channels_last",
    "channels_last_3d",
    "typename",
    "unsafe_chunk",
    "unsafe_split",
    "unsafe_split_with_sizes",
    "zero_",
]


class layout:  # noqa: N801 - torch's name
    """torch.layout; eagerjax tensors are all dense, so ``strided`` is the only instance."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"torch.{self._name}"

    def __reduce__(self):
        return (_layout_named, (self._name,))


strided = layout("strided")


def _layout_named(name: str) -> layout:
    return strided


class memory_format:  # noqa: N801 - torch's name
    """torch.memory_format: accepted where torch takes one; XLA owns the physical layout, so
    every format gives the same values and ``is_contiguous()`` answers True."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"torch.{self._name}"

    def __reduce__(self):
        return (_memory_format_named, (self._name,))


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def _memory_format_named(name: str) -> memory_format:
    return globals()[name]


# --------------------------------------------------------------------------- Tensor methods
def _is_nonzero(self: Tensor) -> bool:
    """``bool(x)`` of a one-element tensor, with torch's errors for any other size (a host read)."""
    n = self.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return builtins.bool(self)


def _is_same_size(self: Tensor, other: Tensor) -> bool:
    return tuple(self.shape) == tuple(other.shape)


def _is_signed(self: Tensor) -> bool:
    d = np.dtype(self.dtype)
    return not (d == np.bool_ or d.kind == "u")


def _false(self: Tensor) -> bool:
    return False


def _itself(self: Tensor) -> Tensor:
    return self


def _split_with_sizes(self: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    return functional.split(self, [int(s) for s in split_sizes], dim)


def _unsafe_chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    return functional.chunk(self, chunks, dim)


def _unsafe_split(self: Tensor, split_size: int, dim: int = 0) -> tuple[Tensor, ...]:
    return functional.split(self, split_size, dim)


def _get_device(self: Tensor) -> int:
    """-1 for a CPU tensor, else the accelerator's index."""
    d = default_device()
    return -1 if d.type == "cpu" else (d.index or 0)


def _new(self: Tensor, *args, device=None) -> Tensor:
    """Legacy ``x.new(data)`` / ``x.new(*sizes)`` / ``x.new()``: a tensor of ``x``'s dtype."""
    if len(args) == 1 and isinstance(args[0], Tensor):
        if args[0].dtype != self.dtype:
            raise TypeError(
                f"expected a tensor of dtype {np.dtype(self.dtype).name} (got {np.dtype(args[0].dtype).name})"
            )
        return args[0]
    if not args:
        return Tensor._make(np.zeros((0,), np.dtype(self.dtype)))
    return Tensor(*args, dtype=self.dtype)


def _to(dtype):
    def f(self: Tensor) -> Tensor:
        return self.to(dtype)

    return f


def _conj_physical_(self: Tensor) -> Tensor:
    from ._toplevel import conj_physical_

    return conj_physical_(self)


_METHODS = {
    "is_nonzero": _is_nonzero,
    "is_same_size": _is_same_size,
    "is_signed": _is_signed,
    "is_conj": _false,
    "is_neg": _false,
    "is_inference": _false,
    "resolve_conj": _itself,
    "resolve_neg": _itself,
    "conj_physical": lambda self: functional.conj(self),
    "conj_physical_": _conj_physical_,
    "split_with_sizes": _split_with_sizes,
    "unsafe_chunk": _unsafe_chunk,
    "unsafe_split": _unsafe_split,
    "unsafe_split_with_sizes": _split_with_sizes,
    "get_device": _get_device,
    "is_cpu": property(lambda self: default_device().type == "cpu"),
    "layout": property(lambda self: strided),
    "cdouble": _to(_dtypes._canon("complex128")),  # complex64 unless jax_enable_x64
    "cfloat": _to(_dtypes.complex64),
    "char": _to(_dtypes.int8),
    "new": _new,
}
for _name, _f in _METHODS.items():
    if _name not in vars(Tensor):  # a row's generated method (if one is added) wins
        setattr(Tensor, _name, _f)


# --------------------------------------------------------------------------- top-level functions
def detach(input: Tensor) -> Tensor:
    return input.detach()


def detach_(input: Tensor) -> Tensor:
    return input.detach_()


def fill(input: Tensor, value) -> Tensor:
    """A new tensor shaped like ``input`` full of ``value`` (differentiable in a tensor ``value``)."""
    return dispatch(OPS["_fill"], (input, value), {})


def fill_(input: Tensor, value) -> Tensor:
    return input.fill_(value)


def zero_(input: Tensor) -> Tensor:
    return input.zero_()


is_nonzero = _is_nonzero
is_same_size = _is_same_size
is_signed = _is_signed
is_conj = _false
is_neg = _false
is_inference = _false
resolve_conj = _itself
resolve_neg = _itself
split_with_sizes = _split_with_sizes
unsafe_chunk = _unsafe_chunk
unsafe_split = _unsafe_split
unsafe_split_with_sizes = _split_with_sizes


def scalar_tensor(
    s, *, dtype=None, layout=None, device=None, pin_memory: bool | None = None, requires_grad: bool = False
) -> Tensor:
    """A 0-d tensor holding ``s``, of the default float dtype unless ``dtype`` says otherwise."""
    return tensor(s, dtype=dtype or _dtypes.get_default_dtype(), requires_grad=requires_grad)


def asarray(obj, *, dtype=None, device=None, copy: bool | None = None, requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor: a tensor itself when no copy or conversion is needed (as in torch;
    other inputs are always copied, since eagerjax tensors never share memory with NumPy)."""
    if device is not None:
        Device(device)  # (checks the name; nothing moves)
    d = _dtypes.to_dtype(dtype)
    if isinstance(obj, Tensor):
        if d is not None and d != obj.dtype:
            if copy is False:
                raise ValueError(
                    f"can't alias tensor with dtype '{_type_word(obj.dtype)}' into dtype '{_type_word(d)}'."
                )
            out = obj.to(d)
        else:
            out = obj.clone() if copy else obj
    else:
        out = tensor(obj.detach() if isinstance(obj, Tensor) else obj, dtype=d)
    if requires_grad:
        out._require_grad()
    return out


def _type_word(d) -> str:
    from ._generate import _torch_name

    return _torch_name(np.dtype(d))


_RANGE_WARNING = (
    "torch.range is deprecated and will be removed in a future release because its behavior is inconsistent "
    "with Python's range builtin. Instead, use torch.arange, which produces values in [start, end)."
)


def range(  # noqa: A001 - torch.range
    start, end, step=1, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad: bool = False
) -> Tensor:
    """Deprecated torch.range: ``start, start + step, ...`` up to and *including* ``end``,
    of the default float dtype unless ``dtype`` is given (warns, as torch does)."""
    warnings.warn(_RANGE_WARNING, UserWarning, stacklevel=2)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    n = int(math.floor((end - start) / step)) + 1
    d = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
    out = functional.arange(n, dtype=d) * step + start
    if out.dtype != d:
        out = out.to(d)
    return out._require_grad() if requires_grad else out


def broadcast_shapes(*shapes) -> Size:
    """The shape all ``shapes`` broadcast to (computed from the shapes alone, no tensors)."""
    result: list[int] = []
    for k, shp in enumerate(shapes):
        shp = (int(shp),) if isinstance(shp, (int, np.integer)) else tuple(int(s) for s in shp)
        if len(shp) > len(result):
            result = [1] * (len(shp) - len(result)) + result
        for i in builtins.range(1, len(shp) + 1):
            a, b = result[-i], shp[-i]
            if a == 1:
                result[-i] = b
            elif b != 1 and b != a:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {b} at {-i}! Mismatching argument at index {k} "
                    f"had {shp}; but expected shape should be broadcastable to {result}"
                )
    return Size(result)


def typename(obj) -> str:
    """``'torch.FloatTensor'`` for a tensor, else the object's (or its type's) dotted name."""
    if isinstance(obj, Tensor):
        return obj.type()
    if isinstance(obj, np.dtype):
        return "torch.dtype"  # eagerjax's dtypes stand for torch's
    named = obj if hasattr(obj, "__qualname__") else type(obj)
    module = getattr(named, "__module__", None)
    if module in (None, "", "builtins"):
        return named.__qualname__
    return f"{module}.{named.__qualname__}"


_PROFILES = {
    "default": {"PRECISION": 4, "THRESHOLD": 1000, "EDGEITEMS": 3, "LINEWIDTH": 80},
    "short": {"PRECISION": 2, "THRESHOLD": 1000, "EDGEITEMS": 2, "LINEWIDTH": 80},
    "full": {"PRECISION": 4, "THRESHOLD": math.inf, "EDGEITEMS": 3, "LINEWIDTH": 80},
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Tensor printing options (torch's): a ``profile`` first, then each option given.
    ``sci_mode`` is always reset (None: chosen from the values), as in torch."""
    for k, v in _PROFILES.get(profile, {}).items():
        setattr(_repr, k, v)
    for k, v in (("PRECISION", precision), ("THRESHOLD", threshold), ("EDGEITEMS", edgeitems)):
        if v is not None:
            setattr(_repr, k, v)
    if linewidth is not None:
        _repr.LINEWIDTH = linewidth
    _repr.SCI_MODE = sci_mode


def get_default_device() -> Device:
    """The device every tensor lives on (JAX's default device, in torch's words)."""
    return default_device()


def set_default_device(device) -> None:
    """Accepts only the device tensors already live on (or None): eagerjax places every
    array on JAX's default device and cannot make another one the default."""
    if device is None:
        return
    d = Device(device) if not isinstance(device, Device) else device
    if d != default_device():
        raise RuntimeError(
            f"set_default_device({str(device)!r}): eagerjax places every tensor on JAX's default device "
            f"({default_device()}); choose the device through JAX (e.g. JAX_PLATFORMS) before importing eagerjax"
        )


def is_inference_mode_enabled() -> bool:
    return INFERENCE_MODE[0]


is_anomaly_enabled = _anomaly.is_anomaly_enabled
is_anomaly_check_nan_enabled = _anomaly.is_anomaly_check_nan_enabled


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    _anomaly.set_detect_anomaly(enabled, check_nan)


_WARN_ALWAYS = [False]


def set_warn_always(b: bool) -> None:
    """Stored for ``is_warn_always_enabled`` (eagerjax's own once-only warnings ignore it)."""
    _WARN_ALWAYS[0] = builtins.bool(b)


def is_warn_always_enabled() -> bool:
    return _WARN_ALWAYS[0]


# --------------------------------------------------------------------------- torch.sym_* on plain numbers
# eagerjax has no symbolic shapes: every size is a Python int, so these are torch's answers for
# plain ints/floats/bools (and NumPy scalars, which torch also accepts).
_SYM_NUMBERS = (np.integer, np.floating, int, float)  # (in the order torch's message lists them)


def _sym_minmax(pick, a, b):
    for v in (a, b):
        if not isinstance(v, _SYM_NUMBERS):
            raise AssertionError(f"expected {_SYM_NUMBERS}, got {type(v)}")
    if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
        return builtins.float(pick(a, b))
    return pick(a, b)


def sym_max(a, b):
    """``max(a, b)``, a float if either is one (torch.sym_max)."""
    return _sym_minmax(builtins.max, a, b)


def sym_min(a, b):
    """``min(a, b)``, a float if either is one (torch.sym_min)."""
    return _sym_minmax(builtins.min, a, b)


def sym_int(a):
    """``int(a)`` (torch.sym_int)."""
    return builtins.int(a)


def sym_float(a):
    """``float(a)`` (torch.sym_float)."""
    return builtins.float(a)


def sym_not(a):
    """``not a`` (torch.sym_not)."""
    return not a


def sym_sqrt(a):
    """``math.sqrt(a)`` (torch.sym_sqrt)."""
    return math.sqrt(a)


def sym_sum(*args):
    """``sum(args)``; takes ``sym_sum([a, b])`` or ``sym_sum(a, b)`` (torch.sym_sum)."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    return builtins.sum(args)


def sym_ite(b, t, f):
    """``t if b else f`` for a bool ``b`` and same-typed ``t``, ``f`` (torch.sym_ite)."""
    if not isinstance(b, builtins.bool):
        raise AssertionError(f"expected SymBool or bool, got {type(b)}")
    if type(t) is not type(f):
        raise AssertionError(f"type mismatch: {type(t)} vs {type(f)}")
    return t if b else f
