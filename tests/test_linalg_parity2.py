"""Linear algebra against torch 2.13 (values, gradients and errors) in eager, ``ej.compile`` and
``ej.lazy()``: the triangle ``eigh``/``eigvalsh``/``cholesky`` read, complex ``logdet``, the
tolerances of ``matrix_rank``/``pinv``, norm gradients at zero entries, gradients through a full
SVD of a non-square matrix and through ``eig``/``eigvals``, ``solve``'s vector rule and
broadcasting, ``svd(compute_uv=False)``, ``cholesky``'s LinAlgError (eager) and torch's errors."""

import contextlib
import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
MODES = ["eager", "compile", "lazy"]
INF = float("inf")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _np(t):
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t.numpy())


def _in_mode(mode, fn):
    if mode == "compile":
        return ej.compile(fn)()
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        return fn()


def _loss(lib, outs, weights):
    tot = 0
    for o, w in zip(outs, weights):
        if w is None:
            continue
        if o.is_complex():
            tot = tot + (lib.real(o) * lib.tensor(w[0])).sum() + (lib.imag(o) * lib.tensor(w[1])).sum()
        else:
            tot = tot + (o * lib.tensor(w[0])).sum()
    return tot


def _outs(lib, fn, leaves):
    out = fn(lib, *leaves)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _weights(outs, seed=1):
    r = _rng(seed)
    ws = []
    for o in outs:
        if not (o.is_floating_point() or o.is_complex()):
            ws.append(None)
            continue
        shape = tuple(o.shape)
        ws.append((r.standard_normal(shape).astype(np.float32), r.standard_normal(shape).astype(np.float32)))
    return ws


def check(fn, *arrays, grad=True, atol=1e-4, rtol=1e-4, post=None):
    """``fn(lib, *leaves)`` in torch and in each mode of eagerjax: the outputs (through ``post``)
    and, with ``grad``, each leaf's gradient of a random weighted sum of them."""
    post = post or (lambda lib, outs: outs)
    tl = [torch.tensor(a, requires_grad=grad) for a in arrays]
    tout = post(torch, _outs(torch, fn, tl))
    ws = _weights(tout)
    if grad:
        _loss(torch, tout, ws).backward()
    want = [_np(o) for o in tout]
    wgrad = [_np(t.grad) for t in tl] if grad else []
    for mode in MODES:
        el = [ej.tensor(a, requires_grad=grad) for a in arrays]

        def step(el=el):
            outs = post(ej, _outs(ej, fn, el))
            if grad:
                _loss(ej, outs, ws).backward()
            return outs

        outs = _in_mode(mode, step)
        for g, w in zip(outs, want):
            assert tuple(g.shape) == w.shape, (mode, g.shape, w.shape)
            np.testing.assert_allclose(_np(g), w, atol=atol, rtol=rtol, err_msg=mode)
        for t, w in zip(el, wgrad):
            np.testing.assert_allclose(_np(t.grad), w, atol=atol, rtol=rtol, err_msg=f"{mode} grad")


def raises_like(fn, *arrays, modes=MODES):
    """torch's error (type and message) for ``fn(lib, *tensors)`` in every mode."""
    with pytest.raises(Exception) as want:
        fn(torch, *[torch.tensor(a) for a in arrays])
    for mode in modes:
        with pytest.raises(type(want.value)) as got:
            _in_mode(mode, lambda: fn(ej, *[ej.tensor(a) for a in arrays]))
        assert str(got.value) == str(want.value), mode


# --------------------------------------------------------------------------- 1. one triangle
NONSYM = np.array([[2.0, 5.0, 7.0], [1.0, 3.0, 9.0], [0.0, 1.0, 4.0]], np.float32)


def _eigh_post(lib, outs):
    w, v = outs
    return w, (v * w[..., None, :]) @ v.mT  # sign-independent


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_reads_one_triangle(uplo):
    check(lambda M, a: M.linalg.eigvalsh(a, UPLO=uplo), NONSYM)
    check(lambda M, a: M.linalg.eigh(a, UPLO=uplo), NONSYM, post=_eigh_post, atol=2e-4)
    b = _rng(3).standard_normal((2, 4, 4)).astype(np.float32)
    check(lambda M, a: M.linalg.eigh(a, uplo), b, post=_eigh_post, atol=2e-4)


def test_eigh_complex_reads_one_triangle():
    r = _rng(4)
    c = (r.standard_normal((3, 3)) + 1j * r.standard_normal((3, 3))).astype(np.complex64)
    for uplo in "LU":
        check(lambda M, a, u=uplo: M.linalg.eigvalsh(a, UPLO=u), c)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_reads_one_triangle(upper):
    p = np.array([[4.0, 9.0, 9.0], [1.0, 5.0, 9.0], [1.0, 2.0, 6.0]], np.float32)  # lower SPD
    p = p.T.copy() if upper else p
    check(lambda M, a: M.linalg.cholesky(a, upper=upper), p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda M, a: M.cholesky(a, upper), p)


def test_cholesky_not_positive_definite_raises_eagerly():
    a = np.stack([np.eye(3), np.diag([1.0, 1.0, -1.0])]).astype(np.float32)
    for fn in (lambda M, x: M.linalg.cholesky(x), lambda M, x: M.linalg.cholesky(-x[0])):
        with pytest.raises(torch.linalg.LinAlgError) as want:
            fn(torch, torch.tensor(a))
        with pytest.raises(ej.linalg.LinAlgError) as got:
            fn(ej, ej.tensor(a))
        assert str(got.value) == str(want.value)
        assert isinstance(got.value, RuntimeError)
    u = np.diag([1.0, -1.0, -1.0]).astype(np.float32)
    with pytest.raises(ej.linalg.LinAlgError, match="order 2"):
        ej.linalg.cholesky(ej.tensor(u), upper=True)
    # inside ej.compile / ej.lazy() the values are not known: NaNs, no error
    for mode in ("compile", "lazy"):
        out = _in_mode(mode, lambda: ej.linalg.cholesky(-ej.eye(2)))
        assert np.isnan(_np(out)).any()


# --------------------------------------------------------------------------- 2. complex logdet
def test_logdet_complex():
    r = _rng(0)
    c = (r.standard_normal((3, 3)) + 1j * r.standard_normal((3, 3))).astype(np.complex64)
    check(lambda M, a: M.logdet(a), c)
    b = (r.standard_normal((2, 3, 3)) + 1j * r.standard_normal((2, 3, 3))).astype(np.complex64)
    check(lambda M, a: M.logdet(a), b)
    check(lambda M, a: M.logdet(a), np.zeros((2, 2), np.complex64), grad=False)
    check(lambda M, a: M.logdet(a), -np.eye(3, dtype=np.float32), grad=False)


# --------------------------------------------------------------------------- 3. tolerances
@pytest.mark.parametrize(
    "kw",
    [{}, {"rtol": 0.1}, {"atol": 1.0}, {"atol": 1.0, "rtol": 0.0}, {"atol": 0.0}, {"tol": 1.0}, {"hermitian": True}],
)
def test_matrix_rank_tolerances(kw):
    d = np.diag([10.0, 3.0, 0.5, 1e-7]).astype(np.float32)
    check(lambda M, a: M.linalg.matrix_rank(a, **kw), d, grad=False)
    b = np.array([[1.0, 2.0], [0.5, 1.0]], np.float32)  # rank 1; its lower triangle's matrix has rank 2
    check(lambda M, a: M.linalg.matrix_rank(a, **kw), b, grad=False)


def test_matrix_rank_tensor_atol_and_positional_tol():
    d = np.diag([10.0, 3.0, 0.5, 1e-7]).astype(np.float32)
    check(lambda M, a: M.linalg.matrix_rank(a, atol=M.tensor([1.0, 0.1])), d, grad=False)
    check(lambda M, a: M.linalg.matrix_rank(a, 1.0, True), d, grad=False)


@pytest.mark.parametrize("kw", [{}, {"atol": 1.0}, {"atol": 1.0, "rtol": 0.0}, {"rtol": 0.2}, {"atol": 0.0}])
def test_pinv_tolerances(kw):
    d = np.diag([10.0, 3.0, 0.5]).astype(np.float32)
    check(lambda M, a: M.linalg.pinv(a, **kw), d)
    a = _rng(5).standard_normal((4, 3)).astype(np.float32)
    check(lambda M, x: M.linalg.pinv(x, **kw), a, atol=1e-3, rtol=1e-3)


def test_pinv_hermitian_reads_the_lower_triangle():
    check(lambda M, a: M.linalg.pinv(a, hermitian=True), np.array([[2.0, 5.0], [1.0, 3.0]], np.float32), grad=False)


# --------------------------------------------------------------------------- 4. norm gradients at zero
_CASES = [
    (lambda M, a: M.linalg.vector_norm(a, INF), np.zeros(4, np.float32)),
    (lambda M, a: M.linalg.vector_norm(a, -INF), np.zeros(4, np.float32)),
    (lambda M, a: M.linalg.vector_norm(a, INF), np.array([0.0, 3.0, -3.0, 1.0], np.float32)),
    (lambda M, a: M.linalg.matrix_norm(a, 1), 2 * np.eye(3, dtype=np.float32)),
    (lambda M, a: M.linalg.matrix_norm(a, -1), 2 * np.eye(3, dtype=np.float32)),
    (lambda M, a: M.linalg.matrix_norm(a, INF), 2 * np.eye(3, dtype=np.float32)),
    (lambda M, a: M.linalg.matrix_norm(a, -INF), 2 * np.eye(3, dtype=np.float32)),
    (lambda M, a: M.cdist(a, a.detach().clone(), p=INF), np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)),
    (lambda M, a: M.cdist(a, a.detach().clone(), p=0.5), np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)),
    (lambda M, a: M.cdist(a, a.detach().clone(), p=1.5), np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)),
    (lambda M, a: M.cdist(a, a.detach().clone(), p=3.0), np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)),
]
for _p in (0.5, -1.0, -2.0, 1.5, 3.0, 1.0, 2.0):
    _CASES.append((lambda M, a, p=_p: M.linalg.vector_norm(a, p), np.zeros(3, np.float32)))
    _CASES.append((lambda M, a, p=_p: M.linalg.vector_norm(a, p), np.array([0.0, 2.0, -1.0], np.float32)))
    _CASES.append(
        (lambda M, a, p=_p: M.linalg.vector_norm(a, p, dim=1), np.array([[0.0, 0.0], [1.0, -3.0]], np.float32))
    )


@pytest.mark.parametrize("i", range(len(_CASES)))
def test_norm_gradients_at_zero(i):
    fn, x = _CASES[i]
    check(fn, x, atol=1e-5)


def test_complex_norm_gradients_at_zero():
    z = np.array([0, 1 + 1j, -2j], np.complex64)
    for p in (1.0, INF, 0.5, 3.0):
        check(lambda M, a, p=p: M.linalg.vector_norm(a, p), z, atol=1e-5)


# --------------------------------------------------------------------------- 5. full SVD gradients
def _svd_loss_post(lib, outs):
    u, s, vh = outs
    k = s.shape[-1]
    uk, vk = u[..., :k], vh[..., :k, :]
    return s, (uk * s[..., None, :]) @ vk, uk.abs(), vk.abs()  # (sign-independent)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 3)])
def test_full_svd_gradient(shape):
    a = _rng(0).standard_normal(shape).astype(np.float32)
    check(lambda M, x: M.linalg.svd(x), a, post=_svd_loss_post, atol=1e-3, rtol=1e-3)
    check(lambda M, x: M.linalg.svd(x)[1], a, atol=1e-4)

    def tsvd(M, x):
        u, s, v = M.svd(x, some=False)
        return u, s, v.mT

    check(tsvd, a, post=_svd_loss_post, atol=1e-3, rtol=1e-3)


def test_svd_compute_uv_false():
    a = _rng(1).standard_normal((5, 3)).astype(np.float32)
    for some in (True, False):
        check(lambda M, x, s=some: M.svd(x, some=s, compute_uv=False), a, atol=1e-4)
    check(lambda M, x: M.svd(x, compute_uv=False), _rng(2).standard_normal((2, 3, 5)).astype(np.float32), atol=1e-4)


# --------------------------------------------------------------------------- 6. eig gradients
def _eig_post(lib, outs):
    w, v = outs
    return w, v.abs()  # |V| does not depend on the eigenvectors' phases


@pytest.mark.parametrize("seed", [0, 1])
def test_eig_gradients(seed):
    a = _rng(seed).standard_normal((4, 4)).astype(np.float32)
    check(lambda M, x: M.linalg.eigvals(x), a, atol=1e-3, rtol=1e-3)
    check(lambda M, x: M.linalg.eig(x)[0], a, atol=1e-3, rtol=1e-3)
    check(lambda M, x: M.linalg.eig(x), a, post=_eig_post, atol=1e-3, rtol=1e-3)


def test_eig_gradients_complex_and_batched():
    r = _rng(7)
    c = (r.standard_normal((3, 3)) + 1j * r.standard_normal((3, 3))).astype(np.complex64)
    check(lambda M, x: M.linalg.eig(x), c, post=_eig_post, atol=1e-3, rtol=1e-3)
    b = r.standard_normal((2, 3, 3)).astype(np.float32)
    check(lambda M, x: M.linalg.eigvals(x), b, atol=1e-3, rtol=1e-3)


# --------------------------------------------------------------------------- 7. solve
@pytest.mark.parametrize(
    "sa,sb,left",
    [
        ((2, 1, 4, 4), (3, 2, 4), False),
        ((2, 1, 4, 4), (3, 4, 2), True),
        ((4, 4), (2, 3, 4, 2), True),
        ((2, 4, 4), (2, 4), True),
        ((2, 4, 4), (4,), True),
        ((3, 3, 3), (3, 3), True),
        ((2, 4, 4), (4, 3), True),
        ((4, 4), (3, 4), False),
        ((2, 3, 3), (5, 1, 2, 3), False),
    ],
)
def test_solve_shapes(sa, sb, left):
    r = _rng(0)
    a = (r.standard_normal(sa) + 3 * np.eye(sa[-1])).astype(np.float32)
    b = r.standard_normal(sb).astype(np.float32)
    check(lambda M, x, y: M.linalg.solve(x, y, left=left), a, b, atol=1e-3, rtol=1e-3)


# --------------------------------------------------------------------------- 9. errors
def _qr_backward(mode, shape):
    def fn(M, a):
        a = a.requires_grad_()
        q, r = M.linalg.qr(a, mode=mode)
        (r.sum() + (q.sum() if q.numel() else 0)).backward()
        return r

    return fn


_ERRS = [
    (lambda M, a, b: M.linalg.solve(a, b), (np.eye(4, dtype=np.complex64), np.ones((4, 2), np.float32))),
    (lambda M, a, b: M.linalg.solve(a, b), (np.eye(2, dtype=np.float32), np.ones((2, 2), np.complex64))),
    (lambda M, a, b: M.linalg.solve(a, b, left=False), (np.eye(4, dtype=np.float32), np.ones(4, np.float32))),
    (
        lambda M, a, b: M.linalg.solve(a, b, left=False),
        (np.stack([np.eye(4, dtype=np.float32)] * 2), np.ones((2, 4), np.float32)),
    ),
    (lambda M, a, b: M.linalg.solve(a, b), (np.eye(4, dtype=np.float32), np.ones(5, np.float32))),
    (lambda M, a, b: M.linalg.solve(a, b), (np.stack([np.eye(4, dtype=np.float32)] * 2), np.ones((1, 4), np.float32))),
    (lambda M, a: M.linalg.multi_dot([a]), (np.ones((3, 3), np.float32),)),
    (lambda M, a: M.linalg.multi_dot([a, a[0], a]), (np.ones((3, 3), np.float32),)),
    (lambda M, a: M.linalg.multi_dot([a[None], a]), (np.ones((3, 3), np.float32),)),
    (lambda M, a: M.linalg.multi_dot([a, a[None]]), (np.ones((3, 3), np.float32),)),
    (lambda M, a: M.linalg.multi_dot([a, a[:2]]), (np.ones((3, 3), np.float32),)),
    (lambda M, a, b: M.linalg.multi_dot([a, b]), (np.ones((3, 3), np.float32), np.ones((3, 3), np.complex64))),
    (lambda M, a, b: M.linalg.cross(a, b), (np.ones((2, 3), np.float32), np.ones(3, np.float32))),
    (lambda M, a, b: M.cross(a, b, dim=-1), (np.ones((2, 3), np.float32), np.ones(3, np.float32))),
    (lambda M, a: M.linalg.norm(a, "fro"), (np.ones(4, np.float32),)),
    (lambda M, a: M.linalg.norm(a, "nuc"), (np.ones(4, np.float32),)),
    (lambda M, a: M.linalg.norm(a, "fro", dim=1), (np.ones((2, 2), np.float32),)),
    (lambda M, a: M.linalg.norm(a, 2, dim=(0, 1, 2)), (np.ones((2, 2, 2), np.float32),)),
    (lambda M, a: M.linalg.norm(a, "nuc"), (np.ones((2, 2, 2), np.float32),)),
    (lambda M, a: M.linalg.eigh(a, UPLO="X"), (np.eye(2, dtype=np.float32),)),
]


@pytest.mark.parametrize("i", range(len(_ERRS)))
def test_errors_match_torch(i):
    fn, arrays = _ERRS[i]
    raises_like(fn, *arrays)


def test_vector_norm_of_integers_raises():
    for fn in (
        lambda M, a: M.linalg.vector_norm(a),
        lambda M, a: M.linalg.vector_norm(a, dtype=M.float32),
        lambda M, a: M.linalg.norm(a),
        lambda M, a: M.linalg.matrix_norm(a.reshape(2, 2)),
    ):
        with pytest.raises(RuntimeError) as want:
            fn(torch, torch.arange(4, dtype=torch.int32))
        for mode in MODES:
            with pytest.raises(RuntimeError) as got:
                _in_mode(mode, lambda fn=fn: fn(ej, ej.arange(4, dtype=ej.int32)))
            assert str(got.value) == str(want.value)


@pytest.mark.parametrize("mode_shape", [("r", (5, 3)), ("complete", (5, 3))])
def test_qr_backward_errors(mode_shape):
    qmode, shape = mode_shape
    a = _rng(0).standard_normal(shape).astype(np.float32)

    def run(M, mode="eager"):
        t = M.tensor(a, requires_grad=True)

        def step():
            q, r = M.linalg.qr(t, mode=qmode)
            loss = r.sum() + (q.sum() if q.numel() else 0)
            loss.backward()
            return loss

        return step() if M is torch else _in_mode(mode, step)

    with pytest.raises(RuntimeError) as want:
        run(torch)
    for mode in MODES:
        with pytest.raises(RuntimeError) as got:
            run(ej, mode)
        assert str(want.value) in str(got.value), mode


def test_qr_complete_is_differentiable_when_not_tall():
    a = _rng(0).standard_normal((3, 5)).astype(np.float32)
    check(lambda M, x: M.linalg.qr(x, mode="complete"), a, post=lambda M, o: (o[0] @ o[1], o[1].abs()), atol=1e-3)


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_ex_reads_the_named_triangle(mode, upper):
    """``cholesky_ex(upper=True)`` factors the upper triangle read as a Hermitian matrix."""
    a = np.array([[4.0, 1, 2], [0.5, 3, 0.7], [-9, 0.2, 5]], np.float32)
    a = a if upper else a.T  # (the triangle read is positive-definite)
    w = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    t = torch.tensor(a, requires_grad=True)
    lt, it = torch.linalg.cholesky_ex(t, upper=upper)
    (lt * torch.tensor(w)).sum().backward()

    def f(x):
        fac, info = ej.linalg.cholesky_ex(x, upper=upper)
        (fac * ej.tensor(w)).sum().backward()
        return fac.detach(), info

    x = ej.tensor(a, requires_grad=True)
    if mode == "compile":
        fac, info = ej.compile(f)(x)
    elif mode == "lazy":
        with ej.lazy():
            fac, info = f(x)
    else:
        fac, info = f(x)
    np.testing.assert_allclose(fac.numpy(), lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert int(info) == int(it) == 0
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_solve_ex_refuses_mixed_dtypes_as_torch():
    for lib in (torch, ej):
        with pytest.raises(RuntimeError, match="linalg.solve: Expected A and B to have the same dtype"):
            lib.linalg.solve_ex(lib.eye(2), lib.ones(2, dtype=lib.float16))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", ["fro", 1, float("inf"), "nuc"])
def test_norm_of_integers_raises_as_torch(p, mode):
    """``torch.norm`` is linalg's vector (matrix, for "nuc") norm: integer inputs raise, even with
    ``dtype=``; a float input of the same values gives torch's value."""
    a = [[3, 4], [1, 2]]
    kernel = "linalg.matrix_norm" if p == "nuc" else "linalg.vector_norm"
    with pytest.raises(RuntimeError, match=f"{kernel}: Expected a floating point or complex tensor as input"):
        torch.norm(torch.tensor(a), p=p)

    def ours(x):
        return ej.norm(x, p=p)

    for kw in ({}, {"dtype": ej.float32}):
        with pytest.raises(RuntimeError, match=f"{kernel}: Expected a floating point or complex tensor as input"):
            if mode == "compile":
                ej.compile(lambda x: ej.norm(x, p=p, **kw))(ej.tensor(a))
            elif mode == "lazy":
                with ej.lazy():
                    ej.norm(ej.tensor(a), p=p, **kw).numpy()
            else:
                ej.tensor(a).norm(p=p, **kw)
    want = torch.norm(torch.tensor(a, dtype=torch.float32), p=p).numpy()
    got = (
        ej.compile(ours)(ej.tensor(a, dtype=ej.float32)) if mode == "compile" else ours(ej.tensor(a, dtype=ej.float32))
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
