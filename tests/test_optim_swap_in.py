"""``optim.swap_in_optimizer_params_and_state`` against torch: inside the context ``step()``
updates the given parameters and state dict in place with the given hyperparameters; the
live optimizer is untouched and steps on as before afterwards (eager, compiled, lazy)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

W = np.array([[0.5, -1.0, 0.25], [2.0, 0.1, -0.3]], dtype=np.float32)
B = np.array([0.2, -0.4], dtype=np.float32)
X = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]], dtype=np.float32)


def _clone_osd(lib, osd):
    state = {k: {n: (v.clone() if isinstance(v, lib.Tensor) else v) for n, v in st.items()} for k, st in osd.items()}
    return state


def _run(lib, mode: str = "eager"):
    """Three live steps around one swapped-in step; returns what each part produced."""
    w = lib.tensor(W, requires_grad=True)
    b = lib.tensor(B, requires_grad=True)
    opt = lib.optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.05}], lr=0.1)

    def loss_of(ps):
        return ((lib.tensor(X) @ ps[0].T + ps[1]) ** 2).sum()

    def live_step():
        opt.zero_grad()
        loss_of((w, b)).backward()
        opt.step()

    def swapped_step(params):
        for p in params:
            p.grad = None
        loss_of(params).backward()
        opt.step()

    if lib is ej and mode == "compile":
        live_step, swapped_step = ej.compile(live_step), ej.compile(swapped_step)
    ctx = ej.lazy if (lib is ej and mode == "lazy") else contextlib.nullcontext
    with ctx():
        live_step()
        osd = opt.state_dict()
        fake = {"w": w.detach().clone().requires_grad_(), "b": b.detach().clone().requires_grad_()}
        fake["w"].data.mul_(2.0)
        swap = {"state": _clone_osd(lib, osd["state"]), "param_groups": [dict(g) for g in osd["param_groups"]]}
        swap["param_groups"][0]["lr"] = 0.3
        swap["param_groups"][1]["betas"] = (0.5, 0.9)
        live_before = [w.detach().clone(), b.detach().clone()]
        with lib.optim.swap_in_optimizer_params_and_state(opt, fake, swap):
            assert opt.param_groups[0]["params"][0] is fake["w"]
            assert opt.param_groups[0]["lr"] == pytest.approx(0.3)
            swapped_step([fake["w"], fake["b"]])
        assert opt.param_groups[0]["params"][0] is w and opt.param_groups[0]["lr"] == pytest.approx(0.1)
        assert opt.param_groups[1]["betas"] == (0.9, 0.999)
        unchanged = [np.array_equal(a.numpy(), c.detach().numpy()) for a, c in zip(live_before, (w, b))]
        live_step()
        live_step()
    return {
        "unchanged": unchanged,
        "fake": [fake["w"].detach().numpy(), fake["b"].detach().numpy()],
        "swap_state": [swap["state"][i][k].numpy() for i in (0, 1) for k in ("step", "exp_avg", "exp_avg_sq")],
        "live": [w.detach().numpy(), b.detach().numpy()],
        "live_state": [opt.state[p][k].numpy() for p in (w, b) for k in ("step", "exp_avg", "exp_avg_sq")],
    }


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_a_swapped_in_step_matches_torch_and_leaves_the_live_optimizer_alone(mode):
    ours, theirs = _run(ej, mode), _run(torch)
    assert ours["unchanged"] == [True, True] == theirs["unchanged"]
    for key in ("fake", "swap_state", "live", "live_state"):
        for a, b in zip(ours[key], theirs[key]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=key)


def test_errors_in_torchs_words():
    w = ej.tensor(W, requires_grad=True)
    opt = ej.optim.SGD([w], lr=0.1)
    swap = ej.optim.swap_in_optimizer_params_and_state
    with pytest.raises(RuntimeError, match="requires initialized optimizer state"):
        with swap(opt, {"w": w}, opt.state_dict()):
            pass
    opt = ej.optim.Adam([w], lr=0.1)
    (w.sum()).backward()
    opt.step()
    osd = opt.state_dict()
    with pytest.raises(RuntimeError, match="different number of parameter groups"):
        with swap(opt, {"w": w}, {"state": osd["state"], "param_groups": []}):
            pass
    bad = dict(osd["param_groups"][0], extra=1)
    with pytest.raises(RuntimeError, match=r"Keys only in swap-in: \['extra'\]"):
        with swap(opt, {"w": w}, {"state": osd["state"], "param_groups": [bad]}):
            pass
    with pytest.raises(RuntimeError, match="got extra keys \\[7\\]"):
        with swap(opt, {"w": w}, {"state": {**osd["state"], 7: {}}, "param_groups": osd["param_groups"]}):
            pass
    with pytest.raises(RuntimeError, match="match optimizer.param_groups ordering"):
        with swap(opt, {}, osd):
            pass
