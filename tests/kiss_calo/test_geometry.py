"""Tests of the CaloChallenge and planar geometries, the deposit API and point-cloud projection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kiss_calo.geometry import (
    CALOCLOUDS_LAYER_DEPTHS_MM,
    CaloChallengeGeometry,
    PlanarGeometry,
    load_geometry,
    project_point_clouds,
)
from kiss_core.errors import KissError, UnknownNameError

# Voxel counts stated by the CaloChallenge 2022 dataset descriptions.
OFFICIAL_COUNTS = {"ds1-photons": 368, "ds1-pions": 533, "ds2": 45 * 16 * 9, "ds3": 45 * 50 * 18}


@pytest.mark.parametrize("name, count", OFFICIAL_COUNTS.items())
def test_official_geometry_voxel_counts(name, count):
    geometry = CaloChallengeGeometry.official(name)
    assert geometry.n_cells == count
    assert len(geometry.cell_coordinates().cell) == count


def test_official_geometry_layers():
    photons = CaloChallengeGeometry.official("ds1-photons")
    assert photons.n_layers == 24
    assert photons.non_empty_layers == [0, 1, 2, 3, 12]
    assert photons.particle == "photon"
    assert photons.pid == 22
    assert not photons.is_regular
    assert CaloChallengeGeometry.official("ds3").is_regular


def test_voxel_order_radial_fastest():
    geometry = CaloChallengeGeometry.official("ds2")
    cells = geometry.cell_coordinates()
    assert cells.r_index.values[:10].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0]
    assert cells.alpha_index.values[:10].tolist() == [0] * 9 + [1]
    assert cells.layer.values[143] == 0
    assert cells.layer.values[144] == 1


def test_alpha_centres_follow_official_convention():
    geometry = CaloChallengeGeometry.official("ds2")
    cells = geometry.cell_coordinates()
    # 16 bins over [-pi, pi]: first centre at -pi + pi/16.
    assert cells.alpha.values[0] == pytest.approx(-math.pi + math.pi / 16)
    assert cells.r.values[0] == pytest.approx(4.65 / 2)
    assert cells.eta.values[0] == pytest.approx(4.65 / 2 * math.cos(-math.pi + math.pi / 16))
    assert cells.phi.values[0] == pytest.approx(4.65 / 2 * math.sin(-math.pi + math.pi / 16))
    # A layer with one angular bin has alpha = 0, so eta = r and phi = 0.
    photons = CaloChallengeGeometry.official("ds1-photons").cell_coordinates()
    assert photons.alpha.values[0] == 0.0
    assert photons.eta.values[0] == photons.r.values[0]


def test_from_xml_selects_particle(small_binning):
    electron = CaloChallengeGeometry.from_xml(small_binning, "electron")
    assert electron.n_cells == 4 * 3 + 4 * 3 + 2
    assert electron.non_empty_layers == [0, 2, 3]
    assert CaloChallengeGeometry.from_xml(small_binning, "22").n_cells == 2


def test_from_xml_unknown_particle_lists_known(small_binning):
    with pytest.raises(KissError) as caught:
        CaloChallengeGeometry.from_xml(small_binning, "pion")
    assert "electron (pid 11)" in caught.value.message()
    assert "photon (pid 22)" in caught.value.message()


def test_from_xml_rejects_bad_files(tmp_path):
    with pytest.raises(KissError, match="not found"):
        CaloChallengeGeometry.from_xml(tmp_path / "missing.xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<Bins><Bin name='e'>")
    with pytest.raises(KissError, match="Invalid binning XML"):
        CaloChallengeGeometry.from_xml(broken)
    decreasing = tmp_path / "decreasing.xml"
    decreasing.write_text('<Bins><Bin name="e"><Layer id="0" r_edges="0,5,3" n_bin_alpha="1"/></Bin></Bins>')
    with pytest.raises(KissError, match="Invalid layer binning"):
        CaloChallengeGeometry.from_xml(decreasing)


def test_load_geometry_names_and_files(small_binning):
    assert load_geometry("ds2").n_cells == 6480
    assert load_geometry(f"{small_binning}:photon").n_cells == 2
    with pytest.raises(UnknownNameError):
        load_geometry("ds4")


def test_deposit_at_cell_centres_round_trips():
    for name in ("ds1-pions", "ds3"):
        geometry = CaloChallengeGeometry.official(name)
        cells = geometry.cell_coordinates()
        energy = np.arange(geometry.n_cells) + 1.0
        event = np.zeros(geometry.n_cells, dtype=int)
        deposited = geometry.deposit(event, cells.layer.values, cells.eta.values, cells.phi.values, energy, 1)
        np.testing.assert_array_equal(deposited[0], energy)


def test_deposit_drops_energy_outside_grid():
    geometry = CaloChallengeGeometry.official("ds2")
    event = np.array([0, 0, 1, 1, 1])
    layer = np.array([0, 0, 1, 45, -1])
    x_mm = np.array([1.0, 50.0, 0.0, 0.0, 0.0])
    y_mm = np.array([0.0, 0.0, 41.85, 0.0, 0.0])
    energy = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    cells, dropped = geometry.deposit(event, layer, x_mm, y_mm, energy, 2, return_dropped=True)
    assert cells.shape == (2, 6480)
    assert cells[0].sum() == 1.0
    assert cells[1].sum() == 0.0
    np.testing.assert_array_equal(dropped, [2.0, 28.0])
    # Energy is conserved: deposited plus dropped equals the input.
    assert cells.sum() + dropped.sum() == energy.sum()


def test_deposit_empty_layer_drops_energy():
    geometry = CaloChallengeGeometry.official("ds1-photons")
    cells, dropped = geometry.deposit([0], [5], [1.0], [1.0], [3.0], 1, return_dropped=True)
    assert cells.sum() == 0.0
    assert dropped[0] == 3.0


def test_deposit_angular_bins():
    geometry = CaloChallengeGeometry.official("ds2")
    # alpha = 0 lies at the lower edge of bin 8 (bins of pi/8 starting at -pi).
    cells = geometry.deposit([0, 0], [0, 0], [1.0, -1.0], [0.0, -1e-9], [1.0, 2.0], 1)
    assert cells[0, 8 * 9 + 0] == 1.0
    # alpha just above -pi lies in bin 0.
    assert cells[0, 0] == 2.0


def test_deposit_rejects_unequal_lengths():
    geometry = CaloChallengeGeometry.official("ds2")
    with pytest.raises(ValueError, match="equal lengths"):
        geometry.deposit([0, 0], [0], [0.0], [0.0], [1.0], 1)


def test_planar_geometry_defaults():
    geometry = PlanarGeometry()
    assert geometry.n_cells == 30 * 78 * 78
    assert geometry.cell_size_mm == pytest.approx(5.0883331298828125)
    assert len(CALOCLOUDS_LAYER_DEPTHS_MM) == 30
    assert CALOCLOUDS_LAYER_DEPTHS_MM[0] == 0.0
    assert CALOCLOUDS_LAYER_DEPTHS_MM[-1] == pytest.approx(2010.04504395 - 1811.34020996, abs=1e-4)
    cells = geometry.cell_coordinates()
    # The grid is centred on the axis: the two middle cells straddle x = 0.
    assert cells.x.values[39 * 78] == pytest.approx(geometry.cell_size_mm / 2)


def test_planar_deposit_round_trip_and_drop():
    geometry = PlanarGeometry(n_layers=3, n_x=4, n_y=5, cell_size_mm=2.0)
    cells = geometry.cell_coordinates()
    energy = np.arange(geometry.n_cells) + 1.0
    deposited = geometry.deposit(np.zeros(geometry.n_cells, int), cells.layer.values, cells.x.values,
                                 cells.y.values, energy, 1)
    np.testing.assert_array_equal(deposited[0], energy)
    _, dropped = geometry.deposit([0, 0], [0, 3], [4.0, 0.0], [0.0, 0.0], [1.0, 2.0], 1, return_dropped=True)
    assert dropped[0] == 3.0


def test_project_point_clouds_onto_both_grids():
    planar = PlanarGeometry(n_layers=3, n_x=4, n_y=4, cell_size_mm=10.0)
    challenge = CaloChallengeGeometry.official("ds2")
    # Two events; the second has a padding point (zero energy) and one point outside.
    points = np.zeros((2, 4, 3))
    points[0, :, 0] = [1.0, 0.2, 40.0 + 1.0, 5.0]     # x, y (layer 0), z, energy
    points[0, :, 1] = [-15.0, 2.7, 40.0 + 15.0, 7.0]  # layer 2
    points[1, :, 0] = [500.0, 1.0, 40.0, 11.0]        # outside both grids
    cells, dropped = project_point_clouds(points, planar, axis_mm=(0.0, 40.0), return_dropped=True)
    assert cells.shape == (2, planar.n_cells)
    assert cells[0, (0 * 4 + 2) * 4 + 2] == 5.0
    assert cells[0, (2 * 4 + 0) * 4 + 3] == 7.0
    np.testing.assert_array_equal(dropped, [0.0, 11.0])
    challenge_cells = project_point_clouds(points, challenge, axis_mm=(0.0, 40.0))
    assert challenge_cells[0].sum() == 12.0
    assert challenge_cells[0, challenge.layer_slice(2)].sum() == 7.0
