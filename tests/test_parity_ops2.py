"""The second parity batch (eagerjax/_ops/_parity2.py rows and eagerjax/_toplevel2.py):
DLPack, ``frombuffer``, ``histogramdd`` / ``segment_reduce`` errors, the randomized
low-rank SVD/PCA, ``grid_sampler_2d`` / ``_3d``, the legacy autocast accessors, small
utilities, ``apply_`` / ``map_`` / ``map2_`` / ``data_ptr`` / ``chalf``, and a step through
the new rows under ``ej.compile`` and ``ej.lazy()``."""

import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
from eagerjax.testing import assert_compile_equivalent  # noqa: E402

RNG = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("fresh_lazy")


def _same_error(f_ej, f_torch, exc=RuntimeError):
    with pytest.raises(exc) as want:
        f_torch()
    with pytest.raises(exc) as got:
        f_ej()
    w = str(want.value).split(" (Triggered internally")[0]
    assert str(got.value).splitlines()[0].split(" (operands:")[0] == w.splitlines()[0]


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


# --------------------------------------------------------------------------- DLPack
@pytest.mark.parametrize("dtype", ["float32", "int32", "int16", "bool", "complex64"])
def test_from_dlpack_torch_and_numpy(dtype):
    a = (RNG.standard_normal((2, 3)) * 4).astype(dtype)
    for src in (torch.tensor(a), a):
        t = ej.from_dlpack(src)
        assert t.dtype == np.dtype(dtype) and tuple(t.shape) == (2, 3)
        np.testing.assert_array_equal(t.numpy(), a)
    back = torch.from_dlpack(ej.tensor(a))  # Tensor.__dlpack__
    np.testing.assert_array_equal(back.numpy(), a)
    np.testing.assert_array_equal(torch.from_dlpack(ej.to_dlpack(ej.tensor(a))).numpy(), a)


def test_from_dlpack_passes_tensors_and_refuses_others():
    x = ej.ones(3)
    assert ej.from_dlpack(x) is x
    with pytest.raises(TypeError, match="__dlpack__"):
        ej.from_dlpack([1, 2])


# --------------------------------------------------------------------------- frombuffer
@pytest.mark.parametrize(
    "kw",
    [
        {"dtype": "float32"},
        {"dtype": "float32", "count": 3, "offset": 4},
        {"dtype": "int16", "offset": 2},
        {"dtype": "uint8", "count": 5},
        {"dtype": "float32", "requires_grad": True},
    ],
)
def test_frombuffer_matches_torch(kw):
    buf = bytearray(np.arange(6, dtype=np.float32).tobytes())
    kt = dict(kw, dtype=getattr(torch, kw["dtype"]))
    want, got = torch.frombuffer(buf, **kt), ej.frombuffer(buf, **dict(kw, dtype=getattr(ej, kw["dtype"])))
    assert got.dtype == np.dtype(kw["dtype"]) and got.requires_grad == want.requires_grad
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    buf[0:4] = b"\xff\xff\xff\xff"  # a copy: later writes do not show (torch's shares the memory)
    assert got.reshape(-1)[0].item() != want.reshape(-1)[0].item() or kw.get("offset", 0) >= 4


@pytest.mark.parametrize(
    "buf, kw",
    [
        (bytearray(24), {"count": 7}),
        (bytearray(24), {"offset": 24}),
        (bytearray(24), {"offset": -1}),
        (bytearray(24), {"count": 0}),
        (bytearray(24), {"offset": 2}),
        (bytearray(), {}),
        ([1, 2], {}),
    ],
)
def test_frombuffer_errors(buf, kw):
    _same_error(
        lambda: ej.frombuffer(buf, dtype=ej.float32, **kw),
        lambda: torch.frombuffer(buf, dtype=torch.float32, **kw),
        ValueError,
    )


# --------------------------------------------------------------------------- histogramdd / segment_reduce errors
def test_histogramdd_errors_and_return_type():
    x = RNG.random((10, 2)).astype(np.float32)
    e, t = ej.tensor(x), torch.tensor(x)
    h = ej.histogramdd(e, [3, 4])
    assert type(h).__name__ == "histogramdd" and isinstance(h.bin_edges, tuple) and len(h.bin_edges) == 2
    _same_error(lambda: ej.histogramdd(e, [3]), lambda: torch.histogramdd(t, [3]))
    _same_error(lambda: ej.histogramdd(e, 3, range=[0.0, 1.0]), lambda: torch.histogramdd(t, 3, range=[0.0, 1.0]))
    _same_error(lambda: ej.histogramdd(e, 0), lambda: torch.histogramdd(t, 0))
    w = np.ones(3, np.float32)
    _same_error(
        lambda: ej.histogramdd(e, 3, weight=ej.tensor(w)), lambda: torch.histogramdd(t, 3, weight=torch.tensor(w))
    )
    _same_error(lambda: ej.histogramdd(e.int(), 3), lambda: torch.histogramdd(t.int(), 3), NotImplementedError)


def test_segment_reduce_errors():
    d, L = np.arange(6, dtype=np.float32), np.array([2, 0, 3, 1])
    e, t = ej.tensor(d), torch.tensor(d)
    el, tl = ej.tensor(L), torch.tensor(L)
    for kw in ({"lengths": "L"}, {}, {"lengths": "short"}, {"indices": "L"}):
        ke = {k: (el if v == "L" else ej.tensor([1, 1])) for k, v in kw.items()}
        kt = {k: (tl if v == "L" else torch.tensor([1, 1])) for k, v in kw.items()}
        red = "foo" if kw == {"lengths": "L"} else "sum"
        _same_error(lambda: ej.segment_reduce(e, red, **ke), lambda: torch.segment_reduce(t, red, **kt))
    _same_error(
        lambda: ej.segment_reduce(ej.arange(6, dtype=ej.int16), "sum", lengths=el),
        lambda: torch.segment_reduce(torch.arange(6, dtype=torch.int16), "sum", lengths=tl),
        NotImplementedError,
    )
    # unsafe=True skips the (value-reading) coverage check
    assert tuple(ej.segment_reduce(e, "sum", lengths=ej.tensor([1, 1]), unsafe=True).shape) == (2,)


# --------------------------------------------------------------------------- svd_lowrank / pca_lowrank
def test_svd_lowrank_reconstructs_a_low_rank_matrix():
    ej.manual_seed(0)
    a = (RNG.standard_normal((30, 5)) @ RNG.standard_normal((5, 20))).astype(np.float32)
    for A in (a, a.T):
        U, S, V = ej.svd_lowrank(ej.tensor(A), q=8)
        tU, tS, tV = torch.svd_lowrank(torch.tensor(A), q=8)
        assert [tuple(x.shape) for x in (U, S, V)] == [tuple(x.shape) for x in (tU, tS, tV)]
        rec = U.numpy() @ np.diag(S.numpy()) @ V.numpy().T
        np.testing.assert_allclose(rec, A, atol=1e-3 * np.abs(A).max())
        np.testing.assert_allclose(U.numpy().T @ U.numpy(), np.eye(8), atol=1e-4)
        np.testing.assert_allclose(V.numpy().T @ V.numpy(), np.eye(8), atol=1e-4)
        np.testing.assert_allclose(S.numpy()[:5], tS.numpy()[:5], rtol=1e-4)


def test_svd_lowrank_with_mean_and_batches():
    a = RNG.standard_normal((2, 12, 4)).astype(np.float32) @ RNG.standard_normal((2, 4, 9)).astype(np.float32)
    m = RNG.standard_normal((1, 9)).astype(np.float32)
    U, S, V = ej.svd_lowrank(ej.tensor(a + m), q=4, M=ej.tensor(m))
    assert tuple(U.shape) == (2, 12, 4) and tuple(V.shape) == (2, 9, 4)
    np.testing.assert_allclose(S.numpy(), torch.linalg.svdvals(torch.tensor(a)).numpy()[:, :4], rtol=1e-3)


def test_pca_lowrank_matches_torch_components():
    a = (RNG.standard_normal((40, 3)) @ RNG.standard_normal((3, 10)) + 5).astype(np.float32)
    U, S, V = ej.pca_lowrank(ej.tensor(a), q=3)
    tU, tS, tV = torch.pca_lowrank(torch.tensor(a), q=3)
    np.testing.assert_allclose(S.numpy(), tS.numpy(), rtol=1e-3)
    np.testing.assert_allclose(np.abs(V.numpy().T @ tV.numpy()), np.eye(3), atol=1e-3)  # same directions
    assert tuple(ej.pca_lowrank(ej.tensor(a), center=False)[1].shape) == (6,)
    for kw in ({"q": 11}, {"q": -1}, {"niter": -1}):
        _same_error(
            lambda: ej.pca_lowrank(ej.tensor(a), **kw), lambda: torch.pca_lowrank(torch.tensor(a), **kw), ValueError
        )


# --------------------------------------------------------------------------- grid_sampler_2d / _3d
@pytest.mark.parametrize("nd, interp, pad, ac", [(2, 0, 0, False), (2, 1, 1, True), (2, 2, 2, False), (3, 0, 2, True)])
def test_grid_sampler_nd_matches_torch(nd, interp, pad, ac):
    x = RNG.standard_normal((2, 3) + (4,) * nd).astype(np.float32)
    g = RNG.uniform(-1.1, 1.1, (2,) + (3,) * nd + (nd,)).astype(np.float32)
    name = f"grid_sampler_{nd}d"
    got = getattr(ej, name)(ej.tensor(x), ej.tensor(g), interp, pad, ac)
    want = getattr(torch, name)(torch.tensor(x), torch.tensor(g), interp, pad, ac)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


def test_grid_sampler_nd_errors():
    x, g = np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 2, 2, 2), np.float32)
    _same_error(
        lambda: ej.grid_sampler_3d(ej.tensor(x), ej.tensor(g), 0, 0, False),
        lambda: torch.grid_sampler_3d(torch.tensor(x), torch.tensor(g), 0, 0, False),
    )
    _same_error(
        lambda: ej.grid_sampler_2d(ej.tensor(x), ej.tensor(g), "bilinear", 0, False),
        lambda: torch.grid_sampler_2d(torch.tensor(x), torch.tensor(g), "bilinear", 0, False),
        TypeError,
    )


# --------------------------------------------------------------------------- legacy autocast
def test_legacy_autocast_toggles_what_autocast_sees():
    a, b = ej.ones(2, 3), ej.ones(3, 2)
    try:
        ej.set_autocast_enabled("cpu", True)
        assert ej.is_autocast_enabled("cpu") and _quiet(ej.is_autocast_cpu_enabled)
        assert (a @ b).dtype == ej.bfloat16  # the region applies without a `with`
        ej.set_autocast_dtype("cpu", ej.float16)
        assert ej.get_autocast_dtype("cpu") == ej.float16 and _quiet(ej.get_autocast_cpu_dtype) == ej.float16
        assert (a @ b).dtype == ej.float16
        with ej.autocast("cpu"):  # its default dtype follows set_autocast_dtype, as torch's
            assert (a @ b).dtype == ej.float16
        _quiet(ej.set_autocast_cpu_dtype, ej.bfloat16)
        assert (a @ b).dtype == ej.bfloat16
        _quiet(ej.set_autocast_cpu_enabled, False)
        assert not ej.is_autocast_enabled("cpu") and (a @ b).dtype == ej.float32
        ej.set_autocast_enabled(True)  # one argument: CUDA, as torch
        assert ej.is_autocast_enabled() and ej.is_autocast_enabled("cuda") and not ej.is_autocast_enabled("cpu")
        _quiet(ej.set_autocast_gpu_dtype, ej.bfloat16)
        assert _quiet(ej.get_autocast_gpu_dtype) == ej.bfloat16
    finally:
        ej.set_autocast_enabled("cpu", False)
        ej.set_autocast_enabled("cuda", False)
        ej.set_autocast_dtype("cpu", ej.bfloat16)
        ej.set_autocast_dtype("cuda", ej.float16)
    assert not ej.is_autocast_enabled("cpu") and ej.get_autocast_dtype("cpu") == ej.bfloat16


def test_legacy_autocast_warnings_errors_cache_and_nesting():
    with pytest.warns(DeprecationWarning, match=r"is_autocast_cpu_enabled\(\) is deprecated"):
        ej.is_autocast_cpu_enabled()
    _same_error(lambda: ej.set_autocast_enabled(1), lambda: torch.set_autocast_enabled(1), TypeError)
    _same_error(
        lambda: ej.set_autocast_dtype("foo", ej.float16), lambda: torch.set_autocast_dtype("foo", torch.float16)
    )
    assert ej.clear_autocast_cache() is None and ej.is_autocast_cache_enabled()
    ej.set_autocast_cache_enabled(False)
    assert not ej.is_autocast_cache_enabled()
    ej.set_autocast_cache_enabled(True)
    got = [ej.autocast_increment_nesting(), ej.autocast_increment_nesting()]
    got += [ej.autocast_decrement_nesting(), ej.autocast_decrement_nesting()]
    want = [torch.autocast_increment_nesting(), torch.autocast_increment_nesting()]
    want += [torch.autocast_decrement_nesting(), torch.autocast_decrement_nesting()]
    assert got == want


# --------------------------------------------------------------------------- small utilities
def test_small_utilities():
    assert ej.set_flush_denormal(True) is False  # XLA decides (torch: True on x86)
    assert ej.get_device(ej.ones(1)) == torch.get_device(torch.ones(1)) == -1
    _same_error(lambda: ej.get_device(3), lambda: torch.get_device(3), TypeError)
    assert ej.is_storage(ej.ones(1)) is False and torch.is_storage(torch.ones(1)) is False
    fut = ej.fork(lambda a, b: a + b, ej.ones(2), b=ej.ones(2))
    assert fut.done() and np.all(ej.wait(fut).numpy() == 2) and fut.value() is fut.wait()


def test_set_default_tensor_type():
    try:
        with pytest.warns(UserWarning, match="set_default_tensor_type"):
            ej.set_default_tensor_type(ej.HalfTensor)
        assert ej.get_default_dtype() == ej.float16
        _quiet(ej.set_default_tensor_type, "torch.FloatTensor")
        assert ej.get_default_dtype() == ej.float32
        _quiet(ej.set_default_tensor_type, torch.HalfTensor)
        assert ej.get_default_dtype() == ej.float16
        for bad in (ej.LongTensor, "torch.IntTensor", 3, ej.float64):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _same_error(
                    lambda: ej.set_default_tensor_type(bad),
                    lambda: torch.set_default_tensor_type(
                        bad if not isinstance(bad, type(ej.LongTensor)) else torch.LongTensor
                    ),
                    TypeError,
                )
    finally:
        ej.set_default_dtype(ej.float32)


# --------------------------------------------------------------------------- apply_ / map_ / map2_ / data_ptr / chalf
@pytest.mark.parametrize("dtype", ["int64", "float32", "bool"])
def test_apply_map_map2_match_torch(dtype):
    a = (RNG.standard_normal((2, 3)) * 3).astype(dtype)
    b, c = (RNG.standard_normal((3,)) * 3).astype(dtype), (RNG.standard_normal((2, 1)) * 3).astype(dtype)
    fn1, fn2, fn3 = (lambda v: v * 2.7), (lambda u, v: u - v), (lambda u, v, w: u * v + w)
    if dtype == "bool":
        fn1, fn2, fn3 = (lambda v: not v), (lambda u, v: u ^ v), (lambda u, v, w: u and v or w)
    for f_ej, f_t in (
        (lambda x: x.apply_(fn1), lambda x: x.apply_(fn1)),
        (lambda x: x.map_(ej.tensor(b), fn2), lambda x: x.map_(torch.tensor(b), fn2)),
        (lambda x: x.map2_(ej.tensor(b), ej.tensor(c), fn3), lambda x: x.map2_(torch.tensor(b), torch.tensor(c), fn3)),
    ):
        e, t = ej.tensor(a), torch.tensor(a)
        v0 = e._version
        assert f_ej(e) is e and f_t(t) is t and e._version > v0
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)


def test_apply_map_errors_and_compile_refusal():
    x = np.ones(2, np.float32)
    _same_error(
        lambda: ej.tensor(x, requires_grad=True).apply_(abs), lambda: torch.tensor(x, requires_grad=True).apply_(abs)
    )
    _same_error(
        lambda: ej.tensor(x, requires_grad=True).map_(ej.tensor(x), max),
        lambda: torch.tensor(x, requires_grad=True).map_(torch.tensor(x), max),
    )
    _same_error(
        lambda: ej.tensor(x).map_(ej.ones(2, dtype=ej.int16), max),
        lambda: torch.tensor(x).map_(torch.ones(2, dtype=torch.int16), max),
        TypeError,
    )
    _same_error(lambda: ej.tensor(x).map_(ej.ones(3), max), lambda: torch.tensor(x).map_(torch.ones(3), max))

    @ej.compile
    def f(t):
        return t.clone().apply_(abs)

    with pytest.raises(Exception, match="apply_"):
        f(ej.ones(2))


def test_data_ptr_and_chalf():
    x = ej.arange(4.0)
    assert isinstance(x.data_ptr(), int) and x.data_ptr() == x.data_ptr() != 0
    assert ej.ones(0).data_ptr() == torch.ones(0).data_ptr() == 0
    y = x.clone()
    assert y.data_ptr() != x.data_ptr()
    with pytest.raises(TypeError, match="complex32"):
        x.chalf()


# --------------------------------------------------------------------------- every mode
def test_new_rows_in_eager_compiled_and_lazy_runs():
    """histogramdd, segment_reduce (gradients into a parameter) and grid_sampler_2d / _3d:
    ej.compile / ej.lazy() give eager's results."""
    w = ej.nn.Parameter(ej.tensor(RNG.standard_normal((6, 2)).astype(np.float32)))
    pts = ej.tensor(RNG.random((20, 2)).astype(np.float32))
    lens = ej.tensor(np.array([2, 0, 3, 1], np.int32))
    img = ej.tensor(RNG.standard_normal((1, 2, 4, 4)).astype(np.float32))
    vol = ej.tensor(RNG.standard_normal((1, 1, 3, 3, 3)).astype(np.float32))
    g2 = ej.tensor(RNG.uniform(-1, 1, (1, 3, 3, 2)).astype(np.float32))
    g3 = ej.tensor(RNG.uniform(-1, 1, (1, 2, 2, 2, 3)).astype(np.float32))

    def step():
        hist, edges = ej.histogramdd(pts, [3, 2], range=[0.0, 1.0, 0.0, 1.0])
        s = ej.segment_reduce(w, "max", lengths=lens) + ej.segment_reduce(w, "mean", lengths=lens, initial=0.0)
        y = ej.grid_sampler_2d(img, g2, 0, 1, False).sum() + ej.grid_sampler_3d(vol, g3, 0, 0, True).sum()
        loss = ej.where(ej.isfinite(s), s, 0).pow(2).sum() + y
        loss.backward()
        return loss, hist, edges[1], ej.segment_reduce(pts, "sum", offsets=ej.tensor([0, 5, 20]))

    assert_compile_equivalent(step, steps=2, rtol=1e-4, atol=1e-4)
