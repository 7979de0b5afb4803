"""The Flax bridge: linen and nnx modules trained through eagerjax, checked against raw Flax."""

import copy

import flax.linen as ln
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import eagerjax as ej
import eagerjax.nn as nn
from eagerjax._random import _split
from eagerjax.testing import assert_close, assert_compile_equivalent


@pytest.fixture(autouse=True)
def _eager_after():
    yield
    ej.set_mode("eager")


class LinenMLP(ln.Module):
    hidden: int = 16

    @ln.compact
    def __call__(self, x, train: bool = False):
        x = ln.Dense(self.hidden)(x)
        x = ln.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        x = ln.relu(x)
        x = ln.Dropout(0.25, deterministic=not train)(x)
        return ln.Dense(1)(x)


class NNXNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.lin1 = nnx.Linear(4, 16, rngs=rngs)
        self.bn = nnx.BatchNorm(16, momentum=0.9, rngs=rngs)
        self.drop = nnx.Dropout(0.25, rngs=rngs)
        self.lin2 = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.lin2(self.drop(nnx.relu(self.bn(self.lin1(x)))))


def data(seed=0, n=16):
    r = np.random.RandomState(seed)
    x = r.randn(n, 4).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32) + 0.1).astype(np.float32)
    return ej.tensor(x), ej.tensor(y)


def make_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return step


def linen_model(seed=0):
    ej.manual_seed(seed)
    x, _ = data()
    return nn.from_flax(LinenMLP(), x)


def nnx_model(seed=0):
    return nn.from_flax(NNXNet(nnx.Rngs(seed)))


def snapshot(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def key_data():
    return ej.get_rng_state()._read()


# --------------------------------------------------------------------------- structure
def test_linen_state_dict_names_and_kinds():
    m = linen_model()
    assert isinstance(m, nn.FlaxModule) and isinstance(m, nn.Module)
    params = dict(m.named_parameters())
    buffers = dict(m.named_buffers())
    assert sorted(params) == [
        "BatchNorm_0.bias",
        "BatchNorm_0.scale",
        "Dense_0.bias",
        "Dense_0.kernel",
        "Dense_1.bias",
        "Dense_1.kernel",
    ]
    assert sorted(buffers) == ["BatchNorm_0.mean", "BatchNorm_0.var"]
    assert tuple(m.Dense_0.kernel.shape) == (4, 16)  # Flax's (in, out) layout is kept
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params.values())
    assert sorted(m.state_dict()) == sorted(list(params) + list(buffers))


def test_nnx_state_dict_names_and_kinds():
    m = nnx_model()
    assert sorted(dict(m.named_parameters())) == [
        "bn.bias",
        "bn.scale",
        "lin1.bias",
        "lin1.kernel",
        "lin2.bias",
        "lin2.kernel",
    ]
    # BatchStats are buffers; the rng state is eagerjax's generator, not model state
    assert sorted(dict(m.named_buffers())) == ["bn.mean", "bn.var"]


def test_unsupported_inputs():
    with pytest.raises(TypeError, match="flax.linen.Module or flax.nnx.Module"):
        nn.from_flax(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="example inputs"):
        nn.from_flax(LinenMLP())
    with pytest.raises(TypeError, match="made by nn.from_flax"):
        nn.to_flax(nn.Linear(2, 2))


# --------------------------------------------------------------------------- training
@pytest.mark.parametrize("make, opt_name", [(linen_model, "Adam"), (nnx_model, "SGD")], ids=["linen", "nnx"])
def test_train_five_steps(make, opt_name):
    m = make()
    x, y = data()
    before = snapshot(m)
    opt = ej.optim.Adam(m.parameters(), lr=0.05) if opt_name == "Adam" else ej.optim.SGD(m.parameters(), lr=0.05)
    step = make_step(m, opt)
    ej.manual_seed(3)
    losses = [step(x, y).item() for _ in range(5)]
    assert losses[-1] < losses[0], losses
    after = snapshot(m)
    for name, _ in m.named_parameters():
        assert not np.array_equal(before[name], after[name]), f"{name} did not change"
    for name, _ in m.named_buffers():  # running statistics were written back
        assert not np.array_equal(before[name], after[name]), f"{name} did not change"
    m.eval()
    with ej.no_grad():
        assert ((m(x) - y) ** 2).mean().item() < losses[0]


# --------------------------------------------------------------------------- gradients vs raw Flax
def test_linen_gradients_match_jax_grad():
    module = LinenMLP()
    x, y = data()
    xj, yj = jnp.asarray(x.numpy()), jnp.asarray(y.numpy())
    init = jax.jit(module.init, static_argnames="train")
    variables = init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, xj, train=True)
    m = nn.from_flax(module, variables=variables)
    ej.manual_seed(7)
    key = key_data()
    loss = ((m(x) - y) ** 2).mean()
    loss.backward()
    new_key, sub = _split(key)
    np.testing.assert_array_equal(np.asarray(key_data()), np.asarray(new_key))  # the generator advanced once

    def raw(params):
        out, upd = module.apply(
            {**variables, "params": params}, xj, train=True, rngs={"dropout": sub}, mutable=["batch_stats"]
        )
        return jnp.mean((out - yj) ** 2), upd

    (ref_loss, upd), grads = jax.jit(jax.value_and_grad(raw, has_aux=True))(variables["params"])
    assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        name = ".".join(k.key for k in path)
        assert_close(m.get_parameter(name).grad, g, rtol=1e-5, atol=1e-6, msg=f"{name}: ")
    for path, s in jax.tree_util.tree_flatten_with_path(upd["batch_stats"])[0]:
        name = ".".join(k.key for k in path)
        assert_close(m.get_buffer(name), s, rtol=1e-5, atol=1e-6, msg=f"{name}: ")


def test_nnx_gradients_match_jax_grad():
    net = NNXNet(nnx.Rngs(0))
    m = nn.from_flax(net)
    x, y = data()
    xj, yj = jnp.asarray(x.numpy()), jnp.asarray(y.numpy())
    graphdef, params, rng, rest = nnx.split(net, nnx.Param, nnx.RngState, ...)
    ej.manual_seed(11)
    key = key_data()
    loss = ((m(x) - y) ** 2).mean()
    loss.backward()
    _, sub = _split(key)
    # documented: every RngKey becomes fold_in(subkey, i) (flat-state order), every RngCount 0
    leaves, treedef = jax.tree_util.tree_flatten(rng)
    leaves = [
        jax.random.fold_in(sub, i) if jnp.issubdtype(v.dtype, jax.dtypes.prng_key) else jnp.zeros_like(v)
        for i, v in enumerate(leaves)
    ]
    rng = jax.tree_util.tree_unflatten(treedef, leaves)

    def raw(p, rng, rest):
        rng, rest = jax.tree_util.tree_map(jnp.asarray, (rng, rest))  # fresh Variables at this trace level
        model = nnx.merge(graphdef, p, rng, rest)
        model.train()
        out = model(xj)
        return jnp.mean((out - yj) ** 2), nnx.state(model, nnx.BatchStat)

    (ref_loss, stats), grads = jax.jit(jax.value_and_grad(raw, has_aux=True))(params, rng, rest)
    assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        name = ".".join(str(getattr(k, "key", "")) for k in path[:-1])
        assert_close(m.get_parameter(name).grad, g, rtol=1e-5, atol=1e-6, msg=f"{name}: ")
    for path, s in jax.tree_util.tree_flatten_with_path(stats)[0]:
        name = ".".join(str(getattr(k, "key", "")) for k in path[:-1])
        assert_close(m.get_buffer(name), s, rtol=1e-5, atol=1e-6, msg=f"{name}: ")


# --------------------------------------------------------------------------- eval mode and export
def test_linen_eval_matches_raw_apply_and_round_trips():
    module = LinenMLP()
    x, y = data()
    xj = jnp.asarray(x.numpy())
    variables = jax.jit(module.init)(jax.random.key(0), xj)
    m = nn.from_flax(module, variables=variables).eval()
    key = key_data()
    assert_close(m(x), module.apply(variables, xj, train=False), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(key_data()), np.asarray(key))  # eval draws nothing
    # train a little, then hand the weights back to Flax
    m.train()
    step = make_step(m, ej.optim.Adam(m.parameters(), lr=0.01))
    for _ in range(3):
        step(x, y)
    m.eval()
    mod, v = nn.to_flax(m)
    assert mod is module
    with ej.no_grad():
        expected = m(x)
    assert_close(mod.apply(v, xj, train=False), expected, rtol=1e-6, atol=1e-6)
    assert_close(v["batch_stats"]["BatchNorm_0"]["mean"], m.BatchNorm_0.mean, rtol=0, atol=0)
    # from_flax -> to_flax is the identity on the variables
    m2 = nn.from_flax(module, variables=variables)
    _, v2 = nn.to_flax(m2)
    jax.tree_util.tree_map(np.testing.assert_array_equal, v2, variables)


def test_nnx_eval_matches_raw_call_and_round_trips():
    net = NNXNet(nnx.Rngs(0))
    x, y = data()
    xj = jnp.asarray(x.numpy())
    m = nn.from_flax(net).eval()
    ref = nnx.clone(net)
    ref.eval()
    assert_close(m(x), ref(xj), rtol=1e-6, atol=1e-6)
    m.train()
    step = make_step(m, ej.optim.SGD(m.parameters(), lr=0.05))
    for _ in range(3):
        step(x, y)
    m.eval()
    with ej.no_grad():
        expected = m(x)
    out = nn.to_flax(m)
    assert out is net  # the original module, updated in place with nnx.update
    net.eval()
    assert_close(net(xj), expected, rtol=1e-6, atol=1e-6)
    assert_close(net.bn.mean[...], m.bn.mean, rtol=0, atol=0)


def test_arrays_are_copied_at_both_edges():
    # compiled steps donate the state they overwrite: neither the arrays handed to
    # from_flax nor those returned by to_flax may be the buffers eagerjax updates
    module = LinenMLP()
    x, _ = data()
    variables = jax.jit(module.init)(jax.random.key(0), jnp.asarray(x.numpy()))
    m = nn.from_flax(module, variables=variables)
    _, exported = nn.to_flax(m)
    given = np.array(variables["params"]["Dense_0"]["kernel"])

    @ej.compile
    def shrink():
        with ej.no_grad():
            for p in m.parameters():
                p.mul_(0.5)

    for _ in range(2):
        shrink()
    np.testing.assert_allclose(m.Dense_0.kernel.detach().numpy(), given * 0.25)
    np.testing.assert_array_equal(np.asarray(variables["params"]["Dense_0"]["kernel"]), given)
    np.testing.assert_array_equal(np.asarray(exported["params"]["Dense_0"]["kernel"]), given)


# --------------------------------------------------------------------------- modes and randomness
@pytest.mark.parametrize("make", [linen_model, nnx_model], ids=["linen", "nnx"])
def test_eager_compiled_lazy_agree(make):
    m = make()
    x, y = data()
    step = make_step(m, ej.optim.Adam(m.parameters(), lr=0.01))
    ej.manual_seed(5)
    assert_compile_equivalent(step, x, y, steps=5, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [linen_model, nnx_model], ids=["linen", "nnx"])
def test_same_seed_same_dropout_masks(make):
    m = make()
    x = ej.ones(64, 4)

    def f(x):
        return m(x)

    # (across eager, compiled and lazy runs: test_eager_compiled_lazy_agree compares the generator key too)
    ej.manual_seed(0)
    a = f(x).detach().numpy()
    ej.manual_seed(0)
    b = f(x).detach().numpy()
    c = f(x).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    ej.manual_seed(1)
    assert not np.array_equal(f(x).detach().numpy(), a)


def test_kernel_is_cached_not_retraced():
    traces = []

    class Counted(ln.Module):
        @ln.compact
        def __call__(self, x, train: bool = False):
            traces.append(1)  # a Python side effect: runs once per trace
            return ln.Dropout(0.5, deterministic=not train)(ln.Dense(2)(x))

    x, y = ej.ones(3, 4), ej.zeros(3, 2)
    m = nn.from_flax(Counted(), x)
    traces.clear()

    def step(x, y):
        m.zero_grad()
        ((m(x) - y) ** 2).mean().backward()

    step(x, y)
    first = len(traces)  # the forward's jit, and the backward program (recompute + vjp)
    assert first <= 3, first
    for _ in range(5):
        step(x, y)
    assert len(traces) == first  # later steps reuse the cached kernels
    assert len(m._kcache) == 1
    m.eval()
    for _ in range(3):
        m(x)
    assert len(m._kcache) == 2
    assert len(traces) == first + 1


# --------------------------------------------------------------------------- state dicts
@pytest.mark.parametrize("make", [linen_model, nnx_model], ids=["linen", "nnx"])
def test_load_state_dict_round_trip(make):
    m = make(0)
    x, y = data()
    step = make_step(m, ej.optim.Adam(m.parameters(), lr=0.01))
    for _ in range(2):
        step(x, y)
    m.eval()
    sd = m.state_dict()
    other = make(1).eval()
    assert list(other.state_dict()) == list(sd)
    with ej.no_grad():
        assert not np.allclose(other(x).numpy(), m(x).numpy())
    other.load_state_dict(sd)
    with ej.no_grad():
        assert_close(other(x), m(x), rtol=0, atol=0)
    # numpy arrays load too
    third = make(2).eval()
    third.load_state_dict({k: np.array(v) for k, v in sd.items()})
    with ej.no_grad():
        assert_close(third(x), m(x), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="Missing key"):
        third.load_state_dict({k: v for k, v in sd.items() if not k.endswith("mean")})


def test_deepcopy_and_composition():
    m = linen_model()
    x, y = data()
    clone = copy.deepcopy(m)
    with ej.no_grad():
        assert_close(clone.eval()(x), m.eval()(x), rtol=0, atol=0)
    # a converted module composes with eagerjax layers
    net = nn.Sequential(nn.Linear(4, 4), nn.from_flax(NNXNet(nnx.Rngs(0))))
    assert "1.lin1.kernel" in net.state_dict()
    loss = ((net(x) - y) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_train_eval_kwargs_override():
    class Scaled(ln.Module):
        @ln.compact
        def __call__(self, x, mode: str = "plain"):
            y = ln.Dense(2)(x)
            return y * 2 if mode == "double" else y

    x = ej.ones(3, 2)
    m = nn.from_flax(Scaled(), x, eval_kwargs={"mode": "double"})
    train_out = m(x)
    m.eval()
    assert_close(m(x), train_out * 2, rtol=1e-6, atol=1e-6)
    # an explicit call keyword wins over the mode keywords
    assert_close(m(x, mode="plain"), train_out, rtol=1e-6, atol=1e-6)


def test_positional_mode_argument_extra_rng_streams_and_eval_rng():
    class Noisy(ln.Module):
        @ln.compact
        def __call__(self, x, train):
            h = ln.Dense(3)(x)
            noise = jax.random.normal(self.make_rng("noise"), h.shape)
            return ln.Dropout(0.5, deterministic=not train)(h) + 0.1 * noise

    x = ej.ones(2, 4)
    ej.manual_seed(0)
    m = nn.from_flax(Noisy(), x, rng_collections=("dropout", "noise"), eval_rng=True)
    with ej.no_grad():
        a = m(x, True).numpy()  # the mode argument given positionally is not passed twice
        assert a.shape == (2, 3)
        m.eval()
        e1, e2 = m(x).numpy(), m(x).numpy()  # eval_rng: the generator feeds "noise" in eval too
        assert not np.array_equal(e1, e2)
        assert not np.any(e1 == 0)  # but dropout is off
