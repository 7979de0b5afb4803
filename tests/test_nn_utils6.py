"""SyncBatchNorm, AdaptiveLogSoftmaxWithLoss, nn.Buffer, the deprecated init aliases, the
nn.utils extras (fusion, clip_grads_with_norm_, skip_init, stateless) and a small model of
the new layers versus torch (the layers of ``nn._layers6`` themselves: tests/test_nn_layers6.py).

Modules load torch's state_dict and compare outputs (1e-5) and input + parameter gradients
(1e-4); training steps agree with torch's and across eager, ``ej.compile`` and ``ej.lazy()``.
"""

import copy
import math
import pickle
import warnings

import numpy as np
import pytest
from test_nn_layers import RNG, close, rand
from test_nn_layers6 import E, T, module_pair, raises_like

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:torch.*"), pytest.mark.usefixtures("fresh_lazy")]


# --------------------------------------------------------------------------- SyncBatchNorm
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 3, 2), (3, 3, 2, 2, 2, 2)])
def test_sync_batchnorm_matches_torch_single_process(shape):
    x = rand(*shape)
    for train in (True, False):
        ours, theirs = nn.SyncBatchNorm(3, momentum=0.2), torch.nn.SyncBatchNorm(3, momentum=0.2)
        theirs.weight.data.uniform_(0.5, 1.5)
        theirs.running_mean.data.uniform_(-1, 1)
        ours.train(train)
        theirs.train(train)
        module_pair(ours, theirs, x)
        for k, v in theirs.state_dict().items():
            close(ours.state_dict()[k], v, 1e-5, k)


def test_sync_batchnorm_errors_and_convert():
    m, t = nn.SyncBatchNorm(3), torch.nn.SyncBatchNorm(3)
    raises_like(lambda: m(E(rand(3))), lambda: t(T(rand(3))))
    raises_like(lambda: nn.SyncBatchNorm(0)(E(rand(2, 0))), lambda: torch.nn.SyncBatchNorm(0)(T(rand(2, 0))))
    assert repr(nn.SyncBatchNorm(4, affine=False, bias=False)) == repr(
        torch.nn.SyncBatchNorm(4, affine=False, bias=False)
    )

    def net(m):
        return m.Sequential(m.Conv2d(2, 3, 1), m.BatchNorm2d(3), m.Sequential(m.BatchNorm1d(3, affine=False)))

    ours, theirs = net(nn), net(torch.nn)
    ours[1].eval()
    weight, mean = ours[1].weight, ours[1].running_mean
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    tconv = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs)
    assert repr(conv) == repr(tconv)
    assert conv is ours and isinstance(conv[1], nn.SyncBatchNorm) and isinstance(conv[2][0], nn.SyncBatchNorm)
    assert list(conv.state_dict()) == list(tconv.state_dict())
    assert not conv[1].training and conv[2][0].training
    # the same tensors: training the converted model trains the weights the old layers held
    assert conv[1].weight is weight and conv[1].running_mean is mean
    root = nn.BatchNorm1d(2)
    new = nn.SyncBatchNorm.convert_sync_batchnorm(root)
    assert type(new) is nn.SyncBatchNorm and new.weight is root.weight and new.running_var is root.running_var


# --------------------------------------------------------------------------- AdaptiveLogSoftmaxWithLoss
def _asm_pair(in_f=16, n=20, cutoffs=(5, 12), **kw):
    torch.manual_seed(0)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(in_f, n, list(cutoffs), **kw)
    ours = nn.AdaptiveLogSoftmaxWithLoss(in_f, n, list(cutoffs), **kw)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict()) and repr(ours) == repr(theirs)
    return ours, theirs


@pytest.mark.parametrize("kw", [{}, {"div_value": 2.0, "head_bias": True}, {"cutoffs": (3,)}])
def test_adaptive_log_softmax_matches_torch(kw):
    ours, theirs = _asm_pair(**kw)
    x, y = rand(7, 16), RNG.integers(0, 20, 7)
    y[:3] = [0, 19, kw.get("cutoffs", (5,))[0]]
    ex, tx = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo, to = ours(ex, E(y)), theirs(tx, T(y))
    assert type(eo).__name__ == "_ASMoutput" and eo._fields == ("output", "loss")
    close(eo.output, to.output, 1e-5, "output")
    close(eo.loss, to.loss, 1e-5, "loss")
    g = rand(7)
    (eo.loss + (eo.output * E(g)).sum()).backward()
    (to.loss + (to.output * T(g)).sum()).backward()
    close(ex.grad, tx.grad, 1e-4, "input grad")
    for (k, pe), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(pe.grad, pt.grad, 1e-4, k)
    close(ours.log_prob(E(x)), theirs.log_prob(T(x)), 1e-5, "log_prob")
    np.testing.assert_array_equal(ours.predict(E(x)).numpy(), theirs.predict(T(x)).numpy())
    e1, t1 = ours(E(x[0]), E(y[0])), theirs(T(x[0]), T(y[0]))  # unbatched
    assert tuple(e1.output.shape) == ()
    close(e1.output, t1.output, 1e-5, "unbatched")


def test_adaptive_log_softmax_errors():
    ours, theirs = _asm_pair()
    x, y = rand(4, 16), np.array([0, 6, 13, 19])
    bad = [
        (x, y[:3]),
        (x, np.array([0, 6, 13, 20])),
        (x, np.array([-1, 6, 13, 2])),
        (x[0], y),
        (x, y[0]),
        (x[:, 0], y),
        (x, y.reshape(2, 2)),
    ]
    for a, b in bad:
        raises_like(lambda: ours(E(a), E(b)), lambda: theirs(T(a), T(b)))
    raises_like(lambda: ours.log_prob(E(x[0])), lambda: theirs.log_prob(T(x[0])))
    for cut in ([5, 3], [5, 20], [0, 5], [5, 5], [], [2.5]):
        raises_like(
            lambda: nn.AdaptiveLogSoftmaxWithLoss(8, 20, cut), lambda: torch.nn.AdaptiveLogSoftmaxWithLoss(8, 20, cut)
        )


def test_adaptive_log_softmax_trains_the_same_in_every_mode():
    ours, _ = _asm_pair()
    x, y = ej.tensor(rand(6, 16)), E(np.array([0, 4, 5, 11, 12, 19]))
    opt = ej.optim.SGD(ours.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = ours(x, y).loss
        loss.backward()
        opt.step()
        return loss

    assert_compile_equivalent(step, x, y, steps=3, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- nn.Buffer and parameter names
def test_buffer_registers_on_assignment_like_torch():
    for lib in (nn, torch.nn):
        m = lib.Module()
        b = lib.Buffer(lib.Parameter(ej.ones(2)) if lib is nn else torch.nn.Parameter(torch.ones(2)), persistent=False)
        assert isinstance(b, lib.Buffer) and b.persistent is False and b.requires_grad
        m.x = b
        m.y = lib.Buffer(ej.zeros(3) if lib is nn else torch.zeros(3))
        assert m.x is b and list(m.state_dict()) == ["y"] and [n for n, _ in m.named_buffers()] == ["x", "y"]
        assert m._non_persistent_buffers_set == {"x"}
        m.register_buffer("z", ej.ones(1) if lib is nn else torch.ones(1))
        m.z = lib.Buffer(ej.ones(1) if lib is nn else torch.ones(1), persistent=False)  # a buffer's persistence changes
        assert m._non_persistent_buffers_set == {"x", "z"}
    assert repr(nn.Buffer(ej.ones(2))) == "tensor([1., 1.])" and tuple(nn.Buffer().shape) == (0,)
    assert not isinstance(ej.ones(1), nn.Buffer) and nn.parameter.Buffer is nn.Buffer


def test_buffer_errors_copies_and_training():
    for lib, mk in ((nn, ej.ones), (torch.nn, torch.ones)):
        m = lib.Module()
        m.a = 5
        m.p = lib.Parameter(mk(1))
        m.s = lib.Linear(1, 1)
        raises = [("a", KeyError), ("p", TypeError), ("s", TypeError)]
        for name, err in raises:
            with pytest.raises(err):
                setattr(m, name, lib.Buffer(mk(1)))
    raises_like(lambda: nn.Buffer(3), lambda: torch.nn.Buffer(3))
    m = nn.Module()
    m.x = nn.Buffer(ej.ones(2), persistent=False)
    c = copy.deepcopy(m)
    assert c._non_persistent_buffers_set == {"x"} and c.x.persistent is False
    b = pickle.loads(pickle.dumps(nn.Buffer(ej.ones(2), persistent=False)))
    assert isinstance(b, nn.Buffer) and b.persistent is False
    # a module with a Buffer steps the same in every mode
    m = nn.Linear(3, 2)
    m.scale = nn.Buffer(ej.ones(2))
    x = ej.tensor(rand(4, 3))

    def step(x):
        y = m(x) * m.scale
        m.scale.mul_(1.5)
        return y

    assert_compile_equivalent(step, x, steps=2)


def test_uninitialized_names_at_nn_level():
    assert nn.UninitializedParameter is nn.parameter.UninitializedParameter
    assert nn.UninitializedBuffer is nn.parameter.UninitializedBuffer
    for name in ("Buffer", "UninitializedParameter", "UninitializedBuffer", "RReLU", "AdaptiveLogSoftmaxWithLoss"):
        assert name in nn.__all__ and hasattr(torch.nn, name)


# --------------------------------------------------------------------------- init
def test_init_deprecated_aliases_warn_like_torch():
    for name, args in (("dirac", ()), ("eye", ()), ("sparse", (0.5,))):
        shape = (4, 2, 3) if name == "dirac" else (4, 3)
        t = ej.empty(*shape)
        with pytest.warns(FutureWarning) as ours:
            getattr(nn.init, name)(t, *args)
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            getattr(torch.nn.init, name)(torch.empty(*shape), *args)
        assert str(ours[0].message) == str(theirs[0].message)
    for shape, groups in (((4, 2, 3), 1), ((6, 2, 3, 3), 2), ((4, 4, 1, 1, 3), 1)):
        close(nn.init.dirac_(ej.empty(*shape), groups), torch.nn.init.dirac_(torch.empty(*shape), groups), 0, "dirac")
    close(nn.init.eye_(ej.empty(3, 5)), torch.nn.init.eye_(torch.empty(3, 5)), 0, "eye")


# --------------------------------------------------------------------------- nn.utils
def test_clip_grads_with_norm_matches_torch_and_compiles():
    grads = [rand(3, 4) * 5, rand(6)]
    ps = [ej.tensor(g, requires_grad=True) for g in grads]
    ts = [torch.tensor(g, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = ej.tensor(g)
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    for norm_type in (2.0, 1.0, math.inf):
        total = nn.utils.get_total_norm([p.grad for p in ps], norm_type)
        ttotal = torch.nn.utils.get_total_norm([t.grad for t in ts], norm_type)
        close(total, ttotal, 1e-5, "total")
        nn.utils.clip_grads_with_norm_(ps, 1.0, total)
        torch.nn.utils.clip_grads_with_norm_(ts, 1.0, ttotal)
        for p, t in zip(ps, ts):
            close(p.grad, t.grad, 1e-5, "grad")
    nn.utils.clip_grads_with_norm_([ej.ones(1)], 1.0, ej.tensor(1.0))  # no grads: nothing to do
    model = nn.Linear(4, 3)
    opt = ej.optim.SGD(model.parameters(), lr=0.1)
    x = ej.tensor(rand(5, 4) * 10)

    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).sum()
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        nn.utils.clip_grads_with_norm_(model.parameters(), 0.5, nn.utils.get_total_norm(grads))
        opt.step()
        return loss

    assert_compile_equivalent(step, x, steps=3, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["conv2d", "conv1d_nobias", "convT2d", "linear", "linear_bn1"])
def test_fuse_bn_eval_matches_torch(kind):
    from eagerjax.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    def build(m):
        if kind == "conv2d":
            return m.Conv2d(3, 4, 3), m.BatchNorm2d(4), (2, 3, 6, 6)
        if kind == "conv1d_nobias":
            return m.Conv1d(3, 4, 2, bias=False), m.BatchNorm1d(4, affine=False), (2, 3, 7)
        if kind == "convT2d":
            return m.ConvTranspose2d(3, 4, 2), m.BatchNorm2d(4), (2, 3, 4, 4)
        if kind == "linear":
            return m.Linear(5, 4), m.BatchNorm1d(4), (6, 5)
        return m.Linear(5, 4, bias=False), m.BatchNorm1d(1), (6, 1, 5)

    torch.manual_seed(0)
    tl, tb, shape = build(torch.nn)
    tb.running_mean.uniform_(-1, 1)
    tb.running_var.uniform_(0.5, 2)
    if tb.weight is not None:
        tb.weight.data.uniform_(0.5, 1.5)
        tb.bias.data.uniform_(-1, 1)
    el, eb, _ = build(nn)
    el.load_state_dict({k: v.numpy() for k, v in tl.state_dict().items()})
    eb.load_state_dict({k: v.numpy() for k, v in tb.state_dict().items()})
    raises_like(lambda: fuse_conv_bn_eval(el, eb), lambda: torch.nn.utils.fusion.fuse_conv_bn_eval(tl, tb))
    for m in (tl, tb, el, eb):
        m.eval()
    x = rand(*shape)
    if kind.startswith("linear"):
        fused, tfused = fuse_linear_bn_eval(el, eb), torch.nn.utils.fusion.fuse_linear_bn_eval(tl, tb)
    else:
        tr = kind == "convT2d"
        fused, tfused = fuse_conv_bn_eval(el, eb, tr), torch.nn.utils.fuse_conv_bn_eval(tl, tb, tr)
    assert fused is not el and type(fused) is type(el) and isinstance(fused.weight, nn.Parameter)
    if kind != "linear_bn1":  # (a (1,) bias for 4 outputs: our linear takes only (out_features,) biases)
        close(fused(E(x)), tfused(T(x)), 1e-5, "fused")
        close(fused(E(x)), eb(el(E(x))), 1e-5, "fused vs unfused")
    for k, v in tfused.state_dict().items():
        close(fused.state_dict()[k], v, 1e-5, k)
    assert fused.weight.requires_grad and fused.bias.requires_grad == tfused.bias.requires_grad


def test_fuse_errors():
    lin, tlin = nn.Linear(3, 4).eval(), torch.nn.Linear(3, 4).eval()
    raises_like(
        lambda: nn.utils.fuse_linear_bn_eval(lin, nn.BatchNorm1d(5).eval()),
        lambda: torch.nn.utils.fuse_linear_bn_eval(tlin, torch.nn.BatchNorm1d(5).eval()),
    )
    raises_like(
        lambda: nn.utils.fuse_linear_bn_eval(lin, nn.BatchNorm1d(4, track_running_stats=False).eval()),
        lambda: torch.nn.utils.fuse_linear_bn_eval(tlin, torch.nn.BatchNorm1d(4, track_running_stats=False).eval()),
    )
    w, b = nn.utils.fuse_conv_bn_weights(ej.ones(2, 1, 1), None, ej.zeros(2), ej.ones(2), 0.0, None, None)
    assert tuple(b.shape) == (2,) and not b.requires_grad and isinstance(w, nn.Parameter)


def test_skip_init_memory_formats_and_stateless():
    raises_like(lambda: nn.utils.skip_init(int, 2), lambda: torch.nn.utils.skip_init(int, 2))

    class A(nn.Module):
        def __init__(self, x):
            super().__init__()

    class TA(torch.nn.Module):
        def __init__(self, x):
            super().__init__()

    raises_like(lambda: nn.utils.skip_init(A, 2), lambda: torch.nn.utils.skip_init(TA, 2))
    m = nn.utils.skip_init(nn.Linear, 3, 4, bias=False, device="cpu")
    assert repr(m) == repr(torch.nn.utils.skip_init(torch.nn.Linear, 3, 4, bias=False))
    seq = nn.Sequential(nn.Conv2d(1, 1, 1))
    assert (
        nn.utils.convert_conv2d_weight_memory_format(seq, ej.channels_last if hasattr(ej, "channels_last") else None)
        is seq
    )
    assert nn.utils.convert_conv3d_weight_memory_format(seq, None) is seq
    from eagerjax.nn.utils import stateless

    lin = nn.Linear(2, 2)
    with pytest.warns(FutureWarning, match="stateless.functional_call` is deprecated"):
        y = stateless.functional_call(lin, {"weight": ej.zeros(2, 2)}, (ej.ones(2),))
    close(y, lin.bias, 0, "functional_call")
    assert "fusion" in nn.utils.__all__ and "stateless" in nn.utils.__all__


# --------------------------------------------------------------------------- a model in every mode
class _Net:
    @staticmethod
    def build(m, lrn=True):
        class Net(m.Module):
            def __init__(self):
                super().__init__()
                self.conv = m.Conv2d(2, 4, 3, padding=1)
                self.bn = m.SyncBatchNorm(4)
                # (torch's hand-written CrossMapLRN2d backward is not its forward's derivative)
                self.lrn = m.CrossMapLRN2d(3, 1e-2) if lrn else m.Identity()
                self.pool = m.MaxPool2d(2, return_indices=True)
                self.unpool = m.MaxUnpool2d(2)
                self.lp = m.LPPool2d(2, 2)
                self.amp = m.AdaptiveMaxPool3d((2, 2, 1))
                self.act = m.RReLU(0.1, 0.3)
                self.fc = m.Linear(4, 3)

            def forward(self, x):
                h = self.lrn(self.bn(self.conv(x)))
                p, i = self.pool(h)
                h = self.unpool(p, i) + h
                h = self.act(self.lp(h))
                return self.fc(self.amp(h).flatten(1))

        return Net()


def test_small_model_trains_like_torch_and_the_same_in_every_mode():
    torch.manual_seed(0)
    tmodel = _Net.build(torch.nn, lrn=False)
    emodel = _Net.build(nn, lrn=False)
    emodel.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    tmodel.act.eval()  # (the random slopes differ from torch's: compare with the fixed one)
    emodel.act.eval()
    x, y = rand(4, 2, 6, 6), RNG.integers(0, 3, 4)
    ex, ey = ej.tensor(x), E(y)
    opt = ej.optim.SGD(emodel.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(emodel(x), y)
        loss.backward()
        opt.step()
        return loss

    start = copy.deepcopy(emodel.state_dict())
    tlosses = []
    for _ in range(3):
        topt.zero_grad()
        loss = TF.cross_entropy(tmodel(T(x)), T(y))
        loss.backward()
        topt.step()
        tlosses.append(loss.item())
    elosses = [step(ex, ey).item() for _ in range(3)]
    np.testing.assert_allclose(elosses, tlosses, rtol=1e-4, atol=1e-5)
    for k, v in tmodel.state_dict().items():
        close(emodel.state_dict()[k], v, 1e-4, k)
    emodel = _Net.build(nn)
    emodel.load_state_dict(start)
    emodel.act.train()  # random slopes: the same numbers in every mode
    opt = ej.optim.SGD(emodel.parameters(), lr=0.05, momentum=0.9)
    assert_compile_equivalent(step, ex, ey, steps=3, rtol=1e-5, atol=1e-6)
