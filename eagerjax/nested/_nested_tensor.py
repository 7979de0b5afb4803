"""``NestedTensor``: torch.nested's tensor of tensors, held as a tuple of ordinary Tensors.

Every op on a nested tensor is the same op on each component (or a ``cat``/``stack`` of
them), so autograd, ``ej.compile`` and ``ej.lazy()`` need nothing of their own: a
component is a Tensor like any other. The shapes of the components are Python values
(never read from device), so building, checking and padding never read the host.

Both torch layouts are kept as a tag: ``strided`` (torch's default, whose sizes raise for
irregular dims) and ``jagged`` (one ragged dim, shown as a nested int ``j<n>`` in
``shape``; two jagged tensors combine only when they share that ragged dim, as in torch).
"""

from __future__ import annotations

import itertools

from .. import _dtypes
from .._tensor import Size, Tensor
from .._toplevel_utils import layout, strided

_HOOKED = False  # ej.*/F.* wrapped for nested inputs (``_hooks``): on the first NestedTensor


def _hook() -> None:
    global _HOOKED
    _HOOKED = True
    from . import _hooks

    _hooks.install()


class _JaggedLayout(layout):
    def __reduce__(self):
        return (_jagged_layout, ())


def _jagged_layout():
    return jagged


jagged = _JaggedLayout("jagged")

_ids = itertools.count(1)


class NestedInt:
    """The size of a jagged tensor's ragged dim (torch's nested ``SymInt``, printed ``j<n>``).

    Equal only to itself: results of ops that keep the ragged structure share it, and two
    jagged tensors made separately have different ones, as in torch."""

    __slots__ = ("_id", "lengths")

    def __init__(self, lengths: tuple) -> None:
        self._id = next(_ids)
        self.lengths = lengths

    def __repr__(self) -> str:
        return f"j{self._id}"

    __str__ = __repr__


def _wrap(dim: int, n: int) -> int:
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def _varying(ts) -> list[int]:
    """Component dims whose sizes differ between components."""
    if not ts:
        return []
    shapes = [tuple(t.shape) for t in ts]
    return [k for k in range(len(shapes[0])) if len({s[k] for s in shapes}) > 1]


def _jagged_ragged(ts, ragged: int | None) -> int:
    var = _varying(ts)
    if len(var) > 1:
        raise RuntimeError(
            "Cannot represent given tensor list as a nested tensor with the jagged layout. Note that the jagged "
            "layout only allows for a single ragged dimension. For example: (B, *, D_0, D_1, ..., D_N), with "
            "ragged * dim."
        )
    if var:
        return var[0] + 1
    return 1 if ragged is None else ragged


class NestedTensor:
    """A batch of tensors that may differ in size (``torch.nested``)."""

    __slots__ = ("_ts", "_layout", "_ragged", "_rid", "_src", "__weakref__")
    is_nested = True
    is_sparse = False
    __hash__ = object.__hash__

    def __init__(self, ts, layout_=strided, ragged: int | None = None, rid: NestedInt | None = None, src=None):
        if not _HOOKED:
            _hook()
        ts = tuple(ts)
        self._ts = ts
        self._layout = layout_
        # (values, offsets, lengths, row starts, components' versions) when made from jagged
        # values: ``values()`` returns them while no component has been written in place since
        self._src = None if src is None else (*src, tuple(t._version for t in ts))
        if layout_ is jagged:
            r = _jagged_ragged(ts, ragged)
            lengths = tuple(t.shape[r - 1] for t in ts)
            if rid is None or rid.lengths != lengths:
                rid = NestedInt(lengths)
            self._ragged, self._rid = r, rid
        else:
            self._ragged, self._rid = None, None

    # -- structure -----------------------------------------------------------------------
    def _like(self, ts, ragged: int | None = None) -> NestedTensor:
        """A result with this tensor's layout (and ragged structure, where the sizes kept it)."""
        return NestedTensor(ts, self._layout, self._ragged if ragged is None else ragged, self._rid)

    def _map(self, f) -> NestedTensor:
        return self._like([f(t) for t in self._ts])

    @property
    def layout(self):
        return self._layout

    def _shape_str(self) -> str:
        return "(" + ", ".join(str(d) for d in self._sizes()) + ")"

    def _sizes(self) -> list:
        """The nested shape: ints for regular dims; a NestedInt (jagged) or None for others."""
        ts = self._ts
        if not ts:
            return [0]
        out = [len(ts)]
        var = _varying(ts)
        for k, d in enumerate(ts[0].shape):
            out.append((self._rid if self._layout is jagged else None) if k in var or k + 1 == self._ragged else d)
        return out

    def size(self, dim: int | None = None):
        if dim is None:
            if self._layout is not jagged:
                raise RuntimeError("Internal error: NestedTensorImpl doesn't support sizes. Please file an issue.")
            return Size(self._sizes())
        dim = _wrap(dim, self.dim())
        s = self._sizes()[dim]
        if s is None:
            raise RuntimeError(f"Given dimension {dim} is irregular and does not have a size.")
        return s

    @property
    def shape(self):
        return self.size()

    def __len__(self) -> int:
        if self._layout is not jagged:
            raise RuntimeError("Internal error: NestedTensorImpl doesn't support sizes. Please file an issue.")
        return len(self._ts)

    def dim(self) -> int:
        return 1 + (self._ts[0].dim() if self._ts else 0)

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self.dim()

    def numel(self) -> int:
        return sum(t.numel() for t in self._ts)

    @property
    def dtype(self):
        return self._ts[0].dtype if self._ts else _dtypes.get_default_dtype()

    @property
    def device(self):
        from .._factories import tensor

        return self._ts[0].device if self._ts else tensor(0).device

    def is_contiguous(self, memory_format=None) -> bool:
        return True

    def is_floating_point(self) -> bool:
        return _dtypes.is_floating(self.dtype)

    # -- autograd ----------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return any(t.requires_grad for t in self._ts)

    def requires_grad_(self, requires_grad: bool = True) -> NestedTensor:
        for t in self._ts:
            t.requires_grad_(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return all(t.is_leaf for t in self._ts)

    @property
    def grad(self) -> NestedTensor | None:
        gs = [t.grad for t in self._ts]
        if all(g is None for g in gs):
            return None
        from .._generate import functional as _F

        return self._like([_F.zeros_like(t) if g is None else g for t, g in zip(self._ts, gs)])

    @grad.setter
    def grad(self, g) -> None:
        if g is None:
            for t in self._ts:
                t.grad = None
            return
        if not isinstance(g, NestedTensor) or len(g._ts) != len(self._ts):
            raise RuntimeError("assigned grad has data of a different size")
        for t, x in zip(self._ts, g._ts):
            t.grad = x

    def detach(self) -> NestedTensor:
        return self._map(lambda t: t.detach())

    def clone(self, memory_format=None) -> NestedTensor:
        return self._map(lambda t: t.clone())

    def to(self, *args, **kwargs) -> NestedTensor:
        return self._map(lambda t: t.to(*args, **kwargs))

    def float(self) -> NestedTensor:  # noqa: A003 - torch's name
        return self._map(lambda t: t.float())

    def double(self) -> NestedTensor:
        return self._map(lambda t: t.double())

    def half(self) -> NestedTensor:
        return self._map(lambda t: t.half())

    def bfloat16(self) -> NestedTensor:
        return self._map(lambda t: t.bfloat16())

    # -- components (indexing and shape ops: ``_shape``) --------------------------------------
    def __iter__(self):
        return iter(self._ts)

    def values(self) -> Tensor:
        from .._generate import functional as _F

        src = self._src
        if src is not None:
            if all(t._version == v for t, v in zip(self._ts, src[4])):
                return src[0]
            # A component was written in place (``nt[0] = 5.``, ``add_``): torch's values are a
            # view that sees the write; ours are the originals with the components put back.
            out, d = src[0], self._ragged - 1
            for t, start in zip(self._ts, src[3]):
                out = _F.slice_scatter(out, t, d, start, start + t.shape[d])
            return out
        if self._layout is not jagged:
            return _F.cat([t.reshape(-1) for t in self._ts])
        return _F.cat(list(self._ts), self._ragged - 1)

    def offsets(self) -> Tensor:
        if self._layout is not jagged:
            raise AttributeError("'Tensor' object has no attribute 'offsets'")
        if self._src is not None:
            return self._src[1]
        from .._factories import tensor

        return tensor([0, *itertools.accumulate(self._rid.lengths)], dtype=_dtypes.int64)

    def lengths(self):
        if self._layout is not jagged:
            raise AttributeError("'Tensor' object has no attribute 'lengths'")
        return None if self._src is None else self._src[2]

    def to_padded_tensor(self, padding, output_size=None) -> Tensor:
        from .._generate import functional as _F
        from ..nn import functional as F

        ts = self._ts
        if self._src is not None and self._src[2] is not None:
            raise RuntimeError("to_padded_tensor(): not supported for nested tensors with holes")
        if not ts:
            return _F.zeros(0, dtype=self.dtype)
        nd = ts[0].dim()
        target = [max(t.shape[k] for t in ts) for k in range(nd)]
        batch = len(ts)
        if output_size is not None:
            output_size = list(output_size)
            if len(output_size) != nd + 1:
                raise RuntimeError(
                    "Length of output_size does not match NestedTensor dims. Broadcasting is not supported."
                )
            if output_size[0] < batch or any(o < m for o, m in zip(output_size[1:], target)):
                raise RuntimeError(
                    "Value in output_size is less than NestedTensor padded size. Truncation is not supported."
                )
            batch, target = output_size[0], output_size[1:]
        rows = []
        for t in ts:
            pads = []
            for k in range(nd - 1, -1, -1):
                pads += [0, target[k] - t.shape[k]]
            rows.append(F.pad(t, pads, value=padding) if any(pads) else t)
        if batch > len(ts):
            rows += [_F.full(target, padding, dtype=self.dtype)] * (batch - len(ts))
        return _F.stack(rows)

    def __repr__(self) -> str:
        if self._layout is jagged:
            return f"NestedTensor(size={self._shape_str()}, offsets={self.offsets()!r}, contiguous=True)"
        body = ",\n".join("  " + repr(t).replace("\n", "\n  ") for t in self._ts)
        return f"nested_tensor([\n{body}\n])"
