"""torch.func gaps closed: in-place writes to vmapped arguments and jvp primals, nested
vmap out_dims, functional_call with plain tensor attributes and bad paths, linearize and
replace_all_batch_norm_modules_ — values and gradients against torch in every mode."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import eagerjax as ej
from eagerjax import func

torch = pytest.importorskip("torch")

from test_func import _close  # noqa: E402 - the shared torch comparison (needs torch)

tf = torch.func

MODES = ["eager", "compiled", "lazy"]


def _np(t):
    return np.asarray(t.detach().numpy())


def _fresh(a):
    if isinstance(a, ej.Tensor):
        return ej.tensor(_np(a), requires_grad=a.requires_grad)
    if isinstance(a, dict):
        return {k: _fresh(v) for k, v in a.items()}
    return a


def _run(mode, step, *args, reset=None):
    """``step(*args)`` eagerly, as an ``ej.compile``d step (called twice: the first call, on
    fresh copies of the arguments, compiles; the second runs the cached program; ``reset``
    runs between them) or under ``ej.lazy()``."""
    if mode == "compiled":
        compiled = ej.compile(step)
        compiled(*[_fresh(a) for a in args])
        if reset is not None:
            reset()
        return compiled(*args)
    if mode == "lazy":
        with ej.lazy():
            out = step(*args)
        return out
    return step(*args)


def _pair(a, requires_grad=False):
    a = np.asarray(a, dtype=np.float32)
    return ej.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- vmap writes
def _vmap_writes(lib, f, x, out, y, z, d):
    f.vmap(lambda r, o: o.copy_(r * 2))(x, out)  # a preallocated output buffer

    def setrow(r):
        r[0] = 5.0
        return r

    f.vmap(setrow)(y)

    def inc(r):
        r.add_(lib.arange(4.0))
        return r.sum()

    s = f.vmap(f.vmap(inc))(z)  # nested: the inner write lands in the outer example
    res = f.vmap(lambda r: r.mul_(2) + 1, in_dims=1)(x)  # a batched arg on dim 1
    f.vmap(lambda dd: dd["a"].add_(dd["b"]), in_dims=({"a": 0, "b": 0},))(d)
    return s, res


@pytest.mark.parametrize("mode", MODES)
def test_vmap_writes_into_batched_arguments(mode):
    base = np.arange(6.0).reshape(3, 2)
    tens = [_pair(base), _pair(np.zeros((3, 2))), _pair(np.zeros((3, 2))), _pair(np.zeros((2, 3, 4)))]
    da, dta = _pair(np.zeros((3, 2)))
    db, dtb = _pair([1.0, 2.0, 3.0])
    want = _vmap_writes(torch, tf, *[t for _, t in tens], {"a": dta, "b": dtb})
    ours = [o for o, _ in tens]
    got = _run(mode, lambda *a: _vmap_writes(ej, func, *a), *ours, {"a": da, "b": db})
    _close(got, want)
    for o, t in tens:
        _close(o, t)
    _close(da, dta)
    assert ours[1].tolist() == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]
    assert ours[2].tolist() == [[5.0, 0.0]] * 3


@pytest.mark.parametrize("mode", MODES)
def test_vmap_writes_chunked(mode):
    x, tx = _pair(np.arange(10.0).reshape(5, 2))
    want = tf.vmap(lambda r: r.add_(1).sum(), chunk_size=2)(tx)
    got = _run(mode, lambda x: func.vmap(lambda r: r.add_(1).sum(), chunk_size=2)(x), x)
    _close(got, want)
    _close(x, tx)


@pytest.mark.parametrize("mode", MODES)
def test_vmap_write_carries_the_gradient(mode):
    """A batched write is an ordinary copy_ into the argument: gradients flow through it."""
    x, tx = _pair(np.linspace(-1, 1, 6).reshape(3, 2), requires_grad=True)

    def step(lib, f, x):
        out = lib.zeros(3, 2)
        r = f.vmap(lambda r, o: o.copy_(r.sin() * 2))(x, out)
        loss = (out * out).sum() + r.sum()
        loss.backward()
        return loss, out

    tl, tout = step(torch, tf, tx)
    if mode == "compiled":
        loss, out = ej.compile(lambda x: step(ej, func, x))(x)
    elif mode == "lazy":
        with ej.lazy():
            loss, out = step(ej, func, x)
    else:
        loss, out = step(ej, func, x)
    _close(loss, tl)
    _close(out, tout)
    _close(x.grad, tx.grad)


def test_vmap_write_of_a_per_example_value_into_an_unbatched_argument_raises():
    with pytest.raises(RuntimeError, match="per-example value"):
        func.vmap(lambda r, z: z.copy_(r), in_dims=(0, None))(ej.ones(3, 2), ej.zeros(2))
    # an example-independent write to it is kept, as in torch
    z, tz = _pair([0.0, 0.0])
    func.vmap(lambda r, z: (z.fill_(7.0), r * 2)[1], in_dims=(0, None))(ej.ones(3, 2), z)
    tf.vmap(lambda r, z: (z.fill_(7.0), r * 2)[1], in_dims=(0, None))(torch.ones(3, 2), tz)
    _close(z, tz)


# ----------------------------------------------------------------------------- jvp writes
@pytest.mark.parametrize("mode", MODES)
def test_jvp_writes_primal_and_tangent(mode):
    def step(lib, f, p, q, tp, tq):
        def fn(p, q):
            p.mul_(3)
            return (p * q).sin()

        return f.jvp(fn, (p, q), (tp, tq))

    arrays = ([1.0, 2.0], [0.5, -1.0], [1.0, 0.5], [0.0, 2.0])
    ours = [_pair(a)[0] for a in arrays]
    theirs = [_pair(a)[1] for a in arrays]
    want = step(torch, tf, *theirs)
    got = _run(mode, lambda *a: step(ej, func, *a), *ours)
    _close(got, want)
    for o, t in zip(ours, theirs):
        _close(o, t)  # p and its tangent updated; q and its tangent untouched
    assert ours[0].tolist() == [3.0, 6.0] and ours[2].tolist() == [3.0, 1.5]


@pytest.mark.parametrize("mode", MODES)
def test_jvp_written_tangent_carries_the_gradient(mode):
    v, tv = _pair([1.0, -2.0], requires_grad=True)

    def step(lib, f, v):
        t = v * 1.0
        p = lib.tensor([0.5, 2.0])
        out, jo = f.jvp(lambda p: p.mul_(3).sin_(), (p,), (t,))
        loss = (t * t).sum() + jo.sum()
        loss.backward()
        return loss, p

    want = step(torch, tf, tv)
    if mode == "compiled":
        got = ej.compile(lambda v: step(ej, func, v))(v)
    elif mode == "lazy":
        with ej.lazy():
            got = step(ej, func, v)
    else:
        got = step(ej, func, v)
    _close(got, want)
    _close(v.grad, tv.grad)


# ----------------------------------------------------------------------------- out_dims
def _out_dims_case(f, x):
    a = f.vmap(lambda x: {"a": x * 2, "b": (x, x.cos())}, out_dims={"a": 1, "b": (0, 1)})(x)
    b = f.vmap(lambda x: (x, (x.sin(), x)), out_dims=(0, (1, 0)))(x)
    c = f.vmap(lambda x: (x, (x.sin(), x)), out_dims=(1, 0))(x)  # a prefix: 0 for the inner pair
    d = f.vmap(lambda x: x * 3, out_dims=(1,))(x)  # a lone tensor takes a one-entry tuple
    e = f.vmap(lambda x: [x * 2, x.exp()], out_dims=[1, 0])(x)
    return a, b, c, d, e


@pytest.mark.parametrize("mode", MODES)
def test_vmap_nested_out_dims(mode):
    x, tx = _pair(np.arange(6.0).reshape(3, 2) / 5, requires_grad=True)

    def step(lib, f, x):
        res = _out_dims_case(f, x)
        flat = [res[0]["a"], *res[0]["b"], res[1][0], *res[1][1], res[2][0], *res[2][1], res[3], *res[4]]
        loss = sum((t * (i + 1)).sin().sum() for i, t in enumerate(flat))
        loss.backward()
        return res, loss

    want, tl = step(torch, tf, tx)
    if mode == "compiled":
        got, loss = ej.compile(lambda x: step(ej, func, x))(x)
    elif mode == "lazy":
        with ej.lazy():
            got, loss = step(ej, func, x)
    else:
        got, loss = step(ej, func, x)
    _close(got[0], want[0])
    _close(list(got[1:]), list(want[1:]))
    _close(loss, tl)
    _close(x.grad, tx.grad)


def test_vmap_out_dims_errors():
    x = ej.ones(3, 2)
    for bad in ([0, (0, 1)], {"a": 0}, (0, (1, 0), 2), (1,)):
        with pytest.raises(ValueError, match="out_dims is not compatible with the structure of `outputs`"):
            func.vmap(lambda x: (x, (x, x)), out_dims=bad)(x)
        with pytest.raises(ValueError, match="out_dims is not compatible with the structure of `outputs`"):
            tf.vmap(lambda x: (x, (x, x)), out_dims=bad)(torch.ones(3, 2))
    with pytest.raises(ValueError, match="out_dims is not compatible"):
        func.vmap(lambda x: x, out_dims=(1, 0))(x)
    for bad in (1.5, (0, "a")):
        with pytest.raises(ValueError, match="`out_dims` must be an int, None or a python collection of ints"):
            func.vmap(lambda x: (x, x), out_dims=bad)(x)
        with pytest.raises(ValueError, match="`out_dims` must be an int, None or a python collection of ints"):
            tf.vmap(lambda x: (x, x), out_dims=bad)(torch.ones(3, 2))


# ----------------------------------------------------------------------------- functional_call
def _attr_model(lib):
    class Inner(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(2, 2)
            self.shift = lib.tensor([0.5, -0.5])  # a plain attribute

        def forward(self, x):
            return self.lin(x) + self.shift

    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.scale = lib.tensor(2.0)  # a plain attribute, not a buffer
            self.name = "m"

        def forward(self, x):
            return self.inner(x) * self.scale * getattr(self, "extra", 1.0)

    return M()


@pytest.mark.parametrize("mode", MODES)
def test_functional_call_swaps_plain_attributes(mode):
    tm, m = _attr_model(torch), _attr_model(ej)
    m.load_state_dict({k: ej.tensor(_np(v)) for k, v in tm.state_dict().items()})
    x, tx = _pair([[1.0, 2.0], [3.0, -1.0]])

    def step(lib, f, mod, x, scale):
        extra = lib.tensor(10.0)
        vals = {"scale": scale, "extra": extra, "inner.shift": lib.tensor([1.0, 2.0])}
        out = f.functional_call(mod, vals, (x,))
        loss = out.sum()
        loss.backward()
        return out

    s, ts = _pair(5.0, requires_grad=True)
    want = step(torch, tf, tm, tx, ts)
    got = _run(mode, lambda x, s: step(ej, func, m, x, s), x, s, reset=lambda: m.zero_grad(set_to_none=True))
    _close(got, want)
    _close(s.grad, ts.grad)
    _close(m.inner.lin.weight.grad, tm.inner.lin.weight.grad)
    # the module is unchanged afterwards
    assert m.scale.item() == 2.0 and m.inner.shift.tolist() == [0.5, -0.5]
    assert not hasattr(m, "extra") and not hasattr(tm, "extra")
    assert "scale" not in dict(m.named_buffers())


def test_functional_call_bad_keys_raise_torchs_errors():
    for lib, f in ((torch, tf), (ej, func)):
        seq = lib.nn.Sequential(lib.nn.Linear(2, 2))
        with pytest.raises(AttributeError, match=r"^Sequential has no attribute `1`$"):
            f.functional_call(seq, {"1.weight": lib.eye(2)}, (lib.ones(1, 2),))
        with pytest.raises(AttributeError, match=r"^Linear has no attribute `lin`$"):
            f.functional_call(seq, {"0.lin.weight": lib.eye(2)}, (lib.ones(1, 2),))
        m = _attr_model(lib)
        with pytest.raises(TypeError, match=r"^attribute `name`: m is not an instance of torch.Tensor$"):
            f.functional_call(m, {"name": lib.ones(1)}, (lib.ones(1, 2),))
        with pytest.raises(TypeError, match=r"^submodule `scale`: .* is not an instance of torch.nn.Module$"):
            f.functional_call(m, {"scale.x": lib.ones(1)}, (lib.ones(1, 2),))
        with pytest.raises(TypeError, match="is not an instance of torch.Tensor"):
            f.functional_call(m, {"scale": 3.0}, (lib.ones(1, 2),))
        with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'scale'"):
            f.functional_call(m, {"scale": lib.ones(())}, (lib.ones(1, 2),), strict=True)
        # nothing was left swapped in by a failed call
        assert m.scale.item() == 2.0 and not hasattr(m, "extra")
        assert tuple(seq[0].weight.shape) == (2, 2) and seq[0].weight is dict(seq.named_parameters())["0.weight"]


# ----------------------------------------------------------------------------- linearize
def _lin_fn(lib):
    def fn(x, y):
        return {"s": (x * y).sin(), "p": (x.exp() * 2, y.sum())}

    return fn


@pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node")  # (torch's linearize)
@pytest.mark.parametrize("mode", MODES)
def test_linearize(mode):
    x, tx = _pair([0.5, 1.0, -2.0], requires_grad=True)
    y, ty = _pair([1.5, -0.5, 0.25])
    v, tv = _pair([1.0, 2.0, 3.0], requires_grad=True)
    w, tw = _pair([0.0, 1.0, -1.0])

    def step(lib, f, x, y, v, w):
        out, jvp_fn = f.linearize(_lin_fn(lib), x, y)
        j1 = jvp_fn(v, w)
        j2 = jvp_fn(w, v)  # reusable
        loss = out["s"].sum() + j1["p"][0].pow(2).sum() + j2["s"].sum()
        loss.backward()
        return out, j1, j2

    want = step(torch, tf, tx, ty, tv, tw)
    got = _run(mode, lambda *a: step(ej, func, *a), x, y, v, w)
    _close(got, want)
    _close(x.grad, tx.grad)  # through the output (a plain call of the function)
    _close(v.grad, tv.grad)  # through jvp_fn (linear in the tangents)


@pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node")
def test_linearize_snapshot_vmap_and_errors():
    res = {}
    for lib, f in ((torch, tf), (ej, func)):
        x = lib.tensor([0.5, 1.0, 2.0])
        out, jvp_fn = f.linearize(lambda x: x.sin() * x, x)
        before = jvp_fn(lib.ones(3))
        x.mul_(10)  # a later write to the primal does not move the linearization point
        res[lib] = (out, before, jvp_fn(lib.ones(3)), f.vmap(jvp_fn)(lib.eye(3)))
        with pytest.raises(RuntimeError, match=r"tangent:0 with shape .*\[2\]\) in flattened pytree doesn't match"):
            jvp_fn(lib.ones(2))
        with pytest.raises(RuntimeError, match="tangent:0 with dtype .*float16 in flattened pytree doesn't match"):
            jvp_fn(lib.ones(3, dtype=lib.float16))
        with pytest.raises(RuntimeError, match="to have the same argspec as the primals"):
            jvp_fn(lib.ones(3), lib.ones(3))
    _close(list(res[ej]), list(res[torch]))
    _close(res[ej][1], res[ej][2])


# ----------------------------------------------------------------------------- batch norm
def _bn_model(lib):
    return lib.nn.Sequential(
        lib.nn.Linear(3, 4),
        lib.nn.BatchNorm1d(4),
        lib.nn.Sequential(lib.nn.BatchNorm1d(4, momentum=None), lib.nn.Tanh()),
        lib.nn.BatchNorm1d(4, track_running_stats=False),
    )


@pytest.mark.parametrize("mode", MODES)
def test_replace_all_batch_norm_modules_(mode):
    tm, m = _bn_model(torch), _bn_model(ej)
    m.load_state_dict({k: ej.tensor(_np(v)) for k, v in tm.state_dict().items()})
    assert tf.replace_all_batch_norm_modules_(tm) is tm
    assert func.replace_all_batch_norm_modules_(m) is m
    for tb, b in zip(tm.modules(), m.modules()):
        if isinstance(tb, torch.nn.modules.batchnorm._NormBase):
            assert b.track_running_stats == tb.track_running_stats
            for k in ("running_mean", "running_var", "num_batches_tracked"):
                assert (getattr(b, k) is None) == (getattr(tb, k) is None)
    assert sorted(dict(m.named_buffers())) == sorted(dict(tm.named_buffers())) == []
    assert sorted(m.state_dict()) == sorted(tm.state_dict())
    # an InstanceNorm is no BatchNorm: its statistics stay
    for lib, f in ((torch, tf), (ej, func)):
        inorm = f.replace_all_batch_norm_modules_(lib.nn.InstanceNorm1d(4, track_running_stats=True))
        assert inorm.track_running_stats and sorted(dict(inorm.named_buffers())) == [
            "num_batches_tracked",
            "running_mean",
            "running_var",
        ]
    # a batch of batches through the train-mode model: vmap works now
    xs = np.linspace(-2, 2, 2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)

    def step(lib, f, mod, x):
        out = f.vmap(mod)(x)
        loss = out.pow(2).sum()
        loss.backward()
        return out

    want = step(torch, tf, tm, torch.tensor(xs))
    got = _run(mode, lambda x: step(ej, func, m, x), ej.tensor(xs), reset=lambda: m.zero_grad(set_to_none=True))
    _close(got, want, 1e-4)
    for (n, tp), p in zip(tm.named_parameters(), m.parameters()):
        _close(p.grad, tp.grad, 1e-4)


@pytest.mark.parametrize("mode", ["eager", "compile", "lazy"])
def test_vjp_fn_sees_the_forwards_dropout_mask(mode):
    """vjp_fn recomputes the function: from the generator state before the forward, so the
    gradient is zero exactly where dropout zeroed the output, as torch's is."""

    def run(x):
        out, fn = ej.func.vjp(lambda v: ej.nn.functional.dropout(v, 0.5, training=True), x)
        (g,) = fn(ej.ones(64))
        return out, g

    ej.manual_seed(3)
    x = ej.ones(64)
    if mode == "compile":
        out, g = ej.compile(run)(x)
    else:
        with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
            out, g = run(x)
    kept = out.numpy() != 0
    assert 0 < kept.sum() < 64
    np.testing.assert_array_equal(g.numpy() != 0, kept)


# ----------------------------------------------------------------------------- functionalize
def _mutating(lib):
    def fn(x, buf):
        y = x.clone()
        y.mul_(2).add_(1)  # intermediate mutations
        buf.add_(y.detach())  # a write to an argument: applied when the function returns
        z = y.exp()  # (not a view: views are copies here, see README)
        z.sin_()
        return y.sum() + z.pow(2).sum()

    return fn


@pytest.mark.filterwarnings("ignore:There is a performance drop because we have not yet implemented the batching rule")
@pytest.mark.parametrize("remove", ["mutations", "mutations_and_views"])
@pytest.mark.parametrize("mode", MODES)
def test_functionalize(mode, remove):
    x, tx = _pair([[0.5, 1.0], [-2.0, 0.25]], requires_grad=True)
    b, tb = _pair([[0.0, 1.0], [2.0, 3.0]])

    def step(lib, f, x, b):
        ff = f.functionalize(_mutating(lib), remove=remove)
        out = ff(x, b)
        g = f.grad(lambda x: f.functionalize(_mutating(lib), remove=remove)(x, b.clone()))(x)
        per = f.vmap(ff)(x.detach(), b.clone())
        out.backward()
        return out, g, per

    want = step(torch, tf, tx, tb)
    got = _run(mode, lambda *a: step(ej, func, *a), x, b)
    _close(got, want)
    _close(x.grad, tx.grad)
    _close(b, tb)
    assert func.functionalize(_mutating(ej)).__name__ == "fn"


def test_functionalize_rejects_bad_remove():
    for f in (tf, func):
        with pytest.raises(RuntimeError, match=r"received invalid argument for remove=views\. Valid options are"):
            f.functionalize(lambda x: x, remove="views")
