"""The steady-state key of ``ej.compile`` (all-Tensor positional arguments) must pick the same
cache entry the full key would: flags, shapes, grad presence and mode changes all count."""

from __future__ import annotations

import numpy as np

import eagerjax as ej

nn = ej.nn
F = nn.functional


def _setup():
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    opt = ej.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_fast_key_follows_mode_shape_and_grad_changes():
    model, step = _setup()
    c = ej.compile(step)
    x, y = ej.randn(3, 4), ej.tensor([0, 1, 1])
    for _ in range(3):
        c(x, y)
    traces = c.stats()["traces"]
    model.eval()  # dropout off: a different program, found through the key
    ev = [float(c(x, y)) for _ in range(2)]
    assert c.stats()["traces"] == traces + 1
    model.train()
    c(x, y)
    assert c.stats()["traces"] == traces + 1  # back to the cached training program
    c(ej.randn(5, 4), ej.tensor([0, 1, 1, 0, 1]))  # a new batch shape
    assert c.stats()["traces"] == traces + 2
    with ej.no_grad():  # grad mode is part of the key (no backward possible: a forward step)
        out = ej.compile(lambda a: model(a))(x)
    assert not out.requires_grad
    assert ev[0] != ev[1]  # each eval step still updates the parameters
    model.eval()
    model2, step2 = _setup()
    model2.eval()
    for p, q in zip(model2.parameters(), model.parameters()):
        p.data = q.detach().clone()
    np.testing.assert_allclose(float(c(x, y)), float(step2(x, y)), rtol=1e-5)


def test_fast_key_sees_argument_grad_flags():
    w = ej.ones(3, requires_grad=True)

    def f(x):
        return (x * w).sum()

    c = ej.compile(f)
    x = ej.ones(3)
    c(x)
    c(x)
    n = c.stats()["traces"]
    xg = ej.ones(3, requires_grad=True)  # same shape, now requires grad: a different entry
    out = c(xg)
    assert c.stats()["traces"] == n + 1
    out.backward()
    np.testing.assert_allclose(xg.grad.numpy(), [1.0, 1.0, 1.0])
