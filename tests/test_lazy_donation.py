"""Lazy mode donates the old buffers of the state a graph overwrites (parameters, optimizer
moments) -- unless something else still references them -- without extra traces."""

from __future__ import annotations

import contextlib

import numpy as np

import eagerjax as ej
from eagerjax import _lazy

nn = ej.nn
F = nn.functional


def _setup(width: int = 4, hidden: int = 8, lr: float = 0.1):
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, 2))
    opt = ej.optim.Adam(model.parameters(), lr=lr)
    x, y = ej.randn(5, width), ej.randint(0, 2, (5,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, x, step


def _donations(monkeypatch) -> list:
    """The donated input slots of every flush (read from the graph's cache key)."""
    seen = []
    graph = _lazy._the_graph()
    real = graph.flush

    def spy(why="explicit"):
        pending = bool(graph.nodes)
        real(why)
        if pending:
            seen.append(graph._last_key[3])

    monkeypatch.setattr(graph, "flush", spy)
    return seen


def test_state_buffers_are_donated_and_graph_traced_once(monkeypatch):
    seen = _donations(monkeypatch)
    model, opt, x, step = _setup()
    before = ej.lazy_stats()["traces"]
    for _ in range(4):
        with ej.lazy():
            step()
    assert ej.lazy_stats()["traces"] - before == 1
    # 4 parameters + the 2 packed Adam moment columns + the shared step count, every iteration
    assert [len(d) for d in seen] == [7] * 4
    assert not x._value.is_deleted()  # the input batch is read, never overwritten


def test_aliased_old_values_are_not_donated(monkeypatch):
    seen = _donations(monkeypatch)
    model, opt, x, step = _setup()
    kept = model[0].weight.detach()  # shares the weight's buffer
    with ej.lazy():
        step()
    assert len(seen[-1]) == 6
    assert not kept._value.is_deleted()
    np.testing.assert_array_equal(kept.numpy().shape, (8, 4))


def test_lazy_matches_eager_with_donation():
    results = []
    for mode in ("eager", "lazy"):
        model, opt, x, step = _setup()
        for _ in range(3):
            if mode == "lazy":
                with ej.lazy():
                    loss = step()
            else:
                loss = step()
        results.append([float(loss)] + [p.detach().numpy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_each_donated_buffer_holds_its_own_tensors_new_value():
    """A donated buffer must go to the same tensor's new value: jax pairs donated inputs with
    outputs by shape in order, and a parameter's buffer handed to its gradient (computed while
    the parameter is still needed) made XLA copy every parameter and moment first."""
    model, opt, x, step = _setup()
    with ej.lazy():
        step()  # creates the Adam moments
    # (the moments are views of one packed array per column: their buffers are the packs')
    packs = {id(t._pack): t._pack for p in model.parameters() for t in opt.state[p].values() if t.dim() > 0}
    assert len(packs) == 2
    state = list(model.parameters()) + list(packs.values())

    def pointers():
        return [t._value.unsafe_buffer_pointer() for t in state]

    before = pointers()
    with ej.lazy():
        step()
    assert pointers() == before


def _run_both(body, steps: int = 3) -> list:
    """``body(model, opt, x, step)`` run eagerly and lazily from the same seed: per mode,
    the parameters afterwards and whatever ``body`` returned."""
    results = []
    for mode in ("eager", "lazy"):
        model, opt, x, step = _setup()
        got = []
        for _ in range(steps):
            if mode == "lazy":
                with ej.lazy():
                    got.append(body(model, opt, x, step))
            else:
                got.append(body(model, opt, x, step))
        results.append(([p.detach().numpy() for p in model.parameters()], got))
    return results


def test_a_post_hook_sees_the_updated_params_in_lazy_mode():
    """With a step post-hook the update is not the flush's tail: the hook reads new values."""

    def body(model, opt, x, step):
        seen = []
        h = opt.register_step_post_hook(lambda o, a, k: seen.append(model[0].weight.sum().item()))
        step()
        h.remove()
        return seen

    (pe, ge), (pl, gl) = _run_both(body)
    np.testing.assert_allclose(np.array(gl), np.array(ge), rtol=1e-5)
    for a, b in zip(pe, pl):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_in_place_edit_of_a_param_before_the_update_in_one_graph():
    """A param overwritten earlier in the same lazy graph (its old buffer donated to that
    write) is then updated by the optimizer: both writes land, in order, as in eager mode."""

    def body(model, opt, x, step):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), ej.zeros(5, dtype=ej.int64))
        loss.backward()
        with ej.no_grad():
            model[0].weight.mul_(0.5)
        alias = model[0].bias.detach()  # keeps the bias's pre-update value
        opt.step()
        return alias.numpy()

    (pe, ge), (pl, gl) = _run_both(body)
    for a, b in zip(ge, gl):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for a, b in zip(pe, pl):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_two_param_groups_update_in_lazy_mode_as_in_eager():
    def run(mode):
        ej.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        opt = ej.optim.Adam([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.01}], lr=0.1)
        x = ej.randn(5, 4)
        for _ in range(3):
            with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
                opt.zero_grad()
                model(x).square().mean().backward()
                opt.step()
        return [p.detach().numpy() for p in model.parameters()]

    for a, b in zip(run("eager"), run("lazy")):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_the_update_is_the_flushs_tail_only_when_nothing_can_read_in_between(monkeypatch):
    calls = []
    real = _lazy.LazyGraph.run_update
    monkeypatch.setattr(_lazy.LazyGraph, "run_update", lambda self, *a: calls.append(1) or real(self, *a))
    model, opt, x, step = _setup()
    with ej.lazy():
        step()
    assert len(calls) == 1
    h = opt.register_step_post_hook(lambda o, a, k: None)
    with ej.lazy():
        step()
    assert len(calls) == 1  # a post-hook may read the params: a plain recorded update
    h.remove()
    with ej.lazy():
        step()
    assert len(calls) == 2


def _wide_setup():
    """A model whose grads are too large to pack (200x200 > 2**15 elements): each ``.grad``
    is its own output, so zero_grad's dropped buffers can be donated to the new ones."""
    model, _, _, step = _setup(200, 200, 0.01)
    return model, step


def test_dropped_grads_are_donated_to_the_new_ones_without_a_retrace(monkeypatch):
    seen = _donations(monkeypatch)
    model, step = _wide_setup()
    before = ej.lazy_stats()["traces"]
    lazy_losses = []
    for _ in range(4):
        with ej.lazy():
            lazy_losses.append(float(step()))
    # the first step's grads take zero stand-ins, so it already runs the steady program
    assert ej.lazy_stats()["traces"] - before == 1
    assert [len(d) for d in seen] == [13 + 4] * 4
    params = [p.detach().numpy() for p in model.parameters()]
    grads = [p.grad.numpy() for p in model.parameters()]
    model, step = _wide_setup()
    eager_losses = [float(step()) for _ in range(4)]
    np.testing.assert_allclose(lazy_losses, eager_losses, rtol=1e-5)
    for a, b in zip(
        params + grads, [p.detach().numpy() for p in model.parameters()] + [p.grad.numpy() for p in model.parameters()]
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_held_old_grad_keeps_its_buffer_and_values(monkeypatch):
    seen = _donations(monkeypatch)
    model, step = _wide_setup()
    with ej.lazy():
        step()
    held = model[0].weight.grad  # the user keeps last step's gradient
    values = held.numpy().copy()
    with ej.lazy():
        step()
    assert len(seen[-1]) == 13 + 3  # every dropped grad but the held one
    assert not held._value.is_deleted()
    np.testing.assert_array_equal(held.numpy(), values)
    assert not np.array_equal(model[0].weight.grad.numpy(), values)


def test_donors_follow_the_graphs_order_not_the_optimizers(monkeypatch):
    """zero_grad() notes owners in the optimizer's parameter order, the first step's backward
    in its own: the dropped grads are appended in the graph's order either way, so the
    steady program is the first one (a Transformer LM retraced once before)."""
    seen = _donations(monkeypatch)
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 3))
    opt = ej.optim.SGD(list(model.parameters())[::-1], lr=0.01)
    x, y = ej.randn(5, 200), ej.randint(0, 3, (5,))
    before = ej.lazy_stats()["traces"]
    for _ in range(3):
        with ej.lazy():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    assert ej.lazy_stats()["traces"] - before == 1, ej.lazy_stats()["recompiles"][-2:]
    assert [len(d) for d in seen] == [4 + 4] * 3  # 4 parameters, 4 dropped grads
