"""The eight-schools hierarchical posterior, sampled exactly by accept-reject on the group scale."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, optimize

from kiss_bench.targets.base import MarginalMoments, Target, standard_moments_from_raw

__all__ = ["EightSchoolsTarget", "SCHOOL_EFFECTS", "SCHOOL_STANDARD_ERRORS"]

#: Estimated coaching effects and their standard errors in eight schools (SAT points), from
#: Rubin (1981), J. Educ. Stat. 6, 377, as tabulated in Gelman et al., Bayesian Data Analysis,
#: 3rd ed., Table 5.2.
SCHOOL_EFFECTS = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOL_STANDARD_ERRORS = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])

#: Prior scales of the usual centred parametrisation: mu ~ N(0, 5^2), tau ~ HalfCauchy(0, 5).
MU_PRIOR_SCALE = 5.0
TAU_PRIOR_SCALE = 5.0
#: The accept-reject bound is this factor times the numerically found maximum of the marginal
#: likelihood. Any bound above the supremum keeps the sampler exact, so the margin covers the
#: optimiser's tolerance at a cost of 1 % acceptance.
BOUND_SAFETY_FACTOR = 1.01
#: Grid in u = log(tau) for the quadratures: tau from e^-25 to e^12, where the posterior
#: density of u is below 1e-10 of its peak at both ends.
_LOG_TAU_GRID = np.linspace(-25.0, 12.0, 40001)


class EightSchoolsTarget(Target):
    """Posterior of the centred eight-schools model in coordinates (mu, log tau, theta_1..theta_8).

    Model: mu ~ N(0, 5^2), tau ~ HalfCauchy(0, 5), theta_j ~ N(mu, tau^2),
    y_j ~ N(theta_j, sigma_j^2) with the data of Rubin (1981). The sampler is exact:

    1. tau is drawn by accept-reject with the prior HalfCauchy(0, 5) as proposal and acceptance
       probability L(tau) / M, where L(tau) = p(y | tau) is the marginal likelihood with mu
       and theta integrated out in closed form, and M = 1.01 max L is a bound on it.
    2. mu | tau, y is normal with precision P = 1/5^2 + sum_j 1/(sigma_j^2 + tau^2).
    3. theta_j | mu, tau, y is normal with mean (y_j tau^2 + mu sigma_j^2) / (sigma_j^2 + tau^2)
       and variance sigma_j^2 tau^2 / (sigma_j^2 + tau^2).

    The log density includes the Jacobian tau of the map to log tau and the evidence p(y),
    so it is normalised. Moments come from quadrature over tau of the conditional normal
    moments; no marginal has a closed-form mode, so modes are NaN.
    """

    name = "eight_schools"

    def __init__(self) -> None:
        self._y = SCHOOL_EFFECTS
        self._sigma = SCHOOL_STANDARD_ERRORS
        tau_grid = np.exp(_LOG_TAU_GRID)
        log_likelihood = self._log_marginal_likelihood_numpy(tau_grid)
        start = tau_grid[np.argmax(log_likelihood)]
        found = optimize.minimize_scalar(
            lambda t: -self._log_marginal_likelihood_numpy(np.array([t]))[0],
            bounds=(0.0, 2.0 * start + 1.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        self.log_bound = max(-float(found.fun), float(log_likelihood.max())) + math.log(BOUND_SAFETY_FACTOR)
        integrand = np.exp(self._log_half_cauchy_numpy(tau_grid) + log_likelihood) * tau_grid
        self.log_evidence = math.log(integrate.simpson(integrand, x=_LOG_TAU_GRID))
        #: Probability that one proposal is accepted: p(y) / M.
        self.acceptance_probability = math.exp(self.log_evidence - self.log_bound)

    @property
    def dimension(self) -> int:
        return 2 + self._y.size

    def _log_half_cauchy_numpy(self, tau: np.ndarray) -> np.ndarray:
        return np.log(2.0 / (math.pi * TAU_PRIOR_SCALE)) - np.log1p((tau / TAU_PRIOR_SCALE) ** 2)

    def _conditional_mu(self, tau, backend):
        """Return (precision P, sum y_j / V_j, sum y_j^2 / V_j, V) of mu | tau, y for either backend."""
        variance = self._sigma_as(backend, tau) ** 2 + tau[..., None] ** 2
        y = self._y_as(backend, tau)
        precision = 1.0 / MU_PRIOR_SCALE**2 + (1.0 / variance).sum(-1)
        return precision, (y / variance).sum(-1), (y**2 / variance).sum(-1), variance

    def _y_as(self, backend, like):
        return self._y if backend is np else torch.as_tensor(self._y, dtype=like.dtype, device=like.device)

    def _sigma_as(self, backend, like):
        return self._sigma if backend is np else torch.as_tensor(self._sigma, dtype=like.dtype, device=like.device)

    def _log_marginal_likelihood(self, tau, backend):
        """Return log p(y | tau) with mu ~ N(0, 5^2) and every theta_j integrated out."""
        precision, weighted_sum, weighted_squares, variance = self._conditional_mu(tau, backend)
        log_2pi = math.log(2 * math.pi)
        return (
            -0.5 * (log_2pi + 2 * math.log(MU_PRIOR_SCALE))
            - 0.5 * (log_2pi + backend.log(variance)).sum(-1)
            + 0.5 * (log_2pi - backend.log(precision))
            - 0.5 * (weighted_squares - weighted_sum**2 / precision)
        )

    def _log_marginal_likelihood_numpy(self, tau: np.ndarray) -> np.ndarray:
        return self._log_marginal_likelihood(tau, np)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        accepted: list[torch.Tensor] = []
        count = 0
        while count < n:
            proposals = math.ceil(1.2 * (n - count) / self.acceptance_probability) + 16
            uniform = torch.rand(proposals, generator=generator, dtype=torch.float64, device=device)
            tau = TAU_PRIOR_SCALE * torch.tan(0.5 * math.pi * uniform)
            log_ratio = self._log_marginal_likelihood(tau, torch) - self.log_bound
            keep = torch.rand(proposals, generator=generator, dtype=torch.float64, device=device).log() < log_ratio
            accepted.append(tau[keep])
            count += int(keep.sum())
        tau = torch.cat(accepted)[:n]

        precision, weighted_sum, _, _ = self._conditional_mu(tau, torch)
        noise = torch.randn(n, 1 + self._y.size, generator=generator, dtype=torch.float64, device=device)
        mu = weighted_sum / precision + noise[:, 0] / precision.sqrt()
        sigma2 = self._sigma_as(torch, tau) ** 2
        tau2 = tau[:, None] ** 2
        theta_mean = (self._y_as(torch, tau) * tau2 + mu[:, None] * sigma2) / (sigma2 + tau2)
        theta = theta_mean + noise[:, 1:] * (sigma2 * tau2 / (sigma2 + tau2)).sqrt()
        return torch.cat([mu[:, None], tau.clamp_min(1e-300).log()[:, None], theta], dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_tau, theta = x[..., 0], x[..., 1], x[..., 2:]
        tau = log_tau.exp()
        y = self._y_as(torch, x)
        sigma = self._sigma_as(torch, x)
        log_2pi = math.log(2 * math.pi)
        log_prior_mu = -0.5 * (mu / MU_PRIOR_SCALE) ** 2 - math.log(MU_PRIOR_SCALE) - 0.5 * log_2pi
        log_prior_tau = math.log(2.0 / (math.pi * TAU_PRIOR_SCALE)) - torch.log1p((tau / TAU_PRIOR_SCALE) ** 2)
        log_theta = (-0.5 * ((theta - mu[..., None]) / tau[..., None]) ** 2 - log_tau[..., None] - 0.5 * log_2pi).sum(
            -1
        )
        log_y = (-0.5 * ((y - theta) / sigma) ** 2 - torch.log(sigma) - 0.5 * log_2pi).sum(-1)
        return log_prior_mu + log_prior_tau + log_tau + log_theta + log_y - self.log_evidence

    def moments(self) -> MarginalMoments:
        u = _LOG_TAU_GRID
        tau = np.exp(u)
        density_u = (
            np.exp(self._log_half_cauchy_numpy(tau) + self._log_marginal_likelihood_numpy(tau) - self.log_evidence)
            * tau
        )

        precision, weighted_sum, _, _ = self._conditional_mu(tau, np)
        mu_mean, mu_variance = weighted_sum / precision, 1.0 / precision
        sigma2, tau2 = self._sigma[None, :] ** 2, tau[:, None] ** 2
        shrink = sigma2 / (sigma2 + tau2)
        theta_mean = self._y * (1 - shrink) + shrink * mu_mean[:, None]
        theta_variance = shrink**2 * mu_variance[:, None] + sigma2 * tau2 / (sigma2 + tau2)

        means = np.column_stack([mu_mean, u, theta_mean])
        variances = np.column_stack([mu_variance, np.zeros_like(u), theta_variance])
        m, s2 = means, variances
        conditional_raw = np.stack([m, m**2 + s2, m**3 + 3 * m * s2, m**4 + 6 * m**2 * s2 + 3 * s2**2])
        raw = integrate.simpson(conditional_raw * density_u[None, :, None], x=u, axis=1)
        mean, variance, skewness, kurtosis = standard_moments_from_raw(raw)
        return MarginalMoments(mean, variance, skewness, kurtosis, np.full(self.dimension, np.nan))
