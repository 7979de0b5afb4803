"""Module and optimizer behaviours found to differ from torch 2.13, each checked against torch:
param groups read as Python values through every dict method, a group added after a
scheduler exists, a model cast after its optimizer has state, ``load_state_dict(assign=True)``,
old 0-d checkpoints, and ``get_extra_state``/``set_extra_state``."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

MODES = ["eager", "compile", "lazy"]


def test_param_group_reads_are_python_values_through_every_dict_method():
    for lib in (torch, ej):
        p = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        history = []
        for _ in range(3):
            opt.step()
            sched.step()
            history.append(opt.param_groups[0].get("lr"))
        g = opt.param_groups[0]
        assert type(g.get("lr")) is float and g.get("missing", 7) == 7
        assert all(not isinstance(v, lib.Tensor) for k, v in g.items() if k != "params")
        assert [type(v) for v in g.values()][1] is float
        json.dumps({k: v for k, v in g.items() if k != "params"})
        np.testing.assert_allclose(history, [0.05, 0.025, 0.0125])


def _lrs_after_adding_a_group(lib, mode: str = "eager"):
    a = lib.nn.Parameter(lib.ones(2))
    b = lib.nn.Parameter(lib.ones(2))
    opt = lib.optim.SGD([a], lr=0.1)
    sched = lib.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def step():
        opt.zero_grad()
        (a.square().sum() + b.square().sum()).backward()
        opt.step()
        sched.step()

    run = ej.compile(step) if (lib is ej and mode == "compile") else step
    with ej.lazy() if (lib is ej and mode == "lazy") else contextlib.nullcontext():
        run()
        opt.add_param_group({"params": [b], "lr": 0.02})  # unfreezing a backbone
        run()
        run()
    return [g["lr"] for g in opt.param_groups], sched.get_last_lr(), a.detach().numpy(), b.detach().numpy()


@pytest.mark.parametrize("mode", MODES)
def test_a_group_added_after_the_scheduler_is_scheduled_as_in_torch(mode):
    got, want = _lrs_after_adding_a_group(ej, mode), _lrs_after_adding_a_group(torch)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-6)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adagrad"])
@pytest.mark.parametrize("mode", MODES)
def test_a_model_cast_after_its_optimizer_has_state_keeps_its_dtype(name, mode):
    def run(lib):
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 2)
        with lib.no_grad():
            model.weight.copy_(lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10))
            model.bias.zero_()
        kw = {"momentum": 0.9} if name == "SGD" else {}
        opt = getattr(lib.optim, name)(model.parameters(), lr=0.01, **kw)
        x = lib.ones(4, 3)

        def step():
            opt.zero_grad()
            model(x.to(model.weight.dtype)).float().square().mean().backward()
            opt.step()

        step()  # float32 state
        model.to(lib.bfloat16)
        run = ej.compile(step) if (lib is ej and mode == "compile") else step
        with ej.lazy() if (lib is ej and mode == "lazy") else contextlib.nullcontext():
            run()
            run()
        return model.weight.dtype, model.weight.detach().float().numpy()

    (dt_e, w_e), (dt_t, w_t) = run(ej), run(torch)
    assert str(dt_e).split(".")[-1] == str(dt_t).split(".")[-1] == "bfloat16"
    np.testing.assert_allclose(w_e, w_t, rtol=2e-2, atol=2e-2)


def test_load_state_dict_assign_replaces_the_tensors():
    for lib in (torch, ej):
        model = lib.nn.Linear(2, 2)
        sd = {k: v.to(lib.bfloat16) for k, v in lib.nn.Linear(2, 2).state_dict().items()}
        old = model.weight
        model.load_state_dict(sd, assign=True)
        assert model.weight is not old and isinstance(model.weight, lib.nn.Parameter)
        assert model.weight.dtype == lib.bfloat16 and model.weight.requires_grad
        np.testing.assert_array_equal(model.weight.detach().float().numpy(), sd["weight"].float().numpy())


def test_a_one_element_checkpoint_loads_into_a_0d_parameter():
    for lib in (torch, ej):
        m = lib.nn.Module()
        m.temp = lib.nn.Parameter(lib.tensor(1.0))
        m.load_state_dict({"temp": lib.tensor([2.5])})
        assert m.temp.shape == () and float(m.temp) == 2.5


def _with_vocab(lib):
    class Tok(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(1, 1)
            self.vocab = {}

        def get_extra_state(self):
            return {"vocab": dict(self.vocab)}

        def set_extra_state(self, state):
            self.vocab = dict(state["vocab"])

    return Tok


def test_extra_state_is_saved_and_restored():
    for lib in (torch, ej):
        tok = _with_vocab(lib)
        a = tok()
        a.vocab = {"x": 0, "y": 1}
        sd = a.state_dict()
        assert list(sd) == ["_extra_state", "lin.weight", "lin.bias"]
        b = tok()
        b.load_state_dict(sd)
        assert b.vocab == {"x": 0, "y": 1}
        res = b.load_state_dict({k: v for k, v in sd.items() if k != "_extra_state"}, strict=False)
        assert res.missing_keys == ["_extra_state"]
        with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "_extra_state"'):
            lib.nn.Linear(1, 1).load_state_dict({**lib.nn.Linear(1, 1).state_dict(), "_extra_state": 1})


def test_printing_a_parameter_says_so():
    assert str(ej.nn.Parameter(ej.tensor(2.5))) == str(torch.nn.Parameter(torch.tensor(2.5)))


def test_sequential_repetition_and_parameter_dict_union():
    for lib in (torch, ej):
        a, b = lib.nn.Linear(1, 1), lib.nn.ReLU()
        s = lib.nn.Sequential(a, b)
        twice = s * 2
        assert len(twice) == 4 and twice[2] is a and len(2 * s) == 4
        s *= 3
        assert len(s) == 6 and s[4] is a
        with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
            s * 0
        with pytest.raises(TypeError, match="unsupported operand type"):
            s * 1.5
        p = lib.nn.ParameterDict({"a": lib.nn.Parameter(lib.ones(1))})
        q = lib.nn.ParameterDict({"b": lib.nn.Parameter(lib.zeros(1)), "a": lib.nn.Parameter(lib.zeros(1))})
        u = p | q
        assert list(u.keys()) == ["a", "b"] and u["a"] is q["a"]
        p |= q
        assert list(p.keys()) == ["a", "b"] and p["b"] is q["b"]
