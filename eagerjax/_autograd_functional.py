"""``torch.autograd.functional``: jacobian, hessian, vjp, jvp, vhp, hvp.

Each is a thin layer over ``eagerjax.func`` (whose transforms run as compiled programs, see
``_func``), with torch's conventions: ``inputs`` is a Tensor or a tuple of Tensors and the
results follow that shape; results are detached unless ``create_graph=True``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _func
from ._tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _as_tuple(inputs, what: str, fn: str) -> tuple[tuple, bool]:
    is_tuple = isinstance(inputs, tuple)
    ins = inputs if is_tuple else (inputs,)
    for i, x in enumerate(ins):
        if not isinstance(x, Tensor):
            raise TypeError(
                f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but the value at index "
                f"{i} has type {type(x)}."
            )
    return ins, is_tuple


def _finish(tree, create_graph: bool):
    if isinstance(tree, tuple):
        return tuple(_finish(t, create_graph) for t in tree)
    return tree if create_graph or tree is None else tree.detach()


def _check_options(strict: bool, fn: str) -> None:
    if strict:
        raise NotImplementedError(
            f"{fn}(strict=True) is not supported by eagerjax: it needs to know whether each output depends "
            "on each input, which JAX's transforms do not report"
        )


def _ones_for(out, fn: str, what: str):
    if not isinstance(out, Tensor) or out.numel() != 1:
        raise RuntimeError(
            f"The vector v can only be None if the {what} is a single Tensor with a single element."
            if fn == "vjp"
            else "The vector v can only be None if the input to the user-provided function is a single Tensor "
            "with a single element."
        )
    from . import ones_like

    return ones_like(out)


def _v_tuple(v, n: int, fn: str) -> tuple:
    vs = v if isinstance(v, tuple) else (v,)
    if len(vs) != n:
        raise RuntimeError(f"{fn}: v has {len(vs)} elements but the inputs have {n}.")
    return vs


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T J)``."""
    _check_options(strict, "vjp")
    ins, is_tuple = _as_tuple(inputs, "inputs", "vjp")
    out, pullback = _func.vjp(func, *ins)
    if v is None:
        v = _ones_for(out, "vjp", "user-provided function returns")
    grads = pullback(v)
    return _finish(out, create_graph), _finish(grads if is_tuple else grads[0], create_graph)


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``."""
    _check_options(strict, "jvp")
    ins, is_tuple = _as_tuple(inputs, "inputs", "jvp")
    if v is None:
        if len(ins) != 1:
            _ones_for(None, "jvp", "")
        vs = (_ones_for(ins[0], "jvp", ""),)
    else:
        vs = _v_tuple(v, len(ins), "jvp")
    out, tangent = _func.jvp(func, ins, vs)
    return _finish(out, create_graph), _finish(tangent, create_graph)


def jacobian(
    func: Callable,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
):
    """The Jacobian: a Tensor (Tensor in, Tensor out), a tuple over inputs or outputs, or a
    tuple over outputs of tuples over inputs."""
    _check_options(strict, "jacobian")
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    ins, is_tuple = _as_tuple(inputs, "inputs", "jacobian")
    transform = _func.jacrev if strategy == "reverse-mode" else _func.jacfwd
    res = transform(func, argnums=tuple(range(len(ins))))(*ins)
    # res: the output structure, each output holding a tuple over the inputs
    if isinstance(res, list):
        res = tuple(res)
    out_is_tuple = isinstance(res, tuple) and len(res) > 0 and isinstance(res[0], tuple)
    if not is_tuple:
        res = tuple(r[0] for r in res) if out_is_tuple else res[0]
    return _finish(res, create_graph)


def hessian(
    func: Callable,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
):
    """The Hessian of a scalar ``func``: a Tensor, or a tuple of tuples for tuple ``inputs``."""
    _check_options(strict, "hessian")
    ins, is_tuple = _as_tuple(inputs, "inputs", "hessian")

    def scalar(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.reshape(())

    res = _func.hessian(scalar, argnums=tuple(range(len(ins))))(*ins)
    return _finish(res if is_tuple else res[0][0], create_graph)


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T H)`` of a scalar ``func``."""
    return _second_order(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)`` of a scalar ``func``."""
    return _second_order(func, inputs, v, create_graph, strict, "hvp")


def _second_order(func, inputs, v, create_graph: bool, strict: bool, fn: str):
    _check_options(strict, fn)
    ins, is_tuple = _as_tuple(inputs, "inputs", fn)
    if v is None:
        if len(ins) != 1 or ins[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                "single element."
            )
        from . import ones_like

        vs = (ones_like(ins[0]),)
    else:
        vs = _v_tuple(v, len(ins), fn)
    argnums = tuple(range(len(ins)))
    out = func(*ins)
    if not isinstance(out, Tensor) or out.numel() != 1:
        raise RuntimeError(f"The function given to {fn} should return a single Tensor with a single element")
    g = _func.grad(func, argnums=argnums)
    if fn == "hvp":
        _, res = _func.jvp(g, ins, vs)  # H v
    else:
        _, pullback = _func.vjp(g, *ins)  # v^T H
        res = pullback(vs)
    return _finish(out, create_graph), _finish(tuple(res) if is_tuple else res[0], create_graph)
