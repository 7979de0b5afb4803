"""torch API extras checked against torch: ``finfo``/``iinfo``, the promotion functions,
in-place shape methods, tensor memory metadata, ``Tensor.unfold`` and ``Tensor.view(dtype)``,
each eagerly, inside ``ej.compile`` and under ``ej.lazy()`` where arrays are involved."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

FLOATS = ["float16", "bfloat16", "float32", "float64"]
INTS = ["uint8", "int8", "int16", "int32", "int64"]


def _t(d) -> torch.dtype:
    """torch's dtype for eagerjax's (its storage: with x64 off, ej.int64 is int32)."""
    return getattr(torch, np.dtype(d).name)


def _run(mode: str, fn, *args):
    """``fn(*args)`` eagerly, as a compiled step or under ``ej.lazy()`` (results read on the host)."""
    if mode == "eager":
        return fn(*args)
    if mode == "compile":
        return ej.compile(fn)(*args)
    with ej.lazy():
        out = fn(*args)
        return [o.numpy() if isinstance(o, ej.Tensor) else o for o in out] if isinstance(out, tuple) else out


MODES = ["eager", "compile", "lazy"]


def _ej_dtype(d: torch.dtype) -> np.dtype:
    """eagerjax's dtype for torch's (64-bit names are aliases of 32-bit storage with x64 off)."""
    return getattr(ej, str(d).removeprefix("torch."))


# --------------------------------------------------------------------------- finfo / iinfo


@pytest.mark.parametrize("name", FLOATS + ["complex64"])
def test_finfo_matches_torch(name: str) -> None:
    d = getattr(ej, name)
    got, want = ej.finfo(d), torch.finfo(_t(d))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(got, attr) == getattr(want, attr), attr
        assert type(getattr(got, attr)) is type(getattr(want, attr)), attr
    assert repr(got) == repr(want)


def test_finfo_default_and_errors() -> None:
    assert ej.finfo().dtype == torch.finfo().dtype == "float32"
    assert ej.finfo(ej.float16) == ej.finfo("float16")
    with pytest.raises(TypeError, match="requires a floating point input type"):
        ej.finfo(ej.int32)
    with pytest.raises(TypeError, match="requires an integer input type"):
        ej.iinfo(ej.float32)
    with pytest.raises(TypeError, match="torch.bool is not supported by torch.iinfo"):
        ej.iinfo(ej.bool)


@pytest.mark.parametrize("name", INTS + ["uint32"])
def test_iinfo_matches_torch(name: str) -> None:
    d = getattr(ej, name)
    got, want = ej.iinfo(d), torch.iinfo(_t(d))
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert type(got.max) is int
    assert repr(got) == repr(want)


@pytest.mark.parametrize("mode", MODES)
def test_masked_fill_with_finfo_min(mode: str) -> None:
    rng = np.random.default_rng(0)
    x, m = rng.standard_normal((3, 4)).astype(np.float32), rng.random((3, 4)) < 0.5
    want = torch.from_numpy(x).masked_fill(torch.from_numpy(m), torch.finfo(torch.float32).min).softmax(-1)

    def f(x, m):
        return x.masked_fill(m, ej.finfo(x.dtype).min).softmax(-1)

    got = _run(mode, f, ej.tensor(x), ej.tensor(m))
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- promotion functions


def test_is_floating_point_and_is_complex() -> None:
    for d in ("float32", "float16", "bfloat16", "int32", "bool", "complex64"):
        x, tx = ej.zeros(2, dtype=getattr(ej, d)), torch.zeros(2, dtype=getattr(torch, d))
        assert ej.is_floating_point(x) == torch.is_floating_point(tx)
        assert ej.is_complex(x) == torch.is_complex(tx)
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        ej.is_floating_point(1.0)


_DT = ["bool", "uint8", "int8", "int16", "int32", "float16", "bfloat16", "float32", "complex64"]


def test_promote_types_and_can_cast() -> None:
    for a in _DT:
        for b in _DT:
            ea, eb, ta, tb = getattr(ej, a), getattr(ej, b), getattr(torch, a), getattr(torch, b)
            assert ej.promote_types(ea, eb) == _ej_dtype(torch.promote_types(ta, tb)), (a, b)
            assert ej.can_cast(ea, eb) == torch.can_cast(ta, tb), (a, b)


def test_result_type() -> None:
    operands = [
        ("t", "int32", (2,)),
        ("t", "uint8", (2,)),
        ("t", "float16", (2,)),
        ("t", "bool", (2,)),
        ("t", "float32", ()),
        ("t", "int16", ()),
        ("s", True),
        ("s", 3),
        ("s", 2.5),
        ("s", 1j),
    ]

    def make(o, lib):
        if o[0] == "s":
            return o[1]
        return lib.zeros(o[2], dtype=getattr(lib, o[1]))

    for a in operands:
        for b in operands:
            want = torch.result_type(make(a, torch), make(b, torch))
            want = torch.complex64 if want == torch.complex32 else want  # eagerjax has no complex32
            got = ej.result_type(make(a, ej), make(b, ej))
            assert got == _ej_dtype(want), (a, b, got, want)
    with pytest.raises(TypeError):
        ej.result_type(ej.zeros(2), "x")


# --------------------------------------------------------------------------- in-place shape methods

_INPLACE = [
    ("unsqueeze_", (1,)),
    ("unsqueeze_", (-1,)),
    ("squeeze_", ()),
    ("squeeze_", (1,)),
    ("t_", ()),
    ("transpose_", (0, -1)),
    ("swapdims_", (1, 0)),
    ("swapaxes_", (0, 1)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "args"), _INPLACE)
def test_inplace_shape_methods(mode: str, name: str, args: tuple) -> None:
    x = np.arange(6, dtype=np.float32).reshape((3, 1, 2) if name == "squeeze_" else (3, 2))
    tx = torch.from_numpy(x.copy())
    assert getattr(tx, name)(*args) is tx

    def f(a):
        b = a * 2  # a non-leaf: written in place, rebound to the new shape
        r = getattr(b, name)(*args)
        assert r is b
        return b + 1, a

    a = ej.tensor(x)
    out, a_after = _run(mode, f, a)
    np.testing.assert_array_equal(np.asarray(out), tx.numpy() * 2 + 1)
    np.testing.assert_array_equal(np.asarray(a_after), x)


@pytest.mark.parametrize("mode", MODES)
def test_inplace_shape_on_state(mode: str) -> None:
    """A tensor created outside the step (captured state) changes shape in place."""
    s = ej.arange(6.0).reshape(2, 3)

    def f():
        s.t_()
        s.unsqueeze_(0)
        return s * 1

    out = _run(mode, f)
    want = torch.arange(6.0).reshape(2, 3).t().unsqueeze(0)
    assert tuple(s.shape) == tuple(want.shape)
    np.testing.assert_array_equal(s.numpy(), want.numpy())
    np.testing.assert_array_equal(np.asarray(out), want.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_inplace_shape_autograd(mode: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2)).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)

    tx = torch.tensor(x, requires_grad=True)
    ty = tx * torch.from_numpy(w)
    ty.t_().unsqueeze_(0)
    assert ty.shape == (1, 2, 3)
    (ty * torch.arange(6.0).reshape(1, 2, 3)).sum().backward()

    ex = ej.tensor(x, requires_grad=True)
    ew = ej.tensor(w)

    def f(ex):
        ey = ex * ew
        ey.t_().unsqueeze_(0)
        assert ey.requires_grad and not ey.is_leaf
        (ey * ej.arange(6.0).reshape(1, 2, 3)).sum().backward()
        return ey.detach()

    ey = _run(mode, f, ex)
    np.testing.assert_allclose(np.asarray(ey), ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_inplace_shape_leaf_requiring_grad_raises() -> None:
    for name, args in _INPLACE:
        tx = torch.zeros(3, 2, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(tx, name)(*args)
        x = ej.zeros(3, 2, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            getattr(x, name)(*args)
    with ej.no_grad():  # allowed under no_grad, as in torch
        x.unsqueeze_(0)
    assert tuple(x.shape) == (1, 3, 2)
    with pytest.raises(RuntimeError, match=r"t\(\) expects a tensor with <= 2 dimensions"):
        ej.zeros(2, 3, 4).t_()


# --------------------------------------------------------------------------- metadata


def test_nbytes_itemsize_stride() -> None:
    for shape in [(), (0, 3), (3, 0, 2), (2, 3, 4), (1, 5), (5,)]:
        for d in ("float32", "float16", "bfloat16", "int8", "int32", "bool", "complex64"):
            x, tx = ej.zeros(shape, dtype=getattr(ej, d)), torch.zeros(shape, dtype=getattr(torch, d))
            assert (x.nbytes, x.itemsize, x.element_size()) == (tx.nbytes, tx.itemsize, tx.element_size())
        assert x.stride() == tx.stride()
        assert x.storage_offset() == tx.storage_offset() == 0
        for dim in range(-len(shape), len(shape)):
            assert x.stride(dim) == tx.stride(dim)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ej.zeros(2, 3).stride(2)
    with pytest.raises(IndexError, match="has no dimensions"):
        ej.zeros(()).stride(0)

    @ej.compile
    def f(x):
        assert x.stride() == (12, 4, 1) and x.nbytes == 96
        return x * 1

    f(ej.zeros(2, 3, 4))
    with ej.lazy():
        y = ej.zeros(2, 3, 4) + 1
        assert y.stride() == (12, 4, 1) and y.nbytes == 96 and y.itemsize == 4


# --------------------------------------------------------------------------- unfold


@pytest.mark.parametrize("mode", MODES)
def test_unfold_matches_torch_with_grad(mode: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 3)).astype(np.float32)
    for dim, size, step in [(1, 3, 2), (-2, 4, 1), (0, 2, 1), (1, 9, 5), (1, 9, 1)]:
        tx = torch.tensor(x, requires_grad=True)
        tout = tx.unfold(dim, size, step)
        ct = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
        (tout * torch.from_numpy(ct)).sum().backward()

        ex = ej.tensor(x, requires_grad=True)

        def f(ex, dim=dim, size=size, step=step, ct=ct):
            out = ex.unfold(dim, size, step)
            (out * ej.tensor(ct)).sum().backward()
            return out.detach()

        out = _run(mode, f, ex)
        np.testing.assert_allclose(np.asarray(out), tout.detach().numpy())
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_unfold_long_windows_and_errors() -> None:
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(ej.tensor(x).unfold(0, 40, 7).numpy(), torch.from_numpy(x).unfold(0, 40, 7).numpy())
    assert tuple(ej.zeros(5).unfold(0, 0, 1).shape) == tuple(torch.zeros(5).unfold(0, 0, 1).shape)
    assert tuple(ej.zeros(()).unfold(0, 1, 1).shape) == (1,)
    for args, msg in [
        ((0, 6, 1), "maximum size for tensor at dimension 0 is 5 but size is 6"),
        ((0, 2, 0), "step is 0 but must be > 0"),
    ]:
        with pytest.raises(RuntimeError, match=msg):
            torch.zeros(5).unfold(*args)
        with pytest.raises(RuntimeError, match=msg):
            ej.zeros(5).unfold(*args)


# --------------------------------------------------------------------------- view(dtype)

_VIEWS = [
    ("float32", (2, 4), "int32"),
    ("float32", (2, 4), "float16"),
    ("float32", (2, 4), "bfloat16"),
    ("float32", (2, 4), "uint8"),
    ("float16", (3, 4), "float32"),
    ("bfloat16", (3, 2), "int16"),
    ("uint8", (2, 8), "float32"),
    ("int32", (3,), "float32"),
    ("float32", (), "int32"),
    ("bool", (4,), "uint8"),
    ("uint8", (4,), "bool"),
    ("float32", (2, 4), "complex64"),
    ("complex64", (3,), "float32"),
    ("complex64", (3,), "int16"),
]


@pytest.mark.parametrize("mode", MODES)
def test_view_dtype_matches_torch(mode: str) -> None:
    rng = np.random.default_rng(3)
    for src, shape, dst in _VIEWS:
        tx = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).to(getattr(torch, src))
        if src == "uint8":
            tx = torch.from_numpy(rng.integers(0, 2, shape).astype(np.uint8))
        want = tx.view(getattr(torch, dst))
        x = ej.tensor(tx.to(torch.float32).numpy() if src == "bfloat16" else tx.numpy()).to(getattr(ej, src))

        def f(x, dst=dst):
            return x.view(getattr(ej, dst)), x.view(dtype=getattr(ej, dst))

        got, got_kw = _run(mode, f, x)
        wv = want.view(torch.int16).numpy() if dst == "bfloat16" else want.numpy()
        for g in (got, got_kw):
            g = ej.tensor(np.asarray(g)) if not isinstance(g, ej.Tensor) else g
            assert tuple(g.shape) == tuple(want.shape), (src, dst)
            assert str(g.dtype) == str(want.dtype)[6:], (src, dst)
            gv = g.view(ej.int16).numpy() if dst == "bfloat16" else g.numpy()
            np.testing.assert_array_equal(gv, wv, err_msg=f"{src}->{dst}")


def test_view_dtype_is_not_differentiable_and_errors() -> None:
    x = ej.ones(2, 4, requires_grad=True)
    assert not x.view(ej.int32).requires_grad and not x.view(ej.float32).requires_grad
    assert not (x * 2).view(ej.float16).requires_grad
    assert tuple(x.view(2, 2, 2).shape) == (2, 2, 2) and x.view(-1).requires_grad  # the shape form stays
    for make, dst in [
        (lambda lib: lib.ones(2, 3, dtype=lib.float16), "float32"),
        (lambda lib: lib.ones(()), "float16"),
    ]:
        with pytest.raises(RuntimeError) as te:
            make(torch).view(getattr(torch, dst))
        with pytest.raises(RuntimeError) as ee:
            make(ej).view(getattr(ej, dst))
        assert str(ee.value) == str(te.value)
