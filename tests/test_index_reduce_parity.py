"""Indexing and reductions against torch 2.13, eagerly, inside ``ej.compile`` and under ``ej.lazy()``:

- a Python list index holding a tensor, a sequence, a slice, ``...`` or ``None`` (fewer than 32
  items) is a tuple of indices (``x[[rows, cols]]`` is ``x[rows, cols]``, with torch's
  deprecation warning), for reads and writes; a list of plain ints (or of 32+ items) stays one
  index array;
- float16/bfloat16 ``cumsum``/``cumprod``/``logcumsumexp`` accumulate in float32 and round
  each output; ``sum``/``mean``/``nansum`` round once; ``prod`` multiplies in the half type;
  ``dtype=`` converts the input first;
- ``unique`` keeps every NaN apart (values, inverse, counts), ``unique_consecutive`` too;
- torch's errors for ``argmax``/``argmin`` of bool and ``std``/``var`` of integers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(13)
MODES = ("eager", "compiled", "lazy")
NAN = float("nan")


def _np(t):
    a = t.detach().float().numpy() if hasattr(t, "detach") and t.dtype == torch.bfloat16 else t
    if hasattr(a, "detach"):
        a = a.detach().numpy()
    return np.asarray(a)


def _ej_np(t):
    a = np.asarray(t.detach().numpy())
    return a.astype(np.float32) if a.dtype.name == "bfloat16" else a


def _run(mode, step):
    """``step()`` in one mode; its results (a tuple) as NumPy arrays."""
    if mode == "compiled":
        out = ej.compile(step)()
    elif mode == "lazy":
        with ej.lazy():
            out = step()
            return [_ej_np(o) for o in out]
    else:
        out = step()
    return [_ej_np(o) for o in out]


# --------------------------------------------------------------------------- list index = tuple
X = RNG.standard_normal((4, 5)).astype(np.float32)
ROWS, COLS = np.array([0, 2, 3]), np.array([1, 4, 0])

# each case: idx(m, rows, cols) -> the index; whether torch treats the list as a tuple
LIST_CASES = {
    "tensors": (lambda m, r, c: [r, c], True),
    "one_tensor": (lambda m, r, c: [r], True),
    "lists": (lambda m, r, c: [[0, 2, 3], [1, 4, 0]], True),
    "tuples": (lambda m, r, c: [(0, 2), (1, 4)], True),
    "int_slice": (lambda m, r, c: [1, slice(None)], True),
    "slice_list": (lambda m, r, c: [slice(None), [1, 2]], True),
    "none_int": (lambda m, r, c: [None, 0], True),
    "ellipsis_int": (lambda m, r, c: [..., 3], True),
    "tensor_slice": (lambda m, r, c: [r, slice(1, 4)], True),
    "zero_d_tensor": (lambda m, r, c: [m.tensor(2), 3], True),
    "mask_int": (lambda m, r, c: [m.tensor([True, False, True, False]), 1], True),
    "bool_list_int": (lambda m, r, c: [[True, False, True, True], 2], True),
    "ndarray_int": (lambda m, r, c: [np.array([3, 0]), 1], True),
    "many_nones": (lambda m, r, c: [None] * 30 + [1], True),
    "ints": (lambda m, r, c: [0, 2, 3], False),
    "bools": (lambda m, r, c: [True, False, True, False], False),
    "ints_and_bool": (lambda m, r, c: [1, True], False),
    "np_ints": (lambda m, r, c: [np.int64(3), 1], False),
    "range": (lambda m, r, c: range(1, 3), False),
    "32_ints": (lambda m, r, c: [i % 4 for i in range(32)], False),
}


def _torch_index(fn, write):
    rng = np.random.default_rng(1)
    x = torch.tensor(X, requires_grad=True)
    r, c = torch.tensor(ROWS), torch.tensor(COLS)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if write:
            shape = x.detach()[fn(torch, r, c)].shape
            v = torch.tensor(rng.standard_normal(tuple(shape)).astype(np.float32), requires_grad=True)
            y = x * 1
            y[fn(torch, r, c)] = v
            ins = (x, v)
        else:
            y = x[fn(torch, r, c)]
            ins = (x,)
    w = torch.tensor(rng.standard_normal(tuple(y.shape)).astype(np.float32))
    grads = torch.autograd.grad((y * w).sum(), ins)
    warned = any("non-tuple sequence" in str(i.message) for i in rec)
    return y.detach().numpy(), [g.numpy() for g in grads], w.numpy(), (v.detach().numpy() if write else None), warned


def _ej_index(fn, write, mode, w, v):
    x = ej.tensor(X, requires_grad=True)
    r, c = ej.tensor(ROWS), ej.tensor(COLS)
    wt = ej.tensor(w)
    vt = ej.tensor(v, requires_grad=True) if write else None

    def step():
        if write:
            y = x * 1
            y[fn(ej, r, c)] = vt
        else:
            y = x[fn(ej, r, c)]
        (y * wt).sum().backward()
        return (y, x.grad) + ((vt.grad,) if write else ())

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = _run(mode, step)
    return out, any("non-tuple sequence" in str(i.message) for i in rec)


@pytest.mark.parametrize("write", [False, True], ids=["get", "set"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(LIST_CASES))
def test_list_index_follows_torchs_tuple_rule(name, mode, write):
    fn, as_tuple = LIST_CASES[name]
    want, want_g, w, v, torch_warned = _torch_index(fn, write)
    if name == "mask_int" and mode == "compiled":
        # a boolean mask *tensor*'s result shape depends on its values: no XLA program, and
        # ej.compile says so (README: value-dependent shapes)
        with pytest.raises(ej.CaptureError, match="with a boolean mask inside a compiled step"):
            _ej_index(fn, write, mode, w, v)
        return
    assert torch_warned == as_tuple  # the case is what it claims to be
    (got, *got_g), warned = _ej_index(fn, write, mode, w, v)
    np.testing.assert_array_equal(got, want)
    assert len(got_g) == len(want_g)
    for g, t in zip(got_g, want_g):
        np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-6)
    if mode == "eager":
        assert warned == torch_warned


def test_list_of_index_tensors_is_the_tuple_index():
    x = ej.tensor(X)
    r, c = ej.tensor(ROWS), ej.tensor(COLS)
    with pytest.warns(UserWarning, match=r"use x\[tuple\(seq\)\] instead of x\[seq\]"):
        got = x[[r, c]]
    np.testing.assert_array_equal(got.numpy(), X[ROWS, COLS])
    # inside a compiled step the list reads no value on the host (a host read would raise)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ej.compile(lambda x, r, c: x[[r, c]] * 2)(x, r, c)
    np.testing.assert_array_equal(out.numpy(), X[ROWS, COLS] * 2)


def test_list_index_errors_like_torch():
    for m in (torch, ej):
        x = m.zeros(4, 5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
                x[[[0, 1]] * 3]


# --------------------------------------------------------------------------- half-precision accumulation
HALF = ("float16", "bfloat16")
# name: (fn, n, values bit for bit?, gradients like torch's?). Scans whose outputs round a float32
# running value may differ from torch by one half ulp (float32 summation order); prod multiplies in
# the half type like torch, whose vectorized order is matched only for short inputs; torch's
# cumprod/logcumsumexp backward runs in the half type, eagerjax's in float32 (closer to exact).
SCANS = {
    "cumsum": (lambda m, x: x.cumsum(0), 1000, True, True),
    "cumsum_fn_dim1": (lambda m, x: m.cumsum(x.reshape(10, -1), 1), 1000, True, True),
    "cumprod": (lambda m, x: (1 + x / 64).cumprod(0), 1000, False, False),
    "logcumsumexp": (lambda m, x: x.logcumsumexp(0), 1000, False, False),
    "sum": (lambda m, x: x.sum(), 1000, True, True),
    "sum_dim": (lambda m, x: x.reshape(10, -1).sum(1), 1000, True, True),
    "nansum": (lambda m, x: x.nansum(), 1000, True, True),
    "mean": (lambda m, x: x.mean(), 1000, True, True),
    "mean_dim": (lambda m, x: x.reshape(10, -1).mean(0), 1000, True, True),
    "prod": (lambda m, x: (1 + x / 8).prod(), 16, True, False),
    "prod_dim": (lambda m, x: (1 + x / 8).reshape(2, -1).prod(1), 16, True, False),
}


def _ulps(got, want, dt):
    """Distance in units of the half type's last place (at the smaller magnitude of the two)."""
    eps = 2.0**-10 if dt == "float16" else 2.0**-7
    scale = np.maximum(np.minimum(np.abs(want.astype(np.float64)), np.abs(got.astype(np.float64))), 2.0**-14)
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / (eps * 2.0 ** np.floor(np.log2(scale)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("name", sorted(SCANS))
def test_half_reductions_match_torch(name, dt, mode):
    fn, n, exact, like_torch = SCANS[name]
    rng = np.random.default_rng(3)
    v = (rng.standard_normal(n) * 0.5 + 0.25).astype(np.float32)
    t = torch.tensor(v).to(getattr(torch, dt)).requires_grad_()
    want = fn(torch, t)
    wv = rng.standard_normal(tuple(want.shape)).astype(np.float32)
    (want_g,) = torch.autograd.grad((want.float() * torch.tensor(wv)).sum(), [t])
    t64 = t.detach().double().requires_grad_()
    (exact_g,) = torch.autograd.grad((fn(torch, t64) * torch.tensor(wv, dtype=torch.float64)).sum(), [t64])
    x = ej.tensor(v).to(getattr(ej, dt)).detach().requires_grad_()
    wt = ej.tensor(wv)

    def step():
        y = fn(ej, x)
        (y.float() * wt).sum().backward()
        return y, x.grad

    got, got_g = _run(mode, step)
    if exact:
        np.testing.assert_array_equal(got, _np(want))
    else:
        assert _ulps(got, _np(want), dt).max() <= 1
    if like_torch:
        np.testing.assert_allclose(got_g, _np(want_g), rtol=1e-2, atol=1e-3)
    else:  # at least as close to the exact gradient as torch's
        err = np.abs(got_g.astype(np.float64) - exact_g.numpy()).max()
        assert err <= 1.01 * np.abs(_np(want_g).astype(np.float64) - exact_g.numpy()).max() + 1e-3


@pytest.mark.parametrize("dt", HALF)
def test_long_half_cumsum_does_not_drift(dt):
    """A float32 running sum rounded at each output, as torch's; XLA's scan adds in another order
    than torch's sequential loop (whose float32 error grows over 100000 terms), so the two agree to
    a few half ulps and eagerjax stays at least as close to the exact sums."""
    v = np.full(100000, 0.1, np.float32)
    t = _np(torch.tensor(v).to(getattr(torch, dt)).cumsum(0)).astype(np.float64)
    exact = np.cumsum(np.full(v.shape, float(_np(torch.tensor(v[:1]).to(getattr(torch, dt)))[0])))
    for mode in MODES:

        def step():
            return (ej.tensor(v).to(getattr(ej, dt)).cumsum(0),)

        (got,) = _run(mode, step)
        got = got.astype(np.float64)
        assert _ulps(got, t, dt).max() <= 3
        # (a float16/bfloat16 running sum strays three times further than torch's)
        assert np.abs(got - exact).max() <= np.abs(t - exact).max()


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("op", ["sum", "nansum", "prod", "cumsum", "cumprod", "mean"])
def test_dtype_argument_converts_the_input_first(op, dt):
    rng = np.random.default_rng(5)
    v = (rng.standard_normal(200) * 3.001).astype(np.float32)
    if op in ("prod", "cumprod"):
        v = 1 + v[:16] / 100
    call = {
        "sum": lambda m, x, d: x.sum(dtype=d),
        "nansum": lambda m, x, d: x.nansum(dtype=d),
        "prod": lambda m, x, d: x.prod(dtype=d),
        "cumsum": lambda m, x, d: x.cumsum(0, dtype=d),
        "cumprod": lambda m, x, d: x.cumprod(0, dtype=d),
        "mean": lambda m, x, d: x.mean(dtype=d),
    }[op]
    want = _np(call(torch, torch.tensor(v), getattr(torch, dt)))
    for mode in MODES:
        (got,) = _run(mode, lambda: (call(ej, ej.tensor(v), getattr(ej, dt)),))
        np.testing.assert_array_equal(got, want)


def test_integer_sum_and_prod_dtypes():
    x = ej.tensor([1, 2, 3], dtype=ej.int8)
    assert x.sum(dtype=ej.int16).dtype == ej.int16
    assert x.prod(dtype=ej.int32).dtype == ej.int32
    assert ej.tensor([True, True]).sum().item() == 2


# --------------------------------------------------------------------------- unique and NaN
UNIQUE_CASES = {
    "flat": (np.array([NAN, 1.0, NAN, 1.0, 3.0, NAN, 0.5], np.float32), {}),
    "unsorted": (np.array([NAN, 1.0, NAN, 1.0, 3.0, NAN, 0.5], np.float32), {"sorted": False}),
    "inf_and_zeros": (np.array([np.inf, NAN, -0.0, -np.inf, NAN, 0.0, np.inf], np.float32), {}),
    "2d_no_dim": (np.array([[NAN, 1.0], [NAN, 1.0]], np.float32), {}),
    "all_nan": (np.full(4, NAN, np.float32), {}),
    "ints": (np.array([3, 1, 3, 2, 1]), {}),
    # slices holding NaN differ from every slice; here torch's order is the lexicographic one
    "dim0": (np.array([[1.0, NAN], [0.0, 2.0], [1.0, NAN], [0.0, 2.0], [3.0, 1.0]], np.float32), {"dim": 0}),
    "dim1": (np.array([[1.0, NAN], [0.0, 2.0], [1.0, NAN], [0.0, 2.0], [3.0, 1.0]], np.float32).T, {"dim": 1}),
    "dim0_no_nan": (np.array([[2, 1], [0, 5], [2, 1], [0, 4]]), {"dim": 0}),
}


@pytest.mark.parametrize("mode", ["eager", "lazy"])
@pytest.mark.parametrize("name", sorted(UNIQUE_CASES))
def test_unique_keeps_every_nan(name, mode):
    a, kw = UNIQUE_CASES[name]
    want = [o.numpy() for o in torch.unique(torch.tensor(a), return_inverse=True, return_counts=True, **kw)]
    got = _run(mode, lambda: ej.unique(ej.tensor(a) * 1, return_inverse=True, return_counts=True, **kw))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # the one-output and Tensor-method forms agree
    np.testing.assert_array_equal(ej.tensor(a).unique(**kw).numpy(), want[0])


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_unique_consecutive_keeps_every_nan(mode):
    a = np.array([NAN, NAN, 1.0, 1.0, NAN, 2.0, 2.0], np.float32)
    b = np.array([[NAN, 1.0], [NAN, 1.0], [0.0, 1.0], [0.0, 1.0]], np.float32)
    for arr, kw in ((a, {}), (b, {"dim": 0}), (b.T.copy(), {"dim": 1})):
        want = torch.unique_consecutive(torch.tensor(arr), return_inverse=True, return_counts=True, **kw)
        got = _run(mode, lambda: ej.unique_consecutive(ej.tensor(arr), return_inverse=True, return_counts=True, **kw))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w.numpy())


def test_unique_nan_slices_are_all_kept_whatever_their_order():
    """With a NaN in a leading column torch's slice order is its sort's artifact (documented);
    the set of slices, their counts and the inverse mapping still agree."""
    a = np.array([[NAN, 1.0], [0.0, 2.0], [NAN, 1.0], [0.0, 2.0], [1.0, NAN]], np.float32)
    u, inv, cnt = ej.unique(ej.tensor(a), dim=0, return_inverse=True, return_counts=True)
    u, inv, cnt = u.numpy(), inv.numpy(), cnt.numpy()
    assert u.shape == (4, 2) and sorted(cnt.tolist()) == [1, 1, 1, 2]
    np.testing.assert_array_equal(u[inv], a)  # each input row maps to a row equal to it (NaN placed alike)


def test_unique_errors_like_torch():
    for m in (torch, ej):
        with pytest.raises(NotImplementedError, match="\"unique\" not implemented for 'ComplexFloat'"):
            m.unique(m.tensor([1j, 2j]))
        with pytest.raises(RuntimeError, match="There are 0 sized dimensions"):
            m.unique(m.zeros(3, 0), dim=0)
        u = m.unique(m.zeros(0, 2), dim=0)
        assert tuple(u.shape) == (0, 2)


# --------------------------------------------------------------------------- errors
def _raises(mode, fn, exc, match):
    with pytest.raises(exc, match=match):
        if mode == "compiled":
            ej.compile(fn)()
        elif mode == "lazy":
            with ej.lazy():
                fn().numpy()
        else:
            fn()


@pytest.mark.parametrize("mode", MODES)
def test_argmax_argmin_of_bool_raise_like_torch(mode):
    b = [[False, True], [True, False]]
    for name in ("argmax", "argmin"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
            msg = f"{name}\\(\\): does not support bool input"
            with pytest.raises(RuntimeError, match=msg):
                getattr(torch.tensor(b), name)(**kw)
            _raises(mode, lambda name=name, kw=kw: getattr(ej.tensor(b), name)(**kw), RuntimeError, msg)
    # other dtypes still work (max of bool too, as in torch)
    assert ej.tensor([1, 3, 2]).argmax().item() == 1
    assert ej.tensor([False, True]).max().item() is True


@pytest.mark.parametrize("mode", MODES)
def test_std_var_of_integers_raise_like_torch(mode):
    calls = {
        "std and var": [lambda m, x: x.std(), lambda m, x: x.var(1), lambda m, x: m.var(x, correction=0)],
        "var_mean": [lambda m, x: m.var_mean(x)],
        "std_mean": [lambda m, x: m.std_mean(x, 1)],
    }
    for what, fns in calls.items():
        msg = f"{what} only support floating point and complex dtypes"
        for fn in fns:
            for data in ([[1, 2], [3, 5]], [[True, False], [True, True]]):
                with pytest.raises(RuntimeError, match=msg):
                    fn(torch, torch.tensor(data))
                _raises(mode, lambda fn=fn, data=data: fn(ej, ej.tensor(data)), RuntimeError, msg)
    np.testing.assert_allclose(ej.tensor([1.0, 2.0]).std().item(), torch.tensor([1.0, 2.0]).std().item())
