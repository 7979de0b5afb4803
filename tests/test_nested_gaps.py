"""eagerjax.nested against torch.nested: broadcasting between nested tensors of different
trailing sizes, ``nt[index] = value`` and ``cat``/``stack`` of nested tensors (values, jagged
shapes, dtypes, errors; gradients in every mode)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from nested_cases import assert_matches_torch, check_step_in_modes, describe, to_np

import eagerjax as ej

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:torch.*")  # (torch.nested: prototype stage)

RNG = np.random.default_rng(2)
A = RNG.standard_normal((2, 3)).astype(np.float32)
B = RNG.standard_normal((4, 3)).astype(np.float32)
C = RNG.standard_normal((3, 3)).astype(np.float32)

# Expressions of ``lib`` and ``nt`` (2, j, 3), ``nt4`` (2, j', 3, 4), ``other`` (built apart from
# ``nt`` with the same components), ``d`` a dense (2, 3); statements (with " = ") run, then ``nt`` is the result
CASES = """nt * nt.amax(-1, keepdim=True) | nt - nt.mean(-1, keepdim=True) | nt / nt.sum(-1, keepdim=True)
nt.amax(-1, keepdim=True) * nt | nt + nt.sum(-1).unsqueeze(-1) | nt + nt.sum(-1) | nt4 + nt4.sum(-1, keepdim=True)
nt4 + nt4.sum(-2, keepdim=True) | nt4 + nt4.sum((-2, -1), keepdim=True) | nt4.sum(-2, keepdim=True) + nt4.sum(-1, keepdim=True)
nt.clone().sub_(nt.mean(-1, keepdim=True)) | nt.mean(-1, keepdim=True).clone().sub_(nt) | nt > nt.mean(-1, keepdim=True)
nt.eq(nt.amax(-1, keepdim=True)) | lib.maximum(nt, nt.mean(-1, keepdim=True)) | lib.add(nt, nt.mean(-1, keepdim=True))
lib.atan2(nt, nt.mean(-1, keepdim=True)) | nt.unsqueeze(-1) + nt.unsqueeze(-2) | nt + nt.unsqueeze(-1) | nt + nt.unsqueeze(-2) | nt4 + nt.unsqueeze(-1)
nt.abs().pow(nt.mean(-1, keepdim=True)) | nt.clone().mul_(nt.amax(-1, keepdim=True)) | nt.amax(-1, keepdim=True).clone().add_(nt4.sum(-1))
lib.where(nt > 0, nt, nt.mean(-1, keepdim=True)) | nt.masked_fill(nt.mean(-1, keepdim=True) > 0, 0.0)
nt.lerp(nt.mean(-1, keepdim=True), 0.5) | nt.transpose(1, 2) + nt.transpose(1, 2).sum(1, keepdim=True)
nt4.transpose(1, 2) + nt4.transpose(1, 2).sum(-1, keepdim=True) | nt4.transpose(1, 3) + nt4.transpose(1, 3).amax(2, keepdim=True)
nt.int() + nt.sum(-1, keepdim=True) | nt + nt.amax(-1, keepdim=True).int() | nt.clone().copy_(nt.amax(-1, keepdim=True))
nt.clone().copy_(other * 2) | nt.amax(-1, keepdim=True) + other | lib.isclose(nt, nt.amax(-1, keepdim=True)) | nt.clone().add_(nt.unsqueeze(-1))
nt[0] = 1.0 | nt[1] = lib.zeros(4, 3) | nt[1] = lib.arange(3.0) | nt[-1] = 2.0 | nt[5] = 1.0 | nt[0] = lib.zeros(3, 3)
nt[0] = lib.zeros(1, 2, 3) | nt[0] = lib.zeros(2, 2, 3) | nt[:, :, 0] = 1.0 | nt[:, 0] = 1.0 | nt[...] = 0.0 | nt[0, 1] = 5.0
nt[0, :, 1] = 5.0 | nt[1, 2:] = 7.0 | nt[nt > 0] = 0.0 | nt[0] = lib.zeros(2, 3, dtype=lib.int64) | nt[0] = True | nt[0][0] = 9.0
nt[1, :, 0] = lib.ones(4) | nt[lib.tensor(1)] = 0.0 | nt[..., 0] = 1.0 | nt[..., 0] = nt[..., 1] * 2 | nt[...] = nt * 2
nt[..., 1:] = nt[..., :2] * 0 - 1 | nt[..., None] = nt.unsqueeze(-1) * 2 | nt[...] = nt.amax(-1, keepdim=True) | nt[(0,)] = 2.0
nt[0, ...] = 3.0 | nt[0, None] = 3.0 | nt[None] = 3.0 | nt[0, 5] = 1.0 | nt[0, :, 5] = 1.0 | nt[..., 0] = other[..., 1]
nt[1, :, 0] = lib.ones(2) | nt[1, 1:, 0] = lib.ones(3) | nt[..., 0, 0, 0] = 1.0
lib.cat([nt, nt * 2], -1) | lib.cat([nt, nt * 2], 2) | lib.cat([nt, nt.amax(-1, keepdim=True)], -1) | lib.cat([nt, nt], 1)
lib.cat([nt, nt], 0) | lib.cat([nt, other], -1) | lib.cat([nt, nt4], -1) | lib.cat([nt, d], -1) | lib.cat([d, nt], -1)
lib.cat([nt, lib.ones(3)], -1) | lib.cat([lib.ones(1, 2), nt], -1) | lib.cat([nt], -1) | lib.cat([nt, nt.int()], -1)
lib.cat([nt4, nt4], 2) | lib.cat([nt4, nt4], -1) | lib.cat([nt4, nt4[..., :2]], -1) | lib.cat([nt4, nt4.amax(2, keepdim=True)], 2)
lib.cat((nt, nt), dim=-1) | lib.concat([nt, nt], -1) | lib.concatenate([nt, nt], -1) | lib.cat([nt, nt]) | lib.cat([nt, nt], 3)
lib.cat([nt, nt.unsqueeze(-1)], -1) | lib.cat([nt.unsqueeze(-1), nt.unsqueeze(-1).expand(-1, -1, -1, 2)], -2)
lib.cat([nt, nt.to_padded_tensor(0.0)], -1) | lib.cat([nt.transpose(1, 2), nt.transpose(1, 2)], 1) | lib.cat([], -1)
lib.cat([nt.transpose(1, 2), nt], 1) | lib.stack([nt, nt]) | lib.stack([nt, nt], 1) | lib.stack([nt, nt], -1) | lib.stack([nt, nt], 2)
lib.stack([nt, nt * 2], 3) | lib.stack([nt, other], -1) | lib.stack([nt, nt.amax(-1, keepdim=True)], -1) | lib.stack([nt, d], -1)
lib.stack([nt.transpose(1, 2), nt.transpose(1, 2)], 3) | lib.stack([nt.transpose(1, 2), nt.transpose(1, 2)], 2) | lib.stack([nt], -1)
lib.stack([nt, nt], 4) | lib.stack([nt, nt.unsqueeze(-1)], -1) | lib.stack([nt, nt.transpose(1, 2)], -1) | lib.stack([nt, nt.double()], -1)
lib.cat([nt, nt * 2], -1).shape[1] is nt.shape[1] | lib.stack([nt, nt * 2], -1).shape[1] is nt.shape[1]
(nt - nt.amax(-1, keepdim=True)).shape[1] is nt.shape[1] | lib.cat([nt, other], -1).shape[1] is nt.shape[1]"""
CASES = [c.strip() for line in CASES.splitlines() for c in line.split(" | ")]


def _outcome(lib, case, layout):
    lay = getattr(lib, layout)
    ts = [lib.tensor(A), lib.tensor(B)]
    env = {
        "lib": lib,
        "nt": lib.nested.nested_tensor(ts, layout=lay),
        "other": lib.nested.nested_tensor(ts, layout=lay),
        "nt4": lib.nested.nested_tensor([t.unsqueeze(-1).repeat(1, 1, 4) for t in ts], layout=lay),
        "d": lib.tensor(A),
    }
    try:
        if re.search(r"\] = ", case):
            exec(case, env)  # noqa: S102 - fixed test statements
            return describe(env["nt"])
        return describe(eval(case, env))  # noqa: S307 - fixed test expressions
    except Exception as e:  # noqa: BLE001 - comparing torch's error with ours
        return type(e), re.sub(r"j\d+", "j", str(e))


# torch 2.13 answers these with garbage or an internal failure: checked in the tests below instead
TORCH_DIFFERS = {
    "nt + nt.unsqueeze(-2)",  # (jagged broadcasts the values across components)
    "lib.cat([nt.transpose(1, 2), nt.transpose(1, 2)], 1)",  # (strided: only contiguous; jagged fine)
}
# torch's strided kernel answers these with an error whose type differs (eagerjax raises jagged's)
STRIDED_DIFFERS = {
    "lib.cat([nt, nt], 1)",  # (setStorage: out of bounds)
    "nt.clone().copy_(nt.amax(-1, keepdim=True))",
    "lib.cat([nt, lib.ones(3)], -1)",
    "lib.cat([lib.ones(1, 2), nt], -1)",
    "nt[None] = 3.0",
    "nt[(0,)] = 2.0",
}


# Separately built strided tensors combine (no nested ints), and only jagged sizes are nested ints
JAGGED_ONLY = {
    "nt4 + nt.unsqueeze(-1)",
    "nt.amax(-1, keepdim=True) + other",
    "lib.stack([nt, other], -1)",
    "nt[..., 0] = other[..., 1]",
    "lib.stack([nt, nt * 2], -1).shape[1] is nt.shape[1]",
    "(nt - nt.amax(-1, keepdim=True)).shape[1] is nt.shape[1]",
    "lib.cat([nt, nt * 2], -1).shape[1] is nt.shape[1]",
    "lib.cat([nt, other], -1).shape[1] is nt.shape[1]",
}


@pytest.mark.parametrize("layout", ["jagged", "strided"])
@pytest.mark.parametrize("case", CASES)
def test_gaps_match_torch(case, layout):
    if case in JAGGED_ONLY and layout == "strided":
        pytest.skip("jagged-only: nested ints")
    if case in TORCH_DIFFERS and layout == "jagged":
        pytest.skip("torch's answer is garbage here (see test_torch_garbage_refused)")
    if layout == "strided" and case in STRIDED_DIFFERS:
        layout = "jagged"
    assert_matches_torch(_outcome, case, layout)


def test_torch_garbage_refused():
    """Where torch 2.13 computes on the values across components (a meaningless result),
    eagerjax raises; where its jagged kernels are right, eagerjax agrees."""
    nt = ej.nested.nested_tensor([ej.tensor(A), ej.tensor(B)], layout=ej.jagged)
    swapped = ej.nested.nested_tensor([ej.tensor(B), ej.tensor(A)], layout=ej.jagged)
    with pytest.raises(RuntimeError, match="cannot call binary pointwise function add.Tensor"):
        nt + nt.unsqueeze(-2)  # (torch: (2, j, 6, 3), every row against every row of the values)
    with pytest.raises(RuntimeError, match="matching ragged structures"):
        ej.cat([nt, swapped], -1)  # (torch: lengths (2, 4) and (4, 2), the same total: it cats the values)
    t = nt.transpose(1, 2)
    out = ej.stack([t, t], 1)  # (torch 2.13: shape (2, 2, j, 6), its ragged index not moved)
    assert out.shape == (2, 2, 3, nt.shape[1]) and out.shape[3] is nt.shape[1]
    got = ej.cat([t, t * 2], 1)
    assert got.shape == (2, 6, nt.shape[1])
    np.testing.assert_allclose(to_np(got.unbind()[1]), np.concatenate([B.T, 2 * B.T]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="SymIntArrayRef"):  # (torch: the same, from its C++ internals)
        nt[..., 0] = ej.ones(6)


def _ref_step(ta, tb, tw):
    outs = []
    for t in (ta, tb):
        y = t * 2.0
        sm = (y - y.amax(-1, keepdim=True)).exp()
        sm = sm / sm.sum(-1, keepdim=True)
        y = y.clone()
        y[0] = tw * 3.0
        y[1:, 1] = sm[1:, 0]
        y[:, 2] = sm[:, 0] * 2
        wide = torch.cat([sm, y, tw.expand(t.shape[0], 3)], -1)
        z = torch.stack([wide, torch.cat([y, sm * 0 + sm.mean(-1, keepdim=True), wide[:, :3] * 2], -1)], -1)
        outs.append(z.reshape(-1))
    return torch.cat(outs)


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
@pytest.mark.parametrize("layout", ["jagged", "strided"])
def test_gaps_grads_in_modes(layout, mode):
    """A manual softmax (broadcasting), writes into components and cat/stack, differentiated."""
    ta, tb, tw = (torch.tensor(v, requires_grad=True) for v in (A, B, A[0]))
    ref_out = _ref_step(ta, tb, tw)
    (ref_out * ref_out).sum().backward()
    ref = [to_np(t) for t in (ref_out, ta.grad, tb.grad, tw.grad)]

    def step(a, b, w):
        nt = ej.nested.as_nested_tensor([a, b], layout=getattr(ej, layout))
        y = nt * 2.0
        sm = (y - y.amax(-1, keepdim=True)).exp()
        sm = sm / sm.sum(-1, keepdim=True)
        y = y.clone()
        for i in range(2):
            y[i, 0] = w * 3.0
            y[i, 1:, 1] = sm.unbind()[i][1:, 0]
        y[..., 2] = sm[..., 0] * 2
        wide = ej.cat([sm, y, w], -1)
        z = ej.stack([wide, ej.cat([y, sm * 0 + sm.mean(-1, keepdim=True), wide[..., :3] * 2], -1)], -1)
        assert z.layout is nt.layout and (layout == "strided" or z.shape[1] is nt.shape[1])
        flat = ej.cat([t.reshape(-1) for t in z.unbind()])
        (flat * flat).sum().backward()
        return flat

    check_step_in_modes(step, (A, B, A[0]), ref, mode)


def test_setitem_is_in_place():
    nt = ej.nested.nested_tensor([ej.tensor(A), ej.tensor(B)], layout=ej.jagged)
    j, comps = nt.shape[1], nt.unbind()
    v0 = comps[0]._version
    nt[0] = 1.0
    nt[1, :, 0] = ej.ones(4)
    assert nt.shape[1] is j and nt.unbind()[0] is comps[0] and comps[0]._version > v0
    assert (to_np(comps[0]) == 1).all() and (to_np(comps[1])[:, 0] == 1).all()
    leaf = ej.nested.nested_tensor([ej.tensor(A), ej.tensor(B)], layout=ej.jagged, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf[0] = 1.0


@pytest.mark.parametrize("write", ["add_", "setitem", "mul_"])
def test_values_see_in_place_writes(write):
    """``nested_tensor_from_jagged`` keeps its values: after an in-place write into the
    components, ``values()`` must show it (torch's values are a view of the components)."""

    def run(lib):
        nt = lib.nested.nested_tensor_from_jagged(lib.arange(12.0).reshape(6, 2), lib.tensor([0, 2, 6]))
        if write == "add_":
            nt.add_(1)
        elif write == "setitem":
            nt[1] = 5.0
        else:
            nt.mul_(nt.amax(-1, keepdim=True))
        return nt.values().tolist()

    assert run(ej) == run(torch)
