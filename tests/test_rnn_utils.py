"""``nn.utils.rnn`` (padding / packing) and RNN/GRU/LSTM on ``PackedSequence``: values and
gradients against torch, torch's errors, and a pack -> GRU -> pad training step that
gives the same numbers eagerly, under ``ej.compile``, in lazy mode and in torch."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
from eagerjax.nn.utils import rnn

PackedSequence = rnn.PackedSequence
invert_permutation = rnn.invert_permutation
pack_padded_sequence = rnn.pack_padded_sequence
pack_sequence = rnn.pack_sequence
pad_packed_sequence = rnn.pad_packed_sequence
pad_sequence = rnn.pad_sequence
unpack_sequence = rnn.unpack_sequence
unpad_sequence = rnn.unpad_sequence

torch = pytest.importorskip("torch")
R = torch.nn.utils.rnn


def A(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)


def _seqs(lengths, feat=(3,), seed=0):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal((n, *feat)).astype(np.float32) for n in lengths]
    return [ej.tensor(a, requires_grad=True) for a in arrs], [torch.tensor(a, requires_grad=True) for a in arrs]


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(A(a), A(b), rtol=tol, atol=tol)


def _grads_match(es, ts, tol=1e-5):
    for e, t in zip(es, ts):
        _close(e.grad, t.grad, tol)


# --------------------------------------------------------------------------- functions
def test_module_and_namespace():
    import eagerjax.nn.utils.rnn as rnn_mod
    from eagerjax.nn.utils.rnn import pad_sequence as ps

    assert ej.nn.utils.rnn is rnn_mod is rnn and ps is pad_sequence
    assert set(R.__all__) <= set(rnn_mod.__all__)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_values_and_grads(batch_first, side):
    es, ts = _seqs([2, 5, 3], feat=(2, 3))
    a = pad_sequence(es, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    b = R.pad_sequence(ts, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    _close(a, b)
    w = np.random.default_rng(1).standard_normal(tuple(b.shape)).astype(np.float32)
    (a * ej.tensor(w)).sum().backward()
    (b * torch.tensor(w)).sum().backward()
    _grads_match(es, ts)
    # a tensor is split along dim 0; the first sequence's dtype wins
    _close(pad_sequence(ej.ones(2, 3)), R.pad_sequence(torch.ones(2, 3)))
    mixed = pad_sequence([ej.ones(2), ej.ones(3, dtype=ej.int32)])
    assert mixed.dtype == ej.float32 and tuple(mixed.shape) == (3, 2)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_pad_packed_match_torch(batch_first, enforce_sorted):
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 2) if batch_first else (6, 4, 2)).astype(np.float32)
    xe, xt = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for lens in (lengths, ej.tensor(lengths)):
        pe = pack_padded_sequence(xe, lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
        pt = R.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
        _close(pe.data, pt.data)
        assert pe.batch_sizes.tolist() == pt.batch_sizes.tolist()
        for a, b in ((pe.sorted_indices, pt.sorted_indices), (pe.unsorted_indices, pt.unsorted_indices)):
            assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    for total in (None, 7):
        ye, le = pad_packed_sequence(pe, batch_first=batch_first, padding_value=2.0, total_length=total)
        yt, lt = R.pad_packed_sequence(pt, batch_first=batch_first, padding_value=2.0, total_length=total)
        _close(ye, yt)
        assert le.tolist() == lt.tolist()
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (ye * ej.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    _close(xe.grad, xt.grad)


def test_pack_sequence_unpack_unpad_and_packed_sequence_class():
    es, ts = _seqs([2, 4, 3])
    pe, pt = pack_sequence(es, enforce_sorted=False), R.pack_sequence(ts, enforce_sorted=False)
    _close(pe.data, pt.data)
    for a, b in zip(unpack_sequence(pe), R.unpack_sequence(pt)):
        _close(a, b)
    padded = pad_sequence(es, batch_first=True)
    for a, b in zip(unpad_sequence(padded, ej.tensor([2, 4, 3]), batch_first=True), ts):
        _close(a, b)
    for a, b in zip(unpad_sequence(pad_sequence(es), [2, 4, 3]), ts):
        _close(a, b)
    sum(u.sum() for u in unpack_sequence(pe)).backward()
    for e in es:
        _close(e.grad, np.ones(e.shape, np.float32))
    # the namedtuple: fields, unpacking, repr, .to, a hand-built sequence
    data, bs, si, ui = pe
    assert PackedSequence._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert repr(pe).startswith("PackedSequence(data=tensor(")
    assert pe.to(ej.float32) is pe and pe.float() is pe
    half = pe.to(ej.float16)
    assert half.data.dtype == ej.float16 and half.batch_sizes is pe.batch_sizes
    assert half.unsorted_indices.tolist() == [2, 0, 1]
    hand = PackedSequence(data.detach(), ej.tensor(bs.tolist()), ej.tensor(si.tolist()))
    assert hand.unsorted_indices.tolist() == ui.tolist()
    _close(pad_packed_sequence(hand)[0], R.pad_packed_sequence(pt)[0])
    assert invert_permutation(None) is None
    assert invert_permutation(ej.tensor([2, 0, 1])).tolist() == [1, 2, 0]


_ERRORS = [
    (lambda M, x: M.pack_padded_sequence(x, [2, 3, 1]), "must be sorted in decreasing order"),
    (lambda M, x: M.pack_padded_sequence(x, [3, 2, 0]), "has to be greater than 0"),
    (lambda M, x: M.pack_padded_sequence(x, [3, 0, 2], enforce_sorted=False), "has to be greater than 0"),
    (lambda M, x: M.pack_padded_sequence(x, [3, 2]), "to be equal to batch_size, but got 2 (batch_size=3)"),
    (lambda M, x: M.pack_padded_sequence(x, [[3, 2, 1]]), "should be a 1D CPU int64 tensor, but got 2D"),
    (lambda M, x: M.pack_padded_sequence(x[:0], [1, 1, 1]), "Cannot pack empty tensors."),
    (lambda M, x: M.pad_packed_sequence(M.pack_padded_sequence(x, [3, 2, 1]), total_length=2), "total_length=2"),
    (lambda M, x: M.pad_sequence([x[0], x[1]], padding_side="top"), "left or right, but got top."),
    (lambda M, x: M.pad_sequence([]), "received an empty list of sequences"),
    (lambda M, x: M.pad_sequence([x[0, :, :1], x[0]]), "doesn't match the broadcast shape [3, 2]"),
    (lambda M, x: M.pack_sequence([x[:, 0], x[:0, 0]]), "has to be greater than 0"),
]


@pytest.mark.parametrize("i", range(len(_ERRORS)))
def test_errors_match_torch(i):
    fn, msg = _ERRORS[i]
    x = np.zeros((5, 3, 2), np.float32)
    with pytest.raises(Exception) as te:
        fn(R, torch.tensor(x))
    with pytest.raises(type(te.value)) as ee:
        fn(ej.nn.utils.rnn, ej.tensor(x))
    assert msg in str(ee.value) and msg in str(te.value)
    assert str(ee.value) == str(te.value)


def test_recurrent_layer_packed_errors():
    p = pack_sequence([ej.ones(3, 2), ej.ones(2, 2)])
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"):
        nn.GRU(2, 4)(p, ej.zeros(1, 3, 4))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 2, 4\), got \[1, 3, 4\]"):
        nn.LSTM(2, 4)(p, (ej.zeros(1, 2, 4), ej.zeros(1, 3, 4)))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 2"):
        nn.RNN(3, 4)(p)
    with pytest.raises(RuntimeError, match="input must have 2 dimensions, got 3"):
        nn.RNN(2, 4)(PackedSequence(ej.ones(3, 2, 1), ej.tensor([2, 1])))
    with pytest.raises(RuntimeError, match="Expected every length"):
        pack_padded_sequence(ej.ones(2, 2), [3, 1])


# --------------------------------------------------------------------------- recurrent layers
_RNN_CASES = [
    # (torch class, num_layers, bidirectional, batch_first, enforce_sorted, with hx, extra kwargs)
    ("GRU", 1, False, False, True, False, {}),
    ("LSTM", 1, True, True, False, False, {}),
    ("LSTM", 2, True, False, False, True, {"proj_size": 3}),
    ("RNN", 2, True, True, False, True, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("case", _RNN_CASES, ids=lambda c: f"{c[0]}-L{c[1]}-bi{int(c[2])}-bf{int(c[3])}")
def test_recurrent_layers_on_packed_input_match_torch(case):
    name, layers, bi, bf, srt, with_hx, kw = case
    lengths = [5, 4, 2, 1] if srt else [2, 5, 1, 4]
    B, T, F, H = 4, 6, 3, 5
    ej.manual_seed(0)
    m = getattr(nn, name)(F, H, num_layers=layers, bidirectional=bi, batch_first=bf, **kw)
    tm = getattr(torch.nn, name)(F, H, num_layers=layers, bidirectional=bi, batch_first=bf, **kw)
    tm.load_state_dict({k: torch.tensor(A(v)) for k, v in m.state_dict().items()})
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, F) if bf else (T, B, F)).astype(np.float32)
    xe, xt = ej.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pe = pack_padded_sequence(xe, lengths, batch_first=bf, enforce_sorted=srt)
    pt = R.pack_padded_sequence(xt, lengths, batch_first=bf, enforce_sorted=srt)
    D = (2 if bi else 1) * layers
    hx_e = hx_t = None
    if with_hx:
        h0 = rng.standard_normal((D, B, kw.get("proj_size", H))).astype(np.float32)
        c0 = rng.standard_normal((D, B, H)).astype(np.float32)
        hx_e = (ej.tensor(h0), ej.tensor(c0)) if name == "LSTM" else ej.tensor(h0)
        hx_t = (torch.tensor(h0), torch.tensor(c0)) if name == "LSTM" else torch.tensor(h0)
    oe, he = m(pe, hx_e)
    ot, ht = tm(pt, hx_t)
    assert isinstance(oe, PackedSequence) and oe.batch_sizes.tolist() == ot.batch_sizes.tolist()
    _close(oe.data, ot.data)
    he, ht = (he, ht) if name == "LSTM" else ((he,), (ht,))
    for a, b in zip(he, ht):
        _close(a, b)
    ye, _ = pad_packed_sequence(oe, batch_first=bf)
    yt, _ = R.pad_packed_sequence(ot, batch_first=bf)
    _close(ye, yt)
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    wh = rng.standard_normal(tuple(ht[0].shape)).astype(np.float32)
    ((ye * ej.tensor(w)).sum() + (he[0] * ej.tensor(wh)).sum() + he[-1].sum()).backward()
    ((yt * torch.tensor(w)).sum() + (ht[0] * torch.tensor(wh)).sum() + ht[-1].sum()).backward()
    _close(xe.grad, xt.grad, 1e-4)
    for n, p in m.named_parameters():
        _close(p.grad, tm.get_parameter(n).grad, 1e-4)


def test_dropout_between_layers_on_packed_input():
    ej.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    p = pack_sequence([ej.randn(4, 3), ej.randn(2, 3)])
    a, b = m(p)[0].data, m(p)[0].data
    assert not np.allclose(A(a), A(b))  # two draws
    m.eval()
    np.testing.assert_array_equal(A(m(p)[0].data), A(m(p)[0].data))


def test_kernels_are_keyed_by_shapes_not_lengths():
    """The layout reaches the rows as dynamic index arrays: new lengths with the same padded
    shape and packed size reuse the compiled kernel (eagerly and in lazy mode)."""
    from eagerjax._ops._registry import OPS

    m = nn.GRU(2, 3, num_layers=3)  # a configuration no other test uses
    x = ej.randn(5, 3, 2)
    old = set(OPS["_rnn_packed"].kernels.values())
    m(pack_padded_sequence(x, [5, 4, 2]))
    (kern,) = set(OPS["_rnn_packed"].kernels.values()) - old
    before = kern.jit._cache_size()
    for lengths in ([5, 3, 3], [5, 5, 1]):
        m(pack_padded_sequence(x, lengths))
    assert kern.jit._cache_size() == before


# --------------------------------------------------------------------------- training: eager / compile / lazy / torch
def _Tagger(lib):
    class Tagger(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = lib.nn.GRU(3, 4, bidirectional=True, batch_first=True)
            self.head = lib.nn.Linear(8, 1)

    return Tagger()


def _forward(model, R_, x, lengths, y):
    packed = R_.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h = model.gru(packed)
    padded, _ = R_.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return ((model.head(padded).squeeze(-1) - y) ** 2).mean() + (h**2).mean()


def test_training_step_eager_compile_lazy_and_torch_agree():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 3)).astype(np.float32)
    y = rng.standard_normal((3, 5)).astype(np.float32)
    lengths = [4, 5, 2]
    ej.manual_seed(0)
    sd = {k: A(v) for k, v in _Tagger(ej).state_dict().items()}
    results = {}
    for mode in ("eager", "compile", "lazy"):
        model = _Tagger(ej)
        model.load_state_dict({k: ej.tensor(v) for k, v in sd.items()})
        opt = ej.optim.Adam(model.parameters(), lr=0.05)

        def step(x, y):
            opt.zero_grad()
            loss = _forward(model, ej.nn.utils.rnn, x, lengths, y)  # noqa: B023
            loss.backward()
            opt.step()  # noqa: B023
            return loss

        xs, ys = ej.tensor(x), ej.tensor(y)
        if mode == "compile":
            run = ej.compile(step)
            losses = [float(run(xs, ys)) for _ in range(3)]
        elif mode == "lazy":
            with ej.lazy():
                losses = [float(step(xs, ys)) for _ in range(3)]
        else:
            losses = [float(step(xs, ys)) for _ in range(3)]
        results[mode] = (losses, {k: A(v) for k, v in model.state_dict().items()})
    tmodel = _Tagger(torch)
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.05)
    tlosses = []
    for _ in range(3):
        topt.zero_grad()
        loss = _forward(tmodel, R, torch.tensor(x), torch.tensor(lengths), torch.tensor(y))
        loss.backward()
        topt.step()
        tlosses.append(loss.item())
    results["torch"] = (tlosses, {k: A(v) for k, v in tmodel.state_dict().items()})
    for mode in ("compile", "lazy", "torch"):
        np.testing.assert_allclose(results[mode][0], results["eager"][0], rtol=1e-5, atol=1e-5)
        for k, v in results["eager"][1].items():
            np.testing.assert_allclose(results[mode][1][k], v, rtol=1e-5, atol=1e-5, err_msg=f"{mode} {k}")
    assert len(set(results["eager"][0])) == 3
