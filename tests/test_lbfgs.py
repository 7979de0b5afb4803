"""optim.LBFGS against torch 2.13 (with and without the strong-Wolfe line search), in eager
and lazy mode; inside ej.compile its host decisions are refused like any host read."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

RS = np.random.RandomState(0)
X = RS.randn(64, 5).astype("float32")
Y = np.sin(X @ RS.randn(5, 1)).astype("float32")
W1 = (np.random.RandomState(1).randn(5, 16) * 0.5).astype("float32")
W2 = (np.random.RandomState(2).randn(16, 1) * 0.5).astype("float32")


def _run(ns, line_search, steps: int = 3, lazy: bool = False):
    w1 = ns.tensor(W1, requires_grad=True)
    w2 = ns.tensor(W2, requires_grad=True)
    x, y = ns.tensor(X), ns.tensor(Y)
    opt = ns.optim.LBFGS([w1, w2], lr=1, max_iter=8, history_size=4, line_search_fn=line_search)

    def closure():
        opt.zero_grad()
        loss = ((((x @ w1).tanh() @ w2) - y) ** 2).mean()
        loss.backward()
        return loss

    losses = []
    if lazy:
        with ej.lazy():
            losses = [float(opt.step(closure)) for _ in range(steps)]
    else:
        losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    st = opt.state[w1]
    return np.array(losses), w1.detach().numpy(), (st["func_evals"], st["n_iter"])


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search) -> None:
    torch = pytest.importorskip("torch")
    losses, w, counts = _run(ej, line_search)
    t_losses, t_w, t_counts = _run(torch, line_search)
    assert counts == t_counts  # the same decisions: iterations and closure evaluations
    # step sizes and curvature products are float64 here, float32 tensors in torch
    np.testing.assert_allclose(losses, t_losses, rtol=1e-3)
    np.testing.assert_allclose(w, t_w, atol=2e-3)
    assert losses[-1] < 0.1 * losses[0]


def test_lbfgs_lazy_matches_eager_and_compile_refuses_its_host_reads() -> None:
    eager = _run(ej, "strong_wolfe")
    lazy = _run(ej, "strong_wolfe", lazy=True)
    assert lazy[2] == eager[2]
    # one program per flush rounds a little differently from eager's kernels; L-BFGS's
    # curvature estimates carry that on (as against torch, above)
    np.testing.assert_allclose(lazy[0], eager[0], rtol=1e-3)
    np.testing.assert_allclose(lazy[1], eager[1], atol=2e-3)
    w = ej.tensor(W2.ravel()[:3], requires_grad=True)
    opt = ej.optim.LBFGS([w])

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="float"):
        ej.compile(lambda: opt.step(closure))()


def test_lbfgs_arguments() -> None:
    w = ej.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        ej.optim.LBFGS([{"params": [w]}, {"params": [ej.zeros(1, requires_grad=True)]}])
    opt = ej.optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(lambda: (w**2).sum())
    assert ej.optim.LBFGS([w], max_iter=8).param_groups[0]["max_eval"] == 10
