"""Run one random op program in every mode and compare (``eagerjax.testing.assert_program_equivalent``)."""

from __future__ import annotations

import numpy as np

from ._fuzz_programs import Program

MODES = ("reference", "compiled", "lazy", "torch")
_TORCH_MAP = {"int64": "int32", "float64": "float32", "complex128": "complex64"}


def tolerance(dtype) -> float:
    """Relative-to-scale tolerance of a program result of ``dtype`` (chains of ops accumulate rounding)."""
    return {"float16": 2e-2, "bfloat16": 5e-2}.get(np.dtype(dtype).name, 1e-4)


def _np(x):
    if hasattr(x, "detach") and type(x).__module__.startswith("torch"):
        x = x.detach()
        name = str(x.dtype).replace("torch.", "")
        if name in _TORCH_MAP:
            x = x.to(getattr(__import__("torch"), _TORCH_MAP[name]))
        return x.numpy(force=True)
    if hasattr(x, "_concrete"):
        return np.asarray(x._concrete("eagerjax.testing"))
    return np.asarray(x)


def close(got, want, what: str, rtol: float | None = None, dtype=True) -> None:
    """``got`` matches ``want``: shape, dtype (``dtype=True``), values within ``rtol`` of the larger
    of 1 and ``max|want|`` (floats; NaNs must match), exactly otherwise."""
    g, w = _np(got), _np(want)
    if g.shape != w.shape:
        raise AssertionError(f"{what}: shape {g.shape} != {w.shape}")
    if dtype and g.dtype != w.dtype:
        raise AssertionError(f"{what}: dtype {g.dtype} != {w.dtype}")
    if g.dtype.kind in "fc" or w.dtype.kind in "fc":
        t = (
            rtol
            if rtol is not None
            else max(
                tolerance(g.dtype if g.dtype.kind == "f" else w.dtype),
                tolerance(w.dtype if w.dtype.kind == "f" else g.dtype),
            )
        )
        w64 = w.astype(np.float64)
        scale = max(1.0, float(np.nanmax(np.abs(w64), initial=0.0)) if np.isfinite(w64).any() else 1.0)
        np.testing.assert_allclose(g.astype(np.float64), w64, rtol=t, atol=t * scale, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(g, w.astype(g.dtype), err_msg=what)


def _snap(outs, grads):
    return [(_np(o), getattr(o, "requires_grad", False)) for o in outs], [_np(g) for g in grads]


def run_modes(prog: Program, modes=MODES, grads: bool = True) -> dict:
    """``{mode: (outputs, grads)}`` for eager and each of ``modes`` (numpy results)."""
    import eagerjax as ej

    step = prog.step_fn("grad" if grads else "none")
    res = {"eager": _snap(*step(*prog.tensors()))}
    for mode in modes:
        if mode == "reference":
            o, g = prog.reference(grads=grads)
            res[mode] = _snap(o, g)
        elif mode == "compiled":
            c = ej.compile(step)
            first = _snap(*c(*prog.tensors()))
            again = _snap(*c(*prog.tensors()))  # a cache hit: same program, same results
            traces = c.stats()["traces"]
            if traces != 1:
                raise AssertionError(f"compiled: {traces} traces for one input structure: {c.stats()['recompiles']}")
            res[mode] = first
            res["compiled-again"] = again
        elif mode == "lazy":
            with ej.lazy():
                o, g = step(*prog.tensors())
            res[mode] = _snap(o, g)
        elif mode == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                continue
            o, g, flags = prog.torch(grads=grads)
            res[mode] = ([(_np(x), f) for x, f in zip(o, flags)], None if g is None else [_np(x) for x in g])
    return res


def check_program(
    prog: Program, modes=MODES, grads: bool = True, rtol: float | None = None, torch_grads: bool = True
) -> dict:
    """Assert eager agrees with every mode in ``modes`` on outputs (values, dtypes; ``requires_grad``
    against torch) and gradients. Raises AssertionError whose message holds the program."""
    try:
        res = run_modes(prog, modes, grads)
        eo, eg = res["eager"]
        quirk = "torch-grad-quirk" in prog.notes
        kink = "torch-kink" in prog.notes or "torch-inplace" in prog.notes
        for mode, (o, g) in res.items():
            if mode == "eager":
                continue
            for k, ((gv, gf), (ev, ef)) in enumerate(zip(o, eo)):
                otol = rtol
                if f"lowp:{prog.outputs[k]}" in prog.notes:
                    # computed from a float16 value that implementations may round 1 ulp apart
                    otol = max(rtol or 0.0, tolerance("float16"))
                close(gv, ev, f"{mode} vs eager: output {k} ({prog.outputs[k]})", otol)
                if mode == "torch" and gf != ef and not quirk:
                    raise AssertionError(
                        f"torch vs eager: output {k} ({prog.outputs[k]}) requires_grad {gf} (torch) != {ef} (eagerjax)"
                    )
            if g is None or not grads or (mode == "torch" and (not torch_grads or quirk or kink)):
                continue
            gtol = rtol
            if "float16" in prog.notes:
                # a float32 gradient that flowed through float16 ops carries float16 rounding, which
                # differs by an ulp between torch (float16 backward formulas) and XLA (eager's fused
                # backward program vs the op-by-op reference: thorough run, 1 ulp of 0.2172 in float16)
                gtol = max(rtol or 0.0, tolerance("float16"))
            for name, gv, ev in zip(prog.grad_inputs, g, eg):
                close(gv, ev, f"{mode} vs eager: grad of {name}", gtol, dtype=mode != "torch")
    except AssertionError as e:
        raise AssertionError(f"{e}\n\n{prog.source()}") from None
    except Exception as e:  # noqa: BLE001 - any crash is a finding; show the program with it
        raise type(e)(f"{e}\n\n{prog.source()}") from e
    return res
