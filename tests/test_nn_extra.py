"""InstanceNorm1d/2d/3d, PixelShuffle/PixelUnshuffle, EmbeddingBag, RNNCell/LSTMCell/GRUCell and
bicubic interpolation versus PyTorch.

Every layer test loads the torch layer's state_dict into ours (numpy arrays), compares outputs
(1e-5) and input + parameter gradients (1e-5) for a random cotangent, the state_dict keys and
the repr; one test per layer trains 3 steps eager vs ``ej.compile`` vs ``ej.lazy()``.
"""

import math
import warnings

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = 1e-5
RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(ours, theirs, tol=TOL, what=""):
    a = ours.numpy(force=True) if isinstance(ours, ej.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def load(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return ours


def randomize(tm):
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn(p.shape))
    return tm


def run_pair(ours_fn, theirs_fn, arrays, params=(), tol=TOL):
    """Call both sides on the same arrays (float ones require grad); compare outputs and the
    gradients of the float inputs and of ``params`` (``(name, ours, theirs)``) for a random
    cotangent on every output."""
    ex = [ej.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    tx = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    ey, ty = ours_fn(*ex), theirs_fn(*tx)
    outs_e = ey if isinstance(ey, tuple) else (ey,)
    outs_t = ty if isinstance(ty, tuple) else (ty,)
    le, lt = 0, 0
    for i, (a, b) in enumerate(zip(outs_e, outs_t)):
        close(a, b, tol, f"output {i}")
        g = rand(*b.shape)
        le = le + (a * ej.tensor(g)).sum()
        lt = lt + (b * torch.tensor(g)).sum()
    le.backward()
    lt.backward()
    for i, (a, b) in enumerate(zip(ex, tx)):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            close(a.grad, b.grad, tol, f"grad of input {i}")
    for name, pe, pt in params:
        if pt.grad is None:
            assert pe.grad is None or not np.any(pe.grad.numpy()), name
        else:
            close(pe.grad, pt.grad, tol, f"grad of {name}")
    return ey, ty


def module_pair(ours, theirs, *arrays, tol=TOL):
    load(ours, theirs)
    ep, tp = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ep) == list(tp)
    out = run_pair(ours, theirs, arrays, params=[(k, ep[k], tp[k]) for k in tp], tol=tol)
    assert repr(ours) == repr(theirs)
    return out


def train_equivalent(model, loss_of, *inputs, lr=0.05):
    """3 SGD steps eager vs compiled vs lazy from the same start."""
    opt = ej.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(*xs):
        opt.zero_grad()
        loss = loss_of(model, *xs)
        loss.backward()
        opt.step()
        return loss

    assert_compile_equivalent(step, *inputs, steps=3, rtol=1e-5, atol=1e-6)


pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)


# --------------------------------------------------------------------------- instance norm
INSTANCE = [
    ("InstanceNorm1d", (2, 3, 5), dict()),
    ("InstanceNorm1d", (3, 7), dict(affine=True)),  # unbatched
    ("InstanceNorm2d", (2, 3, 4, 5), dict(affine=True)),
    ("InstanceNorm2d", (2, 3, 4, 5), dict(affine=True, track_running_stats=True, momentum=0.3)),
    ("InstanceNorm2d", (3, 4, 5), dict(track_running_stats=True)),  # unbatched with running stats
    ("InstanceNorm2d", (2, 3, 4, 5), dict(affine=True, bias=False, eps=1e-2)),
    ("InstanceNorm3d", (2, 3, 2, 3, 4), dict(affine=True, track_running_stats=True, momentum=None)),
]


@pytest.mark.parametrize("cls,shape,kw", INSTANCE, ids=lambda v: str(v))
def test_instance_norm_matches_torch(cls, shape, kw):
    tm = randomize(getattr(torch.nn, cls)(3, **kw))
    em = getattr(nn, cls)(3, **kw)
    x = rand(*shape) * 2 + 1
    module_pair(em, tm, x)
    for k, v in tm.state_dict().items():  # running statistics updated the same way
        close(em.state_dict()[k], v, what=k)
    tm.eval()
    em.eval()
    run_pair(em, tm, [x])


def test_instance_norm_functional_and_checks():
    x, rm, rv, w, b = rand(2, 3, 6), rand(3), rand(3) ** 2 + 0.5, rand(3), rand(3)
    for use_input_stats in (True, False):
        trm, erm = torch.tensor(rm), ej.tensor(rm)
        trv, erv = torch.tensor(rv), ej.tensor(rv)
        run_pair(
            lambda x, w, b: F.instance_norm(x, erm, erv, w, b, use_input_stats, 0.2, 1e-3),
            lambda x, w, b: TF.instance_norm(x, trm, trv, w, b, use_input_stats, 0.2, 1e-3),
            [x, w, b],
        )
        close(erm, trm)
        close(erv, trv)
    run_pair(F.instance_norm, TF.instance_norm, [x])
    with pytest.raises(ValueError, match=r"Expected more than 1 spatial element when training, got input size "):
        F.instance_norm(ej.randn(2, 3, 1))
    with pytest.raises(RuntimeError, match="Expected running_mean and running_var to be defined when use_input_stats"):
        F.instance_norm(ej.randn(2, 3, 4), use_input_stats=False)
    with pytest.raises(RuntimeError, match="weight should contain 6 elements not 8"):
        F.instance_norm(ej.randn(2, 3, 4), weight=ej.ones(4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.InstanceNorm1d(3)(ej.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(3\), but got: 4"):
        nn.InstanceNorm1d(3, affine=True)(ej.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(3)(ej.randn(2, 4, 5))
    for ours, theirs in [
        (nn.InstanceNorm2d(4), torch.nn.InstanceNorm2d(4)),
        (
            nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
            torch.nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
        ),
    ]:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    # an old checkpoint with running stats the layer does not track: refused like torch does
    with pytest.raises(RuntimeError, match="Unexpected running stats buffer"):
        nn.InstanceNorm1d(3).load_state_dict({"running_mean": np.zeros(3), "running_var": np.ones(3)})


def test_instance_norm_compiled_and_lazy():
    ej.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.InstanceNorm2d(4, affine=True, track_running_stats=True))
    x = ej.randn(3, 2, 6, 6)
    train_equivalent(model, lambda m, x: (m(x) ** 2).mean(), x)  # running stats are state too


# --------------------------------------------------------------------------- pixel shuffle
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 4), 2), ((18, 2, 3), 3), ((2, 1, 4, 2, 3), 2), ((1, 5, 2, 2), 1)])
def test_pixel_shuffle_matches_torch(shape, r):
    run_pair(lambda x: F.pixel_shuffle(x, r), lambda x: TF.pixel_shuffle(x, r), [rand(*shape)])
    module_pair(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), rand(*shape))
    up = rand(*shape[:-3], shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)
    run_pair(lambda x: F.pixel_unshuffle(x, r), lambda x: TF.pixel_unshuffle(x, r), [up])
    module_pair(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), up)
    close(F.pixel_unshuffle(F.pixel_shuffle(ej.tensor(rand(*shape)), r), r).shape, shape)


def test_pixel_shuffle_int_and_errors():
    x = np.arange(2 * 4 * 2 * 3).reshape(2, 4, 2, 3)
    assert F.pixel_shuffle(ej.tensor(x), 2).tolist() == TF.pixel_shuffle(torch.tensor(x), 2).tolist()
    cases = [
        (lambda: F.pixel_shuffle(ej.zeros(2, 3), 2), "pixel_shuffle expects input to have at least 3 dimensions"),
        (
            lambda: F.pixel_shuffle(ej.zeros(1, 3, 2, 2), 2),
            r"input.size\(-3\)=3 is not divisible by 4",
        ),
        (
            lambda: F.pixel_shuffle(ej.zeros(1, 4, 2, 2), 0),
            "pixel_shuffle expects a positive upscale_factor, but got 0",
        ),
        (
            lambda: F.pixel_unshuffle(ej.zeros(1, 4, 5, 2), 2),
            r"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size\(-2\)=5",
        ),
        (
            lambda: F.pixel_unshuffle(ej.zeros(1, 4, 4, 5), 2),
            r"pixel_unshuffle expects width to be divisible by downscale_factor, but input.size\(-1\)=5",
        ),
    ]
    for fn, msg in cases:
        with pytest.raises(RuntimeError, match=msg):
            fn()


def test_pixel_shuffle_compiled_and_lazy():
    ej.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.PixelShuffle(2), nn.Conv2d(2, 4, 3), nn.PixelUnshuffle(2))
    x = ej.randn(2, 1, 5, 5)
    train_equivalent(model, lambda m, x: (m(x) ** 2).mean(), x)


# --------------------------------------------------------------------------- embedding bag
BAGS = [
    dict(input=np.array([[1, 2, 2], [4, 0, 9]])),
    dict(input=np.array([1, 2, 4, 5, 4, 3, 2, 9]), offsets=np.array([0, 2, 2, 5])),  # an empty bag
    dict(input=np.array([1, 2, 4, 5, 4, 3, 2, 9]), offsets=np.array([0, 2, 2, 5, 8]), include_last_offset=True),
    dict(input=np.array([1, 2, 4, 5, 4, 3, 4, 9]), offsets=np.array([0, 3, 5, 6]), padding_idx=4),  # a bag of padding
    dict(input=np.array([[1, 2, 9], [4, 3, 9]]), padding_idx=-1),
    # every index here sorts where torch 2.13's CPU kernel reads the right count (see below)
    dict(input=np.array([3, 7, 9, 7, 9]), offsets=np.array([0, 3]), scale_grad_by_freq=True),
]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kw", BAGS, ids=lambda kw: ",".join(k for k in kw if k != "input"))
def test_embedding_bag_matches_torch(mode, kw):
    if mode == "max" and kw.get("scale_grad_by_freq"):
        return
    args = {k: v for k, v in kw.items() if not isinstance(v, np.ndarray)}
    tm = torch.nn.EmbeddingBag(10, 3, mode=mode, **args)
    em = nn.EmbeddingBag(10, 3, mode=mode, **args)
    off = kw.get("offsets")
    load(em, tm)
    ep, tp = dict(em.named_parameters()), dict(tm.named_parameters())
    run_pair(
        lambda i: em(i, None if off is None else ej.tensor(off)),
        lambda i: tm(i, None if off is None else torch.tensor(off)),
        [kw["input"]],
        params=[("weight", ep["weight"], tp["weight"])],
    )
    assert repr(em) == repr(tm)


def test_embedding_bag_per_sample_weights_max_norm_and_pretrained():
    w = rand(10, 3)
    for inp, off in [(np.array([[1, 2, 2], [4, 0, 9]]), None), (np.array([3, 1, 4, 1, 5]), np.array([0, 1, 3]))]:
        psw = rand(*inp.shape)
        run_pair(
            lambda w, p: F.embedding_bag(
                ej.tensor(inp), w, None if off is None else ej.tensor(off), mode="sum", per_sample_weights=p
            ),
            lambda w, p: TF.embedding_bag(
                torch.tensor(inp), w, None if off is None else torch.tensor(off), mode="sum", per_sample_weights=p
            ),
            [w, psw],
        )
    tm = torch.nn.EmbeddingBag(6, 3, max_norm=1.0, mode="sum")
    em = load(nn.EmbeddingBag(6, 3, max_norm=1.0, mode="sum"), tm)
    idx = np.array([[0, 2], [2, 5]])
    close(em(ej.tensor(idx)), tm(torch.tensor(idx)))
    close(em.weight, tm.weight)  # only the referenced rows renormalized, in place
    pre = rand(4, 3)
    fe = nn.EmbeddingBag.from_pretrained(ej.tensor(pre), mode="max")
    ft = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(pre), mode="max")
    assert not fe.weight.requires_grad
    close(fe(ej.tensor([[3, 1], [0, 2]])), ft(torch.tensor([[3, 1], [0, 2]])))
    ej.manual_seed(0)
    big = nn.EmbeddingBag(2000, 8, padding_idx=3).weight.numpy(force=True)
    assert np.all(big[3] == 0) and abs(big.std() - 1) < 0.05


def test_embedding_bag_scale_grad_by_freq_divides_by_each_index_count():
    # torch 2.13's CPU backward divides a once-seen index that sorts after a repeated one by the
    # repeated one's count (pytorch/pytorch#190063, fixed upstream; CUDA/MPS were right): we follow
    # the documented rule, so here the expectation is written out instead of taken from torch.
    w = ej.ones(4, 1, requires_grad=True)
    F.embedding_bag(ej.tensor([1, 1, 3]), w, ej.tensor([0]), mode="sum", scale_grad_by_freq=True).sum().backward()
    assert w.grad[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_embedding_bag_errors():
    w = ej.randn(10, 3)
    cases = [
        (lambda: F.embedding_bag(ej.tensor([1, 2, 3]), w, ej.tensor([1])), RuntimeError, "offsets\\[0\\] has to be 0"),
        (
            lambda: F.embedding_bag(ej.tensor([1, 2, 10]), w, ej.tensor([0])),
            RuntimeError,
            r"Index 2 of input takes value 10 which is not in the valid range \[0, 10\)",
        ),
        (
            lambda: F.embedding_bag(ej.tensor([1.0, 2.0]), w, ej.tensor([0])),
            RuntimeError,
            "to have one of the following scalar types: Long, Int; but got torch.FloatTensor instead",
        ),
        (
            lambda: F.embedding_bag(ej.tensor([1, 2]), w, ej.tensor([0]), mode="mean", per_sample_weights=ej.ones(2)),
            NotImplementedError,
            "per_sample_weights is only supported for mode='sum' \\(got mode='mean'\\)",
        ),
        (lambda: F.embedding_bag(ej.tensor([1, 2]), w, ej.tensor([0]), mode="x"), ValueError, "mode has to be one of"),
        (
            lambda: F.embedding_bag(ej.tensor([[1, 2]]), w, ej.tensor([0])),
            ValueError,
            "if input is 2D, then offsets has to be None",
        ),
        (lambda: F.embedding_bag(ej.tensor([1, 2]), w), ValueError, "offsets has to be a 1D Tensor but got None"),
        (lambda: F.embedding_bag(ej.tensor([1, 2]), w, ej.tensor([0, 3, 1])), IndexError, "index out of range"),
        (
            lambda: F.embedding_bag(ej.tensor([1, 2]), w, ej.tensor([0]), per_sample_weights=ej.ones(3)),
            ValueError,
            r"If per_sample_weights \(torch.Size\(\[3\]\)\) is not None, then it must have the same shape as the "
            r"input \(torch.Size\(\[2\]\)\)",
        ),
        (
            lambda: F.embedding_bag(ej.tensor([[1, 2]]), w, mode="max", scale_grad_by_freq=True),
            ValueError,
            "max mode does not support scaling the gradient by the frequency",
        ),
        (
            lambda: F.embedding_bag(ej.tensor([1, 2]), w, ej.tensor([0]), padding_idx=20),
            RuntimeError,
            "padding_idx must be within the number of embeddings, -10 through 9, but got 20",
        ),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        nn.EmbeddingBag(4, 3, padding_idx=4)


def test_embedding_bag_compiled_and_lazy():
    ej.manual_seed(2)
    bag = nn.EmbeddingBag(12, 4, mode="mean", padding_idx=0)
    head = nn.Linear(4, 1)
    model = nn.ModuleList([bag, head])
    idx, off = ej.tensor([3, 0, 5, 7, 7, 11, 2]), ej.tensor([0, 2, 5])
    train_equivalent(model, lambda m, i, o: (m[1](m[0](i, o)) ** 2).mean(), idx, off, lr=0.5)


# --------------------------------------------------------------------------- recurrent cells
CELLS = [
    ("RNNCell", dict()),
    ("RNNCell", dict(nonlinearity="relu", bias=False)),
    ("LSTMCell", dict()),
    ("LSTMCell", dict(bias=False)),
    ("GRUCell", dict()),
    ("GRUCell", dict(bias=False)),
]


@pytest.mark.parametrize("cls,kw", CELLS, ids=lambda v: str(v))
def test_cells_match_torch(cls, kw):
    tm = getattr(torch.nn, cls)(3, 4, **kw)
    em = getattr(nn, cls)(3, 4, **kw)
    lstm = cls == "LSTMCell"
    for batch in ((5,), ()):
        x, h, c = rand(*batch, 3), rand(*batch, 4), rand(*batch, 4)
        if lstm:
            load(em, tm)
            ep, tp = dict(em.named_parameters()), dict(tm.named_parameters())
            params = [(k, ep[k], tp[k]) for k in tp]
            run_pair(lambda x, h, c: em(x, (h, c)), lambda x, h, c: tm(x, (h, c)), [x, h, c], params=params)
            for p in list(em.parameters()) + list(tm.parameters()):
                p.grad = None
            run_pair(em, tm, [x], params=params)  # zero initial state
        else:
            module_pair(em, tm, x, h)
            for p in list(em.parameters()) + list(tm.parameters()):
                p.grad = None
            module_pair(em, tm, x)
    assert repr(em) == repr(tm)
    assert [(k, tuple(v.shape)) for k, v in em.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in tm.state_dict().items()
    ]


def test_cell_init_and_errors():
    ej.manual_seed(0)
    cell = nn.GRUCell(16, 100)
    bound = 1 / math.sqrt(100)
    for p in cell.parameters():
        v = p.numpy(force=True)
        assert v.min() >= -bound and v.max() <= bound and v.std() > bound / 2
    lstm = nn.LSTMCell(3, 4)
    cases = [
        (lambda: lstm(ej.zeros(2, 2, 3)), ValueError, "LSTMCell: Expected input to be 1D or 2D, got 3D instead"),
        (lambda: lstm(ej.zeros(2, 5)), RuntimeError, "input has inconsistent input_size: got 5 expected 3"),
        (
            lambda: lstm(ej.zeros(2, 3), (ej.zeros(3, 4), ej.zeros(3, 4))),
            RuntimeError,
            "Input batch size 2 doesn't match hidden0 batch size 3",
        ),
        (
            lambda: lstm(ej.zeros(2, 3), (ej.zeros(2, 4), ej.zeros(2, 5))),
            RuntimeError,
            "hidden1 has inconsistent hidden_size: got 5, expected 4",
        ),
        (
            lambda: lstm(ej.zeros(2, 3), (ej.zeros(1, 2, 4), ej.zeros(2, 4))),
            ValueError,
            r"LSTMCell: Expected hx\[0\] to be 1D or 2D, got 3D instead",
        ),
        (
            lambda: nn.RNNCell(3, 4)(ej.zeros(2, 3), ej.zeros(1, 2, 4)),
            ValueError,
            "RNNCell: Expected hidden to be 1D or 2D, got 3D instead",
        ),
        (
            lambda: nn.GRUCell(3, 4)(ej.zeros(2, 3), ej.zeros(2, 5)),
            RuntimeError,
            "hidden0 has inconsistent hidden_size",
        ),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()


def test_cells_compiled_and_lazy():
    ej.manual_seed(3)
    model = nn.ModuleList([nn.RNNCell(3, 5), nn.LSTMCell(5, 6), nn.GRUCell(6, 4)])
    xs = ej.randn(2, 2, 3)

    def loss_of(m, xs):
        h1 = hc = h3 = None
        for t in range(xs.shape[0]):
            h1 = m[0](xs[t], h1)
            hc = m[1](h1, hc)
            h3 = m[2](hc[0], h3)
        return (h3**2).mean()

    train_equivalent(model, loss_of, xs)


# --------------------------------------------------------------------------- bicubic interpolation
BICUBIC = [
    dict(size=(7, 9)),
    dict(size=(7, 9), align_corners=True),
    dict(size=(3, 2)),
    dict(size=(3, 2), align_corners=True),
    dict(scale_factor=1.7),
    dict(scale_factor=(0.6, 2.5)),
    dict(scale_factor=(1.1, 2.0)),  # an unchanged size with a scale that is not 1
    dict(scale_factor=2, align_corners=True),
    dict(scale_factor=1.7, recompute_scale_factor=True),
    dict(size=(5, 4)),
    dict(size=(1, 1), align_corners=True),
]


@pytest.mark.parametrize("kw", BICUBIC, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_bicubic_matches_torch(kw):
    run_pair(
        lambda x: F.interpolate(x, mode="bicubic", **kw),
        lambda x: TF.interpolate(x, mode="bicubic", **kw),
        [rand(2, 3, 5, 4) * 3],
    )


def test_bicubic_module_errors_and_capture():
    module_pair(
        nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False),
        torch.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False),
        rand(1, 2, 4, 5),
    )
    for shape in ((1, 2, 3), (1, 2, 3, 3, 3)):
        with pytest.raises(NotImplementedError, match=r"Only 3D, 4D and 5D input Tensors supported .* \(got bicubic\)"):
            F.interpolate(ej.zeros(*shape), size=4, mode="bicubic")
    ej.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=1.5, mode="bicubic"), nn.Conv2d(2, 1, 3))
    x = ej.randn(2, 1, 7, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_equivalent(model, lambda m, x: (m(x) ** 2).mean(), x)
