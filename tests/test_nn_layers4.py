"""PReLU / GLU / shrinks / Softmax2d / distances / alpha dropout / LRN, the padding modules,
Unfold / Fold, the margin / ranking / NLL / CTC losses and gumbel_softmax versus torch.

Layers load torch's state_dict and compare outputs (1e-5) and input + parameter gradients
(1e-4) for a random cotangent; a small model built from several of them trains the same
in eager, ``ej.compile`` and ``ej.lazy``, and the same as torch.
"""

import numpy as np
import pytest
from test_nn_layers import RNG, close, rand  # (the torch-comparison helpers of the first layer tests)

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:torch.*"), pytest.mark.usefixtures("fresh_lazy")]


def run_pair(ours_fn, theirs_fn, arrays, grad=True, params=(), tol=1e-5, gtol=1e-4, nograd=()):
    """Both sides on the same arrays: outputs (the first of a tuple), and gradients of every
    float input (but the positions in ``nograd``) and of ``params`` for a random cotangent."""

    def rg(i, a):
        return grad and a.dtype.kind == "f" and i not in nograd

    ex = [ej.tensor(a, requires_grad=rg(i, a)) if isinstance(a, np.ndarray) else a for i, a in enumerate(arrays)]
    tx = [torch.tensor(a, requires_grad=rg(i, a)) if isinstance(a, np.ndarray) else a for i, a in enumerate(arrays)]
    ey, ty = ours_fn(*ex), theirs_fn(*tx)
    e0, t0 = (ey[0], ty[0]) if isinstance(ty, tuple) else (ey, ty)  # (values, indices): the values
    close(e0, t0, tol, "output")
    if not grad:
        return ey, ty
    g = rand(*t0.shape)
    (e0 * ej.tensor(g)).sum().backward()
    (t0 * torch.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(ex, tx)):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            close(a.grad, b.grad, gtol, f"grad of input {i}")
    for name, pe, pt in params:
        close(pe.grad, pt.grad, gtol, f"grad of {name}")
    return ey, ty


def module_pair(ours, theirs, *arrays, grad=True, tol=1e-5, gtol=1e-4):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    ep, tp = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ep) == list(tp)
    params = [(k, ep[k], tp[k]) for k in tp]
    out = run_pair(ours, theirs, list(arrays), grad=grad, params=params, tol=tol, gtol=gtol)
    assert repr(ours) == repr(theirs)
    return out


def _raises_like(ours, theirs):
    """Both raise the same exception type with the same message."""
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(type(te.value)) as ee:
        ours()
    assert str(ee.value) == str(te.value)


# --------------------------------------------------------------------------- activations
@pytest.mark.parametrize(
    "num, init, shape",
    [(1, 0.25, (2, 3, 4)), (3, 0.1, (2, 3, 4)), (3, 0.3, (2, 3, 2, 2)), (1, 0.25, (5,)), (1, 0.2, ())],
)
def test_prelu(num, init, shape):
    tm = torch.nn.PReLU(num, init=init)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(rand(num)))
    em = nn.PReLU(num, init=init)
    assert np.allclose(em.weight.detach().numpy(), init)
    module_pair(em, tm, rand(*shape))
    assert list(em.state_dict()) == ["weight"] and em.weight.shape == (num,)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.GLU(),
        lambda m: m.GLU(dim=1),
        lambda m: m.Threshold(0.1, 20.0),
        lambda m: m.Threshold(-0.5, -2),
        lambda m: m.Hardshrink(),
        lambda m: m.Hardshrink(0.8),
        lambda m: m.Softshrink(),
        lambda m: m.Softshrink(0.3),
        lambda m: m.Softmax2d(),
        lambda m: m.LocalResponseNorm(3),
        lambda m: m.LocalResponseNorm(2, alpha=0.5, beta=0.6, k=2.0),
        lambda m: m.LocalResponseNorm(5, alpha=0.1),
    ],
)
@pytest.mark.parametrize("shape", [(2, 4, 6), (2, 4, 2, 6), (2, 4, 2, 2, 2)])
def test_activation_modules(make, shape):
    tm, em = make(torch.nn), make(nn)
    if isinstance(tm, torch.nn.Softmax2d) and len(shape) == 5:
        _raises_like(lambda: em(ej.zeros(*shape)), lambda: tm(torch.zeros(shape)))
        return
    module_pair(em, tm, rand(*shape))


def test_distance_modules():
    for tm, em in [
        (torch.nn.CosineSimilarity(), nn.CosineSimilarity()),
        (torch.nn.CosineSimilarity(dim=0, eps=1e-3), nn.CosineSimilarity(dim=0, eps=1e-3)),
        (torch.nn.PairwiseDistance(), nn.PairwiseDistance()),
        (torch.nn.PairwiseDistance(p=1.0, eps=1e-3, keepdim=True), nn.PairwiseDistance(p=1.0, eps=1e-3, keepdim=True)),
    ]:
        module_pair(em, tm, rand(4, 5), rand(4, 5))


def test_threshold_inplace_and_functional_forms():
    x = rand(3, 4)
    e, t = ej.tensor(x), torch.tensor(x)
    F.threshold_(e, 0.0, -1.0)
    TF.threshold_(t, 0.0, -1.0)
    close(e, t)
    close(
        nn.Threshold(0.2, 5.0, inplace=True)(ej.tensor(x)), torch.nn.Threshold(0.2, 5.0, inplace=True)(torch.tensor(x))
    )
    assert repr(nn.Threshold(0.2, 5.0, inplace=True)) == repr(torch.nn.Threshold(0.2, 5.0, inplace=True))
    close(ej.hardshrink(ej.tensor(x), 0.3), torch.hardshrink(torch.tensor(x), 0.3))
    close(ej.tensor(x).prelu(ej.tensor([0.1])), torch.tensor(x).prelu(torch.tensor([0.1])))
    close(ej.threshold(ej.tensor(x), 0.1, 2.0), torch.threshold(torch.tensor(x), 0.1, 2.0))


def test_activation_errors():
    cases = [
        (lambda m: m.prelu(m.zeros(2, 4, 3), m.ones(3)),),
        (lambda m: m.prelu(m.zeros(5), m.ones(5)),),
        (lambda m: m.prelu(m.zeros(2, 4), m.ones(1, 4)),),
        (lambda m: m.glu(m.zeros(3, 5)),),
        (lambda m: m.glu(m.zeros(3, 4), dim=2),),
        (lambda m: m.glu(m.zeros(())),),
        (lambda m: m.softshrink(m.zeros(3), -1),),
        (lambda m: m.local_response_norm(m.zeros(3, 4), 2),),
        (lambda m: m.alpha_dropout(m.zeros(3), 2.0),),
    ]
    for (f,) in cases:
        _raises_like(lambda: f(_Fns(ej, F)), lambda: f(_Fns(torch, TF)))


class _Fns:
    """``m.zeros`` / ``m.ones`` from the framework, everything else from its functional module."""

    def __init__(self, fw, fn):
        self.fw, self.fn = fw, fn

    def __getattr__(self, name):
        if name in ("zeros", "ones"):
            return getattr(self.fw, name)
        return getattr(self.fn, name)


# --------------------------------------------------------------------------- padding
PADS = [
    ("ZeroPad1d", 2, (2, 3, 5)),
    ("ZeroPad1d", (1, -1), (3, 5)),
    ("ZeroPad2d", (1, 2, 0, 3), (2, 3, 4, 5)),
    ("ZeroPad3d", 1, (1, 2, 3, 4, 5)),
    ("ConstantPad1d", ((2, 1), 3.5), (2, 3, 5)),
    ("ConstantPad2d", (2, -1.0), (3, 4, 5)),
    ("ConstantPad3d", ((1, 0, 2, 1, 0, 1), 0.5), (2, 2, 3, 4, 5)),
    ("ReflectionPad1d", (3, 1), (2, 3, 5)),
    ("ReflectionPad2d", 2, (2, 3, 4, 5)),
    ("ReflectionPad2d", (1, 0, 2, 3), (3, 4, 5)),
    ("ReflectionPad3d", 1, (1, 2, 3, 4, 5)),
    ("ReplicationPad1d", (3, 1), (3, 5)),
    ("ReplicationPad2d", (1, 2, 3, 4), (2, 3, 4, 5)),
    ("ReplicationPad3d", 2, (2, 3, 4, 5)),
    ("CircularPad1d", (2, 3), (2, 3, 5)),
    ("CircularPad2d", 1, (2, 3, 4, 5)),
    ("CircularPad2d", (1, -1, 2, 0), (3, 4, 5)),
    ("CircularPad3d", (1, 2, 0, 1, 2, 1), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("name, arg, shape", PADS, ids=[f"{p[0]}-{i}" for i, p in enumerate(PADS)])
def test_padding_modules(name, arg, shape):
    args = arg if name.startswith("Constant") else (arg,)
    module_pair(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), rand(*shape))


def test_padding_errors():
    for name, shape in [("CircularPad2d", (4, 5)), ("CircularPad1d", (2, 3, 4, 5)), ("ReflectionPad1d", (2, 3, 2))]:
        arg = 2
        _raises_like(
            lambda: getattr(nn, name)(arg)(ej.zeros(*shape)), lambda: getattr(torch.nn, name)(arg)(torch.zeros(shape))
        )


# --------------------------------------------------------------------------- unfold / fold
FOLDS = [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3), stride=(1, 2)),
    dict(kernel_size=3, padding=1, dilation=2),
    dict(kernel_size=(3, 2), padding=(2, 1), stride=(2, 1), dilation=(1, 2)),
]


@pytest.mark.parametrize("kw", FOLDS)
@pytest.mark.parametrize("batched", [True, False])
def test_unfold_fold(kw, batched):
    shape = (2, 3, 7, 8) if batched else (3, 7, 8)
    tu, eu = torch.nn.Unfold(**kw), nn.Unfold(**kw)
    module_pair(eu, tu, rand(*shape))
    cols = tu(torch.tensor(rand(*shape)))
    tf, ef = torch.nn.Fold((7, 8), **kw), nn.Fold((7, 8), **kw)
    module_pair(ef, tf, rand(*cols.shape))


def test_unfold_fold_errors():
    for f in [
        lambda m: m.unfold(m.zeros_t(1, 3, 4, 4), 5),
        lambda m: m.unfold(m.zeros_t(1, 3, 4, 4, 1), 2),
        lambda m: m.unfold(m.zeros_t(1, 3, 4, 4), 2, stride=0),
        lambda m: m.unfold(m.zeros_t(1, 3, 4, 4), 0),
        lambda m: m.unfold(m.zeros_t(1, 3, 4, 4), 2, dilation=0),
        lambda m: m.unfold(m.zeros_t(1, 3, 4, 4), 2, padding=-1),
        lambda m: m.fold(m.zeros_t(1, 12, 8), (4, 4), 2),
        lambda m: m.fold(m.zeros_t(1, 13, 9), (4, 4), 2),
        lambda m: m.fold(m.zeros_t(12, 9, 1, 1), (4, 4), 2),
        lambda m: m.fold(m.zeros_t(1, 12, 9), (1, 1), 2),
    ]:
        _raises_like(lambda: f(_M(ej, F)), lambda: f(_M(torch, TF)))


class _M(_Fns):
    def __getattr__(self, name):
        if name == "zeros_t":
            return lambda *s: self.fw.zeros(*s)
        return super().__getattr__(name)


# --------------------------------------------------------------------------- losses
def _pm1(*shape):
    return np.where(RNG.standard_normal(shape) > 0, 1.0, -1.0).astype(np.float32)


LOSSES = [
    ("MarginRankingLoss", {}, lambda: [rand(6), rand(6), _pm1(6)]),
    ("MarginRankingLoss", dict(margin=0.5), lambda: [rand(3, 4), rand(3, 4), _pm1(3, 4)]),
    ("HingeEmbeddingLoss", {}, lambda: [rand(4, 5), _pm1(4, 5)]),
    ("HingeEmbeddingLoss", dict(margin=0.3), lambda: [rand(7), _pm1(7)]),
    ("SoftMarginLoss", {}, lambda: [rand(4, 5), _pm1(4, 5)]),
    ("MultiLabelSoftMarginLoss", {}, lambda: [rand(4, 5), rand(4, 5, low=0, high=1)]),
    ("MultiLabelSoftMarginLoss", dict(weight="w5"), lambda: [rand(4, 5), (rand(4, 5) > 0).astype(np.float32)]),
    ("MultiLabelSoftMarginLoss", {}, lambda: [rand(5), rand(5, low=0, high=1)]),
    ("MultiMarginLoss", {}, lambda: [rand(4, 5), RNG.integers(0, 5, 4)]),
    ("MultiMarginLoss", dict(p=2, margin=0.7, weight="w5"), lambda: [rand(4, 5), RNG.integers(0, 5, 4)]),
    ("MultiMarginLoss", {}, lambda: [rand(5), RNG.integers(0, 5, 1)]),
    ("MultiMarginLoss", {}, lambda: [rand(5), np.asarray(RNG.integers(0, 5))]),
    ("MultiLabelMarginLoss", {}, lambda: [rand(3, 5), np.array([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [-1, 1, 1, 1, 1]])]),
    ("MultiLabelMarginLoss", {}, lambda: [rand(5), np.array([4, 2, -1, 0, 0])]),
    ("TripletMarginLoss", {}, lambda: [rand(4, 6), rand(4, 6), rand(4, 6)]),
    ("TripletMarginLoss", dict(margin=2.0, p=1.0, eps=1e-3, swap=True), lambda: [rand(4, 6), rand(4, 6), rand(4, 6)]),
    ("TripletMarginLoss", dict(p=3.0), lambda: [rand(6), rand(6), rand(6)]),
    ("TripletMarginWithDistanceLoss", {}, lambda: [rand(4, 6), rand(4, 6), rand(4, 6)]),
    ("TripletMarginWithDistanceLoss", dict(swap=True, margin=3.0), lambda: [rand(4, 6), rand(4, 6), rand(4, 6)]),
    ("PoissonNLLLoss", {}, lambda: [rand(4, 5), rand(4, 5, low=0, high=4)]),
    (
        "PoissonNLLLoss",
        dict(log_input=False, full=True),
        lambda: [rand(4, 5, low=0.1, high=3), rand(4, 5, low=0, high=4)],
    ),
    ("PoissonNLLLoss", dict(full=True, eps=1e-3), lambda: [rand(4, 5), rand(4, 5, low=0, high=4)]),
    ("GaussianNLLLoss", {}, lambda: [rand(4, 5), rand(4, 5), rand(4, 5, low=0.1, high=2)]),
    ("GaussianNLLLoss", dict(full=True, eps=0.5), lambda: [rand(4, 5), rand(4, 5), rand(4, 1, low=0.1, high=2)]),
    ("GaussianNLLLoss", {}, lambda: [rand(4, 5), rand(4, 5), rand(4, low=0.1, high=2)]),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, kw, make", LOSSES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSSES)])
def test_losses(name, kw, make, reduction):
    arrays = make()
    ekw, tkw = dict(kw), dict(kw)
    if kw.get("weight") == "w5":
        w = rand(5, low=0.2, high=2)
        ekw["weight"], tkw["weight"] = ej.tensor(w), torch.tensor(w)
    em = getattr(nn, name)(reduction=reduction, **ekw)
    tm = getattr(torch.nn, name)(reduction=reduction, **tkw)
    arrays = [a if a.dtype.kind == "f" else a.astype(np.int64) for a in arrays]
    # targets take no gradient (torch refuses one for some losses), except the triplets' and the variance
    nograd = () if name.startswith(("Triplet", "Gaussian")) else (len(arrays) - 1,)
    run_pair(em, tm, arrays, nograd=nograd)
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())


def test_loss_functional_defaults_and_legacy_reduction():
    a, b, y = rand(5), rand(5), _pm1(5)
    close(
        F.margin_ranking_loss(ej.tensor(a), ej.tensor(b), ej.tensor(y), 0.2),
        TF.margin_ranking_loss(torch.tensor(a), torch.tensor(b), torch.tensor(y), 0.2),
    )
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        e = F.soft_margin_loss(ej.tensor(a), ej.tensor(y), size_average=False)
    close(e, TF.soft_margin_loss(torch.tensor(a), torch.tensor(y), size_average=False))
    close(
        F.gaussian_nll_loss(ej.tensor(a), ej.tensor(b), 0.5),
        TF.gaussian_nll_loss(torch.tensor(a), torch.tensor(b), 0.5),
    )


def test_loss_errors():
    for f in [
        lambda m: m.multi_margin_loss(m.randn(3, 4), m.tensor([0, 1, 4])),
        lambda m: m.multi_margin_loss(m.randn(3, 4), m.tensor([0, 1])),
        lambda m: m.multi_margin_loss(m.randn(3, 4, 2), m.tensor([0, 1, 2])),
        lambda m: m.multi_margin_loss(m.randn(3, 4), m.tensor([1, 2, 3]), p=3),
        lambda m: m.multi_margin_loss(m.randn(3, 4), m.tensor([1, 2, 3]), weight=m.ones(3)),
        lambda m: m.multi_margin_loss(m.randn(3, 4), m.tensor([1.0, 2.0, 3.0])),
        lambda m: m.multilabel_margin_loss(m.randn(3, 4), m.tensor([0, 1, 2])),
        lambda m: m.multilabel_margin_loss(m.randn(4), m.tensor([1, 2, -1, 5])),
        lambda m: m.margin_ranking_loss(m.randn(3), m.randn(3), m.randn(3, 1)),
        lambda m: m.triplet_margin_loss(m.randn(3, 4), m.randn(3, 4), m.randn(4)),
        lambda m: m.triplet_margin_loss(m.randn(3, 4), m.randn(3, 4), m.randn(3, 4), margin=0),
        lambda m: m.triplet_margin_with_distance_loss(m.randn(3, 4), m.randn(3, 4), m.randn(4)),
        lambda m: m.hinge_embedding_loss(m.randn(3, 4), m.randn(3, 4), reduction="x"),
        lambda m: m.soft_margin_loss(m.randn(3, 4), m.randn(3, 5)),
        lambda m: m.multilabel_soft_margin_loss(m.randn(3, 4), m.randn(3, 5)),
        lambda m: m.poisson_nll_loss(m.randn(3, 4), m.randn(3, 5)),
        lambda m: m.gaussian_nll_loss(m.randn(3, 4), m.randn(3, 4), m.ones(3, 3)),
        lambda m: m.gaussian_nll_loss(m.randn(3, 4), m.randn(3, 4), -m.ones(3, 4)),
        lambda m: m.gaussian_nll_loss(m.randn(3, 4), m.randn(3, 4), -1.0),
    ]:
        _raises_like(lambda: f(_T(ej, F)), lambda: f(_T(torch, TF)))
    for cls, kw in [
        ("TripletMarginLoss", dict(margin=-1.0)),
        ("TripletMarginWithDistanceLoss", dict(margin=0.0)),
        ("MultiMarginLoss", dict(p=3)),
    ]:
        _raises_like(lambda: getattr(nn, cls)(**kw), lambda: getattr(torch.nn, cls)(**kw))


class _T(_Fns):
    def __getattr__(self, name):
        if name in ("randn", "tensor"):
            return getattr(self.fw, name)
        return super().__getattr__(name)


# --------------------------------------------------------------------------- CTC
def _ctc_data(t=12, n=3, c=6, s=4):
    logits = rand(t, n, c)
    tl = np.array([4, 1, 3])[:n]
    il = np.array([12, 9, 7])[:n]
    tg = RNG.integers(1, c, (n, s))
    tg[0, 1] = tg[0, 2]  # a repeated label: needs a blank between
    return logits, tg, il, tl


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concat"])
@pytest.mark.parametrize("lengths", ["tensor", "list"])
def test_ctc_loss(reduction, layout, lengths):
    logits, tg, il, tl = _ctc_data()
    if layout == "concat":
        tg = np.concatenate([tg[i, : tl[i]] for i in range(len(tl))])
    em, tm = nn.CTCLoss(reduction=reduction), torch.nn.CTCLoss(reduction=reduction)
    assert repr(em) == repr(tm)

    def wrap(fw, m):
        conv = (lambda v: fw.tensor(v)) if lengths == "tensor" else (lambda v: [int(i) for i in v])
        return lambda x: m(x.log_softmax(2), fw.tensor(tg), conv(il), conv(tl))

    # (gradients through log_softmax: torch's ctc backward w.r.t. log_probs adds exp(log_probs), which cancels there)
    run_pair(wrap(ej, em), wrap(torch, tm), [logits], tol=1e-4, gtol=1e-4)


def test_ctc_loss_blank_unbatched_and_zero_infinity():
    logits, tg, il, tl = _ctc_data()
    for kw in [dict(blank=5), dict(blank=3, reduction="sum")]:
        tg2 = np.where(tg == kw["blank"], 0, tg)
        run_pair(
            lambda x: F.ctc_loss(x.log_softmax(2), ej.tensor(tg2), ej.tensor(il), ej.tensor(tl), **kw),
            lambda x: TF.ctc_loss(x.log_softmax(2), torch.tensor(tg2), torch.tensor(il), torch.tensor(tl), **kw),
            [logits],
            tol=1e-4,
        )
    run_pair(  # unbatched
        lambda x: F.ctc_loss(x.log_softmax(1), ej.tensor(tg[0]), ej.tensor(12), ej.tensor(4), reduction="none"),
        lambda x: TF.ctc_loss(
            x.log_softmax(1), torch.tensor(tg[0]), torch.tensor(12), torch.tensor(4), reduction="none"
        ),
        [logits[:, 0]],
        tol=1e-4,
    )
    # impossible alignments (target longer than the input): inf, or 0 with zero_infinity
    short = logits[:2]
    for zi in (False, True):
        e = F.ctc_loss(
            ej.tensor(short).log_softmax(2), ej.tensor(tg), [2, 2, 2], [4, 1, 3], reduction="none", zero_infinity=zi
        )
        t = TF.ctc_loss(
            torch.tensor(short).log_softmax(2),
            torch.tensor(tg),
            [2, 2, 2],
            [4, 1, 3],
            reduction="none",
            zero_infinity=zi,
        )
        close(e, t, 1e-4)
    x = ej.tensor(short, requires_grad=True)
    F.ctc_loss(x.log_softmax(2), ej.tensor(tg), [2, 2, 2], [4, 1, 3], zero_infinity=True).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_ctc_loss_errors():
    logits, tg, il, tl = _ctc_data()
    for f in [
        lambda m, fn: fn.ctc_loss(m.tensor(logits), m.tensor(tg), [12, 9], [4, 1, 3]),
        lambda m, fn: fn.ctc_loss(m.tensor(logits), m.tensor(tg), [12, 9, 7], [4, 1]),
        lambda m, fn: fn.ctc_loss(m.tensor(logits), m.tensor(tg), [13, 9, 7], [4, 1, 3]),
        lambda m, fn: fn.ctc_loss(m.tensor(logits), m.tensor(tg), [12, 9, 7], [5, 1, 3]),
        lambda m, fn: fn.ctc_loss(m.tensor(logits), m.tensor(tg.reshape(-1)[:7]), [12, 9, 7], [4, 1, 3]),
        lambda m, fn: fn.ctc_loss(m.tensor(logits), m.tensor(tg), [12, 9, 7], [4, 1, 3], blank=6),
    ]:
        _raises_like(lambda: f(ej, F), lambda: f(torch, TF))


# --------------------------------------------------------------------------- random: alpha dropout, gumbel-softmax
def test_alpha_dropout_statistics_and_eval():
    x = ej.randn(200, 500)
    m = nn.AlphaDropout(0.2)
    assert repr(m) == repr(torch.nn.AlphaDropout(0.2))
    y = m(x).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02  # self-normalizing: mean 0, var 1 kept
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * 0.2 + 1) * 0.8)
    dropped = np.isclose(y, -alpha * a + alpha * a * 0.2, atol=1e-6)
    assert 0.18 < dropped.mean() < 0.22
    np.testing.assert_allclose(y[~dropped], x.numpy()[~dropped] * a + alpha * a * 0.2, rtol=1e-5, atol=1e-5)
    m.eval()
    assert m(x) is x
    assert F.alpha_dropout(x, 0.5) is x  # training=False by default, as in torch
    assert np.all(F.alpha_dropout(x, 1.0, training=True).numpy() == 0)
    fy = F.feature_alpha_dropout(ej.randn(8, 16, 5), 0.5, training=True).numpy()
    per_channel = np.isclose(fy, fy[..., :1]).all(-1) | ~np.isclose(fy, fy[..., :1]).all(-1)
    assert per_channel.all()


def test_gumbel_softmax():
    ej.manual_seed(0)
    logits = ej.randn(6, 5, requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.sum(-1).detach().numpy(), 1, rtol=1e-5)
    h = F.gumbel_softmax(logits, hard=True, dim=0)
    hn = h.detach().numpy()
    assert set(np.unique(hn)) <= {0.0, 1.0} and np.all(hn.sum(0) == 1)
    (h * ej.randn(6, 5)).sum().backward()
    assert logits.grad is not None and np.abs(logits.grad.numpy()).sum() > 0
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(logits, eps=1e-3)


def test_random_layers_agree_across_modes():
    ej.manual_seed(3)
    x = ej.randn(4, 6)

    def step(x):
        return F.alpha_dropout(x, 0.3, training=True) + F.gumbel_softmax(x, hard=True) + F.gumbel_softmax(x, tau=2.0)

    assert_compile_equivalent(step, x, steps=2, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- training in every mode
def _model(m):
    return m.Sequential(
        m.ReflectionPad2d(1),
        m.Conv2d(2, 4, 3),
        m.PReLU(4),
        m.LocalResponseNorm(3),
        m.ZeroPad2d((0, 1, 1, 0)),
        m.Unfold(2, stride=2),
        m.Flatten(),
        m.Linear(4 * 4 * 9, 12),
        m.GLU(),
        m.Softshrink(0.05),
    )


def _loss(m, model, x, y, w):
    out = model(x)
    return m.MultiMarginLoss(p=2)(out, y) + m.MultiLabelSoftMarginLoss()(out, w) + m.SoftMarginLoss()(out, 2 * w - 1)


def test_small_model_trains_the_same_in_every_mode_and_as_torch():
    torch.manual_seed(0)
    tmodel = _model(torch.nn)
    x, y, w = rand(5, 2, 6, 6), RNG.integers(0, 6, 5), (rand(5, 6) > 0).astype(np.float32)
    ej.manual_seed(0)
    emodel = _model(nn)
    emodel.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    ex, ey, ew = ej.tensor(x), ej.tensor(y), ej.tensor(w)

    opt = ej.optim.SGD(emodel.parameters(), lr=0.05, momentum=0.9)

    def step(x, y, w):
        opt.zero_grad()
        loss = _loss(nn, emodel, x, y, w)
        loss.backward()
        opt.step()
        return loss

    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9)
    tx, ty, tw = torch.tensor(x), torch.tensor(y), torch.tensor(w)
    tlosses = []
    for _ in range(3):
        topt.zero_grad()
        loss = _loss(torch.nn, tmodel, tx, ty, tw)
        loss.backward()
        topt.step()
        tlosses.append(loss.item())
    start = {k: v.clone() for k, v in emodel.state_dict().items()}
    elosses = [step(ex, ey, ew).item() for _ in range(3)]
    np.testing.assert_allclose(elosses, tlosses, rtol=1e-4, atol=1e-5)
    for k, v in tmodel.state_dict().items():
        close(emodel.state_dict()[k], v, 1e-4, k)
    emodel.load_state_dict(start)
    opt = ej.optim.SGD(emodel.parameters(), lr=0.05, momentum=0.9)
    assert_compile_equivalent(step, ex, ey, ew, steps=3, rtol=1e-5, atol=1e-6)


def test_spatial_transformer_trains_alike_in_every_mode_and_argument_rules():
    """affine_grid + grid_sample (a spatial transformer) inside a training step: compiled and
    lazy runs match eager; the default align_corners warns as torch does."""
    testing = pytest.importorskip("eagerjax.testing")
    ej.manual_seed(0)
    loc = ej.nn.Linear(16, 6)
    head = ej.nn.Linear(16, 3)
    opt = ej.optim.SGD(list(loc.parameters()) + list(head.parameters()), lr=0.1)
    x = ej.randn(4, 1, 4, 4)
    y = ej.tensor([0, 1, 2, 1])

    def step(x, y):
        opt.zero_grad()
        theta = loc(x.flatten(1)).reshape(4, 2, 3) * 0.1 + ej.tensor([[1.0, 0, 0], [0, 1.0, 0]])
        grid = ej.nn.functional.affine_grid(theta, (4, 1, 4, 4), align_corners=False)
        warped = ej.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
        loss = ej.nn.functional.cross_entropy(head(warped.flatten(1)), y)
        loss.backward()
        opt.step()
        return loss

    testing.assert_compile_equivalent(step, x, y, steps=3, compile_kwargs={"donate": False})
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        ej.nn.functional.affine_grid(ej.zeros(1, 2, 3), (1, 1, 2, 2))
    with pytest.raises(ValueError, match="Expected a batch of 2D affine matrices of shape Nx2x3"):
        ej.nn.functional.affine_grid(ej.zeros(1, 3, 4), (1, 1, 2, 2), align_corners=True)
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or 'reflection'"):
        ej.nn.functional.grid_sample(x, ej.zeros(4, 2, 2, 2), padding_mode="wrap", align_corners=True)
