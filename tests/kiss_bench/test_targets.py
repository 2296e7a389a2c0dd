"""Targets: densities at fixed points against scipy, exact moments against samples, registry names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from kiss_bench.targets import make_target, target_names
from kiss_bench.targets.cauchy import TruncatedCauchyTarget
from kiss_bench.targets.eight_schools import SCHOOL_EFFECTS, SCHOOL_STANDARD_ERRORS, EightSchoolsTarget
from kiss_core.errors import UnknownNameError

POINTS_1D = np.array([[-3.0], [-0.5], [0.0], [1.7], [9.0]])


def _log_prob(target, points: np.ndarray) -> np.ndarray:
    return target.log_prob(torch.as_tensor(points, dtype=torch.float64)).numpy()


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dimension", [1, 2, 3, 10, 100])
@pytest.mark.parametrize("correlation", [0.0, 0.25, 0.9])
def test_normal_density_matches_scipy(dimension, correlation):
    if dimension == 1 and correlation:
        pytest.skip("one dimension has no correlation")
    name = f"normal{dimension}d" + ("" if correlation == 0 else f"_corr{correlation:g}")
    target = make_target(name)
    covariance = (1 - correlation) * np.eye(dimension) + correlation * np.ones((dimension, dimension))
    points = np.random.default_rng(1).normal(size=(4, dimension))
    expected = stats.multivariate_normal(np.zeros(dimension), covariance).logpdf(points)
    np.testing.assert_allclose(_log_prob(target, points), expected, rtol=1e-10)


@pytest.mark.parametrize("separation", [2.0, 10.0])
@pytest.mark.parametrize("ratio", [1.0, 3.0])
def test_mixture_1d_density_matches_scipy(separation, ratio):
    name = f"mixture1d_pm{separation:g}_" + ("equal" if ratio == 1 else f"1to{ratio:g}")
    target = make_target(name)
    weight_minus, weight_plus = 1 / (1 + ratio), ratio / (1 + ratio)
    expected = np.log(
        weight_minus * stats.norm.pdf(POINTS_1D[:, 0], -separation)
        + weight_plus * stats.norm.pdf(POINTS_1D[:, 0], separation)
    )
    np.testing.assert_allclose(_log_prob(target, POINTS_1D), expected, rtol=1e-10)


@pytest.mark.parametrize("dimension", [3, 10])
def test_correlated_mixture_density_matches_scipy(dimension):
    target = make_target(f"mixture{dimension}d_pm5_1to3")
    covariance = 0.5 * np.eye(dimension) + 0.5
    points = np.random.default_rng(2).normal(3.0, 2.0, size=(4, dimension))
    expected = np.log(
        0.25 * stats.multivariate_normal(-5 * np.ones(dimension), covariance).pdf(points)
        + 0.75 * stats.multivariate_normal(5 * np.ones(dimension), covariance).pdf(points)
    )
    np.testing.assert_allclose(_log_prob(target, points), expected, rtol=1e-10)


def test_mixture_modes():
    assert math.isnan(make_target("mixture1d_pm2_equal").moments().mode[0])
    assert make_target("mixture1d_pm10_1to3").moments().mode[0] == pytest.approx(10.0, abs=1e-6)
    # The heavier component's peak is pulled slightly towards the lighter one.
    mode = make_target("mixture1d_pm2_1to3").moments().mode[0]
    density = lambda x: 0.25 * stats.norm.pdf(x, -2) + 0.75 * stats.norm.pdf(x, 2)  # noqa: E731
    grid = np.linspace(1.5, 2.5, 100001)
    assert mode == pytest.approx(grid[np.argmax(density(grid))], abs=1e-4)
    assert mode < 2.0


def test_truncated_cauchy_density_and_normalisation():
    target = TruncatedCauchyTarget(bound=50.0)
    normalisation = stats.cauchy.cdf(50) - stats.cauchy.cdf(-50)
    assert target.normalisation == pytest.approx(normalisation, rel=1e-12)
    expected = stats.cauchy.logpdf(POINTS_1D[:, 0]) - np.log(normalisation)
    np.testing.assert_allclose(_log_prob(target, POINTS_1D), expected, rtol=1e-12)
    assert _log_prob(target, np.array([[50.5]]))[0] == -np.inf
    total = integrate.quad(lambda x: math.exp(_log_prob(target, np.array([[x]]))[0]), -50, 50, points=[0], limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-8)


def test_truncated_cauchy_mismatch_is_mass_outside():
    # Against the untruncated Cauchy, the total variation distance of the truncated target
    # equals the mass outside the bounds, 1 - Z. A sampler run on the untruncated density
    # would put exactly that fraction of its points where the reference has none.
    target = TruncatedCauchyTarget(bound=50.0)
    inside = integrate.quad(
        lambda x: abs(stats.cauchy.pdf(x) / target.normalisation - stats.cauchy.pdf(x)), -50, 50, points=[0], limit=200
    )[0]
    total_variation = 0.5 * (inside + 2 * stats.cauchy.sf(50))
    assert total_variation == pytest.approx(target.mass_outside, rel=1e-8)
    assert target.mass_outside == pytest.approx(2 * stats.cauchy.sf(50), rel=1e-12)

    untruncated = stats.cauchy.rvs(size=400_000, random_state=3)
    fraction_outside = np.mean(np.abs(untruncated) > 50)
    standard_error = math.sqrt(target.mass_outside * (1 - target.mass_outside) / untruncated.size)
    assert abs(fraction_outside - target.mass_outside) < 4 * standard_error
    truncated = target.sample(100_000, _generator()).numpy()
    assert np.abs(truncated).max() <= 50.0


def test_funnel_density_matches_scipy():
    target = make_target("funnel10d")
    points = np.random.default_rng(4).normal(size=(3, 10))
    expected = stats.norm(0, 3).logpdf(points[:, 0]) + stats.norm(0, np.exp(points[:, :1] / 2)).logpdf(
        points[:, 1:]
    ).sum(1)
    np.testing.assert_allclose(_log_prob(target, points), expected, rtol=1e-10)


def test_banana_density_matches_scipy():
    target = make_target("banana2d")
    points = np.array([[0.0, 0.0], [5.0, -1.0], [-12.0, 3.0]])
    untwisted = np.column_stack([points[:, 0], points[:, 1] + 0.1 * points[:, 0] ** 2 - 10.0])
    expected = stats.multivariate_normal([0, 0], np.diag([100.0, 1.0])).logpdf(untwisted)
    np.testing.assert_allclose(_log_prob(target, points), expected, rtol=1e-10)


def test_ring_density_is_normalised():
    target = make_target("ring2d")
    radial = integrate.quad(
        lambda r: 2 * math.pi * r * math.exp(_log_prob(target, np.array([[r, 0.0]]))[0]), 0, 10, points=[3.0], limit=200
    )[0]
    assert radial == pytest.approx(1.0, abs=1e-8)
    point = np.array([[0.0, 3.2]])
    assert _log_prob(target, point)[0] == pytest.approx(
        _log_prob(target, np.array([[3.2 / math.sqrt(2)] * 2]))[0], rel=1e-12
    )


def test_eight_schools_density_matches_scipy():
    target = EightSchoolsTarget()
    mu, log_tau = 4.0, 1.2
    tau = math.exp(log_tau)
    theta = SCHOOL_EFFECTS * 0.3 + 2.0
    expected = (
        stats.norm(0, 5).logpdf(mu)
        + stats.halfcauchy(scale=5).logpdf(tau)
        + log_tau
        + stats.norm(mu, tau).logpdf(theta).sum()
        + stats.norm(theta, SCHOOL_STANDARD_ERRORS).logpdf(SCHOOL_EFFECTS).sum()
    )

    def integrand(t):
        covariance = np.diag(SCHOOL_STANDARD_ERRORS**2 + t**2) + 25.0
        return stats.halfcauchy(scale=5).pdf(t) * stats.multivariate_normal(np.zeros(8), covariance).pdf(SCHOOL_EFFECTS)

    # Split at the scales where the integrand changes shape; one quad over [0, inf) is off by 1e-5.
    pieces = [(0, 1), (1, 10), (10, 100), (100, 1e4), (1e4, np.inf)]
    evidence = sum(integrate.quad(integrand, a, b, epsabs=0, epsrel=1e-10, limit=500)[0] for a, b in pieces)
    assert target.log_evidence == pytest.approx(math.log(evidence), abs=1e-9)
    point = np.concatenate([[mu, log_tau], theta])[None, :]
    assert _log_prob(target, point)[0] == pytest.approx(expected - math.log(evidence), abs=1e-6)


def test_eight_schools_acceptance_and_moments():
    target = EightSchoolsTarget()
    # The acceptance probability is p(y) / M with M = 1.01 max_tau p(y | tau).
    assert 0.3 < target.acceptance_probability < 1.0
    generator = _generator(5)
    proposals = 5 * torch.tan(0.5 * math.pi * torch.rand(200_000, generator=generator, dtype=torch.float64))
    ratio = torch.exp(target._log_marginal_likelihood(proposals, torch) - target.log_bound)
    assert float(ratio.max()) <= 1.0
    acceptance = float((torch.rand(200_000, generator=generator, dtype=torch.float64) < ratio).double().mean())
    standard_error = math.sqrt(target.acceptance_probability * (1 - target.acceptance_probability) / 200_000)
    assert abs(acceptance - target.acceptance_probability) < 4 * standard_error

    samples = target.sample(100_000, _generator(6)).numpy()
    moments = target.moments()
    standard_errors = np.sqrt(moments.variance / samples.shape[0])
    assert np.all(np.abs(samples.mean(0) - moments.mean) < 4 * standard_errors)
    np.testing.assert_allclose(samples.var(0), moments.variance, rtol=0.03)
    # The posterior mean of mu is near 4.4 for this model (Stan and PyMC report 4.4 +- 3.3).
    assert moments.mean[0] == pytest.approx(4.4, abs=0.1)


@pytest.mark.parametrize(
    "name",
    [
        "normal10d_corr0.9",
        "mixture3d_pm5_1to3",
        "banana2d",
        "ring2d",
        "ill_conditioned10d",
        "cauchy1d_truncated50",
        "mixture1d_pm2_1to3",
    ],
)
def test_moments_match_samples(name):
    target = make_target(name)
    samples = target.sample(200_000, _generator(7)).numpy()
    moments = target.moments()
    standard_errors = np.sqrt(moments.variance / samples.shape[0])
    assert np.all(np.abs(samples.mean(0) - moments.mean) < 5 * standard_errors)
    np.testing.assert_allclose(samples.var(0), moments.variance, rtol=0.05)
    # Heavy tails (large kurtosis) make the sample skewness noisy, so its tolerance grows with them.
    assert np.all(np.abs(stats.skew(samples) - moments.skewness) < 0.08 + 0.01 * np.abs(moments.kurtosis))
    assert np.all(np.abs(stats.kurtosis(samples) - moments.kurtosis) < 0.1 + 0.1 * np.abs(moments.kurtosis))


def test_funnel_moments_closed_form():
    moments = make_target("funnel10d").moments()
    assert moments.variance[0] == 9.0
    assert moments.variance[1] == pytest.approx(math.exp(4.5))
    assert moments.kurtosis[1] == pytest.approx(3 * math.exp(9) - 3)


def test_ill_conditioned_condition_number():
    target = make_target("ill_conditioned10d")
    eigenvalues = np.linalg.eigvalsh(target.covariance)
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(1e4, rel=1e-8)


def test_target_names_complete():
    names = target_names()
    for expected in [
        "normal1d",
        "normal100d_corr0.9",
        "mixture1d_pm10_1to3",
        "mixture10d_pm5_1to3",
        "cauchy1d_truncated50",
        "eight_schools",
        "funnel10d",
        "banana2d",
        "ill_conditioned10d",
        "ring2d",
    ]:
        assert expected in names
    for name in names:
        target = make_target(name)
        assert target.name == name
        assert target.sample(5, _generator()).shape == (5, target.dimension)


def test_unknown_target_lists_names():
    with pytest.raises(UnknownNameError) as error:
        make_target("normal7d")
    assert "normal2d" in error.value.message()
    assert "normal7d" in error.value.message()
