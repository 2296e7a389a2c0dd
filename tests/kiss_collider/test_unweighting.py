"""Tests of standard and two-stage unweighting: unbiasedness, overweights, invalid weights."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from kiss_collider.me_datasets import GluonProcess
from kiss_collider.phasespace import Cuts
from kiss_collider.unweighting import (
    check_weights,
    effective_gain_factor,
    kish_effective_sample_size,
    reduced_maximum,
    two_stage_maxima,
    two_stage_unweight,
    unweight,
)
from kiss_core.errors import KissError


def _toy_weights(x):
    """Return the peaked toy weight 1 + 20 x^19 on [0, 1], whose integral is 2."""
    return 1 + 20 * x**19


TOY_INTEGRAL = 2.0  # int_0^1 (1 + 20 x^19) dx

SURROGATES = {
    "good": lambda x: (1 + 20 * x**19) * (1 + 0.1 * torch.sin(40 * x)),
    "bad_constant": lambda x: torch.full_like(x, 1.5),
    "bad_inverted": lambda x: 1 + 20 * (1 - x) ** 19,
}


def _bin_integrals(edges):
    # int (1 + 20 x^19) dx = x + x^20 per bin.
    antiderivative = edges + edges**20
    return np.diff(antiderivative)


@pytest.mark.parametrize("name", list(SURROGATES))
def test_two_stage_unweighting_unbiased_on_toy(name):
    generator = torch.Generator().manual_seed(1)
    surrogate = SURROGATES[name]
    calibration = torch.rand(100_000, generator=generator, dtype=torch.float64)
    surrogate_maximum, ratio_maximum = two_stage_maxima(
        surrogate(calibration), _toy_weights(calibration), quantile=0.99, generator=generator)

    x = torch.rand(1_000_000, generator=generator, dtype=torch.float64)
    calls = []

    def true_weight(indices):
        calls.append(len(indices))
        return _toy_weights(x[indices])

    result = two_stage_unweight(surrogate(x), true_weight, surrogate_maximum, ratio_maximum, generator=generator)
    assert abs(result.integral - TOY_INTEGRAL) < 4 * result.integral_error
    assert calls == [result.n_true_evaluations]
    assert (result.weights >= 1).all()
    assert (result.weights > 1).any()  # the reduced maxima produce overweights

    # Weighted histogram of kept events against the exact bin integrals.
    edges = np.linspace(0, 1, 21)
    kept = x[result.indices].numpy()
    weights = result.weights.numpy() * result.normalisation / result.n_trials
    counts, _ = np.histogram(kept, edges, weights=weights)
    variance, _ = np.histogram(kept, edges, weights=weights**2)
    chi2 = float((((counts - _bin_integrals(edges)) ** 2) / variance).sum())
    assert stats.chi2.sf(chi2, len(edges) - 1) > 1e-4


def test_standard_unweighting_unbiased_with_reduced_maximum():
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(1_000_000, generator=generator, dtype=torch.float64)
    weights = _toy_weights(x)
    maximum = reduced_maximum(_toy_weights(torch.rand(100_000, generator=generator, dtype=torch.float64)), 0.99)
    result = unweight(weights, maximum, generator=generator)
    assert abs(result.integral - TOY_INTEGRAL) < 4 * result.integral_error
    assert result.efficiency == pytest.approx(float(torch.clamp(weights / maximum, max=1).mean()), rel=0.02)
    assert result.n_true_evaluations == 1_000_000


@pytest.mark.slow
def test_two_stage_agrees_with_standard_on_gluon_scattering():
    process = GluonProcess(4, 500.0, Cuts(pt_min_gev=30.0, max_abs_rapidity=2.5, min_delta_r=0.4))
    generator = torch.Generator().manual_seed(3)
    outgoing, _, _ = process.phase_space.sample(40_000, generator=generator)
    momenta = process.full_momenta(outgoing)
    true = process.matrix_element(momenta) * process.weight_per_matrix_element
    # A deliberately poor surrogate: the right scale with a factor-of-three random error per event.
    noise = torch.exp(torch.randn(len(true), generator=generator, dtype=torch.float64))
    surrogate = true * noise

    half = len(true) // 2
    surrogate_maximum, ratio_maximum = two_stage_maxima(surrogate[:half], true[:half], quantile=0.98,
                                                        generator=generator)
    two_stage = two_stage_unweight(surrogate[half:], lambda index: true[half:][index], surrogate_maximum,
                                   ratio_maximum, generator=generator)
    standard = unweight(true[half:], reduced_maximum(true[:half], 0.98), generator=generator)

    difference = two_stage.integral - standard.integral
    assert abs(difference) < 4 * math.hypot(two_stage.integral_error, standard.integral_error)

    # Compare the distribution of cos(theta) of the leading outgoing gluon.
    def cos_theta(result):
        kept = outgoing[half:][result.indices]
        return (kept[:, 0, 3] / kept[:, 0, 0]).numpy()

    edges = np.linspace(-1, 1, 11)
    hist_a, _ = np.histogram(cos_theta(two_stage), edges, weights=two_stage.weights.numpy())
    var_a, _ = np.histogram(cos_theta(two_stage), edges, weights=two_stage.weights.numpy() ** 2)
    hist_b, _ = np.histogram(cos_theta(standard), edges, weights=standard.weights.numpy())
    var_b, _ = np.histogram(cos_theta(standard), edges, weights=standard.weights.numpy() ** 2)
    scale_a = two_stage.normalisation / two_stage.n_trials
    scale_b = standard.normalisation / standard.n_trials
    chi2 = (((hist_a * scale_a - hist_b * scale_b) ** 2) / (var_a * scale_a**2 + var_b * scale_b**2)).sum()
    assert stats.chi2.sf(chi2, len(edges) - 1) > 1e-4


def test_invalid_weights_rejected_with_counts():
    weights = torch.tensor([1.0, float("nan"), -2.0, 3.0, float("nan")], dtype=torch.float64)
    with pytest.raises(KissError, match="2 NaN, 0 infinite and 1 negative of 5"):
        check_weights(weights, "weights")
    with pytest.raises(KissError, match="Invalid event weights"):
        unweight(weights, 1.0)


def test_two_stage_rejects_nan_true_weights():
    surrogate = torch.ones(100, dtype=torch.float64)
    with pytest.raises(KissError, match="NaN"):
        two_stage_unweight(surrogate, lambda index: torch.full((len(index),), float("nan")), 1.0, 1.0)


def test_two_stage_rejects_zero_surrogate():
    with pytest.raises(KissError, match="strictly positive"):
        two_stage_unweight(torch.zeros(10, dtype=torch.float64), lambda index: index.double(), 1.0, 1.0)


def test_soft_and_collinear_points_are_cut_not_infinite():
    # Hypercube corners map to soft or collinear gluons, where |M|^2 diverges; the cuts give them weight zero.
    process = GluonProcess(5, 1000.0)
    corners = torch.tensor([[0.0] * process.dimension, [1.0] * process.dimension,
                            [1e-12] + [0.5] * (process.dimension - 1)], dtype=torch.float64)
    weights = process(corners)
    check_weights(weights, "corner weights")
    assert (weights == 0).all()


def test_process_without_collinear_cut_rejected():
    with pytest.raises(KissError, match="soft and collinear"):
        GluonProcess(5, 1000.0, Cuts(pt_min_gev=20.0))


def test_kish_effective_sample_size():
    assert kish_effective_sample_size(torch.ones(10)) == pytest.approx(10)
    assert kish_effective_sample_size(torch.tensor([1.0, 3.0])) == pytest.approx(16 / 10)


def test_effective_gain_factor_cost_model():
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(100_000, generator=generator, dtype=torch.float64)
    standard = unweight(_toy_weights(x), 21.0, generator=generator)
    two_stage = two_stage_unweight(_toy_weights(x), lambda index: _toy_weights(x[index]), 21.0, 1.0,
                                   generator=generator)
    gain = effective_gain_factor(standard, two_stage, seconds_per_true=1.0, seconds_per_surrogate=0.01)
    # A perfect surrogate has eff_2 = 1, so f = (1 / eff_standard) / ((0.01 + eff_1) / eff_1).
    first = two_stage.first_stage_efficiency
    expected = (1 / standard.efficiency) * first / (0.01 + first)
    assert two_stage.second_stage_efficiency == 1.0
    assert gain["gain"] == pytest.approx(expected, rel=1e-12)
    assert gain["cost_ratio"] == pytest.approx(0.01)
    assert gain["effective_gain"] == pytest.approx(gain["gain"])


def test_cli_unweight_writes_lhe(tmp_path):
    import pylhe
    from click.testing import CliRunner

    from kiss_collider.cli_me import me

    out = tmp_path / "events.lhe"
    arguments = ["unweight", "--gluons", "4", "--events", "3000", "--train-events", "300", "--quantile", "0.99",
                 "--out", str(out), "--no-progress", "--seed", "1"]
    result = CliRunner().invoke(me, arguments)
    assert result.exit_code == 0, result.output
    assert f"to {out}" in result.output

    lhe = pylhe.LHEFile.fromfile(out)
    events = list(lhe.events)
    assert len(events) > 0
    assert all(len(event.particles) == 4 for event in events)
    assert all(particle.id == 21 for particle in events[0].particles)
    total_weight = sum(event.eventinfo.weight for event in events)
    assert total_weight == pytest.approx(lhe.init.procInfo[0].xSection, rel=1e-6)
    energy = sum(p.e for p in events[0].particles if p.status == 1)
    assert energy == pytest.approx(1000.0)

    again = CliRunner().invoke(me, arguments)
    assert again.exit_code == 2
    assert "Output file exists" in again.output


def test_overweight_factors_needed_for_unbiasedness():
    # With low reduced maxima many events are overweighted; dropping their factors biases the
    # estimate far beyond its error, which shows that the unbiasedness tests above can fail.
    generator = torch.Generator().manual_seed(6)
    surrogate = SURROGATES["bad_inverted"]
    calibration = torch.rand(100_000, generator=generator, dtype=torch.float64)
    surrogate_maximum, ratio_maximum = two_stage_maxima(
        surrogate(calibration), _toy_weights(calibration), quantile=0.9, generator=generator)
    x = torch.rand(1_000_000, generator=generator, dtype=torch.float64)
    result = two_stage_unweight(surrogate(x), lambda index: _toy_weights(x[index]), surrogate_maximum,
                                ratio_maximum, generator=generator)
    without_factors = result.normalisation * len(result.indices) / result.n_trials
    assert abs(result.integral - TOY_INTEGRAL) < 4 * result.integral_error
    assert abs(without_factors - TOY_INTEGRAL) > 6 * result.integral_error
