"""Timing and memory measurement: round-robin rounds in one process, memory in fresh children.

Timing: every runner of a workload is built and run once (its *first call*:
tracing + compilation + the step), warmed up, then timed in ``rounds`` rounds;
each round runs a chunk of steps of every system in turn (the starting system
rotates), so load spikes on a shared machine hit all systems alike. Every step
is timed on its own, blocking on its results, and summarized by median/min/max.

Memory (full mode): each (system, workload) runs in a fresh ``python -m
benchmarks --child SYSTEM:WORKLOAD`` process that reports peak RSS during its
steps minus the RSS after setup (imports, model, data, optimizer), and its first
call time from a cold process.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from . import systems
from .systems import SYSTEMS, Runner, Skip, program_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Config:
    warmup: int
    rounds: int
    chunk_s: float  # target seconds per system per round
    min_steps: int
    max_steps: int
    memory_steps: int
    memory_repeats: int  # fresh processes for hand and compiled (their ratio is a target); median


QUICK = Config(warmup=2, rounds=3, chunk_s=0.03, min_steps=2, max_steps=10, memory_steps=5, memory_repeats=1)
FULL = Config(warmup=5, rounds=10, chunk_s=0.25, min_steps=3, max_steps=200, memory_steps=20, memory_repeats=3)


def warm_jax() -> None:
    """Initialize the JAX backend once, so nobody's first call pays for it."""
    import jax
    import jax.numpy as jnp

    jax.block_until_ready(jax.jit(lambda a: a + 1)(jnp.ones(3)))


def _timed_steps(r: Runner, n: int) -> list[float]:
    out = []
    with r.ctx():
        for _ in range(n):
            t0 = time.perf_counter()
            res = r.step()
            r.block(res)
            out.append(time.perf_counter() - t0)
        r.last = res if n else r.last
    return out


def _first_call(r: Runner) -> tuple[float, float]:
    with r.ctx():
        t0 = time.perf_counter()
        res = r.step()
        r.block(res)
        dt = time.perf_counter() - t0
    return dt, r.loss_of(res)


def summarize(times_s: list[float]) -> dict:
    us = [t * 1e6 for t in times_s]
    return {"median_us": statistics.median(us), "min_us": min(us), "max_us": max(us), "n": len(us)}


def run_workload(workload: str, systems: list[str], cfg: Config, bar=None) -> dict:
    """Time every system on one workload; a dict per system (or ``{"skipped": reason}``)."""
    results: dict[str, dict] = {}
    runners: dict[str, Runner] = {}
    for name in systems:
        if bar is not None:
            bar.set_postfix_str(f"{workload}: build {name}")
        try:
            r = SYSTEMS[name].build(workload)
            first, loss0 = _first_call(r)
        except Skip as e:
            results[name] = {"skipped": str(e)}
            continue
        except Exception as e:  # noqa: BLE001 - one broken system must not stop the others
            results[name] = {"skipped": f"failed: {type(e).__name__}: {e}"[:300]}
            continue
        finally:
            if bar is not None:
                bar.update(1)
        second = _timed_steps(r, 1)[0]  # may re-discover or retrace (e.g. grads now exist)
        warm = _timed_steps(r, cfg.warmup)
        est = statistics.median(warm[len(warm) // 2 :]) if warm else second
        k = max(cfg.min_steps, min(cfg.max_steps, round(cfg.chunk_s / max(est, 1e-6))))
        runners[name] = r
        results[name] = {"first_call_s": first, "second_call_s": second, "loss_first_step": loss0,
                         "steps_per_round": k, "_times": []}  # fmt: skip
    order = list(runners)
    for rnd in range(cfg.rounds):
        rot = order[rnd % len(order) :] + order[: rnd % len(order)] if order else []
        for name in rot:
            if bar is not None:
                bar.set_postfix_str(f"{workload}: round {rnd + 1}/{cfg.rounds} {name}")
            results[name]["_times"] += _timed_steps(runners[name], results[name]["steps_per_round"])
            if bar is not None:
                bar.update(1)
    for name, r in runners.items():
        res = results[name]
        res.update(summarize(res.pop("_times")))
        res["loss_last_step"] = r.loss_of(r.last)
        if r.stats is not None:
            st = r.stats()
            res["traces"] = st["traces"]
            res["recompiles"] = st["recompiles"]
            res["stats"] = st
        if r.program is not None:
            res["program_memory"] = program_memory(r.program())
        if r.notes:
            res["notes"] = r.notes
    return results


def bar_units(n_systems: int, cfg: Config) -> int:
    """Progress units for one workload: one per build, one per system per round."""
    return n_systems * (1 + cfg.rounds)


# -- memory: one fresh process per (system, workload) ---------------------------------------------
def rss_mb() -> float:
    return _rss_bytes() / 2**20


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> None:
    """Return freed heap to the OS, so RSS counts live memory (glibc only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_main(spec: str, steps: int) -> None:
    """Entry of ``--child SYSTEM:WORKLOAD``: print one JSON line with memory and a cold first call."""
    system, workload = spec.split(":")
    sysdef = SYSTEMS[system]
    __import__(sysdef.needs)
    warm_jax()
    try:
        r = sysdef.build(workload)
    except Skip as e:
        print(json.dumps({"skipped": str(e)}))
        return
    gc.collect()
    _malloc_trim()
    setup = _rss_bytes()
    reset = _reset_peak()
    first, _ = _first_call(r)
    first_peak = _peak_bytes()
    # Training memory: the peak over the steps after the first call (what donation
    # governs), apart from the first call's tracing and XLA compilation.
    gc.collect()
    _malloc_trim()
    _reset_peak()
    second = _timed_steps(r, steps)[0]
    peak = _peak_bytes()
    gc.collect()
    _malloc_trim()
    after = _rss_bytes()
    print(json.dumps({
        "rss_after_setup_mb": setup / 2**20,
        "peak_rss_mb": max(peak, first_peak) / 2**20,
        "first_call_peak_minus_setup_mb": max(0, first_peak - setup) / 2**20,
        "train_peak_minus_setup_mb": max(0, peak - setup) / 2**20,
        "retained_mb": (after - setup) / 2**20,
        "peak_method": "VmHWM after clear_refs reset" if reset else "ru_maxrss (includes setup peaks)",
        "first_call_fresh_s": first,
        "second_call_fresh_s": second,
        "steps": steps + 1,
    }))  # fmt: skip


def run_child(system: str, workload: str, steps: int, timeout: float = 600) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if env.get("TORCHINDUCTOR_CACHE_DIR") in systems.OWN_TMP:
        del env["TORCHINDUCTOR_CACHE_DIR"]  # the child compiles cold, in a cache dir of its own
    cmd = [sys.executable, "-m", "benchmarks", "--child", f"{system}:{workload}", "--child-steps", str(steps)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": f"exit {p.returncode}: {p.stderr.strip().splitlines()[-1:] if p.stderr else ''}"}
    return json.loads(lines[-1])


def memory(system: str, workload: str, cfg: Config) -> dict:
    """``run_child`` once, or ``cfg.memory_repeats`` times for hand/compiled; numbers are medians."""
    n = cfg.memory_repeats if system in ("hand", "compiled") else 1
    samples = [run_child(system, workload, cfg.memory_steps) for _ in range(n)]
    ok = [x for x in samples if "error" not in x and "skipped" not in x]
    if not ok:
        return samples[0]
    out = dict(ok[0])
    for k, v in list(out.items()):
        if isinstance(v, float):
            out[k] = statistics.median(x[k] for x in ok)
            if len(ok) > 1:
                out[k + "_samples"] = [x[k] for x in ok]
    out["processes"] = len(ok)
    return out
