"""Module state-dict hooks (``register_state_dict_pre_hook``/``_post_hook``, the old-style
``_register_state_dict_hook``, ``register_load_state_dict_pre_hook``/``_post_hook``,
``_register_load_state_dict_pre_hook``), ``Module.to_empty`` and ``Module.set_submodule``,
against torch 2.13: the hook calls each library makes (order, prefixes, keys, metadata,
missing/unexpected keys), what hooks change, the errors, and training after a hooked load
(or ``to_empty``) eager, under ``ej.compile`` and under ``ej.lazy()``."""

from __future__ import annotations

import collections
import contextlib
import copy

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

MODES = ["eager", "compile", "lazy"]
X = np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4)
Y = np.array([0, 1, 2, 0, 1, 2])


@pytest.fixture(autouse=True)
def _eager_after():
    yield
    ej.set_mode("eager")


def _net(lib):
    class Block(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(4, 5)
            self.bn = lib.nn.BatchNorm1d(5)

        def forward(self, x):
            return self.bn(self.fc(x)).relu()

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = lib.nn.Linear(5, 3)
            self.register_buffer("scale", lib.ones(3))

        def forward(self, x):
            return self.head(self.block(x)) * self.scale

    lib.manual_seed(0)
    return Net()


def _pair():
    tm, em = _net(torch), _net(ej)
    em.load_state_dict(tm.state_dict())
    return tm, em


def _arrays(sd) -> dict:
    return {k: np.asarray(v.detach().float().numpy()) for k, v in sd.items()}


def _same_arrays(a: dict, b: dict, tol=1e-6):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=tol, err_msg=k)


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type and text are what is compared
        return type(e).__name__, str(e)
    return None


# ------------------------------------------------------------------ state_dict hooks
def _record_state_dict(lib, keep_vars: bool):
    model = _net(lib)
    calls = []
    for name, m in model.named_modules():

        def pre(mod, prefix, kv, name=name):
            assert mod is model.get_submodule(name)
            calls.append(("pre", name, prefix, kv))

        def post(mod, sd, prefix, meta, name=name):
            calls.append(("post", name, prefix, list(sd), dict(meta)))

        m.register_state_dict_pre_hook(pre)
        m.register_state_dict_post_hook(post)
    sd = model.state_dict(keep_vars=keep_vars)
    return calls, list(sd), dict(sd._metadata), isinstance(sd["head.weight"], lib.nn.Parameter)


@pytest.mark.parametrize("keep_vars", [False, True])
def test_state_dict_hooks_run_in_torch_order_with_prefixes_keys_and_metadata(keep_vars):
    got, want = _record_state_dict(ej, keep_vars), _record_state_dict(torch, keep_vars)
    assert got == want
    assert [c[1] for c in got[0] if c[0] == "post"] == ["block.fc", "block.bn", "block", "head", ""]


def test_state_dict_post_hooks_change_the_dict_in_place():
    def run(lib, model):
        def rename(mod, sd, prefix, meta):  # a submodule's keys renamed in place
            sd[prefix + "w"] = sd.pop(prefix + "weight")

        def root(mod, sd, prefix, meta):
            del sd[prefix + "scale"]
            sd["step"] = lib.tensor(3.0)

        model.head.register_state_dict_post_hook(rename)
        model.register_state_dict_post_hook(root)
        return _arrays(model.state_dict(prefix="m."))

    tm, em = _pair()
    got, want = run(ej, em), run(torch, tm)
    _same_arrays(got, want)
    assert "m.head.w" in got and "m.head.weight" not in got and "m.scale" not in got and "step" in got


def test_state_dict_pre_hook_runs_before_the_module_saves():
    def run(lib):
        model = _net(lib)

        def fill(mod, prefix, keep_vars):
            with lib.no_grad():
                mod.bias.fill_(7.0)

        model.head.register_state_dict_pre_hook(fill)
        return model.state_dict()["head.bias"].numpy().copy()

    np.testing.assert_array_equal(run(ej), run(torch))
    np.testing.assert_array_equal(run(ej), np.full(3, 7.0, np.float32))


def test_a_public_post_hook_must_return_none():
    def run(lib):
        model = _net(lib)
        model.block.register_state_dict_post_hook(lambda mod, sd, prefix, meta: {})
        return _error(model.state_dict)

    assert run(ej) == run(torch) == ("RuntimeError", "state_dict post-hook must return None")


def test_the_old_style_hook_replaces_the_dict_at_the_root_only():
    def run(lib):
        model = _net(lib)
        model.block._register_state_dict_hook(lambda mod, sd, prefix, meta: {"ignored": 1})
        h = model._register_state_dict_hook(lambda mod, sd, prefix, meta: {"n": len(sd)})
        root = model.state_dict()
        h.remove()
        child_only = list(model.state_dict())
        sub = list(model.block.state_dict())  # the block is the root here: its return counts
        return root, child_only, sub

    got, want = run(ej), run(torch)
    assert got == want
    assert got[0] == {"n": 10} and got[2] == ["ignored"]


def test_one_function_cannot_be_both_a_public_and_an_old_style_hook():
    def run(lib):
        def hook(mod, sd, prefix, meta):
            return None

        model = _net(lib)
        model.register_state_dict_post_hook(hook)
        return _error(lambda: model.head._register_state_dict_hook(hook))

    got = run(ej)
    assert got == run(torch)
    assert got[0] == "RuntimeError" and "register_state_dict_post_hook" in got[1]


def test_a_bound_method_can_be_a_public_post_hook():
    # torch 2.13 raises AttributeError here (it marks the function itself); eagerjax accepts it
    class Recorder:
        def __init__(self):
            self.prefixes = []

        def hook(self, mod, sd, prefix, meta):
            self.prefixes.append(prefix)

    rec = Recorder()
    model = _net(ej)
    model.block.register_state_dict_post_hook(rec.hook)
    model.state_dict()
    assert rec.prefixes == ["block."]
    with pytest.raises(AttributeError):
        _net(torch).register_state_dict_post_hook(Recorder().hook)


# ------------------------------------------------------------------ load_state_dict hooks
def _broken_checkpoint(lib, tm):
    """torch's state dict with one key missing and one unexpected, metadata kept."""
    sd = tm.state_dict()
    meta = sd._metadata
    sd = collections.OrderedDict((k, v) for k, v in sd.items() if k != "block.bn.running_var")
    sd["block.fc.extra"] = torch.zeros(2)
    sd._metadata = meta
    return sd


def _record_load(lib, model, sd, strict):
    calls = []
    for name, m in model.named_modules():

        def pre(mod, sd, prefix, meta, strict, missing, unexpected, errors, name=name):
            assert mod is model.get_submodule(name)
            calls.append(("pre", name, prefix, list(sd), dict(meta), strict, list(missing), list(unexpected)))

        def post(mod, keys, name=name):
            calls.append(("post", name, list(keys.missing_keys), list(keys.unexpected_keys)))

        m.register_load_state_dict_pre_hook(pre)
        m.register_load_state_dict_post_hook(post)
    model.head._register_load_state_dict_pre_hook(lambda sd, prefix, *rest: calls.append(("private", prefix)))
    model.head._register_load_state_dict_pre_hook(
        lambda mod, sd, prefix, *rest: calls.append(("private+module", type(mod).__name__, prefix)), with_module=True
    )
    out = _error(lambda: calls.append(("result", tuple(map(list, model.load_state_dict(sd, strict=strict))))))
    return calls, out


@pytest.mark.parametrize("strict", [False, True])
def test_load_hooks_run_in_torch_order_with_the_subtree_dicts_and_running_key_lists(strict):
    tm, em = _pair()
    got = _record_load(ej, em, _broken_checkpoint(ej, tm), strict)
    want = _record_load(torch, _net(torch), _broken_checkpoint(torch, tm), strict)
    assert got == want
    pres = [c for c in got[0] if c[0] == "pre"]
    assert pres[1][:4] == ("pre", "block", "block.", [k for k in pres[0][3] if k.startswith("block.")])
    if strict:
        assert got[1][0] == "RuntimeError" and '"block.bn.running_var"' in got[1][1]


def test_a_load_pre_hook_renames_legacy_keys():
    def run(lib, tm):
        model = _net(lib)

        def legacy(mod, sd, prefix, *rest):
            for name in ("weight", "bias"):
                if prefix + name[0] in sd:
                    sd[prefix + name] = sd.pop(prefix + name[0])

        model.head.register_load_state_dict_pre_hook(legacy)
        sd = {k.replace("head.weight", "head.w").replace("head.bias", "head.b"): v for k, v in tm.state_dict().items()}
        assert "head.w" in sd
        result = model.load_state_dict(sd)
        return tuple(map(list, result)), _arrays(model.state_dict())

    tm = _net(torch)
    with torch.no_grad():
        tm.head.weight.mul_(3.0)
    got, want = run(ej, tm), run(torch, tm)
    assert got[0] == want[0] == ([], [])
    _same_arrays(got[1], want[1])
    _same_arrays(got[1], _arrays(tm.state_dict()))


@pytest.mark.parametrize(
    "edit",
    ["clear", "add_missing", "add_unexpected", "return_value"],
)
def test_load_post_hooks_decide_what_strict_sees(edit):
    def run(lib, tm):
        model = _net(lib)

        def hook(mod, keys):
            if edit == "clear":
                keys.missing_keys.clear()
                keys.unexpected_keys.clear()
            elif edit == "add_missing":
                keys.missing_keys.append("made.up")
            elif edit == "add_unexpected":
                keys.unexpected_keys.append("also.made.up")
            else:
                return keys

        model.block.register_load_state_dict_post_hook(hook)
        sd = _broken_checkpoint(lib, tm) if edit == "clear" else tm.state_dict()
        out = []
        err = _error(lambda: out.append(tuple(map(list, model.load_state_dict(sd)))))
        return err, out

    tm = _net(torch)
    got, want = run(ej, tm), run(torch, tm)
    assert got == want
    if edit == "clear":
        assert got == (None, [([], [])])
    else:
        assert got[0][0] == ("AssertionError" if edit == "return_value" else "RuntimeError")


def test_load_hooks_fire_through_modules_that_override_the_loader():
    """BatchNorm (an old checkpoint without num_batches_tracked), InstanceNorm and a lazy
    Linear override ``_load_from_state_dict``; the hooks still run for them, with their prefix."""

    def build(lib):
        lib.manual_seed(0)
        return lib.nn.Sequential(lib.nn.LazyLinear(3), lib.nn.BatchNorm1d(3), lib.nn.InstanceNorm1d(3, affine=True))

    def run(lib, sd):
        model = build(lib)
        calls = []
        for name, m in model.named_children():
            m.register_load_state_dict_pre_hook(
                lambda mod, sd, prefix, meta, *rest, name=name: calls.append(
                    ("pre", name, prefix, sorted(sd), dict(meta), tuple(mod.weight.shape))
                )
            )
            m.register_load_state_dict_post_hook(lambda mod, keys, name=name: calls.append(("post", name)))
        result = tuple(map(list, model.load_state_dict(sd)))
        return calls, result, _arrays(model.state_dict())

    src = build(torch)
    src[0](torch.ones(2, 4))  # materialized
    with torch.no_grad():
        src[1].running_mean.fill_(0.5)
        src[2].weight.fill_(2.0)
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}  # no metadata
    got, want = run(ej, sd), run(torch, sd)
    assert got[0] == want[0] and got[1] == want[1] == ([], [])
    _same_arrays(got[2], want[2])
    assert (
        "pre",
        "1",
        "1.",
        sorted([k for k in sd if k.startswith("1.")] + ["1.num_batches_tracked"]),
        {},
        (3,),
    ) in got[0]


def test_removed_hooks_do_not_run():
    def run(lib):
        model = _net(lib)
        calls = []
        handles = [
            model.head.register_state_dict_pre_hook(lambda *a: calls.append("sd_pre")),
            model.head.register_state_dict_post_hook(lambda *a: calls.append("sd_post")),
            model.head._register_state_dict_hook(lambda *a: calls.append("sd_old")),
            model.head.register_load_state_dict_pre_hook(lambda *a: calls.append("load_pre")),
            model.head.register_load_state_dict_post_hook(lambda *a: calls.append("load_post")),
            model.head._register_load_state_dict_pre_hook(lambda *a: calls.append("load_pre_old")),
        ]
        model.load_state_dict(model.state_dict())
        first = list(calls)
        for h in handles[::2]:
            h.remove()
        with handles[1], handles[3]:
            pass  # a handle is also a context manager
        calls.clear()
        model.load_state_dict(model.state_dict())
        return first, calls

    got, want = run(ej), run(torch)
    assert got == want
    assert got[0] == ["sd_pre", "sd_post", "sd_old", "load_pre", "load_pre_old", "load_post"]
    assert got[1] == ["load_pre_old"]


def test_a_deepcopy_passes_the_copy_to_its_load_pre_hook():
    def run(lib):
        model = _net(lib)
        seen = []
        model.head.register_load_state_dict_pre_hook(lambda mod, *rest: seen.append(mod))
        clone = copy.deepcopy(model)
        clone.load_state_dict(clone.state_dict())
        model.load_state_dict(model.state_dict())
        return seen[0] is clone.head, seen[1] is model.head

    assert run(ej) == run(torch) == (True, True)


def _train(lib, model, mode: str, steps: int = 3, opt=None):
    opt = opt or lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = lib.tensor(X), lib.tensor(Y)

    def step():
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = ej.compile(step) if (lib is ej and mode == "compile") else step
    losses = []
    with ej.lazy() if (lib is ej and mode == "lazy") else contextlib.nullcontext():
        for _ in range(steps):
            losses.append(float(run()))
    return np.array(losses), _arrays(model.state_dict())


@pytest.mark.parametrize("mode", MODES)
def test_a_model_loaded_through_hooks_trains_as_in_torch(mode):
    def load(lib, ckpt):
        model = _net(lib)

        def legacy(mod, sd, prefix, *rest):  # "block.dense.*" from an older layout
            for k in [k for k in sd if k.startswith(prefix + "dense.")]:
                sd[k.replace("dense.", "fc.")] = sd.pop(k)

        def forgive(mod, keys):  # the buffer was added after the checkpoint was written
            keys.missing_keys[:] = [k for k in keys.missing_keys if k != "scale"]

        model.block.register_load_state_dict_pre_hook(legacy)
        model.register_load_state_dict_post_hook(forgive)
        model.load_state_dict(ckpt)

        def drop(mod, sd, prefix, meta):
            del sd["scale"]

        model.register_state_dict_post_hook(drop)
        return model

    src = _net(torch)
    with torch.no_grad():
        src.scale.fill_(2.0)
        src.block.fc.weight.mul_(-1.5)
    ckpt = {k.replace("fc.", "dense."): v for k, v in src.state_dict().items() if k != "scale"}
    em, tm = load(ej, ckpt), load(torch, ckpt)
    assert "scale" not in em.state_dict() and "scale" not in tm.state_dict()
    (le, se), (lt, st) = _train(ej, em, mode), _train(torch, tm, mode)
    np.testing.assert_allclose(le, lt, rtol=1e-5, atol=1e-6)
    _same_arrays(se, st, tol=1e-5)
    np.testing.assert_array_equal(em.scale.numpy(), np.ones(3, np.float32))


# ------------------------------------------------------------------ to_empty
def _to_empty_facts(lib, recurse: bool):
    model = _net(lib)
    model(lib.tensor(X)).sum().backward()
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    grads = {k: p.grad for k, p in params.items()}
    out = model.to_empty(device="cpu", recurse=recurse)
    new_params = dict(model.named_parameters())
    new_buffers = dict(model.named_buffers())
    return (
        out is model,
        {k: (new_params[k] is p, p.requires_grad, type(p).__name__, tuple(p.shape)) for k, p in params.items()},
        {k: (new_params[k].grad is g, tuple(g.shape)) for k, g in grads.items()},
        {
            k: (new_buffers[k] is b, tuple(new_buffers[k].shape), new_buffers[k].is_floating_point())
            for k, b in buffers.items()
        },
    )


@pytest.mark.parametrize("recurse", [True, False])
def test_to_empty_keeps_parameter_objects_and_replaces_buffers_as_torch(recurse):
    assert _to_empty_facts(ej, recurse) == _to_empty_facts(torch, recurse)


def test_to_empty_checks_its_arguments_and_lazy_parameters():
    model = ej.nn.Linear(2, 2)
    with pytest.raises(TypeError):
        model.to_empty("cpu")  # keyword only, as torch
    with pytest.raises(RuntimeError):
        model.to_empty(device="nonsense")
    for lib in (ej, torch):
        with pytest.raises(ValueError, match="uninitialized parameter"):
            lib.nn.LazyLinear(3).to_empty(device="cpu")
    w = ej.nn.Linear(2, 3, dtype=ej.bfloat16).to_empty(device=None).weight
    assert w.dtype == ej.bfloat16 and w.requires_grad and np.all(w.detach().float().numpy() == 0)


@pytest.mark.parametrize("mode", MODES)
def test_to_empty_then_reset_parameters_trains(mode):
    tm = _net(torch)
    em = _net(ej)
    e_opt = ej.optim.SGD(em.parameters(), lr=0.1, momentum=0.9)  # made before: holds the same objects
    t_opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    for m in (tm, em):
        m.to_empty(device="cpu")
    for m in em.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    w = em.block.fc.weight.detach().numpy()
    assert np.all(np.abs(w) <= 0.5) and np.count_nonzero(w) == w.size  # kaiming-uniform bound 1/sqrt(4)
    np.testing.assert_array_equal(em.block.bn.running_var.numpy(), np.ones(5, np.float32))
    np.testing.assert_array_equal(em.block.bn.weight.detach().numpy(), np.ones(5, np.float32))
    # the same values on both sides (scale is a buffer to_empty zeroed: reset by hand)
    with torch.no_grad():
        tm.scale.fill_(1.0)
    tm.load_state_dict(_net(torch).state_dict())
    em.load_state_dict(tm.state_dict())
    (le, se), (lt, st) = _train(ej, em, mode, opt=e_opt), _train(torch, tm, mode, opt=t_opt)
    np.testing.assert_allclose(le, lt, rtol=1e-5, atol=1e-6)
    _same_arrays(se, st, tol=1e-5)
    assert le[-1] < le[0]


# ------------------------------------------------------------------ set_submodule
@pytest.mark.parametrize(
    "target, strict, what",
    [
        ("block.fc", False, "module"),
        ("block.fc", True, "module"),
        ("block.extra", False, "module"),
        ("extra", False, "module"),
        ("block.extra", True, "module"),
        ("block.nope.fc", False, "module"),
        ("head.weight", False, "module"),
        ("scale", True, "module"),
        ("", False, "module"),
        ("block.fc", False, "int"),
    ],
)
def test_set_submodule_as_torch(target, strict, what):
    def run(lib):
        model = _net(lib)
        new = lib.nn.Linear(4, 5, bias=False) if what == "module" else 3
        err = _error(lambda: model.set_submodule(target, new, strict=strict))
        placed = err is None and model.get_submodule(target) is new
        return err, placed, list(model.state_dict())

    got, want = run(ej), run(torch)
    assert got == want
    assert got[0] is not None or got[1]
