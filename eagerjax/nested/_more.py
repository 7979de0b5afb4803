"""More Tensor methods of nested tensors: ``expand``/``expand_as``/``view_as``/``reshape_as``,
``unflatten``, ``tensor_split``, ``movedim``, ``masked_fill``/``where``, the value-selecting
reductions (``amax``/``amin``/``max``/``min``/``argmax``/``argmin``/``prod``/``all``/``any``),
dtype conversions, ``*_like`` factories and a few queries. Each is the ordinary op on every
component (or on a ``cat`` of them), with torch 2.13's jagged rules and errors; the strided
layout accepts what the jagged one does (torch's strided kernels refuse most of these)."""

from __future__ import annotations

import math

from .. import _dtypes
from .._tensor import Tensor
from . import _math
from ._nested_tensor import NestedTensor, _varying, _wrap, jagged
from ._shape import _NO_SIZES, _pieces, _ragged_dims, _shape_args, _unsupported, _values_shape

_TORCH_DTYPE_NAMES = {"float32": "float", "float64": "double", "float16": "half", "int32": "int", "int64": "long"}


def _dtype_name(d) -> str:
    import numpy as np

    n = np.dtype(d).name
    return _TORCH_DTYPE_NAMES.get(n, "BFloat16" if n == "bfloat16" else n)


def _refused(nt: NestedTensor, jagged_op: str, strided_op: str | None = None) -> NotImplementedError:
    """torch's refusal of an op with no nested kernel, per layout."""
    if nt._layout is jagged:
        return NotImplementedError(f"aten.{jagged_op}")
    return _unsupported(strided_op or jagged_op.replace(".default", ""))


# -- expand / *_as / unflatten / tensor_split / movedim -------------------------------------------
def expand(self, *sizes) -> NestedTensor:
    size = _shape_args(sizes)
    if self._layout is not jagged:
        raise _unsupported("expand")
    have, r = self._sizes(), self._ragged
    same = all(s == -1 or s is h or (isinstance(h, int) and s == h) for h, s in zip(have[: r + 1], size))
    if len(size[: r + 1]) != len(have[: r + 1]) or not same:
        raise RuntimeError(f"expand(): cannot expand shape {self._shape_str()} -> {size}")
    arg = [-1 if d == r else size[d] for d in range(1, self.dim())]
    vshape = _values_shape(self)
    for k, (s, n) in enumerate(zip(arg, vshape)):
        if s != -1 and s != n and n != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({n}) at non-singleton "
                f"dimension {k}.  Target sizes: {arg}.  Tensor sizes: {vshape}"
            )
    return self._map(lambda t: t.expand(*[t.shape[k] if s == -1 else s for k, s in enumerate(arg)]))


def expand_as(self, other) -> NestedTensor:
    return expand(self, other.size())


def view_as(self, other) -> NestedTensor:
    return self.view(other.size())


def reshape_as(self, other) -> NestedTensor:
    if self._layout is jagged:
        return self.reshape(other.size())
    if not isinstance(other, NestedTensor):
        raise RuntimeError("get_nested_tensor_impl requires a NestedTensor.")
    if len(other._ts) != len(self._ts):
        raise RuntimeError(
            f"reshape_as: For now nested reshape cannot change or infer the implicit batch dimension "
            f"({len(self._ts)} vs {len(other._ts)})"
        )
    return self._like([t.reshape(o.shape) for t, o in zip(self._ts, other._ts)])


def unflatten(self, dim: int, sizes) -> NestedTensor:
    d = _wrap(dim, self.dim())
    sizes = list(sizes)
    ragged = _ragged_dims(self)
    if d == 0:
        if self._layout is jagged:
            raise RuntimeError(f"view(): cannot view shape {self._shape_str()} as {sizes + self._sizes()[1:]}")
        raise RuntimeError(_NO_SIZES)
    if d in ragged:
        if self._layout is jagged:
            raise RuntimeError("unflatten(): not supported for NestedTensor on ragged dim")
        raise RuntimeError(f"Given dimension {d} is irregular and does not have a size.")
    n = self._ts[0].shape[d - 1] if self._ts else 0
    known = math.prod(s for s in sizes if s != -1)
    if (-1 in sizes and (known == 0 or n % known)) or (-1 not in sizes and known != n):
        raise RuntimeError(
            f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} ({n}) in the input tensor"
        )
    r = self._ragged
    if r is not None and d < r:
        r += len(sizes) - 1
    return self._like([t.unflatten(d - 1, sizes) for t in self._ts], r)


def tensor_split(self, indices_or_sections, dim: int = 0) -> tuple:
    d = _wrap(dim, self.dim())
    arg = indices_or_sections
    if isinstance(arg, Tensor):
        arg = int(arg) if arg.dim() == 0 else [int(v) for v in arg.tolist()]
    if isinstance(arg, int) and arg <= 0:
        raise RuntimeError(f"number of sections must be larger than 0, got {arg}")
    if d == 0:
        if self._layout is jagged:
            raise RuntimeError("slice(): not supported for NestedTensor on dim=0")
        raise _unsupported("slice.Tensor")
    if d in _ragged_dims(self):
        if self._layout is jagged:
            raise RuntimeError("tensor_split(): not supported for NestedTensor on ragged dim")
        raise RuntimeError(f"Given dimension {d} is irregular and does not have a size.")
    return _pieces(self, d, [t.tensor_split(arg, d - 1) for t in self._ts])


def movedim(self, source, destination) -> NestedTensor:
    n = self.dim()
    src = [_wrap(s, n) for s in ((source,) if isinstance(source, int) else source)]
    dst = [_wrap(s, n) for s in ((destination,) if isinstance(destination, int) else destination)]
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain the same "
            f"number of dims as destination ({list(dst)} dims)"
        )
    rest = iter(d for d in range(n) if d not in src)
    where = dict(zip(dst, src))
    return self.permute([where[k] if k in where else next(rest) for k in range(n)])


# -- masked_fill / where / bool-mask indexing ---------------------------------------------------------
def _pair(name: str, a: NestedTensor, b: NestedTensor) -> None:
    try:
        _math._check_pair(name, a, b)
    except RuntimeError as e:
        raise RuntimeError(str(e).replace(f"{name}.Tensor", f"{name}.Scalar")) from None


def _parts(nt: NestedTensor, other, name: str) -> list:
    if isinstance(other, NestedTensor):
        _pair(name, nt, other)
        return list(other._ts)
    return _math._per_component(nt, other)


def masked_fill(self, mask, value) -> NestedTensor:
    if isinstance(value, (Tensor, NestedTensor)):
        raise _refused(self, "masked_fill.Tensor")
    if mask.dtype != _dtypes.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {_dtype_name(mask.dtype)}"
        )
    return self._like([t.masked_fill(m, value) for t, m in zip(self._ts, _parts(self, mask, "masked_fill"))])


def masked_fill_(self, mask, value) -> NestedTensor:
    raise _refused(self, "masked_fill_.Tensor" if isinstance(value, (Tensor, NestedTensor)) else "masked_fill_.Scalar")


def where(condition, input, other):
    """``ej.where(condition, input, other)`` with a nested condition (torch broadcasts the
    others to it: nested ones must match its structure)."""
    from .._generate import functional as _F

    if not isinstance(condition, NestedTensor):
        nt = input if isinstance(input, NestedTensor) else other
        if nt._layout is jagged:
            raise ValueError(
                "NestedTensor where_self(condition: jt_all, self: any, other: any): expected condition to be a "
                "jagged layout NestedTensor"
            )
        raise RuntimeError("condition must be nested")
    xs, ys = _parts(condition, input, "where"), _parts(condition, other, "where")
    out = [_F.where(c, x, y) for c, x, y in zip(condition._ts, xs, ys)]
    return condition._like(out)


def where_method(self, condition, other) -> NestedTensor:
    return where(condition, self, other)


# -- value-selecting reductions ------------------------------------------------------------------------
_STRIDED_OP = {"max": "max.dim", "min": "min.dim", "prod": "prod.dim_int", "all": "all.dim", "any": "any.dim"}


def _fields(outs: list) -> list:
    """Per-component results as lists per output (``max``/``min`` give (values, indices))."""
    if isinstance(outs[0], tuple):
        return [list(f) for f in zip(*outs)]
    return [outs]


def _regroup(sample, groups: list):
    return type(sample)(*groups) if isinstance(sample, tuple) else groups[0]


def _strided_ragged(nt: NestedTensor):
    var = _varying(nt._ts)
    return var[0] + 1 if len(var) == 1 else 1 if not var else None


def reduce(name: str, nt: NestedTensor, dim=None, keepdim: bool = False, **kw):
    """torch's jagged reduction rules: everything or the batch + ragged dims (dense, on the
    values), the ragged dim (dense, one row per component), other dims (nested)."""
    from .._generate import functional as _F

    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        if name in ("argmax", "argmin"):
            flat = nt.values().reshape(-1)
        else:
            flat = _F.cat([t.reshape(-1) for t in nt._ts])
        out = getattr(flat, name)(**kw)
        return out.reshape([1] * nt.dim()) if keepdim else out
    n = nt.dim()
    dims = [_wrap(d, n) for d in ((dim,) if isinstance(dim, int) else dim)]
    single = isinstance(dim, int)
    r = nt._ragged if nt._layout is jagged else _strided_ragged(nt)
    on_batch, on_ragged = 0 in dims, r in dims
    on_other = any(d not in (0, r) for d in dims)

    def refuse(msg):
        if nt._layout is jagged:
            raise RuntimeError(f"{name}(): {msg} is not supported for nested tensors")
        raise _unsupported(_STRIDED_OP.get(name, name) if single or name in ("amax", "amin") else f"{name}.dims")

    if on_ragged:
        if on_batch:
            joined = _F.cat(list(nt._ts), r - 1)
            inner = sorted({d - 1 for d in dims if d != 0})
            out = getattr(joined, name)(inner[0] if single else inner, keepdim=keepdim, **kw)
            return _regroup(out, [f.unsqueeze(0) for f in _fields([out])[0]]) if keepdim else out
        if on_other:
            refuse("reducing along a ragged and non-batch dimension")
        arg = r - 1 if single else [r - 1]
        outs = [getattr(t, name)(arg, keepdim=keepdim, **kw) for t in nt._ts]
        return _regroup(outs[0], [_F.stack(f) for f in _fields(outs)])
    if on_batch:
        refuse("reducing along the batch dimension but not the ragged dimension")
    cd = [d - 1 for d in dims]
    outs = [getattr(t, name)(cd[0] if single else cd, keepdim=keepdim, **kw) for t in nt._ts]
    rr = nt._ragged
    if rr is not None and not keepdim:
        rr -= sum(1 for d in dims if d < rr)
    return _regroup(outs[0], [nt._like(f, rr) for f in _fields(outs)])


def _reduction(name: str):
    def m(self, dim=None, keepdim: bool = False, **kw):
        if name in ("max", "min") and isinstance(dim, (Tensor, NestedTensor)):  # (torch.max(a, b))
            from .._generate import functional as _F

            op = "maximum" if name == "max" else "minimum"
            return _math.binary(op, getattr(_F, op), self, dim)
        return reduce(name, self, dim, keepdim, **kw)

    m.__name__ = name
    return m


# -- dtype conversions, factories, queries ------------------------------------------------------------
def _convert(name: str):
    def m(self, *args, **kwargs):
        return self._map(lambda t: getattr(t, name)(*args, **kwargs))

    m.__name__ = name
    return m


def type_(self, dtype=None, non_blocking: bool = False, **kwargs):
    if dtype is None:
        return self._ts[0].type() if self._ts else "torch.FloatTensor"
    return self._map(lambda t: t.type(dtype))


def type_as(self, other) -> NestedTensor:
    return self.to(other.dtype)


def new_tensor(self, data, **kwargs) -> Tensor:
    return self._ts[0].new_tensor(data, **kwargs)


def _new(name: str):
    def m(self, *size, **kwargs):
        shape = _shape_args(size)
        if self._layout is not jagged:
            raise _unsupported(name)
        if name == "new_full":
            raise NotImplementedError("aten.new_full.default")
        if shape:
            raise RuntimeError("new_empty() not supported for NJT with shape != ()")
        return getattr(self._ts[0], name)((), **kwargs)

    m.__name__ = name
    return m


def is_same_size(self, other) -> bool:
    if self._layout is jagged:
        if not isinstance(other, NestedTensor) or other._layout is not jagged:
            raise ValueError(
                "NestedTensor is_same_size_default(self: jt_all, other: jt_all): expected other to be a jagged "
                "layout NestedTensor"
            )
        return len(self._sizes()) == len(other._sizes()) and all(
            a is b or (isinstance(a, int) and a == b) for a, b in zip(self._sizes(), other._sizes())
        )
    if not isinstance(other, NestedTensor):
        raise RuntimeError(
            "Expected both self and other to be nested tensors. Self is nested. While Other is not nested."
        )
    return len(self._ts) == len(other._ts) and all(
        tuple(a.shape) == tuple(b.shape) for a, b in zip(self._ts, other._ts)
    )


def cpu(self) -> NestedTensor:
    ts = [t.cpu() for t in self._ts]
    return self if all(a is b for a, b in zip(ts, self._ts)) else self._like(ts)


def detach_(self) -> NestedTensor:
    if self._layout is jagged:
        raise RuntimeError(
            "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel (DDP) "
            "for training, and gradient_as_bucket_view is set as True, gradients are views of DDP buckets, and "
            "hence detach_() cannot be called on these gradients. To fix this error, please refer to the "
            "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
        )
    for t in self._ts:
        t.detach_()
    return self


def _bool(self):
    if self.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(next(t for t in self._ts if t.numel()).reshape(()))


def lerp(self, end, weight) -> NestedTensor:
    if isinstance(weight, (Tensor, NestedTensor)):
        raise _refused(self, "lerp.Tensor")
    return _math.binary("lerp", lambda x, y: x.lerp(y, weight), self, end)


METHODS = {
    "expand": expand,
    "expand_as": expand_as,
    "view_as": view_as,
    "reshape_as": reshape_as,
    "unflatten": unflatten,
    "tensor_split": tensor_split,
    "movedim": movedim,
    "moveaxis": movedim,
    "contiguous": lambda self, memory_format=None: self,
    "masked_fill": masked_fill,
    "masked_fill_": masked_fill_,
    "where": where_method,
    "type": type_,
    "type_as": type_as,
    "new_tensor": new_tensor,
    "is_same_size": is_same_size,
    "nelement": lambda self: self.numel(),
    "element_size": lambda self: _dtypes.to_dtype(self.dtype).itemsize,
    "is_complex": lambda self: _dtypes.is_complex(self.dtype),
    "is_signed": lambda self: self._ts[0].is_signed() if self._ts else True,
    "is_pinned": lambda self: False,
    "cpu": cpu,
    "detach_": detach_,
    "lerp": lerp,
    "__bool__": _bool,
    "__pos__": lambda self: self.positive(),
    "__mod__": lambda self, other: self.remainder(other),
    "__and__": lambda self, other: self.bitwise_and(other),
    "__or__": lambda self, other: self.bitwise_or(other),
    "__xor__": lambda self, other: self.bitwise_xor(other),
    "__invert__": lambda self: self.bitwise_not(),
}
# torch 2.13 has no nested kernel for these (jagged op, strided op): its NotImplementedError
REFUSED = {
    "std": ("std.correction", "std.correction"),
    "var": ("var.correction", "var.correction"),
    "logsumexp": ("logsumexp.default", "logsumexp"),
    "cumsum": ("cumsum.default", "cumsum"),
    "cumprod": ("cumprod.default", "cumprod"),
    "count_nonzero": ("count_nonzero.default", "count_nonzero"),
    "nansum": ("nansum.default", "nansum"),
    "median": ("median.default", "median"),
    "sort": ("sort.default", "sort"),
    "argsort": ("sort.default", "sort"),
    "topk": ("topk.default", "topk"),
    "flip": ("flip.default", "flip"),
    "roll": ("roll.default", "roll"),
    "repeat": ("repeat.default", "repeat"),
    "tile": ("repeat.default", "repeat"),
    "unfold": ("unfold.default", "unfold"),
    "addcmul": ("addcmul.default", "addcmul"),
    "addcdiv": ("addcdiv.default", "addcdiv"),
    "masked_scatter": ("masked_scatter.default", "masked_scatter"),
    "normal_": ("normal_.default", "normal_"),
    "uniform_": ("uniform_.default", "uniform_"),
    "exponential_": ("exponential_.default", "exponential_"),
    "random_": ("random_.default", "random_"),
}


def _refuse(name: str):
    jop, sop = REFUSED[name]

    def m(self, *args, **kwargs):
        if name == "normal_" and self._layout is not jagged:  # (torch's strided layout has this one)
            for t in self._ts:
                t.normal_(*args, **kwargs)
            return self
        raise _refused(self, jop, sop)

    m.__name__ = name
    return m


REDUCTIONS = "amax amin max min argmax argmin prod all any".split()
CONVERSIONS = "int long bool short byte char".split()
LIKE = "zeros_like ones_like empty_like full_like rand_like randn_like randint_like".split()


def install_methods() -> None:
    for name, fn in METHODS.items():
        setattr(NestedTensor, name, fn)
    for name in REDUCTIONS:
        setattr(NestedTensor, name, _reduction(name))
    for name in REFUSED:
        setattr(NestedTensor, name, _refuse(name))
    for name in CONVERSIONS:
        setattr(NestedTensor, name, _convert(name))
    for name in ("new_zeros", "new_ones", "new_empty", "new_full"):
        setattr(NestedTensor, name, _new(name))
    NestedTensor.real = property(lambda self: self._map(lambda t: t.real))
    NestedTensor.data = property(lambda self: self.detach())


def install_hooks(wrap, method) -> None:
    """``ej.<fn>`` for these ops (``wrap``/``method``: ``_hooks``'s helpers)."""
    import eagerjax as ej

    for name in REDUCTIONS + ["tensor_split", "movedim", "moveaxis", "unflatten", "masked_fill", "lerp"]:
        wrap(ej, name, method(name))
    for name in LIKE:
        wrap(ej, name, lambda orig, nt, *a, **k: nt._map(lambda t: orig(t, *a, **k)))
    wrap(ej, "where", _where, when=_any_nested)


def _where(orig, condition, *args, **kwargs):
    if not args and not kwargs:
        raise _refused(condition, "nonzero.default")
    return where(condition, *args, **kwargs)


def _any_nested(args, kwargs) -> bool:
    return any(type(x) is NestedTensor for x in (*args, *kwargs.values()))
