"""Lazy modules (``nn.LazyLinear`` & co) and ``nn.parameter.UninitializedParameter`` versus torch.

Before the first call: reprs, state_dict keys, uninitialized entries and their errors match
torch's. The first call infers the size, materializes the same parameter objects (an optimizer
built before keeps working), initializes them as the non-lazy class would with the same seed,
and turns the module into that class. Values are compared with torch after loading torch's
checkpoint (into a lazy module: materialized from the checkpoint's shapes). Training after a
dry run agrees in eager, ``ej.compile`` and ``ej.lazy``; the first call itself works eagerly
and in lazy mode, and inside ``ej.compile`` raises ``CaptureError`` asking for a dry run.
"""

import copy
import pickle

import numpy as np
import pytest
from test_nn_layers import close, rand

import eagerjax as ej
import eagerjax.nn as nn
from eagerjax.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)

TN = torch.nn


# (class name, constructor args, constructor kwargs, input shape)
CASES = [
    ("LazyLinear", (3,), {}, (2, 5)),
    ("LazyLinear", (4,), {"bias": False}, (2, 3, 6)),
    ("LazyConv1d", (4, 3), {}, (2, 3, 8)),
    ("LazyConv2d", (4, 3), {"padding": 1, "groups": 2}, (2, 4, 6, 6)),
    ("LazyConv2d", (2, 3), {}, (3, 5, 5)),  # unbatched: in_channels from dim 0
    ("LazyConv3d", (2, 2), {"bias": False}, (1, 2, 4, 4, 4)),
    ("LazyConvTranspose1d", (4, 3), {"stride": 2}, (2, 3, 5)),
    ("LazyConvTranspose2d", (4, 3), {"groups": 2}, (2, 4, 5, 5)),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 2, 3, 3, 3)),
    ("LazyBatchNorm1d", (), {}, (4, 5)),
    ("LazyBatchNorm1d", (), {"momentum": None}, (4, 5, 3)),
    ("LazyBatchNorm2d", (), {"affine": False}, (4, 3, 4, 4)),
    ("LazyBatchNorm3d", (), {"bias": False}, (2, 3, 2, 2, 2)),
    ("LazyInstanceNorm1d", (), {}, (2, 3, 6)),
    ("LazyInstanceNorm2d", (), {"affine": False}, (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", (), {"track_running_stats": False}, (2, 2, 3, 3, 3)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _pair(name, args, kwargs):
    return getattr(nn, name)(*args, **kwargs), getattr(TN, name)(*args, **kwargs)


def _sd(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- before the first call
@pytest.mark.parametrize("name, args, kwargs, shape", CASES, ids=IDS)
def test_uninitialized_module_matches_torch(name, args, kwargs, shape):
    ours, theirs = _pair(name, args, kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.has_uninitialized_params() and theirs.has_uninitialized_params()
    e, t = ours.state_dict(), theirs.state_dict()
    assert list(e) == list(t)
    assert [repr(v) for v in e.values() if is_lazy(v)] == [repr(v) for v in t.values() if TN.parameter.is_lazy(v)]
    assert [type(p).__name__ for p in ours.parameters()] == [type(p).__name__ for p in theirs.parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def test_uninitialized_tensor_errors_match_torch():
    ours, theirs = nn.LazyLinear(3), TN.LazyLinear(3)
    w, tw = ours.weight, theirs.weight
    assert isinstance(w, UninitializedParameter) and isinstance(w, nn.Parameter)
    assert repr(w) == repr(tw) == "<UninitializedParameter>"
    assert w.requires_grad and tw.requires_grad
    assert w.dtype == ej.float32 and tuple(w.size()) == tuple(tw.size()) == (0,)
    with pytest.raises(RuntimeError) as te:
        tw.shape
    with pytest.raises(RuntimeError) as ee:
        w.shape
    assert str(ee.value) == str(te.value)
    head = "Attempted to use an uninitialized parameter in "
    for fn in (
        lambda p: sum(q.numel() for q in p),
        lambda p: p[0] + 1,
        lambda p: p[0].sum(),
        lambda p: p[0].dim(),
    ):
        with pytest.raises(ValueError) as te:
            fn([tw])
        with pytest.raises(ValueError) as ee:
            fn([w])
        assert str(ee.value).startswith(head) and str(te.value).startswith(head)
        assert str(ee.value).split(". ", 1)[1] == str(te.value).split(". ", 1)[1]
    with pytest.raises(ValueError, match="uninitialized parameter"):
        w.item()
    with pytest.raises(ValueError, match="uninitialized parameter"):
        nn.functional.relu(w)
    b = UninitializedBuffer()
    assert repr(b) == repr(TN.parameter.UninitializedBuffer()) and not b.requires_grad
    assert is_lazy(b) and is_lazy(w) and not is_lazy(ej.ones(2))
    with pytest.raises(NotImplementedError, match="persistent=False"):
        UninitializedBuffer(persistent=False)


def test_materialize_in_place():
    p = UninitializedParameter(dtype=ej.float16)
    held = [p]
    p.materialize((2, 3))
    assert type(held[0]) is nn.Parameter and held[0] is p
    assert tuple(p.shape) == (2, 3) and p.dtype == ej.float16 and p.requires_grad
    b = UninitializedBuffer()
    b.materialize(4)
    assert type(b) is ej.Tensor and tuple(b.shape) == (4,) and not b.requires_grad
    tp = TN.parameter.UninitializedParameter(dtype=torch.float16)
    tp.materialize((2, 3))
    assert type(tp) is TN.Parameter and tp.dtype == torch.float16


def test_copies_stay_uninitialized():
    m = nn.Sequential(nn.LazyLinear(3), nn.ReLU())
    for c in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert c[0].has_uninitialized_params() and c[0].weight is not m[0].weight
        c(ej.ones(2, 4))
        assert type(c[0]) is nn.Linear and c[0].in_features == 4
        assert not c[0]._forward_pre_hooks  # the copy's own hook went away
    assert type(m[0]) is nn.LazyLinear and m[0].has_uninitialized_params()
    m(ej.ones(2, 7))
    assert m[0].in_features == 7


# --------------------------------------------------------------------------- the first call
@pytest.mark.parametrize("name, args, kwargs, shape", CASES, ids=IDS)
def test_first_call_materializes_like_torch(name, args, kwargs, shape):
    ours, theirs = _pair(name, args, kwargs)
    held = list(ours.parameters())
    x = rand(*shape)
    ours(ej.tensor(x))
    theirs(torch.tensor(x))
    assert type(ours).__name__ == type(theirs).__name__ == name[4:]
    assert type(ours) is getattr(nn, name[4:])
    assert repr(ours) == repr(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert all(a is b for a, b in zip(held, ours.parameters())) and len(held) == len(list(ours.parameters()))
    assert all(type(p) is nn.Parameter for p in held)
    assert not ours._forward_pre_hooks
    with pytest.raises(AttributeError):
        ours.has_uninitialized_params()


@pytest.mark.parametrize("name, args, kwargs, shape", CASES, ids=IDS)
def test_seeded_lazy_equals_eager_class(name, args, kwargs, shape):
    """The same random draws in the same order as the non-lazy class built with the same seed."""
    x = ej.tensor(rand(*shape))
    ej.manual_seed(7)
    lazy_m = getattr(nn, name)(*args, **kwargs).eval()
    with ej.no_grad():
        lazy_m(x)
    after_lazy = ej.rand(3).numpy()  # the generator has advanced by the same draws too
    size = next(getattr(lazy_m, s) for s in ("in_features", "in_channels", "num_features") if hasattr(lazy_m, s))
    ej.manual_seed(7)
    if "Norm" in name:  # (the lazy norms default to affine=True, track_running_stats=True)
        plain = getattr(nn, name[4:])(size, **{"affine": True, "track_running_stats": True, **kwargs})
    else:
        plain = getattr(nn, name[4:])(size, *args, **kwargs)
    np.testing.assert_array_equal(ej.rand(3).numpy(), after_lazy)
    a, b = _sd(lazy_m), _sd(plain)
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("name, args, kwargs, shape", CASES, ids=IDS)
def test_load_torch_checkpoint_into_lazy_then_values(name, args, kwargs, shape):
    """torch's materialized state_dict loaded into an uninitialized module (torch tensors as
    values): materialized from the checkpoint's shapes; outputs, gradients and buffers agree."""
    ours, theirs = _pair(name, args, kwargs)
    x = rand(*shape)
    with torch.no_grad():
        theirs.eval()(torch.tensor(x))  # materialize torch's without moving its statistics
    theirs.train()
    for p in theirs.parameters():  # not torch's init values (affine norms start at ones / zeros)
        with torch.no_grad():
            p.copy_(torch.tensor(rand(*p.shape)))
    res = ours.load_state_dict(theirs.state_dict())
    assert not res.missing_keys and not res.unexpected_keys
    assert not ours.has_uninitialized_params() and type(ours).__name__ == name
    ex, tx = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = ours(ex), theirs(tx)
    assert type(ours) is getattr(nn, name[4:])
    close(ey, ty, 1e-5, "output")
    g = rand(*ty.shape)
    (ey * ej.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    close(ex.grad, tx.grad, 1e-4, "input grad")
    for (k, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, tp.grad, 1e-4, f"grad of {k}")
    for (k, b), (_, tb) in zip(ours.named_buffers(), theirs.named_buffers()):
        close(b, tb, 1e-5, k)
    sizes = ("in_features", "in_channels", "num_features")
    for s in sizes:
        if hasattr(theirs, s) and getattr(theirs, s) != 0:
            assert getattr(ours, s) == getattr(theirs, s)


def test_loaded_sizes_are_inferred():
    """After loading a checkpoint, the first call fills in the size from the loaded tensors
    (torch does so for LazyLinear; it leaves 0 in a conv's or a norm's repr)."""
    conv = nn.LazyConv2d(4, 3, groups=2)
    conv.load_state_dict({k: v.numpy() for k, v in nn.Conv2d(6, 4, 3, groups=2).state_dict().items()})
    conv(ej.ones(1, 6, 5, 5))
    assert conv.in_channels == 6 and type(conv) is nn.Conv2d
    bn = nn.LazyBatchNorm1d()
    bn.load_state_dict(nn.BatchNorm1d(5).state_dict())
    bn(ej.ones(3, 5))
    assert bn.num_features == 5
    lin = nn.LazyLinear(2)
    lin.load_state_dict(nn.Linear(5, 2).state_dict())
    tlin = TN.LazyLinear(2)
    tlin.load_state_dict(TN.Linear(5, 2).state_dict())
    with pytest.raises(AssertionError) as te:
        tlin(torch.ones(3, 4))
    with pytest.raises(AssertionError) as ee:
        lin(ej.ones(3, 4))
    assert str(ee.value) == str(te.value)


def test_state_dict_of_uninitialized_modules():
    # lazy into lazy: stays uninitialized, every key accounted for
    a, b = nn.LazyBatchNorm2d(), nn.LazyBatchNorm2d()
    ta, tb = TN.LazyBatchNorm2d(), TN.LazyBatchNorm2d()
    assert repr(b.load_state_dict(a.state_dict())) == repr(tb.load_state_dict(ta.state_dict()))
    assert b.has_uninitialized_params()
    b(ej.ones(2, 3, 2, 2))
    assert b.num_features == 3
    # missing keys (strict=False) are listed as torch lists them
    c, tc = nn.LazyLinear(3), TN.LazyLinear(3)
    assert c.load_state_dict({}, strict=False) == tc.load_state_dict({}, strict=False)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "weight", "bias"'):
        c.load_state_dict({})
    # a partial load leaves a half-initialized module, which fails on its first call like torch's
    c.load_state_dict({"weight": np.ones((3, 4), np.float32)}, strict=False)
    tc.load_state_dict({"weight": torch.ones(3, 4)}, strict=False)
    assert type(c.weight) is nn.Parameter and is_lazy(c.bias)
    with pytest.raises(AttributeError) as te:
        tc(torch.ones(2, 4))
    with pytest.raises(AttributeError) as ee:
        c(ej.ones(2, 4))
    assert str(ee.value) == str(te.value)
    # an initialized module cannot load an uninitialized entry
    with pytest.raises(ValueError, match="uninitialized parameter"):
        nn.Linear(4, 3).load_state_dict(nn.LazyLinear(3).state_dict())


def test_dtype_set_before_materialization():
    m, tm = nn.LazyLinear(3).half(), TN.LazyLinear(3).half()
    assert m.weight.dtype == ej.float16 and tm.weight.dtype == torch.float16
    m(ej.ones(2, 4, dtype=ej.float16))
    assert m.weight.dtype == ej.float16 and m.bias.dtype == ej.float16
    d = nn.LazyConv1d(2, 3, dtype=ej.bfloat16)
    d(ej.ones(1, 2, 5, dtype=ej.bfloat16))
    assert d.weight.dtype == ej.bfloat16


def test_bad_first_inputs_raise_torch_errors():
    def both(make, shape):
        with pytest.raises(Exception) as te:
            make(TN)(torch.ones(*shape))
        with pytest.raises(type(te.value)) as ee:
            make(nn)(ej.ones(*shape))
        assert str(ee.value) == str(te.value)

    both(lambda M: M.LazyConv2d(4, 3), (3, 5))
    both(lambda M: M.LazyConv1d(4, 3, groups=2), (1, 3, 5))
    both(lambda M: M.LazyConvTranspose3d(4, 3), (1, 2, 3, 3, 3, 3))
    both(lambda M: M.LazyBatchNorm2d(), (3, 5))
    both(lambda M: M.LazyInstanceNorm3d(), (3, 5))
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for LazyConvTranspose2d'):
        nn.LazyConvTranspose2d(4, 3, padding_mode="reflect")
    # ours checks the input before materializing: a wrong first input leaves it lazy
    bn = nn.LazyBatchNorm2d()
    with pytest.raises(ValueError):
        bn(ej.ones(3, 5))
    assert bn.has_uninitialized_params()
    bn(ej.ones(2, 3, 2, 2))
    assert bn.num_features == 3


def test_unbatched_instance_norm_infers_channels():
    """(C, L) input: num_features is C (torch's lazy instance norms read dim 1 of it)."""
    x = rand(3, 6)
    ours = nn.LazyInstanceNorm1d()
    ours(ej.tensor(x))
    assert ours.num_features == 3
    theirs = TN.InstanceNorm1d(3, affine=True, track_running_stats=True)
    for p in theirs.parameters():
        with torch.no_grad():
            p.copy_(torch.tensor(rand(*p.shape)))
    ours.load_state_dict(theirs.state_dict())
    close(ours(ej.tensor(x)), theirs(torch.tensor(x)), 1e-5, "output")
    close(ours.running_mean, theirs.running_mean, 1e-5, "running_mean")


# --------------------------------------------------------------------------- training
def _model(M):
    return M.Sequential(
        M.LazyConv2d(4, 3, padding=1),
        M.LazyBatchNorm2d(),
        M.ReLU(),
        M.LazyConvTranspose2d(2, 2, stride=2),
        M.LazyInstanceNorm2d(),
        M.Flatten(),
        M.LazyLinear(3),
    )


X = rand(4, 3, 5, 5)
Y = rand(4, 3)


def test_optimizer_built_before_first_call_trains_like_torch():
    ours, theirs = _model(nn), _model(TN)
    held = list(ours.parameters())
    # (SGD: Adam would move the conv bias before the batch norm, whose gradient is zero up to
    # rounding, by lr-sized steps of random sign; see the README)
    opt = ej.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9)
    with ej.no_grad():
        ours.eval()(ej.tensor(X))  # dry runs (eval: the statistics stay at their initial values)
    with torch.no_grad():
        theirs.eval()(torch.tensor(X))
    ours.train()
    theirs.train()
    ours.load_state_dict(_sd(theirs))  # in place: torch's initial values
    assert all(a is b for a, b in zip(held, ours.parameters()))
    for _ in range(4):
        opt.zero_grad()
        topt.zero_grad()
        loss = ((ours(ej.tensor(X)) - ej.tensor(Y)) ** 2).mean()
        tloss = ((theirs(torch.tensor(X)) - torch.tensor(Y)) ** 2).mean()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        close(loss, tloss, 1e-5, "loss")
    assert all(id(p) in {id(q) for q in opt.state} for p in held)
    for (k, v), (_, tv) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        close(v, tv, 1e-4, k)


def _step(model, opt):
    opt.zero_grad()
    loss = ((model(ej.tensor(X)) - ej.tensor(Y)) ** 2).mean()
    loss.backward()
    opt.step()
    return loss


def test_compiled_and_lazy_training_after_a_dry_run():
    ej.manual_seed(0)
    model = _model(nn)
    opt = ej.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with ej.no_grad():
        model(ej.tensor(X))  # the dry run
    assert_compile_equivalent(_step, model, opt, steps=3)


def _fresh():
    ej.manual_seed(3)
    model = _model(nn)
    # built before the first call. (SGD: Adam moves the conv biases before the norms, whose
    # gradients are zero up to rounding, by lr-sized steps of random sign, so eager and
    # lazy agree there only as far as XLA rounds both programs alike; see the README)
    return model, ej.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def test_first_call_in_lazy_mode_matches_eager():
    model, opt = _fresh()
    eager = [_step(model, opt).item() for _ in range(3)]
    ref = _sd(model)
    model, opt = _fresh()
    with ej.lazy():
        outs = [_step(model, opt) for _ in range(3)]
        assert type(model[0]) is nn.Conv2d
    np.testing.assert_allclose([o.item() for o in outs], eager, rtol=1e-6)
    for k, v in _sd(model).items():
        np.testing.assert_allclose(v, ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_compile_before_a_dry_run_raises_then_works():
    model, opt = _fresh()
    step = ej.compile(_step)
    with pytest.raises(ej.CaptureError, match="dry run") as e:
        step(model, opt)
    assert isinstance(e.value, RuntimeError)
    assert type(model[0]) is nn.LazyConv2d and model[0].has_uninitialized_params()
    with pytest.raises(ej.CaptureError, match="LazyLinear has uninitialized parameters"):
        ej.compile(nn.LazyLinear(2))(ej.ones(3, 4))
    with ej.no_grad():
        model.eval()(ej.tensor(X))
    model.train()
    compiled = [step(model, opt).item() for _ in range(3)]
    model2, opt2 = _fresh()
    with ej.no_grad():
        model2.eval()(ej.tensor(X))
    model2.train()
    eager = [_step(model2, opt2).item() for _ in range(3)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    a, b = _sd(model), _sd(model2)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)
