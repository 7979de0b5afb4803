"""Indexing and shape ops of nested tensors (``nt[i, ..., a:b]``, ``select``, ``view``/
``reshape``, ``squeeze``/``unsqueeze``, ``transpose``/``permute``, ``flatten``,
``chunk``/``split``): each is the ordinary op on every component, with torch 2.13's
rules (and errors) for which dims a nested tensor lets it touch. The strided layout
accepts what the jagged one does; where both refuse, each raises its own torch error."""

from __future__ import annotations

import math

from .. import _dtypes
from .._tensor import Size, Tensor
from ._nested_tensor import NestedTensor, _varying, _wrap, jagged


def _unsupported(op: str) -> NotImplementedError:
    """torch's refusal of an op its strided nested tensors have no kernel for."""
    return NotImplementedError(f"Could not run 'aten::{op}' with arguments from the 'NestedTensorCPU' backend.")


_NO_SIZES = "Internal error: NestedTensorImpl doesn't support sizes. Please file an issue."


def _ragged_dims(nt: NestedTensor) -> set:
    """Dims whose size differs between components (jagged: its ragged dim)."""
    if nt._layout is jagged:
        return {nt._ragged}
    return {k + 1 for k in _varying(nt._ts)}


def _refuse_jagged(op: str, nt: NestedTensor, d: int) -> None:
    if d == 0:
        raise RuntimeError(f"{op}(): not supported for NestedTensor on dim=0")
    if d in _ragged_dims(nt):
        raise RuntimeError(f"{op}(): not supported for NestedTensor on ragged dim")


def _needs_contiguous(nt: NestedTensor, schema: str) -> None:
    if nt._layout is jagged and nt._ragged != 1:
        raise ValueError(f"NestedTensor {schema}: expected self to be a contiguous jagged layout NestedTensor")


def _shape_args(args) -> list:
    if len(args) == 1 and isinstance(args[0], (tuple, list, Size)):
        return list(args[0])
    return list(args)


# -- components and indexing ----------------------------------------------------------------
def unbind(self, dim: int = 0) -> tuple:
    if _wrap(dim, self.dim()) != 0:
        if self._layout is jagged:
            raise RuntimeError("unbind(): only supported for NestedTensor on dim=0")
        raise RuntimeError(f"NestedTensor can only be unbound along dimension 0 got dimension {dim} instead.")
    return self._ts


def _values_shape(nt: NestedTensor) -> list:
    s = list(nt._ts[0].shape)
    s[nt._ragged - 1] = sum(nt._rid.lengths)
    return s


def select(self, dim: int, index: int):
    d = _wrap(dim, self.dim())
    ts = self._ts
    if d == 0:
        if not -len(ts) <= index < len(ts):
            if self._layout is jagged:
                raise IndexError("tuple index out of range")
            raise IndexError(f"index {index} is out of bounds for dimension 0 with size {len(ts)}")
        return ts[index]
    if self._layout is jagged and d == self._ragged:
        raise RuntimeError("select(): not supported for NestedTensor on ragged dim")
    for k, t in enumerate(ts):
        n = t.shape[d - 1]
        if not -n <= index < n:
            if self._layout is jagged:
                raise IndexError(
                    f"select(): index {index} out of range for tensor of size {_values_shape(self)} at dimension {d - 1}"
                )
            raise IndexError(
                f"index {index} is out of bounds for dimension {d - 1} of the {k}th constituent tensor with size {n}"
            )
    r = self._ragged
    if r is not None and d < r:
        r -= 1
    return self._like([t.select(d - 1, index) for t in ts], r)


def _slice(self, d: int, sl: slice) -> NestedTensor:
    if self._layout is jagged:
        _needs_contiguous(self, "slice_tensor(self: jt, dim: any?, start: any?, end: any?, step: any?)")
        _refuse_jagged("slice", self, d)
    elif d == 0 or d in _ragged_dims(self):
        raise _unsupported("slice.Tensor")
    key = (slice(None),) * (d - 1) + (sl,)
    return self._like([t[key] for t in self._ts])


def getitem(self, index):
    idx = index if isinstance(index, tuple) else (index,)
    if sum(1 for i in idx if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_spec = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if n_spec > self.dim():
        raise IndexError(f"too many indices for tensor of dimension {self.dim()}")
    out, d = self, 0
    for pos, i in enumerate(idx):
        if isinstance(i, Tensor) and i.dim() == 0 and _dtypes.is_integer(i.dtype):
            i = int(i)  # (a 0-dim integer tensor selects, as an int does: a host read)
        if i is Ellipsis:
            d += self.dim() - n_spec
        elif i is None:
            out = out.unsqueeze(d)
            d += 1
        elif isinstance(i, (bool, Tensor, NestedTensor)):  # (bool masks: ``nt[nt > 0]``)
            if self._layout is jagged:
                raise NotImplementedError("aten.index.Tensor")
            raise _unsupported("index.Tensor")
        elif isinstance(i, int):
            out = out.select(d, i)
            if not isinstance(out, NestedTensor):
                rest = idx[pos + 1 :]
                return out[rest] if rest else out
        elif isinstance(i, slice):
            out = _slice(out, d, i)
            d += 1
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices "
                f"(got {type(i).__name__})"
            )
    return out


def narrow(self, dim: int, start: int, length: int) -> NestedTensor:
    d = _wrap(dim, self.dim())
    if self._layout is jagged:
        if d != 0:
            _refuse_jagged("narrow", self, d)
            return _slice(self, d, slice(start, start + length))
        raise RuntimeError("narrow(): not supported for NestedTensor on dim=0")
    if d != 0:
        raise RuntimeError(f"narrow(): only dim=0 supported for nested tensors, but got: {dim}")
    return self._like(self._ts[start : start + length])


# -- view / reshape ------------------------------------------------------------------------
def _invalid(shape, size) -> RuntimeError:
    return RuntimeError(f"shape '{list(shape)}' is invalid for input of size {size}")


def _resolve(shape: list, numel: int, err_shape, err_size) -> list:
    """``shape`` (one -1 at most) for ``numel`` elements, or torch's error."""
    if sum(1 for s in shape if s == -1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or numel % known:
            raise _invalid(err_shape, err_size)
        return [numel // known if s == -1 else s for s in shape]
    if known != numel:
        raise _invalid(err_shape, err_size)
    return shape


def _reshape(self, op: str, args) -> NestedTensor:
    shape = _shape_args(args)
    ts = self._ts
    b = len(ts)
    if self._layout is jagged:
        sizes = self._sizes()
        if self._ragged != 1:
            if shape != sizes:
                raise RuntimeError(
                    "view(): does not support ragged_idx != 1 except when inp._size == size. "
                    f"inp._size is ({self._shape_str()}) and size is ({shape})."
                )
            return self._like(list(ts))
        ok = len(shape) >= 3 and shape[0] in (-1, b) and (shape[1] is self._rid or shape[1] == -1)
        if not ok:
            raise RuntimeError(f"view(): cannot view shape {self._shape_str()} as {shape}")
        rows = sum(self._rid.lengths)
        per_row = ts[0].numel() // ts[0].shape[0] if ts[0].shape[0] else math.prod(ts[0].shape[1:])
        inner = _resolve(shape[2:], per_row, [rows, *shape[2:]], rows * per_row)
        return self._like([getattr(t, op)(t.shape[0], *inner) for t in ts], 1)
    if not shape or shape[0] != b:
        raise RuntimeError(f"{op}: For now nested {op} cannot change or infer the implicit batch dimension")
    out = []
    for t in ts:
        # -1 keeps the component's size at that dim; past its dims it is inferred
        want = [t.shape[k] if s == -1 and k < t.dim() else s for k, s in enumerate(shape[1:])]
        out.append(getattr(t, op)(*_resolve(want, t.numel(), shape, t.numel())))
    return self._like(out)


def reshape(self, *shape) -> NestedTensor:
    return _reshape(self, "reshape", shape)


def view(self, *shape) -> NestedTensor:
    return _reshape(self, "view", shape)


def flatten(self, start_dim: int = 0, end_dim: int = -1) -> NestedTensor:
    n = self.dim()
    s, e = _wrap(start_dim, n), _wrap(end_dim, n)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return self
    hit = [d for d in range(s, e + 1)]
    if 0 in hit or _ragged_dims(self) & set(hit):
        if self._layout is not jagged:
            raise RuntimeError(_NO_SIZES)
        _refuse_jagged("flatten", self, 0 if 0 in hit else next(d for d in hit if d in _ragged_dims(self)))
    r = self._ragged
    if r is not None and r > e:
        r -= e - s
    return self._like([t.flatten(s - 1, e - 1) for t in self._ts], r)


# -- squeeze / unsqueeze / transpose / permute ---------------------------------------------
_STRIDED_SQUEEZE = (
    "squeeze(): For nested tensors, squeeze without the dim argument is not supported at the moment, however you "
    "can use squeeze(Tensor self, int dim) instead if you need this feature, please open an issue on github "
    "describing your use case."
)


def squeeze(self, dim=None) -> NestedTensor:
    if dim is None:
        if self._layout is jagged:
            raise NotImplementedError("aten.squeeze.default")
        raise RuntimeError(_STRIDED_SQUEEZE)
    if isinstance(dim, (tuple, list)):
        if self._layout is jagged:
            raise NotImplementedError("aten.squeeze.dims")
        out = self
        for d in sorted({_wrap(x, self.dim()) for x in dim}, reverse=True):
            out = squeeze(out, d)
        return out
    d = _wrap(dim, self.dim())
    if self._layout is jagged:
        _needs_contiguous(self, "squeeze_dim(self: jt, dim: any)")
        _refuse_jagged("squeeze", self, d)
    elif d == 0:
        raise RuntimeError(
            "squeeze(): For nested tensors, squeezing dimension 0 is not supported at the moment if you need this "
            "feature, please open an issue on github describing your use case."
        )
    if not all(t.shape[d - 1] == 1 for t in self._ts):
        return self._like(list(self._ts))
    r = self._ragged
    if r is not None and d < r:
        r -= 1
    return self._like([t.squeeze(d - 1) for t in self._ts], r)


def unsqueeze(self, dim: int) -> NestedTensor:
    d = _wrap(dim, self.dim() + 1)
    if d == 0:
        if self._layout is jagged:
            raise RuntimeError("unsqueeze(): not supported for NestedTensor on dim=0")
        raise RuntimeError(
            "unsqueeze(): For nested tensors, unsqueezing dimension 0 is not supported at the moment if you need "
            "this feature, please open an issue on github describing your use case."
        )
    r = self._ragged
    if r is not None and d <= r:
        r += 1
    return self._like([t.unsqueeze(d - 1) for t in self._ts], r)


def transpose(self, dim0: int, dim1: int) -> NestedTensor:
    n = self.dim()
    d0, d1 = _wrap(dim0, n), _wrap(dim1, n)
    if d0 == 0 or d1 == 0:
        if self._layout is jagged:
            if d0 == d1:
                raise RuntimeError("transpose(): not supported for NestedTensor on dim=0")
            raise ValueError("Transpose is not supported on the batch dimension for jagged NT")
        raise RuntimeError("Nested tensor dimension 0 cannot be transposed")
    r = self._ragged
    if r is not None:
        r = d1 if r == d0 else d0 if r == d1 else r
    return self._like([t.transpose(d0 - 1, d1 - 1) for t in self._ts], r)


def permute(self, *dims) -> NestedTensor:
    n = self.dim()
    perm = [_wrap(d, n) for d in _shape_args(dims)]
    if len(perm) != n:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired "
            f"ordering of dimensions i.e. input.dim() = {n} is not equal to len(dims) = {len(perm)}"
        )
    if perm[0] != 0:
        if self._layout is jagged:
            raise ValueError("Permute is not supported on the batch dimension for jagged NT")
        raise _unsupported("permute")
    r = None if self._ragged is None else perm.index(self._ragged)
    return self._like([t.permute(*[p - 1 for p in perm[1:]]) for t in self._ts], r)


# -- chunk / split ------------------------------------------------------------------------------
def _pieces(self, d: int, parts: list) -> tuple:
    """Per-component pieces (``parts[k]`` is component k's list) regrouped as nested tensors."""
    return tuple(self._like(list(group)) for group in zip(*parts))


def chunk(self, chunks: int, dim: int = 0) -> tuple:
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _wrap(dim, self.dim())
    ts = self._ts
    if d == 0:
        step = -(-len(ts) // chunks)
        return tuple(NestedTensor(ts[i : i + step], self._layout, self._ragged) for i in range(0, len(ts), step))
    if d in _ragged_dims(self):
        if self._layout is jagged:
            raise RuntimeError("chunk(): not supported for NestedTensor on ragged dim")
        raise RuntimeError("Chunk for nested tensors is currently only supported for the last dimension.")
    return _pieces(self, d, [t.chunk(chunks, d - 1) for t in ts])


def split(self, split_size, dim: int = 0) -> tuple:
    d = _wrap(dim, self.dim())
    sizes = isinstance(split_size, (list, tuple))
    if d == 0 or d in _ragged_dims(self):
        if self._layout is jagged:
            _refuse_jagged("split_with_sizes" if sizes else "split", self, d)
        if sizes:
            raise RuntimeError(
                "split_with_sizes for nested tensors is currently only supported for the last dimension."
            )
        raise _unsupported("split.Tensor")
    ts = self._ts
    if sizes:
        n = ts[0].shape[d - 1]
        if sum(split_size) != n:
            at = d - 1 if self._layout is jagged else d
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {at}), "
                f"but got split_sizes={list(split_size)}"
            )
    return _pieces(self, d, [t.split(split_size, d - 1) for t in ts])


def split_with_sizes(self, split_sizes, dim: int = 0) -> tuple:
    return split(self, list(split_sizes), dim)


METHODS = {
    "unbind": unbind,
    "select": select,
    "__getitem__": getitem,
    "narrow": narrow,
    "reshape": reshape,
    "view": view,
    "flatten": flatten,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "transpose": transpose,
    "swapaxes": transpose,
    "swapdims": transpose,
    "permute": permute,
    "chunk": chunk,
    "split": split,
    "split_with_sizes": split_with_sizes,
}


def install_methods() -> None:
    for name, fn in METHODS.items():
        setattr(NestedTensor, name, fn)
    NestedTensor.mT = property(lambda self: transpose(self, -2, -1))
