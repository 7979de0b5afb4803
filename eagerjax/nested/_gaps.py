"""Broadcasting between nested tensors, ``nt[index] = value`` and ``cat``/``stack`` of nested
tensors, by torch 2.13's jagged rules (and errors).

A list or tensor index at the batch dim (``nt[[0, 1]] = v``, ``nt[[0], [2]] = v``) follows
torch's jagged ``index_put_``; the strided layout refuses it, as torch's has no kernel for it.

torch checks a jagged pair by its sizes up to the ragged dim (which must be the same, the
ragged one the same nested int) and then runs the dense op on the two values tensors
(components joined along the ragged dim): its broadcasting, and its errors, are those of
the values shapes. Here every op still runs on each component, and the values shapes only
decide what is allowed and what torch's message says. The strided layout accepts what the
jagged one does (torch 2.13's strided kernels refuse broadcasting, most ``setitem`` forms and
``stack``), matching the components' irregular dims instead of a nested int.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._tensor import Tensor
from ._math import _ERR_NAME
from ._nested_tensor import NestedTensor, _varying, _wrap, jagged
from ._shape import _NO_SIZES, _needs_contiguous, _slice, _values_shape


# -- broadcasting ----------------------------------------------------------------------------------
def _broadcast(a: list, b: list) -> list:
    """Dense broadcasting of two shapes (torch's message: the last mismatching dim of the result)."""
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + list(a), [1] * (n - len(b)) + list(b)
    for i in range(n - 1, -1, -1):
        if a[i] != b[i] and a[i] != 1 and b[i] != 1:
            raise RuntimeError(
                f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) at non-singleton dimension {i}"
            )
    return [y if x == 1 else x for x, y in zip(a, b)]


def _same_prefix(a: NestedTensor, b: NestedTensor) -> bool:
    """torch's ``raggedness_matches``: the same sizes up to and including the ragged dim."""
    r = a._ragged
    if b._ragged != r or a._rid is not b._rid or a.dim() <= r or b.dim() <= r:
        return False
    sa, sb = a._sizes(), b._sizes()
    return all(x is y or x == y for x, y in zip(sa[: r + 1], sb[: r + 1]))


def check_pair(name: str, a: NestedTensor, b: NestedTensor, inplace: bool = False) -> None:
    """Whether ``a <op> b`` (``a.<op>_(b)`` when ``inplace``) may run on each component pair."""
    op = _ERR_NAME.get(name, name)
    if a._layout is jagged or b._layout is jagged:
        mismatch = RuntimeError(
            f"cannot call binary pointwise function {op}.Tensor with inputs of shapes "
            f"{a._shape_str()} and {b._shape_str()}"
        )
        if a._layout is not b._layout or len(a._ts) != len(b._ts) or not _same_prefix(a, b):
            raise mismatch
        va, vb = _values_shape(a), _values_shape(b)
        out = _broadcast(va, vb)
        if a.dim() != b.dim():  # (torch broadcasts the values across components here: no meaning)
            raise mismatch
        if inplace and out != va:
            raise RuntimeError(f"output with shape {va} doesn't match the broadcast shape {out}")
        return
    refuse = RuntimeError(f"{op} does not support broadcasting when given a NestedTensor")
    if len(a._ts) != len(b._ts) or a.dim() != b.dim():
        raise refuse
    # (as jagged: the sizes up to the last irregular dim match, later ones broadcast)
    last = max([*_varying(a._ts), *_varying(b._ts), 0])
    for x, y in zip(a._ts, b._ts):
        xs, ys = list(x.shape), list(y.shape)
        if xs[: last + 1] != ys[: last + 1]:
            raise refuse
        try:
            out = _broadcast(xs, ys)
        except RuntimeError:
            raise refuse from None
        if inplace and out != xs:
            raise refuse


def _size_str(nt: NestedTensor) -> str:
    return "torch.Size([" + ", ".join(str(d) for d in nt._sizes()) + "])"


def check_copy(nt: NestedTensor, src: NestedTensor) -> None:
    """``nt.copy_(src)``: torch's jagged copy wants the same sizes, or components of the same
    shapes (its nested ints may differ)."""
    if nt._layout is jagged or src._layout is jagged:
        same = len(nt._ts) == len(src._ts) and all(tuple(x.shape) == tuple(y.shape) for x, y in zip(nt._ts, src._ts))
        if not same or nt._layout is not src._layout:
            raise RuntimeError(
                f"copy_(): expected compatible input and src shapes, but got: {_size_str(nt)} and {_size_str(src)}"
            )
        return
    check_pair("copy_", nt, src, inplace=True)


# -- nt[index] = value ---------------------------------------------------------------------------------
def _expand_msg(target: list, value: list, kind: str = "torch.FloatTensor") -> None:
    """torch's ``setitem`` check of a dense value against a dense target (leading 1s dropped)."""
    while len(value) > len(target) and value[0] == 1:
        value = value[1:]
    if len(value) > len(target):
        raise RuntimeError(
            f"expand({kind}{{{value}}}, size={target}): the number of sizes provided ({len(target)}) "
            f"must be greater or equal to the number of dimensions in the tensor ({len(value)})"
        )
    off = len(target) - len(value)
    for k, n in enumerate(value):
        if n != 1 and n != target[off + k]:
            raise RuntimeError(
                f"The expanded size of the tensor ({target[off + k]}) must match the existing size ({n}) at "
                f"non-singleton dimension {off + k}.  Target sizes: {target}.  Tensor sizes: {value}"
            )


def _batch_int(nt: NestedTensor, idx: tuple):
    """(position, component) of the int that selects a component, or None when the indexed
    result is still nested (a leading ``...`` that covers the batch dim)."""
    n_spec = sum(1 for i in idx if i is not None and i is not Ellipsis)
    pos = 0
    if idx and idx[0] is Ellipsis:
        if nt.dim() - n_spec > 0:
            return None
        pos = 1
    i = idx[pos] if pos < len(idx) else None
    return (pos, i) if isinstance(i, int) and not isinstance(i, bool) else None


def setitem(self: NestedTensor, index, value) -> None:
    """``nt[index] = value``: an in-place write into the components it selects."""
    if isinstance(index, list) and _as_tuple(index):
        index = tuple(index)
    idx = index if isinstance(index, tuple) else (index,)
    idx = tuple(int(i) if isinstance(i, Tensor) and i.dim() == 0 and _dtypes.is_integer(i.dtype) else i for i in idx)
    if any(_is_adv(i) for i in idx) and not any(isinstance(i, (bool, NestedTensor)) for i in idx):
        if _batch_int(self, idx) is None:  # (after an int that selects a component: that component's write)
            if self._layout is jagged:
                return _index_put(self, idx, value)
            return _strided_refusal(self, idx, value)
    elif any(isinstance(i, (bool, Tensor, NestedTensor, list)) for i in idx):
        if self._layout is jagged:
            raise ValueError(
                "NestedTensor index_put_(input: jt_all, indices: any, values: t, accumulate: any?): expected input "
                "to be a jagged layout NestedTensor"
            )
        from ._shape import _unsupported

        raise _unsupported("index_put_")
    hit = _batch_int(self, idx)
    if hit is not None:
        pos, b = hit
        n = len(self._ts)
        if not -n <= b < n:
            raise IndexError(f"index {b} is out of bounds for dimension 0 with size {n}")
        comp = self._ts[b]
        key = idx[:pos] + idx[pos + 1 :]
        d = 1
        for i in key:  # (torch counts the dims of the nested tensor)
            if i is Ellipsis:
                d += comp.dim() - sum(1 for j in key if j is not None and j is not Ellipsis)
            elif isinstance(i, int):
                size = comp.shape[d - 1] if d - 1 < comp.dim() else 0
                if not -size <= i < size:
                    raise IndexError(f"index {i} is out of bounds for dimension {d} with size {size}")
                d += 1
            elif i is not None:
                d += 1
        if isinstance(value, Tensor) and any(_is_adv(i) for i in key):  # (torch: the component's index_put_)
            # (torch checks the value before the indices' bounds: the result's shape from index 0s)
            probe = tuple(
                np.zeros(np.shape(i), np.int64) if isinstance(i, list) and np.asarray(i).dtype != bool else i
                for i in key
            )
            _check_put(list(comp[probe].shape), value, comp.dtype)
        elif isinstance(value, Tensor) and value.dim() > 0:
            target = comp[key] if key else comp
            _expand_msg(list(target.shape), list(value.shape), value.type())
        comp[key if key else ...] = value
        return
    target = self[index]  # (torch's errors for what its jagged indexing refuses)
    if self._layout is not jagged:  # (torch's strided setitem: only through a selected component)
        if not isinstance(value, NestedTensor) or value._layout is not self._layout or len(value._ts) != len(self._ts):
            raise RuntimeError(_NO_SIZES)
        check_pair("copy_", target, value, inplace=True)
    elif not isinstance(value, NestedTensor):
        if isinstance(value, Tensor) and value.dim() > 0:
            raise RuntimeError("SymIntArrayRef expected to contain only concrete integers")
        raise NotImplementedError("aten.fill_.Tensor")
    else:  # (torch expands the value to the target, then copies)
        if value._layout is not jagged or value._rid is not target._rid or value._ragged != target._ragged:
            to = "[" + ", ".join(str(s) for s in target._sizes()) + "]"
            raise RuntimeError(f"view(): cannot view shape {value._shape_str()} as {to}")
        check_copy(target, value.expand(target.size()))
    for comp, tgt, v in zip(self._ts, target._ts, value._ts):
        _expand_msg(list(tgt.shape), list(v.shape))
        comp[idx] = v


# -- nt[list or tensor, ...] = value ------------------------------------------------------------------
_NOT_CONTIGUOUS = "index_put(): If ragged dimension is not part of indices, this only works on contiguous NJTs"
_RAGGED_OOB = "Some indices in the ragged dimension are out of bounds!"
_SLICE_SCHEMA = "slice_tensor(self: jt, dim: any?, start: any?, end: any?, step: any?)"


def _as_tuple(index: list) -> bool:
    """torch reads a short list holding a sequence, tensor, slice, None or ``...`` as a tuple
    of indices (``nt[[[0, 1]]]`` is ``nt[[0, 1]]``)."""
    return len(index) < 32 and any(
        isinstance(e, (list, tuple, Tensor, NestedTensor, slice)) or e is None or e is Ellipsis for e in index
    )


def _strided_refusal(self: NestedTensor, idx: tuple, value) -> None:
    """torch 2.13's strided layout has no ``index_put_``: its refusal, after those of the view
    ops it runs first."""
    from ._shape import _unsupported

    n_spec = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if n_spec > self.dim():
        raise IndexError(f"too many indices for tensor of dimension {self.dim()}")
    view, d = self, 0
    for i in idx:  # (the view ops, in order, for their refusals; an advanced index keeps its dim)
        if i is Ellipsis:
            d += self.dim() - n_spec
        elif i is None:
            view, d = view.unsqueeze(d), d + 1
        elif isinstance(i, slice):
            raise _unsupported("slice.Tensor")
        elif isinstance(i, int):
            view = view.select(d, i)
        else:
            d += 1
    if isinstance(value, NestedTensor):
        raise RuntimeError(_NO_SIZES)
    raise _unsupported("index_put_")


def _is_adv(i) -> bool:
    """An advanced index: a list, or a tensor that is not a 0-d integer one (those select)."""
    return isinstance(i, (list, Tensor))


def _host_index(i) -> np.ndarray:
    """An advanced index as host ints, or a bool mask (torch reads a list as a tensor: floats
    truncate). A host read, as torch's ``index_put_`` makes one."""
    if isinstance(i, Tensor):
        if i.dtype in (_dtypes.bool_, _dtypes.uint8):  # (torch reads a uint8 index as a mask)
            return np.asarray(i.tolist(), dtype=bool)
        if i.dtype not in (_dtypes.int32, _dtypes.int64):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return np.asarray(i.tolist(), dtype=np.int64)
    a = np.asarray(i)
    if a.dtype == bool:
        return a
    if a.size and a.dtype.kind not in "iuf":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return a.astype(np.int64)


def _check_put(result: list, value: Tensor, dtype) -> list:
    """torch's ``index_put_`` checks of a tensor value against the indexing result (shape, then
    dtype: a tensor value is not cast); the value's shape without its leading 1s."""
    vs = list(value.shape)
    while vs and vs[0] == 1:
        vs = vs[1:]
    if len(vs) > len(result) or any(a != 1 and a != b for a, b in zip(reversed(vs), reversed(result))):
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {vs} cannot be broadcast to indexing result of shape {result}"
        )
    if value.dtype != dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{_dtypes.torch_name(dtype)} for the destination and {_dtypes.torch_name(value.dtype)} for the source."
        )
    return vs


def _walk_rest(self: NestedTensor, k: int, rest: tuple) -> tuple:
    """The dims after the ``k`` leading advanced indices, as torch's view ops leave them:
    ``(dims, key, viewed)`` with ``dims`` the result's dims after the index dims (a nested dim,
    or None for an inserted one), ``key`` the component index for them and ``viewed`` whether
    an int or slice made a (non-contiguous) view. Raises torch's refusals of those view ops."""
    n_dim, r = self.dim(), self._ragged
    if sum(1 for i in rest if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_spec = k + sum(1 for i in rest if i is not None and i is not Ellipsis)
    if n_spec > n_dim:
        raise IndexError(f"too many indices for tensor of dimension {n_dim}")
    dims, key, viewed, d = [], [], False, k
    for i in rest:
        if i is Ellipsis:
            for _ in range(n_dim - n_spec):
                dims.append(d)
                key.append(slice(None))
                d += 1
        elif i is None:
            dims.append(None)
        elif isinstance(i, (int, slice)) and not isinstance(i, bool):
            op = "slice" if isinstance(i, slice) else "select"
            if op == "slice":
                _needs_contiguous(self, _SLICE_SCHEMA)
            if d == r:
                raise RuntimeError(f"{op}(): not supported for NestedTensor on ragged dim")
            size = self._ts[0].shape[d - 1]
            if op == "select" and not -size <= i < size:
                raise IndexError(
                    f"select(): index {i} out of range for tensor of size {_values_shape(self)} at dimension {d - 1}"
                )
            if op == "slice":
                dims.append((d, len(range(*i.indices(size)))))
            key.append(i)
            viewed, d = True, d + 1
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices "
                f"(got {type(i).__name__})"
            )
    while d < n_dim:
        dims.append(d)
        key.append(slice(None))
        d += 1
    return dims, tuple(key), viewed


def _index_put(self: NestedTensor, idx: tuple, value) -> None:
    """``nt[adv0, adv1, ..., rest] = value`` for a jagged ``nt``, the leading advanced (list or
    tensor) indices starting at the batch dim, by torch 2.13's jagged ``index_put_``.

    Indices that stop short of the ragged dim write whole components through the padded
    tensor: the value broadcasts to ``(*index shape, max length, ...)`` and each selected
    component takes its first ``length`` rows (torch pads to its cached max length, or to the
    total one where it has none cached: eagerjax always uses the max). Indices that reach it
    address rows of the values. Everything is checked before the first write; repeated
    positions write in order (the last one wins, as on torch's CPU)."""
    n, r = len(self._ts), self._ragged
    if idx and idx[0] is Ellipsis and sum(1 for i in idx[1:] if i is not None) == self.dim():
        idx = idx[1:]  # (an ellipsis that covers no dim)
    if not _is_adv(idx[0]):
        if isinstance(idx[0], slice):
            _slice(self, 0, idx[0])  # (raises torch's refusals)
        if idx[0] is None:
            self.unsqueeze(0)  # (raises torch's refusal)
        # (torch 2.13 then fails comparing a missing batch index: TypeError)
        raise TypeError("index_put(): a nested tensor's advanced index must start at the batch dim")
    k = next((p for p, i in enumerate(idx) if not _is_adv(i)), len(idx))
    rest = idx[k:]
    if any(_is_adv(i) for i in rest):
        raise TypeError("index_put(): a nested tensor's advanced indices must be adjacent, from the batch dim")
    dims, key, viewed = _walk_rest(self, k, rest)
    if isinstance(value, NestedTensor):
        raise ValueError(
            "NestedTensor index_put_(input: jt_all, indices: any, values: t, accumulate: any?): expected values "
            "to be a tensor"
        )
    holes = self._src is not None and self._src[2] is not None
    padded = k <= r
    if padded and (r != 1 or viewed or holes):
        raise RuntimeError(_NOT_CONTIGUOUS)
    lens = self._rid.lengths
    comp_shape = list(self._ts[0].shape) if self._ts else []
    pad_shape = [n] + [max(lens, default=0) if j + 1 == r else s for j, s in enumerate(comp_shape)]
    arrs = []
    for pos, i in enumerate(idx[:k]):
        a = _host_index(i)
        if a.dtype == bool:
            # (reaching the ragged dim, torch indexes the row offsets, one longer than the batch,
            # with the mask: it never fits; it adds a later mask to them: refused)
            indexed, mask = (pad_shape, list(a.shape)) if padded else ([n + 1], [n])
            if not padded or pos != 0 or a.shape != (n,):
                raise IndexError(
                    f"The shape of the mask {mask} at index {pos} does not match the shape of the indexed "
                    f"tensor {indexed} at index {pos}"
                )
            a = np.nonzero(a)[0]
        arrs.append(a)
    if not padded:  # (torch adds the ragged index to the batch's row offsets: its message)
        _broadcast(list(arrs[r].shape), list(arrs[0].shape))
    try:
        shape = list(np.broadcast_shapes(*(a.shape for a in arrs)))
    except ValueError:
        shapes = ", ".join(str(list(a.shape)) for a in arrs)
        raise IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}"
        ) from None
    arrs = [np.broadcast_to(a, shape) for a in arrs]
    batch = arrs[0]
    if not padded:  # (torch checks the ragged indices first; it adds a negative one to row offsets)
        bad = batch[(batch < 0) | (batch >= n)]
        if bad.size:
            raise IndexError(f"index {bad.flat[0]} is out of bounds for dimension 0 with size {n}")
        rows = arrs[r]
        if ((rows < 0) | (rows >= np.asarray(lens, dtype=np.int64)[batch])).any():
            raise RuntimeError(_RAGGED_OOB)
    result = shape + [1 if d is None else d[1] if isinstance(d, tuple) else pad_shape[d] for d in dims]
    if isinstance(value, Tensor):
        value = value.reshape(_check_put(result, value, self.dtype)).expand(*result)
    if padded:
        bad = batch[(batch < -n) | (batch >= n)]
        if bad.size:
            raise IndexError(f"index {bad.flat[0]} is out of bounds for dimension 0 with size {n}")
    for pos in range(1, k):
        if pos != r:
            size = comp_shape[pos - 1]
            bad = arrs[pos][(arrs[pos] < -size) | (arrs[pos] >= size)]
            if bad.size:
                raise IndexError(f"index {bad.flat[0]} is out of bounds for dimension {pos - 1} with size {size}")
    from .._generate import check_inplace

    for b in {int(b) % n for b in batch.flat}:
        check_inplace(self._ts[b], "__setitem__")
    for p in np.ndindex(*shape):
        comp = self._ts[int(batch[p]) % n]
        ckey = tuple(int(a[p]) for a in arrs[1:]) + key
        if isinstance(value, Tensor):
            # (the inserted dims are 1s; the padded rows past this component's length are dropped)
            rows = comp.shape[r - 1] if padded else None
            sel = tuple(0 if d is None else slice(0, rows) if d == r and padded else slice(None) for d in dims)
            comp[ckey or ...] = value[p + sel]
        else:
            comp[ckey or ...] = value


# -- cat / stack -------------------------------------------------------------------------------------------
def _nested_first(tensors, op: str) -> NestedTensor:
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise ValueError(f"torch.{op}(): expected a non-empty list of Tensors")
    return next(t for t in tensors if isinstance(t, NestedTensor))


def _dense_parts(first: NestedTensor, t: Tensor) -> list:
    """A dense operand of ``cat`` as per-component parts: torch expands it to the values."""
    if first._layout is not jagged:
        return [t.expand(*c.shape) for c in first._ts]
    r = first._ragged
    joined = t.expand(*_values_shape(first))
    return list(joined.split(list(first._rid.lengths), r - 1))


def _same_structure(a: NestedTensor, b: NestedTensor) -> bool:
    if a._layout is jagged:
        return a._ragged == b._ragged and a._rid.lengths == b._rid.lengths
    irregular = set(_varying(a._ts)) | set(_varying(b._ts))
    return all(x.shape[k] == y.shape[k] for x, y in zip(a._ts, b._ts) for k in irregular)


def _join_batches(tensors, n: int) -> NestedTensor:
    """Strided ``cat`` on dim 0: every operand's components, in order, at their promoted dtype."""
    if any(not isinstance(t, NestedTensor) for t in tensors):
        raise RuntimeError("Expected each tensor in given list to be nested.")
    first = tensors[0]
    for k, t in enumerate(tensors):
        if t._layout is not first._layout:
            raise RuntimeError("cat(): expected all nested tensors to have the same layout")
        if t.dim() != n:  # (torch cats the nested sizes: its message counts the components' dims)
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension 0. Expected size {n - 1} but got size "
                f"{t.dim() - 1} for tensor number {k} in the list."
            )
    dt = functools.reduce(jnp.promote_types, [t.dtype for t in tensors])
    return NestedTensor([c if c.dtype == dt else c.to(dt) for t in tensors for c in t._ts], first._layout)


def cat(tensors, dim: int = 0) -> NestedTensor:
    from .._generate import functional as _F

    first = _nested_first(tensors, "cat")
    n = first.dim()
    # (torch's jagged cat expands dense operands to the first nested one before it looks at dim)
    dense = {}
    if first._layout is jagged:
        dense = {k: _dense_parts(first, t) for k, t in enumerate(tensors) if not isinstance(t, NestedTensor)}
    d = _wrap(dim, n)
    if d == 0 and first._layout is not jagged:  # (torch's strided cat on dim 0 joins the batches)
        return _join_batches(tensors, n)
    if d == 0:
        raise RuntimeError("cat(): not supported for NestedTensor on dim=0")
    ragged = {first._ragged} if first._layout is jagged else {k + 1 for k in _varying(first._ts)}
    if d in ragged:
        raise RuntimeError("cat(): not supported for NestedTensor on ragged dim")
    parts = []
    for pos, t in enumerate(tensors):
        if not isinstance(t, NestedTensor):
            parts.append(dense[pos] if pos in dense else _dense_parts(first, t))
            continue
        if t._layout is not first._layout:
            raise RuntimeError("cat(): expected all nested tensors to have the same layout")
        if first._layout is jagged:  # (torch cats the values: its messages are theirs)
            va, vb = _values_shape(first), _values_shape(t)
            if len(va) != len(vb):
                raise RuntimeError(f"Tensors must have same number of dimensions: got {len(va)} and {len(vb)}")
            for k, (x, y) in enumerate(zip(va, vb)):
                if k != d - 1 and x != y:
                    raise RuntimeError(
                        f"Sizes of tensors must match except in dimension {d - 1}. Expected size {x} but got size "
                        f"{y} for tensor number {pos} in the list."
                    )
        if t.dim() != n or len(t._ts) != len(first._ts) or not _same_structure(first, t):
            raise RuntimeError(
                "cat(): expected all nested tensors to have matching ragged structures outside of the concatenated dim"
            )
        parts.append(list(t._ts))
    return first._like([_F.cat(list(group), d - 1) for group in zip(*parts)])


def stack(tensors, dim: int = 0) -> NestedTensor:
    from .._generate import functional as _F

    first = _nested_first(tensors, "stack")
    if any(not isinstance(t, NestedTensor) for t in tensors):
        raise RuntimeError("stack(): expected all nested tensors inputs")
    n = first.dim()
    if any(t.dim() != n for t in tensors):
        raise RuntimeError("stack(): expected all nested tensors to have the same dim")
    d = _wrap(dim, n + 1)
    if d == 0:
        raise RuntimeError("stack(): not supported for NestedTensor on dim=0")
    r = first._ragged
    if d in ({r} if first._layout is jagged else {k + 1 for k in _varying(first._ts)}):
        raise RuntimeError("stack(): not supported for NestedTensor on ragged dim")
    if first._layout is jagged:
        if d == r:
            raise RuntimeError("stack(): not supported for NestedTensor on ragged dim")
        if any(t._layout is not jagged or t._ragged != r or t._rid is not first._rid for t in tensors):
            raise RuntimeError("stack(): expected all nested tensors to have the same nested structure")
    elif any(t._layout is not first._layout or len(t._ts) != len(first._ts) for t in tensors):
        raise RuntimeError("stack(): expected all nested tensors to have the same nested structure")
    for k, t in enumerate(tensors):
        va = _values_shape(first) if first._layout is jagged else [list(c.shape) for c in first._ts]
        vb = _values_shape(t) if first._layout is jagged else [list(c.shape) for c in t._ts]
        if va != vb:
            if first._layout is not jagged:
                raise RuntimeError("stack(): expected all nested tensors to have the same nested structure")
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {va} at entry 0 and {vb} at entry {k}"
            )
    if r is not None and d <= r:
        r += 1
    return first._like([_F.stack(list(group), d - 1) for group in zip(*(t._ts for t in tensors))], r)


def install_methods() -> None:
    NestedTensor.__setitem__ = setitem


def install_hooks(wrap) -> None:
    """``ej.cat``/``concat``/``concatenate``/``stack`` of a list holding a nested tensor
    (``wrap``: ``_hooks._wrap``)."""
    import eagerjax as ej

    for name in ("cat", "concat", "concatenate"):
        wrap(ej, name, lambda orig, *a, **k: cat(*a, **k), when=holds_nested)
    wrap(ej, "stack", lambda orig, *a, **k: stack(*a, **k), when=holds_nested)


def holds_nested(args, kwargs) -> bool:
    """Whether a call's list of tensors (first argument, or ``tensors=``) holds a nested one."""
    seq = args[0] if args else kwargs.get("tensors")
    return isinstance(seq, (list, tuple)) and any(type(t) is NestedTensor for t in seq)
