"""Convolution / pooling / normalization / embedding / resizing / extra losses versus torch.

Every layer test builds the torch layer, loads its state_dict into ours as numpy arrays,
and compares outputs (1e-5) and input + parameter gradients (1e-4) for a random cotangent.
"""

import math

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:torch.*")

RNG = np.random.default_rng(0)


def rand(*shape, low=None, high=None):
    if low is not None:
        return RNG.uniform(low, high, shape).astype(np.float32)
    return RNG.standard_normal(shape).astype(np.float32)


def close(ours, theirs, tol=1e-5, what=""):
    a = ours.detach().numpy() if isinstance(ours, ej.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def run_pair(ours_fn, theirs_fn, arrays, grad=True, params=(), tol=1e-5, gtol=1e-4):
    """Call both sides on the same float arrays; compare outputs and (optionally) all gradients.

    ``params``: ``(name, our_tensor, torch_tensor)`` triples whose gradients are compared too.
    """
    ex = [ej.tensor(a, requires_grad=grad and a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    tx = [
        torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays
    ]
    ey, ty = ours_fn(*ex), theirs_fn(*tx)
    outs_e = ey if isinstance(ey, tuple) else (ey,)
    outs_t = ty if isinstance(ty, tuple) else (ty,)
    for i, (a, b) in enumerate(zip(outs_e, outs_t)):
        close(a, b, tol, f"output {i}")
    if not grad:
        return ey, ty
    g = rand(*outs_t[0].shape)
    (outs_e[0] * ej.tensor(g)).sum().backward()
    (outs_t[0] * torch.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(ex, tx)):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            close(a.grad, b.grad, gtol, f"grad of input {i}")
    for name, pe, pt in params:
        if pt.grad is None:
            assert pe.grad is None or np.all(pe.grad.numpy() == 0), name
        else:
            close(pe.grad, pt.grad, gtol, f"grad of {name}")
    return ey, ty


def load(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    return ours


def module_pair(ours, theirs, *arrays, grad=True, tol=1e-5, gtol=1e-4):
    load(ours, theirs)
    ep, tp = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ep) == list(tp)
    params = [(k, ep[k], tp[k]) for k in tp]
    return run_pair(ours, theirs, arrays, grad=grad, params=params, tol=tol, gtol=gtol)


# --------------------------------------------------------------------------- convolution
CONV2D = [
    dict(),
    dict(stride=2, padding=1, bias=False),
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
    dict(padding="same", dilation=2),
    dict(groups=2, padding=1, padding_mode="reflect"),
    dict(padding=(1, 2), padding_mode="circular", stride=2),
    dict(padding="same", padding_mode="replicate"),
]


@pytest.mark.parametrize("kw", CONV2D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_conv2d_matches_torch(kw):
    ks = (4, 3) if kw.get("padding") == "same" else 3  # even kernel: asymmetric 'same' padding
    tm = torch.nn.Conv2d(4, 6, ks, **kw)
    em = nn.Conv2d(4, 6, ks, **kw)
    module_pair(em, tm, rand(2, 4, 9, 8))
    assert repr(em) == repr(tm)


def test_conv2d_unbatched_and_functional():
    tm = torch.nn.Conv2d(3, 5, 3, padding=1)
    em = nn.Conv2d(3, 5, 3, padding=1)
    module_pair(em, tm, rand(3, 6, 6))
    w, b = rand(6, 2, 3, 3), rand(6)
    run_pair(
        lambda x, w, b: F.conv2d(x, w, b, stride=2, groups=2, padding="valid"),
        lambda x, w, b: TF.conv2d(x, w, b, stride=2, groups=2, padding="valid"),
        [rand(2, 4, 7, 7), w, b],
    )


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=2, dilation=2), dict(groups=3, padding="same")])
def test_conv1d_matches_torch(kw):
    module_pair(
        nn.Conv1d(6, 3, 4 if kw.get("padding") == "same" else 3, **kw),
        torch.nn.Conv1d(6, 3, 4 if kw.get("padding") == "same" else 3, **kw),
        rand(2, 6, 11),
    )


def test_conv3d_matches_torch():
    module_pair(
        nn.Conv3d(2, 3, 2, stride=(1, 2, 1), padding=1),
        torch.nn.Conv3d(2, 3, 2, stride=(1, 2, 1), padding=1),
        rand(1, 2, 4, 5, 4),
    )


CONVT2D = [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(0, 1), dilation=2, output_padding=(1, 0)),
    dict(groups=2, stride=2, bias=False),
    dict(groups=2, stride=2, padding=1, output_padding=1, dilation=(1, 2)),
]


@pytest.mark.parametrize("kw", CONVT2D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_conv_transpose2d_matches_torch(kw):
    tm = torch.nn.ConvTranspose2d(4, 6, 3, **kw)
    em = nn.ConvTranspose2d(4, 6, 3, **kw)
    module_pair(em, tm, rand(2, 4, 5, 6))
    assert repr(em) == repr(tm)


def test_conv_transpose_output_size_and_1d():
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    em = load(nn.ConvTranspose2d(3, 2, 3, stride=2), tm)
    x = rand(1, 3, 5, 5)
    close(em(ej.tensor(x), output_size=(12, 12)), tm(torch.tensor(x), output_size=(12, 12)))
    with pytest.raises(
        ValueError,
        match=r"requested an output size of \(20, 20\), but valid sizes range from "
        r"\[11, 11\] to \[12, 12\]",
    ):
        em(ej.tensor(x), output_size=(20, 20))
    module_pair(
        nn.ConvTranspose1d(2, 4, 3, stride=3, padding=1, groups=2),
        torch.nn.ConvTranspose1d(2, 4, 3, stride=3, padding=1, groups=2),
        rand(2, 2, 5),
    )


def test_conv_default_init_statistics():
    ej.manual_seed(0)
    m = nn.Conv2d(16, 32, 5)
    fan_in = 16 * 25
    bound = 1 / math.sqrt(fan_in)
    w = m.weight.numpy(force=True)
    assert w.shape == (32, 16, 5, 5)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    b = m.bias.numpy(force=True)
    assert np.abs(b).max() <= bound
    t = nn.ConvTranspose2d(8, 6, 3, groups=2)
    assert tuple(t.weight.shape) == (8, 3, 3, 3)
    assert np.abs(t.weight.numpy(force=True)).max() <= 1 / math.sqrt(3 * 9)
    # reset_parameters is separate from __init__ and redraws
    before = m.weight.numpy(force=True).copy()
    m.reset_parameters()
    assert not np.allclose(before, m.weight.numpy(force=True))


def test_conv_errors_match_torch():
    x = ej.randn(2, 4, 8, 8)
    w = ej.randn(8, 3, 3, 3)
    with pytest.raises(RuntimeError) as e:
        F.conv2d(x, w)
    assert str(e.value) == (
        "Given groups=1, weight of size [8, 3, 3, 3], expected input[2, 4, 8, 8] to have 3 channels, but got 4 "
        "channels instead"
    )
    with pytest.raises(
        RuntimeError,
        match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got "
        r"input of size: \[2, 3\]",
    ):
        F.conv2d(ej.randn(2, 3), w)
    with pytest.raises(
        RuntimeError,
        match=r"Calculated padded input size per channel: \(2 x 2\). Kernel size: "
        r"\(3 x 3\). Kernel size can't be greater than actual input size",
    ):
        F.conv2d(ej.randn(1, 3, 2, 2), w)
    with pytest.raises(
        RuntimeError,
        match=r"Given transposed=1, weight of size \[4, 8, 3, 3\], expected "
        r"input\[2, 3, 5, 5\] to have 4 channels, but got 3 channels instead",
    ):
        F.conv_transpose2d(ej.randn(2, 3, 5, 5), ej.randn(4, 8, 3, 3))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 9, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(4, 8, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'foo'"):
        nn.Conv2d(4, 8, 3, padding="foo")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(3, 2, 3, padding_mode="reflect")


# --------------------------------------------------------------------------- pooling
POOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
]


@pytest.mark.parametrize(
    "kw",
    POOL2D
    + [dict(kernel_size=3, stride=1, dilation=2, padding=1), dict(kernel_size=2, dilation=(2, 1), ceil_mode=True)],
)
def test_max_pool2d_matches_torch(kw):
    module_pair(nn.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw), rand(2, 3, 9, 8))


@pytest.mark.parametrize("kw", POOL2D + [dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)])
def test_max_pool2d_return_indices(kw):
    run_pair(
        lambda x: F.max_pool2d(x, return_indices=True, **kw),
        lambda x: TF.max_pool2d(x, return_indices=True, **kw),
        [rand(2, 3, 9, 8)],
    )


def test_max_pool_ties_and_1d():
    x = np.zeros((1, 1, 4, 4), np.float32)
    run_pair(lambda x: F.max_pool2d(x, 2, return_indices=True), lambda x: TF.max_pool2d(x, 2, return_indices=True), [x])
    for kw in (dict(kernel_size=3), dict(kernel_size=4, stride=2, padding=2, ceil_mode=True)):
        module_pair(nn.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw), rand(2, 3, 13))
        run_pair(
            lambda x: F.max_pool1d(x, return_indices=True, **kw),
            lambda x: TF.max_pool1d(x, return_indices=True, **kw),
            [rand(2, 3, 13)],
        )
    module_pair(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), rand(3, 6, 6))  # unbatched


AVG2D = POOL2D + [
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
    dict(kernel_size=2, padding=1, divisor_override=3),
]


@pytest.mark.parametrize("kw", AVG2D)
def test_avg_pool2d_matches_torch(kw):
    module_pair(nn.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), rand(2, 3, 9, 8))


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3),
        dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
        dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    ],
)
def test_avg_pool1d_matches_torch(kw):
    module_pair(nn.AvgPool1d(**kw), torch.nn.AvgPool1d(**kw), rand(2, 3, 14))


@pytest.mark.parametrize("size", [1, (None, 4), (5, 6), (7, 3)])
def test_adaptive_pools_match_torch(size):
    x = rand(2, 3, 7, 9)
    module_pair(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), x)
    run_pair(
        lambda x: F.adaptive_max_pool2d(x, size, return_indices=True),
        lambda x: TF.adaptive_max_pool2d(x, size, return_indices=True),
        [x],
    )


def test_adaptive_pool1d_and_3d():
    module_pair(nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4), rand(2, 3, 10))
    module_pair(nn.AdaptiveMaxPool1d(3), torch.nn.AdaptiveMaxPool1d(3), rand(2, 3, 10))
    module_pair(nn.AdaptiveMaxPool2d((2, 3)), torch.nn.AdaptiveMaxPool2d((2, 3)), rand(2, 3, 5, 7))
    module_pair(nn.AdaptiveAvgPool3d((2, 1, 3)), torch.nn.AdaptiveAvgPool3d((2, 1, 3)), rand(1, 2, 5, 4, 7))


def test_pool_errors_match_torch():
    x = ej.randn(2, 4, 8, 8)
    with pytest.raises(
        RuntimeError,
        match="pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1",
    ):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(
        RuntimeError,
        match=r"Given input size: \(1x2x2\). Calculated output size: \(1x0x0\). "
        "Output size is too small",
    ):
        F.avg_pool2d(ej.randn(1, 1, 2, 2), 3)
    with pytest.raises(
        RuntimeError, match="max_pool2d: kernel_size must either be a single int, or a tuple of two ints"
    ):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(RuntimeError, match="stride should not be zero"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(
        RuntimeError,
        match="pad should be smaller than or equal to half of kernel size, but got padW = 2, padH = 2, kW = 3, kH = 3",
    ):
        F.max_pool2d(x, 3, padding=2, dilation=2)
    with pytest.raises(
        RuntimeError,
        match="max_pool1d\\(\\) padding should be at most half of kernel size, but got padding=2 and kernel_size=3",
    ):
        F.max_pool1d(ej.randn(1, 1, 9), 3, padding=2)
    nan = np.full((1, 1, 4), np.nan, np.float32)
    nan[0, 0, 0] = 1.0
    np.testing.assert_array_equal(F.max_pool1d(ej.tensor(nan), 2).numpy(), TF.max_pool1d(torch.tensor(nan), 2).numpy())
    assert repr(nn.MaxPool2d(3, 2)) == repr(torch.nn.MaxPool2d(3, 2))
    assert repr(nn.AvgPool2d(3)) == repr(torch.nn.AvgPool2d(3))
    assert repr(nn.AvgPool1d(3)) == repr(torch.nn.AvgPool1d(3))


# --------------------------------------------------------------------------- normalization
@pytest.mark.parametrize(
    "kw,shape",
    [(dict(), (6,)), (dict(eps=1e-3), (4, 6)), (dict(elementwise_affine=False), (6,)), (dict(bias=False), (4, 6))],
)
def test_layer_norm_matches_torch(kw, shape):
    tm = torch.nn.LayerNorm(shape, **kw)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn(p.shape))
    module_pair(nn.LayerNorm(shape, **kw), tm, rand(3, 4, 6) * 3 + 1)


@pytest.mark.parametrize(
    "kw,shape",
    [
        (dict(), (2, 6, 3, 4)),
        (dict(eps=1e-2), (4, 6, 5)),
        (dict(affine=False), (4, 6)),
        (dict(bias=False), (2, 6, 3, 4)),
    ],
)
def test_group_norm_matches_torch(kw, shape):
    tm = torch.nn.GroupNorm(3, 6, **kw)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn(p.shape))
    # Distinct, evenly spaced inputs: a group of two near-equal values has a tiny variance, and
    # its input gradient (scaled by 1/std) then differs from torch's by float32 rounding noise.
    n = int(np.prod(shape))
    x = np.random.default_rng(n).permutation(np.linspace(-1, 1, n, dtype=np.float32)).reshape(shape)
    module_pair(nn.GroupNorm(3, 6, **kw), tm, x)


@pytest.mark.parametrize("kw", [dict(), dict(eps=1e-3), dict(elementwise_affine=False)])
def test_rms_norm_matches_torch(kw):
    tm = torch.nn.RMSNorm([4, 5], **kw)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn(p.shape))
    module_pair(nn.RMSNorm([4, 5], **kw), tm, rand(3, 4, 5))


def test_batch_norm2d_available_and_matches():
    tm, em = torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    module_pair(em, tm, rand(4, 3, 5, 5))
    close(em.running_mean, tm.running_mean)
    close(em.running_var, tm.running_var)


def test_norm_errors_and_repr():
    with pytest.raises(
        RuntimeError,
        match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
        r"but got input of size\[2, 3\]",
    ):
        F.layer_norm(ej.randn(2, 3), [4])
    with pytest.raises(
        RuntimeError,
        match=r"Expected number of channels in input to be divisible by num_groups, "
        r"but got input of shape \[2, 6, 4\] and num_groups=4",
    ):
        F.group_norm(ej.randn(2, 6, 4), 4)
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    for ours, theirs in [
        (nn.LayerNorm(4), torch.nn.LayerNorm(4)),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
        (nn.RMSNorm(4), torch.nn.RMSNorm(4)),
    ]:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for k, v in theirs.state_dict().items():
            close(ours.state_dict()[k], v)


# --------------------------------------------------------------------------- embedding
@pytest.mark.parametrize("kw", [dict(), dict(padding_idx=2), dict(padding_idx=-1, scale_grad_by_freq=True)])
def test_embedding_matches_torch(kw):
    tm = torch.nn.Embedding(10, 4, **kw)
    em = nn.Embedding(10, 4, **kw)
    idx = np.array([[1, 2, 9], [2, 2, 0]], np.int64)
    load(em, tm)
    out_e = em(ej.tensor(idx))
    out_t = tm(torch.tensor(idx))
    close(out_e, out_t)
    g = rand(2, 3, 4)
    (out_e * ej.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    close(em.weight.grad, tm.weight.grad, 1e-4)
    assert repr(em) == repr(tm)


def test_embedding_init_max_norm_from_pretrained_and_errors():
    ej.manual_seed(0)
    e = nn.Embedding(2000, 8, padding_idx=3)
    w = e.weight.numpy(force=True)
    assert np.all(w[3] == 0) and abs(w.std() - 1) < 0.05 and abs(w.mean()) < 0.05
    tm = torch.nn.Embedding(6, 3, max_norm=1.0)
    em = load(nn.Embedding(6, 3, max_norm=1.0), tm)
    idx = np.array([0, 2, 2, 5])
    close(em(ej.tensor(idx)), tm(torch.tensor(idx)))
    close(em.weight, tm.weight)  # renormalized in place, only the referenced rows
    pre = rand(4, 3)
    fe = nn.Embedding.from_pretrained(ej.tensor(pre))
    assert not fe.weight.requires_grad
    close(fe(ej.tensor(np.array([3, 1]))), pre[[3, 1]])
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(ej.tensor([5]), ej.randn(4, 3))
    with pytest.raises(
        RuntimeError,
        match="Expected tensor for argument #1 'indices' to have one of the following "
        "scalar types: Long, Int; but got torch.FloatTensor instead",
    ):
        F.embedding(ej.tensor([1.0]), ej.randn(4, 3))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(4, 3, padding_idx=4)


def test_one_hot():
    t = ej.tensor([0, 2, 1, 2])
    close(F.one_hot(t), TF.one_hot(torch.tensor([0, 2, 1, 2])))
    close(F.one_hot(t, 5), TF.one_hot(torch.tensor([0, 2, 1, 2]), 5))
    with pytest.raises(RuntimeError, match="Class values must be non-negative."):
        F.one_hot(ej.tensor([-1]))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(ej.tensor([3]), 2)


# --------------------------------------------------------------------------- padding and resizing
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 1, 0, 2), (-1, 2, 1, 1)])
def test_pad_matches_torch(mode, pad):
    kw = dict(value=1.5) if mode == "constant" else {}
    x = rand(2, 3, 5) if len(pad) == 2 else rand(2, 3, 4, 5)
    run_pair(lambda x: F.pad(x, pad, mode=mode, **kw), lambda x: TF.pad(x, pad, mode=mode, **kw), [x])


def test_pad_errors_match_torch():
    with pytest.raises(
        RuntimeError,
        match=r"Argument #4: Padding size should be less than the corresponding input "
        r"dimension, but got: padding \(3, 3\) at dimension 3 of input \[1, 1, 3, 3\]",
    ):
        F.pad(ej.randn(1, 1, 3, 3), (3, 3, 1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input tensor."):
        F.pad(ej.randn(3), (1, 1), mode="replicate")
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(ej.randn(3), (1,))


INTERP = [
    dict(size=(7, 5)),
    dict(scale_factor=2),
    dict(scale_factor=1.7),
    dict(scale_factor=(0.6, 2.5)),
    dict(scale_factor=1.7, recompute_scale_factor=True),
    dict(size=(3, 11), mode="nearest-exact"),
    dict(size=(7, 5), mode="bilinear"),
    dict(size=(7, 5), mode="bilinear", align_corners=True),
    dict(scale_factor=(1.5, 0.5), mode="bilinear"),
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(size=(2, 3), mode="area"),
]


@pytest.mark.parametrize("kw", INTERP, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_interpolate_matches_torch(kw):
    run_pair(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [rand(2, 3, 5, 4)])


def test_interpolate_index_corner_cases():
    # torch keeps a dim whose size does not change (linear modes, 2D nearest) and uses the
    # 1/scale_factor rule otherwise, also in 1D/3D nearest where a 3 -> 3 resize shifts
    for shape, sf in [
        ((1, 1, 3), 1.1),
        ((1, 1, 7), 1.1),
        ((1, 2, 4, 7), (1.1, 1.5)),
        ((1, 2, 4, 7), (2.0001, 0.51)),
        ((1, 1, 3, 2, 4), 1.1),
    ]:
        modes = ["nearest", "nearest-exact", {3: "linear", 4: "bilinear", 5: "trilinear"}[len(shape)]]
        for mode in modes:
            run_pair(
                lambda x: F.interpolate(x, scale_factor=sf, mode=mode),
                lambda x: TF.interpolate(x, scale_factor=sf, mode=mode),
                [rand(*shape)],
                grad=False,
            )


def test_interpolate_1d_upsample_modules_and_errors():
    for kw in (dict(scale_factor=3), dict(size=7, mode="linear"), dict(size=4, mode="linear", align_corners=True)):
        run_pair(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [rand(2, 3, 6)])
    for ours, theirs in [
        (nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Upsample(scale_factor=2, mode="bilinear")),
        (nn.UpsamplingNearest2d(size=(3, 9)), torch.nn.UpsamplingNearest2d(size=(3, 9))),
        (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2)),
    ]:
        module_pair(ours, theirs, rand(1, 2, 4, 5))
        assert repr(ours) == repr(theirs)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(ej.randn(1, 1, 4, 4), scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(ej.randn(1, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        F.interpolate(ej.randn(1, 1, 4), size=3, mode="bilinear")


# --------------------------------------------------------------------------- distances, bilinear, dropout
def test_normalize_cosine_pairwise_match_torch():
    x = rand(4, 5)
    x[1] = 0  # zero vector: clamped norm, zero (not NaN) gradient
    for p, dim in ((2.0, 1), (1.0, 0), (3.0, -1)):
        run_pair(lambda x: F.normalize(x, p=p, dim=dim), lambda x: TF.normalize(x, p=p, dim=dim), [x])
    run_pair(lambda a, b: F.cosine_similarity(a, b), lambda a, b: TF.cosine_similarity(a, b), [x, rand(4, 5)])
    run_pair(
        lambda a, b: F.cosine_similarity(a, b, dim=0, eps=1e-2),
        lambda a, b: TF.cosine_similarity(a, b, dim=0, eps=1e-2),
        [rand(4, 1) * 1e-3, rand(1, 5)],
    )
    for p, keep in ((2.0, False), (1.0, True), (3.0, False)):
        run_pair(
            lambda a, b: F.pairwise_distance(a, b, p=p, keepdim=keep),
            lambda a, b: TF.pairwise_distance(a, b, p=p, keepdim=keep),
            [x, rand(4, 5)],
        )


def test_bilinear_matches_torch():
    module_pair(nn.Bilinear(3, 4, 5), torch.nn.Bilinear(3, 4, 5), rand(6, 3), rand(6, 4))
    module_pair(nn.Bilinear(3, 4, 2, bias=False), torch.nn.Bilinear(3, 4, 2, bias=False), rand(2, 6, 3), rand(2, 6, 4))
    assert repr(nn.Bilinear(3, 4, 5)) == repr(torch.nn.Bilinear(3, 4, 5))
    ej.manual_seed(0)
    w = nn.Bilinear(25, 4, 20).weight.numpy(force=True)
    assert np.abs(w).max() <= 0.2 and np.abs(w).max() > 0.195
    with pytest.raises(
        RuntimeError, match="bilinear\\(\\): input2 size does not match weight size: got 4 but expected 3"
    ):
        F.bilinear(ej.randn(2, 3), ej.randn(2, 4), ej.randn(5, 3, 3))


def test_dropout2d_channels_statistics_and_eval():
    ej.manual_seed(0)
    m = nn.Dropout2d(0.3)
    x = ej.ones(64, 16, 3, 3)
    y = m(x).numpy()
    per_channel = y.reshape(64, 16, 9)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole channels kept or dropped
    assert np.all(np.isclose(y, 0) | np.isclose(y, 1 / 0.7))
    assert abs((y == 0).mean() - 0.3) < 0.05
    m.eval()
    assert m(x) is x
    ej.manual_seed(1)
    a = F.dropout2d(x, 0.5).numpy()
    ej.manual_seed(1)
    b = F.dropout2d(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    xg = ej.randn(4, 5, 2, 2, requires_grad=True)
    out = F.dropout2d(xg, 0.5)
    out.sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), (out.detach().numpy() != 0) * 2.0, atol=1e-6)
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input"):
        F.dropout2d(ej.ones(2, 3, 4))
    y1 = nn.Dropout1d(0.5)(ej.ones(8, 16, 5)).numpy()
    assert np.all(y1.min(-1) == y1.max(-1))


# --------------------------------------------------------------------------- losses
RED = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", RED)
def test_regression_losses_match_torch(reduction):
    x, y = rand(4, 5) * 2, rand(4, 5) * 2
    x[0, 0] = y[0, 0]  # |d| == 0 exactly
    pairs = [
        (nn.L1Loss(reduction=reduction), torch.nn.L1Loss(reduction=reduction)),
        (nn.SmoothL1Loss(reduction=reduction), torch.nn.SmoothL1Loss(reduction=reduction)),
        (nn.SmoothL1Loss(reduction=reduction, beta=0.5), torch.nn.SmoothL1Loss(reduction=reduction, beta=0.5)),
        (nn.SmoothL1Loss(reduction=reduction, beta=0.0), torch.nn.SmoothL1Loss(reduction=reduction, beta=0.0)),
        (nn.HuberLoss(reduction=reduction), torch.nn.HuberLoss(reduction=reduction)),
        (nn.HuberLoss(reduction=reduction, delta=0.3), torch.nn.HuberLoss(reduction=reduction, delta=0.3)),
    ]
    for ours, theirs in pairs:
        run_pair(ours, theirs, [x, y])
    w = rand(4, 5, low=0.1, high=2)
    run_pair(
        lambda a, b: F.l1_loss(a, b, reduction=reduction, weight=ej.tensor(w)),
        lambda a, b: TF.l1_loss(a, b, reduction=reduction, weight=torch.tensor(w)),
        [x, y],
    )
    run_pair(
        lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=0.5, weight=ej.tensor(w)),
        lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=0.5, weight=torch.tensor(w)),
        [x, y],
    )


@pytest.mark.parametrize("reduction,weighted", [("mean", False), ("sum", True), ("none", True), ("mean", True)])
def test_bce_losses_match_torch(reduction, weighted):
    p = rand(6, 3, low=0.02, high=0.98)
    t = rand(6, 3, low=0, high=1)
    logits = rand(6, 3) * 4
    w = rand(3, low=0.2, high=2) if weighted else None
    ew = ej.tensor(w) if weighted else None
    tw = torch.tensor(w) if weighted else None
    run_pair(
        nn.BCELoss(ew, reduction=reduction),
        torch.nn.BCELoss(tw, reduction=reduction),
        [p, (t > 0.5).astype(np.float32)],
    )
    run_pair(nn.BCELoss(ew, reduction=reduction), torch.nn.BCELoss(tw, reduction=reduction), [p, t])
    run_pair(
        nn.BCEWithLogitsLoss(ew, reduction=reduction), torch.nn.BCEWithLogitsLoss(tw, reduction=reduction), [logits, t]
    )
    pw = rand(3, low=0.5, high=3)
    em = nn.BCEWithLogitsLoss(ew, reduction=reduction, pos_weight=ej.tensor(pw))
    tm = torch.nn.BCEWithLogitsLoss(tw, reduction=reduction, pos_weight=torch.tensor(pw))
    assert list(em.state_dict()) == list(tm.state_dict())
    run_pair(em, tm, [logits, t])


def test_bce_extremes_and_errors():
    p = np.array([0.0, 1.0, 0.5, 1e-30], np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    run_pair(
        lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
        lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"),
        [p, t],
        grad=False,
    )
    big = np.array([-100.0, 100.0, 0.0, 30.0], np.float32)
    run_pair(lambda a, b: F.binary_cross_entropy_with_logits(a, b), TF.binary_cross_entropy_with_logits, [big, t])
    with pytest.raises(
        ValueError,
        match=r"Using a target size \(torch.Size\(\[3, 1\]\)\) that is different to the "
        r"input size \(torch.Size\(\[3\]\)\) is deprecated",
    ):
        F.binary_cross_entropy(ej.rand(3), ej.rand(3, 1))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(ej.tensor([1.5]), ej.rand(1))
    with pytest.raises(ValueError, match=r"Target size \(torch.Size\(\[3, 1\]\)\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(ej.rand(3), ej.rand(3, 1))


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    x = np.log(rand(3, 5, low=0.05, high=1)).astype(np.float32)
    t = rand(3, 5, low=0.0, high=1)
    t[0, 0] = 0.0  # 0 * log 0 == 0
    if log_target:
        t = np.log(t + 0.1).astype(np.float32)
    ours, theirs = (
        nn.KLDivLoss(reduction=reduction, log_target=log_target),
        torch.nn.KLDivLoss(reduction=reduction, log_target=log_target),
    )
    if reduction == "mean":
        with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both the batch size"):
            run_pair(ours, theirs, [x, t])
    else:
        run_pair(ours, theirs, [x, t])


@pytest.mark.parametrize("reduction,margin", [("mean", 0.0), ("sum", 0.3), ("none", 0.3)])
def test_cosine_embedding_loss_matches_torch(reduction, margin):
    y = np.array([1, -1, 1, -1, -1], np.float32)
    ours = nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)
    theirs = torch.nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)
    run_pair(
        lambda a, b: ours(a, b, ej.tensor(y)), lambda a, b: theirs(a, b, torch.tensor(y)), [rand(5, 4), rand(5, 4)]
    )
    run_pair(
        lambda a, b: ours(a, b, ej.tensor(-1.0)), lambda a, b: theirs(a, b, torch.tensor(-1.0)), [rand(4), rand(4)]
    )


def test_loss_errors():
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values for beta."):
        F.smooth_l1_loss(ej.randn(3), ej.randn(3), beta=-1)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta."):
        F.huber_loss(ej.randn(3), ej.randn(3), delta=0)
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.l1_loss(ej.randn(3), ej.randn(3), reduction="foo")
    with pytest.warns(UserWarning, match="Using a target size"):
        F.l1_loss(ej.randn(3), ej.randn(3, 1))


# --------------------------------------------------------------------------- capture
def test_small_cnn_compiled_step_matches_eager():
    def make():
        ej.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.GroupNorm(2, 4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.LayerNorm(4),
            nn.Linear(4, 3),
        )

    x = ej.randn(4, 1, 8, 8)
    y = ej.tensor([0, 1, 2, 1])

    def step_fn(model):
        def step(x, y):
            for p in model.parameters():
                p.grad = None
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            with ej.no_grad():
                for p in model.parameters():
                    p.sub_(0.1 * p.grad)
            return loss

        return step

    m1 = make()
    eager = [float(step_fn(m1)(x, y)) for _ in range(3)]
    m2 = make()
    c = ej.compile(step_fn(m2))
    comp = [float(c(x, y)) for _ in range(3)]
    np.testing.assert_allclose(comp, eager, rtol=1e-5, atol=1e-6)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(force=True), rtol=1e-5, atol=1e-6, err_msg=k)
