"""More torch top-level utilities and Tensor methods (no op rows): DLPack exchange
(``from_dlpack`` / ``to_dlpack``, ``Tensor.__dlpack__``), ``frombuffer``, the randomized
``svd_lowrank`` / ``pca_lowrank``, ``grid_sampler_2d`` / ``_3d``, torch's legacy autocast
accessors, ``set_flush_denormal``, ``get_device``, ``is_storage``,
``set_default_tensor_type``, ``fork`` / ``wait``, and ``Tensor.apply_`` / ``map_`` /
``map2_`` / ``data_ptr`` / ``chalf``.

Differences from torch: ``frombuffer`` copies (a jax array never aliases a Python
buffer); ``from_dlpack`` takes objects with ``__dlpack__`` (torch tensors, NumPy arrays,
jax arrays), not bare capsules; ``set_flush_denormal`` answers False (XLA decides how
denormals are handled); ``fork`` runs the function at once; ``clear_autocast_cache`` has
nothing to clear (an autocast region casts inside each op's kernel, so there is no weight
cache) and ``ej.autocast`` regions leave the nesting counter alone; ``data_ptr`` changes
after an in-place op (the tensor then holds a new buffer); complex32 (``chalf``) has no
JAX dtype. ``apply_`` / ``map_`` / ``map2_`` call Python per element on the host, so
``ej.compile`` refuses them as it refuses ``.tolist()``.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np

from . import _autocast, _dtypes
from ._factories import LEGACY_DTYPES, LEGACY_TYPES, tensor
from ._tensor import Tensor

__all__ = [
    "autocast_decrement_nesting",
    "autocast_increment_nesting",
    "clear_autocast_cache",
    "fork",
    "from_dlpack",
    "frombuffer",
    "get_autocast_cpu_dtype",
    "get_autocast_gpu_dtype",
    "get_device",
    "grid_sampler_2d",
    "grid_sampler_3d",
    "is_autocast_cache_enabled",
    "is_autocast_cpu_enabled",
    "is_storage",
    "pca_lowrank",
    "set_autocast_cache_enabled",
    "set_autocast_cpu_dtype",
    "set_autocast_cpu_enabled",
    "set_autocast_dtype",
    "set_autocast_enabled",
    "set_autocast_gpu_dtype",
    "set_default_tensor_type",
    "set_flush_denormal",
    "svd_lowrank",
    "to_dlpack",
    "wait",
]


def _ej():
    import eagerjax

    return eagerjax


def _type_error(fn: str, arg: str, pos: int, want: str, got) -> TypeError:
    return TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be {want}, not {type(got).__name__}")


# --------------------------------------------------------------------------- DLPack, frombuffer
def from_dlpack(ext_tensor, *, device=None, copy=None) -> Tensor:
    """A tensor over ``ext_tensor``'s memory (an object with ``__dlpack__``: a torch tensor, a
    NumPy or jax array); a dtype eagerjax narrows (float64 without ``jax_enable_x64``) is cast."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor.clone() if copy else ext_tensor
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(
            "from_dlpack(): expected an object with __dlpack__ and __dlpack_device__ methods (a torch tensor, a "
            f"NumPy or jax array), got {type(ext_tensor).__name__}"
        )
    arr = jax.dlpack.from_dlpack(ext_tensor, copy=copy)
    want = _dtypes.to_dtype(arr.dtype)
    return Tensor._make(arr if arr.dtype == want else arr.astype(want))


def to_dlpack(tensor: Tensor):
    """torch.to_dlpack: a DLPack capsule of ``tensor``'s buffer (consumable once)."""
    if not isinstance(tensor, Tensor):
        raise _type_error("to_dlpack", "tensor", 1, "Tensor", tensor)
    return tensor._concrete("to_dlpack()").__dlpack__()


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad: bool = False) -> Tensor:
    """A 1-D tensor of ``buffer``'s bytes read as ``dtype`` (torch's checks and messages).
    Unlike torch's, the result is a copy: writing to ``buffer`` later does not change it."""
    try:
        mv = memoryview(buffer)
    except TypeError:
        raise ValueError("object does not implement Python buffer protocol.") from None
    dt = np.dtype(_dtypes.to_dtype(dtype)) if not isinstance(dtype, np.dtype) else dtype
    size, n = dt.itemsize, mv.nbytes
    if n <= 0 or count == 0:
        raise ValueError(f"both buffer length ({n}) and count ({count}) must not be 0")
    if offset < 0 or offset >= n:
        raise ValueError(
            f"offset ({offset} bytes) must be non-negative and no greater than buffer length ({n} bytes) minus 1"
        )
    if count < 0:
        if (n - offset) % size:
            raise ValueError(
                f"buffer length ({n - offset} bytes) after offset ({offset} bytes) must be a multiple of element "
                f"size ({size})"
            )
        count = (n - offset) // size
    elif offset + count * size > n:
        raise ValueError(
            f"requested buffer length ({count} * {size} bytes) after offset ({offset} bytes) must not be greater "
            f"than actual buffer length ({n} bytes)"
        )
    data = np.frombuffer(mv.cast("B"), dtype=dt, count=count, offset=offset).copy()
    return tensor(data, dtype=dtype, requires_grad=requires_grad)


def _tensor_dlpack(self: Tensor, *args, **kwargs):
    return self._concrete("Tensor.__dlpack__()").__dlpack__(*args, **kwargs)


def _tensor_dlpack_device(self: Tensor):
    return self._concrete("Tensor.__dlpack_device__()").__dlpack_device__()


# --------------------------------------------------------------------------- svd_lowrank / pca_lowrank
def _approximate_basis(A: Tensor, q: int, niter: int, M: Tensor | None) -> Tensor:
    """Halko et al. (2009), algorithm 4.4, as torch's ``get_approximate_basis``."""
    ej = _ej()
    dtype = A.dtype if (A.is_floating_point() or A.is_complex()) else ej.float32
    R = ej.randn(A.shape[-1], q, dtype=dtype)  # (eagerjax's generator: ej.manual_seed repeats it)
    X = A @ R if M is None else A @ R - M @ R
    Q = ej.linalg.qr(X).Q
    for _ in range(niter):
        X = A.mH @ Q if M is None else A.mH @ Q - M.mH @ Q
        Q = ej.linalg.qr(X).Q
        X = A @ Q if M is None else A @ Q - M @ Q
        Q = ej.linalg.qr(X).Q
    return Q


def _svd_lowrank(A: Tensor, q: int | None, niter: int | None, M: Tensor | None):
    ej = _ej()
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(A.shape)
    if m < n:
        A = A.mH
        M = None if M is None else M.mH
    Q = _approximate_basis(A, q, niter, M)
    B = Q.mH @ A if M is None else Q.mH @ A - Q.mH @ M
    U, S, Vh = ej.linalg.svd(B, full_matrices=False)
    V, U = Vh.mH, Q @ U
    return (V, S, U) if m < n else (U, S, V)


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None):
    """torch.svd_lowrank: ``(U, S, V)`` with ``A - M ~ U diag(S) V^H`` from a randomized range
    finder (torch's algorithm; the random matrix comes from eagerjax's generator, so the
    values differ from torch's for the same seed, the approximation quality does not)."""
    return _svd_lowrank(A, q, niter, M)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2):
    """torch.pca_lowrank: ``svd_lowrank`` of ``A`` with its column means removed (``center``)."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not (q >= 0 and q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not (niter >= 0):
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return _svd_lowrank(A, q, niter, None)
    return _svd_lowrank(A - A.mean(dim=(-2,), keepdim=True), q, niter, None)


# --------------------------------------------------------------------------- grid_sampler_2d / _3d
def _grid_sampler_nd(nd: int):
    name = f"grid_sampler_{nd}d"

    def sampler(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool):
        for pos, arg, v in ((3, "interpolation_mode", interpolation_mode), (4, "padding_mode", padding_mode)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise _type_error(name, arg, pos, "int", v)
        if input.dim() != nd + 2 or grid.dim() != nd + 2:
            raise RuntimeError(
                f"grid_sampler(): expected {nd + 2}D input and grid with same number of dimensions, but got input "
                f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
            )
        from ._toplevel import grid_sampler

        return grid_sampler(input, grid, int(interpolation_mode), int(padding_mode), align_corners)

    sampler.__name__ = sampler.__qualname__ = name
    sampler.__doc__ = f"torch.{name}: ``grid_sampler`` restricted to {nd + 2}-D inputs (ATen's int mode codes)."
    return sampler


grid_sampler_2d = _grid_sampler_nd(2)
grid_sampler_3d = _grid_sampler_nd(3)


# --------------------------------------------------------------------------- legacy autocast API
def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"torch.{old} is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def set_autocast_enabled(*args) -> None:
    """``set_autocast_enabled(enabled)`` (CUDA) or ``set_autocast_enabled(device_type, enabled)``:
    switch autocasting on or off for a device type outside any ``with ej.autocast``."""
    device, enabled = ("cuda", args[0]) if len(args) == 1 else args
    if not isinstance(enabled, bool):
        raise _type_error("set_autocast_enabled", "enabled", len(args), "bool", enabled)
    _autocast._check_device(device)
    _autocast._set(_autocast._with(device, enabled, _autocast._get(device)[1]))


def set_autocast_dtype(device_type: str, dtype) -> None:
    """The dtype autocasting on ``device_type`` uses (and ``ej.autocast(device_type)``'s default)."""
    _autocast._check_device(device_type)
    enabled = _autocast._get(device_type)[0]
    _autocast._set(_autocast._with(device_type, enabled, _dtypes.to_dtype(dtype)))


def is_autocast_cpu_enabled() -> bool:
    _deprecated("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return _autocast.is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    _deprecated("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def get_autocast_cpu_dtype():
    _deprecated("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return _autocast.get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    _deprecated("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return _autocast.get_autocast_dtype("cuda")


def set_autocast_cpu_dtype(dtype) -> None:
    _deprecated("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def set_autocast_gpu_dtype(dtype) -> None:
    _deprecated("set_autocast_gpu_dtype(dtype)", "set_autocast_dtype('cuda', dtype)")
    set_autocast_dtype("cuda", dtype)


_cache = {"enabled": True, "nesting": 0}


def clear_autocast_cache() -> None:
    """Nothing to clear: eagerjax's autocast casts inside each op's kernel (no weight cache)."""


def is_autocast_cache_enabled() -> bool:
    return _cache["enabled"]


def set_autocast_cache_enabled(enabled: bool) -> None:
    if not isinstance(enabled, bool):
        raise _type_error("set_autocast_cache_enabled", "enabled", 1, "bool", enabled)
    _cache["enabled"] = enabled


def autocast_increment_nesting() -> int:
    """torch's autocast nesting counter (returns the new depth; ``ej.autocast`` does not touch it)."""
    _cache["nesting"] += 1
    return _cache["nesting"]


def autocast_decrement_nesting() -> int:
    _cache["nesting"] -= 1
    return _cache["nesting"]


# --------------------------------------------------------------------------- small utilities
def set_flush_denormal(mode: bool) -> bool:
    """False: XLA decides how denormals are handled; eagerjax cannot switch it (torch answers
    True where the CPU supports flushing)."""
    return False


def get_device(input: Tensor) -> int:
    """-1 for a CPU tensor, else the accelerator's index (``Tensor.get_device``)."""
    if not isinstance(input, Tensor):
        raise _type_error("get_device", "input", 1, "Tensor", input)
    return input.get_device()


def is_storage(obj) -> bool:
    """False: eagerjax has no storage objects."""
    return False


def set_default_tensor_type(t) -> None:
    """Legacy: set the default dtype from a type (``ej.DoubleTensor``) or its name
    (``"torch.FloatTensor"``); only floating types are accepted, as torch."""
    warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use torch.set_default_dtype() "
        "and torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    name = t.rsplit(".", 1)[-1] if isinstance(t, str) else getattr(t, "__name__", None)
    if name not in LEGACY_DTYPES or not (isinstance(t, str) or t is LEGACY_TYPES[name] or _is_torch_type(t)):
        raise TypeError("invalid type object: only floating-point types are supported as the default type")
    dtype = LEGACY_DTYPES[name]
    if not _dtypes.is_floating(dtype):
        raise TypeError("only floating-point types are supported as the default type")
    _ej().set_default_dtype(dtype)


def _is_torch_type(t) -> bool:
    return getattr(t, "__module__", "").split(".")[0] == "torch"


class Future:
    """What ``fork`` returns: the result, computed already (``wait()`` / ``value()``)."""

    def __init__(self, result) -> None:
        self._result = result

    def wait(self):
        return self._result

    value = wait

    def done(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<eagerjax Future (done)>"


def fork(func, *args, **kwargs) -> Future:
    """torch.fork: ``func(*args, **kwargs)`` runs now (eagerjax has no asynchronous interpreter)."""
    return Future(func(*args, **kwargs))


def wait(fut: Future):
    """torch.wait: the future's result."""
    return fut.wait()


# --------------------------------------------------------------------------- apply_ / map_ / map2_
def _host_map(self: Tensor, name: str, fn, others: tuple) -> Tensor:
    if self.requires_grad:
        raise RuntimeError(f"Can't call {name}() on Variable that requires grad. Use var.detach().{name}() instead.")
    legacy = f"torch.{_dtypes.torch_name(self.dtype)}Tensor"
    arrs = []
    for arg, o in zip(("other",) if len(others) == 1 else ("x", "y"), others):
        if not isinstance(o, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(o).__name__}")
        if o.dtype != self.dtype:
            raise TypeError(f"{name}: expected {legacy} for '{arg}' (got torch.{_dtypes.torch_name(o.dtype)}Tensor)")
        arrs.append(np.asarray(o.expand(*self.shape)._concrete(f"Tensor.{name}()")).reshape(-1).tolist())
    a = np.asarray(self._concrete(f"Tensor.{name}()"))
    vals = [fn(*v) for v in zip(a.reshape(-1).tolist(), *arrs)]
    out = np.asarray(vals).astype(a.dtype).reshape(a.shape) if vals else a
    with _ej().no_grad():
        self.copy_(tensor(out, dtype=self.dtype))
    return self


def _apply_(self: Tensor, callable) -> Tensor:
    """Replace each element by ``callable(element)`` (a Python number; CPU-style host loop)."""
    return _host_map(self, "apply_", callable, ())


def _map_(self: Tensor, tensor: Tensor, callable) -> Tensor:
    """``self[i] = callable(self[i], tensor[i])`` with ``tensor`` broadcast to ``self``."""
    return _host_map(self, "map_", callable, (tensor,))


def _map2_(self: Tensor, x: Tensor, y: Tensor, callable) -> Tensor:
    """``self[i] = callable(self[i], x[i], y[i])`` with ``x``/``y`` broadcast to ``self``."""
    return _host_map(self, "map2_", callable, (x, y))


def _data_ptr(self: Tensor) -> int:
    """The address of the tensor's device buffer (0 when empty). An in-place op gives the tensor
    a new buffer, so the address changes (torch's stays)."""
    if self.numel() == 0:
        return 0
    v = self._concrete("Tensor.data_ptr()")
    try:
        return int(v.unsafe_buffer_pointer())
    except Exception:  # (a sharded or deleted array: a stable stand-in)
        return id(v)


def _chalf(self: Tensor, memory_format=None) -> Tensor:
    raise TypeError(
        "chalf(): torch.complex32 (ComplexHalf) is not supported: JAX has no complex32 dtype; use cfloat() "
        "(complex64) instead"
    )


for _n, _f in (
    ("apply_", _apply_),
    ("map_", _map_),
    ("map2_", _map2_),
    ("data_ptr", _data_ptr),
    ("chalf", _chalf),
    ("__dlpack__", _tensor_dlpack),
    ("__dlpack_device__", _tensor_dlpack_device),
):
    setattr(Tensor, _n, _f)
