"""Op-program fuzzing: random chains of op-table rows, eager vs compiled vs lazy vs a pure
jax.numpy reference built from the same rows vs PyTorch (values, dtypes, gradients).

Profiles: see tests/conftest.py (``EAGERJAX_FUZZ=thorough`` runs up to 10,000 programs).
Known eagerjax bugs, while open, are steered around in generation (a ``reject`` hook passed to
``programs``) and kept as explicit xfail regressions; every bug found so far is fixed and kept
as an ``@example`` regression.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import example_start, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

import eagerjax as ej
from eagerjax._fuzz_programs import Dtype, Input, Program, Ref, Step
from eagerjax.testing import assert_program_equivalent, broadcastable_shapes, programs, tensors


def _prog(inputs, steps, outputs, notes=()) -> Program:
    ins = [Input(n, np.asarray(a), g) for n, a, g in inputs]
    return Program(ins, steps, outputs, {}, notes)


def _small_gen(data, dtypes, inplace: bool):
    """A generator over at most 2-wide method-form programs (for the generator's own tests)."""
    from hypothesis.extra import numpy as hnp

    from eagerjax._fuzz_gen import Gen

    return Gen(data.draw, st, hnp, dtypes=dtypes, allow_inplace=inplace, forms=("method",), max_side=2, zero_dims=False)


def _w(prog: Program) -> Program:
    """Weights of one for every float output (the gradient loss is the plain sum)."""
    outs, _ = prog.reference(grads=False)
    prog.weights = {
        n: np.ones(np.shape(o), np.float32) for n, o in zip(prog.outputs, outs) if np.dtype(o.dtype).kind == "f"
    }
    return prog


_A = np.array([[2.75, 1.0], [1.75, -0.25]], np.float32)

# Regressions for problems the fuzzer found in its own harness (kept so they stay fixed).
SPLIT_OF_ONE = _w(
    _prog(
        [("x0", np.array([[1.0, 2.0]], np.float32), True)],
        [
            Step("split", "fn", (Ref("x0"), 2), {"dim": 1}, ("v0",), multi=True),
            Step("exp", "method", (Ref("v0"),), {}, ("v1",)),
        ],
        ["v1"],
    )
)
CAST_METHOD = _w(
    _prog(
        [("x0", _A, True)],
        [
            Step("_cast", "method", (Ref("x0"), Dtype("float16")), {}, ("v0",)),
            Step("mul", "op", (Ref("v0"), 2.0), {}, ("v1",)),
        ],
        ["v1"],
    )
)
NONDIFF_IN_GRAPH = _w(
    _prog(
        [("x0", np.array(1.75, np.float32), True)],
        [
            Step("nextafter", "method", (Ref("x0"), Ref("x0")), {}, ("v0",)),
            Step("isinf", "fn", (Ref("v0"),), {}, ("v1",)),
            Step("exp", "fn", (Ref("x0"),), {}, ("v2",)),
        ],
        ["v1", "v2"],
    )
)
SCALAR_FIRST = _w(
    _prog(
        [("x0", _A, True)],
        [Step("sub", "op", (2.0, Ref("x0")), {}, ("v0",)), Step("pow", "op", (2.0, Ref("v0")), {}, ("v1",))],
        ["v1"],
    )
)
# found by the thorough run: leaky_relu at exactly 0 (torch's gradient there is the slope)
KINK_PROGRAM = _w(
    _prog(
        [("x0", np.zeros(3, np.float32), True), ("x1", np.zeros(1, np.float16), False)],
        [
            Step("exp", "inplace", (Ref("x1"),), {}, ("x1",)),
            Step("reciprocal", "fn", (Ref("x1"),), {}, ("v0",)),
            Step("leaky_relu", "fn", (Ref("x0"),), {}, ("v1",)),
        ],
        ["v0", "v1"],
        notes=("torch-kink",),  # what the generator notes for it: torch's gradients are not compared
    )
)
# torch bug found by the fuzzer: kron saves a view of ``v0`` and misses the in-place sinh_, so
# torch's gradient of x1 uses sinh(v0) (-2.45 instead of -1.0); eagerjax is right
KRON_INPLACE = _w(
    _prog(
        [("x0", np.array([0.5, -1.0], np.float32), True), ("x1", np.array([2.0], np.float32), True)],
        [
            Step("mul", "fn", (Ref("x0"), 2.0), {}, ("v0",)),
            Step("kron", "method", (Ref("v0"), Ref("x1")), {}, ("v1",)),
            Step("sinh", "inplace", (Ref("v0"),), {}, ("v0",)),
        ],
        ["v1", "v0"],
        notes=("torch-inplace",),
    )
)
# the same torch bug with an in-place write to an input that does not require grad (thorough run)
KRON_INPLACE_INPUT = _w(
    _prog(
        [("x0", np.array(0.5, np.float32), True), ("x1", np.array(0.0, np.float32), False)],
        [
            Step("exp", "fn", (Ref("x0"),), {}, ("v0",)),
            Step("kron", "fn", (Ref("v0"), Ref("x1")), {}, ("v1",)),
            Step("exp", "inplace", (Ref("x1"),), {}, ("x1",)),
        ],
        ["v1", "x1"],
        notes=("torch-inplace",),
    )
)
# torch marks a bool tensor updated by ``x1.eq_(x2)`` (x2 requires grad) as requiring grad
BOOL_INPLACE_EQ = _w(
    _prog(
        [("x0", np.array(False), False), ("x1", np.array(0.0, np.float32), True)],
        [Step("eq", "inplace", (Ref("x0"), Ref("x1")), {}, ("x0",))],
        ["x0"],
        notes=("torch-grad-quirk",),
    )
)
# fixed bug inplace-nondiff (eagerjax, _generate._inplace): the gradient of x through
# ``v = x * 2; v.ge_(1.0)`` must be zero (torch: GeBackward0); eagerjax backpropagated 2 * w.
INPLACE_NONDIFF = _w(
    _prog(
        [("x0", _A, True)],
        [Step("mul", "fn", (Ref("x0"), 2.0), {}, ("v0",)), Step("ge", "inplace", (Ref("v0"), 1.0), {}, ("v0",))],
        ["v0"],
    )
)

# thorough run: angle of a real input is 0 or pi with a zero gradient in torch; eagerjax's
# atan2(0, x) had a NaN gradient at 0 and gave pi for -0.0
ANGLE_AT_ZERO = _w(
    _prog(
        [("x0", np.array([0.0, -0.0, -1.5, 2.0], np.float32), True)],
        [Step("angle", "fn", (Ref("x0"),), {}, ("v0",))],
        ["v0"],
    )
)
# thorough run, a torch bug: LdexpBackward computes 2 ** other in integers (0 for other < 0);
# eagerjax's gradient (0.5 here) is right, so the generator notes it and skips torch's gradients
LDEXP_NEGATIVE = _w(
    _prog(
        [("x0", np.array([0.0, 1.5], np.float32), True), ("x2", np.array(-1, np.int32), False)],
        [Step("ldexp", "fn", (Ref("x0"), Ref("x2")), {}, ("v0",))],
        ["v0"],
        notes=("torch-kink",),
    )
)

# thorough run: torch's copysign gradient w.r.t. ``input`` is 0 where input == 0 (result / input,
# masked); eagerjax (jnp.copysign) gave +-1 there
COPYSIGN_AT_ZERO = _w(
    _prog(
        [("x2", np.array([[0.0, 1.5], [-0.0, -2.0]], np.float32), True), ("x3", np.array(-0.0, np.float32), True)],
        [
            Step("copysign", "fn", (Ref("x2"), Ref("x3")), {}, ("v3",)),
            Step("exp", "fn", (Ref("v3"),), {}, ("v5",)),
        ],
        ["v5"],
    )
)

# thorough run (seed 6102): torch.ldexp of a 0-d tensor by a shape-(1,) exponent broadcasts to
# (1,) and warns about resizing its own internal output; the warning (torch's, filtered by
# message in pyproject) turned into an error and hid the comparison
LDEXP_0D_BROADCAST = _w(
    _prog(
        [("x1", np.array(0.5, np.float32), True), ("x2", np.array([2], np.int32), False)],
        [
            Step("exp", "fn", (Ref("x1"),), {}, ("v0",)),
            Step("ldexp", "fn", (Ref("v0"), Ref("x2")), {}, ("v1",)),
        ],
        ["v1"],
    )
)

# thorough run (float32 chains): a full median() of tied values spreads its gradient evenly over
# the ties in torch (evenly_distribute_backward); eagerjax gave it all to one index
MEDIAN_TIES = _w(
    _prog(
        [("x0", np.array([0.0, 0.0, 0.0, 0.0], np.float32), True)],
        [
            Step("exp", "fn", (Ref("x0"),), {}, ("v0",)),
            Step("log", "fn", (Ref("v0"),), {}, ("v3",)),
            Step("median", "fn", (Ref("x0"),), {}, ("v4",)),
            Step("exp", "fn", (Ref("v4"),), {}, ("v5",)),
        ],
        ["v3", "v5"],
    )
)

# thorough run: a float32 gradient through float16 in-place ops differs by one float16 ulp between
# eager's fused backward and the op-by-op reference; gradients get float16's tolerance when a
# program touches float16 (the generator notes it), in every mode, not only against torch
FLOAT16_GRAD_ULP = _prog(
    [
        ("x2", np.array([[[1.0, 0.0], [0.0, 0.25], [-1.5, 0.0]]], np.float32), True),
        ("x3", np.array([[[-1.75, 2.0], [0.0, 0.25], [0.0, 0.0]]], np.float32), True),
    ],
    [
        Step("exp", "fn", (Ref("x2"),), {}, ("v0",)),
        Step("log", "inplace", (Ref("v0"),), {}, ("v0",)),
        Step("exp", "fn", (Ref("x2"),), {}, ("v1",)),
        Step("isclose", "fn", (Ref("x2"), Ref("x3")), {}, ("v2",)),
        Step("exp2", "fn", (Ref("v1"),), {}, ("v3",)),
        Step("exp", "fn", (Ref("v3"),), {}, ("v4",)),
        Step("_cast", "method", (Ref("x3"), Dtype("float16")), {}, ("v5",)),
        Step("exp", "inplace", (Ref("v5"),), {}, ("v5",)),
        Step("log10", "inplace", (Ref("v5"),), {}, ("v5",)),
    ],
    ["v0", "v2", "v4", "v5"],
    notes=("float16",),
)
FLOAT16_GRAD_ULP.weights = {
    "v0": np.array([[[0.5, -0.25], [1.0, 0.75], [-1.0, 0.25]]], np.float32),
    "v4": np.ones((1, 3, 2), np.float32) * 0.25,
    "v5": np.array([[[0.75, -0.5], [0.75, 1.0], [-0.25, -0.25]]], np.float32),
}

# thorough run (float32 chains): torch's float_power returns float64, then ``dot``/``scatter_add``
# with a float32 operand fail in torch; the torch run continues from float32, as eagerjax does
FLOAT_POWER_THEN_DOT = _w(
    _prog(
        [
            ("x0", np.array(0.5, np.float32), True),
            ("x1", np.array([1.5, 2.0], np.float32), True),
            ("x2", np.array([0.25, -1.0], np.float32), True),
        ],
        [
            Step("exp", "fn", (Ref("x0"),), {}, ("v0",)),
            Step("float_power", "fn", (Ref("v0"), Ref("x1")), {}, ("v1",)),
            Step("dot", "fn", (Ref("v1"), Ref("x2")), {}, ("v2",)),
        ],
        ["v2"],
    )
)

# thorough run: log2 of a float16 scalar rounds 1 float16 ulp apart in torch and XLA, and the
# float32 ``atan2`` computed from it carries the difference; the generator marks such outputs
# (``lowp:<name>``) and they get float16's tolerance
FLOAT16_VALUE_ULP = _w(
    _prog(
        [("x2", np.array(0.291015625, np.float16), False), ("x4", np.array([1.0], np.float32), True)],
        [
            Step("log2", "inplace", (Ref("x2"),), {}, ("x2",)),
            Step("atan2", "fn", (Ref("x2"), Ref("x4")), {}, ("v0",)),
            Step("exp", "inplace", (Ref("v0"),), {}, ("v0",)),
            Step("log", "inplace", (Ref("v0"),), {}, ("v0",)),
        ],
        ["v0"],
        notes=("float16", "lowp:v0"),
    )
)


def test_float16_lineage_is_marked():
    """The generator marks outputs computed from inexact float16 values, and only those."""
    from hypothesis import given, settings

    seen = {"marked": 0, "clean": 0}

    @settings(max_examples=60, deadline=None, database=None)
    @given(prog=programs(dtypes=("float32", "float16")))
    def run(prog):
        for n in prog.outputs:
            seen["marked" if f"lowp:{n}" in prog.notes else "clean"] += 1

    run()
    assert seen["marked"] > 0 and seen["clean"] > 0, seen


@fuzz_settings(ci=12, thorough=10_000)
@given(prog=programs())
@example(prog=SPLIT_OF_ONE)
@example(prog=CAST_METHOD)
@example(prog=NONDIFF_IN_GRAPH)
@example(prog=SCALAR_FIRST)
@example(prog=KINK_PROGRAM)
@example(prog=KRON_INPLACE)
@example(prog=BOOL_INPLACE_EQ)
@example(prog=KRON_INPLACE_INPUT)
@example(prog=INPLACE_NONDIFF)
@example(prog=ANGLE_AT_ZERO)
@example(prog=LDEXP_NEGATIVE)
@example(prog=COPYSIGN_AT_ZERO)
@example(prog=FLOAT16_GRAD_ULP)
@example(prog=FLOAT16_VALUE_ULP)
@example(prog=LDEXP_0D_BROADCAST)
def test_op_programs(prog):
    example_start("op programs")
    assert_program_equivalent(prog)


@fuzz_settings(ci=4, thorough=2_000)
@given(prog=programs(dtypes=("float32",), max_ops=12, min_ops=8, inplace=False, zero_dims=False))
@example(prog=MEDIAN_TIES)
@example(prog=FLOAT_POWER_THEN_DOT)
def test_long_float32_chains(prog):
    """Long float32-only chains: gradients through many ops, no dtype or in-place noise."""
    example_start("float32 chains")
    assert_program_equivalent(prog)


@pytest.mark.parametrize("op", ["ge_", "eq_", "lt_", "ne_"])
def test_inplace_nondifferentiable_stops_gradient(op):
    """Regression inplace-nondiff: an in-place comparison on a tensor that requires grad kept its
    old autograd node. torch's result keeps requires_grad with a zero gradient (GeBackward0)."""
    x = ej.tensor(_A, requires_grad=True)
    v = x * 2
    getattr(v, op)(1.0)
    assert v.requires_grad and v.grad_fn is not None and v.dtype == ej.float32
    (v * ej.tensor(_A)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(_A))
    # a target that does not require grad, compared with one that does: requires grad, zero gradient
    y = ej.tensor(_A, requires_grad=True)
    w = ej.ones(2, 2)
    getattr(w, op)(y)
    assert w.requires_grad
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros_like(_A))
    # under no_grad nothing is recorded: v keeps its node, as in torch
    v = x * 2
    node = v.grad_fn
    with ej.no_grad():
        getattr(v, op)(1.0)
    assert v.grad_fn is node


def test_nextafter_gradient_matches_torch():
    """torch differentiates nextafter: gradient 1 w.r.t. ``input`` where input != other (0 at a tie,
    0 w.r.t. ``other``); the row's value is still exactly jnp.nextafter's."""
    x = ej.tensor([1.5, -2.5, 2.0], requires_grad=True)
    o = ej.tensor([0.5, 2.0, 2.0], requires_grad=True)
    y = ej.nextafter(x, o)
    assert y.requires_grad
    np.testing.assert_array_equal(y.detach().numpy(), np.nextafter(x.detach().numpy(), o.detach().numpy()))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(o.grad.numpy(), [0.0, 0.0, 0.0])
    # the smallest subnormal and signed zeros survive (XLA's CPU arithmetic flushes subnormals)
    z = ej.nextafter(ej.tensor([0.0, 0.0, -1.4e-45]), ej.tensor([1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(z.numpy(), np.nextafter(np.float32([0, 0, -1.4e-45]), np.float32([1, -1, 1])))
    assert np.signbit(z.numpy()[2])


# --------------------------------------------------------------------------- the strategies themselves


@fuzz_settings(ci=20, thorough=200)
@given(data=st.data())
def test_generator_skips_bool_inplace_comparisons_with_grad(data):
    """Regression (thorough run): after ``x1.eq_(x3)`` on a bool ``x1`` with ``x3`` requiring grad, torch
    marks the bool tensor requires_grad and then fails on it (``x1.to(torch.float32)``: "Autograd not
    support dtype: Bool"; an internal assert in backward). Such in-place draws are rejected."""
    from eagerjax._fuzz_catalog import SPECS
    from eagerjax._fuzz_gen import draw_step

    G = _small_gen(data, ("bool", "float32"), inplace=True)
    G.fresh((2,), "bool", grad=False)
    G.fresh((2,), "float32", grad=True)
    specs = [s for s in SPECS if s.name in ("eq", "ne", "logical_and")]
    for _ in range(4):
        draw_step(G, specs, "x0")
    for s in G.steps:
        if s.form in ("inplace", "iop"):
            assert not any(isinstance(a, Ref) and G.vars[a.var].grad for a in s.args[1:]), s


@fuzz_settings(ci=20, thorough=200)
@given(data=st.data())
def test_generator_views_only_contiguous(data):
    """Regression (thorough run): ``v0.expand((2, 1, 1, 2)).view((-1,))`` raises in torch ("view size
    is not compatible with input tensor's size and stride"); eagerjax has no strides. The generator
    draws ``view`` only on variables known to be contiguous."""
    from eagerjax._fuzz_catalog import SPECS
    from eagerjax._fuzz_gen import draw_step

    G = _small_gen(data, ("float32",), inplace=False)
    G.fresh((1, 2), "float32")
    spec = {s.name: s for s in SPECS}
    if draw_step(G, [spec[data.draw(st.sampled_from(["expand", "transpose", "exp"]))]], "x0"):
        src = G.steps[-1].outs[0]
        viewed = draw_step(G, [spec["view"]], src)
        assert not viewed or G.steps[-2].name == "exp"


@fuzz_settings(ci=20, thorough=200)
@given(data=st.data())
def test_generator_treats_same_dtype_cast_as_alias(data):
    """Regression (thorough run): ``v2 = x1.to(torch.int32)`` on an int32 ``x1`` returns ``x1`` itself,
    so a later ``x1.clamp_max_(-1)`` changed v2 too (eager and torch agree; the functional reference
    cannot). The generator now puts such a cast in ``x1``'s alias group: no in-place write follows."""
    from eagerjax._fuzz_catalog import SPECS
    from eagerjax._fuzz_gen import draw_step

    G = _small_gen(data, ("int32", "float32"), inplace=True)
    G.fresh((2,), data.draw(st.sampled_from(["int32", "float32"])))
    cast = [s for s in SPECS if s.name == "_cast"]
    if draw_step(G, cast, "x0"):
        v = G.vars[G.steps[-1].outs[0]]
        assert (v.group == G.vars["x0"].group) == (v.dtype == G.vars["x0"].dtype)


@fuzz_settings(ci=20, thorough=500)
@given(shapes=broadcastable_shapes(3, min_side=0))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3
    out = np.broadcast_shapes(*shapes)
    ts = [ej.zeros(s) for s in shapes]
    assert tuple((ts[0] + ts[1] + ts[2]).shape) == out


@fuzz_settings(ci=20, thorough=500)
@given(t=tensors(dtype=ej.float16, requires_grad=True), u=tensors(shape=(2, 3), dtype=ej.int32, requires_grad=True))
def test_tensors_strategy(t, u):
    assert t.dtype == ej.float16 and t.requires_grad and t.is_leaf
    assert tuple(u.shape) == (2, 3) and u.dtype == ej.int32 and not u.requires_grad
    assert np.all(np.isfinite(t.detach().numpy()))


def test_program_prints_as_source():
    s = SCALAR_FIRST.source()
    assert "v0 = 2.0 - x0" in s and "v1 = 2.0 ** v0" in s and "x0 = np.array(" in s


# Gradients at kinks and ties, where jax's own conventions differ from torch's: the rows are
# written (jnp.where selections, stop_gradient) so that jax's autodiff gives torch's answer.
KINKS = [
    ("leaky_relu", {}, [0.0, -0.0, 1.0, -1.0]),
    ("leaky_relu", {"negative_slope": 0.25}, [0.0, 2.0, -2.0]),
    ("hardtanh", {}, [-1.0, 1.0, 0.0, -2.0, 2.0]),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, [-0.5, 2.0]),
    ("clamp", {"min": -1.0, "max": 2.0}, [-1.0, 2.0, 0.0, -3.0, 3.0]),
    ("clamp", {"min": 1.0, "max": 1.0}, [1.0, 0.0, 2.0]),
    ("clip", {"min": -1.0, "max": 2.0}, [-1.0, 2.0]),
    ("clamp_min", {"min": 0.5}, [0.5, 0.0, 1.0]),
    ("clamp_max", {"max": 0.5}, [0.5, 0.0, 1.0]),
    ("norm", {"p": 1}, [0.0, 1.0, -0.0, -2.0]),
    ("fmax", {}, [1.0, 0.0, -2.0]),
    ("fmin", {}, [1.0, 0.0, -2.0]),
]


@pytest.mark.parametrize("name,kw,pts", KINKS, ids=[f"{k[0]}-{i}" for i, k in enumerate(KINKS)])
def test_gradient_at_kinks_matches_torch(name, kw, pts):
    torch = pytest.importorskip("torch")
    a = np.array(pts, np.float32)
    grads, vals = [], []
    for lib in (ej, torch):
        x = lib.tensor(a, requires_grad=True)
        other = lib.tensor(a, requires_grad=True)
        fn = getattr(lib, name, None) or getattr(lib.nn.functional, name)
        out = fn(x, other, **kw) if name in ("fmax", "fmin") else fn(x, **kw)
        (out * lib.tensor(np.arange(1.0, out.numel() + 1, dtype=np.float32).reshape(out.shape))).sum().backward()
        grads.append((x.grad.numpy(), None if other.grad is None else other.grad.numpy()))
        vals.append(out.detach().numpy())
    np.testing.assert_array_equal(vals[0], vals[1])
    np.testing.assert_array_equal(grads[0][0], grads[1][0], err_msg=f"d{name}{kw}/dx at {pts}")
    if name in ("fmax", "fmin"):
        np.testing.assert_array_equal(grads[0][1], grads[1][1], err_msg=f"d{name}/dother at {pts}")


@pytest.mark.parametrize("name", ["clamp", "fmax", "fmin", "leaky_relu", "hardtanh", "nextafter"])
def test_rewritten_rows_keep_values_and_nans(name):
    """The kink rewrites keep torch's values on a grid of specials (NaN, infinities, signed zeros),
    and torch's gradients except at the documented nextafter points (infinite input, zero or
    subnormal result)."""
    torch = pytest.importorskip("torch")
    sp = np.array([-np.inf, -2.0, -1.0, -0.0, 0.0, 0.5, 1.0, np.inf, np.nan], np.float32)
    x, y = (a.ravel() for a in np.meshgrid(sp, sp))
    got = {}
    for lib in (ej, torch):
        tx, ty = lib.tensor(x, requires_grad=True), lib.tensor(y)
        if name == "clamp":
            out = lib.clamp(tx, -1.0, 0.5)
        elif name == "leaky_relu":
            out = lib.nn.functional.leaky_relu(tx, 0.25)
        elif name == "hardtanh":
            out = lib.nn.functional.hardtanh(tx, -1.0, 0.5)
        else:
            out = getattr(lib, name)(tx, ty)
        out.sum().backward()
        got[lib] = out.detach().numpy(), tx.grad.numpy()
    (ev, eg), (tv, tg) = got[ej], got[torch]
    np.testing.assert_array_equal(ev, tv)
    assert (np.signbit(ev) == np.signbit(tv)).all()
    if name == "nextafter":
        keep = np.isfinite(x) & (np.abs(tv) >= np.finfo(np.float32).tiny)
        eg, tg = eg[keep], tg[keep]
    if name == "hardtanh":  # at NaN torch's vectorized kernel gives 0, its scalar tail loop 1
        eg, tg = eg[~np.isnan(x)], tg[~np.isnan(x)]
    np.testing.assert_array_equal(eg, tg)


def test_norm_and_std_at_special_points_match_torch():
    """Found probing torch's special points next to the fuzz findings: ``norm`` of a tensor holding NaN
    was 0 (a zero-safe root that mapped NaN to 0; clip_grad_norm_ would hide NaN gradients), and
    ``std`` of a constant slice had a NaN gradient (torch: 0)."""
    torch = pytest.importorskip("torch")
    nan = float("nan")
    for p in (2, 3, 1):
        assert np.isnan(float(ej.norm(ej.tensor([nan, 1.0]), p)))
    assert np.isnan(float(ej.std(ej.tensor([nan, 1.0]))))
    a = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]], np.float32)
    got = []
    for lib in (ej, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.std(x, 1) + lib.norm(x - 1.0, dim=1)
        (y * lib.tensor([1.0, 2.0])).sum().backward()
        got.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-6)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(got[0][1]))


def test_median_propagates_nan_like_torch():
    """Found fixing MEDIAN_TIES: ``median`` (unlike ``nanmedian``) is NaN for a slice holding NaN, with
    the first NaN's index; eagerjax skipped NaNs (sorted last) and returned a number."""
    torch = pytest.importorskip("torch")
    a = [[float("nan"), 1.0, 2.0], [3.0, float("nan"), float("nan")], [1.0, 2.0, 3.0]]
    got = []
    for lib in (ej, torch):
        x = lib.tensor(a, requires_grad=True)
        v, i = lib.median(x, 1)
        full = lib.median(x)
        (v.sum() * 2 + full * 3).backward()
        got.append((v.detach().numpy(), i.numpy(), float(full), x.grad.numpy()))
    np.testing.assert_array_equal(got[0][0], got[1][0])
    np.testing.assert_array_equal(got[0][1], got[1][1])
    assert np.isnan(got[0][2]) and np.isnan(got[1][2])
    np.testing.assert_array_equal(got[0][3], got[1][3])


def test_generator_avoids_results_hanging_on_the_sign_of_zero():
    """Regression (thorough run, float32 chains): ``bmm(round(x1), x2)`` made 0 * -2.25 = -0.0 in torch
    (BLAS) but +0.0 in XLA (its accumulator starts at +0), and ``atan2`` of it with a negative x gave
    -pi vs pi. Steps whose result hangs on the sign of a zero are not drawn."""
    from eagerjax._fuzz_catalog import SPECS

    spec = {s.name: s for s in SPECS}
    z, neg, pos = np.array([0.0, 1.0]), np.array([-2.25, -1.0]), np.array([2.0, 1.0])
    assert not spec["atan2"].pre(z, neg) and not spec["arctan2"].pre(z, neg)
    assert spec["atan2"].pre(z, pos) and spec["atan2"].pre(neg, neg)
    assert not spec["copysign"].pre(pos, z) and spec["copysign"].pre(z, pos)
    assert not spec["signbit"].pre(z) and spec["signbit"].pre(neg)


def test_generator_keeps_tanh_out_of_xla_saturation():
    """Regression (thorough run, float32 chains): ``tanh(exp(exp(0.75)))``: XLA's tanh is exactly 1 at
    x = 8.31 (torch's 0.99999988), so d tanh is 0 vs torch's 2.4e-7, which two later exps amplified
    past the tolerance. A backend approximation, not a bug: tanh is drawn for |x| <= 7.5 only."""
    from eagerjax._fuzz_catalog import SPECS

    tanh = next(s for s in SPECS if s.name == "tanh")
    assert tanh.pre(np.array([7.5, -7.0])) and not tanh.pre(np.array([8.31]))
