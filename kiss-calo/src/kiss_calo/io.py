"""Readers and writers of CaloChallenge shower files and CaloClouds point-cloud files.

CaloChallenge HDF5 files hold ``incident_energies`` (N, 1) in MeV and ``showers``
(N, n_voxels) in MeV, voxels in the order of :class:`kiss_calo.geometry.CaloChallengeGeometry`.
CaloClouds files hold ``events`` (N, 4, P) with rows x, y, z, energy, zero-padded to P points,
and ``energy`` (N,) or (N, 1), the incident energy.

Large files are read and written in blocks of showers, never whole: :func:`iter_calochallenge`
yields blocks and :class:`CaloChallengeWriter` appends them to a temporary file that replaces
the target only when it is closed without error.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import h5py
import numpy as np
import xarray as xr

from kiss_calo.geometry import CaloChallengeGeometry, project_point_clouds
from kiss_core.errors import KissError

__all__ = [
    "NEGATIVE_TOLERANCE_MEV",
    "CaloChallengeWriter",
    "CaloCloudsWriter",
    "ShowerBlock",
    "calochallenge_shower_count",
    "iter_calochallenge",
    "iter_caloclouds",
    "project_caloclouds_file",
    "read_calochallenge",
    "read_incident_energies",
    "read_caloclouds",
    "showers_to_xarray",
    "write_calochallenge",
    "write_caloclouds",
    "xarray_to_showers",
]

logger = logging.getLogger(__name__)

#: Voxel energies down to this negative value in MeV are read as float noise and set to 0;
#: anything more negative is rejected. 1 keV is far below any readout threshold of the
#: CaloChallenge datasets, so it cannot hide a physical deposit.
NEGATIVE_TOLERANCE_MEV = 1e-3

#: Largest incident energy (MeV) a file may have before its energies are taken for GeV.
#: The CaloChallenge datasets span 256 MeV (dataset 1) or 1 GeV (datasets 2, 3) up to
#: 1 TeV or more, so a file whose energies all stay below 1000 is almost surely in GeV.
GEV_SUSPICION_LIMIT_MEV = 1e3

#: Size of one block of showers in memory, in bytes (as float64). Feature code makes a few
#: temporaries of this size, so 64 MB keeps a pass over dataset 3 well below 1 GB.
_BLOCK_BYTES = 64 * 2**20

_ENERGY_SCALE_TO_MEV = {"MeV": 1.0, "GeV": 1e3}


@dataclass(frozen=True)
class ShowerBlock:
    """A block of consecutive showers read from a CaloChallenge file.

    Arguments:
        start: Row of the first shower in the file.
        incident_energy_mev: Incident energies in MeV, shape ``(n,)``.
        showers_mev: Voxel energies in MeV, shape ``(n, n_voxels)``, float64.
    """

    start: int
    incident_energy_mev: np.ndarray
    showers_mev: np.ndarray


# -- CaloChallenge ---------------------------------------------------------------------


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise KissError("Shower file not found", where=str(path), hint="check the path")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise KissError("Cannot read HDF5 file", where=str(path), expected="a readable HDF5 file",
                        got=str(error), hint="the file may be truncated or not HDF5") from None


def _dataset(handle: h5py.File, path: Path, key: str) -> h5py.Dataset:
    if key not in handle or not isinstance(handle[key], h5py.Dataset):
        raise KissError("Missing dataset in HDF5 file", where=f"{path}:{key}",
                        expected=f"a dataset '{key}'", got=f"keys {sorted(handle.keys())}")
    dataset = handle[key]
    if dataset.dtype.kind != "f":
        raise KissError("Invalid dtype in HDF5 file", where=f"{path}:{key}",
                        expected="float32 or float64", got=str(dataset.dtype))
    return dataset


def _read_rows(dataset: h5py.Dataset, path: Path, key: str, start: int, stop: int) -> np.ndarray:
    try:
        return np.asarray(dataset[start:stop], dtype=np.float64)
    except (OSError, RuntimeError, ValueError) as error:
        raise KissError("Cannot read rows from HDF5 file", where=f"{path}:{key}[{start}:{stop}]",
                        got=str(error), hint="the file may be truncated or corrupt") from None


#: Largest incident energy, in MeV, of a point-cloud file read as GeV: 10 TeV, above every
#: CaloClouds and CaloChallenge sample (at most about 4 TeV). A file in MeV read as GeV exceeds it.
CLOUD_MEV_SUSPICION_LIMIT_MEV = 1e7


def _check_incident_energies(energies: np.ndarray, where: str, check_units: bool) -> None:
    bad = ~np.isfinite(energies) | (energies <= 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise KissError("Invalid incident energy", where=f"{where}[{row}]",
                        expected="positive, finite energies in MeV", got=repr(float(energies[row])))
    if check_units and len(energies) and energies.max() <= GEV_SUSPICION_LIMIT_MEV:
        raise KissError(
            "Incident energies look like GeV, expected MeV", where=where,
            expected="MeV: CaloChallenge energies span about 1e3 to 1e6 MeV",
            got=f"all values between {energies.min():.4g} and {energies.max():.4g}",
            hint="multiply the energies by 1000 (off by 1000), or pass --no-unit-check (check_units=False in "
                 "Python) if they really are MeV",
        )


def _clean_showers(showers: np.ndarray, where: str, start: int) -> np.ndarray:
    bad = np.isnan(showers) | np.isinf(showers) | (showers < -NEGATIVE_TOLERANCE_MEV)
    if bad.any():
        row, column = np.unravel_index(int(np.argmax(bad)), showers.shape)
        raise KissError("Invalid voxel energy", where=f"{where}[{start + row}, {column}]",
                        expected=f"finite energies >= -{NEGATIVE_TOLERANCE_MEV} MeV",
                        got=repr(float(showers[row, column])))
    return np.maximum(showers, 0.0, out=showers)


def _open_calochallenge(
    path: Path, geometry: CaloChallengeGeometry | None
) -> tuple[h5py.File, h5py.Dataset, h5py.Dataset]:
    handle = _open(path)
    try:
        energies = _dataset(handle, path, "incident_energies")
        showers = _dataset(handle, path, "showers")
        if energies.ndim not in (1, 2) or (energies.ndim == 2 and energies.shape[1] != 1):
            raise KissError("Invalid shape", where=f"{path}:incident_energies", expected="(N, 1) or (N,)",
                            got=str(energies.shape))
        if showers.ndim != 2:
            raise KissError("Invalid shape", where=f"{path}:showers", expected="(N, n_voxels)", got=str(showers.shape))
        if energies.shape[0] != showers.shape[0]:
            raise KissError("Unequal number of showers", where=str(path),
                            expected="as many incident_energies as showers",
                            got=f"incident_energies {energies.shape[0]}, showers {showers.shape[0]}")
        if geometry is not None and showers.shape[1] != geometry.n_cells:
            raise KissError("Wrong voxel count for the geometry", where=f"{path}:showers",
                            expected=f"{geometry.n_cells} voxels ({geometry.describe()})",
                            got=f"{showers.shape[1]} voxels", hint="choose the geometry the file was made with")
    except BaseException:
        handle.close()
        raise
    return handle, energies, showers


def calochallenge_shower_count(path: str | Path, geometry: CaloChallengeGeometry | None = None) -> int:
    """Return the number of showers in a CaloChallenge file after checking its layout."""
    handle, _, showers = _open_calochallenge(Path(path), geometry)
    with handle:
        return int(showers.shape[0])


def read_incident_energies(
    path: str | Path,
    geometry: CaloChallengeGeometry | None = None,
    *,
    max_showers: int | None = None,
    check_units: bool = True,
) -> np.ndarray:
    """Check the layout of a CaloChallenge file and return its incident energies in MeV, shape ``(N,)``.

    This reads only the small ``incident_energies`` dataset, so it is the check to run on every
    input before a long pass over the showers.

    Raises:
        KissError: For a missing, unreadable or malformed file, a voxel count that does not
            match ``geometry``, or incident energies that are not positive, finite MeV.
    """
    path = Path(path)
    handle, energies, showers = _open_calochallenge(path, geometry)
    with handle:
        n_showers = showers.shape[0] if max_showers is None else min(max_showers, showers.shape[0])
        incident = _read_rows(energies, path, "incident_energies", 0, n_showers).reshape(-1)
    _check_incident_energies(incident, f"{path}:incident_energies", check_units)
    return incident


def iter_calochallenge(
    path: str | Path,
    geometry: CaloChallengeGeometry | None = None,
    *,
    block_size: int | None = None,
    max_showers: int | None = None,
    check_units: bool = True,
) -> Iterator[ShowerBlock]:
    """Read a CaloChallenge file block by block.

    The layout and all incident energies are checked when the generator starts. Voxel
    energies are checked block by block: NaN, infinite values and values below
    ``-NEGATIVE_TOLERANCE_MEV`` raise, and smaller negative values are set to 0.

    Arguments:
        path: The HDF5 file.
        geometry: The geometry whose voxel count the file must match; ``None`` skips that check.
        block_size: Showers per block; ``None`` picks about 64 MB of float64 per block.
        max_showers: Read at most this many showers from the start of the file.
        check_units: Reject files whose incident energies all lie below 1000 (probably GeV).

    Yields:
        :class:`ShowerBlock` objects in file order.

    Raises:
        KissError: For a missing, unreadable or malformed file, or invalid values.
    """
    path = Path(path)
    incident = read_incident_energies(path, geometry, max_showers=max_showers, check_units=check_units)
    n_showers = len(incident)
    handle, _, showers = _open_calochallenge(path, geometry)
    with handle:
        n_voxels = showers.shape[1]
        if block_size is None:
            block_size = max(1, _BLOCK_BYTES // (8 * max(n_voxels, 1)))
        for start in range(0, n_showers, block_size):
            stop = min(start + block_size, n_showers)
            block = _read_rows(showers, path, "showers", start, stop)
            yield ShowerBlock(start, incident[start:stop], _clean_showers(block, f"{path}:showers", start))


def read_calochallenge(
    path: str | Path,
    geometry: CaloChallengeGeometry | None = None,
    *,
    max_showers: int | None = None,
    check_units: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a whole CaloChallenge file (or its first ``max_showers``) into memory.

    Returns:
        ``(incident_energy_mev, showers_mev)`` with shapes ``(N,)`` and ``(N, n_voxels)``.
    """
    blocks = list(iter_calochallenge(path, geometry, max_showers=max_showers, check_units=check_units))
    if not blocks:
        n_voxels = geometry.n_cells if geometry is not None else 0
        return np.zeros(0), np.zeros((0, n_voxels))
    return (np.concatenate([block.incident_energy_mev for block in blocks]),
            np.concatenate([block.showers_mev for block in blocks]))


class _AtomicHDF5Writer:
    """An HDF5 file written under a temporary name and moved into place on a clean close."""

    def __init__(self, path: str | Path, *, overwrite: bool) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise KissError("Output file already exists", where=str(self.path),
                            hint="choose another name, or pass --overwrite (overwrite=True in Python)")
        if not self.path.parent.is_dir():
            raise KissError("Output folder not found", where=str(self.path.parent))
        self.temporary_path = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.handle = h5py.File(self.temporary_path, "w")
        self.n_written = 0

    def close(self, *, keep: bool = True) -> None:
        """Close the file; move it to its final name when ``keep``, else delete it."""
        if self.handle is None:
            return
        self.handle.close()
        self.handle = None
        if keep:
            os.replace(self.temporary_path, self.path)
            logger.info("wrote %d events to %s", self.n_written, self.path)
        else:
            self.temporary_path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close(keep=kind is None)


class CaloChallengeWriter(_AtomicHDF5Writer):
    """Write a CaloChallenge file block by block, atomically.

    Showers are appended to a file under a temporary name in the target folder. That file
    replaces ``path`` when the writer closes without an exception, and is deleted otherwise.

    Arguments:
        path: The target HDF5 file.
        n_voxels: Voxels per shower (``geometry.n_cells``).
        dtype: Storage type of both datasets (float32 as in the official files).
        overwrite: Replace an existing file at ``path``.

    Example:
        >>> with CaloChallengeWriter("showers.h5", n_voxels=6480) as writer:
        ...     writer.append(incident_energy_mev, showers_mev)
    """

    def __init__(self, path: str | Path, n_voxels: int, *, dtype: str = "float32", overwrite: bool = False) -> None:
        super().__init__(path, overwrite=overwrite)
        self.n_voxels = n_voxels
        rows_per_chunk = max(1, min(1000, 2**20 // (4 * n_voxels)))
        self.energies = self.handle.create_dataset("incident_energies", shape=(0, 1), maxshape=(None, 1),
                                                   dtype=dtype, chunks=(4096, 1), compression="gzip")
        self.showers = self.handle.create_dataset("showers", shape=(0, n_voxels), maxshape=(None, n_voxels),
                                                  dtype=dtype, chunks=(rows_per_chunk, n_voxels), compression="gzip")

    def append(self, incident_energy_mev: np.ndarray, showers_mev: np.ndarray) -> None:
        """Append showers (MeV, shape ``(n, n_voxels)``) and their incident energies (MeV)."""
        incident = np.asarray(incident_energy_mev).reshape(-1, 1)
        showers = np.asarray(showers_mev)
        if showers.ndim != 2 or showers.shape[1] != self.n_voxels or len(showers) != len(incident):
            raise KissError("Invalid shower block", where=str(self.path),
                            expected=f"(n, {self.n_voxels}) showers and n incident energies",
                            got=f"showers {showers.shape}, incident energies {incident.shape}")
        stop = self.n_written + len(showers)
        self.energies.resize(stop, axis=0)
        self.showers.resize(stop, axis=0)
        self.energies[self.n_written:stop] = incident
        self.showers[self.n_written:stop] = showers
        self.n_written = stop


def write_calochallenge(path: str | Path, incident_energy_mev: np.ndarray, showers_mev: np.ndarray,
                        *, overwrite: bool = False) -> None:
    """Write showers in memory to a CaloChallenge file, atomically."""
    with CaloChallengeWriter(path, np.shape(showers_mev)[1], overwrite=overwrite) as writer:
        writer.append(incident_energy_mev, showers_mev)


def project_caloclouds_file(
    points_path: str | Path,
    voxels_path: str | Path,
    geometry,
    *,
    energy_unit: Literal["GeV", "MeV"] = "GeV",
    axis_mm: tuple[float, float] = (0.0, 0.0),
    block_size: int = 1000,
    overwrite: bool = False,
) -> dict[str, float]:
    """Project a CaloClouds point-cloud file onto a geometry and write a CaloChallenge file, block by block.

    Each block is read, projected with :func:`kiss_calo.geometry.project_point_clouds` and
    appended, so memory stays bounded for any file size. The output is written atomically.

    Arguments:
        points_path: CaloClouds file (``events`` (N, 4, P), ``energy``).
        voxels_path: CaloChallenge file to write (MeV).
        geometry: The target geometry, CaloChallenge or planar.
        energy_unit: Unit of the energies in the point-cloud file.
        axis_mm: Position (x, z) of the shower axis in the point-cloud frame, in mm.
        block_size: Events per block.
        overwrite: Replace an existing ``voxels_path``.

    Returns:
        ``{"events": N, "dropped_fraction": energy outside the grid / all point energy}``.

    Example:
        >>> project_caloclouds_file("clouds.h5", "voxels.h5", load_geometry("ds2"))
    """
    n_events, kept_mev, dropped_mev = 0, 0.0, 0.0
    with CaloChallengeWriter(voxels_path, geometry.n_cells, overwrite=overwrite) as writer:
        for _, incident_mev, points in iter_caloclouds(points_path, energy_unit=energy_unit, block_size=block_size):
            cells, dropped = project_point_clouds(points, geometry, axis_mm=axis_mm, return_dropped=True)
            writer.append(incident_mev, cells)
            n_events += len(incident_mev)
            kept_mev += float(cells.sum())
            dropped_mev += float(np.sum(dropped))
    total_mev = kept_mev + dropped_mev
    return {"events": n_events, "dropped_fraction": dropped_mev / total_mev if total_mev > 0 else 0.0}


# -- xarray ----------------------------------------------------------------------------


def showers_to_xarray(
    showers_mev: np.ndarray,
    incident_energy_mev: np.ndarray,
    geometry: CaloChallengeGeometry,
    provenance: dict | None = None,
) -> xr.Dataset:
    """Arrange flat showers on a (layer, alpha, r) grid.

    Layers with fewer angular or radial bins than the largest layer (dataset 1) are padded
    with NaN, so ``energy.sum(...)`` (which skips NaN) still gives the deposited energy.

    Returns:
        A dataset with ``energy`` (event, layer, alpha, r) in MeV and ``incident_energy``
        (event) in MeV, ``r`` and ``alpha`` bin indices as coordinates, and
        ``attrs["provenance"]`` as a JSON string.
    """
    showers_mev = np.asarray(showers_mev)
    n_alpha = max(layer.n_alpha for layer in geometry.layers)
    n_r = max(layer.n_r for layer in geometry.layers)
    cells = geometry.cell_coordinates()
    grid = np.full((len(showers_mev), geometry.n_layers, n_alpha, n_r), np.nan)
    grid[:, cells.layer.values, cells.alpha_index.values, cells.r_index.values] = showers_mev
    return xr.Dataset(
        {
            "energy": (("event", "layer", "alpha", "r"), grid, {"units": "MeV"}),
            "incident_energy": ("event", np.asarray(incident_energy_mev).reshape(-1), {"units": "MeV"}),
        },
        coords={"layer": np.arange(geometry.n_layers), "alpha": np.arange(n_alpha), "r": np.arange(n_r)},
        attrs={"provenance": json.dumps({"geometry": geometry.describe(), **(provenance or {})})},
    )


def xarray_to_showers(samples: xr.Dataset, geometry: CaloChallengeGeometry) -> np.ndarray:
    """Return the flat ``(event, voxel)`` showers of a dataset made by :func:`showers_to_xarray`."""
    cells = geometry.cell_coordinates()
    energy = samples["energy"].transpose("event", "layer", "alpha", "r").values
    return energy[:, cells.layer.values, cells.alpha_index.values, cells.r_index.values]


# -- CaloClouds ------------------------------------------------------------------------


def _energy_scale(unit: str) -> float:
    if unit not in _ENERGY_SCALE_TO_MEV:
        raise KissError("Unknown energy unit", where="energy_unit", expected="'GeV' or 'MeV'", got=repr(unit))
    return _ENERGY_SCALE_TO_MEV[unit]


def _open_caloclouds(path: Path) -> tuple[h5py.File, h5py.Dataset, h5py.Dataset]:
    handle = _open(path)
    try:
        events = _dataset(handle, path, "events")
        energy = _dataset(handle, path, "energy")
        if events.ndim != 3 or events.shape[1] != 4:
            raise KissError("Invalid shape", where=f"{path}:events", expected="(N, 4, P) with rows x, y, z, e",
                            got=str(events.shape))
        if energy.ndim not in (1, 2) or (energy.ndim == 2 and energy.shape[1] != 1):
            raise KissError("Invalid shape", where=f"{path}:energy", expected="(N,) or (N, 1)", got=str(energy.shape))
        if energy.shape[0] != events.shape[0]:
            raise KissError("Unequal number of events", where=str(path), expected="as many energy values as events",
                            got=f"energy {energy.shape[0]}, events {events.shape[0]}")
    except BaseException:
        handle.close()
        raise
    return handle, events, energy


def iter_caloclouds(
    path: str | Path,
    *,
    energy_unit: Literal["GeV", "MeV"] = "GeV",
    block_size: int = 1000,
    max_events: int | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Read a CaloClouds point-cloud file block by block.

    Arguments:
        path: The HDF5 file with ``events`` (N, 4, P) and ``energy`` (N,) or (N, 1).
        energy_unit: Unit of the point energies and incident energies in the file.
        block_size: Events per block.
        max_events: Read at most this many events.

    Yields:
        ``(start, incident_energy_mev (n,), points (n, 4, P))`` with point energies in MeV.
    """
    path = Path(path)
    scale = _energy_scale(energy_unit)
    handle, events, energy = _open_caloclouds(path)
    with handle:
        n_events = events.shape[0] if max_events is None else min(max_events, events.shape[0])
        incident = _read_rows(energy, path, "energy", 0, n_events).reshape(-1) * scale
        _check_incident_energies(incident, f"{path}:energy", check_units=False)
        if energy_unit == "GeV" and incident.max(initial=0.0) > CLOUD_MEV_SUSPICION_LIMIT_MEV:
            raise KissError("Incident energies look like MeV, read as GeV", where=f"{path}:energy",
                            expected=f"GeV values up to {CLOUD_MEV_SUSPICION_LIMIT_MEV / 1e3:.0f}",
                            got=f"values up to {incident.max() / scale:.4g}",
                            hint="pass --energy-unit MeV (energy_unit='MeV' in Python) if the file is in MeV")
        for start in range(0, n_events, block_size):
            stop = min(start + block_size, n_events)
            points = _read_rows(events, path, "events", start, stop)
            point_energy = points[:, 3, :]
            bad = ~np.isfinite(points).all(axis=1) | (point_energy < -NEGATIVE_TOLERANCE_MEV / scale)
            if bad.any():
                row, column = np.unravel_index(int(np.argmax(bad)), bad.shape)
                raise KissError("Invalid point", where=f"{path}:events[{start + row}, :, {column}]",
                                expected="finite coordinates and non-negative energy",
                                got=repr(points[row, :, column].tolist()))
            points[:, 3, :] = np.maximum(point_energy, 0.0) * scale
            yield start, incident[start:stop], points


def read_caloclouds(path: str | Path, *, energy_unit: Literal["GeV", "MeV"] = "GeV",
                    max_events: int | None = None) -> xr.Dataset:
    """Read a CaloClouds file into a dataset with dims (event, point).

    Returns:
        ``x``, ``y``, ``z`` (file units: mm for x and z, layer coordinate for y), ``energy``
        (MeV) per point, and ``incident_energy`` (MeV) per event.
    """
    blocks = list(iter_caloclouds(path, energy_unit=energy_unit, max_events=max_events))
    incident = np.concatenate([block[1] for block in blocks]) if blocks else np.zeros(0)
    points = np.concatenate([block[2] for block in blocks]) if blocks else np.zeros((0, 4, 0))
    return xr.Dataset(
        {name: (("event", "point"), points[:, row, :]) for row, name in enumerate(("x", "y", "z", "energy"))}
        | {"incident_energy": ("event", incident, {"units": "MeV"})},
        attrs={"provenance": json.dumps({"source": str(path), "file_energy_unit": energy_unit})},
    )


class CaloCloudsWriter(_AtomicHDF5Writer):
    """Write a CaloClouds point-cloud file block by block, atomically.

    Arguments:
        path: The target HDF5 file.
        n_points: Points per event ``P``; shorter clouds are zero-padded.
        energy_unit: Unit to store energies in (CaloClouds files use GeV).
        overwrite: Replace an existing file at ``path``.
    """

    def __init__(self, path: str | Path, n_points: int, *, energy_unit: Literal["GeV", "MeV"] = "GeV",
                 overwrite: bool = False) -> None:
        self.scale = _energy_scale(energy_unit)
        super().__init__(path, overwrite=overwrite)
        self.n_points = n_points
        self.events = self.handle.create_dataset("events", shape=(0, 4, n_points), maxshape=(None, 4, n_points),
                                                 dtype="float32",
                                                 chunks=(max(1, min(100, 2**18 // n_points)), 4, n_points),
                                                 compression="gzip")
        self.energy = self.handle.create_dataset("energy", shape=(0, 1), maxshape=(None, 1), dtype="float32",
                                                 chunks=(4096, 1), compression="gzip")

    def append(self, incident_energy_mev: np.ndarray, points: np.ndarray) -> None:
        """Append point clouds ``(n, 4, p)`` (rows x, y, z, energy in MeV, p <= P)."""
        points = np.asarray(points, dtype=np.float64)
        incident = np.asarray(incident_energy_mev, dtype=np.float64).reshape(-1, 1)
        if points.ndim != 3 or points.shape[1] != 4 or points.shape[2] > self.n_points or len(points) != len(incident):
            raise KissError("Invalid point-cloud block", where=str(self.path),
                            expected=f"(n, 4, p <= {self.n_points}) points and n incident energies",
                            got=f"points {points.shape}, incident energies {incident.shape}")
        padded = np.zeros((len(points), 4, self.n_points))
        padded[:, :, : points.shape[2]] = points
        padded[:, 3, :] /= self.scale
        stop = self.n_written + len(points)
        self.events.resize(stop, axis=0)
        self.energy.resize(stop, axis=0)
        self.events[self.n_written:stop] = padded
        self.energy[self.n_written:stop] = incident / self.scale
        self.n_written = stop


def write_caloclouds(path: str | Path, incident_energy_mev: np.ndarray, points: np.ndarray, *,
                     energy_unit: Literal["GeV", "MeV"] = "GeV", overwrite: bool = False) -> None:
    """Write point clouds in memory (``(N, 4, P)``, energies in MeV) to a CaloClouds file, atomically."""
    with CaloCloudsWriter(path, np.shape(points)[2], energy_unit=energy_unit, overwrite=overwrite) as writer:
        writer.append(incident_energy_mev, points)
