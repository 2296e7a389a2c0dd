"""Physics checks of the GFlash-style simulator against the published Grindhammer–Peters values."""

from __future__ import annotations

import numpy as np
import pytest

from kiss_calo.datasets import GFlashPointClouds, GFlashShowers
from kiss_calo.geometry import CaloChallengeGeometry
from kiss_calo.simulators.gflash import (
    GFlashSimulator,
    average_profile_parameters,
    longitudinal_parameters,
)
from kiss_calo.simulators.materials import TUNGSTEN, calochallenge_w_si, homogeneous, ild_ecal
from kiss_core.errors import KissError


def _profile_moments(spots):
    """Return (T, alpha) of the Gamma with the mean and variance of the average depth profile."""
    total = np.bincount(spots.event, spots.energy_mev, minlength=spots.n_events)
    weights = spots.energy_mev / total[spots.event] / spots.n_events
    mean = np.sum(weights * spots.depth_x0)
    variance = np.sum(weights * (spots.depth_x0 - mean) ** 2)
    alpha = mean**2 / variance
    return (alpha - 1.0) * variance / mean, alpha


@pytest.mark.parametrize("energy_mev", [1e4, 1e5])
def test_average_profile_matches_published_homogeneous(energy_mev):
    # 400 slices of 0.5 mm tungsten (57 X0): fine binning and no leakage.
    calorimeter = homogeneous(TUNGSTEN, n_layers=400, layer_thickness_mm=0.5)
    simulator = GFlashSimulator(calorimeter, spot_scale=0.05, sampling_fluctuations=False)
    spots = simulator.simulate_spots(np.full(2000, energy_mev), np.random.default_rng(3))

    depth_max, alpha = _profile_moments(spots)
    log_y = np.log(energy_mev / TUNGSTEN.critical_energy_mev)
    assert depth_max == pytest.approx(log_y - 0.858, rel=0.02)
    assert alpha == pytest.approx(0.21 + (0.492 + 2.38 / 74.0) * log_y, rel=0.02)


def test_average_profile_matches_published_sampling():
    calorimeter = calochallenge_w_si()
    simulator = GFlashSimulator(calorimeter, spot_scale=0.05, sampling_fluctuations=False)
    spots = simulator.simulate_spots(np.full(2000, 5e4), np.random.default_rng(4))

    depth_max, alpha = _profile_moments(spots)
    expected_depth, expected_alpha = average_profile_parameters(calorimeter, np.array([5e4]))
    # One readout layer is 0.8 X0 thick, which widens the binned profile slightly.
    assert depth_max == pytest.approx(expected_depth[0], rel=0.03)
    assert alpha == pytest.approx(expected_alpha[0], rel=0.05)


def test_profile_fluctuations_follow_parameters():
    calorimeter = calochallenge_w_si()
    simulator = GFlashSimulator(calorimeter)
    energy = np.full(20000, 2e4)
    depth_max, alpha = simulator.draw_profiles(energy, np.random.default_rng(5))
    expected = longitudinal_parameters(calorimeter, energy[:1])

    assert np.mean(np.log(depth_max)) == pytest.approx(expected.mean_log_t[0], abs=0.005)
    assert np.std(np.log(depth_max)) == pytest.approx(expected.sigma_log_t[0], rel=0.03)
    assert np.std(np.log(alpha)) == pytest.approx(expected.sigma_log_alpha[0], rel=0.03)
    correlation = np.corrcoef(np.log(depth_max), np.log(alpha))[0, 1]
    assert correlation == pytest.approx(0.784 - 0.023 * np.log(2e4 / calorimeter.critical_energy_mev), abs=0.02)


def test_energy_conserved_without_fluctuations():
    simulator = GFlashSimulator(ild_ecal(), sampling_fluctuations=False, particle="photon")
    energy = np.array([1e4, 3e4, 9e4])
    spots = simulator.simulate_spots(energy, np.random.default_rng(6))

    deposited = np.bincount(spots.event, spots.energy_mev, minlength=3)
    np.testing.assert_allclose(deposited + spots.leaked_energy_mev, energy, rtol=1e-10)
    assert np.all(spots.leaked_energy_mev > 0)


@pytest.mark.parametrize("energy_mev", [1e4, 1e5])
def test_resolution_matches_stochastic_term(energy_mev):
    calorimeter = calochallenge_w_si()
    simulator = GFlashSimulator(calorimeter, spot_scale=0.05)
    n_showers = 4000
    spots = simulator.simulate_spots(np.full(n_showers, energy_mev), np.random.default_rng(7))

    # Leakage is not smeared, so deposited + leaked energy has exactly the sampling resolution.
    total = np.bincount(spots.event, spots.energy_mev, minlength=n_showers) + spots.leaked_energy_mev
    resolution = np.std(total) / np.mean(total)
    expected = calorimeter.stochastic_term / np.sqrt(energy_mev / 1000.0)
    # The relative error of a standard deviation from n samples is 1 / sqrt(2 n), 1.1 % here.
    assert resolution == pytest.approx(expected, rel=4 / np.sqrt(2 * n_showers))
    assert np.mean(total) == pytest.approx(energy_mev, rel=3 * expected / np.sqrt(n_showers))


@pytest.mark.parametrize("factory", [calochallenge_w_si, ild_ecal])
def test_radial_containment_within_moliere_radius(factory):
    calorimeter = factory()
    simulator = GFlashSimulator(calorimeter, spot_scale=0.3, sampling_fluctuations=False)
    spots = simulator.simulate_spots(np.full(300, 5e4), np.random.default_rng(8))

    inside = np.hypot(spots.x_mm, spots.y_mm) < calorimeter.moliere_radius_mm
    fraction = np.bincount(spots.event, spots.energy_mev * inside) / np.bincount(spots.event, spots.energy_mev)
    # By definition of R_M about 90 % of the shower energy lies within one Molière radius.
    assert 0.85 < fraction.mean() < 0.95


def test_spot_count_follows_sampling_formula():
    calorimeter = calochallenge_w_si()
    simulator = GFlashSimulator(calorimeter)
    spots = simulator.simulate_spots(np.full(50, 1e4), np.random.default_rng(9))
    expected = 10.3 / calorimeter.stochastic_term * 10.0**0.959
    # Steps behind the last layer are not simulated, so a few per cent of the spots are missing.
    assert spots.counts().mean() == pytest.approx(expected, rel=0.06)


def test_effective_material_of_calochallenge_stack():
    calorimeter = calochallenge_w_si()
    # 2.8 mm W + 0.6 mm Si per layer: 1/X0 = 0.8235 / 3.504 mm + 0.1765 / 93.70 mm.
    assert calorimeter.radiation_length_mm == pytest.approx(4.221, abs=0.002)
    assert calorimeter.layer_boundaries_x0()[-1] == pytest.approx(36.25, abs=0.02)
    assert calorimeter.e_over_mip == pytest.approx(1.0 / 1.42)


def test_same_seed_same_showers():
    simulator = GFlashSimulator(calochallenge_w_si(), spot_scale=0.1)
    first = simulator.simulate_spots(np.full(5, 2e4), np.random.default_rng(10))
    second = simulator.simulate_spots(np.full(5, 2e4), np.random.default_rng(10))
    np.testing.assert_array_equal(first.x_mm, second.x_mm)
    np.testing.assert_array_equal(first.energy_mev, second.energy_mev)


@pytest.mark.parametrize("energy", [[np.nan], [5.0], []])
def test_simulator_rejects_invalid_energies(energy):
    simulator = GFlashSimulator(calochallenge_w_si())
    with pytest.raises(KissError):
        simulator.simulate_spots(np.array(energy), np.random.default_rng(0))


def test_simulate_deposits_into_geometry():
    geometry = CaloChallengeGeometry.official("ds2")
    simulator = GFlashSimulator(calochallenge_w_si(), sampling_fluctuations=False)
    energy = np.array([2e4, 2e5])
    cells = simulator.simulate(energy, geometry, np.random.default_rng(11))

    assert cells.shape == (2, 6480)
    assert np.all(cells >= 0)
    # The grid reaches 41.85 mm, about 3.8 R_M, so only a few per cent of the energy is lost.
    assert np.all(cells.sum(axis=1) / energy > 0.93)
    assert np.all(cells.sum(axis=1) <= energy)


def test_simulate_rejects_wrong_layer_count():
    geometry = CaloChallengeGeometry.official("ds2")
    with pytest.raises(KissError, match="Geometry does not match"):
        GFlashSimulator(ild_ecal()).simulate(np.array([1e4]), geometry, np.random.default_rng(0))


def test_shower_dataset_layout():
    samples = GFlashShowers(GFlashShowers.Config(spot_scale=0.2)).load(20, seed=1)
    assert samples["energy"].dims == ("event", "layer", "alpha", "r")
    assert samples["energy"].shape == (20, 45, 16, 9)
    energies = samples["incident_energy"].values
    assert energies.min() >= 1e3 and energies.max() <= 1e6


def test_point_cloud_dataset_layout():
    clouds = GFlashPointClouds(GFlashPointClouds.Config(spot_scale=0.2, max_points=300)).load(10, seed=2)
    assert clouds["energy"].dims == ("event", "point")
    assert clouds.sizes["point"] <= 300
    assert bool((clouds["energy"].where(~clouds["mask"]).fillna(0) == 0).all())
    # Capping the point count rescales the kept points, so the visible energy stays close to E.
    ratio = clouds["energy"].sum("point") / clouds["incident_energy"]
    assert float(ratio.min()) > 0.8
    assert float(clouds["y"].max()) < 30
