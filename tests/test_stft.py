"""stft / istft and the window factories versus torch: values, gradients of the signal, the
window and the spectrum, torch's errors, and the same results under ``ej.compile`` and
``ej.lazy()``. Gradients of complex inputs follow torch's convention too.
"""

import numpy as np
import pytest

import eagerjax as ej
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
# torch's own advice (rectangular window, return_complex=False deprecation, padded length)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

RNG = np.random.default_rng(0)
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


@pytest.fixture(autouse=True)
def _eager_after():
    yield
    ej.set_mode("eager")


def _np(t):
    return np.asarray(t.detach()) if isinstance(t, ej.Tensor) else t.detach().numpy()


def close(a, b, tol, what):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def real(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def cplx(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def window(n):
    return RNG.uniform(0.3, 1.0, n).astype(np.float32)  # positive: istft's envelope never vanishes


def run_pair(fn, x, w=None, tol=1e-4, **kw):
    """``fn`` (``"stft"``/``"istft"``) on both sides: the output, then the gradients of the
    input and the window for a random real cotangent of the output (of its real and
    imaginary parts when complex)."""
    ex, tx = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ew = None if w is None else ej.tensor(w, requires_grad=True)
    tw = None if w is None else torch.tensor(w, requires_grad=True)
    ey = getattr(ej, fn)(ex, window=ew, **kw)
    ty = getattr(torch, fn)(tx, window=tw, **kw)
    close(ey, ty, tol, f"{fn} output")
    if ty.is_complex():
        a, b = real(*ty.shape), real(*ty.shape)
        (ey.real * ej.tensor(a) + ey.imag * ej.tensor(b)).sum().backward()
        (ty.real * torch.tensor(a) + ty.imag * torch.tensor(b)).sum().backward()
    else:
        g = real(*ty.shape)
        (ey * ej.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
    close(ex.grad, tx.grad.resolve_conj(), tol, f"d{fn}/dinput")
    if w is not None:
        close(ew.grad, tw.grad, tol, f"d{fn}/dwindow")
    return ey


# --------------------------------------------------------------------------- windows
@pytest.mark.parametrize("name", WINDOWS)
def test_windows_match_torch(name):
    ours, theirs = getattr(ej, name), getattr(torch, name)
    for n in (0, 1, 2, 7, 16):
        for periodic in (True, False):
            close(ours(n, periodic), theirs(n, periodic), 1e-6, f"{name}({n}, {periodic})")
    close(ours(9), theirs(9), 1e-6, f"{name}(9)")
    close(ours(6, dtype=ej.float16), theirs(6, dtype=torch.float16), 2e-3, f"{name} float16")
    w = ours(5, False, requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.dtype == ej.float32
    with pytest.raises(RuntimeError, match=f"^{name} requires non-negative window_length, got window_length=-1$"):
        ours(-1)
    with pytest.raises(RuntimeError, match=f"^{name} expects floating point dtypes, got: TensorOptions\\(dtype=int,"):
        ours(4, dtype=ej.int32)


def test_window_parameters():
    close(ej.hamming_window(9, False, 0.6, 0.3), torch.hamming_window(9, False, 0.6, 0.3), 1e-6, "hamming")
    close(ej.hamming_window(8, alpha=0.5, beta=0.5), torch.hann_window(8), 1e-6, "hamming as hann")
    close(ej.kaiser_window(9, False, 3.0), torch.kaiser_window(9, False, 3.0), 1e-6, "kaiser beta")
    close(ej.kaiser_window(10, True, 0.5), torch.kaiser_window(10, True, 0.5), 1e-6, "kaiser periodic")


# --------------------------------------------------------------------------- stft
@pytest.mark.parametrize("pad_mode", ["reflect", "constant", "replicate", "circular"])
@pytest.mark.parametrize("shape", [(37,), (3, 37)])
def test_stft_pad_modes_and_batch(pad_mode, shape):
    run_pair("stft", real(*shape), window(16), n_fft=16, hop_length=5, pad_mode=pad_mode, return_complex=True)


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("onesided", [None, True, False])
def test_stft_normalized_onesided(normalized, onesided):
    run_pair("stft", real(2, 40), window(12), n_fft=12, normalized=normalized, onesided=onesided, return_complex=True)


@pytest.mark.parametrize(
    "n_fft,win_length,hop_length,center",
    [(16, 9, 4, True), (16, 10, 3, False), (15, 15, None, True), (11, 4, 2, False), (8, 8, 8, True)],
)
def test_stft_window_lengths(n_fft, win_length, hop_length, center):
    """A window shorter than n_fft is zero-padded centrally (odd and even differences)."""
    run_pair(
        "stft",
        real(2, 33),
        window(win_length),
        n_fft=n_fft,
        win_length=win_length,
        hop_length=hop_length,
        center=center,
        return_complex=True,
    )


def test_stft_no_window_and_align_to_window():
    run_pair("stft", real(30), None, n_fft=10, win_length=6, return_complex=True)
    for align in (True, False):
        run_pair("stft", real(2, 30), window(6), n_fft=12, win_length=6, center=False, align_to_window=align,
                 hop_length=3, return_complex=True)  # fmt: skip


def test_stft_complex_input_and_window():
    """Complex input or window: two-sided by default, return_complex defaults to True."""
    y = run_pair("stft", cplx(2, 30), window(8), n_fft=8, hop_length=3)
    assert y.dtype == ej.complex64 and tuple(y.shape) == (2, 8, 11)
    run_pair("stft", cplx(30), window(8), n_fft=8, normalized=True, pad_mode="constant")
    x, cw = real(30), cplx(8)
    close(
        ej.stft(ej.tensor(x), 8, window=ej.tensor(cw)),
        torch.stft(torch.tensor(x), 8, window=torch.tensor(cw)),
        1e-4,
        "complex window",
    )


def test_stft_real_layout_and_method():
    """return_complex=False is torch's view_as_real layout (..., freq, frames, 2)."""
    x, w = real(2, 40), window(16)
    y = run_pair("stft", x, w, n_fft=16, return_complex=False)
    assert tuple(y.shape) == (2, 9, 11, 2)
    z = ej.tensor(x).stft(16, window=ej.tensor(w), return_complex=True)
    close(z.real, y[..., 0], 1e-6, "method, real part")
    close(z.imag, y[..., 1], 1e-6, "method, imaginary part")


def _raises_like(ours, theirs, exact=True):
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(type(te.value)) as oe:
        ours()
    if exact:
        assert str(oe.value) == str(te.value)
    return str(oe.value)


def test_stft_errors():
    x, w = real(20), window(8)
    e, t = (ej.tensor(x), ej.tensor(w)), (torch.tensor(x), torch.tensor(w))
    cases = [
        lambda m, x, w: m.stft(x, 8, window=w),
        lambda m, x, w: m.stft(x, 8, window=w, return_complex=True, align_to_window=True),
        lambda m, x, w: m.stft(x[:3], 8, window=w, return_complex=True),  # reflect pad too long
        lambda m, x, w: m.stft(x[:3], 16, return_complex=True, pad_mode="circular"),
        lambda m, x, w: m.stft(x, 8, window=w, return_complex=True, pad_mode="foo"),
        lambda m, x, w: m.stft(x, 30, return_complex=True, center=False),
        lambda m, x, w: m.stft(x, 8, hop_length=0, window=w, return_complex=True),
        lambda m, x, w: m.stft(x, 8, win_length=9, return_complex=True),
        lambda m, x, w: m.stft(x, 8, win_length=6, window=w, return_complex=True),
        lambda m, x, w: m.stft(x.reshape(2, 2, 5), 4, return_complex=True),
        lambda m, x, w: m.stft(x.int(), 8, window=w, return_complex=True),
        lambda m, x, w: m.stft(x.to(m.complex64), 8, window=w, onesided=True),
    ]
    for c in cases:
        _raises_like(lambda c=c: c(ej, *e), lambda c=c: c(torch, *t))


# --------------------------------------------------------------------------- istft
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("batch", [(), (3,)])
def test_istft_round_trip_with_length(center, batch):
    """stft then istft gives the signal back, at any requested length (zero tail beyond)."""
    n_x = 50 if center else 52  # uncentred frames cover 16 + 4k samples only
    x = real(*batch, n_x)
    w = ej.hann_window(16) if center else ej.tensor(window(16))
    spec = ej.stft(ej.tensor(x), 16, hop_length=4, window=w, center=center, return_complex=True)
    for length in (n_x, 45, None):
        y = ej.istft(spec, 16, hop_length=4, window=w, center=center, length=length)
        n = y.shape[-1]
        assert n == (length or (48 if center else 52))  # default: hop * (frames - 1) [+ n_fft]
        np.testing.assert_allclose(_np(y), x[..., :n], atol=2e-5)
    y = ej.istft(spec, 16, hop_length=4, window=w, center=center, length=60)
    ty = torch.istft(torch.tensor(_np(spec)), 16, hop_length=4, window=torch.tensor(_np(w)), center=center, length=60)
    close(y, ty, 1e-5, "zero-padded tail")


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"length": 30},
        {"length": 60},
        {"normalized": True},
        {"win_length": 10, "hop_length": 3},
        {"center": False},
        {"onesided": False},
        {"onesided": False, "return_complex": True},
    ],
)
def test_istft_values_and_gradients(kw):
    """Spectrum and window gradients against torch (a random spectrum, not an stft's)."""
    kw = dict(kw)
    n_freq = 16 if kw.get("onesided") is False else 9
    w = window(kw.get("win_length", 16))
    if kw.get("center") is False:
        w = window(16)
    run_pair("istft", cplx(2, n_freq, 11), w, n_fft=16, **kw)


def test_istft_without_window_and_unbatched():
    run_pair("istft", cplx(5, 9), None, n_fft=8, hop_length=2)
    run_pair("istft", cplx(5, 9), window(6), n_fft=8, hop_length=2, win_length=6, length=12)


def test_istft_errors():
    z = cplx(2, 5, 11)
    e, t = ej.tensor(z), torch.tensor(z)
    hann = (ej.hann_window(8), torch.hann_window(8))
    cases = [
        lambda m, z, w: m.istft(m.stack([z.real, z.imag], -1), 8, window=w),
        lambda m, z, w: m.istft(z, 8, hop_length=8, window=w),  # envelope zero between frames
        lambda m, z, w: m.istft(z, 8, hop_length=2, window=w, center=False),  # zero at the start
        lambda m, z, w: m.istft(z, 8, hop_length=2, window=w, return_complex=True),
        lambda m, z, w: m.istft(z, 8, hop_length=2, window=w, onesided=False),
        lambda m, z, w: m.istft(z, 10, hop_length=2),
        lambda m, z, w: m.istft(z, 8, hop_length=9, window=w),
        lambda m, z, w: m.istft(z, 8, win_length=9),
        lambda m, z, w: m.istft(z, 8, window=w[:6]),
        lambda m, z, w: m.istft(z[None], 8, window=w),
        lambda m, z, w: m.istft(z[..., :0], 8, window=w),
    ]
    for k, c in enumerate(cases):
        _raises_like(lambda c=c: c(ej, e, hann[0]), lambda c=c: c(torch, t, hann[1]), exact=k not in (1, 2))
    # torch's message ends in the repr of a bool tensor; ours stops before it
    with pytest.raises(RuntimeError, match=r"return_complex=0\) window overlap add min: 1$") as info:
        ej.istft(e, 8, hop_length=8, window=hann[0])
    assert str(info.value).startswith("istft(CPUComplexFloatType[2, 5, 11], n_fft=8, hop_length=8,")
    cw = np.ones(8, np.complex64)
    _raises_like(
        lambda: ej.istft(ej.tensor(cplx(2, 8, 11)), 8, window=ej.tensor(cw)),
        lambda: torch.istft(torch.tensor(cplx(2, 8, 11)), 8, window=torch.tensor(cw)),
    )


def test_istft_envelope_is_not_checked_when_traced():
    """The NOLA check reads the window on the host: lazy graphs divide by the zero instead."""
    z = ej.tensor(cplx(5, 11))
    with ej.lazy():
        y = ej.istft(z, 8, hop_length=8, window=ej.hann_window(8))
    assert not np.isfinite(_np(y)).all()


# --------------------------------------------------------------------------- compiled and lazy
def test_spectral_training_step_in_every_mode():
    """A learnable signal and window fitted to a target spectrogram through stft, with an
    istft reconstruction term: compiled and lazy steps match eager."""
    ej.manual_seed(0)
    sig = ej.nn.Parameter(ej.randn(2, 64))
    win = ej.nn.Parameter(ej.hann_window(16) + 0.1)
    target = ej.randn(2, 9, 17).abs()
    opt = ej.optim.SGD([sig, win], lr=0.01)

    def step():
        opt.zero_grad()
        spec = ej.stft(sig, 16, hop_length=4, window=win, return_complex=True, pad_mode="constant")
        back = ej.istft(spec, 16, hop_length=4, window=win, length=64)
        loss = (spec.abs() - target).pow(2).mean() + (back - sig.detach()).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    assert_compile_equivalent(step, steps=3, rtol=1e-4, atol=1e-5)


def test_stft_forward_compiled_and_lazy():
    x, w = ej.tensor(real(2, 40)), ej.hann_window(12)

    def f(x, w):
        return ej.stft(x, 12, hop_length=3, window=w, return_complex=False, normalized=True)

    want = f(x, w)
    close(ej.compile(f)(x, w), want, 1e-5, "compiled")
    with ej.lazy():
        got = f(x, w)
    close(got, want, 1e-5, "lazy")
