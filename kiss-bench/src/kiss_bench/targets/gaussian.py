"""Multivariate normal targets: equicorrelated normals and an ill-conditioned rotated normal."""

from __future__ import annotations

import math

import numpy as np
import torch

from kiss_bench.targets.base import MarginalMoments, Target

__all__ = ["GaussianTarget", "equicorrelated_normal", "ill_conditioned_normal"]


class GaussianTarget(Target):
    """Multivariate normal N(mean, covariance).

    Arguments:
        mean: Mean vector, shape (d,).
        covariance: Symmetric positive definite covariance, shape (d, d).
        name: Registry name.
    """

    def __init__(self, mean: np.ndarray, covariance: np.ndarray, name: str = "normal") -> None:
        self.name = name
        self.mean = np.asarray(mean, dtype=np.float64)
        self.covariance = np.asarray(covariance, dtype=np.float64)
        self._cholesky = np.linalg.cholesky(self.covariance)
        self._log_det = 2.0 * np.log(np.diag(self._cholesky)).sum()

    @property
    def dimension(self) -> int:
        return self.mean.shape[0]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        noise = torch.randn(n, self.dimension, generator=generator, dtype=torch.float64, device=device)
        cholesky = torch.as_tensor(self._cholesky, device=device)
        return torch.as_tensor(self.mean, device=device) + noise @ cholesky.T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        cholesky = torch.as_tensor(self._cholesky, dtype=x.dtype, device=x.device)
        centred = x - torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        whitened = torch.linalg.solve_triangular(cholesky, centred.unsqueeze(-1), upper=False).squeeze(-1)
        return -0.5 * (whitened**2).sum(-1) - 0.5 * self._log_det - 0.5 * self.dimension * math.log(2 * math.pi)

    def moments(self) -> MarginalMoments:
        zeros = np.zeros(self.dimension)
        return MarginalMoments(self.mean.copy(), np.diag(self.covariance).copy(), zeros, zeros.copy(), self.mean.copy())


def equicorrelated_normal(dimension: int, correlation: float = 0.0) -> GaussianTarget:
    """Build the standard normal in ``dimension`` dims with every pairwise correlation equal to ``correlation``.

    The covariance (1 - rho) I + rho 11^T is positive definite for -1/(d - 1) < rho < 1.
    """
    covariance = (1.0 - correlation) * np.eye(dimension) + correlation * np.ones((dimension, dimension))
    suffix = "" if correlation == 0.0 else f"_corr{correlation:g}"
    return GaussianTarget(np.zeros(dimension), covariance, name=f"normal{dimension}d{suffix}")


def ill_conditioned_normal(dimension: int = 10, condition_number: float = 1e4, seed: int = 0) -> GaussianTarget:
    """Build a zero-mean normal whose covariance has eigenvalues log-spaced over ``condition_number``.

    The eigenvalues run from 1/sqrt(condition_number) to sqrt(condition_number) (0.01 to 100
    for the default), and the eigenvectors are a fixed random rotation (Haar, from ``seed``)
    so that no coordinate axis is aligned with them.
    """
    eigenvalues = np.logspace(-0.5, 0.5, dimension) ** math.log10(condition_number)
    random = np.random.default_rng(seed)
    rotation, upper = np.linalg.qr(random.standard_normal((dimension, dimension)))
    rotation = rotation * np.sign(np.diag(upper))
    covariance = rotation @ np.diag(eigenvalues) @ rotation.T
    covariance = 0.5 * (covariance + covariance.T)
    return GaussianTarget(np.zeros(dimension), covariance, name=f"ill_conditioned{dimension}d")
