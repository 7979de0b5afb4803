"""Broadcasting between nested tensors, ``nt[index] = value`` and ``cat``/``stack`` of nested
tensors, by torch 2.13's jagged rules (and errors).

torch checks a jagged pair by its sizes up to the ragged dim (which must be the same, the
ragged one the same nested int) and then runs the dense op on the two values tensors
(components joined along the ragged dim): its broadcasting, and its errors, are those of
the values shapes. Here every op still runs on each component, and the values shapes only
decide what is allowed and what torch's message says. The strided layout accepts what the
jagged one does (torch 2.13's strided kernels refuse broadcasting, most ``setitem`` forms and
``stack``), matching the components' irregular dims instead of a nested int.
"""

from __future__ import annotations

from .. import _dtypes
from .._tensor import Tensor
from ._math import _ERR_NAME
from ._nested_tensor import NestedTensor, _varying, _wrap, jagged
from ._shape import _NO_SIZES, _values_shape


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
    idx = index if isinstance(index, tuple) else (index,)
    idx = tuple(int(i) if isinstance(i, Tensor) and i.dim() == 0 and _dtypes.is_integer(i.dtype) else i for i in idx)
    if any(isinstance(i, (bool, Tensor, NestedTensor, list)) for i in idx):
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
        if isinstance(value, Tensor) and value.dim() > 0:
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


def cat(tensors, dim: int = 0) -> NestedTensor:
    from .._generate import functional as _F

    first = _nested_first(tensors, "cat")
    n = first.dim()
    d = _wrap(dim, n)
    if d == 0 and first._layout is not jagged:  # (torch's strided cat on dim 0 joins the batches)
        if any(not isinstance(t, NestedTensor) for t in tensors):
            raise RuntimeError("cat(): expected all nested tensors inputs")
        return NestedTensor([c for t in tensors for c in t._ts], first._layout)
    if d == 0:
        raise RuntimeError("cat(): not supported for NestedTensor on dim=0")
    ragged = {first._ragged} if first._layout is jagged else {k + 1 for k in _varying(first._ts)}
    if d in ragged:
        raise RuntimeError("cat(): not supported for NestedTensor on ragged dim")
    parts = []
    for pos, t in enumerate(tensors):
        if not isinstance(t, NestedTensor):
            parts.append(_dense_parts(first, t))
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

    def holds_nested(args, kwargs) -> bool:
        return bool(args) and isinstance(args[0], (list, tuple)) and any(type(t) is NestedTensor for t in args[0])

    for name in ("cat", "concat", "concatenate"):
        wrap(ej, name, lambda orig, *a, **k: cat(*a, **k), when=holds_nested)
    wrap(ej, "stack", lambda orig, *a, **k: stack(*a, **k), when=holds_nested)
