"""The kiss CLI end to end on the Gaussian-mixture dataset, and its handling of bad input."""

import json
import os

import h5py
import pytest
import torch
from click.testing import CliRunner

from kiss_core.cli import main


def _kiss(*arguments):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Simulate, train three epochs and return the folder with data and run."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "run.toml"
    config.write_text("[generator]\nhidden = 16\nlayers = 2\n\n[train]\nepochs = 3\nbatch_size = 128\n")
    assert _kiss("simulate", "gaussian", "--events", 800, "--out", folder / "train.h5").exit_code == 0
    assert _kiss("simulate", "gaussian", "--events", 600, "--out", folder / "reference.h5", "--seed", 1).exit_code == 0
    result = _kiss("train", "flow_matching", "--data", folder / "train.h5", "--dataset", "gaussian",
                   "--out", folder / "run", "--config", config, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return folder


def test_train_writes_run_record(trained):
    record = json.loads((trained / "run" / "run.json").read_text())
    assert record["status"] == "finished"
    assert record["generator"] == "core.flow_matching"
    assert record["training"]["epochs_done"] == 3
    assert (trained / "run" / "checkpoints" / "model.pt").is_file()


def test_generate_and_evaluate_write_report(trained):
    result = _kiss("generate", trained / "run", "--events", 500, "--out", trained / "generated.h5",
                   "--solver", "rk4", "--steps", 4, "--conditions", trained / "reference.h5")
    assert result.exit_code == 0, result.output
    assert "events per second" in result.output

    result = _kiss("evaluate", trained / "reference.h5", trained / "generated.h5", "--dataset", "gaussian",
                   "--out", trained / "report")
    assert result.exit_code == 0, result.output
    metrics = json.loads((trained / "report" / "metrics.json").read_text())
    rows = metrics["evaluation"]["rows"]
    labels = [row["label"] for row in rows]
    assert "W1.x.x0" in labels
    assert "AUC" in " ".join(labels)
    assert all(row["baseline_value"] is not None for row in rows)
    assert (trained / "report" / "index.html").read_text().count("<img") >= 2


def test_generate_refuses_existing_output(trained):
    target = trained / "exists.h5"
    target.write_text("keep me")
    result = _kiss("generate", trained / "run", "--events", 10, "--out", target)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert target.read_text() == "keep me"


def test_train_refuses_finished_run_without_overwrite(trained):
    before = (trained / "run" / "run.json").read_text()
    result = _kiss("train", "flow_matching", "--data", trained / "train.h5", "--dataset", "gaussian",
                   "--out", trained / "run")
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert "status: finished" in result.output
    assert (trained / "run" / "run.json").read_text() == before


@pytest.mark.parametrize(("arguments", "message"), [
    (("simulate", "no_such_dataset", "--events", 5, "--out", "x.h5"), "Unknown dataset 'no_such_dataset'"),
    (("train", "no_such_model", "--data", "x.h5", "--dataset", "gaussian", "--out", "r"),
     "Unknown generator 'no_such_model'"),
    (("simulate", "gaussian", "--events", 0, "--out", "x.h5"), "Invalid number of events"),
])
def test_unknown_names_and_bad_values_fail_cleanly(tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = _kiss(*arguments)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_solver_lists_known_solvers(trained):
    result = _kiss("generate", trained / "run", "--events", 10, "--out", trained / "x.h5", "--solver", "rk5",
                   "--steps", 3)
    assert result.exit_code == 2
    assert "midpoint" in result.output
    assert not (trained / "x.h5").exists()


def test_train_rejects_corrupt_data_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    result = _kiss("train", "flow_matching", "--data", bad, "--dataset", "gaussian", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert str(bad) in result.output
    assert not (tmp_path / "run").exists()


def test_train_rejects_nan_values(tmp_path):
    path = tmp_path / "nan.h5"
    assert _kiss("simulate", "gaussian", "--events", 20, "--out", path).exit_code == 0
    with h5py.File(path, "r+") as file:
        file["x"][3, 1] = float("nan")
    result = _kiss("train", "flow_matching", "--data", path, "--dataset", "gaussian", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "Non-finite" in result.output


def test_generate_rejects_folder_without_run(tmp_path):
    result = _kiss("generate", tmp_path, "--events", 10, "--out", tmp_path / "x.h5")
    assert result.exit_code == 2
    assert "Not a KISS run directory" in result.output


def test_demo_gaussian_runs_end_to_end(tmp_path):
    result = _kiss("demo", "gaussian", "--out", tmp_path / "demo", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "report" / "index.html").is_file()
    record = json.loads((tmp_path / "demo" / "run.json").read_text())
    assert record["status"] == "finished"
    assert set(record["timings_seconds"]) == {"simulate training data", "simulate reference data", "train",
                                              "generate", "evaluate"}


def test_train_resume_completes_stopped_run(trained, tmp_path):
    config = tmp_path / "budget.toml"
    config.write_text("[generator]\nhidden = 8\nlayers = 1\n\n[train]\nepochs = 3\nmax_minutes = 0.0\n")
    run = tmp_path / "run"
    first = _kiss("train", "flow_matching", "--data", trained / "train.h5", "--dataset", "gaussian", "--out", run,
                  "--config", config)
    assert first.exit_code == 0, first.output
    assert json.loads((run / "run.json").read_text())["training"]["epochs_done"] == 1

    # The time budget of the record still applies on resume, so each resume adds one epoch.
    for expected_epochs in (2, 3):
        resumed = _kiss("train", "--resume", "--out", run)
        assert resumed.exit_code == 0, resumed.output
        record = json.loads((run / "run.json").read_text())
        assert record["training"]["epochs_done"] == expected_epochs
    assert len(record["resumed_at"]) == 2


def test_train_without_generator_or_resume_fails_cleanly(tmp_path):
    result = _kiss("train", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "--resume" in result.output


def test_training_is_reproducible_with_seed(trained, tmp_path):
    config = tmp_path / "small.toml"
    config.write_text("[generator]\nhidden = 8\nlayers = 1\n\n[train]\nepochs = 2\n")
    weights = []
    for name in ("first", "second"):
        result = _kiss("train", "flow_matching", "--data", trained / "train.h5", "--dataset", "gaussian",
                       "--out", tmp_path / name, "--config", config, "--seed", 5)
        assert result.exit_code == 0, result.output
        weights.append(torch.load(tmp_path / name / "checkpoints" / "model.pt", weights_only=True)["weights"])
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_overwrite_never_deletes_folders_that_are_not_runs(trained, tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter.tex").write_text("precious")
    result = _kiss("train", "flow_matching", "--data", trained / "train.h5", "--dataset", "gaussian",
                   "--out", folder, "--overwrite")
    assert result.exit_code == 2
    assert "not a KISS run" in result.output
    assert (folder / "chapter.tex").read_text() == "precious"


def test_resume_rejects_changed_settings(trained):
    result = _kiss("train", "--resume", "--out", trained / "run", "--epochs", 9)
    assert result.exit_code == 2
    assert "--epochs" in result.output


def test_config_rejects_unknown_table(trained, tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("[trainer]\nepochs = 3\n")
    result = _kiss("train", "flow_matching", "--data", trained / "train.h5", "--dataset", "gaussian",
                   "--out", tmp_path / "run", "--config", config)
    assert result.exit_code == 2
    assert "trainer" in result.output
    assert not (tmp_path / "run").exists()


def test_failed_evaluation_keeps_previous_report(trained):
    report = trained / "report"
    assert (report / "metrics.json").is_file(), "runs after test_generate_and_evaluate_write_report"
    before = (report / "metrics.json").read_text()
    result = _kiss("evaluate", trained / "reference.h5", trained / "missing.h5", "--dataset", "gaussian",
                   "--out", report, "--overwrite")
    assert result.exit_code == 2
    assert (report / "metrics.json").read_text() == before


def test_generate_on_demo_folder_points_to_model_run(tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "run.json").write_text('{"command": "demo", "status": "finished"}')
    result = _kiss("generate", demo, "--events", 5, "--out", tmp_path / "x.h5")
    assert result.exit_code == 2
    assert str(demo / "model") in result.output


def test_threads_option_sets_thread_pools(monkeypatch):
    threads = torch.get_num_threads()
    # setenv records each variable's state first, so that the test ends with it restored.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(variable, "")
        monkeypatch.delenv(variable)

    try:
        result = _kiss("--threads", "3", "list-plugins", "--kind", "demo")
        applied = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)

    assert result.exit_code == 0, result.output
    assert applied == 3
    assert os.environ["OMP_NUM_THREADS"] == "3"
