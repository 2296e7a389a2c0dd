"""The Target interface: a distribution with an exact sampler, a log density and known moments."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MarginalMoments", "Target", "standard_moments_from_raw"]


@dataclass(frozen=True)
class MarginalMoments:
    """Exact moments of every one-dimensional marginal of a target, one entry per dimension.

    Arguments:
        mean: Marginal means.
        variance: Marginal variances.
        skewness: Marginal skewness, third standardised central moment.
        kurtosis: Marginal excess kurtosis, fourth standardised central moment minus 3.
        mode: Marginal modes; NaN where the marginal has no unique mode or none is known in
            closed form, and the mode comparison is then skipped for that dimension.
    """

    mean: np.ndarray
    variance: np.ndarray
    skewness: np.ndarray
    kurtosis: np.ndarray
    mode: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return the moments keyed by the one-sample metric names."""
        return {
            "mean": self.mean,
            "variance": self.variance,
            "skewness": self.skewness,
            "kurtosis": self.kurtosis,
            "mode": self.mode,
        }


def standard_moments_from_raw(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Convert raw moments E[x^k], k = 1..4 (shape (4, d)), into mean, variance, skewness, excess kurtosis."""
    m1, m2, m3, m4 = raw
    variance = m2 - m1**2
    central3 = m3 - 3 * m1 * m2 + 2 * m1**3
    central4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    return m1, variance, central3 / variance**1.5, central4 / variance**2 - 3.0


class Target(ABC):
    """A distribution on R^d with an exact sampler, a normalised log density and known moments.

    Every target draws independent samples exactly, so the IID sampler built on it is the
    reference that all other samplers are calibrated against.
    """

    #: Registry name, set by each subclass instance.
    name: str = ""

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Number of dimensions d of the sample space."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` independent samples, shape (n, d), float64 on the generator's device."""

    @abstractmethod
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Return the normalised log density at ``x`` (shape (..., d)), differentiable in ``x``."""

    @abstractmethod
    def moments(self) -> MarginalMoments:
        """Return the exact (closed form or quadrature) moments of the one-dimensional marginals."""

    def describe(self) -> str:
        """Return a one-line description for reports."""
        return (self.__doc__ or self.name).strip().splitlines()[0]
