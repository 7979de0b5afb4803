"""eagerjax.optim against torch.optim: update rules, param groups, state dicts, schedulers, errors."""

from __future__ import annotations

import contextlib
import copy
import pickle
import warnings

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import nn
from eagerjax._state import flags
from eagerjax.optim import _optimizer as _opt_mod

SHAPES = [(7, 5), (7,), (3, 7), (3,)]
_rs = np.random.RandomState(0)
INIT = [_rs.randn(*s).astype(np.float32) for s in SHAPES]
COEF = [_rs.uniform(0.5, 2, s).astype(np.float32) for s in SHAPES]


def _grad(step: int, i: int, p: np.ndarray) -> np.ndarray:
    """A gradient that depends on the current parameter (so errors would compound) plus noise."""
    return COEF[i] * p + np.random.RandomState(100 * step + i).randn(*SHAPES[i]).astype(np.float32)


def _trajectory(lib, make, steps: int = 20, skip=()):
    ps = [lib.nn.Parameter(lib.tensor(a)) for a in INIT]
    opt = make(ps)
    for s in range(steps):
        for i, p in enumerate(ps):
            if (s, i) in skip:
                p.grad = None
                continue
            p.grad = lib.tensor(_grad(s, i, p.detach().numpy()))
        opt.step()
    return [p.detach().numpy() for p in ps], opt


def _compare(name, kw, steps=20, skip=()):
    torch = pytest.importorskip("torch")
    a, _ = _trajectory(torch, lambda p: getattr(torch.optim, name)(p, **kw), steps, skip)
    b, opt = _trajectory(ej, lambda p: getattr(ej.optim, name)(p, **kw), steps, skip)
    for x, y in zip(a, b):
        # torch and XLA differ only in where multiply-adds are rounded (FMA): a few float32 ulps
        np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6)
    return opt


@pytest.mark.parametrize(
    "kw",
    [
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "maximize": True},
    ],
)
def test_sgd_matches_torch(kw):
    _compare("SGD", kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"lr": 0.05},
        {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1},
        {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True},
    ],
)
def test_adam_matches_torch(kw):
    _compare("Adam", kw)


@pytest.mark.parametrize("kw", [{"lr": 0.05}, {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}])
def test_adamw_matches_torch(kw):
    _compare("AdamW", kw)


def test_params_without_grad_are_skipped_like_torch():
    # param 1 gets no grad on steps 0-2 (no state, no update), param 3 misses step 5 (its step count lags)
    skip = {(0, 1), (1, 1), (2, 1), (5, 3)}
    opt = _compare("Adam", {"lr": 0.05}, steps=10, skip=skip)
    sd = opt.state_dict()
    assert float(sd["state"][0]["step"]) == 10 and float(sd["state"][1]["step"]) == 7
    assert float(sd["state"][3]["step"]) == 9
    _compare("SGD", {"lr": 0.1, "momentum": 0.9}, steps=8, skip=skip)


def test_model_training_loop_matches_torch():
    torch = pytest.importorskip("torch")
    tm = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    em = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    em.load_state_dict(tm.state_dict())
    rs = np.random.RandomState(1)
    x, y = rs.randn(32, 6).astype(np.float32), rs.randint(0, 3, 32)
    to = torch.optim.Adam(tm.parameters(), lr=1e-2)
    eo = ej.optim.Adam(em.parameters(), lr=1e-2)
    for _ in range(20):
        to.zero_grad()
        tl = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        to.step()
        eo.zero_grad()
        el = nn.functional.cross_entropy(em(ej.tensor(x)), ej.tensor(y))
        el.backward()
        eo.step()
        np.testing.assert_allclose(el.item(), tl.item(), rtol=1e-5)
    for (n, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- param groups
def test_hyperparameters_are_tensors_written_in_place():
    """Stored as 0-d float32 tensors (raw) written in place, so a new value never compiles
    anything; read through the group they are torch's Python numbers (snapshots)."""
    m = nn.Linear(3, 2)
    opt = ej.optim.Adam([{"params": [m.weight]}, {"params": [m.bias], "lr": 0.5}], lr=0.1)
    g0, g1 = opt.param_groups
    lr_t = g0.raw("lr")
    assert isinstance(lr_t, ej.Tensor) and lr_t.shape == () and lr_t.dtype == ej.float32
    assert g1["lr"] == 0.5 and g0["lr"] == 0.1
    b1, b2 = g0.raw("betas")
    assert isinstance(b1, ej.Tensor) and g0["betas"] == (0.9, 0.999)
    assert g0["amsgrad"] is False and g0["foreach"] is None
    m(ej.randn(4, 3)).sum().backward()
    opt.step()
    n_kernels = len(_opt_mod._kernels)
    e0 = flags.structure_epoch
    g0["lr"] = 0.01  # a Python number: written into the same tensor
    assert g0.raw("lr") is lr_t and float(lr_t) == pytest.approx(0.01)
    g0["lr"] = g0["lr"] * 0.5  # as user code does
    g0["lr"] *= 1.0
    assert g0.raw("lr") is lr_t and float(lr_t) == pytest.approx(0.005) and g0["lr"] == 0.005
    g0["betas"] = (0.5, 0.9)
    assert g0.raw("betas")[0] is b1 and float(b1) == 0.5
    assert flags.structure_epoch == e0  # numeric changes are not structure
    opt.step()
    assert len(_opt_mod._kernels) == n_kernels  # no new program for new values
    g0["amsgrad"] = True
    assert flags.structure_epoch > e0  # structural options bump
    opt.step()
    assert "max_exp_avg_sq" in opt.state[m.weight]
    assert f"{g0['lr']:.4f}" == "0.0050"


def test_lr_change_takes_effect_like_torch():
    torch = pytest.importorskip("torch")

    def run(lib):
        p = lib.nn.Parameter(lib.tensor(INIT[0]))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.5)
        for s in range(6):
            p.grad = lib.tensor(_grad(s, 0, p.detach().numpy()))
            if s == 3:
                for g in opt.param_groups:
                    g["lr"] = 0.01
            opt.step()
        return p.detach().numpy()

    np.testing.assert_allclose(run(ej), run(torch), rtol=1e-6, atol=1e-6)


def test_zero_grad_and_closure():
    m = nn.Linear(2, 1)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    x = ej.randn(5, 2)

    def closure():
        opt.zero_grad()
        loss = m(x).pow(2).mean()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, ej.Tensor) and m.weight.grad is not None
    opt.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and float(m.weight.grad.abs().sum()) == 0
    opt.zero_grad()
    assert m.weight.grad is None
    opt.step()  # no grads: nothing happens
    assert len(opt.state) == 0


def test_add_param_group_and_errors_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        lambda lib, p: lib.optim.SGD(p, lr=-0.1),
        lambda lib, p: lib.optim.SGD(p, momentum=-0.1),
        lambda lib, p: lib.optim.SGD(p, weight_decay=-0.1),
        lambda lib, p: lib.optim.SGD(p, nesterov=True),
        lambda lib, p: lib.optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
        lambda lib, p: lib.optim.Adam(p, lr=-1),
        lambda lib, p: lib.optim.Adam(p, betas=(1.0, 0.9)),
        lambda lib, p: lib.optim.Adam(p, betas=(0.9, 1.0)),
        lambda lib, p: lib.optim.Adam(p, eps=-1),
        lambda lib, p: lib.optim.AdamW(p, weight_decay=-1),
        lambda lib, p: lib.optim.Adam([]),
        lambda lib, p: lib.optim.Adam(p[0]),
        lambda lib, p: lib.optim.Adam([p[0] * 2]),
        lambda lib, p: lib.optim.Adam(p).add_param_group({"params": p}),
        lambda lib, p: lib.optim.Adam(p).load_state_dict({"state": {}, "param_groups": []}),
        lambda lib, p: lib.optim.Adam(p).load_state_dict({"state": {}, "param_groups": [{"params": [0, 1]}]}),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, [torch.nn.Parameter(torch.zeros(2))])
        with pytest.raises(type(te.value)) as ee:
            case(ej, [nn.Parameter(ej.zeros(2))])
        assert str(ee.value) == str(te.value)
    a, b = nn.Parameter(ej.zeros(2)), nn.Parameter(ej.zeros(3))
    opt = ej.optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["params"] == [b]
    assert float(opt.param_groups[1]["momentum"]) == pytest.approx(0.9)


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for name, kw in [("Adam", {}), ("AdamW", {"lr": 0.01}), ("SGD", {"lr": 0.1, "momentum": 0.9})]:
        t = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))], **kw)
        e = getattr(ej.optim, name)([nn.Parameter(ej.zeros(1))], **kw)
        assert repr(e) == repr(t)


# --------------------------------------------------------------------------- state dict
def test_state_dict_format_matches_torch():
    torch = pytest.importorskip("torch")
    _, topt = _trajectory(torch, lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True), steps=3)
    _, eopt = _trajectory(ej, lambda p: ej.optim.Adam(p, lr=0.05, amsgrad=True), steps=3)
    tsd, esd = topt.state_dict(), eopt.state_dict()
    assert esd["param_groups"] == tsd["param_groups"]
    assert esd["state"].keys() == tsd["state"].keys()
    for k in tsd["state"]:
        assert list(esd["state"][k]) == list(tsd["state"][k])
        for name, tv in tsd["state"][k].items():
            ev = esd["state"][k][name]
            assert isinstance(ev, ej.Tensor) and ev.shape == tuple(tv.shape)
            np.testing.assert_allclose(ev.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6)
    _, topt = _trajectory(torch, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), steps=2)
    _, eopt = _trajectory(ej, lambda p: ej.optim.SGD(p, lr=0.1, momentum=0.9), steps=2)
    assert eopt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    assert list(eopt.state_dict()["state"][0]) == ["momentum_buffer"]


def test_state_dict_round_trip_continues_identically():
    def make(ps):
        return ej.optim.Adam(ps, lr=0.05)

    full, _ = _trajectory(ej, make, steps=8)
    # 4 steps, save, rebuild everything, load, 4 more steps
    ps = [nn.Parameter(ej.tensor(a)) for a in INIT]
    opt = make(ps)
    for s in range(4):
        for i, p in enumerate(ps):
            p.grad = ej.tensor(_grad(s, i, p.detach().numpy()))
        opt.step()
    blob = pickle.dumps({"params": [p.detach().numpy() for p in ps], "opt": opt.state_dict()})
    saved = pickle.loads(blob)
    ps2 = [nn.Parameter(ej.tensor(a)) for a in saved["params"]]
    opt2 = make(ps2)
    opt2.load_state_dict(saved["opt"])
    for s in range(4, 8):
        for i, p in enumerate(ps2):
            p.grad = ej.tensor(_grad(s, i, p.detach().numpy()))
        opt2.step()
    for x, y in zip(full, ps2):
        np.testing.assert_array_equal(y.detach().numpy(), x)


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_resume_with_several_param_groups(mode):
    """Each group keeps its own step count after load_state_dict (a step tensor shared
    across groups would advance once per group: Adam's bias correction would drift)."""

    def make(ps):
        return ej.optim.Adam([{"params": ps[:2]}, {"params": ps[2:3], "lr": 0.02}, {"params": ps[3:]}], lr=0.05)

    def run(opt, ps, steps):
        step = opt.step if mode != "compiled" else ej.compile(lambda: opt.step())
        for s in steps:
            for i, p in enumerate(ps):
                p.grad = ej.tensor(_grad(s, i, p.detach().numpy()))
            if mode == "lazy":
                with ej.lazy():
                    step()
            else:
                step()

    full = [nn.Parameter(ej.tensor(a)) for a in INIT]
    run(make(full), full, range(6))
    ps = [nn.Parameter(ej.tensor(a)) for a in INIT]
    opt = make(ps)
    run(opt, ps, range(3))
    saved = pickle.loads(pickle.dumps(opt.state_dict()))
    opt2 = make(ps)
    opt2.load_state_dict(saved)
    run(opt2, ps, range(3, 6))
    assert [float(opt2.state[p]["step"]) for p in ps] == [6.0] * 4
    for x, y in zip(full, ps):
        np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())


def test_load_torch_optimizer_state_and_continue():
    torch = pytest.importorskip("torch")
    tps = [torch.nn.Parameter(torch.tensor(a)) for a in INIT]
    topt = torch.optim.Adam(tps, lr=0.05, weight_decay=0.01)
    for s in range(3):
        for i, p in enumerate(tps):
            p.grad = torch.tensor(_grad(s, i, p.detach().numpy()))
        topt.step()
    eps_ = [nn.Parameter(ej.tensor(p.detach().numpy())) for p in tps]
    eopt = ej.optim.Adam(eps_, lr=0.5)
    eopt.load_state_dict(copy.deepcopy(topt.state_dict()))  # torch tensors are accepted
    assert float(eopt.param_groups[0]["lr"]) == pytest.approx(0.05)
    for s in range(3, 8):
        for i, (tp, ep) in enumerate(zip(tps, eps_)):
            tp.grad = torch.tensor(_grad(s, i, tp.detach().numpy()))
            ep.grad = ej.tensor(_grad(s, i, ep.detach().numpy()))
        topt.step()
        eopt.step()
    for tp, ep in zip(tps, eps_):
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- schedulers
SCHEDULERS = [
    ("StepLR", (3,), {"gamma": 0.5}),
    ("MultiStepLR", ([2, 5, 5, 9],), {"gamma": 0.3}),
    ("ExponentialLR", (0.9,), {}),
    ("CosineAnnealingLR", (10,), {"eta_min": 0.01}),
    ("CosineAnnealingLR", (7,), {}),
    ("LinearLR", (), {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 7}),
    ("LinearLR", (), {}),
]


def _lr_sequence(lib, name, args, kwargs, n=30):
    a = lib.nn.Parameter(lib.zeros(2))
    b = lib.nn.Parameter(lib.zeros(3))
    opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.5)
    sched = getattr(lib.optim.lr_scheduler, name)(opt, *args, **kwargs)
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr())
        opt.step()
        sched.step()
    return np.array(out), sched, opt


@pytest.mark.parametrize("name,args,kwargs", SCHEDULERS)
def test_scheduler_sequences_match_torch(name, args, kwargs):
    torch = pytest.importorskip("torch")
    t, ts, _ = _lr_sequence(torch, name, args, kwargs)
    e, es, eopt = _lr_sequence(ej, name, args, kwargs)
    np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-9)
    assert es.last_epoch == ts.last_epoch
    np.testing.assert_allclose(es.base_lrs, ts.base_lrs, rtol=1e-7)
    assert isinstance(eopt.param_groups[0].raw("lr"), ej.Tensor)
    assert set(es.state_dict()) >= {"base_lrs", "last_epoch", "_step_count", "_last_lr"}


def test_scheduler_step_is_tensor_math_and_state_round_trip():
    p = nn.Parameter(ej.zeros(2))
    opt = ej.optim.SGD([p], lr=1.0)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    lr_t = opt.param_groups[0].raw("lr")
    opt.step()  # (no grads: nothing changes; the scheduler then steps in torch's order)
    for _ in range(3):
        sched.step()
    assert opt.param_groups[0].raw("lr") is lr_t  # written in place
    assert sched.last_epoch == 3 and sched.get_last_lr() == [pytest.approx(0.1)]
    sd = sched.state_dict()
    opt2 = ej.optim.SGD([nn.Parameter(ej.zeros(2))], lr=1.0)
    sched2 = ej.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.1)
    sched2.load_state_dict(sd)
    sched2.step()
    sched.step()
    # as in torch: opt2's lr (1.0) was not restored, so the recursive rule continues from it
    assert sched2.last_epoch == 4 and sched2.get_last_lr() == [pytest.approx(0.1)]
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(10)
    assert sched.last_epoch == 10 and sched.get_last_lr() == [pytest.approx(1e-5)]


def test_scheduler_errors_match_torch():
    torch = pytest.importorskip("torch")
    for case in [
        lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, start_factor=0),
        lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, end_factor=2),
        lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 3, last_epoch=5),
    ]:
        with pytest.raises(Exception) as te:
            case(torch, torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
        with pytest.raises(type(te.value)) as ee:
            case(ej, ej.optim.SGD([nn.Parameter(ej.zeros(1))], lr=0.1))
        assert str(ee.value) == str(te.value)


def test_optimizer_and_scheduler_pickle():
    p = nn.Parameter(ej.ones(2))
    opt = ej.optim.Adam([p], lr=0.1)
    p.grad = ej.ones(2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt2 = copy.deepcopy(opt)
    assert float(opt2.param_groups[0]["lr"]) == pytest.approx(0.1)
    assert opt2.param_groups[0].raw("lr") is not opt.param_groups[0].raw("lr")


# --------------------------------------------------------------------------- capture
def test_training_step_compiles_and_matches_eager():
    """Dropout RNG, BatchNorm running stats, grad clipping, lazily created optimizer state and a
    scheduler stepping its epoch tensor: compiled and lazy runs agree with eager."""
    testing = pytest.importorskip("eagerjax.testing")
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.25), nn.Linear(12, 3))
    opt = ej.optim.Adam(model.parameters(), lr=1e-2, weight_decay=0.01)
    sched = ej.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    rs = np.random.RandomState(0)
    x = ej.tensor(rs.randn(16, 6).astype(np.float32))
    y = ej.tensor(rs.randint(0, 3, 16))

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()
        return loss

    testing.assert_compile_equivalent(step, x, y, steps=2)


@pytest.mark.parametrize("mode", ["eager", "lazy", "compiled"])
def test_logged_lrs_are_snapshots_and_manual_decay_works(mode):
    """``lrs.append(g['lr'])`` keeps each step's number (the stored tensor is written in place);
    ``g['lr'] = g['lr'] * 0.5`` inside a compiled step is tensor math on the traced value."""
    m = nn.Linear(2, 1)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def step():
        opt.step()
        sched.step()
        g = opt.param_groups[0]
        g["lr"] = g["lr"] * 0.5
        return g["lr"]

    run = ej.compile(step) if mode == "compiled" else step
    lrs = []
    for _ in range(3):
        if mode == "lazy":
            with ej.lazy():
                run()
                lrs.append(opt.param_groups[0]["lr"])
        else:
            out = run()
            lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [0.025, 0.00625, 0.0015625]
    assert type(lrs[0]) is float and round(lrs[0], 3) == 0.025
    if mode == "compiled":
        assert isinstance(out, ej.Tensor) and run.stats()["traces"] == 1


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_state_dict_held_across_steps_shows_live_state(mode):
    """torch's ``optimizer.state_dict()`` holds the live state tensors: kept while training
    goes on (a checkpoint saved later), its ``step`` and moments are the new ones together
    (``step`` was a snapshot, so a later save paired new moments with an old step count)."""
    m = ej.nn.Linear(2, 2)
    opt = ej.optim.Adam(m.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        m(ej.ones(1, 2)).sum().backward()
        opt.step()

    f = ej.compile(step) if mode == "compiled" else step
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        f()
        held = opt.state_dict()["state"]
        f()
        for i, p in enumerate(m.parameters()):
            live = opt.state[p]
            assert float(held[i]["step"]) == float(live["step"]) == 2.0
            np.testing.assert_array_equal(held[i]["exp_avg"].numpy(), live["exp_avg"].numpy())
