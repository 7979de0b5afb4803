"""The op table, tested from the table: every row has cases (tests/op_cases.py), and
``check_op`` compares each against the raw jax function of its row and against
PyTorch (values, shapes, result dtypes, and gradients for float inputs)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from op_cases import CASES, DT, Case, R

import eagerjax as ej
from eagerjax._dispatch import dispatch
from eagerjax._ops import _indexing
from eagerjax._ops._registry import OPS

try:
    import torch
except ImportError:  # the torch comparisons are skipped, the jax ones still run
    torch = None

# --------------------------------------------------------------------------- framework adapters


def _tmap(f, x):
    if isinstance(x, (np.ndarray, DT)):
        return f(x)
    if isinstance(x, list):
        return [_tmap(f, y) for y in x]
    if isinstance(x, tuple):
        return tuple(_tmap(f, y) for y in x)
    if isinstance(x, dict):
        return {k: _tmap(f, v) for k, v in x.items()}
    return x


def _leaves(x, out):
    if isinstance(x, np.ndarray):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for y in x:
            _leaves(y, out)
    elif isinstance(x, dict):
        for v in x.values():
            _leaves(v, out)
    return out


def _replace(x, vals, grad_ids):
    """Rebuild ``x`` with the grad leaves (by id) replaced from ``vals`` in traversal order."""
    it = iter(vals)

    def f(a):
        return next(it) if isinstance(a, np.ndarray) and id(a) in grad_ids else a

    return _tmap(f, x)


def to_ej(a, grad_ids=()):
    if isinstance(a, DT):
        return getattr(ej, a.name)
    t = ej.tensor(a)
    if id(a) in grad_ids:
        t.requires_grad_(True)
    return t


def to_torch(a, grad_ids=()):
    if isinstance(a, DT):
        return getattr(torch, a.name)
    t = torch.from_numpy(np.array(a))
    if t.dtype in (torch.int32, torch.int16, torch.int8):
        t = t.long()
    if id(a) in grad_ids:
        t.requires_grad_(True)
    return t


def to_jax(a):
    if isinstance(a, DT):
        return np.dtype(a.name)
    return jnp.asarray(a)


def ej_callable(name: str):
    row = OPS.get(name)
    if row is not None and row.namespaces:  # ej.linalg.<name>, ej.special.<name>
        ns = getattr(ej, row.namespaces[0], None)
        short = name.removeprefix(row.namespaces[0] + "_")
        if ns is not None and hasattr(ns, short):
            return getattr(ns, short)
        return lambda *a, **k: dispatch(row, a, k)
    if hasattr(ej, name):
        return getattr(ej, name)
    if row is not None and row.method:
        return lambda self, *a, **k: getattr(self, name)(*a, **k)
    return lambda *a, **k: dispatch(row, a, k)


def torch_callable(name: str):
    if name.startswith("linalg_"):
        return getattr(torch.linalg, name[7:])
    if name.startswith("special_"):
        return getattr(torch.special, name[8:])
    if name.startswith("fft_"):
        return getattr(torch.fft, name[4:])
    for mod in (torch, torch.nn.functional, torch.special):
        if hasattr(mod, name):
            return getattr(mod, name)
    return lambda self, *a, **k: getattr(self, name)(*a, **k)


def _flat(o) -> list:
    if isinstance(o, (tuple, list)):
        return [z for y in o for z in _flat(y)]
    return [o]


def _np(o) -> np.ndarray:
    if isinstance(o, ej.Tensor):
        return np.asarray(o.detach())
    if torch is not None and isinstance(o, torch.Tensor):
        o = o.detach()
        m = {torch.int64: torch.int32, torch.float64: torch.float32, torch.complex128: torch.complex64}
        if o.dtype in m:
            o = o.to(m[o.dtype])
        return o.numpy(force=True)  # force: resolves conj/neg bits and torch's ZeroTensor gradients
    return np.asarray(o)


def _tol(dtype, case: Case):
    if dtype == np.float16:
        return 2e-2, 2e-2
    t = case.tol or 1e-5
    return max(t, 1e-4), t


def assert_same(got, want, case: Case, what: str, check_dtype: bool = True) -> None:
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        gn, wn = _np(g), _np(w)
        assert gn.shape == wn.shape, f"{what}[{k}]: shape {gn.shape} != {wn.shape}"
        if check_dtype:
            assert gn.dtype == wn.dtype, f"{what}[{k}]: dtype {gn.dtype} != {wn.dtype}"
        if not case.values:
            continue
        if gn.dtype.kind in "fc" or wn.dtype.kind in "fc":
            rtol, atol = _tol(gn.dtype if gn.dtype.kind in "fc" else wn.dtype, case)
            np.testing.assert_allclose(
                gn.astype(np.complex128 if gn.dtype.kind == "c" else np.float64),
                wn.astype(gn.dtype).astype(np.complex128 if gn.dtype.kind == "c" else np.float64),
                rtol=rtol,
                atol=atol,
                equal_nan=True,
                err_msg=f"{what}[{k}]",
            )
        else:
            np.testing.assert_array_equal(gn, wn.astype(gn.dtype), err_msg=f"{what}[{k}]")


def _post(case: Case, out):
    return case.post(list(out)) if case.post is not None else out


def _float_outs(out) -> list:
    return [o for o in _flat(out) if hasattr(o, "dtype") and np.dtype(_np_dtype(o)).kind == "f"]


def _np_dtype(o):
    if torch is not None and isinstance(o, torch.Tensor):
        return {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16"}.get(o.dtype, "int32")
    return o.dtype


# --------------------------------------------------------------------------- check_op


def check_op(
    name: str, args: list, kwargs: dict, case: Case | None = None, *, jax_ref: bool = True, grad: bool = True
) -> None:
    """Run op ``name`` on ``args``/``kwargs`` in eagerjax and compare with the raw jax row function and torch.

    Compared: shapes, result dtypes (against torch, int64/float64 mapped to int32/float32), values,
    and for float32 inputs of differentiable ops the gradients of a random cotangent. ``jax_ref`` and
    ``grad`` switch off the (compile-heavy) jax reference and gradient checks, which the table tests
    run on the first example of each case only.
    """
    case = case or Case(name, None)
    row = OPS.get(name)
    call = case.call or ej_callable(name)

    # eagerjax
    out = _post(case, call(*_tmap(to_ej, args), **_tmap(to_ej, kwargs)))

    # the method form gives the same result
    if (
        row is not None
        and row.method
        and row.function
        and case.call is None
        and args
        and isinstance(args[0], np.ndarray)
    ):
        ea = _tmap(to_ej, args)
        assert_same(_post(case, getattr(ea[0], name)(*ea[1:], **_tmap(to_ej, kwargs))), out, case, f"Tensor.{name}")

    # torch: values, shapes and result dtypes
    tout = None
    tfn = case.call or (torch_callable(name) if case.torch == "auto" else case.torch)
    if torch is not None and case.torch is not None:
        try:
            tout = _post(case, tfn(*_tmap(to_torch, args), **_tmap(to_torch, kwargs)))
        except (RuntimeError, NotImplementedError) as e:
            if "not implemented for" not in str(e):
                raise
            tout = None  # torch's CPU backend lacks this dtype (e.g. Half); the jax comparison stands
        if tout is not None:
            assert_same(out, tout, case, f"{name} vs torch")

    # eagerjax gradients of sum(out * ct) for float32 inputs
    leaves = _leaves([args, kwargs], [])
    differentiable = row.differentiable if row is not None else name in ("masked_select",)
    gids: set = set()
    if grad and case.grad and differentiable and not any(a.dtype == np.float16 for a in leaves):
        gids = {id(a) for a in leaves if a.dtype == np.float32}
    cts = egrads = None
    if gids:
        ea, ek = _tmap(lambda a: to_ej(a, gids), args), _tmap(lambda a: to_ej(a, gids), kwargs)
        eleaves = [t for t in _leaves_ej([ea, ek]) if t.requires_grad]
        eout = [o for o in _float_outs(_post(case, call(*ea, **ek))) if o.requires_grad]
        if eout:
            rng = np.random.default_rng(0)
            cts = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in eout]
            ej.autograd.backward(eout, [ej.tensor(c) for c in cts])
            egrads = [t.grad if t.grad is not None else ej.zeros_like(t) for t in eleaves]

    # the raw jax function: outputs and (with cotangents) its vjp, in one jitted call
    if jax_ref and case.jax_ref and (row is not None or case.call is not None):
        fn = case.jax_call or case.call or row.fn
        ref, jgrads = _jax_reference(
            case, fn, args, kwargs, leaves, gids, cts, eager=row is not None and row.eager_only
        )
        assert_same(out, ref, case, f"{name} vs jax", check_dtype=torch is None)
        if jgrads is not None:
            assert_same(egrads, jgrads, case, f"d{name} vs jax", check_dtype=False)

    # torch gradients
    if cts is not None and tout is not None and case.grad_torch:
        ta, tk = _tmap(lambda a: to_torch(a, gids), args), _tmap(lambda a: to_torch(a, gids), kwargs)
        tleaves = [t for t in _leaves_torch([ta, tk]) if t.requires_grad]
        touts = [o for o in _flat(_post(case, tfn(*ta, **tk))) if isinstance(o, torch.Tensor) and o.is_floating_point()]
        if len(touts) != len(cts) or not all(o.requires_grad for o in touts):
            return
        try:
            torch.autograd.backward(touts, [torch.from_numpy(c).to(o.dtype) for c, o in zip(cts, touts)])
        except RuntimeError as e:
            if "not implemented" in str(e):
                return  # torch has no derivative here (floor_divide); jax's is checked above
            raise
        tgrads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in tleaves]
        assert_same(egrads, tgrads, case, f"d{name} vs torch", check_dtype=False)


def _jax_reference(case, fn, args, kwargs, leaves, gids, cts, eager=False):
    """(outputs, input gradients or None) of the raw jax ``fn``; jitted unless values decide shapes."""
    gpos = [k for k, a in enumerate(leaves) if id(a) in gids]

    def run(vals):
        it = iter(vals)
        a, k = _tmap(lambda x: next(it) if isinstance(x, np.ndarray) else to_jax(x), [args, kwargs])
        return _post(case, fn(*a, **k))

    def both(vals, cts):
        out = run(vals)
        if cts is None:
            return out, None

        def f(*gv):
            v = list(vals)
            for p, g in zip(gpos, gv):
                v[p] = g
            return [x for x in _flat(run(v)) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)]

        fo, vjp = jax.vjp(f, *[vals[p] for p in gpos])
        if len(fo) != len(cts):
            return out, None
        return out, list(vjp(list(cts)))

    vals = [jnp.asarray(a) for a in leaves]
    jc = None if cts is None else [jnp.asarray(c) for c in cts]
    if not eager:
        try:
            return jax.jit(both)(vals, jc)
        except Exception:  # noqa: BLE001 - value-dependent shapes (boolean masks): run it eagerly below
            pass
    return both(vals, jc)


def _leaves_ej(x, out=None):
    out = [] if out is None else out
    if isinstance(x, ej.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for y in x:
            _leaves_ej(y, out)
    elif isinstance(x, dict):
        for v in x.values():
            _leaves_ej(v, out)
    return out


def _leaves_torch(x, out=None):
    out = [] if out is None else out
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for y in x:
            _leaves_torch(y, out)
    elif isinstance(x, dict):
        for v in x.values():
            _leaves_torch(v, out)
    return out


# --------------------------------------------------------------------------- the table-driven tests
_seen: dict = {}
_IDS = []
for _c in CASES:
    _seen[_c.name] = _seen.get(_c.name, 0) + 1
    _IDS.append(_c.name if _seen[_c.name] == 1 else f"{_c.name}#{_seen[_c.name]}")


# Every example compiles kernels, so the defaults keep this file near a minute of CPU; set
# EAGERJAX_OP_EXAMPLES (e.g. 12) for a deeper run. Gradients (a compiled backward each) and the
# jax reference run on the first examples of a case only.
MAX_EXAMPLES = int(os.environ.get("EAGERJAX_OP_EXAMPLES", "3"))
GRAD_EXAMPLES = 1 if MAX_EXAMPLES <= 3 else 3


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_op(case: Case) -> None:
    n_ex = min(case.examples, MAX_EXAMPLES) if MAX_EXAMPLES <= 3 else max(1, case.examples * MAX_EXAMPLES // 3)

    @settings(
        max_examples=n_ex,
        deadline=None,
        database=None,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data):
        n = seen.append(None) or len(seen)
        args, kwargs = case.gen(R(data.draw))
        check_op(case.name, args, kwargs, case, jax_ref=n == 1, grad=n <= GRAD_EXAMPLES)

    seen: list = []
    run()


def test_every_row_has_a_case() -> None:
    """Adding an op to the table without a test case fails here."""
    have = {c.name for c in CASES}
    required = {n for n in OPS if not n.startswith("_")} | {"_getitem", "_setitem", "_cast", "_fill", "_copy"}
    required |= set(_indexing.PUBLIC)
    missing = sorted(required - have)
    assert not missing, f"op-table rows without a case in tests/op_cases.py: {missing}"


def test_op_count() -> None:
    public = {n for n, r in OPS.items() if r.function or r.method or r.namespaces} | set(_indexing.PUBLIC)
    assert len(public) >= 150, len(public)


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_forms_exist_in_torch() -> None:
    """Every generated function/method is one torch has (extras only for nn.functional-style rows)."""
    bad = []
    for n, r in OPS.items():
        if n.startswith("_"):
            continue
        if r.method and not hasattr(torch.Tensor, n):
            bad.append(f"Tensor.{n}")
        if r.function and not any(hasattr(m, n) for m in (torch, torch.nn.functional)):
            bad.append(f"torch.{n}")
        for ns in r.namespaces:
            if not hasattr(getattr(torch, ns), n.removeprefix(ns + "_")):
                bad.append(f"torch.{ns}.{n}")
    assert not bad, bad
