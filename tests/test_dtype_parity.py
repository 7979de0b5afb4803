"""dtype handling and the Tensor protocol against torch's CPU behaviour, in eager, ``ej.compile``
and ``ej.lazy()``: clamp's result dtype and its Python-number bounds (wrapping into unsigned
dtypes, torch's overflow error), NumPy scalars promoting as Python numbers, out-of-range float ->
integer casts, ``format()`` of 0-d tensors, ``in`` / ``reversed`` / ``complex()``, ``Size``
slices, legacy tensor types in ``.type()``, and torch's errors for calls it refuses."""

import pickle

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
MODES = ("eager", "compiled", "lazy")


def _run(mode, fn, *args):
    """``fn(ej, *args)`` in one mode, every result as a NumPy array."""
    if mode == "eager":
        out = fn(ej, *args)
    elif mode == "compiled":
        out = ej.compile(lambda *a: fn(ej, *a))(*args)
    else:
        with ej.lazy():
            out = fn(ej, *args)
            out = out if isinstance(out, tuple) else (out,)
            return [np.asarray(o.detach().float().numpy()) if o.dtype == ej.bfloat16 else o.numpy() for o in out]
    outs = out if isinstance(out, tuple) else (out,)
    return [np.asarray(o.detach().float().numpy()) if o.dtype == ej.bfloat16 else o.numpy() for o in outs]


def _torch(fn, *args):
    out = fn(torch, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    outs = out if isinstance(out, tuple) else (out,)
    return [(o.detach().float() if o.dtype == torch.bfloat16 else o.detach()).numpy() for o in outs]


def _same(got, want):
    """Equal values (NaN equal to NaN) and dtypes (torch's int64 is eagerjax's int32)."""
    if want.dtype == np.int64 and got.dtype == np.int32:
        assert np.all((want >= -(2**31)) & (want < 2**31)), want
        want = want.astype(np.int32)
    if want.dtype == np.float64 and got.dtype == np.float32:
        want = want.astype(np.float32)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def _check(fn, *args, modes=MODES):
    want = _torch(fn, *args)
    for mode in modes:
        got = _run(mode, fn, *[ej.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)


def _raises_like_torch(fn, modes=MODES, exact=True):
    """``fn(m)`` raises the same exception type (and text) under torch and eagerjax."""
    try:
        fn(torch)
    except Exception as e:  # noqa: BLE001 - whatever torch raises is the reference
        want = e
    else:
        raise AssertionError("torch accepted it")
    for mode in modes:
        with pytest.raises(type(want)) as got:
            _run(mode, lambda m, x: fn(m), ej.tensor([0.0]))
        text = str(want).splitlines()[0]
        if exact:
            assert str(got.value) == text, (mode, str(got.value), text)
        else:
            assert text in str(got.value), (mode, str(got.value), text)


# ------------------------------------------------------------------ clamp
U8 = np.array([0, 1, 2, 200, 255], np.uint8)
I8 = np.array([-128, -5, 1, 10, 127], np.int8)
F16 = np.array([-2.0, 0.0, 0.25, 1.0, 3.5], np.float16)
BOOL = np.array([True, False, True])

_CLAMPS = [
    (lambda m, x: x.clamp(-1, 1), U8),
    (lambda m, x: x.clamp(min=-1), U8),
    (lambda m, x: x.clamp(max=-1), U8),
    (lambda m, x: x.clamp(1, -1), U8),
    (lambda m, x: x.clamp(-255, 100), U8),
    (lambda m, x: (x.clamp_min(-3), x.clamp_max(-3)), U8),
    (lambda m, x: x.clip(-1, 1), U8),
    (lambda m, x: m.clamp(x, -1, 1), U8),
    (lambda m, x: x.clamp(-128, 127), I8),
    (lambda m, x: x.clamp(0.5), I8),
    (lambda m, x: x.clamp(m.tensor(5)), I8),
    (lambda m, x: x.clamp(m.tensor(5.5)), I8),
    (lambda m, x: x.clamp(m.tensor([2, 3, 4, 5, 6])), I8),
    (lambda m, x: x.clamp(m.tensor([2, 3, 4, 5, 6], dtype=m.int16)), I8),
    (lambda m, x: x.clamp(min=m.tensor(2), max=5), I8),
    (lambda m, x: m.clamp(x, m.tensor(2), m.tensor(5.0)), I8),
    (lambda m, x: (x.clamp_min(m.tensor(2.5)), x.clamp_max(m.tensor(3))), I8),
    (lambda m, x: x.clamp(m.tensor(0.5)), F16),
    (lambda m, x: x.clamp(m.tensor(0.5), m.tensor(1.0)), F16),
    (lambda m, x: x.clamp(m.tensor([0.5] * 5)), F16),
    (lambda m, x: x.clamp(-1e4, 1e4), F16),
    (lambda m, x: x.clamp(float("inf")), F16),
    (lambda m, x: x.bfloat16().clamp(m.tensor(0.25, dtype=m.float16)).float(), F16),
    (lambda m, x: x.clamp(0, 1), BOOL),
    (lambda m, x: x.clamp(True), I8),
    (lambda m, x: x.clamp(np.int64(2), np.int64(100)), U8),
]


@pytest.mark.parametrize("i", range(len(_CLAMPS)))
def test_clamp_values_and_result_dtype_match_torch(i):
    f, x = _CLAMPS[i]
    _check(f, x)


def test_clamp_in_place_keeps_dtype_and_refuses_promotion():
    def f(m, x):
        y = x.clone()
        y.clamp_(-1, 1)
        z = x.clone()
        z.clamp_(m.tensor(2))
        return y, z

    _check(f, U8)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Char"):
        ej.tensor(I8).clamp_(ej.tensor(5.5))


def test_clamp_tensor_bound_gradients_match_torch():
    x = np.array([-2.0, 0.1, 0.6, 2.0], np.float32)

    def f(m, a):
        a = a.clone().requires_grad_(True)
        lo = m.tensor(0.0, dtype=m.float16, requires_grad=True)
        hi = m.tensor([0.5, 0.5, 0.5, 0.5], requires_grad=True)
        out = a.clamp(lo, hi)
        (out * m.arange(1.0, 5.0)).sum().backward()
        return out.detach(), a.grad, lo.grad, hi.grad

    want = _torch(f, x)
    for mode in MODES:
        got = _run(mode, f, ej.tensor(x))
        for g, w in zip(got, want):
            _same(g, w)


_CLAMP_ERRORS = [
    lambda m: m.tensor([0, 100], dtype=m.int8).clamp(-200, 200),
    lambda m: m.tensor([0, 100], dtype=m.int8).clamp_max(200),
    lambda m: m.tensor([0, 100], dtype=m.int8).clip(min=-129),
    lambda m: m.tensor([0, 100], dtype=m.int8).clamp(np.int64(200)),
    lambda m: m.tensor([0, 1], dtype=m.uint8).clamp(2, 300),
    lambda m: m.tensor([0, 1], dtype=m.uint8).clamp(-256, 3),
    lambda m: m.tensor([0.0, 1.0], dtype=m.float16).clamp(-1e9, 1e9),
    lambda m: m.tensor([0.0, 1.0], dtype=m.float16).clamp_min(-70000.0),
    lambda m: m.tensor([0.0, 1.0], dtype=m.bfloat16).clamp(max=1e39),
    lambda m: m.tensor([1.0, 2.0]).clamp(1e40),
    lambda m: m.tensor([1, 2], dtype=m.int32).clamp(2**40),
    lambda m: m.tensor([1 + 1j]).clamp(0),
]


@pytest.mark.parametrize("i", range(len(_CLAMP_ERRORS)))
def test_clamp_bounds_out_of_range_raise_torchs_error(i):
    _raises_like_torch(_CLAMP_ERRORS[i])


# ------------------------------------------------------------------ NumPy scalars
H = np.ones(3, np.float16)
I8S = np.array([1, 2, 100], np.int8)
_NP = [
    (lambda m, h: h * np.float64(1.5), H),
    (lambda m, h: np.float64(1.5) * h, H),
    (lambda m, h: (h + np.float32(1.5), h - np.float64(0.25), h / np.float64(3.0)), H),
    (lambda m, h: (h + np.bool_(True), h ** np.int64(2), h.pow(np.float64(2.0))), H),
    (lambda m, h: m.where(h > 0, h, np.float64(2.0)), H),
    (lambda m, x: x + np.int64(1000), I8S),
    (lambda m, x: (x * np.float32(0.5), x * np.int16(3)), I8S),
    (lambda m, x: (x > np.int64(1), np.int64(2) - x), I8S),
    (lambda m, x: m.add(x, np.int64(300)), I8S),
]


@pytest.mark.parametrize("i", range(len(_NP)))
def test_numpy_scalars_promote_as_python_numbers(i):
    f, x = _NP[i]
    _check(f, x)


_NP_TENSORS = [
    lambda m: m.tensor(np.float16(1.5)),
    lambda m: m.tensor(np.int16(3)),
    lambda m: m.tensor(np.int32(3)),
    lambda m: m.tensor(np.bool_(True)),
    lambda m: m.as_tensor(np.uint8(3)),
    lambda m: m.as_tensor(np.float32(1.5)),
    lambda m: m.tensor([np.float16(1.5)]),
    lambda m: m.tensor([np.float16(1.5), 2.0]),
    lambda m: m.tensor([np.float16(1.5), 2]),
    lambda m: m.tensor([np.int16(3), 1]),
    lambda m: m.tensor([np.int8(3), np.uint8(4)]),
    lambda m: m.tensor([m.tensor(1.5, dtype=m.float16), 2]),
    lambda m: m.tensor([m.tensor(1.5), 2]),
    lambda m: m.tensor([m.tensor(1), m.tensor(2)]),
    lambda m: m.tensor([m.tensor(1, dtype=m.int8), m.tensor(2, dtype=m.int8)]),
    lambda m: m.tensor([m.tensor([1])]),
    lambda m: m.tensor(np.float64(2.5)),  # float64: eagerjax's float64 is float32 (x64 off)
    lambda m: m.tensor(np.int64(7)),
]


@pytest.mark.parametrize("i", range(len(_NP_TENSORS)))
def test_tensor_of_numpy_scalars_and_tensors_infers_torchs_dtype(i):
    # (a list of tensors is read on the host: not inside a compiled step)
    _check(lambda m, x: _NP_TENSORS[i](m), np.zeros(1, np.float32), modes=("eager", "lazy"))
    if not 11 <= i <= 15:
        _check(lambda m, x: _NP_TENSORS[i](m), np.zeros(1, np.float32), modes=("compiled",))


# ------------------------------------------------------------------ float -> integer casts
_VALS = [-1.0, -2.0, -1.5, -0.5, 0.5, 127.5, 128.0, 200.0, -200.0, 255.9, 256.0, 300.0, -129.0, 32768.0,
         65543.0, -40000.0, 1e9, 2147483520.0, 2147483648.0, -2147483648.0, -2147483904.0, 3e9, -3e9,
         1e10, -1e10, 1e20, float("nan"), float("inf"), float("-inf")]  # fmt: skip
_IN_RANGE = [v for v in _VALS if v == v and abs(v) < 60000]  # (in every source dtype's range, and int32's)


@pytest.mark.parametrize("src", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("dst", ["uint8", "int8", "int16", "int32", "bool"])
def test_float_to_integer_casts_match_torchs_cpu_results(src, dst):
    x = np.array(_VALS, np.float32)
    _check(lambda m, a: a.to(getattr(m, src)).to(getattr(m, dst)), x)


@pytest.mark.parametrize("src", ["float32", "float16", "bfloat16"])
def test_float_cast_spellings_match_torch(src):
    x = np.array(_VALS, np.float32)

    def f(m, a):
        a = a.to(getattr(m, src))
        return a.int(), a.byte(), a.char(), a.short(), a.type(m.IntTensor), a.type("torch.ByteTensor")

    _check(f, x)
    # long(): eagerjax's int64 is int32 storage; within int32's range torch's results
    _check(lambda m, a: (a.to(getattr(m, src)).long(), a.type(m.LongTensor)), np.array(_IN_RANGE, np.float32))


def test_float_to_int_cast_has_no_gradient_path_and_in_range_truncates():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 2.7, 126.9], np.float32)
    _check(lambda m, a: (a.to(m.int8), a.to(m.uint8).to(m.float32), a.int()), x)


# ------------------------------------------------------------------ Tensor protocol
def test_format_of_0d_tensors_is_the_numbers():
    for m in (torch, ej):
        assert f"loss: {m.tensor(0.5)}" == "loss: 0.5"
        assert "{}".format(m.tensor(3)) == "3"  # noqa: UP032 - str.format is what is tested
        assert f"{m.tensor(True)}" == "True"
        assert f"{m.tensor(0.1)}" == f"{torch.tensor(0.1)}"
        assert f"{m.tensor(0.1, dtype=m.float16)}" == f"{torch.tensor(0.1, dtype=torch.float16)}"
        assert f"{m.tensor(3.14159):.2f}" == "3.14"
        assert "{:>6}".format(m.tensor(3)) == "     3"  # noqa: UP032
        assert format(m.tensor(1 + 2j)) == "(1+2j)"
        assert format(m.tensor(0.5, requires_grad=True)) == "0.5"
    assert f"{ej.tensor([1.0, 2.0])}" == str(ej.tensor([1.0, 2.0]))
    for m in (torch, ej):
        with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
            format(m.tensor([1.0, 2.0]), ">30")
    with ej.lazy():
        assert f"{ej.tensor(2.0) * 3}" == "6.0"
    seen = []

    @ej.compile
    def step(x):
        y = (x * 2).sum()
        seen.append(f"{y}")  # (traced: the placeholder's text, not a host read)
        return y

    assert step(ej.ones(3)).item() == 6.0 and "traced" in seen[-1]


def test_contains_matches_torch():
    cases = [
        lambda m: m.tensor([1, 2]) in m.tensor([[1, 2], [3, 4]]),
        lambda m: m.tensor([1, 5]) in m.tensor([[1, 2], [3, 4]]),
        lambda m: m.tensor([5, 6]) in m.tensor([[1, 2], [3, 4]]),
        lambda m: 3 in m.tensor([[1, 2], [3, 4]]),
        lambda m: 3.0 in m.tensor([1, 3]),
        lambda m: 3.5 in m.tensor([1, 3]),
        lambda m: True in m.tensor([1, 3]),
        lambda m: np.int64(3) in m.tensor([1, 3]),
        lambda m: np.float32(2.0) in m.tensor([1.0, 3.0]),
    ]
    for c in cases:
        assert c(ej) is c(torch)
        with ej.lazy():
            assert c(ej) is c(torch)
    for bad in (None, [1, 2], "a", np.array(3)):
        with pytest.raises(RuntimeError) as want:
            bad in torch.tensor([1, 2])  # noqa: B015
        with pytest.raises(RuntimeError) as got:
            bad in ej.tensor([1, 2])  # noqa: B015
        assert str(got.value) == str(want.value)


def test_reversed_complex_and_size():
    _check(lambda m, x: (reversed(x), m.stack(list(reversed(x)))), np.arange(6).reshape(3, 2))
    _check(lambda m, x: reversed(x.sum()), np.arange(6).reshape(3, 2))
    for m in (torch, ej):
        assert complex(m.tensor(1 + 2j)) == 1 + 2j
        assert complex(m.tensor([3])) == 3 + 0j
        with pytest.raises(ValueError, match="only one element tensors"):
            complex(m.tensor([1 + 2j, 2]))
        s = m.zeros(2, 3).shape
        for got in (s[1:], s[::-1], s + (4,), (4,) + s, s * 2, 2 * s):
            assert type(got).__name__ == "Size"
        assert list(s[1:]) == [3] and s[1:].numel() == 3 and s[0] == 2 and type(s[0]) is int
        assert list((4,) + s) == [4, 2, 3] and list(s * 2) == [2, 3, 2, 3]
        with pytest.raises(TypeError, match=r"can only concatenate tuple \(not list\) to torch.Size"):
            s + [1]  # noqa: B018


def test_type_takes_legacy_tensor_classes():
    x = np.array([1.5, -2.5], np.float32)
    _check(lambda m, a: (a.type(m.IntTensor), a.type(m.LongTensor), a.type(m.FloatTensor), a.type(m.ByteTensor)), x)
    assert ej.tensor(x).type(ej.IntTensor).type() == "torch.IntTensor"


def test_layout_flags_are_false():
    t = ej.zeros(2)
    for name in ("is_sparse", "is_quantized", "is_meta", "is_mkldnn", "is_mps", "is_xla"):
        assert getattr(t, name) is False and getattr(torch.zeros(2), name) is False
    # eagerjax materializes conj(): the result is a plain (resolved) tensor
    z = ej.tensor([1 + 1j]).conj()
    assert z.is_conj() is False and z.tolist() == [1 - 1j]


# ------------------------------------------------------------------ refusals in torch's words
_REFUSED = [
    lambda m: m.tensor([1.0, 2]).imag,
    lambda m: m.imag(m.tensor([1.0, 2])),
    lambda m: m.tensor([True]).imag,
    lambda m: +m.tensor([True]),
    lambda m: m.positive(m.tensor(True)),
    lambda m: m.tensor([1, 2], dtype=m.int16).lerp(m.tensor([3, 4], dtype=m.int16), 0.5),
    lambda m: m.tensor([1, 2], dtype=m.int16).lerp(m.tensor([3, 4], dtype=m.int16), m.tensor([1, 1], dtype=m.int16)),
    lambda m: m.tensor([1, 2], dtype=m.int16).lerp(m.tensor([3.0, 4]), 0.5),
    lambda m: m.tensor([1.0, 2]).lerp(m.tensor([3, 4], dtype=m.uint8), 0.5),
    lambda m: m.tensor([1.0, 2]).lerp(m.tensor([3.0, 4], dtype=m.float16), 0.5),
    lambda m: m.tensor([1.0, 2]).lerp(m.tensor([3.0, 4]), m.tensor([1.0, 1], dtype=m.float16)),
    lambda m: m.tensor([1.0, 2], dtype=m.float16).lerp(m.tensor([3.0, 4]), 0.5),
    lambda m: m.tensor([1.0, 2]) & 1,
    lambda m: 1 & m.tensor([1.0, 2]),
    lambda m: m.tensor([1.0, 2]) | m.tensor([1, 2]),
    lambda m: m.tensor([1.0, 2]) ^ True,
    lambda m: m.tensor([1, 2]) & 1.5,
    lambda m: m.tensor([1.0, 2], dtype=m.float16) & 1,
    lambda m: m.tensor([1.0, 2], dtype=m.bfloat16) & 1,
    lambda m: m.tensor(1 + 1j) & 1,
    lambda m: m.tensor([1.0, 2]) << 1,
    lambda m: m.zeros(2, 3, 4).H,
    lambda m: m.zeros(3).H,
    lambda m: m.zeros(3).mT,
    lambda m: m.zeros(3).mH,
]


@pytest.mark.parametrize("i", range(len(_REFUSED)))
def test_refused_calls_raise_torchs_error(i):
    _raises_like_torch(_REFUSED[i])


def test_invert_of_float_raises_torchs_type_error():
    # (the text is wrapped in the op's name and operands, as eagerjax's dispatch errors are)
    _raises_like_torch(lambda m: ~m.tensor([1.0, 2]), exact=False)


_HOST_REFUSED = [
    lambda m: bool(m.tensor([])),
    lambda m: bool(m.zeros(0, 3)),
    lambda m: bool(m.tensor([1, 2])),
    lambda m: m.tensor([[1, 2], [3]]),
    lambda m: m.tensor([[[1], [2]], [[3], [4, 5]]]),
    lambda m: m.tensor([[1, 2], 3]),
    lambda m: m.tensor("abc"),
    lambda m: m.tensor(["a"]),
    lambda m: m.tensor([1, "a"]),
    lambda m: m.tensor(None),
    lambda m: m.tensor([None]),
    lambda m: m.tensor({1: 2}),
    lambda m: m.tensor([m.tensor([1, 2]), m.tensor([3, 4])]),
]


@pytest.mark.parametrize("i", range(len(_HOST_REFUSED)))
def test_host_side_refusals_raise_torchs_error(i):
    _raises_like_torch(_HOST_REFUSED[i], modes=("eager", "lazy"))


def test_still_accepted_calls():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    e = np.array([3.0, 5.0, -1.0], np.float32)

    def f(m, a, b):
        a = a.clone().requires_grad_(True)
        w = m.tensor([0.2, 0.5, 0.9], requires_grad=True)
        out = a.lerp(b, 0.25) + a.lerp(b, w) + m.lerp(a, b, 2)
        out.sum().backward()
        return out.detach(), a.grad, w.grad

    want = _torch(f, x, e)
    for mode in MODES:
        for g, w in zip(_run(mode, f, ej.tensor(x), ej.tensor(e)), want):
            np.testing.assert_allclose(g, w, rtol=1e-6)  # (lerp's formula: an ulp from torch's)
    ints = np.array([1, 6, 12], np.int8)
    _check(lambda m, a: (a & 3, a | m.tensor([1, 1, 1], dtype=m.int8), a ^ True, ~a, a << 1, +a), ints)
    _check(lambda m, a: (a & True, ~a, a.real), np.array([True, False]))
    _check(lambda m, a: (a.imag, a.real, m.zeros(2, 3).H), np.array([1 + 2j]))


# ------------------------------------------------------------------ torch's operand keywords
@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x, y: m.add(x, other=y),
        lambda m, x, y: m.add(input=x, other=y, alpha=2),
        lambda m, x, y: m.mul(x, other=y),
        lambda m, x, y: x.sub(other=y),
        lambda m, x, y: m.maximum(x, other=y),
        lambda m, x, y: m.atan2(input=x, other=y),
        lambda m, x, y: m.pow(x, exponent=2),
        lambda m, x, y: m.div(x, other=y, rounding_mode="floor"),
        lambda m, x, y: m.exp(input=x),
        lambda m, x, y: m.where(x > 1, input=x, other=y),
        lambda m, x, y: m.searchsorted(m.sort(y)[0], input=x),  # (its input is the second operand)
        lambda m, x, y: m.searchsorted(sorted_sequence=m.sort(y)[0], input=x, right=True),
        lambda m, x, y: m.bucketize(input=x, boundaries=m.sort(y)[0]),
    ],
)
def test_operands_by_torch_keyword(fn):
    """``torch.add(x, other=y)``: operands named as torch names them reach their positions."""
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([3.0, 0.5, 2.0], np.float32)
    _check(fn, x, y)


def test_operand_keyword_given_twice_raises():
    for m in (torch, ej):
        with pytest.raises(TypeError, match="add\\(\\) got multiple values for argument 'other'"):
            m.add(m.ones(2), m.ones(2), other=m.ones(2))


def test_memory_formats_are_accepted_and_keep_values():
    x = np.arange(18, dtype=np.float32).reshape(1, 2, 3, 3)
    for name in ("contiguous_format", "preserve_format", "channels_last"):
        fmt_t, fmt_e = getattr(torch, name), getattr(ej, name)
        assert repr(fmt_e) == repr(fmt_t)
        assert pickle.loads(pickle.dumps(fmt_e)) is fmt_e
        for f in (
            lambda m, t, f: t.clone(memory_format=f),
            lambda m, t, f: t.contiguous(memory_format=f) if f is not getattr(m, "preserve_format") else t,
            lambda m, t, f: m.empty_like(t, memory_format=f).shape,
            lambda m, t, f: t.to(memory_format=f),
        ):
            want = f(torch, torch.tensor(x), fmt_t)
            got = f(ej, ej.tensor(x), fmt_e)
            if isinstance(want, torch.Size):
                assert tuple(got) == tuple(want)
            else:
                np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_tensor_of_a_list_of_arrays_and_tensors_as_torch():
    """Arrays in a list keep their dtype in the inference; a tensor in a list must be one
    element, with torch's exception type per dtype (ValueError for floats, TypeError else)."""
    for data in (
        [np.array([1, 2], np.int8)],
        [np.array([True, False])],
        [np.array([1.0, 2.0], np.float16)],
        [np.array([1, 2], np.int8), np.array([1.5, 2], np.float32)],
        [[1, 2], np.array([1.5, 2], np.float32)],
    ):
        assert str(ej.tensor(data).dtype) == str(torch.tensor(data).dtype).replace("torch.", "")
        np.testing.assert_array_equal(ej.tensor(data).numpy(), torch.tensor(data).numpy())
    for m in (torch, ej):
        for x, exc in ((m.tensor([1.0, 2.0]), ValueError), (m.tensor([1, 2]), TypeError), (m.zeros(0), ValueError)):
            with pytest.raises(exc, match="only (one element|integer) tensors"):
                m.tensor([x])
