"""Schedulers with user Python: ``LRScheduler`` subclasses implementing torch's ``get_lr()``,
``LambdaLR``/``MultiplicativeLR`` lambdas with Python control flow, ``CyclicLR`` (``scale_fn``);
against torch, and eager == compiled == lazy with the compiled step traced once. Also the
state dict (torch's keys only) and exact resume."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

_rs = np.random.RandomState(0)
W0 = _rs.randn(2, 3).astype(np.float32)
B0 = _rs.randn(2).astype(np.float32)
X = _rs.randn(8, 3).astype(np.float32)
Y = _rs.randn(8, 2).astype(np.float32)


def _classes(lib):
    """The same two user schedulers written against ``lib`` (torch or eagerjax)."""
    S = lib.optim.lr_scheduler

    class WarmupCosine(S.LRScheduler):
        """Closed form with Python control flow and ``math`` on ``last_epoch``."""

        def __init__(self, optimizer, warmup, total, last_epoch=-1):
            self.warmup, self.total = warmup, total
            super().__init__(optimizer, last_epoch)

        def get_lr(self):
            e = self.last_epoch
            if e < self.warmup:
                f = (e + 1) / self.warmup
            else:
                f = 0.5 * (1 + math.cos(math.pi * (e - self.warmup) / (self.total - self.warmup)))
            return [b * f for b in self.base_lrs]

    class Decay(S._LRScheduler):
        """torch's recursive style: from the group's current lr; a closed form for step(epoch)."""

        def __init__(self, optimizer, gamma, last_epoch=-1):
            self.gamma = gamma
            super().__init__(optimizer, last_epoch)

        def get_lr(self):
            groups = self.optimizer.param_groups
            if self.last_epoch == 0 or self.last_epoch % 4:
                return [g["lr"] for g in groups]
            return [g["lr"] * self.gamma for g in groups]

        def _get_closed_form_lr(self):
            return [b * self.gamma ** (self.last_epoch // 4) for b in self.base_lrs]

    return {"warmup_cosine": lambda o: WarmupCosine(o, 5, 30), "decay": lambda o: Decay(o, 0.7)}


def _setup(lib, make, adam=False):
    model = lib.nn.Linear(3, 2)
    with lib.no_grad():
        model.weight.copy_(lib.tensor(W0))
        model.bias.copy_(lib.tensor(B0))
    groups = [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.05}]
    opt = lib.optim.Adam(groups, lr=0.1) if adam else lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return model, opt, make(lib, opt)


def _train(lib, make, mode="eager", steps=30, adam=False):
    """Train ``steps`` steps with the scheduler ``make(lib, opt)``; returns the lr and momentum
    sequences (steps x groups each), the final parameters, and the compiled step's trace count."""
    model, opt, sched = _setup(lib, make, adam)
    x, y = lib.tensor(X), lib.tensor(Y)

    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        return loss

    run, traces = step, None
    if mode == "compiled":
        run = ej.compile(step)
    lrs, moms = [], []
    ctx = ej.lazy() if mode == "lazy" else warnings.catch_warnings()
    with ctx:
        for _ in range(steps):
            run()
            lrs.append([float(g["lr"]) for g in opt.param_groups])
            moms.append([float(g["betas"][0] if adam else g["momentum"]) for g in opt.param_groups])
    if mode == "compiled":
        traces = run.stats()["traces"]
    params = [np.array(p.detach().numpy()) for p in model.parameters()]
    return np.array(lrs), np.array(moms), params, traces, sched


def _check_modes(make, steps=30, adam=False, torch_make=None):
    """torch ~ eager (lrs rtol 1e-6); compiled and lazy give eager's lrs exactly, one trace.
    Returns the schedulers of the compiled and lazy runs."""
    t_lr, t_m, t_p, _, _ = _train(torch, torch_make or make, steps=steps, adam=adam)
    e_lr, e_m, e_p, _, _ = _train(ej, make, steps=steps, adam=adam)
    np.testing.assert_allclose(e_lr, t_lr, rtol=1e-6)
    np.testing.assert_allclose(e_m, t_m, rtol=1e-6)
    for a, b in zip(e_p, t_p):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    scheds = []
    for mode in ("compiled", "lazy"):
        lr, m, p, traces, sched = _train(ej, make, mode, steps=steps, adam=adam)
        scheds.append(sched)
        np.testing.assert_array_equal(lr, e_lr, err_msg=mode)
        np.testing.assert_array_equal(m, e_m, err_msg=mode)
        for a, b in zip(p, e_p):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=mode)
        if mode == "compiled":
            assert traces == 1
    return scheds


# --------------------------------------------------------------------------- get_lr() subclasses
def test_get_lr_subclass_constructs_like_torch():
    def build(lib):
        class Half(lib.optim.lr_scheduler.LRScheduler):
            def get_lr(self):
                return [b * 0.5 for b in self.base_lrs]

        opt = lib.optim.SGD(lib.nn.Linear(2, 2).parameters(), lr=0.1)
        return Half(opt), opt

    es, eopt = build(ej)
    ts, topt = build(torch)
    assert es.get_last_lr() == ts.get_last_lr() == [0.05]
    assert float(eopt.param_groups[0]["lr"]) == pytest.approx(0.05)
    assert es.last_epoch == ts.last_epoch == 0 and es.base_lrs == ts.base_lrs
    esd, tsd = es.state_dict(), ts.state_dict()
    assert set(esd) == set(tsd)
    assert all(esd[k] == pytest.approx(v) for k, v in tsd.items())


@pytest.mark.parametrize("name", ["warmup_cosine", "decay"])
def test_get_lr_subclass_trains_like_torch_in_every_mode(name):
    _check_modes(lambda lib, o: _classes(lib)[name](o))


def test_get_lr_subclass_step_epoch_uses_closed_form_and_resumes_exactly():
    def run(lib):
        _, opt, s = _setup(lib, lambda lib, o: _classes(lib)["decay"](o))
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e in [3, 9, 4, 12]:
                s.step(e)
                out.append(s.get_last_lr())
        return np.array(out)

    np.testing.assert_allclose(run(ej), run(torch), rtol=1e-7)

    make = lambda lib, o: _classes(lib)["decay"](o)  # noqa: E731
    full = _train(ej, make, steps=20)[0]
    _, opt, s = _setup(ej, make)
    for _ in range(9):
        opt.step()
        s.step()
    saved = opt.state_dict(), s.state_dict()
    assert "gamma" in saved[1] and "_lo" not in saved[1] and "_host_fns" not in saved[1]
    _, opt2, s2 = _setup(ej, make)
    opt2.load_state_dict(saved[0])
    s2.load_state_dict(saved[1])
    rest = []
    for _ in range(11):
        opt2.step()
        s2.step()
        rest.append([float(g["lr"]) for g in opt2.param_groups])
    np.testing.assert_array_equal(np.array(rest), full[9:])


def test_get_lr_subclass_in_chain_and_not_in_sequential():
    S = ej.optim.lr_scheduler
    make = lambda lib, o: lib.optim.lr_scheduler.ChainedScheduler(  # noqa: E731
        [_classes(lib)["warmup_cosine"](o), lib.optim.lr_scheduler.ExponentialLR(o, 0.95)]
    )
    _check_modes(make, steps=12)
    _, opt, _ = _setup(ej, lambda lib, o: None)
    with pytest.raises(NotImplementedError, match="get_lr"):
        S.SequentialLR(opt, [_classes(ej)["decay"](opt), S.ExponentialLR(opt, 0.9)], [3])


@pytest.mark.parametrize("combine", ["sequential", "chained"])
def test_second_scheduler_made_inside_lazy_mode(combine):
    """A warmup and a main schedule made inside ``ej.lazy()``: the first one's initial step
    left the lr pending when the second copied it (it crashed: "a lazy value was used
    before its graph was flushed"); the lrs are eager's."""

    def make(lib, o):
        S = lib.optim.lr_scheduler
        warm = S.LinearLR(o, start_factor=0.1, total_iters=3)
        main = S.ExponentialLR(o, 0.9)
        return (
            S.SequentialLR(o, [warm, main], milestones=[3])
            if combine == "sequential"
            else S.ChainedScheduler([warm, main])
        )

    runs = []
    for lazy in (False, True):
        with ej.lazy() if lazy else warnings.catch_warnings():
            _, opt, sched = _setup(ej, make)
            lrs = [[float(g["lr"]) for g in opt.param_groups]]
            for _ in range(6):
                opt.step()
                sched.step()
                lrs.append([float(g["lr"]) for g in opt.param_groups])
        runs.append(np.array(lrs))
    _, t_opt, t_sched = _setup(torch, make)
    t_lrs = [[g["lr"] for g in t_opt.param_groups]]
    for _ in range(6):
        t_opt.step()
        t_sched.step()
        t_lrs.append([g["lr"] for g in t_opt.param_groups])
    np.testing.assert_allclose(runs[0], np.array(t_lrs), rtol=1e-6)
    np.testing.assert_array_equal(runs[1], runs[0])


# --------------------------------------------------------------------------- lambdas
LAMBDAS = {
    "warmup": lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, lambda e: min(1.0, (e + 1) / 10)),
    "cosine": lambda lib, o: lib.optim.lr_scheduler.LambdaLR(
        o, [lambda e: 0.5 * (1 + math.cos(math.pi * e / 30)), lambda e: 1.0 if e < 7 else 0.3]
    ),
    "multiplicative": lambda lib, o: lib.optim.lr_scheduler.MultiplicativeLR(o, lambda e: 0.8 if e % 5 == 0 else 1.0),
}


@pytest.mark.parametrize("name", list(LAMBDAS))
def test_lambda_with_python_control_flow_compiles_once(name):
    for s in _check_modes(LAMBDAS[name]):
        assert s.__dict__.get("_host_fns")  # (the lambdas ran on the host in compiled/lazy runs)


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_lambda_that_raises_leaves_state_and_raises_its_own_error(mode):
    """A lambda run on the host from inside the program raises: the user's exception comes
    out (not XLA's "CpuCallback error"), and no state is lost. Compiled: the call changed
    nothing (it used to donate the parameters' buffers to the failed program, which deleted
    them); lazy: tensors the failed graph wrote hold their values again (they were left
    with placeholders that broke every later step). Once the lambda works, training goes
    on exactly as a run that never failed."""
    fail = [False]

    def factor(e):
        if e == 2 and fail[0]:
            raise ZeroDivisionError("epoch 2")
        return 1.0 / (e + 1) if e < 5 else 0.1

    def run(fail_at):
        model, opt, sched = _setup(ej, lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, factor), adam=True)
        x, y = ej.tensor(X), ej.tensor(Y)

        def step():
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
            sched.step()

        f = ej.compile(step) if mode == "compiled" else step

        def snapshot():
            state = [v.numpy().copy() for s in opt.state.values() for v in s.values() if isinstance(v, ej.Tensor)]
            return [p.detach().numpy().copy() for p in model.parameters()] + state + [float(opt.param_groups[0]["lr"])]

        with ej.lazy() if mode == "lazy" else warnings.catch_warnings():
            for i in range(5):
                fail[0] = i == fail_at
                if i != fail_at:
                    f()
                    continue
                before = snapshot()
                with pytest.raises(ZeroDivisionError, match="epoch 2"):
                    f()
                    ej.mark_step()  # (lazy: the lambda runs when the graph does)
                after = snapshot()
                if mode == "compiled":  # one program: all or nothing
                    for a, b in zip(after, before):
                        np.testing.assert_array_equal(a, b)
                fail[0] = False
                # again what failed: the whole compiled step; eagerly (and in lazy mode, where
                # the optimizer's graph ran at its step) the scheduler's step
                f() if mode == "compiled" else sched.step()
            return snapshot()

    clean = run(None)
    for a, b in zip(run(1), clean):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_traceable_lambda_is_still_traced():
    make = lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9**e)  # noqa: E731
    _, opt, s = _setup(ej, make)
    step = ej.compile(lambda: (opt.step(), s.step()))
    for _ in range(5):
        step()
    assert step.stats()["traces"] == 1 and not s.__dict__.get("_host_fns")
    assert s.get_last_lr()[0] == pytest.approx(0.1 * 0.9**5, rel=1e-6)


# --------------------------------------------------------------------------- CyclicLR
CYCLIC = {
    "triangular": dict(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6),
    "triangular2": dict(base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=3, mode="triangular2"),
    "exp_range": dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97),
    "scale_fn_cycle": dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda x: 1.0 if x < 3 else 0.5),
    "scale_fn_iterations": dict(
        base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda x: math.exp(-x / 20), scale_mode="iterations"
    ),
}


@pytest.mark.parametrize("name", list(CYCLIC))
def test_cyclic_lr_matches_torch_in_every_mode(name):
    make = lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, **CYCLIC[name])  # noqa: E731
    _check_modes(make, steps=40, adam=name == "exp_range")


def test_cyclic_lr_state_dict_errors_and_no_momentum():
    def build(lib, **kw):
        o = lib.optim.SGD([lib.nn.Parameter(lib.zeros(1))], lr=0.1, momentum=0.9)
        return lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2, **kw)

    es, ts = build(ej), build(torch)
    esd, tsd = es.state_dict(), ts.state_dict()
    assert set(esd) == set(tsd)
    for k, v in tsd.items():
        assert esd[k] == (pytest.approx(v) if isinstance(v, (float, list)) else v), k
    es2 = build(ej, cycle_momentum=False)
    es2.load_state_dict(esd)
    for lib in (ej, torch):
        with pytest.raises(ValueError, match="mode is invalid"):
            build(lib, mode="zigzag")
        with pytest.raises(ValueError, match="momentum or beta1"):
            o = lib.optim.Adagrad([lib.nn.Parameter(lib.zeros(1))])
            lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1)
    ts2, es3 = build(torch, cycle_momentum=False), build(ej, cycle_momentum=False)
    for _ in range(7):
        ts2.optimizer.step()
        ts2.step()
        es3.optimizer.step()
        es3.step()
    assert es3.get_last_lr() == pytest.approx(ts2.get_last_lr(), rel=1e-6)


# --------------------------------------------------------------------------- state dict
def test_state_dict_has_no_chained_key_and_resume_keeps_a_user_lr_change():
    """A user changes the lr mid-run: StepLR follows torch's recursive rule from it, also after
    a resume from a state dict that holds only torch's keys."""

    def run(lib, resume_at=None):
        _, opt, s = _setup(lib, lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 3, 0.5))
        out = []
        for i in range(16):
            if i == 4:
                opt.param_groups[0]["lr"] = 0.3
            if i == resume_at:
                saved = opt.state_dict(), s.state_dict()
                assert "_chained" not in saved[1]
                _, opt, s = _setup(lib, lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 3, 0.5))
                opt.load_state_dict(saved[0])
                s.load_state_dict(saved[1])
            opt.step()
            s.step()
            out.append([float(g["lr"]) for g in opt.param_groups])
        return np.array(out)

    want = run(torch)
    full = run(ej)
    np.testing.assert_allclose(full, want, rtol=1e-6)
    for at in (2, 5, 9):
        np.testing.assert_array_equal(run(ej, at), full)
    assert set(ej.optim.lr_scheduler.StepLR(_setup(ej, lambda lib, o: None)[1], 2).state_dict()) == set(
        torch.optim.lr_scheduler.StepLR(_setup(torch, lambda lib, o: None)[1], 2).state_dict()
    )


def test_get_last_lr_reads_as_the_decimal_set():
    """The lr lives in a float32 tensor; get_last_lr() shows the shortest decimal that rounds
    to it, as torch's float64 lrs read (0.1, not 0.10000000149011612)."""
    opt = ej.optim.SGD(ej.nn.Linear(2, 2).parameters(), lr=0.1)
    sched = ej.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    seen = []
    for _ in range(3):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr())
    assert seen == [[0.1], [0.05], [0.05]]


# --------------------------------------------------------------------------- step order warning
ORDER = "Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"
_ORDER_SCHEDULERS = {
    "step": lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 2),
    "one_cycle": lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=10),
    "cyclic": lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1),
    "warm_restarts": lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 3),
    "plateau": lambda lib, o: lib.optim.lr_scheduler.ReduceLROnPlateau(o),
    "chained": lambda lib, o: lib.optim.lr_scheduler.ChainedScheduler(
        [lib.optim.lr_scheduler.ConstantLR(o), lib.optim.lr_scheduler.ExponentialLR(o, 0.9)]
    ),
    "sequential": lambda lib, o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.ConstantLR(o), lib.optim.lr_scheduler.ExponentialLR(o, 0.9)], [5]
    ),
    "swalr": lambda lib, o: lib.optim.swa_utils.SWALR(o, 0.05),
}


def _order_warnings(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message) for x in w if "lr_scheduler.step()" in str(x.message)]


def _sgd(lib):
    return lib.optim.SGD([lib.nn.Parameter(lib.ones(2))], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("name", sorted(_ORDER_SCHEDULERS))
def test_scheduler_step_before_optimizer_step_warns_like_torch(name):
    """Which schedulers warn (ReduceLROnPlateau and CosineAnnealingWarmRestarts never do), at
    their first step only; none after an ``optimizer.step()``."""

    def run(lib, opt_first):
        o = _sgd(lib)
        s = _ORDER_SCHEDULERS[name](lib, o)

        def go():
            if opt_first:
                o.step()
            for _ in range(3):
                s.step(1.0) if name == "plateau" else s.step()

        return _order_warnings(go)

    for opt_first in (False, True):
        got, want = run(ej, opt_first), run(torch, opt_first)
        if name == "sequential" and want:
            assert len(got) == 1  # (torch warns again at its second scheduler's first step)
        else:
            assert len(got) == len(want), (opt_first, want)
        assert set(got) <= set(want)


def test_step_order_warning_cases_like_torch():
    def cases(lib):
        out = {}
        o = _sgd(lib)
        s = lib.optim.lr_scheduler.StepLR(o, 2)

        def later():
            s.step()
            o.step()
            s.step()

        out["warns once, at the first step"] = _order_warnings(later)
        o = _sgd(lib)
        o.step()  # before the scheduler exists: not seen (torch patches step() in the constructor)
        s = lib.optim.lr_scheduler.StepLR(o, 2)
        out["stepped before"] = _order_warnings(s.step)
        o = _sgd(lib)
        s = lib.optim.lr_scheduler.StepLR(o, 2)
        o.step = lambda *a, **k: None
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            s.step()
        out["overridden"] = [str(x.message) for x in w]
        o = _sgd(lib)
        s1 = lib.optim.lr_scheduler.StepLR(o, 2)
        s2 = lib.optim.lr_scheduler.ExponentialLR(o, 0.9)  # the optimizer is wrapped once
        o.step()
        out["two schedulers"] = _order_warnings(lambda: (s1.step(), s2.step()))
        with pytest.warns(UserWarning, match=ORDER), pytest.warns(UserWarning, match="epoch parameter"):
            s = lib.optim.lr_scheduler.StepLR(_sgd(lib), 2)
            s.step(3)  # (with the epoch argument too)
        return out

    got, want = cases(ej), cases(torch)
    assert got == want
    assert len(want["warns once, at the first step"]) == 1 and len(want["stepped before"]) == 1
    assert want["overridden"][0].startswith("Seems like `optimizer.step()` has been overridden")


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
@pytest.mark.parametrize("order", ["optimizer_first", "scheduler_first"])
def test_step_order_warning_in_every_mode(mode, order):
    """A training step with both calls: compiled and lazy steps warn exactly as torch's eager loop
    (once, at the scheduler's first step, when it comes before the optimizer's)."""

    def run(lib, mode="eager"):
        model, opt, s = _setup(lib, lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 2, 0.5))
        x, y = lib.tensor(X), lib.tensor(Y)

        def step():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            if order == "optimizer_first":
                opt.step()
                s.step()
            else:
                s.step()
                opt.step()
            return loss

        fn = ej.compile(step) if mode == "compile" else step

        def go():
            for _ in range(4):
                if mode == "lazy":
                    with ej.lazy():
                        fn()
                else:
                    fn()

        msgs = _order_warnings(go)
        return msgs, model.weight.detach().numpy().copy(), s.get_last_lr()

    (got, w_got, lr_got), (want, w_want, lr_want) = run(ej, mode), run(torch)
    assert got == want and len(want) == (order == "scheduler_first")
    np.testing.assert_allclose(w_got, w_want, rtol=1e-5, atol=1e-6)
    assert lr_got == pytest.approx(lr_want)


@pytest.mark.parametrize("mode", ["eager", "lazy", "compile"])
@pytest.mark.parametrize("inf", [False, True])
def test_grad_scaler_skipped_step_counts_as_no_optimizer_step(mode, inf):
    """torch's GradScaler does not call ``optimizer.step()`` when a grad is inf: the scheduler then
    warns. Eager and lazy read the skip at the scheduler's first step; inside ``ej.compile`` the
    skip is not known on the host, so a skipped update counts as run there (README) and nothing
    warns."""

    def run(lib, mode="eager"):
        p = lib.nn.Parameter(lib.ones(2))
        o = lib.optim.SGD([p], lr=0.1)
        s = lib.optim.lr_scheduler.StepLR(o, 2)
        sc = lib.amp.GradScaler("cpu")
        scale = float("inf") if inf else 1.0

        def step():
            o.zero_grad()
            sc.scale((p * scale).sum()).backward()
            sc.step(o)
            sc.update()
            s.step()

        fn = ej.compile(step) if mode == "compile" else step

        def go():
            for _ in range(3):
                if mode == "lazy":
                    with ej.lazy():
                        fn()
                else:
                    fn()

        return _order_warnings(go)

    got, want = run(ej, mode), run(torch)
    assert len(want) == inf
    assert got == ([] if mode == "compile" else want)


def test_copied_optimizer_steps_itself():
    """The scheduler's wrapper of ``optimizer.step`` follows a deep copy (and a pickle) of the
    optimizer: the copy updates its own parameters."""
    import copy
    import pickle

    p = ej.nn.Parameter(ej.ones(2))
    o = ej.optim.SGD([p], lr=0.5)
    ej.optim.lr_scheduler.StepLR(o, 2)
    for o2 in (copy.deepcopy(o), pickle.loads(pickle.dumps(o))):
        q = o2.param_groups[0]["params"][0]
        assert q is not p
        q.grad = ej.ones(2)
        o2.step()
        np.testing.assert_allclose(q.detach().numpy(), [0.5, 0.5])
        np.testing.assert_allclose(p.detach().numpy(), [1.0, 1.0])
        assert o2._opt_called and not o.__dict__.get("_opt_called", False)
