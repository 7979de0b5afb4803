"""Turn op-table rows into public forms: ``ej.<op>``, ``Tensor.<op>``,
``Tensor.<op>_`` (in-place) and operators. Nothing here computes anything:
every generated callable is a two-line trampoline into ``dispatch``.
"""

from __future__ import annotations

import types

import jax
import numpy as np

from ._dispatch import dispatch
from ._dtypes import torch_name as _torch_name  # (imported from here by many modules)
from ._ops._registry import OPS, OpDef
from ._state import flags
from ._tensor import Tensor, _set_rg, check_device


def _function(op: OpDef):
    def f(*args, **kwargs):
        if kwargs:
            check_device(kwargs.get("device"))
            if "requires_grad" in kwargs:
                # torch's factory keyword: the result becomes a leaf that requires grad.
                rg = kwargs.pop("requires_grad")
                out = dispatch(op, args, kwargs)
                return out._require_grad() if rg else out  # (torch's factory message for int dtypes)
        return dispatch(op, args, kwargs)

    f.__name__ = f.__qualname__ = op.name
    f.__doc__ = op.doc or f"eagerjax.{op.name}: torch.{op.name} computed by `{_fn_name(op.fn)}`."
    return f


def _fn_name(fn) -> str:
    return getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))


def _reflected(op: OpDef):
    def f(self, other):
        return dispatch(op, (other, self), {})

    f.__name__ = f"__r{op.name}__"
    return f


def inplace_update(self: Tensor, out: Tensor, name: str) -> Tensor:
    """Write ``out`` (computed from self) back into ``self`` with torch's in-place rules."""
    if tuple(out.shape) != tuple(self.shape):
        raise RuntimeError(
            f"{name}: output with shape {list(self.shape)} doesn't match the broadcast shape {list(out.shape)}"
        )
    if out.dtype != self.dtype:
        from . import _dtypes

        if _dtypes._category(out.dtype) > _dtypes._category(self.dtype):
            raise RuntimeError(
                f"{name}: result type {_torch_name(out.dtype)} can't be cast to the desired output type "
                f"{_torch_name(self.dtype)}"
            )
        out = out._cast(self.dtype)
    return rebind(self, out)


def rebind(self: Tensor, out: Tensor) -> Tensor:
    """Make ``self`` hold ``out``'s value and its history (the in-place write itself)."""
    self._assign(out._value)
    if out._node is not None:
        self._node = out._node
        self._idx = out._idx
        _set_rg(self, True)
    return self


_CUT_KERNELS: dict = {}


def _cut_gradient(op: OpDef, out: Tensor, self: Tensor, args, kwargs) -> Tensor:
    """A non-differentiable op written in place into a float tensor that requires grad (or
    computed from one that does): torch's result still requires grad, with a zero gradient
    (``v.ge_(1.0)`` -> ``GeBackward``), so the old gradient path is cut, not kept. The zero
    comes from ``jax.vjp`` of a ``stop_gradient`` kernel over the operands."""
    from ._dispatch import Kernel, call_kernel

    srcs = [self] + [a for a in list(args) + list(kwargs.values()) if isinstance(a, Tensor)]
    if not any(t._rg for t in srcs):
        return out
    kern = _CUT_KERNELS.get((op.name, len(srcs)))
    if kern is None:
        import jax

        def cut(new, target, *_):
            return jax.lax.stop_gradient(new).astype(target.dtype)

        kern = _CUT_KERNELS[(op.name, len(srcs))] = Kernel(cut, op.name)
    return call_kernel(kern, [out._read()] + [t._read() for t in srcs], [None] + srcs)


def check_inplace(self: Tensor, name: str) -> None:
    if self._rg and self._node is None and flags.grad_enabled:
        raise RuntimeError(f"a leaf Variable that requires grad is being used in an in-place operation. ({name})")


def _inplace(op: OpDef):
    name = op.name + "_"

    def f(self, *args, **kwargs):
        check_inplace(self, name)
        out = dispatch(op, (self, *args), kwargs)
        if not op.differentiable and flags.grad_enabled:
            out = _cut_gradient(op, out, self, args, kwargs)
        return inplace_update(self, out, name)

    f.__name__ = name
    return f


functional = types.ModuleType("eagerjax._ops.functional", "Every op-table row as a function.")
# Rows with ``namespaces=("linalg",)`` named ``linalg_norm`` become ``ej.linalg.norm``.
namespaces: dict[str, types.ModuleType] = {}

# The in-place rows torch also exposes as top-level functions (``torch.abs_(x)``). torch's
# set is irregular (``torch.exp_`` exists, ``torch.add_`` does not), hence a list of row
# names; each becomes ``ej.<name>_``, the same callable as ``Tensor.<name>_``.
# ``tests/test_toplevel.py`` checks the list against torch.
TOPLEVEL_INPLACE = frozenset(
    """abs acos acosh addmv arccos arccosh arcsin arcsinh arctan arctanh asin asinh atan atanh ceil clamp
    clamp_max clamp_min clip cos cosh deg2rad erf erfc exp exp2 expm1 fix floor frac gcd i0 index_put lcm
    ldexp log log10 log1p log2 logit nan_to_num neg negative rad2deg reciprocal relu round rsqrt sigmoid
    sin sinc sinh sqrt square tan tanh trunc xlogy""".split()
)


def generate() -> None:
    """Attach every row of OPS to ``functional``, ``Tensor`` and its operators."""
    for name, op in OPS.items():
        fn = _function(op)
        if op.function:
            setattr(functional, name, fn)
        for ns in op.namespaces:
            mod = namespaces.get(ns)
            if mod is None:
                mod = namespaces[ns] = types.ModuleType(f"eagerjax.{ns}", f"torch.{ns}: op-table rows.")
            short = name[len(ns) + 1 :] if name.startswith(ns + "_") else name
            setattr(mod, short, fn)
        if op.method and not hasattr(Tensor, name):
            setattr(Tensor, name, fn)
        if op.inplace and not hasattr(Tensor, name + "_"):
            setattr(Tensor, name + "_", _inplace(op))
        if op.inplace and name in TOPLEVEL_INPLACE:
            setattr(functional, name + "_", getattr(Tensor, name + "_"))
        for d in op.dunders:
            setattr(Tensor, d, _operands_only(fn, d) if d not in _UNARY else fn)
        for d in op.rdunders:
            setattr(Tensor, d, _operands_only(_reflected(op), d))
        if op.inplace:
            for d in op.dunders:
                if d in _IOPS:
                    setattr(Tensor, _IOPS[d], _inplace(op))


_UNARY = frozenset({"__neg__", "__pos__", "__abs__", "__invert__"})
_OPERANDS = (int, float, bool, complex)


def _operands_only(fn, name: str):
    """A binary operator defers (``NotImplemented``) to anything that is not a tensor, array or
    number (``@``: not a number either), so Python says what torch says (``unsupported operand
    type(s) for +: 'Tensor' and 'NoneType'``) and ``t == None`` / ``t == 'a'`` are False."""
    numbers = () if name in ("__matmul__", "__rmatmul__") else _OPERANDS

    def f(self, other):
        if type(other) in numbers or isinstance(other, (Tensor, np.ndarray, np.generic, jax.Array)):
            return fn(self, other)
        return NotImplemented

    f.__name__ = fn.__name__
    return f


_IOPS = {
    "__add__": "__iadd__",
    "__sub__": "__isub__",
    "__mul__": "__imul__",
    "__truediv__": "__itruediv__",
    "__floordiv__": "__ifloordiv__",
    "__mod__": "__imod__",
    "__pow__": "__ipow__",
    "__and__": "__iand__",
    "__or__": "__ior__",
    "__xor__": "__ixor__",
    "__lshift__": "__ilshift__",
    "__rshift__": "__irshift__",
}
