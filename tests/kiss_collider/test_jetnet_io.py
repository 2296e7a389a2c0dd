"""Tests of reading and writing the JetNet HDF5 layout."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import xarray as xr

from kiss_collider.io import jetnet
from kiss_collider.io.jetnet import read_jetnet, write_jetnet
from kiss_core.errors import KissError


def make_jetnet_arrays(n_jets: int = 12, n_particles: int = 30, seed: int = 0, dtype=np.float32):
    """Build arrays exactly as JetNet ships them: float features, mask as float 0/1, zero padding."""
    rng = np.random.default_rng(seed)
    particles = np.zeros((n_jets, n_particles, 4), dtype=dtype)
    jets = np.zeros((n_jets, 4), dtype=dtype)
    for jet in range(n_jets):
        n_total = int(rng.integers(5, 2 * n_particles))
        n_kept = min(n_total, n_particles)
        ptrel = np.sort(rng.dirichlet(np.ones(n_total)))[::-1][:n_kept]
        particles[jet, :n_kept, 0] = rng.normal(0.0, 0.1, n_kept)
        particles[jet, :n_kept, 1] = rng.normal(0.0, 0.1, n_kept)
        particles[jet, :n_kept, 2] = ptrel
        particles[jet, :n_kept, 3] = 1.0
        jets[jet] = (rng.uniform(800.0, 1600.0), rng.uniform(-2.5, 2.5), rng.uniform(10.0, 300.0), n_total)
    return particles, jets


def write_raw(path, particles, jets, **extra):
    with h5py.File(path, "w") as handle:
        handle.create_dataset("particle_features", data=particles)
        handle.create_dataset("jet_features", data=jets)
        for key, value in extra.items():
            handle.create_dataset(key, data=value)


def make_samples(n_jets: int = 10, n_particles: int = 8, classes=("g", "t")) -> xr.Dataset:
    particles, jets = make_jetnet_arrays(n_jets, n_particles, seed=3)
    mask = particles[..., 3] == 1
    samples = xr.Dataset(
        {
            "constituents": (("event", "particle", "feature"), particles[..., :3]),
            "mask": (("event", "particle"), mask),
            "jet_pt": ("event", jets[:, 0]),
            "jet_eta": ("event", jets[:, 1]),
            "jet_mass": ("event", jets[:, 2]),
            "num_particles": ("event", mask.sum(axis=1).astype(np.int64)),
            "num_constituents": ("event", jets[:, 3].astype(np.int64)),
            "jet_class": ("event", np.arange(n_jets) % len(classes)),
        },
        coords={"feature": ["etarel", "phirel", "ptrel"]},
        attrs={"provenance": json.dumps({"generator": "test", "seed": 3})},
    )
    samples["jet_class"].attrs["classes"] = list(classes)
    return samples


def test_round_trip_keeps_every_value(tmp_path):
    samples = make_samples()
    path = tmp_path / "mixed.hdf5"

    write_jetnet(samples, path)
    loaded = read_jetnet(path)

    for name in ("constituents", "mask", "jet_pt", "jet_eta", "jet_mass", "num_particles", "num_constituents"):
        np.testing.assert_array_equal(loaded[name].values, samples[name].values, err_msg=name)
    np.testing.assert_array_equal(loaded["jet_class"].values, samples["jet_class"].values)
    assert loaded["jet_class"].attrs["classes"] == ["g", "t"]
    assert json.loads(loaded.attrs["provenance"]) == {"generator": "test", "seed": 3}
    assert list(loaded["feature"].values) == ["etarel", "phirel", "ptrel"]


def test_written_file_has_jetnet_layout(tmp_path):
    samples = make_samples(n_jets=6, n_particles=5)
    path = tmp_path / "jets.hdf5"

    write_jetnet(samples, path)

    with h5py.File(path, "r") as handle:
        particles = handle["particle_features"]
        jets = handle["jet_features"]
        assert particles.shape == (6, 5, 4)
        assert jets.shape == (6, 4)
        assert particles.dtype == np.float32
        assert particles.compression == "gzip"
        assert jets.compression == "gzip"
        np.testing.assert_array_equal(particles[..., 3], samples["mask"].values.astype(np.float32))
        # The last jet column is the count of all constituents, as in JetNet.
        np.testing.assert_array_equal(jets[:, 3], samples["num_constituents"].values.astype(np.float32))
        assert list(handle["jet_class"].attrs["classes"]) == ["g", "t"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jets.hdf5"]


def test_read_file_built_as_jetnet_ships_it(tmp_path):
    particles, jets = make_jetnet_arrays(n_jets=20, n_particles=30)
    path = tmp_path / "g.hdf5"
    write_raw(path, particles, jets)

    loaded = read_jetnet(path)

    assert loaded.sizes == {"event": 20, "particle": 30, "feature": 3}
    assert loaded["constituents"].dtype == np.float32
    assert loaded["mask"].dtype == bool
    assert loaded["jet_class"].attrs["classes"] == ["g"]
    assert np.all(loaded["jet_class"].values == 0)
    np.testing.assert_array_equal(loaded["constituents"].values, particles[..., :3])
    np.testing.assert_array_equal(loaded["mask"].values, particles[..., 3] == 1)
    np.testing.assert_array_equal(loaded["jet_pt"].values, jets[:, 0])
    np.testing.assert_array_equal(loaded["num_constituents"].values, jets[:, 3])
    np.testing.assert_array_equal(loaded["num_particles"].values, np.minimum(jets[:, 3], 30))


def test_read_accepts_float64_any_p_and_extra_datasets(tmp_path):
    particles, jets = make_jetnet_arrays(n_jets=5, n_particles=150, dtype=np.float64)
    path = tmp_path / "t150.hdf5"
    write_raw(path, particles, jets, weights=np.ones(5))

    loaded = read_jetnet(path)

    assert loaded.sizes["particle"] == 150
    assert loaded["jet_class"].attrs["classes"] == ["t"]
    np.testing.assert_allclose(loaded["constituents"].values, particles[..., :3], rtol=1e-6)


def test_read_class_from_argument_or_unknown(tmp_path):
    particles, jets = make_jetnet_arrays(n_jets=3)
    path = tmp_path / "sample.hdf5"
    write_raw(path, particles, jets)

    assert read_jetnet(path)["jet_class"].attrs["classes"] == ["unknown"]
    assert read_jetnet(path, jet_class="q")["jet_class"].attrs["classes"] == ["q"]


def test_read_slice_in_chunks_matches_whole(tmp_path, monkeypatch):
    particles, jets = make_jetnet_arrays(n_jets=23)
    path = tmp_path / "z.hdf5"
    write_raw(path, particles, jets)
    whole = read_jetnet(path)

    monkeypatch.setattr(jetnet, "_CHUNK_JETS", 4)
    part = read_jetnet(path, start=5, stop=19)

    assert part.sizes["event"] == 14
    xr.testing.assert_equal(part.drop_attrs(), whole.isel(event=slice(5, 19)).drop_attrs())


def test_read_rejects_bad_range(tmp_path):
    particles, jets = make_jetnet_arrays(n_jets=4)
    path = tmp_path / "g.hdf5"
    write_raw(path, particles, jets)

    with pytest.raises(KissError, match="Invalid jet range"):
        read_jetnet(path, start=3, stop=9)


def test_read_rejects_missing_file(tmp_path):
    path = tmp_path / "absent.hdf5"

    with pytest.raises(KissError, match="not found") as error:
        read_jetnet(path)

    assert str(path) in str(error.value)


def test_read_rejects_file_that_is_not_hdf5(tmp_path):
    path = tmp_path / "g.hdf5"
    path.write_text("particle_features,jet_features\n1,2\n")

    with pytest.raises(KissError, match="readable HDF5") as error:
        read_jetnet(path)

    assert str(path) in str(error.value)


def test_read_rejects_truncated_file(tmp_path):
    particles, jets = make_jetnet_arrays(n_jets=2000)
    path = tmp_path / "g.hdf5"
    write_raw(path, particles, jets)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])

    with pytest.raises(KissError) as error:
        read_jetnet(path)

    assert str(path) in str(error.value)


CORRUPTIONS = {
    "missing particle_features": (lambda p, j: ({"jet_features": j}), "missing dataset", "particle_features"),
    "missing jet_features": (lambda p, j: ({"particle_features": p}), "missing dataset", "jet_features"),
    "particle rank 2": (
        lambda p, j: ({"particle_features": p[:, :, 0], "jet_features": j}), "wrong shape", "particle_features",
    ),
    "particle last dim 3": (
        lambda p, j: ({"particle_features": p[..., :3], "jet_features": j}), "wrong shape", "particle_features",
    ),
    "jet rank 3": (lambda p, j: ({"particle_features": p, "jet_features": j[:, None, :]}), "wrong shape", "jet_features"),
    "jet last dim 5": (
        lambda p, j: ({"particle_features": p, "jet_features": np.pad(j, ((0, 0), (0, 1)))}),
        "wrong shape", "jet_features",
    ),
    "integer particles": (
        lambda p, j: ({"particle_features": p.astype(np.int32), "jet_features": j}), "wrong data type",
        "particle_features",
    ),
    "N mismatch": (
        lambda p, j: ({"particle_features": p, "jet_features": j[:-1]}), "different numbers of jets", "jet_features",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_read_rejects_bad_layout(tmp_path, case):
    build, message, key = CORRUPTIONS[case]
    particles, jets = make_jetnet_arrays(n_jets=6)
    path = tmp_path / "g.hdf5"
    with h5py.File(path, "w") as handle:
        for name, value in build(particles, jets).items():
            handle.create_dataset(name, data=value)

    with pytest.raises(KissError, match=message) as error:
        read_jetnet(path)

    assert f"{path}:{key}" in str(error.value)
    assert "expected" in str(error.value)
    assert "got" in str(error.value)


def set_value(array, index, value):
    array = array.copy()
    array[index] = value
    return array


VALUE_CORRUPTIONS = {
    "NaN etarel": ("particles", (4, 0, 0), np.nan, "NaN or infinite", "particle_features, jet 4"),
    "infinite phirel": ("particles", (2, 1, 1), np.inf, "NaN or infinite", "particle_features, jet 2"),
    "NaN jet mass": ("jets", (3, 2), np.nan, "NaN or infinite", "jet_features, jet 3"),
    "mask one half": ("particles", (1, 0, 3), 0.5, "mask value", "particle_features, jet 1"),
    "mask two": ("particles", (5, 2, 3), 2.0, "mask value", "particle_features, jet 5"),
    "negative ptrel": ("particles", (0, 0, 2), -0.1, "ptrel", "particle_features, jet 0"),
    "negative jet pt": ("jets", (2, 0), -5.0, "jet pt", "jet_features, jet 2"),
    "fractional count": ("jets", (1, 3), 12.5, "num_particles", "jet_features, jet 1"),
}


@pytest.mark.parametrize("case", list(VALUE_CORRUPTIONS))
def test_read_rejects_bad_values(tmp_path, case, monkeypatch):
    which, index, value, message, where = VALUE_CORRUPTIONS[case]
    particles, jets = make_jetnet_arrays(n_jets=6)
    if which == "particles":
        particles = set_value(particles, index, value)
    else:
        jets = set_value(jets, index, value)
    path = tmp_path / "g.hdf5"
    write_raw(path, particles, jets)
    # Small chunks check that the jet index counts from the start of the file.
    monkeypatch.setattr(jetnet, "_CHUNK_JETS", 2)

    with pytest.raises(KissError, match=message) as error:
        read_jetnet(path)

    assert f"{path}:{where}" in str(error.value)


def test_read_rejects_bad_jet_class_codes(tmp_path):
    particles, jets = make_jetnet_arrays(n_jets=4)
    path = tmp_path / "mixed.hdf5"
    write_raw(path, particles, jets)
    with h5py.File(path, "a") as handle:
        codes = handle.create_dataset("jet_class", data=np.array([0, 1, 2, 3]))
        codes.attrs["classes"] = ["g", "q"]

    with pytest.raises(KissError, match="out of range"):
        read_jetnet(path)


def test_write_rejects_nan_and_keeps_existing_file(tmp_path):
    path = tmp_path / "jets.hdf5"
    write_jetnet(make_samples(), path)
    before = path.read_bytes()
    samples = make_samples()
    samples["jet_pt"][0] = np.nan

    with pytest.raises(KissError, match="NaN or infinite"):
        write_jetnet(samples, path)

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jets.hdf5"]


def test_write_rejects_missing_variable(tmp_path):
    samples = make_samples().drop_vars("jet_mass")

    with pytest.raises(KissError, match="missing variable"):
        write_jetnet(samples, tmp_path / "jets.hdf5")

    assert not (tmp_path / "jets.hdf5").exists()


def test_write_without_num_constituents_stores_kept_count(tmp_path):
    samples = make_samples().drop_vars("num_constituents")
    path = tmp_path / "jets.hdf5"

    write_jetnet(samples, path)

    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["jet_features"][:, 3], samples["num_particles"].values)
