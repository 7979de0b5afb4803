"""Long runs: no retrace after warm-up and flat resident memory in every mode.

Bounded for CI; ``EAGERJAX_SOAK_STEPS=20000 pytest tests/test_soak.py`` runs longer.
"""

import gc
import os

import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)


STEPS = int(os.environ.get("EAGERJAX_SOAK_STEPS", "1500"))


def rss_mb() -> float:
    """Resident MB of live memory: free heap handed back first. (eagerjax trims the heap when it
    clears or drops JAX's caches; a trim just before the baseline would otherwise count glibc
    re-touching freed pages as growth: 34.8 MB once in CI, in a 1+ GB suite process.)"""
    from eagerjax import _xla_budget

    _xla_budget._trim()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def count(kind) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc for RSS")
@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_long_run_is_flat(mode):
    from eagerjax._autograd import Node
    from eagerjax._tensor import Tensor

    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))
    opt = ej.optim.Adam(model.parameters(), lr=1e-3)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.9)
    x, y = ej.randn(32, 16), ej.randint(0, 4, (32,))

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss

    run = ej.compile(step) if mode == "compiled" else step
    ctx = ej.lazy() if mode == "lazy" else None
    if ctx:
        ctx.__enter__()
    try:
        warm = max(200, STEPS // 5)
        for _ in range(warm):
            loss = run(x, y)
        float(loss)
        gc.collect()
        base_rss, base_t, base_n = rss_mb(), count(Tensor), count(Node)
        lazy_before = ej.lazy_stats()["traces"] if mode == "lazy" else None
        for i in range(STEPS):
            loss = run(x, y)
            if i % 250 == 0:
                float(loss)  # a host read now and then, like a logging loop
        float(loss)
        lazy_after = ej.lazy_stats()["traces"] if mode == "lazy" else None
        gc.collect()
    finally:
        if ctx:
            ctx.__exit__(None, None, None)
    assert count(Tensor) <= base_t + 8
    assert count(Node) <= base_n + 8
    grown = rss_mb() - base_rss
    assert grown < 30, f"resident memory grew {grown:.1f} MB over {STEPS} steps"
    if mode == "compiled":
        assert run.stats()["traces"] == 1, run.stats()["recompiles"]
    if mode == "lazy":
        assert lazy_after == lazy_before, ej.lazy_stats()["recompiles"]
