"""Registers kiss-bench with KISS: the `kiss bench` command and its two-sample metrics.

The MCMC samplers of the benchmark draw from a log density, not along a learned field, so
they do not fit the Sampler interface of `kiss_samplers()` and are only reachable through
`kiss bench run`.
"""

from __future__ import annotations

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec

__all__ = ["kiss_commands", "kiss_metrics"]


@hookimpl
def kiss_commands() -> list[Spec]:
    """Return the `kiss bench` command group."""
    return [
        Spec(
            "bench",
            "Calibrated benchmarks of samplers and generators against known targets",
            "kiss_bench.cli:bench",
            ("benchmark",),
        )
    ]


@hookimpl
def kiss_metrics() -> list[Spec]:
    """Return the benchmark's two-sample metrics as components for `kiss evaluate`."""
    return [
        Spec(
            "sliced_wasserstein",
            "Sliced Wasserstein-2 distance over 64 random directions",
            "kiss_bench.components:SlicedWasserstein",
            ("two-sample",),
        ),
        Spec(
            "sliced_ks",
            "Mean and maximum Kolmogorov-Smirnov statistic over random directions",
            "kiss_bench.components:SlicedKS",
            ("two-sample",),
        ),
        Spec(
            "energy",
            "Squared energy distance, computed in bounded memory",
            "kiss_bench.components:EnergyDistance",
            ("two-sample",),
        ),
        Spec(
            "mmd_gaussian",
            "Unbiased MMD^2, Gaussian kernel with median-distance bandwidth",
            "kiss_bench.components:GaussianMMD",
            ("two-sample",),
        ),
        Spec(
            "prdc",
            "Precision, recall, density and coverage (Naeem et al. 2020)",
            "kiss_bench.components:PrecisionRecallDensityCoverage",
            ("two-sample",),
        ),
    ]
