"""``GradScaler``: torch.amp's dynamic loss scaling, in every mode without a host read.

torch decides on the host whether to run ``optimizer.step()`` (``found_inf.item()``). Here the
decision is data: ``step`` runs the optimizer's update with ``skip_if=found_inf`` (see
``Optimizer._step``), whose kernels compute the update and keep every written tensor's old
value (params, moments, ``step`` counts) where ``found_inf`` is nonzero. Eager, ``ej.lazy()``
and ``ej.compile`` therefore run the same math on the same path (they agree as the plain
optimizer's modes do: bit for bit unless XLA fuses a multiply-add differently), eager mode
never waits for the device, and a compiled step contains the whole decision. The scale, the
growth tracker and the factors are 0-d tensors written in place (state a compiled step
discovers), so a new scale or factor never recompiles.

The per-optimizer stages (``unscale_`` / ``step`` / ``update``) are Python, as in torch: inside
``ej.compile`` keep ``scaler.step(opt)`` and ``scaler.update()`` in the same step (the step's
Python runs only when it is traced).
"""

from __future__ import annotations

import warnings
from collections import abc, defaultdict
from enum import Enum
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._dispatch import Kernel, run_kernel
from ._tensor import Tensor, default_device
from .optim._optimizer import Optimizer, _concrete_scalar, _scalar_array

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict[str, Any]:
    # A module-level factory (not a lambda): a scaler's defaultdict stays picklable.
    return {"stage": OptState.READY, "found_inf_per_device": {}}


# -- kernels -------------------------------------------------------------------------------
_kernels: dict = {}


def _unscale_kernel(n: int, unscale: bool) -> Kernel:
    """``(*grads, scale) -> (found_inf, *grads / scale)``: ``found_inf`` is 1.0 if any grad has
    an inf/NaN (checked before unscaling, as torch's CPU and CUDA kernels do), else 0.0.
    ``unscale=False``: only the check. torch computes ``1/scale`` in float64 and rounds it to
    float32; a float32 reciprocal is that same correctly rounded value."""
    key = ("unscale", n, unscale)
    kern = _kernels.get(key)
    if kern is None:

        def fn(*vals):
            grads, scale = vals[:n], vals[n]
            bad = jnp.zeros((), jnp.bool_)
            for g in grads:
                bad = bad | ~jnp.all(jnp.isfinite(g))
            found = bad.astype(jnp.float32)
            if not unscale:
                return (found,)
            # Above 2**126, 1/scale is a float32 subnormal, which XLA flushes to zero: there
            # multiply by 2**64/scale, then by 2**-64 (exact for a power-of-two scale).
            big = scale > jnp.float32(2.0**126)
            inv = jnp.where(big, jnp.float32(2.0**64), jnp.float32(1)) / scale
            post = jnp.where(big, jnp.float32(2.0**-64), jnp.float32(1))
            out = []
            for g in grads:
                # float32 math, rounded to the grad's dtype (torch's opmath for half types)
                if jnp.issubdtype(g.dtype, jnp.floating) and g.dtype.itemsize < 4:
                    out.append(((g.astype(jnp.float32) * inv) * post).astype(g.dtype))
                else:
                    out.append((g * inv.astype(g.dtype)) * post.astype(g.dtype))
            return (found, *out)

        kern = _kernels[key] = Kernel(fn, "grad_scaler_unscale" if unscale else "grad_scaler_check_inf")
    return kern


def _update_kernel(n: int) -> Kernel:
    """``(scale, tracker, *found_infs, growth, backoff, interval) -> (scale, tracker)``: torch's
    ``_amp_update_scale_`` (back off on any inf; grow after ``interval`` clean steps unless the
    grown scale would be inf)."""
    key = ("update", n)
    kern = _kernels.get(key)
    if kern is None:

        def fn(scale, tracker, *rest):
            found = rest[0]
            for f in rest[1:n]:
                found = found + f
            growth, backoff, interval = rest[n:]
            inf = found != 0
            successful = tracker + 1
            grow = successful == interval
            grown = scale * growth
            kept = jnp.where(grow & jnp.isfinite(grown), grown, scale)
            new_scale = jnp.where(inf, scale * backoff, kept)
            new_tracker = jnp.where(inf | grow, jnp.zeros_like(tracker), successful)
            return new_scale, new_tracker

        kern = _kernels[key] = Kernel(fn, "grad_scaler_update")
    return kern


def _stage_error(msg: str) -> RuntimeError:
    """torch's error; inside a step ``ej.compile`` traces, the likely cause and its fix."""
    from ._capture import CaptureError
    from ._state import flags

    if flags.mode is None or getattr(flags.mode, "is_lazy", False):
        return RuntimeError(msg)
    return CaptureError(
        f"{msg} Inside an ej.compile'd step, call scaler.update() in the same step, after "
        "scaler.step(optimizer): the scaler's per-iteration bookkeeping is Python, which runs only "
        "while the step is traced, not on each compiled call."
    )


class GradScaler:
    """Dynamic loss scaling (``torch.amp.GradScaler``).

    ``scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()``: ``step``
    unscales the optimizer's grads (unless ``unscale_`` did) and applies the update unless a
    grad has an inf/NaN; ``update`` backs the scale off by ``backoff_factor`` after a skipped
    step and grows it by ``growth_factor`` after ``growth_interval`` clean ones.

    Unlike torch, a skipped step is decided inside the update (see the module docstring):
    ``optimizer.step``'s hooks still run, and optimizer state first needed on a skipped step
    is created with its initial values (Adam's zero moments and step 0, as torch would create
    them on the next real step). ``device`` is accepted for torch's signature; eagerjax's
    tensors live on JAX's default device. As in torch, the default device is ``"cuda"``, and
    a ``"cuda"`` scaler without a GPU warns and disables itself (every method passes
    through): pass ``"cpu"`` to scale on a CPU.
    """

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = device
        self._enabled = enabled
        if enabled and device == "cuda" and default_device().type != "cuda":
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: Tensor | None = None  # born on the first ``scale()``, as in torch
            self._growth_tracker: Tensor | None = None
            self._init_growth_tracker = 0
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._make_factors()
            self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(_refresh_per_optimizer_state)

    def _make_factors(self) -> None:
        # The Python values answer the getters and ``state_dict`` (torch's); the update reads
        # these tensors, so a setter never recompiles a step and a compiled step sees it.
        self._factors = (
            _concrete_scalar(self._growth_factor, np.float32),
            _concrete_scalar(self._backoff_factor, np.float32),
            _concrete_scalar(self._growth_interval, np.int32),
        )

    # -- scale / tracker -----------------------------------------------------------------
    def _check_scale_growth_tracker(self, funcname: str) -> tuple[Tensor, Tensor]:
        fix = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self) -> None:
        if self._growth_tracker is not None:
            raise AssertionError("_growth_tracker initialized before _scale")
        self._scale = _concrete_scalar(self._init_scale, np.float32)
        self._growth_tracker = _concrete_scalar(self._init_growth_tracker, np.int32)

    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples/iterables of tensors) times the scale;
        returned unchanged when disabled. A list or tuple keeps its type; another iterable
        gives a lazy ``map``, as in torch."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker()
            return outputs * self._scale

        def apply_scale(val):
            if isinstance(val, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker()
                return val * self._scale
            if isinstance(val, abc.Iterable):
                scaled = map(apply_scale, val)
                if isinstance(val, (list, tuple)):
                    return type(val)(scaled)
                return scaled
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    # -- unscale / step --------------------------------------------------------------------
    def _unscale_grads_(self, optimizer, unscale: bool, allow_fp16: bool) -> dict:
        """Check (and with ``unscale``, divide by the scale) every grad of ``optimizer`` in one
        kernel; ``{device: found_inf}``, empty when no param has a grad."""
        grads = []
        for group in optimizer.param_groups:
            for param in group["params"]:
                if not isinstance(param, Tensor):
                    raise AssertionError(f"expected param to be Tensor, got {type(param).__name__}")
                g = param.grad
                if g is None:
                    continue
                if not allow_fp16 and g.dtype == np.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                grads.append(g)
        if not grads:
            return {}
        outs = run_kernel(_unscale_kernel(len(grads), unscale), [g._read() for g in grads] + [self._scale._read()])
        if unscale:
            Tensor._assign_all(grads, outs[1:])
        return {self._scale.device: Tensor._make(outs[0])}

    def unscale_(self, optimizer) -> None:
        """Divide ("unscale") ``optimizer``'s grads by the scale, in place; at most once per
        optimizer between ``update()`` calls, and before ``step()``."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise _stage_error("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, True, False)
        state["stage"] = OptState.UNSCALED

    def _maybe_opt_step(self, optimizer, state: dict, *args, **kwargs):
        found = list(state["found_inf_per_device"].values())
        found_inf = found[0]
        for f in found[1:]:
            found_inf = found_inf + f
        if isinstance(optimizer, Optimizer) and type(optimizer).step is Optimizer.step:
            # the data-dependent skip (no host read): see the module docstring
            return optimizer._step(*args, skip_if=found_inf, **kwargs)
        # An optimizer with its own ``step``: torch's host decision (a host read, so inside
        # ej.compile this is an error, or a graph break with fullgraph=False).
        if not float(found_inf):
            return optimizer.step(*args, **kwargs)
        return None

    def step(self, optimizer, *args, **kwargs):
        """``unscale_(optimizer)`` unless done, then ``optimizer.step(*args, **kwargs)`` unless a
        grad is inf/NaN (a skipped update leaves params and optimizer state as they were).
        Returns the optimizer's return value (None for a skipped step; with an eagerjax
        optimizer the skip is decided on the device, so that is its ``step``'s value, None)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise _stage_error("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = self._maybe_opt_step(optimizer, state, *args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Back off or grow the scale from this iteration's inf checks (all optimizers), or set
        it to ``new_scale``; then start a new iteration."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, (float, int)) and not isinstance(new_scale, bool):
                scale._assign(_scalar_array(new_scale, np.float32))
            else:
                reason = (
                    "new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                    "torch.FloatTensor with requires_grad=False."
                )
                if not isinstance(new_scale, Tensor) or new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError(reason)
                v = new_scale._read().reshape(())
                scale._assign(v.astype(jnp.float32) if v.dtype != jnp.float32 else v)
        else:
            found_infs = [f for st in self._per_optimizer_states.values() for f in st["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            vals = [scale._read(), tracker._read(), *(f._read() for f in found_infs)]
            vals += [t._read() for t in self._factors]
            Tensor._assign_all([scale, tracker], run_kernel(_update_kernel(len(found_infs)), vals))
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # -- getters / setters -------------------------------------------------------------------
    def _get_scale_async(self) -> Tensor | None:
        return self._scale

    def get_scale(self) -> float:
        """The scale as a Python float (1.0 when disabled): a host read."""
        if self._enabled:
            return self._init_scale if self._scale is None else self._scale.item()
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor
        self._factors[0]._assign(_scalar_array(new_factor, np.float32))

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor
        self._factors[1]._assign(_scalar_array(new_factor, np.float32))

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval
        self._factors[2]._assign(_scalar_array(new_interval, np.int32))

    def _get_growth_tracker(self) -> int:
        if self._enabled:
            return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker.item()
        return 0

    def is_enabled(self) -> bool:
        return self._enabled

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's keys (``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval``,
        ``_growth_tracker``) as Python numbers; empty when disabled."""
        if self._enabled:
            return {
                "scale": self.get_scale(),
                "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker(),
            }
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale._assign(_scalar_array(state_dict["scale"], np.float32))
        self.set_growth_factor(state_dict["growth_factor"])
        self.set_backoff_factor(state_dict["backoff_factor"])
        self.set_growth_interval(state_dict["growth_interval"])
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker._assign(_scalar_array(state_dict["_growth_tracker"], np.int32))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError(
                    "A GradScaler instance may only be pickled at the beginning "
                    "of an iteration, or at the end after scaler.update()."
                )
            # as torch: the unpickled scaler makes its tensors again, from these numbers
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            del state["_factors"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._enabled:
            self._make_factors()

    def _check_inf_per_device(self, optimizer) -> dict:
        self._check_scale_growth_tracker("_check_inf_per_device")
        found = self._unscale_grads_(optimizer, False, True)
        self._per_optimizer_states[id(optimizer)]["found_inf_per_device"] = found
        return found

    def _found_inf_per_device(self, optimizer) -> dict:
        return self._per_optimizer_states[id(optimizer)]["found_inf_per_device"]
