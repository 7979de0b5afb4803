"""The cyclic schedules, which carry more state than an epoch: ``CosineAnnealingWarmRestarts``
(``T_cur``/``T_i`` as tensors), ``OneCycleLR`` (warm-up and annealing phases, cycling the
momentum or ``beta1`` too) and ``CyclicLR`` (triangular cycles, a user ``scale_fn`` run like
``LambdaLR``'s lambdas).
"""

from __future__ import annotations

import math
import types
from typing import Any

import jax.numpy as jnp

from .._tensor import Tensor
from . import _lr_host
from ._lr_base import (
    LRScheduler,
    _check_optimizer,
    _f32,
    _gamma_pow,
    _half_cos,
    _host_number,
    _log,
    _tracing,
    _val,
)
from ._optimizer import Optimizer, _concrete_scalar


def _cycled_momenta(sched) -> list[Tensor]:
    """The momentum tensors a cycling scheduler writes: each group's beta1 or momentum."""
    if not sched.cycle_momentum:
        return []
    if sched.use_beta1:
        return [g.raw("betas")[0] for g in sched.optimizer.param_groups]
    return [g.raw("momentum") for g in sched.optimizer.param_groups]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarting every ``T_i`` epochs (``T_0``, then ``T_i *= T_mult``).

    ``T_cur`` and ``T_i`` are tensors advanced inside the step kernel. ``step(epoch)``
    with a Python number computes them on the host exactly as torch; with a Tensor
    epoch (inside a compiled step) they come from the same formula in float32.
    """

    _has_chain = False
    _tensor_attrs = LRScheduler._tensor_attrs + ("_t_cur", "_t_i")
    _hyper_attrs = ("T_0", "T_mult", "eta_min")

    def __init__(
        self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.T_0 = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self._t_i = _concrete_scalar(float(T_0))
        self._t_cur = _concrete_scalar(float(last_epoch))
        super().__init__(optimizer, last_epoch)

    T_cur = _host_number("_t_cur")
    T_i = _host_number("_t_i")

    def step(self, epoch=None) -> None:
        self._step_count += 1
        if epoch is None:
            self._execute("initial" if self._is_initial else "step")
            return
        if isinstance(epoch, Tensor):
            self._execute("epoch_tensor", epoch)
            return
        if epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        if epoch >= self.T_0:
            if self.T_mult == 1:
                t_cur, t_i = epoch % self.T_0, self.T_0
            else:
                n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                t_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                t_i = self.T_0 * self.T_mult**n
        else:
            t_i, t_cur = self.T_0, epoch
        self._execute("epoch", (math.floor(epoch), t_cur, t_i))

    def _update_lr(self, epoch=None) -> None:
        if epoch is None:
            self._execute("step")
        else:  # SequentialLR's restart: torch sets last_epoch and recomputes from T_cur / T_i as they are
            self._execute("restart", epoch)

    def _parts(self, mode: str, epoch=None):
        state, inputs, targets, _ = super()._parts("step")
        state = state + [self._t_cur, self._t_i]
        hypers = [_val(h) for h in self._hypers()]
        if mode == "epoch":
            hypers = hypers + [float(x) for x in epoch]
        elif mode in ("epoch_tensor", "restart"):
            hypers = hypers + [_val(epoch)]
        return state, inputs, targets, hypers

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        n = len(targets)
        epoch, t_cur, t_i = state[0], state[-2], state[-1]
        chained = state[1 + n : 1 + 2 * n]
        t_0, t_mult, eta_min = hypers[:3]
        if mode in ("initial", "step"):
            tc = t_cur + 1
            wrap = tc >= t_i
            tc_n = jnp.where(wrap, jnp.mod(tc, t_i), tc)
            ti_n = jnp.where(wrap, t_i * t_mult, t_i)
            neg = epoch < 0  # torch: the first step after last_epoch < 0 is step(0)
            e = jnp.where(neg, 0.0, epoch + 1)
            tc_n = jnp.where(neg, 0.0, tc_n)
            ti_n = jnp.where(neg, t_0, ti_n)
        elif mode == "epoch":
            e, tc_n, ti_n = (_f32(x) for x in hypers[3:6])
        elif mode == "epoch_tensor":
            ep = _f32(hypers[3])
            if static[0]:  # T_mult == 1
                big_tc, big_ti = jnp.mod(ep, t_0), _f32(t_0)
            else:
                nn_ = jnp.floor(jnp.log(ep / t_0 * (t_mult - 1) + 1) / math.log(t_mult))
                big_ti = t_0 * jnp.power(_f32(t_mult), nn_)
                big_tc = ep - t_0 * (jnp.power(_f32(t_mult), nn_) - 1) / (t_mult - 1)
            small = ep < t_0
            e = jnp.floor(ep)
            tc_n = jnp.where(small, ep, big_tc)
            ti_n = jnp.where(small, _f32(t_0), big_ti)
        else:  # restart
            e, tc_n, ti_n = _f32(hypers[3]), t_cur, t_i
        lrs = [_f32(eta_min + (b - eta_min) * _half_cos(tc_n, ti_n)) for b in inputs]
        return [e] + lrs + list(chained) + [tc_n, ti_n], lrs

    def _static(self) -> tuple:
        return (self.T_mult == 1,)

    def _extra_state(self) -> dict:
        return {"T_cur": self.T_cur, "T_i": self.T_i}

    def _load_extra_state(self, state_dict: dict) -> None:
        if "T_cur" in state_dict:
            self.T_cur = state_dict.pop("T_cur")
        if "T_i" in state_dict:
            self.T_i = state_dict.pop("T_i")

    def get_lr(self) -> list[float]:
        self._warn_get_lr()
        c = (1 + math.cos(math.pi * float(self._t_cur) / float(self._t_i))) / 2
        return [self.eta_min + (b - self.eta_min) * c for b in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: lr warms up from ``max_lr / div_factor`` to ``max_lr`` and anneals to
    ``initial_lr / final_div_factor`` (cos or linear, two or three phases); with ``cycle_momentum``
    the momentum (or ``beta1``) cycles inversely between ``max_momentum`` and ``base_momentum``.
    """

    _has_chain = False
    _tensor_attrs = LRScheduler._tensor_attrs + ("_bounds_t",)

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if total_steps <= 0 or not isinstance(total_steps, int):
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if three_phase:
            self._schedule_phases = [
                _phase(
                    float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"
                ),
                _phase(
                    float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"
                ),
                _phase(self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                _phase(
                    float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"
                ),
                _phase(self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._anneal_func_type = anneal_strategy
        max_lrs = _format_param("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for idx, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[idx] / div_factor
                group["max_lr"] = max_lrs[idx]
                group["min_lr"] = max_lrs[idx] / div_factor / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            max_ms = _format_param("max_momentum", optimizer, max_momentum)
            base_ms = _format_param("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_m, b_m, group in zip(max_ms, base_ms, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_m, *group.raw("betas")[1:])
                    else:
                        group["momentum"] = m_m
                    group["max_momentum"] = m_m
                    group["base_momentum"] = b_m
        super().__init__(optimizer, last_epoch)

    def _static(self) -> tuple:
        phases = tuple(
            (p["end_step"], p["start_lr"], p["end_lr"], p["start_momentum"], p["end_momentum"])
            for p in self._schedule_phases
        )
        return (phases, self._anneal_func_type, bool(self.cycle_momentum))

    def _momentum_targets(self) -> list[Tensor]:
        return _cycled_momenta(self)

    _KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")

    def _bounds(self) -> list[Tensor]:
        """Per phase: start, end (integer and fractional parts) and length, as f32 tensors.

        Phase ends like ``0.3 * total - 1`` are fractional. Kept as runtime values split
        into integer + fraction, ``end - step`` is exact in float32 (as Python constants,
        XLA would fold ``(floor(end) - step) + frac`` back into ``f32(end) - step``).
        """
        b = self.__dict__.get("_bounds_t")
        if b is None:
            vals, start = [], 0.0
            for p in self._schedule_phases:
                end = float(p["end_step"])
                vals += [
                    math.floor(start),
                    start - math.floor(start),
                    math.floor(end),
                    end - math.floor(end),
                    end - start,
                ]
                start = end
            b = self.__dict__["_bounds_t"] = [_concrete_scalar(v) for v in vals]
        return b

    def _parts(self, mode: str, epoch=None):
        if not _tracing() and mode != "initial":
            step_num = self.last_epoch + 1 if mode == "step" else epoch
            if step_num > self.total_steps:
                raise ValueError(
                    f"Tried to step {step_num} times. The specified number of total steps is {self.total_steps}"
                )
        state, inputs, targets, hypers = super()._parts(mode, epoch)
        targets = targets + self._momentum_targets()
        per_group = [_val(g.raw(k) if k in g else 0.0) for g in self.optimizer.param_groups for k in self._KEYS[1:]]
        return state, inputs + self._bounds(), targets, per_group + hypers

    def _load_extra_state(self, state_dict: dict) -> None:
        self.__dict__.pop("_bounds_t", None)  # rebuilt from the loaded phases on the next step

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        phases, anneal, cycle = static
        n = len(inputs) - 5 * len(phases)
        bounds = inputs[n:]
        nk = len(cls._KEYS) - 1
        epoch = state[0]
        chained = state[1 + n : 1 + 2 * n]
        step = _f32(hypers[-1]) if mode in ("epoch", "restart") else epoch + 1
        lrs, moms = [], []
        for i in range(n):
            vals = dict(zip(cls._KEYS, [inputs[i]] + [_f32(h) for h in hypers[i * nk : (i + 1) * nk]]))
            lr = mom = taken = None
            for k, (_, s_lr, e_lr, s_m, e_m) in enumerate(phases):
                s_int, s_frac, e_int, e_frac, span = bounds[5 * k : 5 * k + 5]
                # torch anneals with weight w on the phase's start value (cos: (1 + cos(pi pct)) / 2,
                # linear: 1 - pct). w and 1 - w both come from exact step differences, and the value
                # is interpolated from the nearer end, so float32 keeps full relative accuracy.
                pct = ((step - s_int) - s_frac) / span
                rest = ((e_int - step) + e_frac) / span  # 1 - pct
                if anneal == "cos":
                    w = jnp.sin(jnp.pi * rest / 2) ** 2
                    one_minus_w = jnp.sin(jnp.pi * pct / 2) ** 2
                else:
                    w, one_minus_w = rest, pct
                a_lr = _interp(vals[s_lr], vals[e_lr], w, one_minus_w)
                a_m = _interp(vals[s_m], vals[e_m], w, one_minus_w)
                here = ((step - e_int) <= e_frac) if k < len(phases) - 1 else jnp.ones((), bool)
                if lr is None:
                    lr, mom, taken = a_lr, a_m, here
                else:
                    use = (~taken) & here
                    lr, mom = jnp.where(use, a_lr, lr), jnp.where(use, a_m, mom)
                    taken = taken | here
            lrs.append(_f32(lr))
            moms.append(_f32(mom))
        new_targets = lrs + (moms if cycle else [])
        return [step] + lrs + list(chained), new_targets

    def get_lr(self) -> list[float]:
        return self._group_lrs()


def _interp(start, end, w, one_minus_w):
    """``w * start + (1 - w) * end``, computed from the end that carries more weight."""
    return jnp.where(w >= 0.5, start + (end - start) * one_minus_w, end + (start - end) * w)


def _phase(end_step, start_lr, end_lr, start_m, end_m) -> dict:
    return {
        "end_step": end_step,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": start_m,
        "end_momentum": end_m,
    }


def _format_param(name: str, optimizer: Optimizer, param) -> list:
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. {name} has {len(param)} values, param_groups has {len(optimizer.param_groups)}."
            )
        return list(param)
    return [param] * len(optimizer.param_groups)


class CyclicLR(LRScheduler):
    """Cyclical learning rates: each cycle goes linearly from ``base_lr`` up to ``max_lr`` in
    ``step_size_up`` steps and back in ``step_size_down``, the height scaled by ``mode``
    (``triangular``: 1, ``triangular2``: halved each cycle, ``exp_range``: ``gamma ** step``)
    or by ``scale_fn`` of the cycle or step; ``cycle_momentum`` moves the momentum (or
    ``beta1``) inversely between ``max_momentum`` and ``base_momentum``.

    The position in the cycle is ``p = e - (cycle - 1) * total_size`` (exact in float32 for
    integer steps), the rise ``p / up`` and the fall ``(total - p) / down``: torch's
    ``x / step_ratio`` without the rounding of ``x``.
    """

    _has_chain = False
    _MODES = ("triangular", "triangular2", "exp_range")
    _private_attrs = LRScheduler._private_attrs | {"_cyc_t", "_cyc_vals"}

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr,
        max_lr,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn=None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum=0.8,
        max_momentum=0.9,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _format_param("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _format_param("max_lr", optimizer, max_lr)
        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size
        if mode not in self._MODES and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in self.optimizer.defaults
            self.base_momentums = _format_param("base_momentum", optimizer, base_momentum)
            self.max_momentums = _format_param("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for m_m, b_m, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_m, *group.raw("betas")[1:])
                    else:
                        group["momentum"] = m_m
                    group["max_momentum"] = m_m
                    group["base_momentum"] = b_m
        super().__init__(optimizer, last_epoch)
        # torch's ``self.base_lrs = base_lrs``: the cycle's own bases from here on (the
        # constructor's step used the groups' ``initial_lr``), unshared with the groups
        self._base = [_concrete_scalar(float(b)) for b in base_lrs]

    def _init_scale_fn(self) -> None:
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x) -> float:
        """The scaling policy at ``x`` (the cycle, or the step with ``scale_mode='iterations'``)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def _static(self) -> tuple:
        kind = "custom" if self._scale_fn_custom is not None else self.mode
        return (kind, self.scale_mode, bool(self.cycle_momentum))

    def _momentum_targets(self) -> list[Tensor]:
        return _cycled_momenta(self)

    def _scale_arg(self, e):
        """The argument of ``scale_fn`` at step ``e`` (host number or Tensor)."""
        if self.scale_mode != "cycle":
            return e
        if isinstance(e, Tensor):
            return (e / self.total_size).floor() + 1
        return math.floor(1 + e / self.total_size)

    def _constants(self, n: int) -> list[Tensor]:
        """total, up, down, log(gamma), gamma, then per group max_lr (, base and max momentum), as
        f32 tensors: runtime values, so XLA cannot rewrite ``x / down`` as ``x * (1 / down)``
        in a compiled step (eager's exact numbers). Refreshed when the attributes change."""
        up = self.total_size * self.step_ratio
        vals = [self.total_size, up, self.total_size - up, _log(self.gamma), self.gamma]
        for i in range(n):
            vals.append(float(self.max_lrs[i]))
            if self.cycle_momentum:
                vals += [float(self.base_momentums[i]), float(self.max_momentums[i])]
        ts = self.__dict__.get("_cyc_t")
        if ts is None or len(ts) != len(vals):
            ts = self.__dict__["_cyc_t"] = [_concrete_scalar(v) for v in vals]
        elif self.__dict__.get("_cyc_vals") != vals:
            for t, v in zip(ts, vals):
                t._assign(_concrete_scalar(v)._read())
        self.__dict__["_cyc_vals"] = vals
        return ts

    def _parts(self, mode: str, epoch=None):
        state, inputs, targets, hypers = super()._parts(mode, epoch)
        return state, inputs + self._constants(len(inputs)), targets + self._momentum_targets(), hypers

    def _mode_hypers(self, mode: str, epoch) -> list:
        extra = super()._mode_hypers(mode, epoch)
        if self._scale_fn_custom is None:
            return extra
        fn = self._scale_fn_custom
        if mode in ("step", "initial") and _tracing():
            scale = _lr_host.epoch_values(
                self,
                "scale_fn",
                [fn],
                self._epoch,
                lambda ep: self._scale_arg(ep + 1),
                lambda ep: self._scale_arg(_lr_host.next_epoch(ep)),
            )
        else:
            e = epoch if mode in ("epoch", "restart") else self.last_epoch + 1
            scale = [_val(fn(self._scale_arg(e)))]
        return scale + extra

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        kind, scale_mode, cycle = static
        k = 3 if cycle else 1
        n = (len(inputs) - 5) // (k + 1)
        epoch, chained = state[0], state[1 + n : 1 + 2 * n]
        total, up, down, log_gamma, gamma = inputs[n : n + 5]
        per = inputs[n + 5 :]
        rest = hypers
        e = _f32(rest[-1]) if mode in ("epoch", "restart") else epoch + 1
        # the completed cycles (cycle - 1), corrected should e / total round across an integer
        c = jnp.floor(e / total)
        c = jnp.where(e - c * total < 0, c - 1, jnp.where(e - c * total >= total, c + 1, c))
        p = e - c * total
        factor = jnp.where(p <= up, p / up, (total - p) / down)
        x = c + 1 if scale_mode == "cycle" else e
        if kind == "custom":
            scale = _f32(rest[0])
        elif kind == "triangular":
            scale = jnp.ones((), jnp.float32)
        elif kind == "triangular2":
            scale = jnp.ldexp(jnp.float32(1.0), (1 - x).astype(jnp.int32))
        else:
            scale = _gamma_pow(log_gamma, gamma, x)
        lrs, moms = [], []
        for i in range(n):
            vals = per[k * i : k * (i + 1)]
            lrs.append(_f32(inputs[i] + (vals[0] - inputs[i]) * factor * scale))
            if cycle:
                base_m, max_m = vals[1], vals[2]
                moms.append(_f32(max_m - (max_m - base_m) * factor * scale))
        return [e] + lrs + list(chained), lrs + moms

    def get_lr(self) -> list[float]:
        """torch's formula at ``last_epoch`` on the host (momentum is not touched here)."""
        self._warn_get_lr()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        s = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        return [b + (m - b) * factor * s for b, m in zip(self.base_lrs, self.max_lrs)]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom", None)
        state["_scale_fn_custom"] = None
        if fn is not None and not isinstance(fn, types.FunctionType):
            state["_scale_fn_custom"] = fn.__dict__.copy()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        fn = state_dict.pop("_scale_fn_custom", None)
        super().load_state_dict(state_dict)
        if fn is not None:
            self._scale_fn_custom.__dict__.update(fn)
        self._init_scale_fn()
