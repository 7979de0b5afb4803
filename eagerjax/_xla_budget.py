"""Keep the process's compiled XLA programs under the OS limit on memory mappings.

Every XLA:CPU executable maps its code and data into the process: ~3.6 mappings each,
measured. Linux caps mappings per process (``vm.max_map_count``, 65530 by default), and
XLA does not fail cleanly at the cap: the next compile segfaults. Eager execution
compiles one program per op and shape, so a long run with many distinct shapes (variable
sequence lengths, a fuzzing session) reaches ~18,000 programs and crashes. JAX caches
them all: ``jax.clear_caches()`` releases them.

So: JAX reports each backend compile to a listener here. Every ``CHECK_EVERY`` compiles
it counts the process's mappings; above ``FRACTION`` of the limit it raises
``pressure``. ``relieve()`` is called at points where no trace is in progress (eager
dispatch, a compiled step's call, a lazy flush). It clears JAX's caches: programs
compile again on their next call. It warns once per process and counts every clear in
``clears``. Off Linux (no ``/proc`` to count mappings) only the memory part below runs.

``clear(why)`` is the one place caches are cleared: other process-wide settings that
programs bake in when traced (the float32 matmul precision) use it too, and ``why``
becomes the retrace reason ej.compile and lazy mode report. A clear also hands the freed
memory back to the OS (``malloc_trim``): glibc would keep it.

Memory, separately: JAX also keeps each program's lowering (its StableHLO module, in an
MLIR context of its own), ~1.5-3 MB per program measured, more than the program itself.
Nothing needs it once the program is compiled, so every ``LOWERINGS_EVERY`` compiles
``relieve()`` drops JAX's two caches of lowerings: no program recompiles (measured), and
a run with many shapes no longer grows by ~10 MB per new batch shape.
"""

from __future__ import annotations

import ctypes
import gc
import os
import warnings

import jax

MAPS = "/proc/self/maps"
CHECK_EVERY = 128  # compiles between counts (a count reads /proc: ~ms at 30k mappings)
FRACTION = 0.5  # of vm.max_map_count
LOWERINGS_EVERY = 256  # compiles between drops of JAX's cached lowerings (~1.4 ms each to free)

# The recompile reason ej.compile and lazy mode give for a retrace after a clear here.
CLEARED = "JAX's compilation caches were cleared (XLA programs near vm.max_map_count)"

pressure = False
clears = 0  # how many times the caches were cleared (ej.compile names it as a retrace reason)
reason = CLEARED  # why they were last cleared, in words
_compiles = 0
_compiles_at_drop = 0  # _compiles when the lowerings were last dropped
_limit = 0
_warned = False


def _max_map_count() -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def mappings() -> int:
    """The process's current number of memory mappings."""
    with open(MAPS, "rb") as f:
        return sum(1 for _ in f)


def _on_event(event: str, duration: float, **kwargs) -> None:
    global _compiles, pressure
    if event != _EVENT:
        return
    _compiles += 1
    if _compiles % CHECK_EVERY == 0 and not pressure:
        # Only a flag here: this runs inside JAX's compile path, where clearing is unsafe.
        pressure = _compiles - _compiles_at_drop >= LOWERINGS_EVERY or (_limit > 0 and mappings() > FRACTION * _limit)


def relieve() -> None:
    """Where no trace is in progress: drop JAX's lowerings if due, and clear its caches if the
    mappings are near the limit."""
    global pressure, _warned
    if not pressure:
        return
    try:
        from jax._src import core  # (no public spelling: is any trace in progress?)

        if not core.trace_state_clean():
            return
    except (ImportError, AttributeError):
        return
    pressure = False
    if _compiles - _compiles_at_drop >= LOWERINGS_EVERY:
        drop_lowerings()
    n = make_room(FRACTION)
    if n and not _warned:
        _warned = True
        warnings.warn(
            f"eagerjax cleared JAX's compilation caches: this process held {n} memory mappings, most "
            f"of them XLA programs compiled for distinct shapes, of the {_limit} the system allows "
            "(vm.max_map_count), and XLA crashes at that limit. Programs compile again on their next "
            "call; fewer distinct shapes (e.g. padded batches) avoid this.",
            RuntimeWarning,
            stacklevel=3,
        )


def make_room(fraction: float) -> int:
    """Clear JAX's caches now, silently, if the mappings exceed ``fraction`` of the limit:
    how many there were when it cleared, else 0. (Also for tests that count traces exactly:
    cleared before an example, not in the middle of it.)"""
    n = mappings() if _limit > 0 else 0
    if n <= fraction * _limit:
        return 0
    clear(CLEARED)
    return n


def clear(why: str) -> None:
    """Clear JAX's compilation caches now; ``why`` becomes the retrace reason of every
    compiled step and lazy graph. (Only where no trace is in progress.)"""
    global clears, reason, _compiles_at_drop
    jax.clear_caches()
    clears += 1
    reason = why
    _compiles_at_drop = _compiles
    gc.collect()
    _trim()


def drop_lowerings() -> None:
    """Drop JAX's cached lowerings of the programs compiled so far; the programs stay."""
    global _compiles_at_drop
    _compiles_at_drop = _compiles
    for cache in _lowering_caches():
        cache.cache_clear()
    _trim()


def _lowering_caches() -> list:
    # (private: jit's lowering cache and the one below it; both hold the module, and only
    # dropping both frees it. Absent in some JAX version, nothing is dropped.)
    try:
        from jax._src import pjit
        from jax._src.interpreters import pxla
    except ImportError:
        return []
    found = [getattr(pjit, "_pjit_lower", None), getattr(pxla, "_cached_lowering_to_hlo", None)]
    return [c for c in found if hasattr(c, "cache_clear")]


def _trim() -> None:
    """Hand freed heap back to the OS: glibc keeps it in its arenas (measured: 4.26 GB
    resident after a clear of 6,000 programs, 0.61 GB after ``malloc_trim``)."""
    try:
        _libc.malloc_trim(0)
    except AttributeError:  # not glibc
        pass


def install() -> None:
    """Register the compile listener (once, at import); the mapping budget only where
    ``/proc`` counts mappings."""
    global _limit
    if os.path.exists(MAPS):
        _limit = max(0, _max_map_count())
    jax.monitoring.register_event_duration_secs_listener(_on_event)


try:
    _libc = ctypes.CDLL(None)
except OSError:
    _libc = None


try:
    from jax._src.dispatch import BACKEND_COMPILE_EVENT as _EVENT
except ImportError:  # (the event's name as of jax 0.10)
    _EVENT = "/jax/core/compile/backend_compile_duration"
