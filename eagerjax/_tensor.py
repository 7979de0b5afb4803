"""``Tensor`` and ``Parameter``: a jax array plus autograd bookkeeping.

A Tensor's value is a concrete ``jax.Array`` in eager mode, a tracer while a
step is being captured, or a pending ``LazyValue`` in lazy mode; all three flow
through the same ops. Every write of a Tensor's value goes through
``_assign`` and every write of ``.grad`` through its setter, so capture can see
and undo them. Math methods and operators are generated from the op table
(``_generate.py``); this file holds only what is not an op.
"""

from __future__ import annotations

import builtins
import operator
import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _dtypes
from ._repr import tensor_repr
from ._state import bump_state, flags


class Tensor:
    __slots__ = (
        "_value",
        "_rg",  # requires_grad (the property below checks user writes)
        "_grad",
        "_node",
        "_idx",
        "_version",
        "_retain",
        "_hooks",
        "_name",
        "__weakref__",
    )
    __array_priority__ = 1000  # numpy defers `ndarray * Tensor` to Tensor.__rmul__

    def __init__(self, *args: Any, dtype=None, requires_grad: bool = False) -> None:
        """torch's legacy constructor: ``Tensor(data)`` or ``Tensor(*sizes)``, always of the
        default float dtype (``ej.Tensor([1, 2])`` is float32; ``ej.tensor`` infers)."""
        dtype = dtype if dtype is not None else _dtypes.get_default_dtype()
        if args and (all(type(a) is int for a in args) or (len(args) == 1 and type(args[0]) is Size)):
            sizes = tuple(args[0]) if type(args[0]) is Size else args
            value = jnp.zeros(sizes, dtype)  # (torch leaves it uninitialized)
        elif len(args) > 1:
            raise TypeError(f"Tensor(): expected data or sizes, got {len(args)} arguments of types "
                            f"{', '.join(type(a).__name__ for a in args)}")  # fmt: skip
        else:
            value = _to_array(args[0] if args else [], dtype)
        self._value = value
        self._rg = False
        self._grad = None
        self._node = None
        self._idx = 0
        self._version = 0
        self._retain = False
        self._hooks = None
        self._name = None
        if requires_grad:
            self._require_grad()
        m = flags.mode
        if m is not None:
            m.note_new(self)

    # -- construction used by dispatch (no checks, no conversion) -----------------
    @classmethod
    def _make(cls, value, requires_grad: bool = False, node=None, idx: int = 0) -> Tensor:
        t = object.__new__(cls)
        t._value = value
        t._rg = requires_grad
        t._grad = None
        t._node = node
        t._idx = idx
        t._version = 0
        t._retain = False
        t._hooks = None
        t._name = None
        m = flags.mode
        if m is not None:
            m.note_new(t)
        return t

    @classmethod
    def _bare(cls) -> Tensor:
        """A new ``cls`` with ``_make``'s default fields and no value, unseen by the mode: for
        subclasses that hold their value elsewhere (the caller tells the mode if it must)."""
        t = object.__new__(cls)
        t._rg = False
        t._grad = None
        t._node = None
        t._idx = 0
        t._version = 0
        t._retain = False
        t._hooks = None
        t._name = None
        return t

    # -- value access ----------------------------------------------------------------
    def _read(self):
        """The value for computing with it (noted as a read by an active capture)."""
        m = flags.mode
        if m is not None:
            return m.note_read(self)
        return self._value

    def _assign(self, value) -> None:
        """Replace the value in place (in-place ops, optimizer updates, ``.data =``)."""
        m = flags.mode
        if m is not None:
            m.note_write(self)
        self._value = value
        self._version += 1

    @staticmethod
    def _assign_all(ts: list, values) -> None:
        """``t._assign(v)`` for each pair: the mode hears of all the writes at once."""
        m = flags.mode
        if m is not None:
            m.note_writes(ts)
        for t, v in zip(ts, values):
            t._value = v
            t._version += 1

    def _concrete(self, what: str):
        """The value as a concrete array, for host reads (``item``, ``numpy``, ``bool``)."""
        m = flags.mode
        if m is not None:
            return m.host_read(self, what)
        return self._value

    # -- metadata ------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return Size(self._value.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._value.dtype)

    @property
    def ndim(self) -> int:
        return len(self._value.shape)

    @property
    def device(self) -> Device:
        return default_device()

    @property
    def is_cuda(self) -> bool:
        return default_device().type == "cuda"

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_floating_point_(self) -> bool:
        return _dtypes.is_floating(self.dtype)

    def is_floating_point(self) -> bool:
        return _dtypes.is_floating(self.dtype)

    def is_complex(self) -> bool:
        return _dtypes.is_complex(self.dtype)

    def size(self, dim: int | None = None):
        s = self._value.shape
        if dim is None:
            return Size(s)
        return s[_wrap_dim(dim, len(s))]

    def dim(self) -> int:
        return len(self._value.shape)

    ndimension = dim

    def numel(self) -> int:
        n = 1
        for d in self._value.shape:
            n *= d
        return n

    nelement = numel

    def element_size(self) -> int:
        return np.dtype(self._value.dtype).itemsize

    def __len__(self) -> int:
        if not self._value.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._value.shape[0]

    def __iter__(self):
        if not self._value.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._value.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    def __reversed__(self) -> Tensor:
        return self if not self._value.shape else self.flip(0)

    def __contains__(self, element) -> bool:
        if isinstance(element, (Tensor, bool, int, float, complex, np.number, np.bool_)):
            return bool((self == element).any())
        raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}.")

    is_nested = False  # (torch.nested's tensors say True)
    # layouts and backends eagerjax never has (its conj() and neg() results are materialized:
    # is_conj()/is_neg() answer False, as for torch's resolved tensors)
    is_sparse = is_sparse_csr = is_quantized = is_meta = is_mkldnn = is_mps = is_xla = False

    # -- grad --------------------------------------------------------------------------
    @property
    def grad(self) -> Tensor | None:
        m = flags.mode
        if m is not None:
            m.note_grad_access(self)
        return self._grad

    @grad.setter
    def grad(self, g: Tensor | None) -> None:
        if g is not None:
            if not isinstance(g, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type {type(g).__name__}"
                )
            if tuple(g.shape) != tuple(self.shape):
                raise RuntimeError(
                    f"assigned grad has data of a different size: grad {tuple(g.shape)} vs tensor {tuple(self.shape)}"
                )
            if g._value.dtype != self._value.dtype:
                # torch's rule (its grad_dtype defaults to the tensor's dtype); ej.compile also
                # relies on it: a dead .grad's buffer is donated for the new one (same aval)
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{g.dtype.name}' to a tensor with "
                    f"dtype '{self.dtype.name}'. The gradient must match the tensor's dtype."
                )
        m = flags.mode
        if m is not None:
            m.note_grad(self)
        self._grad = g

    # A property over the ``_rg`` slot: reads stay a C call; a user's write is checked as
    # torch does (``requires_grad_`` below and library code use ``_set_rg``, which may set
    # True on a non-leaf).
    requires_grad = property(operator.attrgetter("_rg"))

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        _check_rg_write(self, value)
        self._rg = value

    def _require_grad(self) -> Tensor:
        """``requires_grad=True`` given to a factory or constructor (torch's message differs
        from ``requires_grad_()``'s)."""
        if not (_dtypes.is_floating(self.dtype) or _dtypes.is_complex(self.dtype)):
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        return self.requires_grad_(True)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not (_dtypes.is_floating(self.dtype) or _dtypes.is_complex(self.dtype)):
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self._node is not None:
            _check_rg_write(self, False)
        _set_rg(self, requires_grad)
        return self

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._node is not None and not self._retain:
            self._retain = True
            n = self._node
            if n.retained is None:
                n.retained = {}
            n.retained[self._idx] = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self._retain

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None
        return value replaces the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is not None:
            n = self._node
            if n.hooks is None:
                n.hooks = {}
            hooks = n.hooks.setdefault(self._idx, [])
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook, _tells_steps(self))

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        from ._autograd import backward

        backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        v = self._read()
        # Traced (a func transform, a differentiable compiled call): a constant to JAX too.
        return Tensor._make(jax.lax.stop_gradient(v) if isinstance(v, jax.core.Tracer) else v)

    def detach_(self) -> Tensor:
        self._node = None
        self._rg = False
        return self

    @property
    def data(self) -> Tensor:
        # A detached alias: in-place ops on it write through to this tensor.
        return _DataAlias._alias(self)

    @data.setter
    def data(self, other: Tensor) -> None:
        v = other._read() if isinstance(other, Tensor) else _to_array(other, None)
        self._assign(v)

    # -- host reads ----------------------------------------------------------------
    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return np.asarray(self._concrete("Tensor.item()")).reshape(()).item()

    def tolist(self):
        return np.asarray(self._concrete("Tensor.tolist()")).tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return np.asarray(self._concrete("Tensor.numpy()"))

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self._concrete("numpy.asarray(Tensor)"))
        return a.astype(dtype) if dtype is not None else a

    def __jax_array__(self):
        return self._read()

    def _scalar(self, what: str):
        if self.numel() != 1:
            if what == "bool(Tensor)":
                n = "no values" if self.numel() == 0 else "more than one value"
                raise RuntimeError(f"Boolean value of Tensor with {n} is ambiguous")
            raise ValueError("only one element tensors can be converted to Python scalars")
        return np.asarray(self._concrete(what)).reshape(()).item()

    def __bool__(self) -> bool:
        return bool(self._scalar("bool(Tensor)"))

    def __float__(self) -> float:
        return float(self._scalar("float(Tensor)"))

    def __int__(self) -> int:
        return int(self._scalar("int(Tensor)"))

    def __complex__(self) -> complex:
        return complex(self._scalar("complex(Tensor)"))

    def __index__(self) -> int:
        if not _dtypes.is_integer(self.dtype) or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._scalar("Tensor.__index__"))

    def __format__(self, spec: str) -> str:
        # torch: a 0-d tensor formats as its Python number (f"{loss}" -> "0.5"); any other
        # takes no format spec
        if self.ndim == 0 and not isinstance(self, Parameter):
            if not spec and isinstance(self._value, jax.core.Tracer):
                return str(self)  # (inside a compiled step's trace: no value to format)
            return format(self.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return str(self)

    def __repr__(self) -> str:
        return _repr(self)

    __str__ = __repr__

    # -- conversions (thin wrappers over the `to_dtype` op) ---------------------------
    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; devices are ignored (JAX places arrays)."""
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)  # (XLA owns the physical layout)
        device = kwargs.pop("device", None)
        if isinstance(device, str):
            Device(device)  # (checks the name)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str):
                Device(a)  # a device name (checked; nothing moves)
            elif isinstance(a, Device) or a is None:
                continue
            else:
                dtype = a
        if dtype is None or _dtypes.to_dtype(dtype) == self.dtype:
            return self.clone() if copy else self
        return self._cast(_dtypes.to_dtype(dtype))

    def type(self, dtype=None):
        if dtype is None:
            return _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
        if isinstance(dtype, type) and f"torch.{dtype.__name__}" in _TYPE_NAMES.values():
            dtype = f"torch.{dtype.__name__}"  # ej.IntTensor & co.
        if isinstance(dtype, str):  # 'torch.FloatTensor' (also 'torch.cuda.FloatTensor')
            name = dtype.replace("torch.cuda.", "torch.")
            match = [d for d, n in _TYPE_NAMES.items() if n == name]
            if not match:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = _dtypes.to_dtype(np.dtype(match[0]))
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        return self.to(_dtypes.float64)

    def half(self) -> Tensor:
        return self.to(_dtypes.float16)

    def bfloat16(self) -> Tensor:
        return self.to(_dtypes.bfloat16)

    def long(self) -> Tensor:
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        return self.to(_dtypes.int32)

    def short(self) -> Tensor:
        return self.to(_dtypes.int16)

    def bool(self) -> Tensor:
        return self.to(_dtypes.bool_)

    def byte(self) -> Tensor:
        return self.to(_dtypes.uint8)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *a, **k) -> Tensor:
        return self

    def contiguous(self, memory_format=None) -> Tensor:
        return self

    def is_contiguous(self, memory_format=None) -> bool:
        return True

    def pin_memory(self) -> Tensor:
        return self

    def share_memory_(self) -> Tensor:
        return self

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        _check_matrices(self, "mT")
        return self.transpose(-2, -1)

    @property
    def H(self) -> Tensor:
        n = self.ndim
        if n != 0 and n != 2:
            more = " For batches of matrices, consider using tensor.mH" if n > 2 else ""
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {n}-D tensor.{more}")
        return self.T.conj()

    @property
    def mH(self) -> Tensor:
        _check_matrices(self, "mH")
        return self.mT.conj()

    def __reduce_ex__(self, protocol):
        return (_rebuild, (type(self), np.asarray(self._concrete("pickle")), self.requires_grad))

    def __deepcopy__(self, memo):
        if self._node is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment."
            )
        t = type(self)._make(self._value, self.requires_grad)
        if self._grad is not None:
            t._grad = Tensor._make(self._grad._value)
        memo[id(self)] = t
        return t


def _check_matrices(t: Tensor, name: str) -> None:
    if t.ndim == 1:
        raise RuntimeError(
            f"tensor.{name} is only supported on matrices or batches of matrices. Got {t.ndim}-D tensor."
        )


_REQUIRES_GRAD = Tensor.__dict__["_rg"]  # the slot Parameter's property wraps


def _check_rg_write(t: Tensor, value) -> None:
    """torch's checks of ``t.requires_grad = value``: a non-leaf's flag cannot be set at all
    (``requires_grad_(True)`` can: it calls ``_set_rg``), and only float/complex tensors can
    start requiring grad."""
    try:
        node = t._node
    except AttributeError:  # (being made)
        node = None
    if node is not None:
        msg = "you can only change requires_grad flags of leaf variables."
        if not value:
            msg += (
                " If you want to use a computed variable in a subgraph that doesn't require "
                "differentiation use var_no_grad = var.detach()."
            )
        raise RuntimeError(msg)
    if value and not getattr(t, "_rg", False) and not (_dtypes.is_floating(t.dtype) or _dtypes.is_complex(t.dtype)):
        raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")


def _set_rg(t: Tensor, value: bool) -> None:
    """Set ``t``'s flag without the user-facing checks (library code: in-place results,
    restored state); a Parameter whose flag changes still tells compiled steps."""
    if isinstance(t, Parameter) and t._rg != value:
        t._rg = value
        bump_state()
    else:
        t._rg = value


_VALUE_SLOT = Tensor.__dict__["_value"]


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter; requires grad by default."""

    __slots__ = ()

    @property
    def requires_grad(self) -> bool:
        return _REQUIRES_GRAD.__get__(self, Parameter)

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        # Freezing or unfreezing changes what a compiled step writes: it must find its state again.
        try:
            changed = _REQUIRES_GRAD.__get__(self, Parameter) != value
        except AttributeError:  # (being made)
            changed = False
        _check_rg_write(self, value)
        _REQUIRES_GRAD.__set__(self, value)
        if changed:
            bump_state()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = Tensor._make(jnp.zeros((0,), _dtypes.get_default_dtype()))
        value = data._read() if isinstance(data, Tensor) else _to_array(data, None)
        return Parameter._make(value, False)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if requires_grad:
            self._require_grad()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + _repr(self)

    __str__ = __repr__  # (print(p) shows it too, as torch's does)


def _rebuild(cls, array, requires_grad):
    if cls is Parameter:
        return Parameter(Tensor._make(jnp.asarray(array)), requires_grad)
    t = cls._make(jnp.asarray(array))
    _set_rg(t, requires_grad)
    return t


class _CopiesArePlain:
    """For Tensor subclasses that only change how the value is held (an alias, a packed
    grad): their copies and pickles are plain tensors of the current value."""

    __slots__ = ()

    def __reduce_ex__(self, protocol):
        return (_rebuild, (Tensor, np.asarray(self._concrete("pickle")), self.requires_grad))

    def __deepcopy__(self, memo):
        t = Tensor._make(self._value, self.requires_grad)
        memo[id(self)] = t
        return t


class _DataAlias(_CopiesArePlain, Tensor):
    """``t.data``: shares t's value; in-place writes go to both (torch's shared storage)."""

    __slots__ = ("_owner",)

    @classmethod
    def _alias(cls, owner: Tensor) -> _DataAlias:
        mode = flags.mode
        flags.mode = None  # made first, noted once it has its owner (its value is the owner's)
        try:
            a = cls._make(owner._value)
        finally:
            flags.mode = mode
        a._owner = owner
        if mode is not None:
            mode.note_new(a)
        return a

    # The value *is* the owner's (a property over the owner's slot): a write to either is
    # seen through the other, eager or captured, as with torch's shared storage.
    @property
    def _value(self):
        return self._owner._value

    @_value.setter
    def _value(self, value) -> None:
        _VALUE_SLOT.__set__(self, value)  # (what lazy mode's raw-slot reads see)
        owner = getattr(self, "_owner", None)
        if owner is not None:  # (None while being made: the owner already holds it)
            owner._value = value

    def _read(self):
        return self._owner._read()

    def _assign(self, value) -> None:
        Tensor._assign(self, value)
        self._owner._assign(value)


class Size(tuple):
    """torch.Size: a tuple with ``numel()``."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    # slices, concatenations and repeats stay Sizes (as torch's)
    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if type(i) is slice else r

    def __add__(self, other):
        if not isinstance(other, tuple):
            raise TypeError(f"can only concatenate tuple (not {type(other).__name__}) to torch.Size")
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__


# torch's device types, in its order (its error message lists them)
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                 "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")  # fmt: skip


class Device:
    __slots__ = ("type", "index")

    def __init__(self, type: str = "cpu", index: int | None = None) -> None:
        if isinstance(type, Device):
            type, index = type.type, type.index
        name, colon, num = str(type).partition(":")
        if name not in _DEVICE_TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start of device string: {type}"
            )
        if colon and not (num.isdigit() and (num == "0" or num[0] != "0")):
            raise RuntimeError(f"Invalid device string: '{type}'")
        if index is not None:
            if builtins.type(index) is not int:
                raise TypeError(
                    f"device(): argument 'index' (position 2) must be int, not {builtins.type(index).__name__}"
                )
            if index < 0:
                raise RuntimeError("Device index must not be negative")
        self.type = name
        self.index = int(num) if num and index is None else index

    def __repr__(self) -> str:
        return (
            f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"
        )

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)


def not_a_tensor(fn: str, name: str, pos: int, x) -> TypeError:
    """torch's argument error: ``mm(): argument 'mat2' (position 2) must be Tensor, not list``."""
    t = type(x)
    tname = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    return TypeError(f"{fn}(): argument '{name}' (position {pos}) must be Tensor, not {tname}")


_CHECKED_DEVICES: set = set()


def check_device(device) -> None:
    """torch's check of a ``device=`` argument (every tensor lives on JAX's default device, so
    the argument is only checked): a misspelled type or a bad index raises as torch's does."""
    if device is None or isinstance(device, Device) or device in _CHECKED_DEVICES:
        return
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:
            raise RuntimeError("Device index must not be negative")
        return
    Device(device)
    if isinstance(device, str):
        _CHECKED_DEVICES.add(device)


_PLATFORM_NAMES = {"gpu": "cuda", "cuda": "cuda", "rocm": "cuda", "tpu": "xla"}  # torch's names
_default_device: list = []


def default_device() -> Device:
    """Where eagerjax's arrays live: JAX's default device, in torch's words (``cuda:0`` for
    a GPU; ``cpu``). Every tensor is placed there, so it is each tensor's ``.device``."""
    if not _default_device:
        d = jax.devices()[0]
        kind = _PLATFORM_NAMES.get(d.platform, d.platform)
        _default_device.append(Device("cpu") if kind == "cpu" else Device(kind, d.id))
    return _default_device[0]


def _tells_steps(t: Tensor) -> bool:
    """Whether a gradient hook registered on ``t`` must tell compiled steps (and does, by
    bumping the state epoch): a Parameter's, whose hooks a step that reads it as state traces
    in. Not a plain leaf's (an input a loop hooks anew each step would rediscover every call)."""
    if isinstance(t, Parameter):
        bump_state()
        return True
    return False


class _HookHandle:
    def __init__(self, hooks: list, hook, tells_steps: bool = False) -> None:
        self._hooks = hooks
        self._hook = hook
        self._tells = tells_steps

    def remove(self) -> None:
        try:
            self._hooks.remove(self._hook)
        except ValueError:
            return
        if self._tells:
            bump_state()


_TYPE_NAMES = {
    "float32": "torch.FloatTensor",
    "float64": "torch.DoubleTensor",
    "float16": "torch.HalfTensor",
    "bfloat16": "torch.BFloat16Tensor",
    "int64": "torch.LongTensor",
    "int32": "torch.IntTensor",
    "int16": "torch.ShortTensor",
    "int8": "torch.CharTensor",
    "uint8": "torch.ByteTensor",
    "bool": "torch.BoolTensor",
}


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def _infer_dtype(data) -> np.dtype | None:
    """torch.tensor's dtype inference for nested Python data: the promotion of every leaf's
    type (Python float: the default dtype, int: int64, bool, complex; a Tensor's or a NumPy
    scalar's own dtype), so ``[tensor(1.5, dtype=float16), 2]`` is float16."""
    found = set()
    first = []

    def walk(x):
        t = type(x)
        if t is list or t is tuple:
            for y in x:
                walk(y)
            return
        if not first:
            first.append(x)
        if t is float or t is int or t is bool or t is complex:
            found.add(t)
        elif isinstance(x, Tensor):
            found.add(x.dtype)
        elif isinstance(x, (np.generic, np.ndarray)):  # (an array in the list: its own dtype)
            found.add(_dtypes.to_dtype(x.dtype))
        elif isinstance(x, (bool, int, float, complex)):
            found.add(float if isinstance(x, float) else int if isinstance(x, int) else complex)
        elif isinstance(x, (list, tuple)):
            walk(list(x))
        elif isinstance(x, str):
            if first[0] is x and x is not data:
                raise ValueError("too many dimensions 'str'")
            raise TypeError("new(): invalid data type 'str'")
        elif not isinstance(x, np.ndarray):
            raise RuntimeError(f"Could not infer dtype of {type(x).__name__}")

    walk(data)
    res = None
    for d in found:
        d = _PY_DTYPES[d]() if d in _PY_DTYPES else d
        res = d if res is None else np.dtype(jnp.promote_types(res, d))
    return _dtypes.get_default_dtype() if res is None else res


_PY_DTYPES = {
    float: _dtypes.get_default_dtype,
    int: lambda: _dtypes.int64,
    bool: lambda: _dtypes.bool_,
    complex: lambda: _dtypes.complex64,
}


def _check_ragged(data) -> None:
    """torch's error for a nested list whose rows differ in length (the first mismatch)."""

    def shape(x):
        return len(x) if isinstance(x, (list, tuple)) else None

    def walk(x, dim, want):
        n = shape(x)
        if n != (want[dim] if dim < len(want) else None):
            if n is None:
                raise TypeError("not a sequence")
            if dim >= len(want):
                raise TypeError(f"'{type(x).__name__}' object cannot be interpreted as an integer")
            raise ValueError(f"expected sequence of length {want[dim]} at dim {dim} (got {n})")
        if n:
            for y in x:
                walk(y, dim + 1, want)

    want = []
    x = data
    while isinstance(x, (list, tuple)):
        want.append(len(x))
        if not x:
            break
        x = x[0]
    walk(data, 0, want)


def _device_array(a: np.ndarray):
    """A concrete jax array holding host data, even inside a trace, without an XLA compile.
    ``a`` must be the caller's own and never written again: the transfer may read it after
    this returns, or alias its memory.

    (``jnp.asarray`` under ``ensure_compile_time_eval`` stages a copy through a tiny jitted
    program per shape, which a first compiled step would pay once per parameter shape.)
    """
    with jax.ensure_compile_time_eval():
        return jax.device_put(a)


def _host_array(a: np.ndarray):
    """``a`` (the caller's own) as a tensor's value: a transfer in eager and lazy mode (no
    program compiled per shape); while a step is captured, a constant of its trace, as
    ``jnp.asarray`` makes it, so a tensor made inside the step is the step's own value and
    not state that it reads (a concrete one, written in place, would be discovered anew
    on every pass and never settle)."""
    m = flags.mode
    if m is None or getattr(m, "is_lazy", False):
        return _device_array(a)
    return jnp.asarray(a)


def _to_array(data, dtype):
    """Anything array-like -> jax array with torch's dtype inference."""
    dtype = _dtypes.to_dtype(dtype)
    if isinstance(data, Tensor):
        v = data._read()
        return v if dtype is None or v.dtype == dtype else v.astype(dtype)
    if isinstance(data, (jax.Array, jax.core.Tracer)):
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    if isinstance(data, np.ndarray):
        # (not jnp.asarray(data): that stages host data through a program compiled per
        # shape, ~20 ms for every new shape a user makes a tensor of; a copy: the caller
        # may write to its array as soon as this returns)
        return _host_array(np.array(data)) if dtype is None else jnp.asarray(data, dtype=dtype)
    if isinstance(data, (list, tuple)):
        if dtype is None:
            dtype = _infer_dtype(data)
        if any(isinstance(x, Tensor) for x in _flat(data)):
            return jnp.asarray(_tensors_to_np(data), dtype=dtype)
        try:
            return _host_array(np.asarray(data, dtype=dtype))
        except ValueError:
            _check_ragged(data)  # (torch's message for ragged data)
            raise
    if isinstance(data, np.generic):  # a NumPy scalar keeps its dtype (np.float16(1.5): float16)
        return _host_array(np.asarray(data, dtype=dtype or _dtypes.to_dtype(data.dtype)))
    if isinstance(data, (bool, int, float, complex)):
        if dtype is None:
            dtype = _infer_dtype([data])
        return _host_array(np.asarray(data, dtype=dtype))
    if dtype is None:
        _infer_dtype(data)  # (torch's errors for a str, None, a dict, ...)
    return jnp.asarray(np.asarray(data), dtype=dtype)


def _flat(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _flat(y)
    else:
        yield x


def _tensors_to_np(x):
    if isinstance(x, (list, tuple)):
        return [_tensors_to_np(y) for y in x]
    if isinstance(x, Tensor):
        if x.numel() != 1:  # torch reads each tensor in a list as a number
            if _dtypes.is_floating(x.dtype) or _dtypes.is_complex(x.dtype):
                raise ValueError("only one element tensors can be converted to Python scalars")
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return np.asarray(x._concrete("torch.tensor(list of Tensors)")).reshape(())
    return x


def _repr(t: Tensor) -> str:
    v = t._value
    if type(v).__name__ == "LazyValue":
        v = t._concrete("print(Tensor)")  # printing is a host read: lazy mode flushes
    if isinstance(v, jax.core.Tracer):
        # print() inside a compiled step (once, while it is traced): say what is known
        return f"tensor(<traced: shape {tuple(v.shape)} dtype {np.dtype(v.dtype).name}; no values while tracing>)"
    if not isinstance(v, (jax.Array, np.ndarray)):
        body = f"<{type(v).__name__} shape={tuple(v.shape)} dtype={np.dtype(v.dtype).name}>"
        return f"tensor({body})"
    a = np.asarray(v)
    grad_fn = t._node.name() if t._node is not None else None
    dev = default_device()
    return tensor_repr(a, a.dtype.name, grad_fn, t.requires_grad, None if dev.type == "cpu" else str(dev))
