"""``F.scaled_dot_product_attention`` on jagged nested tensors (torch 2.13's rules).

The attention of each batch element is eagerjax's ordinary (dense) attention on that
element's components, so gradients, ``ej.compile`` and ``ej.lazy()`` come with it.
torch takes two paths, and so do the checks here:

* ragged dim 1 (``(B, j, H, D)``, more than 3 dims): attention over each row's last two
  dims, the rows of all elements together as a batch (``is_causal``/dropout allowed,
  ``enable_gqa`` ignored, as torch does);
* otherwise (the usual ``nt.transpose(1, 2)``: ``(B, H, j, D)``): attention over the
  ragged dim with two matmuls; no ``is_causal`` and no grouped-query heads (torch finds no
  backend / its matmul refuses differing head counts).
"""

from __future__ import annotations

from ._nested_tensor import NestedTensor


def _dtype_name(d) -> str:
    import numpy as np

    return f"torch.{np.dtype(d).name}"


def _is_nested(x) -> bool:
    return bool(getattr(x, "is_nested", False))


def _long_tensor(rows: list[tuple]) -> str:
    """A (B, n) int64 tensor as torch's C++ printer writes it inside its error messages."""
    w = max((len(str(v)) for r in rows for v in r), default=1)
    return "".join("".join(f" {v:>{w}}" for v in r) + "\n" for r in rows)


def _printed(values: list, cols: int | None) -> str:
    rows = [tuple(v) for v in values] if cols is not None else [(v,) for v in values]
    shape = f"{len(values)},{cols}" if cols is not None else f"{len(values)}"
    return _long_tensor(rows) + f"[ torch.LongTensor{{{shape}}} ]"


def _check_matmul(a: list, b: list) -> None:
    """torch's nested matmul checks for ``a[i] @ b[i]`` (shapes of the components)."""
    if len(b) != len(a):
        raise RuntimeError(
            f"matmul: Expected size for the 1st dimension of 2nd input tensor to be: {len(a)} but got: {len(b)}."
        )
    ba, bb = [s[:-2] for s in a], [s[:-2] for s in b]
    if ba != bb:
        cols = len(ba[0]) if ba else 0
        raise RuntimeError(
            "matmul: For nested tensors, batch dimensions must have the same sizes, no broadcasting is currently "
            f"performed. Got batch shapes for self {_printed(ba, cols)} and batch shapes for mat2 {_printed(bb, cols)}"
        )
    la, lb = [s[-1] for s in a], [s[-2] for s in b]
    if la != lb:
        raise RuntimeError(
            "matmul: Nested tensors cannot be matrix multiplied, last dimension of self has sizes"
            f"{_printed(la, None)}second last dimension of mat2 has sizes{_printed(lb, None)}"
        )


def sdpa(orig, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """``F.scaled_dot_product_attention`` where one of ``query``/``key``/``value`` is nested."""
    q, k, v = query, key, value
    if not all(type(x) is NestedTensor for x in (q, k, v)):
        raise ValueError(
            "Expected query, key, and value to be nested tensors, but got query.is_nested: "
            f"{_is_nested(q)}, key.is_nested: {_is_nested(k)}, and value.is_nested: {_is_nested(v)} instead."
        )
    if q._layout is not k._layout or q._layout is not v._layout or q._ragged is None:
        # (torch's strided nested tensors reach code that asks for their sizes)
        raise RuntimeError("Internal error: NestedTensorImpl doesn't support sizes. Please file an issue.")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise ValueError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_dtype_name(q.dtype)}, key.dtype: {_dtype_name(k.dtype)}, and value.dtype: "
            f"{_dtype_name(v.dtype)} instead."
        )
    if q.dim() < 3 or k.dim() < 3 or v.dim() < 3:
        raise ValueError(
            "Expected query, key, and value to all be at least 3 dimensional, but got query.dim: "
            f"{q.dim()}, key.dim: {k.dim()} and value.dim: {v.dim()} instead."
        )
    if q._ragged != k._ragged or q._ragged != v._ragged:
        raise ValueError(
            "Expected query, key, and value to all be ragged on the same dimension, but got ragged dims "
            f"{q._ragged}, {k._ragged}, and {v._ragged}, respectively."
        )
    if attn_mask is not None:
        raise ValueError("Masks are not yet supported!")
    kw = {"dropout_p": dropout_p, "is_causal": is_causal, "scale": scale}
    if q._ragged == 1 and q.dim() > 3:
        # torch: dense attention on the values (every row a batch element)
        rows = [sum(t.shape[0] for t in x._ts) for x in (q, k, v)]
        for other in rows[1:]:
            if other != rows[0] and 1 not in (other, rows[0]):
                raise RuntimeError(
                    f"The size of tensor a ({rows[0]}) must match the size of tensor b ({other}) "
                    "at non-singleton dimension 0"
                )
        return q._like([orig(a, b, c, **kw) for a, b, c in zip(q._ts, k._ts, v._ts)])
    if is_causal or q.dim() == 3:
        raise RuntimeError("No viable backend for scaled_dot_product_attention was found.")
    qs, ks, vs = ([tuple(t.shape) for t in x._ts] for x in (q, k, v))
    _check_matmul(qs, [s[:-2] + (s[-1], s[-2]) for s in ks])
    _check_matmul([s[:-1] + (ksh[-2],) for s, ksh in zip(qs, ks)], vs)
    return q._like([orig(a, b, c, **kw) for a, b, c in zip(q._ts, k._ts, v._ts)])
