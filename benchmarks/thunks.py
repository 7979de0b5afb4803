"""Where a compiled training step spends its time, by the jax op each XLA thunk came from.

    python -m benchmarks.thunks lm                 # ej compiled vs hand-written, top 25 ops
    python -m benchmarks.thunks tiny --steps 50 --top 10

Runs both steps under ``jax.profiler`` (XLA:CPU records every thunk it executes),
maps each thunk to the jax source op in its HLO metadata (``transpose(jvp(Dense))/
dot_general`` is a Dense layer's matmul in the backward), and prints µs per step per op
for eagerjax's compiled step and the hand-written ``jax.jit`` step side by side, largest
difference first. Read it as a map of where to look, not as a measurement: the profiler
adds a fixed cost per thunk, independent thunks run concurrently on XLA's threads (so sums
can exceed the step's wall time), and a fusion counts under its root op's name.

This is how the Transformer LM's 1.16x was found to be Flax's LayerNorm association
(a full-size ``rsqrt(var + eps) * scale`` product in the backward) and a causal mask
materialized at the scores' size on every call.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import glob
import gzip
import json
import re
import tempfile

_SKIP = ("$", "end:", "Pjit", "Thunk", "Slinky", "Threadpool", "Wait", "Python", "Parse", "Common", "Handle", "Alloc")


def op_names(hlo_text: str) -> dict[str, str]:
    """Thunk (HLO instruction) name -> the jax op in its metadata, without the ``jit(...)/`` prefix."""
    entry = hlo_text[hlo_text.index("ENTRY") :]
    out = {}
    for line in entry.splitlines():
        m = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = .*?op_name=\"([^\"]*)\"", line)
        if m:
            out[m.group(1)] = re.sub(r"^jit\([^)]*\)/", "", m.group(2)).split(";")[0]
    return out


def thunk_times(trace_dir: str) -> dict[str, tuple[int, dict[str, float]]]:
    """Per jitted function name in the trace: (calls, {thunk name: total µs})."""
    (path,) = glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True)
    with gzip.open(path) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    calls = sorted((e for e in events if e["name"].startswith("PjitFunction(")), key=lambda e: e["ts"])
    starts = [c["ts"] for c in calls]
    per: dict[str, tuple[int, dict]] = {}
    for c in calls:
        n, d = per.get(c["name"], (0, collections.defaultdict(float)))
        per[c["name"]] = (n + 1, d)
    for e in events:
        if e["name"].startswith(_SKIP):
            continue
        k = bisect.bisect_right(starts, e["ts"]) - 1  # the call this thunk ran in
        if k >= 0:
            per[calls[k]["name"]][1][e["name"]] += e.get("dur", 0.0)
    return per


def by_op(times: tuple[int, dict[str, float]], names: dict[str, str], coarse: bool) -> dict[str, float]:
    """µs per step per jax op; ``coarse``: per pass and primitive only (``backward dot_general``),
    which the two programs share (their layer names and jvp nesting differ)."""
    calls, per_thunk = times
    out: dict[str, float] = collections.defaultdict(float)
    for thunk, us in per_thunk.items():
        op = names.get(thunk)
        if op is None:
            op = "(other) " + re.sub(r"\.\d+$", "", thunk)
        elif coarse:
            op = ("backward " if "transpose(" in op else "forward ") + op.split("/")[-1]
        out[op] += us / max(calls, 1)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.thunks", description=__doc__.split("\n")[0])
    ap.add_argument("workload")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args(argv)

    import jax

    from .harness import warm_jax
    from .systems import SYSTEMS

    warm_jax()
    hand, ours = SYSTEMS["hand"].build(a.workload), SYSTEMS["compiled"].build(a.workload)
    for r in (hand, ours):
        for _ in range(3):  # past the first call and the re-discovery of the second
            r.block(r.step())
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            for _ in range(a.steps):
                for r in (hand, ours):  # alternating: the profiler's warm-up hits both alike
                    r.block(r.step())
        per = thunk_times(d)
    hand_fn = next(k for k in per if "train" in k)
    ours_fn = next(k for k in per if "pure" in k)
    names_h, names_o = op_names(hand.program().as_text()), op_names(ours.program().as_text())
    ops_h, ops_o = by_op(per[hand_fn], names_h, True), by_op(per[ours_fn], names_o, True)
    rows = sorted(set(ops_h) | set(ops_o), key=lambda k: -abs(ops_o.get(k, 0) - ops_h.get(k, 0)))
    print(f"{a.workload}: µs per step by pass and primitive (profiled; {a.steps} steps each)")
    print(f"{'hand':>9} {'ej':>9} {'ej-hand':>9}  op")
    print(f"{sum(ops_h.values()):9.1f} {sum(ops_o.values()):9.1f} {'':>9}  (all thunks)")
    for k in rows[: a.top]:
        h, o = ops_h.get(k, 0.0), ops_o.get(k, 0.0)
        print(f"{h:9.1f} {o:9.1f} {o - h:+9.1f}  {k[:100]}")
    for label, times, names in (("ej compiled", per[ours_fn], names_o), ("hand", per[hand_fn], names_h)):
        detail = by_op(times, names, False)
        print(f"\n{label}: the {a.top} costliest ops in full")
        for k, v in sorted(detail.items(), key=lambda kv: -kv[1])[: a.top]:
            print(f"{v:9.1f}  {k[:110]}")


if __name__ == "__main__":
    main()
