"""User Python inside a schedule: ``LambdaLR``'s lambdas, ``CyclicLR``'s ``scale_fn`` and a
subclass's own ``get_lr()``, in every mode.

Eager mode calls them on the host with Python numbers, as torch does. Inside a compiled step or
lazy mode, a lambda is first called with the epoch as a 0-d Tensor and traced (tensor math such
as ``0.95 ** e``); if it needs the epoch's value (``min(1.0, (e + 1) / 10)``, ``math.cos(e)``,
``if e < 5``) it runs on the host from inside the program through ``jax.pure_callback``: the
epoch stays a traced counter, the program is traced once, and the factors are exactly eager's
(the same Python, the same float32 rounding). A ``get_lr()`` subclass always runs on the host
(eagerly, or through the callback), on a *view* of the scheduler whose ``last_epoch``,
``base_lrs`` and ``optimizer.param_groups[i]["lr"]`` are Python numbers, so eager, compiled and
lazy runs give the same learning rates.

Invariant: a callback runs while other Python code may run (XLA dispatches asynchronously), so it
reads only its arguments and plain Python attributes -- never a Tensor's value or the global mode
-- and writes nothing but its result. Attributes a ``get_lr()`` sets on ``self`` are kept in
eager mode only; inside a compiled step or lazy mode they are set on the throwaway view.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from .. import _callback
from .._autograd import no_grad
from .._dispatch import Kernel, run_kernel
from .._state import flags
from .._tensor import Tensor

_F32 = np.float32


class _HostNeeded(Exception):
    """Raised by a host read during a trial trace: the function needs concrete values."""


@contextlib.contextmanager
def refuse_host_reads() -> Iterator[None]:
    """Inside a tracing mode, make any host read of a tensor raise ``_HostNeeded`` (instead of a
    CaptureError, or a lazy flush) while user code is tried with traced arguments."""
    mode = flags.mode

    def refuse(t, what):
        raise _HostNeeded(what)

    mode.host_read = refuse  # (an instance attribute shadows the mode's method)
    try:
        yield
    finally:
        del mode.host_read


# What a trial trace of user code may raise when it needs the epoch as a number (``math.cos``
# and ``range`` read the value; ``list[e]`` and friends raise TypeError on a Tensor).
_TRIAL_ERRORS = (_HostNeeded, TypeError, AttributeError)


def _host_kernels(owner) -> dict:
    """The per-scheduler cache of callback kernels (they hold the user's functions, so they live
    on the scheduler rather than in the module's kernel cache)."""
    return owner.__dict__.setdefault("_host_fns", {})


def _value(x):
    return x._read() if isinstance(x, Tensor) else float(x)


def epoch_values(
    owner,
    slot: str,
    fns: list[Callable],
    epoch: Tensor,
    traced_arg: Callable[[Tensor], object],
    host_arg: Callable[[float], object],
) -> list:
    """``[f(arg) for f in fns]`` as kernel inputs inside a tracing mode, where ``arg`` is derived
    from the scheduler's epoch state ``epoch``: ``traced_arg(epoch)`` for the trial trace, or
    ``host_arg(float(epoch))`` on the host through a callback once a function needs the value
    (decided once per ``owner`` and ``slot``, then kept)."""
    kernels = _host_kernels(owner)
    kern = kernels.get(slot)
    if kern is None:
        try:
            with refuse_host_reads():
                return [_value(f(traced_arg(epoch))) for f in fns]
        except _TRIAL_ERRORS:
            kern = kernels[slot] = _values_kernel(list(fns), host_arg)
    with no_grad():
        return list(run_kernel(kern, [epoch._read()]))


def _values_kernel(fns: list[Callable], host_arg: Callable[[float], object]) -> Kernel:
    n = len(fns)

    def on_host(epoch):
        arg = host_arg(float(epoch))
        return np.asarray([float(f(arg)) for f in fns], _F32)

    def values(epoch):
        out = _callback.pure_callback(on_host, jax.ShapeDtypeStruct((n,), jnp.float32), epoch, vmap_method="sequential")
        return tuple(out[i] for i in range(n))

    return Kernel(values, "lr_lambda", callback=True)


def host_epoch(epoch: float):
    """The epoch a user function sees: an ``int`` when it holds one, as torch's counters."""
    return int(epoch) if float(epoch).is_integer() else float(epoch)


def next_epoch(epoch_state: float) -> int:
    """The epoch ``step()`` moves to from the state ``epoch_state`` (``last_epoch + 1``)."""
    return int(math.floor(epoch_state)) + 1


# ------------------------------------------------------------------------------ get_lr() subclasses
def split(v: float) -> tuple[float, float]:
    """``v`` as float32 ``hi + lo``: the lr (hi) and what float32 rounded off (lo), so a recursive
    ``get_lr`` continues from torch's float64 value rather than drifting an ulp a step."""
    hi = float(_F32(v))
    return hi, float(_F32(v - hi))


def join(hi: float, lo: float) -> float:
    """The float64 value ``split`` kept: ``hi + lo`` holds ~48 bits, so it is tidied to 15
    significant digits (0.1 splits and joins back to 0.1, as torch shows it)."""
    return float(f"{hi + lo:.15g}") if lo else hi


class _HostOptimizer:
    """The optimizer as a ``get_lr()`` sees it on the host: its param groups as plain dicts whose
    ``lr``/``initial_lr`` are Python floats (other hyperparameters: the Python values last
    assigned, where the group still holds them)."""

    def __init__(self, optimizer, groups: list[dict]) -> None:
        self._optimizer = optimizer
        self.param_groups = groups
        self.defaults = optimizer.defaults

    def __getattr__(self, name):
        return getattr(self._optimizer, name)


def _host_group(group, lr: float, base: float) -> dict:
    d = {}
    for k, v in dict.items(group):
        if k in group._tensor_keys and k != "params":
            v = group.known(k)
            if v is None or (isinstance(v, tuple) and None in v):
                continue  # (not known on the host: left out rather than read)
        d[k] = v
    d["lr"] = lr
    d["initial_lr"] = base
    return d


_VIEW_ONLY = frozenset({"optimizer", "_host", "_last_lr", "_get_lr_called_within_step"})


def evaluate_get_lr(sched, epoch, vals: list[float], closed: bool, keep_attrs: bool) -> list[float]:
    """Run ``sched``'s ``get_lr()`` (or ``_get_closed_form_lr()`` if ``closed``) on a host view at
    ``epoch``. ``vals`` = last(n) + lo(n) + base(n) + base_lo(n) + current group lr(n), the
    scheduler's float32 state. Returns hi(n) + lo(n) of the new learning rates."""
    n = len(vals) // 5
    last, lo, base, base_lo, cur = (vals[i * n : (i + 1) * n] for i in range(5))
    exact_base = [join(b, bl) for b, bl in zip(base, base_lo)]
    # the group's lr: the float64 value this scheduler last set while the group still holds it
    lrs = [join(h, el) if c == h else c for h, el, c in zip(last, lo, cur)]
    view = object.__new__(type(sched))
    view.__dict__.update(sched.__dict__)
    groups = [_host_group(g, lr, b) for g, lr, b in zip(sched.optimizer.param_groups, lrs, exact_base)]
    view.__dict__.update(
        optimizer=_HostOptimizer(sched.optimizer, groups),
        _host={"epoch": epoch, "base": exact_base, "last": lrs},
        _last_lr=list(lrs),
        _get_lr_called_within_step=True,
    )
    values = view._get_closed_form_lr() if closed else view.get_lr()
    if keep_attrs:
        for k, v in view.__dict__.items():
            if k not in _VIEW_ONLY and sched.__dict__.get(k, _VIEW_ONLY) is not v:
                sched.__dict__[k] = v
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{type(sched).__name__}.get_lr() returned {len(values)} values for {n} param groups")
    parts = [split(float(v)) for v in values]
    return [p[0] for p in parts] + [p[1] for p in parts]


def get_lr_kernel(sched, n: int, given: bool, closed: bool) -> Kernel:
    """The kernel of a ``get_lr()`` step, cached on ``sched``: values = epoch, last(n), lo(n),
    base(n), base_lo(n), current lr(n)[, the epoch given to ``step(epoch)``]; returns the new
    epoch, last(n), lo(n) and the groups' new lrs (n)."""
    kernels = _host_kernels(sched)
    key = ("get_lr", n, given, closed)
    kern = kernels.get(key)
    if kern is not None:
        return kern

    def on_host(epoch, vals):
        out = evaluate_get_lr(sched, host_epoch(epoch), [float(v) for v in vals], closed, keep_attrs=False)
        return np.asarray(out, _F32)

    def step(epoch, *vals):
        e = jnp.asarray(vals[5 * n], jnp.float32) if given else epoch + 1
        packed = jnp.stack([jnp.asarray(v, jnp.float32) for v in vals[: 5 * n]])
        out = _callback.pure_callback(
            on_host, jax.ShapeDtypeStruct((2 * n,), jnp.float32), e, packed, vmap_method="sequential"
        )
        hi = [out[i] for i in range(n)]
        lo = [out[n + i] for i in range(n)]
        return (e, *hi, *lo, *hi)

    kern = kernels[key] = Kernel(step, "lr_get_lr", callback=True)
    return kern
