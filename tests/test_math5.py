"""cov / histogram / gradient & co (``_ops/_math5.py``), the ``*_scatter`` / ``index_reduce`` /
``put`` rows (``_ops/_indexing2.py``), triangular and Cholesky solves and the ``linalg.*_ex``
rows (``_ops/_linalg5.py``), the Hermitian n-d FFTs and ``Tensor.cauchy_`` & co: what
tests/op_cases.py cannot express (torch's errors, in-place forms, ``info`` and
``check_errors``, random fills) and the rows in eager, ``ej.compile`` and ``ej.lazy()`` runs."""

import math

import numpy as np
import pytest
from test_special import _close  # the shared comparison helper

import eagerjax as ej
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:.*is deprecated:UserWarning", "ignore:index_reduce\\(\\) is in beta:UserWarning"
    ),
    pytest.mark.usefixtures("fresh_lazy"),  # (tests/conftest.py)
]


def _t(m, a):
    return m.tensor(np.asarray(a))


def _message(e: Exception, want: str) -> str:
    """Our first line without what dispatch adds to an error raised while tracing a row (the
    operand shapes behind, the row's name in front where torch's message has none)."""
    msg = str(e).split(" (operands:")[0]
    head, sep, rest = msg.partition("(): ")
    if sep and head.isidentifier() and not want.startswith(head + "(): "):
        return rest
    return msg


_I = np.array([0, 1], np.int64)
_SING = np.array([[1.0, 2.0], [2.0, 4.0]], np.float32)
_ERRORS = {
    "cov 3-d": lambda m: m.cov(m.zeros(2, 2, 2)),
    "cov float fweights": lambda m: m.cov(m.zeros(2, 3), fweights=m.ones(3)),
    "cov fweights size": lambda m: m.cov(m.zeros(2, 3), fweights=_t(m, np.array([1, 2]))),
    "cov int aweights": lambda m: m.cov(m.zeros(2, 3), aweights=_t(m, np.array([1, 2, 3], np.int32))),
    "cov 2-d fweights": lambda m: m.cov(m.zeros(2, 4), fweights=_t(m, np.ones((2, 2), np.int64))),
    "cov negative fweights": lambda m: m.cov(m.zeros(2, 2), fweights=_t(m, np.array([1, -1]))),
    "corrcoef 3-d": lambda m: m.corrcoef(m.zeros(2, 2, 2)),
    "histogram of ints": lambda m: m.histogram(_t(m, np.arange(4, dtype=np.int32)), 3),
    "frexp of ints": lambda m: m.frexp(_t(m, np.arange(3))),
    "vander 2-d": lambda m: m.vander(m.ones(2, 2)),
    "linalg.vander N=1": lambda m: m.linalg.vander(m.ones(3), N=1),
    "renorm p<=0": lambda m: m.renorm(m.ones(3, 2), -1, 0, 1.0),
    "renorm maxnorm<0": lambda m: m.renorm(m.ones(3, 2), 2, 0, -1.0),
    "unravel_index float": lambda m: m.unravel_index(m.tensor([1.0]), (2, 4)),
    "unravel_index negative shape": lambda m: m.unravel_index(m.tensor([1]), (2, -4)),
    "trapezoid x size": lambda m: m.trapezoid(m.ones(3, 2), m.ones(3)),
    "gradient edge_order 3": lambda m: m.gradient(m.ones(3), edge_order=3),
    "gradient too short": lambda m: m.gradient(m.ones(2), edge_order=2),
    "select_scatter index": lambda m: m.select_scatter(m.ones(3, 2), m.zeros(2), 0, 3),
    "select_scatter src": lambda m: m.select_scatter(m.ones(3, 2), m.zeros(3), 0, 1),
    "slice_scatter src": lambda m: m.slice_scatter(m.ones(4, 2), m.zeros(3, 2), 0, 1, 3),
    "diagonal_scatter src": lambda m: m.diagonal_scatter(m.ones(3, 3), m.zeros(3), 1),
    "index_reduce sum": lambda m: m.index_reduce(m.ones(3, 2), 0, _t(m, _I), m.ones(2, 2), "sum"),
    "index_reduce range": lambda m: m.index_reduce(m.ones(3, 2), 0, _t(m, np.array([0, 5])), m.ones(2, 2), "prod"),
    "index_reduce count": lambda m: m.index_reduce(m.ones(3, 2), 0, _t(m, _I), m.ones(3, 2), "prod"),
    "index_reduce shape": lambda m: m.index_reduce(m.ones(3, 2), 0, _t(m, _I), m.ones(2, 3), "prod"),
    "index_reduce dtype": lambda m: m.index_reduce(m.ones(3, 2), 0, _t(m, _I), m.ones(2, 2, dtype=m.int32), "amax"),
    "put range": lambda m: m.put(m.ones(3, 2), _t(m, np.array([0, 7])), m.ones(2)),
    "put count": lambda m: m.ones(3, 2).put_(_t(m, _I), m.ones(3)),
    "put dtype": lambda m: m.ones(3, 2).put(_t(m, _I), _t(m, np.array([5, 6], np.int32))),
    "fill_diagonal_ 1-d": lambda m: m.ones(2).fill_diagonal_(2.0),
    "fill_diagonal_ unequal": lambda m: m.ones(3, 2, 2).fill_diagonal_(2.0),
    "sum_to_size": lambda m: m.ones(3, 2).sum_to_size(4),
    "sum_to_size longer": lambda m: m.ones(3, 2).sum_to_size(3, 2, 1),
    "chain_matmul 1-d": lambda m: m.chain_matmul(m.ones(2, 3), m.ones(3)),
    "chain_matmul none": lambda m: m.chain_matmul(),
    "cholesky_solve 1-d": lambda m: m.cholesky_solve(m.ones(2), m.eye(2)),
    "cholesky_solve sizes": lambda m: m.cholesky_solve(m.ones(3, 1), m.eye(2)),
    "cholesky_inverse 1-d": lambda m: m.cholesky_inverse(m.ones(3)),
    "solve_triangular 1-d B": lambda m: m.linalg.solve_triangular(m.eye(2), m.ones(2), upper=True),
    "solve_triangular sizes": lambda m: m.linalg.solve_triangular(m.eye(2), m.ones(3, 2), upper=True),
    "inv_ex check_errors": lambda m: m.linalg.inv_ex(_t(m, _SING), check_errors=True),
    "inv_ex batch check_errors": lambda m: m.linalg.inv_ex(m.stack([m.eye(2), _t(m, _SING)]), check_errors=True),
    "solve_ex check_errors": lambda m: m.linalg.solve_ex(_t(m, _SING), m.ones(2), check_errors=True),
    "lu_factor_ex check_errors": lambda m: m.linalg.lu_factor_ex(_t(m, _SING), check_errors=True),
    "cholesky_ex check_errors": lambda m: m.linalg.cholesky_ex(m.stack([m.eye(2), -m.eye(2)]), check_errors=True),
    "ldl_factor 1-d": lambda m: m.linalg.ldl_factor(m.ones(3)),
    "ldl_factor not square": lambda m: m.linalg.ldl_factor(m.ones(2, 3)),
    "ldl_factor ints": lambda m: m.linalg.ldl_factor(m.ones(2, 2, dtype=m.int32)),
    "ldl_factor half": lambda m: m.linalg.ldl_factor(m.eye(2, dtype=m.float16)),
    "ldl_solve 1-d B": lambda m: m.linalg.ldl_solve(*m.linalg.ldl_factor(m.eye(3)), m.ones(3)),
    "ldl_solve sizes": lambda m: m.linalg.ldl_solve(*m.linalg.ldl_factor(m.eye(3)), m.ones(2, 3)),
    "ldl_solve dtype": lambda m: m.linalg.ldl_solve(*m.linalg.ldl_factor(m.eye(3)), m.ones(3, 2, dtype=m.complex64)),
    "ldl_solve pivots": lambda m: m.linalg.ldl_solve(m.eye(3), m.ones(2, dtype=m.int32), m.ones(3, 2)),
    "ihfftn complex": lambda m: m.fft.ihfftn(m.ones(2, 2, dtype=m.complex64)),
    "hfftn norm": lambda m: m.fft.hfftn(m.ones(2, 2), norm="bad"),
    "cauchy_ sigma": lambda m: m.ones(2).cauchy_(sigma=0),
    "cauchy_ ints": lambda m: m.ones(2, dtype=m.int32).cauchy_(),
    "geometric_ p": lambda m: m.ones(2).geometric_(1.5),
    "log_normal_ std": lambda m: m.ones(2).log_normal_(std=-1.0),
    "log_normal_ ints": lambda m: m.ones(2, dtype=m.int32).log_normal_(),
}


@pytest.mark.parametrize("case", list(_ERRORS))
def test_errors_are_torchs(case):
    with pytest.raises(Exception) as te:
        _ERRORS[case](torch)
    with pytest.raises(Exception) as ee:
        _ERRORS[case](ej)
    if isinstance(te.value, torch.linalg.LinAlgError):
        assert isinstance(ee.value, ej.linalg.LinAlgError), type(ee.value)
    else:
        assert type(ee.value) is type(te.value), (type(ee.value), te.value)
    want = str(te.value).splitlines()[0]
    assert _message(ee.value, want) == want


def test_linalg_error_is_a_runtime_error():
    assert issubclass(ej.linalg.LinAlgError, RuntimeError)
    assert ej.linalg.LinAlgError.__name__ == "LinAlgError"


# --------------------------------------------------------------------------- info of the _ex rows
@pytest.mark.parametrize(
    "a",
    [
        np.array([[1.0, 2, 0], [2, 1, 0], [0, 0, 1]], np.float32),  # leading minor 2 fails
        np.array([[4.0, 1], [100, 1]], np.float32),  # only the lower triangle is read
        np.stack([np.eye(3, dtype=np.float32), -np.eye(3, dtype=np.float32), np.diag([1.0, 1, -1]).astype(np.float32)]),
    ],
)
def test_cholesky_ex_info_is_torchs(a):
    _, info = ej.linalg.cholesky_ex(ej.tensor(a))
    want = torch.linalg.cholesky_ex(torch.tensor(a)).info
    np.testing.assert_array_equal(info.numpy(), want.numpy())
    assert info.dtype == ej.int32


def test_lu_based_info_is_torchs():
    a = np.stack([np.eye(2, dtype=np.float32), _SING, np.zeros((2, 2), np.float32)])
    for ours, theirs in [
        (ej.linalg.inv_ex(ej.tensor(a)).info, torch.linalg.inv_ex(torch.tensor(a)).info),
        (ej.linalg.lu_factor_ex(ej.tensor(a)).info, torch.linalg.lu_factor_ex(torch.tensor(a)).info),
        (
            ej.linalg.solve_ex(ej.tensor(a), ej.ones(3, 2)).info,
            torch.linalg.solve_ex(torch.tensor(a), torch.ones(3, 2)).info,
        ),
    ]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    ok = RNG.standard_normal((3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
    res = ej.linalg.inv_ex(ej.tensor(ok), check_errors=True)
    _close(res.inverse, torch.linalg.inv(torch.tensor(ok)), 1e-4)
    assert int(res.info) == 0


def test_check_errors_is_eager_only():
    """An XLA program cannot raise: compiled, ``check_errors=True`` returns info instead."""
    f = ej.compile(lambda a: ej.linalg.inv_ex(a, check_errors=True).info)
    assert int(f(ej.tensor(_SING))) == 2


# --------------------------------------------------------------------------- in-place forms and kwargs
def test_inplace_forms_match_torch():
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    src = RNG.standard_normal((2, 3)).astype(np.float32)
    idx = np.array([3, 1])
    for name, call in [
        ("renorm_", lambda m, t: t.renorm_(2, 0, 1.0)),
        ("index_reduce_", lambda m, t: t.index_reduce_(0, _t(m, idx), _t(m, src), "amax", include_self=False)),
        ("put_", lambda m, t: t.put_(_t(m, np.array([0, -1, 5])), _t(m, src[0]), accumulate=True)),
        ("fill_diagonal_", lambda m, t: t.fill_diagonal_(-7.0, wrap=True)),
    ]:
        te, tt = ej.tensor(x), torch.tensor(x)
        r = call(ej, te)
        call(torch, tt)
        assert r is te, name
        _close(te, tt, what=name)


def test_inplace_keeps_gradients():
    x = RNG.standard_normal((3, 3)).astype(np.float32)
    outs = []
    for m in (ej, torch):
        w = m.tensor(x, requires_grad=True)
        y = w * 2
        y.fill_diagonal_(0.5)
        y.renorm_(1, 1, 2.0)
        (y * m.tensor(x)).sum().backward()
        outs.append(w.grad)
    _close(outs[0], outs[1], 1e-5)


def test_histogram_forms():
    x = RNG.standard_normal((20,)).astype(np.float32)
    for kw in [{}, {"range": (-1.0, 1.0)}, {"density": True}]:
        ours, theirs = ej.tensor(x).histogram(5, **kw), torch.tensor(x).histogram(5, **kw)
        _close(ours.hist, theirs.hist, 1e-5)
        _close(ours.bin_edges, theirs.bin_edges, 1e-5)
    same = ej.histogram(ej.ones(3), 2)  # min == max: widened by 0.5 each side, as torch
    _close(same.bin_edges, torch.histogram(torch.ones(3), 2).bin_edges)
    empty = ej.histogram(ej.zeros(0), 2)
    _close(empty.bin_edges, torch.histogram(torch.zeros(0), 2).bin_edges)


def test_nuclear_norm_keepdim_overload_and_isin_scalars():
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    _close(ej.nuclear_norm(ej.tensor(a), True), torch.nuclear_norm(torch.tensor(a), True), 1e-4)
    assert bool(ej.isin(2, ej.arange(4))) and not bool(ej.isin(2, ej.arange(4), invert=True))


def test_frexp_edges():
    v = np.array([0.0, -0.0, 1.0, -8.0, np.inf, -np.inf, np.nan, 3e38], np.float32)
    m, e = ej.frexp(ej.tensor(v))
    tm, tx = torch.frexp(torch.tensor(v))
    _close(m, tm)
    np.testing.assert_array_equal(e.numpy(), tx.numpy())


def test_gradient_spacing_forms():
    f = RNG.standard_normal((4, 5)).astype(np.float32)
    xs = [np.cumsum(RNG.uniform(0.2, 1, n)).astype(np.float32) for n in (4, 5)]
    for kw in [
        {"spacing": 2.0},
        {"spacing": (0.5, 3.0)},
        {"spacing": [ej.tensor(x) for x in xs], "edge_order": 2},
        {"dim": -1, "spacing": [ej.tensor(xs[1])]},
    ]:
        tkw = {
            k: ([torch.tensor(v.numpy()) for v in w] if k == "spacing" and isinstance(w, list) else w)
            for k, w in kw.items()
        }
        ours, theirs = ej.gradient(ej.tensor(f), **kw), torch.gradient(torch.tensor(f), **tkw)
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _close(o, t, 1e-4)


# --------------------------------------------------------------------------- random fills
def test_random_fills_follow_their_distributions():
    ej.manual_seed(0)
    n = 20000
    c = ej.empty(n).cauchy_(1.0, 2.0)
    q = np.quantile(c.numpy(), [0.25, 0.5, 0.75])
    np.testing.assert_allclose(q, [1 - 2, 1, 1 + 2], atol=0.15)  # Cauchy quartiles: median -+ sigma
    g = ej.empty(n, dtype=ej.int32).geometric_(0.25).numpy()
    assert g.dtype == np.int32 and g.min() >= 1
    assert abs(g.mean() - 4.0) < 0.15 and abs(g.var() - 12.0) < 1.0  # mean 1/p, variance (1-p)/p^2
    ln = ej.empty(n).log_normal_(0.5, 0.25).numpy()
    assert ln.min() > 0
    assert abs(np.log(ln).mean() - 0.5) < 0.01 and abs(np.log(ln).std() - 0.25) < 0.01


def test_random_fills_use_the_generator():
    def draws(seed):
        gen = ej.Generator().manual_seed(seed)
        t = ej.empty(5)
        return [
            t.cauchy_(generator=gen).numpy().copy(),
            t.geometric_(0.5, generator=gen).numpy().copy(),
            t.log_normal_(generator=gen).numpy().copy(),
        ]

    a, b, c = draws(3), draws(3), draws(4)
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_random_fills_compile_and_lazy():
    ej.manual_seed(1)
    buf = ej.zeros(6)

    def step():
        buf.cauchy_()
        buf.geometric_(0.3)
        return buf.log_normal_(0.0, 0.5) * 1

    assert_compile_equivalent(step, steps=2)


# --------------------------------------------------------------------------- compiled and lazy
def test_rows_compile_and_lazy():
    w = ej.tensor(RNG.uniform(0.5, 1.5, 6).astype(np.float32), requires_grad=True)
    spd = RNG.standard_normal((3, 3)).astype(np.float32)
    spd = ej.tensor(spd @ spd.T + 3 * np.eye(3, dtype=np.float32))
    tri = ej.tensor(np.triu(RNG.standard_normal((3, 3)) + 4 * np.eye(3)).astype(np.float32))
    coords = ej.tensor(np.array([0.0, 0.5, 1.5, 2.0, 3.0, 3.5], np.float32))
    buf = ej.zeros(3, 3)

    def step():
        m = w.reshape(2, 3)
        a = spd * w[:3].sum()
        lo, info = ej.linalg.cholesky_ex(a)
        loss = (
            ej.cov(m, aweights=w[:3]).sum()
            + ej.corrcoef(m).sum()
            + ej.trapezoid(w, coords)
            + ej.cumulative_trapezoid(m, dx=0.5).sum()
            + ej.gradient(w, spacing=[coords], edge_order=2)[0].sum()
            + ej.vander(w[:3], 4).sum()
            + ej.linalg.vander(m).sum()
            + ej.renorm(m, 2, 0, 1.0).sum()
            + ej.diagflat(w[:3]).sum()
            + ej.frexp(w)[0].sum()
            + ej.select_scatter(m, w[:3] * 2, 0, 1).sum()
            + ej.slice_scatter(m, w[:2].reshape(2, 1), 1, 0, 1).sum()
            + ej.diagonal_scatter(m, w[:2], 0).pow(2).sum()
            + ej.index_reduce(m, 1, ej.tensor([0, 0, 2]), m * 2, "prod").sum()
            + ej.put(m, ej.tensor([0, 5]), w[:2], accumulate=True).sum()
            + m.sum_to_size(1, 3).sum()
            + ej.chain_matmul(m, m.T, m).sum()
            + ej.cholesky_solve(m.T, lo).sum()
            + ej.cholesky_inverse(lo).sum()
            + ej.linalg.solve_triangular(tri, m.T, upper=True).sum()
            + ej.triangular_solve(m.T, tri).solution.sum()
            + ej.linalg.inv_ex(a).inverse.sum()
            + ej.linalg.solve_ex(a, m.T).result.sum()
            + ej.lu_solve(m.T, *ej.linalg.lu_factor(a)).sum()
            + ej.fft.hfftn(ej.complex(m, m)).sum()
            + ej.fft.ihfft2(m).real.sum()
            + ej.nuclear_norm(m)
            + ej.frobenius_norm(m, (0, 1))
            + info.sum()
        )
        loss.backward()
        hist = ej.histogram(w.detach(), 4, range=(0.0, 2.0)).hist
        buf.copy_(ej.zeros(3, 3).fill_diagonal_(hist[0]))
        ej.isin(ej.unravel_index(ej.tensor([4, 7]), (3, 3))[0], ej.tensor([1]))
        return loss, hist

    assert_compile_equivalent(step, steps=2, rtol=1e-4, atol=1e-4)


def test_row_gradients_in_a_compiled_step_match_torch():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    xs = np.array([0.0, 1.0, 2.5, 3.0], np.float32)

    def loss(m, t, *, compiled=False):
        out = (
            m.cov(t, correction=0).sum()
            + m.trapezoid(t, m.tensor(xs)).sum()
            + m.gradient(t, spacing=(m.tensor(xs),), dim=1, edge_order=2)[0].pow(2).sum()
            + m.renorm(t, 3, 1, 1.5).sum()
            + m.diagonal_scatter(t, t[0, :3] * 3, 0).pow(2).sum()
        )
        return out

    te = torch.tensor(x, requires_grad=True)
    loss(torch, te).backward()
    ours = ej.tensor(x, requires_grad=True)

    @ej.compile
    def step():
        v = loss(ej, ours)
        v.backward()
        return v

    step()
    _close(ours.grad, te.grad, 1e-4)
    assert math.isfinite(float(step()))


# --------------------------------------------------------------------------- LDL (_ops/_ldl.py)
def _ldl_case(m, a, b, hermitian):
    ld, piv = m.linalg.ldl_factor(a, hermitian=hermitian)
    ex = m.linalg.ldl_factor_ex(a, hermitian=hermitian)
    x = m.linalg.ldl_solve(ld, piv, b, hermitian=hermitian)
    # B with more batch dimensions than LD broadcasts (torch 2.13 crashes on that: its side
    # gets LD expanded by hand)
    big = b.expand(3, *ld.shape[:-2], *b.shape)
    if m is torch:
        return ld, piv, ex.info, x, m.linalg.ldl_solve(ld.expand(3, *ld.shape), piv.expand(3, *piv.shape), big)
    return ld, piv, ex.info, x, m.linalg.ldl_solve(ld, piv, big)


@pytest.mark.parametrize("hermitian", [False, True])
@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_ldl_matches_torch(mode, hermitian):
    """Complex matrices, where ``hermitian`` picks LAPACK's ``hetrf`` or ``sytrf``; batches
    broadcast in the solve; the same LAPACK pivots (2x2 blocks included) in every mode."""
    a = RNG.normal(size=(2, 4, 4)) + 1j * RNG.normal(size=(2, 4, 4))
    a = (a + (np.conj(a.swapaxes(-1, -2)) if hermitian else a.swapaxes(-1, -2))).astype(np.complex64)
    a[:, :2, :2] = [[0, 5], [5, 0]]  # a zero diagonal beside a large entry: Bunch–Kaufman takes a 2x2 block
    b = (RNG.normal(size=(4, 2)) + 1j * RNG.normal(size=(4, 2))).astype(np.complex64)
    want = _ldl_case(torch, torch.tensor(a), torch.tensor(b), hermitian)
    assert (want[1] < 0).any()  # a 2x2 block of D
    if mode == "compiled":
        got = ej.compile(_ldl_case, static_argnums=(0, 3))(ej, ej.tensor(a), ej.tensor(b), hermitian)
    elif mode == "lazy":
        with ej.lazy():
            got = _ldl_case(ej, ej.tensor(a), ej.tensor(b), hermitian)
            got = [ej.tensor(t.numpy()) for t in got]
    else:
        got = _ldl_case(ej, ej.tensor(a), ej.tensor(b), hermitian)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-4)
    assert got[1].dtype == ej.int32 and got[2].dtype == ej.int32


def test_ldl_singular_info_and_errors():
    z = np.stack([np.eye(3, dtype=np.float32), np.zeros((3, 3), np.float32)])
    ours, theirs = ej.linalg.ldl_factor_ex(ej.tensor(z)), torch.linalg.ldl_factor_ex(torch.tensor(z))
    for g, w in zip(ours, theirs):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    # torch raises an internal assert here; ours names the zero pivot
    for call in (
        lambda: ej.linalg.ldl_factor(ej.tensor(z)),
        lambda: ej.linalg.ldl_factor_ex(ej.tensor(z), check_errors=True),
    ):
        with pytest.raises(ej.linalg.LinAlgError, match=r"\(Batch element 1\): .*D\[1,1\] is zero"):
            call()
    # no derivative, as torch's (whose backward raises): the results do not require grad
    x = ej.tensor(z[0] * 2, requires_grad=True)
    assert not ej.linalg.ldl_factor(x).LD.requires_grad
    lds = ej.func.vmap(lambda m: ej.linalg.ldl_factor(m).LD)(ej.tensor(z[:1] + 1))
    np.testing.assert_allclose(lds.numpy(), torch.linalg.ldl_factor(torch.tensor(z[:1] + 1)).LD.numpy(), atol=1e-6)
