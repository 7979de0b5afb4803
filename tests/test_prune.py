"""nn.utils.prune against torch: masks and values of the deterministic methods, counts and
structure of the random ones, iterative pruning, remove(), errors in torch's words,
gradients, and a pruned model trained alike eager, compiled and lazy."""

from __future__ import annotations

import contextlib
import math

import eagerjax.nn.utils.prune as prune
import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_close

torch = pytest.importorskip("torch")
tprune = pytest.importorskip("torch.nn.utils.prune")

X = np.random.RandomState(0).randn(5, 6).astype("float32")
XC = np.random.RandomState(1).randn(2, 3, 6, 6).astype("float32")


def _copy_into(ours, theirs) -> None:
    """Load torch's state dict into ours (same keys by construction)."""
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(sd)
    ours.load_state_dict(sd)


def _pair(kind: str = "linear"):
    torch.manual_seed(0)
    if kind == "linear":
        theirs, ours = torch.nn.Linear(6, 4), nn.Linear(6, 4)
    else:
        theirs, ours = torch.nn.Conv2d(3, 5, 3), nn.Conv2d(3, 5, 3)
    _copy_into(ours, theirs)
    return ours, theirs


def _np(t) -> np.ndarray:
    return t.detach().numpy()


def _same_pruning(ours, theirs, name: str = "weight") -> None:
    """Same keys, same masks and pruned values (exactly), same hooks."""
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    np.testing.assert_array_equal(_np(getattr(ours, name + "_mask")), _np(getattr(theirs, name + "_mask")))
    np.testing.assert_array_equal(_np(getattr(ours, name)), _np(getattr(theirs, name)))
    assert not isinstance(getattr(ours, name), nn.Parameter)
    assert [type(h).__name__ for h in ours._forward_pre_hooks.values()] == [
        type(h).__name__ for h in theirs._forward_pre_hooks.values()
    ]


NAMES = (
    "BasePruningMethod PruningContainer Identity RandomUnstructured L1Unstructured RandomStructured LnStructured "
    "CustomFromMask identity random_unstructured l1_unstructured random_structured ln_structured "
    "global_unstructured custom_from_mask remove is_pruned"
).split()


def test_module_paths_and_names() -> None:
    import eagerjax.nn.utils

    assert eagerjax.nn.utils.prune is prune
    from eagerjax.nn.utils import prune as p2

    assert p2 is prune
    for name in NAMES:
        assert hasattr(tprune, name) and hasattr(prune, name), name
    assert issubclass(prune.L1Unstructured, prune.BasePruningMethod)
    assert [getattr(prune, c).PRUNING_TYPE for c in ("Identity", "RandomStructured", "CustomFromMask")] == [
        "unstructured",
        "structured",
        "global",
    ]


@pytest.mark.parametrize("amount", [0, 3, 0.25, 0.5, 1.0, 24])
def test_l1_unstructured_matches_torch(amount) -> None:
    ours, theirs = _pair()
    prune.l1_unstructured(ours, "weight", amount=amount)
    tprune.l1_unstructured(theirs, "weight", amount=amount)
    _same_pruning(ours, theirs)


@pytest.mark.parametrize(("n", "dim", "amount"), [(2, 0, 2), (1, 1, 0.4), (math.inf, -1, 1), (3, 0, 0.5), (2, 0, 5)])
def test_ln_structured_matches_torch(n, dim, amount) -> None:
    ours, theirs = _pair("conv")
    prune.ln_structured(ours, "weight", amount=amount, n=n, dim=dim)
    tprune.ln_structured(theirs, "weight", amount=amount, n=n, dim=dim)
    _same_pruning(ours, theirs)


def test_importance_scores_identity_and_custom_mask() -> None:
    ours, theirs = _pair("conv")
    scores = np.random.RandomState(2).randn(5, 3, 3, 3).astype("float32")
    prune.l1_unstructured(ours, "weight", amount=20, importance_scores=ej.tensor(scores))
    tprune.l1_unstructured(theirs, "weight", amount=20, importance_scores=torch.tensor(scores))
    _same_pruning(ours, theirs)
    prune.ln_structured(ours, "weight", 0.4, 1, 1, importance_scores=ej.tensor(scores))
    tprune.ln_structured(theirs, "weight", 0.4, 1, 1, importance_scores=torch.tensor(scores))
    _same_pruning(ours, theirs)

    ours, theirs = _pair()
    prune.identity(ours, "bias")
    tprune.identity(theirs, "bias")
    _same_pruning(ours, theirs, "bias")
    mask = (np.random.RandomState(3).rand(4, 6) > 0.5).astype("float32")
    prune.custom_from_mask(ours, "weight", mask=ej.tensor(mask))
    tprune.custom_from_mask(theirs, "weight", mask=torch.tensor(mask))
    _same_pruning(ours, theirs)


def test_iterative_pruning_combines_masks_like_torch() -> None:
    ours, theirs = _pair("conv")
    steps = [
        ("l1_unstructured", {"amount": 0.3}),
        ("ln_structured", {"amount": 1, "n": 2, "dim": 0}),
        ("l1_unstructured", {"amount": 10}),
        ("ln_structured", {"amount": 0.5, "n": 1, "dim": 1}),
        ("identity", {}),
        ("custom_from_mask", {"mask": "half"}),
    ]
    half = (np.arange(135).reshape(5, 3, 3, 3) % 2).astype("float32")
    for fn, kw in steps:
        ko, kt = dict(kw), dict(kw)
        if kw.get("mask") == "half":
            ko["mask"], kt["mask"] = ej.tensor(half), torch.tensor(half)
        getattr(prune, fn)(ours, "weight", **ko)
        getattr(tprune, fn)(theirs, "weight", **kt)
        _same_pruning(ours, theirs)
    (container,) = ours._forward_pre_hooks.values()
    assert isinstance(container, prune.PruningContainer) and len(container) == len(steps)
    assert [type(m).__name__ for m in container] == [
        type(m).__name__ for m in next(iter(theirs._forward_pre_hooks.values()))
    ]
    assert isinstance(container[0], prune.L1Unstructured)
    out = ours(ej.tensor(XC))
    assert_close(out.detach().numpy(), _np(theirs(torch.tensor(XC))), rtol=1e-5, atol=1e-5)


def test_global_unstructured_matches_torch() -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    _copy_into(ours, theirs)
    prune.l1_unstructured(ours[0], "weight", amount=10)  # an earlier mask is kept
    tprune.l1_unstructured(theirs[0], "weight", amount=10)
    pairs = lambda m: [(m[0], "weight"), (m[0], "bias"), (m[2], "weight")]  # noqa: E731
    scores = np.random.RandomState(4).randn(3, 8).astype("float32")
    prune.global_unstructured(
        pairs(ours), prune.L1Unstructured, importance_scores={(ours[2], "weight"): ej.tensor(scores)}, amount=0.4
    )
    tprune.global_unstructured(
        pairs(theirs),
        tprune.L1Unstructured,
        importance_scores={(theirs[2], "weight"): torch.tensor(scores)},
        amount=0.4,
    )
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for i, name in [(0, "weight"), (0, "bias"), (2, "weight")]:
        _same_pruning(ours[i], theirs[i], name)
    assert prune.is_pruned(ours) and not prune.is_pruned(nn.Linear(2, 2))


def test_random_methods_counts_structure_and_seed() -> None:
    def masks(seed: int):
        ej.manual_seed(seed)
        m = nn.Conv2d(3, 8, 3)
        prune.random_unstructured(m, "bias", amount=3)
        prune.random_structured(m, "weight", amount=0.25, dim=0)
        prune.random_structured(m, "weight", amount=2, dim=0)  # among the 6 channels left
        prune.random_unstructured(m, "weight", amount=0.5)  # half of the 108 entries left
        return m.bias_mask.numpy(), m.weight_mask.numpy()

    bias, weight = masks(0)
    assert bias.sum() == 5 and set(np.unique(bias)) <= {0.0, 1.0}
    per_channel = weight.reshape(8, -1).sum(1)
    assert (per_channel == 0).sum() == 4  # 2 + 2 whole channels
    assert weight.sum() == 54
    for a, b in zip(masks(0), masks(0)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(masks(0), masks(1)))

    # torch prunes as many: the same counts for the same amounts
    t = torch.nn.Conv2d(3, 8, 3)
    tprune.random_unstructured(t, "bias", amount=3)
    tprune.random_structured(t, "weight", amount=0.25, dim=0)
    tprune.random_structured(t, "weight", amount=2, dim=0)
    tprune.random_unstructured(t, "weight", amount=0.5)
    assert t.bias_mask.sum().item() == bias.sum() and t.weight_mask.sum().item() == weight.sum()


def test_remove_makes_pruning_permanent() -> None:
    ours, theirs = _pair()
    orig = ours.weight
    prune.l1_unstructured(ours, "weight", amount=0.5)
    tprune.l1_unstructured(theirs, "weight", amount=0.5)
    assert ours.weight_orig is orig
    assert prune.remove(ours, "weight") is ours
    tprune.remove(theirs, "weight")
    assert ours.weight is orig and isinstance(ours.weight, nn.Parameter)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    np.testing.assert_array_equal(_np(ours.weight), _np(theirs.weight))
    assert not prune.is_pruned(ours) and not ours._forward_pre_hooks
    assert not hasattr(ours, "weight_orig") and not hasattr(ours, "weight_mask")


def test_state_dict_round_trip_with_torch() -> None:
    ours, theirs = _pair()
    tprune.l1_unstructured(theirs, "weight", amount=7)
    prune.random_unstructured(ours, "weight", amount=7)  # same keys, other mask
    _copy_into(ours, theirs)  # loading the mask buffer takes torch's mask
    ours(ej.tensor(X))  # the hook recomputes weight from the loaded orig and mask
    np.testing.assert_array_equal(_np(ours.weight), _np(theirs.weight))


def _torch_error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the oracle's error, whatever it is
        return type(e), str(e)
    raise AssertionError("torch did not raise")


@pytest.mark.parametrize(
    "call",
    [
        lambda P, m, T: P.l1_unstructured(m.Linear(3, 2), "weight", amount=7),
        lambda P, m, T: P.l1_unstructured(m.Linear(3, 2), "weight", amount=1.5),
        lambda P, m, T: P.random_unstructured(m.Linear(3, 2), "weight", amount=-1),
        lambda P, m, T: P.l1_unstructured(m.Linear(3, 2), "weight", amount="a"),
        lambda P, m, T: P.l1_unstructured(m.Linear(3, 2), "foo", amount=1),
        lambda P, m, T: P.remove(m.Linear(3, 2), "weight"),
        lambda P, m, T: P.ln_structured(m.Linear(3, 2), "bias", amount=1, n=2, dim=0),
        lambda P, m, T: P.ln_structured(m.Linear(3, 2), "weight", amount=1, n=2, dim=2),
        lambda P, m, T: P.random_structured(m.Linear(3, 2), "weight", amount=4, dim=0),
        lambda P, m, T: P.global_unstructured(
            [(m.Linear(3, 2), "weight")], pruning_method=P.RandomStructured, amount=1
        ),
        lambda P, m, T: P.global_unstructured(3, pruning_method=P.L1Unstructured, amount=1),
        lambda P, m, T: P.global_unstructured([], pruning_method=P.L1Unstructured, importance_scores=3, amount=1),
        lambda P, m, T: P.l1_unstructured(m.Linear(3, 2), "weight", amount=1, importance_scores=T.ones(3)),
        lambda P, m, T: P.custom_from_mask(m.Linear(3, 2), "weight", mask=T.ones(3)),
        lambda P, m, T: P.L1Unstructured(0.3).prune(T.ones(3), importance_scores=T.ones(2)),
        lambda P, m, T: P.L1Unstructured(0.3).apply_mask(m.Linear(3, 2)),
        lambda P, m, T: P.PruningContainer(P.Identity()).add_pruning_method(3),
    ],
)
def test_errors_in_torchs_words(call) -> None:
    etype, msg = _torch_error(lambda: call(tprune, torch.nn, torch))
    with pytest.raises(etype) as info:
        call(prune, nn, ej)
    assert str(info.value) == msg.replace("torch.nn.utils.prune.", "eagerjax.nn._prune.")


def test_failed_pruning_leaves_the_module_usable() -> None:
    m = nn.Linear(3, 2)
    w = m.weight
    with pytest.raises(ValueError, match="should be smaller than the number of parameters"):
        prune.l1_unstructured(m, "weight", amount=7)
    assert m.weight is w and not prune.is_pruned(m) and "weight_orig" not in m._parameters


def test_prune_method_on_a_tensor() -> None:
    t = np.arange(1, 13, dtype="float32").reshape(3, 4) * np.array([1, -1, 1, -1], "float32")
    ours = prune.L1Unstructured(amount=5).prune(ej.tensor(t))
    theirs = tprune.L1Unstructured(amount=5).prune(torch.tensor(t))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    ours = prune.LnStructured(1, n=2, dim=1).prune(ej.tensor(t), default_mask=ej.ones(3, 4))
    theirs = tprune.LnStructured(1, n=2, dim=1).prune(torch.tensor(t), default_mask=torch.ones(3, 4))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_gradients_of_a_pruned_linear_match_torch() -> None:
    ours, theirs = _pair()
    prune.l1_unstructured(ours, "weight", amount=0.5)
    tprune.l1_unstructured(theirs, "weight", amount=0.5)
    prune.ln_structured(ours, "weight", amount=1, n=2, dim=0)
    tprune.ln_structured(theirs, "weight", amount=1, n=2, dim=0)
    prune.l1_unstructured(ours, "bias", amount=1)
    tprune.l1_unstructured(theirs, "bias", amount=1)
    out, tout = ours(ej.tensor(X)), theirs(torch.tensor(X))
    assert_close(out.detach().numpy(), _np(tout), rtol=1e-5, atol=1e-6)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    for (k, p), (tk, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert k == tk and k.endswith("_orig")
        assert_close(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert (ours.weight_orig.grad.numpy()[ours.weight_mask.numpy() == 0] == 0).all()
    assert ours.weight_mask.grad is None and not ours.weight_mask.requires_grad


def test_mask_computation_traces_under_compile_and_lazy() -> None:
    w = ej.tensor(np.random.RandomState(5).randn(6, 4, 3).astype("float32"))
    ones = ej.ones(6, 4, 3)

    def masks(t):
        return (
            prune.L1Unstructured(0.3).compute_mask(t, ones),
            prune.LnStructured(2, n=1, dim=1).compute_mask(t, ones),
            prune.LnStructured(0.5, n=math.inf, dim=0).compute_mask(t, ones),
        )

    ref = [m.numpy() for m in masks(w)]
    compiled = [m.numpy() for m in ej.compile(masks)(w)]
    with ej.lazy():
        lazy = [m.numpy() for m in masks(w)]
    for r, c, z in zip(ref, compiled, lazy):
        np.testing.assert_array_equal(r, c)
        np.testing.assert_array_equal(r, z)
    assert ref[0].sum() == 72 - round(0.3 * 72) and ref[1].reshape(6, 4, 3).sum() == 6 * 2 * 3


def test_iterative_pruning_in_lazy_mode_matches_eager() -> None:
    def run(lazy: bool):
        m = nn.Linear(6, 4)
        m.load_state_dict(
            {"weight": np.arange(24, dtype="float32").reshape(4, 6) - 11.5, "bias": np.ones(4, "float32")}
        )
        with ej.lazy() if lazy else contextlib.nullcontext():
            prune.l1_unstructured(m, "weight", amount=0.25)
            prune.ln_structured(m, "weight", amount=1, n=2, dim=1)
            prune.l1_unstructured(m, "weight", amount=4)
        return m.weight_mask.numpy(), m.weight.detach().numpy()

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def _train(mode: str):
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    _copy_into(model, theirs)
    prune.l1_unstructured(model[0], "weight", amount=0.4)
    prune.ln_structured(model[0], "weight", amount=2, n=2, dim=0)
    prune.global_unstructured([(model[0], "bias"), (model[2], "weight")], prune.L1Unstructured, amount=6)
    opt = ej.optim.Adam(model.parameters(), lr=0.02)
    x, y = ej.tensor(X), ej.tensor(np.ones((5, 2), "float32"))

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = ej.compile(step) if mode == "compile" else step
    with ej.lazy() if mode == "lazy" else contextlib.nullcontext():
        losses = [float(fn(x, y)) for _ in range(4)]
    return losses, {k: v.numpy() for k, v in model.state_dict().items()}, fn, model, _np(theirs[0].weight)


@pytest.mark.parametrize("mode", ["compile", "lazy"])
def test_training_a_pruned_model_agrees_across_modes(mode: str) -> None:
    losses, state, fn, model, start = _train(mode)
    ref_losses, ref_state, _, ref_model, _ = _train("eager")
    assert ref_losses[-1] < ref_losses[0]
    assert_close(np.array(losses), np.array(ref_losses), rtol=1e-5)
    assert list(state) == list(ref_state) and "0.weight_orig" in state and "2.weight_mask" in state
    for k in ref_state:
        assert_close(state[k], ref_state[k], rtol=1e-5, atol=1e-6)
    if mode == "compile":
        assert fn.stats()["traces"] == 1
    # pruned entries of the originals got zero gradients: Adam never moved them
    moved = state["0.weight_orig"] != start
    assert not (moved & (state["0.weight_mask"] == 0)).any()
    for sub, name in [(model[0], "weight"), (model[0], "bias"), (model[2], "weight")]:
        prune.remove(sub, name)  # works after a compiled step too (recomputes from orig and mask)
    ref = ref_model(ej.tensor(X)).detach().numpy()
    assert_close(model(ej.tensor(X)).detach().numpy(), ref, rtol=1e-5, atol=1e-6)
    assert not prune.is_pruned(model)


def test_training_trajectory_matches_torch() -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    ours = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    _copy_into(ours, theirs)
    for P, m in ((prune, ours), (tprune, theirs)):
        P.l1_unstructured(m[0], "weight", amount=0.4)
        P.ln_structured(m[2], "weight", amount=1, n=1, dim=1)
    opt = ej.optim.SGD(ours.parameters(), lr=0.1)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    y = np.ones((5, 2), "float32")
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        loss = F.mse_loss(ours(ej.tensor(X)), ej.tensor(y))
        tloss = torch.nn.functional.mse_loss(theirs(torch.tensor(X)), torch.tensor(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        assert_close(float(loss), tloss.item(), rtol=1e-5)
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6)
