"""torch.nested: batches of tensors of different sizes.

A ``NestedTensor`` holds its components as ordinary Tensors (see ``_nested_tensor``), so
its ops are ordinary ops and work eagerly, inside ``ej.compile`` and under ``ej.lazy()``.
``ej.<op>`` and ``nn.functional`` functions accept one through ``_hooks`` (installed when
eagerjax is imported), which is how ``nn.Linear``/``nn.ReLU``/``nn.LayerNorm`` take them.
"""

from __future__ import annotations

from .. import _dtypes
from .._tensor import Tensor
from .._toplevel_utils import strided
from ._gaps import install_methods as _install_gaps
from ._math import install_methods as _install_methods
from ._more import install_methods as _install_more
from ._nested_tensor import NestedInt, NestedTensor, jagged
from ._shape import install_methods as _install_shape

__all__ = [
    "NestedTensor",
    "NestedInt",
    "jagged",
    "nested_tensor",
    "as_nested_tensor",
    "nested_tensor_from_jagged",
    "to_padded_tensor",
    "narrow",
]

_install_methods()
_install_shape()
_install_more()
_install_gaps()


def _layout(layout):
    if layout is None or layout is strided:
        return strided
    if layout is jagged:
        return jagged
    raise RuntimeError(f"Specified layout is unsupported for nested tensors: {layout}")


def _check_components(ts: list, layout) -> list:
    """torch's checks on a list of components; strided casts them to the first one's dtype."""
    if not ts:
        return ts
    d0 = ts[0].dim()
    for i, t in enumerate(ts):
        if t.dim() != d0:
            if layout is jagged:
                raise RuntimeError("When constructing a nested tensor, all tensors in list must have the same dim")
            raise RuntimeError(
                f"All Tensors given to nested_tensor must have the same dimension. Found dimension {t.dim()} "
                f"for Tensor at index {i} and dimension {d0} for Tensor at index 0."
            )
    if layout is jagged:
        if d0 == 0:
            raise RuntimeError("Cannot construct a nested tensor from a list of zero-dim tensors")
        if any(t.dtype != ts[0].dtype for t in ts):
            raise RuntimeError("When constructing a nested tensor, all tensors in list must have the same dtype")
        return ts
    return [t if t.dtype == ts[0].dtype else t.to(ts[0].dtype) for t in ts]


def nested_tensor(tensor_list, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A nested tensor copied from a list of tensors (or nested lists of numbers): a leaf."""
    from .._factories import tensor

    layout = _layout(layout)
    if isinstance(tensor_list, NestedTensor) or any(isinstance(t, NestedTensor) for t in tensor_list):
        raise RuntimeError("We do not accept nested tensors as input to nested tensors")
    dt = None if dtype is None else _dtypes.to_dtype(dtype)
    ts = []
    for t in tensor_list:
        if isinstance(t, Tensor):
            t = t.detach()
            t = t.clone() if dt is None or t.dtype == dt else t.to(dt)
        else:
            t = tensor(t, dtype=dt, device=device)
        ts.append(t)
    ts = [t.detach() for t in _check_components(ts, layout)]
    nt = NestedTensor(ts, layout)
    if requires_grad:
        for t in ts:
            t._require_grad()
    return nt


def as_nested_tensor(ts, dtype=None, device=None, layout=None):
    """A nested tensor of ``ts`` (a list of tensors, or a tensor's slices along dim 0) that
    keeps their history: gradients flow back to them."""
    layout = _layout(layout)
    dt = None if dtype is None else _dtypes.to_dtype(dtype)
    if isinstance(ts, NestedTensor):
        if ts._layout is layout and (dt is None or dt == ts.dtype):
            return ts
        ts = list(ts._ts)
    elif isinstance(ts, Tensor):
        ts = list(ts.unbind(0))
    elif not isinstance(ts, (list, tuple)) or not all(isinstance(t, Tensor) for t in ts):
        raise TypeError("as_nested_tensor(): Expected first argument to be a tensor or a list / tuple of tensors ")
    else:
        ts = [t.clone() if dt is None or t.dtype == dt else t.to(dt) for t in ts]
    if dt is not None:
        ts = [t if t.dtype == dt else t.to(dt) for t in ts]
    return NestedTensor(_check_components(ts, layout), layout)


def _host_ints(t) -> list[int]:
    """An offsets/lengths tensor's values on the host (sizes of the components: a host read,
    so not inside ``ej.compile``)."""
    return [int(v) for v in (t.tolist() if isinstance(t, Tensor) else t)]


def nested_tensor_from_jagged(values, offsets=None, lengths=None, jagged_dim=None, min_seqlen=None, max_seqlen=None):
    """A jagged nested tensor whose component i is ``values`` rows ``offsets[i]`` to
    ``offsets[i] + lengths[i]`` (or ``offsets[i + 1]``) along ``jagged_dim - 1``."""
    from .._factories import tensor

    if offsets is None:
        if lengths is None:
            raise RuntimeError("nested_tensor_from_jagged(): At least one of offsets or lengths is required.")
        lens = _host_ints(lengths)
        starts = [0]
        for n in lens:
            starts.append(starts[-1] + n)
        offsets = tensor(starts, dtype=_dtypes.int64)
        src = (values, offsets, None, starts)
        lengths = None
    else:
        starts = _host_ints(offsets)
        lens = _host_ints(lengths) if lengths is not None else [b - a for a, b in zip(starts, starts[1:])]
        src = (values, offsets, lengths, starts)
    jd = 1 if jagged_dim is None else jagged_dim
    if not 1 <= jd <= values.dim():
        raise RuntimeError(f"nested_tensor_from_jagged(): jagged_dim must be in [1, {values.dim()}], got {jd}")
    ts = [values.narrow(jd - 1, s, n) for s, n in zip(starts, lens)]
    return NestedTensor(ts, jagged, jd, src=src)


def to_padded_tensor(input, padding, output_size=None):
    """``input.to_padded_tensor(padding, output_size)``: a dense tensor, padded with ``padding``."""
    if not isinstance(input, NestedTensor):
        raise NotImplementedError("Could not run 'aten::to_padded_tensor' with arguments from the 'CPU' backend.")
    return input.to_padded_tensor(padding, output_size)


def narrow(tensor, dim, start, length, layout=strided):
    """Component i of the result is ``tensor[i].narrow(dim - 1, start[i], length[i])``
    (``start``/``length`` ints or per-component tensors)."""
    layout = _layout(layout)
    if layout is strided:
        if dim != 0:
            raise RuntimeError(f"narrow(): only dim=0 supported for nested tensors, but got: {dim}")
        if isinstance(start, Tensor) or isinstance(length, Tensor):
            raise RuntimeError("start and length must be integers for the strided layout NT impl")
        return as_nested_tensor(tensor).narrow(0, start, length)
    if dim != 1:
        raise RuntimeError("jagged layout only supports dim=1")
    b = tensor.shape[0]
    starts = _host_ints(start) if isinstance(start, Tensor) else [start] * b
    lens = _host_ints(length) if isinstance(length, Tensor) else [length] * b
    from .._factories import tensor as _tensor

    n_rows = tensor.shape[1]
    src = (
        tensor.flatten(0, 1),
        _tensor(
            [i * n_rows + s for i, s in enumerate(starts)] + [(b - 1) * n_rows + starts[-1] + lens[-1]],
            dtype=_dtypes.int64,
        ),
        _tensor(lens, dtype=_dtypes.int64),
        [i * n_rows + s for i, s in enumerate(starts)],
    )  # (torch's view: the whole tensor as values, with holes)
    ts = [tensor[i].narrow(0, s, n) for i, (s, n) in enumerate(zip(starts, lens))]
    return NestedTensor(ts, jagged, 1, src=src)
