"""``Tensor.register_post_accumulate_grad_hook``: torch's hook after a leaf's ``.grad`` is
accumulated, including the optimizer-in-backward recipe, eager, compiled and lazy."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

X = np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4)
Y = np.linspace(0, 1, 12, dtype=np.float32).reshape(6, 2)


def _model(lib):
    lib.manual_seed(0)
    m = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2))
    return m


def _train(lib, mode: str, steps: int = 4):
    m = _model(lib)
    if lib is ej:
        tm = _model(torch)
        m.load_state_dict({k: ej.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    # one optimizer per parameter, stepped by the hook as soon as that parameter's grad is ready
    opts = {p: lib.optim.Adam([p], lr=0.05) for p in m.parameters()}
    seen = []

    def hook(p):
        seen.append(1)
        opts[p].step()
        opts[p].zero_grad()

    for p in m.parameters():
        p.register_post_accumulate_grad_hook(hook)
    x, y = lib.tensor(X), lib.tensor(Y)

    def step():
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        return loss

    if mode == "compiled":
        step = ej.compile(step)
    losses = []
    if mode == "lazy":
        with ej.lazy():
            losses = [float(step()) for _ in range(steps)]
    else:
        losses = [float(step()) for _ in range(steps)]
    return losses, [p.detach().numpy() for p in m.parameters()], len(seen), [p.grad for p in m.parameters()]


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_optimizer_in_backward_matches_torch(mode):
    want, wparams, wseen, _ = _train(torch, "eager")
    got, params, nseen, grads = _train(ej, mode)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(params, wparams):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if mode != "compiled":  # (a compiled step runs the hooks' Python once, when it traces)
        assert nseen == wseen == 4 * 4
    assert all(g is None for g in grads)  # each hook zeroed its parameter's grad


def test_hook_sees_the_accumulated_grad_and_errors_in_torch_words():
    b = ej.ones(2, requires_grad=True)
    seen = []
    handle = b.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    (b * 3).sum().backward()
    (b * 2).sum().backward()
    np.testing.assert_array_equal(seen, [[3, 3], [5, 5]])
    ej.autograd.grad((b * 2).sum(), b)  # no accumulation: no hook
    assert len(seen) == 2
    handle.remove()
    (b * 1).sum().backward()
    assert len(seen) == 2
    b.register_post_accumulate_grad_hook(lambda t: t.grad.mul_(0.5))
    with pytest.raises(RuntimeError, match="post accumulate grad hooks should return None"):
        (b * 3).sum().backward()
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        ej.ones(2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        (b * 2).register_post_accumulate_grad_hook(lambda t: None)
