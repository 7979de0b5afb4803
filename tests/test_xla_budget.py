"""Compiled XLA programs stay under the OS limit on memory mappings (``eagerjax._xla_budget``).

The real limit (65530 mappings, ~18,000 programs) takes a long run to reach; these tests
lower the budget to just above what the process holds, then compile programs for new
shapes until the caches are cleared.
"""

import os

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import _xla_budget as budget

pytestmark = pytest.mark.skipif(
    budget._limit <= 0 or not os.path.exists(budget.MAPS), reason="needs Linux's /proc mapping counts"
)


@pytest.fixture
def tight_budget(monkeypatch):
    """A budget that the next ~100 mappings exceed, counted every 2 compiles."""
    monkeypatch.setattr(budget, "CHECK_EVERY", 2)
    monkeypatch.setattr(budget, "FRACTION", 1.0)
    monkeypatch.setattr(budget, "_limit", budget.mappings() + 100)
    monkeypatch.setattr(budget, "_warned", False)
    monkeypatch.setattr(budget, "pressure", False)
    yield


def _new_shapes_until_cleared(before: int, start: int = 1):
    """Eager forward+backward on ever new shapes until the caches are cleared; returns the
    last inputs and gradient (each shape compiles ~5 programs)."""
    for n in range(start, start + 400):
        x = ej.randn(n, 3, requires_grad=True)
        (x * 2 + 1).relu().sum().backward()
        if budget.clears > before:
            return x, x.grad
    raise AssertionError("the caches were never cleared")


def test_eager_clears_caches_near_the_limit_and_stays_correct(tight_budget):
    before = budget.clears
    held = budget.mappings()
    with pytest.warns(RuntimeWarning, match=r"cleared JAX's compilation caches.*vm\.max_map_count"):
        x, g = _new_shapes_until_cleared(before)
    assert budget.clears == before + 1
    assert budget.mappings() < held + 100  # the programs were released
    expected = np.where(np.asarray(x.detach()) * 2 + 1 > 0, 2.0, 0.0)
    np.testing.assert_allclose(np.asarray(g), expected)
    # Ops compile again after the clear and give the same results (no second warning).
    y = ej.tensor([[-1.0, 0.5, 2.0]], requires_grad=True)
    (y * 2 + 1).relu().sum().backward()
    np.testing.assert_allclose(np.asarray(y.grad), [[0.0, 2.0, 2.0]])


def test_compiled_step_names_the_clear_as_its_retrace_reason(tight_budget):
    lin = ej.nn.Linear(3, 2)
    opt = ej.optim.SGD(lin.parameters(), lr=0.1)

    @ej.compile
    def step(x):
        opt.zero_grad()
        loss = lin(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    x = ej.ones(4, 3)
    step(x)
    step(x)
    assert step.stats()["traces"] == 1
    with pytest.warns(RuntimeWarning, match="vm.max_map_count"):
        _new_shapes_until_cleared(budget.clears, start=500)
    w = np.asarray(lin.weight.detach()).copy()
    loss = step(x)
    stats = step.stats()
    assert stats["traces"] == 2
    assert "compilation caches were cleared" in stats["recompiles"][-1]
    assert np.isfinite(float(loss)) and not np.allclose(np.asarray(lin.weight.detach()), w)


def test_lazy_graph_names_the_clear_as_its_recompile_reason(tight_budget):
    lin = ej.nn.Linear(3, 2)
    opt = ej.optim.SGD(lin.parameters(), lr=0.1)
    x = ej.ones(4, 3)

    def step():
        opt.zero_grad()
        lin(x).pow(2).mean().backward()
        opt.step()

    with ej.lazy():
        step()
        step()
    s0 = ej.lazy_stats()
    with pytest.warns(RuntimeWarning, match="vm.max_map_count"):
        _new_shapes_until_cleared(budget.clears, start=900)
    with ej.lazy():
        step()
        step()
    s1 = ej.lazy_stats()
    assert s1["misses"] == s0["misses"] + 1  # compiled once more, then cached again
    assert "compilation caches were cleared" in s1["recompiles"][-1]


def test_make_room_clears_silently_only_above_its_fraction(monkeypatch):
    monkeypatch.setattr(budget, "_limit", budget.mappings() * 4)
    before = budget.clears
    assert not budget.make_room(0.5)  # well below: nothing happens
    assert budget.clears == before
    assert budget.make_room(0.1)  # above: cleared, no warning (warnings are errors here)
    assert budget.clears == before + 1


def _compiles_for(shapes) -> int:
    """Backend compiles while running eager forward+backward on these shapes."""
    before = budget._compiles
    for n in shapes:
        x = ej.randn(n, 3, requires_grad=True)
        (x * 2 + 1).relu().sum().backward()
    return budget._compiles - before


def test_dropping_lowerings_empties_jaxs_caches_and_recompiles_nothing():
    """JAX keeps every program's StableHLO (measured ~1.5 MB each, in a fresh process: 361
    programs grew it 538 MB, of which the drop freed 402 MB); the drop releases them, and
    the compiled programs stay."""
    caches = budget._lowering_caches()
    assert len(caches) == 2
    shapes = range(2000, 2020)
    assert _compiles_for(shapes) >= 20
    assert all(c.cache_info().currsize > 0 for c in caches)
    budget.drop_lowerings()
    assert all(c.cache_info().currsize == 0 for c in caches)
    assert _compiles_for(shapes) == 0


def test_relieve_drops_lowerings_every_so_many_compiles_silently(monkeypatch):
    monkeypatch.setattr(budget, "CHECK_EVERY", 2)
    monkeypatch.setattr(budget, "LOWERINGS_EVERY", 8)
    monkeypatch.setattr(budget, "pressure", False)
    dropped = []
    monkeypatch.setattr(budget, "_trim", lambda: dropped.append(budget._compiles))
    clears = budget.clears
    _compiles_for(range(3000, 3010))  # ~50 compiles: a drop at least every ~10
    assert len(dropped) >= 3 and budget.clears == clears  # nothing recompiles, no warning
    assert budget._compiles - budget._compiles_at_drop < 8 + 2 * 5
