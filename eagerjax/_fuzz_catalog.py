"""The op catalog for ``eagerjax.testing.programs``: how to draw valid arguments for each row.

One :class:`Spec` per op-table row the program fuzzer knows (``SPECS``). ``gen(G, x)``
returns the arguments after the primary operand ``x`` (a ``_fuzz_gen.Var``); ``pre``
checks the concrete operands (the op's domain); ``ex`` says how exactness propagates
(``"same"``: on the operands' grid, ``"mul"``: grid bits add up, ``"int"``: integral
result, ``"none"``); ``disc`` marks ops whose result jumps with a tiny input change.
"""

from __future__ import annotations

import numpy as np

from ._fuzz_gen import BOOL, F16, F32, I32, Dtype

F = (F32, F16)
FI = (F32, F16, I32)
FIB = (F32, F16, I32, BOOL)
IB = (I32, BOOL)


class Spec:
    __slots__ = (
        "name",
        "gen",
        "kinds",
        "nd",
        "nonempty",
        "pre",
        "ex",
        "disc",
        "view",
        "contig",
        "method",
        "self_first",
        "n",
        "kink",
    )

    def __init__(
        self,
        name,
        gen=None,
        kinds=F,
        *,
        nd=(0, 9),
        nonempty=False,
        pre=None,
        ex="none",
        disc=False,
        view=False,
        contig=False,
        method=True,
        self_first=True,
        n=None,
        kink=None,
    ) -> None:
        self.name = name
        self.gen = gen or (lambda G, x: ([], {}))
        self.kinds = kinds
        self.nd = nd
        self.nonempty = nonempty
        self.pre = pre
        self.ex = ex
        self.disc = disc
        self.view = view
        self.contig = contig
        self.method = method
        self.self_first = self_first
        self.n = n
        self.kink = kink  # kink(*operands, **kw): torch's gradient convention differs from jax's here

    def __repr__(self) -> str:
        return f"<spec {self.name}>"


SPECS: list[Spec] = []


def add(*a, **k) -> Spec:
    s = Spec(*a, **k)
    SPECS.append(s)
    return s


def _all(f):
    """A ``pre`` applying ``f`` to the first operand (vacuously true when empty)."""
    return lambda x, *a, **k: np.asarray(x).size == 0 or bool(np.all(f(np.asarray(x, np.float64))))


def _both(f):
    def pre(x, y, *a, **k):
        x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
        return x.size == 0 or bool(np.all(f(x, y)))

    return pre


def _nz(b):
    return np.abs(b) >= 0.1


# --------------------------------------------------------------------------- elementwise unary
_U = {
    "exp": lambda x: x <= 7,
    "exp2": lambda x: x <= 9,
    "expm1": lambda x: x <= 7,
    "log": lambda x: x >= 0.1,
    "log2": lambda x: x >= 0.1,
    "log10": lambda x: x >= 0.1,
    "log1p": lambda x: x >= -0.9,
    "sqrt": lambda x: x >= 0.05,
    "rsqrt": lambda x: x >= 0.05,
    "sin": lambda x: np.abs(x) <= 8,  # periodic: a large argument's rounding error is the result's
    "cos": lambda x: np.abs(x) <= 8,
    "tan": lambda x: np.abs(x) <= 1.3,
    "asin": lambda x: np.abs(x) <= 0.9,
    "acos": lambda x: np.abs(x) <= 0.9,
    "atan": None,
    "sinh": lambda x: np.abs(x) <= 7,
    "cosh": lambda x: np.abs(x) <= 7,
    # XLA's tanh is exactly +-1 from |x| ~ 7.9 (torch's reaches 1 later), so its derivative there is
    # 0 against torch's ~1e-7, which later exps amplify (thorough float32-chain finding)
    "tanh": lambda x: np.abs(x) <= 7.5,
    "asinh": None,
    "acosh": lambda x: x >= 1.1,
    "atanh": lambda x: np.abs(x) <= 0.9,
    "sigmoid": None,
    "erf": None,
    "erfc": None,
    "erfinv": lambda x: np.abs(x) <= 0.9,
    "lgamma": lambda x: x >= 0.1,
    "digamma": lambda x: x >= 0.2,
    "reciprocal": _nz,
    "logit": lambda x: (x >= 0.05) & (x <= 0.95),
    "sinc": lambda x: np.abs(x) <= 8,
    "deg2rad": None,
    "rad2deg": None,
    "i0": lambda x: np.abs(x) <= 6,
    "arcsin": lambda x: np.abs(x) <= 0.9,
    "arctan": None,
    "special_erf": None,
    "arctanh": lambda x: np.abs(x) <= 0.9,
}
_INT_OK = {
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "sigmoid",
    "erf",
    "erfc",
    "lgamma",
    "digamma",
    "reciprocal",
    "sinc",
    "deg2rad",
    "rad2deg",
    "i0",
    "arctan",
    "special_erf",
}
for _n, _p in _U.items():
    add(_n, kinds=FI if _n in _INT_OK else F, pre=_all(_p) if _p else None, method=_n != "special_erf")

for _n in ["neg", "negative", "abs", "absolute"]:
    add(_n, kinds=FI, ex="same")
add("positive", kinds=FI, ex="same", view=True, contig=True)
add("clone", kinds=FIB, ex="same")
add("square", kinds=FI, ex="mul")
add("relu", kinds=FI, ex="same")
for _n in ["floor", "ceil", "trunc", "fix", "sign", "sgn"]:
    add(_n, kinds=FI, ex="int", disc=True)
add(
    "round",
    lambda G, x: ([], G.pick([{}, {}, {"decimals": 1}, {"decimals": 2}]) if x.dtype != I32 else {}),
    kinds=FI,
    ex="int",
    disc=True,
)
add("frac", ex="same", disc=True)
add("signbit", kinds=FI, disc=True, pre=lambda x: bool(np.all(np.asarray(x) != 0)))  # sign of zero: see _CUT
add("angle", kinds=(F32,), disc=True)
for _n in ["isnan", "isinf", "isfinite", "isposinf", "isneginf"]:
    add(_n, kinds=FI)
add("logical_not", kinds=FIB, disc=True)
add("bitwise_not", kinds=IB)
add("nan_to_num", ex="same")

_ACT = {
    "gelu": lambda G, x: G.pick([{}, {"approximate": "tanh"}]),
    "silu": None,
    "mish": None,
    "softplus": lambda G, x: G.pick([{}, {"beta": 2.0, "threshold": 1.0}]),
    "elu": lambda G, x: G.pick([{}, {"alpha": 0.5}]),
    "selu": None,
    "celu": lambda G, x: G.pick([{}, {"alpha": 2.0}]),
    "leaky_relu": lambda G, x: G.pick([{}, {"negative_slope": 0.25}]),
    "hardsigmoid": None,
    "hardswish": None,
    "logsigmoid": None,
    "softsign": None,
    "tanhshrink": None,
}


# Gradients at kinks and ties (leaky_relu at 0, hardtanh/clamp at the bounds, norm p=1 at 0,
# fmax/fmin ties) follow torch's conventions (the rows are written so that jax's autodiff gives
# them; see test_fuzz_ops.py ``test_gradient_at_kinks_matches_torch``): no ``kink`` steering.
for _n, _k in _ACT.items():
    add(_n, (lambda k: lambda G, x: ([], k(G, x) if k else {}))(_k), kinds=(F32,), method=False)
add(
    "hardtanh",
    lambda G, x: ([], G.pick([{}, {"min_val": -0.5, "max_val": 2.0}])),
    kinds=(F32,),
    ex="same",
    method=False,
)
add("relu6", kinds=(F32,), ex="same", method=False)


def _clamp(G, x):
    k = "i" if x.dtype == I32 else "f"
    lo, hi = sorted([G.scalar(k), G.scalar(k)])
    return [], G.pick([{"min": lo, "max": hi}, {"min": lo}, {"max": hi}])


add("clamp", _clamp, kinds=FI, ex="same")
add("clip", _clamp, kinds=FI, ex="same")
add("clamp_min", lambda G, x: ([G.scalar("i" if x.dtype == I32 else "f")], {}), kinds=FI, ex="same")
add("clamp_max", lambda G, x: ([G.scalar("i" if x.dtype == I32 else "f")], {}), kinds=FI, ex="same")
add("_cast", lambda G, x: ([Dtype(G.pick([F32, F16, I32, BOOL]))], {}), kinds=FIB, disc=True, ex="same")


# --------------------------------------------------------------------------- elementwise binary
_KIND = {F32: "f", F16: "f", I32: "i", BOOL: "b"}


def _ref(x):
    from ._fuzz_programs import Ref

    return Ref(x.name)


def B(name, kinds, kinds_b=None, *, scalar=True, like=False, kw=None, **k) -> Spec:
    """A binary op ``name(x, y)``; ``y`` broadcasts with ``x`` (or is a 0-d tensor or a Python number).
    With a small probability the number comes first (``2.0 - x``: only the operator form can call it)."""

    def gen(G, x):
        kwargs = kw(G, x) if kw else {}
        if scalar and not kwargs and G.bool(0.1):
            return [G.scalar(_KIND[x.dtype]), _ref(x)], {}
        return [_ref(x), G.partner(x, kinds_b or (x.dtype,), scalar=scalar, like=like)], kwargs

    return add(name, gen, kinds, self_first=False, **k)


_alpha = lambda G, x: G.pick([{}, {}, {"alpha": 2 if x.dtype == I32 else G.pick([2, 0.5])}])  # noqa: E731
B("add", FIB, FIB, ex="same", kw=lambda G, x: _alpha(G, x) if x.dtype != BOOL else {})
B("sub", FI, FI, ex="same", kw=_alpha)
B("subtract", F, F, ex="same")
B("mul", FIB, FIB, ex="mul")
B("multiply", F, F, ex="mul")
_div_pre = _both(lambda a, b: _nz(b))
B("div", FI, FI, pre=_div_pre)
B("divide", F, F, pre=_div_pre)
B("true_divide", FI, FI, pre=_div_pre)
B("div", FI, FI, pre=_div_pre, disc=True, ex="int", kw=lambda G, x: {"rounding_mode": G.pick(["floor", "trunc"])})
for _n in ["floor_divide", "remainder", "fmod"]:
    B(_n, FI, FI, pre=_div_pre, disc=True, ex="int" if _n == "floor_divide" else "none")
B("pow", F, F, pre=_both(lambda a, b: (a >= 0.1) & (np.abs(b) <= 3)), scalar=False)
add(
    "pow",
    lambda G, x: ([G.pick([2, 3] if x.dtype == I32 else [2, 3, 0.5, -1, 1.5])], {}),
    kinds=FI,
    pre=lambda a, e: np.asarray(a).size == 0 or float(e) in (2, 3) or bool(np.all(np.asarray(a) >= 0.1)),
)
add(
    "pow",
    lambda G, x: ([G.pick([2.0, 0.5, 1.5]), _ref(x)], {}),
    kinds=(F32,),
    self_first=False,
    pre=lambda b, e: np.asarray(e).size == 0 or bool(np.all(np.abs(np.asarray(e)) <= 6)),
)
B("float_power", (F32,), (F32,), pre=_both(lambda a, b: (a >= 0.1) & (np.abs(b) <= 3)), scalar=False)
# Results that hang on the sign of a zero are not drawn: a zero made by a matmul or a sum is -0.0
# in torch (BLAS) and +0.0 in XLA (accumulators start at +0), so atan2(+-0, x < 0) = +-pi
# (thorough run: ``bmm(round(x1), x2)`` gave 0 * -2.25 = -0.0 in torch), copysign(x, +-0), signbit(+-0).
_CUT = lambda a, b: (np.hypot(a, b) >= 0.1) & ~((a == 0) & (b < 0))  # noqa: E731
B("atan2", F, F, pre=_both(_CUT), scalar=False)
B("arctan2", F, F, pre=_both(_CUT), scalar=False)
B("hypot", F, F, pre=_both(lambda a, b: np.hypot(a, b) >= 0.1), scalar=False)
for _n in ["maximum", "minimum", "fmax", "fmin"]:
    B(_n, FI, FI, ex="same", scalar=False)
B("copysign", F, F, ex="same", scalar=False, disc=True, pre=_both(lambda a, b: b != 0))
B("xlogy", F, F, pre=_both(lambda a, b: b >= 0.1))
B("special_xlog1py", F, F, pre=_both(lambda a, b: b >= -0.9), method=False)
B("logaddexp", F, F, scalar=False, like=True)
B("logaddexp2", F, F, scalar=False, like=True)
B("rsub", FI, FI, ex="same", method=False)
add("lerp", lambda G, x: ([G.partner(x, (x.dtype,), scalar=False, like=True), G.pick([0.25, 0.5, 0.75])], {}))
add(
    "addcmul",
    lambda G, x: (
        [G.partner(x, (x.dtype,), scalar=False, like=True), G.partner(x, (x.dtype,), scalar=False, like=True)],
        G.pick([{}, {"value": 0.5}]),
    ),
)
add(
    "addcdiv",
    lambda G, x: (
        [G.partner(x, (x.dtype,), scalar=False, like=True), G.partner(x, (x.dtype,), scalar=False, like=True)],
        G.pick([{}, {"value": 2}]),
    ),
    pre=lambda a, b, c, **k: np.asarray(c).size == 0 or bool(np.all(_nz(np.asarray(c, np.float64)))),
)
for _n in ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal"]:
    B(_n, FIB if _n in ("eq", "ne") else FI, FI, disc=True)
for _n in ["logical_and", "logical_or", "logical_xor"]:
    B(_n, FIB, FIB, disc=True, scalar=False)
for _n in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
    B(_n, IB, IB)
for _n in ["bitwise_left_shift", "bitwise_right_shift"]:
    add(_n, lambda G, x: ([G.fresh(G.bshape(x.shape), I32, lo=0, hi=3)], {}), kinds=(I32,))
B("heaviside", F, F, disc=True, scalar=False, like=True)
B("isclose", F, F, disc=True, scalar=False, like=True)
B("nextafter", (F32,), (F32,), disc=True, scalar=False, like=True)
# torch bug (thorough run): LdexpBackward computes 2 ** other in integer arithmetic, so the
# gradient w.r.t. ``input`` is 0 where ``other`` is negative; eagerjax's 2 ** other is right
add(
    "ldexp",
    lambda G, x: ([G.fresh(G.bshape(x.shape), I32, lo=-2, hi=3)], {}),
    kinds=(F32,),
    kink=lambda x, other: bool((np.asarray(other) < 0).any()),
)
add("gcd", lambda G, x: ([G.partner(x, (I32,), scalar=False)], {}), kinds=(I32,))
add("lcm", lambda G, x: ([G.partner(x, (I32,), scalar=False)], {}), kinds=(I32,))


def _where(G, x):
    cond = G.partner(x, (BOOL,), scalar=False, zero_d=False)
    y = G.partner(x, (x.dtype,) if G.bool(0.7) else FI, scalar=True)
    return [cond, _ref(x), y], {}


add("where", _where, FIB, ex="same", self_first=False, method=False)


from . import _fuzz_catalog2  # noqa: E402,F401 - reductions, shapes, linear algebra, indexing (adds to SPECS)
