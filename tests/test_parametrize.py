"""nn.utils.parametrize, weight norm and spectral norm: torch's state dicts, values and
gradients, and the same training in eager, compiled and lazy modes."""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest
from eagerjax.nn.utils.parametrizations import spectral_norm, weight_norm

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.nn.utils import parametrize
from eagerjax.testing import assert_close

MODES = ["eager", "compile", "lazy"]


def _load_from_torch(ours, theirs) -> None:
    """Copy torch's state dict (same keys, by construction) into ours."""
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(sd)
    ours.load_state_dict(sd)


def _pair(make_ours, make_theirs, fn_ours, fn_theirs):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = fn_theirs(make_theirs(torch))
    ours = fn_ours(make_ours())
    _load_from_torch(ours, theirs)
    return torch, ours, theirs


def _compare_forward_backward(torch, ours, theirs, x: np.ndarray, steps: int = 1) -> None:
    for _ in range(steps):
        ours.zero_grad()
        theirs.zero_grad()
        out = ours(ej.tensor(x))
        tout = theirs(torch.tensor(x))
        assert_close(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
        (out * out).sum().backward()
        (tout * tout).sum().backward()
        for (k, p), (tk, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert k == tk
            assert_close(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4)
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-4, atol=1e-5)


X2 = np.random.RandomState(0).randn(5, 6).astype("float32")
X4 = np.random.RandomState(1).randn(2, 3, 7, 7).astype("float32")


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(dim) -> None:
    torch, ours, theirs = _pair(
        lambda: nn.Conv2d(3, 4, 3),
        lambda t: t.nn.Conv2d(3, 4, 3),
        lambda m: weight_norm(m, dim=dim),
        lambda m: torch_wn(m, dim),
    )
    assert type(ours).__name__ == "ParametrizedConv2d"
    assert parametrize.is_parametrized(ours, "weight") and parametrize.type_before_parametrizations(ours) is nn.Conv2d
    _compare_forward_backward(torch, ours, theirs, X4)


def torch_wn(m, dim):
    import torch

    return torch.nn.utils.parametrizations.weight_norm(m, dim=dim)


@pytest.mark.parametrize("layer", ["linear", "conv_transpose"])
def test_spectral_norm_matches_torch_in_training_and_eval(layer: str) -> None:
    def make(ns):
        return ns.nn.Linear(6, 4) if layer == "linear" else ns.nn.ConvTranspose2d(3, 2, 3)

    torch, ours, theirs = _pair(
        lambda: make(ej),
        make,
        lambda m: spectral_norm(m, n_power_iterations=2),
        lambda m: __import__("torch").nn.utils.parametrizations.spectral_norm(m, n_power_iterations=2),
    )
    assert "parametrizations.weight.0._u" in ours.state_dict()
    x = X2 if layer == "linear" else X4
    _compare_forward_backward(torch, ours, theirs, x, steps=3)  # u, v advance each call
    ours.eval()
    theirs.eval()
    u = ours.parametrizations.weight[0]._u.numpy().copy()
    _compare_forward_backward(torch, ours, theirs, x)
    assert_close(ours.parametrizations.weight[0]._u.numpy(), u)  # eval: no power iteration


def test_old_hook_api_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    with pytest.warns(FutureWarning):
        theirs = torch.nn.utils.weight_norm(torch.nn.Linear(6, 4))
    with pytest.warns(FutureWarning, match="nn.utils.weight_norm is deprecated"):
        ours = nn.utils.weight_norm(nn.Linear(6, 4))
    _load_from_torch(ours, theirs)
    _compare_forward_backward(torch, ours, theirs, X2)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"), pytest.warns(FutureWarning):
        nn.utils.weight_norm(ours)
    w = ours(ej.tensor(X2)).detach().numpy()
    nn.utils.remove_weight_norm(ours)
    assert list(ours.state_dict()) == ["bias", "weight"] and isinstance(ours.weight, nn.Parameter)
    assert_close(ours(ej.tensor(X2)).detach().numpy(), w, rtol=1e-5)

    theirs = torch.nn.utils.spectral_norm(torch.nn.Linear(6, 4), n_power_iterations=2)
    ours = nn.utils.spectral_norm(nn.Linear(6, 4), n_power_iterations=2)
    _load_from_torch(ours, theirs)  # weight_orig, weight_u, weight_v
    _compare_forward_backward(torch, ours, theirs, X2, steps=3)
    nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert_close(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-4, atol=1e-6)


class _Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(0, 1)

    def right_inverse(self, a):
        return a.triu()


def test_register_parametrization_assign_cache_and_remove() -> None:
    m = nn.Linear(3, 3)
    w0 = m.weight
    parametrize.register_parametrization(m, "weight", _Symmetric())
    w = m.weight.detach().numpy()
    assert_close(w, w.T)
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert m.parametrizations.weight.original is w0  # the same Parameter: optimizers keep it
    target = np.arange(9, dtype="float32").reshape(3, 3)
    m.weight = ej.tensor(target + target.T)  # through right_inverse
    assert_close(m.weight.detach().numpy(), target + target.T)
    with parametrize.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    with pytest.raises(ValueError, match="may not change the shape of the tensor"):
        parametrize.register_parametrization(m, "bias", _Flatten2())
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
        parametrize.register_parametrization(m, "nope", _Symmetric())
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and list(m.state_dict()) == ["bias", "weight"] and m.weight is w0  # as torch
    assert_close(m.weight.detach().numpy(), target + target.T)
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(m, "weight")
    weight_norm(m)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    c = copy.deepcopy(m)
    assert type(c).__name__ == "ParametrizedLinear"
    assert_close(c.weight.detach().numpy(), m.weight.detach().numpy())


class _Flatten2(nn.Module):
    def forward(self, x):
        return x.reshape(1, -1)


def _train(mode: str):
    ej.manual_seed(0)
    model = nn.Sequential(weight_norm(nn.Linear(6, 8)), nn.ReLU(), spectral_norm(nn.Linear(8, 2)))
    opt = ej.optim.Adam(model.parameters(), lr=0.01)
    x, y = ej.tensor(X2), ej.tensor(np.ones((5, 2), "float32"))

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if mode == "compile" else step
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        losses = [float(fn(x, y)) for _ in range(4)]
    return losses, {k: v.numpy() for k, v in model.state_dict().items()}, fn


@pytest.mark.parametrize("mode", MODES[1:])
def test_training_agrees_across_modes(mode: str) -> None:
    losses, state, fn = _train(mode)
    ref_losses, ref_state, _ = _train("eager")
    assert_close(np.array(losses), np.array(ref_losses), rtol=1e-5)
    assert ref_losses[-1] < ref_losses[0]
    for k in ref_state:  # parameters, and spectral norm's u/v buffers
        assert_close(state[k], ref_state[k], rtol=1e-4, atol=1e-6)
    if mode == "compile":
        assert fn.stats()["traces"] == 1
