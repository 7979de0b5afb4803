"""The parity additions (eagerjax/_ops/_parity.py and their non-row companions): what
tests/op_cases.py cannot express — torch's errors, the in-place and method forms
(``resize_``, ``polygamma_``, ``float_power_``, the in-place shifts), the running-stat update
of ``native_batch_norm``, ``native_dropout``'s random mask, ``torch.sym_*`` on plain numbers,
and a step through the new rows under ``ej.compile`` and ``ej.lazy()``."""

import math

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
from eagerjax.testing import assert_compile_equivalent  # noqa: E402

RNG = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("fresh_lazy")


def _msg(e: Exception) -> str:
    return str(e).splitlines()[0].split(" (operands:")[0]


def _same_error(f_ej, f_torch, exc=RuntimeError):
    """Both raise ``exc`` with torch's message (ours may name the in-place op first: ``name_: ...``)."""
    with pytest.raises(exc) as want:
        f_torch()
    with pytest.raises(exc) as got:
        f_ej()
    assert _msg(got.value).endswith(_msg(want.value))


# --------------------------------------------------------------------------- torch.sym_*
@pytest.mark.parametrize(
    "name, args",
    [
        ("sym_max", (2, 3)),
        ("sym_max", (2, 3.5)),
        ("sym_max", (2.0, 1)),
        ("sym_max", (True, False)),
        ("sym_min", (2.0, 3)),
        ("sym_min", (-4, 3)),
        ("sym_int", (3.7,)),
        ("sym_int", (-3.7,)),
        ("sym_int", ("3",)),
        ("sym_float", (3,)),
        ("sym_not", (True,)),
        ("sym_not", (0,)),
        ("sym_sqrt", (4,)),
        ("sym_sqrt", (2.0,)),
        ("sym_sum", ([1, 2, 3],)),
        ("sym_sum", (1, 2.5)),
        ("sym_sum", ([],)),
        ("sym_ite", (True, 1, 2)),
        ("sym_ite", (False, 1.0, 2.0)),
    ],
)
def test_sym_functions_match_torch(name, args):
    got, want = getattr(ej, name)(*args), getattr(torch, name)(*args)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(
    "name, args, exc",
    [
        ("sym_ite", (1, 1, 2), AssertionError),
        ("sym_ite", (True, 1, 2.0), AssertionError),
        ("sym_max", ("a", 1), AssertionError),
        ("sym_int", (math.inf,), OverflowError),
        ("sym_sqrt", (-1,), ValueError),
    ],
)
def test_sym_function_errors(name, args, exc):
    with pytest.raises(exc) as want:
        getattr(torch, name)(*args)
    with pytest.raises(exc) as got:
        getattr(ej, name)(*args)
    assert str(got.value) == str(want.value)


# --------------------------------------------------------------------------- empty_strided & co
def test_empty_strided_permuted_shapes_dtypes_and_errors():
    a = ej.empty_strided((2, 3), (1, 2), dtype=ej.int32)
    assert tuple(a.shape) == (2, 3) and a.dtype == ej.int32 and not a.any()
    assert ej.empty_strided([4], [1], requires_grad=True).requires_grad
    p = ej.empty_permuted((2, 3, 4), (0, 2, 1))
    assert tuple(p.shape) == (2, 3, 4) and p.dtype == ej.float32
    x = ej.ones(2, dtype=ej.float16)
    n = x.new_empty_strided((3, 2), (2, 1))
    assert tuple(n.shape) == (3, 2) and n.dtype == ej.float16
    assert x.new_empty_strided((3,), (1,), dtype=ej.int32).dtype == ej.int32
    for args in [((2, 3), (1,)), ((2, -3), (1, 2))]:
        _same_error(lambda: ej.empty_strided(*args), lambda: torch.empty_strided(*args))
    for layout in [(0, 1), (0, 1, 1), (0, 1, 3)]:
        _same_error(lambda: ej.empty_permuted((2, 3, 4), layout), lambda: torch.empty_permuted((2, 3, 4), layout))


# --------------------------------------------------------------------------- resize_
@pytest.mark.parametrize("shape", [(2, 2), (6,), (3, 2), (2, 4), (0,), ((2, 5),)])
def test_resize_keeps_flattened_order(shape):
    src = np.arange(6, dtype=np.float32)
    t, e = torch.tensor(src), ej.tensor(src)
    v0 = e._version
    t.resize_(*shape)
    out = e.resize_(*shape)
    assert out is e and tuple(e.shape) == tuple(t.shape)
    n = min(6, e.numel())
    np.testing.assert_array_equal(np.asarray(e).reshape(-1)[:n], t.numpy().reshape(-1)[:n])
    assert not np.asarray(e).reshape(-1)[n:].any()  # torch: uninitialized; here zeros
    assert (e._version > v0) == (tuple(e.shape) != (6,))


def test_resize_as_and_grad_refusal():
    e = ej.arange(6)
    e.resize_as_(ej.zeros(2, 2))
    np.testing.assert_array_equal(np.asarray(e), [[0, 1], [2, 3]])
    for f in (
        lambda m: m.ones(3, requires_grad=True).resize_(2),
        lambda m: (m.ones(3, requires_grad=True) * 2).resize_(3),
    ):
        _same_error(lambda: f(ej), lambda: f(torch))
    _same_error(
        lambda: ej.ones(3, requires_grad=True).resize_as_(ej.zeros(2)),
        lambda: torch.ones(3, requires_grad=True).resize_as_(torch.zeros(2)),
    )


# --------------------------------------------------------------------------- methods of existing rows
def test_polygamma_method_and_inplace():
    x = RNG.uniform(0.3, 3, (5,)).astype(np.float32)
    for n in (0, 1, 3):
        np.testing.assert_allclose(
            np.asarray(ej.tensor(x).polygamma(n)), torch.from_numpy(x).polygamma(n).numpy(), rtol=1e-4
        )
        e, t = ej.tensor(x), torch.from_numpy(x.copy())
        assert e.polygamma_(n) is e
        t.polygamma_(n)
        np.testing.assert_allclose(np.asarray(e), t.numpy(), rtol=1e-4)
    _same_error(lambda: ej.tensor([1, 2]).polygamma_(1), lambda: torch.tensor([1, 2], dtype=torch.int32).polygamma_(1))
    w = ej.tensor(x, requires_grad=True)
    w.polygamma(1).sum().backward()
    tw = torch.from_numpy(x).requires_grad_()
    tw.polygamma(1).sum().backward()
    np.testing.assert_allclose(np.asarray(w.grad), tw.grad.numpy(), rtol=1e-4)


def test_float_power_inplace():
    # eagerjax's double is float32 unless jax_enable_x64: float32 is the dtype float_power_ writes
    x = np.array([1.5, 2.0, 3.0], np.float32)
    e = ej.tensor(x)
    e.float_power_(2)
    t = torch.from_numpy(x.astype(np.float64))
    t.float_power_(2)
    np.testing.assert_allclose(np.asarray(e), t.numpy(), rtol=1e-6)
    e = ej.tensor(x)
    e.float_power_(ej.tensor([1.0, 0.5, 2.0]))
    np.testing.assert_allclose(np.asarray(e), x ** np.array([1.0, 0.5, 2.0]), rtol=1e-6)
    for dt in ("int32", "float16"):
        with pytest.raises(
            RuntimeError, match="the base given to float_power_ has dtype (Int|Half) but the operation's"
        ):
            ej.tensor(x, dtype=getattr(ej, dt)).float_power_(2)
    _same_error(
        lambda: ej.tensor([1, 2]).float_power_(2), lambda: torch.tensor([1, 2], dtype=torch.int32).float_power_(2)
    )


@pytest.mark.parametrize("name", ["bitwise_left_shift", "bitwise_right_shift"])
def test_shift_inplace(name):
    a = np.array([1, 8, -16, 5], np.int32)
    for other in (2, np.array([0, 1, 2, 3], np.int32)):
        e, t = ej.tensor(a), torch.from_numpy(a.copy())
        eo = ej.tensor(other) if isinstance(other, np.ndarray) else other
        to = torch.from_numpy(other) if isinstance(other, np.ndarray) else other
        assert getattr(e, name + "_")(eo) is e
        getattr(t, name + "_")(to)
        np.testing.assert_array_equal(np.asarray(e), t.numpy())
    with pytest.raises(RuntimeError):  # (torch names the cast; ours the float shift kernel)
        getattr(ej.tensor(a), name + "_")(1.5)


# --------------------------------------------------------------------------- *_copy & nonzero_static
def test_copy_function_specifics():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    e, t = ej.tensor(x), torch.from_numpy(x)
    np.testing.assert_array_equal(np.asarray(e.narrow_copy(1, 1, 2)), t.narrow_copy(1, 1, 2).numpy())
    assert not ej.detach_copy(ej.tensor(x, requires_grad=True)).requires_grad
    assert ej.alias_copy(ej.tensor(x, requires_grad=True)).requires_grad
    _same_error(lambda: ej.split_copy(e, [1, 2], 1), lambda: torch.split_copy(t, [1, 2], 1), TypeError)
    _same_error(lambda: ej.split_with_sizes_copy(e, [1, 1], 1), lambda: torch.split_with_sizes_copy(t, [1, 1], 1))
    _same_error(lambda: ej.slice_copy(e, 1, 0, 3, 0), lambda: torch.slice_copy(t, 1, 0, 3, 0))
    _same_error(lambda: ej.slice_copy(ej.tensor(1.0)), lambda: torch.slice_copy(torch.tensor(1.0)), IndexError)
    _same_error(lambda: ej.view_copy(e, [5, 5]), lambda: torch.view_copy(t, [5, 5]))


def test_nonzero_static_method_and_errors():
    a = np.array([[0, 1], [2, 0]], np.float32)
    got = ej.tensor(a).nonzero_static(size=3, fill_value=-5)
    np.testing.assert_array_equal(np.asarray(got), torch.from_numpy(a).nonzero_static(size=3, fill_value=-5).numpy())
    _same_error(
        lambda: ej.nonzero_static(ej.tensor(a), size=-1), lambda: torch.nonzero_static(torch.from_numpy(a), size=-1)
    )
    _same_error(
        lambda: ej.nonzero_static(ej.tensor(a), size=2.0),
        lambda: torch.nonzero_static(torch.from_numpy(a), size=2.0),
        TypeError,
    )


# --------------------------------------------------------------------------- native_* norms and dropout
def test_native_batch_norm_updates_running_stats():
    x = RNG.standard_normal((5, 3, 4)).astype(np.float32)
    rm, rv = RNG.standard_normal(3).astype(np.float32), RNG.uniform(0.5, 2, 3).astype(np.float32)
    erm, erv = ej.tensor(rm), ej.tensor(rv)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    got = ej.native_batch_norm(ej.tensor(x, requires_grad=True), None, None, erm, erv, True, 0.3, 1e-5)
    assert [t.requires_grad for t in got] == [True, False, False]
    want = torch.native_batch_norm(torch.from_numpy(x), None, None, trm, trv, True, 0.3, 1e-5)
    for g, w in zip([*got, erm, erv], [*want, trm, trv]):
        np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=1e-4, atol=1e-5)
    # eval: running stats untouched, empty saved stats
    v = erm._version
    _, sm, si = ej.native_batch_norm(ej.tensor(x), None, None, erm, erv, False, 0.3, 1e-5)
    assert tuple(sm.shape) == (0,) and tuple(si.shape) == (0,) and erm._version == v
    _same_error(
        lambda: ej.native_batch_norm(
            ej.tensor(x), None, None, ej.zeros(3, requires_grad=True), ej.ones(3), True, 0.1, 1e-5
        ),
        lambda: torch.native_batch_norm(
            torch.from_numpy(x), None, None, torch.zeros(3, requires_grad=True), torch.ones(3), True, 0.1, 1e-5
        ),
    )


def test_native_layer_norm_errors():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    got = ej.native_layer_norm(ej.tensor(x, requires_grad=True), [4], None, None, 1e-5)
    assert [t.requires_grad for t in got] == [True, False, False]
    _same_error(
        lambda: ej.native_layer_norm(ej.tensor(x), [5], None, None, 1e-5),
        lambda: torch.native_layer_norm(torch.from_numpy(x), [5], None, None, 1e-5),
    )
    for args in [(2, 3, 5, 3), (2, 3, 4, 2)]:
        _same_error(
            lambda: ej.native_group_norm(ej.tensor(x), None, None, *args, 1e-5),
            lambda: torch.native_group_norm(torch.from_numpy(x), None, None, *args, 1e-5),
        )


def test_native_dropout():
    x = RNG.standard_normal((40, 50)).astype(np.float32)
    e = ej.tensor(x, requires_grad=True)
    out, mask = ej.native_dropout(e, 0.25, True)
    m = np.asarray(mask)
    assert mask.dtype == ej.bool and 0.65 < m.mean() < 0.85
    np.testing.assert_allclose(np.asarray(out.detach()), x * m / 0.75, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(np.asarray(e.grad), m / 0.75, rtol=1e-6)
    ej.manual_seed(3)
    a = np.asarray(ej.native_dropout(ej.tensor(x), 0.5, None)[1])
    ej.manual_seed(3)
    np.testing.assert_array_equal(a, np.asarray(ej.native_dropout(ej.tensor(x), 0.5, True)[1]))
    out, mask = ej.native_dropout(ej.tensor(x), 0.5, False)
    np.testing.assert_array_equal(np.asarray(out), x)
    assert np.asarray(mask).all()
    out, mask = ej.native_dropout(ej.tensor(x), 1.0, True)
    assert not np.asarray(out).any() and not np.asarray(mask).any()
    _same_error(
        lambda: ej.native_dropout(ej.tensor(x), 1.5, True), lambda: torch.native_dropout(torch.from_numpy(x), 1.5, True)
    )
    _same_error(
        lambda: ej.native_dropout(ej.ones(3, dtype=ej.int64), 0.5, True),
        lambda: torch.native_dropout(torch.ones(3, dtype=torch.int32), 0.5, True),
    )


def test_rrelu_toplevel():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(ej.rrelu(ej.tensor(x), 0.1, 0.3)), torch.rrelu(torch.from_numpy(x), 0.1, 0.3).numpy()
    )
    e = ej.tensor(x)
    assert ej.rrelu_(e) is e
    np.testing.assert_allclose(np.asarray(e), torch.rrelu_(torch.from_numpy(x.copy())).numpy(), rtol=1e-6)
    y = np.asarray(ej.rrelu(ej.tensor(x), 0.1, 0.3, True))
    neg = x < 0
    assert np.all(y[~neg] == x[~neg]) and np.all((y[neg] / x[neg] >= 0.1 - 1e-6) & (y[neg] / x[neg] <= 0.3 + 1e-6))


# --------------------------------------------------------------------------- every mode
def test_new_rows_in_eager_compiled_and_lazy_runs():
    """nonzero_static, *_copy rows, native_layer_norm (gradients into a parameter),
    native_batch_norm's running stats and resize_: ej.compile / ej.lazy() give eager's results."""
    w = ej.nn.Parameter(ej.tensor(RNG.standard_normal((4,)).astype(np.float32)))
    x = ej.tensor(RNG.standard_normal((2, 3, 4)).astype(np.float32))
    rm, rv = ej.zeros(3), ej.ones(3)
    mask = ej.tensor(np.array([[0, 1, 1], [0, 0, 1]], np.int32))

    def step():
        out, mean, rstd = ej.native_layer_norm(x, [4], w, None, 1e-5)
        y = ej.transpose_copy(ej.slice_copy(out, 2, 1, None, 2), 0, 1)
        b, _, _ = ej.native_batch_norm(x, None, None, rm, rv, True, 0.1, 1e-5)
        loss = y.sum() * 2 + (out * rstd).sum() + ej.narrow_copy(b, 1, 0, 2).pow(2).sum()
        loss.backward()
        idx = ej.nonzero_static(mask, size=5)
        r = ej.view_copy(mean, [-1]).clone()
        r.resize_(2, 4)
        return loss, idx, r, ej.unbind_copy(idx, 1)[0]

    assert_compile_equivalent(step, steps=2, rtol=1e-4, atol=1e-4)


def test_public_names_listed_once():
    """``ej.__all__`` names each public function once (a _toplevel wrapper over its op row too)."""
    assert len(ej.__all__) == len(set(ej.__all__))
    assert ej.native_batch_norm.__module__ == "eagerjax._toplevel"
