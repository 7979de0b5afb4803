"""Loss gradients at the edges, against torch 2.13, in eager, ``ej.compile`` and ``ej.lazy()``.

* ``binary_cross_entropy`` at inputs of exactly 0 or 1 (a saturated sigmoid): torch's value clamps
  each log at -100 and its input gradient is ``(x - y) / max(x(1-x), 1e-12)``, finite there;
* ``cross_entropy`` / ``nll_loss`` with class weights and every target ignored: the 'mean' is NaN
  (0/0) and the gradient 0, while targets of weight 0 that are not ignored get NaN as in torch;
* ``ctc_loss``'s gradient is torch's ``exp(lp) - posterior`` when ``log_probs`` is a leaf.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:torch.*")

MODES = ["eager", "compile", "lazy"]


@pytest.fixture(autouse=True)
def _eager_after():
    yield
    ej.set_mode("eager")


def _np(t):
    return np.asarray(t.detach().double().tolist() if isinstance(t, torch.Tensor) else t.double().tolist())


def _grads(lib, mode, arrays, loss_fn, dtype="float32", cotangent=None):
    """``loss_fn(lib, *leaves)`` (a loss tensor), backpropagated (with ``cotangent`` when the loss
    is not a scalar); returns the loss and each leaf's gradient as float64 arrays. ``arrays`` are
    ``(array, requires_grad)`` pairs; integer arrays keep their dtype."""
    dt = getattr(lib, dtype)

    def leaf(a, rg):
        return lib.tensor(a, dtype=dt, requires_grad=rg) if a.dtype.kind == "f" else lib.tensor(a)

    leaves = [leaf(a, rg) for a, rg in arrays]

    def step():
        loss = loss_fn(lib, *leaves)
        if cotangent is None:
            loss.backward()
        else:
            loss.backward(lib.tensor(cotangent, dtype=loss.dtype))
        return loss

    if lib is torch or mode == "eager":
        loss = step()
    elif mode == "compile":
        loss = ej.compile(step)()
    else:
        with ej.lazy():
            loss = step()
    return _np(loss), [_np(t.grad) if rg else None for t, (_, rg) in zip(leaves, arrays)]


def _compare(got, want, rtol=1e-5, atol=0.0):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)  # NaN == NaN, inf == inf


# --------------------------------------------------------------------------- binary_cross_entropy
_XS = [0.0, 1e-30, 1e-13, 1e-12, 2e-12, 1e-7, 0.3, 0.3000001, 0.5, 1 - 1e-7, 1.0]
_YS = [0.0, 0.3, 1.0]
_X = np.array([x for x in _XS for _ in _YS], np.float32)
_Y = np.array([y for _ in _XS for y in _YS], np.float32)
_W = np.random.RandomState(0).uniform(0.5, 1.5, _X.size).astype(np.float32)
_G = np.random.RandomState(1).randn(_X.size).astype(np.float32)


def _bce_pair(mode, reduction, weighted, dtype="float32", x=_X, y=_Y):
    w = _W[: x.size] if weighted else None
    g = _G[: x.size] if reduction == "none" else None

    def fn(lib, a, b):
        kw = {} if w is None else {"weight": lib.tensor(w, dtype=a.dtype)}
        return lib.nn.functional.binary_cross_entropy(a, b, reduction=reduction, **kw)

    arrays = [(x, True), (y, True)]
    return _grads(ej, mode, arrays, fn, dtype, g), _grads(torch, mode, arrays, fn, dtype, g)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_values_and_input_gradient_at_the_edges(mode, reduction, weighted):
    (lv, (gx, gy)), (tv, (tx, ty)) = _bce_pair(mode, reduction, weighted)
    _compare(lv, tv)
    assert np.isfinite(gx).all()
    # (x - y) / x(1-x) against its unclamped derivative's rounding: cancellation where x ~ y
    _compare(gx, tx, rtol=2e-6, atol=2e-7 * np.abs(tx).max())
    # the target's gradient is torch's -logit(x), but +-100 (the clamp) where torch's is +-inf
    inner = (_X > 0) & (_X < 1)
    _compare(gy[inner], ty[inner], rtol=2e-6, atol=1e-7 * np.abs(_G).max())  # log(1-x) - log(x) vs -logit(x)
    edge = ~inner
    assert np.isinf(ty[edge]).all() and np.isfinite(gy[edge]).all()
    assert (np.sign(gy[edge]) == np.sign(ty[edge])).all()


@pytest.mark.parametrize("mode", MODES)
def test_bce_bfloat16_edges(mode):
    (lv, (gx, _)), (tv, (tx, _)) = _bce_pair(mode, "none", True, "bfloat16")
    _compare(lv, tv, rtol=1e-2)
    _compare(gx, tx, rtol=1e-2)


def test_bce_float16_edges():
    """torch's 1e-12 is 0 in float16: where x == y is 0 or 1 its gradient is 0/0 = NaN, ours 0 (the
    float32 eps); elsewhere both overflow to the same infinities."""
    x = np.array([0, 0, 0, 0.3, 0.3, 0.5, 1, 1, 1], np.float32)
    y = np.array([0, 0.3, 1, 0, 1, 0.5, 0, 0.3, 1], np.float32)
    (lv, (gx, _)), (tv, (tx, _)) = _bce_pair("eager", "sum", False, "float16", x, y)
    _compare(lv, tv, rtol=1e-3)
    nan = ((x == 0) | (x == 1)) & (x == y)
    assert np.isnan(tx[nan]).all() and (gx[nan] == 0).all()
    _compare(gx[~nan], tx[~nan], rtol=1e-3)
    assert np.isinf(gx[[1, 2, 6, 7]]).all()


@pytest.mark.parametrize("mode", MODES)
def test_bceloss_after_a_saturated_sigmoid(mode):
    """sigmoid(20) is exactly 1.0 in float32; a correct prediction there has gradient 0, not NaN."""
    x = np.array([[20.0, -20.0, 0.3], [-30.0, 30.0, 2.0]], np.float32)
    y = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32)

    def fn(lib, a, b):
        return lib.nn.BCELoss()(lib.sigmoid(a), b)

    arrays = [(x, True), (y, False)]
    (lv, (gx, _)), (tv, (tx, _)) = _grads(ej, mode, arrays, fn), _grads(torch, mode, arrays, fn)
    _compare(lv, tv)
    assert np.isfinite(gx).all()
    _compare(gx, tx, rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wshape", [(3,), (2, 1), (1, 3), (2, 3)])
def test_bce_weight_broadcasts(mode, wshape):
    x = np.array([[0.0, 0.2, 1.0], [0.7, 1.0, 1e-20]], np.float32)
    y = np.array([[1.0, 0.0, 1.0], [0.5, 0.0, 0.0]], np.float32)
    w = np.random.RandomState(2).uniform(0.5, 2, wshape).astype(np.float32)
    for reduction in ("none", "mean", "sum"):
        g = _G[:6].reshape(2, 3) if reduction == "none" else None

        def fn(lib, a, b, reduction=reduction):
            return lib.nn.functional.binary_cross_entropy(a, b, lib.tensor(w), reduction=reduction)

        arrays = [(x, True), (y, False)]
        (lv, (gx, _)), (tv, (tx, _)) = (
            _grads(ej, mode, arrays, fn, cotangent=g),
            _grads(torch, mode, arrays, fn, cotangent=g),
        )
        _compare(lv, tv)
        _compare(gx, tx, rtol=2e-6)


def test_bce_second_derivative():
    x = np.array([1e-3, 0.2, 0.3, 0.5, 0.9, 0.999], np.float32)
    y = np.array([1, 0.3, 0, 0.5, 1, 0], np.float32)
    out = []
    for lib in (ej, torch):
        a = lib.tensor(x, requires_grad=True)
        (g,) = lib.autograd.grad(
            lib.nn.functional.binary_cross_entropy(a, lib.tensor(y), reduction="sum"), a, create_graph=True
        )
        (h,) = lib.autograd.grad(g.sum(), a)
        out.append((_np(g), _np(h)))
    _compare(out[0][0], out[1][0], rtol=1e-6)
    _compare(out[0][1], out[1][1], rtol=2e-6)


# --------------------------------------------------------------------------- cross_entropy / nll_loss
def _class_loss(name, target, weight, reduction, label_smoothing, shape, mode, logp_override=None):
    x = np.random.RandomState(3).randn(*shape).astype(np.float32)
    if logp_override is not None:
        x = logp_override
    g = np.random.RandomState(4).randn(*((shape[0],) + shape[2:])).astype(np.float32) if reduction == "none" else None
    if len(shape) == 1 and reduction == "none":
        g = np.float32(1.5)

    def fn(lib, a, t):
        kw = {"reduction": reduction, "ignore_index": -100}
        if weight is not None:
            kw["weight"] = lib.tensor(weight)
        if label_smoothing:
            kw["label_smoothing"] = label_smoothing
        return getattr(lib.nn.functional, name)(a, t, **kw)

    arrays = [(x, True), (np.asarray(target, np.int64), False)]
    return _grads(ej, mode, arrays, fn, cotangent=g), _grads(torch, mode, arrays, fn, cotangent=g)


_WEIGHT = np.array([0.0, 2.0, 3.0, 4.0], np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, label_smoothing", [("cross_entropy", 0.0), ("cross_entropy", 0.1), ("nll_loss", 0.0)])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3), (4,)])
def test_every_target_ignored_with_class_weights(mode, name, label_smoothing, shape):
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    target = np.full(tshape, -100)
    for weight, reduction in itertools.product([None, _WEIGHT], ["mean", "sum", "none"]):
        (lv, (gx, _)), (tv, (tx, _)) = _class_loss(name, target, weight, reduction, label_smoothing, shape, mode)
        _compare(lv, tv)
        if reduction == "mean":
            assert np.isnan(lv)
        _compare(gx, tx)
        assert (gx == 0).all()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, label_smoothing", [("cross_entropy", 0.0), ("cross_entropy", 0.1), ("nll_loss", 0.0)])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
def test_weights_summing_to_zero_and_mixed_ignores(mode, name, label_smoothing, shape):
    """Targets of weight 0 that are not ignored: torch's 0/0 reaches their gradient (NaN); ignored
    ones stay 0. Then an ordinary mix of ignored and weighted targets."""
    rs = np.random.RandomState(5)
    tshape = (shape[0],) + shape[2:]
    zero_w = np.where(rs.rand(*tshape) < 0.5, -100, 0)
    zero_w.flat[0] = 0
    mixed = np.where(rs.rand(*tshape) < 0.4, -100, rs.randint(0, 4, tshape))
    for target, reduction in itertools.product([zero_w, mixed], ["mean", "sum", "none"]):
        (lv, (gx, _)), (tv, (tx, _)) = _class_loss(name, target, _WEIGHT, reduction, label_smoothing, shape, mode)
        _compare(lv, tv, atol=1e-6)
        _compare(gx, tx, atol=1e-6)
    (_, (gx, _)), _ = _class_loss(name, zero_w, _WEIGHT, "mean", label_smoothing, shape, mode)
    assert np.isnan(gx).any()


@pytest.mark.parametrize("mode", MODES)
def test_nll_ignores_infinite_log_probs_in_ignored_rows(mode):
    with np.errstate(divide="ignore"):  # (log 0 = -inf on purpose)
        logp = np.log(np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5], [0.0, 1.0, 0.0]], np.float32))
    target = np.array([-100, 2, 1])
    for reduction in ("mean", "sum", "none"):
        (lv, (gx, _)), (tv, (tx, _)) = _class_loss("nll_loss", target, None, reduction, 0.0, (3, 3), mode, logp)
        assert np.isfinite(lv).all()
        _compare(lv, tv)
        _compare(gx, tx)


# --------------------------------------------------------------------------- ctc_loss
_T, _N, _C = 6, 3, 5
_RAW = np.random.RandomState(6).randn(_T, _N, _C).astype(np.float32)
_TG = np.array([[1, 2, 2], [3, 0, 0], [1, 4, 0]])
_IL = np.array([6, 4, 5])
_TL = np.array([3, 1, 2])


def _ctc(mode, lp, reduction, through_log_softmax, targets=_TG, il=_IL, tl=_TL, zero_infinity=False):
    g = np.random.RandomState(7).randn(_N).astype(np.float32) if reduction == "none" else None

    def fn(lib, a, tg, i, t):
        inp = a.log_softmax(2) if through_log_softmax else a
        return lib.nn.functional.ctc_loss(inp, tg, i, t, reduction=reduction, zero_infinity=zero_infinity)

    arrays = [(lp, True), (targets, False), (il, False), (tl, False)]
    return _grads(ej, mode, arrays, fn, cotangent=g), _grads(torch, mode, arrays, fn, cotangent=g)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("normalized", [False, True])
def test_ctc_gradient_of_a_leaf_is_torchs(mode, reduction, normalized):
    """torch's gradient assumes normalized log-probs: exp(lp) - posterior over each sample's frames,
    0 past its input length; through a log_softmax the two agree."""
    lp = torch.tensor(_RAW).log_softmax(2).numpy() if normalized else _RAW
    for through in (False, True):
        (lv, (gx, *_)), (tv, (tx, *_)) = _ctc(mode, lp, reduction, through)
        _compare(lv, tv)
        _compare(gx, tx, rtol=1e-5, atol=1e-6)
    (_, (gx, *_)), _ = _ctc(mode, lp, reduction, False)
    assert (gx[4:, 1] == 0).all()  # sample 1's input length is 4


@pytest.mark.parametrize("mode", MODES)
def test_ctc_concatenated_targets_and_empty_target(mode):
    targets = np.array([1, 2, 2, 4])
    tl = np.array([3, 0, 1])
    (lv, (gx, *_)), (tv, (tx, *_)) = _ctc(mode, _RAW, "mean", False, targets, _IL, tl)
    _compare(lv, tv)
    _compare(gx, tx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_ctc_infeasible_target(mode):
    """Target longer than the input: inf. With zero_infinity the loss and gradient are 0 as in
    torch; without, torch's gradient is NaN over that sample's frames and ours is 0."""
    il, tl = np.array([6, 4, 2]), np.array([3, 1, 3])
    for zero_infinity in (True, False):
        (lv, (gx, *_)), (tv, (tx, *_)) = _ctc(mode, _RAW, "none", False, il=il, tl=tl, zero_infinity=zero_infinity)
        assert np.isinf(tv[2]) != zero_infinity
        _compare(lv, tv)
        _compare(gx[:, :2], tx[:, :2], rtol=1e-5, atol=1e-6)
        assert (gx[:, 2] == 0).all()
        if zero_infinity:
            _compare(gx, tx, rtol=1e-5, atol=1e-6)
        else:
            assert np.isnan(tx[:2, 2]).all()


def test_ctc_overflowing_log_probs_keep_a_finite_value():
    """exp(lp) overflows for lp > 88 (float32): the value stays torch's (no inf - inf)."""
    lp = _RAW.copy()
    lp[0, 0, 3] = 100.0
    for reduction in ("mean", "sum"):
        (lv, (gx, *_)), (tv, (tx, *_)) = _ctc("eager", lp, reduction, False)
        _compare(lv, tv)
        assert np.isinf(tx[0, 0, 3]) and gx[0, 0, 3] == 0
        mask = np.ones_like(tx, bool)
        mask[0, 0, 3] = False
        _compare(gx[mask], tx[mask], rtol=1e-5, atol=1e-6)
