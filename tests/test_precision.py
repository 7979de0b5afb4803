"""torch.set_float32_matmul_precision: every program eagerjax traces computes float32
products and convolutions at the setting (torch's default "highest"), in each mode; a
change retraces each compiled step and lazy graph exactly once and names the change.
Also what ``.device`` and ``ej.cuda`` report.

CPU computes float32 products in float32 whatever the setting, so the precision is
checked where JAX records it: the ``precision`` of every traced dot and convolution.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
import pytest
from jax._src.lax import convolution as _conv
from jax._src.lax import lax as _lax

import eagerjax as ej
from eagerjax import nn

P = jax.lax.Precision
EXPECTED = {"highest": P.HIGHEST, "high": P.HIGH, "medium": P.DEFAULT}


@pytest.fixture
def traced_precisions(monkeypatch):
    """The ``precision`` of every dot_general / conv traced from now on (caches cleared,
    so every program traces again); the setting is restored afterwards."""
    seen = []
    for prim in (_lax.dot_general_p, _conv.conv_general_dilated_p):
        orig = prim.bind

        def bind(*args, _orig=orig, **params):
            seen.append(params.get("precision"))
            return _orig(*args, **params)

        monkeypatch.setattr(prim, "bind", bind)
    jax.clear_caches()
    yield seen
    ej.set_float32_matmul_precision("highest")


def _model_and_step():
    ej.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    opt = ej.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = ej.nn.functional.cross_entropy(model(x), y) + (x.flatten(1) @ x.flatten(1).T).mean() * 0
        loss.backward()
        opt.step()
        return loss

    return model, step


def _run(mode: str, step, x, y, n: int = 2):
    fn = ej.compile(step) if mode == "compiled" else step
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        return [float(fn(x, y)) for _ in range(n)], fn


def test_default_is_torchs_and_bad_names_are_refused():
    assert ej.get_float32_matmul_precision() == "highest"
    torch = pytest.importorskip("torch")
    assert torch.get_float32_matmul_precision() == ej.get_float32_matmul_precision()
    with pytest.raises(ValueError, match="'fast' is not one of 'highest', 'high', or 'medium'"):
        ej.set_float32_matmul_precision("fast")
    assert ej.get_float32_matmul_precision() == "highest"


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
@pytest.mark.parametrize("setting", ["highest", "high", "medium"])
def test_every_traced_product_and_conv_follows_the_setting(traced_precisions, mode, setting):
    ej.set_float32_matmul_precision(setting)
    assert ej.get_float32_matmul_precision() == setting
    _, step = _model_and_step()
    x, y = ej.randn(4, 1, 6, 6), ej.tensor([0, 1, 2, 0])
    _run(mode, step, x, y)
    assert len(traced_precisions) >= 3  # forward and backward products and convolutions
    assert set(traced_precisions) == {(EXPECTED[setting], EXPECTED[setting])}


def test_the_users_own_jax_code_keeps_jaxs_default(traced_precisions):
    ej.set_float32_matmul_precision("high")
    a = np.ones((3, 3), np.float32)
    jax.jit(lambda a: a @ a)(a)
    assert traced_precisions == [None]


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_a_change_retraces_once_and_says_why(traced_precisions, mode):
    _, step = _model_and_step()
    x, y = ej.randn(4, 1, 6, 6), ej.tensor([0, 1, 2, 0])
    before, fn = _run(mode, step, x, y, n=3)
    stats = (lambda: fn.stats()) if mode == "compiled" else ej.lazy_stats
    traces = stats()["traces"]
    ej.set_float32_matmul_precision("high")
    after, _ = _run(mode, step, x, y, n=3) if mode == "lazy" else ([float(fn(x, y)) for _ in range(3)], fn)
    assert stats()["traces"] == traces + 1
    assert stats()["recompiles"][-1] == "float32 matmul precision changed: 'highest' -> 'high'"
    assert np.isfinite(after).all() and after[0] < before[0]  # training went on from where it was
    ej.set_float32_matmul_precision("high")  # the same value: nothing cleared
    assert stats()["traces"] == traces + 1


def test_changing_it_inside_a_compiled_step_is_refused_and_lazy_work_runs_first(traced_precisions):
    @ej.compile
    def f(x):
        ej.set_float32_matmul_precision("medium")
        return x + 1

    with pytest.raises(RuntimeError, match="cannot be called inside a step being compiled"):
        f(ej.ones(2))
    assert ej.get_float32_matmul_precision() == "highest"
    with ej.lazy():
        a = ej.ones(3, 3)
        b = a @ a
        ej.set_float32_matmul_precision("medium")  # b was recorded at "highest": it runs so
        assert traced_precisions == [(P.HIGHEST, P.HIGHEST)]
        np.testing.assert_allclose(b.numpy(), np.full((3, 3), 3.0))


def test_device_and_cuda_describe_jaxs_default_device():
    t = ej.ones(2)
    on_gpu = jax.devices()[0].platform == "gpu"
    assert ej.cuda.is_available() is on_gpu
    assert t.is_cuda is on_gpu
    if on_gpu:
        assert t.device == "cuda" and repr(t.device) == "device(type='cuda', index=0)"
        assert ej.cuda.device_count() == len(jax.devices())
    else:
        assert t.device == "cpu" and repr(t.device) == "device(type='cpu')"
        assert ej.cuda.device_count() == 0
    assert t.to("cuda").device == t.device  # accepted; every tensor stays where JAX puts it


def test_device_strings_keep_their_index():
    d = ej.device("cuda:1")
    assert d.type == "cuda" and d.index == 1 and repr(d) == "device(type='cuda', index=1)"
    assert ej.device("cpu").index is None and ej.device("cuda", 0).index == 0 and d == "cuda"
