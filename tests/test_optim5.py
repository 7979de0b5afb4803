"""Adadelta, Adafactor and Muon against torch: trajectories and state, state dicts both ways,
compiled and lazy runs (one trace, no retrace when a scheduler moves lr), GradScaler skips,
torch's errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import nn
from eagerjax.amp import GradScaler

torch = pytest.importorskip("torch")

# a matrix, a vector, a wide matrix, a scalar and a 3-D tensor (Adafactor factors its last two dims)
SHAPES = [(7, 5), (7,), (3, 7), (), (2, 3, 4)]
MATRICES = [0, 2]  # Muon takes 2-D parameters only
_rs = np.random.RandomState(0)
INIT = [np.asarray(_rs.randn(*s), np.float32) for s in SHAPES]
COEF = [np.asarray(_rs.uniform(0.5, 2, s), np.float32) for s in SHAPES]


def _grad(step: int, i: int, p: np.ndarray) -> np.ndarray:
    """A gradient that depends on the current parameter (errors would compound) plus noise."""
    return np.asarray(COEF[i] * p + np.random.RandomState(100 * step + i).randn(*SHAPES[i]), np.float32)


def _which(name: str) -> list[int]:
    return MATRICES if name == "Muon" else list(range(len(SHAPES)))


def _run(lib, opt, ps, idx, steps, start=0, skip=()):
    for s in range(start, start + steps):
        for i, p in zip(idx, ps):
            p.grad = None if (s, i) in skip else lib.tensor(_grad(s, i, p.detach().numpy()))
        opt.step()


def _trajectory(lib, name, kw, steps=20, skip=()):
    idx = _which(name)
    ps = [lib.nn.Parameter(lib.tensor(INIT[i])) for i in idx]
    opt = getattr(lib.optim, name)(ps, **kw)
    _run(lib, opt, ps, idx, steps, skip=skip)
    return ps, opt


def _close(got, want, rtol=1e-5, atol=1e-6):
    for y, x in zip(got, want):
        # torch and XLA differ in where multiply-adds round and in reduction order: a few ulps
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=rtol, atol=atol)


def _numpy(ps) -> list:
    return [p.detach().numpy() for p in ps]


def _assert_same_state(esd: dict, tsd: dict) -> None:
    """Our state dict has torch's layout (keys in order, shapes) and values."""
    assert esd["param_groups"] == tsd["param_groups"]
    assert esd["state"].keys() == tsd["state"].keys()
    for k, tst in tsd["state"].items():
        assert list(esd["state"][k]) == list(tst)
        for key, tv in tst.items():
            ev = esd["state"][k][key]
            assert isinstance(ev, ej.Tensor) and tuple(ev.shape) == tuple(tv.shape), key
            np.testing.assert_allclose(ev.numpy(), tv.numpy(), rtol=2e-5, atol=1e-6, err_msg=key)


OPTIMIZERS = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 0.3, "weight_decay": 0.05, "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1, "beta2_decay": -0.5, "d": 2.0}),
    ("Adafactor", {"lr": 0.02, "eps": (1e-3, 1e-2), "maximize": True, "weight_decay": 0.01}),
    ("Muon", {}),
    ("Muon", {"lr": 0.02, "nesterov": False, "weight_decay": 0.0, "adjust_lr_fn": "match_rms_adamw"}),
    ("Muon", {"lr": 0.01, "momentum": 0.5, "ns_steps": 3, "ns_coefficients": (3.0, -3.2, 1.2), "eps": 1e-5}),
    ("Muon", {"lr": 0.01, "adjust_lr_fn": "original", "weight_decay": 0.2}),
]
_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(OPTIMIZERS)]


@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=_IDS)
def test_trajectory_and_state_match_torch(name, kw):
    tps, topt = _trajectory(torch, name, kw)
    eps_, eopt = _trajectory(ej, name, kw)
    if name == "Muon":
        # Muon orthogonalizes in bfloat16: an ulp of float32 rounding (an FMA) in the momentum
        # can flip one bfloat16 rounding, and 20 steps of parameter-dependent gradients carry
        # that on (``test_muon_steps_agree_with_torchs_from_the_same_state`` checks each step).
        _close(_numpy(eps_), _numpy(tps), rtol=0, atol=2e-3)
        return
    _close(_numpy(eps_), _numpy(tps))
    _assert_same_state(eopt.state_dict(), topt.state_dict())


@pytest.mark.parametrize("name,kw", [c for c in OPTIMIZERS if c[0] == "Muon"], ids=[i for i in _IDS if "Muon" in i])
def test_muon_steps_agree_with_torchs_from_the_same_state(name, kw):
    """Each step taken from torch's parameters and momentum gives torch's result, the
    bfloat16 Newton-Schulz iteration included (to a bfloat16 rounding of the update)."""
    tps, topt = _trajectory(torch, name, kw, steps=0)
    eps_, eopt = _trajectory(ej, name, kw, steps=0)
    step_size = kw.get("lr", 1e-3) * 0.2 * np.sqrt(7)  # the largest adjusted lr of these shapes
    for s in range(10):
        for i, tp, ep in zip(MATRICES, tps, eps_):
            g = _grad(s, i, tp.detach().numpy())
            tp.grad, ep.grad = torch.tensor(g), ej.tensor(g)
        topt.step()
        eopt.step()
        _close(_numpy(eps_), _numpy(tps), rtol=0, atol=step_size * 2**-7)
        _assert_same_state(eopt.state_dict(), topt.state_dict())
        for tp, ep in zip(tps, eps_):  # continue both from torch's values
            ep.data = ej.tensor(tp.detach().numpy())
            eopt.state[ep]["momentum_buffer"].copy_(ej.tensor(topt.state[tp]["momentum_buffer"].numpy()))


def test_adafactor_factors_its_last_two_dims_and_counts_steps_per_param():
    # params skipped for some steps: each keeps torch's own step count (and so its own beta2_t, rho_t)
    skip = {(0, 1), (1, 1), (3, 4), (4, 0)}
    tps, topt = _trajectory(torch, "Adafactor", {"lr": 0.05}, steps=8, skip=skip)
    eps_, eopt = _trajectory(ej, "Adafactor", {"lr": 0.05}, steps=8, skip=skip)
    _close(_numpy(eps_), _numpy(tps))
    st = eopt.state_dict()["state"]
    assert [float(st[i]["step"]) for i in range(5)] == [7, 6, 8, 8, 7]
    assert tuple(st[4]["row_var"].shape) == (2, 3, 1) and tuple(st[4]["col_var"].shape) == (2, 1, 4)
    assert list(st[3]) == ["step", "variance"] and tuple(st[3]["variance"].shape) == ()
    _assert_same_state(eopt.state_dict(), topt.state_dict())


STATEFUL = [
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1}),
    ("Muon", {"lr": 0.02}),
]


@pytest.mark.parametrize("as_numpy", [False, True], ids=["torch", "numpy"])
@pytest.mark.parametrize("name,kw", STATEFUL, ids=[n for n, _ in STATEFUL])
def test_state_dict_loads_both_ways_and_round_trips(name, kw, as_numpy):
    tps, topt = _trajectory(torch, name, kw, steps=3)
    eps_, eopt = _trajectory(ej, name, kw, steps=3)
    idx = _which(name)
    tsd = copy.deepcopy(topt.state_dict())
    if as_numpy:  # a torch checkpoint converted to numpy arrays loads too
        tsd["state"] = {k: {n: v.numpy() for n, v in st.items()} for k, st in tsd["state"].items()}
    ps = [nn.Parameter(ej.tensor(p.detach().numpy())) for p in tps]
    fresh = getattr(ej.optim, name)(ps, lr=0.5)
    fresh.load_state_dict(tsd)
    assert fresh.param_groups[0]["lr"] == kw["lr"]
    _run(torch, topt, tps, idx, 4, start=3)
    _run(ej, fresh, ps, idx, 4, start=3)
    _close(_numpy(ps), _numpy(tps))
    # our own state dict: a rebuilt optimizer continues bit for bit; torch loads it too
    ps2 = [nn.Parameter(ej.tensor(p.detach().numpy())) for p in eps_]
    again = getattr(ej.optim, name)(ps2, **kw)
    again.load_state_dict(eopt.state_dict())
    back = getattr(torch.optim, name)([torch.nn.Parameter(torch.tensor(p.detach().numpy())) for p in eps_], **kw)
    esd = eopt.state_dict()
    back.load_state_dict(
        {
            "state": {k: {n: torch.tensor(v.numpy()) for n, v in st.items()} for k, st in esd["state"].items()},
            "param_groups": esd["param_groups"],
        }
    )
    _assert_same_state(again.state_dict(), back.state_dict())
    _run(ej, eopt, eps_, idx, 3, start=3)
    _run(ej, again, ps2, idx, 3, start=3)
    for a, b in zip(eps_, ps2):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# --------------------------------------------------------------------------- capture
def _model(name: str) -> nn.Module:
    ej.manual_seed(0)
    bias = name != "Muon"
    return nn.Sequential(nn.Linear(4, 6, bias=bias), nn.Tanh(), nn.Linear(6, 3, bias=bias))


CAPTURE = [
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1}),
    ("Muon", {"lr": 0.05, "nesterov": False}),
    ("Muon", {"lr": 0.05}),
]
_CIDS = [f"{n}-{i}" for i, (n, _) in enumerate(CAPTURE)]
_XS = [np.random.RandomState(10 + s).randn(8, 4).astype(np.float32) for s in range(6)]
_YS = [np.random.RandomState(50 + s).randn(8, 3).astype(np.float32) for s in range(6)]


@pytest.mark.parametrize("name,kw", CAPTURE, ids=_CIDS)
def test_compiled_and_lazy_steps_match_eager(name, kw):
    testing = pytest.importorskip("eagerjax.testing")
    model = _model(name)
    opt = getattr(ej.optim, name)(model.parameters(), **kw)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = ej.tensor(_XS[0]), ej.tensor(_YS[0])

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        return loss

    testing.assert_compile_equivalent(step, x, y, steps=4, compile_kwargs={"donate": False})


@pytest.mark.parametrize("name,kw", CAPTURE, ids=_CIDS)
def test_one_trace_in_steady_state_while_a_scheduler_moves_lr(name, kw):
    """A StepLR schedule and a hand-set lr are tensor writes: the compiled step is traced once
    and gives eager's parameters; lazy mode gives them too."""
    results = {}
    for mode in ("eager", "compiled", "lazy"):
        model = _model(name)
        opt = getattr(ej.optim, name)(model.parameters(), **kw)
        sched = ej.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
            return loss

        run = ej.compile(step) if mode == "compiled" else step
        lrs = []
        for s in range(6):
            if s == 3:
                opt.param_groups[0]["lr"] = 0.01
            args = (ej.tensor(_XS[s]), ej.tensor(_YS[s]))
            if mode == "lazy":
                with ej.lazy():
                    run(*args)
            else:
                run(*args)
            lrs.append(opt.param_groups[0]["lr"])
        if mode == "compiled":
            assert run.stats()["traces"] == 1
        results[mode] = ([p.detach().numpy() for p in model.parameters()], lrs)
    for mode in ("compiled", "lazy"):
        assert results[mode][1] == results["eager"][1]
        _close(results[mode][0], results["eager"][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
@pytest.mark.parametrize("name,kw", STATEFUL, ids=[n for n, _ in STATEFUL])
def test_a_grad_scaler_skip_changes_nothing(name, kw, mode):
    """An inf in the gradients: GradScaler skips the update on the device (no host read), so
    parameters and every state tensor keep their values, in every mode."""
    model = _model(name)
    opt = getattr(ej.optim, name)(model.parameters(), **kw)
    sc = GradScaler("cuda" if ej.cuda.is_available() else "cpu", init_scale=1.0)

    def step(x, y, factor):
        opt.zero_grad()
        sc.scale(((model(x) - y) ** 2).mean() * factor).backward()
        sc.step(opt)
        sc.update()

    run = ej.compile(step) if mode == "compiled" else step
    snaps = []
    for s, factor in enumerate([1.0, float("inf"), 1.0]):
        args = (ej.tensor(_XS[s]), ej.tensor(_YS[s]), ej.tensor(factor))
        if mode == "lazy":
            with ej.lazy():
                run(*args)
        else:
            run(*args)
        sd = opt.state_dict()["state"]
        snaps.append(_numpy(model.parameters()) + [v.numpy() for st in sd.values() for v in st.values()])
    for a, b in zip(snaps[1], snaps[0]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(snaps[2], snaps[1]))
    assert sc.get_scale() == 0.5


# --------------------------------------------------------------------------- torch's words
def test_constructor_errors_match_torch():
    cases = [
        lambda lib, p: lib.optim.Adadelta(p, lr=-1),
        lambda lib, p: lib.optim.Adadelta(p, rho=1.5),
        lambda lib, p: lib.optim.Adadelta(p, rho=-0.1),
        lambda lib, p: lib.optim.Adadelta(p, eps=-1),
        lambda lib, p: lib.optim.Adadelta(p, weight_decay=-1),
        lambda lib, p: lib.optim.Adadelta(p, lr=lib.tensor([1.0, 2.0])),
        lambda lib, p: lib.optim.Adafactor(p, lr=-1),
        lambda lib, p: lib.optim.Adafactor(p, beta2_decay=0.5),
        lambda lib, p: lib.optim.Adafactor(p, eps=(-1.0, 1e-3)),
        lambda lib, p: lib.optim.Adafactor(p, eps=(None, -1.0)),
        lambda lib, p: lib.optim.Adafactor(p, d=0.5),
        lambda lib, p: lib.optim.Adafactor(p, weight_decay=-1),
        lambda lib, p: lib.optim.Adafactor(p, lr=lib.tensor([1.0, 2.0])),
        lambda lib, p: lib.optim.Muon(p, lr=-1),
        lambda lib, p: lib.optim.Muon(p, momentum=-1),
        lambda lib, p: lib.optim.Muon(p, weight_decay=-1),
        lambda lib, p: lib.optim.Muon(p, adjust_lr_fn="other"),
        lambda lib, p: lib.optim.Muon(p + [lib.nn.Parameter(lib.zeros(3))]),
        lambda lib, p: lib.optim.Muon([lib.nn.Parameter(lib.zeros(2, 2, 2))]),
        lambda lib, p: lib.optim.Muon([]),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, [torch.nn.Parameter(torch.zeros(2, 2))])
        with pytest.raises(type(te.value)) as ee:
            case(ej, [nn.Parameter(ej.zeros(2, 2))])
        assert str(ee.value) == str(te.value)


def _step_error(lib, make):
    p = lib.nn.Parameter(lib.ones(3, 2))
    opt = make(lib, p)
    for q in opt.param_groups[-1]["params"]:
        q.grad = lib.ones_like(q).detach()
    opt.step()


def test_step_errors_match_torch():
    cases = [
        lambda lib, p: lib.optim.Muon([p], ns_steps=100),
        lambda lib, p: lib.optim.Muon([p], ns_coefficients=(1.0, 2.0)),
        # a group added later is not checked when added; its step refuses the gradient
        lambda lib, p: (lambda o: o.add_param_group({"params": [lib.nn.Parameter(lib.ones(4))]}) or o)(
            lib.optim.Muon([p])
        ),
        lambda lib, p: lib.optim.Muon([lib.nn.Parameter(lib.ones(2, 2, dtype=lib.complex64))]),
        lambda lib, p: lib.optim.Adafactor([lib.nn.Parameter(lib.ones(2, dtype=lib.complex64))]),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            _step_error(torch, case)
        with pytest.raises(type(te.value)) as ee:
            _step_error(ej, case)
        assert str(ee.value) == str(te.value)


@pytest.mark.parametrize("name", ["Adadelta", "Adafactor", "Muon"])
def test_defaults_and_repr_match_torch(name):
    t = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2, 3))])
    e = getattr(ej.optim, name)([nn.Parameter(ej.zeros(2, 3))])
    assert e.defaults == t.defaults
    assert repr(e) == repr(t)
    assert isinstance(e.param_groups[0].raw("lr"), ej.Tensor)
