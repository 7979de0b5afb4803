"""Eager forward fusion of hot ``Sequential`` stacks (eagerjax/nn/_fusion.py): same values,
same gradients, same errors as layer by layer; only when it is safe; never in capture."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import eagerjax as ej
from eagerjax.nn import _fusion
from eagerjax.testing import assert_compile_equivalent

nn = ej.nn
F = nn.functional
HOT = _fusion._HOT_CALLS


def _mlp(*extra, width=16):
    ej.manual_seed(0)
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), *extra, nn.Linear(width, 3))


def _run(model, x, n=HOT + 1):
    """Call ``model(x)`` n times (enough to get hot); return the last output."""
    out = None
    for _ in range(n):
        out = model(x)
    return out


def _fused(out) -> bool:
    return out.grad_fn is not None and out.grad_fn.name() == "SequentialBackward0"


def _layerwise(model, x):
    for m in model:
        x = m(x)
    return x


@pytest.mark.parametrize(
    "extra",
    [
        [],
        [nn.Tanh(), nn.LeakyReLU(0.2), nn.GELU(approximate="tanh")],
        [nn.LayerNorm(16), nn.SiLU(), nn.Dropout(0.0)],
        [nn.ReLU(inplace=True), nn.Identity(), nn.Softplus(beta=2.0)],
        [nn.RMSNorm(16), nn.ELU(), nn.Hardtanh(-0.5, 0.5)],
    ],
    ids=["relu", "acts", "layernorm", "inplace", "rmsnorm"],
)
def test_fused_matches_layer_by_layer(extra):
    model = _mlp(*extra)
    x = ej.randn(5, 8, requires_grad=True)
    out = _run(model, x)
    assert _fused(out), out.grad_fn
    ref = _layerwise(model, x)
    assert not _fused(ref)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    grads = []
    for o in (out, ref):
        model.zero_grad()
        x.grad = None
        (o * ej.arange(3.0)).sum().backward()
        grads.append([t.grad.numpy() for t in [x, *model.parameters()]])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fused_matches_torch():
    torch = pytest.importorskip("torch")
    model = _mlp(nn.Tanh())
    tm = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    xn = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    out = _run(model, ej.tensor(xn))
    assert _fused(out)
    out.sum().backward()
    tout = tm(torch.from_numpy(xn))
    tout.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    for (n, p), tp in zip(model.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_cold_calls_are_layer_by_layer():
    model = _mlp()
    x = ej.randn(2, 8)
    outs = [model(x) for _ in range(HOT)]
    assert [_fused(o) for o in outs] == [False] * (HOT - 1) + [True]


def test_not_fused_when_unsafe():
    x = ej.randn(4, 8)
    cases = {
        "dropout training": _mlp(nn.Dropout(0.5)),
        "batchnorm": _mlp(nn.BatchNorm1d(16)),
        "custom layer": _mlp(type("Twice", (nn.Module,), {"forward": lambda self, t: 2 * t})()),
        "inplace first": nn.Sequential(nn.ReLU(inplace=True), nn.Linear(8, 3)),
        "nested": nn.Sequential(_mlp(), nn.ReLU()),
    }
    hooked = _mlp()
    hooked[1].register_forward_hook(lambda m, i, o: o)
    cases["forward hook"] = hooked
    for name, model in cases.items():
        assert not _fused(_run(model, x)), name


def test_inplace_first_layer_still_writes_the_input():
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(8, 3))
    x = ej.tensor(np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8))
    _run(model, x)
    assert float(x.min()) == 0.0


def test_large_intermediates_fuse_only_without_grad():
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 2))
    x = ej.randn(128, 8)  # 128 x 256 intermediates: recomputing them in the backward costs more than it saves
    assert not _fused(_run(model, x))
    with ej.no_grad():
        out = _run(model, x)
    key = [k for k, v in _fusion._plans.items() if isinstance(v, ej._dispatch.Kernel) and k[1] == (128, 8)]
    assert key, "no_grad calls fuse (no backward to recompute for)"
    np.testing.assert_allclose(out.numpy(), _layerwise(model, x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_attribute_and_mode_changes_take_effect():
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.5), nn.LeakyReLU(0.1), nn.Linear(16, 3))
    model.eval()  # dropout is the identity: fusable
    x = ej.randn(3, 8)
    before = _run(model, x)
    assert _fused(before)
    model[2].negative_slope = 0.9
    after = _run(model, x)
    np.testing.assert_allclose(after.detach().numpy(), _layerwise(model, x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(after.detach().numpy(), before.detach().numpy())
    model.train()  # dropout draws again: layer by layer, random
    assert not _fused(_run(model, x))


def test_parameter_hooks_and_updates_apply():
    model = _mlp()
    x = ej.randn(4, 8)
    _run(model, x)
    model[0].weight.register_hook(lambda g: g * 0)
    out = model(x)
    assert _fused(out)
    out.sum().backward()
    assert float(model[0].weight.grad.abs().sum()) == 0.0
    assert float(model[2].weight.grad.abs().sum()) > 0.0
    with ej.no_grad():
        model[2].bias.add_(1.0)  # parameters are read per call, never baked in
    np.testing.assert_allclose(model(x).detach().numpy(), out.detach().numpy() + 1.0, rtol=1e-5, atol=1e-5)


def test_double_backward_through_a_fused_stack():
    model = _mlp(nn.Tanh())
    x = ej.randn(2, 8, requires_grad=True)
    out = _run(model, x)
    assert _fused(out)
    (g,) = ej.autograd.grad(out.sum(), [x], create_graph=True)
    (g2,) = ej.autograd.grad((g * g).sum(), [x])
    ref = _layerwise(model, x)
    (rg,) = ej.autograd.grad(ref.sum(), [x], create_graph=True)
    (rg2,) = ej.autograd.grad((rg * rg).sum(), [x])
    np.testing.assert_allclose(g2.numpy(), rg2.numpy(), rtol=1e-4, atol=1e-6)


def test_shape_error_after_fusion_is_the_layers_own():
    model = _mlp()
    _run(model, ej.randn(2, 8))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x7 and 8x16\)"):
        model(ej.randn(2, 7))


def test_cache_keeps_no_model_alive():
    model = _mlp()
    _run(model, ej.randn(2, 8))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_capture_is_unchanged_by_fusion(mode):
    """Fusion is eager-only: a hot model still gives the same step compiled and lazy, traced once."""
    model = _mlp()
    opt = ej.optim.SGD(model.parameters(), lr=0.1)
    x, y = ej.randn(4, 8), ej.randint(0, 3, (4,))
    _run(model, x)  # hot in eager mode first

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    assert_compile_equivalent(step, steps=3, rtol=1e-5, atol=1e-6)
    if mode == "compiled":
        c = ej.compile(step)
        for _ in range(3):
            c()
        assert c.stats()["traces"] == 1
    else:
        before = ej.lazy_stats()
        for _ in range(3):
            with ej.lazy():
                step()
        after = ej.lazy_stats()
        assert after["traces"] - before["traces"] <= 1  # 0 if assert_compile_equivalent's run is cached
        assert after["hits"] - before["hits"] >= 2


def test_copies_of_a_hot_model_fuse_on_their_own_parameters():
    import copy

    model = _mlp()
    x = ej.randn(3, 8)
    _run(model, x)
    twin = copy.deepcopy(model)
    with ej.no_grad():
        twin[0].weight.mul_(2.0)
    out = _run(twin, x)
    np.testing.assert_allclose(out.detach().numpy(), _layerwise(twin, x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(out.detach().numpy(), model(x).detach().numpy())
    assert "_fusion" not in "".join(vars(model))
