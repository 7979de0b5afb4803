"""float16/bfloat16 parity with torch 2.13's CPU kernels, in eager, ``ej.compile`` and ``ej.lazy()``:
products with a bias round once, attention accumulates in float32, products refuse mixed dtypes,
autocast's CPU tables (linear algebra / pooling in float32), and ``ormqr`` / ``conv_tbc`` /
``ParameterDict.fromkeys`` / ``Module.type``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

MODES = ["eager", "compiled", "lazy"]
TOL = 3e-2  # relative: a few bfloat16 ulps (gradients: different summation orders)


def _arr(*shape, seed=0, scale=2.0):
    return (np.random.default_rng(seed + 7 * sum(shape)).standard_normal(shape) * scale).astype(np.float32)


def _np(t):
    return np.asarray(t.detach().float().numpy(), dtype=np.float32)


def _run(mode, fn, *args):
    """``fn(*args)`` eagerly, as a compiled step, or recorded in a lazy graph; host values out."""
    if mode == "compiled":
        out = ej.compile(fn)(*args)
    elif mode == "lazy":
        with ej.lazy():
            out = fn(*args)
            out = tuple(out) if isinstance(out, (tuple, list)) else out
    else:
        out = fn(*args)
    return [_np(o) for o in out] if isinstance(out, (tuple, list)) else _np(out)


# --------------------------------------------------------------------------- 1. bias added before rounding
# (name, f(lib, F, tensors) -> output, input shapes)
_BIAS = {
    "linear": (lambda L, F, t: F.linear(t[0], t[1], t[2]), [(2, 5, 32), (8, 32), (8,)]),
    "addmm": (lambda L, F, t: L.addmm(t[0], t[1], t[2], beta=0.5, alpha=2), [(16, 8), (16, 32), (32, 8)]),
    "addmm_bcast": (lambda L, F, t: L.addmm(t[0], t[1], t[2]), [(8,), (16, 32), (32, 8)]),
    "baddbmm": (lambda L, F, t: L.baddbmm(t[0], t[1], t[2], beta=0.5, alpha=2), [(3, 16, 8), (3, 16, 32), (3, 32, 8)]),
    "addbmm": (lambda L, F, t: L.addbmm(t[0], t[1], t[2], beta=0.5, alpha=2), [(16, 8), (3, 16, 32), (3, 32, 8)]),
    "conv1d": (lambda L, F, t: F.conv1d(t[0], t[1], t[2], padding=1), [(2, 4, 12), (6, 4, 3), (6,)]),
    "conv2d": (lambda L, F, t: F.conv2d(t[0], t[1], t[2], groups=2, stride=2), [(2, 4, 9, 9), (6, 2, 3, 3), (6,)]),
    "conv3d": (lambda L, F, t: F.conv3d(t[0], t[1], t[2]), [(1, 3, 5, 5, 5), (4, 3, 2, 2, 2), (4,)]),
    "conv_transpose1d": (lambda L, F, t: F.conv_transpose1d(t[0], t[1], t[2], stride=2), [(2, 4, 7), (4, 3, 3), (3,)]),
    "conv_transpose2d": (lambda L, F, t: F.conv_transpose2d(t[0], t[1], t[2]), [(2, 8, 10, 10), (8, 8, 3, 3), (8,)]),
    "conv_transpose2d_groups": (
        lambda L, F, t: F.conv_transpose2d(t[0], t[1], t[2], groups=2),
        [(2, 4, 5, 5), (4, 3, 3, 3), (6,)],
    ),
    "conv_transpose3d": (
        lambda L, F, t: F.conv_transpose3d(t[0], t[1], t[2]),
        [(1, 3, 4, 4, 4), (3, 2, 2, 2, 2), (2,)],
    ),
}
_CONV_T = ("conv_transpose1d", "conv_transpose2d", "conv_transpose2d_groups", "conv_transpose3d")


def _torch_rounds_once(fn, arrs, dtype) -> bool:
    """Whether torch's kernel computes ``fn`` in float32 and rounds once to ``dtype``. Its CPU
    transposed convolutions differ by dtype and by CPU: the float16 one accumulates in half
    everywhere, the bfloat16 one on some AMD EPYCs too."""
    half = [torch.tensor(a).to(getattr(torch, dtype)) for a in arrs]
    once = fn(torch, torch.nn.functional, [t.float() for t in half]).to(getattr(torch, dtype))
    return bool(torch.equal(fn(torch, torch.nn.functional, half), once))


def _assert_within_two_ulps(got, want, dtype):
    """torch's half-accumulating transposed convolution rounds its own way even without a bias
    (the README's difference): within two ulps of the output's largest magnitude."""
    big = np.abs(np.asarray(want, np.float32)).max()
    ulp = float(np.spacing(np.float16(big))) if dtype == "float16" else 2.0 ** (np.floor(np.log2(big)) - 7)
    assert np.abs(np.asarray(got, np.float32) - np.asarray(want, np.float32)).max() <= 2 * ulp


def _bias_case(name, dtype):
    fn, shapes = _BIAS[name]
    return fn, [_arr(*s, seed=i) for i, s in enumerate(shapes)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", sorted(_BIAS))
def test_half_precision_bias_rounds_once_like_torch(name, dtype, mode):
    fn, arrs = _bias_case(name, dtype)
    want = _np(fn(torch, torch.nn.functional, [torch.tensor(a).to(getattr(torch, dtype)) for a in arrs]))
    ts = [ej.tensor(a).to(getattr(ej, dtype)) for a in arrs]
    got = _run(mode, lambda *t: fn(ej, ej.nn.functional, t), *ts)
    if name in _CONV_T and not _torch_rounds_once(fn, arrs, dtype):
        _assert_within_two_ulps(got, want, dtype)
        return
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["linear", "addmm", "baddbmm", "conv2d", "conv_transpose2d"])
def test_autocast_bias_rounds_once_and_gradients_match_torch(name, mode):
    fn, arrs = _bias_case(name, "bfloat16")
    res = []
    for lib in (torch, ej):
        ts = [lib.tensor(a, requires_grad=True) for a in arrs]

        def step(*t, lib=lib):
            with lib.autocast("cpu", dtype=lib.bfloat16):
                y = fn(lib, lib.nn.functional, t)
            (y.float() * y.float()).sum().backward()
            return y

        if lib is torch:
            y = _np(step(*ts))
        else:
            y = _run(mode, step, *ts)
        res.append((y, [t.grad.numpy() for t in ts], [str(t.grad.dtype) for t in ts]))
    (ty, tg, tgd), (ey, eg, egd) = res
    if name in _CONV_T and not _torch_rounds_once(fn, arrs, "bfloat16"):
        _assert_within_two_ulps(ey, ty, "bfloat16")
    else:
        np.testing.assert_array_equal(ey, ty)
    assert [d.split(".")[-1] for d in egd] == [d.split(".")[-1] for d in tgd] == ["float32"] * len(arrs)
    for a, b in zip(eg, tg):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL * np.abs(b).max())


def test_float32_products_keep_their_values():
    """The float32 path is unchanged: Flax's Dense / Conv, same values as torch's to float32 accuracy."""
    for name in ("linear", "addmm", "addbmm", "conv2d", "conv_transpose2d"):
        fn, arrs = _bias_case(name, "bfloat16")
        want = _np(fn(torch, torch.nn.functional, [torch.tensor(a) for a in arrs]))
        got = _np(fn(ej, ej.nn.functional, [ej.tensor(a) for a in arrs]))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------- 2. attention in float32
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["plain", "autocast", "causal_mask"])
def test_half_sdpa_is_as_accurate_as_torch(how, mode):
    q32 = _arr(1, 2, 64, 16, scale=1.0)
    k32, v32 = _arr(1, 2, 64, 16, seed=1, scale=1.0), _arr(1, 2, 64, 16, seed=2, scale=1.0)
    td = [torch.tensor(a).bfloat16().double() for a in (q32, k32, v32)]
    causal = how == "causal_mask"
    exact = torch.nn.functional.scaled_dot_product_attention(*td, is_causal=causal).numpy()
    errs = []
    for lib in (torch, ej):

        def f(q, k, v, lib=lib):
            F = lib.nn.functional
            if how == "autocast":
                with lib.autocast("cpu", dtype=lib.bfloat16):
                    return F.scaled_dot_product_attention(q, k, v)
            return F.scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), is_causal=causal)

        ts = [lib.tensor(a) for a in (q32, k32, v32)]
        out = _np(f(*ts)) if lib is torch else _run(mode, f, *ts)
        errs.append(np.abs(out - exact))
    terr, eerr = errs
    assert eerr.mean() <= terr.mean() * 1.02, (eerr.mean(), terr.mean())
    assert eerr.max() <= terr.max() * 1.5


@pytest.mark.parametrize("mode", MODES)
def test_autocast_sdpa_gradients_match_torch(mode):
    arrs = [_arr(2, 3, 8, 4, seed=s, scale=1.0) for s in range(3)]
    grads = []
    for lib in (torch, ej):
        ts = [lib.tensor(a, requires_grad=True) for a in arrs]

        def step(*t, lib=lib):
            with lib.autocast("cpu", dtype=lib.bfloat16):
                y = lib.nn.functional.scaled_dot_product_attention(*t)
            y.float().square().sum().backward()
            return y

        (step(*ts) if lib is torch else _run(mode, step, *ts))
        grads.append([t.grad.numpy() for t in ts])
    for e, t in zip(grads[1], grads[0]):
        np.testing.assert_allclose(e, t, rtol=TOL, atol=TOL * np.abs(t).max())


@pytest.mark.parametrize("need_weights", [True, False])
def test_half_multihead_attention_matches_torch(need_weights):
    x = _arr(6, 2, 16, scale=1.0)
    mask = np.triu(np.ones((6, 6), bool), 1)
    tm = torch.nn.MultiheadAttention(16, 4)
    em = ej.nn.MultiheadAttention(16, 4)
    em.load_state_dict({k: ej.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    tm.bfloat16(), em.bfloat16()
    to, tw = tm(*[torch.tensor(x).bfloat16()] * 3, need_weights=need_weights, attn_mask=torch.tensor(mask))
    eo, ew = em(*[ej.tensor(x).bfloat16()] * 3, need_weights=need_weights, attn_mask=ej.tensor(mask))
    assert eo.dtype == ej.bfloat16
    np.testing.assert_allclose(_np(eo), _np(to), rtol=2e-2, atol=8e-3)  # (torch rounds its probabilities)
    if need_weights:
        np.testing.assert_array_equal(_np(ew), _np(tw))


# --------------------------------------------------------------------------- 3. autocast's CPU tables
def _autocast_cases(lib):
    F = lib.nn.functional
    lib.manual_seed(0)
    a = lib.tensor(_arr(4, 4, scale=1.0))
    spd = a @ a.T + 4 * lib.eye(4)
    L = lib.linalg.cholesky(spd)
    ab, sb, lb = a.bfloat16(), spd.bfloat16(), L.bfloat16()
    x4 = lib.tensor(_arr(2, 3, 8, 8)).bfloat16()
    x3 = lib.tensor(_arr(2, 3, 8)).bfloat16()
    return {
        "linalg.householder_product": lambda: lib.linalg.householder_product(ab, ab[0]),
        "orgqr": lambda: lib.orgqr(ab, ab[0]),
        "ormqr": lambda: lib.ormqr(ab, ab[0], ab),
        "triangular_solve": lambda: lib.triangular_solve(ab, lb, upper=False)[0],
        "max_unpool1d": lambda: F.max_unpool1d(*F.max_pool1d(x3, 2, return_indices=True), 2),
        "max_unpool2d": lambda: F.max_unpool2d(*F.max_pool2d(x4, 2, return_indices=True), 2),
        "fractional_max_pool2d": lambda: F.fractional_max_pool2d(x4, 2, output_size=4),
        "linalg.lstsq": lambda: lib.linalg.lstsq(sb, ab)[0],
        "linalg.eigvals": lambda: lib.linalg.eigvals(sb),
        "linalg.eig": lambda: lib.linalg.eig(sb)[0],
        "linalg.cond": lambda: lib.linalg.cond(sb),
        "linalg.inv_ex": lambda: lib.linalg.inv_ex(sb)[0],
        "linalg.cholesky_ex": lambda: lib.linalg.cholesky_ex(sb)[0],
        "linalg.tensorinv": lambda: lib.linalg.tensorinv(sb, ind=1),
        "linalg.tensorsolve": lambda: lib.linalg.tensorsolve(sb, ab[0]),
        "cholesky_inverse": lambda: lib.cholesky_inverse(lb),
        "cholesky_solve": lambda: lib.cholesky_solve(ab, lb),
        "geqrf": lambda: lib.geqrf(ab)[0],
        "polar": lambda: lib.polar(ab.abs(), ab),
        "view_as_complex": lambda: lib.view_as_complex(lib.tensor(_arr(4, 2)).bfloat16()),
        "view_as_complex_f32": lambda: lib.view_as_complex(lib.tensor(_arr(4, 2))),
        "stft": lambda: lib.stft(lib.tensor(_arr(16)).bfloat16(), 4, return_complex=True),
        "lu_solve": lambda: lib.lu_solve(ab, *lib.linalg.lu_factor(spd)),
        "conv_tbc": lambda: lib.conv_tbc(lib.tensor(_arr(5, 2, 3)), lib.tensor(_arr(3, 3, 4)), lib.tensor(_arr(4))),
        "matrix_power(a, 3)": lambda: lib.linalg.matrix_power(a, 3),
        "matrix_power(a, n=1)": lambda: lib.linalg.matrix_power(a, n=1),
        "matrix_power(a, n=-1)": lambda: lib.linalg.matrix_power(spd, n=-1),
        "matrix_power(a, -2)": lambda: lib.linalg.matrix_power(spd, -2),
        "chain_matmul": lambda: lib.chain_matmul(a, a, a),
    }


def test_autocast_cpu_tables_match_torch():
    got = {}
    for lib in (torch, ej):
        for name, f in _autocast_cases(lib).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with lib.autocast("cpu", dtype=lib.bfloat16):
                    got.setdefault(name, []).append(str(f().dtype).split(".")[-1])
    assert {k: v[1] for k, v in got.items()} == {k: v[0] for k, v in got.items()}


@pytest.mark.parametrize("mode", MODES)
def test_autocast_fp32_ops_in_every_mode(mode):
    lb = np.linalg.cholesky(_arr(4, 4) @ _arr(4, 4).T + 4 * np.eye(4, dtype=np.float32)).astype(np.float32)

    def f(a, lo):
        with ej.autocast("cpu", dtype=ej.bfloat16):
            return ej.cholesky_solve(a.bfloat16(), lo.bfloat16()), ej.linalg.matrix_power(a, 2)

    x, p = _run(mode, f, ej.tensor(_arr(4, 4)), ej.tensor(lb))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tx = torch.cholesky_solve(torch.tensor(_arr(4, 4)).bfloat16(), torch.tensor(lb).bfloat16())
        tp = torch.linalg.matrix_power(torch.tensor(_arr(4, 4)), 2)
    np.testing.assert_allclose(x, _np(tx), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(p, _np(tp))


# --------------------------------------------------------------------------- 4. products of mixed dtypes
def _mixed_cases(lib):
    f = lib.ones(2, 2)
    b, d, i = f.bfloat16(), f.to(lib.float16), f.int()
    F = lib.nn.functional
    return {
        "b @ f": lambda: b @ f,
        "f @ i": lambda: f @ i,
        "i @ f": lambda: i @ f,
        "vec @ vec": lambda: b[0] @ f[0],
        "mat @ vec": lambda: b @ f[0],
        "vec @ mat": lambda: b[0] @ f,
        "3d @ 3d": lambda: b[None] @ f[None],
        "3d @ 2d": lambda: b[None] @ f,
        "2d @ 3d": lambda: b @ f[None],
        "3d @ vec": lambda: b[None] @ f[0],
        "mm": lambda: lib.mm(f, d),
        "bmm": lambda: lib.bmm(b[None], f[None]),
        "mv": lambda: lib.mv(f, b[0]),
        "dot": lambda: lib.dot(d[0], f[0]),
        "addmm self": lambda: lib.addmm(b, f, f),
        "addmm mats": lambda: lib.addmm(f, b, f),
        "addbmm": lambda: lib.addbmm(f, f[None], b[None]),
        "baddbmm input": lambda: lib.baddbmm(b[None], f[None], f[None]),
        "baddbmm batches": lambda: lib.baddbmm(f[None], f[None], b[None]),
        "addmv": lambda: lib.addmv(f[0], b, f[0]),
        "linear bias": lambda: F.linear(f, f, b[0]),
        "linear 3d bias": lambda: F.linear(f[None], f, i[0]),
        "conv_tbc": lambda: lib.conv_tbc(b[None], f[None], f[0]),
    }


def _error(f):
    try:
        f()
    except Exception as e:  # noqa: BLE001 - the error itself is compared
        return type(e).__name__, str(e)
    return None


def test_mixed_dtype_products_raise_torchs_errors():
    want = {k: _error(f) for k, f in _mixed_cases(torch).items()}
    got = {k: _error(f) for k, f in _mixed_cases(ej).items()}
    assert all(w is not None for w in want.values())
    assert got == want


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_mixed_dtype_products_raise_in_traced_modes(mode):
    a, b = ej.ones(2, 2), ej.ones(2, 2).bfloat16()
    with pytest.raises(
        RuntimeError, match="expected m1 and m2 to have the same dtype, but got: float != c10::BFloat16"
    ):
        _run(mode, lambda x, y: x @ y, a, b)


@pytest.mark.parametrize("mode", MODES)
def test_mixed_dtype_products_cast_under_autocast(mode):
    a, b = _arr(3, 4), _arr(4, 2)

    def f(x, y):
        with ej.autocast("cpu", dtype=ej.bfloat16):
            return x.bfloat16() @ y, ej.mm(x, y.bfloat16())

    got = _run(mode, f, ej.tensor(a), ej.tensor(b))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = torch.tensor(a).bfloat16() @ torch.tensor(b)
    for g in got:
        np.testing.assert_array_equal(g, _np(want))


# --------------------------------------------------------------------------- 5. ormqr, conv_tbc
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("left,transpose", [(True, False), (True, True), (False, False), (False, True)])
def test_ormqr_matches_torch(left, transpose, mode):
    a, tau = _arr(5, 3, scale=0.5), np.abs(_arr(3, seed=1, scale=0.5))
    c = _arr(5, 3, seed=2) if left else _arr(4, 5, seed=2)
    if not left:
        tau = tau[: min(c.shape[-1], 3)]
    res = []
    for lib in (torch, ej):
        ts = [lib.tensor(x, requires_grad=True) for x in (a, tau, c)]

        def step(*t, lib=lib):
            y = lib.ormqr(*t, left, transpose)
            (y * y).sum().backward()
            return y

        y = _np(step(*ts)) if lib is torch else _run(mode, step, *ts)
        res.append((y, [t.grad.numpy() for t in ts]))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-5, atol=1e-5)
    for e, t in zip(res[1][1], res[0][1]):
        np.testing.assert_allclose(e, t, rtol=1e-3, atol=1e-3 * np.abs(t).max())


def test_ormqr_of_geqrf_applies_q_and_errors_match_torch():
    a = _arr(5, 3)
    qr, tau = ej.geqrf(ej.tensor(a))
    q = ej.linalg.householder_product(qr, tau)
    np.testing.assert_allclose(ej.ormqr(qr, tau, ej.eye(5))[:, :3].numpy(), q.numpy(), rtol=1e-5, atol=1e-6)
    cases = [
        lambda L: L.ormqr(L.ones(3), L.ones(1), L.ones(3, 3)),
        lambda L: L.ormqr(L.ones(3, 3), L.ones(3), L.ones(4, 3)),
        lambda L: L.ormqr(L.ones(3, 3), L.ones(3), L.ones(3, 4), False),
        lambda L: L.ormqr(L.ones(3, 3), L.ones(2), L.ones(3, 3)),
        lambda L: L.ormqr(L.ones(3, 3), L.ones(3).half(), L.ones(3, 3)),
        lambda L: L.ormqr(L.ones(3, 3).int(), L.ones(3).int(), L.ones(3, 3).int()),
        lambda L: L.ormqr(L.ones(2, 3, 3), L.ones(2, 3), L.ones(3, 3)),
    ]
    for c in cases:
        assert _error(lambda c=c: c(ej)) == _error(lambda c=c: c(torch))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("t,k,pad", [(5, 3, 0), (5, 3, 2), (4, 1, 1), (2, 3, 0)])
def test_conv_tbc_matches_torch(t, k, pad, mode):
    arrs = [_arr(t, 2, 3), _arr(k, 3, 4, seed=1), _arr(4, seed=2)]
    res = []
    for lib in (torch, ej):
        ts = [lib.tensor(x, requires_grad=True) for x in arrs]

        def step(*ts_, lib=lib):
            y = lib.conv_tbc(*ts_, pad)
            (y * y).sum().backward()
            return y

        y = _np(step(*ts)) if lib is torch else _run(mode, step, *ts)
        res.append((y, [x.grad.numpy() for x in ts]))
    assert res[1][0].shape == res[0][0].shape
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-5, atol=1e-5)
    for e, g in zip(res[1][1], res[0][1]):
        np.testing.assert_allclose(e, g, rtol=1e-5, atol=1e-5)


def test_conv_tbc_errors_match_torch():
    cases = [
        lambda L: L.conv_tbc(L.ones(5, 2), L.ones(3, 3, 4), L.ones(4)),
        lambda L: L.conv_tbc(L.ones(5, 2, 3), L.ones(3, 3), L.ones(4)),
        lambda L: L.conv_tbc(L.ones(5, 2, 3), L.ones(3, 3, 4), L.ones(4, 1)),
        lambda L: L.conv_tbc(L.ones(5, 2, 3), L.ones(3, 2, 4), L.ones(4)),
        lambda L: L.conv_tbc(L.ones(5, 2, 3), L.ones(3, 3, 4), L.ones(3)),
        lambda L: L.conv_tbc(L.ones(1, 2, 3), L.ones(3, 3, 4), L.ones(4)),
    ]
    for c in cases:
        want = _error(lambda c=c: c(torch))
        assert want is not None and _error(lambda c=c: c(ej)) == want


# --------------------------------------------------------------------------- 6. containers and Module.type
def test_parameter_dict_fromkeys():
    for lib in (torch, ej):
        p = lib.nn.Parameter(lib.ones(2))
        d = lib.nn.ParameterDict({"z": p}).fromkeys(["a", "b"], p)
        assert type(d) is lib.nn.ParameterDict and list(d.keys()) == ["a", "b"]
        assert d["a"] is p and d["b"] is p
        d2 = lib.nn.ParameterDict().fromkeys(["x"], lib.ones(3))
        assert isinstance(d2["x"], lib.nn.Parameter)
        assert len(lib.nn.ParameterDict().fromkeys([])) == 0


@pytest.mark.parametrize("mode", MODES)
def test_module_type_casts_parameters_buffers_and_grads(mode):
    dtypes = []
    for lib in (torch, ej):
        m = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.BatchNorm1d(2))
        m[0].weight.grad = lib.ones(2, 3)
        w = m[0].weight
        assert m.type(lib.float16) is m
        assert m[0].weight is w  # (in place: optimizers keep their parameters)
        dtypes.append(
            [str(t.dtype).split(".")[-1] for t in (*m.parameters(), *m.buffers(), m[0].weight.grad)]
            + [m[0].weight.type(), m.type("torch.FloatTensor")[1].running_mean.type()]
        )
    assert dtypes[1] == dtypes[0]
    m = ej.nn.Linear(3, 2).type(ej.float16)
    y = _run(mode, lambda x: m(x), ej.tensor(_arr(4, 3)).half())
    tm = torch.nn.Linear(3, 2)
    tm.load_state_dict({k: torch.tensor(v.float().numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(y, _np(tm.type(torch.float16)(torch.tensor(_arr(4, 3)).half())))
