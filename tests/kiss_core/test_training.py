"""Shared trainer: checkpoints, exact resume, EMA weights and rejection of foreign checkpoints."""

from types import SimpleNamespace

import pytest
import torch

from kiss_core.datasets import GaussianMixture
from kiss_core.errors import KissError
from kiss_core.hookspecs import hookimpl
from kiss_core.models.flow_matching import TabularFlowMatching
from kiss_core.registry import Registry
from kiss_core.specs import Spec
from kiss_core.training import TrainConfig, load_generator, train


@pytest.fixture(scope="module")
def samples():
    return GaussianMixture().load(600, seed=3)


def _config(epochs=4, **overrides):
    return TrainConfig(**{"epochs": epochs, "batch_size": 64, "learning_rate": 1e-2, "ema_decay": 0.9, **overrides})


def _train(samples, folder, config, *, resume=False, name="core.flow_matching", seed=7):
    # The seed is set before the network is built, as kiss_core.pipeline.train_run does.
    torch.manual_seed(seed)
    generator = TabularFlowMatching(TabularFlowMatching.Config(hidden=16, layers=2))
    tensors = generator.prepare(samples)
    summary = train(generator, tensors, config, checkpoints=folder, generator_name=name, seed=seed, resume=resume)
    return generator, summary


def test_training_lowers_the_loss(samples, tmp_path):
    _, summary = _train(samples, tmp_path, _config())
    losses = [entry["train_loss"] for entry in summary["history"]]
    assert losses[-1] < losses[0]
    assert summary["epochs_done"] == 4


def test_resume_continues_exactly(samples, tmp_path):
    straight, _ = _train(samples, tmp_path / "straight", _config())

    # A zero time budget stops after the first epoch, like a run killed after its first checkpoint.
    _, partial = _train(samples, tmp_path / "interrupted", _config(max_minutes=0.0))
    assert partial["epochs_done"] == 1
    resumed, summary = _train(samples, tmp_path / "interrupted", _config(), resume=True)

    assert summary["epochs_done"] == 4
    for name, value in straight.network.state_dict().items():
        assert torch.equal(value, resumed.network.state_dict()[name]), name


def test_resume_rejects_checkpoint_of_another_generator(samples, tmp_path):
    _train(samples, tmp_path, _config(1))
    with pytest.raises(KissError) as error:
        _train(samples, tmp_path, _config(2), resume=True, name="other.model")
    assert "another model" in str(error.value)


def _registry():
    plugin = SimpleNamespace(kiss_generators=hookimpl(lambda: [
        Spec("flow_matching", "flow", "kiss_core.models.flow_matching:TabularFlowMatching")]))
    return Registry.from_plugins({"core": plugin}, strict=False)


def test_load_generator_restores_ema_weights(samples, tmp_path):
    _train(samples, tmp_path, _config(2))
    generator, name = load_generator(tmp_path, _registry())
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert name == "core.flow_matching"
    for key, value in generator.network.state_dict().items():
        assert torch.equal(value, saved["weights"][key])


def test_load_generator_rejects_mismatched_weights(samples, tmp_path):
    _train(samples, tmp_path, _config(1))
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    state["weights"] = {key: value[..., :1] for key, value in state["weights"].items()}
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(KissError) as error:
        load_generator(tmp_path, _registry())
    assert "do not fit" in str(error.value)


def test_load_generator_rejects_corrupt_file(samples, tmp_path):
    _train(samples, tmp_path, _config(1))
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(KissError) as error:
        load_generator(tmp_path, _registry())
    assert "Cannot read checkpoint" in str(error.value)


def test_resume_without_checkpoint_starts_over(samples, tmp_path):
    straight, _ = _train(samples, tmp_path / "straight", _config(2))
    resumed, summary = _train(samples, tmp_path / "empty", _config(2), resume=True)
    assert summary["epochs_done"] == 2
    for name, value in straight.network.state_dict().items():
        assert torch.equal(value, resumed.network.state_dict()[name]), name


def test_ema_warm_up_follows_short_training(samples, tmp_path):
    # With a fixed decay of 0.999 the average of about 20 steps would still be 98 % initial
    # weights. With the warm-up, the saved weights lie closer to the trained than to the initial ones.
    torch.manual_seed(7)
    untrained = TabularFlowMatching(TabularFlowMatching.Config(hidden=16, layers=2))
    untrained.prepare(samples)
    initial = untrained.network.state_dict()
    generator, _ = _train(samples, tmp_path, _config(2, ema_decay=0.999))
    saved = torch.load(tmp_path / "model.pt", weights_only=True)["weights"]
    live = generator.network.state_dict()
    for name, value in saved.items():
        assert (value - live[name]).norm() < (value - initial[name]).norm(), name


def test_train_config_names_invalid_option():
    with pytest.raises(ValueError) as error:
        TrainConfig(learning_rate=-1.0, epochs=0)
    assert "learning_rate = -1.0" in str(error.value)
    assert "epochs = 0" in str(error.value)
