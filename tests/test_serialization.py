"""ej.save / ej.load: round trips, atomic writes, clear errors for foreign or damaged files, exact resume."""

from __future__ import annotations

import collections
import io
import math
import os
import struct

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import _serialization, nn


def test_round_trip_of_tensors_and_containers(tmp_path):
    p = nn.Parameter(ej.randn(3, 2))
    frozen = nn.Parameter(ej.ones(2), requires_grad=False)
    od = collections.OrderedDict([("w", ej.arange(6).reshape(2, 3)), ("b", ej.zeros(3))])
    od._metadata = collections.OrderedDict([("", {"version": 1})])
    obj = {
        "f32": ej.randn(4, 5),
        "bf16": ej.randn(3, dtype=ej.bfloat16),
        "i32": ej.tensor([1, -2, 3]),
        "bool": ej.tensor([True, False]),
        "scalar": ej.tensor(2.5),
        "grad": ej.ones(2).requires_grad_(),
        "param": p,
        "frozen": frozen,
        "np": np.arange(6, dtype=np.int64).reshape(2, 3),
        "np_scalar": np.float32(1.5),
        "nested": [1, 2.5, "x", None, True, (3, (4.0, "y")), {7: "int key", "k": [ej.ones(1)]}],
        "inf": math.inf,
        "od": od,
        "counter": collections.Counter({3: 2, 5: 1}),
        "dtype": ej.float32,
    }
    path = tmp_path / "ckpt.ej"
    ej.save(obj, path)
    out = ej.load(path)
    assert set(out) == set(obj)
    for k in ("f32", "i32", "bool", "scalar"):
        assert type(out[k]) is ej.Tensor and out[k].dtype == obj[k].dtype
        np.testing.assert_array_equal(out[k].numpy(), obj[k].numpy())
    assert out["bf16"].dtype == ej.bfloat16
    np.testing.assert_array_equal(out["bf16"].float().numpy(), obj["bf16"].float().numpy())
    assert out["grad"].requires_grad and out["grad"].is_leaf
    assert isinstance(out["param"], nn.Parameter) and out["param"].requires_grad
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad
    np.testing.assert_array_equal(out["param"].detach().numpy(), p.detach().numpy())
    assert (
        isinstance(out["np"], np.ndarray)
        and out["np"].dtype == np.int64
        and out["np"].tolist() == [[0, 1, 2], [3, 4, 5]]
    )
    assert type(out["np_scalar"]) is np.float32 and out["np_scalar"] == 1.5
    n = out["nested"]
    assert n[:5] == [1, 2.5, "x", None, True] and n[5] == (3, (4.0, "y")) and isinstance(n[5], tuple)
    assert n[6][7] == "int key" and n[6]["k"][0].tolist() == [1.0]
    assert out["inf"] == math.inf
    assert type(out["od"]) is collections.OrderedDict and list(out["od"]) == ["w", "b"]
    assert out["od"]._metadata == {"": {"version": 1}}
    assert out["counter"] == collections.Counter({3: 2, 5: 1}) and type(out["counter"]) is collections.Counter
    assert out["dtype"] == ej.float32
    buf = io.BytesIO()  # file objects work too
    ej.save([ej.ones(2), "x"], buf)
    buf.seek(0)
    got = ej.load(buf, map_location="cpu", weights_only=True)
    assert got[0].tolist() == [1.0, 1.0] and got[1] == "x"
    with pytest.raises(TypeError, match="cannot save an object of type"):
        ej.save({"f": lambda: 0}, io.BytesIO())
    with pytest.raises(TypeError, match=r"save its state_dict\(\) instead and load it into a new Linear"):
        ej.save(ej.nn.Linear(2, 2), io.BytesIO())  # torch.save(model) pickles code; checkpoints never do


def test_module_and_optimizer_state_dicts_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = ej.optim.AdamW(model.parameters(), lr=0.01, betas=(0.8, 0.99))
    model(ej.randn(6, 3)).sum().backward()
    opt.step()
    ej.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "m.ej")
    ck = ej.load(str(tmp_path / "m.ej"))
    model2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model2.load_state_dict(ck["model"])
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert ck["opt"]["param_groups"] == opt.state_dict()["param_groups"]
    assert ck["opt"]["param_groups"][0]["betas"] == (0.8, 0.99)
    opt2 = ej.optim.AdamW(model2.parameters(), lr=0.5)
    opt2.load_state_dict(ck["opt"])
    assert float(opt2.param_groups[0]["lr"]) == pytest.approx(0.01)
    assert float(opt2.state_dict()["state"][0]["step"]) == 1.0


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.ej"
    ej.save({"v": ej.tensor([1.0, 2.0])}, path)
    before = path.read_bytes()

    def crash_midway(fh, data):
        fh.write(data[: len(data) // 2])
        fh.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(_serialization, "_write_payload", crash_midway)
    with pytest.raises(OSError, match="simulated"):
        ej.save({"v": ej.randn(1000)}, path)
    assert path.read_bytes() == before
    assert ej.load(path)["v"].tolist() == [1.0, 2.0]
    assert sorted(os.listdir(tmp_path)) == ["ckpt.ej"]  # no temporary left behind
    monkeypatch.undo()
    with pytest.raises(TypeError):  # an unsupported object fails before the file is touched
        ej.save({"v": object()}, path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["ckpt.ej"]
    ej.save({"v": ej.tensor([3.0])}, path)  # a normal overwrite replaces it
    assert ej.load(path)["v"].tolist() == [3.0] and sorted(os.listdir(tmp_path)) == ["ckpt.ej"]


def test_foreign_and_damaged_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.ej"
    ej.save({"w": ej.randn(50)}, good)
    data = good.read_bytes()
    cases = {
        "notes.txt": (b"hello, this is text\n", "looks like a text file"),
        "empty.ej": (b"", "empty"),
        "cut.ej": (data[: len(data) - 17], "truncated"),
        "head.ej": (data[:10], "truncated"),
        "flip.ej": (data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:], "corrupted"),
        "extra.ej": (data + b"junk", "unexpected bytes"),
        "future.ej": (data[:8] + struct.pack("<I", 99) + data[12:], "newer eagerjax"),
        "pickle.pkl": (b"\x80\x04\x95" + b"\x00" * 20, "pickle"),
    }
    for name, (content, what) in cases.items():
        f = tmp_path / name
        f.write_bytes(content)
        with pytest.raises(RuntimeError, match=what) as ei:
            ej.load(f)
        assert name in str(ei.value)
    torch = pytest.importorskip("torch")
    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pt)
    with pytest.raises(RuntimeError, match=r"model\.pt.*zip archive \(a torch\.save") as ei:
        ej.load(pt)
    assert "load_state_dict" in str(ei.value)
    with open(good, encoding="latin-1") as fh, pytest.raises(RuntimeError, match="text mode"):
        ej.load(fh)


def _make(seed=0):
    ej.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = ej.optim.Adam(model.parameters(), lr=0.02, weight_decay=0.01)
    sched = ej.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=12)
    return model, opt, sched


_RS = np.random.RandomState(0)
_DATA = [
    (ej.tensor(_RS.randn(8, 5).astype(np.float32)), ej.tensor(_RS.randn(8, 2).astype(np.float32))) for _ in range(10)
]


def _train(model, opt, sched, steps):
    losses = []
    for x, y in steps:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def test_interrupted_run_resumes_identically(tmp_path):
    """Adam + OneCycleLR (lr and beta1 schedules) + Dropout (the RNG stream): k steps, save, fresh
    objects, load, continue == one uninterrupted run, bit for bit."""
    model, opt, sched = _make()
    full = _train(model, opt, sched, _DATA)
    final = {k: v.numpy() for k, v in model.state_dict().items()}

    model, opt, sched = _make()
    first = _train(model, opt, sched, _DATA[:4])
    ej.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "rng": ej.get_rng_state(),
        },
        tmp_path / "resume.ej",
    )
    del model, opt, sched
    model, opt, sched = _make(seed=123)  # different init and RNG: everything must come from the file
    ck = ej.load(tmp_path / "resume.ej")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    ej.set_rng_state(ck["rng"])
    rest = _train(model, opt, sched, _DATA[4:])
    assert first + rest == full
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), final[k], err_msg=k)
