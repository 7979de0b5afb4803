"""``eagerjax.distributions``: torch.distributions on eagerjax tensors.

Parameters, ``log_prob``, ``entropy``, ``cdf`` and KL divergences are ordinary eagerjax ops
(gradients come from the tape); ``sample``/``rsample`` draw from the global generator through
random op rows (``ej.manual_seed`` makes them reproducible, and eager, ``ej.compile`` and
``ej.lazy()`` draw the same numbers). ``rsample`` is reparameterized: differentiable in the
parameters, never in the noise. Argument validation (``validate_args``, on by default as in
torch) checks values in eager mode only; inside compiled steps and lazy graphs only shapes are
checked.
"""

from __future__ import annotations

from . import constraints, kl
from ._discrete import Bernoulli, Categorical, OneHotCategorical, OneHotCategoricalStraightThrough
from ._distribution import Distribution, ExponentialFamily
from ._gamma import Beta, Dirichlet, Gamma
from ._mvn import Independent, MultivariateNormal
from ._normal import Laplace, LogNormal, Normal
from ._uniform import Exponential, Uniform
from .kl import kl_divergence, register_kl

__all__ = [
    "Bernoulli",
    "Beta",
    "Categorical",
    "Dirichlet",
    "Distribution",
    "Exponential",
    "ExponentialFamily",
    "Gamma",
    "Independent",
    "Laplace",
    "LogNormal",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Uniform",
    "constraints",
    "kl",
    "kl_divergence",
    "register_kl",
]
