"""The op-table row type and the registry every table module adds its rows to.

A row says *what* an op computes (a pure function of jax arrays and static
Python values) and which public forms exist; ``_generate.py`` turns rows into
functions, Tensor methods, in-place variants and operators, and
``_dispatch.dispatch`` is the one place that runs them.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

_uids = itertools.count()


class OpDef:
    """One row of the op table.

    Args:
        name: the torch name (``"add"``); the function is ``ej.<name>`` unless
            ``function=False``, the method ``Tensor.<name>`` unless ``method=False``.
        fn: pure function ``fn(*args, **kwargs) -> array | tuple[array, ...]``.
            Tensor arguments arrive as jax arrays; everything else as given.
        scalars: positions/keyword names where a Python number is a *traced*
            operand (passed weakly typed, so a new value never recompiles); at every
            other position a Python value is static (part of the kernel key).
        inplace: generate ``Tensor.<name>_`` (result written back into self).
        dunders: operator names bound to the method (``("__add__",)``).
        rdunders: reflected operators (``("__radd__",)``): called with operands swapped.
        differentiable: results can carry gradients.
        promote: cast tensor operands to torch's result type when their dtypes differ.
        out_type: wraps a tuple result (e.g. a ``(values, indices)`` namedtuple).
        eager_only: the output shape depends on values (``nonzero``): run unjitted
            on concrete arrays; refused inside compiled/lazy capture.
        namespaces: extra public homes for the function (``("linalg",)``).
        host: optional NumPy implementation with ``fn``'s signature, used by eager
            mode instead of a compiled kernel (creation ops: a new shape then costs
            no XLA compile; traced modes still use ``fn``).
        check: optional eager-only check of argument *values* with ``fn``'s signature
            (Tensors as Tensors), run before the kernel: index ranges (``_bounds``).
        autocast: the torch op this row is in ``ej.autocast``'s tables (``_autocast.py``):
            by default its own name without a leading underscore; a fixed name, a function
            of the call's keyword arguments returning one (an RNN's ``mode``), or None.
    """

    __slots__ = (
        "name",
        "fn",
        "scalars",
        "method",
        "function",
        "inplace",
        "dunders",
        "rdunders",
        "differentiable",
        "promote",
        "out_type",
        "eager_only",
        "namespaces",
        "kernels",
        "uid",
        "doc",
        "ref",
        "family",
        "host",
        "check",
        "check_always",
        "autocast",
    )

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        scalars: tuple = (),
        method: bool = True,
        function: bool = True,
        inplace: bool = False,
        dunders: tuple[str, ...] = (),
        rdunders: tuple[str, ...] = (),
        differentiable: bool = True,
        promote: bool = False,
        out_type: Callable | None = None,
        eager_only: bool = False,
        namespaces: tuple[str, ...] = (),
        doc: str | None = None,
        host: Callable | None = None,
        check: Callable | None = None,
        autocast: str | Callable | None = "",
    ) -> None:
        self.name = name
        self.fn = fn
        self.scalars = frozenset(scalars)
        self.method = method
        self.function = function
        self.inplace = inplace
        self.dunders = dunders
        self.rdunders = rdunders
        self.differentiable = differentiable
        self.promote = promote
        self.out_type = out_type
        self.eager_only = eager_only
        self.namespaces = namespaces
        self.kernels: dict = {}
        self.uid = next(_uids)
        self.doc = doc
        self.family = ""
        self.host = host
        self.check = check
        self.check_always = getattr(check, "every_mode", False)  # (``_dispatch.every_mode``)
        self.autocast = name.lstrip("_") if autocast == "" else autocast

    def __repr__(self) -> str:
        return f"<op {self.name}>"


OPS: dict[str, OpDef] = {}


def op(name: str, fn: Callable, **kw: Any) -> OpDef:
    """Register a row; names are unique across the whole table."""
    if name in OPS:
        raise ValueError(f"op {name!r} is defined twice in the op table")
    row = OpDef(name, fn, **kw)
    # The registering module names the op's family (for docs and the coverage table).
    row.family = sys._getframe(1).f_globals.get("__name__", "").rsplit(".", 1)[-1].lstrip("_")
    if row.family == "registry":
        row.family = sys._getframe(2).f_globals.get("__name__", "").rsplit(".", 1)[-1].lstrip("_")
    OPS[name] = row
    return row


def alias(new: str, old: str, **overrides: Any) -> OpDef:
    """Another torch name for an existing row (``clip`` for ``clamp``)."""
    base = OPS[old]
    kw = {
        s: getattr(base, s)
        for s in (
            "scalars",
            "method",
            "function",
            "inplace",
            "differentiable",
            "promote",
            "out_type",
            "eager_only",
            "namespaces",
            "autocast",
        )
    }
    kw.update(dunders=(), rdunders=())
    kw.update(overrides)
    return op(new, base.fn, **kw)
