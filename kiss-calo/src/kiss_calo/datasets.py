"""Reference datasets produced by the GFlash-style simulator: voxel showers and point clouds."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from kiss_calo.geometry import load_geometry
from kiss_calo.io import (
    read_calochallenge,
    read_caloclouds,
    showers_to_xarray,
    write_calochallenge,
    write_caloclouds,
    xarray_to_showers,
)
from kiss_calo.simulators.gflash import GFlashSimulator, ShowerSpots
from kiss_calo.simulators.materials import make_calorimeter
from kiss_core.errors import KissError
from kiss_core.interfaces import Dataset

__all__ = ["GFlashPointClouds", "GFlashShowers", "point_clouds_to_xarray", "spots_to_point_clouds"]

logger = logging.getLogger(__name__)


def _check_energy_range(low: float, high: float) -> None:
    if not 0 < low <= high:
        raise KissError(
            "Invalid incident energy range",
            where="min_energy_mev, max_energy_mev",
            expected="0 < min_energy_mev <= max_energy_mev (MeV)",
            got=f"{low}, {high}",
        )


def _simulate_in_batches(simulator: GFlashSimulator, energies: np.ndarray, batch_size: int, rng, progress: bool, work):
    """Run ``work(spots)`` on batches of simulated showers and return the list of results."""
    results = []
    for start in tqdm(range(0, len(energies), batch_size), desc="GFlash", unit="batch", disable=not progress):
        results.append(work(simulator.simulate_spots(energies[start : start + batch_size], rng)))
    return results


class GFlashShowers(Dataset):
    """Electron showers from the GFlash-style simulator on a CaloChallenge voxel geometry.

    Incident energies are drawn log-uniformly between the configured bounds, as in
    CaloChallenge datasets 2 and 3 (1 GeV to 1 TeV).

    Example:
        >>> samples = GFlashShowers().load(100, seed=1)
        >>> samples.energy.dims
        ('event', 'layer', 'alpha', 'r')
    """

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`GFlashShowers`.

        Arguments:
            geometry: CaloChallenge geometry name ("ds2", "ds3") or binning XML path.
            calorimeter: Material preset of :mod:`kiss_calo.simulators.materials`.
            particle: "electron" or "photon".
            min_energy_mev: Lowest incident energy in MeV.
            max_energy_mev: Highest incident energy in MeV.
            spot_scale: Factor on the published number of energy spots.
            batch_size: Showers simulated at once (bounds memory).
            threshold_mev: Readout threshold: voxel energies below it (MeV) are set to 0.
                The default 0 keeps every deposit.
        """

        geometry: str = "ds2"
        calorimeter: str = "calochallenge_w_si"
        particle: str = "electron"
        min_energy_mev: float = 1e3
        max_energy_mev: float = 1e6
        spot_scale: float = 1.0
        batch_size: int = 500
        threshold_mev: float = 0.0

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        _check_energy_range(self.config.min_energy_mev, self.config.max_energy_mev)
        if not self.config.threshold_mev >= 0:
            raise KissError("Invalid readout threshold", where="threshold_mev", expected="a value >= 0 in MeV",
                            got=repr(self.config.threshold_mev))
        self.geometry = load_geometry(self.config.geometry)
        self.simulator = GFlashSimulator(
            make_calorimeter(self.config.calorimeter), particle=self.config.particle, spot_scale=self.config.spot_scale
        )

    def load(self, n_events: int, *, seed: int, progress: bool = False) -> xr.Dataset:
        """Simulate ``n_events`` showers and return them on the (layer, alpha, r) grid, in MeV."""
        rng = np.random.default_rng(seed)
        low, high = np.log(self.config.min_energy_mev), np.log(self.config.max_energy_mev)
        energies = np.exp(rng.uniform(low, high, n_events))

        def deposit(spots: ShowerSpots) -> np.ndarray:
            showers = self.geometry.deposit(
                spots.event, spots.layer, spots.x_mm, spots.y_mm, spots.energy_mev, spots.n_events
            )
            showers[showers < self.config.threshold_mev] = 0.0
            return showers

        blocks = _simulate_in_batches(self.simulator, energies, self.config.batch_size, rng, progress, deposit)
        showers = np.concatenate(blocks) if blocks else np.zeros((0, self.geometry.n_cells))
        logger.info("Simulated %d GFlash showers on %s (seed %d)", n_events, self.config.geometry, seed)
        provenance = {"dataset": "calo.gflash_showers", "config": asdict(self.config), "seed": seed}
        return showers_to_xarray(showers, energies, self.geometry, provenance)

    def read(self, path: Path) -> xr.Dataset:
        """Read a CaloChallenge HDF5 file on this dataset's geometry."""
        incident, showers = read_calochallenge(path, self.geometry)
        return showers_to_xarray(showers, incident, self.geometry, {"source": str(path)})

    def write(self, samples: xr.Dataset, path: Path) -> None:
        """Write showers in the CaloChallenge HDF5 layout, atomically, creating the folder if missing."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The pipeline has already refused an existing file unless --overwrite was given.
        write_calochallenge(path, samples["incident_energy"].values, xarray_to_showers(samples, self.geometry),
                            overwrite=True)


def spots_to_point_clouds(spots: ShowerSpots, rng: np.random.Generator, max_points: int | None = None) -> np.ndarray:
    """Arrange simulated spots as CaloClouds point clouds (n_events, 4, P), zero-padded.

    Rows are x (mm), y (layer coordinate: the layer index plus a uniform offset inside the
    layer, because a spot only knows its layer), z (mm) and energy (MeV); the shower axis runs
    along y, as in the CaloClouds files. With ``max_points`` the lowest-energy spots beyond it
    are dropped and the kept spots of that shower are scaled up to keep the shower energy.
    """
    counts = spots.counts()
    width = int(counts.max()) if len(counts) else 0
    if max_points is not None:
        width = min(width, int(max_points))
    points = np.zeros((spots.n_events, 4, width))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for event in range(spots.n_events):
        chosen = np.arange(starts[event], starts[event] + counts[event])
        energy = spots.energy_mev[chosen]
        if len(chosen) > width:
            order = np.argsort(energy)[::-1][:width]
            kept = energy[order]
            energy = kept * energy.sum() / kept.sum()
            chosen = chosen[order]
        n = len(chosen)
        points[event, 0, :n] = spots.x_mm[chosen]
        points[event, 1, :n] = spots.layer[chosen] + rng.random(n)
        points[event, 2, :n] = spots.y_mm[chosen]
        points[event, 3, :n] = energy
    return points


class GFlashPointClouds(Dataset):
    """Photon showers from the GFlash-style simulator as point clouds in the ILD-like ECAL.

    Incident energies are uniform between the bounds, 10 to 90 GeV as in CaloClouds II.
    Samples have dims (event, point): ``x``, ``z`` (mm), ``y`` (layer coordinate), ``energy``
    (MeV), ``mask`` (True for real points), and ``incident_energy`` (event) in MeV.

    Example:
        >>> clouds = GFlashPointClouds(GFlashPointClouds.Config(spot_scale=0.2)).load(10, seed=0)
        >>> clouds.energy.dims
        ('event', 'point')
    """

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`GFlashPointClouds`.

        Arguments:
            calorimeter: Material preset of :mod:`kiss_calo.simulators.materials`.
            particle: "photon" or "electron".
            min_energy_mev: Lowest incident energy in MeV.
            max_energy_mev: Highest incident energy in MeV.
            spot_scale: Factor on the published number of energy spots.
            max_points: Most points per cloud; lower-energy spots beyond it are merged away.
            batch_size: Showers simulated at once (bounds memory).
        """

        calorimeter: str = "ild_ecal"
        particle: str = "photon"
        min_energy_mev: float = 1e4
        max_energy_mev: float = 9e4
        spot_scale: float = 1.0
        max_points: int | None = 6000
        batch_size: int = 500

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        _check_energy_range(self.config.min_energy_mev, self.config.max_energy_mev)
        self.simulator = GFlashSimulator(
            make_calorimeter(self.config.calorimeter), particle=self.config.particle, spot_scale=self.config.spot_scale
        )

    def load(self, n_events: int, *, seed: int, progress: bool = False) -> xr.Dataset:
        """Simulate ``n_events`` showers and return their point clouds."""
        rng = np.random.default_rng(seed)
        energies = rng.uniform(self.config.min_energy_mev, self.config.max_energy_mev, n_events)
        blocks = _simulate_in_batches(
            self.simulator,
            energies,
            self.config.batch_size,
            rng,
            progress,
            lambda spots: spots_to_point_clouds(spots, rng, self.config.max_points),
        )
        width = max((block.shape[2] for block in blocks), default=0)
        points = np.concatenate([np.pad(block, ((0, 0), (0, 0), (0, width - block.shape[2]))) for block in blocks])
        provenance = {"dataset": "calo.gflash_point_clouds", "config": asdict(self.config), "seed": seed}
        return point_clouds_to_xarray(points, energies, provenance)

    def read(self, path: Path) -> xr.Dataset:
        """Read a CaloClouds HDF5 file (energies in GeV, as CaloClouds stores them)."""
        samples = read_caloclouds(path)
        return samples.assign(mask=samples["energy"] > 0)

    def write(self, samples: xr.Dataset, path: Path) -> None:
        """Write point clouds in the CaloClouds HDF5 layout (GeV), atomically, creating the folder if missing."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        points = np.stack([samples[name].values for name in ("x", "y", "z", "energy")], axis=1)
        if "mask" in samples:
            points = points * samples["mask"].values[:, None, :]
        write_caloclouds(path, samples["incident_energy"].values, points, overwrite=True)


def point_clouds_to_xarray(points: np.ndarray, incident_energy_mev: np.ndarray, provenance: dict) -> xr.Dataset:
    """Wrap CaloClouds point clouds (n_events, 4, P) with energies in MeV as a dataset with dims (event, point)."""
    return xr.Dataset(
        {name: (("event", "point"), points[:, row, :]) for row, name in enumerate(("x", "y", "z", "energy"))}
        | {
            "mask": (("event", "point"), points[:, 3, :] > 0),
            "incident_energy": ("event", np.asarray(incident_energy_mev, dtype=float), {"units": "MeV"}),
        },
        attrs={"provenance": json.dumps(provenance)},
    )
