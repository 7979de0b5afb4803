"""``python -m benchmarks.hlo [WORKLOAD ...] [--out DIR]``: the hand-written and the
compiled eagerjax training step side by side, as XLA compiled them.

For each workload (default: lm) both steps run a few times, then this prints their
median step time over 50 steps, XLA's memory account (``program_memory``) and a
summary of the optimized program: custom calls (cuBLAS, cuDNN), fusion kinds and the
number of fusions. With ``--out`` it writes each program's optimized HLO text
(``<workload>_<system>.hlo``) for a diff. Where the two programs differ (a dot sent to a
library call in one and fused in the other, an extra copy) this is the place to look.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import time

from .systems import SYSTEMS, program_memory


def summarize(text: str) -> dict:
    """Custom-call targets, fusion kinds and the fusion count of an optimized HLO module."""
    return {
        "custom_calls": dict(collections.Counter(re.findall(r'custom_call_target="([^"]+)"', text))),
        "fusion_kinds": dict(collections.Counter(re.findall(r"kind=(k\w+)", text))),
        "fusions": len(re.findall(r"^\s*\S+ = .* fusion\(", text, re.M)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", default=["lm"])
    ap.add_argument("--out", help="write each optimized program's HLO text here")
    args = ap.parse_args()
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    for wl in args.workloads:
        for name in ("hand", "compiled"):
            r = SYSTEMS[name].build(wl)
            for _ in range(3):
                r.block(r.step())
            times = []
            for _ in range(50):
                t0 = time.perf_counter()
                r.block(r.step())
                times.append(time.perf_counter() - t0)
            program = r.program()
            text = program.as_text()
            if args.out:
                with open(os.path.join(args.out, f"{wl}_{name}.hlo"), "w") as f:
                    f.write(text)
            mem = {k: round(v, 2) for k, v in program_memory(program).items()}
            print(f"{wl} {name}: {statistics.median(times) * 1e6:.0f} us/step, memory MB {mem}")
            print(f"    {summarize(text)}", flush=True)


if __name__ == "__main__":
    main()
