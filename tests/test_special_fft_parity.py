"""Special functions at their poles and edges, and ``torch.fft``'s ``s = -1`` and dtype rules,
against torch's CPU kernels in eager, ``ej.compile`` and ``ej.lazy()`` runs (values and
gradients): ``xlog1py`` (masked gradient at x == 0, Python-int operands), ``digamma`` /
``polygamma`` / ``zeta`` at 0 and the negative integers and for negative non-integer q,
``i0``'s and ``logit``'s gradients where they overflow or have poles, the n-d transforms with
-1 in ``s``, and torch's errors for half inputs, bad sizes and integer ``fftfreq`` dtypes."""

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)
MODES = ("eager", "compiled", "lazy")
INF, NAN = np.inf, np.nan


pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)


def _run(mode, fn, *arrays, grad=True):
    """``fn(ej, *leaves)`` in one mode, with ``out.sum().backward()`` when ``grad``: the output
    and the leaves' gradients as NumPy arrays."""
    leaves = [ej.tensor(a, requires_grad=grad and np.asarray(a).dtype.kind in "fc") for a in arrays]
    grad = any(leaf.requires_grad for leaf in leaves)

    def step(*ls):
        out = fn(ej, *ls)
        if grad:
            (out.real if out.is_complex() else out).sum().backward()
        return out.detach()

    if mode == "eager":
        out = step(*leaves)
    elif mode == "compiled":
        out = ej.compile(step)(*leaves)
    else:
        with ej.lazy():
            out = step(*leaves)
            out = out.numpy()
    grads = [None if leaf.grad is None else np.asarray(leaf.grad.numpy()) for leaf in leaves]
    return np.asarray(out if isinstance(out, np.ndarray) else out.numpy()), grads


def _torch(fn, *arrays, grad=True):
    leaves = [torch.tensor(a, requires_grad=grad and np.asarray(a).dtype.kind in "fc") for a in arrays]
    grad = any(leaf.requires_grad for leaf in leaves)
    out = fn(torch, *leaves)
    if grad:
        (out.real if out.is_complex() else out).sum().backward()
    grads = [None if leaf.grad is None else leaf.grad.resolve_conj().numpy() for leaf in leaves]
    return out.detach().resolve_conj().numpy(), grads


def _match(got, want, rtol=2e-5, atol=0.0, what=""):
    """Same shape and dtype, the same NaNs and infinities (with their signs), finite values close."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    g = np.ascontiguousarray(got, np.complex128).view(np.float64) if got.dtype.kind == "c" else got.astype(np.float64)
    w = (
        np.ascontiguousarray(want, np.complex128).view(np.float64)
        if want.dtype.kind == "c"
        else want.astype(np.float64)
    )
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{what}: NaNs {g} vs {w}")
    fin = np.isfinite(w)
    np.testing.assert_array_equal(g[~fin & ~np.isnan(w)], w[~fin & ~np.isnan(w)], err_msg=f"{what}: infinities")
    np.testing.assert_allclose(g[fin], w[fin], rtol=rtol, atol=atol, err_msg=what)


def _check(fn, *arrays, grad=True, rtol=2e-5, atol=0.0, grad_rtol=None):
    want, want_grads = _torch(fn, *arrays, grad=grad)
    for mode in MODES:
        got, grads = _run(mode, fn, *arrays, grad=grad)
        _match(got, want, rtol, atol, what=f"{mode} value")
        for k, (g, w) in enumerate(zip(grads, want_grads)):
            assert (g is None) == (w is None), f"{mode}: grad {k} presence"
            if w is not None:
                _match(g, w, grad_rtol or rtol, atol, what=f"{mode} grad {k}")


# --------------------------------------------------------------------------- xlog1py
XS = np.array([0, 1, -2, NAN], np.float32)
YS = np.array([0.5, -1, -2, NAN, INF, -INF, 0, 3], np.float32)


def test_xlog1py_values_and_masked_gradients():
    """0 at x == 0 unless y is NaN; d/dx is log1p(y), 0 where x == 0 and y <= -1; d/dy x/(1+y)."""
    x, y = (a.ravel() for a in np.meshgrid(XS, YS, indexing="ij"))
    _check(lambda m, a, b: m.special.xlog1py(a, b), x, y)


@pytest.mark.parametrize("other", [3, 2.5, -1])
def test_xlog1py_python_number_other(other):
    """A Python int ``other`` promotes to the tensor's float dtype (it raised in log1p)."""
    _check(lambda m, a: m.special.xlog1py(a, other), np.array([0.5, 2.0, 0.0, -1.0], np.float32))
    _check(lambda m, b: m.special.xlog1py(other, b), np.array([0.5, 2.0, 0.0, -1.0], np.float32))


def test_xlog1py_integer_tensors_compute_in_float32():
    _check(lambda m, a, b: m.special.xlog1py(a, b), np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32))
    _check(lambda m, a: m.special.xlog1py(a, 3), np.arange(4, dtype=np.int32))


# --------------------------------------------------------------------------- polygamma family
POINTS = np.array(
    [0.0, -0.0, -1.0, -2.0, -3.0, -0.5, -1.5, -7.5, -8.5, -20.5, -0.3, -5.7, 1e-30, -1e-30, INF, -INF, NAN]
    + [1.0, 1e30, 0.5, 1e-8, 2.5, 10.0, 100.0, 3.3, 1e4],
    np.float32,
)


def test_digamma_poles_and_gradient():
    """-inf at +0, +inf at -0, NaN at the negative integers; the gradient is torch's trigamma
    (inf at 0, large but finite at the negative integers)."""
    _check(lambda m, a: m.digamma(a), POINTS)
    _check(lambda m, a: m.special.digamma(a), POINTS)
    _check(lambda m, a: m.special.psi(a), POINTS)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6])
def test_polygamma_poles_and_gradients(n):
    """+-inf at 0 and the negative integers for n >= 2 (by n's parity), torch's values for
    negative non-integers (JAX's were off by orders of magnitude below -8)."""
    _check(lambda m, a: m.polygamma(n, a), POINTS)
    _check(lambda m, a: m.special.polygamma(n, a), POINTS)


def test_polygamma_float16_and_integer_inputs():
    _check(lambda m, a: m.polygamma(2, a), np.array([0.5, 1, 3, 0, -1], np.float16), rtol=2e-3)
    _check(lambda m, a: m.digamma(a), np.array([1, 2, 0, -1], np.int32))


ZX = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 0.5, 0.0, -1.0, INF, NAN, 2.5, 30.0], np.float32)


def test_zeta_conventions():
    """inf at x == 1 and at non-positive integer q, NaN for x < 1 and for negative non-integer
    q with a non-integer x, the series' sum for negative non-integer q and integer x, torch's
    limits at x = inf."""
    x, q = (a.ravel() for a in np.meshgrid(ZX, POINTS, indexing="ij"))
    _check(lambda m, a, b: m.special.zeta(a, b), x, q, grad=False)
    _check(lambda m, b: m.special.zeta(3.0, b), POINTS, grad=False)
    _check(lambda m, b: m.special.zeta(3, b), POINTS, grad=False)


def test_zeta_gradient_wrt_q():
    """d/dq zeta(x, q) = -x zeta(x + 1, q), inf at the poles. (At x = 30, q < 0 torch's own
    double-precision series is rounding noise, so those points are left out.)"""
    xs = np.array([1.5, 2.0, 3.0, 4.0, 5.0], np.float32)
    x, q = (a.ravel() for a in np.meshgrid(xs, POINTS, indexing="ij"))
    _check(lambda m, b: m.special.zeta(m.tensor(x), b), q, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_zeta_half_raises_as_torch(dtype):
    _same_error(lambda m: m.special.zeta(m.ones(2, dtype=getattr(m, dtype)), 2.0))
    _same_error(lambda m: m.special.zeta(2, m.ones(2, dtype=getattr(m, dtype))))


# --------------------------------------------------------------------------- i0, logit
def test_i0_gradient_overflows_to_inf():
    """The derivative is i1: +-inf where it overflows (JAX's was NaN), NaN at +-inf as torch's."""
    _check(lambda m, a: m.i0(a), np.array([100, -100, 88, 89, 90, 0, INF, -INF, 3, -2, NAN, 1e-3], np.float32))
    _check(lambda m, a: m.special.i0(a), np.array([100, -100, 3], np.float32))


@pytest.mark.parametrize("eps", [None, 0.0, 0.1, 0.6, -1.0])
def test_logit_gradients_at_the_bounds(eps):
    """inf at 0 and 1 without a clamp, NaN outside [0, 1], 0 where eps clamped."""
    x = np.array([0, 1, -0.5, 1.5, 0.5, NAN, 0.05, 0.97, 1e-8], np.float32)
    _check(lambda m, a: m.logit(a, eps), x)
    _check(lambda m, a: m.special.logit(a, eps), x)


def test_logit_in_place():
    x = np.array([0.0, 0.25, 1.0], np.float32)
    want = torch.tensor(x).logit_()
    got = ej.tensor(x).logit_()
    _match(got.numpy(), want.numpy())


# --------------------------------------------------------------------------- fft: s = -1
X3 = RNG.standard_normal((4, 5, 6)).astype(np.float32)
C3 = (RNG.standard_normal((4, 5, 6)) + 1j * RNG.standard_normal((4, 5, 6))).astype(np.complex64)
S_CASES = [
    ((-1, 4), (1, 2)),
    ((4, -1), (1, 2)),
    ((-1, -1), (0, 2)),
    ((-1, -1), None),
    ((-1,), None),
    ((3, -1, -1), None),
]
REAL_IN = {"rfftn", "ihfftn", "rfft2", "ihfft2"}


@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn"])
@pytest.mark.parametrize("s, dim", S_CASES)
def test_fftn_minus_one_keeps_the_size(name, s, dim):
    """-1 in ``s`` is the input's size along that dim; for a real output's last dim (irfftn,
    hfftn) the default length 2 * (size - 1)."""
    x = X3 if name in REAL_IN else C3
    _check(lambda m, a: getattr(m.fft, name)(a, s=s, dim=dim), x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2"])
@pytest.mark.parametrize("s, dim", [c for c in S_CASES if c[1] is not None and len(c[0]) == 2])
def test_fft2_minus_one_keeps_the_size(name, s, dim):
    x = X3 if name in REAL_IN else C3
    _check(lambda m, a: getattr(m.fft, name)(a, s=s, dim=dim), x, rtol=1e-4, atol=1e-4)


def _same_error(fn):
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value)) as ours:
        fn(ej)
    assert str(ours.value).split(" (operands:")[0].endswith(str(theirs.value)), (str(ours.value), str(theirs.value))


@pytest.mark.parametrize("name", ["fftn", "rfftn", "irfftn", "hfftn", "ihfftn", "fft2", "irfft2"])
@pytest.mark.parametrize("s", [(-2, 4), (0, 4), (4, -3)])
def test_fftn_bad_sizes_raise_torchs_error(name, s):
    x = X3 if name in REAL_IN or name in ("fftn", "fft2") else C3
    _same_error(lambda m: getattr(m.fft, name)(m.tensor(x), s=s, dim=(1, 2)))


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
@pytest.mark.parametrize("n", [-1, 0])
def test_fft_bad_n_raises_torchs_error(name, n):
    x = X3 if name in ("rfft", "ihfft") else C3
    _same_error(lambda m: getattr(m.fft, name)(m.tensor(x), n=n))


@pytest.mark.parametrize("name", ["fft", "rfft", "irfft", "ihfft", "fftn", "rfft2", "irfftn", "hfftn", "ihfft2"])
def test_bad_norm_raises_torchs_error(name):
    x = X3 if name in REAL_IN or name in ("rfft", "ihfft") else C3
    _same_error(lambda m: getattr(m.fft, name)(m.tensor(x), norm="bad"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2"])
def test_2d_transforms_refuse_dim_none(name, mode):
    """torch's 2-d transforms type ``dim`` as a tuple of ints (the n-d ones take None)."""
    x = X3 if name in REAL_IN or name in ("fft2", "ihfft2") else C3
    _same_error(lambda m: getattr(m.fft, name)(m.tensor(x), dim=None))
    with pytest.raises(TypeError, match=f"fft_{name}\\(\\): argument 'dim' must be tuple of ints, not NoneType"):
        _run(mode, lambda m, a: getattr(m.fft, name)(a, dim=None), x, grad=False)
    _run(mode, lambda m, a: getattr(m.fft, name.replace("2", "n"))(a, dim=None), x, grad=False)


@pytest.mark.parametrize("name", ["rfft", "ihfft", "rfft2", "rfftn", "ihfft2", "ihfftn"])
def test_complex_input_of_real_transforms_raises(name):
    _same_error(lambda m: getattr(m.fft, name)(m.tensor(C3)))


# --------------------------------------------------------------------------- fft: dtypes
@pytest.mark.parametrize(
    "name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "rfft2", "fftn", "rfftn", "irfftn", "hfftn"]
)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_inputs_raise_as_torchs_cpu_transforms(name, dtype):
    _same_error(lambda m: getattr(m.fft, name)(m.tensor(X3).to(getattr(m, dtype))))
    _same_error(lambda m: getattr(m.fft, "ihfftn")(m.tensor(X3).to(getattr(m, dtype))))


@pytest.mark.parametrize("fn", ["fftfreq", "rfftfreq"])
@pytest.mark.parametrize("dtype", ["int32", "int64", "int16", "uint8", "bool", "complex64"])
def test_fftfreq_integer_dtypes_raise(fn, dtype):
    _same_error(lambda m: getattr(m.fft, fn)(8, dtype=getattr(m, dtype)))


@pytest.mark.parametrize("fn", ["fftfreq", "rfftfreq"])
@pytest.mark.parametrize("dtype", [None, "float16", "bfloat16", "float32"])
def test_fftfreq_float_dtypes(fn, dtype):
    for mode in MODES:
        kw = {} if dtype is None else {"dtype": getattr(ej, dtype)}
        want = getattr(torch.fft, fn)(7, d=0.3, **({} if dtype is None else {"dtype": getattr(torch, dtype)}))
        if mode == "eager":
            got = getattr(ej.fft, fn)(7, d=0.3, **kw)
        elif mode == "compiled":
            got = ej.compile(lambda: getattr(ej.fft, fn)(7, d=0.3, **kw))()
        else:
            with ej.lazy():
                got = getattr(ej.fft, fn)(7, d=0.3, **kw)
                got = got.float().numpy()
        got = got if isinstance(got, np.ndarray) else got.float().numpy()
        _match(got, want.float().numpy(), rtol=1e-3)


def test_autocast_still_runs_half_transforms_in_float32():
    """Under CPU autocast the fp32 list casts a bfloat16 input first, as torch's does."""
    x = X3[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = torch.fft.fft(torch.tensor(x).bfloat16())
    with ej.autocast("cpu", dtype=ej.bfloat16):
        got = ej.fft.fft(ej.tensor(x).bfloat16())
    _match(got.numpy(), want.numpy(), rtol=1e-2, atol=1e-2)
