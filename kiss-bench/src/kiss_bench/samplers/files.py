"""Samples from files (CSV, HDF5, netCDF) with optional weights, validated strictly before use.

This lets output of Stan, PyMC, emcee or any other sampler enter the benchmark without code:

- CSV: a header row of column names, then one sample per row. Every column is a coordinate,
  in target order, except the weight column. Lines starting with "#" are skipped, as in
  Stan's CSV output.
- HDF5: a 2-D dataset (default "samples") of shape (n, d) and an optional 1-D weight dataset
  of shape (n,).
- netCDF: a 2-D variable (default "samples") with dimensions (event, feature) and an optional
  weight variable with dimension (event), read through xarray.

The weights are the column, dataset or variable named "weight" or "weights" in every format;
a file with both is rejected.

Repetition r of a benchmark uses rows r * n to (r + 1) * n - 1, so R repetitions of n points
need R * n rows and never reuse one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from kiss_bench.metrics.validation import check_samples, check_weights
from kiss_bench.samplers.base import BenchSampler, Draw
from kiss_bench.targets.base import Target
from kiss_core.errors import KissError

__all__ = ["FileSampler", "read_samples"]

logger = logging.getLogger(__name__)

_SUFFIXES = {".csv": "csv", ".h5": "hdf5", ".hdf5": "hdf5", ".nc": "netcdf", ".nc4": "netcdf", ".netcdf": "netcdf"}


#: Names of the weight column, dataset or variable that are looked for when the caller names none.
WEIGHT_NAMES = ("weight", "weights")


def _weight_key(names, candidates: tuple[str, ...], path: Path) -> str | None:
    """Return the one weight name among ``names``, None if there is none."""
    found = [name for name in candidates if name in names]
    if len(found) > 1:
        raise KissError("Two weight entries in a sample file", where=str(path),
                        expected="one of: " + ", ".join(candidates), got=", ".join(found))
    return found[0] if found else None


def _read_csv(path: Path, candidates: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    with path.open() as stream:
        lines = [line for line in stream if line.strip() and not line.startswith("#")]
    if not lines:
        raise KissError(
            "Empty sample file", where=str(path), expected="a header row and at least 2 sample rows", got="no rows"
        )
    header = [name.strip() for name in lines[0].split(",")]
    if len(lines) == 1:
        raise KissError(
            "Empty sample", where=str(path), expected="at least 2 sample rows after the header", got="0 rows"
        )
    try:
        table = np.loadtxt(lines[1:], delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise KissError(
            "Invalid CSV sample file",
            where=str(path),
            expected="numbers in every column after the header",
            got=str(error),
        ) from None
    if table.shape[0] and table.shape[1] != len(header):
        raise KissError(
            "CSV rows do not match the header",
            where=str(path),
            expected=f"{len(header)} columns",
            got=f"{table.shape[1]} columns",
        )
    table = table.reshape(-1, len(header))
    weights = None
    weight_name = _weight_key(header, candidates, path)
    if weight_name is not None:
        index = header.index(weight_name)
        weights = table[:, index]
        table = np.delete(table, index, axis=1)
        header.pop(index)
    return table, weights, header


def _read_hdf5(
    path: Path, samples_name: str, candidates: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    import h5py

    with h5py.File(path, "r") as handle:
        if samples_name not in handle:
            raise KissError(
                "Missing dataset in HDF5 file",
                where=f"{path}:{samples_name}",
                expected=f"a dataset named '{samples_name}'",
                got="datasets: " + ", ".join(handle.keys()),
            )
        samples = np.asarray(handle[samples_name], dtype=np.float64)
        weight_name = _weight_key(list(handle.keys()), candidates, path)
        weights = None if weight_name is None else np.asarray(handle[weight_name], dtype=np.float64)
    return samples, weights, [str(i) for i in range(samples.shape[-1])] if samples.ndim else []


def _read_netcdf(
    path: Path, samples_name: str, candidates: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    with xr.open_dataset(path) as dataset:
        if samples_name not in dataset:
            raise KissError(
                "Missing variable in netCDF file",
                where=f"{path}:{samples_name}",
                expected=f"a variable named '{samples_name}'",
                got="variables: " + ", ".join(map(str, dataset.data_vars)),
            )
        samples = np.asarray(dataset[samples_name].values, dtype=np.float64)
        weight_name = _weight_key([str(name) for name in dataset.data_vars], candidates, path)
        weights = None if weight_name is None else np.asarray(dataset[weight_name].values, dtype=np.float64)
    return samples, weights, [str(i) for i in range(samples.shape[-1])] if samples.ndim else []


def read_samples(
    path: str | Path, *, samples_name: str = "samples", weight_name: str | None = None, dimension: int | None = None
) -> xr.Dataset:
    """Read and validate a sample file into a Dataset with ``samples(event, feature)`` and optional ``weight(event)``.

    Arguments:
        path: CSV, HDF5 (.h5, .hdf5) or netCDF (.nc) file.
        samples_name: HDF5 dataset or netCDF variable holding the samples.
        weight_name: CSV column, HDF5 dataset or netCDF variable holding the weights, if present;
            None looks for "weight" and "weights".
        dimension: Expected number of coordinates; None accepts any.

    Raises:
        KissError: If the file is missing, has an unknown suffix or an invalid layout, or the
            samples or weights fail validation (wrong dimension, NaN, empty, constant,
            negative or all-zero weights).
    """
    path = Path(path)
    if not path.is_file():
        raise KissError("Sample file not found", where=str(path), hint="check the path")
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise KissError(
            "Unknown sample file format",
            where=str(path),
            expected="a suffix of: " + ", ".join(sorted(_SUFFIXES)),
            got=repr(path.suffix),
        )
    candidates = WEIGHT_NAMES if weight_name is None else (weight_name,)
    if kind == "csv":
        samples, weights, columns = _read_csv(path, candidates)
    elif kind == "hdf5":
        samples, weights, columns = _read_hdf5(path, samples_name, candidates)
    else:
        samples, weights, columns = _read_netcdf(path, samples_name, candidates)

    points = torch.from_numpy(np.ascontiguousarray(samples))
    check_samples(points, str(path), dimension)
    weight_tensor = None if weights is None else torch.from_numpy(np.ascontiguousarray(weights))
    check_weights(weight_tensor, points.shape[0], f"{path} weights")

    data_vars = {"samples": (("event", "feature"), samples)}
    if weights is not None:
        data_vars["weight"] = (("event",), weights)
    provenance = {"source": str(path), "format": kind, "columns": columns}
    logger.info(
        "read %d samples of dimension %d from %s%s",
        samples.shape[0],
        samples.shape[1],
        path,
        " with weights" if weights is not None else "",
    )
    return xr.Dataset(data_vars, coords={"feature": columns}, attrs={"provenance": json.dumps(provenance)})


class FileSampler(BenchSampler):
    """Samples read from a file, served in disjoint blocks of rows, one block per repetition.

    Arguments:
        path: The sample file (see :func:`read_samples` for the layouts).
        samples_name: HDF5 dataset or netCDF variable with the samples.
        weight_name: Weight column, dataset or variable; None looks for "weight" and "weights".
    """

    def __init__(self, path: str | Path, samples_name: str = "samples", weight_name: str | None = None) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.samples_name = samples_name
        self.weight_name = weight_name
        self.data: xr.Dataset | None = None

    def prepare(self, target: Target, generator: torch.Generator, progress: bool = False) -> None:
        self.data = read_samples(
            self.path, samples_name=self.samples_name, weight_name=self.weight_name, dimension=target.dimension
        )

    @property
    def weighted(self) -> bool:
        """Whether the file carries weights (read it first with :meth:`prepare`)."""
        return self.data is not None and "weight" in self.data

    def check_size(self, n: int, repetitions: int) -> None:
        """Raise a KissError unless the file holds ``repetitions`` disjoint blocks of ``n`` rows."""
        available = self.data.sizes["event"]
        if available < n * repetitions:
            raise KissError(
                "Sample file too small for the requested repetitions",
                where=str(self.path),
                expected=f"at least {n * repetitions} rows ({repetitions} repetitions x {n} points)",
                got=f"{available} rows",
                hint=f"lower --repetitions to {max(1, available // n)} "
                f"or --n-points to {max(2, available // repetitions)}",
            )

    def draw(self, target: Target, n: int, generator: torch.Generator, repetition: int) -> Draw:
        rows = slice(repetition * n, (repetition + 1) * n)
        points = torch.from_numpy(self.data["samples"].values[rows]).to(generator.device)
        weights = None
        if "weight" in self.data:
            weights = torch.from_numpy(self.data["weight"].values[rows]).to(generator.device)
            check_weights(weights, points.shape[0], f"{self.path} weights, rows {rows.start} to {rows.stop - 1}")
        return Draw(points, weights)
