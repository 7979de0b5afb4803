"""eagerjax.utils.data: datasets, samplers, DataLoader and default_collate, against torch where they agree."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import eagerjax as ej
from eagerjax.utils import data as D


def _np(x):
    if isinstance(x, (list, tuple)):
        return type(x)(_np(v) for v in x)
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    return x.numpy() if hasattr(x, "numpy") else x


def _dataset(n=10):
    x = ej.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = ej.tensor(np.arange(n))
    return D.TensorDataset(x, y)


def test_tensor_dataset_and_sequential_loader():
    ds = _dataset()
    assert len(ds) == 10
    x, y = ds[3]
    assert x.tolist() == [9.0, 10.0, 11.0] and int(y) == 3
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        D.TensorDataset(ej.zeros(3, 2), ej.zeros(4))
    loader = D.DataLoader(ds, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert isinstance(batches[0], list) and batches[2][1].tolist() == [8, 9]
    assert batches[0][1].dtype == ej.int64
    assert len(D.DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in D.DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    # batch_size=None: no batching, samples converted one by one
    first = next(iter(D.DataLoader(ds, batch_size=None)))
    assert tuple(first[0].shape) == (3,)
    assert len(D.DataLoader(ds, batch_size=3, num_workers=2, pin_memory=True)) == 4  # accepted, in-process


def test_tensor_dataset_batches_by_one_gather_per_tensor(monkeypatch):
    ds = _dataset(64)
    sub = D.Subset(ds, list(range(10, 50)))

    def no_per_sample(self, index):
        raise AssertionError("per-sample indexing")

    monkeypatch.setattr(D.TensorDataset, "__getitem__", no_per_sample)
    xb, yb = next(iter(D.DataLoader(sub, batch_size=8, shuffle=True)))
    assert tuple(xb.shape) == (8, 3) and all(10 <= v < 50 for v in yb.tolist())
    np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy() * 3.0)


def test_default_collate_stacks_once(monkeypatch):
    calls = []
    real = ej.stack
    monkeypatch.setattr(ej, "stack", lambda ts, dim=0: calls.append(len(ts)) or real(ts, dim))
    out = D.default_collate([ej.ones(2) * i for i in range(32)])
    assert calls == [32] and tuple(out.shape) == (32, 2)


def test_default_collate_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as tcollate

    Point = collections.namedtuple("Point", "x y")
    samples = [
        {
            "a": np.full((2,), i, np.float32),
            "b": (i, float(i) / 2),
            "c": f"s{i}",
            "d": [np.int64(i), True],
            "p": Point(i, -i),
        }
        for i in range(3)
    ]
    t = tcollate(samples)
    e = D.default_collate(samples)
    assert set(e) == set(t)
    np.testing.assert_array_equal(e["a"].numpy(), t["a"].numpy())
    assert isinstance(e["b"], list) and isinstance(t["b"], list)
    assert e["b"][0].tolist() == t["b"][0].tolist() and e["b"][1].tolist() == t["b"][1].tolist()
    assert e["b"][1].dtype == ej.float64 and e["b"][0].dtype == ej.int64  # (float64 / int64 are 32-bit here)
    assert e["c"] == t["c"]
    assert e["d"][0].tolist() == t["d"][0].tolist() and e["d"][1].tolist() == t["d"][1].tolist()
    assert e["d"][1].dtype == ej.bool
    assert type(e["p"]) is Point and e["p"].y.tolist() == t["p"].y.tolist()
    pairs = [(i, f"s{i}", Point(f"x{i}", i)) for i in range(2)]  # strings inside a tuple stay a tuple
    e, t = D.default_collate(pairs), tcollate(pairs)
    assert e[1] == t[1] == ("s0", "s1") and e[2].x == t[2].x == ("x0", "x1")
    tensors = [ej.tensor([[i, i + 1]]) for i in range(4)]
    np.testing.assert_array_equal(
        D.default_collate(tensors).numpy(), tcollate([torch.tensor([[i, i + 1]]) for i in range(4)]).numpy()
    )
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        D.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        D.default_collate([object(), object()])


def test_shuffle_is_reproducible_from_the_eagerjax_generator():
    ds = _dataset(20)

    def epoch_orders(loader, epochs=2):
        return [sum((b[1].tolist() for b in loader), []) for _ in range(epochs)]

    ej.manual_seed(0)
    a = epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True))
    ej.manual_seed(0)
    b = epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True))
    assert a == b and a[0] != a[1] and sorted(a[0]) == list(range(20)) and a[0] != list(range(20))
    g1, g2 = ej.Generator().manual_seed(7), ej.Generator().manual_seed(7)
    c = epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True, generator=g1))
    ej.manual_seed(123)  # the global generator does not affect an explicit one
    d = epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True, generator=g2))
    assert c == d
    s = D.RandomSampler(ds, replacement=True, num_samples=50, generator=ej.Generator().manual_seed(1))
    drawn = list(s)
    assert len(drawn) == 50 and len(s) == 50 and all(0 <= i < 20 for i in drawn)
    s = D.RandomSampler(ds, num_samples=30, generator=ej.Generator().manual_seed(1))
    drawn = list(s)
    assert len(drawn) == 30 and sorted(drawn[:20]) == list(range(20))


def test_samplers_and_batch_sampler():
    torch = pytest.importorskip("torch")
    ds = _dataset(10)
    assert list(D.SequentialSampler(ds)) == list(range(10))
    for bs, dl in [(3, False), (3, True), (5, True), (20, False)]:
        e = list(D.BatchSampler(D.SequentialSampler(ds), bs, dl))
        t = list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(10)), bs, dl))
        assert e == t and len(D.BatchSampler(range(10), bs, dl)) == len(t)
    loader = D.DataLoader(ds, batch_sampler=[[0, 9], [4]])
    assert [b[1].tolist() for b in loader] == [[0, 9], [4]]
    loader = D.DataLoader(ds, sampler=[5, 1, 2], batch_size=2)
    assert [b[1].tolist() for b in loader] == [[5, 1], [2]]
    sub = list(D.SubsetRandomSampler([3, 5, 7], generator=ej.Generator().manual_seed(0)))
    assert sorted(sub) == [3, 5, 7]
    w = list(D.WeightedRandomSampler([0.0, 0.0, 1.0], 5, generator=ej.Generator().manual_seed(0)))
    assert w == [2] * 5


def test_loader_argument_errors_match_torch():
    torch = pytest.importorskip("torch")
    tds = torch.utils.data.TensorDataset(torch.zeros(4, 2))
    eds = D.TensorDataset(ej.zeros(4, 2))

    class TIt(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    class EIt(D.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    cases = [
        lambda L, ds, it: L.DataLoader(ds, sampler=[0, 1], shuffle=True),
        lambda L, ds, it: L.DataLoader(ds, batch_sampler=[[0]], batch_size=2),
        lambda L, ds, it: L.DataLoader(ds, batch_sampler=[[0]], drop_last=True),
        lambda L, ds, it: L.DataLoader(ds, batch_size=None, drop_last=True),
        lambda L, ds, it: L.DataLoader(ds, num_workers=-1),
        lambda L, ds, it: L.DataLoader(it, shuffle=True),
        lambda L, ds, it: L.DataLoader(it, sampler=[0]),
        lambda L, ds, it: L.BatchSampler(range(3), 0, False),
        lambda L, ds, it: L.BatchSampler(range(3), 2, 1),
        lambda L, ds, it: L.RandomSampler(ds, num_samples=0),
        lambda L, ds, it: L.RandomSampler(ds, replacement=1),
        lambda L, ds, it: L.random_split(ds, [2, 3]),
        lambda L, ds, it: L.ConcatDataset([]),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch.utils.data, tds, TIt())
        with pytest.raises(type(te.value)) as ee:
            case(D, eds, EIt())
        assert str(ee.value) == str(te.value)


def test_subset_concat_random_split():
    torch = pytest.importorskip("torch")
    a, b = _dataset(4), D.TensorDataset(ej.zeros(3, 3), ej.tensor([100, 101, 102]))
    cat = a + b
    assert isinstance(cat, D.ConcatDataset) and len(cat) == 7
    assert int(cat[5][1]) == 101 and int(cat[-1][1]) == 102 and int(cat[0][1]) == 0
    with pytest.raises(ValueError, match="absolute value of index"):
        cat[-8]
    assert [int(y) for _, y in D.Subset(cat, [6, 0])] == [102, 0]
    assert [b[1].tolist() for b in D.DataLoader(cat, batch_size=4)] == [[0, 1, 2, 3], [100, 101, 102]]
    ds = _dataset(10)
    for lengths in ([3, 7], [0.3, 0.3, 0.4], [0.25, 0.75], [0.5, 0.5]):
        parts = D.random_split(ds, lengths, generator=ej.Generator().manual_seed(0))
        tparts = torch.utils.data.random_split(range(10), lengths)
        assert [len(p) for p in parts] == [len(p) for p in tparts]
        idx = sum((list(p.indices) for p in parts), [])
        assert sorted(idx) == list(range(10))
    p1 = D.random_split(ds, [5, 5], generator=ej.Generator().manual_seed(3))
    p2 = D.random_split(ds, [5, 5], generator=ej.Generator().manual_seed(3))
    assert [list(p.indices) for p in p1] == [list(p.indices) for p in p2]
    ys = [b[1].tolist() for b in D.DataLoader(p1[0], batch_size=5)]
    assert ys == [list(p1[0].indices)]


def test_iterable_dataset_and_stack_dataset():
    class Stream(D.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            for i in range(self.n):
                yield {"x": np.full(2, i, np.float32), "i": i}

        def __len__(self):
            return self.n

    batches = list(D.DataLoader(Stream(7), batch_size=3))
    assert [b["i"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert tuple(batches[0]["x"].shape) == (3, 2)
    assert len(D.DataLoader(Stream(7), batch_size=3)) == 3
    assert len(list(D.DataLoader(Stream(7), batch_size=3, drop_last=True))) == 2
    chained = list(D.DataLoader(Stream(2) + Stream(1), batch_size=None))
    assert [int(s["i"]) for s in chained] == [0, 1, 0]
    st = D.StackDataset(a=_dataset(3), b=D.TensorDataset(ej.tensor([7, 8, 9])))
    out = next(iter(D.DataLoader(st, batch_size=3)))
    assert out["b"][0].tolist() == [7, 8, 9] and tuple(out["a"][0].shape) == (3, 3)
    assert D.get_worker_info() is None


def test_torch_submodule_import_paths():
    from eagerjax.utils.data.dataloader import DataLoader, default_collate
    from eagerjax.utils.data.sampler import RandomSampler

    assert DataLoader is ej.utils.data.DataLoader and RandomSampler is ej.utils.data.RandomSampler
    assert default_collate([ej.ones(2), ej.zeros(2)]).shape == (2, 2)
    p = ej.nn.Parameter(ej.ones(3))
    p.grad = ej.ones(3) * 10
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        assert ej.nn.utils.clip_grad_norm([p], 1.0).item() == pytest.approx(17.3205, rel=1e-5)
