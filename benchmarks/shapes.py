"""Resident memory of a training run whose batch shape keeps changing.

    python -m benchmarks.shapes                      # eager, 400 shapes, lowerings dropped
    python -m benchmarks.shapes --mode lazy --shapes 200
    python -m benchmarks.shapes --keep-lowerings     # JAX's default: keep every lowering

Every new batch shape compiles new XLA programs (in eager mode one per op, plus the fused
backward and the optimizer update). JAX keeps each one, and also each one's StableHLO
module. This trains a small MLP on batch sizes 2, 3, 4, ... and prints, every
``--every`` shapes, the process's resident memory, its memory mappings (the OS limit
eagerjax budgets, see ``eagerjax/_xla_budget.py``), the programs compiled and the
clears so far. ``--keep-lowerings`` turns eagerjax's periodic drop of the lowerings off,
to see what it saves. Memory, not time: the numbers do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import os

import numpy as np


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.shapes", description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["eager", "compiled", "lazy"], default="eager")
    ap.add_argument("--shapes", type=int, default=400, help="distinct batch sizes to train on")
    ap.add_argument("--every", type=int, default=50, help="print a row every this many shapes")
    ap.add_argument("--keep-lowerings", action="store_true", help="never drop JAX's cached lowerings")
    args = ap.parse_args(argv)

    import eagerjax as ej
    from eagerjax import _xla_budget as budget

    if args.keep_lowerings:
        budget.LOWERINGS_EVERY = 1 << 62
    model = ej.nn.Sequential(ej.nn.Linear(16, 32), ej.nn.ReLU(), ej.nn.Linear(32, 4))
    opt = ej.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = ej.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if args.mode == "compiled" else step
    rng = np.random.default_rng(0)
    start = _resident_mb()
    print(
        f"mode {args.mode}, lowerings {'kept' if args.keep_lowerings else 'dropped'}; resident at start {start:.0f} MB"
    )
    print("| shapes | resident MB | mappings | programs compiled | clears |")
    print("|---|---|---|---|---|")
    with ej.lazy() if args.mode == "lazy" else contextlib.nullcontext():
        for i in range(1, args.shapes + 1):
            b = i + 1
            x = ej.tensor(rng.standard_normal((b, 16), dtype=np.float32))
            y = ej.tensor(rng.integers(0, 4, b))
            float(fn(x, y))
            if i % args.every == 0:
                print(
                    f"| {i} | {_resident_mb():.0f} | {budget.mappings()} | {budget._compiles} | {budget.clears} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
