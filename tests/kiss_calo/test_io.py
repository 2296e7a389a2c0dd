"""Tests of the CaloChallenge and CaloClouds readers and writers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from kiss_calo.geometry import CaloChallengeGeometry
from kiss_calo.io import (
    CaloChallengeWriter,
    iter_calochallenge,
    iter_caloclouds,
    read_calochallenge,
    read_caloclouds,
    showers_to_xarray,
    write_calochallenge,
    write_caloclouds,
    xarray_to_showers,
)
from kiss_core.errors import KissError


@pytest.fixture
def geometry(small_binning):
    return CaloChallengeGeometry.from_xml(small_binning, "electron")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("incident_shape", ["column", "flat"])
def test_reader_accepts_official_variants(tmp_path, geometry, official_file, make_showers, dtype, incident_shape):
    incident, showers = make_showers(geometry.n_cells, 50, seed=1)
    path = official_file(tmp_path / "showers.h5", incident, showers, dtype=dtype, incident_shape=incident_shape,
                         extra=True)
    read_incident, read_showers = read_calochallenge(path, geometry)
    np.testing.assert_allclose(read_incident, incident.astype(dtype), rtol=0)
    np.testing.assert_allclose(read_showers, showers.astype(dtype), rtol=0)


def test_reader_blocks_cover_file_in_order(tmp_path, geometry, official_file, make_showers):
    incident, showers = make_showers(geometry.n_cells, 23, seed=2)
    path = official_file(tmp_path / "showers.h5", incident, showers, dtype="float64")
    blocks = list(iter_calochallenge(path, geometry, block_size=5))
    assert [block.start for block in blocks] == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(np.concatenate([block.showers_mev for block in blocks]), showers)
    assert len(list(iter_calochallenge(path, geometry, block_size=5, max_showers=7))) == 2


def test_writer_round_trip_in_official_layout(tmp_path, geometry, make_showers):
    incident, showers = make_showers(geometry.n_cells, 30, seed=3)
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "written.h5"
    with CaloChallengeWriter(path, geometry.n_cells) as writer:
        writer.append(incident[:10], showers[:10])
        writer.append(incident[10:], showers[10:])
    with h5py.File(path) as handle:
        assert handle["incident_energies"].shape == (30, 1)
        assert handle["showers"].shape == (30, geometry.n_cells)
        assert handle["showers"].compression == "gzip"
        assert handle["showers"].dtype == np.float32
    _, read_showers = read_calochallenge(path, geometry)
    np.testing.assert_allclose(read_showers, showers.astype(np.float32))
    assert [p.name for p in path.parent.iterdir()] == ["written.h5"]


def test_writer_failure_keeps_old_file(tmp_path, geometry, make_showers):
    incident, showers = make_showers(geometry.n_cells, 5, seed=4)
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "kept.h5"
    write_calochallenge(path, incident, showers)
    with pytest.raises(KissError, match="already exists"):
        write_calochallenge(path, incident, showers)
    with pytest.raises(RuntimeError):
        with CaloChallengeWriter(path, geometry.n_cells, overwrite=True) as writer:
            writer.append(incident[:2], showers[:2])
            raise RuntimeError("interrupted")
    assert len(read_calochallenge(path, geometry)[0]) == 5
    assert [p.name for p in path.parent.iterdir()] == ["kept.h5"]


def test_reader_rejects_missing_and_corrupt_files(tmp_path, geometry, official_file, make_showers):
    with pytest.raises(KissError, match="not found"):
        read_calochallenge(tmp_path / "missing.h5", geometry)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(KissError, match="Cannot read HDF5"):
        read_calochallenge(garbage, geometry)
    incident, showers = make_showers(geometry.n_cells, 200, seed=5)
    path = official_file(tmp_path / "truncated.h5", incident, showers)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KissError):
        read_calochallenge(path, geometry)


def test_reader_rejects_wrong_layout(tmp_path, geometry, official_file, make_showers):
    incident, showers = make_showers(geometry.n_cells + 1, 10, seed=6)
    path = official_file(tmp_path / "wrong.h5", incident, showers)
    with pytest.raises(KissError, match="Wrong voxel count") as caught:
        read_calochallenge(path, geometry)
    assert caught.value.expected.startswith(f"{geometry.n_cells} voxels")
    assert caught.value.got == f"{geometry.n_cells + 1} voxels"

    with h5py.File(tmp_path / "unequal.h5", "w") as handle:
        handle["incident_energies"] = incident[:9].reshape(-1, 1)
        handle["showers"] = showers[:, :-1]
    with pytest.raises(KissError, match="Unequal number"):
        read_calochallenge(tmp_path / "unequal.h5", geometry)

    with h5py.File(tmp_path / "nokey.h5", "w") as handle:
        handle["showers"] = showers[:, :-1]
    with pytest.raises(KissError, match="Missing dataset") as caught:
        read_calochallenge(tmp_path / "nokey.h5", geometry)
    assert caught.value.where.endswith(":incident_energies")


def test_reader_rejects_bad_energies(tmp_path, geometry, official_file, make_showers):
    incident, showers = make_showers(geometry.n_cells, 10, seed=7)
    with_nan = showers.copy()
    with_nan[3, 4] = np.nan
    with pytest.raises(KissError, match="Invalid voxel energy") as caught:
        read_calochallenge(official_file(tmp_path / "nan.h5", incident, with_nan), geometry)
    assert caught.value.where.endswith("[3, 4]")

    negative = showers.copy()
    negative[2, 1] = -0.5
    with pytest.raises(KissError, match="Invalid voxel energy"):
        read_calochallenge(official_file(tmp_path / "negative.h5", incident, negative), geometry)

    noise = showers.copy()
    noise[2, 1] = -1e-5
    _, read_showers = read_calochallenge(official_file(tmp_path / "noise.h5", incident, noise), geometry)
    assert read_showers[2, 1] == 0.0


def test_reader_rejects_gev_incident_energies(tmp_path, geometry, official_file, make_showers):
    incident, showers = make_showers(geometry.n_cells, 10, seed=8)
    path = official_file(tmp_path / "gev.h5", incident / 1e3, showers)
    with pytest.raises(KissError, match="look like GeV") as caught:
        read_calochallenge(path, geometry)
    assert "1000" in caught.value.hint
    assert len(read_calochallenge(path, geometry, check_units=False)[0]) == 10


def test_xarray_grid_round_trip(tmp_path, geometry, make_showers):
    incident, showers = make_showers(geometry.n_cells, 4, seed=9)
    samples = showers_to_xarray(showers, incident, geometry)
    assert samples["energy"].dims == ("event", "layer", "alpha", "r")
    assert samples["energy"].shape == (4, 4, 3, 4)
    # The empty layer 1 is all NaN, and sums skip it.
    assert np.isnan(samples["energy"].sel(layer=1)).all()
    np.testing.assert_allclose(samples["energy"].sum(("layer", "alpha", "r")).values, showers.sum(axis=1))
    np.testing.assert_array_equal(xarray_to_showers(samples, geometry), showers)


def test_caloclouds_round_trip_in_gev(tmp_path):
    rng = np.random.default_rng(10)
    points = np.zeros((3, 4, 6))
    points[:, :, :4] = rng.uniform(1.0, 2.0, size=(3, 4, 4))
    incident_mev = np.array([10e3, 50e3, 90e3])
    path = tmp_path / "clouds.h5"
    write_caloclouds(path, incident_mev, points[:, :, :4], energy_unit="GeV")
    with h5py.File(path) as handle:
        assert handle["events"].shape == (3, 4, 4)
        np.testing.assert_allclose(handle["energy"][:, 0], [10.0, 50.0, 90.0])
        np.testing.assert_allclose(handle["events"][:, 3, :], points[:, 3, :4] / 1e3, rtol=1e-6)
    samples = read_caloclouds(path)
    np.testing.assert_allclose(samples["incident_energy"].values, incident_mev, rtol=1e-6)
    np.testing.assert_allclose(samples["energy"].values, points[:, 3, :4], rtol=1e-6)
    assert samples["x"].dims == ("event", "point")
    starts = [start for start, _, _ in iter_caloclouds(path, block_size=2)]
    assert starts == [0, 2]


def test_caloclouds_reader_rejects_mev_file_read_as_gev(tmp_path):
    path = tmp_path / "clouds_mev.h5"
    write_caloclouds(path, np.array([10e3, 50e3]), np.ones((2, 4, 3)), energy_unit="MeV")

    with pytest.raises(KissError, match="look like MeV") as error:
        read_caloclouds(path)

    assert "--energy-unit MeV" in str(error.value)
    assert read_caloclouds(path, energy_unit="MeV")["incident_energy"].values.tolist() == [10e3, 50e3]


def test_caloclouds_reader_rejects_bad_points(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as handle:
        events = np.ones((2, 4, 3))
        events[1, 3, 2] = -1.0
        handle["events"] = events
        handle["energy"] = np.array([10.0, 20.0])
    with pytest.raises(KissError, match="Invalid point") as caught:
        read_caloclouds(tmp_path / "bad.h5")
    assert caught.value.where.endswith("events[1, :, 2]")
    with h5py.File(tmp_path / "shape.h5", "w") as handle:
        handle["events"] = np.ones((2, 3, 3))
        handle["energy"] = np.array([10.0, 20.0])
    with pytest.raises(KissError, match="Invalid shape"):
        read_caloclouds(tmp_path / "shape.h5")
