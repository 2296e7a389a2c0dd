"""Tests of neural importance sampling, the VEGAS comparison and multi-channel integration."""

import math

import pytest
import torch

from kiss_collider.amplitudes import ee_to_mumu_cross_section, ee_to_mumu_squared_matrix_element
from kiss_collider.integration import (
    Channel,
    HypercubeFlow,
    MultiChannel,
    integrate_with_flow,
    integrate_with_vegas,
)
from kiss_collider.phasespace import PhaseSpace, incoming_momenta
from kiss_core.errors import KissError

WIDTH = 0.1


def _gaussian_bump(points):
    """Return a bump along the diagonal of [0, 1]^2; it correlates x and y, so it does not factorise."""
    along = (points[:, 0] + points[:, 1]) / math.sqrt(2)
    across = (points[:, 0] - points[:, 1]) / math.sqrt(2)
    return torch.exp(-(across**2) / (2 * WIDTH**2)) * (1 + along)


def _bump_integral():
    # Numerical reference from a fine midpoint grid (2000 x 2000 points).
    grid = (torch.arange(2000, dtype=torch.float64) + 0.5) / 2000
    x, y = torch.meshgrid(grid, grid, indexing="ij")
    return float(_gaussian_bump(torch.stack([x.flatten(), y.flatten()], -1)).mean())


def _small_flow():
    torch.manual_seed(0)
    return HypercubeFlow(2, transforms=2, bins=8, hidden_features=(32, 32))


def test_flow_density_is_normalised_on_hypercube():
    flow = _small_flow()
    grid = (torch.arange(300, dtype=torch.float64) + 0.5) / 300
    x, y = torch.meshgrid(grid, grid, indexing="ij")
    with torch.no_grad():
        density = torch.exp(flow.log_density(torch.stack([x.flatten(), y.flatten()], -1)))
    assert float(density.mean()) == pytest.approx(1.0, abs=0.01)


def test_flow_samples_density_matches_log_density():
    flow = _small_flow()
    points, log_density = flow.sample(500, generator=torch.Generator().manual_seed(1))
    assert ((points > 0) & (points < 1)).all()
    assert torch.allclose(log_density, flow.log_density(points).detach(), atol=1e-5)


@pytest.mark.slow
def test_flow_integral_correct_and_better_than_uniform():
    flow = _small_flow()
    generator = torch.Generator().manual_seed(2)
    result = integrate_with_flow(_gaussian_bump, 2, n_calls=40_000, batch_size=500, flow=flow, generator=generator)
    reference = _bump_integral()
    assert abs(result.integral - reference) < 4 * result.error

    uniform = _gaussian_bump(torch.rand(20_000, 2, generator=generator, dtype=torch.float64))
    uniform_relative_error = float(uniform.std() / uniform.mean()) / math.sqrt(20_000)
    assert result.relative_error < uniform_relative_error
    assert result.n_calls == 40_000


def test_vegas_integral_correct_with_counted_calls():
    result = integrate_with_vegas(_gaussian_bump, 2, n_calls=40_000, seed=3)
    assert abs(result.integral - _bump_integral()) < 4 * result.error
    assert 0 < result.unweighting_efficiency <= 1
    assert result.n_calls == pytest.approx(40_000, rel=0.1)


@pytest.mark.slow
def test_ee_to_mumu_flow_and_vegas():
    sqrt_s = 91.0
    space = PhaseSpace(2, sqrt_s)

    def integrand(r):
        outgoing, weight = space.map(r)
        momenta = torch.cat([incoming_momenta(sqrt_s, len(r)), outgoing], 1)
        return ee_to_mumu_squared_matrix_element(momenta) * weight / (2 * sqrt_s**2)

    expected = ee_to_mumu_cross_section(sqrt_s)
    flow = integrate_with_flow(integrand, 2, n_calls=20_000, batch_size=500, flow=_small_flow(),
                               generator=torch.Generator().manual_seed(4))
    vegas_result = integrate_with_vegas(integrand, 2, n_calls=20_000, seed=4)
    assert abs(flow.integral - expected) < 4 * flow.error
    assert abs(vegas_result.integral - expected) < 4 * vegas_result.error


def test_negative_integrand_rejected_with_counts():
    with pytest.raises(KissError, match=r"\d+ negative of"):
        integrate_with_vegas(lambda r: -torch.ones(len(r), dtype=torch.float64), 2, n_calls=10_000)


def _peak_channel(centre, width):
    """A Cauchy peak on [0, 1] mapped from the uniform distribution, with its exact density."""
    low, high = math.atan((0 - centre) / width), math.atan((1 - centre) / width)

    def sample(u):
        return centre + width * torch.tan(low + u * (high - low))

    def density(x):
        return (width / ((x[:, 0] - centre) ** 2 + width**2) / (high - low))

    return Channel(sample, density)


def _two_peaks(points):
    x = points[:, 0]
    return 3 * 0.01 / ((x - 0.2) ** 2 + 0.01**2) + 0.01 / ((x - 0.8) ** 2 + 0.01**2)


def test_multichannel_unbiased_and_adapts_towards_large_peak():
    channels = [_peak_channel(0.2, 0.01), _peak_channel(0.8, 0.01)]
    integrator = MultiChannel(channels, weights=[0.1, 0.9])
    generator = torch.Generator().manual_seed(5)
    exact = 3 * (math.atan(0.8 / 0.01) + math.atan(0.2 / 0.01)) + (math.atan(0.2 / 0.01) + math.atan(0.8 / 0.01))

    before = integrator.integrate(_two_peaks, 20_000, 1, generator=generator)
    assert abs(before.integral - exact) < 4 * before.error

    integrator.adapt(_two_peaks, 20_000, 1, iterations=5, generator=generator)
    after = integrator.integrate(_two_peaks, 20_000, 1, generator=generator)
    assert abs(after.integral - exact) < 4 * after.error
    assert float(integrator.weights[0]) == pytest.approx(0.75, abs=0.05)
    assert after.relative_error < before.relative_error


def test_multichannel_rejects_invalid_weights():
    with pytest.raises(KissError, match="Invalid channel weights"):
        MultiChannel([_peak_channel(0.5, 0.1)], weights=[-1.0])


def test_cli_integrate_writes_json(tmp_path):
    import json

    from click.testing import CliRunner

    from kiss_collider.cli_me import me

    out = tmp_path / "integral.json"
    result = CliRunner().invoke(me, ["integrate", "--gluons", "4", "--calls", "4000", "--method", "vegas",
                                     "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    vegas_result = summary["results"]["vegas"]
    assert vegas_result["cross_section_pb"] > 0
    assert vegas_result["relative_error"] < 0.1
    assert summary["process"]["n_gluons"] == 4
