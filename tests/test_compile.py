"""ej.compile: equivalence with eager, trace counts, transactional write-back, diagnostics."""

import contextlib
import copy
import warnings

import numpy as np
import pytest

import eagerjax as ej


def make_params(seed=0):
    ej.manual_seed(seed)
    w = ej.randn(3, 2).mul_(0.5).requires_grad_()
    b = ej.zeros(2).requires_grad_()
    w._name, b._name = "w", "b"
    return w, b


def sgd_step_fn(w, b):
    def step(x, y, lr):
        w.grad = None
        b.grad = None
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with ej.no_grad():
            w.sub_(lr * w.grad)
            b.sub_(lr * b.grad)
        return loss

    return step


def data(n=8, seed=1):
    g = ej.Generator().manual_seed(seed)
    return ej.randn(n, 3, generator=g), ej.randn(n, 2, generator=g)


def run(step, x, y, n=5, lr=0.1):
    return [float(step(x, y, lr)) for _ in range(n)]


def test_compiled_matches_eager_and_traces_once():
    x, y = data()
    w, b = make_params()
    eager = run(sgd_step_fn(w, b), x, y, n=10)
    we, be = w.detach().clone(), b.detach().clone()
    w, b = make_params()
    c = ej.compile(sgd_step_fn(w, b))
    comp = run(c, x, y, n=10)
    np.testing.assert_allclose(comp, eager, rtol=1e-6)
    np.testing.assert_allclose(w.numpy(force=True), we.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b.numpy(force=True), be.numpy(), rtol=1e-6, atol=1e-7)
    assert w.grad is not None and w.grad.shape == w.shape
    s = c.stats()
    assert s["traces"] == 1, s["recompiles"]
    assert s["hits"] == 9


def test_trace_counts_shapes_scalars_and_static_args():
    w, b = make_params()
    step = sgd_step_fn(w, b)

    @ej.compile(static_argnames=("scale",))
    def f(x, y, lr, scale=1.0):
        return step(x * scale, y, lr)

    x, y = data(8)
    for _ in range(50):
        f(x, y, 0.01)
    assert f.stats()["traces"] == 1
    x4, y4 = data(4)
    f(x4, y4, 0.01)
    assert f.stats()["traces"] == 2
    assert "argument 0 (x): shape (8, 3)" in f.stats()["recompiles"][-1]
    assert "(4, 3)" in f.stats()["recompiles"][-1]
    f(x, y, 0.01)  # back to the first shape: cached
    assert f.stats()["traces"] == 2
    f(x, y, 0.02)  # a new Python number: traced, not baked
    assert f.stats()["traces"] == 2
    f(x, y, 0.02, scale=2.0)  # a static argument: one more
    assert f.stats()["traces"] == 3
    f(x, y, 0.02, scale=2.0)
    assert f.stats()["traces"] == 3


def test_recompile_reason_names_what_no_cached_program_has():
    """The reason diffs against the nearest cached key, not the last call's: after shapes
    (6, 3) and (5, 3), a (6, 3) call with a new dtype of y recompiles for y, not for x."""
    m = ej.nn.Linear(3, 2)

    @ej.compile
    def step(x, y):
        return ej.nn.functional.cross_entropy(m(x), y)

    y = ej.tensor([0, 1, 1, 0, 1, 0])
    step(ej.randn(6, 3), y)
    step(ej.randn(5, 3), y[:5])
    step(ej.randn(6, 3), y.to(ej.int16))
    assert step.stats()["recompiles"][1:] == [
        "argument 0 (x): shape (6, 3) dtype float32 -> shape (5, 3) dtype float32",
        "argument 1 (y): shape (6,) dtype int32 -> shape (6,) dtype int16",
    ]


def test_python_side_effects_run_when_traced_only():
    """As README says: twice on the first call (discovery, then the trace), once per retrace."""
    seen = []

    @ej.compile
    def f(x):
        seen.append(tuple(x.shape))
        return x + 1

    f(ej.ones(2))
    f(ej.ones(2))
    assert seen == [(2,), (2,)]
    f(ej.ones(3))
    f(ej.ones(3))
    f(ej.ones(2))
    assert seen == [(2,), (2,), (3,)]
    assert f.stats()["discoveries"] == 1 and f.stats()["traces"] == 2


def test_python_number_argument_is_not_baked_in():
    w, b = make_params()
    c = ej.compile(sgd_step_fn(w, b))
    x, y = data()
    c(x, y, 0.0)
    before = w.detach().clone()
    c(x, y, 0.0)
    np.testing.assert_array_equal(w.numpy(force=True), before.numpy())  # lr 0 => no change
    c(x, y, 0.5)
    assert not np.allclose(w.numpy(force=True), before.numpy())
    assert c.stats()["traces"] == 1


def test_failing_step_leaves_state_untouched():
    w, b = make_params()
    step = sgd_step_fn(w, b)

    @ej.compile
    def f(x, y, lr, boom):
        loss = step(x, y, lr)
        if boom.shape[0] == 3:
            raise ValueError("user error after the update")
        return loss

    x, y = data()
    f(x, y, 0.1, ej.zeros(2))
    w0, b0, g0 = w.detach().clone(), b.detach().clone(), w.grad.detach().clone()
    with pytest.raises(ValueError, match="user error"):
        f(x, y, 0.1, ej.zeros(3))
    np.testing.assert_array_equal(w.numpy(force=True), w0.numpy())
    np.testing.assert_array_equal(b.numpy(force=True), b0.numpy())
    np.testing.assert_array_equal(w.grad.numpy(), g0.numpy())
    with pytest.raises(RuntimeError):
        f(ej.zeros(8, 5), y, 0.1, ej.zeros(2))  # shape error inside the step
    np.testing.assert_array_equal(w.numpy(force=True), w0.numpy())
    assert w.grad is not None and w.is_leaf and w._node is None


@pytest.mark.parametrize("fullgraph", [True, False])
def test_failing_first_call_creates_no_optimizer_state(fullgraph):
    """The first call's trace makes Adam's moments (the first ``step()``); when the call then
    fails, ``optimizer.state`` is empty again, as before it; a graph break's eager run makes
    its own. Then training goes on as eager's after a failure (a broken graph: the step ran
    eagerly) or after none (one compiled program: all or nothing)."""
    boom = [True]

    def run(compile_fn, fail=True):
        ej.manual_seed(0)
        m = ej.nn.Linear(3, 2)
        opt = ej.optim.Adam(m.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            opt.step()
            if boom[0]:
                if not fullgraph:
                    loss.item()  # (a graph break: this step runs eagerly from now on)
                raise KeyError("user error after opt.step()")
            return loss

        f = compile_fn(step)
        boom[0] = True
        if fail:
            with pytest.raises(KeyError):
                f(ej.ones(4, 3))
        if compile_fn is not _eager and fullgraph:
            assert len(opt.state) == 0 and opt.state_dict()["state"] == {}
        boom[0] = False
        losses = [float(f(ej.ones(4, 3))) for _ in range(3)]
        return losses, [p.detach().numpy() for p in m.parameters()], opt.state_dict()["state"]

    def _eager(fn):
        return fn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (fullgraph=False's one-time warning)
        compiled = run(lambda fn: ej.compile(fn, fullgraph=fullgraph))
    eager = run(_eager, fail=not fullgraph)
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-6)
    for a, b in zip(compiled[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert compiled[2].keys() == eager[2].keys()
    assert [float(s["step"]) for s in compiled[2].values()] == [float(s["step"]) for s in eager[2].values()]


def test_host_read_inside_capture_names_the_call_and_line():
    w, b = make_params()

    @ej.compile
    def f(x):
        loss = (x @ w).sum()
        if loss.item() > 0:  # the offending line
            return loss
        return -loss

    with pytest.raises(ej.CaptureError, match=r"Tensor\.item\(\).*test_compile\.py:\d+: `if loss\.item\(\) > 0:"):
        f(ej.ones(2, 3))
    with pytest.raises(RuntimeError):  # CaptureError is a RuntimeError
        f(ej.ones(2, 3))
    assert w.grad is None


def test_bool_of_traced_tensor_raises_capture_error():
    @ej.compile
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(ej.CaptureError, match="bool"):
        f(ej.ones(3))


def test_fullgraph_false_falls_back_to_eager_with_one_warning():
    calls = []

    def f(x):
        calls.append(1)
        return x * 2 if float(x.sum()) > 0 else x

    c = ej.compile(f, fullgraph=False)
    with pytest.warns(UserWarning, match="runs eagerly"):
        out = c(ej.ones(3))
    np.testing.assert_array_equal(out.numpy(), [2, 2, 2])
    out = c(-ej.ones(3))  # no second warning
    np.testing.assert_array_equal(out.numpy(), [-1, -1, -1])


def test_random_stream_is_state_and_matches_eager():
    def f(x):
        return x + ej.rand(3)

    ej.manual_seed(7)
    eager = [f(ej.zeros(3)).numpy() for _ in range(4)]
    ej.manual_seed(7)
    c = ej.compile(f)
    comp = [c(ej.zeros(3)).numpy() for _ in range(4)]
    np.testing.assert_array_equal(np.stack(comp), np.stack(eager))
    assert c.stats()["traces"] == 1


def test_inference_step_and_grad_mode_are_part_of_the_key():
    w, b = make_params()

    @ej.compile
    def predict(x):
        return x @ w + b

    x, _ = data()
    with ej.no_grad():
        out = predict(x)
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), (x @ w + b).detach().numpy(), rtol=1e-6)
    out2 = predict(x)  # grad enabled: a differentiable compiled op
    assert out2.requires_grad and out2.grad_fn is not None
    out2.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.tile(x.numpy().sum(0)[:, None], (1, 2)), rtol=1e-5)
    assert predict.stats()["traces"] >= 2
    assert any("grad mode" in r for r in predict.stats()["recompiles"])


def test_cache_is_bounded_and_warns_once():
    c = ej.compile(lambda x: x * 2, cache_size=2)
    c(ej.ones(1))
    c(ej.ones(2))
    with pytest.warns(UserWarning, match="cache_size=2"):
        c(ej.ones(3))
    c(ej.ones(4))  # evicts again, silently
    assert c.stats()["cache_entries"] == 2
    assert c.stats()["evictions"] == 2


def test_evicted_entry_is_not_reused_by_the_fast_path():
    """The steady-state lookup (all-Tensor arguments) caches entries; eviction drops them."""
    c = ej.compile(lambda x: x * 2, cache_size=1)
    c(ej.ones(1))
    c(ej.ones(1))
    with pytest.warns(UserWarning, match="cache_size=1"):
        c(ej.ones(2))
    np.testing.assert_array_equal(c(ej.ones(1)).numpy(), [2.0])
    assert c.stats()["traces"] == 3 and c.stats()["evictions"] == 2
    c.clear_cache()
    np.testing.assert_array_equal(c(ej.ones(1)).numpy(), [2.0])
    assert c.stats()["traces"] == 4


def test_recompile_log_switch(capsys, monkeypatch):
    import eagerjax._compile as comp

    monkeypatch.setattr(comp, "_LOG", "recompiles")
    c = ej.compile(lambda x: x + 1)
    c(ej.ones(2))
    c(ej.ones(3))
    err = capsys.readouterr().err
    assert "first call" in err and "shape (2,) dtype float32 -> shape (3,) dtype float32" in err


def test_donation_never_breaks_shared_buffers():
    w, b = make_params()
    alias = w.detach()  # shares w's buffer
    c = ej.compile(sgd_step_fn(w, b))
    x, y = data()
    c(x, y, 0.1)
    c(x, y, 0.1)
    assert np.isfinite(alias.numpy()).all()  # still readable: not donated


def _count_fallbacks(monkeypatch) -> list:
    """Entries that ran the non-donating program (a call that could not donate).

    Grad packing is switched off: these small models' grads would otherwise come back in
    one packed buffer, whose old buffers are not donated (see the packing tests)."""
    from eagerjax import _gradpack
    from eagerjax._compile import CompiledFunction

    monkeypatch.setattr(_gradpack, "PACK_MAX_ELEMENTS", 0)
    seen = []
    orig = CompiledFunction._no_donate
    monkeypatch.setattr(CompiledFunction, "_no_donate", staticmethod(lambda e: seen.append(e) or orig(e)))
    return seen


def _adam_step(opt_step: bool = True):
    """A small MLP, its Adam, and a step: zero_grad, MSE, backward (and opt.step())."""
    ej.manual_seed(0)
    model = ej.nn.Sequential(ej.nn.Linear(4, 8), ej.nn.ReLU(), ej.nn.Linear(8, 1))
    opt = ej.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = ej.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if opt_step:
            opt.step()
        return loss

    return model, opt, step


def test_dead_grads_are_donated(monkeypatch):
    """``zero_grad()`` then ``backward()`` leaves the old .grads dead: from the second call
    on their buffers are donated (one program, no fallback), as the hand-written step frees
    its gradients; the results are eager's."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _adam_step()
    ref_model, _, ref_step = _adam_step()
    c = ej.compile(step)
    fallbacks = _count_fallbacks(monkeypatch)
    for _ in range(6):
        loss, ref = c(x, y), ref_step(x, y)
        np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-5)
    assert not fallbacks
    assert c.stats()["traces"] == 1 and c.stats()["misses"] == 1
    assert len(next(iter(c._cache.values())).plan.grad_dead) == 4
    for p, q in zip(model.parameters(), ref_model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_dead_grad_alias_keeps_its_values(monkeypatch):
    """A user's ``g = p.grad`` (or a detached alias of it) survives a compiled step: that
    buffer is not donated, and ``g`` keeps the old values (torch: zero_grad sets .grad to
    None, so ``g`` is the old tensor)."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _adam_step()
    c = ej.compile(step)
    fallbacks = _count_fallbacks(monkeypatch)
    c(x, y)
    c(x, y)
    assert not fallbacks
    w = model[0].weight
    g = w.grad
    old = g.numpy().copy()
    c(x, y)
    assert len(fallbacks) == 1 and w.grad is not g
    np.testing.assert_array_equal(g.numpy(), old)
    del g
    d = w.grad.detach()
    old = d.numpy().copy()
    c(x, y)
    assert len(fallbacks) == 2
    np.testing.assert_array_equal(d.numpy(), old)
    del d
    c(x, y)
    assert len(fallbacks) == 2 and c.stats()["traces"] == 1


def test_accumulated_grad_alias_is_not_donated(monkeypatch):
    """A step that accumulates into .grad (no zero_grad inside) donates the old grads, unless
    the user holds one: then the old buffer stays readable."""
    w, b = make_params()

    def step(x, y):
        ((x @ w + b - y) ** 2).mean().backward()

    c = ej.compile(step)
    x, y = data()
    c(x, y)
    c(x, y)
    fallbacks = _count_fallbacks(monkeypatch)
    g = w.grad
    old = g.numpy().copy()
    c(x, y)
    assert len(fallbacks) == 1
    np.testing.assert_array_equal(g.numpy(), old)


def test_zero_grad_outside_the_step(monkeypatch):
    """Grads that are None on every call (``zero_grad()`` outside the compiled step) take the
    non-donating program from the second call on: one trace, no stand-ins per call."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, opt, _ = _adam_step()
    ref_model, ref_opt, _ = _adam_step()

    def fwd_bwd(model):
        def f(x, y):
            loss = ej.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        return f

    c, ref = ej.compile(fwd_bwd(model)), fwd_bwd(ref_model)
    fallbacks = _count_fallbacks(monkeypatch)
    for _ in range(5):
        opt.zero_grad()
        ref_opt.zero_grad()
        np.testing.assert_allclose(c(x, y).item(), ref(x, y).item(), rtol=1e-5)
        opt.step()
        ref_opt.step()
    assert c.stats()["traces"] == 1
    assert len(fallbacks) == 4  # every call after the first (which used fresh stand-ins)
    for p, q in zip(model.parameters(), ref_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_inplace_on_grads_before_the_optimizer_touches_params():
    """A compiled step that clips grads made by an earlier call (its first contact with the
    parameters is through ``p.grad``) writes the clipped grads back. Regression: each .grad
    was taken for a state tensor of its own, and ``p.grad`` kept the unclipped values."""
    x, y = ej.randn(6, 4), ej.randn(6, 1)
    (model, opt, _), (ref_model, ref_opt, _) = _adam_step(), _adam_step()

    def fwd_bwd(m):
        return lambda x, y: ej.nn.functional.mse_loss(m(x), y).backward()

    @ej.compile
    def update():
        ej.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
        opt.step()

    for _ in range(3):
        opt.zero_grad()
        ref_opt.zero_grad()
        fwd_bwd(model)(x, y)
        fwd_bwd(ref_model)(x, y)
        update()
        ej.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.05)
        ref_opt.step()
        for p, q in zip(model.parameters(), ref_model.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert update.stats()["traces"] == 1


def test_zero_grad_at_the_end_of_the_step_donates_nothing_unusable(monkeypatch):
    """``opt.step(); opt.zero_grad()`` at a step's end leaves its grads None: their old
    buffers must not be donated (no output could reuse them, and jax would warn)."""
    import warnings

    from eagerjax import _gradpack

    monkeypatch.setattr(_gradpack, "PACK_MAX_ELEMENTS", 0)  # as for a model too big to pack
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    (model, opt, _), (ref_model, ref_opt, _) = _adam_step(), _adam_step()

    def step(model, opt):
        def f(x, y):
            loss = ej.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        return f

    c, ref = ej.compile(step(model, opt)), step(ref_model, ref_opt)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            np.testing.assert_allclose(c(x, y).item(), ref(x, y).item(), rtol=1e-5)
    assert not [w for w in seen if "donated" in str(w.message)]
    assert all(p.grad is None for p in model.parameters())
    assert not c._cache[c._last_key].plan.grad_dead and c.stats()["traces"] == 1
    for p, q in zip(model.parameters(), ref_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_plan_lists_state_latest_touched_first():
    """The program's state order steers XLA's schedule (see ``_Plan``): the optimizer
    writes the last layer's parameters last, so they come first, and the plan found again
    once grads exist (a new discovery) is the same plan, with one trace."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _adam_step()
    c = ej.compile(step)
    c(x, y)
    c(x, y)
    plan = c._cache[c._last_key].plan
    params = list(model.parameters())
    order = [id(t) for t in plan.value_out if any(t is p for p in params)]
    assert order == [id(p) for p in reversed(params)]
    assert [id(t) for t in plan.value_donated if any(t is p for p in params)] == order
    assert c.stats()["traces"] == 1 and len({id(e.plan) for e in c._cache.values()}) == 1


def test_decorator_forms_and_method():
    @ej.compile()
    def f(x):
        return x + 1

    assert float(f(ej.tensor(1.0))) == 2.0

    class Thing:
        def __init__(self):
            self.w = ej.ones(2)

        @ej.compile
        def step(self, x):
            self.w.add_(x)
            return self.w.sum()

    t = Thing()
    t.step(ej.ones(2))
    assert float(t.step(ej.ones(2))) == 6.0
    np.testing.assert_array_equal(t.w.numpy(), [3.0, 3.0])


def test_detached_output_of_compiled_forward_stays_detached():
    w, _ = make_params()

    @ej.compile
    def f(x):
        y = x @ w
        return y, y.detach()

    y, d = f(ej.ones(2, 3))
    assert y.requires_grad and y.grad_fn is not None
    assert not d.requires_grad and d.grad_fn is None


def _linear_step(m, opt, compiled: bool = True, objective=lambda out: out.sum()):
    """A training step of ``m`` and ``opt`` minimizing ``objective(m(x))`` (compiled or eager)."""

    def step(x):
        opt.zero_grad()
        loss = objective(m(x))
        loss.backward()
        opt.step()
        return loss

    return ej.compile(step) if compiled else step


def test_freezing_a_parameter_between_calls_is_followed():
    """requires_grad_ flips change what the step writes: the step finds its state again,
    and a state seen before reuses its program (2 traces for 5 calls)."""
    m = ej.nn.Linear(2, 1)
    step = _linear_step(m, ej.optim.SGD(m.parameters(), lr=0.1))
    x = ej.ones(4, 2)
    moved = []
    for rg in [True, False, True, True, False]:
        m.weight.requires_grad_(rg)
        before = m.weight.detach().clone()
        step(x)
        moved.append(bool((m.weight != before).any()))
    assert moved == [True, False, True, True, False]
    s = step.stats()
    assert s["traces"] == 2
    assert s["recompiles"][1] == (
        "state changed (a module's tensors reassigned, requires_grad flipped, or optimizer state loaded): "
        "no longer writes Linear.weight; now reads Linear.weight; Linear.weight.requires_grad True -> False"
    )


def test_freezing_with_zeroed_grads_kept_is_followed():
    """``zero_grad(set_to_none=False)`` keeps a frozen parameter's ``.grad`` (zeros), so the
    step reads and writes the same state as before the freeze; the program traced while the
    bias required grad kept giving it a gradient (the optimizer moved it). Which state
    tensors require grad is part of the plan: a second trace, eager's numbers, and the
    first program again after unfreezing."""

    def run(compiled):
        m = ej.nn.Linear(3, 2)
        with ej.no_grad():
            m.weight.fill_(0.5)
            m.bias.zero_()
        opt = ej.optim.SGD(m.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad(set_to_none=False)
            m(x).sum().backward()
            opt.step()

        f = ej.compile(step) if compiled else step
        out = []
        for rg in [True, False, False, True, False]:
            m.bias.requires_grad_(rg)
            f(ej.ones(4, 3))
            out.append((m.bias.grad.numpy().copy(), m.bias.detach().numpy().copy(), m.weight.detach().numpy().copy()))
        return out, f

    eager, _ = run(False)
    compiled, f = run(True)
    for a, b in zip(compiled, eager):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(eager[2][0], [0.0, 0.0])  # (frozen: zeroed, not refilled)
    s = f.stats()
    assert s["traces"] == 2
    assert s["recompiles"][1].endswith("Linear.bias.requires_grad True -> False")


def test_optimizer_state_loaded_between_calls_is_used():
    m = ej.nn.Linear(2, 1)
    opt = ej.optim.Adam(m.parameters(), lr=0.1)
    step = _linear_step(m, opt)
    x = ej.ones(4, 2)
    step(x)
    saved = copy.deepcopy(opt.state_dict())
    step(x)
    step(x)
    opt.load_state_dict(saved)
    step(x)
    assert float(opt.state[m.weight]["step"]) == 2.0
    assert step.stats()["traces"] == 2


def test_reassigned_submodule_or_new_optimizer_is_used():
    class Net(ej.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = ej.nn.Linear(2, 1)
            self.act = ej.nn.ReLU()

        def forward(self, x):
            return self.act(self.fc(x))

    net = Net()
    f = ej.compile(net)
    x = -ej.ones(3, 2)
    f(x)
    net.fc = ej.nn.Linear(2, 1)
    with ej.no_grad():
        net.fc.weight.fill_(1.0)
        net.fc.bias.zero_()
    assert f(x).tolist() == [[0.0]] * 3
    net.act = ej.nn.Tanh()  # no state of its own: still a different step
    assert f(x).tolist() == net(x).tolist() == [[pytest.approx(-0.9640276)]] * 3
    assert f.stats()["traces"] == 3
    seq = ej.nn.Sequential(ej.nn.Linear(2, 1))
    step = _linear_step(seq, ej.optim.SGD(seq.parameters(), lr=0.1))
    step(x)
    step(x)
    seq[0] = seq[0]  # the same module again: its state is found again, nothing recompiles
    step(x)
    assert step.stats()["traces"] == 1 and step.stats()["discoveries"] == 3

    holder = {}
    m = ej.nn.Linear(2, 1)
    holder["opt"] = ej.optim.SGD(m.parameters(), lr=0.1)

    @ej.compile
    def step(x):
        holder["opt"].zero_grad()
        m(x).sum().backward()
        holder["opt"].step()

    step(x)
    step(x)
    holder["opt"] = ej.optim.SGD(m.parameters(), lr=0.0)
    before = m.weight.detach().clone()
    step(x)
    assert (m.weight == before).all().item()


def test_recompile_reason_after_a_program_reused_by_a_new_plan():
    """8, 8, 4: the second call finds grads now exist (same program), the third's reason is the shape."""
    m = ej.nn.Linear(6, 3)
    step = _linear_step(m, ej.optim.SGD(m.parameters(), lr=0.1))
    for n in (8, 8, 4):
        step(ej.ones(n, 6))
    assert step.stats()["recompiles"] == [
        "first call",
        "argument 0 (x): shape (8, 6) dtype float32 -> shape (4, 6) dtype float32",
    ]


def test_compiled_forward_stays_differentiable_across_training_steps():
    """ej.compile(model) in an eager loop: the backward retraces the forward under jax.vjp,
    which must not turn the outputs' grad off for later calls."""

    def run(compiled):
        ej.manual_seed(0)
        m = ej.nn.Linear(4, 3)
        fm = ej.compile(m) if compiled else m
        x = ej.randn(6, 4)
        opt = ej.optim.SGD(m.parameters(), lr=0.01)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            out = fm(x)
            assert out.grad_fn is not None
            loss = out.pow(2).sum()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, m.weight.tolist()

    assert run(True) == run(False)


def test_a_traced_number_used_as_a_size_says_to_make_it_static():
    for fn in (lambda x, n: x.reshape(n, -1), lambda x, n: ej.topk(x, n).values, lambda x, n: x[:n]):
        with pytest.raises(ej.CaptureError, match=r"static_argnums=\.\.\.\) or static_argnames="):
            ej.compile(fn)(ej.arange(6.0), 3)
        assert ej.compile(fn, static_argnums=1)(ej.arange(6.0), 3).shape[0] == 3


def test_a_tensor_kept_from_a_trace_says_so_when_used():
    """``self.ema = ...`` inside a compiled step keeps a traced value: using it later raises a
    CaptureError that explains, instead of jax's tracer leak (and the failed call leaves state)."""

    class Tracker:
        def __init__(self):
            self.ema = ej.zeros(())
            self.hist = []

        def step(self, x):
            self.ema = 0.9 * self.ema + 0.1 * x.sum()
            return x * 2

    t = Tracker()
    with pytest.raises(ej.CaptureError, match="kept outside it"):
        ej.compile(t.step)(ej.ones(2))
    with pytest.raises(ej.CaptureError, match="hands values out only by returning them"):
        float(t.ema)
    f = ej.compile(lambda x: t.hist.append(x + 1) or x.sum())
    assert f(ej.ones(2)).item() == 2.0
    assert t.hist[0].shape == (2,)  # shape and dtype still answer
    with pytest.raises(ej.CaptureError, match="kept outside it"):
        t.hist[0] + 1


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_a_held_grad_keeps_its_values_in_every_mode(mode):
    """zero_grad(set_to_none=False) gives each param a new zero .grad (as the compiled step's
    write-back does), so a `g = p.grad` kept across steps is the same in every mode."""
    w = ej.nn.Parameter(ej.ones(3))
    opt = ej.optim.SGD([w], lr=0.1)

    def step(s):
        opt.zero_grad(set_to_none=False)
        (w * s).sum().backward()
        opt.step()

    run = ej.compile(step) if mode == "compiled" else step
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        run(2.0)
        g = w.grad
        run(3.0)
    assert g.tolist() == [2.0] * 3 and w.grad.tolist() == [3.0] * 3 and w.tolist() == [0.5] * 3


def test_one_tensor_passed_twice_and_returned_arguments_behave_as_in_eager():
    def f(a, b):
        a.add_(1)
        return b * 1

    cf = ej.compile(f)
    x, y = ej.ones(2), ej.ones(2)
    assert cf(x, x).tolist() == [2.0, 2.0] and x.tolist() == [2.0, 2.0]  # b sees a's write
    assert cf(x, y).tolist() == [1.0, 1.0] and x.tolist() == [3.0, 3.0]  # not aliased: own program
    assert cf(x, x).tolist() == [4.0, 4.0]
    assert cf.stats()["traces"] == 2
    assert cf.stats()["recompiles"][1] == "argument leaf 1: the tensor of leaf 0 -> tensor"
    g = ej.compile(lambda z, zs: (z.mul_(2), zs[0] + 0)[1])
    z = ej.ones(2)
    assert g(z, [z]).tolist() == [2.0, 2.0]
    inc = ej.compile(lambda t: t.add_(1))
    q = ej.ones(2)
    assert inc(q) is q and inc(q) is q and q.tolist() == [3.0, 3.0]  # in-place ops return self
    h = ej.compile(lambda x, n: x * n.sum(), static_argnums=(1,))  # a tensor as a static argument
    assert h(ej.ones(2), ej.tensor([1, 2])).tolist() == [3.0, 3.0]


def test_print_inside_a_compiled_step_says_it_is_traced(capsys):
    ej.compile(lambda x: print(x * 2) or x.sum())(ej.ones(3, 2))
    assert "tensor(<traced: shape (3, 2) dtype float32; no values while tracing>)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "opt_name,key,value,kw",
    [
        ("SGD", "weight_decay", 0.1, {}),
        ("Adam", "weight_decay", 0.1, {}),
        ("SGD", "momentum", 0.9, {}),
        ("SGD", "nesterov", True, {"momentum": 0.5}),
        ("SGD", "weight_decay", 0.0, {"weight_decay": 0.1}),
        ("Adam", "weight_decay", 0.2, {"weight_decay": 0.1}),
    ],
)
def test_hyperparameter_that_changes_the_update_retraces(opt_name, key, value, kw):
    """A weight decay or momentum set from or to 0, or nesterov flipped, between calls changes
    the update's structure (a zero term is skipped): the step retraces and uses it, as eager
    does (it kept the program traced before, as if nothing had changed). A nonzero value
    changed to another nonzero one is traced: no retrace."""

    def run(compiled):
        lin = ej.nn.Linear(3, 2)
        with ej.no_grad():
            lin.weight.copy_(ej.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10))
            lin.bias.fill_(0.1)
        opt = getattr(ej.optim, opt_name)(lin.parameters(), lr=0.05, **kw)

        def step(x):
            opt.zero_grad()
            (lin(x) ** 2).sum().backward()
            opt.step()

        f = ej.compile(step) if compiled else step
        x = ej.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        f(x)
        f(x)
        opt.param_groups[0][key] = value
        f(x)
        f(x)
        return [p.detach().numpy() for p in lin.parameters()], f

    eager, _ = run(False)
    compiled, f = run(True)
    for a, b in zip(compiled, eager):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    structural = not (key == "weight_decay" and value != 0 and kw.get("weight_decay"))
    assert f.stats()["traces"] == (2 if structural else 1)
    if key == "weight_decay" and structural:
        assert f.stats()["recompiles"][1].startswith(f"optimizer {opt_name}: param_groups[0] options")


def test_step_that_reads_grads_then_sets_them_none_donates_none_of_them():
    """Gradient accumulation with a separate compiled ``opt.step(); opt.zero_grad()``: the
    grads it reads end None, so no output can reuse their buffers; donating them made jax
    warn ("Some donated buffers were not usable") on the first call."""
    ej.manual_seed(0)
    m = ej.nn.Sequential(ej.nn.Linear(4, 8), ej.nn.Tanh(), ej.nn.Linear(8, 2))
    opt = ej.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    ref = copy.deepcopy(m)
    ref_opt = ej.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)

    def fwd_bwd(model, x, y):
        loss = ej.nn.functional.mse_loss(model(x), y) / 2
        loss.backward()

    def opt_step(o):
        o.step()
        o.zero_grad()

    c_fwd, c_step = ej.compile(fwd_bwd), ej.compile(opt_step)
    x, y = ej.randn(5, 4), ej.randn(5, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(4):
            c_fwd(m, x, y)
            fwd_bwd(ref, x, y)
            if i % 2 == 1:
                c_step(opt)
                opt_step(ref_opt)
    assert [str(w.message) for w in caught] == []
    for a, b in zip(m.parameters(), ref.parameters()):
        assert a.grad is None
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)


HOOKS = {
    "forward": lambda m: m.register_forward_hook(lambda mod, inp, out: out * 2),
    "forward_pre": lambda m: m.register_forward_pre_hook(lambda mod, inp: (inp[0] * 0.5,)),
    "tensor": lambda m: m.weight.register_hook(lambda g: g * 0),
    "post_accumulate": lambda m: m.weight.register_post_accumulate_grad_hook(_zero_its_grad),
}


def _zero_its_grad(p) -> None:
    p.grad.zero_()


@pytest.mark.parametrize("kind", list(HOOKS))
def test_hook_registered_or_removed_between_calls_is_followed(kind):
    """A forward (pre-)hook of a module the step calls, or a gradient hook of a state leaf,
    registered after the step compiled and removed again: each call does what eager does
    (the program traced before kept running without the hook, or with it after removal);
    one more trace for the hook, none for going back."""

    def run(compiled):
        m = ej.nn.Linear(3, 2)
        with ej.no_grad():
            m.weight.copy_(ej.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10))
            m.bias.fill_(0.1)
        f = _linear_step(m, ej.optim.SGD(m.parameters(), lr=0.1), compiled, lambda out: out.pow(2).sum())
        x = ej.ones(4, 3)
        out = [float(f(x))]
        handle = HOOKS[kind](m)
        out += [float(f(x)), float(f(x))]
        handle.remove()
        out.append(float(f(x)))
        return out + m.weight.detach().numpy().ravel().tolist(), f

    eager, _ = run(False)
    compiled, f = run(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-6)
    assert f.stats()["traces"] == 2
