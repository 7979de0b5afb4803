"""optim.swa_utils against torch 2.13: AveragedModel (SWA, EMA, avg_fn, a user's in-place
rule, use_buffers), SWALR and update_bn, in eager, compiled and lazy modes."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import eagerjax as ej

MODES = ["eager", "compile", "lazy"]


def _avg_kwargs(ns, how: str) -> dict:
    su = ns.optim.swa_utils
    if how == "ema":
        return {"multi_avg_fn": su.get_ema_multi_avg_fn(0.9)}
    if how == "ema_fn":
        return {"avg_fn": su.get_ema_avg_fn(0.8)}
    if how == "custom":

        def halfway(avg, cur, n):  # an in-place rule, as users write them
            for a, c in zip(avg, cur):
                a.mul_(0.5).add_(c, alpha=0.5)

        return {"multi_avg_fn": halfway}
    if how == "buffers":
        return {"use_buffers": True, "multi_avg_fn": su.get_ema_multi_avg_fn(0.7)}
    return {}


def _run(ns, how: str, mode: str = "eager", strategy: str = "cos"):
    ns.manual_seed(0)
    rs = np.random.RandomState(0)
    model = ns.nn.Sequential(ns.nn.Linear(4, 8), ns.nn.BatchNorm1d(8), ns.nn.ReLU(), ns.nn.Linear(8, 1))
    with ns.no_grad():
        for p in model.parameters():
            p.copy_(ns.tensor(rs.randn(*p.shape).astype("float32") * 0.3))
    opt = ns.optim.SGD([{"params": model[0].parameters()}, {"params": model[3].parameters(), "lr": 0.05}], lr=0.1)
    avg = ns.optim.swa_utils.AveragedModel(model, **_avg_kwargs(ns, how))
    sched = ns.optim.swa_utils.SWALR(opt, swa_lr=[0.01, 0.02], anneal_epochs=3, anneal_strategy=strategy)
    x = ns.tensor(rs.randn(16, 4).astype("float32"))
    y = ns.tensor(rs.randn(16, 1).astype("float32"))

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        avg.update_parameters(model)
        sched.step()
        return loss

    fn = ej.compile(step) if mode == "compile" else step
    lrs = []
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        for _ in range(6):
            fn(x, y)
            lrs.append([g["lr"] for g in opt.param_groups])
    ns.optim.swa_utils.update_bn([x, (x[:8], y[:8])], avg)
    state = {k: v.detach().numpy().astype("float64") for k, v in avg.state_dict().items()}
    return state, np.array(lrs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["swa", "ema", "ema_fn", "custom", "buffers"])
def test_averaged_model_and_swalr_match_torch(how: str, mode: str) -> None:
    torch = pytest.importorskip("torch")
    state, lrs = _run(ej, how, mode, strategy="cos" if how != "ema_fn" else "linear")
    t_state, t_lrs = _run(torch, how, strategy="cos" if how != "ema_fn" else "linear")
    assert list(state) == list(t_state)  # n_averaged, module.* (torch's keys)
    for k in t_state:
        np.testing.assert_allclose(state[k], t_state[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(lrs, t_lrs, rtol=1e-6)


def test_argument_errors() -> None:
    m = ej.nn.Linear(2, 2)
    su = ej.optim.swa_utils
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        su.AveragedModel(m, avg_fn=su.get_swa_avg_fn(), multi_avg_fn=su.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided. Please provide a value in \[0,1\] range."):
        su.get_ema_multi_avg_fn(1.5)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must by one of 'cos' or 'linear', instead got exp"):
        su.SWALR(opt, 0.01, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0, got -1"):
        su.SWALR(opt, 0.01, anneal_epochs=-1)
    with pytest.raises(ValueError, match="swa_lr must have the same length as optimizer.param_groups"):
        su.SWALR(opt, [0.1, 0.2])
