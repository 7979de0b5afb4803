"""`python -m benchmarks --quick` runs and writes its results (no timing assertions: speed lives in benchmarks/)."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmarks_quick_writes_results(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = "--quick --only tiny --systems eager,compiled,lazy,hand --out".split() + [str(tmp_path)]
    cmd = [sys.executable, "-m", "benchmarks", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "## Targets" in r.stdout

    with open(tmp_path / "results.json") as f:
        res = json.load(f)
    assert {"machine", "config", "train", "micro", "targets", "notes", "elapsed_s"} <= set(res)
    assert {"cpu", "cores", "versions", "date", "load_at_start"} <= set(res["machine"])
    tiny = res["train"]["tiny"]
    assert set(tiny) == {"eager", "compiled", "lazy", "hand"}
    for name, sysres in tiny.items():
        assert {"median_us", "min_us", "max_us", "first_call_s", "loss_first_step"} <= set(sysres), name
        assert abs(sysres["loss_first_step"] - tiny["hand"]["loss_first_step"]) < 1e-4, name
    assert tiny["compiled"]["traces"] == 1
    assert tiny["lazy"]["traces"] == 1
    assert {"dispatch", "fwd_bwd", "lazy_recording"} <= set(res["micro"])
    assert all(t["status"] in ("PASS", "MISS", "n/a") for t in res["targets"])
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "chart.png").stat().st_size > 0


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="profiles XLA:CPU's thunks (seen failing on a GPU)")
def test_thunk_profile_compares_ops(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.thunks",
        "tiny",
        "--steps",
        "3",
        "--top",
        "40",
    ]  # (rows sort by difference: all of them)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "backward dot_general" in r.stdout  # both programs' matmuls, attributed to the backward
    assert "transpose(jvp(Dense))/dot_general" in r.stdout  # and eagerjax's by layer


def test_benchmarks_sync_dispatch_is_recorded(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = "--quick --only tiny --systems compiled,hand --no-micro --sync-dispatch --out".split() + [str(tmp_path)]
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    with open(tmp_path / "results.json") as f:
        res = json.load(f)
    assert res["config"]["xla_cpu_dispatch"] == "synchronous"  # read back from JAX's config
    assert any("--sync-dispatch" in n for n in res["notes"])
    assert set(res["train"]["tiny"]) == {"compiled", "hand"}


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads resident memory from /proc")
def test_shapes_memory_table_runs():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "benchmarks.shapes", "--mode", "lazy", "--shapes", "4", "--every", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["2", "4"]


def test_hlo_compares_the_two_programs(tmp_path):
    """``python -m benchmarks.hlo``: both programs summarized, their HLO written for a diff."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "benchmarks.hlo", "tiny", "--out", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    for name in ("hand", "compiled"):
        assert f"tiny {name}: " in r.stdout and "'fusions': " in r.stdout
        assert "HloModule" in (tmp_path / f"tiny_{name}.hlo").read_text()

    from benchmarks.hlo import summarize

    text = 'a = f32[2] fusion(x), kind=kLoop\n  b = f32[2] custom-call(a), custom_call_target="__cublas$gemm"\n'
    assert summarize(text) == {"custom_calls": {"__cublas$gemm": 1}, "fusion_kinds": {"kLoop": 1}, "fusions": 1}
