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

# (_kl2 registers the KL pairs of the distributions added after kl.py was written)
from . import _kl2, constraint_registry, constraints, kl, transforms  # noqa: F401
from ._discrete import Bernoulli, Categorical, OneHotCategorical, OneHotCategoricalStraightThrough
from ._distribution import Distribution, ExponentialFamily
from ._gamma import Beta, Dirichlet, Gamma
from ._lkj import LKJCholesky
from ._lowrank import LowRankMultivariateNormal
from ._mixture import MixtureSameFamily, Multinomial, NegativeBinomial
from ._mvn import Independent, MultivariateNormal
from ._normal import Laplace, LogNormal, Normal
from ._poisson import Binomial, Geometric, Poisson
from ._relaxed import ContinuousBernoulli, RelaxedBernoulli, RelaxedOneHotCategorical
from ._studentt import Cauchy, Chi2, StudentT
from ._transformed import Gumbel, HalfNormal, TransformedDistribution
from ._transformed2 import HalfCauchy, Kumaraswamy, LogisticNormal, Pareto, Weibull
from ._uniform import Exponential, Uniform
from ._vonmises import VonMises
from ._wishart import Wishart
from .constraint_registry import biject_to, transform_to
from .kl import kl_divergence, register_kl
from .transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
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
    "CatTransform",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ComposeTransform",
    "ContinuousBernoulli",
    "CorrCholeskyTransform",
    "CumulativeDistributionTransform",
    "Dirichlet",
    "Distribution",
    "ExpTransform",
    "Exponential",
    "ExponentialFamily",
    "Gamma",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Independent",
    "IndependentTransform",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "LogisticNormal",
    "LowRankMultivariateNormal",
    "LowerCholeskyTransform",
    "MixtureSameFamily",
    "Multinomial",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "PositiveDefiniteTransform",
    "Poisson",
    "PowerTransform",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "StudentT",
    "TanhTransform",
    "Transform",
    "TransformedDistribution",
    "Uniform",
    "VonMises",
    "Weibull",
    "Wishart",
    "biject_to",
    "constraint_registry",
    "constraints",
    "identity_transform",
    "kl",
    "kl_divergence",
    "register_kl",
    "transform_to",
    "transforms",
]
