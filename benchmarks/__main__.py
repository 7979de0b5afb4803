"""``python -m benchmarks``: eagerjax's training step against the hand-written ceiling and the others.

    python -m benchmarks                  # full run: all workloads and systems, memory, microbenchmarks
    python -m benchmarks --quick          # under a minute: fewer steps, no memory, no slow systems
    python -m benchmarks --only tiny,mlp --systems eager,compiled,hand --out /tmp/b

Writes ``results.json`` (every number plus machine info) and ``chart.png`` to ``--out``.
Timings on a shared machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import harness, report
from .workloads import WORKLOADS

QUICK_WORKLOADS = ("tiny", "mlp")  # cnn and lm compile for long on 2 cores: --only adds them


def _bar(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False)


def _dispatch_mode() -> str:
    """How XLA:CPU runs this process's programs, as JAX's config says."""
    import jax

    return "asynchronous" if jax.config.values.get("jax_cpu_enable_async_dispatch", True) else "synchronous"


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few steps, no memory, no slow systems (< 1 minute)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--only", help=f"workloads, comma-separated, of {','.join(WORKLOADS)}")
    ap.add_argument("--systems", help="systems, comma-separated, of " + ",".join(harness.SYSTEMS))
    ap.add_argument("--no-micro", action="store_true", help="skip the microbenchmarks")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-process memory runs (full mode)")
    ap.add_argument("--memory", action="store_true", help="measure memory even with --quick")
    ap.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1,
                    help="torch.set_num_threads (default: all cores, as XLA:CPU uses)")  # fmt: skip
    ap.add_argument(
        "--omp-wait-policy",
        default="PASSIVE",
        choices=["PASSIVE", "ACTIVE", "default"],
        help="OMP_WAIT_POLICY for torch's OpenMP pool (default PASSIVE: spinning threads "
        "stall badly on a loaded machine; 'default' leaves the environment alone)",
    )
    ap.add_argument(
        "--sync-dispatch",
        action="store_true",
        help="run XLA:CPU programs on the calling thread (jax_cpu_enable_async_dispatch=False) in "
        "every system; the targets are defined for JAX's default, asynchronous dispatch",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-steps", type=int, default=20, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.workloads = args.only.split(",") if args.only else list(QUICK_WORKLOADS if args.quick else WORKLOADS)
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    if args.systems:
        args.systems = args.systems.split(",")
        for s in args.systems:
            if s not in harness.SYSTEMS:
                ap.error(f"unknown system {s!r}; choose from {', '.join(harness.SYSTEMS)}")
    else:
        args.systems = [s.name for s in harness.SYSTEMS.values() if s.quick or not args.quick]
    return args


def main(argv=None) -> None:
    args = parse(argv)
    os.environ["BENCH_TORCH_THREADS"] = str(args.torch_threads)  # read by systems (and children)
    if args.omp_wait_policy != "default":  # before torch is imported (children inherit it)
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    if args.sync_dispatch:
        os.environ["BENCH_SYNC_DISPATCH"] = "1"  # (children inherit it)
    if os.environ.get("BENCH_SYNC_DISPATCH") == "1":
        # Before JAX makes its CPU client: the setting is read once, then fixed for the process.
        import jax

        jax.config.update("jax_cpu_enable_async_dispatch", False)
    if args.child:
        harness.child_main(args.child, args.child_steps)
        return
    from . import microbench, systems

    t_start = time.perf_counter()
    cfg = harness.QUICK if args.quick else harness.FULL
    results = {"machine": report.machine_info(), "train": {}, "micro": {}, "notes": [], "process_rss_mb_after": {}}
    results["config"] = {
        "mode": "quick" if args.quick else "full", "workloads": args.workloads, "systems": args.systems,
        "timing": cfg.__dict__, "torch_threads": args.torch_threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "jax_threads": "XLA:CPU default intra-op pool (one thread per core)",
        "xla_cpu_dispatch": _dispatch_mode(),
        "step": "zero_grad + forward + loss + backward + Adam(lr 1e-3), fp32, fixed batch in memory",
    }  # fmt: skip
    notes = results["notes"]
    if results["config"]["xla_cpu_dispatch"] == "synchronous":
        notes.append("--sync-dispatch: every JAX system runs its programs on the calling thread; "
                     "the targets are defined for JAX's default (asynchronous) dispatch")  # fmt: skip
    unavailable = {}
    for s in args.systems:
        why = systems.available(systems.SYSTEMS[s])
        if why:
            unavailable[s] = why
            notes.append(f"{s} skipped: {why}")
    run_systems = [s for s in args.systems if s not in unavailable]
    do_micro = not args.no_micro
    have_torch = systems.available(systems.SYSTEMS["torch"]) is None
    if have_torch and (do_micro or any(s.startswith("torch") for s in run_systems)):
        notes.append(f"PyTorch runs with torch.set_num_threads({args.torch_threads}) and OMP_WAIT_POLICY="
                     f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; XLA:CPU uses one intra-op thread per core "
                     f"({os.cpu_count()})")  # fmt: skip
    plan = {w: [s for s in run_systems if w in (systems.SYSTEMS[s].workloads or WORKLOADS)] for w in args.workloads}
    do_memory = (not args.quick or args.memory) and not args.no_memory
    total = sum(harness.bar_units(len(v), cfg) for v in plan.values())
    total += microbench.bar_units(args.quick) if do_micro else 0
    total += sum(len(v) for v in plan.values()) if do_memory else 0
    bar = _bar(total, "benchmarks")

    harness.warm_jax()
    for w, sysnames in plan.items():
        results["train"][w] = harness.run_workload(w, sysnames, cfg, bar)
        results["process_rss_mb_after"][w] = harness.rss_mb()
    if do_micro:
        if bar is not None:
            bar.set_postfix_str("microbenchmarks")
        results["micro"] = microbench.run(args.quick, have_torch, bar)
    if do_memory:
        for w, sysnames in plan.items():
            for s in sysnames:
                if bar is not None:
                    bar.set_postfix_str(f"memory {w}/{s}")
                if "median_us" in results["train"][w].get(s, {}):
                    results["train"][w][s]["memory"] = harness.memory(s, w, cfg)
                if bar is not None:
                    bar.update(1)
    else:
        notes.append("memory not measured (--quick or --no-memory); first-call times are in-process")
    if bar is not None:
        bar.close()

    results["targets"] = report.targets(results)
    results["load_at_end"] = report.load()
    results["elapsed_s"] = time.perf_counter() - t_start
    os.makedirs(args.out, exist_ok=True)
    chart_note = report.chart(results, os.path.join(args.out, "chart.png")) if results["train"] else "no workloads"
    if chart_note:
        notes.append(chart_note)
    report.write_json(results, os.path.join(args.out, "results.json"))
    _print(results, args)


def _print(results: dict, args) -> None:
    m = results["machine"]
    print(f"# eagerjax benchmarks ({results['config']['mode']})")
    print(f"{m['cpu']}, {m['cores']} cores; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
          + f"; eagerjax checkout {m.get('git')}")  # fmt: skip
    print(f"load at start: {m['load_at_start']['uptime']}")
    print(f"load at end:   {results['load_at_end']['uptime']}")
    for w, res in results["train"].items():
        print(f"\n## {w}: {WORKLOADS[w].description}\n")
        print(report.train_table(w, res))
    if results["train"]:
        print("\n## Summary: median µs/step (ratio to the hand-written jax.jit step)\n")
        print(report.summary_table(results["train"]))
    if results["micro"]:
        print("\n## Microbenchmarks\n")
        print(report.micro_tables(results["micro"]))
    print("\n## Targets\n")
    print(report.targets_table(results["targets"]))
    for n in results["notes"]:
        print(f"note: {n}")
    print(f"\nwrote {os.path.join(args.out, 'results.json')} and chart.png in {results['elapsed_s']:.0f}s")


if __name__ == "__main__":
    main()
