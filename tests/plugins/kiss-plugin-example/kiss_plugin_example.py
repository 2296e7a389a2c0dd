"""A third-party KISS plugin: a uniform dataset and a mean-difference metric."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from kiss_core.hookspecs import hookimpl
from kiss_core.interfaces import Dataset, Metric, MetricResult
from kiss_core.io import read_netcdf, write_netcdf
from kiss_core.specs import Spec


class Uniform(Dataset):
    """Points uniform in the unit hypercube."""

    @dataclass(frozen=True)
    class Config:
        dimension: int = 3

    def load(self, n_events, *, seed, progress=False):
        values = np.random.default_rng(seed).random((n_events, self.config.dimension))
        return xr.Dataset({"x": (("event", "feature"), values)})

    def read(self, path):
        return read_netcdf(path)

    def write(self, samples, path):
        write_netcdf(samples, path)


class MeanDifference(Metric):
    """Largest absolute difference of the feature means."""

    def compute(self, reference, candidate, *, seed=0):
        difference = np.abs(reference["x"].mean("event") - candidate["x"].mean("event")).max()
        return {"mean_difference": MetricResult(float(difference), 0.0)}


@hookimpl
def kiss_datasets():
    return [Spec("uniform", "Uniform points in the unit hypercube", "kiss_plugin_example:Uniform")]


@hookimpl
def kiss_metrics():
    return [Spec("mean_difference", "Largest difference of feature means", "kiss_plugin_example:MeanDifference")]
