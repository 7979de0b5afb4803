"""The base of the learning-rate schedulers (see ``lr_scheduler`` for the contract): the kernel
plumbing, ``LRScheduler`` (epoch, base lrs, closed form vs torch's recursive rule, state dict),
and the float32-careful math the schedules share.
"""

from __future__ import annotations

import math
import warnings
import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._autograd import no_grad
from .._dispatch import Kernel, run_kernel
from .._lazy import LazyValue
from .._state import bump_state, flags
from .._tensor import Tensor
from . import _lr_host
from ._optimizer import Optimizer, _concrete_scalar

_kernels: dict = {}
_custom_classes: dict[type, bool] = {}

_EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)
_OVERRIDDEN_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)
_MAX_PENDING_SKIPS = 16

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
    """A fresh buffer holding ``t``'s value (state tensors never share buffers: they are donated).

    In lazy mode the value may still be pending (a scheduler made right after another one,
    whose first step set the lr): the copy is then recorded like any op."""
    v = t._read()
    if type(v) is LazyValue and v.array is None:
        with no_grad():
            return t.clone()._value
    with jax.ensure_compile_time_eval():
        return jnp.array(v, copy=True)


def _tracing() -> bool:
    """True inside a compiled step or lazy mode, where values must not be read on the host."""
    return flags.mode is not None


def _run(key, build, state: list[Tensor], inputs: list[Tensor], targets: list[Tensor], hypers: list) -> None:
    """Run the cached kernel ``key`` on the tensors' values; write new state and targets back."""
    k = _kernels.get(key)
    if k is None:
        k = _kernels[key] = Kernel(build(), "lr_schedule")
    _apply(k, state, inputs, targets, hypers)


def _apply(k: Kernel, state: list[Tensor], inputs: list[Tensor], targets: list[Tensor], hypers: list) -> None:
    """Run kernel ``k`` on state + inputs + targets + hypers; write new state and targets back."""
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


# ------------------------------------------------------------------------------ step order
class _TrackedStep:
    """``optimizer.step`` / ``optimizer._step`` as a scheduler leaves them (torch's patch): an
    instance attribute that notes the optimizer ran (``optimizer._opt_called``), then calls
    the method it replaced. ``_step`` is GradScaler's path: its ``skip_if`` (the found-inf
    tensor) is kept, unread, until a scheduler's first ``step()`` asks whether an update ran
    (eager and lazy read it then; inside ``ej.compile`` its value is not known, so the
    update counts as run)."""

    __slots__ = ("_opt", "_name", "_orig")
    _wrapped_by_lr_sched = True

    def __init__(self, opt, name: str, orig) -> None:
        self._opt = weakref.ref(opt)
        self._name = name
        self._orig = orig  # None: the class's method

    def _target(self, opt):
        return self._orig if self._orig is not None else getattr(type(opt), self._name).__get__(opt)

    def __call__(self, *args, **kwargs):
        opt = self._opt()
        if not opt.__dict__.get("_opt_called", False):
            _note_step(opt, kwargs.get("skip_if") if self._name == "_step" else None)
        return self._target(opt)(*args, **kwargs)

    @property
    def __wrapped__(self):
        return self._target(self._opt())

    @property
    def __name__(self) -> str:
        return self._name

    def __deepcopy__(self, memo):
        # copying the optimizer: the copy's tracker calls the copy
        new = memo.get(id(self._opt()))
        return self if new is None else _TrackedStep(new, self._name, self._orig)

    def __reduce__(self):
        return (_TrackedStep, (self._opt(), self._name, self._orig))


def _note_step(opt, skip_if) -> None:
    if skip_if is None or (flags.mode is not None and not flags.mode.is_lazy):
        opt._opt_called = True  # (traced: the skip's value is not known on the host)
        opt.__dict__.pop("_lr_sched_skips", None)
        return
    pending = opt.__dict__.setdefault("_lr_sched_skips", [])
    pending.append(skip_if)
    if len(pending) >= _MAX_PENDING_SKIPS:
        _optimizer_ran(opt)  # (a scheduler that is never stepped: keep the list short)


def _optimizer_ran(opt) -> bool:
    """Whether ``opt``'s update ran since a scheduler wrapped it (torch's ``_opt_called``):
    GradScaler's skipped updates do not count, as in torch, where it never calls ``step()``."""
    if opt.__dict__.get("_opt_called", False):
        return True
    pending = opt.__dict__.get("_lr_sched_skips")
    if not pending:
        return False
    if flags.mode is not None and not flags.mode.is_lazy:
        return True  # (eager skips read inside a trace: not known here, counted as run)
    opt.__dict__.pop("_lr_sched_skips")
    if any(not float(t) for t in pending):
        opt._opt_called = True
        return True
    return False


def _track_optimizer_steps(opt) -> None:
    """torch's patch of ``optimizer.step`` (once per optimizer), plus ``_step`` (GradScaler's)."""
    if hasattr(opt.step, "_wrapped_by_lr_sched"):
        return
    for name in ("step", "_step"):
        cur = getattr(opt, name, None)
        if cur is None:
            continue
        own = getattr(cur, "__self__", None) is opt and getattr(cur, "__func__", None) is getattr(type(opt), name)
        setattr(opt, name, _TrackedStep(opt, name, None if own else cur))


def _check_step_order(optimizer) -> None:
    """torch's warnings at a scheduler's first ``step()`` when the optimizer has not stepped."""
    if not hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        warnings.warn(_OVERRIDDEN_WARNING, UserWarning, stacklevel=3)
    elif not _optimizer_ran(optimizer):
        warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=3)


class LRScheduler:
    """Base class: ``last_epoch``, ``base_lrs``, ``step()``, ``get_last_lr()``, ``state_dict()``.

    A subclass gives its schedule as jax math on tensors: ``_closed(static, e,
    base, *hypers)`` (the closed form at epoch ``e``) and/or ``_chain(static, e,
    cur, base, initial, *hypers)`` (torch's recursive ``get_lr`` from the group's
    current lr), with ``_hypers()`` (numbers, passed traced; by default the
    attributes named in ``_hyper_attrs``) and ``_static()`` (anything that
    changes the shape of that math). Kernels are cached by class,
    mode and static structure and hold no reference to a scheduler.

    A subclass defined outside eagerjax that overrides ``get_lr()`` (torch's protocol) runs it
    on the host instead, in every mode (see ``_lr_host``); its float32 lrs carry the float64
    remainder in ``_lo``/``_base_lo`` so recursive formulas follow torch's float64 values.
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
                group.setdefault("initial_lr", known if known is not None else Tensor._make(_copy(group.raw("lr"))))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler with "
                        "last_epoch >= 0.\nThis typically happens when:\n1. You're trying to resume training from a "
                        "checkpoint but haven't properly loaded the optimizer state\n2. You're using last_epoch >= 0 "
                        "for a fresh training run (not recommended)"
                    )
        self._base = [group.raw("initial_lr") for group in optimizer.param_groups]
        if self._custom():
            known = [group.known("initial_lr") for group in optimizer.param_groups]
            self._base_lo = [_concrete_scalar(_lr_host.split(k)[1] if k is not None else 0.0) for k in known]
        self._epoch = _concrete_scalar(float(last_epoch))
        self._init_tracking()
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def _adopt_new_groups(self) -> None:
        """Groups added to the optimizer after this scheduler (unfreezing a backbone): each
        starts from its own lr and follows the recursive rule, as torch's chainable
        ``get_lr()`` treats every group."""
        for g in self.optimizer.param_groups[len(self._base) :]:
            lr = g.known("lr")
            if lr is None:
                if _tracing():
                    raise RuntimeError(
                        f"{type(self).__name__}: a param group was added with an lr that is not known on the "
                        "host; step the scheduler once outside ej.compile first"
                    )
                lr = float(g.raw("lr"))
            self._base.append(_concrete_scalar(lr))
            self._last.append(_concrete_scalar(lr))
            self._chained.append(_concrete_scalar(1.0))
        bump_state()  # new state tensors: a compiled step finds them

    def _init_tracking(self) -> None:
        # The lr this scheduler last wrote to each group (also get_last_lr), and whether it
        # follows torch's recursive rule because something else changed the lr.
        self._last = [_concrete_scalar(0.0) for _ in self._base]
        self._chained = [_concrete_scalar(0.0) for _ in self._base]
        if self._custom():
            self._lo = [_concrete_scalar(0.0) for _ in self._base]
        self._reset_tracking()

    def _reset_tracking(self) -> None:
        """Forget chaining: the groups' lrs are taken as this schedule's own (at its base)."""
        for t, b in zip(self._last, self._base):
            t._assign(_copy(b))
        for t in self._chained:
            _set(t, 0.0)
        for t, b in zip(self.__dict__.get("_lo", ()), self.__dict__.get("_base_lo", ())):
            t._assign(_copy(b))

    @classmethod
    def _custom(cls) -> bool:
        """True for a user subclass giving its schedule as torch's ``get_lr()``: the class that
        defines ``get_lr`` lives outside eagerjax."""
        v = _custom_classes.get(cls)
        if v is None:
            owner = next(k for k in cls.__mro__ if "get_lr" in k.__dict__)
            v = _custom_classes[cls] = not (owner.__module__ or "").startswith("eagerjax.")
        return v

    def _custom_step(self, epoch) -> None:
        """torch's ``_update_lr`` for a ``get_lr()`` subclass: ``last_epoch += 1`` (or ``= epoch``),
        then the groups' lrs from ``get_lr()`` (``_get_closed_form_lr()`` for ``step(epoch)`` when
        defined), evaluated on the host -- through a callback kernel when tracing."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self._base):
            raise RuntimeError(f"{type(self).__name__}: the optimizer's param groups changed after it was created")
        closed = epoch is not None and hasattr(self, "_get_closed_form_lr")
        state = [self._epoch] + self._last + self._lo
        inputs = self._base + self._base_lo
        targets = [g.raw("lr") for g in groups]
        if _tracing():
            kern = _lr_host.get_lr_kernel(self, len(groups), epoch is not None, closed)
            _apply(kern, state, inputs, targets, [] if epoch is None else [_val(epoch)])
            return
        e = _lr_host.host_epoch(float(self._epoch) + 1) if epoch is None else epoch
        vals = [float(t) for t in state[1:] + inputs + targets]
        out = _lr_host.evaluate_get_lr(self, e, vals, closed, keep_attrs=True)
        n = len(groups)
        for t, v in zip(state + targets, [e] + out + out[:n]):
            _set(t, v)

    def _exact_lrs(self, hi: list[Tensor], lo_attr: str) -> list[float]:
        """Host values of float32 lrs ``hi``, plus their float64 remainders where kept."""
        lo = self.__dict__.get(lo_attr)
        if lo is None:
            # The shortest decimal that rounds to the float32 (0.1, not 0.10000000149011612):
            # nearer torch's float64 schedule, and math.isclose(lr, 0.1) holds as in torch.
            return [float(str(np.float32(float(h)))) for h in hi]
        return [_lr_host.join(float(h), float(el)) for h, el in zip(hi, lo)]

    def _load_exact(self, hi: list[Tensor], lo_attr: str, values) -> None:
        lo = self.__dict__.get(lo_attr)
        for i, v in enumerate(values):
            h, el = _lr_host.split(float(v))
            _set(hi[i], h)
            if lo is not None:
                _set(lo[i], el)

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
        targets = [g.raw("lr") for g in self.optimizer.param_groups]
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
    # (``_host``: the host view a ``get_lr()`` subclass runs on, see ``_lr_host``)
    @property
    def last_epoch(self) -> int:
        h = self.__dict__.get("_host")
        if h is not None:
            return h["epoch"]
        return int(math.floor(float(self._epoch)))

    @last_epoch.setter
    def last_epoch(self, value) -> None:
        h = self.__dict__.get("_host")
        if h is not None:
            h["epoch"] = value
        else:
            _set(self._epoch, value)

    @property
    def base_lrs(self) -> list[float]:
        h = self.__dict__.get("_host")
        if h is not None:
            return list(h["base"])
        return self._exact_lrs(self._base, "_base_lo")

    @base_lrs.setter
    def base_lrs(self, values) -> None:
        h = self.__dict__.get("_host")
        if h is not None:
            h["base"] = list(values)
        else:
            self._load_exact(self._base, "_base_lo", values)

    def step(self, epoch: int | None = None) -> None:
        if self._step_count == 1:
            _check_step_order(self.optimizer)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None) -> None:
        if len(self.optimizer.param_groups) > len(self._base) and not self._custom() and "_host" not in self.__dict__:
            self._adopt_new_groups()
        if self._custom():
            self._custom_step(epoch)
        elif epoch is None:
            self._execute("initial" if self._is_initial else "step")
        else:
            self._execute("epoch", epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set (read on the host)."""
        h = self.__dict__.get("_host")
        if h is not None:
            return list(h["last"])
        return self._exact_lrs(self._last, "_lo")

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

    # Attributes that are eagerjax's own bookkeeping, never part of ``state_dict()``.
    _private_attrs = frozenset({"_host_fns", "_host", "_lo", "_base_lo"})

    def _plain_state(self) -> dict[str, Any]:
        """The attributes ``state_dict()`` shows as they are (all but the tensor-held ones)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._tensor_attrs and k not in self._private_attrs}

    def state_dict(self) -> dict[str, Any]:
        d = self._plain_state()
        d["base_lrs"] = self.base_lrs
        d["last_epoch"] = self.last_epoch
        d.update(self._extra_state())
        d["_last_lr"] = self.get_last_lr()
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
                self._load_exact(self._last, "_lo", last_lr)
            if chained is not None:  # (saved by older versions)
                for t, c in zip(self._chained, chained):
                    _set(t, bool(c))
            else:
                self._recompute_chained()

    def _recompute_chained(self) -> None:
        """Whether each group follows torch's recursive rule, from the values alone: a group whose
        last lr differs from the closed form at ``last_epoch`` was changed by something else (and
        from an lr equal to the closed form, both rules continue alike). ``state_dict()`` thus
        needs no key torch lacks."""
        cls = type(self)
        if not (cls._has_closed and cls._has_chain) or self._custom() or _tracing():
            for t in self._chained:
                _set(t, 0.0)
            return
        parts = self._parts("epoch", float(self._epoch))
        mode_key = self._key("epoch", parts)
        static = self._static()
        ns, ni, nt = (len(p) for p in parts[:3])
        k = _kernels.get(mode_key)
        if k is None:
            k = _kernels[mode_key] = Kernel(_kernel_fn(cls._pure, static, "epoch", ns, ni, nt), "lr_schedule")
        state, inputs, targets, hypers = parts
        vals = [t._read() for t in state + inputs + targets] + hypers
        with no_grad():
            closed = run_kernel(k, vals)[ns:]
        for t, last, c in zip(self._chained, self._last, closed):
            _set(t, float(float(last) != float(c)))


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
