#!/usr/bin/env bash
# The GPU check, for a machine where JAX sees a GPU (no install: run from the checkout with
# the machine's own jax, flax, optax, pytest, pytest-xdist and, as oracle, torch):
#   OUT=/some/dir bash tools/gpu_check.sh
# 1) the smoke check (tools/gpu_smoke.py), 2) the core test files on xdist workers, one
# line per test (-v needs addopts cleared: the config's -q would cancel it), 3) the
# benchmark without torch's CPU-only systems. Logs and results.json go to $OUT.
# Each phase has a time limit (TEST_S, BENCH_S seconds) so a lease's minutes suffice.
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PY:-python3}
{ nvidia-smi -L; $PY -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())"; } 2>&1 | tee "$OUT/env.txt"
echo "== smoke"
timeout 150 $PY tools/gpu_smoke.py 2>&1 | tee "$OUT/smoke.txt"
echo "== tests"
FILES=${FILES:-"tests/test_compile.py tests/test_lazy.py tests/test_capture_models.py tests/test_fuzz_training.py tests/test_lazy_donation.py tests/test_grad_scaler.py tests/test_autocast.py tests/test_autocast_cuda.py tests/test_precision.py tests/test_tensor.py tests/test_optim.py tests/test_nn.py tests/test_autograd.py tests/test_ops.py"}
# shellcheck disable=SC2086
timeout "${TEST_S:-240}" $PY -m pytest -o addopts="" -p no:cacheprovider -v -rfE -n "${WORKERS:-14}" $FILES > "$OUT/tests.txt" 2>&1
echo "tests rc $? ($(grep -c ' PASSED' "$OUT/tests.txt") passed)"
grep -E ' (FAILED|ERROR) ' "$OUT/tests.txt" | sed 's/^.*\(FAILED\|ERROR\) /\1 /' | sort -u | head -60
echo "== bench"
timeout "${BENCH_S:-180}" $PY -m benchmarks --systems hand,compiled,lazy,eager,nnx --no-micro --no-memory --out "$OUT/bench" > "$OUT/bench.txt" 2>&1
echo "bench rc $?"
grep -A8 "^## Summary" "$OUT/bench.txt"
