"""Helpers shared by the distributions: broadcasting, probs/logits, lazy properties, and the
random rows their samplers draw from.

Sampling follows ``_random``: every draw is one op row ``row(key, ...) -> (new_key, sample)`` run
through ``_random.draw``, so ``ej.manual_seed`` makes it reproducible and compiled and lazy runs
draw the numbers eager draws. Standard normal / uniform noise reuses ``_random``'s bucketed rows
(one compiled kernel per size bucket for the whole process); the rows below are the draws that
need a parameter inside the kernel (categorical, gamma, Dirichlet). The gamma and Dirichlet rows
are differentiable in the concentration: their ``rsample`` is reparameterized through
``jax.random.gamma``'s implicit gradient, as torch's is.
"""

from __future__ import annotations

import numbers
from functools import update_wrapper

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._autograd import enable_grad
from .._ops._registry import op
from .._random import _normal_row, _split, _uniform_row, draw, draw_shaped
from .._state import flags
from .._tensor import Size, Tensor

euler_constant = 0.57721566490153286060


def broadcast_all(*values):
    """Broadcast Tensors and numbers together (numbers take the first Tensor's dtype)."""
    from .. import broadcast_tensors, tensor

    if not all(isinstance(v, Tensor) or isinstance(v, numbers.Number) for v in values):
        raise ValueError(
            "Input arguments must all be instances of Number, torch.Tensor or objects implementing __torch_function__."
        )
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), _dtypes.get_default_dtype())
    vals = [v if isinstance(v, Tensor) else tensor(v, dtype=dtype) for v in values]
    if len(vals) == 1:
        return (vals[0],)
    if all(tuple(v.shape) == tuple(vals[0].shape) for v in vals):
        return tuple(vals)
    return tuple(broadcast_tensors(*vals))


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum out the ``dim`` rightmost dimensions of ``value``."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Clamp probabilities into ``[eps, 1 - eps]``."""
    eps = float(jnp.finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Logits to probabilities: a sigmoid (binary) or a softmax over the last dim."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities to logits (log-odds when ``is_binary``), through clamped probabilities."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


class lazy_property:  # noqa: N801 - torch's name
    """A property computed on first access (with grad enabled), then cached on the instance."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def size(shape) -> Size:
    return Size(tuple(int(d) for d in shape))


def eager() -> bool:
    """Whether values can be read on the host now (eager mode: not tracing, not recording)."""
    return flags.mode is None


def host_all(t) -> bool:
    """``bool(t.all())`` read on the host (eager mode only)."""
    return bool(np.asarray(t._value).all()) if isinstance(t, Tensor) else bool(np.all(t))


# ---- noise -------------------------------------------------------------------------------


def standard_normal(shape, dtype) -> Tensor:
    """A ``shape``-d standard normal draw from the global generator (not differentiable)."""
    return draw_shaped(_normal_row, None, tuple(shape), dtype)


def standard_uniform(shape, dtype, low: float = 0.0, high: float = 1.0) -> Tensor:
    """A ``shape``-d uniform draw in ``[low, high)`` from the global generator."""
    return draw_shaped(_uniform_row, None, tuple(shape), dtype, low=float(low), high=float(high))


def _categorical(key, probs, n):
    nk, k = _split(key)
    # log(0) = -inf: a class of probability 0 is never drawn (as torch.multinomial)
    s = jax.random.categorical(k, jnp.log(probs), axis=-1, shape=(n,) + probs.shape[:-1])
    return nk, s.astype(jnp.int32)


def _gamma(key, concentration):
    nk, k = _split(key)
    s = jax.random.gamma(k, concentration, dtype=concentration.dtype)
    # torch clamps the sample to the smallest normal number outside autograd
    tiny = jnp.finfo(s.dtype).tiny
    return nk, s + jax.lax.stop_gradient(jnp.maximum(s, tiny) - s)


def _dirichlet(key, concentration):
    nk, k = _split(key)
    s = jax.random.dirichlet(k, concentration, dtype=concentration.dtype)
    tiny = jnp.finfo(s.dtype).tiny
    return nk, s + jax.lax.stop_gradient(jnp.maximum(s, tiny) - s)


_R = dict(function=False, method=False)
_categorical_row = op("_dist_categorical", _categorical, differentiable=False, **_R)
_gamma_row = op("_dist_gamma", _gamma, **_R)
_dirichlet_row = op("_dist_dirichlet", _dirichlet, **_R)


def sample_categorical(probs: Tensor, n: int) -> Tensor:
    """``n`` class indices per row of ``probs`` (shape ``(n,) + probs.shape[:-1]``)."""
    return draw(_categorical_row, None, probs, n=int(n))


def sample_gamma(concentration: Tensor) -> Tensor:
    """A standard-gamma draw of ``concentration``'s shape, reparameterized."""
    return draw(_gamma_row, None, concentration)


def sample_dirichlet(concentration: Tensor) -> Tensor:
    """A Dirichlet draw (events along the last dim), reparameterized."""
    return draw(_dirichlet_row, None, concentration)


class BinaryParams:
    """``probs`` and ``logits`` of a binary-outcome family, each derived from the other on
    first use (put before the base class); ``_param`` is whichever was given."""

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> Size:
        return self._param.size()
