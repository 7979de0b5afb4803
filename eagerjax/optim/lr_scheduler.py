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
step or lazy mode it receives a 0-d integer-valued float Tensor, so it must use
tensor-friendly math (``0.95 ** epoch``, ``ej.minimum``/``ej.where``) rather than
Python control flow on the value. ``get_last_lr()`` and the ``last_epoch``
property read values back on the host.
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from collections import Counter
from typing import Any

import jax
import jax.numpy as jnp

from .._autograd import no_grad
from .._dispatch import Kernel, run_kernel
from .._state import flags
from .._tensor import Tensor
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
]

_kernels: dict = {}

_EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

# Step modes (static: each has its own kernel).
#   "initial": the step made by the constructor (torch's ``_is_initial``)
#   "step":    ``step()``
#   "epoch":   ``step(epoch)`` (deprecated in torch; the closed form at that epoch)
#   "restart": SequentialLR starting a scheduler at a milestone (torch's ``_update_lr(0)``)


def _val(x):
    """A hyperparameter for a kernel: Tensors by value (traced), numbers as floats."""
    if isinstance(x, Tensor):
        return x._read()
    return float(x)


def _f32(x):
    return jnp.asarray(x, jnp.float32)


def _copy(t: Tensor):
    """A fresh buffer holding ``t``'s value (state tensors never share buffers: they are donated)."""
    with jax.ensure_compile_time_eval():
        return jnp.array(t._read(), copy=True)


def _tracing() -> bool:
    """True inside a compiled step or lazy mode, where values must not be read on the host."""
    return flags.mode is not None


def _run(key, build, state: list[Tensor], inputs: list[Tensor], targets: list[Tensor], hypers: list) -> None:
    """Run the cached kernel ``key`` on the tensors' values; write new state and targets back."""
    k = _kernels.get(key)
    if k is None:
        k = _kernels[key] = Kernel(build(), "lr_schedule")
    vals = [t._read() for t in state] + [t._read() for t in inputs] + [t._read() for t in targets] + hypers
    with no_grad():
        outs = run_kernel(k, vals)
    for t, v in zip(state + targets, outs):
        # (an output that is its input unchanged -- a pass-through while tracing -- is not a write)
        if v is not t._value:
            t._assign(v)


def _kernel_fn(pure, static, mode, ns: int, ni: int, nt: int):
    """The kernel body for ``pure``: split the flat values, return state' + targets'."""

    def schedule(*vals):
        state = list(vals[:ns])
        inputs = list(vals[ns : ns + ni])
        targets = list(vals[ns + ni : ns + ni + nt])
        hypers = list(vals[ns + ni + nt :])
        new_state, new_targets = pure(static, mode, state, inputs, targets, hypers)
        return tuple(_f32(v) for v in list(new_state) + list(new_targets))

    return schedule


def _set(t: Tensor, value) -> None:
    """Write the number ``value`` into the 0-d float32 state tensor ``t``."""
    t._assign(_concrete_scalar(float(value))._read())


def _host_number(attr: str, integral: bool = True):
    """A property showing the 0-d state tensor ``self.<attr>`` as a host number under torch's
    name (an ``int`` when it holds one and ``integral``); assigning writes into the tensor."""

    def get(self):
        v = float(getattr(self, attr))
        return int(v) if integral and v.is_integer() else v

    return property(get, lambda self, value: _set(getattr(self, attr), value))


def _check_optimizer(optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


class LRScheduler:
    """Base class: ``last_epoch``, ``base_lrs``, ``step()``, ``get_last_lr()``, ``state_dict()``.

    A subclass gives its schedule as jax math on tensors: ``_closed(static, e,
    base, *hypers)`` (the closed form at epoch ``e``) and/or ``_chain(static, e,
    cur, base, initial, *hypers)`` (torch's recursive ``get_lr`` from the group's
    current lr), with ``_hypers()`` (numbers, passed traced; by default the
    attributes named in ``_hyper_attrs``) and ``_static()`` (anything that
    changes the shape of that math). Kernels are cached by class,
    mode and static structure and hold no reference to a scheduler.
    """

    _get_lr_called_within_step = False
    _is_initial = False
    _has_closed = True
    _has_chain = True
    _hyper_attrs: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                known = group.known("lr")
                group.setdefault("initial_lr", known if known is not None else Tensor._make(_copy(group["lr"])))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler with "
                        "last_epoch >= 0.\nThis typically happens when:\n1. You're trying to resume training from a "
                        "checkpoint but haven't properly loaded the optimizer state\n2. You're using last_epoch >= 0 "
                        "for a fresh training run (not recommended)"
                    )
        self._base = [group["initial_lr"] for group in optimizer.param_groups]
        self._epoch = _concrete_scalar(float(last_epoch))
        self._init_tracking()
        self._initial_step()

    def _init_tracking(self) -> None:
        # The lr this scheduler last wrote to each group (also get_last_lr), and whether it
        # follows torch's recursive rule because something else changed the lr.
        self._last = [_concrete_scalar(0.0) for _ in self._base]
        self._chained = [_concrete_scalar(0.0) for _ in self._base]
        self._reset_tracking()

    def _reset_tracking(self) -> None:
        """Forget chaining: the groups' lrs are taken as this schedule's own (at its base)."""
        for t, b in zip(self._last, self._base):
            t._assign(_copy(b))
        for t in self._chained:
            _set(t, 0.0)

    def _initial_step(self) -> None:
        """Reset the step count and make the constructor's step."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    # -- the schedule (subclasses) ----------------------------------------------------------
    @staticmethod
    def _closed(static, e, base, *hypers):
        raise NotImplementedError

    @staticmethod
    def _chain(static, e, cur, base, initial, *hypers):
        raise NotImplementedError

    def _hypers(self) -> tuple:
        return tuple(getattr(self, a) for a in self._hyper_attrs)

    def _static(self) -> tuple:
        return ()

    def _mode_hypers(self, mode: str, epoch) -> list:
        """Extra kernel inputs that depend on the mode (the epoch of ``step(epoch)``, lambda values)."""
        return [float(epoch)] if mode in ("epoch", "restart") else []

    # -- the generic kernel: parts and pure function -----------------------------------------
    def _parts(self, mode: str, epoch=None) -> tuple[list, list, list, list]:
        """(state tensors, read-only input tensors, target tensors, hyper values) of one step."""
        state = [self._epoch] + self._last + self._chained
        targets = [g["lr"] for g in self.optimizer.param_groups]
        hypers = [_val(h) for h in self._hypers()] + self._mode_hypers(mode, epoch)
        if mode in ("initial", "step"):  # the constructor's step shares the step kernel, told by a flag
            hypers.append(1.0 if mode == "initial" else 0.0)
        return state, list(self._base), targets, hypers

    @classmethod
    def _pure(cls, static, mode, state, inputs, targets, hypers):
        n = len(targets)
        epoch, last, chained = state[0], state[1 : 1 + n], state[1 + n : 1 + 2 * n]
        if mode in ("epoch", "restart"):
            e, h, initial = _f32(hypers[-1]), hypers[:-1], False
        else:
            e, h, initial = epoch + 1, hypers[:-1], _f32(hypers[-1]) > 0
        new_lrs, new_chained = [], []
        for i in range(n):
            cur, base = targets[i], inputs[i]
            lam = cls._group_hypers(i, n, h)
            if mode in ("epoch", "restart"):
                new = (
                    cls._closed(static, e, base, *lam)
                    if cls._has_closed
                    else cls._chain(static, e, cur, base, False, *lam)
                )
                ch = jnp.zeros((), jnp.float32)
            elif not cls._has_chain:
                new, ch = cls._closed(static, e, base, *lam), chained[i]
            elif not cls._has_closed:
                new, ch = cls._chain(static, e, cur, base, initial, *lam), chained[i]
            else:
                touched = (chained[i] > 0) | (cur != last[i])
                closed = cls._closed(static, e, base, *lam)
                chain = cls._chain(static, e, cur, base, initial, *lam)
                new = jnp.where(touched, chain, closed)
                ch = touched.astype(jnp.float32)
            new_lrs.append(_f32(new))
            new_chained.append(ch)
        return [e] + new_lrs + new_chained, new_lrs

    @staticmethod
    def _group_hypers(i: int, n: int, hypers: list) -> list:
        """The hypers group ``i`` sees (all of them, unless a subclass passes per-group values)."""
        return hypers

    def _key(self, mode: str, parts) -> tuple:
        state, inputs, targets, hypers = parts
        return (type(self), self._static(), mode, len(state), len(inputs), len(targets), len(hypers))

    def _execute(self, mode: str, epoch=None) -> None:
        parts = self._parts(mode, epoch)
        mode = "step" if mode == "initial" else mode
        cls, static = type(self), self._static()
        ns, ni, nt = len(parts[0]), len(parts[1]), len(parts[2])
        _run(self._key(mode, parts), lambda: _kernel_fn(cls._pure, static, mode, ns, ni, nt), *parts)

    # -- public API ---------------------------------------------------------------------------
    @property
    def last_epoch(self) -> int:
        return int(math.floor(float(self._epoch)))

    @last_epoch.setter
    def last_epoch(self, value) -> None:
        _set(self._epoch, value)

    @property
    def base_lrs(self) -> list[float]:
        return [float(b) for b in self._base]

    @base_lrs.setter
    def base_lrs(self, values) -> None:
        for b, v in zip(self._base, values):
            _set(b, v)

    def step(self, epoch: int | None = None) -> None:
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None) -> None:
        if epoch is None:
            self._execute("initial" if self._is_initial else "step")
        else:
            self._execute("epoch", epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set (read on the host)."""
        return [float(t) for t in self._last]

    def _group_lrs(self) -> list[float]:
        """The optimizer's current learning rates (read on the host)."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def _warn_get_lr(self) -> None:
        """torch's warning for a ``get_lr()`` called from user code, attributed to that call."""
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                UserWarning,
                stacklevel=3,
            )

    def get_lr(self) -> list[float]:
        """The closed-form learning rates at the current epoch (use ``get_last_lr()`` for the last ones)."""
        self._warn_get_lr()
        if not self._has_closed:
            return self._group_lrs()
        e = self._epoch._read()
        h = [_val(x) for x in self._hypers()] + self._mode_hypers("epoch", float(e))[:-1]
        n = len(self._base)
        cls = type(self)
        return [
            float(cls._closed(self._static(), e, b._read(), *cls._group_hypers(i, n, h)))
            for i, b in enumerate(self._base)
        ]

    # -- state dict -------------------------------------------------------------------------
    _tensor_attrs: tuple[str, ...] = ("optimizer", "_epoch", "_base", "_last", "_chained")

    def _extra_state(self) -> dict:
        """Tensor-held state shown in ``state_dict()`` under torch's names (host values)."""
        return {}

    def _load_extra_state(self, state_dict: dict) -> None:
        pass

    def _plain_state(self) -> dict[str, Any]:
        """The attributes ``state_dict()`` shows as they are (all but the tensor-held ones)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._tensor_attrs}

    def state_dict(self) -> dict[str, Any]:
        d = self._plain_state()
        d["base_lrs"] = self.base_lrs
        d["last_epoch"] = self.last_epoch
        d.update(self._extra_state())
        d["_last_lr"] = self.get_last_lr()
        d["_chained"] = [bool(float(t)) for t in getattr(self, "_chained", ())]
        d["_get_lr_called_within_step"] = False
        d["_is_initial"] = False
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        last_epoch = state_dict.pop("last_epoch", None)
        base_lrs = state_dict.pop("base_lrs", None)
        last_lr = state_dict.pop("_last_lr", None)
        chained = state_dict.pop("_chained", None)
        state_dict.pop("_get_lr_called_within_step", None)
        state_dict.pop("_is_initial", None)
        self._load_extra_state(state_dict)
        self.__dict__.update(state_dict)
        if last_epoch is not None:
            self.last_epoch = last_epoch
        if base_lrs is not None:
            self.base_lrs = base_lrs
        if hasattr(self, "_last"):
            if last_lr is not None:
                for t, v in zip(self._last, last_lr):
                    _set(t, v)
            for i, t in enumerate(self._chained):
                _set(t, bool(chained[i]) if chained is not None and i < len(chained) else False)


_LRScheduler = LRScheduler


# ------------------------------------------------------------------------------ math helpers
def _pow(log_gamma, k):
    """gamma ** k as exp(k * log(gamma)) with log(gamma) taken in float64 on the host (exact to f32)."""
    return jnp.exp(k * log_gamma)


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _gamma_pow(log_gamma, gamma, k):
    """gamma ** k for a count k >= 0 (1 at k == 0, also for gamma == 0)."""
    return jnp.where(k == 0, 1.0, jnp.where(gamma == 0, 0.0, _pow(log_gamma, k)))


def _half_cos(x, period):
    """(1 + cos(pi x / period)) / 2 as sin(pi |period - x mod 2 period| / (2 period)) ** 2.

    The sine's argument lies in [0, pi/2] and comes from exact integers, so float32 keeps full
    relative accuracy where the cosine form cancels (lr near its minimum).
    """
    d = jnp.abs(period - jnp.mod(x, 2 * period))
    s = jnp.sin(jnp.pi * d / (2 * period))
    return s * s


# ------------------------------------------------------------------------------ schedules
class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (see the module docstring for what the lambda receives)."""

    _has_chain = False

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        if not isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        else:
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _next_epoch(self, mode: str, epoch):
        """The epoch the lambdas are called with: a Python int in eager mode, a 0-d Tensor when tracing."""
        if mode in ("epoch", "restart"):
            return epoch
        if _tracing():
            return self._epoch + 1
        return self.last_epoch + 1

    def _mode_hypers(self, mode: str, epoch) -> list:
        e = self._next_epoch(mode, epoch)
        return [_val(f(e)) for f in self.lr_lambdas] + super()._mode_hypers(mode, epoch)

    @staticmethod
    def _group_hypers(i: int, n: int, hypers: list) -> list:
        return [hypers[i]]

    @staticmethod
    def _closed(static, e, base, factor):
        return base * factor

    def get_lr(self) -> list[float]:
        self._warn_get_lr()
        return [b * float(f(self.last_epoch)) for f, b in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d["lr_lambdas"] = [None if _is_function(f) else dict(f.__dict__) for f in self.lr_lambdas]
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state_dict)
        for f, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                f.__dict__.update(saved)


def _is_function(f) -> bool:
    import types

    return isinstance(f, types.FunctionType)


class MultiplicativeLR(LambdaLR):
    """``lr = lr * lr_lambda(epoch)`` on every step after the first (torch's recursive rule)."""

    _has_chain = True
    _has_closed = False

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)) and len(lr_lambda) != len(optimizer.param_groups):
            raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
        for f in lambdas:
            if not callable(f):
                raise TypeError(f"lr_lambda should be a function, but got {type(f).__name__}")
        super().__init__(optimizer, lambdas, last_epoch)

    @staticmethod
    def _chain(static, e, cur, base, initial, factor):
        return jnp.where(initial, cur, cur * factor)

    def get_lr(self) -> list[float]:
        return LRScheduler.get_lr(self)


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (self.step_size, _log(self.gamma), self.gamma)

    @staticmethod
    def _closed(static, e, base, step_size, log_gamma, gamma):
        return base * _gamma_pow(log_gamma, gamma, jnp.floor(e / step_size))

    @staticmethod
    def _chain(static, e, cur, base, initial, step_size, log_gamma, gamma):
        return jnp.where((e == 0) | (jnp.mod(e, step_size) != 0), cur, cur * gamma)


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (number of milestones <= epoch)`` (repeated milestones count repeatedly)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _static(self) -> tuple:
        return tuple(sorted(self.milestones.elements()))

    def _hypers(self) -> tuple:
        return (_log(self.gamma), self.gamma)

    @staticmethod
    def _closed(static, e, base, log_gamma, gamma):
        k = sum((e >= m).astype(jnp.float32) for m in static) if static else 0.0
        return base * _gamma_pow(log_gamma, gamma, k)

    @staticmethod
    def _chain(static, e, cur, base, initial, log_gamma, gamma):
        k = sum((e == m).astype(jnp.float32) for m in static) if static else 0.0
        return cur * _gamma_pow(log_gamma, gamma, k)


class ConstantLR(LRScheduler):
    """``lr = initial_lr * factor`` until ``total_iters``, then ``initial_lr``."""

    _hyper_attrs = ("factor", "total_iters")

    def __init__(
        self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, factor, total):
        return base * jnp.where(e >= total, 1.0, factor)

    @staticmethod
    def _chain(static, e, cur, base, initial, factor, total):
        return jnp.where(e == 0, cur * factor, jnp.where(e != total, cur, cur * (1.0 / factor)))


class LinearLR(LRScheduler):
    """``lr = initial_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``."""

    _hyper_attrs = ("start_factor", "end_factor", "total_iters")

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, start, end, total):
        frac = jnp.minimum(e, total) / jnp.maximum(total, 1)
        return base * (start + (end - start) * jnp.where(total == 0, 1.0, frac))

    @staticmethod
    def _chain(static, e, cur, base, initial, start, end, total):
        ratio = 1.0 + (end - start) / (total * start + (e - 1) * (end - start))
        return jnp.where(e == 0, cur * start, jnp.where(initial | (e > total), cur, cur * ratio))


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _hypers(self) -> tuple:
        return (_log(self.gamma), self.gamma)

    @staticmethod
    def _closed(static, e, base, log_gamma, gamma):
        return base * _gamma_pow(log_gamma, gamma, e)

    @staticmethod
    def _chain(static, e, cur, base, initial, log_gamma, gamma):
        return jnp.where(initial, cur, cur * gamma)


class PolynomialLR(LRScheduler):
    """``lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power``."""

    _hyper_attrs = ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, total, power):
        return base * jnp.power(1.0 - jnp.minimum(total, e) / total, power)

    @staticmethod
    def _chain(static, e, cur, base, initial, total, power):
        factor = jnp.power((1.0 - e / total) / (1.0 - (e - 1) / total), power)
        return jnp.where(initial | (e > total), cur, cur * factor)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``."""

    _hyper_attrs = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _closed(static, e, base, t_max, eta_min):
        return jnp.where(e == 0, base, eta_min + (base - eta_min) * _half_cos(e, t_max))

    @staticmethod
    def _chain(static, e, cur, base, initial, t_max, eta_min):
        restart = jnp.mod(e - 1 - t_max, 2 * t_max) == 0
        bump = cur + (base - eta_min) * _half_cos(t_max - 1, t_max)  # (1 - cos(pi / T)) / 2
        ratio = _half_cos(e, t_max) / _half_cos(e - 1, t_max)
        return jnp.where(initial, cur, jnp.where(restart, bump, ratio * (cur - eta_min) + eta_min))


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
                        group["betas"] = (m_m, *group["betas"][1:])
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
        if not self.cycle_momentum:
            return []
        if self.use_beta1:
            return [g["betas"][0] for g in self.optimizer.param_groups]
        return [g["momentum"] for g in self.optimizer.param_groups]

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
        per_group = [_val(g.get(k, 0.0)) for g in self.optimizer.param_groups for k in self._KEYS[1:]]
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


# ------------------------------------------------------------------------------ composition
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
            group["lr"] = Tensor._make(_copy(group["initial_lr"]))
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
            t._assign(_copy(g["lr"]))
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
        targets = [g["lr"] for g in self.optimizer.param_groups]
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
