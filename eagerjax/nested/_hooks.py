"""How ``ej.<op>(nt)`` and ``nn.functional.<fn>(nt)`` reach nested tensors.

The public functions named below are wrapped once, when the first ``NestedTensor`` is
built (a program that never makes one pays nothing): the wrapper hands a call whose first
(or, for binary ops, second) argument is a ``NestedTensor`` to the nested implementation
and any other call to the original function (one ``type() is`` check, ~0.2-0.7 us).
``nn`` modules look their functions up on ``nn.functional`` (and ``LayerNorm`` on
``nn._functional_layers``) at call time, so ``nn.Linear``/``nn.ReLU``/``nn.LayerNorm``
take nested tensors too. Library code calling rows directly (``_generate.functional``,
``Tensor`` methods) is untouched.
"""

from __future__ import annotations

import functools

from . import _attention, _gaps, _math, _more, _stacks
from ._nested_tensor import NestedTensor

# nn.functional functions that act on each element (or row-independently with no dim
# argument): applied to every component with the same arguments.
_F_ELEMENTWISE = """relu relu6 elu selu celu leaky_relu gelu silu mish hardtanh softplus sigmoid tanh logsigmoid
hardswish hardsigmoid softsign tanhshrink hardshrink softshrink dropout alpha_dropout threshold""".split()


_MISSING = object()


def _is_nt(args, kwargs, two: bool) -> bool:
    if args:
        return type(args[0]) is NestedTensor or (two and len(args) > 1 and type(args[1]) is NestedTensor)
    return type(kwargs.get("input")) is NestedTensor


def _wrap(mod, name: str, impl, two: bool = False, when=None) -> None:
    """Route ``mod.<name>`` calls that take a nested tensor to ``impl(orig, *args, **kwargs)``.
    Which calls: ``when(args, kwargs)`` if given, else those whose first argument (or
    ``input=``; with ``two``, either of the first two) is a ``NestedTensor``."""
    orig = getattr(mod, name, None)
    if orig is None or getattr(orig, "_nested_impl", None) is not None:
        return

    @functools.wraps(orig)
    def f(*args, **kwargs):
        if when(args, kwargs) if when is not None else _is_nt(args, kwargs, two):
            if not args and when is None:
                args = (kwargs.pop("input"),)
            return impl(orig, *args, **kwargs)
        return orig(*args, **kwargs)

    f._nested_impl = impl
    setattr(mod, name, f)


def _method(name):
    def impl(orig, nt, *args, **kwargs):
        return getattr(nt, name)(*args, **kwargs)

    return impl


def _binary(name):
    def impl(orig, a, b=_MISSING, **kwargs):
        if b is _MISSING:  # (torch's keyword: ``add(nt, other=1)``)
            b = kwargs.pop("other")
        return _math.binary(name, orig, a, b, **kwargs)

    return impl


def _elementwise(orig, nt, *args, **kwargs):
    out = nt._map(lambda t: orig(t, *args, **kwargs))
    return nt if kwargs.get("inplace") else out


def _softmax(name):
    def impl(orig, nt, dim=None, _stacklevel=3, dtype=None):
        return _math.softmax_like(name, nt, dim, lambda t, d: orig(t, d, dtype=dtype))

    return impl


def _softmin(orig, nt, dim=None, _stacklevel=3, dtype=None):
    return _math.softmax_like("softmin", nt, dim, lambda t, d: orig(t, d, dtype=dtype))


def _wrap_sdpa(functional) -> None:
    """``F.scaled_dot_product_attention``: nested when any of query/key/value is (torch
    then refuses a mix of nested and dense)."""
    orig = functional.scaled_dot_product_attention
    if getattr(orig, "_nested_impl", None) is not None:
        return

    @functools.wraps(orig)
    def f(*args, **kwargs):
        qkv = list(args[:3]) + [kwargs.get(n) for n in ("query", "key", "value")[len(args[:3]) :]]
        if any(type(x) is NestedTensor for x in qkv):
            return _attention.sdpa(orig, *args, **kwargs)
        return orig(*args, **kwargs)

    f._nested_impl = _attention.sdpa
    functional.scaled_dot_product_attention = f


def install() -> None:
    import eagerjax as ej

    from ..nn import _functional_layers, functional

    shape_ops = "transpose unbind narrow unsqueeze squeeze select reshape flatten permute swapaxes swapdims chunk split"
    for name in _math.UNARY + ["sum", "mean", "clone", "detach", *shape_ops.split()]:
        if hasattr(NestedTensor, name):
            _wrap(ej, name, _method(name))
    for name in _math.BINARY:
        _wrap(ej, name, _binary(name), two=True)
    _wrap(ej, "matmul", lambda orig, a, b: _math.matmul(a, b), two=True)
    _wrap(ej, "bmm", lambda orig, a, b: _math.bmm(a, b), two=True)
    for name in ("softmax", "log_softmax"):
        _wrap(ej, name, _softmax(name))
        _wrap(functional, name, _softmax(name))
    _wrap(ej, "dropout", lambda orig, nt, p=0.5, train=True: nt._map(lambda t: orig(t, p, train)))
    for name in _F_ELEMENTWISE:
        _wrap(functional, name, _elementwise)
    _wrap(functional, "linear", lambda orig, nt, weight, bias=None: _math.linear(nt, weight, bias, orig=orig))
    _wrap(_functional_layers, "layer_norm", lambda orig, nt, *a, **k: _math.layer_norm(nt, *a, orig=orig, **k))
    functional.layer_norm = _functional_layers.layer_norm
    _wrap_sdpa(functional)
    _wrap(functional, "softmin", _softmin)
    _wrap(functional, "rms_norm", lambda orig, nt, *a, **k: _math.layer_norm(nt, *a, orig=orig, name="rms_norm", **k))
    _more.install_hooks(_wrap, _method)
    _gaps.install_hooks(_wrap)
    _stacks.install_hooks(_wrap)
