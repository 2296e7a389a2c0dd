"""Samples as netCDF4 files through xarray, for domains without a layout of their own."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from kiss_core.errors import KissError
from kiss_core.io.files import atomic_path

__all__ = ["read_netcdf", "write_netcdf"]


def write_netcdf(samples: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write samples to a netCDF4 file with zlib compression, atomically."""
    encoding = {name: {"zlib": True, "complevel": 4} for name in samples.data_vars}
    with atomic_path(path) as temporary:
        samples.to_netcdf(temporary, engine="h5netcdf", encoding=encoding)


def read_netcdf(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read samples from a netCDF4 file fully into memory, rejecting NaN and infinite values."""
    path = Path(path)
    if not path.is_file():
        raise KissError("File not found", where=str(path))
    try:
        with xr.open_dataset(path, engine="h5netcdf") as dataset:
            samples = dataset.load()
    except (OSError, ValueError) as error:
        raise KissError("Cannot read netCDF file", where=str(path), got=str(error)) from None
    for name, variable in samples.data_vars.items():
        if np.issubdtype(variable.dtype, np.floating) and not np.isfinite(variable.values).all():
            raise KissError("Non-finite values", where=f"{path}:{name}", expected="finite numbers", got="NaN or inf")
    return samples
