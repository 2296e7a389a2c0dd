"""Tests of the Pythia 8 + FastJet jet simulator and the PythiaJets dataset."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from kiss_collider.datasets import PythiaJets
from kiss_collider.simulators import pythia_jets
from kiss_collider.simulators.pythia_jets import simulate_jets
from kiss_core.errors import KissError, UnknownNameError

W_MASS_GEV = 80.4  # PDG 2024
JET_PT_WINDOW_GEV = pythia_jets.DEFAULT_JET_PT_WINDOW_GEV


def constituent_momenta(jets, index: int) -> np.ndarray:
    """Return (px, py, pz, E) of one jet's stored constituents, taken as massless."""
    row = jets.isel(event=index)
    kept = row["mask"].values
    features = row["constituents"].values[kept].astype(np.float64)
    pt = features[:, 2] * float(row["jet_pt"])
    eta = features[:, 0] + float(row["jet_eta"])
    phi = features[:, 1]
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=1)


@pytest.fixture(scope="module")
def gluon_jets():
    return simulate_jets(20, "g", seed=5, workers=1)


def test_simulate_returns_jet_layout(gluon_jets):
    jets = gluon_jets

    assert jets.sizes == {"event": 20, "particle": 30, "feature": 3}
    assert list(jets["feature"].values) == ["etarel", "phirel", "ptrel"]
    assert jets["constituents"].dtype == np.float32
    assert jets["mask"].dtype == bool
    assert jets["jet_class"].attrs["classes"] == ["g"]
    assert np.all(jets["jet_class"].values == 0)
    provenance = json.loads(jets.attrs["provenance"])
    assert provenance["generator"] == "Pythia"
    assert provenance["seed"] == 5
    assert "WeakBosonAndParton:qqbar2gmZg = on" in provenance["settings"]


def test_simulate_pads_and_sorts_constituents(gluon_jets):
    mask = gluon_jets["mask"].values
    features = gluon_jets["constituents"].values
    ptrel = features[..., 2]

    assert np.all(mask.sum(axis=1) == gluon_jets["num_particles"].values)
    assert np.all(mask[:, :-1] >= mask[:, 1:])  # real particles first
    assert np.all(features[~mask] == 0.0)
    assert np.all(np.diff(ptrel, axis=1) <= 0.0)
    assert np.all(gluon_jets["num_particles"].values == np.minimum(gluon_jets["num_constituents"].values, 30))


def test_simulate_relative_coordinates_in_range(gluon_jets):
    features = gluon_jets["constituents"].values[gluon_jets["mask"].values]

    assert np.all(np.abs(features[:, 1]) <= np.pi)
    # anti-kT constituents lie within about R of the axis; 1.2 R leaves room for recoil.
    assert np.all(np.hypot(features[:, 0], features[:, 1]) < 1.2 * pythia_jets.JET_RADIUS)
    assert np.all((features[:, 2] > 0.0) & (features[:, 2] <= 1.0))


def test_simulate_same_seed_same_jets(gluon_jets):
    again = simulate_jets(20, "g", seed=5, workers=1)
    other = simulate_jets(20, "g", seed=6, workers=1)

    for name in ("constituents", "mask", "jet_pt", "jet_eta", "jet_mass", "num_constituents"):
        np.testing.assert_array_equal(again[name].values, gluon_jets[name].values, err_msg=name)
    assert not np.array_equal(other["jet_pt"].values, gluon_jets["jet_pt"].values)


@pytest.mark.slow
def test_simulate_independent_of_worker_count():
    serial = simulate_jets(12, "q", seed=9, workers=1, chunk_size=4)
    parallel = simulate_jets(12, "q", seed=9, workers=2, chunk_size=4)

    for name in ("constituents", "mask", "jet_pt", "jet_eta", "jet_mass", "num_constituents"):
        np.testing.assert_array_equal(parallel[name].values, serial[name].values, err_msg=name)


def test_simulate_prints_nothing(capfd):
    simulate_jets(2, "t", seed=1, workers=1)

    captured = capfd.readouterr()
    assert captured.out == ""


def test_derived_seeds_valid_and_distinct():
    seeds = [
        pythia_jets._derive_pythia_seed(seed, class_index, chunk)
        for seed, class_index, chunk in itertools.product((0, 1, 2**40), range(5), range(20))
    ]

    assert all(1 <= seed <= 900_000_000 for seed in seeds)
    assert len(set(seeds)) == len(seeds)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_jets": 0}, "Invalid n_jets"),
        ({"n_particles": 0}, "Invalid n_particles"),
        ({"workers": 0}, "Invalid workers"),
        ({"seed": -1}, "Invalid seed"),
        ({"pt_hat_window_gev": (1000.0, 900.0)}, "Invalid pt_hat_window_gev"),
        ({"jet_pt_window_gev": (0.0, 1600.0)}, "Invalid jet_pt_window_gev"),
        ({"max_abs_eta": 0.0}, "Invalid max_abs_eta"),
    ],
)
def test_simulate_rejects_bad_arguments(arguments, message):
    request = {"n_jets": 5, "jet_class": "g", "seed": 1, **arguments}

    with pytest.raises(KissError, match=message):
        simulate_jets(**request)


def test_simulate_rejects_unknown_class():
    with pytest.raises(UnknownNameError, match="jet class 'b'"):
        simulate_jets(5, "b", seed=1)


@pytest.mark.slow
def test_simulate_rejects_window_that_keeps_nothing():
    with pytest.raises(KissError, match="keeps almost no events"):
        simulate_jets(5, "g", seed=1, workers=1, jet_pt_window_gev=(3000.0, 4000.0))


def test_jet_mass_matches_fastjet_single_event_clustering():
    """Cluster the same events with FastJet's per-event interface and compare the kept jet."""
    import fastjet
    import pythia8mc

    task = pythia_jets._ChunkTask(
        jet_class="t", n_jets=1, pythia_seed=4321, n_particles=300,
        pt_hat_window_gev=pythia_jets.DEFAULT_PT_HAT_WINDOW_GEV,
        jet_pt_window_gev=JET_PT_WINDOW_GEV, max_abs_eta=pythia_jets.DEFAULT_MAX_ABS_ETA,
    )
    pythia = pythia8mc.Pythia("", False)
    for setting in [*pythia_jets.pythia_settings("t"), "Random:seed = 4321"]:
        assert pythia.readString(setting)
    assert pythia.init()
    batch = pythia.nextBatch(8, "skip")
    selected = pythia_jets._select_jets(batch, task)
    assert len(selected) >= 4

    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, pythia_jets.JET_RADIUS)
    reference_masses = []
    for event in batch.prt.tolist():
        inputs = [
            fastjet.PseudoJet(p["p"]["px"], p["p"]["py"], p["p"]["pz"], p["p"]["e"])
            for p in event
            if p["status"] > 0 and abs(p["id"]) not in (12, 14, 16)
        ]
        sequence = fastjet.ClusterSequence(inputs, definition)
        reference_masses.extend(jet.m() for jet in sequence.inclusive_jets(JET_PT_WINDOW_GEV[0]))

    for jet in selected:
        closest = min(reference_masses, key=lambda mass: abs(mass - jet["jet_mass"]))
        assert jet["jet_mass"] == pytest.approx(closest, rel=1e-9)
        assert jet["num_particles"] == jet["num_constituents"]


# The physics checks below simulate a few hundred jets per class (about 10 s on one core).


@pytest.fixture(scope="module")
def physics_jets():
    return {
        jet_class: simulate_jets(300, jet_class, seed=11, workers=1, n_particles=300)
        for jet_class in ("g", "q", "t")
    }


@pytest.mark.slow
def test_physics_jet_pt_in_window(physics_jets):
    for jet_class, jets in physics_jets.items():
        pt = jets["jet_pt"].values
        assert pt.min() >= JET_PT_WINDOW_GEV[0], jet_class
        assert pt.max() <= JET_PT_WINDOW_GEV[1], jet_class
        assert abs(np.median(pt) - 1000.0) < 50.0, jet_class
        assert np.all(np.abs(jets["jet_eta"].values) <= 2.5), jet_class


@pytest.mark.slow
def test_physics_top_mass_peak(physics_jets):
    top_mass = physics_jets["t"]["jet_mass"].values
    gluon_mass = physics_jets["g"]["jet_mass"].values

    # Top quark mass 172.5 GeV; underlying event and radiation into R = 0.8 push it up a little.
    assert 165.0 < np.median(top_mass) < 200.0
    assert np.mean((top_mass > 140.0) & (top_mass < 210.0)) > 0.6
    assert np.mean(top_mass) > np.mean(gluon_mass) + 20.0


def min_subjet_pair_masses(jets) -> tuple[np.ndarray, np.ndarray]:
    """Split each jet into three exclusive kT subjets; return min pair mass and |pair mass - mW|."""
    import fastjet

    definition = fastjet.JetDefinition(fastjet.kt_algorithm, 1.0)
    minimum, closest_to_w = [], []
    for index in range(jets.sizes["event"]):
        inputs = [fastjet.PseudoJet(*momentum) for momentum in constituent_momenta(jets, index)]
        subjets = fastjet.ClusterSequence(inputs, definition).exclusive_jets(3)
        masses = [(subjets[a] + subjets[b]).m() for a, b in itertools.combinations(range(3), 2)]
        minimum.append(min(masses))
        closest_to_w.append(min(abs(mass - W_MASS_GEV) for mass in masses))
    return np.array(minimum), np.array(closest_to_w)


@pytest.mark.slow
def test_physics_top_jets_contain_w(physics_jets):
    top_minimum, top_distance = min_subjet_pair_masses(physics_jets["t"])
    gluon_minimum, gluon_distance = min_subjet_pair_masses(physics_jets["g"])

    # t -> b W -> b q q' gives three prongs with a pair at the W mass; a gluon jet has one core.
    assert np.median(top_minimum) > 45.0
    assert np.median(top_minimum) > np.median(gluon_minimum) + 20.0
    assert np.mean(top_distance < 10.0) > np.mean(gluon_distance < 10.0) + 0.15


@pytest.mark.slow
def test_physics_gluon_jets_have_more_constituents(physics_jets):
    gluon = physics_jets["g"]["num_constituents"].values.mean()
    quark = physics_jets["q"]["num_constituents"].values.mean()

    # Casimir scaling predicts a ratio near C_A / C_F = 9/4 for the perturbative part only;
    # with hadronisation and underlying event the ratio is smaller but well above 1.
    assert gluon > 1.2 * quark


@pytest.mark.slow
def test_physics_ptrel_sums_to_one(physics_jets):
    for jet_class, jets in physics_jets.items():
        complete = jets["num_particles"].values == jets["num_constituents"].values
        assert complete.all(), jet_class
        total = jets["constituents"].sel(feature="ptrel").sum("particle").values

        # The scalar sum of pT is at least the magnitude of the vector sum, the jet pT.
        assert np.all(total >= 1.0 - 1e-5), jet_class
        assert np.mean(total) < 1.03, jet_class


@pytest.mark.slow
def test_physics_constituents_rebuild_jet_momentum(physics_jets):
    for jet_class, jets in physics_jets.items():
        for index in range(0, jets.sizes["event"], 10):
            total = constituent_momenta(jets, index).sum(axis=0)
            # pT, eta and phi fix the 3-momentum exactly, even for massive hadrons. Only the
            # energy and so the mass need the particle masses, which the layout drops.
            assert np.hypot(total[0], total[1]) == pytest.approx(float(jets["jet_pt"][index]), rel=1e-4)
            assert np.arcsinh(total[2] / np.hypot(total[0], total[1])) == pytest.approx(
                float(jets["jet_eta"][index]), abs=1e-4
            ), jet_class


def test_pythia_jets_load_splits_classes():
    dataset = PythiaJets(PythiaJets.Config(jet_classes=("g", "t"), workers=1))

    jets = dataset.load(5, seed=2)

    assert jets["jet_class"].attrs["classes"] == ["g", "t"]
    np.testing.assert_array_equal(jets["jet_class"].values, [0, 0, 0, 1, 1])
    provenance = json.loads(jets.attrs["provenance"])
    assert provenance["seed"] == 2
    assert [part["jet_class"] for part in provenance["classes"]] == ["g", "t"]


def test_pythia_jets_write_read_round_trip(tmp_path):
    dataset = PythiaJets(PythiaJets.Config(jet_classes=("q", "t"), workers=1))
    jets = dataset.load(4, seed=3)
    path = tmp_path / "jets.hdf5"

    dataset.write(jets, path)
    loaded = dataset.read(path)

    for name in ("constituents", "mask", "jet_pt", "jet_eta", "jet_mass", "num_particles", "num_constituents"):
        np.testing.assert_array_equal(loaded[name].values, jets[name].values, err_msg=name)
    assert loaded["jet_class"].attrs["classes"] == ["q", "t"]


def test_pythia_jets_rejects_duplicate_classes():
    dataset = PythiaJets(PythiaJets.Config(jet_classes=("g", "g")))

    with pytest.raises(KissError, match="Invalid jet_classes"):
        dataset.load(10, seed=1)
