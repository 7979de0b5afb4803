"""Activation checkpointing (``ej.utils.checkpoint``): same numbers, fewer saved activations."""

from __future__ import annotations

import contextlib
import gc
import weakref

import jax
import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_close
from eagerjax.utils.checkpoint import checkpoint, checkpoint_sequential

MODES = ["eager", "compile", "lazy"]


def _block() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 16), nn.BatchNorm1d(16))


def _region(x, w1, w2):
    """Several ops on the tape (not one fused layer), two outputs, one reused intermediate."""
    h = (x @ w1).tanh()
    g = (h @ w2).sin() * h
    return g.sum(1), g


def _train(mode: str, how: str, steps: int = 4):
    """Losses, parameters and BatchNorm statistics of a few SGD steps with ``how``
    ("none", "checkpoint", "sequential") checkpointing, in ``mode``."""
    ej.manual_seed(0)
    blocks = nn.ModuleList([_block(), _block()])
    blocks[1][0] = nn.Linear(16, 16)
    w = nn.Parameter(ej.randn(16, 4) * 0.3)
    params = list(blocks.parameters()) + [w]
    opt = ej.optim.SGD(params, lr=0.1, momentum=0.9)
    rs = np.random.RandomState(0)
    x = ej.tensor(rs.randn(32, 8).astype("float32"))
    y = ej.tensor(rs.randn(32, 4).astype("float32"))

    def step(x, y):
        opt.zero_grad()
        if how == "sequential":
            h = checkpoint_sequential(list(blocks[0]) + list(blocks[1]), 3, x, use_reentrant=False)
        else:
            h = x
            for b in blocks:
                h = checkpoint(b, h, use_reentrant=False) if how == "checkpoint" else b(h)
        out = checkpoint(lambda a: (a @ w).relu() * 2, h, use_reentrant=False) if how != "none" else (h @ w).relu() * 2
        loss = F.mse_loss(out, y)
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if mode == "compile" else step
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        losses = [float(fn(x, y)) for _ in range(steps)]
    state = [p.detach().numpy() for p in params] + [b[4].running_mean.numpy() for b in blocks]
    return losses, state, fn


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["checkpoint", "sequential"])
def test_training_matches_the_uncheckpointed_step(mode: str, how: str) -> None:
    """Dropout masks, BatchNorm statistics and every update are those of the plain step."""
    losses, state, fn = _train(mode, how)
    ref_losses, ref_state, _ = _train("eager", "none")
    assert_close(np.array(losses), np.array(ref_losses), rtol=1e-5, atol=1e-6)
    for got, want in zip(state, ref_state):
        assert_close(got, want, rtol=1e-5, atol=1e-6)
    if mode == "compile":
        assert fn.stats()["traces"] == 1


def test_gradients_match_torch_including_double_backward() -> None:
    torch = pytest.importorskip("torch")
    rs = np.random.RandomState(1)
    xs, w1s, w2s = rs.randn(3, 5), rs.randn(5, 5), rs.randn(5, 5)
    ej_in = [ej.tensor(a.astype("float32"), requires_grad=True) for a in (xs, w1s, w2s)]
    t_in = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (xs, w1s, w2s)]
    a, b = checkpoint(_region, *ej_in, use_reentrant=False)
    ta, tb = torch.utils.checkpoint.checkpoint(_region, *t_in, use_reentrant=False)
    g = ej.autograd.grad((a * a).sum() + b.mean(), ej_in, create_graph=True)
    tg = torch.autograd.grad((ta * ta).sum() + tb.mean(), t_in, create_graph=True)
    for got, want in zip(g, tg):
        assert_close(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    gg = ej.autograd.grad(sum(x.sum() for x in g), ej_in)
    tgg = torch.autograd.grad(sum(x.sum() for x in tg), t_in)
    for got, want in zip(gg, tgg):
        assert_close(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def test_intermediates_are_freed_and_replayed_under_remat() -> None:
    x = ej.randn(4, 8, requires_grad=True)
    w1, w2 = ej.randn(8, 8, requires_grad=True), ej.randn(8, 8, requires_grad=True)
    seen = []

    def region(x):
        h = (x @ w1).tanh()
        seen.append(weakref.ref(h._value))
        return (h @ w2).sin() * h

    plain = region(x)
    gc.collect()
    assert seen[0]() is not None  # the plain tape keeps h for the backward
    out = checkpoint(region, x, use_reentrant=False)
    gc.collect()
    assert seen[1]() is None  # the checkpointed one does not
    assert out.grad_fn.name() == "CheckpointBackward0"
    assert out.grad_fn.next_functions[0][0].variable is x  # saved inputs: x, w1, w2 only
    assert len(out.grad_fn.vals) == 3
    # The backward's vjp of the replay recomputes the region (remat), in every mode.
    assert "remat" in str(jax.make_jaxpr(out.grad_fn.kernel.fn)(*out.grad_fn.vals))
    out.sum().backward()
    gx = x.grad.numpy()
    x.grad = None
    plain.sum().backward()
    assert_close(gx, x.grad.numpy())


@pytest.mark.parametrize("mode", ["compile", "lazy"])
def test_captured_steps_collapse_the_region_too(mode: str) -> None:
    """Under capture the region is one remat node as well, so the step's backward is a
    ``jax.vjp`` of the rematerialized replay: XLA keeps no activation of the region."""
    w = ej.randn(8, 8, requires_grad=True)
    names = []

    def step(x):
        w.grad = None
        out = checkpoint(lambda a: (a @ w).tanh() @ w, x, use_reentrant=False)
        names.append(out.grad_fn.name())
        out.sum().backward()
        return out

    fn = ej.compile(step) if mode == "compile" else step
    x = ej.randn(4, 8)
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        for _ in range(3):
            fn(x)
    assert set(names) == {"CheckpointBackward0"}
    got = w.grad.numpy()
    w.grad = None
    ((x @ w).tanh() @ w).sum().backward()
    assert_close(got, w.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_nested_checkpoints_and_hooks_inside() -> None:
    x = ej.tensor([0.5, -1.0, 2.0], requires_grad=True)

    def inner(a):
        return (a.sin() * a).exp()

    z = checkpoint(lambda a: checkpoint(inner, a * 2, use_reentrant=False) + a, x, use_reentrant=False)
    z.sum().backward()
    want = ej.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (inner(want * 2) + want).sum().backward()
    assert_close(x.grad.numpy(), want.grad.numpy(), rtol=1e-6)

    # A hook on an intermediate needs its node: that region stays as recorded (and the hook runs).
    x.grad = None

    def hooked(a):
        h = a * 3
        h.register_hook(lambda g: g * 2)
        return h.exp()

    out = checkpoint(hooked, x, use_reentrant=False)
    assert out.grad_fn.name() != "CheckpointBackward0"
    out.sum().backward()
    assert_close(x.grad.numpy(), 6 * np.exp(3 * np.array([0.5, -1.0, 2.0], "float32")), rtol=1e-5)


def test_torch_argument_rules() -> None:
    w = ej.ones(3, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda a: a * w, ej.ones(3, requires_grad=True))
    # Reentrant variant: no input requiring grad means no gradient at all (torch's rule).
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True. Gradients will be None"):
        out = checkpoint(lambda a: a * w, ej.ones(3), use_reentrant=True)
    assert not out.requires_grad
    out = checkpoint(lambda a: a * w, ej.ones(3), use_reentrant=False)
    assert out.requires_grad
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda a, scale: a * scale, w, use_reentrant=True, scale=2.0)
    assert_close(
        checkpoint(lambda a, scale: a * scale, w, use_reentrant=False, scale=2.0).detach().numpy(), np.full(3, 2.0)
    )
    with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
        checkpoint(lambda a: a, w, use_reentrant=True, debug=True)
    with pytest.raises(NotImplementedError, match="context_fn"):
        checkpoint(lambda a: a, w, use_reentrant=False, context_fn=lambda: (None, None))
    with pytest.raises(ValueError, match="determinism_check should be one of"):
        checkpoint(lambda a: a, w, use_reentrant=False, determinism_check="strict")
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint_sequential([nn.Identity()], 1, w, use_reentrant=False, foo=1)
    with ej.no_grad():
        assert not checkpoint(lambda a: a * w, w, use_reentrant=False).requires_grad


def test_checkpoint_sequential_matches_plain_run() -> None:
    ej.manual_seed(3)
    seq = nn.Sequential(*[nn.Linear(6, 6) if i % 2 == 0 else nn.ReLU() for i in range(8)])
    x = ej.randn(5, 6, requires_grad=True)
    out = checkpoint_sequential(seq, 3, x, use_reentrant=False)
    out.square().sum().backward()
    got = [p.grad.numpy() for p in seq.parameters()] + [x.grad.numpy()]
    seq.zero_grad()
    x.grad = None
    ref = seq(x)
    ref.square().sum().backward()
    assert_close(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    for g, p in zip(got, list(seq.parameters()) + [x]):
        assert_close(g, p.grad.numpy(), rtol=1e-5, atol=1e-6)
