"""Metric components that compare chosen per-event variables of two sample datasets.

Each component turns a dataset into an (event, feature) matrix, either from named data
variables (every non-event dimension is flattened into features) or through a ``features``
callable, and applies one of the two-sample functions of :mod:`kiss_core.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiss_core.errors import KissError
from kiss_core.interfaces import Metric, MetricResult
from kiss_core.metrics.classifier import classifier_test
from kiss_core.metrics.frechet import fpd
from kiss_core.metrics.kernel import kpd
from kiss_core.metrics.wasserstein import w1_per_feature

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["ClassifierAUC", "FeatureFPD", "FeatureKPD", "FeatureW1", "VariablesConfig", "feature_matrix"]


def feature_matrix(samples: xr.Dataset, variables: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Stack the named data variables of ``samples`` into an (event, feature) float64 matrix.

    Returns:
        The matrix and one name per column: "energy", "x.x0" for a variable whose second
        dimension has coordinates, or "layer_energy[3]" for other flattened entries.
    """
    columns, names = [], []
    for name in variables:
        if name not in samples.data_vars:
            raise KissError(
                "Missing variable",
                where=name,
                expected=f"one of: {', '.join(map(str, samples.data_vars))}",
                got=name,
            )
        variable = samples[name]
        if variable.dims[0] != "event":
            raise KissError("Variable without a leading event dimension", where=name,
                            expected="dims ('event', ...)", got=str(variable.dims))
        values = np.asarray(variable.values, dtype=np.float64).reshape(variable.sizes["event"], -1)
        columns.append(values)
        if values.shape[1] == 1:
            names.append(name)
        elif variable.ndim == 2 and variable.dims[1] in variable.coords:
            names.extend(f"{name}.{label}" for label in variable[variable.dims[1]].values)
        else:
            names.extend(f"{name}[{i}]" for i in range(values.shape[1]))
    return np.concatenate(columns, axis=1), names


@dataclass(frozen=True)
class VariablesConfig:
    """Feature selection of a generic metric.

    Arguments:
        variables: Names of per-event data variables; used when ``features`` is None. Empty
            means every numeric variable whose first dimension is ``event``.
        features: A callable that maps a dataset to an (event, feature) array, for derived
            quantities; it takes precedence over ``variables``.
    """

    variables: tuple[str, ...] = ()
    features: Callable[[xr.Dataset], np.ndarray] | None = None


def _features(samples: xr.Dataset, config: VariablesConfig) -> tuple[np.ndarray, list[str]]:
    if config.features is not None:
        matrix = np.asarray(config.features(samples), dtype=np.float64)
        matrix = matrix.reshape(len(matrix), -1)
        return matrix, [f"feature[{i}]" for i in range(matrix.shape[1])]
    variables = config.variables or tuple(
        str(name) for name, variable in samples.data_vars.items()
        if variable.dims and variable.dims[0] == "event" and np.issubdtype(variable.dtype, np.number)
    )
    if not variables:
        raise KissError("No features to compare", where="metric config",
                        expected="'variables' (data variable names) or a 'features' callable, or numeric "
                                 "variables with a leading event dimension in the samples", got="none")
    return feature_matrix(samples, variables)


class FeatureW1(Metric):
    """W1 per feature, with bootstrap batches (see :func:`kiss_core.metrics.w1_per_feature`)."""

    @dataclass(frozen=True)
    class Config(VariablesConfig):
        """Features plus the number of bootstrap batches."""

        n_batches: int = 5

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, names = _features(reference, self.config)
        y, _ = _features(candidate, self.config)
        results = w1_per_feature(x, y, n_batches=self.config.n_batches, seed=seed)
        return {f"W1.{name}": result for name, result in zip(names, results, strict=True)}


class FeatureFPD(Metric):
    """Fréchet physics distance of the chosen features (see :func:`kiss_core.metrics.fpd`)."""

    Config = VariablesConfig

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        return {"FPD": fpd(_features(reference, self.config)[0], _features(candidate, self.config)[0], seed=seed)}


class FeatureKPD(Metric):
    """Kernel physics distance of the chosen features (see :func:`kiss_core.metrics.kpd`)."""

    Config = VariablesConfig

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        return {"KPD": kpd(_features(reference, self.config)[0], _features(candidate, self.config)[0], seed=seed)}


class ClassifierAUC(Metric):
    """Held-out ROC AUC of a classifier trained on the chosen features (0.5 is ideal)."""

    Config = VariablesConfig

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        x, _ = _features(reference, self.config)
        y, _ = _features(candidate, self.config)
        return {"AUC": classifier_test(x, y, seed=seed)}
