"""Gaussian mixture targets: 1-D two-component mixtures and correlated multivariate mixtures."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import optimize, stats

from kiss_bench.targets.base import MarginalMoments, Target, standard_moments_from_raw

__all__ = ["GaussianMixtureTarget", "correlated_mixture", "two_component_mixture_1d"]


class GaussianMixtureTarget(Target):
    """Mixture of normals sharing one covariance: sum_k w_k N(mean_k, covariance).

    Arguments:
        means: Component means, shape (K, d).
        covariance: Shared component covariance, shape (d, d).
        weights: Component weights, shape (K,), normalised here.
        name: Registry name.
    """

    def __init__(self, means: np.ndarray, covariance: np.ndarray, weights: np.ndarray, name: str) -> None:
        self.name = name
        self.means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        self.covariance = np.asarray(covariance, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        self._cholesky = np.linalg.cholesky(self.covariance)
        self._log_det = 2.0 * np.log(np.diag(self._cholesky)).sum()

    @property
    def dimension(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        weights = torch.as_tensor(self.weights, device=device)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dimension, generator=generator, dtype=torch.float64, device=device)
        cholesky = torch.as_tensor(self._cholesky, device=device)
        return torch.as_tensor(self.means, device=device)[component] + noise @ cholesky.T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        cholesky = torch.as_tensor(self._cholesky, dtype=x.dtype, device=x.device)
        means = torch.as_tensor(self.means, dtype=x.dtype, device=x.device)
        centred = x.unsqueeze(-2) - means
        whitened = torch.linalg.solve_triangular(cholesky, centred.unsqueeze(-1), upper=False).squeeze(-1)
        component_log_density = (
            -0.5 * (whitened**2).sum(-1) - 0.5 * self._log_det - 0.5 * self.dimension * math.log(2 * math.pi)
        )
        log_weights = torch.as_tensor(np.log(self.weights), dtype=x.dtype, device=x.device)
        return torch.logsumexp(component_log_density + log_weights, dim=-1)

    def moments(self) -> MarginalMoments:
        mu = self.means
        s2 = np.diag(self.covariance)
        normal_raw = np.stack([mu, mu**2 + s2, mu**3 + 3 * mu * s2, mu**4 + 6 * mu**2 * s2 + 3 * s2**2])
        raw = np.einsum("k,mkd->md", self.weights, normal_raw)
        mean, variance, skewness, kurtosis = standard_moments_from_raw(raw)
        modes = np.array([self._marginal_mode(i) for i in range(self.dimension)])
        return MarginalMoments(mean, variance, skewness, kurtosis, modes)

    def _marginal_mode(self, i: int) -> float:
        """Locate the global maximum of marginal i; NaN when two maxima are equally high."""
        scale = math.sqrt(self.covariance[i, i])
        centres = self.means[:, i]

        def negative_density(x: float) -> float:
            return -float(np.sum(self.weights * stats.norm.pdf(x, centres, scale)))

        # Every local maximum of a shared-width normal mixture lies within the span of its means.
        peaks = []
        for centre in centres:
            found = optimize.minimize_scalar(
                negative_density,
                bounds=(centre - 3 * scale, centre + 3 * scale),
                method="bounded",
                options={"xatol": 1e-10},
            )
            peaks.append((found.fun, found.x))
        peaks.sort()
        best, runner_up = peaks[0], peaks[1] if len(peaks) > 1 else (np.inf, np.nan)
        if abs(best[1] - runner_up[1]) > 1e-6 and abs(best[0] - runner_up[0]) <= 1e-9 * abs(best[0]):
            return math.nan
        return float(best[1])


def two_component_mixture_1d(separation: float, weight_ratio: float = 1.0) -> GaussianMixtureTarget:
    """Build w_- N(-separation, 1) + w_+ N(+separation, 1) in 1-D with w_+ / w_- = ``weight_ratio``."""
    ratio_label = "equal" if weight_ratio == 1.0 else f"1to{weight_ratio:g}"
    return GaussianMixtureTarget(
        np.array([[-separation], [separation]]),
        np.eye(1),
        np.array([1.0, weight_ratio]),
        name=f"mixture1d_pm{separation:g}_{ratio_label}",
    )


def correlated_mixture(
    dimension: int, separation: float = 5.0, weight_ratio: float = 3.0, correlation: float = 0.5
) -> GaussianMixtureTarget:
    """Build a d-dimensional two-component mixture with modes at -separation*1 and +separation*1.

    Both components share the equicorrelated covariance (1 - rho) I + rho 11^T with unit
    variances. The weights are 1 : ``weight_ratio`` (negative mode : positive mode).
    """
    covariance = (1.0 - correlation) * np.eye(dimension) + correlation * np.ones((dimension, dimension))
    means = np.stack([-separation * np.ones(dimension), separation * np.ones(dimension)])
    return GaussianMixtureTarget(
        means,
        covariance,
        np.array([1.0, weight_ratio]),
        name=f"mixture{dimension}d_pm{separation:g}_1to{weight_ratio:g}",
    )
