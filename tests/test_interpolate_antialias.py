"""``F.interpolate(..., antialias=True)`` (bilinear / bicubic, 4-D) against torch: values and
input gradients, eager / ``ej.compile`` / ``ej.lazy()``, uint8's fixed-point path, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

MODES = ["eager", "compile", "lazy"]


pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def _torch_pair(x, g, kw):
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.interpolate(tx, antialias=True, **kw)
    (ty * torch.tensor(g)).sum().backward()
    return ty.detach().numpy(), tx.grad.numpy()


def _ours(x, g, kw, mode="eager"):
    """(output, input gradient) of the antialiased resize run in ``mode``."""
    ex = ej.tensor(x, requires_grad=True)

    def step(xx):
        y = F.interpolate(xx, antialias=True, **kw)
        (y * ej.tensor(g)).sum().backward()
        return y.detach()

    if mode == "eager":
        y = step(ex)
    elif mode == "compile":
        y = ej.compile(step)(ex)
    else:
        with ej.lazy():
            y = step(ex)
            return y.numpy(), ex.grad.numpy()
    return y.numpy(), ex.grad.numpy()


def _check(shape, kw, mode="eager", tol=1e-5):
    x = _rand(*shape) * 3
    ty = TF.interpolate(torch.tensor(x), antialias=True, **kw)
    g = _rand(*ty.shape, seed=1)
    want_y, want_g = _torch_pair(x, g, kw)
    got_y, got_g = _ours(x, g, kw, mode)
    assert got_y.shape == want_y.shape
    np.testing.assert_allclose(got_y, want_y, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_g, want_g, rtol=tol, atol=tol)


SIZES = [
    dict(size=(8, 8)),  # downscale by 4
    dict(size=(3, 5)),  # non-integer factors
    dict(size=(7, 40)),  # one dim down, the other up
    dict(size=(24, 31)),  # upscale by non-integer factors
    dict(size=(1, 1)),
    dict(size=(32, 9)),  # the height unchanged
    dict(scale_factor=0.37),
    dict(scale_factor=(0.5, 1.7)),
    dict(scale_factor=0.3, recompute_scale_factor=True),
    dict(scale_factor=(0.26, 0.4)),
]


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("kw", SIZES, ids=_ids)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
def test_values_and_grads_match_torch(interp, align_corners, kw):
    _check((2, 3, 32, 23), dict(mode=interp, align_corners=align_corners, **kw))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kw",
    [
        dict(mode="bilinear", size=(5, 6)),
        dict(mode="bicubic", scale_factor=(0.45, 1.5)),
        dict(mode="bicubic", size=(4, 9), align_corners=True),
    ],
    ids=_ids,
)
def test_compile_and_lazy_match_torch(mode, kw):
    _check((2, 2, 13, 11), kw, mode)


def test_upsampling_bilinear_is_the_plain_interpolation():
    """Upscaling with the triangle filter is torch's plain bilinear (align_corners=False)."""
    x = ej.tensor(_rand(1, 2, 5, 6))
    a = F.interpolate(x, size=(11, 13), mode="bilinear", antialias=True).numpy()
    b = F.interpolate(x, size=(11, 13), mode="bilinear").numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_an_unchanged_dim_is_copied_and_differentiated_as_copied():
    """Height 9 -> 9 with scale 1.05: torch copies it in the forward (matched here); its backward
    uses the 1.05-scaled filter (a torch inconsistency): ours is the gradient of the forward, the
    same as with an explicit size."""
    x = _rand(2, 3, 9, 8)
    kw = dict(mode="bicubic", scale_factor=(1.05, 0.5))
    got_y, got_g = _ours(x, np.ones((2, 3, 9, 4), np.float32), kw)
    want_y = TF.interpolate(torch.tensor(x), antialias=True, **kw).numpy()
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
    _, want_g = _torch_pair(x, np.ones((2, 3, 9, 4), np.float32), dict(mode="bicubic", size=(9, 4)))
    np.testing.assert_allclose(got_g, want_g, rtol=1e-5, atol=1e-5)


def test_output_width_one_is_resampled_along_the_height():
    """torch 2.13's CPU kernel returns the first row everywhere when the output width is 1 and the
    height changes; ours resamples the height (the width-3 result of a width-constant input)."""
    col = np.arange(40, dtype=np.float32).reshape(1, 1, 40, 1)
    x = np.repeat(col, 3, axis=3)
    got = F.interpolate(ej.tensor(x), size=(9, 1), mode="bilinear", antialias=True).numpy()
    want = TF.interpolate(torch.tensor(x), size=(9, 3), mode="bilinear", antialias=True).numpy()[..., :1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.all(np.diff(got[0, 0, :, 0]) > 0)


@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    "kw",
    [
        dict(size=(8, 8)),
        dict(size=(5, 17)),
        dict(size=(50, 70)),
        dict(scale_factor=(0.3, 0.45)),
        dict(size=(6, 7), align_corners=True),
    ],
    ids=_ids,
)
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_uint8_matches_torch_exactly(interp, kw, channels):
    x = np.random.RandomState(3).randint(0, 256, size=(2, channels, 32, 27)).astype(np.uint8)
    want = TF.interpolate(torch.tensor(x), mode=interp, antialias=True, **kw).numpy()
    got = F.interpolate(ej.tensor(x), mode=interp, antialias=True, **kw)
    assert got.dtype == ej.uint8
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("mode", ["compile", "lazy"])
def test_uint8_in_compile_and_lazy(mode):
    x = np.random.RandomState(4).randint(0, 256, size=(1, 3, 20, 30)).astype(np.uint8)
    want = TF.interpolate(torch.tensor(x), size=(7, 11), mode="bicubic", antialias=True).numpy()

    def fn(t):
        return F.interpolate(t, size=(7, 11), mode="bicubic", antialias=True)

    if mode == "compile":
        got = ej.compile(fn)(ej.tensor(x)).numpy()
    else:
        with ej.lazy():
            got = fn(ej.tensor(x)).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_types_compute_in_float32_and_round_once(dtype):
    """torch's CPU kernel refuses them (its CUDA kernel computes in float32): ours matches the
    float32 result of the rounded input, rounded back, and gives gradients in the input dtype."""
    x = ej.tensor(_rand(2, 3, 17, 23)).to(getattr(ej, dtype)).requires_grad_()
    y = F.interpolate(x, size=(6, 9), mode="bicubic", antialias=True)
    assert y.dtype == getattr(ej, dtype)
    y.float().sum().backward()
    assert x.grad.dtype == getattr(ej, dtype)
    tx = torch.tensor(x.detach().float().numpy())
    want = TF.interpolate(tx, size=(6, 9), mode="bicubic", antialias=True).to(getattr(torch, dtype)).float()
    np.testing.assert_array_equal(y.detach().float().numpy(), want.numpy())
    tx.requires_grad_()
    TF.interpolate(tx, size=(6, 9), mode="bicubic", antialias=True).sum().backward()
    np.testing.assert_allclose(x.grad.float().numpy(), tx.grad.numpy(), rtol=1e-2, atol=1e-2)


def test_errors_match_torch():
    msg = "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
    for lib, fn in ((torch, TF.interpolate), (ej, F.interpolate)):
        with pytest.raises(ValueError, match=msg):
            fn(lib.zeros(1, 1, 4, 4), size=2, mode="nearest", antialias=True)
        with pytest.raises(ValueError, match=msg):
            fn(lib.zeros(1, 1, 4), size=2, mode="linear", antialias=True)
        with pytest.raises(ValueError, match=msg):
            fn(lib.zeros(1, 1, 4), size=2, mode="bilinear", antialias=True)
        with pytest.raises(NotImplementedError, match="\"compute_index_ranges_weights\" not implemented for 'Int'"):
            fn(lib.zeros(1, 1, 4, 4, dtype=lib.int32), size=2, mode="bilinear", antialias=True)
        with pytest.raises(RuntimeError, match="Input and output sizes should be greater than 0"):
            fn(lib.zeros(1, 1, 4, 4), scale_factor=0.2, mode="bicubic", antialias=True)


def test_a_training_step_through_the_resize_is_the_same_in_every_mode():
    ej.manual_seed(0)
    model = ej.nn.Conv2d(3, 2, 3)
    opt = ej.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (F.interpolate(model(x), size=(5, 7), mode="bicubic", antialias=True) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    ej.testing.assert_compile_equivalent(step, ej.tensor(_rand(2, 3, 21, 19)), steps=3, rtol=1e-5, atol=1e-6)


def _one_nonfinite_per_sample(n, length, axis, value):
    """(length, 1, n_h, n_w) with sample i holding ``value`` at position i along ``axis`` (2: H,
    3: W), random finite values elsewhere."""
    shape = (length, 1, n, 29) if axis == 2 else (length, 1, 29, n)
    x = _rand(*shape, seed=5)
    i = np.arange(length)
    if axis == 2:
        x[i, 0, i, i % 29] = value
    else:
        x[i, 0, i % 29, i] = value
    return x


NONFINITE_SIZES = [
    dict(size=(11, 7)),  # downscale, windows of different lengths
    dict(size=(5, 4)),  # large factors: long windows, clipped at the borders
    dict(size=(40, 61)),  # upscale
    dict(size=(13, 9), align_corners=True),
    dict(scale_factor=(0.37, 0.61)),
]


@pytest.mark.parametrize("kw", NONFINITE_SIZES, ids=_ids)
@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
@pytest.mark.parametrize("axis", [2, 3])
def test_a_nan_reaches_only_the_outputs_whose_window_holds_it(interp, axis, kw):
    """A NaN at each input position in turn (one per sample): the outputs that turn NaN are
    torch's (only those whose filter window covers it), and the others keep torch's values."""
    n = 31 if axis == 2 else 27
    x = _one_nonfinite_per_sample(n, n, axis, np.nan)
    kw = dict(mode=interp, **kw)
    want = TF.interpolate(torch.tensor(x), antialias=True, **kw).numpy()
    got = F.interpolate(ej.tensor(x), antialias=True, **kw).numpy()
    assert np.isnan(want).any() and not np.isnan(want).all()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # NaNs compare equal


@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinities_spread_as_in_torch(interp, value):
    """+-inf times the window's weights (of either sign, 0 included) gives torch's infs and NaNs."""
    kw = dict(mode=interp, size=(9, 6))
    x = _one_nonfinite_per_sample(27, 27, 3, value)
    x[::3, 0, 4, 20] = -value  # a second, opposite infinity in some samples
    x[1::4, 0, 17, 2] = np.nan
    want = TF.interpolate(torch.tensor(x), antialias=True, **kw).numpy()
    got = F.interpolate(ej.tensor(x), antialias=True, **kw).numpy()
    assert np.isinf(want).any() and np.isnan(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # matching infs compare equal


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
def test_nonfinite_input_in_every_mode_with_torch_gradients(mode, interp):
    """The NaN pattern is the same eagerly, compiled and lazy; the input gradient (which does not
    depend on the input's values) stays finite everywhere, NaN positions included, as torch's."""
    x = _rand(2, 2, 19, 23)
    x[0, 0, 3, 5] = np.nan
    x[1, 1, 18, 0] = np.nan
    x[0, 1, 10, 22] = np.inf
    kw = dict(mode=interp, size=(6, 8))
    g = _rand(2, 2, 6, 8, seed=1)
    want_y, want_g = _torch_pair(x, g, kw)
    got_y, got_g = _ours(x, g, kw, mode)
    assert np.isnan(want_y).any() and not np.isnan(want_y).all()
    np.testing.assert_array_equal(np.isnan(got_y), np.isnan(want_y))
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
    assert np.isfinite(want_g).all()
    np.testing.assert_allclose(got_g, want_g, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("interp", ["bilinear", "bicubic"])
def test_long_filters_of_large_downscales(interp):
    """Windows longer than the taps applied one by one (300 -> 4: ~150 taps) are gathered at once:
    torch's values, gradients and NaN pattern still."""
    x = _rand(1, 2, 300, 90) * 3
    x[0, 1, 37, 50] = np.nan
    kw = dict(mode=interp, size=(4, 3))
    g = _rand(1, 2, 4, 3, seed=1)
    want_y, want_g = _torch_pair(x, g, kw)
    got_y, got_g = _ours(x, g, kw)
    assert np.isnan(want_y).any() and not np.isnan(want_y[:, 1]).all()
    np.testing.assert_array_equal(np.isnan(got_y), np.isnan(want_y))
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-5, atol=1e-5)
    x8 = np.random.RandomState(6).randint(0, 256, size=(1, 3, 300, 90)).astype(np.uint8)
    want8 = TF.interpolate(torch.tensor(x8), antialias=True, **kw).numpy()
    np.testing.assert_array_equal(F.interpolate(ej.tensor(x8), antialias=True, **kw).numpy(), want8)
