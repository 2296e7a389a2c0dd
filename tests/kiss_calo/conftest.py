"""Small CaloChallenge files in the official layout, written with h5py directly."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

SMALL_BINNING = """<Bins>
   <Bin pid="11" name="electron">
      <Layer id="0" r_edges="0,2,5,10,20" n_bin_alpha="3" />
      <Layer id="1" r_edges="0" n_bin_alpha="1" />
      <Layer id="2" r_edges="0,2,5,10,20" n_bin_alpha="3" />
      <Layer id="3" r_edges="0,5,20" n_bin_alpha="1" />
   </Bin>
   <Bin pid="22" name="photon">
      <Layer id="0" r_edges="0,10" n_bin_alpha="2" />
   </Bin>
</Bins>
"""


@pytest.fixture
def small_binning(tmp_path: Path) -> Path:
    """A binning XML with an electron bin of 4 layers (one empty, 26 voxels) and a photon bin."""
    path = tmp_path / "binning_small.xml"
    path.write_text(SMALL_BINNING)
    return path


def toy_showers(n_voxels: int, n_showers: int, seed: int, energy_scale: float = 1.0,
                width: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw toy showers: log-uniform incident energies in 1 GeV - 100 GeV (MeV), voxel energies
    from a fixed profile times gamma-distributed fluctuations, some voxels empty."""
    rng = np.random.default_rng(seed)
    incident = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n_showers))
    profile = np.exp(-np.arange(n_voxels) / (8.0 * width))
    profile /= profile.sum()
    fluctuation = rng.gamma(4.0, 0.25, size=(n_showers, n_voxels))
    showers = 0.5 * energy_scale * incident[:, None] * profile * fluctuation
    showers[rng.random((n_showers, n_voxels)) < 0.2] = 0.0
    return incident, showers


def write_official(path: Path, incident: np.ndarray, showers: np.ndarray, *, dtype: str = "float32",
                   incident_shape: str = "column", extra: bool = False) -> Path:
    """Write ``incident_energies`` (N, 1) and ``showers`` (N, V) gzip-compressed, as the official files do."""
    with h5py.File(path, "w") as handle:
        values = incident.reshape(-1, 1) if incident_shape == "column" else incident.reshape(-1)
        handle.create_dataset("incident_energies", data=values.astype(dtype), compression="gzip")
        handle.create_dataset("showers", data=showers.astype(dtype), compression="gzip")
        if extra:
            handle.create_dataset("notes", data=np.arange(3))
    return path


@pytest.fixture
def official_file():
    """Return the writer of official-layout files."""
    return write_official


@pytest.fixture
def make_showers():
    """Return the toy shower generator."""
    return toy_showers
