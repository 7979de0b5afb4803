"""The generator behind ``eagerjax.testing.programs``: draws valid random op programs.

Every step is drawn from a :class:`Spec` (``_fuzz_catalog.SPECS``) and evaluated at once
with the row's pure jax function on the program's concrete inputs, so the generator knows
each variable's shape, dtype and values. A step is kept only when

- its operands are in the op's domain (``pre``: no log of ~0, no division by ~0, ...) and
  its results are finite, of moderate size and not subnormal;
- it is *stable* across implementations: an op whose result jumps with a 1-ulp change of
  its input (``floor``, comparisons, ``argmax``, float->int casts; ``disc=True``) only
  takes floats known to be computed exactly. A float is exact when it lies on a coarse
  binary grid (``g`` fraction bits) and every op that made it was exact on that grid
  (``+ - * abs max clamp sum reshape ...``, with partial sums bounded), so fusion, FMA
  contraction or reassociation in a compiled program cannot change it;
- in-place forms only target variables torch would not alias (no view of, or viewed by,
  another variable; not a leaf that requires grad) and keep the target's shape and a
  dtype the result can be cast to.

Hypothesis is imported lazily by the caller; this module only needs ``draw``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ._fuzz_programs import (
    OPERATORS,
    PUBLIC_METHODS,
    UNARY_OPERATORS,
    Dtype,
    Input,
    Program,
    Ref,
    Step,
    _JaxDt,
    _resolve,
    ref_call,
)
from ._ops._registry import OPS

F32, F16, I32, BOOL = "float32", "float16", "int32", "bool"
_MAXBITS = {F32: 22, F16: 10}
# torch marks these results as requiring grad although eagerjax's rows are not differentiable
# (heaviside: torch's backward raises "not implemented")
TORCH_GRAD_QUIRKS = {"heaviside"}
# In-place non-differentiable ops whose float result torch gives a zero gradient (GeBackward:
# ``zeros_like``), as eagerjax does. For the others torch keeps the old gradient path
# (logical_*) or raises (heaviside_), and a bool/int target is marked requires_grad by torch.
TORCH_ZERO_GRAD_INPLACE = {
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal"
}  # fmt: skip
_LIM = {F32: (1e4, 1e-6), F16: (300.0, 1e-3)}


class Var:
    """What the generator knows about one variable."""

    __slots__ = ("name", "value", "g", "grad", "group", "leaf", "contig")

    def __init__(self, name, value, g, grad=False, group=None, leaf=False, contig=True) -> None:
        self.name = name
        self.value = value  # a jax array (the reference value)
        self.g = g  # exact on a 2**-g grid (floats); None: not known exact. ints/bools: 0
        self.grad = grad  # depends on an input that requires grad
        self.group = group if group is not None else name  # torch view/alias group
        self.leaf = leaf
        self.contig = contig

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> str:
        return np.dtype(self.value.dtype).name

    @property
    def M(self) -> float:
        v = np.asarray(self.value, np.float64)
        return float(np.abs(v).max()) if v.size else 0.0


def grid_bits(x) -> int | None:
    """Fraction bits of a Python number on a grid (``0.75`` -> 2), None if off-grid."""
    if isinstance(x, (bool, int)):
        return 0
    for g in range(13):
        if float(x) * 2**g == int(float(x) * 2**g):
            return g
    return None


class Gen:
    """Generation state: variables, inputs, steps, and the hypothesis ``draw``."""

    def __init__(self, draw, st, hnp, *, dtypes, allow_inplace, forms, max_side, zero_dims, reject=None) -> None:
        self.reject = reject
        self.draw, self.st, self.hnp = draw, st, hnp
        self.dtypes = dtypes
        self.allow_inplace = allow_inplace
        self.forms = forms
        self.max_side = max_side
        self.zero_dims = zero_dims
        self.vars: dict[str, Var] = {}
        self.inputs: list[Input] = []
        self.steps: list[Step] = []
        self.pending: list[str] = []  # fresh inputs of the step being drawn
        self.notes: set = set()
        # variables whose value carries float16 rounding that is not exact (see ``exactness``):
        # torch and XLA may round such a value 1 float16 ulp apart, and it carries into every
        # float32 value computed from it (thorough run: atan2 of a log2_'d float16 scalar)
        self.lowp: set = set()
        self.n = 0

    # ------------------------------------------------------------------ draws
    def pick(self, seq):
        seq = list(seq)
        return seq[0] if len(seq) == 1 else self.draw(self.st.sampled_from(seq))

    def int(self, lo, hi) -> int:
        return lo if lo >= hi else self.draw(self.st.integers(lo, hi))

    def bool(self, p: float = 0.5) -> bool:
        return self.draw(self.st.integers(0, 99)) < int(p * 100)

    def scalar(self, kind="f"):
        """A Python number on the grid: float k/4, int, or bool."""
        if kind == "b":
            return self.bool()
        if kind == "i":
            return self.int(-4, 4)
        return self.int(-12, 12) / 4

    def dtype(self, kinds) -> str:
        opts = [d for d in self.dtypes if d in kinds]
        return self.pick(opts) if opts else self.pick(kinds)

    def name(self, prefix="v") -> str:
        self.n += 1
        return f"{prefix}{self.n - 1}"

    # ------------------------------------------------------------------ operands
    def fresh(self, shape, dtype, grad=None, lo=None, hi=None, kind=None) -> Ref:
        """A new input of ``shape``/``dtype`` (grid values unless ``kind="cont"``; ints in [lo, hi])."""
        st, hnp = self.st, self.hnp
        shape = tuple(int(s) for s in shape)
        g = 0
        if dtype == BOOL:
            el = st.booleans()
        elif dtype == I32:
            el = st.integers(-6 if lo is None else lo, 6 if hi is None else hi)
        else:
            kind = kind or self.pick(["grid", "grid", "cont"])
            if kind == "grid":
                el, g = st.integers(-12, 12).map(lambda k: k / 4), 2
            else:
                el, g = st.integers(-2999, 2999).map(lambda k: k / 1000), None
        arr = np.asarray(self.draw(hnp.arrays(np.dtype(dtype), shape, elements=el)))
        if grad is None:
            grad = dtype == F32 and self.bool(0.6)
        name = f"x{len(self.inputs)}"
        self.inputs.append(Input(name, arr, bool(grad)))
        self.vars[name] = Var(name, jnp.asarray(arr), g, bool(grad), leaf=True)
        self.pending.append(name)
        return Ref(name)

    def shape(self, min_dims=0, max_dims=3) -> tuple:
        lo = 0 if self.zero_dims and self.bool(0.1) else 1
        return tuple(self.int(lo, self.max_side) for _ in range(self.int(min_dims, max_dims)))

    def bshape(self, shape) -> tuple:
        """A shape that broadcasts with ``shape`` (usually to ``shape`` itself)."""
        nd = self.int(0, len(shape)) if self.bool(0.4) else len(shape)
        out = [s if self.bool(0.7) else 1 for s in shape[len(shape) - nd :]]
        if nd == len(shape) and self.bool(0.1):  # a new leading dim (only in front of the full shape)
            out = [self.int(1, 3)] + out
        return tuple(out)

    def var(self, ref) -> Var:
        return self.vars[ref.var if isinstance(ref, Ref) else ref]

    def existing(self, pred) -> list[str]:
        return [n for n, v in self.vars.items() if pred(v)]

    def partner(self, x: Var, kinds, scalar=True, zero_d=True, same=False, like=False) -> object:
        """A second operand for ``x``: an existing variable or a fresh input that broadcasts
        with ``x``, a 0-d tensor, or a Python number. ``same``: exactly ``x``'s shape;
        ``like``: also ``x``'s dtype."""
        dt = x.dtype if (like or self.bool(0.7)) and x.dtype in kinds else self.dtype(kinds)
        r = self.int(0, 9)
        if scalar and r == 0:
            return self.scalar({F32: "f", F16: "f", I32: "i", BOOL: "b"}[dt])
        if zero_d and r == 1 and not same:
            return self.fresh((), dt)
        if r < 5:
            shp = x.shape if same else None
            cand = self.existing(
                lambda v: (
                    v.dtype == dt
                    and v.name != x.name
                    and (v.shape == shp if shp is not None else _broadcasts(v.shape, x.shape))
                )
            )
            if cand:
                return Ref(self.pick(cand))
        return self.fresh(x.shape if same else self.bshape(x.shape), dt)

    def dim(self, shape, none=True, tuples=False):
        nd = len(shape)
        opts = [None] if none else []
        opts += list(range(-nd, nd)) if nd else [0, -1]
        if tuples and nd >= 2:
            opts += [(0, -1), (0, 1)] if nd > 2 else [(0, 1)]
        return self.pick(opts)

    def form(self, spec, args, kwargs, row) -> str | None:
        """Pick how the step is called; None when no form fits."""
        forms = []
        scalar_first = not isinstance(args[0], Ref)
        if scalar_first:
            ok = spec.name in OPERATORS and row.rdunders and not kwargs and len(args) == 2
            return "op" if ok else None
        if row.function or spec.name == "where":
            forms.append("fn")
        if (row.method or spec.name in PUBLIC_METHODS) and spec.method:
            forms.append("method")
        if (
            not kwargs
            and row.dunders
            and ((len(args) == 2 and spec.name in OPERATORS) or (len(args) == 1 and spec.name in UNARY_OPERATORS))
        ):
            forms.append("op")
        forms = [f for f in forms if f in self.forms] or forms[:1]
        return self.pick(forms) if forms else None


def _broadcasts(a, b) -> bool:
    """``a`` broadcasts with ``b`` to ``b``'s shape."""
    if len(a) > len(b):
        return False
    return all(x == y or x == 1 for x, y in zip(a[::-1], b[::-1]))


def _as_np(a):
    if isinstance(a, list):
        return [_as_np(x) for x in a]
    return np.asarray(a) if hasattr(a, "dtype") else a


def value_ok(v) -> bool:
    """Finite, moderate, not subnormal-small floats; ints well inside int32."""
    a = np.asarray(v)
    if a.dtype.kind == "f":
        if a.size == 0:
            return True
        if not np.all(np.isfinite(a)):
            return False
        big, small = _LIM.get(a.dtype.name, _LIM[F16])
        m = np.abs(a.astype(np.float64))
        nz = m[m > 0]
        return m.max() <= big and (nz.size == 0 or nz.min() >= small)
    if a.dtype.kind in "iu":
        return a.size == 0 or int(np.abs(a.astype(np.int64)).max()) <= 2**20
    return True


def _operand_vars(G, args, kwargs) -> list[Var]:
    out = []
    for a in list(args) + list(kwargs.values()):
        for x in a if isinstance(a, list) else [a]:
            if isinstance(x, Ref):
                out.append(G.var(x))
    return out


def _scalars(args, kwargs) -> list:
    return [a for a in list(args) + list(kwargs.values()) if type(a) in (int, float) and not isinstance(a, bool)]


def exactness(spec, G, ops: list[Var], args, kwargs, out) -> int | None:
    """Grid bits of a float result, or None when it may differ between implementations."""
    gs = [v.g for v in ops if v.dtype in (F32, F16)]
    gs += [0 for v in ops if v.dtype not in (F32, F16)]
    rule = spec.ex
    if rule == "int":
        return 0
    if rule == "none" or any(g is None for g in gs):
        return None
    sg = [grid_bits(s) for s in _scalars(args, kwargs) if s is not None]
    if any(g is None for g in sg):
        return None
    gs += sg
    ms = [v.M for v in ops] + [abs(float(s)) for s in _scalars(args, kwargs)]
    n = spec.n(G, ops, args, kwargs) if spec.n else 1
    if rule == "same":
        g, bound = max(gs, default=0), sum(ms) * n
    else:  # "mul"
        g, bound = sum(gs), math.prod(ms) * n
    dt = np.dtype(np.asarray(out).dtype).name
    if g > 12 or bound * 2.0**g >= 2.0 ** _MAXBITS.get(dt, 10):
        return None
    return g


def draw_step(G: Gen, specs, primary: str) -> bool:
    """Draw one step on variable ``primary``; False (nothing kept) when the draw is invalid."""
    x = G.vars[primary]
    spec = G.pick(specs)
    if x.dtype not in spec.kinds or not spec.nd[0] <= len(x.shape) <= spec.nd[1]:
        return False
    if spec.nonempty and 0 in x.shape:
        return False
    G.pending = []
    built = spec.gen(G, x)
    if built is None:
        return _rollback(G)
    args, kwargs = built
    args = [Ref(x.name)] + list(args) if spec.self_first else list(args)
    row = OPS[spec.name]
    ops = _operand_vars(G, args, kwargs)
    if spec.disc and any(v.dtype in (F32, F16) and v.g is None for v in ops):
        return _rollback(G)
    if spec.name in TORCH_GRAD_QUIRKS and any(v.grad for v in ops):
        G.notes.add("torch-grad-quirk")
    env = {n: v.value for n, v in G.vars.items()}
    ra = [_resolve(_JaxDt, a, env) for a in args]
    rk = {k: _resolve(_JaxDt, v, env) for k, v in kwargs.items()}
    if spec.pre is not None and not spec.pre(*_as_np(ra), **_as_np(rk)):
        return _rollback(G)
    if spec.kink is not None and any(v.grad for v in ops) and spec.kink(*_as_np(ra), **_as_np(rk)):
        G.notes.add("torch-kink")  # torch's gradient convention differs at this point
    try:
        out = ref_call(spec.name, ra, rk)
    except Exception:  # noqa: BLE001 - an invalid combination the spec did not rule out
        return _rollback(G)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if not outs or not all(value_ok(o) for o in outs):
        return _rollback(G)
    form = G.form(spec, args, kwargs, row)
    if form is None:
        return _rollback(G)
    grad = any(v.grad for v in ops) and row.differentiable
    g = exactness(spec, G, ops, args, kwargs, outs[0])
    lowp = any(v.name in G.lowp for v in ops) or (g is None and any(np.dtype(o.dtype) == np.float16 for o in outs))
    tgt = G.var(args[0]) if isinstance(args[0], Ref) else None
    if (
        G.allow_inplace
        and tgt is not None
        and len(outs) == 1
        and _inplace_ok(G, spec, row, tgt, outs[0])
        and G.bool(0.3)
    ):
        form = "iop" if form == "op" and OPERATORS.get(spec.name, (0, None))[1] else "inplace"
        if G.reject is not None and G.reject(spec.name, form, [_operand(tgt)] + [_operand(v) for v in ops]):
            return _rollback(G)
        new = jnp.asarray(outs[0]).astype(tgt.value.dtype)
        if not row.differentiable and any(v.grad for v in ops):
            if tgt.dtype not in (F32, F16):
                # torch marks even a bool/int result of ``x.eq_(y)`` (y requires grad) requires_grad;
                # later torch ops on it fail ("Autograd not support dtype: Bool", an internal assert
                # in backward: thorough run). eagerjax is right; such programs test torch only.
                return _rollback(G)
            if spec.name not in TORCH_ZERO_GRAD_INPLACE:
                G.notes.add("torch-grad-quirk")
        if _was_read(G, tgt.name) and any(v.grad for v in G.vars.values()):
            # torch may have saved this tensor (or a view of it) for an earlier op's backward: it raises
            # "modified by an inplace operation" -- or, through some composite ops (kron), silently
            # differentiates with the new values. eagerjax's values are immutable: its gradient is
            # the graph's as built. torch's gradients are then not compared.
            G.notes.add("torch-inplace")
        G.vars[tgt.name] = Var(tgt.name, new, _g(new, g), tgt.grad or grad, tgt.group, tgt.leaf, True)
        if lowp or (g is None and tgt.dtype == F16):  # a float32 result rounded into a float16 target
            G.lowp.add(tgt.name)
        G.steps.append(Step(spec.name, form, args, kwargs, (tgt.name,)))
        return True
    if G.reject is not None and G.reject(spec.name, form, [_operand(v) for v in ops]):
        return _rollback(G)
    if any(np.dtype(o.dtype) == np.float16 for o in outs) or any(v.dtype == F16 for v in ops):
        G.notes.add("float16")  # torch computes some float16 backward formulas in float16
    names = [G.name() for _ in outs]
    # ``x.to(x.dtype)`` returns ``x`` itself (torch and eagerjax): an alias, like a view (thorough
    # run: an in-place write to x1 after ``v2 = x1.to(torch.int32)`` changed v2 too)
    view = spec.view or (spec.name == "_cast" and np.dtype(outs[0].dtype) == np.dtype(x.dtype))
    group = x.group if view else None
    contig = x.contig if view and not spec.view else not spec.view or (spec.contig and x.contig)
    for n, o in zip(names, outs):
        fl = np.dtype(o.dtype).kind == "f"
        G.vars[n] = Var(n, jnp.asarray(o), _g(o, g), grad and fl, group, contig=contig)
        if lowp:
            G.lowp.add(n)
    G.steps.append(Step(spec.name, form, args, kwargs, tuple(names), isinstance(out, (tuple, list))))
    return True


class Operand(NamedTuple):
    """What a ``reject`` hook sees of each operand (an in-place target comes first)."""

    name: str
    dtype: str
    shape: tuple
    requires_grad: bool  # depends on an input that requires grad
    leaf: bool


def _operand(v: Var) -> Operand:
    return Operand(v.name, v.dtype, v.shape, v.grad, v.leaf)


def _was_read(G, name) -> bool:
    for s in G.steps:
        for a in list(s.args) + list(s.kwargs.values()):
            for r in a if isinstance(a, list) else [a]:
                if isinstance(r, Ref) and r.var == name:
                    return True
    return False


def _g(o, g):
    return g if np.dtype(o.dtype).kind == "f" else 0


def _rollback(G: Gen) -> bool:
    for n in G.pending:
        del G.vars[n]
        G.inputs = [i for i in G.inputs if i.name != n]
    G.pending = []
    return False


def _inplace_ok(G, spec, row, tgt: Var, out) -> bool:
    if not row.inplace or spec.view or (tgt.leaf and tgt.grad):
        return False
    if tuple(out.shape) != tgt.shape:
        return False
    cat = {"b": 0, "i": 1, "u": 1, "f": 2}
    if cat[np.dtype(out.dtype).kind] > cat[np.dtype(tgt.dtype).kind]:
        return False
    if np.dtype(out.dtype).kind == "f" and np.dtype(out.dtype) != np.dtype(tgt.dtype):
        return False
    if np.dtype(out.dtype) != np.dtype(tgt.dtype) and not value_ok(jnp.asarray(out).astype(tgt.value.dtype)):
        return False
    return sum(1 for v in G.vars.values() if v.group == tgt.group) == 1


def build_program(G: Gen, specs, n_ops: int) -> Program:
    """Initial inputs from broadcastable shapes, then ``n_ops`` steps (bounded retries each)."""
    n_in = G.int(1, 3)
    base = G.shape()
    for _ in range(n_in):
        G.pending = []
        G.fresh(G.bshape(base) if G.bool(0.8) else base, G.dtype([F32, F32, F32, F16, I32, BOOL]))
    G.pending = []
    for _ in range(n_ops):
        names = list(G.vars)
        for _attempt in range(12):
            primary = names[len(names) - 1 - G.int(0, len(names) - 1)]
            if draw_step(G, specs, primary):
                break
    written: dict[str, int] = {}
    read: dict[str, int] = {}
    for k, s in enumerate(G.steps):
        for a in list(s.args) + list(s.kwargs.values()):
            for r in a if isinstance(a, list) else [a]:
                if isinstance(r, Ref):
                    read[r.var] = k
        for n in s.outs:
            written[n] = k
    # outputs: every variable whose last value nobody read (in-place targets included)
    outs = [
        n
        for n, k in written.items()
        if read.get(n, -1) < k or (read.get(n) == k and G.steps[k].form in ("inplace", "iop"))
    ]
    if not outs:
        outs = [G.inputs[0].name]
    rng = np.random.default_rng(G.int(0, 2**16))
    weights = {
        n: (rng.integers(-4, 5, G.vars[n].shape) / 4).astype(np.float32) for n in outs if G.vars[n].dtype in (F32, F16)
    }
    notes = G.notes | {f"lowp:{n}" for n in outs if n in G.lowp}
    return Program(G.inputs, G.steps, outs, weights, sorted(notes))


__all__ = ["Gen", "Var", "build_program", "draw_step", "value_ok", "grid_bits", "F32", "F16", "I32", "BOOL", "Dtype"]
