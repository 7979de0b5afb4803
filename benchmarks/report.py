"""Machine info, markdown tables, the targets check, results.json and chart.png."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess

from .systems import SYSTEMS


def _version(mod: str) -> str | None:
    try:
        return __import__(mod).__version__
    except Exception:  # noqa: BLE001
        return None


def _git() -> str | None:
    """HEAD of the eagerjax checkout, with "+dirty" if eagerjax/ has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        run = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=root, timeout=10)
        head = run("rev-parse", "--short", "HEAD").stdout.strip()
        dirty = run("status", "--porcelain", "--", "eagerjax").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def load() -> dict:
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        up = ""
    return {"loadavg_1_5_15": list(os.getloadavg()), "uptime": up}


def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {m: _version(m) for m in ("eagerjax", "jax", "jaxlib", "flax", "optax", "numpy", "torch")},
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": _git(),
        "load_at_start": load(),
    }


def _f(v, fmt="{:.0f}", none="–") -> str:
    return none if v is None else fmt.format(v)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def label(system: str) -> str:
    return SYSTEMS[system].label if system in SYSTEMS else system


def train_table(workload: str, res: dict) -> str:
    hand = res.get("hand", {}).get("median_us")
    hand_min = res.get("hand", {}).get("min_us")
    rows, skipped = [], []
    for name, r in res.items():
        if "skipped" in r:
            skipped.append(f"{label(name)}: {r['skipped']}")
            continue
        mem = r.get("memory", {})
        rows.append([
            label(name), _f(r["median_us"]), _f(r["min_us"]), _f(r["max_us"]), str(r["n"]),
            _f(r["median_us"] / hand if hand else None, "{:.2f}x"),
            _f(r["min_us"] / hand_min if hand_min else None, "{:.2f}x"),
            _f(r["first_call_s"], "{:.2f}"), _f(r.get("second_call_s"), "{:.3f}"),
            _f(mem.get("first_call_fresh_s"), "{:.2f}"),
            _f(mem.get("first_call_peak_minus_setup_mb"), "{:.1f}"),
            _f(mem.get("train_peak_minus_setup_mb"), "{:.1f}"),
            _f(r.get("program_memory", {}).get("step_peak_mb"), "{:.2f}"), _f(r.get("traces"), "{}"),
            _f(r["loss_first_step"], "{:.6f}"),
        ])  # fmt: skip
    head = ["system", "median µs", "min µs", "max µs", "steps", "× hand", "× hand (min)", "first call s",
            "2nd call s", "cold first s", "1st call peak Δ MB", "train peak Δ MB", "XLA step MB", "traces",
            "loss step 1"]  # fmt: skip
    out = _table(head, rows)
    if skipped:
        out += "\n" + "\n".join(f"  skipped — {s}" for s in skipped)
    return out


def summary_table(train: dict) -> str:
    systems = [s for s in SYSTEMS if any(s in r and "median_us" in r[s] for r in train.values())]
    rows = []
    for w, res in train.items():
        hand = res.get("hand", {}).get("median_us")
        row = [w]
        for s in systems:
            m = res.get(s, {}).get("median_us")
            row.append("–" if m is None else f"{m:.0f}" + (f" ({m / hand:.2f}x)" if hand else ""))
        rows.append(row)
    return _table(["µs/step (× hand)"] + [label(s) for s in systems], rows)


def micro_tables(micro: dict) -> str:
    parts = []
    d = micro.get("dispatch", {})
    if d:
        torch = any("torch" in r for r in d.values())
        head = ["op (4x4 f32)", "eagerjax µs", "jnp µs"] + (["torch µs"] if torch else []) + ["ej/jnp"]
        head += ["ej/torch"] if torch else []
        rows = [
            [op, _f(r["eagerjax"], "{:.1f}"), _f(r["jnp"], "{:.1f}")]
            + ([_f(r.get("torch"), "{:.1f}")] if torch else [])
            + [_f(r["ej/jnp"], "{:.2f}x")]
            + ([_f(r.get("ej/torch"), "{:.2f}x")] if torch else [])
            for op, r in d.items()
        ]
        parts.append("Per-op dispatch (target ej/jnp ≤ 1.5x)\n" + _table(head, rows))
    fb = micro.get("fwd_bwd", {})
    if fb:
        rows = [[w, _f(r["eagerjax"]), _f(r.get("ej_unfused")), _f(r.get("torch")), _f(r.get("naive_jax")),
                 _f(r.get("ej/torch"), "{:.2f}x"), _f(r.get("unfused/torch"), "{:.2f}x"),
                 _f(r.get("naive/ej"), "{:.1f}x")] for w, r in fb.items()]  # fmt: skip
        head = ["fwd+bwd", "ej eager µs", "ej unfused µs", "torch eager µs", "naive jax µs", "ej/torch",
                "unfused/torch", "naive/ej"]  # fmt: skip
        parts.append("Eager forward+backward, no optimizer (targets ej/torch ≤ 1.0; naive/ej ≥ 30 on tiny)\n"
                     + _table(head, rows))  # fmt: skip
    lz = micro.get("lazy_recording", {})
    if lz:
        rows = [[w, _f(r["us_per_recorded_op"], "{:.1f}"), _f(r["ops_per_step"], "{:.0f}"),
                 _f(r["record_us_per_step"], "{:.0f}"), _f(r["lazy_step_us"])] for w, r in lz.items()]  # fmt: skip
        head = ["lazy", "µs / recorded op", "ops / step", "record µs / step", "lazy step µs"]
        parts.append("Lazy recording cost\n" + _table(head, rows))
    ps = micro.get("per_sample_grads", {})
    if ps:
        rows = [[w, _f(r["eagerjax"]), _f(r["hand_jax"]), _f(r.get("torch")), _f(r["ej/hand"], "{:.2f}x"),
                 _f(r.get("ej/torch"), "{:.2f}x")] for w, r in ps.items()]  # fmt: skip
        head = ["vmap(grad)", "ej func µs", "hand jax µs", "torch.func µs", "ej/hand", "ej/torch"]
        parts.append("Per-sample gradients (func.vmap(func.grad(loss)) with functional_call)\n" + _table(head, rows))
    return "\n\n".join(parts)


# -- targets --------------------------------------------------------------------------------------
def _get(train, w, s, k="median_us"):
    return train.get(w, {}).get(s, {}).get(k)


def targets(results: dict) -> list[dict]:
    train, micro = results.get("train", {}), results.get("micro", {})
    out = []

    def add(desc, value, ok, shown):
        out.append({"target": desc, "value": value, "status": "n/a" if value is None else ("PASS" if ok else "MISS"),
                    "shown": shown if value is not None else "not measured"})  # fmt: skip

    def ratio(w, a, b, k="median_us"):
        x, y = _get(train, w, a, k), _get(train, w, b, k)
        return x / y if x is not None and y else None

    def step_ratio(w, a, b, fmt="{:.2f}x"):  # judged on medians; the ratio of minima is shown too
        r, rmin = ratio(w, a, b), ratio(w, a, b, "min_us")
        return r, _f(r, fmt) + (f" (min {fmt.format(rmin)})" if rmin is not None else "")

    for w, lim in (("tiny", 1.10), ("mlp", 1.03), ("cnn", 1.03)):
        if w not in train:
            continue
        r, shown = step_ratio(w, "compiled", "hand")
        add(f"{w}: compiled ≤ {lim:.2f}x hand", r, r is not None and r <= lim, shown)
    if "tiny" in train:
        r, shown = step_ratio("tiny", "eager", "compiled", "{:.1f}x")
        add("tiny: compiled ≥ 3x faster than eager", r, r is not None and r >= 3, shown)
    for w, lim in (("tiny", 1.5), ("mlp", 1.05)):
        if w not in train:
            continue
        r, shown = step_ratio(w, "lazy", "compiled")
        add(f"{w}: lazy ≤ {lim}x compiled", r, r is not None and r <= lim, shown)
    for w in train:
        mem = lambda s, w=w: train[w].get(s, {}).get("memory", {})
        fc, fh = mem("compiled").get("first_call_fresh_s"), mem("hand").get("first_call_fresh_s")
        src = "cold process"
        if fc is None or fh is None:
            fc, fh, src = (
                _get(train, w, "compiled", "first_call_s"),
                _get(train, w, "hand", "first_call_s"),
                "in-process",
            )
        r = fc / fh if fc is not None and fh else None
        add(f"{w}: compiled first call ≤ 1.5x hand's ({src})", r, r is not None and r <= 1.5,
            _f(r, "{:.2f}x") + (f" ({fc:.2f}s vs {fh:.2f}s)" if r is not None else ""))  # fmt: skip
        xm = lambda s, w=w: train[w].get(s, {}).get("program_memory", {}).get("step_peak_mb")
        mc, mh = xm("compiled"), xm("hand")
        r = mc / mh if mc is not None and mh else None
        if mc is not None and mh is not None:
            add(f"{w}: compiled step peak memory ≤ 1.1x hand's (XLA)", r, r is not None and r <= 1.1,
                _f(r, "{:.2f}x") + (f" ({mc:.2f} vs {mh:.2f} MB)" if r is not None else ""))  # fmt: skip
        k = "train_peak_minus_setup_mb"
        mc, mh = mem("compiled").get(k), mem("hand").get(k)
        r = mc / mh if mc is not None and mh else None
        if any("memory" in v for v in train[w].values()):  # memory was measured in this run
            add(f"{w}: compiled training peak RSS ≤ 1.1x hand's", r, r is not None and r <= 1.1,
                _f(r, "{:.2f}x") + (f" ({mc:.1f} vs {mh:.1f} MB)" if r is not None else ""))  # fmt: skip
        for s in ("compiled", "lazy"):
            t = _get(train, w, s, "traces")
            if _get(train, w, s) is not None:
                add(f"{w}: {s} traces exactly once", t, t == 1, f"{t} trace(s)")
    for w in ("tiny", "mlp"):
        if w not in train:
            continue
        r, shown = step_ratio(w, "eager", "torch")
        add(f"{w}: eager step ≤ torch eager step", r, r is not None and r <= 1.0, shown)
    for op, d in micro.get("dispatch", {}).items():
        add(f"dispatch `{op}`: ej ≤ 1.5x jnp", d["ej/jnp"], d["ej/jnp"] <= 1.5, f"{d['ej/jnp']:.2f}x")
    for w, d in micro.get("fwd_bwd", {}).items():
        r = d.get("ej/torch")
        add(f"{w} fwd+bwd: ej eager ≤ torch eager", r, r is not None and r <= 1.0, _f(r, "{:.2f}x"))
        if w == "tiny":
            r = d.get("naive/ej")
            add("tiny fwd+bwd: naive jax ≥ 30x ej eager", r, r is not None and r >= 30, _f(r, "{:.1f}x"))
    return out


def targets_table(rows: list[dict]) -> str:
    return _table(["target", "measured", "status"], [[r["target"], r["shown"], r["status"]] for r in rows])


# -- outputs --------------------------------------------------------------------------------------
def write_json(results: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(results, f, indent=1, default=str)


def chart(results: dict, path: str) -> str | None:
    """Grouped log-scale bars of µs/step; returns a note instead if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: chart.png skipped"
    train = results["train"]
    workloads = list(train)
    systems = [s for s in SYSTEMS if any("median_us" in train[w].get(s, {}) for w in workloads)]
    fig, ax = plt.subplots(figsize=(max(7, 2.2 * len(workloads) + 2), 5.5))
    width = 0.8 / max(1, len(systems))
    cmap = plt.get_cmap("tab10")
    for i, s in enumerate(systems):
        xs, ys, tags = [], [], []
        for j, w in enumerate(workloads):
            m = train[w].get(s, {}).get("median_us")
            if m is None:
                continue
            hand = train[w].get("hand", {}).get("median_us")
            xs.append(j + (i - (len(systems) - 1) / 2) * width)
            ys.append(m)
            tags.append("" if not hand else f"{m / hand:.2g}x" if m / hand < 10 else f"{m / hand:.0f}x")
        bars = ax.bar(xs, ys, width, label=label(s), color=cmap(i % 10))
        for b, t in zip(bars, tags):
            ax.annotate(t, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                        fontsize=6.5, rotation=90, xytext=(0, 2), textcoords="offset points")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel("median µs / training step (log scale)")
    m = results["machine"]
    la = m["load_at_start"]["loadavg_1_5_15"][0]
    ax.set_title(f"eagerjax training step, annotated × hand-written jax.jit\n{m['cpu']}, {m['cores']} cores, "
                 f"load {la:.1f}, {m['date'][:16]}", fontsize=9)  # fmt: skip
    ax.margins(y=0.25)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return None
