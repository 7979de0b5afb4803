"""``torch.special``'s Bessel / Airy functions, the incomplete gamma functions and the
orthogonal polynomials (eagerjax/_ops/_special2.py): values over wide ranges and at the
edges (0, negatives, large, inf, NaN) against torch, gradients (torch has none: checked
against derivative identities and central differences of torch's float64 values), the
errors, and the rows in eager, ``ej.compile`` and ``ej.lazy()`` runs. tests/op_cases.py
covers dtypes, shapes and the jax reference."""

import numpy as np
import pytest

import eagerjax as ej
from eagerjax._ops._registry import OPS

torch = pytest.importorskip("torch")
from eagerjax.testing import assert_compile_equivalent  # noqa: E402

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)

RNG = np.random.default_rng(0)


def _np(t) -> np.ndarray:
    return t.detach().numpy().astype(np.float64) if isinstance(t, torch.Tensor) else np.asarray(t, np.float64)


def _message(e: Exception) -> str:
    """Our first line without the operand shapes dispatch appends while tracing a row."""
    return str(e).splitlines()[0].split(" (operands:")[0]


UNARY = [
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "modified_bessel_i0",
    "modified_bessel_i1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "airy_ai",
    "spherical_bessel_j0",
]
POLYNOMIALS = [f"{s}chebyshev_polynomial_{k}" for s in ("", "shifted_") for k in "tuvw"] + [
    "hermite_polynomial_h",
    "hermite_polynomial_he",
    "laguerre_polynomial_l",
    "legendre_polynomial_p",
]


# --------------------------------------------------------------------------- public forms
def test_forms_are_torchs():
    for n in UNARY + POLYNOMIALS + ["gammainc", "gammaincc"]:
        assert callable(getattr(ej.special, n)) and hasattr(torch.special, n)
        assert not hasattr(ej.Tensor, n) and not hasattr(torch.Tensor, n)
    for n in ("igamma", "igammac"):
        assert callable(getattr(ej, n))
        for m in (n, n + "_"):
            assert hasattr(ej.Tensor, m) and hasattr(torch.Tensor, m)
    # torch.special names of rows the table already has share their function
    assert OPS["special_modified_bessel_i0"].fn is OPS["i0"].fn
    assert OPS["special_modified_bessel_i1"].fn is OPS["special_i1"].fn


# --------------------------------------------------------------------------- values
_EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 8.0, -8.0, 2.0, 1.0, -6.0, np.inf, -np.inf, np.nan]
_GRID = np.concatenate(
    [np.linspace(-60, 60, 6001), np.geomspace(1e-6, 60, 400), -np.geomspace(1e-6, 60, 400), _EDGES]
).astype(np.float32)
_LARGE = np.concatenate([np.geomspace(60, 1e4, 300), -np.geomspace(60, 1e4, 300)]).astype(np.float32)


def _check_values(name: str, x: np.ndarray, dtype: str, atol: float, rtol: float = 1e-5) -> None:
    ours = getattr(ej.special, name)(ej.tensor(x, dtype=getattr(ej, dtype)))
    assert ours.dtype == getattr(ej, dtype)
    got = _np(ours)
    fn = getattr(torch.special, name)
    want = _np(fn(torch.tensor(x, dtype=torch.float64)))  # torch's float32 has errors of its own
    want32 = _np(fn(torch.tensor(x)))
    # NaN, inf and zero exactly where torch's float32 has them
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want32), err_msg=f"{name}: NaNs at {x}")
    inf = np.isinf(want32)
    np.testing.assert_array_equal(got[inf], want32[inf], err_msg=f"{name} at {x[inf]}")
    fin = np.isfinite(want) & np.isfinite(want32)
    tiny = np.abs(want) < np.finfo(np.float32).tiny  # float32's denormals (K, Ai for large x)
    np.testing.assert_allclose(got[fin & tiny], want[fin & tiny], rtol=0, atol=1e-37, err_msg=name)
    ok = fin & ~tiny
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=atol, err_msg=f"{name} ({dtype})")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_values_over_a_wide_range_and_at_the_edges(name, dtype):
    """float32 to 1e-5 relative (1e-6 absolute near zeros) over [-60, 60]: ej.float64 is
    float32 without x64, and is compared as such with torch's float64."""
    atol = 2e-6
    if name == "airy_ai":
        # beyond 20, float32 rounds the exponent (Ai(x) ~ exp(-2/3 x^1.5)) and the phase of the
        # oscillation (Ai(-60): 2/3 * 60^1.5 ~ 310) to ~1e-5
        _check_values(name, _GRID[np.abs(_GRID) <= 20], dtype, atol)
        _check_values(name, _GRID[np.abs(_GRID) > 20], dtype, 3e-5, 3e-5)
        return
    _check_values(name, _GRID, dtype, atol)


@pytest.mark.parametrize("name", ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "spherical_bessel_j0"])
def test_large_arguments(name):
    """Up to 1e4 the oscillation's phase comes from cos/sin of x itself (not x - pi/4)."""
    _check_values(name, _LARGE, "float32", 1e-6)


def test_k_and_airy_decay_to_zero():
    x = np.array([50.0, 87.0, 90.0, 100.0, 1e3, 1e6], np.float32)
    for name in ("modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1"):
        _check_values(name, x, "float32", 1e-7)
    _check_values("airy_ai", np.array([10.0, 20.0, 28.0, 40.0, 100.0, 1e4], np.float32), "float32", 0, 3e-5)


def test_float16_and_integer_inputs():
    """torch's kernels reject float16; ours compute it in float32. Integers give float32."""
    x = np.array([0.5, 1.0, 2.0, 3.0], np.float32)
    for name in UNARY:
        fn = getattr(ej.special, name)
        h = fn(ej.tensor(x, dtype=ej.float16))
        assert h.dtype == ej.float16
        np.testing.assert_allclose(_np(h), _np(getattr(torch.special, name)(torch.tensor(x))), rtol=2e-3)
        i = fn(ej.tensor([1, 2, 3]))
        assert i.dtype == ej.float32
        np.testing.assert_allclose(_np(i), _np(fn(ej.tensor([1.0, 2.0, 3.0]))), rtol=0)


# --------------------------------------------------------------------------- gradients
def _torch64(name, x):
    return _np(getattr(torch.special, name)(torch.tensor(x, dtype=torch.float64)))


def _derivative(name: str, x: np.ndarray) -> np.ndarray:
    """d/dx from identities between torch's float64 values (central differences for Ai)."""
    f = lambda n: _torch64(n, x)  # noqa: E731
    xd = x.astype(np.float64)
    if name == "bessel_j0":
        return -f("bessel_j1")
    if name == "bessel_j1":
        return f("bessel_j0") - f("bessel_j1") / xd
    if name == "bessel_y0":
        return -f("bessel_y1")
    if name == "bessel_y1":
        return f("bessel_y0") - f("bessel_y1") / xd
    if name == "modified_bessel_k0":
        return -f("modified_bessel_k1")
    if name == "modified_bessel_k1":
        return -f("modified_bessel_k0") - f("modified_bessel_k1") / xd
    if name == "scaled_modified_bessel_k0":
        return f("scaled_modified_bessel_k0") - f("scaled_modified_bessel_k1")
    if name == "scaled_modified_bessel_k1":
        k0, k1 = f("scaled_modified_bessel_k0"), f("scaled_modified_bessel_k1")
        return k1 - k0 - k1 / xd
    if name == "spherical_bessel_j0":
        return (xd * np.cos(xd) - np.sin(xd)) / (xd * xd)
    h = 1e-5
    return (_torch64(name, xd + h) - _torch64(name, xd - h)) / (2 * h)


# each branch's interior and both sides of every switch point (8 for J/Y, 2 for K, -6 and 1 for Ai)
_GX = np.concatenate(
    [np.linspace(0.05, 40, 800), [0.49, 0.5, 0.51, 1.0, 1.99, 2.0, 2.01, 7.99, 8.0, 8.01, 100.0, 300.0]]
).astype(np.float32)


@pytest.mark.parametrize(
    "name", [n for n in UNARY if n not in ("modified_bessel_i0", "modified_bessel_i1")] + ["airy_ai_negative"]
)
def test_gradients_match_derivative_identities(name):
    x = _GX
    if name == "airy_ai_negative":
        name, x = "airy_ai", np.concatenate([-x[x <= 30], [-6.01, -6.0, -5.99]]).astype(np.float32)
    if name in ("bessel_j0", "bessel_j1", "spherical_bessel_j0"):
        x = np.concatenate([x, -x])
    ex = ej.tensor(x, requires_grad=True)
    getattr(ej.special, name)(ex).sum().backward()
    got = _np(ex.grad)
    want = _derivative(name, x)
    assert np.isfinite(got).all(), x[~np.isfinite(got)]
    # Ai(-30)'s phase rounds to ~1e-5 in float32 (its derivative's amplitude is ~1.3)
    atol = 4e-5 if name == "airy_ai" else 3e-6
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=atol, err_msg=name)
    # (torch computes none: its outputs do not require grad)
    assert not getattr(torch.special, name)(torch.tensor(x[:2], requires_grad=True)).requires_grad


# --------------------------------------------------------------------------- incomplete gamma
_A = np.array([0.0, 0.0, 1.0, -1.0, 2.0, np.inf, 2.0, np.nan, 1.0, 1e-3, 100.0, 0.5, np.inf, 3.5, 20.0], np.float32)
_X = np.array([0.0, 1.0, 0.0, 1.0, -1.0, 1.0, np.inf, 1.0, np.nan, 1e-3, 101.0, 1e4, 0.0, 2.5, 18.0], np.float32)


@pytest.mark.parametrize("name", ["igamma", "igammac", "special.gammainc", "special.gammaincc"])
def test_incomplete_gamma_values_and_edges(name):
    def fn(m):
        return getattr(m.special, name[8:]) if name.startswith("special.") else getattr(m, name)

    got = _np(fn(ej)(ej.tensor(_A), ej.tensor(_X)))
    want = _np(fn(torch)(torch.tensor(_A), torch.tensor(_X)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
    a, x = RNG.uniform(0.1, 30, (50,)).astype(np.float32), RNG.uniform(0, 40, (50,)).astype(np.float32)
    got = _np(fn(ej)(ej.tensor(a), ej.tensor(x)))
    np.testing.assert_allclose(got, _np(fn(torch)(torch.tensor(a), torch.tensor(x))), rtol=1e-4, atol=1e-5)
    # float16 and float64 (float32 without x64) keep their dtype
    for dt in ("float16", "float64"):
        out = fn(ej)(ej.tensor(a[:4], dtype=getattr(ej, dt)), ej.tensor(x[:4], dtype=getattr(ej, dt)))
        assert out.dtype == getattr(ej, dt)


def test_incomplete_gamma_in_place_and_gradients():
    a = np.array([0.5, 1.5, 3.0, 7.0], np.float32)
    x = np.array([0.3, 1.0, 4.0, 6.5], np.float32)
    for name in ("igamma_", "igammac_"):
        e, t = ej.tensor(a), torch.tensor(a)
        getattr(e, name)(ej.tensor(x))
        getattr(t, name)(torch.tensor(x))
        np.testing.assert_allclose(_np(e), _np(t), rtol=1e-5)
    for name in ("igamma", "igammac"):
        ea, ex = ej.tensor(a, requires_grad=True), ej.tensor(x, requires_grad=True)
        getattr(ej, name)(ea, ex).sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        getattr(torch, name)(torch.tensor(a), tx).sum().backward()
        np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), rtol=1e-4, err_msg=f"d{name}/dx")
        # torch has no derivative in a: central differences of its float64 values
        ad, xd, h = torch.tensor(a, dtype=torch.float64), torch.tensor(x, dtype=torch.float64), 1e-6
        fd = (getattr(torch, name)(ad + h, xd) - getattr(torch, name)(ad - h, xd)) / (2 * h)
        np.testing.assert_allclose(_np(ea.grad), _np(fd), rtol=1e-3, atol=1e-5, err_msg=f"d{name}/da")


# --------------------------------------------------------------------------- errors
_I = np.array([1, 2], np.int32)
_ERRORS = {
    "igamma python other": lambda m: m.igamma(m.tensor([1.0]), 2.0),
    "gammainc python input": lambda m: m.special.gammainc(1.0, m.tensor([1.0])),
    "gammaincc python other": lambda m: m.special.gammaincc(m.tensor([1.0]), 2),
    "igamma ints": lambda m: m.igamma(m.tensor(_I), m.tensor(_I)),
    "igammac ints": lambda m: m.igammac(m.tensor(_I), m.tensor(_I)),
    "gammainc bools": lambda m: m.special.gammainc(m.tensor([True]), m.tensor([False])),
    "igamma_ ints": lambda m: m.tensor(_I).igamma_(m.tensor(_I)),
    "polynomial of two numbers": lambda m: m.special.chebyshev_polynomial_t(0.5, 2),
    "hermite of two numbers": lambda m: m.special.hermite_polynomial_h(2, 3),
}


@pytest.mark.parametrize("case", list(_ERRORS))
def test_errors_are_torchs(case):
    with pytest.raises(Exception) as te:
        _ERRORS[case](torch)
    with pytest.raises(Exception) as ee:
        _ERRORS[case](ej)
    assert type(ee.value) is type(te.value), (type(ee.value), te.value)
    assert _message(ee.value) == str(te.value).splitlines()[0]


# --------------------------------------------------------------------------- polynomials
def _poly_domain(name: str) -> np.ndarray:
    if name.startswith("shifted"):
        return np.linspace(-0.5, 1.5, 41).astype(np.float32)
    return np.linspace(-2.5, 2.5, 51).astype(np.float32)


def _poly_close(name, got, want, what):
    scale = np.maximum(1.0, np.abs(want))  # the recurrence's rounding grows with its terms
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok] / scale[ok], want[ok] / scale[ok], rtol=0, atol=2e-5, err_msg=f"{name} {what}")
    np.testing.assert_array_equal(got[~ok], want[~ok], err_msg=f"{name} {what}")


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomial_values_static_and_tensor_degrees(name):
    x = _poly_domain(name)
    ef, tf = getattr(ej.special, name), getattr(torch.special, name)
    for n in range(-2, 13):
        want = _np(tf(torch.tensor(x, dtype=torch.float64), n))
        _poly_close(name, _np(ef(ej.tensor(x), n)), want, f"n={n}")
    # a tensor of degrees, one per element (broadcast against x)
    ns = RNG.integers(-2, 13, x.shape).astype(np.int32)
    want = _np(tf(torch.tensor(x, dtype=torch.float64), torch.tensor(ns)))
    _poly_close(name, _np(ef(ej.tensor(x), ej.tensor(ns))), want, "tensor n")
    grid = _np(ef(ej.tensor(x).reshape(-1, 1), ej.tensor(np.arange(-1, 8, dtype=np.int32))))
    want = _np(tf(torch.tensor(x, dtype=torch.float64).reshape(-1, 1), torch.arange(-1, 8)))
    _poly_close(name, grid, want, "broadcast n")


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomial_edges(name):
    """n < 0 gives 0 and n = 0 gives 1 everywhere; +-inf as torch's recurrence gives them.
    NaN stays NaN for n >= 1 (torch's vectorized kernel returns other elements' values)."""
    ef, tf = getattr(ej.special, name), getattr(torch.special, name)
    x = np.array([np.inf, -np.inf, 1.0, -1.0, 0.0, np.nan], np.float32)
    for n in range(-1, 5):
        got = _np(ef(ej.tensor(x), n))
        want = _np(tf(torch.tensor(x), n))
        np.testing.assert_allclose(got[:5], want[:5], rtol=1e-6, err_msg=f"{name} n={n}")
        assert got[5] == (1 if n == 0 else 0) if n <= 0 else np.isnan(got[5])
        np.testing.assert_array_equal(got, _np(ef(ej.tensor(x), ej.tensor(np.full(6, n, np.int32)))))


def test_polynomial_high_degrees_and_degree_types():
    x = np.linspace(-1, 1, 101).astype(np.float32)
    for name in ("chebyshev_polynomial_t", "chebyshev_polynomial_u", "legendre_polynomial_p"):
        ef, tf = getattr(ej.special, name), getattr(torch.special, name)
        for n in (30, 60):
            want = _np(tf(torch.tensor(x, dtype=torch.float64), n))
            np.testing.assert_allclose(_np(ef(ej.tensor(x), n)), want, atol=1e-4 * (n if "_u" in name else 1))
    t = ej.special.chebyshev_polynomial_t
    # a float degree truncates toward zero, as torch's
    for n in (2.7, -0.5):
        want = _np(torch.special.chebyshev_polynomial_t(torch.tensor(x), n))
        np.testing.assert_allclose(_np(t(ej.tensor(x), n)), want, atol=1e-6)
        want = _np(torch.special.chebyshev_polynomial_t(torch.tensor(x), torch.tensor(n)))
        np.testing.assert_allclose(_np(t(ej.tensor(x), ej.tensor(n))), want, atol=1e-6)
    # result dtypes: integers compute in float32; a Python x takes the degrees' shape
    assert t(ej.tensor([1, 2]), 2).dtype == ej.float32
    assert t(ej.tensor([1, 2]), ej.tensor([1, 2])).dtype == ej.float32
    assert t(ej.tensor([0.5], dtype=ej.float64), ej.tensor([3])).dtype == ej.float64
    assert t(ej.tensor([0.5], dtype=ej.float16), 3).dtype == ej.float16
    out = t(0.5, ej.tensor([0, 1, 2, 3]))
    np.testing.assert_allclose(_np(out), [1.0, 0.5, -0.5, -1.0], atol=1e-6)
    np.testing.assert_allclose(_np(ej.special.hermite_polynomial_h(x=ej.tensor([0.5]), n=2)), [-1.0])


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomial_gradients(name):
    """Static and tensor degrees give the same gradient, which is the derivative of torch's
    float64 polynomial (central differences; torch has no gradient)."""
    x = _poly_domain(name)[1:-1:3]
    ns = np.array([0, 1, 2, 3, 5, 7, -1], np.int32)
    ef, tf = getattr(ej.special, name), getattr(torch.special, name)
    xd, h = torch.tensor(x, dtype=torch.float64).reshape(-1, 1), 1e-6
    want = _np((tf(xd + h, torch.tensor(ns)) - tf(xd - h, torch.tensor(ns))) / (2 * h))
    ex = ej.tensor(x.reshape(-1, 1), requires_grad=True)
    ef(ex, ej.tensor(ns)).backward(ej.ones(len(x), len(ns)))
    # one column per degree: the tensor-degree gradient summed over them
    np.testing.assert_allclose(_np(ex.grad)[:, 0], want.sum(1), rtol=1e-4, atol=1e-3, err_msg=name)
    for k, n in enumerate(ns):
        es = ej.tensor(x, requires_grad=True)
        ef(es, int(n)).sum().backward()
        scale = np.maximum(1, np.abs(want[:, k]))
        np.testing.assert_allclose(_np(es.grad) / scale, want[:, k] / scale, atol=1e-4, err_msg=f"{name} n={n}")


# --------------------------------------------------------------------------- every mode
def test_new_rows_in_eager_compiled_and_lazy_runs():
    """One step through the new rows (gradients into a parameter, a polynomial of tensor
    degrees, an in-place igamma_): ej.compile and ej.lazy() give eager's outputs and state."""
    w = ej.nn.Parameter(ej.tensor(RNG.uniform(0.5, 12.0, (6,)).astype(np.float32)))
    degrees = ej.tensor(np.array([0, 1, 2, 3, 5, 8], np.int32))
    buf = ej.tensor(RNG.uniform(1.0, 3.0, (4,)).astype(np.float32))
    s = ej.special

    def step():
        u = w / 12
        loss = (
            s.bessel_j0(w).sum()
            + s.bessel_j1(-w).sum()
            + s.bessel_y0(w).sum()
            + s.bessel_y1(w).sum()
            + s.modified_bessel_k0(w).sum()
            + s.scaled_modified_bessel_k1(w).sum()
            + s.modified_bessel_i1(u).sum()
            + s.airy_ai(w - 8).sum()
            + s.spherical_bessel_j0(w - 4).sum()
            + s.gammainc(w, ej.tensor(3.0)).sum()
            + ej.igammac(ej.tensor(2.0), w).sum()
            + s.chebyshev_polynomial_t(u, degrees).sum()
            + s.shifted_chebyshev_polynomial_w(u, 4).sum()
            + s.hermite_polynomial_he(u, degrees).sum()
            + s.laguerre_polynomial_l(w, 3).sum()
            + s.legendre_polynomial_p(u, degrees).sum()
        )
        loss.backward()
        buf.igamma_(ej.tensor(1.5))
        return loss

    assert_compile_equivalent(step, steps=2, rtol=1e-4, atol=1e-4)
