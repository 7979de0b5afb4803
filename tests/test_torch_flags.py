"""torch's process-wide switches (backends, threads, determinism) and anomaly mode."""

from __future__ import annotations

import os

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import _torch_flags


def test_backend_flags_read_back_and_tf32_is_the_matmul_precision() -> None:
    import eagerjax.backends.cudnn as cudnn

    assert cudnn is ej.backends.cudnn
    old = cudnn.benchmark
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        assert ej.backends.cudnn.benchmark and ej.backends.cudnn.deterministic
    finally:
        cudnn.benchmark, cudnn.deterministic = old, False
    assert cudnn.is_available() == ej.cuda.is_available()
    assert not ej.backends.mps.is_available()
    assert ej.get_float32_matmul_precision() == "highest"
    assert ej.backends.cuda.matmul.allow_tf32 is False  # torch's default too
    try:
        ej.backends.cuda.matmul.allow_tf32 = True
        assert ej.get_float32_matmul_precision() == "high"
        assert ej.backends.cuda.matmul.allow_tf32 is True
    finally:
        ej.backends.cuda.matmul.allow_tf32 = False
    assert ej.get_float32_matmul_precision() == "highest"


def test_threads() -> None:
    n = ej.get_num_threads()
    assert n == len(os.sched_getaffinity(0))
    ej.set_num_threads(n)  # the pool's own size: nothing to say
    with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
        ej.set_num_threads(0)
    _torch_flags._warned_threads[0] = False
    with pytest.warns(UserWarning, match=r"set_num_threads\(\d+\): XLA:CPU sizes its thread pool"):
        ej.set_num_threads(n + 1)
    assert ej.get_num_threads() == n  # the truth, not the wish
    assert ej.get_num_interop_threads() == 1
    with pytest.raises(RuntimeError, match="Expected positive number of threads"):
        ej.set_num_interop_threads(-1)


def test_deterministic_algorithms() -> None:
    assert not ej.are_deterministic_algorithms_enabled()
    try:
        if ej.cuda.is_available() and "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
            with pytest.warns(UserWarning, match="xla_gpu_deterministic_ops"):
                ej.use_deterministic_algorithms(True, warn_only=True)
        else:
            ej.use_deterministic_algorithms(True, warn_only=True)
        assert ej.are_deterministic_algorithms_enabled()
        assert ej.is_deterministic_algorithms_warn_only_enabled()
    finally:
        ej.use_deterministic_algorithms(False)
    assert not ej.are_deterministic_algorithms_enabled()


def _nan_backward(x):
    return (x.sqrt() * 0 + x).sum()  # sqrt'(0) = inf, times 0: NaN in SqrtBackward0


def test_anomaly_mode_names_the_node_and_the_forward_line_like_torch() -> None:
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 0.0], requires_grad=True)
    with torch.autograd.set_detect_anomaly(True), pytest.warns(UserWarning, match="Error detected in"):
        with pytest.raises(RuntimeError) as want:
            _nan_backward(tx).backward()
    x = ej.tensor([1.0, 0.0], requires_grad=True)
    with ej.autograd.set_detect_anomaly(True):
        assert ej.autograd.is_anomaly_enabled()
        with pytest.warns(UserWarning, match=r"(?s)Error detected in SqrtBackward0.*_nan_backward\(x\)"):
            with pytest.raises(RuntimeError) as got:
                _nan_backward(x).backward()
    assert str(got.value) == str(want.value) == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert not ej.autograd.is_anomaly_enabled()
    # Off (the default) or with check_nan=False: the NaN gradient arrives, as in torch.
    _nan_backward(x).backward()
    assert np.isnan(x.grad.numpy()[1])
    x.grad = None
    with ej.autograd.set_detect_anomaly(True, check_nan=False):
        _nan_backward(x).backward()
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        ctx = ej.autograd.detect_anomaly()
    with ctx:
        assert ej.autograd.is_anomaly_enabled() and ej.autograd.is_anomaly_check_nan_enabled()
        ok = ej.tensor([1.0, 4.0], requires_grad=True)
        _nan_backward(ok).backward()  # no NaN: the per-node path gives the usual gradient
        np.testing.assert_allclose(ok.grad.numpy(), [1.0, 1.0])
    assert not ej.autograd.is_anomaly_enabled()


def test_cuda_helpers_scripts_call() -> None:
    ej.cuda.empty_cache()
    with ej.lazy():
        x = ej.ones(3) * 2
        ej.cuda.synchronize()  # flushes the pending graph, then waits
        assert type(x._value).__name__ != "LazyValue"
    ej.cuda.synchronize()
    if ej.cuda.is_available():
        assert ej.cuda.current_device() == 0 and isinstance(ej.cuda.get_device_name(), str)
        assert ej.cuda.memory_allocated() > 0 and ej.cuda.max_memory_allocated() >= ej.cuda.memory_allocated()
    else:
        assert ej.cuda.memory_allocated() == ej.cuda.max_memory_allocated() == ej.cuda.memory_reserved() == 0
        with pytest.raises(RuntimeError, match="No CUDA GPUs are available"):
            ej.cuda.current_device()
        with pytest.raises(RuntimeError, match="No CUDA GPUs are available"):
            ej.cuda.get_device_name(0)
