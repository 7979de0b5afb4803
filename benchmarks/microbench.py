"""Microbenchmarks: per-op dispatch, eager forward+backward, lazy recording cost.

1. dispatch — one op on a 4x4 float32 tensor, called in a loop: eagerjax eager vs
   the raw ``jax.numpy`` call vs PyTorch (µs per call; the jax loops block on the
   last result, so the figure is the sustained cost of issuing one op).
2. fwd+bwd — forward, loss and backward (no optimizer) of the tiny and mlp models:
   eagerjax eager vs PyTorch eager vs naive op-by-op JAX (``jax.value_and_grad``
   without ``jit``); every call timed on its own (blocking on the gradients), median.
   The model is an ``nn.Sequential`` (fused into one kernel in eager mode once hot);
   "unfused" calls the same layers one by one from a custom forward, as user code
   often does, for comparison.
3. lazy recording — µs spent recording one op in ``ej.lazy()`` (from
   ``ej.lazy_stats()`` deltas after warm-up), next to the whole lazy step.
4. per-sample gradients — ``func.vmap(func.grad(loss))`` over a batch, the loss calling
   the model through ``func.functional_call`` (the torch.func tutorial's recipe): eagerjax
   vs ``torch.func`` vs a hand-written ``jax.jit(jax.vmap(jax.grad(loss)))``; every call
   timed on its own (blocking on the gradients), median.

Measurements interleave the implementations round by round and report medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from .systems import SYSTEMS, _ej_value, _jax_data, torch_threads
from .workloads import build_module, init_params, loss_fn, make_data, torch_loss

OPS = ["a + b", "a.exp()", "a.sum()", "a @ b", "a * 2.0"]


def _interleaved(impls: dict[str, Callable[[], float]], reps: int, bar=None) -> dict[str, float]:
    """Run every impl ``reps`` times, round-robin; each call returns seconds per op. Median µs."""
    got: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(reps):
        for k, f in impls.items():
            got[k].append(f() * 1e6)
        if bar is not None:
            bar.update(1)
    return {k: statistics.median(v) for k, v in got.items()}


def _per_call(impls: dict[str, Callable[[], None]], counts: dict[str, int], reps: int, bar=None) -> dict:
    """Time each call on its own, ``counts[k]`` calls per impl per round; median µs over all rounds."""
    got: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(reps):
        for k, f in impls.items():
            for _ in range(counts[k]):
                t0 = time.perf_counter()
                f()
                got[k].append(time.perf_counter() - t0)
        if bar is not None:
            bar.update(1)
    return {k: statistics.median(v) * 1e6 for k, v in got.items()}


def _loop(fn, n: int, block) -> Callable[[], float]:
    def run():
        t0 = time.perf_counter()
        r = None
        for _ in range(n):
            r = fn()
        block(r)
        return (time.perf_counter() - t0) / n

    return run


def dispatch(quick: bool, have_torch: bool, bar=None) -> dict:
    import jax
    import jax.numpy as jnp

    import eagerjax as ej

    n, reps = (200, 3) if quick else (2000, 9)
    rng = np.random.default_rng(0)
    an, bn = rng.standard_normal((2, 4, 4)).astype(np.float32)
    a, b = ej.tensor(an), ej.tensor(bn)
    ja, jb = jnp.asarray(an), jnp.asarray(bn)
    ops = {
        "a + b": (lambda: a + b, lambda: ja + jb),
        "a.exp()": (lambda: a.exp(), lambda: jnp.exp(ja)),
        "a.sum()": (lambda: a.sum(), lambda: jnp.sum(ja)),
        "a @ b": (lambda: a @ b, lambda: ja @ jb),
        "a * 2.0": (lambda: a * 2.0, lambda: ja * 2.0),
    }
    if have_torch:
        import torch

        torch.set_num_threads(torch_threads())
        ta, tb = torch.from_numpy(an), torch.from_numpy(bn)
        tops = {"a + b": lambda: ta + tb, "a.exp()": lambda: ta.exp(), "a.sum()": lambda: ta.sum(),
                "a @ b": lambda: ta @ tb, "a * 2.0": lambda: ta * 2.0}  # fmt: skip
    out = {}
    for op, (fe, fj) in ops.items():
        impls = {
            "eagerjax": _loop(fe, n, lambda r: jax.block_until_ready(_ej_value(r))),
            "jnp": _loop(fj, n, jax.block_until_ready),
        }
        if have_torch:
            impls["torch"] = _loop(tops[op], n, lambda r: None)
        for f in impls.values():
            f()  # warm-up: compile the kernels
        res = _interleaved(impls, reps, bar)
        res["ej/jnp"] = res["eagerjax"] / res["jnp"]
        if have_torch:
            res["ej/torch"] = res["eagerjax"] / res["torch"]
        out[op] = res
    return out


def fwd_bwd(quick: bool, have_torch: bool, bar=None) -> dict:
    import jax

    import eagerjax as ej

    out = {}
    for name in ("tiny", "mlp"):
        xn, yn = make_data(name)
        model = build_module(ej, name)
        x, y = ej.tensor(xn), ej.tensor(yn)
        params = list(model.parameters())

        def ej_step(model=model, x=x, y=y, params=params, name=name):
            model.zero_grad(set_to_none=True)
            torch_loss(ej, name, model(x), y).backward()
            jax.block_until_ready([_ej_value(p.grad) for p in params])

        jp = {k: jax.numpy.asarray(v) for k, v in init_params(name).items()}
        jx, jy = _jax_data(name)
        vg = jax.value_and_grad(loss_fn(name))

        def naive(jp=jp, jx=jx, jy=jy, vg=vg):
            jax.block_until_ready(vg(jp, jx, jy))

        class ByHand(ej.nn.Module):
            """The same layers called one by one from a user's forward: no Sequential fusion."""

            def __init__(self, seq):
                super().__init__()
                self.layers = seq

            def forward(self, x):
                for m in self.layers:
                    x = m(x)
                return x

        by_hand = ByHand(model)

        def ej_unfused(by_hand=by_hand, x=x, y=y, params=params, name=name):
            by_hand.zero_grad(set_to_none=True)
            torch_loss(ej, name, by_hand(x), y).backward()
            jax.block_until_ready([_ej_value(p.grad) for p in params])

        impls = {"eagerjax": ej_step, "ej_unfused": ej_unfused, "naive_jax": naive}
        if have_torch:
            import torch

            tm = build_module(torch, name)
            tx, ty = torch.from_numpy(xn), torch.from_numpy(yn)

            def torch_step(tm=tm, tx=tx, ty=ty, name=name):
                tm.zero_grad(set_to_none=True)
                torch_loss(torch, name, tm(tx), ty).backward()

            impls["torch"] = torch_step
        n = {"tiny": 10 if quick else 100, "mlp": 3 if quick else 20}[name]
        reps = 3 if quick else 7
        if quick and name == "mlp":
            impls.pop("naive_jax")
        for f in impls.values():
            f()  # first call: compile kernels
        counts = {k: n if k != "naive_jax" else max(2, n // 10) for k in impls}
        res = _per_call(impls, counts, reps, bar)
        if have_torch:
            res["ej/torch"] = res["eagerjax"] / res["torch"]
            res["unfused/torch"] = res["ej_unfused"] / res["torch"]
        if "naive_jax" in res:
            res["naive/ej"] = res["naive_jax"] / res["eagerjax"]
        out[name] = res
    return out


def lazy_recording(quick: bool, bar=None) -> dict:
    import eagerjax as ej

    out = {}
    for name in ("tiny",) if quick else ("tiny", "mlp"):
        r = SYSTEMS["lazy"].build(name)
        n = 10 if quick else 200
        with ej.lazy():
            for _ in range(3):
                r.block(r.step())
            s0 = ej.lazy_stats()
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                r.block(r.step())
                times.append(time.perf_counter() - t0)
            s1 = ej.lazy_stats()
        step_us = statistics.median(times) * 1e6
        ops = s1["ops_recorded"] - s0["ops_recorded"]
        rec = s1["record_seconds"] - s0["record_seconds"]
        out[name] = {
            "us_per_recorded_op": rec / max(1, ops) * 1e6,
            "ops_per_step": ops / n,
            "record_us_per_step": rec / n * 1e6,
            "lazy_step_us": step_us,  # median
            "new_traces": s1["traces"] - s0["traces"],
        }
        if bar is not None:
            bar.update(1)
    return out


def per_sample_grads(quick: bool, have_torch: bool, bar=None) -> dict:
    import jax

    import eagerjax as ej

    out = {}
    for name in ("tiny",) if quick else ("tiny", "mlp"):
        xn, yn = make_data(name)
        model = build_module(ej, name)
        x, y = ej.tensor(xn), ej.tensor(yn)
        params = {k: v.detach() for k, v in model.named_parameters()}

        def ej_loss(p, xi, yi, model=model, name=name):
            return torch_loss(ej, name, ej.func.functional_call(model, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

        per = ej.func.vmap(ej.func.grad(ej_loss), in_dims=(None, 0, 0))

        def ej_run(per=per, params=params, x=x, y=y):
            jax.block_until_ready([_ej_value(g) for g in per(params, x, y).values()])

        jp = {k: jax.numpy.asarray(v) for k, v in init_params(name).items()}
        jx, jy = _jax_data(name)
        lf = loss_fn(name)
        hand = jax.jit(jax.vmap(jax.grad(lambda p, xi, yi, lf=lf: lf(p, xi[None], yi[None])), in_axes=(None, 0, 0)))

        def hand_run(hand=hand, jp=jp, jx=jx, jy=jy):
            jax.block_until_ready(hand(jp, jx, jy))

        impls = {"eagerjax": ej_run, "hand_jax": hand_run}
        if have_torch:
            import torch

            tm = build_module(torch, name)
            tp = {k: v.detach() for k, v in tm.named_parameters()}
            tx, ty = torch.from_numpy(xn), torch.from_numpy(yn)

            def t_loss(p, xi, yi, tm=tm, name=name):
                return torch_loss(torch, name, torch.func.functional_call(tm, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

            tper = torch.func.vmap(torch.func.grad(t_loss), in_dims=(None, 0, 0))
            impls["torch"] = lambda tper=tper, tp=tp, tx=tx, ty=ty: tper(tp, tx, ty)
        for f in impls.values():
            f()  # first call: compile
        n = {"tiny": 10 if quick else 50, "mlp": 5 if quick else 10}[name]
        res = _per_call(impls, dict.fromkeys(impls, n), 3 if quick else 7, bar)
        res["ej/hand"] = res["eagerjax"] / res["hand_jax"]
        if have_torch:
            res["ej/torch"] = res["eagerjax"] / res["torch"]
        out[name] = res
    return out


def bar_units(quick: bool) -> int:
    reps = 3 if quick else 9
    fb = 3 if quick else 7
    return len(OPS) * reps + 2 * fb + (1 if quick else 2) + (3 if quick else 14)


def run(quick: bool, have_torch: bool, bar=None) -> dict:
    return {
        "dispatch": dispatch(quick, have_torch, bar),
        "fwd_bwd": fwd_bwd(quick, have_torch, bar),
        "lazy_recording": lazy_recording(quick, bar),
        "per_sample_grads": per_sample_grads(quick, have_torch, bar),
    }
