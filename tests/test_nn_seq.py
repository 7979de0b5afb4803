"""Sequence-model layers against PyTorch: attention, transformer layers, RNN/LSTM/GRU.

Same weights (a torch ``state_dict`` loaded as is) -> same outputs (1e-5) and
the same input/parameter gradients (1e-4); identical ``state_dict`` keys;
dropout drawing from ``ej.manual_seed``; the layers under ``ej.compile`` and
lazy mode.
"""

import warnings

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax._ops._registry import OPS

torch = pytest.importorskip("torch")
TF = torch.nn.functional

OUT_TOL = 1e-5
GRAD_TOL = 1e-4


# --------------------------------------------------------------------------- helpers
def E(t, grad=False):
    """A torch tensor as an eagerjax tensor (same values, same dtype)."""
    return ej.tensor(t.detach().numpy(), requires_grad=grad)


def A(t):
    """An eagerjax tensor's value as a numpy array."""
    return t.numpy(force=True)


def load(m, tm):
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert list(m.state_dict()) == list(tm.state_dict())


def close(a, b, tol=OUT_TOL):
    a = a.numpy(force=True) if hasattr(a, "numpy") and not isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def close_param_grads(m, tm, tol=GRAD_TOL):
    tg = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert tg[name].grad is not None, name
        assert p.grad is not None, name
        close(p.grad, tg[name].grad, tol)


def leaves(*shapes, dtype=torch.float32):
    ts = [torch.randn(*s, dtype=dtype, requires_grad=True) for s in shapes]
    return ts, [E(t, grad=True) for t in ts]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    ej.manual_seed(0)


# --------------------------------------------------------------------------- scaled_dot_product_attention
@pytest.mark.parametrize("case", ["scale", "causal_rect", "causal_long", "bool_mask", "float_mask_gqa", "dead_rows"])
def test_sdpa_matches_torch(case):
    Lq = 3 if case == "causal_rect" else 4
    hk = 2 if case == "float_mask_gqa" else 4
    if case == "causal_long":  # past _CONST_BIAS_MAX: the causal bias is built from iota in the program
        (q, k, v), (qe, ke, ve) = leaves((1, 1, 260, 4), (1, 1, 260, 4), (1, 1, 260, 4))
    else:
        (q, k, v), (qe, ke, ve) = leaves((2, 4, Lq, 8), (2, hk, 5, 8), (2, hk, 5, 8))
    kw = {}
    if case in ("causal_rect", "causal_long"):
        kw["is_causal"] = True
    if case == "bool_mask":
        kw["attn_mask"] = torch.rand(Lq, 5) > 0.3
    if case == "dead_rows":
        m = torch.rand(2, 1, Lq, 5) > 0.3
        m[0, 0, 1] = False  # a fully masked row: torch gives zeros there
        kw["attn_mask"] = m
    if case == "float_mask_gqa":
        kw["attn_mask"] = torch.randn(2, 1, Lq, 5)
        kw["enable_gqa"] = True
    if case == "scale":
        kw["scale"] = 0.3
    out = TF.scaled_dot_product_attention(q, k, v, **kw)
    kwe = {a: (E(b) if isinstance(b, torch.Tensor) else b) for a, b in kw.items()}
    oute = F.scaled_dot_product_attention(qe, ke, ve, **kwe)
    close(oute, out)
    w = torch.randn(out.shape)
    (out * w).sum().backward()
    (oute * E(w)).sum().backward()
    for a, b in ((qe, q), (ke, k), (ve, v)):
        close(a.grad, b.grad, GRAD_TOL)


def test_sdpa_errors_and_dropout():
    q = ej.randn(1, 2, 4, 8)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ej.ones(4, 4).bool(), is_causal=True)
    _twice_with_seed(lambda: (F.scaled_dot_product_attention(q, q, q, dropout_p=0.5),))
    assert not np.allclose(
        A(F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)), A(F.scaled_dot_product_attention(q, q, q))
    )


# --------------------------------------------------------------------------- MultiheadAttention
MHA_CASES = [  # grad=True: also compare input and parameter gradients
    dict(name="plain", grad=True),
    dict(name="batch_first_kpm_bool_mask", batch_first=True, kpm=True, mask="bool", grad=True),
    dict(name="float_mask3d_per_head", mask="float3d", average=False),
    dict(name="no_weights_kdim_vdim", kdim=3, vdim=5, kpm=True, need_weights=False, mask="float", grad=True),
    dict(name="bias_kv_zero_attn", add_bias_kv=True, add_zero_attn=True, kpm=True, mask="float", grad=True),
    dict(name="no_bias_unbatched", bias=False, unbatched=True, mask="bool"),
    dict(name="causal_hint", mask="causal", causal=True, need_weights=False),
    # one tensor as query, key and value: the packed projection runs as one matmul
    dict(name="self_causal", batch_first=True, same=True, mask="causal", causal=True, need_weights=False, grad=True),
    dict(name="self_weights", same=True, kpm=True, grad=True),
]


@pytest.mark.parametrize("c", MHA_CASES, ids=[c["name"] for c in MHA_CASES])
def test_multihead_attention_matches_torch(c):
    E_, H, L, S, N = 8, 2, 4, 5, 3
    ctor = {k: c[k] for k in ("batch_first", "kdim", "vdim", "add_bias_kv", "add_zero_attn", "bias") if k in c}
    tm = torch.nn.MultiheadAttention(E_, H, **ctor)
    m = nn.MultiheadAttention(E_, H, **ctor)
    load(m, tm)
    kd, vd = c.get("kdim", E_), c.get("vdim", E_)
    if c.get("causal") or c.get("same"):
        S = L
    if c.get("unbatched"):
        shapes = [(L, E_), (S, kd), (S, vd)]
    elif c.get("batch_first"):
        shapes = [(N, L, E_), (N, S, kd), (N, S, vd)]
    else:
        shapes = [(L, N, E_), (S, N, kd), (S, N, vd)]
    (q, k, v), (qe, ke, ve) = leaves(*shapes)
    if c.get("same"):
        k = v = q
        ke = ve = qe
    kw = {}
    if c.get("kpm"):
        kpm = torch.zeros(N, S, dtype=torch.bool)
        kpm[1, 3:] = True
        kw["key_padding_mask"] = kpm
    mask = c.get("mask")
    if mask == "bool":
        kw["attn_mask"] = torch.rand(L, S) > 0.7
    elif mask == "float":
        kw["attn_mask"] = torch.randn(L, S)
    elif mask == "float3d":
        kw["attn_mask"] = torch.randn(N * H, L, S)
    elif mask == "causal":
        kw["attn_mask"] = torch.nn.Transformer.generate_square_subsequent_mask(L)
        kw["is_causal"] = True
    if "need_weights" in c:
        kw["need_weights"] = c["need_weights"]
    if "average" in c:
        kw["average_attn_weights"] = c["average"]
    out, w = tm(q, k, v, **kw)
    oute, we = m(qe, ke, ve, **{a: (E(b) if isinstance(b, torch.Tensor) else b) for a, b in kw.items()})
    close(oute, out)
    if w is None:
        assert we is None
    else:
        close(we, w)
    if not c.get("grad"):
        return
    g = torch.randn(out.shape)
    loss = (out * g).sum() + (0 if w is None else (w * w).sum())
    losse = (oute * E(g)).sum() + (0 if we is None else (we * we).sum())
    loss.backward()
    losse.backward()
    for a, b in ((qe, q), (ke, k), (ve, v)):
        close(a.grad, b.grad, GRAD_TOL)
    close_param_grads(m, tm)


def test_multihead_attention_state_dict_init_and_errors():
    for kw in (dict(), dict(kdim=3, vdim=5), dict(add_bias_kv=True), dict(bias=False)):
        assert list(nn.MultiheadAttention(8, 2, **kw).state_dict()) == list(
            torch.nn.MultiheadAttention(8, 2, **kw).state_dict()
        )
    m = nn.MultiheadAttention(8, 2)
    assert float(m.in_proj_bias.abs().sum()) == 0 and float(m.out_proj.bias.abs().sum()) == 0
    bound = (6 / (8 + 24)) ** 0.5  # xavier_uniform_ on (3E, E)
    assert float(m.in_proj_weight.abs().max()) <= bound
    assert repr(m) == repr(torch.nn.MultiheadAttention(8, 2))
    x = ej.randn(4, 2, 8)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(
        RuntimeError, match=r"The shape of the 2D attn_mask is torch.Size\(\[3, 4\]\), but should be \(4, 4\)."
    ):
        m(x, x, x, attn_mask=ej.zeros(3, 4))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask are supported"):
        m(x, x, x, attn_mask=ej.zeros(4, 4, dtype=ej.int32))
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 6"):
        m(ej.randn(4, 2, 6), x, x)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        m(x, x, x, key_padding_mask=ej.zeros(2, 4), attn_mask=ej.zeros(4, 4).bool())


# --------------------------------------------------------------------------- transformer layers
ENC_CASES = [
    dict(name="post_norm_gelu", activation="gelu"),
    dict(name="pre_norm_relu_batch_first_no_bias", norm_first=True, batch_first=True, bias=False),
]


@pytest.mark.parametrize("c", ENC_CASES, ids=[c["name"] for c in ENC_CASES])
def test_transformer_encoder_matches_torch(c):
    d, h, ff, L, N = 8, 2, 16, 5, 3
    kw = {k: c[k] for k in ("norm_first", "batch_first", "bias") if k in c}
    tl = torch.nn.TransformerEncoderLayer(d, h, ff, activation=c.get("activation", "relu"), **kw)
    el = nn.TransformerEncoderLayer(d, h, ff, activation=c.get("activation", "relu"), **kw)
    tenc = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(d), enable_nested_tensor=False).eval()
    enc = nn.TransformerEncoder(el, 2, norm=nn.LayerNorm(d)).eval()
    assert enc.layers[0] is not el and enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    load(enc, tenc)
    bf = c.get("batch_first", False)
    (x,), (xe,) = leaves((N, L, d) if bf else (L, N, d))
    kpm = torch.zeros(N, L, dtype=torch.bool)
    kpm[0, 3:] = True
    mask = torch.nn.Transformer.generate_square_subsequent_mask(L)
    for kw_ in (dict(), dict(mask=mask, src_key_padding_mask=kpm)):
        out = tenc(x, **kw_)
        oute = enc(xe, **{a: E(b) for a, b in kw_.items()})
        close(oute, out)
    g = torch.randn(out.shape)
    (out * g).sum().backward()
    (oute * E(g)).sum().backward()
    close(xe.grad, x.grad, GRAD_TOL)
    close_param_grads(enc, tenc)
    # a single layer, causal hint with its mask
    tl.eval()
    el.eval()
    load(el, tl)
    out = tl(x, src_mask=mask, is_causal=True)
    close(el(xe, src_mask=E(mask), is_causal=True), out)


def test_transformer_decoder_and_full_model_match_torch():
    d, h, ff, S, T, N = 8, 2, 16, 5, 4, 2
    tm = torch.nn.Transformer(d, h, 1, 1, ff, dropout=0.1).eval()
    m = nn.Transformer(d, h, 1, 1, ff, dropout=0.1).eval()
    load(m, tm)
    src, tgt = torch.randn(S, N, d), torch.randn(T, N, d)
    srce, tgte = E(src), E(tgt)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    tmask_e = nn.Transformer.generate_square_subsequent_mask(T)
    close(tmask_e, tmask)
    mkpm = torch.zeros(N, S, dtype=torch.bool)
    mkpm[1, 4:] = True
    out = tm(src, tgt, tgt_mask=tmask, memory_key_padding_mask=mkpm, tgt_is_causal=True)
    oute = m(srce, tgte, tgt_mask=tmask_e, memory_key_padding_mask=E(mkpm), tgt_is_causal=True)
    close(oute, out)  # (gradients of the same layers are compared in the encoder and attention tests)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(srce, ej.randn(T, N + 1, d))


def test_transformer_state_dict_repr_and_errors():
    for kw in (dict(), dict(norm_first=True, bias=False)):
        assert list(nn.TransformerEncoderLayer(8, 2, 16, **kw).state_dict()) == list(
            torch.nn.TransformerEncoderLayer(8, 2, 16, **kw).state_dict()
        )
        assert list(nn.TransformerDecoderLayer(8, 2, 16, **kw).state_dict()) == list(
            torch.nn.TransformerDecoderLayer(8, 2, 16, **kw).state_dict()
        )
    assert list(nn.Transformer(8, 2, 1, 1, 16).state_dict()) == list(torch.nn.Transformer(8, 2, 1, 1, 16).state_dict())
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU())
    assert layer.activation_relu_or_gelu == 2 and isinstance(layer.activation, nn.GELU)
    assert list(layer.state_dict()) == list(nn.TransformerEncoderLayer(8, 2, 16).state_dict())
    assert nn.TransformerEncoderLayer(8, 2, 16).activation_relu_or_gelu == 1
    assert nn.TransformerEncoderLayer(8, 2, 16, activation="gelu").activation_relu_or_gelu == 2
    assert nn.TransformerEncoderLayer.__init__.__defaults__[:2] == (2048, 0.1)


# --------------------------------------------------------------------------- RNN / LSTM / GRU
RNN_CASES = [
    dict(
        name="lstm_2layer_bidir_batch_first_h0", cls="LSTM", num_layers=2, bidirectional=True, batch_first=True, h0=True
    ),
    dict(name="lstm_proj_unbatched_h0", cls="LSTM", proj_size=3, unbatched=True, h0=True),
    dict(name="gru_2layer_no_bias_h0", cls="GRU", num_layers=2, bias=False, h0=True),
    dict(
        name="rnn_relu_bidir_batch_first_h0",
        cls="RNN",
        nonlinearity="relu",
        bidirectional=True,
        batch_first=True,
        h0=True,
    ),
    dict(name="rnn_tanh_2layer_unbatched", cls="RNN", num_layers=2, unbatched=True),
]


@pytest.mark.parametrize("c", RNN_CASES, ids=[c["name"] for c in RNN_CASES])
def test_recurrent_layers_match_torch(c):
    I, H, T, N = 4, 5, 6, 3
    kw = {
        k: c[k] for k in ("num_layers", "bidirectional", "batch_first", "proj_size", "bias", "nonlinearity") if k in c
    }
    tm = getattr(torch.nn, c["cls"])(I, H, **kw)
    m = getattr(nn, c["cls"])(I, H, **kw)
    load(m, tm)
    assert repr(m) == repr(tm)
    D = 2 if c.get("bidirectional") else 1
    nl = c.get("num_layers", 1)
    hout = c.get("proj_size") or H
    if c.get("unbatched"):
        xs, hs, cs = (T, I), (D * nl, hout), (D * nl, H)
    else:
        xs = (N, T, I) if c.get("batch_first") else (T, N, I)
        hs, cs = (D * nl, N, hout), (D * nl, N, H)
    (x, h0, c0), (xe, h0e, c0e) = leaves(xs, hs, cs)
    lstm = c["cls"] == "LSTM"
    if c.get("h0"):
        targs, eargs = ((h0, c0),), ((h0e, c0e),)
        if not lstm:
            targs, eargs = (h0,), (h0e,)
    else:
        targs = eargs = ()
    out, hn = tm(x, *targs)
    oute, hne = m(xe, *eargs)
    close(oute, out)
    if lstm:
        close(hne[0], hn[0])
        close(hne[1], hn[1])
        loss = (out * out).sum() + hn[0].sum() + (hn[1] * 2).sum()
        losse = (oute * oute).sum() + hne[0].sum() + (hne[1] * 2).sum()
    else:
        close(hne, hn)
        loss = (out * out).sum() + hn.sum()
        losse = (oute * oute).sum() + hne.sum()
    loss.backward()
    losse.backward()
    close(xe.grad, x.grad, GRAD_TOL)
    if c.get("h0"):
        close(h0e.grad, h0.grad, GRAD_TOL)
        if lstm:
            close(c0e.grad, c0.grad, GRAD_TOL)
    close_param_grads(m, tm)


def test_recurrent_state_dict_init_kernel_and_errors():
    for cls, kw in (
        ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2)),
        ("GRU", dict(bias=False)),
        ("RNN", dict(num_layers=3)),
    ):
        assert list(getattr(nn, cls)(3, 4, **kw).state_dict()) == list(getattr(torch.nn, cls)(3, 4, **kw).state_dict())
    lstm, gru, rnn = nn.LSTM(3, 4), nn.GRU(3, 4), nn.RNN(3, 4)
    v = np.concatenate([A(p).ravel() for p in lstm.parameters()])
    assert np.abs(v).max() <= 0.5 and abs(v.std() - 0.5 / 3**0.5) < 0.05  # U(-1/sqrt(4), 1/sqrt(4))
    assert len(lstm.all_weights) == 1 and lstm._flat_weights_names[:2] == ["weight_ih_l0", "weight_hh_l0"]
    x = ej.randn(5, 2, 3)
    gru(x)
    n = len(OPS["_rnn"].kernels)
    gru(x)  # the whole stack is one cached row kernel: no new kernel for the same configuration
    assert len(OPS["_rnn"].kernels) == n
    cases = [
        (lambda: lstm(ej.randn(1, 2, 3, 3)), ValueError, "LSTM: Expected input to be 2D or 3D, got 4D instead"),
        (lambda: rnn(ej.randn(1, 2, 3, 3)), ValueError, "RNN: Expected input to be 2D or 3D, got 4D tensor instead"),
        (
            lambda: lstm(ej.randn(5, 2, 4)),
            RuntimeError,
            "input.size(-1) must be equal to input_size. Expected 3, got 4",
        ),
        (
            lambda: lstm(x, (ej.zeros(1, 2, 5), ej.zeros(1, 2, 4))),
            RuntimeError,
            "Expected hidden[0] size (1, 2, 4), got [1, 2, 5]",
        ),
        (
            lambda: lstm(x, (ej.zeros(1, 2, 4), ej.zeros(1, 2, 5))),
            RuntimeError,
            "Expected hidden[1] size (1, 2, 4), got [1, 2, 5]",
        ),
        (lambda: gru(x, ej.zeros(1, 3, 4)), RuntimeError, "Expected hidden size (1, 2, 4), got [1, 3, 4]"),
        (
            lambda: gru(ej.randn(5, 3), ej.zeros(1, 3, 4)),
            RuntimeError,
            "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor",
        ),
        (
            lambda: lstm(x, (ej.zeros(2, 4), ej.zeros(2, 4))),
            RuntimeError,
            "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors",
        ),
        (
            lambda: nn.RNN(3, 4, nonlinearity="foo"),
            ValueError,
            "Unknown nonlinearity 'foo'. Select from 'tanh' or 'relu'.",
        ),
        (
            lambda: nn.GRU(3, 4, proj_size=2),
            ValueError,
            "proj_size argument is only supported for LSTM, not RNN or GRU",
        ),
        (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
        (lambda: nn.LSTM(3, 4, dropout=1.5), ValueError, "dropout should be a number in range [0, 1]"),
        (lambda: nn.LSTM(3, 0), ValueError, "hidden_size must be greater than zero"),
        (lambda: nn.LSTM(3, 4.0), TypeError, "hidden_size should be of type int, got: float"),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc) as info:
            fn()
        assert msg in str(info.value), (msg, str(info.value))
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last recurrent layer"):
        nn.LSTM(3, 4, dropout=0.5)


# --------------------------------------------------------------------------- capture and lazy mode
class _SeqModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.25, batch_first=True)
        self.attn = nn.MultiheadAttention(4, 2, dropout=0.25, batch_first=True)

    def forward(self, x, kpm):
        h, _ = self.lstm(x)
        return self.attn(h, h, h, key_padding_mask=kpm)[0].mean()


def _train(model, step, n, x, kpm):
    return [float(step(x, kpm)) for _ in range(n)]


def test_compiled_and_lazy_training_match_eager_including_dropout():
    x = ej.randn(2, 5, 3)
    kpm = ej.zeros(2, 5).bool()
    results = {}
    for mode in ("eager", "compile", "lazy"):
        ej.manual_seed(1)
        model = _SeqModel()
        opt = ej.optim.SGD(model.parameters(), lr=0.1)

        def step(x, kpm):
            opt.zero_grad()
            loss = model(x, kpm)
            loss.backward()
            opt.step()
            return loss

        ej.manual_seed(2)
        if mode == "compile":
            losses = _train(model, ej.compile(step), 3, x, kpm)
        elif mode == "lazy":
            with ej.lazy():
                losses = _train(model, step, 3, x, kpm)
        else:
            losses = _train(model, step, 3, x, kpm)
        results[mode] = (losses, A(model.lstm.weight_hh_l1).copy())
    for mode in ("compile", "lazy"):
        np.testing.assert_allclose(results[mode][0], results["eager"][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(results[mode][1], results["eager"][1], rtol=1e-5, atol=1e-6)
    assert len(set(results["eager"][0])) == 3  # it trained (and dropout was on)


def test_mha_functional_forward_matches_module():
    m = nn.MultiheadAttention(8, 2)
    x = ej.randn(4, 2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o1, w1 = m(x, x, x)
    o2, w2 = F.multi_head_attention_forward(
        x,
        x,
        x,
        8,
        2,
        m.in_proj_weight,
        m.in_proj_bias,
        None,
        None,
        False,
        0.0,
        m.out_proj.weight,
        m.out_proj.bias,
        training=False,
    )
    np.testing.assert_allclose(A(o1), A(o2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(A(w1), A(w2), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- dropout draws from ej.manual_seed
# (same configurations as the capture test above, so these reuse its compiled kernels)
def _twice_with_seed(fn, seed=7):
    ej.manual_seed(seed)
    a = fn()
    ej.manual_seed(seed)
    b = fn()
    c = fn()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(A(x), A(y))
    assert not np.array_equal(A(a[0]), A(c[0]))


def test_dropout_in_train_mode_draws_from_manual_seed():
    x = ej.randn(2, 5, 3)
    kpm = ej.zeros(2, 5).bool()
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.25, batch_first=True)
    _twice_with_seed(lambda: (lstm(x)[0], lstm(x)[1][0]))
    h = ej.randn(2, 5, 4)
    attn = nn.MultiheadAttention(4, 2, dropout=0.25, batch_first=True)
    _twice_with_seed(lambda: attn(h, h, h, key_padding_mask=kpm))
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.25, batch_first=True)
    _twice_with_seed(lambda: (layer(h),))
    for m in (lstm, attn, layer):
        m.eval()
    np.testing.assert_array_equal(A(lstm(x)[0]), A(lstm(x)[0]))
    np.testing.assert_array_equal(A(attn(h, h, h)[0]), A(attn(h, h, h)[0]))
    np.testing.assert_array_equal(A(layer(h)), A(layer(h)))
