"""optim.SparseAdam against torch's, with torch's sparse embedding gradients: rows a batch
did not look up (and padding_idx) stay exactly as they were; eager, compiled and lazy agree."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

BATCHES = [[[0, 2, 2], [5, 1, 0]], [[3, 3, 4], [4, 4, 4]], [[1, 0, 7], [7, 6, 0]], [[2, 5, 0], [0, 0, 0]]]


def _train(lib, emb, opt, steps, compiled=False, lazy=False):
    def step(idx):
        opt.zero_grad()
        loss = (emb(idx) * lib.arange(1.0, 4.0).unsqueeze(1)).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if compiled else step
    losses = []

    def loop():
        for i in range(steps):
            losses.append(float(fn(lib.tensor(BATCHES[i % len(BATCHES)]))))

    if lazy:
        with ej.lazy():
            loop()
    else:
        loop()
    return losses


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
@pytest.mark.parametrize("kw", [{}, {"lr": 0.05, "betas": (0.8, 0.9), "maximize": True}])
def test_sparse_adam_matches_torch(mode, kw):
    w = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    temb = torch.nn.Embedding(8, 3, padding_idx=0, sparse=True)
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(w))
    topt = torch.optim.SparseAdam(temb.parameters(), **kw)
    emb = ej.nn.Embedding(8, 3, padding_idx=0, sparse=True)
    with ej.no_grad():
        emb.weight.copy_(ej.tensor(w))
    opt = ej.optim.SparseAdam(emb.parameters(), **kw)
    want = _train(torch, temb, topt, 8)
    got = _train(ej, emb, opt, 8, compiled=mode == "compiled", lazy=mode == "lazy")
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(emb.weight.detach().numpy(), temb.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    # row 0 (padding_idx) never moves
    np.testing.assert_array_equal(emb.weight.detach().numpy()[0], w[0])
    # (betas are float32 tensors here: 1 - 0.999 in float32 is 1.3e-5 off torch's float64 one)
    for k in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_allclose(
            opt.state[emb.weight][k].numpy(), topt.state[temb.weight][k].to_dense().numpy(), rtol=5e-5, atol=1e-7
        )


def test_sparse_adam_constructor_errors_match_torch():
    p = [ej.nn.Parameter(ej.ones(2))]
    for kw, msg in (
        ({"lr": -1.0}, "Invalid learning rate: -1.0"),
        ({"eps": -1.0}, "Invalid epsilon value: -1.0"),
        ({"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
        ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ):
        with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
            ej.optim.SparseAdam(p, **kw)
