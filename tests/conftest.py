"""Shared test configuration: hypothesis profiles for the fuzz suites (tests/test_fuzz_*.py).

- ``ci`` (default for the fuzz files): few examples per test, no deadline, derandomized
  (every run draws the same examples, so CI is reproducible), no example database, no
  shrinking (a failure prints the whole drawn program or model instead).
- ``thorough`` (``EAGERJAX_FUZZ=thorough``): thousands of examples per test (the op-program
  fuzzer runs up to 10,000 programs), random seeds (pin one with ``--hypothesis-seed``).

The profiles are registered here and applied by the fuzz files themselves (``fuzz_settings``
below), so the other test files keep hypothesis' defaults. At the end of a session the
number of generated fuzz examples per suite is printed.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, settings

from eagerjax import _xla_budget

FUZZ_PROFILE = "thorough" if os.environ.get("EAGERJAX_FUZZ", "").lower() == "thorough" else "ci"
_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]

# ci: no shrinking (a failing example prints its full program/model; shrinking one can take minutes)
settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_QUIET,
    phases=[Phase.explicit, Phase.generate],
)
settings.register_profile(
    "thorough", max_examples=10_000, deadline=None, derandomize=False, print_blob=True, suppress_health_check=_QUIET
)

FUZZ_COUNTS: Counter = Counter()  # examples run per fuzz suite (printed at the end of the session)


# EAGERJAX_FUZZ_EXAMPLES=N (thorough profile only) replaces every thorough budget by N: long
# runs go in chunks (pick each chunk's seed with --hypothesis-seed).
_THOROUGH_N = os.environ.get("EAGERJAX_FUZZ_EXAMPLES")


def fuzz_settings(ci: int, thorough: int, **kw) -> settings:
    """The active fuzz profile with this test's example budget (``ci`` or ``thorough`` examples)."""
    if FUZZ_PROFILE == "thorough" and _THOROUGH_N:
        thorough = int(_THOROUGH_N)
    return settings(settings.get_profile(FUZZ_PROFILE), max_examples=ci if FUZZ_PROFILE == "ci" else thorough, **kw)


@pytest.fixture(autouse=True)
def _room_for_programs():
    """The whole suite compiles enough XLA programs to pass a third of the OS's memory-map limit
    several times (eagerjax then clears JAX's caches: ``eagerjax._xla_budget``). Clearing
    between tests, silently, keeps a clear out of tests that assert exact trace counts."""
    _xla_budget.make_room(0.35)


def example_start(name: str) -> None:
    """Called first by every fuzz example: counts it under ``name``. In a long session, it also
    clears JAX's caches when the process nears its memory-map limit (``eagerjax._xla_budget``),
    so that a clear never lands inside an example whose trace counts are asserted exactly."""
    FUZZ_COUNTS[name] += 1
    _xla_budget.make_room(0.35)


def pytest_sessionfinish(session) -> None:
    # under pytest-xdist (the README's test command) each worker counts its own examples and
    # hands them to the controller, which prints the summary (pytest_testnodedown below)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["eagerjax_fuzz_counts"] = dict(FUZZ_COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    FUZZ_COUNTS.update(getattr(node, "workeroutput", {}).get("eagerjax_fuzz_counts", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    if FUZZ_COUNTS:
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(FUZZ_COUNTS.items()))
        terminalreporter.write_line(f"eagerjax fuzz ({FUZZ_PROFILE} profile) examples run: {parts}")


@pytest.fixture
def fresh_lazy():
    """A test file's lazy-mode tests start with no recorder and leave eager mode behind them
    (use: ``pytestmark = pytest.mark.usefixtures("fresh_lazy")``)."""
    import eagerjax as ej
    import eagerjax._lazy as lz

    lz._graph = None
    yield
    ej.set_mode("eager")
