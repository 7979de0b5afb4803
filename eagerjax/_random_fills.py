"""In-place random fills from torch's less common distributions: ``Tensor.cauchy_``,
``Tensor.geometric_`` and ``Tensor.log_normal_``.

Each is a uniform (or normal) draw from the generator (``_random.draw``: key in, key out,
so it runs eager, compiled and lazy alike) transformed by ordinary rows, then written
back with the in-place rules of the other fills (``_random._fill_random``).
"""

from __future__ import annotations

import math

import numpy as np

from ._dtypes import torch_name
from ._random import Generator, _fill_random, _normal_row, _uniform_row, draw, draw_shaped
from ._tensor import Tensor

_INT_NAMES = {"int32": "int", "int64": "long", "int16": "short", "int8": "signed char", "uint8": "unsigned char"}


def _num(v: float) -> str:
    return f"{v:g}"


def cauchy_(t: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill ``t`` with Cauchy(median, sigma) samples: ``median + sigma * tan(pi * (u - 1/2))``."""
    if not float(sigma) > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_num(float(sigma))}")
    if not np.issubdtype(t.dtype, np.floating):
        raise RuntimeError(
            "Cauchy distribution is a continuous probability distribution. dtype must be a floating point but you "
            f"specified {_INT_NAMES.get(np.dtype(t.dtype).name, np.dtype(t.dtype).name)}"
        )
    u = draw(_uniform_row, generator, shape=tuple(t.shape), dtype=t.dtype, low=0.0, high=1.0)
    return _fill_random(t, ((u - 0.5) * math.pi).tan() * float(sigma) + float(median))


def geometric_(t: Tensor, p: float, *, generator: Generator | None = None) -> Tensor:
    """Fill ``t`` with the number of Bernoulli(p) trials up to the first success (>= 1):
    ``ceil(log(u) / log(1 - p))`` for u uniform in (0, 1]."""
    if not 0 < float(p) < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_num(float(p))}")
    fdt = t.dtype if np.issubdtype(t.dtype, np.floating) else np.float32
    u = draw(_uniform_row, generator, shape=tuple(t.shape), dtype=fdt, low=0.0, high=1.0)
    k = ((1 - u).log() / math.log1p(-float(p))).ceil().clamp_min(1)
    return _fill_random(t, k if k.dtype == t.dtype else k.to(t.dtype))


def log_normal_(t: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Generator | None = None) -> Tensor:
    """Fill ``t`` with ``exp(N(mean, std))`` samples."""
    if not float(std) > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_num(float(std))}")
    if not np.issubdtype(t.dtype, np.floating):
        raise NotImplementedError(f"\"log_normal_cpu\" not implemented for '{torch_name(t.dtype)}'")
    z = draw_shaped(_normal_row, generator, tuple(t.shape), t.dtype, mean=float(mean), std=float(std))
    return _fill_random(t, z.exp())


Tensor.cauchy_ = cauchy_
Tensor.geometric_ = geometric_
Tensor.log_normal_ = log_normal_
