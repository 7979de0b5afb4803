"""GradScaler against torch.amp.GradScaler: trajectories with skipped steps, the three modes, errors, state."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import nn
from eagerjax.amp import GradScaler as _GradScaler


def GradScaler(*args, **kwargs):
    """The scaler on this machine's device (torch's default, "cuda", disables itself on a CPU)."""
    return _GradScaler("cuda" if ej.cuda.is_available() else "cpu", *args, **kwargs)


torch = pytest.importorskip("torch")

MODES = ["eager", "compiled", "lazy"]
_rs = np.random.RandomState(0)
W1, B1 = _rs.randn(8, 4).astype(np.float32) * 0.5, _rs.randn(8).astype(np.float32) * 0.1
W2, B2 = _rs.randn(2, 8).astype(np.float32) * 0.5, _rs.randn(2).astype(np.float32) * 0.1
XS = [np.random.RandomState(10 + s).randn(16, 4).astype(np.float32) for s in range(12)]
YS = [np.random.RandomState(50 + s).randn(16, 2).astype(np.float32) for s in range(12)]


def _model(lib):
    m = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2))
    with torch.no_grad() if lib is torch else ej.no_grad():
        for p, a in zip(m.parameters(), (W1, B1, W2, B2)):
            p.copy_(lib.tensor(a))
    return m


def _torch_run(opt_name, opt_kw, scaler_kw, infs, steps, sched=None, clip=None, base=1.0):
    """torch's trajectory: per step the params, scale and growth tracker (and lr)."""
    m = _model(torch)
    opt = getattr(torch.optim, opt_name)(m.parameters(), **opt_kw)
    sc = torch.amp.GradScaler("cpu", **scaler_kw)
    sch = torch.optim.lr_scheduler.StepLR(opt, **sched) if sched else None
    out = []
    for s in range(steps):
        opt.zero_grad()
        loss = ((m(torch.tensor(XS[s])) - torch.tensor(YS[s])) ** 2).mean() * (float("inf") if s in infs else base)
        sc.scale(loss).backward()
        if clip is not None:
            sc.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lr_scheduler.step() "before" a skipped optimizer.step()
            sc.step(opt)
            sc.update()
            if sch:
                sch.step()
        out.append(
            (
                [p.detach().numpy().copy() for p in m.parameters()],
                sc.get_scale(),
                sc._get_growth_tracker(),
                opt.param_groups[0]["lr"],
            )
        )
    return out


def _ej_run(mode, opt_name, opt_kw, scaler_kw, infs, steps, sched=None, clip=None, on_step=None, base=1.0):
    """eagerjax's trajectory in ``mode``; returns it and the step function (compiled: its stats)."""
    m = _model(ej)
    opt = getattr(ej.optim, opt_name)(m.parameters(), **opt_kw)
    sc = GradScaler(**scaler_kw)
    sch = ej.optim.lr_scheduler.StepLR(opt, **sched) if sched else None

    def step(x, y, factor):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean() * factor
        sc.scale(loss).backward()
        if clip is not None:
            sc.unscale_(opt)
            nn.utils.clip_grad_norm_(m.parameters(), clip)
        sc.step(opt)
        sc.update()
        if sch:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # as torch's: step() "before" a skipped optimizer.step()
                sch.step()
        return loss

    run = ej.compile(step) if mode == "compiled" else step
    out = []
    for s in range(steps):
        args = (ej.tensor(XS[s]), ej.tensor(YS[s]), ej.tensor(float("inf") if s in infs else base))
        if mode == "lazy":
            with ej.lazy():
                run(*args)
        else:
            run(*args)
        out.append(
            (
                [p.detach().numpy().copy() for p in m.parameters()],
                sc.get_scale(),
                sc._get_growth_tracker(),
                opt.param_groups[0]["lr"],
            )
        )
        if on_step is not None:
            on_step(s, sc, run)
    return out, run, opt, sc


ON_CPU = ej.randn(1).device.type == "cpu"


def _assert_trajectory(got, want, exact=False):
    for s, ((gp, gs, gt, glr), (wp, ws, wt, wlr)) in enumerate(zip(got, want)):
        assert (gs, gt) == (ws, wt), f"step {s}: scale/tracker {(gs, gt)} != torch's {(ws, wt)}"
        assert glr == pytest.approx(wlr, rel=1e-6), f"step {s}: lr"
        for g, w in zip(gp, wp):
            if exact is True and ON_CPU:
                np.testing.assert_array_equal(g, w, err_msg=f"step {s}")
            elif exact:  # XLA contracts multiply-adds differently in each program: a few ulps
                np.testing.assert_allclose(g, w, rtol=1e-6, atol=0, err_msg=f"step {s}")
            else:
                # torch and XLA differ only in where multiply-adds are rounded: a few float32 ulps
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"step {s}")


CASES = [
    # (optimizer, kwargs, scaler kwargs, steps whose loss is inf)
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"init_scale": 2.0**10, "growth_interval": 3}, {0, 4, 5}),
    ("Adam", {"lr": 0.05}, {"init_scale": 2.0**10, "growth_interval": 2}, {0, 3, 7}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}, {"growth_interval": 3}, {2}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("mode", MODES)
def test_trajectory_with_skipped_steps_matches_torch(mode, case):
    """Skipped steps leave params and optimizer state (SGD's unstarted momentum, Adam's step
    count and so its bias correction) as they were; scale and tracker follow torch's."""
    name, kw, skw, infs = case
    want = _torch_run(name, kw, skw, infs, 10)
    got, *_ = _ej_run(mode, name, kw, skw, infs, 10)
    _assert_trajectory(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_natural_overflow_of_a_huge_scale(mode):
    """A scale near float32's limit overflows the scaled loss/grads by itself: the scaler backs
    off until the grads are finite, then grows again after ``growth_interval`` clean steps."""
    skw = {"init_scale": 2.0**127, "growth_interval": 2}
    want = _torch_run("Adam", {"lr": 0.05}, skw, set(), 12, base=8.0)
    assert [w[1] for w in want][:5] == [2.0**126, 2.0**125, 2.0**124, 2.0**124, 2.0**125]
    got, *_ = _ej_run(mode, "Adam", {"lr": 0.05}, skw, set(), 12, base=8.0)
    _assert_trajectory(got, want)
    # a growth that would make the scale inf is not taken (the tracker still resets)
    want = _torch_run("Adam", {"lr": 0.05}, skw, set(), 4)
    assert [w[1:3] for w in want] == [(2.0**127, 1), (2.0**127, 0)] * 2
    got, *_ = _ej_run(mode, "Adam", {"lr": 0.05}, skw, set(), 4)
    _assert_trajectory(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_unscale_then_clip_and_scheduler(mode):
    """``unscale_`` before clipping; an lr scheduler steps after skipped steps too, as torch's."""
    args = ("SGD", {"lr": 0.1, "momentum": 0.5}, {"init_scale": 64.0, "growth_interval": 2}, {0, 3})
    extra = {"sched": {"step_size": 2, "gamma": 0.5}, "clip": 0.5}
    want = _torch_run(*args, 8, **extra)
    got, *_ = _ej_run(mode, *args, 8, **extra)
    _assert_trajectory(got, want)


@pytest.mark.parametrize("case", CASES[:2], ids=[c[0] for c in CASES[:2]])
def test_modes_agree_to_float32_rounding(case):
    name, kw, skw, infs = case
    runs = [_ej_run(mode, name, kw, skw, infs, 8)[0] for mode in MODES]
    # SGD's update is bit for bit the same program in every mode. Adam's, fused into one step
    # program with its packed moments, may round its division differently: a few ulps.
    exact = True if name == "SGD" else "ulps"
    _assert_trajectory(runs[1], runs[0], exact=exact)
    _assert_trajectory(runs[2], runs[0], exact=exact)


def test_compiled_step_never_retraces_for_a_new_scale_or_factor():
    traces = []

    def on_step(s, sc, run):
        if run is not None and hasattr(run, "stats"):
            traces.append(run.stats()["traces"])
        if s == 5:  # tensor writes: the compiled step's program stays the same
            sc.set_growth_interval(3)
            sc.set_growth_factor(4.0)
            sc.set_backoff_factor(0.25)

    runs = [
        _ej_run(mode, "SGD", {"lr": 0.1}, {"growth_interval": 100}, {1, 2, 4, 8}, 10, on_step=on_step)[0]
        for mode in ("eager", "compiled")
    ]
    scales = [g[1] for g in runs[1]]
    assert scales == [2.0**16, 2.0**15, 2.0**14, 2.0**14, 2.0**13, 2.0**13, 2.0**13, 2.0**15, 2.0**13, 2.0**13]
    _assert_trajectory(runs[1], runs[0], exact=True)
    assert traces[1:] == [traces[0]] * (len(traces) - 1), traces


@pytest.mark.parametrize("mode", MODES)
def test_update_with_new_scale(mode):
    m = _model(ej)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    sc = GradScaler(init_scale=8.0)
    new = ej.tensor(3.0)

    def step(x, value):
        opt.zero_grad()
        sc.scale(m(x).sum()).backward()
        sc.step(opt)
        sc.update(value)

    run = ej.compile(step) if mode == "compiled" else step
    for value, want in ((0.25, 0.25), (new, 3.0), (1024.0, 1024.0)):
        if mode == "lazy":
            with ej.lazy():
                run(ej.tensor(XS[0]), value)
        else:
            run(ej.tensor(XS[0]), value)
        assert sc.get_scale() == want


def test_update_rejects_a_bad_new_scale():
    m = _model(ej)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    sc = GradScaler()
    sc.scale(m(ej.tensor(XS[0])).sum()).backward()
    sc.step(opt)
    reason = "new_scale should be a float or a 1-element torch.cuda.FloatTensor or torch.FloatTensor with requires_grad=False."
    with pytest.raises(AssertionError, match=reason.replace(".", r"\.")):
        sc.update(ej.tensor([1.0, 2.0]))
    with pytest.raises(AssertionError, match="requires_grad=False"):
        sc.update(ej.tensor(2.0, requires_grad=True))
    sc.update(ej.tensor([4.0]))
    assert sc.get_scale() == 4.0


def _both(fn):
    """``fn(lib, scaler_cls, optimizer_cls)`` with torch and eagerjax: the exceptions raised."""
    errs = []
    for lib, cls in ((torch, lambda **kw: torch.amp.GradScaler("cpu", **kw)), (ej, GradScaler)):
        try:
            fn(lib, cls)
        except Exception as e:
            errs.append((type(e), str(e)))
        else:
            errs.append(None)
    return errs


def _setup(lib, cls, **kw):
    m = _model(lib)
    opt = lib.optim.SGD(m.parameters(), lr=0.1)
    sc = cls(**kw)
    return m, opt, sc


def _unscale_twice(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum()).backward()
    sc.unscale_(opt)
    sc.unscale_(opt)


def _unscale_after_step(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum()).backward()
    sc.step(opt)
    sc.unscale_(opt)


def _step_twice(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum()).backward()
    sc.step(opt)
    sc.step(opt)


def _step_before_scale(lib, cls):
    m, opt, sc = _setup(lib, cls)
    m(lib.tensor(XS[0])).sum().backward()
    sc.step(opt)


def _update_before_step(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum()).backward()
    sc.update()


def _step_without_grads(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum())
    sc.step(opt)


def _closure(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum()).backward()
    sc.step(opt, closure=lambda: None)


def _load_empty(lib, cls):
    cls().load_state_dict({})


def _bad_growth(lib, cls):
    cls(growth_factor=1.0)


def _bad_backoff(lib, cls):
    cls(backoff_factor=1.0)


def _fp16_grads(lib, cls):
    p = lib.nn.Parameter(lib.ones(3, dtype=lib.float16))
    opt = lib.optim.SGD([p], lr=0.1)
    sc = cls()
    sc.scale((p * 2).sum()).backward()
    sc.step(opt)


def _scale_a_number(lib, cls):
    cls().scale([lib.ones(2), 3.0])


def _pickle_mid_iteration(lib, cls):
    m, opt, sc = _setup(lib, cls)
    sc.scale(m(lib.tensor(XS[0])).sum()).backward()
    sc.step(opt)
    pickle.dumps(sc)


MISUSE = [
    _unscale_twice,
    _unscale_after_step,
    _step_twice,
    _step_before_scale,
    _update_before_step,
    _step_without_grads,
    _closure,
    _load_empty,
    _bad_growth,
    _bad_backoff,
    _fp16_grads,
    _scale_a_number,
    _pickle_mid_iteration,
]


@pytest.mark.parametrize("fn", MISUSE, ids=[f.__name__[1:] for f in MISUSE])
def test_misuse_errors_in_torchs_words(fn):
    want, got = _both(fn)
    assert want is not None
    assert got == want


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip(mode):
    skw = {"init_scale": 2.0**10, "growth_interval": 3, "backoff_factor": 0.25}
    want = _torch_run("Adam", {"lr": 0.05}, skw, {1, 4}, 6)
    got, _, _, sc = _ej_run(mode, "Adam", {"lr": 0.05}, skw, {1, 4}, 6)
    _assert_trajectory(got, want)
    ts = torch.amp.GradScaler("cpu", **skw)
    ts.load_state_dict(sc.state_dict())  # eagerjax's dict loads into torch's scaler ...
    sd = sc.state_dict()
    assert sd == ts.state_dict()
    assert sd == {
        "scale": 64.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.25,
        "growth_interval": 3,
        "_growth_tracker": 1,
    }
    fresh = GradScaler()  # ... and back, before and after its tensors exist
    fresh.load_state_dict(ts.state_dict())
    assert fresh.state_dict() == sd
    fresh.scale(ej.ones(1))
    fresh.load_state_dict({**sd, "scale": 2.0, "_growth_tracker": 2})
    assert (fresh.get_scale(), fresh._get_growth_tracker()) == (2.0, 2)
    again = pickle.loads(pickle.dumps(sc))
    assert again.state_dict() == sd and again._scale is None


def test_state_loaded_from_arrays_is_a_copy():
    # The transfer may read the host array after load_state_dict returns (or alias it):
    # the scaler must hold its own copy, as ej.tensor does, whatever the caller does next.
    for _ in range(20):
        sc = GradScaler()
        sc.scale(ej.ones(1))
        scale, tracker = np.array(8.0, np.float32), np.array(2, np.int32)
        sc.load_state_dict({**sc.state_dict(), "scale": scale, "_growth_tracker": tracker})
        scale[...] = -1.0
        tracker[...] = -1
        assert (sc.get_scale(), sc._get_growth_tracker()) == (8.0, 2)
        factor = np.array(3.0, np.float32)
        sc.set_growth_factor(factor)
        factor[...] = -1.0
        assert sc._factors[0].item() == 3.0


def test_disabled_is_a_pass_through():
    m = _model(ej)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    sc = GradScaler(enabled=False, growth_factor=0.5)  # (not validated when disabled, as torch)
    loss = m(ej.tensor(XS[0])).sum()
    outs = [loss, (loss,)]
    assert sc.scale(loss) is loss and sc.scale(outs) is outs
    loss.backward()
    sc.unscale_(opt)
    g = m[0].weight.grad.numpy().copy()
    assert sc.step(opt) is None
    sc.update()
    sc.update(4.0)
    np.testing.assert_array_equal(m[0].weight.grad.numpy(), g)  # not unscaled
    np.testing.assert_allclose(m[0].weight.detach().numpy(), W1 - 0.1 * g, rtol=1e-6)
    assert (sc.get_scale(), sc._get_growth_tracker(), sc.is_enabled(), sc.state_dict()) == (1.0, 0, False, {})
    sc.load_state_dict({})
    # inf grads are not checked: the step happens (torch's params become NaN too)
    opt.zero_grad()
    (m(ej.tensor(XS[0])).sum() * float("inf")).backward()
    sc.step(opt)
    assert np.isnan(m[0].weight.detach().numpy()).any()


def test_scale_nested_outputs_and_getters():
    sc = GradScaler(init_scale=4.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=7)
    assert (sc.get_scale(), sc._get_growth_tracker()) == (4.0, 0)  # before any scale()
    a, b = ej.tensor([1.0, 2.0]), ej.tensor(3.0)
    out = sc.scale([a, (b, [a])])
    assert isinstance(out, list) and isinstance(out[1], tuple) and isinstance(out[1][1], list)
    assert out[0].tolist() == [4.0, 8.0] and out[1][0].item() == 12.0 and out[1][1][0].tolist() == [4.0, 8.0]
    lazy = sc.scale(iter([a, b]))
    assert isinstance(lazy, map) and [t.tolist() for t in lazy] == [[4.0, 8.0], 12.0]
    assert sc.scale(ej.tensor([1.0], dtype=ej.float16)).dtype == ej.float16  # torch's promotion
    assert (sc.get_growth_factor(), sc.get_backoff_factor(), sc.get_growth_interval()) == (3.0, 0.25, 7)
    sc.set_growth_factor(4.0)
    sc.set_backoff_factor(0.5)
    sc.set_growth_interval(2)
    assert (sc.get_growth_factor(), sc.get_backoff_factor(), sc.get_growth_interval()) == (4.0, 0.5, 2)
    assert sc.is_enabled()


def test_scaled_loss_backward_carries_the_scale():
    w = nn.Parameter(ej.tensor([1.0, -2.0]))
    sc = GradScaler(init_scale=16.0)
    sc.scale((w * w).sum()).backward()
    assert w.grad.tolist() == [32.0, -64.0]
    opt = ej.optim.SGD([w], lr=1.0)
    sc.unscale_(opt)
    assert w.grad.tolist() == [2.0, -4.0]
    assert sc._found_inf_per_device(opt)[w.device].item() == 0.0


def test_optimizer_with_its_own_step_uses_a_host_decision():
    """A subclass that overrides ``step`` cannot take the data-dependent skip: eager mode reads
    found_inf on the host as torch does (inside ej.compile that read is refused)."""

    class MySGD(ej.optim.SGD):
        def step(self, closure=None):
            self.calls = getattr(self, "calls", 0) + 1
            return super().step(closure)

    w = nn.Parameter(ej.tensor([1.0, 2.0]))
    opt = MySGD([w], lr=0.5)
    sc = GradScaler(init_scale=2.0)
    for factor in (float("inf"), 1.0):
        opt.zero_grad()
        sc.scale((w * factor).sum()).backward()
        sc.step(opt)
        sc.update()
    assert opt.calls == 1 and w.tolist() == [0.5, 1.5] and sc.get_scale() == 1.0


def test_skip_keeps_lazily_born_state_at_its_initial_values():
    """The first step skipped: torch creates no state; here the state is born and kept at its
    initial values, so the next real step is torch's first (SGD's momentum buffer starts from
    that grad, Adam's step count is 1)."""
    for name in ("SGD", "Adam"):
        w = nn.Parameter(ej.tensor([1.0, 2.0]))
        opt = getattr(ej.optim, name)([w], lr=0.5, **({"momentum": 0.9} if name == "SGD" else {}))
        sc = GradScaler()
        sc.scale((w * float("inf")).sum()).backward()
        sc.step(opt)
        sc.update()
        assert w.tolist() == [1.0, 2.0]
        st = opt.state[w]
        if name == "Adam":
            assert st["step"].item() == 0.0 and st["exp_avg"].tolist() == [0.0, 0.0]


ALL_OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("AdamW", {"lr": 0.05}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adamax", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.01}),
    ("Adafactor", {"lr": 0.05}),
]


@pytest.mark.parametrize("case", ALL_OPTIMIZERS, ids=[c[0] for c in ALL_OPTIMIZERS])
def test_a_skipped_step_is_no_step_for_every_optimizer(case):
    """Steps 0, 1, (inf: skipped), 2 give bit for bit what steps 0, 1, 2 give without the inf
    step, in every mode. Across modes XLA may fuse the update differently (where it rounds a
    multiply-add): a few ulps apart."""
    name, kw = case

    def run(mode, skip: bool):
        m = _model(ej)
        opt = getattr(ej.optim, name)(m.parameters(), **kw)
        sc = GradScaler(init_scale=1.0)

        def step(x, y, factor):
            opt.zero_grad()
            sc.scale(((m(x) - y) ** 2).mean() * factor).backward()
            sc.step(opt)
            sc.update()

        f = ej.compile(step) if mode == "compiled" else step
        states = []
        for s, factor in zip([0, 1, 2, 2], [1.0, 1.0, float("inf"), 1.0]) if skip else zip([0, 1, 2], [1.0] * 3):
            args = (ej.tensor(XS[s]), ej.tensor(YS[s]), ej.tensor(factor))
            if mode == "lazy":
                with ej.lazy():
                    f(*args)
            else:
                f(*args)
            sd = opt.state_dict()["state"]
            states.append(
                [p.detach().numpy().copy() for p in m.parameters()]
                + [np.asarray(v.numpy() if isinstance(v, ej.Tensor) else v) for st in sd.values() for v in st.values()]
            )
        # backed off once; a power-of-two scale unscales grads exactly, so only the skip differs
        assert sc.get_scale() == (0.5 if skip else 1.0)
        return states

    first = None
    for mode in MODES:
        plain, scaled = run(mode, False), run(mode, True)
        for a, b in zip(scaled[2], scaled[1]):
            np.testing.assert_array_equal(a, b, err_msg=mode)  # the skipped step changed nothing
        for a, b in zip(scaled[3], plain[2]):
            np.testing.assert_array_equal(a, b, err_msg=mode)
        if first is None:
            first = scaled
        for a, b in zip(scaled[3], first[3]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=mode)


def test_a_cuda_scaler_without_a_gpu_disables_itself_like_torchs() -> None:
    if ej.cuda.is_available():
        assert _GradScaler().is_enabled()
        return
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling."):
        sc = _GradScaler()
    assert not sc.is_enabled()
    with pytest.warns(FutureWarning, match=r"torch.cuda.amp.GradScaler\(args...\)` is deprecated"):
        with pytest.warns(UserWarning, match="Disabling"):
            old = ej.cuda.amp.GradScaler()
    assert not old.is_enabled() and isinstance(old, _GradScaler)
    loss = ej.ones(()) * 3
    assert sc.scale(loss) is loss


def test_update_outside_a_compiled_step_is_explained() -> None:
    m = nn.Linear(4, 1)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    sc = GradScaler()
    x, y = ej.randn(8, 4), ej.randn(8, 1)

    @ej.compile
    def step(x, y):
        opt.zero_grad()
        sc.scale(ej.nn.functional.mse_loss(m(x), y)).backward()
        sc.step(opt)

    with pytest.raises(ej.CaptureError, match=r"call scaler.update\(\) in the same step"):
        step(x, y)
