"""ej.compile and lazy mode hand small .grads back packed in one buffer: they must behave
like any .grad."""

from __future__ import annotations

import contextlib
import copy
import pickle

import numpy as np
from test_compile import _adam_step as _model_and_step

import eagerjax as ej
from eagerjax import _gradpack


def _assert_same(model, ref_model):
    for p, q in zip(model.parameters(), ref_model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_small_grads_come_back_in_one_buffer():
    """One packed output for all four grads; each .grad reads like eager's, and a step that
    zeroes its grads never splits the pack (no read between calls)."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _model_and_step()
    ref_model, _, ref_step = _model_and_step()
    c = ej.compile(step)
    for _ in range(4):
        np.testing.assert_allclose(c(x, y).item(), ref_step(x, y).item(), rtol=1e-5)
    entry = c._cache[c._last_key]
    assert entry.pack and len(entry.grad_layout) == 4
    grads = [p.grad for p in model.parameters()]
    assert all(type(g) is _gradpack._PackedGrad and g._pack is not None for g in grads)
    assert len({id(g._pack) for g in grads}) == 1  # one shared buffer
    assert c.stats()["traces"] == 1
    _assert_same(model, ref_model)
    assert all(g._pack is None for g in grads)  # split once read
    assert [tuple(g.shape) for g in grads] == [tuple(p.shape) for p in model.parameters()]
    assert all(g.dtype == p.dtype and g.is_leaf and not g.requires_grad for g, p in zip(grads, model.parameters()))


def test_packed_grads_feed_eager_code_and_other_compiled_steps():
    """Packed grads are read by an eager optimizer step, by clip_grad_norm_, and by another
    compiled step that clips them in place before its optimizer touches the parameters
    (their first read then happens while that step is being traced)."""
    x, y = ej.randn(6, 4), ej.randn(6, 1)
    model, opt, fwd_bwd = _model_and_step(opt_step=False)
    ref_model, ref_opt, ref_fwd_bwd = _model_and_step(opt_step=False)
    c = ej.compile(fwd_bwd)

    @ej.compile
    def update():
        ej.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()

    for i in range(4):
        np.testing.assert_allclose(c(x, y).item(), ref_fwd_bwd(x, y).item(), rtol=1e-5)
        assert type(model[0].weight.grad) is _gradpack._PackedGrad
        ej.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.5)
        if i % 2:
            update()
        else:
            ej.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
        ref_opt.step()
        _assert_same(model, ref_model)


def test_packed_grad_alias_inplace_and_copies():
    """A user's alias keeps the old values after the next step; an in-place op on a packed
    grad detaches it from the pack; pickle and deepcopy give plain Tensors."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _model_and_step()
    c = ej.compile(step)
    c(x, y)
    w, b = model[0].weight, model[0].bias
    g = w.grad
    c(x, y)
    assert w.grad is not g
    old = g.numpy().copy()
    c(x, y)
    np.testing.assert_array_equal(g.numpy(), old)
    gb = b.grad
    expect = gb.numpy() * 2
    gb.mul_(2)
    np.testing.assert_allclose(b.grad.numpy(), expect, rtol=1e-6)
    for other in (pickle.loads(pickle.dumps(w.grad)), copy.deepcopy(w.grad)):
        assert type(other) is ej.Tensor
        np.testing.assert_array_equal(other.numpy(), w.grad.numpy())


def test_packing_needs_small_same_dtype_grads(monkeypatch):
    """Large grads (over the element bound), conv kernels, or an accumulating step keep one
    buffer per grad."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    monkeypatch.setattr(_gradpack, "PACK_MAX_ELEMENTS", 40)  # the model has 49 grad elements
    model, _, step = _model_and_step()
    c = ej.compile(step)
    c(x, y)
    assert not c._cache[c._last_key].pack
    assert all(type(p.grad) is ej.Tensor for p in model.parameters())
    monkeypatch.undo()

    conv = ej.nn.Conv2d(1, 2, 3)  # 20 elements, but a rank-4 kernel

    @ej.compile
    def conv_step(img):
        conv.zero_grad()
        conv(img).sum().backward()

    conv_step(ej.randn(1, 1, 5, 5))
    assert not conv_step._cache[conv_step._last_key].pack
    assert type(conv.weight.grad) is ej.Tensor

    model, opt, _ = _model_and_step()

    @ej.compile
    def accumulate(x, y):
        ej.nn.functional.mse_loss(model(x), y).backward()

    accumulate(x, y)  # grads None before: written unread, packed
    assert c is not None and accumulate._cache[accumulate._last_key].pack
    accumulate(x, y)  # now read and added to: one buffer each
    assert not accumulate._cache[accumulate._last_key].pack
    assert all(type(p.grad) is ej.Tensor for p in model.parameters())


def test_lazy_grads_come_back_packed_and_read_like_eager():
    """A lazy step's grads are one packed result (split on first read); an alias taken
    before the flush, or accumulation into packed grads, still gives eager's values."""
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _model_and_step()
    ref_model, _, ref_step = _model_and_step()
    for _ in range(3):
        with ej.lazy():
            loss = step(x, y)
        np.testing.assert_allclose(loss.item(), ref_step(x, y).item(), rtol=1e-5)
    grads = [p.grad for p in model.parameters()]
    assert all(type(g) is _gradpack._PackedGrad and g._pack is not None for g in grads)
    assert len({id(g._pack) for g in grads}) == 1
    _assert_same(model, ref_model)

    # an alias made before the flush holds the pending value itself: nothing is packed
    model, opt, _ = _model_and_step()
    ref_model, ref_opt, _ = _model_and_step()
    with ej.lazy():
        opt.zero_grad()
        ej.nn.functional.mse_loss(model(x), y).backward()
        alias = model[0].weight.grad.detach()
    ref_opt.zero_grad()
    ej.nn.functional.mse_loss(ref_model(x), y).backward()
    np.testing.assert_allclose(alias.numpy(), ref_model[0].weight.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert model[0].weight.grad._pack is None

    # no zero_grad: the next backward accumulates into (packed) grads
    for m in (model, ref_model):
        with ej.lazy() if m is model else contextlib.nullcontext():
            ej.nn.functional.mse_loss(m(x), y).backward()
        with ej.lazy() if m is model else contextlib.nullcontext():
            ej.nn.functional.mse_loss(m(x), y).backward()
    for p, q in zip(model.parameters(), ref_model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_accumulating_into_packed_grads_still_donates(monkeypatch):
    """Gradient accumulation: the first micro-step's grads come back packed; the next one
    reads them (each split out once, held by its .grad alone), so it can donate them."""
    from eagerjax._compile import CompiledFunction

    fallbacks = []
    orig = CompiledFunction._no_donate
    monkeypatch.setattr(CompiledFunction, "_no_donate", staticmethod(lambda e: fallbacks.append(e) or orig(e)))
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, opt, _ = _model_and_step()
    ref_model, ref_opt, _ = _model_and_step()

    def micro(m):
        return lambda x, y: ej.nn.functional.mse_loss(m(x), y).backward()

    c, ref = ej.compile(micro(model)), micro(ref_model)
    for _ in range(2):
        for _ in range(3):
            c(x, y)
            ref(x, y)
        opt.step()
        ref_opt.step()
        opt.zero_grad()
        ref_opt.zero_grad()
    assert not fallbacks
    c(x, y)
    ref(x, y)
    _assert_same(model, ref_model)


def test_packed_view_sets_every_tensor_field():
    """``_PackedGrad._view`` fills Tensor's slots by hand (it runs on every compiled call):
    a slot added to Tensor must be set there too."""
    import jax.numpy as jnp

    shared = _gradpack._Pack(jnp.arange(6.0), ((0, (2, 3)),))
    view = _gradpack._PackedGrad._view(shared, (0, (2, 3)))
    plain = ej.Tensor._make(jnp.zeros((2, 3)))
    for name in ej.Tensor.__slots__:
        if name not in ("__weakref__", "_value"):
            assert getattr(view, name) == getattr(plain, name), name
    np.testing.assert_array_equal(view.numpy(), np.arange(6.0).reshape(2, 3))


def test_previous_pack_is_donated_whole(monkeypatch):
    """The usual loop (zero_grad inside the step, no grad read between calls) donates the
    previous call's pack as one buffer: XLA writes the new grads over it. A grad someone
    holds, or one already split out, keeps its values; fresh zeros stand in for the pack,
    and the donating program (parameters, state) still runs."""
    from eagerjax import _compile

    fallbacks, dead = [], []
    orig_no_donate, orig_dead = _compile.CompiledFunction._no_donate, _compile._dead_pack

    def spy(entry):
        shared = getattr(entry.plan.grad_dead[0]._grad, "_pack", None)
        prev = id(shared.flat) if shared is not None and shared.flat is not None else None
        del shared  # (a reference here would stop the donation)
        out = orig_dead(entry)
        dead.append((id(out[0]) == prev, out[0]))  # (held only after the decision)
        return out

    monkeypatch.setattr(_compile, "_dead_pack", spy)
    monkeypatch.setattr(
        _compile.CompiledFunction, "_no_donate", staticmethod(lambda e: fallbacks.append(e) or orig_no_donate(e))
    )
    x, y = ej.randn(5, 4), ej.randn(5, 1)
    model, _, step = _model_and_step()
    ref_model, _, ref_step = _model_and_step()
    c = ej.compile(step)
    for _ in range(3):
        c(x, y), ref_step(x, y)
    # the first call's stand-in, then the previous pack twice: each consumed by the call
    assert [was_prev for was_prev, _ in dead] == [False, True, True]
    assert all(a.is_deleted() for _, a in dead)
    held = model[0].weight.grad  # a user's alias: its pack is not donated
    expect = held.numpy().copy()
    ref_model[0].bias.grad.numpy()  # (the reference reads too: same steps)
    c(x, y), ref_step(x, y)
    model[0].bias.grad.numpy()  # split out: the next call cannot donate this pack either
    c(x, y), ref_step(x, y)
    assert [was_prev for was_prev, _ in dead[3:]] == [False, False]
    np.testing.assert_array_equal(held.numpy(), expect)
    assert not fallbacks and c.stats()["traces"] == 1  # the donating program all along
    _assert_same(model, ref_model)
