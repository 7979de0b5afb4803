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

from . import constraints, kl, transforms
from ._discrete import Bernoulli, Categorical, OneHotCategorical, OneHotCategoricalStraightThrough
from ._distribution import Distribution, ExponentialFamily
from ._gamma import Beta, Dirichlet, Gamma
from ._mvn import Independent, MultivariateNormal
from ._normal import Laplace, LogNormal, Normal
from ._poisson import Binomial, Geometric, Poisson
from ._studentt import Cauchy, Chi2, StudentT
from ._transformed import Gumbel, HalfNormal, TransformedDistribution
from ._uniform import Exponential, Uniform
from .kl import kl_divergence, register_kl
from .transforms import (
    AbsTransform,
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    PowerTransform,
    SigmoidTransform,
    SoftmaxTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

__all__ = [
    "AbsTransform",
    "AffineTransform",
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ComposeTransform",
    "Dirichlet",
    "Distribution",
    "ExpTransform",
    "Exponential",
    "ExponentialFamily",
    "Gamma",
    "Geometric",
    "Gumbel",
    "HalfNormal",
    "Independent",
    "Laplace",
    "LogNormal",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Poisson",
    "PowerTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "StickBreakingTransform",
    "StudentT",
    "TanhTransform",
    "Transform",
    "TransformedDistribution",
    "Uniform",
    "constraints",
    "identity_transform",
    "kl",
    "kl_divergence",
    "register_kl",
    "transforms",
]
