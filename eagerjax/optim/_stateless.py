"""``optim.swap_in_optimizer_params_and_state``: run optimizer APIs on other tensors for a while.

Inside the context the optimizer's groups hold the given parameters and hyperparameters and
its ``state`` is rebuilt from a ``state_dict()``-shaped dict (per-parameter dicts copied, the
tensors in them shared), so ``step()`` updates the given tensors in place; on exit every
group and the state are exactly as before. A hyperparameter held in a tensor (``lr``) gets a
tensor of its own for the duration: writing the swap-in value into the live one would change
the live optimizer.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .._state import bump_state
from .._tensor import Tensor
from ._optimizer import Optimizer, ParamGroup

_NAME = "swap_in_optimizer_params_and_state"


def _fail(msg: str) -> None:
    raise RuntimeError(f"{_NAME} requires {msg}")


def _check_state(state: Any) -> dict:
    if not isinstance(state, dict):
        _fail(
            "swapin_optim_state['state'] to be a dict mapping packed parameter ids to per-param "
            f"state dicts, got {type(state).__name__}."
        )
    if any(isinstance(k, Tensor) for k in state):
        _fail("optimizer.state_dict()-style state keyed by packed parameter ids.")
    if any(isinstance(k, int) and not isinstance(v, dict) for k, v in state.items()):
        _fail("per-parameter optimizer state entries to be dictionaries.")
    return state


def _check_group(idx: int, live: ParamGroup, group: Any) -> list:
    """The packed parameter ids of swap-in ``group`` (index ``idx``), checked against ``live``."""
    if not isinstance(group, dict):
        _fail("each optimizer param group to be a dictionary.")
    ids = group.get("params")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        _fail("optimizer.state_dict()-style param_groups[*]['params'] entries keyed by packed parameter ids.")
    if len(ids) != len(live["params"]):
        raise RuntimeError(
            f"swapin_optim_state param group {idx} has a different number of params than the live optimizer param group."
        )
    only_swap = [k for k in group if k not in live]
    only_live = [k for k in live if k not in group]
    if only_swap or only_live:
        _fail(
            "optimizer.state_dict()-style param group keys to exactly match the live optimizer group keys "
            f"for group {idx}. Keys only in swap-in: {only_swap}. Keys only in live: {only_live}."
        )
    return ids


def _plan(optimizer: Optimizer, parameters: dict, osd: Any) -> tuple[dict, list]:
    """``(state by packed id, [(live group, swap-in group, its parameters)])``, all checked."""
    if not optimizer.state:
        _fail("initialized optimizer state.")
    if not isinstance(osd, dict):
        _fail("a DCP-style optimizer state_dict.")
    state = _check_state(osd.get("state"))
    groups = osd.get("param_groups")
    if not isinstance(groups, list):
        _fail(f"swapin_optim_state['param_groups'] to be a list of param-group dicts, got {type(groups).__name__}.")
    if len(groups) != len(optimizer.param_groups):
        raise RuntimeError("swapin_optim_state has a different number of parameter groups than the live optimizer.")
    flat = list(parameters.values())
    plan = []
    seen: set = set()
    at = 0
    for idx, (live, group) in enumerate(zip(optimizer.param_groups, groups)):
        ids = _check_group(idx, live, group)
        seen.update(ids)
        if at + len(ids) > len(flat):
            _fail("the explicit parameter state to match optimizer.param_groups ordering.")
        plan.append((live, group, flat[at : at + len(ids)]))
        at += len(ids)
    extra = [k for k in state if k not in seen]
    if extra:
        _fail(
            "swapin_optim_state['state'] to be keyed only by packed parameter ids from "
            f"param_groups[*]['params']; got extra keys {extra!r}."
        )
    return state, plan


def _install(live: ParamGroup, key: str, value) -> None:
    """Put ``value`` in ``live[key]`` without writing into the live group's tensors."""
    if key in live._tensor_keys and value is not None and not isinstance(value, (bool, str)):
        fresh = ParamGroup(live._tensor_keys, {key: value})
        dict.__setitem__(live, key, fresh.raw(key))
        live._known[key] = fresh._known[key]
    else:
        dict.__setitem__(live, key, value)


@contextlib.contextmanager
def swap_in_optimizer_params_and_state(
    optimizer: Optimizer, swapin_parameters: dict[str, Tensor], swapin_optim_state: dict[str, Any]
) -> Iterator[None]:
    """Within the context, ``optimizer``'s groups hold ``swapin_parameters`` (in the order of
    its groups' params) and the hyperparameters of ``swapin_optim_state`` (an
    ``optimizer.state_dict()``-shaped dict), and its state is that dict's: ``step()`` updates
    those tensors in place. On exit the optimizer is restored; only in-place tensor updates
    reach the given dicts (torch's ``torch.optim.swap_in_optimizer_params_and_state``)."""
    state, plan = _plan(optimizer, swapin_parameters, swapin_optim_state)
    live_state = optimizer.state
    saved = [(dict(g), dict(g._known)) for g in optimizer.param_groups]
    try:
        swapped: defaultdict = defaultdict(dict)
        for live, group, params in plan:
            dict.__setitem__(live, "params", params)
            for key, value in group.items():
                if key != "params":
                    _install(live, key, value)
            for p, pid in zip(params, group["params"]):
                swapped[p] = dict(state.get(pid, {}))
        optimizer.state = swapped
        bump_state()  # which tensors are the optimizer's state changed (ej.compile rediscovers)
        yield
    finally:
        for g, (items, known) in zip(optimizer.param_groups, saved):
            dict.clear(g)
            dict.update(g, items)
            g._known = known
        optimizer.state = live_state
        bump_state()
