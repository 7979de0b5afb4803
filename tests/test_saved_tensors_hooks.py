"""``autograd.graph.saved_tensors_hooks`` (and ``save_on_cpu``, ``disable_saved_tensors_hooks``):
pack runs when an op saves inputs for backward, unpack when the backward needs them, in
every mode; gradients follow what unpack returns."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

W = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
X = np.linspace(0, 2, 8, dtype=np.float32).reshape(2, 4)


def _grad(lib, pack, unpack, mode="eager", hooks=None):
    w = lib.tensor(W, requires_grad=True)
    x = lib.tensor(X)
    ctx = hooks or (lambda: lib.autograd.graph.saved_tensors_hooks(pack, unpack))

    def step():
        with ctx():
            y = (x @ w.t()).tanh().pow(2).sum()
        y.backward()
        return y

    if mode == "compiled":
        step = ej.compile(step)
    if mode == "lazy":
        with ej.lazy():
            step()
    else:
        step()
    return w.grad.numpy()


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_lossless_hooks_keep_torch_gradients(mode):
    calls = {"pack": 0, "unpack": 0}

    def pack(t):
        calls["pack"] += 1
        return ("boxed", t * 2)

    def unpack(p):
        calls["unpack"] += 1
        assert p[0] == "boxed"
        return p[1] / 2

    want = _grad(torch, pack, unpack)
    calls.update(pack=0, unpack=0)
    got = _grad(ej, pack, unpack, mode)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert calls["pack"] > 0 and calls["unpack"] == calls["pack"]


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_gradients_follow_what_unpack_returns(mode):
    # unpack hands back zeros: every saved input is zero, so the weight's gradient is too
    got = _grad(ej, lambda t: t, lambda t: t * 0, mode)
    np.testing.assert_array_equal(got, np.zeros_like(W))
    # a lossy (bfloat16) round trip stays close to the exact gradient
    exact = _grad(ej, lambda t: t, lambda t: t, mode)
    lossy = _grad(ej, lambda t: t.to(ej.bfloat16), lambda t: t.to(ej.float32), mode)
    np.testing.assert_allclose(lossy, exact, rtol=0.05, atol=0.02)


def test_save_on_cpu_and_disable():
    want = _grad(torch, None, None, hooks=lambda: torch.autograd.graph.save_on_cpu())
    got = _grad(ej, None, None, hooks=lambda: ej.autograd.graph.save_on_cpu())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with ej.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
        with pytest.raises(RuntimeError, match="no hooks here"):
            with ej.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    w = ej.tensor(W, requires_grad=True)
    with ej.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: "not a tensor"):
        y = (w * w).sum()
    with pytest.raises(TypeError, match="unpack_hook must return a Tensor"):
        y.backward()
