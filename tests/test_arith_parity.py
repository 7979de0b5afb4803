"""Elementwise arithmetic against torch's CPU kernels, in eager, ``ej.compile`` and ``ej.lazy()``:
exact integer division at every magnitude, correctly rounded division by a broadcast divisor
(a Python number, a 0-d tensor, a keepdim reduction), integer powers with negative exponents,
torch's ``ZeroDivisionError`` for integer division by zero (eager only) and torch's errors for
bool subtraction / negation, negative Python-int powers of integer tensors and ``clamp()``."""

import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)
MODES = ("eager", "compiled", "lazy")

BIG = np.array([16777217, 100000007, -123456789, 2147483647, -2147483647, 7, -7, 0], np.int32)


def _run(mode, fn, *args):
    """``fn(ej, *args)`` in one mode, every result as a NumPy array."""
    if mode == "eager":
        out = fn(ej, *args)
    elif mode == "compiled":
        out = ej.compile(lambda *a: fn(ej, *a))(*args)
    else:
        with ej.lazy():
            out = fn(ej, *args)
    outs = out if isinstance(out, tuple) else (out,)
    return [np.asarray(o.numpy()) for o in outs]


def _torch(fn, *args):
    out = fn(torch, *[torch.tensor(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in args])
    outs = out if isinstance(out, tuple) else (out,)
    return [o.detach().numpy() for o in outs]


def _same(got, want):
    """Bit-for-bit equal values (signed zeros too, NaN equal to NaN) and equal dtypes (torch's
    int64 results are eagerjax's default integer, int32, as README says)."""
    if want.dtype == np.int64 and got.dtype == np.int32:
        want = want.astype(np.int32)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    g = got.astype(np.float64) if got.dtype.kind == "V" or got.dtype.name == "bfloat16" else got
    w = want.astype(np.float64) if want.dtype.kind == "V" or want.dtype.name == "bfloat16" else want
    if w.dtype.kind == "f":
        both_nan = np.isnan(g) & np.isnan(w)
        ok = both_nan | ((g == w) & (np.signbit(g) == np.signbit(w)))
        assert ok.all(), (g[~ok][:5], w[~ok][:5])
    else:
        np.testing.assert_array_equal(g, w)


def _check(fn, *args):
    want = _torch(fn, *args)
    for mode in MODES:
        got = _run(mode, fn, *[ej.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)


# ------------------------------------------------------------------ exact integer division
@pytest.mark.parametrize("d", [3, -3, 1, 7])
def test_integer_division_is_exact_at_large_magnitudes(d):
    _check(lambda m, a: m.div(a, d, rounding_mode="trunc"), BIG)
    _check(lambda m, a: m.div(a, d, rounding_mode="floor"), BIG)
    _check(lambda m, a: (a // d, a % d, m.fmod(a, d), m.remainder(a, d)), BIG)
    _check(lambda m, a: (a / d,), BIG)  # true division of ints: float32, as torch


def test_integer_division_by_tensor_and_int64():
    den = np.array([3, -3, 5, -5, 2, -2, 1, -1], np.int32)
    _check(lambda m, a, b: (m.div(a, b, rounding_mode="trunc"), a // b, a % b, m.fmod(a, b)), BIG, den)
    int16 = np.array([32767, -32768, -7, 7], np.int16)
    _check(lambda m, a: (m.div(a, 3, rounding_mode="trunc"), a // 3, a % 3, m.fmod(a, -3)), int16)


def test_integer_division_in_place_forms():
    def f(m, a):
        b = a.clone()
        b.div_(3, rounding_mode="trunc")
        c = a.clone()
        c //= 3
        d = a.clone()
        d %= 3
        return b, c, d

    _check(f, BIG)


def test_float_floor_division_matches_torch_edge_cases():
    xs = [5.0, -5.0, 0.0, -0.0, 7.5, -7.5, 1e30, np.inf, -np.inf, np.nan, 4.5, 1.0, 0.3]
    ys = [2.0, -2.0, 0.0, -0.0, 0.3, np.inf, -np.inf, 3.0, 1e-30]
    x = np.array([a for a in xs for _ in ys], np.float32)
    y = np.array([b for _ in xs for b in ys], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check(lambda m, a, b: (a // b, m.div(a, b, rounding_mode="floor"), m.div(a, b, rounding_mode="trunc")), x, y)
        for s in (0.3, 2.0, -0.0, 255):
            _check(lambda m, a: (a // s, m.div(a, s, rounding_mode="trunc"), a % s), x)


# ------------------------------------------------------------------ correctly rounded division
A = np.arange(1, 256, dtype=np.float32)


@pytest.mark.parametrize("s", [255, 255.0, 0.3, 3, -7.0, 1e-3])
def test_division_by_a_python_number_is_correctly_rounded(s):
    _check(lambda m, a: (a / s, m.div(a, s), m.true_divide(a, s), m.divide(a, s), s / a, m.floor(a / s)), A)

    def inplace(m, a):
        b = a.clone()
        b /= s
        c = a.clone()
        c.div_(s)
        return b, c

    _check(inplace, A)


def test_division_by_broadcast_tensors_is_correctly_rounded():
    x = (RNG.random((64, 255)) + 0.5).astype(np.float32)
    s = x.sum(1, keepdims=True)  # (a sum's own rounding differs between libraries: pass it in)
    _check(lambda m, a, b: (a / m.tensor(255.0), a / b, a / a.amax(0), a / a.amax(1, keepdim=True)), x, s)
    _check(lambda m, a: m.floor(a / 0.3), np.array([4.5, 4.5], np.float32))


def test_division_gradients_match_torch():
    x = (RNG.random((4, 5)) + 0.5).astype(np.float32)
    y = (RNG.random((4, 1)) + 0.5).astype(np.float32)

    def f(m, a, b):
        a = a.clone().requires_grad_(True)
        b = b.clone().requires_grad_(True)
        (a / b / 3.0 + 2.0 / a).sum().backward()
        return a.grad, b.grad

    want = _torch(f, x, y)
    for mode in MODES:
        got = _run(mode, f, ej.tensor(x), ej.tensor(y))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dt", ["bfloat16", "float16"])
def test_reduced_float_division_by_a_number_matches_torch(dt):
    x = RNG.standard_normal(2000).astype(np.float32)

    def f(m, a):
        a = a.to(getattr(m, dt))
        return tuple((a / s).float() for s in (0.3, 255, 7.0)) + ((a / a[:1]).float(),)

    _check(f, x)


# ------------------------------------------------------------------ integer powers
def test_integer_tensor_to_negative_integer_tensor_powers():
    base = np.array([5, 2, 1, -1, -1, 3, 0, 0, -2], np.int32)
    exp = np.array([-4, -1, -3, -3, -2, 2, -1, 0, 3], np.int32)
    _check(lambda m, b, e: (b**e, m.pow(b, e), b ** m.tensor(-1, dtype=b.dtype)), base, exp)
    e2 = np.array([-1, -2, 3, 0], np.int32)
    _check(lambda m, e: (2**e, 1**e, (-1) ** e, 0**e, 2.0**e), e2)

    def inplace(m, b, e):
        c = b.clone()
        c **= e
        return c

    _check(inplace, base, exp)


def test_bool_tensor_powers():
    b = np.array([True, False])
    _check(lambda m, a: (a**3, a**True, a**False, a**0, a**2.0, 2**a, m.tensor([2, 3], dtype=m.int32) ** a), b)


@pytest.mark.parametrize("mode", MODES)
def test_negative_python_int_power_of_an_integer_tensor_raises(mode):
    for dt in ("int32", "int64", "uint8", "bool"):
        t = ej.tensor([2], dtype=getattr(ej, dt))
        for f in (lambda: t**-1, lambda: ej.pow(t, -2), lambda: t.clone().pow_(-1)):
            with pytest.raises(RuntimeError) as e:
                _run(mode, lambda m, a, f=f: f(), t)
            assert str(e.value) == "Integers to negative integer powers are not allowed."
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        torch.tensor([2]) ** -1
    # a float exponent or a float base is fine
    _check(lambda m, a: (a**-1.0, a.float() ** -1), np.array([2, 4], np.int32))


# ------------------------------------------------------------------ integer division by zero
_ZERO_CASES = {
    "a // 0": lambda m, a, z: a // 0,
    "a % 0": lambda m, a, z: a % 0,
    "a // zeros": lambda m, a, z: a // z,
    "a % zeros": lambda m, a, z: a % z,
    "5 // zeros": lambda m, a, z: 5 // z,
    "5 % zeros": lambda m, a, z: 5 % z,
    "div floor": lambda m, a, z: m.div(a, 0, rounding_mode="floor"),
    "div trunc": lambda m, a, z: m.div(a, z, rounding_mode="trunc"),
    "divide trunc": lambda m, a, z: m.divide(a, 0, rounding_mode="trunc"),
    "fmod": lambda m, a, z: m.fmod(a, 0),
    "fmod tensor": lambda m, a, z: m.fmod(a, z),
    "remainder": lambda m, a, z: m.remainder(a, z),
    "floor_divide_": lambda m, a, z: a.clone().floor_divide_(0),
    "//=": lambda m, a, z: a.clone().__ifloordiv__(z),
}


@pytest.mark.parametrize("name", sorted(_ZERO_CASES))
def test_integer_division_by_zero_raises_in_eager(name):
    f = _ZERO_CASES[name]
    for m in (torch, ej):
        a = m.tensor([5, -5, 0])
        z = m.tensor([1, 0, 2])
        with pytest.raises(RuntimeError) as e:
            f(m, a, z)
        assert str(e.value) == "ZeroDivisionError"


def test_division_by_zero_that_torch_allows():
    for m in (torch, ej):
        a = m.tensor([5, -5, 0])
        assert (a // m.tensor([1, 2, 3])).tolist() == [5, -3, 0]
        assert (a // 0.0).tolist()[:2] == [float("inf"), float("-inf")]
        assert (a / 0).tolist()[:2] == [float("inf"), float("-inf")]
        assert m.div(a, 0.0, rounding_mode="trunc").tolist()[:2] == [float("inf"), float("-inf")]
        assert (m.tensor([], dtype=m.int64) // 0).tolist() == []  # nothing divided, nothing raised
        assert m.div(a, 0).tolist()[:2] == [float("inf"), float("-inf")]  # no rounding mode: float


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_compiled_and_lazy_integer_division_by_zero_does_not_raise(mode):
    """XLA programs cannot raise: compiled / lazy steps give XLA's values, and read nothing on the
    host to check (a nonzero divisor gives eager's numbers)."""
    a, z = ej.tensor([5, -5, 0]), ej.tensor([1, 0, 2])
    (out,) = _run(mode, lambda m, x, y: x // y, a, z)
    assert out.shape == (3,) and out[0] == 5 and out[2] == 0
    (ok,) = _run(mode, lambda m, x, y: (x // y, x % y)[0], a, ej.tensor([2, 2, 2]))
    assert ok.tolist() == [2, -3, 0]


# ------------------------------------------------------------------ errors in torch's words
_ERRORS = [
    (lambda m: -m.tensor([True]), "Negation, the `-` operator, on a bool tensor"),
    (lambda m: m.neg(m.tensor([True])), "Negation, the `-` operator, on a bool tensor"),
    (lambda m: m.tensor([True]) - m.tensor([False]), "with two bool tensors"),
    (lambda m: m.tensor([True]) - True, "with two bool tensors"),
    (lambda m: True - m.tensor([True]), "with two bool tensors"),
    (lambda m: m.tensor([True]) - 1, "with a bool tensor is not supported"),
    (lambda m: 1 - m.tensor([True]), "with a bool tensor is not supported"),
    (lambda m: m.tensor([1]) - True, "with a bool tensor is not supported"),
    (lambda m: m.tensor([1]).sub_(True), "with a bool tensor is not supported"),
    (lambda m: m.rsub(m.tensor([True]), m.tensor([False])), "with two bool tensors"),
    (lambda m: m.sub(m.tensor([1]), m.tensor([1]), alpha=True), "Boolean alpha only supported"),
    (lambda m: m.sub(m.tensor([1]), m.tensor([1]), alpha=0.5), "argument alpha must not be a floating"),
    (lambda m: m.add(m.tensor([1]), m.tensor([1]), alpha=0.5), "argument alpha must not be a floating"),
    (lambda m: m.tensor([1.0]).clamp(), "torch.clamp: At least one of 'min' or 'max' must not be None"),
    (lambda m: m.tensor([1.0]).clamp_(), "torch.clamp: At least one of 'min' or 'max' must not be None"),
    (lambda m: m.clip(m.tensor([1.0])), "torch.clamp: At least one of 'min' or 'max' must not be None"),
]


@pytest.mark.parametrize("i", range(len(_ERRORS)))
@pytest.mark.parametrize("mode", MODES)
def test_errors_in_torchs_words(i, mode):
    f, msg = _ERRORS[i]
    with pytest.raises(RuntimeError) as want:
        f(torch)
    assert msg in str(want.value)
    with pytest.raises(RuntimeError) as got:
        _run(mode, lambda m, x: f(m), ej.tensor([0.0]))
    assert str(got.value) == str(want.value)


_MIXED = [
    (lambda m: m.tensor([True]) - m.tensor([1]), "with a bool tensor is not supported"),
    (lambda m: m.tensor([1]) - m.tensor([True]), "with a bool tensor is not supported"),
    (lambda m: m.tensor([1.0]) - m.tensor([True]), "with a bool tensor is not supported"),
]


@pytest.mark.parametrize("i", range(len(_MIXED)))
def test_bool_tensor_minus_other_tensor_raises_in_eager(i):
    """A bool tensor promoted against another tensor's dtype: refused eagerly (the row sees the
    promoted operands, so compiled / lazy steps subtract them as torch's promotion would)."""
    f, msg = _MIXED[i]
    with pytest.raises(RuntimeError) as want:
        f(torch)
    with pytest.raises(RuntimeError) as got:
        f(ej)
    assert msg in str(want.value) and str(got.value) == str(want.value)


def test_subtraction_and_negation_still_work():
    x = np.array([1.5, -2.0, 3.0], np.float32)
    i = np.array([3, -4, 5], np.int32)
    _check(lambda m, a: (a - 1, 1 - a, -a, m.sub(a, a, alpha=2), m.add(a, 1, alpha=0.5), m.rsub(a, 2.0)), x)
    _check(lambda m, a: (a - 1, 1 - a, -a, m.sub(a, a, alpha=2), m.add(a, a, alpha=3)), i)
    _check(lambda m, a: m.tensor([True, False, True]) + a, i)
