"""``ej.hstack``/``vstack``/``row_stack``/``dstack``/``column_stack`` of a list holding nested
tensors, by torch 2.13's rules (and errors).

torch builds each of these from ``atleast_<k>d`` and ``cat``: a nested tensor is always 2-d or
more, so only ``dstack`` reshapes one (a 2-d one gains a trailing dim), and the ``cat`` dim
decides the rest. For the jagged layout that ``cat`` is ``_gaps.cat`` (dim 0 and the ragged dim
refused, so only ``dstack`` and ``hstack`` of a transposed tensor work). torch's strided
kernels join the batches on dim 0 (``vstack``), concatenate components on dim 2 (``dstack``),
refuse dense operands, and fail inside their storage code on dim 1 (``hstack``,
``column_stack``): there eagerjax raises a ``RuntimeError`` of its own.
"""

from __future__ import annotations

from ._gaps import cat, holds_nested
from ._nested_tensor import NestedTensor, jagged

# torch's ``atleast_<k>d`` for each function, and its ``cat`` dim (``hstack``: from the first operand)
_LEAST = {"hstack": 1, "vstack": 2, "row_stack": 2, "dstack": 3, "column_stack": 1}
_DIM = {"vstack": 0, "row_stack": 0, "dstack": 2}


def _at_least(t, k: int):
    """torch's ``atleast_<k>d``: a 1-d ``(n,)`` becomes ``(1, n)`` and then ``(1, n, 1)``, a 2-d
    ``(m, n)`` becomes ``(m, n, 1)`` (a nested tensor has 2 dims or more)."""
    n = t.dim()
    if n >= k:
        return t
    if n == 0:
        return t.reshape(*[1] * k)
    if n == 1 and k >= 2:
        t = t.unsqueeze(0)
    return t.unsqueeze(-1) if k == 3 else t


def _stack_like(name: str, tensors, out=None) -> NestedTensor:
    """``ej.<name>(tensors)`` where ``tensors`` (a list or tuple) holds a nested tensor."""
    first = next(t for t in tensors if isinstance(t, NestedTensor))
    if out is not None:  # (torch has no nested ``cat.out`` kernel)
        if first._layout is jagged:
            raise NotImplementedError("aten.cat.out")
        raise NotImplementedError("Could not run 'aten::cat.out' with arguments from the 'NestedTensorCPU' backend.")
    if name == "column_stack":  # (torch: a 0-/1-d operand becomes a column first)
        parts = [t if isinstance(t, NestedTensor) or t.dim() > 1 else t.reshape(t.numel(), 1) for t in tensors]
    else:
        parts = [_at_least(t, _LEAST[name]) for t in tensors]
    dim = _DIM.get(name, 0 if parts[0].dim() == 1 else 1)
    if first._layout is not jagged:
        if any(not isinstance(t, NestedTensor) for t in parts):
            raise RuntimeError(
                "Expected each tensor in given list to be nested."
                if dim == 0
                else "cat(): expected each tensor in given list to be nested"
            )
        if dim == 1:  # (torch 2.13's strided cat on dim 1 fails in its storage code, after this check)
            if any(t.dim() != first.dim() or len(t._ts) != len(first._ts) for t in parts):
                raise RuntimeError(
                    "cat(): expected all nested tensors to have matching ragged structures outside of the "
                    "concatenated dim"
                )
            raise RuntimeError(
                f"{name}(): not supported for strided NestedTensors (it concatenates on dim 1); "
                "use layout=jagged or cat on another dim"
            )
    return cat(parts, dim)


def _stacker(name: str):
    def impl(orig, tensors, *, out=None):
        return _stack_like(name, tensors, out)

    return impl


def install_hooks(wrap) -> None:
    """Route ``ej.<name>`` calls whose list holds a nested tensor (``wrap``: ``_hooks._wrap``)."""
    import eagerjax as ej

    for name in _LEAST:
        wrap(ej, name, _stacker(name), when=holds_nested)
