"""The KL divergences torch registers for ContinuousBernoulli, Pareto, LowRankMultivariateNormal,
Gumbel, Poisson against other families, and exponential families of one type (Bregman).

As in ``kl``, torch's in-place ``result[mask] = inf`` is a ``where`` here, so each is a pure
function of the parameters (compiled and lazy programs trace it).
"""

from __future__ import annotations

import math

from ._discrete import Bernoulli
from ._distribution import ExponentialFamily
from ._gamma import Beta, Gamma
from ._lowrank import LowRankMultivariateNormal, _lowrank_logdet, _lowrank_mahalanobis
from ._mvn import MultivariateNormal, _batch_mahalanobis, tril_solve
from ._normal import Laplace, Normal
from ._poisson import Binomial, Poisson
from ._relaxed import ContinuousBernoulli
from ._transformed import Gumbel
from ._transformed2 import Pareto
from ._uniform import Exponential, Uniform
from ._utils import _sum_rightmost, euler_constant
from .kl import _batch_trace_XXT, _infinite_like, _x_log_x, register_kl

__all__: list = []


def _ej():
    import eagerjax

    return eagerjax


def _inf_where(mask, t):
    return _ej().where(mask, math.inf, t)


# ---- ContinuousBernoulli ------------------------------------------------------------------------


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_cb_cb(p, q):
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + (-p.probs).log1p()
    t3 = -q._cont_bern_log_norm() - (-q.probs).log1p()
    return t1 + t2 + t3


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_cb(p, q):
    return -p.entropy() - p.mean * q.logits - (-q.probs).log1p() - q._cont_bern_log_norm()


@register_kl(ContinuousBernoulli, Exponential)
def _kl_cb_exponential(p, q):
    return -p.entropy() - q.rate.log() + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_cb_normal(p, q):
    t1 = -p.entropy()
    t2 = 0.5 * (math.log(2.0 * math.pi) + (q.loc / q.scale).square()) + q.scale.log()
    t3 = (p.variance + p.mean.square() - 2.0 * q.loc * p.mean) / (2.0 * q.scale.square())
    return t1 + t2 + t3


@register_kl(ContinuousBernoulli, Uniform)
def _kl_cb_uniform(p, q):
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where((q.low >= 0.0) | (q.high <= 1.0), result)  # torch's test, kept as is


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_cb(p, q):
    result = -p.entropy() - p.mean * q.logits - (-q.probs).log1p() - q._cont_bern_log_norm()
    return _inf_where((p.high >= 1.0) | (p.low <= 0.0), result)


# ---- Pareto --------------------------------------------------------------------------------------


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p, q):
    alpha_ratio = q.alpha / p.alpha
    result = q.alpha * (p.scale / q.scale).log() - alpha_ratio.log() + alpha_ratio - 1
    return _inf_where(p.scale < q.scale, result)


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p, q):
    prod = p.scale * q.rate
    result = (p.alpha / prod).log() - p.alpha.reciprocal() + p.alpha * prod / (p.alpha - 1) - 1
    return _inf_where(p.alpha <= 1, result)


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p, q):
    common = p.scale.log() + p.alpha.reciprocal()
    t1 = p.alpha.log() - common
    t2 = q.concentration.lgamma() - q.concentration * q.rate.log()
    t3 = (1 - q.concentration) * common
    t4 = q.rate * p.alpha * p.scale / (p.alpha - 1)
    return _inf_where(p.alpha <= 1, t1 + t2 + t3 + t4 - 1)


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p, q):
    var_normal = 2 * q.scale.pow(2)
    common = p.scale / (p.alpha - 1)
    t1 = (math.sqrt(2 * math.pi) * q.scale * p.alpha / p.scale).log()
    t2 = p.alpha.reciprocal()
    t3 = p.alpha * common.pow(2) / (p.alpha - 2)
    t4 = (p.alpha * common - q.loc).pow(2)
    return _inf_where(p.alpha <= 2, t1 - t2 + (t3 + t4) / var_normal - 1)


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p, q):
    width = p.high - p.low
    t1 = (q.alpha * q.scale.pow(q.alpha) * width).log()
    t2 = (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    return _inf_where(p.low < q.scale, t2 * (q.alpha + 1) - t1)


# ---- supports that do not cover p's: +inf ---------------------------------------------------------


@register_kl(Pareto, Beta)
@register_kl(Pareto, ContinuousBernoulli)
@register_kl(Pareto, Uniform)
def _kl_pareto_infinity(p, q):
    return _infinite_like(p.scale)


@register_kl(Poisson, Bernoulli)
@register_kl(Poisson, Binomial)
def _kl_poisson_infinity(p, q):
    return _infinite_like(p.rate)


@register_kl(ContinuousBernoulli, Pareto)
def _kl_cb_infinity(p, q):
    return _infinite_like(p.probs)


@register_kl(Beta, Pareto)
def _kl_beta_infinity(p, q):
    return _infinite_like(p.concentration1)


@register_kl(Exponential, ContinuousBernoulli)
@register_kl(Exponential, Pareto)
def _kl_exponential_infinity(p, q):
    return _infinite_like(p.rate)


@register_kl(Gamma, ContinuousBernoulli)
@register_kl(Gamma, Pareto)
def _kl_gamma_infinity(p, q):
    return _infinite_like(p.concentration)


@register_kl(Gumbel, Beta)
@register_kl(Gumbel, ContinuousBernoulli)
@register_kl(Gumbel, Exponential)
@register_kl(Gumbel, Gamma)
@register_kl(Gumbel, Pareto)
@register_kl(Gumbel, Uniform)
@register_kl(Laplace, ContinuousBernoulli)
@register_kl(Laplace, Pareto)
@register_kl(Normal, ContinuousBernoulli)
@register_kl(Normal, Pareto)
def _kl_loc_infinity(p, q):
    return _infinite_like(p.loc)


# ---- low-rank Gaussians ----------------------------------------------------------------------------


def _check_events(p, q, what: str) -> None:
    if p.event_shape != q.event_shape:
        raise ValueError(f"KL-divergence between two {what} with different event shapes cannot be computed")


def _q_lowrank_terms(p, q):
    """``log det`` of q's covariance, q's Mahalanobis term of the mean gap, and ``A = C^-1 W^T D^-1``."""
    W, D, C = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag, q._capacitance_tril
    logdet = _lowrank_logdet(W, D, C)
    maha = _lowrank_mahalanobis(W, D, q.loc - p.loc, C)
    A = tril_solve(C, W.mT / D.unsqueeze(-2))
    return logdet, maha, A


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p, q):
    _check_events(p, q, "Low Rank Multivariate Normals")
    q_logdet, term3, A = _q_lowrank_terms(p, q)
    pW, pD, qD = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag, q._unbroadcasted_cov_diag
    term1 = q_logdet - _lowrank_logdet(pW, pD, p._capacitance_tril)
    term21 = (pD / qD).sum(-1)
    term22 = _batch_trace_XXT(pW * qD.rsqrt().unsqueeze(-1))
    term23 = _batch_trace_XXT(A * pD.sqrt().unsqueeze(-2))
    term24 = _batch_trace_XXT(A @ pW)
    return 0.5 * (term1 + term21 + term22 - term23 - term24 + term3 - p.event_shape[0])


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p, q):
    _check_events(p, q, "(Low Rank) Multivariate Normals")
    q_logdet, term3, A = _q_lowrank_terms(p, q)
    pL = p._unbroadcasted_scale_tril
    term1 = q_logdet - 2 * pL.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    term21 = _batch_trace_XXT(pL * q._unbroadcasted_cov_diag.rsqrt().unsqueeze(-1))
    term22 = _batch_trace_XXT(A @ pL)
    return 0.5 * (term1 + term21 - term22 + term3 - p.event_shape[0])


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrank_mvn(p, q):
    _check_events(p, q, "(Low Rank) Multivariate Normals")
    qL = q._unbroadcasted_scale_tril
    pW, pD = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag
    term1 = 2 * qL.diagonal(dim1=-2, dim2=-1).log().sum(-1) - _lowrank_logdet(pW, pD, p._capacitance_tril)
    term3 = _batch_mahalanobis(qL, q.loc - p.loc)
    term21 = _batch_trace_XXT(tril_solve(qL, pW))
    term22 = _batch_trace_XXT(tril_solve(qL, _ej().diag_embed(pD.sqrt())))
    return 0.5 * (term1 + term21 + term22 + term3 - p.event_shape[0])


# ---- against a Gumbel q: E_p[-log q(x)] = log(scale) + E_p[z] + E_p[exp(-z)], z = (x - loc) / scale ----


def _gumbel_cross(q, mean_z, mean_exp_neg_z):
    return q.scale.log() + mean_z + mean_exp_neg_z


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p, q):
    z = (p.loc - q.loc) / q.scale
    s2 = (p.scale / q.scale).pow(2)
    neg_entropy = -p.scale.log() - 0.5 * (1 + math.log(2 * math.pi))
    return neg_entropy + _gumbel_cross(q, z, (0.5 * s2 - z).exp())


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p, q):
    rs = p.rate * q.scale  # E[exp(-x / scale)] = rs / (rs + 1)
    mean_z = rs.reciprocal() - q.loc / q.scale
    return p.rate.log() - 1 + _gumbel_cross(q, mean_z, (q.loc / q.scale).exp() * rs / (rs + 1))


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p, q):
    mean_z = (p.concentration / p.rate - q.loc) / q.scale
    # E[exp(-x / scale)] = (1 + 1 / (rate scale))^-concentration
    mgf = (q.loc / q.scale - p.concentration * (q.scale * p.rate).reciprocal().log1p()).exp()
    return -p.entropy() + _gumbel_cross(q, mean_z, mgf)


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p, q):
    width = p.high - p.low
    hi, lo = (p.high - q.loc) / q.scale, (p.low - q.loc) / q.scale
    mean_exp = q.scale / width * ((-lo).exp() - (-hi).exp())
    return -width.log() + _gumbel_cross(q, 0.5 * (hi + lo), mean_exp)


@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p, q):
    mean = p.loc + p.scale * euler_constant
    var = (math.pi**2 / 6) * p.scale.pow(2)
    cross = q.scale.log() + 0.5 * math.log(2 * math.pi) + (var + (mean - q.loc).pow(2)) / (2 * q.scale.pow(2))
    return -(p.scale.log() + 1 + euler_constant) + cross


@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p, q):
    # E_p[-log q(k)] = rate - E[k] log(rate) (log k! = 0 for k in {0, 1})
    return -p.entropy() + q.rate - p.probs * q.rate.log()


# ---- one exponential family: the Bregman divergence of its log normalizer -------------------


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p, q):
    """KL = A(eta_q) - A(eta_p) - <eta_q - eta_p, grad A(eta_p)> (A: the log normalizer).

    As torch, p's natural parameters are detached (no gradient reaches p's parameters)."""
    if type(p) is not type(q):
        # (torch's message, with the run of spaces its source leaves in it)
        raise NotImplementedError(
            "The cross KL-divergence between different exponential families cannot"
            + " " * 29
            + "be computed using Bregman divergences"
        )
    ej = _ej()
    p_eta = [t.detach().requires_grad_() for t in p._natural_params]
    q_eta = q._natural_params
    with ej.enable_grad():
        a_p = p._log_normalizer(*p_eta)
        grads = ej.autograd.grad(a_p.sum(), p_eta, create_graph=True)
    result = q._log_normalizer(*q_eta) - a_p
    for pe, qe, g in zip(p_eta, q_eta, grads):
        result = result - _sum_rightmost((qe - pe) * g, len(q.event_shape))
    return result
