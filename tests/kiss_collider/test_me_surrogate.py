"""Tests of the matrix-element surrogate and the g g -> n g dataset."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

from kiss_collider.me_datasets import GluonScatteringDataset
from kiss_collider.models.me_surrogate import MatrixElementSurrogate, fit_surrogate, invariant_features
from kiss_core.errors import KissError
from kiss_core.interfaces import Dataset, Generator
from kiss_core.registry import get_registry
from kiss_core.training import load_generator


@pytest.fixture(scope="module")
def four_gluon_data():
    dataset = GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=4, pt_min_gev=30.0))
    return dataset.load(3000, seed=1), dataset.load(1000, seed=2)


@pytest.fixture(scope="module")
def trained(four_gluon_data):
    training, _ = four_gluon_data
    torch.manual_seed(0)
    surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=4, hidden_features=(64, 64)))
    fit_surrogate(surrogate, surrogate.prepare(training), epochs=25, batch_size=128, seed=0)
    return surrogate


def test_surrogate_and_dataset_implement_interfaces():
    assert issubclass(MatrixElementSurrogate, Generator)
    assert issubclass(GluonScatteringDataset, Dataset)


def test_features_symmetric_under_final_gluon_permutation():
    dataset = GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=6))
    momenta = torch.as_tensor(dataset.load(4, seed=3)["momenta"].values)
    permuted = momenta[:, [0, 1, 5, 3, 2, 4]]
    assert torch.allclose(invariant_features(momenta), invariant_features(permuted))
    assert invariant_features(momenta).shape == (4, 6 * 5 // 2 - 1)


def test_dataset_contents_and_provenance(four_gluon_data):
    training, _ = four_gluon_data
    assert training["momenta"].dims == ("event", "particle", "component")
    assert training.sizes["particle"] == 4
    assert (training["matrix_element_squared"].values > 0).all()
    provenance = json.loads(training.attrs["provenance"])
    assert provenance["n_gluons"] == 4
    assert provenance["cuts"]["pt_min_gev"] == 30.0
    assert 0 < provenance["cut_fraction"] <= 1


def test_surrogate_predicts_held_out_matrix_elements(trained, four_gluon_data):
    _, test = four_gluon_data
    mean, sigma = trained.predict(torch.as_tensor(test["momenta"].values))
    target = np.log(test["matrix_element_squared"].values)
    residual = target - mean.numpy()
    # Within 25 % of |M|^2 on average, against a target spread of about a factor e.
    assert np.sqrt((residual**2).mean()) < 0.25
    assert np.sqrt((residual**2).mean()) < 0.3 * target.std()
    # The trainer calibrates sigma on its held-out events, so pulls on new events have unit width.
    pull = residual / sigma.numpy()
    assert 0.7 < pull.std() < 1.4


def test_surrogate_sample_returns_named_dataset(trained, four_gluon_data):
    _, test = four_gluon_data
    prediction = trained.sample(trained.conditions(test), batch_size=300)
    assert prediction["log_matrix_element_squared"].dims == ("event",)
    assert prediction.sizes["event"] == 1000
    assert (prediction["log_matrix_element_squared_sigma"].values > 0).all()
    mean, _ = trained.predict(torch.as_tensor(test["momenta"].values))
    assert np.allclose(prediction["log_matrix_element_squared"].values, mean.numpy())


def test_surrogate_rejects_other_process(trained, four_gluon_data):
    five = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=5))
    with pytest.raises(KissError, match="trained for another process"):
        five.load_extra_state(trained.extra_state())
    _, test = four_gluon_data
    with pytest.raises(KissError, match="another process"):
        five.conditions(test)
    with pytest.raises(KissError, match="do not match"):
        five.predict(torch.as_tensor(test["momenta"].values))


def test_surrogate_checkpoint_round_trip(four_gluon_data, tmp_path):
    training, test = four_gluon_data
    surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=4))
    fit_surrogate(surrogate, surrogate.prepare(training), epochs=2, batch_size=256, seed=0,
                  checkpoints=tmp_path)
    restored, name = load_generator(tmp_path, get_registry())
    momenta = torch.as_tensor(test["momenta"].values)
    assert name == "collider.me_surrogate"
    # The saved weights are those of the last epoch, as the surrogate trains without averaging.
    assert torch.allclose(restored.predict(momenta)[0], surrogate.predict(momenta)[0])


def test_unweight_rejects_surrogate_of_other_process(four_gluon_data, tmp_path):
    from kiss_collider.cli_me import _load_surrogate

    training, _ = four_gluon_data
    surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=4))
    fit_surrogate(surrogate, surrogate.prepare(training), epochs=1, seed=0, checkpoints=tmp_path / "checkpoints")
    (tmp_path / "run.json").write_text('{"command": "train", "status": "finished"}')
    with pytest.raises(KissError, match="another process"):
        _load_surrogate(tmp_path, n_gluons=5)


def test_dataset_write_read_round_trip(four_gluon_data, tmp_path):
    training, _ = four_gluon_data
    dataset = GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=4))
    path = tmp_path / "me.nc"
    dataset.write(training, path)
    restored = dataset.read(path)
    xr.testing.assert_allclose(restored, training)
    assert restored.attrs["provenance"] == training.attrs["provenance"]
    with pytest.raises(KissError, match="another process"):
        GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=5)).read(path)


def test_dataset_read_rejects_negative_matrix_elements(four_gluon_data, tmp_path):
    training, _ = four_gluon_data
    broken = training.copy(deep=True)
    broken["matrix_element_squared"][:3] = -1.0
    dataset = GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=4))
    dataset.write(broken, tmp_path / "broken.nc")
    with pytest.raises(KissError, match="3 invalid of 3000"):
        dataset.read(tmp_path / "broken.nc")


def test_prepare_rejects_zero_matrix_elements(four_gluon_data):
    training, _ = four_gluon_data
    broken = training.copy(deep=True)
    broken["matrix_element_squared"][0] = 0.0
    surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=4))
    with pytest.raises(KissError, match="1 invalid"):
        surrogate.prepare(broken)
