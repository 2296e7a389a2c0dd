"""Generic datasets of kiss-core: a Gaussian mixture with known density, for tests and demos."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from kiss_core.errors import KissError
from kiss_core.interfaces import Dataset
from kiss_core.io.netcdf import read_netcdf, write_netcdf

__all__ = ["GaussianMixture"]


class GaussianMixture(Dataset):
    """Equal-weight mixture of unit Gaussians with means at ±separation/2 along every axis.

    Samples have one variable ``x`` with dims (event, feature); files are netCDF4.

    Arguments:
        config: :class:`GaussianMixture.Config`.
    """

    default_metrics = ("core.w1", "core.fpd", "core.kpd", "core.classifier_auc")

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`GaussianMixture`.

        Arguments:
            dimension: Number of features.
            separation: Distance between the two component means along each axis.
        """

        dimension: int = 2
        separation: float = 4.0

    def load(self, n_events: int, *, seed: int, progress: bool = False) -> xr.Dataset:
        rng = np.random.default_rng(seed)
        signs = rng.choice([-1.0, 1.0], size=(n_events, 1))
        values = rng.standard_normal((n_events, self.config.dimension)) + signs * self.config.separation / 2
        samples = xr.Dataset(
            {"x": (("event", "feature"), values.astype(np.float32))},
            coords={"feature": [f"x{i}" for i in range(self.config.dimension)]},
        )
        samples.attrs["provenance"] = json.dumps(
            {
                "dataset": "core.gaussian",
                "seed": seed,
                "dimension": self.config.dimension,
                "separation": self.config.separation,
            }
        )
        return samples

    def read(self, path: Path) -> xr.Dataset:
        samples = read_netcdf(path)
        if "x" not in samples or samples["x"].dims != ("event", "feature"):
            raise KissError(
                "Not a Gaussian-mixture sample file",
                where=str(path),
                expected="variable x with dims (event, feature)",
                got=str(dict(samples.sizes)),
            )
        if samples.sizes["feature"] != self.config.dimension:
            raise KissError(
                "Wrong number of features",
                where=f"{path}:x",
                expected=str(self.config.dimension),
                got=str(samples.sizes["feature"]),
            )
        return samples

    def write(self, samples: xr.Dataset, path: Path) -> None:
        write_netcdf(samples, path)

    def histograms(self, reference: xr.Dataset, candidate: xr.Dataset) -> list:
        from kiss_core.report import Histogram

        return [
            Histogram(
                name=str(feature),
                label=str(feature),
                reference=reference["x"].sel(feature=feature).values,
                candidate=candidate["x"].sel(feature=feature).values,
            )
            for feature in reference["feature"].values
        ]
