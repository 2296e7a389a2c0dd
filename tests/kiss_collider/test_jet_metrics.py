"""Tests of the jet kinematics and the JetNet jet metrics on small synthetic jets."""

import numpy as np
import pytest
import xarray as xr

from kiss_collider.kinematics import relative_jet_mass, relative_jet_pt
from kiss_collider.metrics import W1M, W1P, JetEFPMetrics, energy_flow_polynomials, jet_histograms
from kiss_core.errors import KissError


def _jets(n_events: int, n_particles: int = 12, spread: float = 0.1, seed: int = 0) -> xr.Dataset:
    """Make jets with random constituents: Gaussian angles of width ``spread``, Dirichlet ptrel."""
    rng = np.random.default_rng(seed)
    multiplicity = rng.integers(3, n_particles + 1, n_events)
    mask = np.arange(n_particles)[None, :] < multiplicity[:, None]
    constituents = np.zeros((n_events, n_particles, 3), dtype=np.float32)
    constituents[..., 0] = rng.normal(0, spread, (n_events, n_particles))
    constituents[..., 1] = rng.normal(0, spread, (n_events, n_particles))
    pt = rng.exponential(1.0, (n_events, n_particles)) * mask
    constituents[..., 2] = pt / pt.sum(axis=1, keepdims=True)
    constituents[~mask] = 0
    return xr.Dataset(
        {
            "constituents": (("event", "particle", "feature"), constituents),
            "mask": (("event", "particle"), mask),
            "jet_pt": (("event",), rng.uniform(500, 600, n_events)),
            "num_particles": (("event",), multiplicity),
        },
        coords={"feature": ["etarel", "phirel", "ptrel"]},
    )


def test_relative_mass_two_particle_analytic():
    # Massless particles: m^2 = 2 pt1 pt2 (cosh(deta) - cos(dphi)).
    constituents = np.array([[[0.2, 0.1, 0.7], [-0.1, -0.2, 0.3], [0.0, 0.0, 0.0]]])
    mask = np.array([[True, True, False]])

    expected = np.sqrt(2 * 0.7 * 0.3 * (np.cosh(0.3) - np.cos(0.3)))

    np.testing.assert_allclose(relative_jet_mass(constituents, mask), [expected], rtol=1e-12)


def test_relative_mass_matches_fastjet():
    fastjet = pytest.importorskip("fastjet")
    jets = _jets(5, seed=1)
    pt_jet, eta_jet, phi_jet = 400.0, 0.7, 1.2

    masses = relative_jet_mass(jets["constituents"], jets["mask"].values)

    for event in range(5):
        total = fastjet.PseudoJet(0.0, 0.0, 0.0, 0.0)
        for eta, phi, ptrel in jets["constituents"].values[event][jets["mask"].values[event]].astype(float):
            pt = ptrel * pt_jet
            total = total + fastjet.PseudoJet(pt * np.cos(phi + phi_jet), pt * np.sin(phi + phi_jet),
                                              pt * np.sinh(eta + eta_jet), pt * np.cosh(eta + eta_jet))
        assert masses[event] * pt_jet == pytest.approx(total.m(), rel=1e-6)


def test_relative_pt_of_collinear_jet_is_one():
    constituents = np.array([[[0.0, 0.0, 0.25], [0.0, 0.0, 0.75]]])

    assert relative_jet_pt(constituents, np.ones((1, 2), bool))[0] == pytest.approx(1.0)


def test_efp_matches_hand_computed_value():
    # The single-edge EFP (n = 2, d = 1) is sum_ij z_i z_j theta_ij = 2 z1 z2 theta_12 for two
    # particles, with z = ptrel and theta = sqrt(deta^2 + dphi^2).
    constituents = np.array([[[0.1, 0.0, 0.6], [-0.2, 0.4, 0.4]]], dtype=np.float32)
    jets = xr.Dataset(
        {"constituents": (("event", "particle", "feature"), constituents),
         "mask": (("event", "particle"), np.ones((1, 2), bool))},
        coords={"feature": ["etarel", "phirel", "ptrel"]},
    )

    (values,) = energy_flow_polynomials(jets, (("n==", 2), ("d==", 1)), n_jobs=1)

    theta = np.hypot(0.3, 0.4)
    assert values[0] == pytest.approx(2 * 0.6 * 0.4 * theta, rel=1e-5)


def test_efp_padding_does_not_change_values():
    jets = _jets(4, seed=2)
    wider = jets.pad(particle=(0, 5), constant_values=0)
    wider["mask"] = wider["mask"].fillna(False).astype(bool)

    np.testing.assert_allclose(energy_flow_polynomials(jets, n_jobs=1), energy_flow_polynomials(wider, n_jobs=1),
                               rtol=1e-6)


def test_w1m_and_w1p_detect_wider_jets():
    reference = _jets(600, seed=3)
    same = _jets(600, seed=4)
    wider = _jets(600, spread=0.2, seed=5)

    mass_same = W1M().compute(reference, same)["W1M"]
    mass_wider = W1M().compute(reference, wider)["W1M"]
    particles_same = W1P().compute(reference, same)
    particles_wider = W1P().compute(reference, wider)

    assert mass_wider.value > mass_same.value + 5 * (mass_same.uncertainty + mass_wider.uncertainty)
    # A Gaussian of width s has mean |x| = s sqrt(2 / pi), so W1 between widths 0.1 and 0.2 is
    # near 0.1 sqrt(2 / pi) = 0.080.
    assert particles_wider["W1P.etarel"].value == pytest.approx(0.080, abs=0.01)
    assert particles_same["W1P.etarel"].value < 0.02
    assert particles_same["W1P.ptrel"].value < 0.02
    assert particles_wider["W1P"].value == pytest.approx(
        np.mean([particles_wider[f"W1P.{name}"].value for name in ("etarel", "phirel", "ptrel")]), rel=1e-9)


def test_efp_metrics_separate_wider_jets():
    reference = _jets(800, seed=6)
    metric = JetEFPMetrics(JetEFPMetrics.Config(fpd_min_samples=200, fpd_max_samples=800, kpd_batch_size=400,
                                                n_jobs=1))

    same = metric.compute(reference, _jets(800, seed=7))
    wider = metric.compute(reference, _jets(800, spread=0.2, seed=8))

    assert set(same) == {"W1EFP", "FPD", "KPD"}
    assert len(same["W1EFP"].details["per_efp"]) == 5
    for label in ("W1EFP", "FPD"):
        assert wider[label].value > same[label].value + 3 * (wider[label].uncertainty + same[label].uncertainty)
    # The quartic kernel makes KPD batches of very different jets scatter widely, so compare quantiles.
    assert wider["KPD"].details["quantile_16"] > same["KPD"].details["quantile_84"]
    assert abs(same["KPD"].value) < 3 * same["KPD"].uncertainty + 1e-3


def test_jet_histograms_names_and_values():
    reference, candidate = _jets(50, seed=9), _jets(40, seed=10)

    histograms = {record.name: record for record in jet_histograms(reference, candidate)}

    assert set(histograms) == {"relative_jet_mass", "constituent_etarel", "constituent_phirel",
                               "constituent_ptrel", "multiplicity", "constituent_sum_pt"}
    assert len(histograms["constituent_ptrel"].reference) == int(reference["mask"].sum())
    assert histograms["constituent_ptrel"].log
    np.testing.assert_array_equal(histograms["multiplicity"].candidate, candidate["num_particles"].values)
    assert histograms["constituent_sum_pt"].label.endswith("[GeV]")


def test_jet_metrics_reject_missing_features():
    jets = _jets(10).assign_coords(feature=["eta", "phi", "pt"])

    with pytest.raises(KissError, match="JetNet features"):
        W1M().compute(jets, jets)
