"""The standard Cauchy distribution truncated to [-bound, bound], for sampler and reference alike."""

from __future__ import annotations

import math

import numpy as np
import torch

from kiss_bench.targets.base import MarginalMoments, Target

__all__ = ["TruncatedCauchyTarget"]


class TruncatedCauchyTarget(Target):
    """Standard Cauchy (location 0, scale 1) truncated to [-bound, bound] and renormalised.

    The untruncated Cauchy has no mean or variance, so moment-based comparisons against it are
    meaningless. Truncation makes every moment finite. The same bound applies to the exact
    sampler, to the log density that MCMC samplers see and to the moments, so all samplers
    target one distribution. The normalisation is Z = F(bound) - F(-bound) = (2 / pi) arctan(bound),
    and the probability mass outside the bounds, 1 - Z, is the total variation distance between
    this target and the untruncated Cauchy.

    Arguments:
        bound: Truncation bound, symmetric; 50 keeps 98.7 % of the Cauchy mass.
        dimension: Number of independent coordinates (1 by default).
    """

    def __init__(self, bound: float = 50.0, dimension: int = 1) -> None:
        self.bound = float(bound)
        self._dimension = dimension
        self.name = f"cauchy{dimension}d_truncated{bound:g}"
        self.normalisation = 2.0 / math.pi * math.atan(self.bound)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def mass_outside(self) -> float:
        """Probability mass of the untruncated Cauchy outside [-bound, bound]."""
        return 1.0 - self.normalisation

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        # Inverse-CDF sampling restricted to [F(-bound), F(bound)] gives the truncated law exactly.
        lower = 0.5 - self.normalisation / 2
        uniform = torch.rand(n, self.dimension, generator=generator, dtype=torch.float64, device=generator.device)
        return torch.tan(math.pi * (lower + self.normalisation * uniform - 0.5))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        per_coordinate = -math.log(math.pi) - torch.log1p(x**2) - math.log(self.normalisation)
        inside = (x.abs() <= self.bound).all(-1)
        total = per_coordinate.sum(-1)
        return torch.where(inside, total, torch.full_like(total, -math.inf))

    def moments(self) -> MarginalMoments:
        b = self.bound
        second = 2.0 / (math.pi * self.normalisation) * (b - math.atan(b))
        fourth = 2.0 / (math.pi * self.normalisation) * (b**3 / 3.0 - b + math.atan(b))
        zeros = np.zeros(self.dimension)
        variance = np.full(self.dimension, second)
        kurtosis = np.full(self.dimension, fourth / second**2 - 3.0)
        return MarginalMoments(zeros, variance, zeros.copy(), kurtosis, zeros.copy())
