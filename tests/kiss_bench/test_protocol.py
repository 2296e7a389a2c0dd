"""Protocol: calibrated summary, detection of a biased sampler, resuming, CLI messages and plugin contract."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from kiss_bench.protocol import RAW_FILE, SuiteConfig, read_raw_results, run_suite
from kiss_bench.summary import summarise, write_summary
from kiss_core.errors import KissError, UnknownNameError


def _write_csv(path, samples):
    path.write_text("x0\n" + "\n".join(str(value) for value in samples[:, 0]) + "\n")


def _suite(tmp_path, samplers=("rwmh",), metrics=("mean", "w1", "energy"), repetitions=4, name="out"):
    config = SuiteConfig(
        targets=("normal1d",), samplers=samplers, metrics=metrics, repetitions=repetitions, n_points=200
    )
    return config, run_suite(config, tmp_path / name)


def test_suite_summary_rows(tmp_path):
    config, records = _suite(tmp_path)
    assert len(records) == 2 * config.repetitions
    rows = summarise(records, config.n_points)
    keys = {(row["sampler"], row["metric"], row["dimension"]) for row in rows}
    assert keys == {(s, m, "0") for s in ("iid", "rwmh") for m in ("mean", "w1")} | {
        (s, "energy", "all") for s in ("iid", "rwmh")
    }
    for row in rows:
        if row["sampler"] == "iid":
            assert row["z"] == 0.0
            assert row["width_ratio"] == pytest.approx(1.0)
            assert math.isnan(row["p_value"])
        else:
            assert 0.0 <= row["p_value"] <= 1.0
    csv_path, json_path = write_summary(rows, tmp_path / "out")
    assert csv_path.read_text().splitlines()[0].startswith("target,sampler,metric,dimension")
    assert len(json.loads(json_path.read_text())["rows"]) == len(rows)


def test_biased_samples_get_large_z(tmp_path):
    # Samples from N(0.3, 1) against the standard normal: the mean error has IID spread
    # 1 / sqrt(200) = 0.07, so z should be near 0.3 / 0.07 = 4.2 and the KS p-value small.
    shifted = np.random.default_rng(0).normal(0.3, 1.0, size=(4000, 1))
    _write_csv(tmp_path / "shifted.csv", shifted)
    config, records = _suite(
        tmp_path, samplers=(f"file:{tmp_path / 'shifted.csv'}",), metrics=("mean",), repetitions=20
    )
    rows = {row["sampler"]: row for row in summarise(records, config.n_points)}
    row = rows[f"file:{tmp_path / 'shifted.csv'}"]
    assert row["mean"] == pytest.approx(0.3, abs=0.05)
    assert row["z"] > 3.0
    assert row["p_value"] < 1e-3
    assert row["kish_ess"] == 200


def test_suite_resumes_after_interruption(tmp_path):
    config, complete = _suite(tmp_path, name="complete")
    _, partial = _suite(tmp_path, name="partial")
    raw = tmp_path / "partial" / RAW_FILE
    lines = raw.read_text().splitlines()
    # Keep three finished comparisons and half of a fourth, as a kill during a write leaves it.
    raw.write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2])
    assert len(read_raw_results(raw)) == 3
    resumed = run_suite(config, tmp_path / "partial")
    key = lambda r: (r["sampler"], r["repetition"])  # noqa: E731
    assert sorted(map(key, resumed)) == sorted(map(key, complete))
    by_key = {key(r): r["rows"] for r in resumed}
    for record in complete:
        assert by_key[key(record)] == record["rows"]


def test_suite_rejects_changed_config(tmp_path):
    _suite(tmp_path)
    with pytest.raises(KissError, match="different suite"):
        _suite(tmp_path, repetitions=5)


def test_suite_rejects_bad_names_before_work(tmp_path):
    with pytest.raises(UnknownNameError, match="funnel10d"):
        run_suite(SuiteConfig(("funnel3d",), ("rwmh",), ("mean",), 2, 10), tmp_path / "a")
    with pytest.raises(UnknownNameError, match="rwmh"):
        run_suite(SuiteConfig(("normal1d",), ("gibbs",), ("mean",), 2, 10), tmp_path / "b")
    with pytest.raises(UnknownNameError, match="energy"):
        run_suite(SuiteConfig(("normal1d",), ("rwmh",), ("energy_distance",), 2, 10), tmp_path / "c")
    assert not (tmp_path / "a").exists()


def test_suite_rejects_weighted_file_with_unweighted_metric(tmp_path):
    path = tmp_path / "weighted.csv"
    path.write_text(
        "x0,weight\n"
        + "\n".join(f"{v},{w}" for v, w in zip(np.linspace(-2, 2, 50), np.linspace(0.1, 1, 50), strict=True))
    )
    with pytest.raises(KissError, match="does not support weighted"):
        run_suite(SuiteConfig(("normal1d",), (f"file:{path}",), ("mean", "mmd"), 2, 20), tmp_path / "out")


def test_suite_rejects_wrong_file_dimension(tmp_path):
    path = tmp_path / "two_columns.csv"
    path.write_text("a,b\n" + "\n".join(f"{i},{i * i}" for i in range(50)))
    with pytest.raises(KissError, match="dimension does not match"):
        run_suite(SuiteConfig(("normal1d",), (f"file:{path}",), ("mean",), 2, 20), tmp_path / "out")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda record: {**record, "rows": [["mean", "0", "abc"]]}, "Corrupt results file"),
        (lambda record: {key: value for key, value in record.items() if key != "kish_ess"}, "Corrupt results file"),
        (lambda record: {**record, "repetition": 999}, "does not match the suite"),
    ],
)
def test_resume_rejects_wrong_records(tmp_path, change, message):
    config, records = _suite(tmp_path, metrics=("mean",), repetitions=2)
    raw = tmp_path / "out" / RAW_FILE
    raw.write_text("\n".join(json.dumps(change(record)) for record in records) + "\n")

    with pytest.raises(KissError, match=message):
        run_suite(config, tmp_path / "out")


def test_resume_accepts_suite_file_without_digests(tmp_path):
    config, records = _suite(tmp_path, metrics=("mean",), repetitions=2)
    suite_file = tmp_path / "out" / "suite.json"
    stored = json.loads(suite_file.read_text())
    del stored["sample_files"]
    suite_file.write_text(json.dumps(stored))

    assert run_suite(config, tmp_path / "out") == records


def test_suite_rejects_changed_sample_file_on_resume(tmp_path):
    path = tmp_path / "samples.csv"
    _write_csv(path, np.random.default_rng(0).normal(size=(40, 1)))
    config = SuiteConfig(("normal1d",), (f"file:{path}",), ("mean",), 2, 20)
    run_suite(config, tmp_path / "out")
    _write_csv(path, np.random.default_rng(0).normal(5.0, size=(40, 1)))

    with pytest.raises(KissError, match="different sample_files"):
        run_suite(config, tmp_path / "out")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"targets": ("normal1d", "normal1d")}, "Repeated target name"),
        ({"sampler_options": {"hmc": {"n_chains": 2}}}, "sampler that is not in the suite"),
    ],
)
def test_suite_config_rejects(options, message):
    arguments = {"targets": ("normal1d",), "samplers": ("rwmh",), "metrics": ("mean",), **options}

    with pytest.raises(KissError, match=message):
        SuiteConfig(**arguments)


def test_failed_start_leaves_folder_reusable(tmp_path):
    with pytest.raises(KissError, match="Too few points for a metric"):
        run_suite(SuiteConfig(("normal1d",), ("rwmh",), ("prdc",), 2, 5), tmp_path / "out")
    with pytest.raises(KissError, match="Invalid sampler option"):
        run_suite(SuiteConfig(("normal1d",), ("rwmh",), ("mean",), 2, 20, sampler_options={"rwmh": {"burn_in": -1}}),
                  tmp_path / "out")

    records = run_suite(SuiteConfig(("normal1d",), ("rwmh",), ("mean",), 2, 20), tmp_path / "out")

    assert len(records) == 4


def _cli():
    from kiss_bench.cli import bench

    return bench


def test_cli_run_writes_outputs(tmp_path):
    out = tmp_path / "suite"
    result = CliRunner().invoke(
        _cli(),
        [
            "run",
            "--targets",
            "normal2d",
            "--samplers",
            "rwmh",
            "--metrics",
            "mean,sliced_ks",
            "-R",
            "3",
            "--n-points",
            "100",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("summary.csv", "summary.json", "index.html", "z_scores_normal2d.png", RAW_FILE):
        assert (out / name).is_file(), name
    assert "comparisons" in result.output
    # Rerunning the same command computes nothing new and rewrites the same summary.
    again = CliRunner().invoke(
        _cli(),
        [
            "run",
            "--targets",
            "normal2d",
            "--samplers",
            "rwmh",
            "--metrics",
            "mean,sliced_ks",
            "-R",
            "3",
            "--n-points",
            "100",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert again.exit_code == 0
    assert len(read_raw_results(out / RAW_FILE)) == 6


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--targets", "nope", "--samplers", "rwmh"], "Unknown target 'nope'"),
        (["--targets", "normal1d", "--samplers", "nope"], "Unknown sampler 'nope'"),
        (["--targets", "normal1d", "--samplers", "rwmh", "--metrics", "nope"], "Unknown metric 'nope'"),
        (["--targets", "normal1d", "--samplers", "rwmh", "-R", "1"], "Too few repetitions"),
        (["--targets", "normal1d", "--samplers", "rwmh", "--sampler-option", "hmc"], "Invalid sampler option"),
    ],
)
def test_cli_errors_exit_nonzero_with_one_message(tmp_path, arguments, message):
    result = CliRunner().invoke(_cli(), ["run", *arguments, "--out", str(tmp_path / "x"), "--device", "cpu"])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("Error:") == 1
    assert "Traceback" not in result.output


def test_cli_list_names_everything():
    result = CliRunner().invoke(_cli(), ["list"])
    assert result.exit_code == 0
    for name in ("eight_schools", "flow_matching", "file:PATH", "sliced_wasserstein", "prdc"):
        assert name in result.output


def test_plugin_meets_core_contract():
    from kiss_bench import plugin
    from kiss_core.registry import Registry
    from kiss_core.testing import check_plugin

    registry = Registry.from_plugins({"bench": plugin}, strict=True)
    assert check_plugin("bench", registry) == []
    assert "bench.energy" in registry.names("metric")
    assert registry.get("command", "bench").load().name == "bench"
