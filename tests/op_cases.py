"""Argument builders for every op-table row; ``tests/test_ops.py`` runs them through ``check_op``.

A ``Case`` names an op and a generator ``gen(r) -> (args, kwargs)`` where ``r`` is an
``R`` (hypothesis draws + a seeded NumPy generator). Arguments are framework
neutral: ``np.ndarray`` leaves become eagerjax tensors, torch tensors and jax
arrays; ``DT("float32")`` becomes the framework's dtype; everything else is
passed as is.
"""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import strategies as st

AUTO = "auto"


class DT:
    """A dtype argument, resolved per framework."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"DT({self.name})"


class Case:
    def __init__(
        self,
        name,
        gen,
        *,
        grad=True,
        torch=AUTO,
        call=None,
        post=None,
        tol=None,
        examples=4,
        jax_ref=True,
        values=True,
        grad_torch=True,
        jax_call=None,
    ):
        self.name = name  # the row (or public function) under test
        self.gen = gen
        self.grad = grad  # compare gradients for float32 inputs
        self.torch = torch  # AUTO: torch's function of the same name; None: no torch reference
        self.call = call  # f(*args, **kwargs) used for eagerjax AND torch instead of the public op
        self.post = post  # f(outputs) -> outputs invariant to sign/ordering ambiguities
        self.tol = tol
        self.examples = examples
        self.jax_ref = jax_ref  # compare against the raw row function
        self.values = values  # False: compare shape and dtype only (``empty``)
        self.grad_torch = grad_torch
        self.jax_call = jax_call  # the jax reference when it is not the row's function (or ``call``)

    def __repr__(self) -> str:
        return self.name


class R:
    """Random inputs for one hypothesis example."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1), label="seed"))

    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def bool(self):
        return self.draw(st.booleans())

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def arr(self, shape, dtype="float32", dom="real"):
        return np.asarray(self._arr(shape, dtype, dom))

    def _arr(self, shape, dtype, dom):
        rng = self.rng
        shape = tuple(shape)
        if dtype == "bool":
            return rng.random(shape) < 0.5
        if dtype in ("int32", "int64", "int16", "int8", "uint8"):
            lo, hi = {
                "real": (-5, 5),
                "pos": (1, 5),
                "nz": (1, 5),
                "small": (0, 3),
                "idx": (0, 3),
                "unit": (-1, 1),
                "nonneg": (0, 5),
            }.get(dom, (-5, 5))
            a = rng.integers(lo, hi + 1, shape)
            if dom == "nz":
                a = a * rng.choice([-1, 1], shape)
            return a.astype(dtype)
        if dtype == "complex64":
            return (rng.uniform(-2, 2, shape) + 1j * rng.uniform(-2, 2, shape)).astype(np.complex64)
        if dom == "real":
            a = rng.uniform(-3, 3, shape)
        elif dom == "pos":
            a = rng.uniform(0.2, 3, shape)
        elif dom == "unit":
            a = rng.uniform(-0.9, 0.9, shape)
        elif dom == "ge1":
            a = rng.uniform(1.1, 3, shape)
        elif dom == "prob":
            a = rng.uniform(0.05, 0.95, shape)
        elif dom == "nz":
            a = rng.uniform(0.5, 3, shape) * rng.choice([-1, 1], shape)
        elif dom == "nonfinite":
            a = np.asarray(rng.uniform(-3, 3, shape))
            flat = a.reshape(-1)
            if flat.size:
                for v in (np.nan, np.inf, -np.inf):
                    flat[rng.integers(0, flat.size)] = v
        elif dom == "nan":
            a = np.asarray(rng.uniform(-3, 3, shape))
            flat = a.reshape(-1)
            if flat.size > 1:
                flat[rng.integers(0, flat.size)] = np.nan
        else:
            raise ValueError(dom)
        return a.astype(dtype)


# --------------------------------------------------------------------------- shape pools
SHAPES = [(), (1,), (4,), (2, 3), (3, 1, 2), (0, 3)]
SHAPES_ND = [(4,), (2, 3), (3, 1, 2), (1, 5)]  # non-empty, >= 1-d
SHAPES_2D = [(2, 3), (3, 1, 2), (4, 2), (1, 5)]  # >= 2-d
PAIRS = [
    ((2, 3), (3,)),
    ((3, 1, 2), (4, 1)),
    ((2, 3), (2, 3)),
    ((), (4,)),
    ((0, 3), (1, 3)),
    ((1,), (2, 1)),
    ((4,), ()),
]
FLOATS = ["float32", "float32", "float16"]


def dims_for(r, shape, allow_none=True, allow_tuple=True):
    """A random torch ``dim`` argument valid for ``shape``."""
    nd = len(shape)
    opts = [None] if allow_none else []
    if nd:
        opts += list(range(-nd, nd))
        if allow_tuple and nd >= 2:
            opts += [(0, -1), [0, 1]]
    elif not allow_none:
        opts += [0, -1]
    return r.pick(opts) if opts else None


# --------------------------------------------------------------------------- generators
def unary(dom="real", dtypes=("float32", "float32", "float16", "int32"), shapes=SHAPES, extra=None):
    def gen(r):
        dt = r.pick(dtypes)
        args = [r.arr(r.pick(shapes), dt, dom)]
        kw = extra(r) if extra else {}
        return args, kw

    return gen


def binary(dom=("real", "real"), dtypes=(("float32", "float32"),), scalars=True, pairs=PAIRS, kw=None):
    def gen(r):
        sa, sb = r.pick(pairs)
        da, db = r.pick(dtypes)
        a = r.arr(sa, da, dom[0])
        mode = r.pick(["tt", "tt", "ts", "t0"] if scalars else ["tt"])
        if mode == "ts":
            b = r.arr((), db, dom[1]).item()
            if db.startswith("float"):
                b = float(b)
            elif db == "bool":
                b = bool(b)
            else:
                b = int(b)
        elif mode == "t0":
            b = r.arr((), db, dom[1])
        else:
            b = r.arr(sb, db, dom[1])
        return [a, b], (kw(r) if kw else {})

    return gen


def fixed(*options):
    """Several ``(args, kwargs)`` builders for one op; ``add`` makes one case of each."""

    def gen(r):
        return r.pick(options)(r)

    gen.options = options
    return gen


_INT = ("int32", "int32")
_F = ("float32", "float32")
_MIX = [_F, _F, _INT, ("float16", "float16"), ("int32", "float32"), ("float32", "float16"), ("bool", "int32")]

CASES: list[Case] = []


def add(name, gen, **kw):
    options = getattr(gen, "options", None)
    if not options:
        CASES.append(Case(name, gen, **kw))
        return
    n = len(options)
    kw["examples"] = max(1, -(-kw.get("examples", 4) // n))
    for o in options:
        CASES.append(Case(name, o, **kw))


# --------------------------------------------------------------------------- elementwise
def _alpha(r):
    return r.pick([{}, {"alpha": 2}, {"alpha": 0.5}])


add("add", binary(dtypes=_MIX, kw=lambda r: r.pick([{}, {"alpha": 2}])), examples=8)
add("sub", binary(dtypes=[_F, _INT, ("int32", "float32")], kw=lambda r: r.pick([{}, {"alpha": 2}])), examples=6)
add("subtract", binary(), examples=2)
add("mul", binary(dtypes=_MIX), examples=8)
add("multiply", binary(), examples=2)
add("div", binary(("real", "nz"), dtypes=[_F, _INT, ("int32", "float32"), ("float16", "float16")]), examples=6)
add(
    "div",
    binary(("real", "nz"), dtypes=[_F, _INT], kw=lambda r: {"rounding_mode": r.pick(["floor", "trunc"])}),
    examples=4,
)
add("divide", binary(("real", "nz")), examples=2)
add("true_divide", binary(("real", "nz"), dtypes=[_INT]), examples=2)
add("floor_divide", binary(("real", "nz"), dtypes=[_F, _INT]), examples=4)
add("remainder", binary(("real", "nz"), dtypes=[_F, _INT]), examples=4)
add("fmod", binary(("real", "nz"), dtypes=[_F, _INT]), examples=4)
add("pow", binary(("pos", "real"), dtypes=[_F, ("float16", "float16")]), examples=5)
add(
    "pow",
    fixed(lambda r: ([r.arr(r.pick(SHAPES), r.pick(["float32", "int32"]), "real"), r.pick([2, 3, 0.5])], {})),
    examples=4,
)
add("pow", fixed(lambda r: ([r.pick([2.0, 3]), r.arr(r.pick(SHAPES), "float32")], {})), examples=2)
add("float_power", binary(("pos", "real"), scalars=False), examples=3)
add("atan2", binary(dtypes=[_F, _INT], scalars=False), examples=4)
add("arctan2", binary(scalars=False), examples=2)
add("hypot", binary(scalars=False), examples=3)
add("maximum", binary(dtypes=[_F, _INT, ("int32", "float32")], scalars=False), examples=4)
add("minimum", binary(dtypes=[_F, _INT], scalars=False), examples=4)
add("fmax", binary(scalars=False), examples=3)
add("fmin", binary(scalars=False), examples=3)
add("copysign", binary(("real", "nz"), scalars=False), examples=3)
add("xlogy", binary(("real", "pos")), examples=3)
add("special_xlog1py", binary(("real", "pos")), examples=3)
add("logaddexp", binary(scalars=False), examples=3)
add("logaddexp2", binary(scalars=False), examples=3)
add("rsub", binary(dtypes=[_F, _INT]), examples=3)
add("nextafter", binary(scalars=False), examples=2, grad=False)
add("ldexp", binary(("real", "small"), dtypes=[("float32", "int32")], scalars=False), examples=3)
add("heaviside", binary(("nz", "real"), scalars=False), examples=3, grad=False)
add("gcd", binary(("nz", "nz"), dtypes=[_INT], scalars=False), examples=3)
add("lcm", binary(("nz", "nz"), dtypes=[_INT], scalars=False), examples=3)
add("isclose", binary(scalars=False), examples=3)
add(
    "lerp",
    fixed(
        lambda r: ([r.arr((2, 3)), r.arr((3,)), r.pick([0.25, 0.7])], {}),
        lambda r: ([r.arr((4,)), r.arr((4,)), r.arr((4,), dom="prob")], {}),
    ),
    examples=4,
)
add("addcmul", fixed(lambda r: ([r.arr((2, 3)), r.arr((2, 3)), r.arr((3,))], r.pick([{}, {"value": 0.5}]))), examples=3)
add(
    "addcdiv",
    fixed(lambda r: ([r.arr((2, 3)), r.arr((2, 3)), r.arr((3,), dom="nz")], r.pick([{}, {"value": 2}]))),
    examples=3,
)

for _n in ["eq", "ne", "lt", "le", "gt", "ge"]:
    add(_n, binary(dtypes=_MIX), examples=4)
for _n in ["greater", "greater_equal", "less", "less_equal", "not_equal"]:
    add(_n, binary(), examples=2)
for _n in ["logical_and", "logical_or", "logical_xor"]:
    add(_n, binary(dtypes=[("bool", "bool"), _F, ("int32", "bool")], scalars=False), examples=3)
add("logical_not", unary(dtypes=("bool", "float32", "int32")), examples=3)
for _n in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
    add(_n, binary(dtypes=[_INT, ("bool", "bool")]), examples=3)
add("bitwise_not", unary(dtypes=("int32", "bool")), examples=3)
add("bitwise_left_shift", binary(("real", "small"), dtypes=[_INT], scalars=False), examples=3)
add("bitwise_right_shift", binary(("real", "small"), dtypes=[_INT], scalars=False), examples=3)

_UNARY = {
    "exp": "real",
    "exp2": "real",
    "expm1": "real",
    "log": "pos",
    "log2": "pos",
    "log10": "pos",
    "log1p": "pos",
    "sqrt": "pos",
    "rsqrt": "pos",
    "sin": "real",
    "cos": "real",
    "tan": "unit",
    "asin": "unit",
    "acos": "unit",
    "atan": "real",
    "sinh": "real",
    "cosh": "real",
    "tanh": "real",
    "asinh": "real",
    "acosh": "ge1",
    "atanh": "unit",
    "sigmoid": "real",
    "erf": "real",
    "erfc": "real",
    "erfinv": "unit",
    "lgamma": "pos",
    "digamma": "pos",
    "reciprocal": "nz",
    "logit": "prob",
    "sinc": "nz",
    "deg2rad": "real",
    "rad2deg": "real",
    "i0": "real",
    "arcsin": "unit",
    "arccos": "unit",
    "arctan": "real",
    "arcsinh": "real",
    "arccosh": "ge1",
    "arctanh": "unit",
    "special_erf": "real",
}
for _n, _d in _UNARY.items():
    _dts = (
        ("float32", "float32", "float16", "int32") if _d in ("real", "pos", "nz") else ("float32", "float32", "float16")
    )
    add(
        _n,
        unary(_d, _dts),
        examples=3 if _n in ("arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "special_erf") else 4,
    )
add("polygamma", fixed(lambda r: ([r.pick([0, 1, 2]), r.arr(r.pick(SHAPES), dom="pos")], {})), examples=3)

for _n in ["floor", "ceil", "trunc", "fix", "neg", "negative", "abs", "absolute", "sign", "sgn", "square"]:
    add(_n, unary("nz", ("float32", "float32", "float16", "int32")), examples=3)
add(
    "round",
    unary("real", ("float32", "int32"), extra=lambda r: r.pick([{}, {"decimals": 1}, {"decimals": 2}])),
    examples=4,
)
add("frac", unary("real", ("float32", "float16")), examples=3)
add("positive", unary(), examples=2)
add("signbit", unary("nz"), examples=2)
add("relu", unary("nz"), examples=3)
add("relu6", unary("real", ("float32",)), examples=2)
add("gelu", unary("real", ("float32",), extra=lambda r: r.pick([{}, {"approximate": "tanh"}])), examples=3)
add("silu", unary("real", ("float32",)), examples=2)
add("mish", unary("real", ("float32",)), examples=2)
add("softplus", unary("real", ("float32",), extra=lambda r: r.pick([{}, {"beta": 2.0, "threshold": 1.0}])), examples=3)
add("elu", unary("real", ("float32",), extra=lambda r: r.pick([{}, {"alpha": 0.5}])), examples=3)
add("selu", unary("real", ("float32",)), examples=2)
add("celu", unary("real", ("float32",), extra=lambda r: r.pick([{}, {"alpha": 2.0}])), examples=2)
add("leaky_relu", unary("nz", ("float32",), extra=lambda r: r.pick([{}, {"negative_slope": 0.2}])), examples=3)
add(
    "hardtanh", unary("real", ("float32",), extra=lambda r: r.pick([{}, {"min_val": -0.5, "max_val": 2.0}])), examples=3
)
add("hardsigmoid", unary("real", ("float32",)), examples=2)
add("hardswish", unary("real", ("float32",)), examples=2)
add("logsigmoid", unary("real", ("float32",)), examples=2)
add("softsign", unary("real", ("float32",)), examples=2)
add("tanhshrink", unary("real", ("float32",)), examples=2)


def _clamp_gen(r):
    x = r.arr(r.pick(SHAPES), r.pick(["float32", "int32"]))
    kind = r.pick(["both", "min", "max", "tensor", "pos"])
    if kind == "both":
        return [x], {"min": -1, "max": 2} if x.dtype.kind == "i" else {"min": -1.0, "max": 2.0}
    if kind == "min":
        return [x], {"min": 0.5 if x.dtype.kind == "f" else 0}
    if kind == "max":
        return [x], {"max": 0.5 if x.dtype.kind == "f" else 0}
    if kind == "pos":
        return [x, -1, 1], {}
    return [x.astype(np.float32)], {"min": r.arr((), "float32", "real") - 1.5, "max": r.arr((), "float32") + 1.5}


add("clamp", _clamp_gen, examples=6)
add("clip", _clamp_gen, examples=2)
add("clamp_min", fixed(lambda r: ([r.arr(r.pick(SHAPES)), 0.5], {})), examples=2)
add("clamp_max", fixed(lambda r: ([r.arr(r.pick(SHAPES)), 0.5], {})), examples=2)
for _n in ["isnan", "isinf", "isposinf", "isneginf", "isfinite", "isreal"]:
    add(_n, unary("nonfinite", ("float32", "float16")), examples=2)
add(
    "nan_to_num",
    unary(
        "nonfinite", ("float32", "float16"), extra=lambda r: r.pick([{}, {"nan": 1.0, "posinf": 9.0, "neginf": -9.0}])
    ),
    examples=3,
    grad=False,
)
add(
    "where",
    fixed(
        lambda r: ([r.arr((2, 3), "bool"), r.arr((2, 3)), r.arr((3,))], {}),
        lambda r: ([r.arr((3, 1), "bool"), r.arr((1, 4)), 0.0], {}),
        lambda r: ([r.arr((4,), "bool"), r.arr((4,), "int32"), r.arr((4,), "float32")], {}),
        lambda r: ([r.arr((4,), "bool"), r.arr((4,), "float16"), 2.5], {}),
        lambda r: ([r.arr((2, 3), "bool")], {}),
    ),
    examples=6,
)
add(
    "_cast",
    fixed(
        lambda r: (
            [
                r.arr(r.pick(SHAPES), r.pick(["float32", "int32", "bool", "float16"])),
                DT(r.pick(["float32", "int32", "bool", "float16"])),
            ],
            {},
        )
    ),
    torch=lambda x, dtype: x.to(dtype),
    examples=5,
)
add("clone", unary(dtypes=("float32", "int32", "bool")), examples=2)
add("real", unary(dtypes=("float32",)), examples=2)
add("imag", unary(dtypes=("complex64",)), examples=2, grad=False)
add("conj", unary(dtypes=("float32", "complex64")), examples=2, grad=False)
add("angle", unary("nz", ("float32",)), examples=2)

# --------------------------------------------------------------------------- reductions


def _red(
    dtypes=("float32", "float32", "int32", "bool", "float16"),
    shapes=SHAPES,
    dtype_kw=False,
    tuple_dims=True,
    dom="real",
):
    def gen(r):
        dt = r.pick(dtypes)
        shape = r.pick(shapes)
        x = r.arr(shape, dt, dom)
        dim = dims_for(r, shape, allow_tuple=tuple_dims)
        kw = {}
        if dim is not None:
            kw["dim"] = dim
            kw["keepdim"] = r.bool()
        if dtype_kw and r.bool():
            kw["dtype"] = DT("float32")
        return [x], kw

    return gen


add("sum", _red(dtype_kw=True), examples=8)
add("nansum", _red(("float32",), dom="nan"), examples=4)
add("mean", _red(("float32", "float16")), examples=6)
add("mean", fixed(lambda r: ([r.arr((2, 3), "int32")], {"dtype": DT("float32")})), examples=1)
add("nanmean", _red(("float32",), dom="nan", shapes=SHAPES_ND), examples=4, grad_torch=False)  # torch: NaN grad at NaN
add("prod", _red(("float32", "int32"), tuple_dims=False, shapes=SHAPES_ND, dom="nz"), examples=5)


def _maxmin_gen(r):
    kind = r.pick(["full", "dim", "binary"])
    dt = r.pick(["float32", "float32", "int32"])
    if kind == "full":
        return [r.arr(r.pick(SHAPES_ND + [()]), dt)], {}
    if kind == "dim":
        shape = r.pick(SHAPES_ND)
        x = r.arr(shape, "float32")
        return [x, r.int(-len(shape), len(shape) - 1)], r.pick([{}, {"keepdim": True}])
    sa, sb = r.pick(PAIRS)
    return [r.arr(sa), r.arr(sb)], {}


add("max", _maxmin_gen, examples=6)
add("min", _maxmin_gen, examples=6)
add("amax", _red(("float32", "int32"), shapes=SHAPES_ND), examples=4)
add("amin", _red(("float32", "int32"), shapes=SHAPES_ND), examples=4)
add(
    "aminmax",
    fixed(
        lambda r: ([r.arr(r.pick(SHAPES_ND))], {}),
        lambda r: ([r.arr((2, 3))], {"dim": r.pick([0, 1, -1]), "keepdim": r.bool()}),
    ),
    examples=3,
)


def _arg_gen(r):
    shape = r.pick(SHAPES_ND + [()])
    x = r.arr(shape, r.pick(["float32", "int32"]))
    if r.bool() or not shape:
        return [x], r.pick([{}, {"keepdim": True}]) if shape else {}
    return [x], {"dim": r.int(-len(shape), len(shape) - 1), "keepdim": r.bool()}


add("argmax", _arg_gen, examples=4)
add("argmin", _arg_gen, examples=4)


def _var_gen(r):
    shape = r.pick([(4,), (2, 3), (3, 2, 2), (5, 2)])
    x = r.arr(shape, r.pick(["float32", "float32", "float16"]))
    kind = r.pick(["none", "unbiased", "dim", "correction", "legacy"])
    if kind == "none":
        return [x], {}
    if kind == "unbiased":
        return [x, r.bool()], {}
    if kind == "dim":
        return [x], {"dim": r.pick([0, -1, (0, -1)]), "keepdim": r.bool()}
    if kind == "correction":
        return [x], {"dim": r.pick([None, 0]), "correction": r.pick([0, 1, 2])}
    return [x, 0, r.bool(), r.bool()], {}


add("var", _var_gen, examples=6)
add("std", _var_gen, examples=6)
add("var_mean", _var_gen, examples=4)
add("std_mean", _var_gen, examples=4)


def _norm_gen(r):
    kind = r.pick(["vec", "dim", "fro", "nuc"])
    if kind == "vec":
        return [r.arr(r.pick(SHAPES_ND))], r.pick([{}, {"p": 1}, {"p": 3}, {"p": float("inf")}, {"p": 0}])
    if kind == "dim":
        return [r.arr((3, 4)), r.pick([2, 1, float("inf")])], {"dim": r.pick([0, 1, (0, 1)]), "keepdim": r.bool()}
    if kind == "fro":
        return [r.arr((2, 3, 2))], {"p": "fro", "dim": r.pick([None, (0, 1), (1, 2)])}
    return [r.arr((3, 4))], {"p": "nuc"}


add("norm", _norm_gen, examples=6, tol=1e-3)
add(
    "logsumexp",
    fixed(
        lambda r: (
            [r.arr(r.pick(SHAPES_ND), r.pick(["float32", "int32"]))],
            {"dim": r.pick([0, -1, (0,)]), "keepdim": r.bool()},
        )
    ),
    examples=4,
)
add("all", _red(("bool", "float32", "int32")), examples=4)
add("any", _red(("bool", "float32", "int32")), examples=4)


def _cnz(r):
    shape = r.pick(SHAPES)
    x = r.arr(shape, r.pick(["int32", "bool"]), "small")
    d = dims_for(r, shape)
    return [x], ({} if d is None else {"dim": d})


add("count_nonzero", _cnz, examples=4)


def _scan_gen(dtypes=("float32", "float32", "int32", "bool"), dtype_kw=False, dom="real"):
    def gen(r):
        shape = r.pick(SHAPES_ND + [(), (0, 2)])
        x = r.arr(shape, r.pick(dtypes), dom)
        kw = {"dim": r.int(-max(len(shape), 1), max(len(shape), 1) - 1)}
        if dtype_kw and r.bool():
            kw["dtype"] = DT("float32")
        return [x], kw

    return gen


add("cumsum", _scan_gen(dtype_kw=True), examples=5)
add("cumprod", _scan_gen(("float32", "int32"), dom="nz"), examples=4)
add("cummax", _scan_gen(("float32", "int32")), examples=4)
add("cummin", _scan_gen(("float32", "int32")), examples=4)
add("logcumsumexp", _scan_gen(("float32",)), examples=3)


def _softmax_gen(r):
    shape = r.pick(SHAPES_ND)
    x = r.arr(shape, r.pick(["float32", "float32", "float16"]))
    kw = {"dim": r.int(-len(shape), len(shape) - 1)}
    if r.bool():
        kw["dtype"] = DT("float32")
    return [x], kw


add("softmax", _softmax_gen, examples=4)
add("log_softmax", _softmax_gen, examples=4)


def _sort_gen(r):
    shape = r.pick(SHAPES_ND + [(0, 3)])
    dt = r.pick(["float32", "int32"])
    x = r.arr(shape, dt)
    kw = {"dim": r.int(-len(shape), len(shape) - 1), "descending": r.bool()}
    if dt == "int32":
        kw["stable"] = True  # ties: only the stable order is defined
    return [x], kw


add("sort", _sort_gen, examples=6)
add("argsort", _sort_gen, examples=4)
add("msort", fixed(lambda r: ([r.arr(r.pick(SHAPES_ND))], {})), examples=3)


def _topk_gen(r):
    shape = r.pick(SHAPES_ND)
    d = r.int(-len(shape), len(shape) - 1)
    k = r.int(0, shape[d])
    return [r.arr(shape), k], {"dim": d, "largest": r.bool()}


add("topk", _topk_gen, examples=6)


def _kth_gen(r):
    shape = r.pick(SHAPES_ND)
    d = r.int(-len(shape), len(shape) - 1)
    return [r.arr(shape), r.int(1, shape[d])], {"dim": d, "keepdim": r.bool()}


add("kthvalue", _kth_gen, examples=4)


def _median_gen(dom="real"):
    def gen(r):
        shape = r.pick(SHAPES_ND)
        x = r.arr(shape, "float32", dom)
        if r.bool():
            return [x], {}
        return [x], {"dim": r.int(-len(shape), len(shape) - 1), "keepdim": r.bool()}

    return gen


add("median", _median_gen(), examples=5)
add("nanmedian", _median_gen("nan"), examples=4)
add("mode", fixed(lambda r: ([r.arr(r.pick([(6,), (3, 5)]), "int32", "small")], r.pick([{}, {"dim": 0}]))), examples=4)


def _quantile_gen(r):
    shape = r.pick([(5,), (3, 4)])
    x = r.arr(shape, "float32", r.pick(["real"]))
    q = r.pick([0.3, 0.5, r.arr((3,), "float32", "prob")])
    kw = r.pick(
        [{}, {"dim": 0, "keepdim": r.bool()}, {"interpolation": r.pick(["lower", "higher", "nearest", "midpoint"])}]
    )
    return [x, q], kw


add("quantile", _quantile_gen, examples=5, tol=1e-4)
add("nanquantile", _quantile_gen, examples=3, tol=1e-4)
add("dist", fixed(lambda r: ([r.arr((2, 3)), r.arr((3,))], r.pick([{}, {"p": 1}, {"p": 3}]))), examples=3)
add(
    "unique",
    fixed(
        lambda r: (
            [r.arr(r.pick([(7,), (2, 5)]), "int32", "small")],
            {"return_inverse": r.bool(), "return_counts": r.bool()},
        ),
        lambda r: (
            [r.arr((4, 2), "int32", "idx")[[0, 1, 0, 2]]],
            {"dim": 0, "return_inverse": True, "return_counts": True},
        ),
    ),
    examples=4,
)
add(
    "unique_consecutive",
    fixed(
        lambda r: (
            [np.sort(r.arr((7,), "int32", "small"))[::-1].copy()],
            {"return_inverse": r.bool(), "return_counts": r.bool()},
        ),
        lambda r: ([r.arr((2, 5), "int32", "idx")], {"return_counts": True}),
        lambda r: (
            [r.arr((3, 2), "int32", "idx")[[0, 0, 1]]],
            {"dim": 0, "return_inverse": True, "return_counts": True},
        ),
    ),
    examples=4,
)

# --------------------------------------------------------------------------- linear algebra
_MM = [
    ((2, 3), (3, 4)),
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((2, 2, 3), (3, 4)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((0, 3), (3, 2)),
]
add(
    "matmul",
    fixed(lambda r: (lambda s, d: ([r.arr(s[0], d), r.arr(s[1], d)], {}))(r.pick(_MM), r.pick(["float32", "int32"]))),
    examples=7,
)
add("mm", fixed(lambda r: ([r.arr((2, 3)), r.arr((3, 4))], {})), examples=2)
add("bmm", fixed(lambda r: ([r.arr((2, 2, 3)), r.arr((2, 3, 4))], {})), examples=2)
add("mv", fixed(lambda r: ([r.arr((2, 3)), r.arr((3,))], {})), examples=2)
add(
    "dot",
    fixed(lambda r: ([r.arr((4,)), r.arr((4,))], {}), lambda r: ([r.arr((4,), "int32"), r.arr((4,), "int32")], {})),
    examples=3,
)
add("vdot", fixed(lambda r: ([r.arr((4,)), r.arr((4,))], {})), examples=2)
add(
    "inner",
    fixed(
        lambda r: ([r.arr((2, 3)), r.arr((4, 3))], {}),
        lambda r: ([r.arr((3,)), r.arr((3,))], {}),
        lambda r: ([r.arr(()), r.arr((2, 2))], {}),
    ),
    examples=3,
)
add("outer", fixed(lambda r: ([r.arr((3,)), r.arr((4,))], {})), examples=2)
add("ger", fixed(lambda r: ([r.arr((3,)), r.arr((4,))], {})), examples=1)
_BAKW = [{}, {"beta": 0.5, "alpha": 2.0}]
add(
    "addmm", fixed(lambda r: ([r.arr(r.pick([(2, 4), (4,)])), r.arr((2, 3)), r.arr((3, 4))], r.pick(_BAKW))), examples=3
)
add("addmv", fixed(lambda r: ([r.arr((2,)), r.arr((2, 3)), r.arr((3,))], r.pick(_BAKW))), examples=2)
add("addbmm", fixed(lambda r: ([r.arr((2, 4)), r.arr((3, 2, 3)), r.arr((3, 3, 4))], r.pick(_BAKW))), examples=2)
add("baddbmm", fixed(lambda r: ([r.arr((3, 2, 4)), r.arr((3, 2, 3)), r.arr((3, 3, 4))], r.pick(_BAKW))), examples=2)
add("addr", fixed(lambda r: ([r.arr((3, 4)), r.arr((3,)), r.arr((4,))], r.pick(_BAKW))), examples=2)
add(
    "einsum",
    fixed(
        lambda r: (["ij,jk->ik", r.arr((2, 3)), r.arr((3, 4))], {}),
        lambda r: (["ij,jk", [r.arr((2, 3)), r.arr((3, 4))]], {}),
        lambda r: (["bij->bji", r.arr((2, 3, 4))], {}),
        lambda r: (["ii", r.arr((3, 3))], {}),
        lambda r: (["i,i->", r.arr((3,)), r.arr((3,))], {}),
        lambda r: (["...ij,...jk->...ik", r.arr((2, 2, 3)), r.arr((3, 2))], {}),
    ),
    examples=6,
)
add(
    "kron",
    fixed(lambda r: ([r.arr((2, 3)), r.arr((2, 2))], {}), lambda r: ([r.arr((2,)), r.arr((3,))], {})),
    examples=2,
)
add(
    "tensordot",
    fixed(
        lambda r: ([r.arr((2, 3, 4)), r.arr((3, 4, 2))], {"dims": 2}),
        lambda r: ([r.arr((2, 3)), r.arr((3, 2))], {"dims": ([1], [0])}),
        lambda r: ([r.arr((2, 3, 4)), r.arr((4, 2, 3))], {"dims": ([1, 2], [2, 0])}),
    ),
    examples=3,
)
add(
    "cross",
    fixed(
        lambda r: ([r.arr((4, 3)), r.arr((4, 3))], {"dim": r.pick([1, -1])}),
        lambda r: ([r.arr((3, 2)), r.arr((3, 1))], {"dim": 0}),
    ),
    examples=3,
)
add("linalg_cross", fixed(lambda r: ([r.arr((4, 3)), r.arr((1, 3))], {})), examples=2)
add("trace", fixed(lambda r: ([r.arr(r.pick([(3, 3), (2, 4)]), r.pick(["float32", "int32"]))], {})), examples=3)
add(
    "diag",
    fixed(
        lambda r: ([r.arr((3,))], {"diagonal": r.pick([0, 1, -2])}),
        lambda r: ([r.arr((3, 4))], {"diagonal": r.pick([0, 1, -1])}),
    ),
    examples=4,
)
add(
    "diagonal",
    fixed(
        lambda r: ([r.arr((3, 4))], {"offset": r.pick([0, 1, -1])}),
        lambda r: ([r.arr((2, 3, 4))], {"offset": 1, "dim1": 1, "dim2": 2}),
        lambda r: ([r.arr((2, 3, 4))], {"dim1": -1, "dim2": 0}),
    ),
    examples=4,
)
add(
    "diag_embed",
    fixed(
        lambda r: ([r.arr((2, 3))], {"offset": r.pick([0, 1, -1])}), lambda r: ([r.arr((2, 3))], {"dim1": 0, "dim2": 2})
    ),
    examples=4,
)
_TRI = lambda r: (
    [r.arr(r.pick([(3, 4), (2, 3, 3)]), r.pick(["float32", "bool"]))],  # noqa: E731
    {"diagonal": r.pick([0, 1, -1])},
)
add("tril", fixed(_TRI), examples=3)
add("triu", fixed(_TRI), examples=3)


def _sq(r, shape=(3, 3), spd=False):
    a = r.arr(shape)
    n = shape[-1]
    if spd:
        return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(np.float32)
    return (a + 2 * n * np.eye(n)).astype(np.float32)


_SQ = lambda r: ([_sq(r, r.pick([(3, 3), (2, 3, 3)]))], {})  # noqa: E731
_SPD = lambda r: ([_sq(r, r.pick([(3, 3), (2, 3, 3)]), True)], {})  # noqa: E731
_LTOL = 2e-3
add("det", fixed(_SQ), examples=2, tol=_LTOL)
add("linalg_det", fixed(_SQ), examples=2, tol=_LTOL)
add("inverse", fixed(_SQ), examples=2, tol=_LTOL)
add("linalg_inv", fixed(_SQ), examples=2, tol=_LTOL)
add("slogdet", fixed(_SQ), examples=2, tol=_LTOL)
add("linalg_slogdet", fixed(_SQ), examples=2, tol=_LTOL)
add("logdet", fixed(_SPD), examples=2, tol=_LTOL)
add(
    "linalg_solve",
    fixed(
        lambda r: ([_sq(r), r.arr((3,))], {}),
        lambda r: ([_sq(r, (2, 3, 3)), r.arr((2, 3, 2))], {}),
        lambda r: ([_sq(r), r.arr((2, 3))], {"left": False}),
    ),
    examples=3,
    tol=_LTOL,
)
add("cholesky", fixed(_SPD, lambda r: ([_sq(r, (3, 3), True)], {"upper": True})), examples=2, tol=_LTOL)
add("linalg_cholesky", fixed(_SPD, lambda r: ([_sq(r, (3, 3), True)], {"upper": True})), examples=2, tol=_LTOL)


def _qr_post(outs):
    q, rr = outs
    return [q @ rr, abs(rr)]


def _svd_post(outs):
    u, s, vh = outs
    k = s.shape[-1]
    return [s, (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]]


def _tsvd_post(outs):
    u, s, v = outs
    return [s, (u * s[..., None, :]) @ v.mT]


def _eigh_post(outs):
    w, v = outs
    return [w, (v * w[..., None, :]) @ v.mT]


_TALL = lambda r: ([r.arr(r.pick([(4, 3), (2, 3, 3)]))], {})  # noqa: E731
add("linalg_qr", fixed(_TALL), post=_qr_post, examples=3, tol=_LTOL)
add(
    "linalg_qr",
    fixed(lambda r: ([r.arr((4, 3))], {"mode": "complete"})),
    post=_qr_post,
    grad=False,
    examples=1,
    tol=_LTOL,
)  # not differentiable (torch and jax agree)
add("qr", fixed(_TALL), post=_qr_post, examples=2, tol=_LTOL)
add(
    "linalg_svd",
    fixed(lambda r: ([r.arr(r.pick([(4, 3), (2, 3, 3)]))], {"full_matrices": False})),
    post=_svd_post,
    examples=3,
    tol=_LTOL,
)
add("linalg_svd", fixed(lambda r: ([r.arr((3, 4))], {})), post=_svd_post, grad=False, examples=1, tol=_LTOL)
add("svd", fixed(lambda r: ([r.arr(r.pick([(4, 3), (2, 3, 3)]))], {})), post=_tsvd_post, examples=2, tol=_LTOL)
add("linalg_svdvals", fixed(_TALL), examples=2, tol=_LTOL)
_SYM = lambda r: (lambda a: ([(a + np.swapaxes(a, -1, -2)).astype(np.float32)], {}))(  # noqa: E731
    r.arr(r.pick([(3, 3), (2, 3, 3)]))
)
add("linalg_eigh", fixed(_SYM), post=_eigh_post, examples=2, tol=_LTOL)
add("linalg_eigvalsh", fixed(_SYM), examples=2, tol=_LTOL)
add("linalg_pinv", fixed(_TALL), examples=2, tol=_LTOL)
add("pinverse", fixed(_TALL), examples=2, tol=_LTOL)
add("linalg_matrix_power", fixed(lambda r: ([_sq(r), r.pick([0, 1, 2, 3, -1])], {})), examples=3, tol=_LTOL)
add("matrix_power", fixed(lambda r: ([_sq(r), r.pick([2, 3])], {})), examples=2, tol=_LTOL)
add("linalg_matrix_rank", fixed(lambda r: ([r.arr((4, 2)) @ r.arr((2, 3))], {}), _SQ), examples=2)


def _lnorm_gen(r):
    kind = r.pick(["none", "vec", "mat", "dim"])
    if kind == "none":
        return [r.arr(r.pick(SHAPES_ND))], {}
    if kind == "vec":
        return [r.arr((4,)), r.pick([1, 2, 3, float("inf")])], {}
    if kind == "mat":
        return [r.arr((3, 4)), r.pick(["fro", "nuc", 1, -1, 2, float("inf")])], {}
    return [r.arr((2, 3, 4))], {"dim": r.pick([1, (1, 2)]), "keepdim": r.bool()}


add("linalg_norm", _lnorm_gen, examples=6, tol=_LTOL)
add(
    "linalg_vector_norm",
    fixed(
        lambda r: ([r.arr(r.pick(SHAPES_ND))], {"ord": r.pick([2, 1, 0, 3.5, float("inf"), float("-inf")])}),
        lambda r: ([r.arr((2, 3))], {"dim": r.pick([0, (0, 1)]), "keepdim": r.bool()}),
    ),
    examples=5,
    tol=1e-4,
)
add(
    "linalg_matrix_norm",
    fixed(
        lambda r: (
            [r.arr(r.pick([(3, 4), (2, 3, 3)]))],
            {"ord": r.pick(["fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf")])},
        ),
        lambda r: ([r.arr((3, 2, 4))], {"dim": (0, 2), "keepdim": r.bool()}),
    ),
    examples=5,
    tol=_LTOL,
)
add(
    "cdist",
    fixed(
        lambda r: ([r.arr((3, 2)), r.arr((4, 2))], r.pick([{}, {"p": 1.0}, {"p": float("inf")}])),
        lambda r: ([r.arr((2, 3, 2)), r.arr((2, 4, 2))], {}),
    ),
    examples=4,
    tol=1e-4,
)
add("linalg_vecdot", fixed(lambda r: ([r.arr((2, 3)), r.arr((3,))], {})), examples=2)
add("linalg_multi_dot", fixed(lambda r: ([[r.arr((2, 3)), r.arr((3, 4)), r.arr((4, 2))]], {})), examples=2, tol=1e-4)

# --------------------------------------------------------------------------- shape
add(
    "reshape",
    fixed(
        lambda r: ([r.arr((2, 3, 2), r.pick(["float32", "int32"])), r.pick([(3, 4), (-1,), (2, -1)])], {}),
        lambda r: ([r.arr(()), (1, 1)], {}),
        lambda r: ([r.arr((0, 3)), (3, 0)], {}),
    ),
    examples=5,
)
add("view", fixed(lambda r: ([r.arr((2, 6)), 3, -1], {}), lambda r: ([r.arr((4,)), (2, 2)], {})), examples=2)
add("view_as", fixed(lambda r: ([r.arr((2, 6)), r.arr((3, 4))], {})), examples=1)
add("reshape_as", fixed(lambda r: ([r.arr((2, 6)), r.arr((4, 3))], {})), examples=1)
_TR = lambda r: ([r.arr(r.pick([(2, 3), (2, 3, 4)])), r.pick([0, -1]), 1], {})  # noqa: E731
add("transpose", fixed(_TR), examples=3)
add("swapaxes", fixed(_TR), examples=1)
add("swapdims", fixed(_TR), examples=1)
add(
    "permute",
    fixed(lambda r: ([r.arr((2, 3, 4)), (1, -1, 0)], {}), lambda r: ([r.arr((2, 3))], {"dims": [1, 0]})),
    examples=2,
)
add(
    "permute",
    fixed(lambda r: ([r.arr((2, 3, 4)), 2, 0, 1], {})),
    call=lambda x, *d: x.permute(*d),
    jax_ref=False,
    examples=1,
)
add("reshape", fixed(lambda r: ([r.arr((2, 6)), 4, 3], {})), call=lambda x, *s: x.reshape(*s), examples=1)
add("t", fixed(lambda r: ([r.arr(r.pick([(2, 3), (3,), ()]))], {})), examples=3)
add("adjoint", fixed(lambda r: ([r.arr((2, 3, 4))], {})), examples=1)


def _squeeze_gen(r):
    x = r.arr(r.pick([(1, 3, 1), (2, 1), (1,), ()]))
    nd = x.ndim
    return [x], r.pick([{}] + ([{"dim": 0}, {"dim": -1}, {"dim": tuple(range(nd))}] if nd else []))


add("squeeze", _squeeze_gen, examples=4)
add("unsqueeze", fixed(lambda r: ([r.arr(r.pick(SHAPES)), r.pick([0, -1])], {})), examples=3)
add(
    "flatten",
    fixed(
        lambda r: ([r.arr(r.pick([(2, 3, 4), (), (3,)]))], {}),
        lambda r: ([r.arr((2, 3, 4, 1))], {"start_dim": 1, "end_dim": r.pick([2, -1])}),
    ),
    examples=3,
)
add("ravel", fixed(lambda r: ([r.arr((2, 3))], {})), examples=1)
add("unflatten", fixed(lambda r: ([r.arr((2, 6)), 1, r.pick([(2, 3), (3, -1)])], {})), examples=2)
add(
    "expand",
    fixed(
        lambda r: ([r.arr((3, 1)), 3, 4], {}),
        lambda r: ([r.arr((3, 1)), (2, -1, 5)], {}),
        lambda r: ([r.arr(()), 2], {}),
    ),
    examples=3,
)
add("expand_as", fixed(lambda r: ([r.arr((1, 3)), r.arr((2, 3))], {})), examples=1)
add("broadcast_to", fixed(lambda r: ([r.arr((3, 1)), (2, 3, 4)], {})), examples=1)
add("broadcast_tensors", fixed(lambda r: ([r.arr((3, 1)), r.arr((4,))], {})), examples=2)
add("repeat", fixed(lambda r: ([r.arr((2, 3)), 2, 1], {}), lambda r: ([r.arr((3,)), (2, 2)], {})), examples=2)
add("tile", fixed(lambda r: ([r.arr((2, 3)), (2,)], {}), lambda r: ([r.arr((3,)), (2, 2)], {})), examples=2)
add(
    "repeat_interleave",
    fixed(
        lambda r: ([r.arr((2, 3)), 2], r.pick([{}, {"dim": 1}])),
        lambda r: ([r.arr((3, 2)), r.arr((3,), "int32", "small")], {"dim": 0}),
        lambda r: ([r.arr((3,), "int32", "small")], {}),
        lambda r: ([r.arr((2, 2)), r.arr((), "int32", "pos")], {}),
    ),
    examples=5,
    jax_ref=False,
)
add(
    "chunk",
    fixed(
        lambda r: ([r.arr(r.pick([(5, 2), (6, 2), (1, 2)])), r.pick([1, 2, 3, 4])], {}),
        lambda r: ([r.arr((2, 7)), 3], {"dim": 1}),
    ),
    examples=4,
)
add(
    "split",
    fixed(lambda r: ([r.arr((5, 2)), r.pick([1, 2, 5, 7])], {}), lambda r: ([r.arr((2, 6)), [1, 2, 3]], {"dim": 1})),
    examples=4,
)
add(
    "tensor_split",
    fixed(lambda r: ([r.arr((7, 2)), r.pick([1, 3, 4])], {}), lambda r: ([r.arr((2, 6)), [1, 4]], {"dim": 1})),
    examples=3,
)
add("hsplit", fixed(lambda r: ([r.arr((2, 6)), r.pick([2, 3])], {})), examples=1)
add("vsplit", fixed(lambda r: ([r.arr((4, 2)), [1, 3]], {})), examples=1)
add("dsplit", fixed(lambda r: ([r.arr((2, 2, 4)), 2], {})), examples=1)
add("unbind", fixed(lambda r: ([r.arr((3, 2))], r.pick([{}, {"dim": 1}]))), examples=2)
add("narrow", fixed(lambda r: ([r.arr((5, 3)), r.pick([0, -2]), 1, 2], {})), examples=2)
add("select", fixed(lambda r: ([r.arr((5, 3)), r.pick([0, 1, -1]), r.pick([0, -1])], {})), examples=3)
add("flip", fixed(lambda r: ([r.arr((2, 3, 4)), (0, 2)], {}), lambda r: ([r.arr((2, 3))], {"dims": [-1]})), examples=2)
add("flip", fixed(lambda r: ([r.arr((2, 3)), 0, 1], {})), call=lambda x, *d: x.flip(*d), jax_ref=False, examples=1)
add("fliplr", fixed(lambda r: ([r.arr((2, 3))], {})), examples=1)
add("flipud", fixed(lambda r: ([r.arr((2, 3))], {})), examples=1)
add(
    "roll",
    fixed(
        lambda r: ([r.arr((3, 4)), r.pick([1, -2])], {}),
        lambda r: ([r.arr((3, 4)), (1, 2)], {"dims": (0, 1)}),
        lambda r: ([r.arr((3, 4)), 2, 1], {}),
    ),
    examples=3,
)
add(
    "rot90",
    fixed(lambda r: ([r.arr((2, 3))], {}), lambda r: ([r.arr((2, 3, 4)), r.pick([2, 3, -1]), [1, 2]], {})),
    examples=3,
)
_MOVE = lambda r: r.pick(
    [
        ([r.arr((2, 3, 4)), 0, -1], {}),  # noqa: E731
        ([r.arr((2, 3, 4)), (0, 1), (2, 0)], {}),
    ]
)
add("movedim", _MOVE, examples=2)
add("moveaxis", _MOVE, examples=1)


def _cat_gen(r):
    kind = r.pick(["same", "dim1", "promote", "legacy"])
    if kind == "same":
        return [[r.arr((2, 3)), r.arr((1, 3)), r.arr((0, 3))]], {}
    if kind == "dim1":
        return [(r.arr((2, 3)), r.arr((2, 1)))], {"dim": r.pick([1, -1])}
    if kind == "promote":
        return [[r.arr((2,), "int32"), r.arr((3,), "float32")]], {}
    return [[r.arr((2, 3)), r.arr((0,))]], {}


add("cat", _cat_gen, examples=6)
add("concat", _cat_gen, examples=1)
add("concatenate", _cat_gen, examples=1)
add("stack", fixed(lambda r: ([[r.arr((2, 3)), r.arr((2, 3))]], r.pick([{}, {"dim": 1}, {"dim": -1}]))), examples=3)
_STK = lambda r: r.pick(
    [
        ([[r.arr((2, 3)), r.arr((2, 3))]], {}),
        ([[r.arr((3,)), r.arr((3,))]], {}),  # noqa: E731
        ([[r.arr(()), r.arr(())]], {}),
    ]
)
for _n in ["hstack", "vstack", "row_stack", "dstack", "column_stack"]:
    add(_n, _STK, examples=3 if _n != "row_stack" else 1)
for _n in ["atleast_1d", "atleast_2d", "atleast_3d"]:
    add(
        _n,
        fixed(
            lambda r: ([r.arr(r.pick([(), (3,), (2, 3), (1, 2, 3, 1)]))], {}), lambda r: ([r.arr(()), r.arr((2,))], {})
        ),
        examples=3,
    )
add(
    "meshgrid",
    fixed(
        lambda r: ([r.arr((3,)), r.arr((2,))], {"indexing": r.pick(["ij", "xy"])}),
        lambda r: ([[r.arr((3,)), r.arr((2,)), r.arr((1,))]], {"indexing": "ij"}),
    ),
    examples=3,
)
add(
    "diff",
    fixed(
        lambda r: ([r.arr((5,), r.pick(["float32", "int32", "bool"]))], {}),
        lambda r: ([r.arr((3, 4))], {"n": 2, "dim": r.pick([0, 1])}),
        lambda r: ([r.arr((3, 4))], {"prepend": r.arr((3, 1)), "append": r.arr((3, 2))}),
    ),
    examples=4,
)
add("cartesian_prod", fixed(lambda r: ([r.arr((3,)), r.arr((2,))], {}), lambda r: ([r.arr((3,))], {})), examples=2)
add(
    "block_diag",
    fixed(
        lambda r: ([r.arr((2, 3)), r.arr((1, 2)), r.arr((3,))], {}), lambda r: ([r.arr((2, 2), "int32"), r.arr(())], {})
    ),
    examples=2,
)

# --------------------------------------------------------------------------- indexing


def _perm_index(r, shape, d, sub=None):
    """Distinct indices along ``d`` (so scatter-set is deterministic); ``sub`` = index shape."""
    sub = tuple(sub or shape)
    keys = r.rng.random((shape[d],) + sub[:d] + sub[d + 1 :]).argsort(0)[: sub[d]]
    return np.moveaxis(keys, 0, d).astype(np.int32)


def _gather_gen(r):
    shape = r.pick([(3, 4), (2, 3, 2), (5,)])
    d = r.int(-len(shape), len(shape) - 1)
    sub = tuple(max(1, s - r.int(0, 1)) for s in shape)
    idx = r.rng.integers(0, shape[d], sub).astype(np.int32)
    return [r.arr(shape), d, idx], {}


add("gather", _gather_gen, examples=5)


def _scatter_gen(r):
    shape = r.pick([(3, 4), (4, 2, 3)])
    d = r.int(0, len(shape) - 1)
    sub = tuple(max(1, s - r.int(0, 1)) for s in shape)
    idx = _perm_index(r, shape, d, sub)
    kind = r.pick(["src", "value", "add", "mul"])
    x = r.arr(shape)
    if kind == "src":
        return [x, d, idx, r.arr(shape)], {}
    if kind == "value":
        return [x, d, idx], {"value": 2.5}
    if kind == "add":
        return [x, d, idx, r.arr(sub)], {"reduce": "add"}
    return [x, d, idx, r.arr(sub)], {"reduce": "multiply"}


add("scatter", _scatter_gen, examples=6)


def _scatter_add_gen(r):
    shape = r.pick([(3, 4), (4, 2, 3)])
    d = r.int(0, len(shape) - 1)
    sub = tuple(max(1, s - r.int(0, 1)) for s in shape)
    idx = r.rng.integers(0, shape[d], sub).astype(np.int32)
    return [r.arr(shape), d, idx, r.arr(sub)], {}


add("scatter_add", _scatter_add_gen, examples=3)


def _scatter_reduce_gen(r):
    args, _ = _scatter_add_gen(r)
    return args + [r.pick(["sum", "prod", "mean", "amax", "amin"])], {"include_self": r.bool()}


add("scatter_reduce", _scatter_reduce_gen, examples=8)


def _isel_gen(r):
    shape = r.pick([(3, 4), (5,), (2, 3, 2)])
    d = r.int(-len(shape), len(shape) - 1)
    return [r.arr(shape), d, r.rng.integers(0, shape[d], r.int(0, 4)).astype(np.int32)], {}


add("index_select", _isel_gen, examples=4)


def _iadd_gen(r, perm=False):
    shape = r.pick([(3, 4), (5,), (2, 3, 2)])
    d = r.int(0, len(shape) - 1)
    n = r.int(1, shape[d])
    idx = (r.rng.permutation(shape[d])[:n] if perm else r.rng.integers(0, shape[d], n)).astype(np.int32)
    src_shape = list(shape)
    src_shape[d] = n
    return [r.arr(shape), d, idx, r.arr(src_shape)], {}


add("index_add", lambda r: (lambda a: (a[0], r.pick([{}, {"alpha": 2.0}])))(_iadd_gen(r)), examples=4)
add("index_copy", lambda r: _iadd_gen(r, perm=True), examples=3)
add("index_fill", lambda r: (lambda a: (a[0][:3] + [r.pick([1.5, -2, r.arr(())])], {}))(_iadd_gen(r)), examples=4)


def _index_put_gen(r):
    x = r.arr((4, 3))
    if r.bool():
        i = r.rng.permutation(4)[:3].astype(np.int32)
        return [x, (i,), r.arr((3, 3))], {}
    i, j = r.rng.integers(0, 4, 5).astype(np.int32), r.rng.integers(0, 3, 5).astype(np.int32)
    return [x, (i, j), r.arr((5,))], {"accumulate": True}


add("index_put", _index_put_gen, examples=4)
add(
    "masked_fill",
    fixed(
        lambda r: ([r.arr((2, 3)), r.arr((3,), "bool"), r.pick([0.0, -1.5, r.arr(())])], {}),
        lambda r: ([r.arr((2, 3), "int32"), r.arr((2, 3), "bool"), 7], {}),
    ),
    examples=4,
)
add(
    "masked_scatter",
    fixed(
        lambda r: ([r.arr((2, 3)), r.arr((2, 3), "bool"), r.arr((7,))], {}),
        lambda r: ([r.arr((2, 3)), r.arr((3,), "bool"), r.arr((2, 4))], {}),
    ),
    examples=3,
)
add(
    "masked_select",
    fixed(lambda r: ([r.arr((2, 3)), r.arr((2, 3), "bool")], {}), lambda r: ([r.arr((2, 3)), r.arr((3,), "bool")], {})),
    examples=3,
    jax_ref=False,
)
add("take", fixed(lambda r: ([r.arr((3, 4)), r.rng.integers(-12, 12, (2, 3)).astype(np.int32)], {})), examples=2)
add(
    "take_along_dim",
    fixed(
        lambda r: ([r.arr((3, 4)), r.rng.integers(0, 12, (5,)).astype(np.int32)], {}),
        lambda r: ([r.arr((3, 4)), r.rng.integers(0, 4, (3, 2)).astype(np.int32)], {"dim": 1}),
        lambda r: ([r.arr((3, 4)), r.rng.integers(0, 3, (2, 1)).astype(np.int32)], {"dim": 0}),
    ),
    examples=4,
)


def _sorted(r, shape):
    return np.sort(r.arr(shape), axis=-1)


add(
    "searchsorted",
    fixed(
        lambda r: ([_sorted(r, (5,)), r.arr((2, 3))], r.pick([{}, {"right": True}, {"side": "right"}])),
        lambda r: ([_sorted(r, (2, 5)), r.arr((2, 3))], {}),
        lambda r: ([np.array([1, 2, 2, 3], np.int32), r.arr((4,), "int32", "small")], {"right": r.bool()}),
        lambda r: ([_sorted(r, (5,)), 0.5], {}),
    ),
    examples=5,
    grad=False,
)
add(
    "bucketize",
    fixed(
        lambda r: ([r.arr((2, 3)), _sorted(r, (4,))], {"right": r.bool()}),
        lambda r: (
            [r.arr((4,), "int32", "small"), np.array([0, 1, 1, 3], np.int32)],
            {"right": r.bool(), "out_int32": r.bool()},
        ),
    ),
    examples=4,
)
add(
    "histc",
    fixed(
        lambda r: ([r.arr((10,))], {}),
        lambda r: ([r.arr((3, 4)), 4], {"min": -1, "max": 1}),
        lambda r: ([r.arr((6,)), 5, 0, 0], {}),
    ),
    examples=3,
)
add(
    "bincount",
    fixed(
        lambda r: ([r.arr((6,), "int32", "nonneg")], {}),
        lambda r: ([r.arr((6,), "int32", "nonneg")], {"minlength": 8}),
        lambda r: ([r.arr((6,), "int32", "nonneg")], {"weights": r.arr((6,))}),
    ),
    examples=3,
)
add(
    "nonzero",
    fixed(
        lambda r: (
            [r.arr(r.pick([(5,), (2, 3)]), r.pick(["bool", "int32"]), "small")],
            r.pick([{}, {"as_tuple": True}]),
        )
    ),
    examples=4,
)
add("argwhere", fixed(lambda r: ([r.arr((2, 3), "int32", "small")], {})), examples=2)


def _getitem_gen(r, k):
    x = r.arr((4, 3, 2), r.pick(["float32", "float32", "int32"]))
    i4 = lambda *s: r.rng.integers(-4, 4, s).astype(np.int32)  # noqa: E731
    options = [
        1,
        -1,
        (slice(None), 0),
        (Ellipsis, 1),
        (None, 2),
        (slice(1, None, 2), slice(None, -1)),
        (0, slice(None), None, 1),
        i4(3),
        (i4(2), slice(None), np.array([0, 1], np.int32)),
        (slice(None), np.array([[0, 2], [1, 1]], np.int32)),
        r.arr((4,), "bool"),
        (slice(None), r.arr((3, 2), "bool")),
        (r.arr((4, 3), "bool"), 1),
        [0, 2, 3],
        (i4(2, 1), np.array([0, 1, 2], np.int32)),
        (1, Ellipsis, None),
        (slice(4, 10),),
        (slice(None, None, 3), 1, 1),
        (0, slice(None), np.array([1, 0], np.int32)),
        (slice(1, 3), np.array([2, 0], np.int32)),
        (slice(2, None), 0, slice(1, 2)),
    ]
    return [x, options[k]], {}


_getitem_gen.options = tuple((lambda r, k=k: _getitem_gen(r, k)) for k in range(21))


def _setitem_call(x, idx, v):
    y = x.clone()
    y[idx] = v
    return y


def _jax_setitem(x, idx, v):
    v = v.reshape(x[idx].shape) if getattr(v, "ndim", 0) > x[idx].ndim else v  # torch drops leading 1s
    return x.at[idx].set(v)


def _setitem_gen(r, choice):
    x = r.arr((4, 3), r.pick(["float32", "float32", "int32"]))
    f = x.dtype.kind == "f"
    if choice == 0:
        return [x, 1, r.arr((3,)) if f else 5], {}
    if choice == 1:
        return [x, (slice(None), 0), 2.5 if f else 2], {}
    if choice == 2:
        return [x, r.arr((4, 3), "bool"), 0.0 if f else 0], {}
    if choice == 3:
        return [x, np.array([2, 0], np.int32), r.arr((2, 3)) if f else 1], {}
    if choice == 4:
        return [x, (Ellipsis, slice(1, None)), r.arr((1, 4, 2)) if f else -1], {}
    if choice == 5:
        return [x, (np.array([0, 1], np.int32), np.array([2, 2], np.int32)), r.arr(()) if f else 3], {}
    return [x, r.arr((4,), "bool"), r.arr((3,)) if f else 4], {}


_setitem_gen.options = tuple((lambda r, k=k: _setitem_gen(r, k)) for k in range(7))


def _jax_getitem(x, idx):
    """torch's indexing rule on a jax array: ints select first, then NumPy indexing of the rest."""
    idx = tuple(np.asarray(i) if isinstance(i, list) else i for i in (idx if isinstance(idx, tuple) else (idx,)))

    def is_mask(i):
        return hasattr(i, "dtype") and i.dtype == bool

    used = sum(i.ndim if is_mask(i) else 0 if i is None or i is Ellipsis else 1 for i in idx)
    dims, d = [], 0
    for i in idx:
        dims.append(d)
        if i is Ellipsis:
            d += x.ndim - used
        elif i is not None:
            d += i.ndim if is_mask(i) else 1
    for i, d in sorted(((i, d) for i, d in zip(idx, dims) if isinstance(i, int)), key=lambda p: -p[1]):
        x = x.take(i, axis=d)
    return x[tuple(i for i in idx if not isinstance(i, int))]


add("_getitem", _getitem_gen, call=lambda x, idx: x[idx], jax_call=_jax_getitem, examples=21)
add("_setitem", _setitem_gen, call=_setitem_call, jax_call=_jax_setitem, examples=7)
add(
    "allclose",
    fixed(
        lambda r: (lambda a: ([a, a + r.pick([0.0, 1e-6, 1e-2])], {}))(r.arr((2, 3))),
        lambda r: ([r.arr((3,)), r.arr((3,))], {"atol": 10.0}),
    ),
    examples=3,
    grad=False,
    jax_ref=False,
)
add(
    "equal",
    fixed(
        lambda r: (lambda a: ([a, a.copy()], {}))(r.arr((2, 3))),
        lambda r: ([r.arr((2, 3)), r.arr((2, 3))], {}),
        lambda r: ([r.arr((2, 3)), r.arr((3,))], {}),
    ),
    examples=3,
    grad=False,
    jax_ref=False,
)


# --------------------------------------------------------------------------- creation
def jnp_full_like(x, v):
    import jax.numpy as jnp

    return jnp.full_like(x, v)


_SIZES = [(2, 3), ((2, 3),), ([4],), (0,), ((),)]
_DTK = lambda r: r.pick([{}, {"dtype": DT("int32")}, {"dtype": DT("float16")}, {"dtype": DT("bool")}])  # noqa: E731
for _n in ["zeros", "ones", "empty"]:
    add(_n, lambda r: (list(r.pick(_SIZES)), _DTK(r)), examples=3, values=_n != "empty")
add(
    "full",
    fixed(
        lambda r: ([r.pick([(2, 3), [4], ()]), r.pick([1.5, 3, True, -2])], {}),
        lambda r: ([(2,), 7], {"dtype": DT("float32")}),
    ),
    examples=4,
)
for _n in ["zeros_like", "ones_like", "empty_like"]:
    add(
        _n,
        fixed(lambda r: ([r.arr(r.pick(SHAPES), r.pick(["float32", "int32", "bool"]))], _DTK(r))),
        examples=2,
        values=_n != "empty_like",
    )
add(
    "full_like",
    fixed(
        lambda r: ([r.arr(r.pick(SHAPES), r.pick(["float32", "int32"])), r.pick([2, 0.5])], {}),
        lambda r: ([r.arr((2,)), 3], {"dtype": DT("int32")}),
    ),
    examples=3,
)
add(
    "arange",
    fixed(
        lambda r: ([r.pick([5, 0, 1])], {}),
        lambda r: ([r.pick([1, -3]), 7, r.pick([1, 2, 3])], {}),
        lambda r: ([0, 1, r.pick([0.1, 0.25, 0.3])], {}),
        lambda r: ([2.5], {}),
        lambda r: ([10, 0, -3], {}),
        lambda r: ([4], {"dtype": DT("float32")}),
    ),
    examples=6,
)
add(
    "linspace",
    fixed(
        lambda r: ([r.pick([0, -1.5]), r.pick([1, 10.0]), r.pick([0, 1, 2, 5, 7])], {}),
        lambda r: ([0, 10, 5], {"dtype": DT("int32")}),
    ),
    examples=4,
)
add(
    "logspace",
    fixed(lambda r: ([0, r.pick([1, 2.5]), r.pick([1, 4])], r.pick([{}, {"base": 2.0}]))),
    examples=3,
    tol=1e-4,
)
add("eye", fixed(lambda r: ([r.pick([0, 1, 3])], {}), lambda r: ([2, 4], {"dtype": DT("int32")})), examples=3)
add("tril_indices", fixed(lambda r: ([r.pick([3, 4]), r.pick([3, 5]), r.pick([0, 1, -1])], {})), examples=3)
add("triu_indices", fixed(lambda r: ([r.pick([3, 4]), r.pick([3, 5]), r.pick([0, 1, -1])], {})), examples=3)
add(
    "_fill",
    fixed(lambda r: ([r.arr((2, 3), r.pick(["float32", "int32"])), r.pick([1.5, 2, r.arr(())])], {})),
    call=lambda x, v: x.clone().fill_(v),
    jax_call=lambda x, v: jnp_full_like(x, v),
    examples=3,
)
add(
    "_copy",
    fixed(lambda r: ([r.arr((2, 3), r.pick(["float32", "int32"])), r.arr(r.pick([(3,), (2, 3), ()]))], {})),
    call=lambda x, src: x.clone().copy_(src),
    jax_ref=False,
    examples=3,
)


# --------------------------------------------------------------------------- shape extras (_ops/_shape_extra.py)
def _row_fn(name):
    def f(*a, **k):
        from eagerjax._ops._registry import OPS

        return OPS[name].fn(*a, **k)

    return f


add(
    "unfold",
    fixed(
        lambda r: ([r.arr((10,)), 0, r.pick([1, 3, 10]), r.pick([1, 2, 4])], {}),
        lambda r: ([r.arr((2, 7, 3), r.pick(["float32", "int32"])), r.pick([1, -2]), 3, 2], {}),
        lambda r: ([r.arr((3, 40)), -1, 35, r.pick([1, 3])], {}),  # long windows: the gather path
        lambda r: ([r.arr(()), 0, 1, 1], {}),
    ),
    call=lambda x, *a: x.unfold(*a),  # torch.nn.functional.unfold is im2col, not this
    jax_call=_row_fn("unfold"),
    examples=6,
)
add(
    "_view_dtype",
    fixed(
        lambda r: ([r.arr((2, 4), r.pick(["float32", "float16"])), DT(r.pick(["int32", "float16", "uint8"]))], {}),
        lambda r: ([r.arr((3, 2), "float16"), DT(r.pick(["int16", "float32"]))], {}),
        lambda r: ([r.arr(r.pick([(), (3,)]), "float32"), DT("int32")], {}),
        lambda r: ([r.arr((2, 4), "float32"), DT("complex64")], {}),
    ),
    call=lambda x, d: x.view(d),
    jax_call=_row_fn("_view_dtype"),
    examples=6,
)

# --------------------------------------------------------------------------- torch.fft (_ops/_fft.py)
_X1 = lambda r: r.arr(r.pick([(6,), (3, 8)]), r.pick(["float32", "float32", "int32"]))  # noqa: E731
for _n in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"):
    add(
        f"fft_{_n}",
        fixed(
            lambda r: ([_X1(r)], {}),
            lambda r: (
                [r.arr((4, 6))],
                {"n": r.pick([4, 9]), "dim": r.pick([0, -1]), "norm": r.pick([None, "ortho", "forward"])},
            ),
        ),
        examples=3,
        tol=1e-4,
    )
for _n in ("fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn"):
    add(
        f"fft_{_n}",
        fixed(
            lambda r: ([r.arr((3, 4, 6))], {}),
            lambda r: ([r.arr((4, 6))], {"s": (r.pick([3, 5]), 4), "norm": r.pick([None, "ortho"])}),
            lambda r: ([r.arr((4, 6, 2))], {"dim": r.pick([(0, 1), (0, 2)])}),
        ),
        examples=3,
        tol=1e-4,
    )
add("fft_fftfreq", fixed(lambda r: ([r.pick([1, 5, 8])], {"d": r.pick([1.0, 0.25])})), grad=False, examples=2)
add("fft_rfftfreq", fixed(lambda r: ([r.pick([1, 5, 8])], {"d": r.pick([1.0, 0.25])})), grad=False, examples=2)
add("fft_fftshift", fixed(lambda r: ([r.arr((4, 5))], {"dim": r.pick([None, 0, (0, 1)])})), examples=2)
add("fft_ifftshift", fixed(lambda r: ([r.arr((4, 5))], {"dim": r.pick([None, 1, (1, 0)])})), examples=2)
add("real", fixed(lambda r: ([r.arr((3,), "complex64")], {})), call=lambda z: z.real, grad=False, examples=2)
add("imag", fixed(lambda r: ([r.arr((3,), "complex64")], {})), call=lambda z: z.imag, grad=False, examples=2)
add("view_as_real", fixed(lambda r: ([r.arr((3, 2), "complex64")], {})), examples=2)
add("view_as_complex", fixed(lambda r: ([r.arr((3, 2), "float32")], {}), lambda r: ([r.arr((2, 4, 2))], {})))
add("complex", fixed(lambda r: ([r.arr((3,)), r.arr((2, 3))], {})), examples=2)
add("polar", fixed(lambda r: ([r.arr((4,), dom="pos"), r.arr((4,))], {})), examples=2)


# --------------------------------------------------------------------------- LU, lstsq, eig (_ops/_linalg2.py)
def _fw(a):
    """The framework of a tensor argument (eagerjax or torch): for cases composing two calls."""
    import sys

    return sys.modules[type(a).__module__.split(".")[0]]


_LU_SHAPES = [(3, 3), (2, 4, 4), (3, 5), (5, 3)]
add("linalg_lu", fixed(lambda r: ([r.arr(r.pick(_LU_SHAPES))], {})), examples=3, tol=1e-4)
add("linalg_lu_factor", fixed(lambda r: ([r.arr(r.pick(_LU_SHAPES))], {})), examples=3, tol=1e-4)
add("lu", fixed(lambda r: ([r.arr(r.pick(_LU_SHAPES))], {"get_infos": r.bool()})), examples=3, tol=1e-4, grad=False)
add(
    "linalg_lu_solve",
    fixed(
        lambda r: ([_sq(r, (3, 3)), r.arr((3, 2))], {"left": True, "adjoint": r.bool()}),
        lambda r: ([_sq(r, (2, 3, 3)), r.arr((2, 4, 3))], {"left": False, "adjoint": r.bool()}),
    ),
    call=lambda a, b, **k: _fw(a).linalg.lu_solve(*_fw(a).linalg.lu_factor(a), b, **k),
    jax_ref=False,
    examples=3,
    tol=1e-4,
)
add(
    "lu_unpack",
    fixed(lambda r: ([r.arr(r.pick(_LU_SHAPES))], {})),
    call=lambda a: _fw(a).lu_unpack(*_fw(a).linalg.lu_factor(a)),
    jax_ref=False,
    examples=3,
    tol=1e-4,
)
# torch's default driver is its device's: gelsy on CPU, gels on CUDA, and the reference runs on
# CPU, so on a GPU the default-driver cases name the driver eagerjax picks there
_LSTSQ_DRIVER = None if jax.devices()[0].platform == "cpu" else "gels"
add(
    "linalg_lstsq",
    fixed(
        lambda r: ([r.arr((6, 3)), r.arr((6, 2))], {"driver": r.pick([_LSTSQ_DRIVER, "gels", "gelsd", "gelss"])}),
        lambda r: ([r.arr((2, 5, 3)), r.arr((2, 5, 1))], {"driver": r.pick(["gelsy", "gelsd"])}),
        lambda r: ([r.arr((3, 5)), r.arr((3, 2))], {} if _LSTSQ_DRIVER is None else {"driver": _LSTSQ_DRIVER}),
    ),
    examples=4,
    tol=1e-4,
)
# (eigenvalues are complex: compared as values; gradients are checked on real outputs only)
add("linalg_eig", fixed(lambda r: ([r.arr(r.pick([(3, 3), (2, 4, 4)]))], {})), examples=2, tol=1e-4, grad=False)
add("linalg_eigvals", fixed(lambda r: ([r.arr((4, 4))], {})), examples=2, tol=1e-4, grad=False)


# --------------------------------------------------------------------------- matrix_exp, Householder (_ops/_linalg3.py)
_EXP = lambda r: ([0.5 * r.arr(r.pick([(3, 3), (2, 4, 4), (1, 1)]))], {})  # noqa: E731
add("linalg_matrix_exp", fixed(_EXP), examples=3, tol=1e-4)
add("matrix_exp", fixed(_EXP), examples=2, tol=1e-4)
add("matrix_exp", fixed(lambda r: ([0.5 * r.arr((3, 3), "complex64")], {})), examples=1, tol=1e-4, grad=False)
_HOUSE = lambda r: (lambda m, n, k, b: ([r.arr(b + (m, n)), r.arr(b + (k,))], {}))(  # noqa: E731
    *r.pick([(4, 3, 3), (5, 3, 2), (3, 3, 3), (4, 2, 0)]), r.pick([(), (2,)])
)
add("linalg_householder_product", fixed(_HOUSE), examples=4, tol=1e-4)
add("orgqr", fixed(_HOUSE), examples=2, tol=1e-4)
add("geqrf", fixed(lambda r: ([r.arr(r.pick([(4, 3), (3, 3), (2, 5, 3), (3, 5)]))], {})), examples=3, grad=False)
add(
    "ormqr",
    fixed(
        lambda r: ([r.arr((5, 3)), r.arr((3,)), r.arr((5, 2))], {}),
        lambda r: (
            [r.arr((2, 4, 4)), r.arr((2, 4)), r.arr((2, 3, 4))],
            {"left": False, "transpose": r.pick([0, 1]) == 1},
        ),
    ),
    examples=2,
    tol=2e-3,  # (gradients: a scan of rank-1 updates against LAPACK's blocked ormqr)
)
add(
    "conv_tbc",
    fixed(lambda r: ([r.arr((5, 2, 3)), r.arr((r.pick([1, 3]), 3, 4)), r.arr((4,))], {"pad": r.pick([0, 1])})),
    examples=2,
    tol=1e-4,
)


# --------------------------------------------------------------------------- nn rows, part 4 (_ops/_nn4.py)
# Public rows run as ej.<name> / torch.<name>; the internal ones through nn.functional on both sides
# (``call``), with the row's function as the jax reference (``jax_call``). The random rows
# (_alpha_dropout, _gumbel_softmax) are checked in tests/test_nn_layers4.py.
def _nnf(name):
    return lambda *a, **k: getattr(_fw(a[0]).nn.functional, name)(*a, **k)


def _p2(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _nn4():
    from eagerjax._ops import _nn4 as m

    return m


def _pm(r, shape):
    return np.where(r.arr(shape) > 0, 1.0, -1.0).astype(np.float32)


add(
    "hardshrink",
    fixed(lambda r: ([r.arr((3, 4))], {}), lambda r: ([r.arr((5,))], {"lambd": r.pick([0.1, 1.0])})),
    examples=2,
)
add("threshold", fixed(lambda r: ([r.arr((3, 4)), r.pick([0.0, 0.5]), r.pick([-1.0, 2.0])], {})), examples=2)
add(
    "prelu",
    fixed(lambda r: ([r.arr((2, 3, 4)), r.arr((3,))], {}), lambda r: ([r.arr((2, 3)), r.arr((1,))], {})),
    examples=2,
)
add(
    "_softshrink",
    fixed(lambda r: ([r.arr((3, 4))], {"lambd": r.pick([0.0, 0.3, 1.0])})),
    call=_nnf("softshrink"),
    jax_call=lambda x, lambd=0.5: _nn4()._softshrink(x, lambd),
    examples=2,
)
add(
    "_glu",
    fixed(lambda r: ([r.arr((4, 6))], {"dim": r.pick([0, -1])}), lambda r: ([r.arr((2, 4, 3))], {"dim": 1})),
    call=_nnf("glu"),
    jax_call=lambda x, dim=-1: _nn4()._glu(x, dim=dim),
    examples=2,
)
add(
    "_local_response_norm",
    fixed(
        lambda r: ([r.arr((2, 5, 4)), r.pick([2, 3])], {}),
        lambda r: ([r.arr((2, 5, 3, 2)), 3], {"alpha": 0.1, "beta": 0.5, "k": 2.0}),
    ),
    call=_nnf("local_response_norm"),
    jax_call=lambda x, size, alpha=1e-4, beta=0.75, k=1.0: _nn4()._local_response_norm(
        x, size=size, alpha=alpha, beta=beta, k=k
    ),
    examples=2,
)
_FOLD_KW = [{}, {"stride": 2}, {"padding": 1, "dilation": (2, 1)}, {"stride": (1, 2), "padding": (0, 1)}]
add(
    "_im2col",
    fixed(lambda r: ([r.arr(r.pick([(2, 3, 6, 7), (3, 5, 5)])), r.pick([2, (3, 2)])], r.pick(_FOLD_KW))),
    call=_nnf("unfold"),
    jax_call=lambda x, kernel_size, dilation=1, padding=0, stride=1: _nn4()._im2col(
        x, kernel_size=_p2(kernel_size), dilation=_p2(dilation), padding=_p2(padding), stride=_p2(stride)
    ),
    examples=3,
)
add(
    "_col2im",
    fixed(
        lambda r: ([r.arr((2, 12, 30)), (6, 7), 2], {}),
        lambda r: ([r.arr((8, 12)), (5, 6), (2, 2)], {"stride": 2, "padding": 1}),
    ),
    call=_nnf("fold"),
    jax_call=lambda x, output_size, kernel_size, dilation=1, padding=0, stride=1: _nn4()._col2im(
        x,
        output_size=_p2(output_size),
        kernel_size=_p2(kernel_size),
        dilation=_p2(dilation),
        padding=_p2(padding),
        stride=_p2(stride),
    ),
    examples=2,
)
_RED = ["mean", "sum", "none"]
# (loss targets: torch refuses a gradient for some, so their gradients are compared with jax only)
add(
    "_margin_ranking_loss",
    fixed(lambda r: ([r.arr((6,)), r.arr((6,)), _pm(r, (6,))], {"margin": 0.3, "reduction": r.pick(_RED)})),
    call=_nnf("margin_ranking_loss"),
    jax_ref=False,
    examples=2,
)
for _name, _make in [
    ("hinge_embedding_loss", lambda r: [r.arr((3, 4)), _pm(r, (3, 4))]),
    ("soft_margin_loss", lambda r: [r.arr((3, 4)), _pm(r, (3, 4))]),
    ("multilabel_soft_margin_loss", lambda r: [r.arr((3, 4)), (r.arr((3, 4)) > 0).astype(np.float32)]),
    ("poisson_nll_loss", lambda r: [r.arr((3, 4)), np.abs(r.arr((3, 4))) * 2]),
    ("multi_margin_loss", lambda r: [r.arr((4, 5)), r.rng.integers(0, 5, 4).astype(np.int32)]),
    ("multilabel_margin_loss", lambda r: [r.arr((2, 4)), np.array([[2, 0, -1, 1], [3, 1, 0, 2]], np.int32)]),
]:
    add(
        f"_{_name}",
        fixed(lambda r, _make=_make: (_make(r), {"reduction": r.pick(_RED)})),
        call=_nnf(_name),
        jax_ref=False,
        grad_torch=False,
        examples=2,
    )
add(
    "_triplet_margin_loss",
    fixed(
        lambda r: (
            [r.arr((4, 5)), r.arr((4, 5)), r.arr((4, 5))],
            {"p": r.pick([1.0, 2.0]), "swap": r.bool(), "reduction": r.pick(_RED)},
        )
    ),
    call=_nnf("triplet_margin_loss"),
    jax_ref=False,
    examples=2,
)
add(
    "_gaussian_nll_loss",
    fixed(
        lambda r: (
            [r.arr((4, 3)), r.arr((4, 3)), np.abs(r.arr((4, 3))) + 0.1],
            {"full": r.bool(), "reduction": r.pick(_RED)},
        )
    ),
    call=_nnf("gaussian_nll_loss"),
    jax_ref=False,
    examples=2,
)
add(
    "_ctc_loss",
    fixed(
        lambda r: (
            [r.arr((8, 2, 5)), np.array([[1, 2, 2], [3, 4, 0]], np.int32), np.array([8, 6]), np.array([3, 2])],
            {"reduction": r.pick(_RED)},
        )
    ),
    call=lambda x, *a, **k: _nnf("ctc_loss")(x.log_softmax(2), *a, **k),
    jax_ref=False,
    examples=2,
    tol=1e-4,
)


# --------------------------------------------------------------------------- affine_grid / grid_sample (_ops/_grid.py)
def _grid_mod():
    from eagerjax._ops import _grid as m

    return m


def _theta(r, dims):
    return (np.eye(dims, dims + 1)[None] + 0.3 * r.arr((2, dims, dims + 1))).astype(np.float32)


add(
    "_affine_grid",
    fixed(
        lambda r: ([_theta(r, 2), (2, 3, 4, 5)], {"align_corners": r.bool()}),
        lambda r: ([_theta(r, 3), (2, 1, 3, 2, 4)], {"align_corners": r.bool()}),
    ),
    call=_nnf("affine_grid"),
    jax_call=lambda th, size, align_corners: _grid_mod()._affine_grid(th, size=size, align_corners=align_corners),
    examples=3,
)
add(
    "_grid_sample",
    fixed(
        lambda r: (
            [r.arr((2, 3, 4, 5)), (r.arr((2, 3, 6, 2)) * 0.8).astype(np.float32)],
            {
                "mode": r.pick(["bilinear", "nearest"]),
                "padding_mode": r.pick(["zeros", "border", "reflection"]),
                "align_corners": r.bool(),
            },
        ),
        lambda r: (
            [r.arr((1, 2, 3, 4, 5)), (r.arr((1, 2, 3, 2, 3)) * 0.8).astype(np.float32)],
            {"mode": "bilinear", "padding_mode": r.pick(["zeros", "reflection"]), "align_corners": r.bool()},
        ),
    ),
    call=_nnf("grid_sample"),
    jax_call=lambda x, g, mode, padding_mode, align_corners: _grid_mod()._grid_sample(
        x, g, mode=mode, padding_mode=padding_mode, align_corners=align_corners
    ),
    examples=4,
    tol=1e-4,
)

# --------------------------------------------------------------------------- stft / istft / windows (_ops/_stft.py)
_WIN = lambda r, n: r.arr((n,), "float32", "pos")  # noqa: E731 - positive: istft's envelope never vanishes
add(
    "stft",
    fixed(
        lambda r: (
            [r.arr(r.pick([(40,), (2, 37)]))],
            {
                "n_fft": r.pick([8, 11]),
                "pad_mode": r.pick(["reflect", "constant", "replicate", "circular"]),
                "return_complex": False,
            },
        ),
        lambda r: (
            [r.arr((2, 30))],
            {
                "n_fft": 12,
                "hop_length": r.pick([3, 5]),
                "win_length": 9,
                "window": _WIN(r, 9),
                "center": r.bool(),
                "normalized": r.bool(),
                "onesided": r.bool(),
                "return_complex": False,
            },
        ),
        lambda r: ([r.arr((2, 24), "complex64")], {"n_fft": 8, "window": _WIN(r, 8), "return_complex": r.bool()}),
    ),
    examples=6,
    tol=1e-4,
)
add(
    "istft",
    fixed(
        lambda r: (
            [r.arr(r.pick([(9, 7), (2, 9, 7)]), "complex64")],
            {"n_fft": 16, "window": _WIN(r, 16), "length": r.pick([None, 30, 40])},  # 40: zero-padded tail
        ),
        lambda r: (
            [r.arr((5, 6), "complex64")],
            {
                "n_fft": 8,
                "hop_length": 2,
                "win_length": 6,
                "window": _WIN(r, 6),
                "normalized": r.bool(),
                "length": r.pick([None, 10, 12]),
            },
        ),
        lambda r: (
            [r.arr((2, 8, 6), "complex64")],
            {
                "n_fft": 8,
                "hop_length": 2,
                "window": _WIN(r, 8),
                "center": r.bool(),
                "onesided": False,
                "return_complex": r.bool(),
            },
        ),
    ),
    examples=6,
    tol=1e-4,
)
for _n in ("hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"):
    add(
        _n,
        fixed(
            lambda r: ([r.pick([0, 1, 2, 7, 8])], {"periodic": r.bool()}),
            lambda r: ([r.pick([5, 6])], {"dtype": DT(r.pick(["float32", "float16"]))}),
        ),
        grad=False,
        examples=4,
    )
add("hamming_window", fixed(lambda r: ([7, r.bool(), 0.6, r.pick([0.3, 0.46])], {})), grad=False, examples=2)
add("kaiser_window", fixed(lambda r: ([7, r.bool(), r.pick([3.0, 8.5])], {})), grad=False, examples=2)


# --------------------------------------------------------------------------- torch.special (_ops/_special.py)
_SPECIAL_UNARY = {
    "expit": "real",
    "gammaln": "pos",
    "digamma": "pos",
    "psi": "pos",
    "erfc": "real",
    "erfinv": "unit",
    "i0": "real",
    "log1p": "pos",
    "expm1": "real",
    "exp2": "real",
    "sinc": "nz",
    "entr": "pos",
    "erfcx": "real",
    "i0e": "real",
    "i1": "real",
    "i1e": "real",
    "ndtr": "real",
    "ndtri": "prob",
    "log_ndtr": "real",
}
for _n, _d in _SPECIAL_UNARY.items():
    _dts = ("float32", "float32", "float16", "int32") if _d in ("real", "pos", "nz") else ("float32", "float16")
    add(f"special_{_n}", unary(_d, _dts), examples=3)
add("special_logit", unary("prob", ("float32", "float32", "float16")), examples=2)
add("special_logit", fixed(lambda r: ([r.arr(r.pick(SHAPES), dom="prob")], {"eps": r.pick([0.1, 0.3, 0.7, -1.0])})))
add("special_round", unary("real", ("float32", "int32"), extra=lambda r: r.pick([{}, {"decimals": 1}])), examples=3)
add("special_xlogy", binary(("real", "pos")), examples=3)
add("special_polygamma", fixed(lambda r: ([r.pick([0, 1, 3]), r.arr(r.pick(SHAPES), dom="pos")], {})), examples=3)
_MVLG = lambda r: ([r.arr(r.pick(SHAPES), r.pick(["float32", "float32", "int32"]), "ge1"), r.pick([1, 2, 3])], {})  # noqa: E731
add("special_multigammaln", fixed(_MVLG), examples=3)
add("mvlgamma", fixed(_MVLG), examples=3)
add(
    "special_zeta",
    fixed(
        lambda r: ([r.arr(r.pick(SHAPES), dom="ge1"), r.arr((1,), dom="pos")], {}),
        lambda r: ([r.pick([2.0, 3]), r.arr(r.pick(SHAPES), r.pick(["float32", "int32"]), "pos")], {}),
        lambda r: ([r.arr((2, 3), r.pick(["float32", "int32"]), "ge1") + 1, r.pick([0.5, 2])], {}),
    ),
    examples=6,
    tol=1e-4,
)
add(
    "special_logsumexp",
    fixed(lambda r: ([r.arr(r.pick(SHAPES_ND), r.pick(["float32", "int32"]))], {"dim": r.pick([0, -1, (0,)])})),
    examples=2,
)
for _n in ("special_softmax", "special_log_softmax"):
    add(
        _n,
        fixed(
            lambda r: ([r.arr(r.pick(SHAPES_ND)), r.pick([0, -1])], {}),
            lambda r: ([r.arr((2, 3), r.pick(["float32", "int32"])), 1], {"dtype": DT("float32")}),
        ),
        examples=3,
    )
add(
    "combinations",
    fixed(
        lambda r: (
            [r.arr((r.pick([0, 1, 3, 4]),), r.pick(["float32", "int32"]))],
            {"r": r.pick([0, 1, 2, 3, 5]), "with_replacement": r.bool()},
        ),
        lambda r: ([r.arr((4,))], {}),
    ),
    examples=6,
)
add(
    "channel_shuffle",
    fixed(
        lambda r: ([r.arr(r.pick([(2, 6, 3), (1, 6, 2, 2), (0, 6, 1)])), r.pick([1, 2, 3, 6])], {}),
        lambda r: ([r.arr((2, 4, 3, 1, 2), r.pick(["float32", "int32"])), 2], {}),
    ),
    examples=4,
)


# --------------------------------------------------------------------------- torch.special (_ops/_special2.py)
# torch has no gradients of these (igamma's in its first argument neither): ours are jax's,
# checked against derivative identities in tests/test_special2.py. Wide ranges are there too.
for _n, _d in {
    "bessel_j0": "real",
    "bessel_j1": "real",
    "bessel_y0": "pos",
    "bessel_y1": "pos",
    "modified_bessel_i0": "real",
    "modified_bessel_i1": "real",
    "modified_bessel_k0": "pos",
    "modified_bessel_k1": "pos",
    "scaled_modified_bessel_k0": "pos",
    "scaled_modified_bessel_k1": "pos",
    "airy_ai": "real",
    "spherical_bessel_j0": "real",
}.items():
    add(f"special_{_n}", unary(_d, ("float32", "float32", "float16", "int32")), examples=3)
for _n in ("igamma", "igammac", "special_gammainc", "special_gammaincc"):
    add(_n, binary(("pos", "pos"), scalars=False), examples=3, tol=1e-4)
_POLY = (
    lambda r: (
        [r.arr(r.pick(SHAPES), r.pick(["float32", "float32", "int32"]), "unit"), r.pick([-1, 0, 1, 2, 3, 6])],
        {},
    ),
    lambda r: ([r.arr((2, 3), r.pick(["float32", "int32"])), r.arr(r.pick([(3,), (2, 3), ()]), "int32")], {}),
    lambda r: ([r.pick([0.5, -1.5, 2]), r.arr((4,), *r.pick([("int32", "nonneg"), ("float32", "pos")]))], {}),
)
for _n in ("chebyshev", "shifted_chebyshev"):
    for _k in "tuvw":
        add(f"special_{_n}_polynomial_{_k}", fixed(*_POLY), examples=4, tol=1e-4)
for _n in ("hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p"):
    add(f"special_{_n}", fixed(*_POLY), examples=4, tol=1e-4)


# --------------------------------------------------------------------------- linalg: cond, tensorinv, tensorsolve
add(
    "linalg_cond",
    fixed(
        lambda r: ([_sq(r, r.pick([(3, 3), (2, 3, 3)]))], {"p": r.pick([None, 2, -2])}),
        lambda r: ([r.arr(r.pick([(3, 4), (2, 4, 2)]))], {"p": r.pick([None, -2])}),
        lambda r: ([_sq(r, r.pick([(3, 3), (2, 3, 3)]))], {"p": "nuc"}),
    ),
    examples=7,
    tol=_LTOL,
)
# torch's backward of the other norm-based p fails inside torch ("modified by an inplace operation"):
# values are compared here, gradients against torch's formula in tests/test_special.py.
add(
    "linalg_cond",
    fixed(lambda r: ([_sq(r, r.pick([(3, 3), (2, 3, 3)]))], {"p": r.pick(["fro", np.inf, -np.inf, 1, -1])})),
    examples=3,
    tol=_LTOL,
    grad_torch=False,
)
add(
    "linalg_tensorinv",
    fixed(
        lambda r: ([_sq(r, (6, 6)).reshape(2, 3, 6)], {}),
        lambda r: ([_sq(r, (4, 4)).reshape(4, 2, 2)], {"ind": 1}),
    ),
    examples=2,
    tol=_LTOL,
)
add(
    "linalg_tensorsolve",
    fixed(
        lambda r: ([_sq(r, (6, 6)).reshape(2, 3, 6), r.arr((2, 3))], {}),
        lambda r: ([np.moveaxis(_sq(r, (6, 6)).reshape(2, 3, 6), 2, 0), r.arr((2, 3))], {"dims": (0,)}),
        lambda r: ([_sq(r, (6, 6)).reshape(6, 2, 3), r.arr((6,))], {}),
    ),
    examples=3,
    tol=_LTOL,
)


# --------------------------------------------------------------------------- cov, histogram, gradient & co (_ops/_math5.py)
add(
    "cov",
    fixed(
        lambda r: ([r.arr(r.pick([(3, 5), (5,), (1, 4)]))], {"correction": r.pick([0, 1, 2])}),
        lambda r: ([r.arr((3, 5))], {"fweights": r.arr((5,), "int32", "pos"), "aweights": r.arr((5,), dom="pos")}),
        lambda r: ([r.arr((2, 4))], {"aweights": r.arr((4,), dom="pos"), "correction": r.pick([0, 1])}),
        lambda r: ([r.arr((2, 4))], {"fweights": r.arr((4,), "int32", "pos")}),
        lambda r: ([r.arr((3, 4), "int32")], {}),
    ),
    examples=6,
    tol=1e-4,
)
add("corrcoef", fixed(lambda r: ([r.arr(r.pick([(3, 5), (2, 6)]))], {})), examples=2, tol=1e-4)
_EDGES = np.array([-2.0, -0.5, 0.5, 2.0], np.float32)
add(
    "histogram",
    fixed(
        lambda r: ([r.arr(r.pick([(10,), (3, 4)])), r.pick([1, 3, 5])], {"density": r.bool()}),
        lambda r: ([r.arr((12,)), 4], {"range": (-1.0, 2.0), "weight": r.arr((12,), dom="pos")}),
        lambda r: ([r.arr((3, 5)), _EDGES.copy()], {"density": r.bool()}),
    ),
    examples=4,
    tol=1e-4,
)
add(
    "isin",
    fixed(
        lambda r: ([r.arr((3, 4), "int32"), r.arr((3,), "int32")], {"invert": r.bool()}),
        lambda r: ([r.arr((5,), "int32"), r.pick([0, 2])], {}),
        lambda r: ([r.pick([1, 7]), r.arr((4,), "int32")], {"assume_unique": True}),
    ),
    examples=4,
)
add("frexp", unary("nz", dtypes=("float32",), shapes=SHAPES_ND), examples=3)
add("diagflat", fixed(lambda r: ([r.arr(r.pick([(3,), (2, 2)]))], {"offset": r.pick([0, 1, -2])})), examples=3)
add(
    "vander",
    fixed(lambda r: ([r.arr((4,), r.pick(["float32", "int32"]))], {"N": r.pick([None, 1, 3]), "increasing": r.bool()})),
    examples=4,
    grad_torch=False,  # torch's own backward of vander fails ("modified by an inplace operation"); jax's is checked
)
add("linalg_vander", fixed(lambda r: ([r.arr(r.pick([(4,), (2, 3)]))], {"N": r.pick([None, 2, 5])})), examples=3)
add(
    "renorm",
    fixed(lambda r: ([r.arr((3, 4)), r.pick([1, 2, 3.5]), r.pick([0, 1, -1]), r.pick([1.0, 2.5, 50.0])], {})),
    examples=4,
    tol=1e-4,
)
add(
    "nuclear_norm",
    fixed(
        lambda r: ([r.arr((3, 4))], {"keepdim": r.bool()}),
        lambda r: ([r.arr((2, 3, 4)), (0, 2)], {"keepdim": r.bool()}),
    ),
    examples=2,
    tol=_LTOL,
)
add("frobenius_norm", fixed(lambda r: ([r.arr((2, 3, 4)), r.pick([(0, 1), (-1,), 2])], {"keepdim": r.bool()})))
add(
    "unravel_index",
    fixed(
        lambda r: ([r.rng.integers(-8, 8, r.pick([(5,), (2, 3), ()])).astype(np.int32), r.pick([(2, 4), (8,), 8])], {})
    ),
    examples=3,
)
_TRAP = fixed(
    lambda r: ([r.arr(r.pick([(3, 5), (5,)]))], {}),
    lambda r: ([r.arr((3, 5))], {"dx": r.pick([0.5, 2.0]), "dim": r.pick([0, -1])}),
    lambda r: ([r.arr((4, 5)), np.sort(r.arr((5,)))], {}),
    lambda r: ([r.arr((4, 5)), r.arr((4, 5))], {"dim": 0}),
    lambda r: ([r.arr((2, 3), "int32")], {}),
)
add("trapezoid", _TRAP, examples=5)
add("cumulative_trapezoid", _TRAP, examples=5)
add(
    "trapz",
    fixed(lambda r: ([r.arr((3, 4)), np.sort(r.arr((4,)))], {}), lambda r: ([r.arr((3, 4))], {"dx": 0.5, "dim": 0})),
    examples=2,
)
add(
    "gradient",
    fixed(
        lambda r: ([r.arr(r.pick([(5,), (3, 4)]))], {"edge_order": r.pick([1, 2])}),
        lambda r: ([r.arr((3, 4))], {"spacing": r.pick([2.0, [0.5, 3.0]]), "dim": r.pick([None, [0, 1]])}),
        lambda r: ([r.arr((3, 4))], {"spacing": r.pick([1.5, [0.5]]), "dim": 1, "edge_order": 2}),
        lambda r: (
            [r.arr((4, 5))],
            {"spacing": [np.cumsum(r.arr((5,), dom="pos"))], "dim": 1, "edge_order": r.pick([1, 2])},
        ),
        lambda r: ([r.arr((3, 4), "int32")], {}),
    ),
    examples=6,
    tol=1e-4,
)


# --------------------------------------------------------------------------- *_scatter, index_reduce, put (_ops/_indexing2.py)
def _select_scatter_gen(r):
    shape = r.pick([(3, 4), (2, 3, 2)])
    d = r.int(-len(shape), len(shape) - 1)
    i = r.int(-shape[d], shape[d] - 1)
    rest = tuple(s for k, s in enumerate(shape) if k != d % len(shape))
    return [r.arr(shape), r.arr(rest), d, i], {}


add("select_scatter", _select_scatter_gen, examples=3)
add(
    "slice_scatter",
    fixed(
        lambda r: ([r.arr((6, 3)), r.arr((2, 3))], {"dim": 0, "start": 1, "end": 5, "step": 2}),
        lambda r: ([r.arr((2, 5)), r.arr((2, 3))], {"dim": 1, "start": 2}),
        lambda r: ([r.arr((4, 2)), r.arr((2, 2))], {"end": -2}),
    ),
    examples=3,
)


def _diag_scatter_gen(r):
    shape = r.pick([(3, 4), (2, 3, 3)])
    off = r.pick([-1, 0, 1])
    d1, d2 = r.pick([(0, 1), (-1, -2)] if len(shape) == 2 else [(1, 2), (0, 2)])
    n1, n2 = shape[d1], shape[d2]
    length = max(0, min(n1 - max(-off, 0), n2 - max(off, 0)))
    rest = tuple(s for k, s in enumerate(shape) if k not in (d1 % len(shape), d2 % len(shape)))
    return [r.arr(shape), r.arr(rest + (length,))], {"offset": off, "dim1": d1, "dim2": d2}


add("diagonal_scatter", _diag_scatter_gen, examples=4)
add(
    "index_reduce",
    lambda r: (lambda a: (a[0] + [r.pick(["prod", "mean", "amax", "amin"])], {"include_self": r.bool()}))(_iadd_gen(r)),
    examples=8,
)


def _put_gen(r):
    x = r.arr((3, 4))
    acc = r.bool()
    n = r.int(1, 6)
    idx = r.rng.integers(-12, 12, n) if acc else r.rng.permutation(12)[:n] - r.pick([0, 12])
    return [x, idx.astype(np.int32), r.arr((n,))], {"accumulate": acc}


add("put", _put_gen, examples=4)
add(
    "fill_diagonal",
    fixed(
        lambda r: ([r.arr(r.pick([(3, 3), (2, 4), (3, 3, 3)])), r.pick([2.5, -1.0])], {}),
        lambda r: ([r.arr(r.pick([(7, 2), (5, 3)])), 0.5], {"wrap": r.bool()}),
    ),
    call=lambda x, v, **k: x.clone().fill_diagonal_(v, **k),
    jax_call=lambda x, v, **k: __import__("eagerjax._ops._indexing2", fromlist=["_"])._fill_diagonal(x, v, **k),
    examples=3,
)
add(
    "sum_to_size",
    fixed(
        lambda r: ([r.arr((2, 3, 4)), r.pick([(3, 4), (1, 4), (3, 1), (2, 1, 1), (1,)])], {}),
        lambda r: ([r.arr((2, 3)), 1, 3], {}),
    ),
    examples=3,
)


# --------------------------------------------------------------------------- triangular / Cholesky solves, *_ex (_ops/_linalg5.py)
def _tri_a(r, shape, upper):
    a = _sq(r, shape)
    return np.triu(a) if upper else np.tril(a)


def _chol(r, shape=(3, 3)):
    return np.linalg.cholesky(_sq(r, shape, True).astype(np.float64)).astype(np.float32)


add(
    "linalg_solve_triangular",
    fixed(
        lambda r: (lambda up: ([_tri_a(r, (3, 3), up), r.arr((3, 2))], {"upper": up}))(r.bool()),
        lambda r: (
            lambda up: ([_tri_a(r, (2, 3, 3), up), r.arr((4, 3))], {"upper": up, "left": False, "unitriangular": True})
        )(r.bool()),
        lambda r: ([_tri_a(r, (3, 3), True), r.arr((2, 3, 1))], {"upper": True, "unitriangular": r.bool()}),
    ),
    examples=4,
    tol=_LTOL,
)
add(
    "triangular_solve",
    fixed(
        lambda r: (lambda up: ([r.arr((3, 2)), _tri_a(r, (3, 3), up)], {"upper": up, "transpose": r.bool()}))(r.bool()),
        lambda r: ([r.arr((2, 3, 1)), _tri_a(r, (3, 3), False)], {"upper": False, "unitriangular": True}),
    ),
    examples=3,
    tol=_LTOL,
)
add(
    "cholesky_solve",
    fixed(
        lambda r: ([r.arr((3, 2)), _chol(r)], {}),
        lambda r: ([r.arr((2, 3, 2)), _chol(r).T.copy()], {"upper": True}),
    ),
    examples=2,
    tol=_LTOL,
)
add(
    "cholesky_inverse",
    fixed(lambda r: ([_chol(r)], {}), lambda r: ([_chol(r, (4, 4)).T.copy()], {"upper": True})),
    examples=2,
    tol=_LTOL,
)
add(
    "lu_solve",
    fixed(lambda r: ([r.arr((3, 2)), _sq(r, (3, 3))], {}), lambda r: ([r.arr((2, 3, 1)), _sq(r, (2, 3, 3))], {})),
    call=lambda b, a: _fw(a).lu_solve(b, *_fw(a).linalg.lu_factor(a)),
    jax_ref=False,
    examples=2,
    tol=_LTOL,
)
add(
    "chain_matmul",
    fixed(
        lambda r: ([r.arr((2, 3)), r.arr((3, 4)), r.arr((4, 2))], {}),
        lambda r: ([r.arr((2, 3)), r.arr((3, 1))], {}),
        lambda r: ([r.arr((2, 3))], {}),
    ),
    examples=3,
    tol=1e-4,
)
add("linalg_diagonal", fixed(lambda r: ([r.arr((2, 3, 4))], r.pick([{}, {"offset": 1}, {"dim1": 0, "dim2": 2}]))))
add("linalg_matmul", binary(scalars=False, pairs=[((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 1))]), examples=3)
add("linalg_cholesky_ex", fixed(_SPD, lambda r: ([_sq(r, (3, 3), True)], {"upper": True})), examples=2, tol=_LTOL)
add("linalg_inv_ex", fixed(_SQ), examples=2, tol=_LTOL)
add(
    "linalg_solve_ex",
    fixed(lambda r: ([_sq(r), r.arr((3,))], {}), lambda r: ([_sq(r, (2, 3, 3)), r.arr((2, 2, 3))], {"left": False})),
    examples=2,
    tol=_LTOL,
)
add("linalg_lu_factor_ex", fixed(lambda r: ([r.arr(r.pick(_LU_SHAPES))], {})), examples=3, tol=1e-4)


# --------------------------------------------------------------------------- LDL (_ops/_ldl.py; no derivative)
def _sym(r):
    a = r.arr(r.pick([(4, 4), (2, 4, 4)]))
    return (a + np.swapaxes(a, -1, -2)).astype(np.float32)  # symmetric, indefinite: 2x2 pivots occur


def _ldl_solve_args(r):
    from scipy.linalg import lapack

    a = _sym(r)
    flat = a.reshape(-1, 4, 4)
    ld = np.stack([np.tril(lapack.ssytrf(m, lower=1)[0]) for m in flat]).reshape(a.shape)
    piv = np.stack([lapack.ssytrf(m, lower=1)[1] for m in flat]).astype(np.int32).reshape(a.shape[:-1])
    # (torch 2.13 crashes when B has more batch dimensions than a batched LD: not compared)
    return [ld, piv, r.arr(r.pick([(4, 2), (3, 4, 2)] if a.ndim == 2 else [(4, 2), (2, 4, 2)]))], {}


for _n in ("linalg_ldl_factor", "linalg_ldl_factor_ex"):
    add(_n, fixed(lambda r: ([_sym(r)], r.pick([{}, {"hermitian": True}]))), grad=False, examples=3, tol=1e-4)
add("linalg_ldl_solve", fixed(_ldl_solve_args), grad=False, examples=3, tol=1e-4)


# --------------------------------------------------------------------------- Hermitian n-d FFTs (_ops/_fft2.py)
for _n in ("hfft2", "hfftn"):
    add(
        f"fft_{_n}",
        fixed(
            lambda r: ([r.arr((3, 4), "complex64")], {"norm": r.pick([None, "ortho", "forward"])}),
            lambda r: ([r.arr((2, 3, 4), "complex64")], {"s": (3, 6), "dim": (0, 2)}),
            lambda r: ([r.arr((3, 4))], {}),
        ),
        examples=3,
        tol=1e-4,
    )
for _n in ("ihfft2", "ihfftn"):
    add(
        f"fft_{_n}",
        fixed(
            lambda r: ([r.arr((3, 5))], {"norm": r.pick([None, "ortho", "forward"])}),
            lambda r: ([r.arr((2, 3, 5))], {"s": (2, 4), "dim": (0, 2)}),
        ),
        examples=2,
        tol=1e-4,
    )


# --------------------------------------------------------------------------- *_copy, nonzero_static, native_* (_ops/_parity.py)
def _x234(r):
    return r.arr((2, 3, 4), r.pick(["float32", "float32", "int32"]))


add(
    "view_copy",
    fixed(
        lambda r: ([_x234(r), r.pick([[6, 4], [-1], (4, 3, 2)])], {}),
        lambda r: ([r.arr((2, 4)), DT(r.pick(["int32", "float32"]))], {}),
    ),
    examples=3,
)
add("permute_copy", fixed(lambda r: ([_x234(r), r.pick([(2, 0, 1), [1, 0, 2], (-1, 0, 1)])], {})), examples=2)
add("transpose_copy", fixed(lambda r: ([_x234(r), r.pick([0, 1]), -1], {})), examples=2)
add("t_copy", fixed(lambda r: ([r.arr(r.pick([(2, 3), (4,), ()]))], {})), examples=2)
add("squeeze_copy", fixed(lambda r: ([r.arr((1, 2, 1))] + r.pick([[], [0], [-1], [(0, 2)]]), {})), examples=3)
add("unsqueeze_copy", fixed(lambda r: ([_x234(r), r.pick([0, -1, 2])], {})), examples=2)
add(
    "expand_copy",
    fixed(lambda r: ([r.arr((3, 1)), r.pick([[2, 3, 4], [-1, 5]])], r.pick([{}, {"implicit": True}]))),
    examples=2,
)
add("diagonal_copy", fixed(lambda r: ([_x234(r)] + r.pick([[], [1], [-1, 1, 2], [0, 2, 0]]), {})), examples=3)
add("select_copy", fixed(lambda r: ([_x234(r), r.pick([0, 1, -1]), r.pick([0, -1])], {})), examples=2)
add(
    "slice_copy",
    fixed(
        lambda r: ([_x234(r)] + r.pick([[], [1, 0, 3, 2], [2, -3, None, 1], [-1, -10, 10]]), {}),
        lambda r: ([_x234(r)], {"dim": 1, "start": 2, "end": 1}),
    ),
    examples=4,
)
add("split_copy", fixed(lambda r: ([_x234(r), r.pick([1, 2, 3]), r.pick([1, 2])], {})), examples=2)
add("split_with_sizes_copy", fixed(lambda r: ([_x234(r), r.pick([[1, 2], [3, 0]]), 1], {})), examples=2)
add("unbind_copy", fixed(lambda r: ([_x234(r)] + r.pick([[], [1], [-1]]), {})), examples=2)
add("unfold_copy", fixed(lambda r: ([_x234(r), r.pick([1, 2]), 2, r.pick([1, 2])], {})), examples=2)
for _n in ("alias_copy", "detach_copy"):
    add(_n, unary(), examples=2)
add("narrow_copy", fixed(lambda r: ([r.arr((5, 3)), r.pick([0, -2]), 1, 2], {})), examples=2)
add("view_as_real_copy", fixed(lambda r: ([r.arr(r.pick([(3,), (2, 2)]), "complex64")], {})), examples=2)
add("view_as_complex_copy", fixed(lambda r: ([r.arr(r.pick([(3, 2), (2, 2, 2)]))], {})), examples=2)
add(
    "nonzero_static",
    fixed(
        lambda r: (
            [r.arr(r.pick([(3, 4), (5,), (0, 2)]), r.pick(["int32", "bool"]), "small")],
            {"size": r.pick([0, 3, 20])},
        ),
        lambda r: ([r.arr((2, 3), "int32", "small")], {"size": 4, "fill_value": 7}),
        lambda r: ([r.arr((), "int32", "small")], {"size": 2}),
    ),
    examples=4,
)
add("empty_strided", fixed(lambda r: ([(2, 3), (1, 2)], _DTK(r)), lambda r: ([[4], [1]], {})), examples=2, values=False)
add("empty_permuted", fixed(lambda r: ([(2, 3, 4), r.pick([(0, 2, 1), [2, 1, 0]])], _DTK(r))), examples=2, values=False)


def _affine(r, shape):
    return [r.arr(shape) if r.bool() else None, r.arr(shape) if r.bool() else None]


add(
    "native_layer_norm",
    fixed(
        lambda r: ([r.arr((2, 3, 4)), [4], *_affine(r, (4,)), 1e-5], {}),
        lambda r: ([r.arr((2, 3, 4)), (3, 4), *_affine(r, (3, 4)), 1e-3], {}),
    ),
    examples=3,
    tol=1e-4,
)
_OUT_ONLY = dict(post=lambda o: o[:1], examples=1, tol=1e-4)  # gradients: torch's stats do not require grad
add("native_layer_norm", fixed(lambda r: ([r.arr((2, 3, 4)), [3, 4], *_affine(r, (3, 4)), 1e-5], {})), **_OUT_ONLY)
add(
    "native_batch_norm",
    fixed(lambda r: ([r.arr((4, 3, 2)), *_affine(r, (3,)), None, None, True, 0.1, 1e-5], {})),
    **_OUT_ONLY,
)
add(
    "native_group_norm",
    fixed(
        lambda r: ([r.arr((2, 4, 5)), *_affine(r, (4,)), 2, 4, 5, r.pick([1, 2, 4]), 1e-5], {}),
        lambda r: ([r.arr((3, 6)), *_affine(r, (6,)), 3, 6, 1, 3, 1e-5], {}),
    ),
    examples=3,
    tol=1e-4,
)
add(
    "native_batch_norm",
    fixed(
        lambda r: ([r.arr((4, 3, 2)), *_affine(r, (3,)), None, None, True, 0.1, 1e-5], {}),
    ),
    examples=2,
    tol=1e-4,
)
# with running stats (which torch refuses to take with requires_grad): values only; training
# updates them in place (compared in tests/test_parity_ops.py)
add(
    "native_batch_norm",
    fixed(
        lambda r: ([r.arr((4, 3)), *_affine(r, (3,)), r.arr((3,)), r.arr((3,), dom="pos"), False, 0.1, 1e-5], {}),
        lambda r: ([r.arr((4, 3, 2)), None, None, r.arr((3,)), r.arr((3,), dom="pos"), True, 0.2, 1e-5], {}),
    ),
    examples=2,
    grad=False,
    tol=1e-4,
)


# --------------------------------------------------------------------------- histogramdd, segment_reduce (_ops/_parity2.py)
def _hdd_post(o):
    return (o[0], *o[1])


add(
    "histogramdd",
    fixed(
        lambda r: ([r.arr((12, 2)), r.pick([3, [2, 4]])], {"density": r.bool()}),
        lambda r: ([r.arr((3, 4, 3))], {"bins": 2, "range": [-1.0, 1.0, -2.0, 2.0, 0.0, 1.0], "weight": r.arr((3, 4))}),
        lambda r: (
            [r.arr((10, 2)), [np.array([-1.0, 0.0, 2.0], np.float32), np.array([-3.0, 0.5, 1.0, 3.0], np.float32)]],
            {},
        ),
    ),
    examples=3,
    post=_hdd_post,
    jax_ref=False,
    tol=1e-5,
)
_SEG_LENS = np.array([2, 0, 3, 1], np.int64)
add(
    "segment_reduce",
    fixed(
        lambda r: (
            [r.arr(r.pick([(6,), (6, 2)])), r.pick(["sum", "mean", "max", "min", "prod"])],
            {"lengths": _SEG_LENS},
        ),
        lambda r: (
            [r.arr((6,)), r.pick(["sum", "mean", "max", "min", "prod"])],
            {"lengths": _SEG_LENS, "initial": r.pick([0.5, -2.0])},
        ),
        lambda r: (
            [r.arr((2, 6)), r.pick(["sum", "amax"])],
            {"lengths": np.array([[2, 4], [3, 3]], np.int64), "axis": 1},
        ),
        lambda r: ([r.arr((6,)), "mean"], {"offsets": np.array([0, 2, 2, 5, 6], np.int64)}),
    ),
    examples=4,
    tol=1e-5,
)
