"""Optimizer state held flat (eagerjax/optim/_statepack.py): each small state column of a
group lives in one array, and ``opt.state[p][name]`` is a view of it. The contract is
torch's: the same Tensor object across steps, showing the current value, in-place writes
reaching the next step, in every mode. torch is the reference."""

from __future__ import annotations

import contextlib
import copy
import pickle

import numpy as np
import pytest

import eagerjax as ej
from eagerjax.optim._statepack import _PackedState

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("fresh_lazy")

MODES = ["eager", "compiled", "lazy"]
_rs = np.random.RandomState(3)
W1, B1 = _rs.randn(6, 3).astype(np.float32), _rs.randn(6).astype(np.float32)
W2, B2 = _rs.randn(2, 6).astype(np.float32), _rs.randn(2).astype(np.float32)
XS = [np.random.RandomState(20 + s).randn(5, 3).astype(np.float32) for s in range(8)]
YS = [np.random.RandomState(40 + s).randn(5, 2).astype(np.float32) for s in range(8)]


def _pair(opt_name="Adam", **kw):
    """The same two-layer model and optimizer in eagerjax and torch."""
    kw = kw or {"lr": 0.05}
    out = []
    for lib in (ej, torch):
        m = lib.nn.Sequential(lib.nn.Linear(3, 6), lib.nn.Tanh(), lib.nn.Linear(6, 2))
        with torch.no_grad() if lib is torch else ej.no_grad():
            for p, a in zip(m.parameters(), (W1, B1, W2, B2)):
                p.copy_(lib.tensor(a))
        out += [m, getattr(lib.optim, opt_name)(m.parameters(), **kw)]
    return out


def _stepper(lib, m, opt, mode="eager", frozen=()):
    """A training step; params listed in ``frozen`` (indices) get no gradient."""

    def step(x, y):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        for i, p in enumerate(m.parameters()):
            if i in frozen:
                p.grad = None
        opt.step()
        return loss

    if lib is ej and mode == "compiled":
        return ej.compile(step)
    return step


def _ctx(mode):
    return ej.lazy() if mode == "lazy" else contextlib.nullcontext()


def _check(ejm, ejo, tm, to):
    for p, q in zip(ejm.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
        for k, v in to.state[q].items():
            np.testing.assert_allclose(np.asarray(ejo.state[p][k].numpy()), v.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_state_entries_are_views_that_stay_the_same_objects(mode):
    m, opt, tm, to = _pair()
    step, tstep = _stepper(ej, m, opt, mode), _stepper(torch, tm, to)
    with _ctx(mode):
        step(ej.tensor(XS[0]), ej.tensor(YS[0]))
    tstep(torch.tensor(XS[0]), torch.tensor(YS[0]))
    held = {(id(p), k): v for p in m.parameters() for k, v in opt.state[p].items()}
    assert all(type(opt.state[p]["exp_avg"]) is _PackedState for p in m.parameters())
    packs = {id(opt.state[p][k]._pack) for p in m.parameters() for k in ("exp_avg", "exp_avg_sq")}
    assert len(packs) == 2  # one array per column
    for s in range(1, 5):
        with _ctx(mode):
            step(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
    for p in m.parameters():
        for k, v in opt.state[p].items():
            assert v is held[(id(p), k)]
    _check(m, opt, tm, to)
    assert opt.state[next(m.parameters())]["exp_avg"].shape == (6, 3)


@pytest.mark.parametrize("mode", MODES)
def test_in_place_write_to_a_view_reaches_the_next_step(mode):
    m, opt, tm, to = _pair("SGD", lr=0.1, momentum=0.9)
    step, tstep = _stepper(ej, m, opt, mode), _stepper(torch, tm, to)
    for s in range(2):
        with _ctx(mode):
            step(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
    p0, q0 = next(m.parameters()), next(tm.parameters())
    with ej.no_grad():
        opt.state[p0]["momentum_buffer"].mul_(0.5)
    with torch.no_grad():
        to.state[q0]["momentum_buffer"].mul_(0.5)
    _check(m, opt, tm, to)
    for s in range(2, 5):
        with _ctx(mode):
            step(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
    _check(m, opt, tm, to)


@pytest.mark.parametrize("mode", MODES)
def test_a_step_where_some_params_have_no_grad(mode):
    """Only some members of a packed column update; the others keep their state."""
    m, opt, tm, to = _pair()
    steps = {f: (_stepper(ej, m, opt, mode, f), _stepper(torch, tm, to, frozen=f)) for f in ((), (1, 3))}
    for s, f in enumerate([(), (1, 3), (1, 3), (), (1, 3)]):
        with _ctx(mode):
            steps[f][0](ej.tensor(XS[s]), ej.tensor(YS[s]))
        steps[f][1](torch.tensor(XS[s]), torch.tensor(YS[s]))
        _check(m, opt, tm, to)


@pytest.mark.parametrize("mode", MODES)
def test_replacing_one_entry_mixes_a_column(mode):
    """A state entry set by hand (a plain tensor) beside the views of a pack: the update
    writes the views through into their pack and the plain one as itself."""
    m, opt, tm, to = _pair()
    step, tstep = _stepper(ej, m, opt, mode), _stepper(torch, tm, to)
    with _ctx(mode):
        step(ej.tensor(XS[0]), ej.tensor(YS[0]))
    tstep(torch.tensor(XS[0]), torch.tensor(YS[0]))
    p2, q2 = list(m.parameters())[2], list(tm.parameters())[2]
    opt.state[p2]["exp_avg"] = ej.full((2, 6), 0.01)
    to.state[q2]["exp_avg"] = torch.full((2, 6), 0.01)
    for s in range(1, 4):
        with _ctx(mode):
            step(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
    _check(m, opt, tm, to)
    assert type(opt.state[p2]["exp_avg"]) is not _PackedState


def test_compiled_step_reads_a_view_and_traces_once():
    m, opt, tm, to = _pair()
    p0 = next(m.parameters())

    @ej.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss, opt.state[p0]["exp_avg_sq"].sum()

    tstep = _stepper(torch, tm, to)
    q0 = next(tm.parameters())
    for s in range(6):
        _, v = step(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
        np.testing.assert_allclose(float(v), float(to.state[q0]["exp_avg_sq"].sum()), rtol=1e-4)
    assert step.stats()["traces"] <= 2  # the first, and one settling trace for the state born in it
    n = step.stats()["traces"]
    step(ej.tensor(XS[6]), ej.tensor(YS[6]))
    tstep(torch.tensor(XS[6]), torch.tensor(YS[6]))
    assert step.stats()["traces"] == n
    _check(m, opt, tm, to)


def test_state_dict_round_trip_packs_again_and_continues():
    m, opt, tm, to = _pair()
    step, tstep = _stepper(ej, m, opt), _stepper(torch, tm, to)
    for s in range(3):
        step(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
    sd = pickle.loads(pickle.dumps(opt.state_dict()))
    assert all(type(v) is ej.Tensor for st in sd["state"].values() for v in st.values())  # plain copies
    m2, opt2, _, _ = _pair()
    m2.load_state_dict(m.state_dict())
    opt2.load_state_dict(sd)
    assert all(type(opt2.state[p]["exp_avg"]) is _PackedState for p in m2.parameters())
    step2 = _stepper(ej, m2, opt2)
    for s in range(3, 6):
        step2(ej.tensor(XS[s]), ej.tensor(YS[s]))
        tstep(torch.tensor(XS[s]), torch.tensor(YS[s]))
    _check(m2, opt2, tm, to)


def test_deepcopy_of_an_optimizer_holds_plain_state():
    m, opt, _, _ = _pair()
    step = _stepper(ej, m, opt)
    step(ej.tensor(XS[0]), ej.tensor(YS[0]))
    dup = copy.deepcopy({"opt": opt})["opt"]
    for p, q in zip(opt.param_groups[0]["params"], dup.param_groups[0]["params"]):
        for k in ("exp_avg", "exp_avg_sq"):
            assert type(dup.state[q][k]) is ej.Tensor
            np.testing.assert_array_equal(dup.state[q][k].numpy(), opt.state[p][k].numpy())


def test_columns_not_worth_packing_stay_per_param():
    """One param, a complex param, mixed dtypes or large tensors: plain state tensors."""
    cases = [
        [ej.nn.Parameter(ej.randn(3))],
        [ej.nn.Parameter(ej.randn(3, dtype=ej.complex64)), ej.nn.Parameter(ej.randn(2, dtype=ej.complex64))],
        [ej.nn.Parameter(ej.randn(3)), ej.nn.Parameter(ej.randn(3).to(ej.bfloat16))],
        [ej.nn.Parameter(ej.randn(256, 256)), ej.nn.Parameter(ej.randn(3))],
    ]
    for params in cases:
        opt = ej.optim.Adam(params, lr=0.1)
        for p in params:
            p.grad = ej.ones_like(p)
        opt.step()
        assert all(type(opt.state[p]["exp_avg"]) is ej.Tensor for p in params)
