"""Tests of spinor-helicity tools, Berends-Giele amplitudes and closed-form matrix elements."""

import math

import pytest
import torch

from kiss_collider.amplitudes import (
    GluonMatrixElement,
    colour_ordered_amplitude,
    ee_to_mumu_cross_section,
    ee_to_mumu_squared_matrix_element,
    polarisation_vector,
)
from kiss_collider.amplitudes.spinors import angle_bracket, minkowski_dot, square_bracket, weyl_spinors
from kiss_collider.phasespace import Cuts, PhaseSpace, incoming_momenta
from kiss_core.errors import KissError


def _physical_momenta(n_gluons, n_events, seed, sqrt_s=1000.0):
    """Two incoming beams and n - 2 outgoing gluons inside mild cuts (events, n, 4)."""
    space = PhaseSpace(n_gluons - 2, sqrt_s, Cuts(pt_min_gev=20.0, max_abs_rapidity=3.0, min_delta_r=0.3))
    outgoing, _, _ = space.sample(n_events, generator=torch.Generator().manual_seed(seed))
    return torch.cat([incoming_momenta(sqrt_s, n_events), outgoing], 1)


def _all_outgoing(momenta):
    flipped = momenta.clone()
    flipped[:, :2] = -flipped[:, :2]
    return flipped


def _random_massless(n_events, seed):
    direction = torch.randn(n_events, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    energy = direction.norm(dim=-1, keepdim=True)
    return torch.cat([energy, direction], -1)


def test_spinor_products_give_invariants():
    momenta = _all_outgoing(_physical_momenta(6, 5, seed=0))
    lam, lamt = weyl_spinors(momenta)
    for i in range(6):
        for j in range(6):
            product = angle_bracket(lam[:, i], lam[:, j]) * square_bracket(lamt[:, j], lamt[:, i])
            invariant = 2 * minkowski_dot(momenta[:, i], momenta[:, j])
            assert torch.allclose(product.real, invariant, rtol=1e-9, atol=1e-6)
            assert product.imag.abs().max() < 1e-6


def test_polarisation_vectors_are_transverse_and_normalised():
    momenta = _physical_momenta(5, 6, seed=1)
    k, q = momenta[:, 2], momenta[:, 3]
    plus = polarisation_vector(k, q, 1)
    minus = polarisation_vector(k, q, -1)
    assert torch.allclose(minkowski_dot(plus, minus), torch.full((6,), -1.0 + 0j, dtype=plus.dtype))
    assert minkowski_dot(plus, plus).abs().max() < 1e-12
    assert minkowski_dot(plus, k.to(plus.dtype)).abs().max() < 1e-9
    assert minkowski_dot(minus, q.to(minus.dtype)).abs().max() < 1e-9
    assert torch.allclose(plus.conj(), minus)


@pytest.mark.parametrize("n", [4, 5, 6, 7])
@pytest.mark.parametrize("negative", [(0, 1), (0, 3), (1, 3)])
def test_mhv_amplitudes_match_parke_taylor(n, negative):
    momenta = _all_outgoing(_physical_momenta(n, 4, seed=n))
    helicity = torch.ones(n, dtype=torch.long)
    helicity[list(negative)] = -1
    polarisations = polarisation_vector(momenta, torch.roll(momenta, 1, 1), helicity.expand(4, n))
    amplitude = colour_ordered_amplitude(momenta, polarisations)

    i, j = negative
    numerator = (2 * minkowski_dot(momenta[:, i], momenta[:, j])) ** 4
    denominator = torch.ones(4, dtype=torch.float64)
    for k in range(n):
        denominator = denominator * (2 * minkowski_dot(momenta[:, k], momenta[:, (k + 1) % n])).abs()
    assert torch.allclose(amplitude.abs() ** 2, numerator / denominator, rtol=1e-8)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_amplitude_vanishes_for_longitudinal_polarisation(n):
    momenta = _all_outgoing(_physical_momenta(n, 4, seed=10 + n))
    helicity = torch.tensor([-1, 1, -1] + [1] * (n - 3)).expand(4, n)
    polarisations = polarisation_vector(momenta, torch.roll(momenta, 1, 1), helicity)
    reference_size = colour_ordered_amplitude(momenta, polarisations).abs()
    for gluon in range(n):
        gauge = polarisations.clone()
        gauge[:, gluon] = momenta[:, gluon].to(gauge.dtype)
        # The momentum has size ~sqrt(s) where a polarisation has size 1.
        ward = colour_ordered_amplitude(momenta, gauge).abs() / 1000.0
        assert (ward < 1e-9 * reference_size).all()


@pytest.mark.parametrize("n", [4, 5])
def test_matrix_element_independent_of_reference_spinors(n):
    momenta = _physical_momenta(n, 5, seed=20 + n)
    matrix_element = GluonMatrixElement(n)
    default = matrix_element(momenta)
    references = torch.stack([_random_massless(5, seed=100 + i) for i in range(n)], 1)
    assert torch.allclose(matrix_element(momenta, references), default, rtol=1e-9)


def test_gg_to_gg_matches_textbook_formula():
    # The standard tree-level result, averaged over initial spins and colours:
    # |M|^2 = 9/2 g^4 (3 - tu/s^2 - su/t^2 - st/u^2).
    momenta = _physical_momenta(4, 50, seed=3)
    matrix_element = GluonMatrixElement(4, alpha_s=0.118)
    incoming_a, incoming_b, outgoing_1, _ = momenta.unbind(1)
    s = 2 * minkowski_dot(incoming_a, incoming_b)
    t = -2 * minkowski_dot(incoming_a, outgoing_1)
    u = -s - t
    g4 = (4 * math.pi * 0.118) ** 2
    expected = 4.5 * g4 * (3 - t * u / s**2 - s * u / t**2 - s * t / u**2)
    assert torch.allclose(matrix_element(momenta), expected, rtol=1e-10)


@pytest.mark.parametrize("n", [5, 6])
def test_matrix_element_bose_symmetric_in_final_gluons(n):
    momenta = _physical_momenta(n, 4, seed=30 + n)
    matrix_element = GluonMatrixElement(n)
    permutation = [0, 1] + list(range(n - 1, 1, -1))
    swapped = momenta[:, permutation]
    assert torch.allclose(matrix_element(swapped), matrix_element(momenta), rtol=1e-9)


def test_matrix_element_scales_with_energy_and_coupling():
    # |M|^2 of 2 -> 3 has mass dimension 8 - 2n = -2 and grows as g^6 = (4 pi alpha_s)^3.
    momenta = _physical_momenta(5, 4, seed=4)
    base = GluonMatrixElement(5, alpha_s=0.1)(momenta)
    assert torch.allclose(GluonMatrixElement(5, alpha_s=0.1)(3 * momenta), base / 9, rtol=1e-10)
    assert torch.allclose(GluonMatrixElement(5, alpha_s=0.2)(momenta), base * 8, rtol=1e-10)


def test_matrix_element_chunking_does_not_change_result():
    momenta = _physical_momenta(5, 7, seed=5)
    assert torch.allclose(GluonMatrixElement(5, max_batch=50)(momenta), GluonMatrixElement(5)(momenta), rtol=1e-12)


def test_matrix_element_rejects_bad_input():
    with pytest.raises(KissError, match="Unsupported gluon multiplicity"):
        GluonMatrixElement(9)
    with pytest.raises(KissError, match="Invalid momenta"):
        GluonMatrixElement(5)(torch.zeros(3, 4, 4, dtype=torch.float64))


def test_ee_to_mumu_integrates_to_total_cross_section():
    sqrt_s = 91.0
    space = PhaseSpace(2, sqrt_s)
    generator = torch.Generator().manual_seed(7)
    outgoing, weight = space.map(torch.rand(200_000, space.dimension, generator=generator, dtype=torch.float64))
    momenta = torch.cat([incoming_momenta(sqrt_s, 200_000), outgoing], 1)
    integrand = ee_to_mumu_squared_matrix_element(momenta) * weight / (2 * sqrt_s**2)
    estimate = float(integrand.mean())
    error = float(integrand.std()) / math.sqrt(len(integrand))
    expected = 4 * math.pi / 137.035999084**2 / (3 * sqrt_s**2)
    assert ee_to_mumu_cross_section(sqrt_s) == pytest.approx(expected, rel=1e-12)
    assert abs(estimate - expected) < 4 * error


def test_ee_to_mumu_angular_distribution():
    # d sigma / d Omega = alpha^2 / (4 s) (1 + cos^2 theta) means |M|^2 = e^4 (1 + cos^2 theta).
    cos_theta = torch.tensor([-0.9, 0.0, 0.3, 1.0], dtype=torch.float64)
    sin_theta = torch.sqrt(1 - cos_theta**2)
    energy = 50.0
    muon = torch.stack([torch.full_like(cos_theta, energy), energy * sin_theta, 0 * cos_theta, energy * cos_theta], -1)
    antimuon = torch.cat([muon[:, :1], -muon[:, 1:]], -1)
    momenta = torch.cat([incoming_momenta(2 * energy, 4), muon[:, None], antimuon[:, None]], 1)
    e4 = (4 * math.pi / 137.035999084) ** 2
    assert torch.allclose(ee_to_mumu_squared_matrix_element(momenta), e4 * (1 + cos_theta**2), rtol=1e-12)
