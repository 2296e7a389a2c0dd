"""Checks of the CaloClouds II and voxel flow-matching surrogates on simulated showers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from kiss_calo.datasets import GFlashPointClouds, GFlashShowers
from kiss_calo.geometry import PlanarGeometry
from kiss_calo.models.caloclouds import CaloClouds2, consistency_scalings, edm_scalings
from kiss_calo.models.voxel import VoxelFlowMatching
from kiss_core.errors import KissError
from kiss_core.sampling import make_sampler

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def clouds():
    config = GFlashPointClouds.Config(spot_scale=0.05, max_points=200)
    return GFlashPointClouds(config).load(64, seed=0)


@pytest.fixture(scope="module")
def showers():
    return GFlashShowers(GFlashShowers.Config(spot_scale=0.05)).load(64, seed=0)


def _train(model, tensors, steps, seed=0):
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam([p for p in model.network.parameters() if p.requires_grad], lr=2e-3)
    for _ in range(steps):
        index = torch.randint(0, len(next(iter(tensors.values()))), (32,))
        loss = model.loss({key: value[index] for key, value in tensors.items()})
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def _mean_loss(model, tensors, repeats=8):
    torch.manual_seed(123)
    with torch.no_grad():
        return float(np.mean([model.loss(tensors).item() for _ in range(repeats)]))


def test_edm_scalings_known_values():
    sigma_data = 0.5
    c_skip, c_out, c_in, c_noise = edm_scalings(torch.tensor(sigma_data), sigma_data)
    assert float(c_skip) == pytest.approx(0.5)
    assert float(c_out) == pytest.approx(sigma_data / math.sqrt(2))
    assert float(c_in) == pytest.approx(1 / (sigma_data * math.sqrt(2)))
    assert float(c_noise) == pytest.approx(math.log(sigma_data) / 4)
    # The loss weight (sigma^2 + sd^2) / (sigma sd)^2 is 1 / c_out^2 at every sigma.
    for sigma in (0.01, 1.0, 50.0):
        _, c_out, _, _ = edm_scalings(torch.tensor(sigma, dtype=torch.float64), sigma_data)
        weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
        assert weight * float(c_out) ** 2 == pytest.approx(1.0)
    # The error of the skip part alone, (1 - c_skip)^2 sd^2 + c_skip^2 sigma^2, equals c_out^2, so F has a unit-variance target.
    sigma = torch.tensor(3.0, dtype=torch.float64)
    c_skip, c_out, _, _ = edm_scalings(sigma, sigma_data)
    assert float((1 - c_skip) ** 2 * sigma_data**2 + c_skip**2 * sigma**2) == pytest.approx(float(c_out) ** 2)


def test_consistency_scalings_identity_at_sigma_min():
    c_skip, c_out = consistency_scalings(torch.tensor(0.002), 0.5, 0.002)
    assert float(c_skip) == pytest.approx(1.0)
    assert float(c_out) == pytest.approx(0.0)


def test_caloclouds_training_reduces_loss(clouds):
    model = CaloClouds2(CaloClouds2.Config(hidden=32, depth=2, flow_hidden=32, max_points=200))
    tensors = model.prepare(clouds)
    assert tensors["points"].shape == (64, clouds.sizes["point"], 4)
    assert tensors["mask"].sum() == int(clouds["mask"].sum())
    before = _mean_loss(model, tensors)
    _train(model, tensors, 60)
    assert _mean_loss(model, tensors) < 0.8 * before


def test_caloclouds_samples_and_distillation(clouds):
    teacher = CaloClouds2(CaloClouds2.Config(hidden=32, depth=2, flow_hidden=32, max_points=200))
    tensors = teacher.prepare(clouds)
    _train(teacher, tensors, 30)

    conditions = teacher.conditions(clouds.isel(event=slice(0, 6)))
    samples = teacher.sample(conditions)
    assert samples.attrs["nfe"] == 25
    assert samples["energy"].dims == ("event", "point")
    assert samples.sizes["event"] == 6
    assert float(samples["energy"].min()) >= 0
    assert bool((samples["energy"].where(~samples["mask"]).fillna(0) == 0).all())
    assert int(samples["mask"].sum("point").max()) <= 200
    assert float(samples["y"].max()) < 30

    student = CaloClouds2.distill_from(teacher)
    before = _mean_loss(student, tensors)
    _train(student, tensors, 20)
    assert np.isfinite(before)
    assert np.isfinite(_mean_loss(student, tensors))
    one_step = student.sample(conditions)
    assert one_step.attrs["nfe"] == 1
    assert float(one_step["energy"].min()) >= 0

    cells = CaloClouds2.to_cells(one_step, PlanarGeometry())
    assert cells.shape == (6, PlanarGeometry().n_cells)
    assert np.all(cells >= 0)


def test_caloclouds_rejects_velocity_sampler(clouds):
    model = CaloClouds2(CaloClouds2.Config(hidden=16, depth=2, flow_hidden=16))
    model.prepare(clouds)
    with pytest.raises(KissError, match="Incompatible sampler"):
        model.sample(model.conditions(clouds.isel(event=slice(0, 2))), sampler=make_sampler("euler", steps=2))


def test_caloclouds_extra_state_round_trip(clouds):
    model = CaloClouds2(CaloClouds2.Config(hidden=16, depth=2, flow_hidden=16))
    model.prepare(clouds)
    copy = CaloClouds2(model.config)
    copy.network.load_state_dict(model.network.state_dict())
    copy.load_extra_state(model.extra_state())
    conditions = model.conditions(clouds.isel(event=slice(0, 3)))
    torch.manual_seed(5)
    first = model.sample(conditions, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    second = copy.sample(conditions, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(first["energy"].values, second["energy"].values)


def test_caloclouds_chunked_sampling_matches_one_call(clouds):
    model = CaloClouds2(CaloClouds2.Config(hidden=16, depth=2, flow_hidden=16))
    model.prepare(clouds)
    conditions = model.conditions(clouds.isel(event=slice(0, 4)))
    samples = []
    for points_per_chunk in (7, 10**9):
        torch.manual_seed(5)
        generator = torch.Generator().manual_seed(1)
        samples.append(model.sample(conditions, generator=generator, points_per_chunk=points_per_chunk))
    chunked, whole = samples
    assert int(chunked["mask"].sum()) > 3 * 7
    np.testing.assert_array_equal(chunked["mask"].values, whole["mask"].values)
    for name in ("x", "y", "z", "energy"):
        np.testing.assert_allclose(chunked[name].values, whole[name].values, rtol=1e-4, atol=1e-6)
    with pytest.raises(KissError, match="Invalid chunk size"):
        model.sample(conditions, points_per_chunk=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data.assign(incident_energy=data["incident_energy"] / 1000), "look like GeV"),
        (lambda data: data.assign(energy=data["energy"].where(data["point"] != 0, -1.0)), "Invalid energy"),
        (
            lambda data: data.assign(incident_energy=data["incident_energy"].where(data["event"] != 0, np.nan)),
            "Invalid incident",
        ),
        (lambda data: data.drop_vars("x"), "Missing variables"),
    ],
)
def test_caloclouds_rejects_invalid_input(clouds, change, message):
    model = CaloClouds2(CaloClouds2.Config(hidden=16, depth=2, flow_hidden=16))
    with pytest.raises(KissError, match=message):
        model.prepare(change(clouds))


def test_voxel_training_and_sampling(showers):
    model = VoxelFlowMatching(
        VoxelFlowMatching.Config(hidden=64, blocks=1, flow_hidden=32, flow_transforms=1, sampler_steps=3)
    )
    tensors = model.prepare(showers)
    assert tensors["shape"].shape == (64, 6480)
    before = _mean_loss(model, tensors, repeats=3)
    _train(model, tensors, 40)
    assert _mean_loss(model, tensors, repeats=3) < before

    samples = model.sample(model.conditions(showers.isel(event=slice(0, 5))))
    assert samples["energy"].shape == (5, 45, 16, 9)
    assert samples.attrs["nfe"] == 6
    assert float(samples["energy"].min()) >= 0

    copy = VoxelFlowMatching(model.config)
    copy.load_extra_state(model.extra_state())
    assert copy.scales == model.scales


def test_voxel_accepts_flat_cells(showers):
    model = VoxelFlowMatching(VoxelFlowMatching.Config(hidden=16, blocks=1, flow_hidden=16, flow_transforms=1))
    grid = model.prepare(showers)
    flat = xr.Dataset(
        {
            "energy": (("event", "cell"), grid["shape"].numpy() * 0 + 1.0),
            "incident_energy": ("event", showers["incident_energy"].values),
        }
    )
    assert model.prepare(flat)["shape"].shape == (64, 6480)


def test_voxel_rejects_wrong_voxel_count(showers):
    model = VoxelFlowMatching(
        VoxelFlowMatching.Config(geometry="ds3", hidden=16, blocks=1, flow_hidden=16, flow_transforms=1)
    )
    flat = xr.Dataset(
        {"energy": (("event", "cell"), np.ones((3, 6480))), "incident_energy": ("event", [2e3, 3e3, 4e3])}
    )
    with pytest.raises(KissError, match="Wrong number of voxels"):
        model.prepare(flat)


def test_voxel_rejects_velocity_mismatch(showers):
    model = VoxelFlowMatching(VoxelFlowMatching.Config(hidden=16, blocks=1, flow_hidden=16, flow_transforms=1))
    model.prepare(showers)
    with pytest.raises(KissError, match="Incompatible sampler"):
        model.sample(model.conditions(showers.isel(event=slice(0, 2))), sampler=make_sampler("edm_heun", steps=2))


def test_voxel_shape_code_known_values_and_round_trip():
    from kiss_calo.models.voxel import _inverse_logit_shape, _logit_shape

    shape = np.array([0.0, 1e-5, 0.25, 0.5, 1.0])
    code = _logit_shape(shape)
    # An empty voxel sits at logit(1e-6) = ln(1e-6 / (1 - 1e-6)); half a layer at logit(0.5) = 0.
    assert code[0] == pytest.approx(math.log(1e-6 / (1 - 1e-6)), rel=1e-12)
    assert code[3] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(_inverse_logit_shape(code), shape, rtol=1e-9, atol=1e-15)
    # Codes below the empty-voxel floor decode to exactly zero energy.
    assert _inverse_logit_shape(np.array([code[0] - 3.0]))[0] == 0.0


def test_voxel_decoding_restores_layer_energies(showers):
    model = VoxelFlowMatching(VoxelFlowMatching.Config(hidden=16, blocks=1, flow_hidden=16, flow_transforms=1))
    model.prepare(showers)
    incident = np.array([2e3, 5e4])
    layers = np.zeros((2, 45))
    decoded = model._assemble(incident, layers, np.random.default_rng(0).normal(size=(2, 6480)))
    # Layer codes at 0 are the training means: E_layer = (exp(mean) - 1e-7) * E_inc, whatever the shape.
    expected = (np.exp(model.scales["layer_mean"]) - 1e-7) * incident[:, None]
    np.testing.assert_allclose(decoded.reshape(2, 45, -1).sum(axis=2), expected, rtol=1e-9)
    assert decoded.min() >= 0

    # A layer code far in the flow's tail is capped at the largest layer fraction of the training showers.
    far = model._assemble(incident, np.full((2, 45), 1e3), np.zeros((2, 6480)))
    largest = (np.exp(model.scales["layer_max"]) - 1e-7) * incident[:, None]
    np.testing.assert_allclose(far.reshape(2, 45, -1).sum(axis=2), largest, rtol=1e-9)


@pytest.mark.parametrize("geometry", ["ds1-photons", "ds1-pions"])
def test_voxel_prepares_and_samples_dataset_1(geometry):
    model = VoxelFlowMatching(
        VoxelFlowMatching.Config(geometry=geometry, hidden=16, blocks=1, flow_hidden=16, flow_transforms=1,
                                 sampler_steps=2)
    )
    n_voxels = model.geometry.n_cells
    rng = np.random.default_rng(1)
    energy = rng.exponential(10.0, size=(32, n_voxels)) * (rng.random((32, n_voxels)) < 0.3)
    data = xr.Dataset({"energy": (("event", "cell"), energy), "incident_energy": ("event", np.full(32, 5e4))})
    tensors = model.prepare(data)
    assert tensors["shape"].shape == (32, n_voxels)
    assert torch.isfinite(tensors["shape"]).all()
    samples = model.sample(model.conditions(data.isel(event=slice(0, 3))))
    assert samples["energy"].sizes["event"] == 3
    assert float(samples["energy"].min()) >= 0


def test_voxel_rejects_checkpoint_of_linear_shapes(showers):
    model = VoxelFlowMatching(VoxelFlowMatching.Config(hidden=16, blocks=1, flow_hidden=16, flow_transforms=1))
    model.prepare(showers)
    state = model.extra_state()
    del state["scales"]["shape_code"]
    with pytest.raises(KissError, match="older voxel model"):
        VoxelFlowMatching(model.config).load_extra_state(state)
