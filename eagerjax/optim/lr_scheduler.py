"""Learning-rate schedulers whose state is TENSORS.

``scheduler.step()`` runs one small kernel that advances the scheduler's state
(the epoch, and e.g. ``T_cur`` or ReduceLROnPlateau's ``best``) and writes each
group's new learning rate into ``group['lr']`` with ``Tensor._assign``. No host
value is read, so inside a compiled training step (``ej.compile``) or lazy mode
the schedule advances on every call of the compiled program, and branches such
as ReduceLROnPlateau's "reduce now?" are ``jnp.where``s.

Numbers. torch keeps learning rates as Python floats (float64) and updates
most schedules *recursively* (``lr = lr * gamma``). Learning rates here are
float32, and repeating a recursion in float32 would drift by an ulp a step, so
each scheduler remembers the value it last wrote to each group: while the
group's lr still holds it, the new lr is the schedule's closed form (exact to
float32 rounding); once something else has changed the lr (another scheduler
in a ``ChainedScheduler``, the user), the scheduler follows torch's recursive
rule from the current value, as torch does. Both give torch's sequence.

``LambdaLR``/``MultiplicativeLR`` call the user's function on the host: in eager
mode it receives the epoch as a Python ``int``, as in torch. Inside a compiled
step or lazy mode it is first called with a 0-d integer-valued float Tensor and
traced; if it needs the value (Python control flow, ``math`` functions) it runs
on the host from inside the program through ``jax.pure_callback`` instead, with
the epoch still a traced counter (one program, never retraced, eager's numbers).
``CyclicLR``'s ``scale_fn`` is run the same way. A user subclass of
``LRScheduler`` that implements torch's ``get_lr()`` runs it on the host in every
mode (see ``_lr_host``). ``get_last_lr()`` and the ``last_epoch`` property read
values back on the host.

The code lives in private modules: ``_lr_base`` (the base class and kernel plumbing),
``_lr_schedules`` (the per-epoch schedules), ``_lr_cyclic`` (``CosineAnnealingWarmRestarts``,
``OneCycleLR``, ``CyclicLR``) and ``_lr_host`` (user Python run on the host); the schedulers
driven by other schedulers or by a metric are defined here.
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from typing import Any

import jax.numpy as jnp

from .._tensor import Tensor
from ._lr_base import (
    _EPOCH_DEPRECATION_WARNING,
    LRScheduler,
    _check_optimizer,
    _check_step_order,
    _copy,
    _f32,
    _host_number,
    _kernel_fn,
    _run,
)
from ._lr_cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from ._lr_schedules import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ._optimizer import Optimizer, _concrete_scalar

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "MultiplicativeLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "SequentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "CyclicLR",
]

_LRScheduler = LRScheduler

# The classes defined in the private modules show (repr, pickle) under this public module, as before.
for _cls in (
    LRScheduler,
    LambdaLR,
    MultiplicativeLR,
    StepLR,
    MultiStepLR,
    ConstantLR,
    LinearLR,
    ExponentialLR,
    PolynomialLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    OneCycleLR,
    CyclicLR,
):
    _cls.__module__ = __name__
del _cls


# ------------------------------------------------------------------------------ composition
def _has_get_lr_child(s) -> bool:
    """Whether ``s`` is, or nests, a user scheduler that gives its schedule as ``get_lr()``."""
    if hasattr(s, "_schedulers"):
        return any(_has_get_lr_child(c) for c in s._schedulers)
    return isinstance(s, LRScheduler) and s._custom()


def _check_children(owner: str, optimizer, schedulers) -> None:
    for idx, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{owner} at index {idx} should have `optimizer` as its attribute.")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it "
                "requires additional kwargs to be specified when calling `step`, "
                f"but got one at index {idx} in the given schedulers sequence."
            )
        if optimizer != s.optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but "
                f"got scheduler {s.__class__.__name__} at index {idx} has {s.optimizer}, "
                f"which is different from {optimizer.__class__.__name__}."
            )


class _Composite(LRScheduler):
    """Shared plumbing of SequentialLR / ChainedScheduler: children's parts flattened into one kernel."""

    _tensor_attrs = ("optimizer", "_schedulers", "_epoch")

    def _child_layout(self, restarts: bool):
        """Flattened parts of all children, and the static layout to split them again.

        Each child contributes its "step" hypers and, with ``restarts``, (after the first) its
        "restart" hypers: SequentialLR starting it at a milestone.
        """
        state, inputs, targets, hypers, layout = [], [], [], [], []
        tindex: dict[int, int] = {}
        for ci, s in enumerate(self._schedulers):
            modes = ("step", "restart") if restarts and ci > 0 else ("step",)
            c_parts = {m: s._parts(m, 0 if m == "restart" else None) for m in modes}
            c_state, c_inputs, c_targets, _ = c_parts["step"]
            tidx = []
            for t in c_targets:
                if id(t) not in tindex:
                    tindex[id(t)] = len(targets)
                    targets.append(t)
                tidx.append(tindex[id(t)])
            nh = [0, 0]
            for k, m in enumerate(modes):
                hypers += c_parts[m][3]
                nh[k] = len(c_parts[m][3])
            layout.append((type(s), s._static(), len(c_state), len(c_inputs), tuple(tidx), tuple(nh)))
            state += c_state
            inputs += c_inputs
        return state, inputs, targets, hypers, tuple(layout)

    def _reset_tracking(self) -> None:
        for s in self._schedulers:
            s._reset_tracking()

    def get_last_lr(self) -> list[float]:
        return self._group_lrs()

    def state_dict(self) -> dict[str, Any]:
        d = self._plain_state()
        d.pop("_layout", None)
        if "_epoch" in self.__dict__:
            d["last_epoch"] = self.last_epoch
        d["_last_lr"] = self.get_last_lr()
        d["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        children = state_dict.pop("_schedulers")
        last_epoch = state_dict.pop("last_epoch", None)
        state_dict.pop("_last_lr", None)
        self.__dict__.update(state_dict)
        if last_epoch is not None and "_epoch" in self.__dict__:
            self.last_epoch = last_epoch
        for s, sd in zip(self._schedulers, children):
            s.load_state_dict(sd)


class SequentialLR(_Composite):
    """Runs ``schedulers[i]`` between ``milestones[i-1]`` and ``milestones[i]``; each later scheduler
    starts from its closed form at epoch 0. Which scheduler runs is decided by tensor math on the
    epoch, so the switch happens inside a compiled step too.
    """

    def __init__(self, optimizer: Optimizer, schedulers: list, milestones: list, last_epoch: int = -1) -> None:
        name = self.__class__.__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
        _check_children(name, optimizer, schedulers)
        for idx, s in enumerate(schedulers):
            if _has_get_lr_child(s):
                raise NotImplementedError(
                    f"{name}: the scheduler at index {idx} ({type(s).__name__}) gives its schedule as a "
                    "Python get_lr(), which SequentialLR cannot switch to inside its single kernel yet; "
                    "step it yourself (or chain it with ChainedScheduler, which steps each scheduler)."
                )
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers {len(schedulers)} and the "
                f"number of milestones to be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self._epoch = _concrete_scalar(float(last_epoch + 1))
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = Tensor._make(_copy(group.raw("initial_lr")))
        self.recursive_undo()
        self._reset_tracking()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._step_count = 0

    def recursive_undo(self, sched=None) -> None:
        """Undo the constructor step of every (nested) scheduler: ``last_epoch -= 1``."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def _parts(self, mode: str, epoch=None):
        if mode not in ("step", "initial"):
            raise NotImplementedError("SequentialLR cannot be restarted by another scheduler (as in torch)")
        state, inputs, targets, hypers, layout = self._child_layout(True)
        self._layout = layout
        return [self._epoch] + state, inputs, targets, hypers

    def _static(self) -> tuple:
        return (tuple(self._milestones), getattr(self, "_layout", None))

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        milestones, layout = static
        e = state[0] + 1
        idx = sum((e >= m).astype(jnp.int32) for m in milestones) if milestones else jnp.zeros((), jnp.int32)
        restart = jnp.zeros((), bool)
        for j, m in enumerate(milestones):
            restart = restart | ((idx == j + 1) & (e == m))
        new_targets = list(targets)
        new_state = [e]
        so, io, ho = 1, 0, 0
        for ci, (c_cls, c_static, ns, ni, tidx, (nh_step, nh_restart)) in enumerate(layout):
            c_state = state[so : so + ns]
            c_inputs = inputs[io : io + ni]
            c_targets = [targets[t] for t in tidx]
            h_step = hypers[ho : ho + nh_step]
            h_restart = hypers[ho + nh_step : ho + nh_step + nh_restart]
            s_new, t_new = c_cls._pure(c_static, "step", c_state, c_inputs, c_targets, h_step)
            if ci > 0:
                s_r, t_r = c_cls._pure(c_static, "restart", c_state, c_inputs, c_targets, h_restart)
                s_new = [jnp.where(restart, a, b) for a, b in zip(s_r, s_new)]
                t_new = [jnp.where(restart, a, b) for a, b in zip(t_r, t_new)]
            active = idx == ci
            new_state += [jnp.where(active, a, b) for a, b in zip(s_new, c_state)]
            for t, v in zip(tidx, t_new):
                new_targets[t] = jnp.where(active, v, new_targets[t])
            so, io, ho = so + ns, io + ni, ho + nh_step + nh_restart
        return new_state, new_targets

    def step(self) -> None:
        if self._step_count == 0:  # (torch: the first scheduler's own first step)
            _check_step_order(self.optimizer)
        self._step_count += 1
        self._execute("step")

    def _update_lr(self, epoch=None) -> None:
        if epoch is not None:
            raise NotImplementedError("SequentialLR cannot be restarted by another scheduler (as in torch)")
        self._execute("step")


class ChainedScheduler(_Composite):
    """Steps every scheduler in turn on each ``step()``; their effects compound, as in torch."""

    def __init__(self, schedulers, optimizer: Optimizer | None = None) -> None:
        name = self.__class__.__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_children(name, optimizer, schedulers)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._step_count = 0

    @property
    def last_epoch(self) -> int:
        return self._schedulers[-1].last_epoch

    def step(self) -> None:
        self._step_count += 1
        for s in self._schedulers:
            s.step()

    def _parts(self, mode: str, epoch=None):
        if mode != "step":
            raise NotImplementedError("ChainedScheduler cannot be restarted by another scheduler (as in torch)")
        state, inputs, targets, hypers, layout = self._child_layout(False)
        self._layout = layout
        return state, inputs, targets, hypers

    def _static(self) -> tuple:
        return getattr(self, "_layout", None)

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        new_targets = list(targets)
        new_state = []
        so, io, ho = 0, 0, 0
        for c_cls, c_static, ns, ni, tidx, (nh, _) in static:
            s_new, t_new = c_cls._pure(
                c_static,
                "step",
                state[so : so + ns],
                inputs[io : io + ni],
                [new_targets[t] for t in tidx],
                hypers[ho : ho + nh],
            )
            new_state += list(s_new)
            for t, v in zip(tidx, t_new):
                new_targets[t] = v
            so, io, ho = so + ns, io + ni, ho + nh
        return new_state, new_targets


# ------------------------------------------------------------------------------ plateau
class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric stops improving for ``patience`` steps.

    ``step(metric)`` takes a Tensor (not read on the host) or a number. ``best``,
    ``num_bad_epochs`` and ``cooldown_counter`` are tensors and the decision is made
    with ``jnp.where``, so the scheduler works inside a compiled step; the
    properties of those names read them back on the host.
    """

    _tensor_attrs = ("optimizer", "_epoch", "_best", "_bad", "_cool", "_last")

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self._epoch = _concrete_scalar(0.0)
        self._best = _concrete_scalar(0.0)
        self._bad = _concrete_scalar(0.0)
        self._cool = _concrete_scalar(0.0)
        self._last = [_concrete_scalar(0.0) for _ in optimizer.param_groups]
        for t, g in zip(self._last, optimizer.param_groups):
            t._assign(_copy(g.raw("lr")))
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode) -> None:
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    # host views of the tensor state, under torch's names
    best = _host_number("_best", integral=False)
    num_bad_epochs = _host_number("_bad")
    cooldown_counter = _host_number("_cool")

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics, epoch=None) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({len(self.optimizer.param_groups)}) differs "
                    f"from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new "
                    "param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length "
                    "of the `optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
            self._last = [_concrete_scalar(0.0) for _ in self.optimizer.param_groups]
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        if isinstance(metrics, Tensor):
            m = metrics if metrics.ndim == 0 else metrics.reshape(())
            metric = m._read()
        else:
            metric = float(metrics)
        state = [self._epoch, self._best, self._bad, self._cool] + self._last
        targets = [g.raw("lr") for g in self.optimizer.param_groups]
        hypers = [metric, self.factor, self.eps, self.threshold, self.patience, self.cooldown]
        hypers += [float(x) for x in self.min_lrs]
        if epoch is not None:
            hypers.append(float(epoch))
        static = (self.mode, self.threshold_mode, epoch is not None)
        ns, nt = len(state), len(targets)
        key = (ReduceLROnPlateau, static, ns, nt, len(hypers))
        _run(key, lambda: _kernel_fn(ReduceLROnPlateau._pure, static, "step", ns, 0, nt), state, [], targets, hypers)

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        mode_, thr_mode, given_epoch = static
        epoch, best, bad, cool = state[:4]
        current, factor, eps, threshold, patience, cooldown = (_f32(h) for h in hypers[:6])
        n = len(targets)
        min_lrs = hypers[6 : 6 + n]
        e = _f32(hypers[6 + n]) if given_epoch else epoch + 1
        if mode_ == "min" and thr_mode == "rel":
            better = current < best * (1.0 - threshold)
        elif mode_ == "min":
            better = current < best - threshold
        elif thr_mode == "rel":
            better = current > best * (threshold + 1.0)
        else:
            better = current > best + threshold
        best = jnp.where(better, current, best)
        bad = jnp.where(better, 0.0, bad + 1)
        in_cd = cool > 0
        cool = jnp.where(in_cd, cool - 1, cool)
        bad = jnp.where(in_cd, 0.0, bad)
        reduce = bad > patience
        lrs = []
        for old, mn in zip(targets, min_lrs):
            new = jnp.maximum(old * factor, mn)
            lrs.append(_f32(jnp.where(reduce & (old - new > eps), new, old)))
        cool = jnp.where(reduce, cooldown, cool)
        bad = jnp.where(reduce, 0.0, bad)
        return [e, best, bad, cool] + lrs, lrs

    def get_last_lr(self) -> list[float]:
        return self._group_lrs()

    def state_dict(self) -> dict[str, Any]:
        d = self._plain_state()
        d["last_epoch"] = self.last_epoch
        d["best"] = self.best
        d["num_bad_epochs"] = self.num_bad_epochs
        d["cooldown_counter"] = self.cooldown_counter
        d["_last_lr"] = self.get_last_lr()
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        for k in ("last_epoch", "best", "num_bad_epochs", "cooldown_counter"):
            if k in state_dict:
                setattr(self, k, state_dict.pop(k))
        state_dict.pop("_last_lr", None)
        self.__dict__.update(state_dict)
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)
