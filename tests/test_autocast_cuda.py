"""ej.autocast("cuda") against torch's CUDA autocast, where eagerjax's tensors live on a GPU.

Skipped elsewhere: autocast acts only on the device type eagerjax's tensors live on, and
test_autocast.py checks the CPU tables (it is skipped on a GPU for the same reason)."""

from __future__ import annotations

import numpy as np
import pytest
from test_autocast import _CASES, BF16_TOL, _arr, _dtype_name

import eagerjax as ej
import eagerjax.nn.functional as F
from eagerjax import _autocast

pytestmark = pytest.mark.skipif(_autocast._device_type() != "cuda", reason="eagerjax's tensors are not on a GPU")


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    torch.set_default_device("cuda")  # the cases build torch's operands with torch.tensor
    try:
        yield torch
    finally:
        torch.set_default_device(None)


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().float().cpu().numpy(), np.float32)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(_CASES))
def test_op_dtype_and_value_match_torch_cuda(torch, name, dtype):
    fn, shapes = _CASES[name]
    arrays = [_arr(*s, seed=i) for i, s in enumerate(shapes)]
    try:
        with torch.autocast("cuda", dtype=getattr(torch, dtype)):
            theirs = fn(torch, torch.nn.functional, arrays)
    except (RuntimeError, NotImplementedError):  # no CUDA kernel for the dtype: ours refuses too
        with pytest.raises(Exception), ej.autocast("cuda", dtype=getattr(ej, dtype)):
            fn(ej, F, arrays)
        return
    with ej.autocast("cuda", dtype=getattr(ej, dtype)):
        ours = fn(ej, F, arrays)
    assert _dtype_name(ours) == _dtype_name(theirs), (name, ours.dtype, theirs.dtype)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=BF16_TOL, atol=BF16_TOL)


def test_cuda_defaults_and_queries(torch):
    a, b = ej.randn(4, 8), ej.randn(8, 3)
    assert not ej.is_autocast_enabled() and ej.get_autocast_dtype("cuda") == ej.float16
    with ej.autocast("cuda"):
        assert ej.is_autocast_enabled() and ej.is_autocast_enabled("cuda")
        assert (a @ b).dtype == ej.float16
        with ej.autocast("cpu"):  # not where the tensors live: no effect on them
            assert (a @ b).dtype == ej.float16
    assert (a @ b).dtype == ej.float32
    with ej.cuda.amp.autocast():  # the deprecated spelling
        assert (a @ b).dtype == ej.float16


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_cuda_autocast_in_every_mode(mode):
    w = ej.randn(8, 3, requires_grad=True)
    x = ej.randn(4, 8)

    def step():
        w.grad = None
        with ej.autocast("cuda"):
            h = x @ w
        loss = h.float().square().mean()
        loss.backward()
        return h, loss

    h0, l0 = step()
    g0 = w.grad.detach().clone()
    if mode == "compiled":
        h1, l1 = ej.compile(step)()
    else:
        with ej.lazy():
            h1, l1 = step()
            h1, l1 = h1.detach().clone(), l1.detach().clone()
    assert h0.dtype == h1.dtype == ej.float16 and w.grad.dtype == ej.float32
    np.testing.assert_array_equal(_np(h1), _np(h0))
    np.testing.assert_allclose(_np(l1), _np(l0), rtol=1e-6)
    np.testing.assert_allclose(_np(w.grad), _np(g0), rtol=1e-5, atol=1e-6)
