"""Tests of the high-level features, the separation power, the evaluation and its command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from kiss_calo.cli import evaluate_command
from kiss_calo.evaluation import EvaluationConfig, evaluate_calochallenge
from kiss_calo.features import (
    classifier_high_level_inputs,
    classifier_low_level_inputs,
    feature_names,
    high_level_features,
    separation_power,
)
from kiss_calo.geometry import CaloChallengeGeometry
from kiss_core.errors import KissError


@pytest.fixture
def geometry(small_binning):
    return CaloChallengeGeometry.from_xml(small_binning, "electron")


def test_separation_power_identical_is_zero():
    values = np.random.default_rng(0).normal(size=1000)
    assert separation_power(values, values, np.linspace(-3, 3, 21)) == 0.0


def test_separation_power_disjoint_is_one():
    edges = np.linspace(0.0, 1.0, 11)
    assert separation_power(np.full(50, 0.15), np.full(70, 0.85), edges) == pytest.approx(1.0)
    # Values outside the edges land in the overflow bins and still count as disjoint.
    assert separation_power(np.full(50, 0.5), np.full(70, 7.0), edges) == pytest.approx(1.0)


def test_separation_power_known_value():
    # p = (1, 0), q = (1/2, 1/2): S = 1/2 (0.25 / 1.5 + 0.25 / 0.5) = 1/3.
    edges = np.array([0.0, 1.0, 2.0])
    assert separation_power(np.array([0.5, 0.5]), np.array([0.5, 1.5]), edges) == pytest.approx(1 / 3)


def test_high_level_features_by_hand(geometry):
    showers = np.zeros((2, geometry.n_cells))
    # Layer 0 (radial edges 0, 2, 5, 10, 20 mm; 3 angular bins): 2 MeV in r bin 0 and in r bin 1,
    # both in angular bin 1, whose centre is alpha = 0.
    showers[0, 1 * 4 + 0] = 2.0
    showers[0, 1 * 4 + 1] = 2.0
    # Layer 3 (edges 0, 5, 20 mm, one angular bin) starts at voxel 24.
    showers[0, 24 + 1] = 6.0
    features = high_level_features(showers, np.array([100.0, 100.0]), geometry)
    first = features.isel(event=0)
    assert first.sel(feature="total_energy") == 10.0
    assert first.sel(feature="energy_ratio") == pytest.approx(0.1)
    assert first.sel(feature="layer_energy.0") == 4.0
    assert first.sel(feature="layer_energy.3") == 6.0
    assert first.sel(feature="r_centre.0") == pytest.approx((1.0 + 3.5) / 2)
    assert first.sel(feature="r_width.0") == pytest.approx(1.25)
    assert first.sel(feature="eta_centre.0") == pytest.approx(2.25)
    assert first.sel(feature="phi_centre.0") == pytest.approx(0.0, abs=1e-12)
    assert first.sel(feature="eta_width.0") == pytest.approx(1.25)
    assert first.sel(feature="r_centre.3") == pytest.approx(12.5)
    assert first.sel(feature="r_width.3") == 0.0
    assert first.sel(feature="sparsity.0") == pytest.approx(10 / 12)
    assert first.sel(feature="sparsity.3") == pytest.approx(1 / 2)
    # An empty shower has centres and widths 0, not NaN, and sparsity 1.
    second = features.isel(event=1)
    assert second.sel(feature="r_centre.2") == 0.0
    assert second.sel(feature="sparsity.2") == 1.0
    # Layer 3 has one angular bin, so it has no eta and phi features (official convention).
    assert "eta_centre.3" not in feature_names(geometry)
    assert "r_centre.3" in feature_names(geometry)


def test_sparsity_threshold(geometry):
    showers = np.zeros((1, geometry.n_cells))
    showers[0, :12] = np.linspace(0.0, 1.1, 12)
    features = high_level_features(showers, np.array([1e3]), geometry, threshold_mev=0.5)
    assert features.sel(feature="sparsity.0").item() == pytest.approx(6 / 12)


def test_classifier_inputs_follow_official_normalisation(geometry):
    showers = np.zeros((1, geometry.n_cells))
    showers[0, 0] = 50.0
    incident = np.array([1000.0])
    low = classifier_low_level_inputs(showers, incident)
    assert low[0, 0] == pytest.approx(3.0)
    assert low[0, 1] == pytest.approx(5.0)
    high = classifier_high_level_inputs(high_level_features(showers, incident, geometry), incident)
    # log10(E_inc), 3 layer energies, then 4 quantities x 2 layers with angular bins.
    assert high.shape == (1, 1 + 3 + 8)
    assert high[0, 1] == pytest.approx(math.log10(50.0 + 1e-8))
    assert high[0, 2] == pytest.approx(-8.0)


def _write_inputs(directory, geometry, official_file, make_showers, candidate_options, n_reference=800,
                  n_candidate=400):
    incident, showers = make_showers(geometry.n_cells, n_reference, seed=11)
    reference = official_file(directory / "reference.h5", incident, showers)
    incident, showers = make_showers(geometry.n_cells, n_candidate, seed=12, **candidate_options)
    candidate = official_file(directory / "candidate.h5", incident, showers)
    return reference, candidate


def test_evaluation_of_matching_candidate(tmp_path, geometry, official_file, make_showers):
    reference, candidate = _write_inputs(tmp_path, geometry, official_file, make_showers, {})
    out = tmp_path / "report"
    result = evaluate_calochallenge(reference, candidate, geometry, out,
                                    EvaluationConfig(block_size=128, n_single_showers=1, seed=3))
    assert result.sample_sizes == {"reference_half": 400, "baseline_half": 400, "candidate": 400, "classifier": 400}
    assert result.row("classifier_low_level", "AUC").value < 0.65
    assert result.row("classifier_high_level", "AUC").value < 0.65
    ratio = result.row("separation_power", "energy_ratio")
    assert ratio.value < 0.1
    assert ratio.baseline_value < 0.1
    assert set(ratio.details["candidate"]) == {"energy_ratio"}
    assert math.isfinite(result.row("fpd", "FPD").value)
    assert math.isfinite(result.row("kpd", "KPD").baseline_value)

    names = {path.name for path in out.iterdir()}
    assert {"index.html", "metrics.json", "average_showers.png", "single_shower_0.png",
            "features_layer_energy.png", "features_sparsity.png"} <= names
    assert {path.name for path in result.files} == names
    saved = json.loads((out / "metrics.json").read_text())
    labels = {(row["metric"], row["label"]) for row in saved["evaluation"]["rows"]}
    assert ("classifier_low_level", "JSD [bits]") in labels


@pytest.mark.slow
def test_evaluation_detects_wrong_energy_scale(tmp_path, geometry, official_file, make_showers):
    reference, candidate = _write_inputs(tmp_path, geometry, official_file, make_showers,
                                         {"energy_scale": 1.3, "width": 1.5})
    result = evaluate_calochallenge(reference, candidate, geometry, tmp_path / "report",
                                    EvaluationConfig(n_single_showers=0))
    assert result.row("classifier_low_level", "AUC").value > 0.9
    assert result.row("classifier_low_level", "AUC").baseline_value < 0.65
    ratio = result.row("separation_power", "energy_ratio")
    assert ratio.value > 5 * ratio.baseline_value
    # The FPD of the candidate lies more than 3 standard deviations above the baseline.
    assert result.row("fpd", "FPD").pull > 3.0


def test_evaluation_rejects_inputs_before_writing(tmp_path, geometry, official_file, make_showers):
    reference, _ = _write_inputs(tmp_path, geometry, official_file, make_showers, {}, n_reference=20,
                                 n_candidate=10)
    incident, showers = make_showers(geometry.n_cells + 2, 10, seed=1)
    wrong = official_file(tmp_path / "wrong.h5", incident, showers)
    out = tmp_path / "report"
    with pytest.raises(KissError, match="Wrong voxel count"):
        evaluate_calochallenge(reference, wrong, geometry, out)
    incident, showers = make_showers(geometry.n_cells, 10, seed=1)
    in_gev = official_file(tmp_path / "gev.h5", incident / 1e3, showers)
    with pytest.raises(KissError, match="GeV"):
        evaluate_calochallenge(reference, in_gev, geometry, out)
    assert not out.exists()


def test_command_reports_bad_input(tmp_path, small_binning, official_file, make_showers):
    geometry = CaloChallengeGeometry.from_xml(small_binning, "electron")
    reference, _ = _write_inputs(tmp_path, geometry, official_file, make_showers, {}, n_reference=20,
                                 n_candidate=10)
    runner = CliRunner()
    result = runner.invoke(evaluate_command, [str(reference), str(tmp_path / "missing.h5"),
                                              "--geometry", f"{small_binning}:electron", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Shower file not found" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(evaluate_command, [str(reference), str(reference), "--geometry", "ds2",
                                              "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Wrong voxel count" in result.output
    result = runner.invoke(evaluate_command, [str(reference), str(reference), "--geometry", "ds9",
                                              "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Unknown CaloChallenge geometry" in result.output


def test_command_writes_report(tmp_path, small_binning, official_file, make_showers):
    geometry = CaloChallengeGeometry.from_xml(small_binning, "electron")
    reference, candidate = _write_inputs(tmp_path, geometry, official_file, make_showers, {}, n_reference=200,
                                         n_candidate=100)
    result = CliRunner().invoke(evaluate_command, [str(reference), str(candidate), "--geometry",
                                                   f"{small_binning}:electron", "--out", str(tmp_path / "o"),
                                                   "--no-progress", "--no-low-level-classifier"])
    assert result.exit_code == 0, result.output
    assert "classifier_high_level: AUC" in result.output
    assert "classifier_low_level" not in result.output
    assert "index.html" in result.output
    assert (tmp_path / "o" / "index.html").is_file()
    assert "voxel classifier: skipped" in result.output

    again = CliRunner().invoke(evaluate_command, [str(reference), str(candidate), "--geometry",
                                                  f"{small_binning}:electron", "--out", str(tmp_path / "o"),
                                                  "--no-progress", "--no-low-level-classifier"])

    assert again.exit_code == 2
    assert "already contains a report" in again.output
