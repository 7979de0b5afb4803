"""A tensor passed to a compiled step that the step also reaches as state (the image an
optimizer updates, a parameter passed in) is that tensor inside the step, so the update
reaches it; compiled and lazy runs match eager, with one trace in the steady state."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import eagerjax as ej

nn = ej.nn
F = nn.functional
MODES = ["eager", "compile", "lazy"]


def _runner(mode: str, fn):
    step = ej.compile(fn) if mode == "compile" else fn

    def run(*args):
        with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
            out = step(*args)
            return float(out) if out is not None else None

    return run, step


@pytest.mark.parametrize("mode", MODES)
def test_optimizing_an_input_passed_as_an_argument(mode):
    """Style transfer / adversarial examples: the optimizer's only parameter is the input."""
    ej.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 1))
    img = ej.randn(3, 6).requires_grad_()
    target = ej.ones(3, 1)
    opt = ej.optim.Adam([img], lr=0.05)

    def step(x, t):
        opt.zero_grad()
        loss = F.mse_loss(net(x), t)
        loss.backward()
        opt.step()
        return loss

    run, compiled = _runner(mode, step)
    losses = [run(img, target) for _ in range(2)]
    settled = compiled.stats()["traces"] if mode == "compile" else 0
    losses += [run(img, target) for _ in range(3)]
    ej.manual_seed(0)
    net2 = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 1))
    img2 = ej.randn(3, 6).requires_grad_()
    opt2 = ej.optim.Adam([img2], lr=0.05)
    want = []
    for _ in range(5):
        opt2.zero_grad()
        loss = F.mse_loss(net2(img2), target)
        loss.backward()
        opt2.step()
        want.append(float(loss))
    np.testing.assert_allclose(losses, want, rtol=1e-5)
    np.testing.assert_allclose(img.detach().numpy(), img2.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]
    if mode == "compile":  # (the second call's settling trace: .grad None -> a tensor)
        assert compiled.stats()["traces"] == settled


@pytest.mark.parametrize("mode", MODES)
def test_a_parameter_passed_to_the_step_is_updated_like_the_others(mode):
    def build():
        ej.manual_seed(1)
        model = nn.Linear(3, 2)
        return model, ej.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    x = ej.randn(4, 3)

    def make_step(model, opt):
        def step(w, x):
            opt.zero_grad()
            loss = (x @ w.T + model.bias).square().mean()
            loss.backward()
            opt.step()
            return loss

        return step

    model, opt = build()
    run, _ = _runner(mode, make_step(model, opt))
    got = [run(model.weight, x) for _ in range(4)]
    model2, opt2 = build()
    step2 = make_step(model2, opt2)
    want = [float(step2(model2.weight, x)) for _ in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_data_arguments_stay_traced_values():
    """A new batch tensor each call is a traced value: no identity in the key, no retrace."""
    model = nn.Linear(3, 1)
    opt = ej.optim.SGD(model.parameters(), lr=0.1)

    @ej.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    for i in range(4):
        step(ej.full((2, 3), float(i)))
    assert step.stats()["traces"] == 1
    assert not step._state_args


def test_a_tensor_the_optimizer_does_not_hold_is_not_updated():
    w = ej.ones(2, requires_grad=True)
    other = ej.ones(2, requires_grad=True)
    opt = ej.optim.SGD([w], lr=0.5)

    @ej.compile
    def step(p):
        opt.zero_grad()
        (p * 3).sum().backward()
        opt.step()

    step(w)
    np.testing.assert_allclose(w.detach().numpy(), [-0.5, -0.5])
    step(other)  # w has no grad now (zero_grad): nothing is updated; other gets its grad
    np.testing.assert_allclose(w.detach().numpy(), [-0.5, -0.5])
    np.testing.assert_allclose(other.detach().numpy(), [1.0, 1.0])
    np.testing.assert_allclose(other.grad.numpy(), [3.0, 3.0])
