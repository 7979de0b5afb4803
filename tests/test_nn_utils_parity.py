"""nn.utils clipping, nn.init.trunc_normal_ and its private helpers, utils.data.DistributedSampler
and the torch module paths that re-export them, against torch 2.13 (eager, ej.compile, ej.lazy())."""

from __future__ import annotations

import importlib
import inspect
import math
import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
scipy_stats = pytest.importorskip("scipy.stats")

MODES = ("eager", "compile", "lazy")
NONFINITE = "The total norm of order 2.0 for gradients from `parameters` is non-finite"


def _run(mode: str, fn, *args):
    if mode == "compile":
        return ej.compile(fn)(*args)
    if mode == "lazy":
        with ej.lazy():
            out = fn(*args)
            if isinstance(out, ej.Tensor):
                out = out.clone()
            return out
    return fn(*args)


def _params(m, grads):
    ps = []
    for g in grads:
        p = m.nn.Parameter(m.zeros(len(g)))
        p.grad = m.tensor(g)
        ps.append(p)
    return ps


GRADS = [[3.0, -4.0, 1.0], [0.5, 2.0]]


# ------------------------------------------------------------------------------ clip_grad_norm_
@pytest.mark.parametrize("mode,eif", [(m, False) for m in MODES] + [("eager", True), ("lazy", True)])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_torch(mode, norm_type, eif):
    # (error_if_nonfinite=True inside ej.compile: test_clip_nonfinite_check_in_compile)
    tp, ep = _params(torch, GRADS), _params(ej, GRADS)
    tn = torch.nn.utils.clip_grad_norm_(tp, 1.5, norm_type=norm_type, error_if_nonfinite=eif)
    en = _run(mode, lambda: ej.nn.utils.clip_grad_norm_(ep, 1.5, norm_type=norm_type, error_if_nonfinite=eif))
    np.testing.assert_allclose(float(en), float(tn), rtol=1e-6)
    for a, b in zip(tp, ep):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", ("eager", "lazy"))
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_clip_nonfinite_raises_before_touching_grads(mode, bad):
    grads = [[bad, 1.0, 2.0], [3.0, 4.0]]
    tp, ep = _params(torch, grads), _params(ej, grads)
    with pytest.raises(RuntimeError, match="non-finite") as tinfo:
        torch.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as einfo:
        _run(mode, lambda: ej.nn.utils.clip_grad_norm_(ep, 1.0, error_if_nonfinite=True))
    assert str(einfo.value) == str(tinfo.value)
    for a, b in zip(tp, ep):  # torch leaves them as they were, and so do we
        np.testing.assert_array_equal(b.grad.numpy(), a.grad.numpy())
        np.testing.assert_array_equal(b.grad.numpy(), np.array(a.grad.tolist(), np.float32))


def test_clip_nonfinite_check_in_compile():
    (p,) = _params(ej, [[1.0, 2.0]])
    step = ej.compile(lambda: ej.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True))
    with pytest.raises(ej.CaptureError, match=r"clip_grad_norm_\(error_if_nonfinite=True\) reads the total norm"):
        step()
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, 2.0])
    # fullgraph=False runs such a step eagerly (with its warning), with torch's result
    step = ej.compile(lambda: ej.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True), fullgraph=False)
    with pytest.warns(UserWarning, match="runs eagerly"):
        n = step()
    np.testing.assert_allclose(float(n), math.sqrt(5), rtol=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), np.array([1.0, 2.0]) / (math.sqrt(5) + 1e-6), rtol=1e-6)


def test_clip_default_path_compiles_without_host_read():
    """error_if_nonfinite=False (the default) never reads the host: it traces with fullgraph,
    and a non-finite norm scales the grads to NaN as torch's does."""
    grads = [[math.inf, 1.0], [2.0]]
    tp, ep = _params(torch, grads), _params(ej, grads)
    tn = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    en = ej.compile(lambda: ej.nn.utils.clip_grad_norm_(ep, 1.0))()
    assert math.isinf(float(tn)) and math.isinf(float(en))
    for a, b in zip(tp, ep):
        np.testing.assert_array_equal(np.isnan(b.grad.numpy()), np.isnan(a.grad.numpy()))


def test_clip_in_a_training_step_all_modes():
    def run(m, mode):
        m.manual_seed(0)
        lin = m.nn.Linear(3, 2)
        with m.no_grad():
            lin.weight.copy_(m.tensor([[1.0, 2, 3], [4, 5, 6]]))
            lin.bias.copy_(m.tensor([1.0, -1]))
        opt = m.optim.SGD(lin.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            (lin(x) ** 2).sum().backward()
            n = m.nn.utils.clip_grad_norm_(lin.parameters(), 1.0, error_if_nonfinite=(mode == "lazy"))
            opt.step()
            return n

        x = m.tensor([[1.0, 2, 3], [0.5, -1, 2]])
        if mode == "compile":
            step = ej.compile(step)
        if mode == "lazy":
            with ej.lazy():
                ns = [float(step(x)) for _ in range(3)]
        else:
            ns = [float(step(x)) for _ in range(3)]
        return ns, lin.weight.detach().numpy().copy(), lin.weight.grad.numpy().copy()

    t = run(torch, "eager")
    for mode in MODES:
        e = run(ej, mode)
        for a, b in zip(t, e):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ get_total_norm
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 0.0])
def test_get_total_norm_matches_torch(mode, norm_type):
    ts = [[3.0, -4.0, 0.0], [0.5, 2.0]]
    tn = torch.nn.utils.get_total_norm([torch.tensor(v) for v in ts], norm_type)
    et = [ej.tensor(v) for v in ts]
    en = _run(mode, lambda: ej.nn.utils.get_total_norm(et, norm_type))
    np.testing.assert_allclose(float(en), float(tn), rtol=1e-6)


@pytest.mark.parametrize("mode", ("eager", "lazy"))
def test_get_total_norm_error_if_nonfinite(mode):
    vals = [math.inf, 1.0]
    with pytest.raises(RuntimeError) as tinfo:
        torch.nn.utils.get_total_norm([torch.tensor(vals)], error_if_nonfinite=True)
    et = ej.tensor(vals)
    with pytest.raises(RuntimeError) as einfo:
        _run(mode, lambda: ej.nn.utils.get_total_norm([et], error_if_nonfinite=True))
    assert str(einfo.value) == str(tinfo.value)
    assert str(einfo.value).startswith(NONFINITE)
    # finite values pass the check and return torch's norm; the flag off returns inf
    assert float(ej.nn.utils.get_total_norm([ej.tensor([3.0, 4.0])], error_if_nonfinite=True)) == 5.0
    assert math.isinf(float(_run(mode, lambda: ej.nn.utils.get_total_norm([et]))))
    with pytest.raises(ej.CaptureError, match="get_total_norm"):
        ej.compile(lambda: ej.nn.utils.get_total_norm([et], error_if_nonfinite=True))()


def test_clip_empty_parameters_warns_as_torch():
    for m in (torch, ej):
        with pytest.warns(UserWarning) as rec:
            n = m.nn.utils.clip_grad_norm_((p for p in []), 1.0)
        assert [str(w.message) for w in rec] == ["`parameters` is an empty generator, no gradient clipping will occur."]
        assert rec[0].filename == __file__  # points at the caller
        assert float(n) == 0.0
        with warnings.catch_warnings():  # an empty list, or parameters without grads: silent
            warnings.simplefilter("error")
            assert float(m.nn.utils.clip_grad_norm_([], 1.0)) == 0.0
            assert float(m.nn.utils.clip_grad_norm_(iter([m.nn.Parameter(m.zeros(2))]), 1.0)) == 0.0
            assert float(m.nn.utils.get_total_norm([], error_if_nonfinite=True)) == 0.0


def test_clip_grad_norm_single_tensor_and_generator():
    for mode in MODES:
        tp, ep = _params(torch, GRADS), _params(ej, GRADS)
        tn = torch.nn.utils.clip_grad_norm_((p for p in tp), 1.0)
        en = _run(mode, lambda: ej.nn.utils.clip_grad_norm_((p for p in ep), 1.0))
        np.testing.assert_allclose(float(en), float(tn), rtol=1e-6)
        tn = torch.nn.utils.clip_grad_norm_(tp[0], 0.1, error_if_nonfinite=True)
        en = ej.nn.utils.clip_grad_norm_(ep[0], 0.1, error_if_nonfinite=True)
        np.testing.assert_allclose(float(en), float(tn), rtol=1e-6)
        np.testing.assert_allclose(ep[0].grad.numpy(), tp[0].grad.numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------ module paths
def test_module_aliases():
    from eagerjax.nn.utils.clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, get_total_norm
    from eagerjax.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
    from eagerjax.utils.data._utils.collate import default_collate, default_convert
    from eagerjax.utils.data.distributed import DistributedSampler

    u = ej.nn.utils
    assert clip_grad_norm_ is u.clip_grad_norm_ and clip_grad_value_ is u.clip_grad_value_
    assert clip_grad_norm is u.clip_grad_norm and get_total_norm is u.get_total_norm
    assert u.clip_grad.clip_grads_with_norm_ is u.clip_grads_with_norm_
    assert sorted(u.clip_grad.__all__) == sorted(torch.nn.utils.clip_grad.__all__)
    assert parameters_to_vector is u.parameters_to_vector and vector_to_parameters is u.vector_to_parameters
    assert default_collate is ej.utils.data.default_collate and default_convert is ej.utils.data.default_convert
    assert DistributedSampler is ej.utils.data.DistributedSampler
    assert "DistributedSampler" in ej.utils.data.__all__
    for name in ("nn.utils.clip_grad", "nn.utils.convert_parameters", "utils.data.distributed"):
        assert importlib.import_module("eagerjax." + name) is not None
    batch = default_collate([(ej.tensor([1.0]), 2), (ej.tensor([3.0]), 4)])
    np.testing.assert_array_equal(batch[0].numpy(), [[1.0], [3.0]])
    assert batch[1].tolist() == [2, 4]


# ------------------------------------------------------------------------------ vector_to_parameters
def test_vector_to_parameters_short_vector():
    for n in (0, 5, 7):
        errs = []
        for m in (torch, ej):
            lin = m.nn.Linear(3, 2)
            before = [p.detach().clone() for p in lin.parameters()]
            with pytest.raises(RuntimeError) as info:
                m.nn.utils.vector_to_parameters(m.zeros(n), lin.parameters())
            errs.append(str(info.value))
            if m is ej:  # checked before any parameter is written (torch has written the ones before)
                for p, b in zip(lin.parameters(), before):
                    np.testing.assert_array_equal(p.detach().numpy(), b.numpy())
        assert errs[0] == errs[1]
    lin = ej.nn.Linear(3, 2)  # a longer vector: the rest is ignored, as in torch
    ej.nn.utils.vector_to_parameters(ej.arange(10.0), lin.parameters())
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [6.0, 7.0])


# ------------------------------------------------------------------------------ WeightedRandomSampler
@pytest.mark.parametrize(
    "weights", [[1.0, -1.0], [1.0, math.inf], [1.0, math.nan], [math.inf, -1.0], [0.0, 0.0], [1.0, -1.0, 3.0]]
)
@pytest.mark.parametrize("replacement", [True, False])
def test_weighted_sampler_errors(weights, replacement):
    msgs = []
    for m in (torch, ej):
        with pytest.raises(RuntimeError) as info:
            list(m.utils.data.WeightedRandomSampler(weights, 2 if len(weights) > 2 else 3, replacement=replacement))
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


# ------------------------------------------------------------------------------ trunc_normal_
def _truncnorm(mean, std, a, b):
    return scipy_stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)


TAIL_CASES = [
    dict(mean=5.0, std=0.5, a=-2.0, b=2.0),
    dict(mean=0.0, std=1.0, a=7.0, b=8.0),
    dict(mean=0.0, std=1.0, a=-40.0, b=-39.0),
    dict(mean=0.0, std=1.0, a=-2.0, b=2.0),
    dict(mean=0.5, std=1.0, a=0.0, b=1.0),
    dict(mean=0.0, std=0.02, a=-2.0, b=2.0),
    dict(mean=0.0, std=1.0, a=-3.0, b=math.inf),
]


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@pytest.mark.parametrize("kw", TAIL_CASES, ids=str)
def test_trunc_normal_distribution(kw):
    """Statistics of 100k draws: torch's and ours both match the truncated law (far tails too)."""
    ref = _truncnorm(**kw)
    e = ej.nn.init.trunc_normal_(ej.empty(100_000), **kw).numpy().astype(np.float64)
    t = torch.nn.init.trunc_normal_(torch.empty(100_000), **kw).numpy().astype(np.float64)
    assert np.isfinite(e).all() and e.min() >= kw["a"] and e.max() <= kw["b"]
    sd = ref.std()
    for x in (e, t):
        assert abs(x.mean() - ref.mean()) < 6 * sd / math.sqrt(x.size) + 1e-6 * abs(ref.mean())
        assert abs(x.std() - sd) < 0.02 * sd
    assert scipy_stats.kstest(e, ref.cdf).pvalue > 1e-4


@pytest.mark.parametrize("kw", [dict(mean=5.0, std=0.5, a=-2.0, b=2.0), dict(mean=0.0, std=1.0, a=7.0, b=8.0)])
def test_trunc_normal_tail_warning_matches_torch(kw):
    msgs = []
    for m in (torch, ej):
        with pytest.warns(UserWarning) as rec:
            m.nn.init.trunc_normal_(m.empty(4), **kw)
        msgs.append([str(w.message) for w in rec])
    assert (
        msgs[0]
        == msgs[1]
        == [
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values may be incorrect."
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ej.nn.init.trunc_normal_(ej.empty(4), mean=0.0, std=1.0, a=-1.0, b=3.0)


@pytest.mark.parametrize(
    "kw",
    [dict(a=1.0, b=0.0), dict(std=0.0), dict(std=0), dict(mean=0, std=0, a=-2, b=2), dict(a=3.0, b=-3.0, std=-1.0)],
    ids=str,
)
def test_trunc_normal_argument_errors(kw):
    if kw.get("std", 1) < 0:  # torch loops forever there (its rejection mask is always set): ours raises
        with pytest.raises(RuntimeError, match=r"uniform_ expects to return a \[from, to\) range"):
            with pytest.warns(UserWarning, match="mean is more than 2 std"):
                ej.nn.init.trunc_normal_(ej.empty(3), **kw)
        return
    errs = []
    for m in (torch, ej):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(Exception) as info:
                m.nn.init.trunc_normal_(m.empty(3), **kw)
        errs.append((type(info.value), str(info.value)))
    assert errs[0] == errs[1]


def test_trunc_normal_negative_std_and_degenerate_interval():
    with pytest.warns(UserWarning, match="mean is more than 2 std"):  # (torch's test, with std < 0)
        x = ej.nn.init.trunc_normal_(ej.empty(50_000), mean=0.0, std=-1.0, a=-1.0, b=2.0).numpy()  # as |std|
    ref = _truncnorm(0.0, 1.0, -1.0, 2.0)
    assert abs(x.mean() - ref.mean()) < 0.02 and x.min() >= -1.0 and x.max() <= 2.0
    assert (ej.nn.init.trunc_normal_(ej.empty(5), a=0.25, b=0.25).numpy() == 0.25).all()
    assert (torch.nn.init.trunc_normal_(torch.empty(5), a=0.25, b=0.25).numpy() == 0.25).all()


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@pytest.mark.parametrize("kw", [dict(mean=5.0, std=0.5, a=-2.0, b=2.0), dict(mean=0.1, std=0.02, a=-2.0, b=2.0)])
def test_trunc_normal_same_draws_in_every_mode(kw):
    outs = []
    for mode in MODES:
        w = ej.nn.Parameter(ej.zeros(64, 8))
        ej.manual_seed(3)

        def init():
            ej.nn.init.trunc_normal_(w, **kw)
            return w.sum()

        _run(mode, init)
        outs.append(w.detach().numpy().copy())
        assert w.requires_grad and w.grad_fn is None
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[2], outs[0])
    assert outs[0].min() >= kw["a"] and outs[0].max() <= kw["b"] and outs[0].std() > 0


def test_trunc_normal_bfloat16_and_generator():
    g1, g2 = ej.Generator().manual_seed(7), ej.Generator().manual_seed(7)
    a = ej.nn.init.trunc_normal_(ej.empty(1000, dtype=ej.bfloat16), std=0.02, generator=g1)
    b = ej.nn.init.trunc_normal_(ej.empty(1000, dtype=ej.bfloat16), std=0.02, generator=g2)
    assert a.dtype == ej.bfloat16
    np.testing.assert_array_equal(a.float().numpy(), b.float().numpy())
    assert abs(float(a.float().std()) - 0.02) < 0.003


# ------------------------------------------------------------------------------ _no_grad_* helpers
@pytest.mark.parametrize(
    "name", ["_no_grad_trunc_normal_", "_no_grad_uniform_", "_no_grad_normal_", "_no_grad_fill_", "_no_grad_zero_"]
)
def test_no_grad_helpers(name):
    tf, ef = getattr(torch.nn.init, name), getattr(ej.nn.init, name)
    tsig, esig = inspect.signature(tf), inspect.signature(ef)
    assert list(tsig.parameters) == list(esig.parameters)
    assert [p.default for p in tsig.parameters.values()] == [p.default for p in esig.parameters.values()]
    args = {
        "_no_grad_trunc_normal_": (0.0, 1.0, -0.5, 0.5),
        "_no_grad_uniform_": (2.0, 3.0),
        "_no_grad_normal_": (10.0, 0.1),
        "_no_grad_fill_": (1.25,),
        "_no_grad_zero_": (),
    }[name]
    for mode in MODES:
        w = ej.nn.Parameter(ej.ones(2000))

        def go():
            r = ef(w, *args)
            assert r is w
            return w.sum()

        _run(mode, go)
        v = w.detach().numpy()
        t = tf(torch.nn.Parameter(torch.ones(2000)), *args).detach().numpy()
        assert w.requires_grad and w.grad_fn is None
        if name in ("_no_grad_fill_", "_no_grad_zero_"):
            np.testing.assert_array_equal(v, t)
        else:
            assert abs(v.mean() - t.mean()) < 0.05 and abs(v.std() - t.std()) < 0.05 * max(t.std(), 0.1)
            assert v.min() >= t.min() - 0.5 and v.max() <= t.max() + 0.5


# ------------------------------------------------------------------------------ DistributedSampler
@pytest.mark.parametrize("n", [0, 1, 7, 10, 12])
@pytest.mark.parametrize("replicas", [1, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_unshuffled_matches_torch(n, replicas, drop_last):
    ds = list(range(n))
    for rank in range(replicas):
        t = torch.utils.data.DistributedSampler(ds, replicas, rank, shuffle=False, drop_last=drop_last)
        e = ej.utils.data.DistributedSampler(ds, replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(e) == list(t)
        assert len(e) == len(t) and e.total_size == t.total_size and e.num_samples == t.num_samples


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (9, 3, False)])
def test_distributed_sampler_shuffled_structure(n, replicas, drop_last):
    """Our permutation is eagerjax's, not torch's: check the structure torch gives it (every
    replica shares one permutation, padded from its start or cut), and set_epoch / seed."""
    ds = list(range(n))
    shards = [
        list(ej.utils.data.DistributedSampler(ds, replicas, r, seed=5, drop_last=drop_last)) for r in range(replicas)
    ]
    tshards = [list(torch.utils.data.DistributedSampler(ds, replicas, r, drop_last=drop_last)) for r in range(replicas)]
    assert [len(s) for s in shards] == [len(s) for s in tshards]
    total = len(shards[0]) * replicas
    merged = [shards[i % replicas][i // replicas] for i in range(total)]
    perm = merged[: min(n, total)]
    if not drop_last:
        assert sorted(perm) == ds
        assert merged[n:] == (perm * math.ceil(max(total - n, 0) / n + 1))[: total - n]
    else:
        assert len(set(merged)) == total
    # same seed and epoch -> same order; set_epoch changes it; the default global generator is untouched
    s = ej.utils.data.DistributedSampler(list(range(50)), 2, 1, seed=5)
    ej.manual_seed(0)
    before = ej.rand(1).item()
    ej.manual_seed(0)
    a, b = list(s), list(s)
    assert a == b and ej.rand(1).item() == before
    s.set_epoch(1)
    assert s.epoch == 1 and list(s) != a
    s.set_epoch(0)
    assert list(s) == a
    assert list(ej.utils.data.DistributedSampler(list(range(50)), 2, 1, seed=6)) != a
    with ej.lazy():
        assert list(s) == a


def test_distributed_sampler_defaults_and_errors():
    s = ej.utils.data.DistributedSampler(list(range(5)), shuffle=False)  # no process group: world of 1
    assert (s.num_replicas, s.rank, s.epoch, s.seed, s.shuffle, s.drop_last) == (1, 0, 0, 0, False, False)
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5
    assert sorted(ej.utils.data.DistributedSampler(list(range(5)))) == [0, 1, 2, 3, 4]
    for rank in (3, -1):
        msgs = []
        for m in (torch, ej):
            with pytest.raises(ValueError) as info:
                m.utils.data.DistributedSampler(list(range(5)), num_replicas=3, rank=rank)
            msgs.append(str(info.value))
        assert msgs[0] == msgs[1]
    tsig = inspect.signature(torch.utils.data.DistributedSampler.__init__)
    esig = inspect.signature(ej.utils.data.DistributedSampler.__init__)
    assert list(tsig.parameters) == list(esig.parameters)
    assert isinstance(s, ej.utils.data.Sampler)


def test_distributed_sampler_in_dataloader():
    ds = ej.utils.data.TensorDataset(ej.arange(10.0))
    s = ej.utils.data.DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    dl = ej.utils.data.DataLoader(ds, batch_size=2, sampler=s)
    assert [b[0].tolist() for b in dl] == [[1.0, 3.0], [5.0, 7.0], [9.0]]
    tds = torch.utils.data.TensorDataset(torch.arange(10.0))
    tdl = torch.utils.data.DataLoader(
        tds, batch_size=2, sampler=torch.utils.data.DistributedSampler(tds, 2, 1, shuffle=False)
    )
    assert [b[0].tolist() for b in tdl] == [b[0].tolist() for b in dl]
