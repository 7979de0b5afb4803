"""Complex parameters: every optimizer torch runs on them updates them as torch does, as
their real view (real and imaginary parts as a trailing axis), eager, compiled and lazy."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

A = np.array([[1 + 2j, 3 - 1j], [0.5 - 0.2j, -1 + 1j]], np.complex64)
B = np.array([0.3 + 0.1j, -0.7j], np.complex64)
R = np.array([0.25, -1.5], np.float32)

# torch's optimizers that accept complex parameters, with options that exercise their state
CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.1}),
    ("RMSprop", {"lr": 0.05, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adamax", {"lr": 0.1}),
    ("NAdam", {"lr": 0.1}),
    ("RAdam", {"lr": 0.1}),
    ("Rprop", {"lr": 0.1}),
    ("ASGD", {"lr": 0.1}),
    ("Adadelta", {"lr": 1.0, "weight_decay": 0.01}),
]


def _loss(lib, ps):
    a, b, r = ps
    return (a.abs() ** 2 + a.real * a.imag).sum() + (b * b.conj()).real.sum() + (b.real**3).sum() + (r * r).sum()


def _run(lib, name, kw, mode, steps=4):
    ps = [lib.nn.Parameter(lib.tensor(v)) for v in (A, B, R)]
    opt = getattr(lib.optim, name)(ps, **kw)

    def step():
        opt.zero_grad()
        loss = _loss(lib, ps)
        loss.backward()
        opt.step()
        return loss

    if mode == "compiled":
        step = ej.compile(step)
    if mode == "lazy":
        with ej.lazy():
            for _ in range(steps):
                step()
    else:
        for _ in range(steps):
            step()
    return [p.detach().numpy() for p in ps], opt


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] for c in CASES])
def test_complex_params_update_as_torch(name, kw, mode):
    want, topt = _run(torch, name, kw, "eager")
    got, opt = _run(ej, name, kw, mode)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    # the state stays complex where torch's does
    for p, tp in zip(opt.param_groups[0]["params"], topt.param_groups[0]["params"]):
        for k, v in topt.state[tp].items():
            if isinstance(v, torch.Tensor) and v.ndim:
                ours = opt.state[p][k]
                assert str(ours.dtype).split(".")[-1] == str(v.dtype).split(".")[-1], k
                np.testing.assert_allclose(ours.numpy(), v.numpy(), rtol=2e-5, atol=2e-6)


def test_lbfgs_complex_params_as_torch():
    for ls in (None, "strong_wolfe"):
        out = []
        for lib in (torch, ej):
            ps = [lib.nn.Parameter(lib.tensor(v)) for v in (A, B, R)]
            opt = lib.optim.LBFGS(ps, lr=0.5, max_iter=4, line_search_fn=ls)

            def closure(lib=lib, ps=ps, opt=opt):
                opt.zero_grad()
                loss = _loss(lib, ps)
                loss.backward()
                return loss

            for _ in range(2):
                opt.step(closure)
            out.append([p.detach().numpy() for p in ps])
        for w, g in zip(*out):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_optimizers_without_complex_support_refuse_them():
    p = ej.nn.Parameter(ej.tensor(A))
    with pytest.raises(ValueError, match=r"Complex params at indices \[\[0, 0\]\]: SparseAdam does not support"):
        ej.optim.SparseAdam([p])
