"""The Tensor API: metadata, conversions, copies, autograd flags, torch's promotion and
in-place rules, indexing, and torch-style errors and reprs."""

from __future__ import annotations

import contextlib
import copy
import pickle

import jax
import numpy as np
import pytest

import eagerjax as ej
from eagerjax._repr import tensor_repr

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


# --------------------------------------------------------------------------- metadata
def test_metadata():
    x = ej.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, ej.Size)
    assert x.size() == ej.Size([2, 3, 4]) and x.size(1) == 3 and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and x.ndimension() == 3
    assert x.numel() == 24 and x.nelement() == 24 and ej.numel(x) == 24 and x.shape.numel() == 24
    assert x.dtype == ej.float32 and x.dtype == ej.float
    assert x.is_floating_point() and not ej.tensor([1]).is_floating_point()
    assert x.element_size() == 4
    assert len(x) == 2
    assert repr(x.shape) == "torch.Size([2, 3, 4])"
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(ej.tensor(1.0))


def test_transposes():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = ej.tensor(a)
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    np.testing.assert_array_equal(x.mT.numpy(), np.swapaxes(a, -1, -2))
    np.testing.assert_array_equal(ej.tensor(a[0]).t().numpy(), a[0].T)


def test_host_reads():
    x = ej.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert x[0, 0].item() == 1.5 and isinstance(x[1, 1].item(), float)
    assert ej.tensor([7]).item() == 7 and isinstance(ej.tensor(7).item(), int)
    assert ej.tensor(True).item() is True
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x), x.numpy())
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert [r.tolist() for r in x] == [[1.5, 2.0], [3.0, 4.0]]
    assert float(x[0, 1]) == 2.0 and int(x[1, 0]) == 3 and bool(x[0, 0])
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted to Scalar"):
        x.item()
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        ej.tensor([1.0], requires_grad=True).numpy()
    assert ej.tensor([1.0], requires_grad=True).detach().numpy().tolist() == [1.0]
    assert list(range(10))[ej.tensor(3)] == 3  # __index__


def test_conversions():
    x = ej.tensor([1.7, -2.2, 0.0])
    assert x.long().dtype == ej.int64 and x.long().tolist() == [1, -2, 0]
    assert x.int().dtype == ej.int32
    assert x.bool().tolist() == [True, True, False]
    assert x.half().dtype == ej.float16
    assert x.double().dtype == ej.float64
    assert ej.tensor([1, 2]).float().dtype == ej.float32
    assert x.to(ej.int32).dtype == ej.int32
    assert x.to("cpu") is x and x.to("cpu", ej.float16).dtype == ej.float16
    assert x.to(ej.tensor([1])).dtype == ej.int64
    assert x.to(dtype=ej.float32) is x
    assert x.type() == "torch.FloatTensor"
    assert x.type_as(ej.tensor([True])).dtype == ej.bool


def test_clone_is_a_real_copy():
    x = ej.tensor([1.0, 2.0])
    y = x.clone()
    y[0] = 10.0
    y.add_(1)
    assert x.tolist() == [1.0, 2.0] and y.tolist() == [11.0, 3.0]
    z = copy.deepcopy(x)
    z.zero_()
    assert x.tolist() == [1.0, 2.0]


def test_clone_keeps_the_graph():
    x = ej.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y.requires_grad and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_detach_leaf_grad_fn():
    x = ej.tensor([1.0, 2.0], requires_grad=True)
    assert x.is_leaf and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and "MulBackward" in y.grad_fn.name()
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert ej.tensor([1.0]).is_leaf
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        ej.tensor([1]).requires_grad_()


def test_data_assignment():
    w = ej.tensor([1.0, 2.0], requires_grad=True)
    w.data = ej.tensor([5.0, 6.0])
    assert w.tolist() == [5.0, 6.0] and w.requires_grad and w.is_leaf
    w.data.mul_(2)  # in-place on .data writes through and is not tracked
    assert w.tolist() == [10.0, 12.0]
    (w * w).sum().backward()
    assert w.grad.tolist() == [20.0, 24.0]


# --------------------------------------------------------------------------- promotion
@pytest.mark.parametrize(
    "make, dtype",
    [
        (lambda: ej.tensor([1, 2]) * 2.5, ej.float32),
        (lambda: ej.tensor([1, 2]) * 2, ej.int64),
        (lambda: ej.tensor([1.0, 2.0], dtype=ej.float16) + 1.0, ej.float16),
        (lambda: ej.tensor([1, 2]) + ej.tensor([1.0, 2.0], dtype=ej.float16), ej.float16),
        (lambda: ej.tensor([1.0, 2.0], dtype=ej.float16) + ej.tensor(1.0), ej.float16),  # 0-d: same category
        (lambda: ej.tensor([1, 2]) + ej.tensor(1.5), ej.float32),  # 0-d: higher category wins
        (lambda: ej.tensor([1, 2], dtype=ej.int8) + ej.tensor(1000), ej.int8),
        (lambda: ej.tensor([1, 2]) / ej.tensor([2, 2]), ej.float32),
        (lambda: ej.tensor([True, False]) + ej.tensor([True, True]), ej.bool),
        (lambda: ej.tensor([True]) + 1, ej.int64),
        (lambda: ej.tensor([True]) * 1.5, ej.float32),
        (lambda: ej.tensor([1, 2], dtype=ej.uint8) + ej.tensor([1, 2], dtype=ej.int8), ej.int16),
        (lambda: 2.5 - ej.tensor([1, 2]), ej.float32),
        (lambda: ej.tensor(2.0) ** ej.tensor([1, 2]), ej.float32),
        (lambda: ej.where(ej.tensor([True, False]), ej.tensor([1, 2]), 0.5), ej.float32),
        (lambda: ej.cat([ej.tensor([1]), ej.tensor([1.5])]), ej.float32),
    ],
)
def test_promotion(make, dtype):
    assert make().dtype == dtype


# --------------------------------------------------------------------------- in-place rules
def test_inplace_on_leaf_requiring_grad():
    w = ej.tensor([1.0, 2.0], requires_grad=True)
    msg = "a leaf Variable that requires grad is being used in an in-place operation."
    for f in (
        lambda: w.add_(1),
        lambda: w.mul_(2),
        lambda: w.zero_(),
        lambda: w.fill_(1.0),
        lambda: w.copy_(ej.tensor([3.0, 4.0])),
        lambda: w.__setitem__(0, 5.0),
        lambda: w.masked_fill_(ej.tensor([True, False]), 0.0),
    ):
        with pytest.raises(RuntimeError, match=msg):
            f()
    with ej.no_grad():  # the nn.init idiom
        w.fill_(0.5)
        w[1] = 3.0
        w.add_(1)
    assert w.tolist() == [1.5, 4.0] and w.requires_grad and w.is_leaf


def test_inplace_int_cast_error():
    x = ej.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Int"):
        x += 1.5
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Int"):
        x.mul_(ej.tensor([1.5, 1.0]))
    x += 2
    assert x.tolist() == [3, 4] and x.dtype == ej.int64


def test_inplace_shape_error():
    x = ej.zeros(3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(ej.ones(2, 3))


def test_inplace_on_non_leaf_is_differentiated():
    x = ej.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[0] = 0.0
    y.mul_(y)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 16.0, 24.0]  # d(4x^2)/dx, and 0 where overwritten


def test_fill_zero_copy():
    x = ej.zeros(2, 3)
    assert x.fill_(2.5) is x and x.tolist() == [[2.5] * 3] * 2
    x.fill_(ej.tensor(1.0))
    assert x.sum().item() == 6.0
    assert x.zero_().sum().item() == 0.0
    x.copy_(ej.tensor([1, 2, 3]))
    assert x.dtype == ej.float32 and x.tolist() == [[1.0, 2.0, 3.0]] * 2
    i = ej.zeros(2, dtype=ej.int32)
    i.copy_(ej.tensor([1.7, -2.7]))  # copy_ casts (truncation), unlike arithmetic in-place ops
    assert i.tolist() == [1, -2]
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor"):
        x.fill_(ej.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.copy_(ej.ones(4))


def test_copy_and_fill_gradients():
    src = ej.tensor([1.0, 2.0], requires_grad=True)
    x = ej.zeros(3, 2)
    x.copy_(src)
    assert x.requires_grad
    (x * ej.tensor([[1.0, 2.0]])).sum().backward()
    assert src.grad.tolist() == [3.0, 6.0]

    a = ej.tensor([1.0, 2.0], requires_grad=True)
    b = a * 3
    b.fill_(1.0)  # the old value no longer matters
    (b * a).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0]


def test_new_factories():
    x = ej.tensor([1, 2], dtype=ej.int32)
    assert x.new_zeros(2, 3).dtype == ej.int32 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(2).tolist() == [1, 1]
    assert x.new_full((2,), 7).tolist() == [7, 7]
    assert x.new_empty(4).shape == (4,)
    assert x.new_tensor([1.7, 2.2]).dtype == ej.int32
    f = ej.zeros(1)
    assert f.new_tensor([1, 2]).dtype == ej.float32
    assert f.new_zeros(2, dtype=ej.int32).dtype == ej.int32
    assert f.new_ones(2, requires_grad=True).requires_grad


# --------------------------------------------------------------------------- indexing
def test_getitem_matches_numpy():
    a = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    x = ej.tensor(a)
    for idx in [
        0,
        -1,
        (slice(None), 1),
        (Ellipsis, 0),
        (None, 1),
        (slice(1, None, 2),),
        ([0, 2],),
        (np.array([0, 3]), slice(None), np.array([1, 0])),
        (a[:, 0, 0] > 5,),
        (1, Ellipsis, None),
    ]:
        np.testing.assert_array_equal(x[idx].numpy(), a[idx])
    assert x[ej.tensor([1, 3])].shape == (2, 3, 2)
    assert x[ej.tensor(2)].shape == (3, 2)
    assert x[0, 1, 1].item() == 3.0


def test_getitem_errors():
    x = ej.zeros(3, 2)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="index -3 is out of bounds for dimension 1 with size 2"):
        x[0, -3]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[ej.tensor([0.0])]


def test_boolean_mask_gradient():
    x = ej.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True)
    y = x[x > 0]
    assert y.tolist() == [1.0, 3.0]
    (y * ej.tensor([1.0, 2.0])).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [2.0, 0.0]]


def test_boolean_mask_under_capture_is_refused_with_the_op_name():
    @ej.compile
    def step(x):
        return x[x > 0].sum()

    with pytest.raises(Exception, match=r"Tensor.__getitem__ with a boolean mask"):
        step(ej.tensor([1.0, -1.0]))

    def raw(v):  # a bare jax trace (no capture context) is refused too
        t = ej.Tensor._make(v)
        return t[ej.Tensor._make(v > 0)]._value

    with pytest.raises(RuntimeError, match="Tensor.__getitem__ with a boolean mask"):
        jax.jit(raw)(np.ones(2, np.float32))
    assert ej.zeros(2)[ej.tensor([True, False])].shape == (1,)


def test_setitem():
    x = ej.zeros(3, 4)
    x[0] = 1.0
    x[:, 1] = ej.tensor([5.0, 6.0, 7.0])
    x[x > 5.5] = -1.0
    x[[1, 2], [3, 3]] = 9.0
    x[..., 2:] += 1  # __getitem__, in-place add, __setitem__
    np.testing.assert_array_equal(x.numpy(), np.array([[1, 5, 2, 2], [0, -1, 1, 10], [0, -1, 1, 10]], np.float32))
    i = ej.zeros(2, dtype=ej.int32)
    i[0] = 2.7  # setitem casts like torch
    assert i.tolist() == [2, 0]
    with pytest.raises(RuntimeError, match="shape mismatch"):
        x[0] = ej.ones(3)


def test_setitem_gradient_reaches_value_and_source():
    v = ej.tensor([10.0, 20.0], requires_grad=True)
    x = ej.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y[1:] = v
    (y * ej.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert v.grad.tolist() == [2.0, 3.0]
    assert x.grad.tolist() == [1.0, 0.0, 0.0]

    z = ej.zeros(2)
    z[0] = v[0]  # a tensor that did not require grad now does
    assert z.requires_grad and not z.is_leaf


def test_where_method_and_one_argument_form():
    x = ej.tensor([1.0, -2.0, 3.0])
    assert x.where(x > 0, ej.tensor(0.0)).tolist() == [1.0, 0.0, 3.0]
    (idx,) = ej.where(x > 0)
    assert idx.tolist() == [0, 2]


def test_max_min_forms():
    x = ej.tensor([[1.0, 5.0], [7.0, 2.0]])
    assert x.max().item() == 7.0
    v, i = x.max(dim=1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0]
    r = x.min(0, keepdim=True)
    assert r.values.shape == (1, 2) and r.indices.tolist() == [[0, 1]]
    assert ej.max(x, ej.tensor([3.0, 3.0])).tolist() == [[3.0, 5.0], [7.0, 3.0]]
    with pytest.raises(RuntimeError, match="Expected reduction dim to be specified for input.numel\\(\\) == 0"):
        ej.zeros(0).max()


# --------------------------------------------------------------------------- errors
def test_matmul_shape_error():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        ej.zeros(2, 3) @ ej.zeros(4, 5)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        ej.mm(ej.zeros(2, 3), ej.zeros(4, 5))


def test_shape_errors_name_shapes():
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        ej.zeros(2, 3).view(4, 2)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(4\) must match the existing size \(3\)"):
        ej.zeros(2, 3).expand(2, 4)
    with pytest.raises(RuntimeError, match=r"Sizes of tensors must match except in dimension 0"):
        ej.cat([ej.zeros(2, 3), ej.zeros(2, 4)])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2\] at entry 0"):
        ej.stack([ej.zeros(2), ej.zeros(3)])
    with pytest.raises(RuntimeError, match=r"1D tensors expected, but got 2D and 1D tensors"):
        ej.dot(ej.zeros(2, 2), ej.zeros(2))


# --------------------------------------------------------------------------- repr
@needs_torch
@pytest.mark.parametrize(
    "expr",
    [
        "tensor([1., 2.])",
        "tensor([1., 2.], requires_grad=True)",
        "tensor([1, 2, 3])",
        "tensor([True, False])",
        "tensor(3)",
        "tensor(True)",
        "tensor([[1., 2.], [3., 4.]])",
        "tensor([[1, 2], [3, 4]])",
        "tensor([1., 2.], dtype=M.float16)",
        "tensor([])",
        "zeros(0, 3)",
        "tensor([1.123456789])",
        "tensor([0., 0.25])",
        "tensor(3.5)",
        "tensor([0.1, 0.2, 0.3])",
        "tensor([-1.5, 2.0])",
        "tensor([1e10, 1.0])",
        "tensor([123456.7, 1.0])",
        "tensor([1e-8, 1.0])",
        # nonfinite values do not widen the column
        "tensor([float('nan'), float('inf'), 1.0])",
        "tensor([float('nan'), 1.5, -float('inf')])",
        "tensor(float('nan'))",
        "tensor([[float('nan')]])",
        # summarized (more than 1000 elements): ' ...' between the edges, '...' rows
        "arange(2000.)",
        "arange(2000)",
        "ones(2000, dtype=M.bool)",
        "arange(5000.).reshape(50, 100)",
        "arange(3000).reshape(10, 3, 100) - 1500",
        "arange(1200.).reshape(2, 600) * 1e-6",
        # line wrapping, negative numbers, integers, bools
        "arange(40.) / 3",
        "arange(100.).reshape(10, 10) * 1.5",
        "tensor([-1.25, 3.5, -100.0])",
        "tensor([-0.0, 1.0])",
        "tensor([0., 0.])",
        "tensor([True, False, True])",
        "tensor([1, -100, 30], dtype=M.int16)",
        "tensor([1, -100, 30], dtype=M.int8)",
        "tensor([[1, 2]], dtype=M.uint8)",
        "zeros(3, 4, 5, 6)",
        # scientific notation
        "tensor([1e-5, 1.0, -2.5])",
        "tensor([1e12, -3.0])",
        "tensor(-2.5e-7)",
        "tensor([0., 1e-3, 12345.])",
        "arange(30.).reshape(2, 3, 5) * 1e5",
        # dtype suffix, empty tensors, complex
        "tensor([1.5, 2.0], dtype=M.float16)",
        "tensor([1.5, 2.0], dtype=M.bfloat16)",
        "tensor([1e-5, 2.0], dtype=M.float16)",
        "full((2, 2), 65504., dtype=M.float16)",
        "zeros(2, 0)",
        "zeros(0, dtype=M.int16)",
        "tensor([1+2j, -3.5-1j])",
        # requires_grad / grad_fn suffixes, wrapped onto a new line when long
        "ones(3, requires_grad=True) * 2",
        "arange(20., requires_grad=True) * 1.5",
        "arange(19., requires_grad=True) / 7",
        "arange(12., requires_grad=True).reshape(3, 4) + 1",
        "nn.Parameter(M.ones(2))",
        "nn.Parameter(M.ones(2), requires_grad=False)",
    ],
)
def test_repr_matches_torch(expr):
    dev = ej.ones(1).device  # off the CPU both name the device: torch's tensors go there too
    if dev.type != "cpu" and not torch.cuda.is_available():
        pytest.skip("eagerjax's tensors are on a GPU and torch has no CUDA here")
    with torch.device(str(dev)):
        assert repr(eval("M." + expr, {"M": ej})) == repr(eval("M." + expr, {"M": torch}))


def test_repr_grad_fn_and_requires_grad():
    x = ej.tensor([1.0, 2.0], requires_grad=True)
    if x.device.type == "cpu":
        assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    # a tensor off the CPU names its device first, as torch's does
    gpu = tensor_repr(np.array([1.0, 2.0]), "float64", "AddBackward0", True, "cuda:0")
    assert gpu == "tensor([1., 2.], device='cuda:0', dtype=torch.float64, grad_fn=<AddBackward0>)"
    assert tensor_repr(np.zeros((2, 0), np.float32), "float32", None, True, "cuda:0") == (
        "tensor([], device='cuda:0', size=(2, 0), requires_grad=True)"
    )
    assert repr(x * 2).endswith("grad_fn=<MulBackward0>)")
    assert repr(ej.tensor([1, 2], dtype=ej.int16)) == "tensor([1, 2], dtype=torch.int16)"


@needs_torch
def test_return_types_print_like_torch():
    a = [[1.0, 3.0], [2.0, 0.0]]
    e, t = ej.tensor(a), torch.tensor(a)
    assert repr(e.max(1)) == repr(t.max(1))
    assert repr(ej.sort(e, descending=True)) == repr(torch.sort(t, descending=True))
    assert repr(ej.aminmax(e)) == repr(torch.aminmax(t))
    assert repr(ej.slogdet(e)) == repr(torch.slogdet(t))


def test_inplace_index_ops():
    x = ej.zeros(3, 2)
    x.index_add_(0, ej.tensor([0, 2, 0]), ej.ones(3, 2))
    assert x.tolist() == [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]
    x.masked_fill_(x > 1.5, -1.0)
    x.scatter_(1, ej.tensor([[1], [0], [1]]), 7.0)
    x.index_fill_(0, ej.tensor([1]), 3.0)
    assert x.tolist() == [[-1.0, 7.0], [3.0, 3.0], [1.0, 7.0]]
    x.clamp_(min=0.0).tril_()
    assert x.tolist() == [[0.0, 0.0], [3.0, 3.0], [1.0, 7.0]]


def test_python_ints_and_slices_in_indices_are_traced():
    """``x[i]`` / ``x[i:i + 3]`` in a loop reuse one kernel instead of compiling one per ``i``."""
    from eagerjax._ops._registry import OPS

    x = ej.arange(10.0)
    kernels = OPS["_getitem"].kernels
    before = len(kernels)
    assert [x[i].item() for i in range(10)] == [float(i) for i in range(10)]
    assert [x[i : i + 3].tolist() for i in (0, 4, 7)][1:] == [[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    assert x[-1].item() == 9.0 and x[8:20].tolist() == [8.0, 9.0]
    assert len(kernels) - before <= 4
    y = ej.zeros(10)
    set_before = len(OPS["_setitem"].kernels)
    for i in range(0, 10, 2):
        y[i : i + 2] = float(i)
    assert y.tolist() == [0.0, 0.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 8.0, 8.0]
    assert len(OPS["_setitem"].kernels) - set_before <= 2


def test_grad_setter_checks_shape_and_dtype():
    """torch's rules: an assigned .grad has the tensor's shape and dtype."""
    p = ej.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="different size"):
        p.grad = ej.zeros(2)
    with pytest.raises(RuntimeError, match="dtype 'int32' to a tensor with dtype 'float32'"):
        p.grad = ej.zeros(3, dtype=ej.int32)
    with pytest.raises(TypeError, match="Tensor or None"):
        p.grad = [0.0, 0.0, 0.0]
    p.grad = ej.ones(3)
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, 1.0, 1.0])


def test_kernels_per_op_are_bounded(monkeypatch):
    """Each new static argument builds a kernel; past the bound the oldest goes, and a tape
    that still holds an evicted kernel backpropagates through it."""
    from eagerjax import _dispatch
    from eagerjax._ops._registry import OPS

    monkeypatch.setattr(_dispatch, "MAX_KERNELS_PER_OP", 3)
    kernels = OPS["view"].kernels
    saved = dict(kernels)
    kernels.clear()
    try:
        x = ej.arange(12.0, requires_grad=True)
        y = x.view(2, 6)  # its kernel is evicted below, before backward runs
        for n in (3, 4, 6):
            assert x.view(n, -1).shape == (n, 12 // n)
        assert len(kernels) == 3
        assert [k[0][1:] for k in kernels] == [((int, n), (int, -1)) for n in (3, 4, 6)]  # (2, 6) went
        (y * ej.arange(12.0).view(2, 6)).sum().backward()
        assert x.grad.tolist() == [float(i) for i in range(12)]
    finally:
        kernels.clear()
        kernels.update(saved)


def _call_in_mode(mode: str, f, *args):
    """``f(*args)`` eagerly, through ``ej.compile`` or inside ``ej.lazy()``."""
    if mode == "compiled":
        return ej.compile(f)(*args)
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        return f(*args)


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_mask_setitem_is_shape_static_in_every_mode(mode):
    """``x[mask] = v`` with a value that fits each selected element (or row) is a where:
    it runs inside ej.compile too, and the gradient reaches x and v as in torch."""
    a = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]], np.float32)

    def f(x, v):
        y = x * 2
        y[y < 0] = 0.5  # a number
        y[y[:, 0] > 1] = v * 3  # a row per selected row
        y[(y == 0.5,)] = ej.tensor(-1.0)  # a 0-d tensor, the index in a tuple
        (y * ej.tensor(a)).sum().backward()
        return y

    x = ej.tensor(a, requires_grad=True)
    v = ej.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = _call_in_mode(mode, f, x, v)
    assert y.tolist() == [[-1.0, 4.0, -1.0], [3.0, 6.0, 9.0]]
    assert x.grad.tolist() == [[0.0, 4.0, 0.0], [0.0, 0.0, 0.0]]
    assert v.grad.tolist() == [12.0, -15.0, 18.0]


_M2 = np.random.default_rng(1).random((4, 5)) > 0.5
_COLS = np.array([True, False, True, False, True])
_ROWS = np.array([False, True, True, False])
MASK_AMONG = {  # name: index, with the mask as a NumPy bool array
    "slice_then_mask": lambda: (slice(None), _COLS),
    "mask_then_slice": lambda: (_M2, slice(2, 4)),
    "int_then_mask": lambda: (1, _COLS),
    "ellipsis_then_mask": lambda: (Ellipsis, np.array([True, False, False, True, True, False])),
    "mask_then_stepped_slice_and_int": lambda: (_ROWS, slice(None, None, 2), -1),
    "new_axis_then_mask": lambda: (None, _M2),
}


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
@pytest.mark.parametrize("name", list(MASK_AMONG))
def test_mask_among_basic_indices_set_to_one_value_in_every_mode(name, mode):
    """``y[:, cols] = v``, ``y[m, 2:4] = v``: one boolean mask among basic indices, one value,
    is a where in every mode (it raised inside ej.compile, which cannot read the mask): NumPy's
    values, and the gradient reaches x where nothing was written and v once per element."""
    a = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    w = np.random.default_rng(2).normal(size=(4, 5, 6)).astype(np.float32)
    idx = MASK_AMONG[name]()
    want = a.copy()
    want[idx] = 1.5
    sel = np.zeros(a.shape, bool)
    sel[idx] = True

    def f(x, v):
        y = x * 1.0
        y[tuple(ej.tensor(e) if isinstance(e, np.ndarray) else e for e in idx)] = v
        (y * ej.tensor(w)).sum().backward()
        return y

    x = ej.tensor(a, requires_grad=True)
    v = ej.tensor(1.5, requires_grad=True)
    y = _call_in_mode(mode, f, x, v)
    np.testing.assert_array_equal(y.numpy(force=True), want)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(sel, 0.0, w))
    np.testing.assert_allclose(v.grad.item(), w[sel].sum(), rtol=1e-5)


def test_mask_setitem_with_one_value_per_selected_element_and_int_cast():
    x = ej.tensor([[-1.0, 2.0], [-3.0, 4.0]])
    x[x < 0] = ej.tensor([7.0, 8.0])  # as many values as True entries: read the mask (eager)
    assert x.tolist() == [[7.0, 2.0], [8.0, 4.0]]
    i = ej.tensor([1, -2, 3])
    i[i < 0] = 2.7  # cast to the tensor's dtype, as torch does
    assert i.tolist() == [1, 2, 3] and i.dtype == ej.int32


def test_zero_dim_reductions_take_dim_0_and_minus_1():
    x = ej.tensor(3.0)
    for name in ("sum", "mean", "amax", "amin", "prod", "nansum", "logsumexp"):
        for dim in (0, -1, (0,)):
            for keepdim in (False, True):
                r = getattr(x, name)(dim, keepdim=keepdim)
                assert r.shape == () and r.item() == pytest.approx(3.0), (name, dim)
    assert x.argmax(0).item() == 0 and x.std(0, correction=0).item() == 0.0
    assert x.all(-1).item() and ej.tensor(0.0).count_nonzero(0).item() == 0
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        x.sum(1)
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 5"):
        ej.ones(2, 3).sum(5)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times in the list of dims"):
        ej.ones(2, 3).sum((0, -2))


def test_type_strings_none_comparison_and_scalar_errors():
    assert ej.tensor([1, 2]).type("torch.FloatTensor").dtype == ej.float32
    assert ej.tensor([1.5]).type("torch.LongTensor").tolist() == [1]
    assert ej.tensor([1.0]).type("torch.cuda.HalfTensor").dtype == ej.float16
    with pytest.raises(ValueError, match="invalid type: 'torch.Nope'"):
        ej.tensor([1.0]).type("torch.Nope")
    x = ej.ones(2)
    assert (x == None) is False and (x != None) is True  # noqa: E711 - torch's answer to this
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        int(x)
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match=r"permute\(\): duplicate dims are not allowed."):
        ej.ones(2, 3).permute(0, 0)


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_data_and_state_dict_alias_both_ways(mode):
    m = ej.nn.Linear(3, 2)
    d = m.weight.data
    sd = m.state_dict()
    snap = copy.deepcopy(m.state_dict())

    def step():
        with ej.no_grad():
            m.weight.add_(1.0)  # seen through the alias
        sd["bias"].copy_(ej.full((2,), 5.0))  # writes the module's bias
        return d * 1

    w0 = m.weight.detach().clone()
    if mode == "compiled":
        out = ej.compile(step)()
    elif mode == "lazy":
        with ej.lazy():
            out = step()
    else:
        out = step()
    assert out.tolist() == (w0 + 1).tolist() == d.tolist() == sd["weight"].tolist()
    assert m.bias.tolist() == [5.0, 5.0]
    assert snap["weight"].tolist() == w0.tolist() and type(snap["weight"]) is ej.Tensor
    assert type(pickle.loads(pickle.dumps(sd))["weight"]) is ej.Tensor


def test_legacy_constructors_use_the_default_float_dtype_or_their_own():
    """torch.Tensor(data) is always float (ej.tensor infers); Tensor(*sizes) makes a shape;
    LongTensor & co. fix the dtype and answer isinstance."""
    t = ej.Tensor([1, 2])
    assert t.dtype == ej.float32 and t.tolist() == [1.0, 2.0]
    t += 0.5
    assert t.tolist() == [1.5, 2.5]
    assert ej.Tensor(2, 3).shape == (2, 3) and ej.Tensor(ej.Size([4])).shape == (4,)
    assert ej.Tensor((2, 3)).tolist() == [2.0, 3.0] and ej.Tensor().shape == (0,)
    idx = ej.LongTensor([1, 0])
    assert idx.dtype == ej.long and isinstance(idx, ej.LongTensor) and not isinstance(idx, ej.FloatTensor)
    assert ej.FloatTensor(2).tolist() == [0.0, 0.0] and ej.BoolTensor([1, 0]).tolist() == [True, False]


def test_random_and_cuda_seeding_seed_the_default_generator():
    ej.random.manual_seed(3)
    a = ej.randn(2).tolist()
    ej.cuda.manual_seed_all(3)
    assert ej.randn(2).tolist() == a and ej.random.initial_seed() == 3
    ej.cuda.manual_seed(3)
    assert ej.randn(2).tolist() == a
