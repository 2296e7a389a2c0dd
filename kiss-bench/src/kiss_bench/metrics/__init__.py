"""Benchmark metrics by name: one-sample errors against the truth and two-sample distances.

Every metric returns rows (statistic, dimension, value). One-sample metrics compare the
candidate with the target's exact marginal moments and report estimate minus truth per
dimension. Two-sample metrics compare the candidate with a fresh IID reference sample and use
the dimension label "all" when they look at the joint distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kiss_bench.metrics.kernel import DEFAULT_CHUNK_ELEMENTS, energy_distance, median_pairwise_distance, mmd_unbiased
from kiss_bench.metrics.one_sample import half_sample_mode, weighted_standard_moments
from kiss_bench.metrics.prdc import DEFAULT_NEIGHBOURS, precision_recall_density_coverage
from kiss_bench.metrics.sliced import random_directions, sliced_ks, sliced_wasserstein
from kiss_bench.metrics.validation import (
    check_samples,
    check_weights,
    kish_effective_sample_size,
    normalised_weights,
)
from kiss_bench.targets.base import Target
from kiss_core.errors import KissError, UnknownNameError

__all__ = [
    "BenchMetric",
    "METRICS",
    "MetricInputs",
    "Row",
    "check_samples",
    "check_weights",
    "kish_effective_sample_size",
    "make_metrics",
    "metric_names",
]

#: One result: (statistic, dimension label, value).
Row = tuple[str, str, float]
#: Random directions of the sliced statistics; 64 keeps the Monte Carlo error of the average
#: over directions well below the sampling noise for the default 1000-point samples.
N_PROJECTIONS = 64


@dataclass(frozen=True)
class MetricInputs:
    """Everything a metric may need for one comparison.

    Arguments:
        reference: Fresh IID sample of the target, shape (n, d), unweighted.
        candidate: Sample under test, shape (m, d).
        candidate_weights: Optional non-negative weights of the candidate, shape (m,).
        target: The target, for one-sample metrics.
        generator: Random number generator for projections and subsampling.
        seed: Integer seed for metrics that draw with numpy.
        chunk_elements: Largest pairwise block, in entries, of the quadratic metrics.
        classifier: Model of the classifier metrics, "boosted_trees" (scikit-learn, CPU) or
            "mlp" (a torch network on the device of the samples).
    """

    reference: torch.Tensor
    candidate: torch.Tensor
    candidate_weights: torch.Tensor | None
    target: Target
    generator: torch.Generator
    seed: int
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
    classifier: str = "boosted_trees"


@dataclass(frozen=True)
class BenchMetric:
    """A named benchmark metric.

    Arguments:
        name: Registry name.
        summary: One line for listings.
        kind: "one-sample" (against the exact target) or "two-sample" (against an IID sample).
        supports_weights: Whether weighted candidates are handled; otherwise they are rejected.
        compute: Function of MetricInputs returning rows.
        min_points: Smallest sample size the metric accepts, as a function of the dimension.
    """

    name: str
    summary: str
    kind: str
    supports_weights: bool
    compute: Callable[[MetricInputs], list[Row]]
    min_points: Callable[[int], int] = lambda dimension: 2


#: The classifier test needs 10 calibration and 10 test events per sample, a quarter each of n.
_CLASSIFIER_MIN_POINTS = 40


def _moment_error(statistic: str) -> Callable[[MetricInputs], list[Row]]:
    def compute(inputs: MetricInputs) -> list[Row]:
        estimate = weighted_standard_moments(inputs.candidate, inputs.candidate_weights)[statistic]
        truth = inputs.target.moments().as_dict()[statistic]
        return [(statistic, str(i), float(estimate[i] - truth[i])) for i in range(truth.size)]

    return compute


def _mode_error(inputs: MetricInputs) -> list[Row]:
    truth = inputs.target.moments().mode
    estimate = half_sample_mode(inputs.candidate)
    return [("mode", str(i), float(estimate[i] - truth[i])) for i in range(truth.size) if np.isfinite(truth[i])]


def _weights_pair(inputs: MetricInputs) -> tuple[None, torch.Tensor | None]:
    """Return the reference and candidate weights, None standing for equal weights."""
    if inputs.candidate_weights is None:
        return None, None
    return None, normalised_weights(inputs.candidate_weights, inputs.candidate.shape[0], inputs.reference)


def _w1(inputs: MetricInputs) -> list[Row]:
    from kiss_core.metrics import wasserstein1

    weights = None if inputs.candidate_weights is None else inputs.candidate_weights.to(inputs.reference.device)
    values = np.atleast_1d(wasserstein1(inputs.reference, inputs.candidate.to(inputs.reference.device), None, weights))
    return [("w1", str(i), float(value)) for i, value in enumerate(values)]


def _sliced_wasserstein(inputs: MetricInputs) -> list[Row]:
    directions = random_directions(inputs.reference.shape[1], N_PROJECTIONS, inputs.generator)
    value = sliced_wasserstein(inputs.reference, inputs.candidate, *_weights_pair(inputs), directions, p=2)
    return [("sliced_wasserstein", "all", value)]


def _sliced_ks(inputs: MetricInputs) -> list[Row]:
    directions = random_directions(inputs.reference.shape[1], N_PROJECTIONS, inputs.generator)
    mean, maximum = sliced_ks(inputs.reference, inputs.candidate, *_weights_pair(inputs), directions)
    return [("sliced_ks", "all", mean), ("sliced_ks_max", "all", maximum)]


def _energy(inputs: MetricInputs) -> list[Row]:
    value = energy_distance(inputs.reference, inputs.candidate, *_weights_pair(inputs), inputs.chunk_elements)
    return [("energy", "all", value)]


def _mmd(inputs: MetricInputs) -> list[Row]:
    bandwidth = median_pairwise_distance(inputs.reference, inputs.candidate, inputs.generator)
    return [("mmd", "all", mmd_unbiased(inputs.reference, inputs.candidate, bandwidth, inputs.chunk_elements))]


def _fpd(inputs: MetricInputs) -> list[Row]:
    from kiss_core.metrics import fpd

    return [("fpd", "all", fpd(inputs.reference, inputs.candidate, seed=inputs.seed).value)]


def _kpd(inputs: MetricInputs) -> list[Row]:
    from kiss_core.metrics import kpd

    return [("kpd", "all", kpd(inputs.reference, inputs.candidate, seed=inputs.seed).value)]


def _classifier(inputs: MetricInputs):
    from kiss_core.metrics import classifier_test

    return classifier_test(inputs.reference, inputs.candidate, seed=inputs.seed, model=inputs.classifier,
                           device=str(inputs.reference.device))


def _c2st(inputs: MetricInputs) -> list[Row]:
    return [("c2st_auc", "all", _classifier(inputs).value)]


def _classifier_weights(inputs: MetricInputs) -> list[Row]:
    result = _classifier(inputs)
    weights = [(f"classifier_{name}", "all", value) for name, value in result.details.items()
               if name.startswith("weight_")]
    return [("classifier_auc", "all", result.value), *weights]


def _prdc(inputs: MetricInputs) -> list[Row]:
    values = precision_recall_density_coverage(inputs.reference, inputs.candidate, chunk_elements=inputs.chunk_elements)
    return [(statistic, "all", value) for statistic, value in values.items()]


_DEFINITIONS = [
    BenchMetric("mean", "mean minus the exact mean, per dimension", "one-sample", True, _moment_error("mean")),
    BenchMetric(
        "variance", "variance minus the exact variance, per dimension", "one-sample", True, _moment_error("variance")
    ),
    BenchMetric(
        "skewness", "skewness minus the exact skewness, per dimension", "one-sample", True, _moment_error("skewness")
    ),
    BenchMetric(
        "kurtosis",
        "excess kurtosis minus the exact value, per dimension",
        "one-sample",
        True,
        _moment_error("kurtosis"),
    ),
    BenchMetric("mode", "half-sample mode minus the exact mode, per dimension", "one-sample", False, _mode_error),
    BenchMetric("w1", "exact 1-D Wasserstein-1 distance per dimension (kiss_core)", "two-sample", True, _w1),
    BenchMetric(
        "sliced_wasserstein", "sliced Wasserstein-2 over 64 random directions", "two-sample", True, _sliced_wasserstein
    ),
    BenchMetric(
        "sliced_ks",
        "Kolmogorov-Smirnov statistic over 64 random directions, mean and max",
        "two-sample",
        True,
        _sliced_ks,
    ),
    BenchMetric("energy", "squared energy distance (V-statistic)", "two-sample", True, _energy),
    BenchMetric("mmd", "unbiased MMD^2, Gaussian kernel, median-distance bandwidth", "two-sample", False, _mmd),
    # FPD fits sizes down to n / 2, and each fit needs more points than dimensions.
    BenchMetric("fpd", "Frechet physics distance (kiss_core)", "two-sample", False, _fpd, lambda d: 2 * d + 2),
    BenchMetric("kpd", "kernel physics distance (kiss_core)", "two-sample", False, _kpd),
    BenchMetric("c2st", "classifier two-sample test, held-out ROC AUC (kiss_core)", "two-sample", False, _c2st,
                lambda d: _CLASSIFIER_MIN_POINTS),
    BenchMetric(
        "classifier_weights",
        "calibrated classifier weights D/(1-D) on held-out candidate points: 5, 50 and 95 % quantiles",
        "two-sample",
        False,
        _classifier_weights,
        lambda d: _CLASSIFIER_MIN_POINTS,
    ),
    BenchMetric("prdc", "precision, recall, density, coverage with k = 5 neighbours", "two-sample", False, _prdc,
                lambda d: DEFAULT_NEIGHBOURS + 1),
]

#: Metric name to definition.
METRICS: dict[str, BenchMetric] = {definition.name: definition for definition in _DEFINITIONS}


def metric_names() -> list[str]:
    """Return the names of all benchmark metrics in their listing order."""
    return list(METRICS)


def make_metrics(names: list[str], weighted: bool = False) -> list[BenchMetric]:
    """Look up metrics by name, rejecting unknown names and weight-blind metrics for weighted samples.

    Raises:
        UnknownNameError: For a name no metric has.
        KissError: If ``weighted`` and a requested metric does not support weights.
    """
    metrics = []
    for name in names:
        if name not in METRICS:
            raise UnknownNameError("metric", name, metric_names())
        metric = METRICS[name]
        if weighted and not metric.supports_weights:
            supported = [m.name for m in _DEFINITIONS if m.supports_weights]
            raise KissError(
                "Metric does not support weighted samples",
                where=f"metric '{name}'",
                expected="one of: " + ", ".join(supported),
                got=name,
                hint="drop this metric for weighted samples, or unweight the samples first",
            )
        metrics.append(metric)
    return metrics
