"""torch.func over eagerjax: grad, vjp, jvp, jacrev, jacfwd, hessian, vmap, functional_call,
stack_module_state — values against torch, in eager, compiled and lazy modes."""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import func

torch = pytest.importorskip("torch")
tf = torch.func

RNG = np.random.default_rng(0)


def _pair(*shape):
    a = RNG.standard_normal(shape).astype(np.float32)
    return ej.tensor(a), torch.tensor(a)


def _close(ours, theirs, tol=1e-5):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _close(o, t, tol)
        return
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs)
        for k in theirs:
            _close(ours[k], theirs[k], tol)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


def _f(lib):
    return lambda x, y: (lib.sin(x) * y).sum() + (x**2).mean()


def test_grad_and_value_argnums_and_aux():
    x, tx = _pair(3, 4)
    y, ty = _pair(3, 4)
    _close(func.grad(_f(ej))(x, y), tf.grad(_f(torch))(tx, ty))
    _close(func.grad(_f(ej), argnums=(0, 1))(x, y), tf.grad(_f(torch), argnums=(0, 1))(tx, ty))
    _close(func.grad_and_value(_f(ej), argnums=1)(x, y), tf.grad_and_value(_f(torch), argnums=1)(tx, ty))

    def aux(lib):
        return lambda x: ((x**3).sum(), {"sq": x * x})

    g, a = func.grad(aux(ej), has_aux=True)(x)
    tg, ta = tf.grad(aux(torch), has_aux=True)(tx)
    _close(g, tg)
    _close(a, ta)


def test_grad_of_a_pytree_argument():
    a, ta = _pair(2, 3)
    b, tb = _pair(3)

    def loss(lib):
        return lambda p, x: (lib.tanh(x @ p["w"].T) + p["b"][0]).sum()

    x, tx = _pair(5, 3)
    got = func.grad(loss(ej))({"w": a, "b": b}, x)
    want = tf.grad(loss(torch))({"w": ta, "b": tb}, tx)
    _close(got, want)


def test_grad_sees_closed_over_state_change_and_is_memoized():
    """The closed-over parameters are state, never constants baked into the cached program."""
    m = ej.nn.Linear(3, 1)
    x, _ = _pair(4, 3)

    def loss(inp):
        return m(inp).pow(2).sum()

    g1 = func.grad(loss)(x)
    with ej.no_grad():
        m.weight.mul_(2.0)
    g2 = func.grad(loss)(x)
    tm = torch.nn.Linear(3, 1)
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    _close(g2, tf.grad(lambda i: tm(i).pow(2).sum())(torch.tensor(x.numpy())))
    assert not np.allclose(g1.detach().numpy(), g2.detach().numpy())
    assert func.grad(loss) is func.grad(loss)
    stats = func.grad(loss)._compiled.stats()
    assert stats["traces"] == 1


def test_grad_output_is_differentiable_second_order():
    w, tw = _pair(3)
    w.requires_grad_()
    tw.requires_grad_()
    x, tx = _pair(3)
    g = func.grad(lambda v: (v * w).sin().sum())(x)
    tg = tf.grad(lambda v: (v * tw).sin().sum())(tx)
    assert g.requires_grad
    _close(g, tg)
    (g**2).sum().backward()
    (tg**2).sum().backward()
    _close(w.grad, tw.grad)


def test_jacobians_and_hessian():
    x, tx = _pair(4)
    y, ty = _pair(3, 4)

    def f(lib):
        return lambda x, y: lib.tanh(y @ x) * x[:3]

    _close(func.jacrev(f(ej))(x, y), tf.jacrev(f(torch))(tx, ty))
    _close(func.jacfwd(f(ej))(x, y), tf.jacfwd(f(torch))(tx, ty))
    _close(func.jacrev(f(ej), argnums=(0, 1))(x, y), tf.jacrev(f(torch), argnums=(0, 1))(tx, ty))
    _close(func.hessian(lambda v: (v.sin() * v).sum())(x), tf.hessian(lambda v: (v.sin() * v).sum())(tx))


def test_vjp_and_jvp():
    x, tx = _pair(3, 2)
    ct, tct = _pair(3, 2)
    out, fn = func.vjp(lambda v: v.exp() * v, x)
    tout, tfn = tf.vjp(lambda v: v.exp() * v, tx)
    _close(out, tout)
    _close(fn(ct), tfn(tct))
    t, tt = _pair(3, 2)
    _close(func.jvp(lambda v: v.exp() * v, (x,), (t,)), tf.jvp(lambda v: v.exp() * v, (tx,), (tt,)))


def test_vmap_in_out_dims_and_nesting():
    x, tx = _pair(4, 3)
    y, ty = _pair(3, 5)
    _close(
        func.vmap(lambda a, b: a @ b, in_dims=(0, None))(x, y), tf.vmap(lambda a, b: a @ b, in_dims=(0, None))(tx, ty)
    )
    _close(func.vmap(lambda a: a * 2, in_dims=1, out_dims=1)(x), tf.vmap(lambda a: a * 2, in_dims=1, out_dims=1)(tx))
    _close(ej.vmap(ej.vmap(lambda a: a.sum()))(x), torch.vmap(torch.vmap(lambda a: a.sum()))(tx))
    # per-example gradients
    w, tw = _pair(3)
    per = func.vmap(func.grad(lambda p, v: (p * v).sin().sum()), in_dims=(None, 0))(w, x)
    tper = tf.vmap(tf.grad(lambda p, v: (p * v).sin().sum()), in_dims=(None, 0))(tw, tx)
    _close(per, tper)


def test_vmap_module_backward_flows_to_parameters():
    m = ej.nn.Sequential(ej.nn.Linear(3, 4), ej.nn.Tanh(), ej.nn.Linear(4, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    x, tx = _pair(5, 3)
    func.vmap(m)(x).pow(2).sum().backward()
    tf.vmap(tm)(tx).pow(2).sum().backward()
    for p, tp in zip(m.parameters(), tm.parameters()):
        _close(p.grad, tp.grad)


def test_per_sample_grads_with_functional_call():
    """The torch.func tutorial's per-sample gradients: vmap(grad(functional_call loss))."""
    m = ej.nn.Linear(3, 2)
    tm = torch.nn.Linear(3, 2)
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    x, tx = _pair(6, 3)
    y = ej.tensor(RNG.integers(0, 2, 6))
    ty = torch.tensor(y.numpy())

    def run(lib, f, mod, xs, ys):
        params = {k: v.detach() for k, v in mod.named_parameters()}

        def loss(p, xi, yi):
            out = f.functional_call(mod, p, (xi.unsqueeze(0),))
            return lib.nn.functional.cross_entropy(out, yi.unsqueeze(0))

        return f.vmap(f.grad(loss), in_dims=(None, 0, 0))(params, xs, ys)

    _close(run(ej, func, m, x, y), run(torch, tf, tm, tx, ty))


def test_functional_call_semantics():
    m = ej.nn.Linear(3, 2)
    x, _ = _pair(3)
    w = ej.zeros(2, 3)
    out = func.functional_call(m, {"weight": w}, (x,))
    np.testing.assert_allclose(out.detach().numpy(), m.bias.detach().numpy())
    assert m.weight is not w and isinstance(m.weight, ej.nn.Parameter)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        func.functional_call(m, ({"weight": w}, {"weight": w}), (x,))
    with pytest.raises(RuntimeError, match=r"Missing key\(s\): 'bias'"):
        func.functional_call(m, {"weight": w}, x, strict=True)
    # buffers: the running statistics a train-mode BatchNorm updates are the passed tensors
    bn = ej.nn.BatchNorm1d(3)
    rm = ej.zeros(3)
    func.functional_call(bn, {"running_mean": rm}, (ej.randn(8, 3) + 5,))
    assert rm.numpy().mean() > 0.2 and float(bn.running_mean.abs().sum()) == 0.0
    # tied weights follow the one given
    tied = ej.nn.Sequential(ej.nn.Linear(2, 2, bias=False), ej.nn.Linear(2, 2, bias=False))
    tied[1].weight = tied[0].weight
    eye = ej.eye(2)
    v = ej.tensor([1.0, 2.0])
    np.testing.assert_allclose(func.functional_call(tied, {"0.weight": eye}, v).numpy(), [1.0, 2.0])


def test_stack_module_state_ensemble():
    models = [ej.nn.Linear(3, 2) for _ in range(4)]
    params, buffers = func.stack_module_state(models)
    assert params["weight"].shape == (4, 2, 3) and params["weight"].requires_grad and params["weight"].is_leaf
    x, _ = _pair(5, 3)
    base = models[0]

    def one(p, b, inp):
        return func.functional_call(base, (p, b), (inp,))

    out = func.vmap(one, in_dims=(0, 0, None))(params, buffers, x)
    want = ej.stack([m(x) for m in models])
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_vmap_randomness():
    x = ej.ones(4, 3)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        func.vmap(lambda v: v + ej.rand(3))(x)
    same = func.vmap(lambda v: v + ej.rand(3), randomness="same")(x).numpy()
    assert np.allclose(same, same[0])
    diff = func.vmap(lambda v: v + ej.rand(3), randomness="different")(x).numpy()
    assert not np.allclose(diff, diff[0])
    ej.manual_seed(3)
    a = func.vmap(lambda v: v + ej.rand(3), randomness="different")(x).numpy()
    ej.manual_seed(3)
    b = func.vmap(lambda v: v + ej.rand(3), randomness="different")(x).numpy()
    np.testing.assert_array_equal(a, b)
    # an explicit generator gives each example its own draws too, reproducibly (it and the
    # default generator seeded), and advances once for the batch
    g = ej.Generator()
    draws = []
    for _ in range(2):
        ej.manual_seed(3)
        g.manual_seed(7)
        draws.append(func.vmap(lambda v: v + ej.rand(3, generator=g), randomness="different")(x).numpy())
        draws.append(ej.rand(3, generator=g).numpy())
    assert not np.allclose(draws[0], draws[0][0])
    np.testing.assert_array_equal(draws[0], draws[2])
    np.testing.assert_array_equal(draws[1], draws[3])
    same = func.vmap(lambda v: v + ej.rand(3, generator=g), randomness="same")(x).numpy()
    assert np.allclose(same, same[0])


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_vmap_chunk_size_gives_the_unchunked_results(chunk):
    """Chunks run one after another (full chunks, then the remainder): values, gradients
    through the chunked call, per-example grads and per-example random keys all equal the
    unchunked call's."""
    x, tx = _pair(3, 7, 4)
    w, tw = _pair(4)
    w.requires_grad_(True)
    tw.requires_grad_(True)
    out = func.vmap(lambda a: (a * w).sin().sum(0), in_dims=1, chunk_size=chunk)(x)
    tout = tf.vmap(lambda a: (a * tw).sin().sum(0), in_dims=1, chunk_size=chunk)(tx)
    _close(out, tout)
    out.pow(2).sum().backward()
    tout.pow(2).sum().backward()
    _close(w.grad, tw.grad)
    per = func.vmap(func.grad(lambda p, v: (p * v).sin().sum()), in_dims=(None, 1), chunk_size=chunk)(w, x)
    _close(per, tf.vmap(tf.grad(lambda p, v: (p * v).sin().sum()), in_dims=(None, 1))(tw, tx))
    ej.manual_seed(5)
    a = func.vmap(lambda v: v + ej.rand(()), randomness="different", chunk_size=chunk)(ej.zeros(7))
    ej.manual_seed(5)
    b = func.vmap(lambda v: v + ej.rand(()), randomness="different")(ej.zeros(7))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match=r"chunk_size should be None or greater than 0. \(got 0\)"):
        func.vmap(torch.sin, chunk_size=0)


def test_errors_in_torch_words():
    x, _ = _pair(3)
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar Tensor"):
        func.grad(lambda v: v * 2)(x)
    with pytest.raises(RuntimeError, match="Got argnum=1, but only 1 positional inputs"):
        func.grad(lambda v: v.sum(), argnums=1)(x)
    with pytest.raises(RuntimeError, match="should be a tuple: \\(output, aux\\)"):
        func.grad(lambda v: v.sum(), has_aux=True)(x)
    with pytest.raises(ValueError, match="Got in_dim=2 for some input"):
        func.vmap(lambda v: v, in_dims=(2,))(x)
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        func.vmap(lambda a, b: a + b)(x, ej.ones(4))
    with pytest.raises(ValueError, match="cannot vmap over non-Tensor arguments"):
        func.vmap(lambda a, n: a * n, in_dims=(0, 0))(x, 2)
    with pytest.raises(ValueError, match="must only return Tensors"):
        func.vmap(lambda a: 3)(x)
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        func.jvp(lambda v: v, x, x)
    with pytest.raises(ej.CaptureError, match="vmap"):
        func.vmap(lambda a: a * a.sum().item())(ej.ones(2, 2))
    bn = ej.nn.BatchNorm1d(3)
    with pytest.raises(RuntimeError, match="wrote a per-example value"):
        func.vmap(bn)(ej.randn(4, 2, 3))
    assert float(bn.running_mean.abs().sum()) == 0.0  # the failed call changed nothing
    bn.eval()
    assert func.vmap(bn)(ej.randn(4, 2, 3)).shape == (4, 2, 3)


@pytest.mark.parametrize("mode", ["compiled", "lazy"])
def test_transforms_inside_compiled_and_lazy_training(mode):
    """A training step using per-example gradient norms (vmap(grad)) runs the same eager,
    compiled and lazy."""

    def run(mode):
        ej.manual_seed(0)
        m = ej.nn.Linear(3, 1)
        opt = ej.optim.SGD(m.parameters(), lr=0.1)
        x = ej.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        y = ej.tensor(np.arange(4, dtype=np.float32).reshape(4, 1))

        def sample_loss(xi, yi):
            return (m(xi) - yi).pow(2).sum()

        def step():
            opt.zero_grad()
            per = func.vmap(func.grad(sample_loss))(x, y)  # d loss_i / d x_i
            loss = (m(x) - y).pow(2).mean() + 0.01 * per.pow(2).sum()
            loss.backward()
            opt.step()
            return loss

        fn = ej.compile(step) if mode == "compiled" else step
        losses = []
        if mode == "lazy":
            with ej.lazy():
                for _ in range(4):
                    losses.append(float(fn()))
        else:
            for _ in range(4):
                losses.append(float(fn()))
        return losses, m.weight.detach().numpy()

    le, we = run("eager")
    lo, wo = run(mode)
    np.testing.assert_allclose(lo, le, rtol=1e-5)
    np.testing.assert_allclose(wo, we, rtol=1e-5)


@pytest.mark.parametrize("mode", ["eager", "compiled", "lazy"])
def test_vmap_model_and_functional_call_in_a_training_step(mode):
    """vmap(model) and functional_call inside a step: the gradient reaches the closed-over
    parameters through the transform in every mode (compiled: the inline replay node)."""
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    m = ej.nn.Sequential(ej.nn.Linear(3, 4), ej.nn.Tanh(), ej.nn.Linear(4, 1))
    m.load_state_dict({k: ej.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x_np = np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)

    def step_of(lib, f, mod, opt, x):
        def step():
            opt.zero_grad()
            shifted = {k: v + 0.1 for k, v in mod.named_parameters()}
            loss = f.vmap(mod)(x).pow(2).mean() + f.functional_call(mod, shifted, (x,)).pow(2).mean()
            loss.backward()
            opt.step()
            return loss

        return step

    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    opt = ej.optim.SGD(m.parameters(), lr=0.1)
    tstep = step_of(torch, tf, tm, topt, torch.tensor(x_np))
    step = step_of(ej, func, m, opt, ej.tensor(x_np))
    if mode == "compiled":
        step = ej.compile(step)
    want = [float(tstep()) for _ in range(3)]
    if mode == "lazy":
        with ej.lazy():
            got = [float(step()) for _ in range(3)]
    else:
        got = [float(step()) for _ in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for p, tp in zip(m.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_writes_inside_transforms_stay_with_primal_values():
    """Found by test_fuzz_func: an in-place op on a non-differentiated argument inside grad
    leaked the transform's tracer. The argument is updated (as torch does), with its value."""
    outs = []
    for lib, f in ((ej, func), (torch, tf)):
        a, b = lib.tensor(0.0), lib.tensor(0.0)

        def prog(x, y):
            x.exp_()
            x.atan2_(y)
            return (x * y).sum() + y.sum()

        outs.append((float(f.grad(prog, argnums=1)(a, b)), float(a)))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)
    # a closed-over buffer (train-mode BatchNorm, which torch's grad refuses) updates once
    bn = ej.nn.BatchNorm1d(3)
    x = ej.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    func.grad(lambda v: bn(v).pow(3).sum())(x)
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.45, 0.55, 0.65], rtol=1e-6)
    assert int(bn.num_batches_tracked) == 1
    # the generator advances once per call, inside grad and inside vmap(randomness="same")
    ej.manual_seed(0)
    d = ej.nn.Dropout(0.5)
    g1 = func.grad(lambda v: d(v).sum())(ej.ones(64))
    g2 = func.grad(lambda v: d(v).sum())(ej.ones(64))
    assert not np.array_equal(g1.numpy(), g2.numpy())
    ej.manual_seed(0)
    np.testing.assert_array_equal(func.grad(lambda v: d(v).sum())(ej.ones(64)).numpy(), g1.numpy())
