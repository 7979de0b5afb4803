"""Helpers shared by the nested-tensor tests: results as plain data for comparing with torch,
and one differentiated step run eagerly, under ``ej.compile`` and in ``ej.lazy()``."""

from __future__ import annotations

import re

import numpy as np

import eagerjax as ej

_DTYPES = {"int64": "int32", "float64": "float32"}  # (eagerjax without x64: README)


def dt_name(d) -> str:
    """A dtype's name as eagerjax would have it (torch's 64-bit ones narrowed)."""
    n = str(d).replace("torch.", "")
    return _DTYPES.get(n, n)


def to_np(t):
    return np.asarray(t.detach().numpy())


def describe(r):
    """A result of torch or eagerjax as plain data (nested int names dropped: torch numbers
    them globally)."""
    if isinstance(r, (tuple, list)):
        return [describe(x) for x in r]
    if getattr(r, "is_nested", False):
        jag = r.layout is ej.jagged or str(r.layout) == "torch.jagged"
        shape = re.sub(r"j\d+", "j", str(tuple(r.shape))) if jag else None
        return (
            "nested",
            shape,
            dt_name(r.dtype),
            [np.round(to_np(t).astype(np.float64), 5).tolist() for t in r.unbind()],
        )
    if hasattr(r, "detach") and hasattr(r, "shape"):
        return ("dense", tuple(r.shape), dt_name(r.dtype), np.round(to_np(r).astype(np.float64), 5).tolist())
    if type(r).__name__ == "Size":
        return re.sub(r"j\d+", "j", str(tuple(r)))
    return r


def no_shape(d):
    """``describe``'s data without nested shapes (the strided layout's have no ``j``)."""
    if isinstance(d, list):
        return [no_shape(x) for x in d]
    return (d[0], *d[2:]) if isinstance(d, tuple) and d and d[0] == "nested" else d


def check_step_in_modes(step, inputs, ref, mode: str) -> None:
    """Run ``step(*tensors)`` (it calls ``backward()`` and returns one tensor) on leaf tensors
    made from the numpy ``inputs``, eagerly, compiled or lazily (``mode``), and compare its
    output and the inputs' gradients with ``ref``."""
    ts = [ej.tensor(v, requires_grad=True) for v in inputs]
    if mode == "compile":
        out = ej.compile(step)(*ts)
    elif mode == "lazy":
        with ej.lazy():
            out = step(*ts)
            got = [to_np(t) for t in (out, *[t.grad for t in ts])]
    else:
        out = step(*ts)
    if mode != "lazy":
        got = [to_np(t) for t in (out, *[t.grad for t in ts])]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def assert_matches_torch(outcome, case: str, layout: str) -> None:
    """``outcome(lib, case, layout)`` (a ``describe``d result, or ``(exception type, message)``)
    of eagerjax against torch's. The strided layout accepts what the jagged one does (README):
    where torch's strided kernel refuses, eagerjax's values (or refusal) are torch's jagged ones."""
    import torch

    got, want = outcome(ej, case, layout), outcome(torch, case, layout)
    if not (isinstance(want, tuple) and isinstance(want[0], type)):
        assert got == want
        return
    if layout == "strided" and not (isinstance(got, tuple) and isinstance(got[0], type)):
        assert no_shape(got) == no_shape(outcome(torch, case, "jagged")), (got, want)
        return
    assert isinstance(got, tuple) and isinstance(got[0], type), (got, want)
    if layout == "strided" and not (got[0] is want[0] and want[1].startswith(got[1])):
        # (torch's strided layout refused an earlier step that eagerjax accepts: jagged's refusal)
        jagged_want = outcome(torch, case, "jagged")
        assert got[0] is jagged_want[0], (got, want, jagged_want)
        return
    assert got[0] is want[0], (got, want)
    # (torch's strided messages go on about backends after the part eagerjax gives)
    assert got[1] and (want[1].startswith(got[1]) or got[1] in want[1]), (got, want)
