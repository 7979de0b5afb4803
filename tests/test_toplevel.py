"""torch's top-level functions eagerjax spells the same way: the generated in-place functions
(``torch.abs_``), the ATen spellings of nn features (``torch.batch_norm``, ``torch.kl_div``
with int reductions) and small utilities (``range``, ``broadcast_shapes``, ``split_with_sizes``).

Table-driven: each case is called on the same arrays in eagerjax and torch; outputs and the
gradients of every float input (for a random cotangent) must agree. A training step using a
representative set runs the same eager, under ``ej.compile`` and under ``ej.lazy()``.
"""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
from eagerjax._generate import TOPLEVEL_INPLACE
from eagerjax._ops._registry import OPS
from eagerjax.testing import assert_compile_equivalent

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)


def rn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def un(*shape, lo=0.1, hi=0.9):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def ints(lo, hi, *shape):
    return RNG.integers(lo, hi, shape).astype(np.int64)


def _np(t) -> np.ndarray:
    if isinstance(t, ej.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


def _leaves(o) -> list:
    return [z for y in o for z in _leaves(y)] if isinstance(o, (tuple, list)) else [o]


def _convert(args, lib, grad, nograd):
    """np float arrays become leaves requiring grad (unless listed in ``nograd``); a list of
    arrays (``index_put``'s indices) is converted element-wise."""
    out, leaves = [], []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            rg = grad and a.dtype.kind == "f" and i not in nograd
            t = lib.tensor(a, requires_grad=rg)
            if rg:
                leaves.append((i, t))
            out.append(t)
        elif isinstance(a, tuple) and a and isinstance(a[0], np.ndarray):
            out.append(tuple(lib.tensor(z) for z in a))
        else:
            out.append(a)
    return out, leaves


def check(name, args, kwargs=None, grad=True, nograd=(), tol=1e-5, gtol=1e-4, inplace=False, after=()):
    """Call ``ej.<name>`` and ``torch.<name>`` on the same arguments and compare.

    ``inplace``: the first argument is a non-leaf copy of a leaf (so an in-place function may
    write it), and the written tensor is compared too. ``after``: argument positions whose
    values are compared after the call (running statistics updated in place)."""
    kwargs = kwargs or {}
    outs, grads = [], []
    g = None
    for lib in (ej, torch):
        conv, leaves = _convert(args, lib, grad, nograd)
        if inplace:
            conv[0] = conv[0] * 1 if conv[0].requires_grad else conv[0].clone()
        o = getattr(lib, name)(*conv, **kwargs)
        flat = [t for t in _leaves(o) if isinstance(t, (ej.Tensor, torch.Tensor))]
        outs.append([_np(t) for t in flat] + [_np(conv[0])] * inplace + [_np(conv[i]) for i in after])
        diff = [t for t in flat if t.dtype in (ej.float32, torch.float32) and t.requires_grad]
        if leaves and diff:
            if g is None:
                g = [rn(*t.shape) for t in diff]
            try:
                sum((t * lib.tensor(c)).sum() for t, c in zip(diff, g)).backward()
            except NotImplementedError:  # torch: "the derivative for 'inplace version of acosh'"
                assert lib is torch
                grads.pop()
                continue
            grads.append([_np(t.grad) if t.grad is not None else np.zeros(t.shape, np.float32) for _, t in leaves])
        if not isinstance(o, (tuple, list)) and not isinstance(o, (ej.Tensor, torch.Tensor)):
            outs[-1].append(o)
    assert len(outs[0]) == len(outs[1]), name
    for a, b in zip(*outs):
        if isinstance(a, np.ndarray):
            assert a.shape == b.shape, f"{name}: {a.shape} != {b.shape}"
            np.testing.assert_allclose(
                a, b.astype(a.dtype) if b.dtype != a.dtype else b, rtol=tol, atol=tol, err_msg=name
            )
        else:
            assert a == b, name
    assert len(grads) in (0, 2), f"{name}: gradients on one side only"
    for a, b in zip(*grads) if grads else ():
        np.testing.assert_allclose(a, b, rtol=gtol, atol=gtol, err_msg=f"{name} grad")


# --------------------------------------------------------------------------- generated in-place functions
def test_toplevel_inplace_list_is_torchs() -> None:
    rows = {n for n, r in OPS.items() if r.inplace and not n.startswith("_") and hasattr(torch, n + "_")}
    assert rows == set(TOPLEVEL_INPLACE)
    for n in TOPLEVEL_INPLACE:
        assert getattr(ej, n + "_") is getattr(ej.Tensor, n + "_")


_UNARY_ARGS = {
    "acosh": lambda: [un(3, 4, lo=1.2, hi=3.0)],
    "arccosh": lambda: [un(3, 4, lo=1.2, hi=3.0)],
    "clamp": lambda: [rn(3, 4), -0.5, 0.5],
    "clip": lambda: [rn(3, 4), -0.5, 0.5],
    "clamp_min": lambda: [rn(3, 4), 0.2],
    "clamp_max": lambda: [rn(3, 4), 0.3],
    "xlogy": lambda: [un(3, 4), un(3, 4)],
    "ldexp": lambda: [rn(3, 4), ints(0, 3, 3, 4)],  # (torch's ldexp_ gradient is 0 for negative exponents)
    "gcd": lambda: [ints(1, 30, 5), ints(1, 30, 5)],
    "lcm": lambda: [ints(1, 30, 5), ints(1, 30, 5)],
    "nan_to_num": lambda: [np.array([1.0, np.nan, np.inf, -np.inf], np.float32), 0.5],
    "addmv": lambda: [rn(3), rn(3, 4), rn(4)],
    "index_put": lambda: [rn(5, 2), (np.array([0, 3]),), rn(2, 2)],
    "round": lambda: [rn(3, 4) * 3],
    "floor": lambda: [rn(3, 4) * 3],
    "ceil": lambda: [rn(3, 4) * 3],
    "trunc": lambda: [rn(3, 4) * 3],
    "fix": lambda: [rn(3, 4) * 3],
    "frac": lambda: [rn(3, 4) * 3],
    "neg": lambda: [rn(3, 4)],
    "negative": lambda: [rn(3, 4)],
    "abs": lambda: [rn(3, 4)],
    "relu": lambda: [rn(3, 4)],
    "sin": lambda: [rn(3, 4)],
    "cos": lambda: [rn(3, 4)],
    "exp": lambda: [rn(3, 4)],
    "sinh": lambda: [rn(3, 4)],
    "tanh": lambda: [rn(3, 4)],
    "sigmoid": lambda: [rn(3, 4)],
    "square": lambda: [rn(3, 4)],
}


@pytest.mark.parametrize("name", sorted(TOPLEVEL_INPLACE))
def test_generated_inplace(name: str) -> None:
    args = _UNARY_ARGS.get(name, lambda: [un(3, 4)])()
    check(name + "_", args, inplace=True, nograd=(1, 2) if name == "addmv" else ())


def test_generated_inplace_leaf_error() -> None:
    x = ej.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        ej.abs_(x)


# --------------------------------------------------------------------------- hand-written in-place functions
@pytest.mark.parametrize(
    "name,args",
    [
        ("zero_", lambda: [rn(3, 4)]),
        ("fill_", lambda: [rn(3, 4), 2.5]),
        ("selu_", lambda: [rn(3, 4)]),
        ("celu_", lambda: [rn(3, 4), 0.7]),
        ("threshold_", lambda: [rn(3, 4), 0.1, -3.0]),
        ("conj_physical_", lambda: [rn(3, 4)]),
        ("dropout_", lambda: [rn(3, 4), 0.5, False]),
        ("alpha_dropout_", lambda: [rn(3, 4), 0.5, False]),
        ("feature_alpha_dropout_", lambda: [rn(3, 4), 0.5, False]),
        ("feature_dropout_", lambda: [rn(3, 4), 0.5, False]),
    ],
)
def test_handwritten_inplace(name, args) -> None:
    check(name, args(), inplace=True)


def test_detach_() -> None:
    x = ej.tensor([1.0, 2.0], requires_grad=True) * 2
    assert ej.detach_(x) is x and not x.requires_grad and x.grad_fn is None


# --------------------------------------------------------------------------- nn features at top level
def _logp(*shape):
    a = rn(*shape)
    return (a - np.log(np.exp(a).sum(-1, keepdims=True))).astype(np.float32)


def _sign(n):
    return np.where(RNG.random(n) < 0.5, -1.0, 1.0).astype(np.float32)


NN_CASES = [
    ("conv1d", lambda: [rn(2, 3, 8), rn(4, 3, 3), rn(4), 2, 1], {}),
    ("conv2d", lambda: [rn(1, 2, 6, 6), rn(3, 2, 3, 3), None], {"padding": "same"}),
    ("conv3d", lambda: [rn(1, 2, 4, 4, 4), rn(2, 2, 2, 2, 2), rn(2)], {"stride": 2}),
    ("conv_transpose1d", lambda: [rn(2, 3, 5), rn(3, 2, 3), rn(2), 2, 1, 1], {}),
    ("conv_transpose2d", lambda: [rn(1, 2, 4, 4), rn(2, 3, 3, 3), rn(3)], {"stride": 2}),
    ("conv_transpose3d", lambda: [rn(1, 2, 3, 3, 3), rn(2, 2, 2, 2, 2)], {}),
    ("convolution", lambda: [rn(2, 3, 8), rn(4, 3, 3), rn(4), [2], [1], [1], False, [0], 1], {}),
    ("convolution", lambda: [rn(1, 2, 4, 4), rn(2, 3, 3, 3), None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1], {}),
    ("layer_norm", lambda: [rn(2, 3, 4), [4], rn(4), rn(4), 1e-5, True], {}),
    ("group_norm", lambda: [rn(2, 4, 3), 2, rn(4), rn(4), 1e-5, True], {}),
    ("instance_norm", lambda: [rn(2, 3, 5), rn(3), rn(3), None, None, True, 0.1, 1e-5, False], {}),
    ("rms_norm", lambda: [rn(2, 3, 4), [4], rn(4), 1e-6], {}),
    ("bilinear", lambda: [rn(2, 3), rn(2, 4), rn(5, 3, 4), rn(5)], {}),
    ("cosine_similarity", lambda: [rn(3, 4), rn(3, 4)], {"dim": 1}),
    ("pairwise_distance", lambda: [rn(3, 4), rn(3, 4), 1.5], {}),
    ("pdist", lambda: [rn(4, 3)], {}),
    ("pdist", lambda: [rn(5, 2), 1.5], {}),
    ("pixel_shuffle", lambda: [rn(1, 8, 2, 2), 2], {}),
    ("pixel_unshuffle", lambda: [rn(1, 2, 4, 4), 2], {}),
    ("max_pool1d", lambda: [rn(2, 3, 8), 2], {}),
    ("max_pool2d", lambda: [rn(1, 2, 6, 6), 3, 2, 1], {}),
    ("max_pool3d", lambda: [rn(1, 1, 4, 4, 4), 2], {"ceil_mode": True}),
    ("max_pool1d_with_indices", lambda: [rn(2, 3, 8), 3, 2], {}),
    ("avg_pool1d", lambda: [rn(2, 3, 8), 3, 2, 1], {}),
    ("adaptive_avg_pool1d", lambda: [rn(2, 3, 8), 3], {}),
    ("adaptive_max_pool1d", lambda: [rn(2, 3, 8), 3], {}),
    ("kl_div", lambda: [_logp(3, 4), un(3, 4)], {}),
    ("kl_div", lambda: [_logp(3, 4), _logp(3, 4), 2], {"log_target": True}),
    ("kl_div", lambda: [_logp(3, 4), un(3, 4), 0], {}),
    ("binary_cross_entropy_with_logits", lambda: [rn(3, 4), un(3, 4), un(3, 4), un(4), 1], {}, {"nograd": (2, 3)}),
    ("binary_cross_entropy_with_logits", lambda: [rn(3, 4), un(3, 4)], {"reduction": 0}),
    ("hinge_embedding_loss", lambda: [rn(6), _sign(6), 0.5, 2], {}),
    ("cosine_embedding_loss", lambda: [rn(3, 4), rn(3, 4), _sign(3), 0.1], {}),
    ("margin_ranking_loss", lambda: [rn(5), rn(5), _sign(5), 0.2, 0], {}),
    ("triplet_margin_loss", lambda: [rn(3, 4), rn(3, 4), rn(3, 4), 1.0, 2.0, 1e-6, True, 1], {}),
    ("poisson_nll_loss", lambda: [rn(3, 4), un(3, 4) * 4, True, False, 1e-8, 1], {}),
    ("poisson_nll_loss", lambda: [un(3, 4), un(3, 4) * 4, False, True, 1e-8, 2], {}),
    ("constant_pad_nd", lambda: [rn(2, 3, 4), [1, -1, 2, 0], 2.0], {}),
    ("native_channel_shuffle", lambda: [rn(1, 6, 2), 3], {}, {"grad": False}),  # (no torch derivative)
    ("grid_sampler", lambda: [rn(1, 2, 4, 4), un(1, 3, 3, 2, lo=-0.9, hi=0.9), 0, 0, False], {}),
    ("grid_sampler", lambda: [rn(1, 2, 4, 4), un(1, 3, 3, 2, lo=-1.2, hi=1.2), 1, 1, True], {}),
    ("grid_sampler", lambda: [rn(1, 2, 4, 4), un(1, 3, 3, 2, lo=-1.2, hi=1.2), 0, 2, False], {}),
    ("affine_grid_generator", lambda: [rn(2, 2, 3), [2, 1, 4, 5], False], {}),
    ("dropout", lambda: [rn(3, 4), 0.5, False], {}),
    ("alpha_dropout", lambda: [rn(3, 4), 0.5, False], {}),
    ("feature_alpha_dropout", lambda: [rn(3, 4), 0.5, False], {}),
    ("feature_dropout", lambda: [rn(3, 4), 0.3, False], {}),
    ("dropout", lambda: [rn(3, 4), 0.0, True], {}),
    ("conj_physical", lambda: [rn(3, 4)], {}),
    ("fill", lambda: [rn(3, 4), 1.5], {}),
    ("fill", lambda: [rn(3, 4), np.array(0.7, np.float32)], {}),
    ("detach", lambda: [rn(3)], {}),
    ("split_with_sizes", lambda: [rn(5, 3), [2, 3]], {}),
    ("unsafe_split_with_sizes", lambda: [rn(3, 5), [1, 4], 1], {}),
    ("unsafe_split", lambda: [rn(5, 3), 2], {}),
    ("unsafe_chunk", lambda: [rn(3, 5), 2, 1], {}),
    ("resolve_conj", lambda: [rn(3)], {}),
    ("resolve_neg", lambda: [rn(3)], {}),
]


@pytest.mark.parametrize("case", NN_CASES, ids=[c[0] for c in NN_CASES])
def test_toplevel_vs_torch(case) -> None:
    name, args, kwargs, *opts = case
    check(name, args(), kwargs, **(opts[0] if opts else {}))


def test_batch_norm_positional_and_running_stats() -> None:
    x, w, b = rn(4, 3, 5), rn(3), rn(3)
    for training in (True, False):
        rm, rv = rn(3), un(3) + 0.5
        check("batch_norm", [x, w, b, rm, rv, training, 0.2, 1e-5, False], nograd=(3, 4), after=(3, 4))


def test_embedding_weight_first() -> None:
    w, idx = rn(5, 3), ints(0, 5, 2, 4)
    check("embedding", [w, idx, 1])  # padding_idx 1: no gradient to row 1
    check("embedding", [w, idx])
    check("embedding", [w, idx, -1, True])


def test_ctc_loss_int_reduction() -> None:
    # through log_softmax: torch's CTC gradient assumes normalized log-probabilities
    a, tg = rn(6, 2, 4), ints(1, 4, 2, 3)
    for red in (None, 0, 1, 2):
        res = []
        for lib in (ej, torch):
            x = lib.tensor(a, requires_grad=True)
            extra = () if red is None else (0, red, False)
            out = lib.ctc_loss(lib.log_softmax(x, -1), lib.tensor(tg), [6, 5], [3, 2], *extra)
            (out * lib.tensor(np.arange(1.0, 1.0 + out.numel(), dtype=np.float32).reshape(out.shape))).sum().backward()
            res.append((_np(out), _np(x.grad)))
        for e, t in zip(*res):
            np.testing.assert_allclose(e, t, rtol=1e-4, atol=1e-4)


def test_dropout_train_and_errors() -> None:
    x = ej.ones(50, 8, 3)
    y = ej.feature_dropout(x, 0.5, True)
    per = y.numpy().reshape(50 * 8, 3)
    assert set(np.unique(per.min(1))) <= {0.0, 2.0} and (per.min(1) == per.max(1)).all()
    assert 0 < (per[:, 0] == 0).sum() < 400
    assert float(ej.dropout(ej.ones(4), 1.0, True).abs().sum()) == 0.0
    for f in (ej.dropout, ej.feature_dropout, ej.alpha_dropout, ej.dropout_):
        with pytest.raises(RuntimeError, match="dropout probability has to be between 0 and 1, but got 1.5"):
            f(ej.ones(3, 2), 1.5, False)
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions in the input"):
        ej.feature_dropout(ej.ones(3), 0.5, True)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        ej.kl_div(ej.ones(3), ej.ones(3), 7)


# --------------------------------------------------------------------------- utilities
def test_range() -> None:
    for args, kw in [
        ((0, 3), {}),
        ((0, 1, 0.3), {}),
        ((3, 0, -1), {}),
        ((0, 3), {"dtype": "int32"}),
        ((1, 2, 0.25), {}),
    ]:
        with pytest.warns(UserWarning, match="torch.range is deprecated"):
            ours = ej.range(*args, **{k: getattr(ej, v) for k, v in kw.items()})
        with pytest.warns(UserWarning):
            theirs = torch.range(*args, **{k: getattr(torch, v) for k, v in kw.items()})
        assert ours.dtype == {torch.float32: ej.float32, torch.int32: ej.int32}[theirs.dtype]
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    for args, msg in [((0, 3, 0), "step must be nonzero"), ((0, 3, -1), "upper bound and lower bound inconsistent")]:
        with pytest.warns(UserWarning), pytest.raises(RuntimeError, match=msg):
            ej.range(*args)


def test_broadcast_shapes() -> None:
    for shapes in [
        ((2, 1), (1, 3)),
        ((2, 3), (1,)),
        (),
        (torch.Size([2, 1]), [3]),
        ((5,), 5),
        ((1, 4, 1), (3, 1, 1, 1)),
    ]:
        assert tuple(ej.broadcast_shapes(*shapes)) == tuple(torch.broadcast_shapes(*shapes))
    assert isinstance(ej.broadcast_shapes((2, 1), (3,)), ej.Size)
    for shapes in [((2, 3), (4, 3)), ((2, 3), (4, 5)), ((2, 1), (1, 3), 5), ((1, 4, 1), (3, 1, 2, 1))]:
        with pytest.raises(RuntimeError) as theirs:
            torch.broadcast_shapes(*shapes)
        with pytest.raises(RuntimeError) as ours:
            ej.broadcast_shapes(*shapes)
        assert str(ours.value) == str(theirs.value)


def test_queries() -> None:
    for data, dt in [
        ([1.0], "float32"),
        ([1], "int32"),
        ([True], "bool"),
        ([1], "uint8"),
        ([1], "int8"),
        ([1.0], "float16"),
    ]:
        e, t = ej.tensor(data, dtype=getattr(ej, dt)), torch.tensor(data, dtype=getattr(torch, dt))
        assert ej.is_signed(e) == torch.is_signed(t) == e.is_signed()
    assert ej.is_nonzero(ej.tensor([0.0])) is False and ej.tensor(2).is_nonzero() is True
    for data in ([], [1.0, 2.0]):
        with pytest.raises(RuntimeError) as theirs:
            torch.is_nonzero(torch.tensor(data))
        with pytest.raises(RuntimeError, match=str(theirs.value)):
            ej.is_nonzero(ej.tensor(data))
    a, b = ej.ones(2, 3), ej.zeros(2, 3)
    assert ej.is_same_size(a, b) and not a.is_same_size(ej.ones(3, 2))
    assert not ej.is_conj(a) and not ej.is_neg(a) and not a.is_conj() and not a.is_neg()
    assert ej.resolve_conj(a) is a and ej.resolve_neg(a) is a and a.resolve_conj() is a
    z = ej.tensor([1 + 2j, 3 - 1j])
    np.testing.assert_allclose(ej.conj_physical(z).numpy(), np.conj(z.numpy()))
    np.testing.assert_allclose(z.conj_physical().numpy(), np.conj(z.numpy()))
    z2 = z.clone()
    assert ej.conj_physical_(z2) is z2
    np.testing.assert_allclose(z2.numpy(), np.conj(z.numpy()))
    assert not ej.is_inference(a) and not a.is_inference()


def test_typename() -> None:
    assert ej.typename(ej.ones(2)) == torch.typename(torch.ones(2)) == "torch.FloatTensor"
    assert ej.typename(ej.tensor([1])) == "torch.LongTensor" or ej.typename(ej.tensor([1])) == "torch.IntTensor"
    for obj in (3, "a", None, len, [1]):
        assert ej.typename(obj) == torch.typename(obj)
    assert ej.typename(ej.float32) == torch.typename(torch.float32)
    assert ej.typename(ej.nn.Linear) == "eagerjax.nn._linear.Linear"


def test_scalar_tensor_and_asarray() -> None:
    for s, kw in [(3, {}), (2.5, {}), (True, {}), (3, {"dtype": "int32"})]:
        o = ej.scalar_tensor(s, **{k: getattr(ej, v) for k, v in kw.items()})
        t = torch.scalar_tensor(s, **{k: getattr(torch, v) for k, v in kw.items()})
        assert o.shape == () and o.item() == t.item() and str(o.dtype) == str(t.dtype).removeprefix("torch.")
    assert ej.scalar_tensor(2.0, requires_grad=True).requires_grad
    x = ej.randn(3)
    assert ej.asarray(x) is x and ej.asarray(x, copy=True) is not x
    assert ej.asarray(x, dtype=ej.int32).dtype == ej.int32
    with pytest.raises(ValueError, match="can't alias tensor with dtype 'Float' into dtype 'Int'"):
        ej.asarray(x, dtype=ej.int32, copy=False)
    for obj in ([1, 2], 3.5, np.arange(3.0, dtype=np.float32), [[1.0, 2.0]]):
        o, t = ej.asarray(obj), torch.asarray(obj)
        np.testing.assert_array_equal(o.numpy(), t.numpy())
        assert o.dtype == {torch.int64: ej.int64, torch.float32: ej.float32}[t.dtype]
    assert ej.asarray([1.0, 2.0], requires_grad=True).requires_grad


def test_printoptions_match_torch() -> None:
    vals = [np.array([1.5, 2.25, -3.125]), np.array([1e-8, 2e9]), np.array([1.0, 2.0]), np.arange(40.0).reshape(5, 8)]
    settings = [
        {"precision": 2},
        {"sci_mode": True},
        {"sci_mode": False},
        {"profile": "short"},
        {"threshold": 10, "edgeitems": 1},
        {"linewidth": 30},
        {"profile": "full", "precision": 6},
    ]
    try:
        for kw in settings:
            ej.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            for v in vals:
                a = v.astype(np.float32)
                assert repr(ej.tensor(a)) == repr(torch.tensor(a)), kw
    finally:
        ej.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(ej.tensor([1.5])) == "tensor([1.5000])"


def test_devices_and_flags() -> None:
    x = ej.ones(2)
    assert ej.get_default_device() == x.device
    ej.set_default_device(None)
    ej.set_default_device(x.device)
    with pytest.raises(RuntimeError, match="eagerjax places every tensor on JAX's default device"):
        ej.set_default_device("meta")
    assert x.get_device() == (-1 if x.device.type == "cpu" else x.device.index or 0)
    assert x.is_cpu == (x.device.type == "cpu")
    # torch's spellings: str() is the device string, repr() the constructor call
    assert (str(ej.device("cpu")), str(ej.device("cuda", 0)), str(ej.device("cuda:1"))) == ("cpu", "cuda:0", "cuda:1")
    assert repr(ej.device("cuda", 0)) == "device(type='cuda', index=0)" and f"{ej.device('cpu')}" == "cpu"
    assert x.layout is ej.strided and repr(ej.strided) == "torch.strided" and isinstance(ej.strided, ej.layout)
    assert not ej.is_inference_mode_enabled()
    with ej.inference_mode():
        assert ej.is_inference_mode_enabled() and not ej.is_grad_enabled()
        with ej.inference_mode(False):
            assert not ej.is_inference_mode_enabled()
        assert ej.is_inference_mode_enabled()
    assert not ej.is_inference_mode_enabled()
    try:
        ej.set_anomaly_enabled(True, False)
        assert ej.is_anomaly_enabled() and not ej.is_anomaly_check_nan_enabled()
    finally:
        ej.set_anomaly_enabled(False)
    assert not ej.is_anomaly_enabled() and ej.is_anomaly_check_nan_enabled()
    try:
        ej.set_warn_always(True)
        assert ej.is_warn_always_enabled()
    finally:
        ej.set_warn_always(False)
    assert not ej.is_warn_always_enabled()


def test_tensor_methods() -> None:
    x = ej.ones(3)
    assert x.char().dtype == ej.int8 and x.cfloat().dtype == ej.complex64 and x.cdouble().is_complex()
    assert x.new().shape == (0,) and x.new().dtype == ej.float32
    assert x.new(2, 2).shape == (2, 2) and ej.arange(3).new(2).dtype == ej.arange(3).dtype
    np.testing.assert_array_equal(ej.arange(3).new([1, 2]).numpy(), [1, 2])
    assert ej.arange(3).new([1, 2]).dtype == ej.arange(3).dtype
    assert x.new(x) is x
    parts = ej.arange(5).split_with_sizes([2, 3])
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4]]
    assert [p.tolist() for p in ej.arange(5).unsafe_split(2)] == [[0, 1], [2, 3], [4]]
    assert [p.tolist() for p in ej.arange(4).unsafe_chunk(2)] == [[0, 1], [2, 3]]


# --------------------------------------------------------------------------- eager / compiled / lazy
class _Net(ej.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = ej.nn.Parameter(ej.randn(4, 3, 3) * 0.3)
        self.w = ej.nn.Parameter(ej.ones(4))
        self.b = ej.nn.Parameter(ej.zeros(4))
        self.register_buffer("rm", ej.zeros(4))
        self.register_buffer("rv", ej.ones(4))
        self.emb = ej.nn.Parameter(ej.randn(6, 8) * 0.5)

    def forward(self, x, idx, target):
        h = ej.conv1d(x, self.conv, None, 1, 1)
        h = ej.batch_norm(h, self.w, self.b, self.rm, self.rv, True, 0.1, 1e-5, False)
        h = ej.layer_norm(h, [8], None, None, 1e-5, True)
        h = ej.relu_(h * 1) + ej.embedding(self.emb, idx, 0)
        h = ej.clamp_(h, -2.0, 2.0)
        h = ej.max_pool1d(h, 2) + ej.fill(h[..., :4], self.w.sum() * 0.01)
        parts = ej.split_with_sizes(h, [1, 3], 1)
        logp = ej.log_softmax(parts[1].sum_to_size(2, 3, 1).squeeze(-1), -1)
        return ej.kl_div(logp, target, 2) + ej.dropout(parts[0], 0.0, True).mean()


def test_modes() -> None:
    ej.manual_seed(0)
    net = _Net()
    opt = ej.optim.SGD(net.parameters(), lr=0.1)
    x, idx = ej.randn(2, 3, 8), ej.randint(0, 6, (2, 4))
    target = ej.softmax(ej.randn(2, 3), -1)

    def step():
        opt.zero_grad()
        loss = net(x, idx, target)
        loss.backward()
        opt.step()
        return loss

    assert_compile_equivalent(step, steps=3, rtol=1e-5, atol=1e-5)


def test_generated_inplace_modes() -> None:
    x = ej.nn.Parameter(ej.randn(3, 4))

    def step():
        h = x * 1
        ej.sigmoid_(h)
        ej.clamp_min_(h, 0.3)
        ej.xlogy_(h, h + 1)
        h.sum().backward()
        with ej.no_grad():
            x.sub_(0.1 * x.grad)
            x.grad = None
        return h

    assert_compile_equivalent(step, steps=2)
