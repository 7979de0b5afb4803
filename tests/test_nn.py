"""eagerjax.nn against torch.nn: same weights -> same outputs and gradients; Module API semantics."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import nn
from eagerjax._state import flags
from eagerjax.nn import functional as F

RS = np.random.RandomState(0)


def rand(*shape, scale=1.0):
    return np.asarray(RS.randn(*shape) * scale, dtype=np.float32)


def close(a, b, tol=1e-5):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def pair(torch, x: np.ndarray, grad=True):
    return torch.tensor(x, requires_grad=grad), ej.tensor(x, requires_grad=grad)


def check_module(torch, tmod, emod, *inputs, tol=1e-5):
    """Copy torch's weights into emod, compare outputs, input grads and parameter grads."""
    emod.load_state_dict(tmod.state_dict())
    tin = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    ein = [ej.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    tout, eout = tmod(*tin), emod(*ein)
    close(tout, eout, tol)
    w = rand(*tout.shape)
    (tout * torch.tensor(w)).sum().backward()
    (eout * ej.tensor(w)).sum().backward()
    for t, e in zip(tin, ein):
        if t.requires_grad:
            close(t.grad, e.grad, tol)
    for (tn, tp), (en, ep) in zip(tmod.named_parameters(), emod.named_parameters()):
        assert tn == en
        close(tp.grad, ep.grad, tol)


# --------------------------------------------------------------------------- layers vs torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(6, 5), (5,), (2, 3, 5)])
def test_linear_matches_torch(bias, shape):
    torch = pytest.importorskip("torch")
    check_module(torch, torch.nn.Linear(5, 4, bias=bias), nn.Linear(5, 4, bias=bias), rand(*shape))


def test_linear_shape_error_matches_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as te:
        torch.nn.functional.linear(torch.zeros(4, 3), torch.zeros(5, 2))
    with pytest.raises(RuntimeError) as ee:
        F.linear(ej.zeros(4, 3), ej.zeros(5, 2))
    assert str(ee.value) == str(te.value)


def test_linear_default_init_statistics():
    ej.manual_seed(0)
    m = nn.Linear(400, 300)
    w = m.weight.detach().numpy()
    b = m.bias.detach().numpy()
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) on fan_in=400
    assert w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.mean()) < 0.01 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert m.weight.requires_grad and isinstance(m.weight, nn.Parameter)
    # reproducible from the seed, different without it
    ej.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.detach().numpy(), w)
    assert not np.array_equal(nn.Linear(400, 300).weight.detach().numpy(), w)


ACTIVATIONS = [
    ("ReLU", (), {}),
    ("ReLU6", (), {}),
    ("LeakyReLU", (0.2,), {}),
    ("ELU", (), {"alpha": 0.7}),
    ("SELU", (), {}),
    ("CELU", (), {}),
    ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}),
    ("SiLU", (), {}),
    ("Mish", (), {}),
    ("Tanh", (), {}),
    ("Sigmoid", (), {}),
    ("Softplus", (), {"beta": 2.0, "threshold": 3.0}),
    ("Softmax", (1,), {}),
    ("LogSoftmax", (-1,), {}),
    ("Softmin", (0,), {}),
    ("Hardtanh", (-0.5, 0.8), {}),
    ("Hardsigmoid", (), {}),
    ("Hardswish", (), {}),
    ("LogSigmoid", (), {}),
    ("Softsign", (), {}),
    ("Tanhshrink", (), {}),
    ("Identity", (), {}),
    ("Flatten", (), {}),
]


@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activation_modules_match_torch(name, args, kwargs):
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, name)(*args, **kwargs)
    em = getattr(nn, name)(*args, **kwargs)
    assert repr(em) == repr(tm)
    check_module(torch, tm, em, rand(4, 6, 3, scale=3))


def test_inplace_activations():
    x = ej.tensor([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]
    x = ej.tensor([-1.0, 2.0])
    nn.LeakyReLU(0.5, inplace=True)(x)
    assert x.tolist() == [-0.5, 2.0]


def test_softmax_implicit_dim_warns_like_torch():
    torch = pytest.importorskip("torch")
    x = rand(3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        e = F.softmax(ej.tensor(x))
    close(torch.nn.functional.softmax(torch.tensor(x), dim=1), e)
    close(torch.log_softmax(torch.tensor(x), 0, dtype=torch.float32), F.log_softmax(ej.tensor(x), 0, dtype=ej.float32))


def test_flatten_unflatten():
    x = ej.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 1))(ej.zeros(2, 3)).shape == (2, 3, 1)
    assert nn.Unflatten(-1, (2, -1))(ej.zeros(2, 6)).shape == (2, 2, 3)
    assert repr(nn.Unflatten(1, (2, 3))) == "Unflatten(dim=1, unflattened_size=(2, 3))"


# --------------------------------------------------------------------------- losses vs torch
def _loss_pair(torch, name, tkw, ekw, x, t, tol=1e-5):
    tx, ex = pair(torch, x)
    tt = torch.tensor(t)
    et = ej.tensor(t)
    tl = getattr(torch.nn.functional, name)(tx, tt, **tkw)
    el = getattr(F, name)(ex, et, **ekw)
    close(tl, el, tol)
    w = rand(*tl.shape)
    (tl * torch.tensor(w)).sum().backward()
    (el * ej.tensor(w)).sum().backward()
    close(tx.grad, ex.grad, tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    torch = pytest.importorskip("torch")
    _loss_pair(torch, "mse_loss", {"reduction": reduction}, {"reduction": reduction}, rand(4, 5), rand(4, 5))
    w = np.abs(rand(4, 5))
    kw = {"reduction": reduction}
    _loss_pair(
        torch, "mse_loss", dict(kw, weight=torch.tensor(w)), dict(kw, weight=ej.tensor(w)), rand(4, 5), rand(4, 5)
    )


def test_mse_loss_broadcast_warns():
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(ej.zeros(4, 3), ej.zeros(3))


@pytest.mark.parametrize(
    "shape,weighted,reduction",
    [
        ((6, 4), True, "mean"),
        ((6, 4), False, "mean"),
        ((6, 4), False, "none"),
        ((4,), True, "sum"),
        ((4,), False, "none"),
        ((3, 4, 5), True, "mean"),
        ((3, 4, 5), False, "none"),
    ],
)
def test_nll_and_cross_entropy(shape, weighted, reduction):
    torch = pytest.importorskip("torch")
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    target = RS.randint(0, c, tshape).astype(np.int64)
    if target.ndim:
        target.flat[0] = -100  # ignored
        target.flat[-1] = 1
    w = np.abs(rand(c)) + 0.1
    tkw = {"reduction": reduction}
    ekw = {"reduction": reduction}
    if weighted:
        tkw["weight"] = torch.tensor(w)
        ekw["weight"] = ej.tensor(w)
    x = rand(*shape)
    _loss_pair(torch, "cross_entropy", tkw, ekw, x, target)
    logp = torch.log_softmax(torch.tensor(x), 0 if len(shape) == 1 else 1).numpy()
    _loss_pair(torch, "nll_loss", tkw, ekw, logp, target)
    _loss_pair(torch, "cross_entropy", dict(tkw, label_smoothing=0.2), dict(ekw, label_smoothing=0.2), x, target)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_probability_targets(reduction):
    torch = pytest.importorskip("torch")
    x = rand(5, 4, 3)
    p = np.exp(rand(5, 4, 3))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    w = np.abs(rand(4)) + 0.1
    _loss_pair(torch, "cross_entropy", {"reduction": reduction}, {"reduction": reduction}, x, p)
    _loss_pair(
        torch,
        "cross_entropy",
        {"reduction": reduction, "weight": torch.tensor(w), "label_smoothing": 0.2},
        {"reduction": reduction, "weight": ej.tensor(w), "label_smoothing": 0.2},
        x,
        p,
    )


def test_loss_modules_and_errors():
    torch = pytest.importorskip("torch")
    w = np.abs(rand(3)) + 0.5
    tm = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.1)
    em = nn.CrossEntropyLoss(weight=ej.tensor(w), ignore_index=1, label_smoothing=0.1)
    assert list(em.state_dict()) == list(tm.state_dict()) == ["weight"]
    x, t = rand(6, 3), np.array([0, 1, 2, 2, 1, 0])
    close(tm(torch.tensor(x), torch.tensor(t)), em(ej.tensor(x), ej.tensor(t)))
    close(
        torch.nn.NLLLoss(reduction="sum")(torch.tensor(x), torch.tensor(t)),
        nn.NLLLoss(reduction="sum")(ej.tensor(x), ej.tensor(t)),
    )
    close(torch.nn.MSELoss()(torch.tensor(x), torch.tensor(x * 2)), nn.MSELoss()(ej.tensor(x), ej.tensor(x * 2)))
    for tf, ef in [
        (
            lambda: torch.nn.functional.cross_entropy(torch.zeros(3, 4), torch.zeros(3, 4, dtype=torch.long)),
            lambda: F.cross_entropy(ej.zeros(3, 4), ej.zeros(3, 4, dtype=ej.long)),
        ),
        (
            lambda: torch.nn.functional.cross_entropy(torch.zeros(3, 4), torch.zeros(3)),
            lambda: F.cross_entropy(ej.zeros(3, 4), ej.zeros(3)),
        ),
        (
            lambda: torch.nn.functional.nll_loss(torch.zeros(3, 4), torch.zeros(4, dtype=torch.long)),
            lambda: F.nll_loss(ej.zeros(3, 4), ej.zeros(4, dtype=ej.long)),
        ),
    ]:
        with pytest.raises(Exception) as te:
            tf()
        with pytest.raises(type(te.value)) as ee:
            ef()
        assert str(ee.value) == str(te.value)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(ej.zeros(2), ej.zeros(2), reduction="avg")


# --------------------------------------------------------------------------- dropout
def test_dropout_train_eval():
    ej.manual_seed(0)
    d = nn.Dropout(0.3)
    x = ej.ones(200, 100, requires_grad=True)
    y = d(x)
    v = y.detach().numpy()
    kept = v != 0
    assert 0.27 < 1 - kept.mean() < 0.33
    np.testing.assert_allclose(v[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), v)  # d(x*mask/(1-p))/dx = mask/(1-p)
    d.eval()
    assert d(x) is x
    assert F.dropout(x, 0.0) is x
    assert float(F.dropout(ej.ones(10), 1.0).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    # same seed, same mask; the stream advances between calls
    ej.manual_seed(3)
    a = F.dropout(ej.ones(50)).numpy()
    b = F.dropout(ej.ones(50)).numpy()
    ej.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(ej.ones(50)).numpy(), a)
    assert not np.array_equal(a, b)


# --------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize(
    "kw,shape",
    [
        ({}, (8, 4)),
        ({}, (6, 4, 5)),
        ({"momentum": None}, (8, 4)),
        ({"affine": False}, (6, 4, 5)),
        ({"track_running_stats": False}, (8, 4)),
        ({"momentum": 0.3, "eps": 1e-3}, (8, 4)),
    ],
)
def test_batchnorm1d_matches_torch(kw, shape):
    torch = pytest.importorskip("torch")
    tm = torch.nn.BatchNorm1d(4, **kw)
    em = nn.BatchNorm1d(4, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(rand(4)))
            tm.bias.copy_(torch.tensor(rand(4)))
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())
    for _ in range(3):
        check_module(torch, tm, em, rand(*shape, scale=2) + 1)
        for k, v in tm.state_dict().items():
            close(v, em.state_dict()[k], 1e-6)
    tm.eval()
    em.eval()
    check_module(torch, tm, em, rand(*shape))


def test_batchnorm_other_dims_and_errors():
    torch = pytest.importorskip("torch")
    check_module(torch, torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3), rand(4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(ej.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError) as e:
        nn.BatchNorm1d(3)(ej.zeros(1, 3))
    assert str(e.value) == "Expected more than 1 value per channel when training, got input size torch.Size([1, 3])"
    m = nn.BatchNorm1d(3).eval()
    m(ej.zeros(1, 3))  # fine in eval
    bn = nn.BatchNorm1d(3)
    assert int(bn.num_batches_tracked) == 0
    bn(ej.randn(4, 3))
    assert int(bn.num_batches_tracked) == 1
    out = F.batch_norm(ej.randn(5, 3), bn.running_mean, bn.running_var, training=False)
    assert out.shape == (5, 3)


# --------------------------------------------------------------------------- Module API
def make_net(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = lib.nn.Linear(4, 8)
            self.bn = lib.nn.BatchNorm1d(8)
            self.blocks = lib.nn.ModuleList([lib.nn.Linear(8, 8), lib.nn.Linear(8, 8, bias=False)])
            self.heads = lib.nn.ModuleDict(
                {"a": lib.nn.Linear(8, 2), "b": lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Linear(8, 3))}
            )
            self.extra = lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2)), lib.nn.Parameter(lib.ones(3))])
            self.register_buffer("scale", lib.ones(1))
            self.register_buffer("tmp", lib.zeros(1), persistent=False)

        def forward(self, x):
            x = self.bn(self.fc1(x))
            for b in self.blocks:
                x = b(x).relu()
            return self.heads["a"](x) * self.scale

    return Net()


def test_state_dict_keys_and_names_match_torch():
    torch = pytest.importorskip("torch")
    tn, en = make_net(torch), make_net(ej)
    assert list(en.state_dict().keys()) == list(tn.state_dict().keys())
    assert [n for n, _ in en.named_parameters()] == [n for n, _ in tn.named_parameters()]
    assert [n for n, _ in en.named_buffers()] == [n for n, _ in tn.named_buffers()]
    assert [n for n, _ in en.named_modules()] == [n for n, _ in tn.named_modules()]
    assert [n for n, _ in en.named_children()] == [n for n, _ in tn.named_children()]
    assert [p.shape for p in en.parameters()] == [tuple(p.shape) for p in tn.parameters()]
    en.load_state_dict(tn.state_dict())
    x = rand(5, 4)
    tn.eval()
    en.eval()
    close(tn(torch.tensor(x)), en(ej.tensor(x)))
    assert repr(en) == repr(tn)


def test_state_dict_values_are_detached_snapshots():
    m = nn.Linear(2, 3)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"] is not m.weight
    np.testing.assert_array_equal(sd["weight"].numpy(), m.weight.detach().numpy())
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_load_state_dict_preserves_identity_and_accepts_numpy():
    m = nn.Linear(2, 3)
    w = m.weight
    sd = {"weight": np.full((3, 2), 2.0, np.float64), "bias": np.zeros(3)}
    res = m.load_state_dict(sd)
    assert m.weight is w and w.requires_grad
    assert repr(res) == "<All keys matched successfully>"
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert m.weight.dtype == ej.float32
    np.testing.assert_array_equal(m.weight.detach().numpy(), 2.0)


def test_load_state_dict_errors_match_torch():
    torch = pytest.importorskip("torch")
    tm, em = torch.nn.Linear(2, 3), nn.Linear(2, 3)
    bad = {"weight": np.zeros((4, 2), np.float32), "foo": np.zeros(1, np.float32)}
    with pytest.raises(RuntimeError) as te:
        tm.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as ee:
        em.load_state_dict(bad)
    assert str(ee.value) == str(te.value)
    tres = tm.load_state_dict({"weight": torch.zeros(3, 2), "foo": torch.zeros(1)}, strict=False)
    eres = em.load_state_dict({"weight": np.zeros((3, 2), np.float32), "foo": np.zeros(1)}, strict=False)
    assert eres == tres and repr(eres) == repr(tres)
    with pytest.raises(RuntimeError) as ee:
        em.load_state_dict({"weight": np.zeros((4, 2), np.float32), "bias": np.zeros(3)}, strict=False)
    assert "size mismatch for weight: copying a param with shape torch.Size([4, 2]) from checkpoint" in str(ee.value)


def test_train_eval_propagates_and_bumps_structure():
    m = make_net(ej)
    e0 = flags.structure_epoch
    m.eval()
    assert not any(x.training for x in m.modules())
    assert flags.structure_epoch > e0
    e1 = flags.structure_epoch
    m.eval()
    assert flags.structure_epoch == e1  # no change, no bump
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")


def test_forward_hooks_and_note_module():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre") or (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append("post") or out + 1)
    out = m(ej.ones(1, 2))
    assert calls == ["pre", "post"]
    close(out, m.bias.detach().numpy()[None] + 1)
    h1.remove()
    h2.remove()
    calls.clear()
    m(ej.ones(1, 2))
    assert calls == []
    h = m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0],), kwargs), with_kwargs=True)
    m(ej.ones(1, 2))
    h.remove()

    class Recorder:
        def __init__(self):
            self.seen = []

        def note_module(self, mod):
            self.seen.append(mod)

    rec = Recorder()
    flags.mode = rec
    try:
        m.forward = lambda x: x  # the recorder only implements note_module
        m(1)
    finally:
        flags.mode = None
        del m.forward
    assert rec.seen == [m]


def test_module_attribute_rules_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch, ej):
        m = lib.nn.Linear(2, 3)
        with pytest.raises(
            TypeError,
            match=r"cannot assign 'torch.FloatTensor' as parameter 'weight' \(torch.nn.Parameter or None expected\)",
        ):
            m.weight = lib.zeros(3)
        with pytest.raises(AttributeError, match="'Linear' object has no attribute 'foo'"):
            m.foo
        with pytest.raises(KeyError, match="attribute 'weight' already exists"):
            m.register_buffer("weight", lib.zeros(1))
        with pytest.raises(KeyError) as e:
            m.register_parameter("a.b", None)
        assert e.value.args[0] == 'parameter name can\'t contain "."'

        with pytest.raises(AttributeError, match="Linear has no attribute `x`"):
            m.get_submodule("x")
        m.bias = None
        assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
        m.extra = lib.nn.Parameter(lib.zeros(1))
        assert [n for n, _ in m.named_parameters()] == ["weight", "extra"]
        del m.extra
        assert [n for n, _ in m.named_parameters()] == ["weight"]


def test_module_misc_api():
    m = make_net(ej)
    assert m.get_submodule("heads.b.1") is m.heads["b"][1]
    assert m.get_parameter("blocks.0.weight") is m.blocks[0].weight
    assert "tmp" not in m.state_dict() and "scale" in m.state_dict()
    assert len(list(m.buffers())) == 5  # bn: 3, scale, tmp
    m(ej.randn(3, 4)).sum().backward()
    assert m.fc1.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert float(m.fc1.weight.grad.abs().sum()) == 0.0
    m.zero_grad()
    assert m.fc1.weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"
    m.double()
    assert m.fc1.weight.dtype == ej.float64 and m.bn.num_batches_tracked.dtype == ej.int64
    assert m.half() is m and m.fc1.weight.dtype == ej.float16
    assert m.to(ej.float32) is m and m.fc1.weight.dtype == ej.float32
    assert m.to("cpu") is m and m.cpu() is m
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes"):
        m.to(ej.int32)
    m2 = copy.deepcopy(m)
    assert m2.fc1.weight is not m.fc1.weight
    np.testing.assert_array_equal(m2.fc1.weight.detach().numpy(), m.fc1.weight.detach().numpy())


def test_containers():
    torch = pytest.importorskip("torch")
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[-1], nn.Linear)
    assert isinstance(s[:2], nn.Sequential) and len(s[:2]) == 2
    s.append(nn.Tanh())
    assert [n for n, _ in s.named_children()] == ["0", "1", "2", "3"]
    del s[1]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"]
    assert s(ej.zeros(4, 2)).shape == (4, 1)
    od = nn.Sequential(OrderedDict([("a", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["a.weight", "a.bias"] and od.act is od[1]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU(), nn.ReLU(), nn.Tanh()])
    tl = torch.nn.ModuleList(
        [torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.Tanh()]
    )
    assert repr(ml) == repr(tl)
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and len(ml) == 7
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "x" in md and len(md) == 2
    pl = nn.ParameterList([nn.Parameter(ej.zeros(2, 3)), ej.zeros(3)])
    tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3)), torch.zeros(3)])
    assert repr(pl) == repr(tpl)
    assert isinstance(pl[1], nn.Parameter) and list(pl.state_dict()) == ["0", "1"]
    pd = nn.ParameterDict({"a": nn.Parameter(ej.zeros(2, 3)), "b": ej.zeros(3)})
    tpd = torch.nn.ParameterDict({"a": torch.nn.Parameter(torch.zeros(2, 3)), "b": torch.zeros(3)})
    assert repr(pd) == repr(tpd)
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["b"], nn.Parameter)


# --------------------------------------------------------------------------- init
def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for nl, p in [
        ("linear", None),
        ("relu", None),
        ("tanh", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("selu", None),
        ("sigmoid", None),
    ]:
        assert nn.init.calculate_gain(nl, p) == torch.nn.init.calculate_gain(nl, p)
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        nn.init.calculate_gain("foo")
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        nn.init.xavier_uniform_(ej.zeros(3))


def test_init_functions():
    ej.manual_seed(1)
    w = ej.empty(256, 128) if hasattr(ej, "empty") else ej.zeros(256, 128)
    a = math.sqrt(6 / (256 + 128))
    v = nn.init.xavier_uniform_(w).numpy()
    assert np.abs(v).max() <= a and abs(v.std() - a / math.sqrt(3)) < 0.02 * a
    v = nn.init.xavier_normal_(w, gain=2.0).numpy()
    assert abs(v.std() - 2 * math.sqrt(2 / 384)) < 0.02 * 2 * math.sqrt(2 / 384)
    v = nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu").numpy()
    assert abs(v.std() - math.sqrt(2 / 256)) < 0.02 * math.sqrt(2 / 256)
    v = nn.init.kaiming_uniform_(w, nonlinearity="relu").numpy()
    assert np.abs(v).max() <= math.sqrt(6 / 128)
    v = nn.init.trunc_normal_(w, mean=0.5, std=1.0, a=0.0, b=1.0).numpy()
    assert v.min() >= 0.0 and v.max() <= 1.0 and abs(v.mean() - 0.5) < 0.02
    q = nn.init.orthogonal_(ej.zeros(20, 50), gain=2.0).numpy()
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(20), atol=1e-4)
    q = nn.init.orthogonal_(ej.zeros(30, 5)).numpy()
    np.testing.assert_allclose(q.T @ q, np.eye(5), atol=1e-5)
    assert nn.init.constant_(w, 0.25).numpy().max() == 0.25
    assert nn.init.zeros_(w).numpy().max() == 0.0 and nn.init.ones_(w).numpy().min() == 1.0
    np.testing.assert_array_equal(nn.init.eye_(ej.zeros(3, 4)).numpy(), np.eye(3, 4))
    v = nn.init.normal_(w, 3.0, 0.5).numpy()
    assert abs(v.mean() - 3) < 0.01 and abs(v.std() - 0.5) < 0.01
    v = nn.init.uniform_(w, -2, -1).numpy()
    assert v.min() >= -2 and v.max() <= -1
    p = nn.Parameter(ej.zeros(3, 3))
    nn.init.uniform_(p)  # in place on a leaf that requires grad: runs under no_grad
    assert p.requires_grad and p.grad_fn is None


# --------------------------------------------------------------------------- utils
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    grads = [rand(3, 4), rand(5), rand(2, 2)]
    tp = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    ep = [nn.Parameter(ej.zeros(*g.shape)) for g in grads]
    for t, e, g in zip(tp, ep, grads):
        t.grad = torch.tensor(g)
        e.grad = ej.tensor(g)
    tn = torch.nn.utils.clip_grad_norm_(tp, 1.5, norm_type)
    en = nn.utils.clip_grad_norm_(ep + [nn.Parameter(ej.zeros(2))], 1.5, norm_type)  # params without grad are skipped
    close(tn, en, 1e-6)
    for t, e in zip(tp, ep):
        close(t.grad, e.grad, 1e-6)
    # below the threshold the grads are (numerically) untouched
    before = ep[0].grad.numpy().copy()
    nn.utils.clip_grad_norm_(ep, 1e6, norm_type)
    np.testing.assert_allclose(ep[0].grad.numpy(), before, rtol=1e-6)


def test_clip_grad_value_and_vector_roundtrip():
    torch = pytest.importorskip("torch")
    g = rand(4, 3)
    tp, ep = torch.nn.Parameter(torch.zeros(4, 3)), nn.Parameter(ej.zeros(4, 3))
    tp.grad, ep.grad = torch.tensor(g), ej.tensor(g)
    torch.nn.utils.clip_grad_value_(tp, 0.5)
    nn.utils.clip_grad_value_(ep, 0.5)
    close(tp.grad, ep.grad, 0)
    m = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (8,) and vec.requires_grad
    w = m.weight
    nn.utils.vector_to_parameters(vec * 2, m.parameters())
    assert m.weight is w
    np.testing.assert_allclose(nn.utils.parameters_to_vector(m.parameters()).detach().numpy(), vec.detach().numpy() * 2)
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], m.parameters())
