"""Metric components for `kiss evaluate`: the benchmark's two-sample metrics on chosen dataset variables.

Each component stacks the configured per-event variables of both datasets into
(event, feature) matrices (as the core metric components do) and applies one function of
:mod:`kiss_bench.metrics`. Results carry no uncertainty of their own (NaN); the benchmark
protocol gets it from repetitions instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from kiss_bench.metrics.kernel import energy_distance, median_pairwise_distance, mmd_unbiased
from kiss_bench.metrics.prdc import DEFAULT_NEIGHBOURS, precision_recall_density_coverage
from kiss_bench.metrics.sliced import random_directions, sliced_ks, sliced_wasserstein
from kiss_bench.metrics.validation import check_samples, normalised_weights
from kiss_bench.seeds import make_generator
from kiss_core.errors import KissError
from kiss_core.interfaces import Metric, MetricResult
from kiss_core.metrics.variables import VariablesConfig, feature_matrix

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["EnergyDistance", "GaussianMMD", "PrecisionRecallDensityCoverage", "SlicedKS", "SlicedWasserstein"]


def _matrices(
    reference: xr.Dataset, candidate: xr.Dataset, config: VariablesConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    if config.features is not None:
        x, y = config.features(reference), config.features(candidate)
    elif config.variables:
        x, y = feature_matrix(reference, config.variables)[0], feature_matrix(candidate, config.variables)[0]
    else:
        raise KissError(
            "No features chosen",
            where="metric config",
            expected="'variables' (data variable names) or a 'features' callable",
            got="neither",
        )
    x = torch.as_tensor(x, dtype=torch.float64).reshape(len(x), -1)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(len(y), -1)
    check_samples(x, "reference")
    check_samples(y, "candidate", x.shape[1])
    return x, y


def _uniform(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return normalised_weights(None, x.shape[0], x), normalised_weights(None, y.shape[0], y)


class SlicedWasserstein(Metric):
    """Sliced Wasserstein-p distance of the chosen variables.

    See :func:`kiss_bench.metrics.sliced.sliced_wasserstein`.
    """

    @dataclass(frozen=True)
    class Config(VariablesConfig):
        """Features, the number of random directions and the order p."""

        n_projections: int = 64
        p: int = 2

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, y = _matrices(reference, candidate, self.config)
        directions = random_directions(x.shape[1], self.config.n_projections, make_generator("cpu", seed, "sliced"))
        return {"SW": MetricResult(sliced_wasserstein(x, y, *_uniform(x, y), directions, p=self.config.p), math.nan)}


class SlicedKS(Metric):
    """Mean and maximum projected Kolmogorov-Smirnov statistic of the chosen variables."""

    @dataclass(frozen=True)
    class Config(VariablesConfig):
        """Features and the number of random directions."""

        n_projections: int = 64

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, y = _matrices(reference, candidate, self.config)
        directions = random_directions(x.shape[1], self.config.n_projections, make_generator("cpu", seed, "sliced"))
        mean, maximum = sliced_ks(x, y, *_uniform(x, y), directions)
        return {"SKS": MetricResult(mean, math.nan), "SKS.max": MetricResult(maximum, math.nan)}


class EnergyDistance(Metric):
    """Squared energy distance of the chosen variables (see :func:`kiss_bench.metrics.kernel.energy_distance`)."""

    Config = VariablesConfig

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, y = _matrices(reference, candidate, self.config)
        return {"energy": MetricResult(energy_distance(x, y, *_uniform(x, y)), math.nan)}


class GaussianMMD(Metric):
    """Unbiased MMD^2 with k = exp(-d^2 / (2 sigma^2)), sigma the median pairwise distance of the pooled sample."""

    Config = VariablesConfig

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, y = _matrices(reference, candidate, self.config)
        bandwidth = median_pairwise_distance(x, y, make_generator("cpu", seed, "median"))
        return {"MMD": MetricResult(mmd_unbiased(x, y, bandwidth), math.nan, {"bandwidth": bandwidth})}


class PrecisionRecallDensityCoverage(Metric):
    """Precision, recall, density and coverage of the chosen variables (Naeem et al. 2020)."""

    @dataclass(frozen=True)
    class Config(VariablesConfig):
        """Features and the neighbour count k."""

        k: int = DEFAULT_NEIGHBOURS

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, y = _matrices(reference, candidate, self.config)
        values = precision_recall_density_coverage(x, y, k=self.config.k)
        return {name: MetricResult(value, math.nan) for name, value in values.items()}
