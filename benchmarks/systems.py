"""The systems compared, each able to build a ``Runner`` for a workload.

A runner's ``step()`` does one full training step (zero_grad + forward + loss +
backward + Adam(lr 1e-3) update) on the fixed batch and returns what ``block``
waits on, so a timed step includes the device work, not just its dispatch. Every
library is imported inside the builder, so a memory-measuring child process only
loads what its system needs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .workloads import LR, build_module, loss_fn, make_data, missing_layers, torch_loss


def torch_threads() -> int:
    """Threads for PyTorch: ``--torch-threads`` (via the environment), by default one per core."""
    return int(os.environ.get("BENCH_TORCH_THREADS") or os.cpu_count() or 1)


@dataclass
class Runner:
    system: str
    workload: str
    step: Callable[[], Any]
    block: Callable[[Any], None]
    loss_of: Callable[[Any], float]
    ctx: Callable[[], Any] = contextlib.nullcontext
    stats: Callable[[], dict] | None = None
    # XLA's own account of the compiled training step's memory (see ``program_memory``)
    program: Callable[[], Any] | None = None
    notes: list[str] = field(default_factory=list)
    last: Any = None  # the result of the latest timed step


@dataclass(frozen=True)
class System:
    name: str
    label: str
    build: Callable[[str], Runner]
    quick: bool = True  # part of --quick runs
    workloads: tuple[str, ...] | None = None  # None: every workload
    needs: str = "jax"  # module that must import for the system to run


OWN_TMP: set[str] = set()  # temporary directories this process created (and removes at exit)


class Skip(Exception):
    """The system cannot run this workload here (the message says why)."""


# -- eagerjax --------------------------------------------------------------------------------
def _ej_value(t):
    v = t._value
    return v.array if type(v).__name__ == "LazyValue" else v


def _eagerjax(workload: str, mode: str) -> Runner:
    import jax

    import eagerjax as ej

    missing = missing_layers(ej, workload)
    if missing:
        raise Skip(f"eagerjax.nn lacks {', '.join(missing)}")
    model = build_module(ej, workload)
    opt = ej.optim.Adam(model.parameters(), lr=LR)
    xn, yn = make_data(workload)
    x, y = ej.tensor(xn), ej.tensor(yn)
    params = list(model.parameters())

    def train_step(x, y):
        opt.zero_grad()
        loss = torch_loss(ej, workload, model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(train_step) if mode == "compiled" else train_step

    if mode == "lazy":

        def block(loss):
            jax.block_until_ready([_ej_value(loss)] + [_ej_value(p) for p in params])

    else:
        # values are arrays here: read them as directly as the hand-written step's block does
        def block(loss):
            jax.block_until_ready([loss._value] + [p._value for p in params])

    r = Runner(mode, workload, lambda: fn(x, y), block, lambda loss: float(loss))
    if mode == "compiled":
        r.stats = fn.stats
        r.program = lambda: _ej_program(fn, x, y)
    elif mode == "lazy":
        base = ej.lazy_stats()
        r.ctx = ej.lazy

        def lazy_delta():
            s = ej.lazy_stats()
            d = {k: s[k] - base[k] for k in ("ops_recorded", "flushes", "hits", "misses", "traces")}
            for k in ("compile_seconds", "record_seconds"):
                d[k] = s[k] - base[k]
            d["recompiles"] = s["recompiles"][len(base["recompiles"]) :]
            d["ops_per_step"] = d["ops_recorded"] / max(1, d["flushes"])
            return d

        r.stats = lazy_delta
    return r


def _ej_program(fn, x, y):
    """The compiled step's executable, lowered from its plan (the state's avals, as called)."""
    import jax

    from eagerjax._compile import _dead_avals

    entry = fn._cache[fn._last_key]
    plan = entry.plan
    sds = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)  # noqa: E731
    args = (
        [sds(t._value) for t in plan.value_donated],
        [sds(t._value) for t in plan.value_kept],
        [sds(t._grad._value) for t in plan.grad_donated],
        [sds(t._grad._value) for t in plan.grad_kept],
        [sds(x._value), sds(y._value)],
        [jax.ShapeDtypeStruct(*aval) for aval in _dead_avals(entry)] if plan.grad_dead else [],
    )
    return entry.jitted.lower(*args).compile()


def program_memory(compiled) -> dict:
    """Peak bytes of one call of a compiled step, by XLA's buffer assignment: its arguments
    (all the state it reads: parameters, optimizer state, grads it keeps, the batch), plus
    outputs that do not reuse a donated argument, plus temporaries. Deterministic, unlike RSS."""
    m = compiled.memory_analysis()
    peak = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
    return {
        "step_peak_mb": peak / 2**20,
        "arguments_mb": m.argument_size_in_bytes / 2**20,
        "temporaries_mb": m.temp_size_in_bytes / 2**20,
        "outputs_not_donated_mb": (m.output_size_in_bytes - m.alias_size_in_bytes) / 2**20,
    }


# -- hand-written jax.jit + optax, and the same without jit ------------------------------------
# float32 products in full float32, as eagerjax and torch compute them by default: JAX's own
# default is TensorFloat32 on NVIDIA GPUs, which would compare unlike work there. (On CPU
# XLA computes float32 products in float32 either way.)
MATMUL_PRECISION = "highest"


def _jax_data(workload: str):
    import jax.numpy as jnp
    import numpy as np

    xn, yn = make_data(workload)
    if yn.dtype == np.int64:
        yn = yn.astype(np.int32)
    if xn.dtype == np.int64:
        xn = xn.astype(np.int32)
    return jnp.asarray(xn), jnp.asarray(yn)


def _hand(workload: str, jit: bool = True) -> Runner:
    import jax
    import jax.numpy as jnp
    import optax

    from .workloads import init_params

    loss = loss_fn(workload)
    tx = optax.adam(LR)
    params = {k: jnp.asarray(v) for k, v in init_params(workload).items()}
    box = [params, tx.init(params)]
    x, y = _jax_data(workload)

    def train(params, opt_state, x, y):
        with jax.default_matmul_precision(MATMUL_PRECISION):
            value, grads = jax.value_and_grad(loss)(params, x, y)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

    if jit:
        train = jax.jit(train, donate_argnums=(0, 1))

    def step():
        box[0], box[1], value = train(box[0], box[1], x, y)
        return value, box[0]

    r = Runner("hand" if jit else "naive", workload, step, jax.block_until_ready, lambda out: float(out[0]))
    if jit:
        r.program = lambda: train.lower(box[0], box[1], x, y).compile()
    return r


# -- Flax NNX ---------------------------------------------------------------------------------
def _nnx(workload: str) -> Runner:
    import jax
    import optax
    from flax import nnx

    from . import flax_models

    model, layout = flax_models.build(workload)
    optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)
    x, y = _jax_data(workload)
    x = layout(x)
    mse = workload == "tiny"

    @nnx.jit
    def train(model, optimizer, x, y):
        def lf(model):
            out = model(x)
            if mse:
                return ((out - y) ** 2).mean()
            return optax.softmax_cross_entropy_with_integer_labels(out.reshape(-1, out.shape[-1]), y.reshape(-1)).mean()

        with jax.default_matmul_precision(MATMUL_PRECISION):
            value, grads = nnx.value_and_grad(lf)(model)
            optimizer.update(model, grads)
            return value

    return Runner("nnx", workload, lambda: train(model, optimizer, x, y), jax.block_until_ready, float)


# -- PyTorch ----------------------------------------------------------------------------------
def _torch(workload: str, compiled: bool = False) -> Runner:
    if compiled and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        # A cold inductor cache of our own, so the first call is a real compile; removed at exit.
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = d = tempfile.mkdtemp(prefix="bench-inductor-")
        OWN_TMP.add(d)
        atexit.register(shutil.rmtree, d, True)
    import torch

    torch.set_num_threads(torch_threads())
    model = build_module(torch, workload)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xn, yn = make_data(workload)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    fwd = torch.compile(model) if compiled else model

    def step():
        opt.zero_grad()
        loss = torch_loss(torch, workload, fwd(x), y)
        loss.backward()
        opt.step()
        return loss

    r = Runner(
        "torch_compile" if compiled else "torch", workload, step, lambda _: None, lambda loss: float(loss.detach())
    )
    if compiled:
        r.notes.append("torch.compile(model) (inductor, default mode); backward via AOTAutograd; eager Adam")
    return r


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System("hand", "hand jax.jit", _hand),
        System("compiled", "ej compiled", lambda w: _eagerjax(w, "compiled"), needs="eagerjax"),
        System("lazy", "ej lazy", lambda w: _eagerjax(w, "lazy"), needs="eagerjax"),
        System("eager", "ej eager", lambda w: _eagerjax(w, "eager"), needs="eagerjax"),
        System("nnx", "flax nnx.jit", _nnx, needs="flax"),
        System("torch", "torch eager", _torch, needs="torch"),
        System("torch_compile", "torch.compile", lambda w: _torch(w, True), quick=False, needs="torch"),
        System("naive", "jax no-jit", lambda w: _hand(w, jit=False), quick=False),
    )
}


def available(system: System) -> str | None:
    """``None`` if the system's library imports, else the reason it does not."""
    try:
        __import__(system.needs)
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        return f"{system.needs} does not import: {type(e).__name__}: {e}"
    return None
