"""Tensor creation checked against torch: the keyword spellings of the factories and split
functions, random factories (``size=``, ``randint``'s forms, ``normal``'s dtype), the values
``full``/``fill_`` refuse as overflowing, ``tensor_split``'s index rules, ``logspace``'s
rounding and torch's error types and messages; eagerly, inside ``ej.compile`` and under
``ej.lazy()`` where values are involved."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

MODES = ["eager", "compile", "lazy"]


def _np(x):
    return x.numpy() if isinstance(x, ej.Tensor) else x


def _run(mode: str, fn, *args):
    """``fn(*args)`` eagerly, as a compiled step or under ``ej.lazy()``; results as NumPy arrays
    (a tuple result as a list of them)."""
    if mode == "eager":
        out = fn(*args)
    elif mode == "compile":
        out = ej.compile(fn)(*args)
    else:
        with ej.lazy():
            out = fn(*args)
            out = [_np(o) for o in out] if isinstance(out, (tuple, list)) else _np(out)
    return [_np(o) for o in out] if isinstance(out, (tuple, list)) else _np(out)


def _err(call):
    """(type, first line of the message) of what ``call()`` raises, or None."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the error itself is what is compared
        return type(e), str(e).splitlines()[0]
    return None


def _same_error(ej_call, torch_call) -> None:
    want = _err(torch_call)
    assert want is not None, "torch accepted the call"
    assert _err(ej_call) == want


def _tdt(d):
    return getattr(torch, np.dtype(d).name)


# --------------------------------------------------------------------------- random factories


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["rand", "randn"])
def test_random_factories_take_size_keyword(mode, name):
    f = getattr(ej, name)

    def draw():
        ej.manual_seed(3)
        return f(size=(2, 3)), f(size=[4])

    a, b = _run(mode, draw)
    assert a.shape == tuple(getattr(torch, name)(size=(2, 3)).shape) == (2, 3)
    assert b.shape == (4,)
    ej.manual_seed(3)
    np.testing.assert_array_equal(a, f(2, 3).numpy())  # the same numbers as the positional form


@pytest.mark.parametrize("name", ["rand", "randn"])
def test_random_factories_size_errors(name):
    f, tf = getattr(ej, name), getattr(torch, name)
    _same_error(lambda: f(size=3), lambda: tf(size=3))
    _same_error(lambda: f(2.0), lambda: tf(2.0))
    _same_error(lambda: f(-1), lambda: tf(-1))
    _same_error(lambda: f((2, 2.0)), lambda: tf((2, 2.0)))
    assert _err(lambda: f(2, size=(3,)))[0] is TypeError is _err(lambda: tf(2, size=(3,)))[0]
    _same_error(lambda: f(2, dtype=ej.int32), lambda: tf(2, dtype=torch.int32))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_normal_keeps_the_tensor_dtype(mode, dtype):
    d = getattr(ej, dtype)
    a, b = _run(mode, lambda: (ej.normal(ej.zeros(3, dtype=d), 1.0), ej.normal(0.0, ej.ones(3, dtype=d))))
    td = getattr(torch, dtype)
    assert np.dtype(a.dtype) == np.dtype(d) and torch.normal(torch.zeros(3, dtype=td), 1.0).dtype == td
    assert np.dtype(b.dtype) == np.dtype(d) and torch.normal(0.0, torch.ones(3, dtype=td)).dtype == td
    assert a.shape == b.shape == (3,)


@pytest.mark.parametrize(("mean", "std"), [("float16", "float32"), ("float32", "float16"), ("bfloat16", "float16")])
def test_normal_of_two_tensors_takes_mean_dtype(mean, std):
    out = ej.normal(ej.zeros(2, dtype=getattr(ej, mean)), ej.ones(2, dtype=getattr(ej, std)))
    want = torch.normal(torch.zeros(2, dtype=getattr(torch, mean)), torch.ones(2, dtype=getattr(torch, std)))
    assert out.dtype == getattr(ej, str(want.dtype).removeprefix("torch."))


def test_normal_errors():
    _same_error(lambda: ej.normal(ej.zeros(3), -1.0), lambda: torch.normal(torch.zeros(3), -1.0))
    _same_error(lambda: ej.normal(ej.zeros(3), -0.5), lambda: torch.normal(torch.zeros(3), -0.5))
    _same_error(lambda: ej.normal(0.0, -1.0, (2,)), lambda: torch.normal(0.0, -1.0, (2,)))
    _same_error(
        lambda: ej.normal(ej.zeros(2), ej.tensor([-1.0, 1.0])),
        lambda: torch.normal(torch.zeros(2), torch.tensor([-1.0, 1.0])),
    )
    _same_error(lambda: ej.normal(ej.zeros(2), ej.ones(3)), lambda: torch.normal(torch.zeros(2), torch.ones(3)))
    _same_error(
        lambda: ej.normal(ej.zeros(2, dtype=ej.int32), 1.0),
        lambda: torch.normal(torch.zeros(2, dtype=torch.int32), 1.0),
    )


RANDINT_FORMS = [
    ("(10, (3,))", (10, (3,)), {}),
    ("(2, 5, (2, 2))", (2, 5, (2, 2)), {}),
    ("high=5, size=(2,)", (), {"high": 5, "size": (2,)}),
    ("low=2, high=5, size=(2,)", (), {"low": 2, "high": 5, "size": (2,)}),
    ("(5, size=(2,))", (5,), {"size": (2,)}),
    ("(2, 5, size=(3,))", (2, 5), {"size": (3,)}),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("label", "args", "kwargs"), RANDINT_FORMS, ids=[f[0] for f in RANDINT_FORMS])
def test_randint_forms(mode, label, args, kwargs):
    out = _run(mode, lambda: ej.randint(*args, **kwargs))
    want = torch.randint(*args, **kwargs)
    assert out.shape == tuple(want.shape)
    assert np.dtype(out.dtype) == np.dtype(ej.int64)
    ints = [a for a in args if not isinstance(a, tuple)]
    low = kwargs.get("low", ints[0] if len(ints) == 2 else 0)
    high = kwargs.get("high", ints[-1] if ints else None)
    assert ((out >= low) & (out < high)).all()


@pytest.mark.parametrize("mode", MODES)
def test_randint_like_and_floating_dtypes(mode):
    def draw():
        x = ej.zeros(50)
        return (
            ej.randint_like(x, 5),
            ej.randint_like(x, 3, 5),
            ej.randint_like(x, high=4),
            ej.randint(2, 5, (50,), dtype=ej.float32),
            ej.randint(0, 2, (50,), dtype=ej.bool),
        )

    a, b, c, d, e = _run(mode, draw)
    tx = torch.zeros(50)
    for out, want in zip((a, b, c, d), (torch.randint_like(tx, 5), torch.randint_like(tx, 3, 5))):
        assert np.dtype(out.dtype) == np.float32 and want.dtype == torch.float32
    for out, lo, hi in ((a, 0, 5), (b, 3, 5), (c, 0, 4), (d, 2, 5)):
        assert np.dtype(out.dtype) == np.float32
        assert (out == np.floor(out)).all() and (out >= lo).all() and (out < hi).all()
    assert e.dtype == np.bool_ and torch.randint(0, 2, (2,), dtype=torch.bool).dtype == torch.bool


def test_randint_errors():
    _same_error(lambda: ej.randint(5, 2, (2,)), lambda: torch.randint(5, 2, (2,)))
    _same_error(lambda: ej.randint(2.5, (2,)), lambda: torch.randint(2.5, (2,)))
    _same_error(lambda: ej.randint(5, 10), lambda: torch.randint(5, 10))
    _same_error(lambda: ej.randint(0, 5, (-1,)), lambda: torch.randint(0, 5, (-1,)))
    _same_error(
        lambda: ej.randint(0, 5, (2,), requires_grad=True), lambda: torch.randint(0, 5, (2,), requires_grad=True)
    )
    for d, low, high in [("uint8", 0, 300), ("uint8", -1, 3), ("int8", 0, 200), ("int16", 0, 2**20), ("bool", 0, 3)]:
        _same_error(
            lambda: ej.randint(low, high, (2,), dtype=getattr(ej, d)),
            lambda: torch.randint(low, high, (2,), dtype=getattr(torch, d)),
        )
    _same_error(
        lambda: ej.randint_like(ej.zeros(2, dtype=ej.uint8), 300),
        lambda: torch.randint_like(torch.zeros(2, dtype=torch.uint8), 300),
    )
    assert ej.randint(0, 5, (2,), dtype=ej.float32, requires_grad=True).requires_grad


def test_randperm_checks():
    _same_error(lambda: ej.randperm(3, requires_grad=True), lambda: torch.randperm(3, requires_grad=True))
    _same_error(lambda: ej.randperm(3.0), lambda: torch.randperm(3.0))
    _same_error(lambda: ej.randperm(-1), lambda: torch.randperm(-1))
    _same_error(lambda: ej.randperm(300, dtype=ej.uint8), lambda: torch.randperm(300, dtype=torch.uint8))
    p = ej.randperm(5, dtype=ej.float32, requires_grad=True)
    assert p.requires_grad and sorted(p.tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert sorted(ej.randperm(ej.tensor(4)).tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["rand_like", "randn_like", "zeros_like", "ones_like", "empty_like"])
def test_like_functions_need_a_tensor(name):
    _same_error(lambda: getattr(ej, name)([1, 2]), lambda: getattr(torch, name)([1, 2]))
    _same_error(lambda: ej.full_like([1], 2), lambda: torch.full_like([1], 2))


# --------------------------------------------------------------------------- keyword spellings and sizes


@pytest.mark.parametrize("mode", MODES)
def test_factory_keywords(mode):
    def make():
        return (
            ej.zeros(size=(2,)),
            ej.ones(size=[2, 1], dtype=ej.int32),
            ej.empty(size=(1,)),
            ej.arange(end=4),
            ej.arange(start=1, end=4),
            ej.arange(1, end=4),
            ej.full(size=(2,), fill_value=3),
        )

    got = _run(mode, make)
    want = (
        torch.zeros(size=(2,)),
        torch.ones(size=[2, 1], dtype=torch.int32),
        torch.empty(size=(1,)),
        torch.arange(end=4),
        torch.arange(start=1, end=4),
        torch.arange(1, end=4),
        torch.full(size=(2,), fill_value=3),
    )
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == tuple(w.shape), i
        if i != 2:  # (empty's values are unspecified)
            np.testing.assert_array_equal(g, w.numpy())


def test_tensor_sizes():
    assert ej.zeros(ej.tensor(2)).shape == torch.zeros(torch.tensor(2)).shape
    assert ej.zeros(ej.tensor([2])).shape == torch.zeros(torch.tensor([2])).shape
    assert ej.ones([ej.tensor(2), 3]).shape == torch.ones([torch.tensor(2), 3]).shape
    assert ej.full((ej.tensor(2),), 1).tolist() == torch.full((torch.tensor(2),), 1).tolist()
    _same_error(lambda: ej.zeros(ej.tensor(2.0)), lambda: torch.zeros(torch.tensor(2.0)))
    _same_error(lambda: ej.zeros(ej.tensor([2, 3])), lambda: torch.zeros(torch.tensor([2, 3])))


def test_tensor_size_inside_compile_is_refused():
    @ej.compile
    def step(n):
        return ej.zeros(n)

    with pytest.raises(ej.CaptureError):
        step(ej.tensor(2))


@pytest.mark.parametrize("mode", MODES)
def test_split_family_keywords(mode):
    def split(x):
        return (
            *x.split(split_size=2),
            *ej.split(x, split_size_or_sections=2),
            *x.tensor_split(indices=[1]),
            *x.tensor_split(sections=2),
            *ej.tensor_split(x, indices=[4]),
            ej.concatenate([x, x], axis=0),
            ej.cat([x, x], axis=0),
            ej.concat([x, x], axis=0),
        )

    x = torch.arange(6)
    want = (
        *x.split(split_size=2),
        *torch.split(x, split_size_or_sections=2),
        *x.tensor_split(indices=[1]),
        *x.tensor_split(sections=2),
        *torch.tensor_split(x, indices=[4]),
        torch.concatenate([x, x], axis=0),
        torch.cat([x, x], axis=0),
        torch.concat([x, x], axis=0),
    )
    got = _run(mode, split, ej.arange(6))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_tile_and_narrow_forms(mode):
    def shapes(x, m, start):
        return (
            x.tile(2, 2),
            x.tile((2, 2)),
            x.tile(dims=(2, 1)),
            ej.tile(x, (3,)),
            m.narrow(1, start, 2),
            m.narrow(1, -start - 1, 1),
            ej.narrow(m, 1, start, 2),
            m.narrow(dim=1, start=1, length=2),
        )

    x, m = torch.arange(3), torch.arange(6).view(2, 3)
    t1 = torch.tensor(1)
    want = (
        x.tile(2, 2),
        x.tile((2, 2)),
        x.tile(dims=(2, 1)),
        torch.tile(x, (3,)),
        m.narrow(1, t1, 2),
        m.narrow(1, -t1 - 1, 1),
        torch.narrow(m, 1, t1, 2),
        m.narrow(dim=1, start=1, length=2),
    )
    got = _run(mode, shapes, ej.arange(3), ej.arange(6).view(2, 3), ej.tensor(1))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.numpy())


def test_narrow_errors():
    m, tm = ej.arange(6).view(2, 3), torch.arange(6).view(2, 3)
    for args in [(1, 2, 2), (1, -4, 1), (1, 4, 0), (1, 1, -1), (1, -1, 2)]:
        _same_error(lambda: m.narrow(*args), lambda: tm.narrow(*args))
    for start in [2, -1, 5]:
        _same_error(lambda: m.narrow(1, ej.tensor(start), 2), lambda: tm.narrow(1, torch.tensor(start), 2))
    _same_error(lambda: m.narrow(1, ej.tensor([1]), 2), lambda: tm.narrow(1, torch.tensor([1]), 2))
    _same_error(lambda: m.narrow(1, ej.tensor(1.0), 2), lambda: tm.narrow(1, torch.tensor(1.0), 2))
    _same_error(lambda: ej.tensor(3).narrow(0, 0, 1), lambda: torch.tensor(3).narrow(0, 0, 1))
    assert m.narrow(1, ej.tensor(3), 0).shape == (2, 0)


def test_narrow_tensor_start_gradient():
    x = ej.arange(6.0).view(2, 3).requires_grad_()
    tx = torch.arange(6.0).view(2, 3).requires_grad_()
    (x.narrow(1, ej.tensor(1), 2) * ej.tensor([2.0, 3.0])).sum().backward()
    (tx.narrow(1, torch.tensor(1), 2) * torch.tensor([2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


# --------------------------------------------------------------------------- tensor_split


SPLIT_CASES = [[1, 10], [3, 1], [-2], [-10], [-10, 2], [4, -4], [], (1, 2), [0, 0, 5], 7, 1, 3]


@pytest.mark.parametrize("mode", MODES)
def test_tensor_split_indices_like_torch(mode):
    def split(x):
        return [p for arg in SPLIT_CASES for p in x.tensor_split(arg)]

    want = [p.numpy() for arg in SPLIT_CASES for p in torch.arange(5).tensor_split(arg)]
    got = _run(mode, split, ej.arange(5))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_tensor_split_along_a_dim_and_gradient():
    x = ej.arange(10.0).view(5, 2).requires_grad_()
    tx = torch.arange(10.0).view(5, 2).requires_grad_()
    parts, tparts = x.tensor_split([3, 1, -1], dim=0), tx.tensor_split([3, 1, -1], dim=0)
    for k, (p, tp) in enumerate(zip(parts, tparts)):
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
    sum((p * (k + 1)).sum() for k, p in enumerate(parts)).backward()
    sum((p * (k + 1)).sum() for k, p in enumerate(tparts)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_tensor_split_tensor_indices(mode):
    def split(x, idx, sec):
        return (*x.tensor_split(idx), *ej.tensor_split(x, sec), *x.tensor_split(tensor_indices_or_sections=idx))

    got = _run(mode, split, ej.arange(5), ej.tensor([1, 3]), ej.tensor(2))
    x = torch.arange(5)
    want = (
        *x.tensor_split(torch.tensor([1, 3])),
        *torch.tensor_split(x, torch.tensor(2)),
        *x.tensor_split(tensor_indices_or_sections=torch.tensor([1, 3])),
    )
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.numpy())


def test_tensor_split_tensor_indices_inside_compile_is_refused():
    @ej.compile
    def step(x, idx):
        return x.tensor_split(idx)

    with pytest.raises(ej.CaptureError):
        step(ej.arange(5), ej.tensor([1, 3]))


def test_tensor_split_errors():
    x, tx = ej.arange(5), torch.arange(5)
    for arg in [0, -2]:
        _same_error(lambda: x.tensor_split(arg), lambda: tx.tensor_split(arg))
    _same_error(lambda: x.tensor_split(ej.tensor([1.0])), lambda: tx.tensor_split(torch.tensor([1.0])))
    _same_error(lambda: x.tensor_split(ej.tensor([[1]])), lambda: tx.tensor_split(torch.tensor([[1]])))
    _same_error(lambda: ej.tensor(3).tensor_split(2), lambda: torch.tensor(3).tensor_split(2))


# --------------------------------------------------------------------------- split / chunk / unbind / hsplit


def test_split_family_errors():
    x, tx = ej.arange(5), torch.arange(5)
    for s in [0, -1]:
        _same_error(lambda: x.split(s), lambda: tx.split(s))
    _same_error(lambda: x.split([2, -1, 4]), lambda: tx.split([2, -1, 4]))
    _same_error(lambda: ej.tensor(3).split(1), lambda: torch.tensor(3).split(1))
    _same_error(lambda: ej.tensor(3).chunk(1), lambda: torch.tensor(3).chunk(1))
    _same_error(lambda: ej.tensor(3).unbind(), lambda: torch.tensor(3).unbind())
    assert [p.tolist() for p in ej.zeros(0).split(0)] == [p.tolist() for p in torch.zeros(0).split(0)]
    m, tm = ej.arange(6).view(2, 3), torch.arange(6).view(2, 3)
    for f, arg in [("hsplit", 2), ("hsplit", 0), ("hsplit", -1), ("vsplit", 3)]:
        _same_error(lambda: getattr(m, f)(arg), lambda: getattr(tm, f)(arg))
    _same_error(lambda: ej.arange(6).hsplit(4), lambda: torch.arange(6).hsplit(4))
    _same_error(lambda: ej.arange(6).vsplit(2), lambda: torch.arange(6).vsplit(2))
    _same_error(lambda: m.dsplit(2), lambda: tm.dsplit(2))
    _same_error(lambda: ej.tensor(3).hsplit(1), lambda: torch.tensor(3).hsplit(1))
    for f, kw in [("hsplit", {"indices": [1]}), ("hsplit", {"sections": 3}), ("vsplit", {"sections": 2})]:
        for g, w in zip(getattr(m, f)(**kw), getattr(tm, f)(**kw)):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


# --------------------------------------------------------------------------- fill values


FILL_DTYPES = ["uint8", "int8", "int16", "int32", "float16", "bfloat16", "float32", "bool", "complex64"]
FILL_SHAPES = [(), (1,), (2,), (0,)]
FILL_VALUES = [256, -1, -255, -256, float("nan"), float("inf"), -1e9, 1e39, 1.5, -0.5, 2**40, 1 + 1j, 1 + 0j, True]


def _outcome(call):
    try:
        out = call()
    except RuntimeError as e:
        return str(e)
    return out.float().tolist() if out.dtype not in (torch.complex64, ej.complex64) else out.tolist()


@pytest.mark.parametrize("dtype", FILL_DTYPES)
def test_fill_values_overflow_like_torch(dtype):
    """Every fill path: torch's value or its "cannot be converted ... without overflow" error."""
    d, td = getattr(ej, dtype), getattr(torch, dtype)
    for v, n in itertools.product(FILL_VALUES, FILL_SHAPES):
        forms = [
            (lambda: ej.full(n, v, dtype=d), lambda: torch.full(n, v, dtype=td)),
            (lambda: ej.full_like(ej.zeros(n, dtype=d), v), lambda: torch.full_like(torch.zeros(n, dtype=td), v)),
            (lambda: ej.zeros(n, dtype=d).fill_(v), lambda: torch.zeros(n, dtype=td).fill_(v)),
            (lambda: ej.zeros(n, dtype=d).new_full(n, v), lambda: torch.zeros(n, dtype=td).new_full(n, v)),
            (lambda: ej.fill(ej.zeros(n, dtype=d), v), lambda: torch.fill(torch.zeros(n, dtype=td), v)),
        ]
        for k, (e, t) in enumerate(forms):
            want, got = _outcome(t), _outcome(e)
            assert str(got) == str(want), (dtype, v, n, k)


@pytest.mark.parametrize("mode", MODES)
def test_fill_overflow_in_traced_steps(mode):
    """A Python fill value is known on the host: checked in a compiled step and before a
    lazy recording too."""

    def make():
        return ej.full((2,), 256, dtype=ej.uint8)

    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        _run(mode, make)
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        _run(mode, lambda x: ej.full_like(x, 256), ej.zeros(2, dtype=ej.uint8))

    def fill(x):
        return x.fill_(float("nan"))

    with pytest.raises(RuntimeError, match="value cannot be converted to type int without overflow"):
        _run(mode, fill, ej.zeros(2, dtype=ej.int32))


@pytest.mark.parametrize("mode", MODES)
def test_wrapping_fill_values(mode):
    def make(x):
        return ej.full((2,), -1, dtype=ej.uint8), x.fill_(-255), ej.full_like(x, 255)

    got = _run(mode, make, ej.zeros(2, dtype=ej.uint8))
    want = (
        torch.full((2,), -1, dtype=torch.uint8),
        torch.zeros(2, dtype=torch.uint8).fill_(-255),
        torch.full_like(torch.zeros(2, dtype=torch.uint8), 255),
    )
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.numpy())


# --------------------------------------------------------------------------- logspace


LOGSPACE = [
    (0, 1, 5, 3.0, "float32"),
    (0, 2.7, 5, 10.0, "float32"),
    (-2.5, 3.25, 17, 1.1, "float32"),
    (1.5, -2, 9, 2.718281828459045, "float32"),
    (0.3, 1, 1, 10.0, "float32"),
    (0, 1, 5, 3.0, "float16"),
    (-2.8, -2.9306, 11, 1.1, "float16"),
    (0, 1, 5, 3.0, "bfloat16"),
    (0.5, 2.7, 4, 10.0, "int32"),
    (0, 2, 3, 2.5, "int32"),
    (0, 2, 0, 10.0, "float32"),
]


@pytest.mark.parametrize("mode", MODES)
def test_logspace_rounds_like_torch(mode):
    def make():
        return [ej.logspace(a, b, n, base=base, dtype=getattr(ej, d)) for a, b, n, base, d in LOGSPACE]

    got = _run(mode, make)
    for g, (a, b, n, base, d) in zip(got, LOGSPACE):
        want = torch.logspace(a, b, n, base=base, dtype=getattr(torch, d))
        assert np.dtype(g.dtype) == np.dtype(getattr(ej, d))
        np.testing.assert_array_equal(np.asarray(g, np.float64), want.double().numpy())


def test_logspace_errors():
    _same_error(lambda: ej.logspace(0, 1, -1), lambda: torch.logspace(0, 1, -1))
    _same_error(
        lambda: ej.logspace(2.944, 0.66, 1, base=7, dtype=ej.uint8),
        lambda: torch.logspace(2.944, 0.66, 1, base=7, dtype=torch.uint8),
    )


# --------------------------------------------------------------------------- errors torch raises


@pytest.mark.parametrize(
    "call",
    [
        "m.arange(0, 3, -1)",
        "m.arange(3, 0, 1)",
        "m.arange(0, 3, 0)",
        "m.arange(float('nan'))",
        "m.arange(1.5, float('inf'))",
        "m.arange(start=2)",
        "m.zeros(-1)",
        "m.zeros((2, -1))",
        "m.ones(-1)",
        "m.empty(2, -3)",
        "m.zeros(2.0)",
        "m.zeros([2, 'a'])",
        "m.zeros(2, 3.5)",
        "m.zeros(None)",
        "m.zeros(2, size=(2,))",
        "m.full(2, 2)",
        "m.full((-1,), 1)",
        "m.cat([])",
        "m.concatenate([])",
        "m.ones_like([1, 2])",
        "m.arange(3).tile(-1)",
    ],
)
def test_errors_match_torch(call):
    _same_error(lambda: eval(call, {"m": ej}), lambda: eval(call, {"m": torch}))


def test_arange_values():
    for args, kw in [((5,), {}), ((1.5, 4), {}), ((0, 1, 0.1), {}), ((), {"end": ej.tensor(4)})]:
        tkw = {k: torch.tensor(4) for k in kw}
        np.testing.assert_array_equal(ej.arange(*args, **kw).numpy(), torch.arange(*args, **tkw).numpy())


@pytest.mark.parametrize("mode", MODES)
def test_masked_fill_value_range_checked_like_torch(mode):
    """torch always range-checks a Python masked_fill value against a half dtype."""
    m = [True, False, True]
    with pytest.raises(RuntimeError, match="value cannot be converted to type c10::Half without overflow"):
        torch.zeros(3, dtype=torch.float16).masked_fill(torch.tensor(m), -1e9)
    with pytest.raises(RuntimeError, match="value cannot be converted to type c10::Half without overflow"):
        _run(mode, lambda x, k: x.masked_fill(k, -1e9), ej.zeros(3, dtype=ej.float16), ej.tensor(m))
    got = _run(mode, lambda x, k: x.masked_fill(k, 2.0), ej.zeros(3, dtype=ej.float16), ej.tensor(m))
    want = torch.zeros(3, dtype=torch.float16).masked_fill(torch.tensor(m), 2.0)
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


def test_new_factories_take_size_keyword_and_factory_requires_grad_message():
    for lib in (torch, ej):
        x = lib.zeros(2)
        for kind in ("zeros", "ones", "empty"):
            assert tuple(getattr(x, "new_" + kind)(size=(2, 3)).shape) == (2, 3)
        with pytest.raises(
            RuntimeError, match="^Only Tensors of floating point and complex dtype can require gradients"
        ):
            lib.zeros(2, dtype=lib.int32, requires_grad=True)


@pytest.mark.parametrize("mode", MODES)
def test_copy_into_int_tensor_converts_as_torch(mode):
    """copy_ from float into an integer tensor: torch's x86 CPU conversion (wrapping, INT_MIN)."""
    src = [-1.0, 300.0, 2.7, -2.0]
    want = torch.zeros(4, dtype=torch.uint8).copy_(torch.tensor(src))
    got = _run(mode, lambda x, s: x.copy_(s), ej.zeros(4, dtype=ej.uint8), ej.tensor(src))
    np.testing.assert_array_equal(np.asarray(got), want.numpy())
    src = [float("nan"), float("inf"), -3.7]
    want = torch.zeros(3, dtype=torch.int32).copy_(torch.tensor(src))
    got = _run(mode, lambda x, s: x.copy_(s), ej.zeros(3, dtype=ej.int32), ej.tensor(src))
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_python_ints_wider_than_32_bits_with_float_tensors(mode):
    """A Python int past int32 with a floating tensor is torch's float result (JAX's weak int32
    would overflow); with only integer tensors eagerjax's 32-bit int64 cannot hold it: it says so."""
    torch = pytest.importorskip("torch")
    big = 2**40
    cases = [
        lambda L, x: x + big,
        lambda L, x: x * -big,
        lambda L, x: x.clone().fill_(big),
        lambda L, x: x.masked_fill(x > 0.5, big),
        lambda L, x: x.clamp(max=big, min=-big),
        lambda L, x: L.where(x > 0.5, x, big),
    ]
    xn = np.array([0.25, 0.75, 1.5], np.float32)
    for fn in cases:
        want = fn(torch, torch.tensor(xn)).numpy()
        got = _run(mode, lambda x: fn(ej, x), ej.tensor(xn))
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    if not jax.config.jax_enable_x64:
        with pytest.raises(RuntimeError, match=r"add\(\): the integer 1099511627776 does not fit in 32 bits"):
            _run(mode, lambda x: x + big, ej.arange(3))
