"""Tests of RAMBO, RAMBO on diet and generation cuts."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from kiss_collider.phasespace import Cuts, PhaseSpace, incoming_momenta, phase_space_volume, rambo
from kiss_core.errors import KissError


def _mass_squared(p):
    return p[..., 0] ** 2 - (p[..., 1:] ** 2).sum(-1)


def test_volume_two_and_three_body_closed_form():
    # Phi_2 = 1 / (8 pi); Phi_3 = s / (256 pi^3), both in the (2 pi)^(4 - 3n) convention.
    assert phase_space_volume(2, 91.0) == pytest.approx(1 / (8 * math.pi), rel=1e-14)
    assert phase_space_volume(3, 100.0) == pytest.approx(100.0**2 / (256 * math.pi**3), rel=1e-14)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_diet_weight_equals_closed_form_volume(n):
    space = PhaseSpace(n, 250.0)
    generator = torch.Generator().manual_seed(n)
    _, weight = space.map(torch.rand(200, space.dimension, generator=generator, dtype=torch.float64))
    expected = (2 * math.pi) ** (4 - 3 * n) * (math.pi / 2) ** (n - 1) * 250.0 ** (2 * (n - 2)) / (
        math.factorial(n - 1) * math.factorial(n - 2))
    assert torch.allclose(weight, torch.full_like(weight, expected), rtol=1e-10)


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_diet_momenta_conserve_energy_momentum(n):
    space = PhaseSpace(n, 500.0)
    momenta, _ = space.map(torch.rand(100, space.dimension, dtype=torch.float64))
    total = momenta.sum(1)
    assert torch.allclose(total[:, 0], torch.full((100,), 500.0, dtype=torch.float64), atol=1e-9)
    assert total[:, 1:].abs().max() < 1e-9
    assert _mass_squared(momenta).abs().max() < 1e-7
    assert (momenta[..., 0] > 0).all()


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_diet_inverse_recovers_hypercube_points(n):
    space = PhaseSpace(n, 100.0)
    r = torch.rand(300, space.dimension, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    momenta, _ = space.map(r)
    assert torch.allclose(space.inverse(momenta), r, atol=1e-8)


def test_rambo_momenta_conserve_energy_momentum():
    momenta, weight = rambo(5, 300.0, 200, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(momenta.sum(1)[:, 0], torch.full((200,), 300.0, dtype=torch.float64))
    assert momenta.sum(1)[:, 1:].abs().max() < 1e-9
    assert _mass_squared(momenta).abs().max() < 1e-7
    assert torch.allclose(weight, torch.full_like(weight, phase_space_volume(5, 300.0)))


def test_diet_three_body_dalitz_distribution():
    # Flat three-body phase space is flat in the Dalitz plane, so x = s_12 / s has CDF 2x - x^2.
    space = PhaseSpace(3, 1.0)
    momenta, _ = space.map(torch.rand(20_000, space.dimension, generator=torch.Generator().manual_seed(5),
                                      dtype=torch.float64))
    x = _mass_squared(momenta[:, 0] + momenta[:, 1]).numpy()
    assert stats.kstest(x, lambda v: 2 * v - v**2).pvalue > 1e-3


def test_diet_and_rambo_agree_in_distribution():
    space = PhaseSpace(5, 1.0)
    generator = torch.Generator().manual_seed(11)
    diet, _ = space.map(torch.rand(20_000, space.dimension, generator=generator, dtype=torch.float64))
    classic, _ = rambo(5, 1.0, 20_000, generator=generator)
    for i, j in [(0, 1), (1, 4)]:
        a = _mass_squared(diet[:, i] + diet[:, j]).numpy()
        b = _mass_squared(classic[:, i] + classic[:, j]).numpy()
        assert stats.ks_2samp(a, b).pvalue > 1e-3
    assert stats.ks_2samp(diet[:, 2, 3].numpy(), classic[:, 2, 3].numpy()).pvalue > 1e-3


def test_rapidity_cut_fraction_two_body():
    # For 2 -> 2 at fixed s, a rapidity cut |y| < Y keeps |cos theta| < tanh Y of the flat
    # two-body phase space, so the accepted fraction is tanh(Y).
    space = PhaseSpace(2, 100.0, Cuts(max_abs_rapidity=1.0))
    _, _, fraction = space.sample(5000, generator=torch.Generator().manual_seed(2), batch_size=20_000)
    assert fraction == pytest.approx(math.tanh(1.0), abs=0.01)


def test_cuts_pass_only_points_inside():
    cuts = Cuts(pt_min_gev=20.0, max_abs_rapidity=2.0, min_delta_r=0.5)
    space = PhaseSpace(4, 500.0, cuts)
    momenta, _, _ = space.sample(500, generator=torch.Generator().manual_seed(0))
    pt = torch.sqrt(momenta[..., 1] ** 2 + momenta[..., 2] ** 2)
    rapidity = 0.5 * torch.log((momenta[..., 0] + momenta[..., 3]) / (momenta[..., 0] - momenta[..., 3]))
    assert pt.min() >= 20.0
    assert rapidity.abs().max() <= 2.0
    phi = torch.atan2(momenta[..., 2], momenta[..., 1])
    for i in range(4):
        for j in range(i + 1, 4):
            delta_phi = torch.remainder(phi[:, i] - phi[:, j] + math.pi, 2 * math.pi) - math.pi
            assert (torch.sqrt((rapidity[:, i] - rapidity[:, j]) ** 2 + delta_phi**2) >= 0.5).all()


def test_impossible_pt_cut_raises_before_sampling():
    with pytest.raises(KissError, match="zero phase space"):
        PhaseSpace(4, 100.0, Cuts(pt_min_gev=30.0))


def test_unreachable_cuts_detected_while_sampling():
    # Six particles, each at least Delta R = 3 from every other inside |y| < 0.5, cannot fit.
    space = PhaseSpace(6, 100.0, Cuts(max_abs_rapidity=0.5, min_delta_r=3.0))
    with pytest.raises(KissError, match="zero phase space"):
        space.sample(10, max_tries=20, batch_size=2000)


def test_incoming_momenta_are_back_to_back():
    beams = incoming_momenta(13.0, 3)
    assert np.allclose(beams.sum(1).numpy(), [[13.0, 0, 0, 0]] * 3)
    assert _mass_squared(beams).abs().max() == 0


def test_map_rejects_wrong_dimension():
    with pytest.raises(KissError, match="Invalid hypercube points"):
        PhaseSpace(4, 100.0).map(torch.rand(3, 5, dtype=torch.float64))
