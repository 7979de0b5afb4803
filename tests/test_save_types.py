"""ej.save / ej.load round-trip the Python values torch.save / torch.load(weights_only=True) do:
sets, complex numbers, ints beyond 64 bits, devices, Size, bytearray (each as its own type)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import eagerjax as ej


def _roundtrip(lib, obj, **kw):
    buf = io.BytesIO()
    lib.save(obj, buf)
    buf.seek(0)
    return lib.load(buf, weights_only=True, **kw)


_VALUES = {
    "set": lambda L: {1, 2, "a"},
    "empty set": lambda L: set(),
    "complex": lambda L: 1.5 - 2j,
    "int 2**70": lambda L: 2**70,
    "int -2**70": lambda L: -(2**70),
    "int 2**64 - 1": lambda L: 2**64 - 1,
    "int -2**63": lambda L: -(2**63),
    "device": lambda L: L.device("cpu"),
    "device with index": lambda L: L.device("cuda", 1),
    "Size": lambda L: L.ones(2, 3).shape,
    "empty Size": lambda L: L.ones(()).shape,
    "bytearray": lambda L: bytearray(b"ab\x00"),
    "bytes": lambda L: b"ab",
}


@pytest.mark.parametrize("name", sorted(_VALUES))
def test_values_round_trip_as_torch(name):
    torch = pytest.importorskip("torch")
    mk = _VALUES[name]
    got, want = _roundtrip(ej, mk(ej)), _roundtrip(torch, mk(torch))
    assert type(got).__name__.lower() == type(want).__name__.lower()  # (torch.device is lowercase)
    assert repr(got) == repr(want)
    assert got == mk(ej)


def test_nested_containers_keep_every_type():
    obj = {
        "meta": [bytearray(b"x"), {"inner": bytearray(b"y"), "n": 2**80}],
        "t": (bytearray(b"z"), ej.Size([4]), {3, 4}, frozenset({(1, 2)})),
        "dev": [ej.device("cpu"), ej.device("cuda:0")],
        "z": [1j, complex(0, -0.0)],
        "w": ej.tensor([1.0, 2.0]),
    }
    out = _roundtrip(ej, obj)
    assert type(out["meta"][0]) is bytearray and out["meta"][0] == bytearray(b"x")
    assert type(out["meta"][1]["inner"]) is bytearray and out["meta"][1]["n"] == 2**80
    t = out["t"]
    assert type(t) is tuple and type(t[0]) is bytearray and type(t[1]) is ej.Size and t[1] == (4,)
    assert t[1].numel() == 4
    assert type(t[2]) is set and t[2] == {3, 4}
    assert type(t[3]) is frozenset and t[3] == frozenset({(1, 2)})
    assert [repr(d) for d in out["dev"]] == ["device(type='cpu')", "device(type='cuda', index=0)"]
    assert out["z"] == [1j, complex(0, -0.0)] and all(type(z) is complex for z in out["z"])
    np.testing.assert_array_equal(out["w"].numpy(), [1.0, 2.0])


def test_state_dict_with_new_types_and_unchanged_plain_values(tmp_path):
    m = ej.nn.Linear(2, 2)
    sd = m.state_dict()
    ckpt = {"model": sd, "shape": m.weight.shape, "seen": {"a", "b"}, "step": 3, "raw": b"\x01"}
    path = tmp_path / "c.ej"
    ej.save(ckpt, path)
    out = ej.load(path)
    assert type(out["shape"]) is ej.Size and out["seen"] == {"a", "b"} and out["raw"] == b"\x01"
    assert type(out["raw"]) is bytes and type(out["step"]) is int
    m2 = ej.nn.Linear(2, 2)
    m2.load_state_dict(out["model"])
    np.testing.assert_array_equal(m2.weight.detach().numpy(), m.weight.detach().numpy())


def test_still_refuses_code_objects():
    with pytest.raises(TypeError, match="cannot save an object of type"):
        _roundtrip(ej, {"f": lambda: 0})
    with pytest.raises(TypeError, match="cannot save an object of type"):
        _roundtrip(ej, {object()})
