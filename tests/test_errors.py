"""Common mistakes raise torch's exception type and words (found by running ~300 mistaken
calls side by side with torch 2.13); each case is (call, type, torch's first line)."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn.functional as F

L = ej.nn.Linear(4, 3)

CASES = [
    (lambda: L(ej.ones(2, 4).half()), RuntimeError, "mat1 and mat2 must have the same dtype, but got Half and Float"),
    (lambda: F.linear(ej.ones(2, 3, dtype=ej.bfloat16), ej.ones(4, 3)), RuntimeError, "expected m1 and m2 to have the same dtype, but got: c10::BFloat16 != float"),
    (lambda: F.conv1d(ej.ones(1, 2, 5, dtype=ej.bfloat16), ej.ones(3, 2, 2)), RuntimeError, "Input type (CPUBFloat16Type) and weight type (torch.FloatTensor) should be the same or input should be a MKLDNN tensor and weight is a dense tensor"),
    (lambda: F.conv1d(ej.ones(1, 2, 5), ej.ones(3, 2, 2, dtype=ej.float16)), RuntimeError, "expected scalar type Float but found Half"),
    (lambda: L(np.ones((2, 4), np.float32)), TypeError, "linear(): argument 'input' (position 1) must be Tensor, not numpy.ndarray"),
    (lambda: ej.nn.Conv2d(1, 2, 3)(ej.ones(1, 1, 5, 5, dtype=ej.uint8)), RuntimeError, "Input type (unsigned char) and bias type (float) should be the same"),
    (lambda: F.cross_entropy(ej.randn(6, 3), ej.zeros(6, 1, dtype=ej.long)), RuntimeError, "0D or 1D target tensor expected, multi-target not supported"),
    (lambda: F.nll_loss(ej.randn(6, 3), ej.zeros(6, 1, dtype=ej.long)), RuntimeError, "0D or 1D target tensor expected, multi-target not supported"),
    (lambda: F.cross_entropy(ej.randn(2, 7, 5), ej.zeros(2, 7, dtype=ej.long)), RuntimeError, "Expected target size [2, 5], got [2, 7]"),
    (lambda: F.cross_entropy(ej.randn(2, 3, 4, 4), ej.zeros(2, 5, 5, dtype=ej.long)), RuntimeError, "size mismatch (got input: [2, 3, 4, 4] , target: [2, 5, 5]"),
    (lambda: F.cross_entropy(ej.randn(2, 3), [0, 1]), TypeError, "cross_entropy_loss(): argument 'target' (position 2) must be Tensor, not list"),
    (lambda: F.binary_cross_entropy(ej.rand(4), ej.ones(4) * 2), RuntimeError, "all elements of target should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(ej.rand(4), ej.tensor([0, 1, 1, 0], dtype=ej.uint8)), RuntimeError, "Found dtype Byte but expected Float"),
    (lambda: ej.nn.BatchNorm1d(8)(ej.randn(2, 5, 8)), RuntimeError, "running_mean should contain 5 elements not 8"),
    (lambda: ej.nn.Embedding(4, 2)([1, 2]), TypeError, "embedding(): argument 'indices' (position 2) must be Tensor, not list"),
    (lambda: F.softmax(ej.randn(2, 3), dim=2), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda: ej.randn(3) + None, TypeError, "unsupported operand type(s) for +: 'Tensor' and 'NoneType'"),
    (lambda: ej.randn(2) + [1.0, 2.0], TypeError, "unsupported operand type(s) for +: 'Tensor' and 'list'"),
    (lambda: ej.ones(2) @ 3, TypeError, "unsupported operand type(s) for @: 'Tensor' and 'int'"),
    (lambda: 3 @ ej.ones(2), TypeError, "unsupported operand type(s) for @: 'int' and 'Tensor'"),
]  # fmt: skip


@pytest.mark.parametrize("k", range(len(CASES)))
def test_mistake_raises_torchs_error(k):
    call, err, msg = CASES[k]
    with pytest.raises(err) as info:
        call()
    assert str(info.value).splitlines()[0] == msg


def test_comparisons_with_non_tensors_are_false():
    x = ej.ones(2)
    assert (x == "a") is False and (x != None) is True  # noqa: E711


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_a_failed_step_with_an_int_batch_changes_nothing(mode):
    m = ej.nn.Linear(4, 1)
    opt = ej.optim.Adam(m.parameters(), lr=0.1)
    before = [p.detach().clone() for p in m.parameters()]

    def step(x):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()

    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
        if mode == "compiled":
            ej.compile(step)(ej.ones(2, 4, dtype=ej.int32))
        else:
            with ej.lazy():
                step(ej.ones(2, 4, dtype=ej.int32))
    assert all((p == b).all().item() for p, b in zip(m.parameters(), before))
    assert not opt.state


def test_a_failing_param_group_leaves_every_group_as_it_was():
    a, b = ej.nn.Linear(2, 3), ej.nn.Linear(2, 3)
    opt = ej.optim.SGD([{"params": a.parameters()}, {"params": b.parameters()}], lr=0.1, momentum=0.9)
    (a(ej.ones(1, 2)).sum() + b(ej.ones(1, 2)).sum()).backward()
    b.bias.data = ej.zeros(2)  # its grad (3,) no longer fits
    before = a.weight.detach().clone()
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        opt.step()
    assert (a.weight == before).all().item() and not opt.state


MORE = [
    (lambda: ej.randn(2, -3), RuntimeError, "Trying to create tensor with negative dimension -3: [2, -3]"),
    (lambda: ej.nn.Linear(-1, 2), RuntimeError, "Trying to create tensor with negative dimension -1: [2, -1]"),
    (lambda: ej.nn.Embedding(-3, 2), RuntimeError, "Trying to create tensor with negative dimension -3: [-3, 2]"),
    (lambda: ej.randperm(-1), RuntimeError, "Trying to create tensor with negative dimension -1: [-1]"),
    (lambda: ej.randint(5, 3, (2,)), RuntimeError, "random_ expects 'from' to be less than 'to', but got from=5 >= to=3"),
    (lambda: ej.matmul(ej.ones(2), 3), TypeError, "matmul(): argument 'other' (position 2) must be Tensor, not int"),
    (lambda: ej.mm(ej.ones(2, 2), [[1.0, 2.0], [3.0, 4.0]]), TypeError, "mm(): argument 'mat2' (position 2) must be Tensor, not list"),
    (lambda: ej.cat(ej.ones(2), ej.ones(2)), TypeError, "cat(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"),
    (lambda: ej.stack(ej.ones(2, 2)), TypeError, "stack(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"),
    (lambda: ej.where(ej.randn(3), ej.ones(3), ej.zeros(3)), RuntimeError, "where expected condition to be a boolean tensor, but got a tensor with dtype Float"),
    (lambda: ej.ones(3).kthvalue(0), RuntimeError, "kthvalue(): selected number k out of range for dimension 0"),
    (lambda: ej.ones(2).to("gpu"), RuntimeError, "Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone device type at start of device string: gpu"),
    (lambda: ej.normal(0.0, -1.0, (2,)), RuntimeError, "normal expects std >= 0.0, but found std -1"),
    (lambda: ej.normal(ej.zeros(2), ej.tensor([1.0, -1.0])), RuntimeError, "normal expects all elements of std >= 0.0"),
    (lambda: ej.empty(2).normal_(0, -1), RuntimeError, "normal expects std >= 0.0, but found std -1"),
    (lambda: ej.multinomial(ej.tensor([0.5, -0.1]), 1), RuntimeError, "probability tensor contains either `inf`, `nan` or element < 0"),
    (lambda: ej.multinomial(ej.tensor([0.0, 0.0]), 1), RuntimeError, "invalid multinomial distribution (sum of probabilities <= 0)"),
    (lambda: ej.multinomial(ej.tensor([0.5, 0.5]), 3), RuntimeError, "cannot sample n_sample > prob_dist.size(-1) samples without replacement"),
    (lambda: ej.bernoulli(ej.tensor([1.5])), RuntimeError, "Expected p_in >= 0 && p_in <= 1 to be true, but got false."),
    (lambda: ej.empty(2).bernoulli_(1.5), RuntimeError, "bernoulli_ expects p to be in [0, 1], but got p=1.5"),
    (lambda: ej.empty(2).uniform_(2, 1), RuntimeError, "uniform_ expects to return a [from, to) range, but found from=2 > to=1"),
    (lambda: ej.empty(2).exponential_(-1), RuntimeError, "exponential_ expects lambda > 0.0, but found lambda=-1"),
    (lambda: ej.empty(3).random_(5, 2), RuntimeError, "random_ expects 'from' to be less than 'to', but got from=5 >= to=2"),
    (lambda: ej.ones(2, device="cdua"), RuntimeError, "Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone device type at start of device string: cdua"),
    (lambda: ej.tensor([1.0], device="gpu"), RuntimeError, "Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone device type at start of device string: gpu"),
    (lambda: ej.randn(2, device="foo"), RuntimeError, "Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone device type at start of device string: foo"),
    (lambda: ej.zeros(2, device=-1), RuntimeError, "Device index must not be negative"),
    (lambda: ej.ones(2).to("cpu:x"), RuntimeError, "Invalid device string: 'cpu:x'"),
    (lambda: ej.device("cpu:-2"), RuntimeError, "Invalid device string: 'cpu:-2'"),
    (lambda: ej.device("cpu", "a"), TypeError, "device(): argument 'index' (position 2) must be int, not str"),
    (lambda: ej.device("cpu", -1), RuntimeError, "Device index must not be negative"),
    (lambda: ej.nn.Linear(2, 2).to("float"), RuntimeError, "Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone device type at start of device string: float"),
]  # fmt: skip


@pytest.mark.parametrize("k", range(len(MORE)))
def test_more_mistakes(k):
    call, err, msg = MORE[k]
    with pytest.raises(err) as info:
        call()
    assert str(info.value).split(" (operands:")[0] == msg


def test_random_fill_of_a_float_tensor_draws_whole_numbers():
    t = ej.empty(200).random_(0, 5)
    assert t.dtype == ej.float32
    v = t.numpy()
    assert set(np.unique(v)) <= {0.0, 1.0, 2.0, 3.0, 4.0} and len(np.unique(v)) == 5
