"""Both calorimeter generators through the kiss CLI: simulate, train, distill, generate, demo."""

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from kiss_calo.geometry import load_geometry
from kiss_calo.io import read_calochallenge, read_caloclouds
from kiss_core.cli import main


def _kiss(*arguments):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run torch on one thread: two threads on two shared cores are slower by a large factor."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def voxel_run(tmp_path_factory):
    """Simulate dataset 2 showers, train voxel_fm for one epoch and return the folder."""
    folder = tmp_path_factory.mktemp("voxel")
    config = folder / "voxel.toml"
    config.write_text("[dataset]\nspot_scale = 0.05\nthreshold_mev = 1.0\n\n"
                      "[generator]\nhidden = 32\nflow_hidden = 16\nthreshold_mev = 1.0\n\n"
                      "[train]\nepochs = 1\nbatch_size = 32\n")
    result = _kiss("simulate", "gflash_showers", "--events", 96, "--out", folder / "train.h5", "--config", config)
    assert result.exit_code == 0, result.output
    result = _kiss("train", "voxel_fm", "--data", folder / "train.h5", "--dataset", "gflash_showers",
                   "--out", folder / "run", "--config", config, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def point_cloud_runs(tmp_path_factory):
    """Simulate point clouds, train a CaloClouds II teacher, distill it and return the folder."""
    folder = tmp_path_factory.mktemp("clouds")
    config = folder / "clouds.toml"
    config.write_text("[dataset]\nspot_scale = 0.05\nmax_points = 200\n\n"
                      "[generator]\nhidden = 32\ndepth = 2\nflow_hidden = 16\nmax_points = 200\n\n"
                      "[train]\nepochs = 2\nbatch_size = 32\n")
    result = _kiss("simulate", "gflash_point_clouds", "--events", 96, "--out", folder / "clouds.h5",
                   "--config", config)
    assert result.exit_code == 0, result.output
    result = _kiss("train", "caloclouds2", "--data", folder / "clouds.h5", "--dataset", "gflash_point_clouds",
                   "--out", folder / "teacher", "--config", config, "--device", "cpu")
    assert result.exit_code == 0, result.output
    result = _kiss("calo-distill", folder / "teacher", "--out", folder / "student", "--epochs", 1,
                   "--device", "cpu", "--no-progress")
    assert result.exit_code == 0, result.output
    return folder


def test_simulated_showers_in_calochallenge_layout(voxel_run):
    with h5py.File(voxel_run / "train.h5", "r") as handle:
        assert set(handle) == {"incident_energies", "showers"}
        assert handle["incident_energies"].shape == (96, 1)
        assert handle["showers"].shape == (96, 6480)
        energies = handle["incident_energies"][:, 0]
        showers = handle["showers"][:]
    assert energies.min() >= 1e3
    assert energies.max() <= 1e6
    assert showers[showers > 0].min() >= 1.0


def test_voxel_generate_writes_calochallenge_file(voxel_run):
    out = voxel_run / "generated.h5"

    result = _kiss("generate", voxel_run / "run", "--events", 20, "--out", out, "--device", "cpu")

    assert result.exit_code == 0, result.output
    incident, showers = read_calochallenge(out, load_geometry("ds2"))
    assert incident.shape == (20,)
    assert showers.shape == (20, 6480)
    assert np.all(showers >= 0)
    assert showers[showers > 0].min() >= 1.0


def test_distilled_run_records_consistency_stage(point_cloud_runs):
    record = json.loads((point_cloud_runs / "student" / "run.json").read_text())

    assert record["status"] == "finished"
    assert record["generator"] == "calo.caloclouds2"
    assert record["generator_options"]["stage"] == "consistency"
    assert record["teacher"] == str((point_cloud_runs / "teacher").resolve())
    assert record["training"]["epochs_done"] == 1


def test_distilled_run_generates_point_clouds(point_cloud_runs):
    out = point_cloud_runs / "one_step.h5"

    result = _kiss("generate", point_cloud_runs / "student", "--events", 12, "--out", out, "--device", "cpu")

    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as handle:
        assert set(handle) == {"events", "energy"}
        assert handle["events"].shape[:2] == (12, 4)
    clouds = read_caloclouds(out)
    assert clouds.sizes["event"] == 12
    assert float(clouds["energy"].min()) >= 0
    assert float(clouds["y"].max()) < 30


def test_project_conserves_point_energy(point_cloud_runs):
    clouds = read_caloclouds(point_cloud_runs / "clouds.h5")
    out = point_cloud_runs / "clouds_ds2.h5"

    result = _kiss("calo-project", point_cloud_runs / "clouds.h5", "--geometry", "ds2", "--out", out)

    assert result.exit_code == 0, result.output
    incident, showers = read_calochallenge(out)
    assert showers.shape == (96, 6480)
    np.testing.assert_allclose(incident, clouds["incident_energy"].values, rtol=1e-6)
    # The ds2 grid reaches 80 mm and more from the axis, so almost all energy lands on it, and the
    # printed fraction accounts for the rest.
    dropped_percent = float(result.output.split("; ")[-1].split(" %")[0])
    assert showers.sum() / (1 - dropped_percent / 100) == pytest.approx(float(clouds["energy"].sum()), rel=1e-3)
    assert dropped_percent < 5


def test_project_rejects_existing_output_and_voxel_files(point_cloud_runs, voxel_run, tmp_path):
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"keep")

    existing_output = _kiss("calo-project", point_cloud_runs / "clouds.h5", "--geometry", "ds2", "--out", existing)
    wrong_layout = _kiss("calo-project", voxel_run / "train.h5", "--geometry", "ds2", "--out", tmp_path / "new.h5")

    assert existing_output.exit_code == 2
    assert "already exists" in existing_output.output
    assert existing.read_bytes() == b"keep"
    assert wrong_layout.exit_code == 2
    assert "events" in wrong_layout.output
    assert not (tmp_path / "new.h5").exists()


def test_distill_rejects_voxel_teacher(voxel_run, tmp_path):
    result = _kiss("calo-distill", voxel_run / "run", "--out", tmp_path / "student")

    assert result.exit_code != 0
    assert "not a CaloClouds II run" in result.output
    assert not (tmp_path / "student").exists()


def test_distill_rejects_consistency_teacher(point_cloud_runs, tmp_path):
    result = _kiss("calo-distill", point_cloud_runs / "student", "--out", tmp_path / "again")

    assert result.exit_code != 0
    assert "not a diffusion model" in result.output


def test_distill_refuses_non_empty_output(point_cloud_runs):
    result = _kiss("calo-distill", point_cloud_runs / "teacher", "--out", point_cloud_runs / "student")

    assert result.exit_code != 0
    assert "not empty" in result.output


@pytest.mark.slow
def test_demo_calo_runs_end_to_end(tmp_path, monkeypatch):
    import kiss_calo.demo

    recipe = kiss_calo.demo.calo_demo()
    tiny = dataclasses.replace(recipe, train_events=300, reference_events=300,
                               generator_options={**recipe.generator_options, "hidden": 32},
                               train_options={"epochs": 1, "batch_size": 64})
    monkeypatch.setattr(kiss_calo.demo, "calo_demo", lambda: tiny)

    result = _kiss("demo", "calo", "--out", tmp_path / "demo", "--device", "cpu")

    assert result.exit_code == 0, result.output
    assert "classifier_low_level" in result.output
    metrics = json.loads((tmp_path / "demo" / "report" / "metrics.json").read_text())
    labels = {(row["metric"], row["label"]) for row in metrics["evaluation"]["rows"]}
    assert ("classifier_low_level", "AUC") in labels
    assert ("separation_power", "sparsity") in labels
    page = (tmp_path / "demo" / "report" / "index.html").read_text()
    assert "Average shower per layer" in page
    assert "<h2>Images</h2>" in page
