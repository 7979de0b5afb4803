"""Ops on nested tensors: each is the ordinary op applied to every component (or to a
``cat`` of them), so gradients, ``ej.compile`` and ``ej.lazy()`` come with the op."""

from __future__ import annotations

from .._tensor import Tensor
from ._nested_tensor import NestedTensor, jagged

# Tensor methods that act on each element alone: the same method on every component.
UNARY = """abs absolute neg negative relu sigmoid tanh exp exp2 expm1 log log2 log10 log1p sqrt rsqrt sin cos tan
asin acos atan sinh cosh asinh acosh atanh square reciprocal floor ceil round trunc frac sign sgn erf erfc
erfinv logical_not isnan isinf isfinite nan_to_num clamp clip bitwise_not angle deg2rad rad2deg sinc logit
hardshrink positive conj signbit isneginf isposinf isreal lgamma digamma i0 clamp_min clamp_max""".split()
# Binary elementwise methods (torch's name, as its error messages say it)
BINARY = """add sub subtract mul multiply div divide true_divide pow maximum minimum eq ne lt le gt ge
atan2 fmod remainder floor_divide logical_and logical_or logical_xor bitwise_and bitwise_or bitwise_xor
hypot copysign fmax fmin xlogy isclose""".split()
_ERR_NAME = {"subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div"}


def _check_pair(name: str, a: NestedTensor, b: NestedTensor, inplace: bool = False) -> None:
    """Two nested operands must have the same structure, their trailing sizes broadcasting
    (torch's rules and messages per layout: ``_gaps``)."""
    from ._gaps import check_copy, check_pair

    if name == "copy_":
        check_copy(a, b)
    else:
        check_pair(name, a, b, inplace)


def _per_component(nt: NestedTensor, other):
    """``other`` split per component: a dense tensor with the nested tensor's dims (batch
    first) gives its i-th slice to component i; anything else broadcasts to every one."""
    b = len(nt._ts)
    if isinstance(other, Tensor) and other.dim() == nt.dim() and other.dim() > 1:
        if other.shape[0] not in (1, b):
            raise RuntimeError(
                f"The size of tensor a ({b}) must match the size of tensor b ({other.shape[0]}) "
                "at non-singleton dimension 0"
            )
        return [other[0 if other.shape[0] == 1 else i] for i in range(b)]
    return [other] * b


def binary(name: str, fn, a, b, **kwargs):
    """``fn(a, b)`` where either operand is nested."""
    if isinstance(a, NestedTensor) and isinstance(b, NestedTensor):
        _check_pair(name, a, b)
        return a._like([fn(x, y, **kwargs) for x, y in zip(a._ts, b._ts)])
    if isinstance(a, NestedTensor):
        return a._like([fn(x, y, **kwargs) for x, y in zip(a._ts, _per_component(a, b))])
    return b._like([fn(x, y, **kwargs) for x, y in zip(_per_component(b, a), b._ts)])


def inplace_binary(name: str, nt: NestedTensor, other, **kwargs) -> NestedTensor:
    """``nt.<name>(other)`` (``add_``, ...): each component updated in place by its own
    in-place op, so versions and autograd see an ordinary in-place op."""
    if isinstance(other, NestedTensor):
        _check_pair(name, nt, other, inplace=True)
        others = other._ts
    else:
        others = _per_component(nt, other)
    for t, o in zip(nt._ts, others):
        getattr(t, name)(o, **kwargs)
    return nt


def _rows(nt: NestedTensor) -> int:
    return sum(t.numel() // t.shape[-1] if t.shape[-1] else 0 for t in nt._ts)


def matmul(a, b):
    from .._generate import functional as _F

    if isinstance(a, NestedTensor) and isinstance(b, NestedTensor):
        if len(a._ts) != len(b._ts):
            raise RuntimeError(
                f"matmul(): Expected size for first two dimensions of batch2 tensor to be: [{len(a._ts)}, ...] "
                f"but got: [{len(b._ts)}, ...]."
            )
        for i, (x, y) in enumerate(zip(a._ts, b._ts)):
            if x.shape[-1] != y.shape[-2 if y.dim() > 1 else -1]:
                raise RuntimeError(
                    f"{i}-th nested matrices in batch cannot be multiplied "
                    f"({x.shape[-2] if x.dim() > 1 else 1}x{x.shape[-1]} and {y.shape[0]}x{y.shape[-1]})"
                )
        out = [_F.matmul(x, y) for x, y in zip(a._ts, b._ts)]
        if a._layout is jagged:
            from ._nested_tensor import _varying

            if len(_varying(out)) > 1:
                shape = "torch.Size([" + ", ".join(str(d) for d in b._sizes()) + "])"
                raise RuntimeError(f"matmul(): not supported between inputs of shapes {a._shape_str()} and {shape}")
        return a._like(out, a._ragged)
    if isinstance(a, NestedTensor):
        if b.dim() <= 2:
            k = b.shape[0]
            if a._ts and a._ts[0].shape[-1] != k:
                n = b.shape[-1] if b.dim() == 2 else 1
                raise RuntimeError(
                    f"mat1 and mat2 shapes cannot be multiplied ({_rows(a)}x{a._ts[0].shape[-1]} and {k}x{n})"
                )
            return a._like([_F.matmul(x, b) for x in a._ts])
        return a._like([_F.matmul(x, y) for x, y in zip(a._ts, _per_component(a, b))])
    return b._like([_F.matmul(x, y) for x, y in zip(_per_component(b, a), b._ts)])


def bmm(a, b):
    for x in (a, b):
        if x.dim() != 3:
            raise RuntimeError(
                f"batch1 must be a 3D tensor, got {x.dim()}D" if x is a else "batch2 must be a 3D tensor"
            )
    return matmul(a, b)


def linear(input: NestedTensor, weight: Tensor, bias: Tensor | None = None, *, orig) -> NestedTensor:
    last = input._ts[0].shape[-1] if input._ts else weight.shape[-1]
    if last != weight.shape[-1]:
        if input._layout is jagged:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({_rows(input)}x{last} and "
                f"{weight.shape[-1]}x{weight.shape[0] if weight.dim() > 1 else 1})"
            )
        raise RuntimeError(
            "Shape mismatch for NestedTensor Linear: Expected input's (a nested tensor) 'last_dim' to equal "
            f"'weight.size(1), but got: last_dim = {last}, and weight.size(1) = {weight.shape[-1]}"
        )
    return input._map(lambda t: orig(t, weight, bias))


def softmax_like(name: str, nt: NestedTensor, dim, fn, *args, **kwargs) -> NestedTensor:
    d = nt._wrap_dim(dim)
    if d == 0:
        if nt._layout is jagged:
            raise RuntimeError(f"{name}(): not supported when reducing across the batch dimension for NestedTensor")
        raise RuntimeError(f"Cannot apply {name} across nested dimension 0")
    if nt._layout is jagged and d == nt._ragged and d > 1:
        raise RuntimeError(
            f"{name}(): not supported when reducing along the ragged dimension for ragged_idx > 1 for NestedTensor"
        )
    return nt._map(lambda t: fn(t, d - 1, *args, **kwargs))


def layer_norm(nt: NestedTensor, normalized_shape, *args, orig, name: str = "layer_norm", **kwargs) -> NestedTensor:
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if name == "rms_norm" and nt._layout is jagged and len(ns) >= nt.dim() - nt._ragged:
        raise ValueError("rms_norm(): Normalization over the ragged dim not supported for nested tensors")
    if nt._layout is jagged and len(ns) >= nt.dim() - nt._ragged + 1:
        raise RuntimeError(
            "layer_norm(): not supported for NestedTensor objects with normalized dims over the ragged dim"
        )
    return nt._map(lambda t: orig(t, normalized_shape, *args, **kwargs))


def reduce(name: str, nt: NestedTensor, dim=None, keepdim: bool = False, *, dtype=None):
    """``sum``/``mean`` of a nested tensor: over all of it or its batch + ragged dims (a dense
    result), over dims that make every component the same size (dense, stacked), or over
    regular dims (nested)."""
    from .._generate import functional as _F

    kw = {} if dtype is None else {"dtype": dtype}
    if dim is None:
        flat = _F.cat([t.reshape(-1) for t in nt._ts])
        return getattr(flat, name)(**kw)
    n = nt.dim()
    dims = sorted({_wrap(d, n) for d in ((dim,) if isinstance(dim, int) else dim)})
    ragged = nt._ragged if nt._layout is jagged else None
    if ragged is None and 0 in dims:  # (strided: its one irregular dim plays the ragged one)
        from ._nested_tensor import _varying

        var = _varying(nt._ts)
        ragged = var[0] + 1 if len(var) == 1 else 1 if not var else None
    if 0 in dims:
        if ragged is None or ragged not in dims:
            if nt._layout is jagged:
                raise RuntimeError(
                    f"{name}(): reducing along the batch dimension but not the ragged dimension is not supported "
                    "for nested tensors"
                )
            raise RuntimeError(
                "NestedTensor can only be reduced across the last dimension for now got dimension 0 instead."
            )
        joined = _F.cat(list(nt._ts), ragged - 1)
        rest = [d - 1 for d in dims if d != 0]
        out = getattr(joined, name)(rest, keepdim=keepdim, **kw)
        return out.unsqueeze(0) if keepdim else out
    cdims = [d - 1 for d in dims]
    outs = [getattr(t, name)(cdims, keepdim=keepdim, **kw) for t in nt._ts]
    from ._nested_tensor import _varying

    varying = {k + 1 for k in _varying(nt._ts)} | ({nt._ragged} if nt._layout is jagged else set())
    if varying and varying <= set(dims):
        return _F.stack(outs)
    r = nt._ragged
    if r is not None and not keepdim:
        r -= sum(1 for d in dims if d < r)
    return nt._like(outs, r)


def _wrap(d: int, n: int) -> int:
    from ._nested_tensor import _wrap as w

    return w(d, n)


def install_methods() -> None:
    """Give ``NestedTensor`` torch's Tensor methods and operators for these ops."""
    from .._generate import functional as _F

    def unary(name):
        def m(self, *args, **kwargs):
            return self._map(lambda t: getattr(t, name)(*args, **kwargs))

        m.__name__ = name
        return m

    def bin_method(name, fn, reflected=False):
        if reflected:

            def m(self, other):
                return binary(name, fn, other, self)
        else:

            def m(self, other, **kwargs):
                return binary(name, fn, self, other, **kwargs)

        m.__name__ = name
        return m

    for name in UNARY:
        if hasattr(Tensor, name):
            setattr(NestedTensor, name, unary(name))

    def inplace_unary(name):
        def m(self, *args, **kwargs):
            for t in self._ts:
                getattr(t, name)(*args, **kwargs)
            return self

        m.__name__ = name
        return m

    def inplace_bin(name):
        def m(self, other, **kwargs):
            return inplace_binary(name, self, other, **kwargs)

        m.__name__ = name
        return m

    for name in UNARY + ["fill", "zero", "clamp_min", "clamp_max"]:
        if hasattr(Tensor, name + "_"):
            setattr(NestedTensor, name + "_", inplace_unary(name + "_"))
    for name in BINARY + ["copy"]:
        if hasattr(Tensor, name + "_"):
            setattr(NestedTensor, name + "_", inplace_bin(name + "_"))
    for dunder, name in {"iadd": "add_", "isub": "sub_", "imul": "mul_", "itruediv": "div_", "ipow": "pow_"}.items():
        setattr(NestedTensor, f"__{dunder}__", inplace_bin(name))
    for name in BINARY:
        fn = getattr(_F, name, None)
        if fn is not None:
            setattr(NestedTensor, name, bin_method(name, fn))
    ops = {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow"}
    for dunder, name in ops.items():
        fn = getattr(_F, name)
        setattr(NestedTensor, f"__{dunder}__", bin_method(name, fn))
        setattr(NestedTensor, f"__r{dunder}__", bin_method(name, fn, reflected=True))
    for dunder, name in {"eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge"}.items():
        setattr(NestedTensor, f"__{dunder}__", bin_method(name, getattr(_F, name)))
    NestedTensor.__neg__ = NestedTensor.neg
    NestedTensor.__abs__ = NestedTensor.abs
    NestedTensor.__matmul__ = matmul
    NestedTensor.__rmatmul__ = lambda self, other: matmul(other, self)
    NestedTensor.matmul = matmul
    NestedTensor.bmm = bmm
    NestedTensor.softmax = lambda self, dim, dtype=None: softmax_like(
        "softmax", self, dim, lambda t, d: t.softmax(d, dtype=dtype)
    )
    NestedTensor.log_softmax = lambda self, dim, dtype=None: softmax_like(
        "log_softmax", self, dim, lambda t, d: t.log_softmax(d, dtype=dtype)
    )
    NestedTensor.sum = lambda self, dim=None, keepdim=False, *, dtype=None: reduce(
        "sum", self, dim, keepdim, dtype=dtype
    )
    NestedTensor.mean = lambda self, dim=None, keepdim=False, *, dtype=None: reduce(
        "mean", self, dim, keepdim, dtype=dtype
    )
    NestedTensor._wrap_dim = lambda self, d: _wrap(d, self.dim())
