"""Out-of-range index values raise torch's error in eager mode (``_ops/_bounds``), instead of
XLA's silent clamp / NaN fill / dropped update; in range (negatives where torch allows them)
the ops run as before, and captured code reads no index values."""

from __future__ import annotations

import warnings

import pytest

import eagerjax as ej
import eagerjax.nn.functional as F

X = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def _x():
    return ej.tensor(X)


BAD = [  # (call, error type, torch's message)
    (lambda x: x[ej.tensor([5])], IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    (lambda x: x[ej.tensor([-4])], IndexError, "index -4 is out of bounds for dimension 0 with size 3"),
    (lambda x: x[[0, 3]], IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x[ej.tensor([0]), ej.tensor([5])], IndexError, "index 5 is out of bounds for dimension 1 with size 2"),
    (lambda x: x.__setitem__(ej.tensor([3]), 1.0), IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_select(0, ej.tensor([3])), IndexError, "index out of range in self"),
    (lambda x: x.index_select(0, ej.tensor([-1])), IndexError, "index out of range in self"),
    (lambda x: x.gather(1, ej.tensor([[9], [0], [0]])), RuntimeError, "index 9 is out of bounds for dimension 1 with size 2"),
    (lambda x: ej.gather(x, dim=1, index=ej.tensor([[-1], [0], [0]])), RuntimeError, "index -1 is out of bounds for dimension 1 with size 2"),
    (lambda x: x.scatter_(0, ej.tensor([[3, 0]]), 1.0), RuntimeError, "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.scatter_add(0, ej.tensor([[3, 0]]), ej.ones(1, 2)), RuntimeError, "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.scatter_reduce(0, ej.tensor([[3, 0]]), ej.ones(1, 2), "sum"), RuntimeError, "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_add_(0, ej.tensor([-1]), ej.ones(1, 2)), RuntimeError, "index -1 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_copy_(0, ej.tensor([3]), ej.ones(1, 2)), IndexError, "index_copy_(): index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_fill_(0, ej.tensor([3]), 1.0), IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_put_((ej.tensor([-4]),), ej.ones(2)), IndexError, "index -4 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.take(ej.tensor([6])), IndexError, "out of range: tried to access index 6 on a tensor of 6 elements."),
    (lambda x: F.cross_entropy(x, ej.tensor([0, 1, 2])), IndexError, "Target 2 is out of bounds."),
    (lambda x: F.cross_entropy(x, ej.tensor([0, -2, 1])), IndexError, "Target -2 is out of bounds."),
    (lambda x: F.nll_loss(x, ej.tensor([0, 1, 7])), IndexError, "Target 7 is out of bounds."),
    (lambda x: F.cross_entropy(x.view(1, 2, 3), ej.tensor([[0, 5, 1]])), IndexError, "Target 5 is out of bounds."),
]  # fmt: skip

GOOD = [  # (call, expected)
    (lambda x: x[ej.tensor([-3])], [[1.0, 2.0]]),
    (lambda x: x.index_fill_(0, ej.tensor([-1]), 0.0), [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]),
    (lambda x: x.index_put_((ej.tensor([-1]),), ej.zeros(2)), [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]),
    (lambda x: x.take(ej.tensor([-6, 5])), [1.0, 6.0]),
    (lambda x: x.gather(1, ej.tensor([[1], [0], [1]])), [[2.0], [3.0], [6.0]]),
    (lambda x: x[ej.tensor([], dtype=ej.int64)], []),
]


@pytest.mark.parametrize("k", range(len(BAD)))
def test_out_of_range_raises_torch_error(k):
    call, err, msg = BAD[k]
    x = _x()
    with pytest.raises(err) as info:
        call(x)
    assert str(info.value) == msg
    assert x.tolist() == X  # nothing written


@pytest.mark.parametrize("k", range(len(GOOD)))
def test_in_range_and_negative_indices(k):
    call, expected = GOOD[k]
    assert call(_x()).tolist() == expected


def test_ignore_index_is_skipped():
    logits = ej.zeros(2, 3)
    assert F.cross_entropy(logits, ej.tensor([0, -100])).item() == pytest.approx(1.0986123)
    assert F.cross_entropy(logits, ej.tensor([0, 3]), ignore_index=3).item() == pytest.approx(1.0986123)
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        ej.nn.CrossEntropyLoss()(logits, ej.tensor([0, 3]))


def test_uint8_index_is_a_mask_with_torchs_warning():
    with pytest.warns(UserWarning, match="indexing with dtype torch.uint8 is now deprecated"):
        r = _x()[ej.tensor([1, 0, 1], dtype=ej.uint8)]
    assert r.tolist() == [[1.0, 2.0], [5.0, 6.0]]


def test_captured_code_reads_no_index_values():
    """Inside ej.compile / lazy the checks stay off: no host read (which would be a
    CaptureError or a flush), and an in-range step gives eager's numbers."""
    w = ej.zeros(3, 2, requires_grad=True)

    def step(idx, y):
        w.grad = None
        loss = F.cross_entropy(w[idx].gather(1, ej.tensor([[0, 1]] * 2)), y)
        loss.backward()
        return loss, w.grad

    idx, y = ej.tensor([2, 0]), ej.tensor([1, 0])
    eager = [t.tolist() for t in step(idx, y)]
    compiled = ej.compile(step)
    assert [t.tolist() for t in compiled(idx, y)] == eager
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ej.lazy():
            loss, g = step(idx, y)
            flushes = ej.lazy_stats()["flushes"]
        assert [loss.tolist(), g.tolist()] == eager
        assert ej.lazy_stats()["flushes"] == flushes + 1  # leaving lazy(): no flush to read an index
