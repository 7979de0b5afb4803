"""Mixed precision: torch's ``autocast`` (``ej.autocast``, ``ej.amp.autocast``).

The policy lives here, in one table per device type keyed by torch's op names, as
torch's own ``autocast_mode.cpp`` lists them: which ops run in the region's low
precision dtype (``_LOWER``: matmuls, convolutions, attention, ...), which in float32
(``_FP32``: losses, ``prod``, linear algebra, ...) and which in the widest dtype of their
inputs (``_PROMOTE``); every other op follows normal type promotion. An op-table row
names its torch op through ``OpDef.autocast`` (its own name without the leading
underscore, a fixed name, or a function of its static keyword arguments when that
decides the torch op: an RNN's mode, a pooling's dimensions).

How it runs:
- ``_state.flags.autocast`` is the active region's ``_Policy`` for the device type the
  tensors live on, or None. ``dispatch`` checks it (the one cost when autocast is off);
  when set, ``_Policy.target`` returns the dtype a listed op's floating inputs are cast
  to, and the row's kernel is built (and cached) with that cast inside it. The casts are
  thus part of the op's jax function: ``jax.vjp`` carries the gradients back through
  them, so float32 parameters get float32 ``.grad``s, and eager, ``ej.compile`` and lazy
  graphs all run the same kernel (kernels with a cast are distinct kernels, so lazy
  programs never mix them up).
- Kernels whose function dispatches further ops when traced (a fused ``Sequential``, a
  custom ``autograd.Function``, a compiled step's pure function) are built for one
  autocast state: they key their caches by ``flags.autocast_state`` and trace under
  ``pinned(state)``, so a retrace (a backward, a lazy flush) outside the region
  recomputes the same forward.
- ``flags.autocast_state`` (the whole state: every device's enabled flag and dtype, as a
  hashable token) is part of a compiled step's cache key: an ``autocast`` region around
  a call of a compiled step recompiles it once ("autocast: off -> bfloat16"), while a
  region entered inside the step is simply traced.

The state is process-wide (torch's is thread-local), like the rest of ``_state.flags``.
torch's weight-cast cache (``cache_enabled``) is accepted and has nothing to do here:
inside one kernel the cast is part of the op, and XLA shares repeated casts in a program.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from . import _dtypes
from ._state import flags

__all__ = ["autocast", "is_autocast_enabled", "get_autocast_dtype", "is_autocast_available"]

_LOWER, _FP32, _PROMOTE, _BANNED = "lower", "fp32", "promote", "banned"

# Ops torch lists on every device as running in the widest floating dtype of their inputs.
_PROMOTE_ALL = ["cat", "stack", "index_copy"]

# torch 2.13, CPU (``autocast_mode.cpp``), checked op by op against
# ``torch.autocast('cpu', dtype=torch.bfloat16)`` in tests/test_autocast.py. Ops that torch
# composes from listed ones (einsum, tensordot, inner, vecdot, multi_dot, RNN/LSTM) are
# listed under the dtype they come out in. GRU and the LSTM/GRU cells are not listed: torch
# runs them as they come.
_CPU = {
    **dict.fromkeys(
        [
            "linear",
            "matmul",
            "mm",
            "bmm",
            "addmm",
            "baddbmm",
            "addbmm",
            "einsum",
            "tensordot",
            "inner",
            "linalg_vecdot",
            "linalg_multi_dot",
            "conv",  # conv1d/2d/3d (any padding mode)
            "conv_transpose",  # conv_transpose1d/2d/3d
            "sdpa",  # scaled_dot_product_attention
            "mha",  # MultiheadAttention / multi_head_attention_forward
            "lstm",
            "rnn_tanh",
            "rnn_relu",
            "rnn_tanh_cell",
            "rnn_relu_cell",
            "prelu",
            "conv_tbc",
            "chain_matmul",  # (composed from mm)
            "linalg_matrix_power",  # (composed from matmul; see its row's autocast name)
        ],
        _LOWER,
    ),
    **dict.fromkeys(
        [
            "mse_loss",
            "l1_loss",
            "smooth_l1_loss",
            "huber_loss",
            "cross_entropy",
            "nll_loss",
            "bce",  # binary_cross_entropy
            "bce_logits",  # binary_cross_entropy_with_logits
            "kl_div",
            "cosine_embedding_loss",
            "margin_ranking_loss",
            "hinge_embedding_loss",
            "soft_margin_loss",
            "multi_margin_loss",
            "multilabel_margin_loss",
            "triplet_margin_loss",
            "poisson_nll_loss",
            "ctc_loss",
            "grid_sample",
            "prod",
            "cdist",
            "quantile",
            "nanquantile",
            "trace",
            "inverse",
            "linalg_inv",
            "cholesky",
            "linalg_cholesky",
            "qr",
            "linalg_qr",
            "svd",
            "linalg_svd",
            "linalg_svdvals",
            "linalg_eigh",
            "linalg_eigvalsh",
            "linalg_solve",
            "linalg_matrix_rank",
            "pinverse",
            "linalg_pinv",
            "avg_pool3d",
            "max_pool3d",
            "adaptive_avg_pool3d",
            "adaptive_max_pool3d",
            "reflection_pad1d",
            "reflection_pad2d",
            "replication_pad1d",
            "replication_pad2d",
            "replication_pad3d",
            "linalg_householder_product",  # (and orgqr)
            "ormqr",
            "geqrf",
            "triangular_solve",
            "cholesky_inverse",
            "cholesky_solve",
            "lu",  # torch.lu (_lu_with_info)
            "lu_solve",
            "linalg_lstsq",
            "linalg_eig",
            "linalg_eigvals",
            "linalg_cond",
            "linalg_inv_ex",
            "linalg_cholesky_ex",
            "linalg_tensorinv",
            "linalg_tensorsolve",
            "max_unpool",  # max_unpool1d/2d/3d (1d runs as 2d)
            "fractional_max_pool",  # 2d and 3d
            "polar",
            "view_as_complex",
            "stft",
        ]
        + [f"fft_{k}" for k in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft")]
        + [f"fft_{k}" for k in ("rfft2", "irfft2", "rfftn", "irfftn", "hfft", "ihfft")],
        _FP32,
    ),
    **dict.fromkeys(_PROMOTE_ALL, _PROMOTE),
}

# torch 2.13, CUDA (its documented op reference). torch's CPU build cannot run these, so
# tests check only that the table is applied (tests/test_autocast.py).
_CUDA = {
    **dict.fromkeys(
        [
            "linear",
            "matmul",
            "mm",
            "mv",
            "bmm",
            "addmm",
            "addmv",
            "addr",
            "baddbmm",
            "addbmm",
            "einsum",
            "inner",
            "linalg_vecdot",
            "linalg_multi_dot",
            "conv",
            "conv_transpose",
            "sdpa",
            "mha",
            "lstm",
            "gru",
            "rnn_tanh",
            "rnn_relu",
            "lstm_cell",
            "gru_cell",
            "rnn_tanh_cell",
            "rnn_relu_cell",
            "prelu",
        ],
        _LOWER,
    ),
    **dict.fromkeys(
        [
            "acos",
            "asin",
            "cosh",
            "erfinv",
            "exp",
            "expm1",
            "log",
            "log10",
            "log2",
            "log1p",
            "reciprocal",
            "rsqrt",
            "sinh",
            "tan",
            "pow",
            "softplus",
            "layer_norm",
            "group_norm",
            "norm",
            "linalg_vector_norm",
            "linalg_matrix_norm",
            "normalize",
            "cosine_similarity",
            "cosine_embedding_loss",
            "nll_loss",
            "kl_div",
            "l1_loss",
            "smooth_l1_loss",
            "huber_loss",
            "mse_loss",
            "bce_logits",
            "cross_entropy",
            "dist",
            "cdist",
            "logsumexp",
            "interpolate",  # upsample_*
            "softmax",
            "log_softmax",
            "cumprod",
            "cumsum",
            "prod",
            "sum",
        ],
        _FP32,
    ),
    **dict.fromkeys(
        ["addcdiv", "addcmul", "atan2", "bilinear", "linalg_cross", "cross", "dot", "tensordot"]
        + ["index_put", "scatter_add"]
        + _PROMOTE_ALL,
        _PROMOTE,
    ),
    "bce": _BANNED,
}

_LISTS = {"cpu": _CPU, "cuda": _CUDA}
_DEFAULT_DTYPE = {"cpu": _dtypes.bfloat16, "cuda": _dtypes.float16}
_CASTABLE = frozenset([_dtypes.float16, _dtypes.bfloat16, np.dtype("float32")])  # never float64
_BCE_MESSAGE = (
    "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
    "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast."
)


# --------------------------------------------------------------------------- row names
def rnn_name(kw: dict) -> str:
    """The torch op of an ``_rnn`` row call: ``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``."""
    return str(kw.get("mode", "")).lower()


def rnn_cell_name(kw: dict) -> str:
    return rnn_name(kw) + "_cell"


def pool_name(base: str, size_kw: str):
    """``OpDef.autocast`` of a pooling row: ``<base>3d`` for 3-d pooling (listed), else unlisted."""

    def name(kw: dict) -> str | None:
        size = kw.get(size_kw)
        return base + "3d" if isinstance(size, (tuple, list)) and len(size) == 3 else None

    return name


def pad_name(kw: dict) -> str | None:
    kind = {"reflect": "reflection", "replicate": "replication"}.get(kw.get("mode"))
    return None if kind is None else f"{kind}_pad{len(kw.get('pad', ())) // 2}d"


# --------------------------------------------------------------------------- the policy
class _Policy:
    """One enabled region's rules: the device type's table and the low precision dtype."""

    __slots__ = ("device", "dtype", "table")

    def __init__(self, device: str, dtype) -> None:
        self.device = device
        self.dtype = dtype
        self.table = _LISTS[device]

    def target(self, op, kwargs: dict, tens: list):
        """The dtype ``op``'s floating tensor inputs are cast to in this call, or None (no cast)."""
        name = op.autocast
        if name is None:
            return None
        if type(name) is not str:
            name = name(kwargs)
        rule = self.table.get(name)
        if rule is None or kwargs.get("dtype") is not None:  # an explicit dtype= is not eligible
            return None
        if rule is _LOWER:
            to = self.dtype
        elif rule is _FP32:
            to = _dtypes.float32
        elif rule is _PROMOTE:
            to = None
            for t in tens:
                if t is not None and t._value.dtype in _CASTABLE:
                    d = t._value.dtype
                    to = d if to is None else np.promote_types(to, d)
            if to is None:
                return None
        else:
            raise RuntimeError(_BCE_MESSAGE)
        for t in tens:
            if t is not None:
                d = t._value.dtype
                if d != to and d in _CASTABLE:
                    return to
        return None  # nothing to cast: the op's usual kernel


def castable(v) -> bool:
    """Whether a value reaching a kernel is a floating tensor autocast may cast (not a Python
    number at a scalar position, which jax passes weakly typed, and not float64)."""
    d = getattr(v, "dtype", None)
    return d is not None and d in _CASTABLE and not getattr(v, "weak_type", False)


def casts(name: str, *tensors) -> bool:
    """Whether the active region casts ``tensors`` (inputs of torch op ``name``) to one dtype:
    for a library's argument checks, where torch's autocast casts before the op checks."""
    pol = flags.autocast
    if pol is None or pol.table.get(name) not in (_LOWER, _FP32, _PROMOTE):
        return False
    return all(t.dtype in _CASTABLE for t in tensors)


# --------------------------------------------------------------------------- the state
_policies: dict = {}  # state token -> _Policy | None
_device: list = []


def _device_type() -> str:
    """The device type eagerjax's tensors live on (JAX's default device): "cpu" or "cuda"."""
    if not _device:
        from ._tensor import default_device

        _device.append(default_device().type)
    return _device[0]


def _entries(state) -> dict:
    return {} if state is None else {d: (e, dt) for d, e, dt in state}


def _get(device: str) -> tuple:
    e = _entries(flags.autocast_state).get(device)
    return e if e is not None else (False, _DEFAULT_DTYPE[device])


def _set(state) -> None:
    """Make ``state`` (a token from ``flags.autocast_state``) current."""
    flags.autocast_state = state
    pol = _policies.get(state, _policies)
    if pol is _policies:
        enabled, dtype = _entries(state).get(_device_type(), (False, None))
        pol = _policies[state] = _Policy(_device_type(), dtype) if enabled else None
    flags.autocast = pol


def _with(device: str, enabled: bool, dtype):
    """The state token with ``device`` set to (enabled, dtype); None when all are defaults."""
    ent = _entries(flags.autocast_state)
    ent[device] = (bool(enabled), dtype)
    items = tuple(sorted((d, e, dt) for d, (e, dt) in ent.items() if (e, dt) != (False, _DEFAULT_DTYPE[d])))
    return items or None


class pinned:
    """Trace under a given autocast state (see the module notes)."""

    __slots__ = ("state", "prev")

    def __init__(self, state) -> None:
        self.state = state

    def __enter__(self) -> None:
        self.prev = flags.autocast_state
        if self.prev != self.state:
            _set(self.state)

    def __exit__(self, *exc) -> None:
        if flags.autocast_state != self.prev:
            _set(self.prev)


def describe(state) -> str:
    """The autocast state in words, for recompile reasons: ``off``, ``bfloat16``, ``cuda float16``."""
    on = [(d, dt) for d, (e, dt) in _entries(state).items() if e]
    if not on:
        return "off"
    return ", ".join(np.dtype(dt).name if d == _device_type() else f"{d} {np.dtype(dt).name}" for d, dt in on)


# --------------------------------------------------------------------------- public API
def _check_device(device_type: str) -> None:
    if device_type not in _LISTS:
        from ._tensor import Device

        Device(device_type)  # raises torch's error for a name that is no device type
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can run on ``device_type`` (``"cpu"`` and ``"cuda"`` here)."""
    return device_type in _LISTS


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether an enabled autocast region is active for ``device_type`` (torch's default: "cuda")."""
    device_type = "cuda" if device_type is None else device_type
    _check_device(device_type)
    return _get(device_type)[0]


def get_autocast_dtype(device_type: str):
    """The dtype autocast regions on ``device_type`` use by default (bfloat16 on CPU, float16 on CUDA)."""
    _check_device(device_type)
    return _get(device_type)[1]


class autocast:
    """torch's ``autocast``: a context manager or decorator running a region in mixed precision.

    In the region, ops torch lists for ``device_type`` run in ``dtype`` (matmuls,
    convolutions, attention, recurrent layers) or in float32 (losses, ``prod``, linear
    algebra), casting their floating inputs; all other ops follow normal type promotion.
    ``autocast(..., enabled=False)`` turns it off inside a region. Only the device type the
    tensors live on (``ej.cuda.is_available()`` decides) has any effect.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        _check_device(device_type)
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else _dtypes.to_dtype(dtype)
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        if enabled:
            if device_type == "cuda":
                from . import cuda

                if not cuda.is_available():
                    warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=2)
                    enabled = False
            elif self.fast_dtype not in (_dtypes.bfloat16, _dtypes.float16):
                warnings.warn(
                    "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                    "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                    stacklevel=2,
                )
                enabled = False
        self._enabled = bool(enabled)
        self._prev: list = []

    def __enter__(self):
        self._prev.append(flags.autocast_state)
        _set(_with(self.device, self._enabled, self.fast_dtype))
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> bool:
        _set(self._prev.pop())
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(
                f"autocast()(func) requires a callable, but got {type(func).__name__}. "
                f"Did you mean to use autocast as a context manager? For example:\n"
                f"    with torch.autocast(device_type=...):\n"
                f"        output = model(input)"
            )

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast

    def __repr__(self) -> str:
        return f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled})"


class _DeprecatedAutocast(autocast):
    """``ej.cpu.amp.autocast`` / ``ej.cuda.amp.autocast``: torch's deprecated per-device spellings."""

    _device_type = "cpu"

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
        d = self._device_type
        warnings.warn(
            f"`torch.{d}.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('{d}', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(
            d, dtype=_DEFAULT_DTYPE[d] if dtype is None else dtype, enabled=enabled, cache_enabled=cache_enabled
        )


def deprecated_autocast(device: str) -> type:
    return type("autocast", (_DeprecatedAutocast,), {"_device_type": device, "__module__": f"eagerjax.{device}.amp"})
