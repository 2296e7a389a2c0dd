"""The trainer shared by every generator: batching, AdamW, EMA weights, checkpoints, resuming."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from kiss_core.errors import KissError
from kiss_core.io.files import atomic_path, read_json, write_json

if TYPE_CHECKING:
    from kiss_core.interfaces import Generator
    from kiss_core.registry import Registry

__all__ = ["TrainConfig", "load_generator", "save_generator", "train"]

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TrainConfig:
    """Options of the shared trainer.

    Arguments:
        epochs: Passes over the training set.
        batch_size: Events per optimiser step.
        learning_rate: Peak AdamW learning rate, decayed to zero with a cosine schedule.
        weight_decay: AdamW weight decay.
        ema_decay: Decay of the exponential moving average of the weights that is saved and
            sampled from; 0 disables averaging. The decay used at step n is
            min(ema_decay, (1 + n) / (10 + n)), so short trainings are not dominated by the
            initial weights.
        gradient_clip: Maximum gradient norm; 0 disables clipping.
        validation_fraction: Fraction of events held out to report a validation loss.
        max_minutes: Stop after the first epoch that ends past this wall time (None: no limit).
    """

    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    ema_decay: float = 0.999
    gradient_clip: float = 1.0
    validation_fraction: float = 0.1
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "weight_decay": self.weight_decay >= 0,
            "ema_decay": 0.0 <= self.ema_decay < 1.0,
            "gradient_clip": self.gradient_clip >= 0,
            "validation_fraction": 0.0 <= self.validation_fraction < 0.5,
            "max_minutes": self.max_minutes is None or self.max_minutes >= 0,
        }
        allowed = {
            "epochs": ">= 1",
            "batch_size": ">= 1",
            "learning_rate": "> 0",
            "weight_decay": ">= 0",
            "ema_decay": "in [0, 1)",
            "gradient_clip": ">= 0",
            "validation_fraction": "in [0, 0.5)",
            "max_minutes": ">= 0",
        }
        invalid = [f"{name} = {getattr(self, name)} (must be {allowed[name]})" for name, ok in checks.items() if not ok]
        if invalid:
            raise ValueError("; ".join(invalid))


def train(
    generator: Generator,
    tensors: dict[str, torch.Tensor],
    config: TrainConfig,
    *,
    checkpoints: Path,
    generator_name: str,
    seed: int,
    device: torch.device | str = "cpu",
    resume: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a prepared generator and keep its checkpoints current.

    Each epoch reseeds torch from (seed, epoch), so a run resumed from the checkpoint of
    epoch k continues exactly as the uninterrupted run would have (same device, same results).
    A checkpoint is written atomically after every epoch; interrupting the process loses at
    most the epoch in progress.

    Arguments:
        generator: A generator whose :meth:`prepare` already returned ``tensors``.
        tensors: Training tensors, events along the first axis.
        config: Trainer options.
        checkpoints: Folder for ``last.pt`` (full state), ``model.pt`` (EMA weights) and ``config.json``.
        generator_name: Registered name of the generator, stored to reject foreign checkpoints.
        seed: Seed of the whole training.
        device: Where the network is trained.
        resume: Continue from ``checkpoints/last.pt``.
        progress: Show a progress bar.

    Returns:
        A summary: epochs done, final training and validation losses, seconds, whether stopped early.
    """
    device = torch.device(device)
    n_events = _check_tensors(tensors)
    train_tensors, validation_tensors = _split(tensors, n_events, config.validation_fraction, seed)
    n_train = next(iter(train_tensors.values())).shape[0]
    steps_per_epoch = math.ceil(n_train / config.batch_size)

    network = generator.network.to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * steps_per_epoch)
    ema = AveragedModel(network, multi_avg_fn=_warmed_up_ema(config.ema_decay)) if config.ema_decay else None

    history: list[dict[str, float]] = []
    first_epoch = 0
    previous_seconds = 0.0
    checkpoints.mkdir(parents=True, exist_ok=True)
    write_json(
        checkpoints / CONFIG_FILE,
        {
            "generator": generator_name,
            "config": generator.config_dict(),
            "train": asdict(config),
        },
    )
    if resume and not (checkpoints / LAST_CHECKPOINT).exists():
        logger.warning("No checkpoint in %s (stopped during the first epoch); training from the start", checkpoints)
    elif resume:
        state = _load_checkpoint(checkpoints / LAST_CHECKPOINT, generator_name)
        try:
            network.load_state_dict(state["network"])
            if ema is not None:
                ema.load_state_dict(state["ema"])
        except RuntimeError as error:
            raise KissError(
                "Checkpoint weights do not fit the model",
                where=str(checkpoints / LAST_CHECKPOINT),
                expected=f"weights of {generator_name} with the config in {CONFIG_FILE}",
                got=" ".join(str(error).split("\n")[:2]),
            ) from None
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = list(state["history"])
        first_epoch = int(state["epoch"])
        previous_seconds = float(state.get("seconds", 0.0))
        logger.info("Resuming training at epoch %d of %d from %s", first_epoch + 1, config.epochs, checkpoints)

    logger.info(
        "Training %s on %d events (%d held out) for %d epochs of %d steps on %s",
        generator_name,
        n_train,
        n_events - n_train,
        config.epochs,
        steps_per_epoch,
        device,
    )
    start = time.monotonic()
    stopped_early = False
    bar = tqdm(total=config.epochs, initial=first_epoch, desc="training", unit="epoch", disable=not progress)
    for epoch in range(first_epoch, config.epochs):
        torch.manual_seed(_epoch_seed(seed, epoch))
        network.train()
        order = torch.randperm(n_train)
        total, count = 0.0, 0
        for batch_indices in order.split(config.batch_size):
            batch = {name: tensor[batch_indices].to(device) for name, tensor in train_tensors.items()}
            loss = generator.loss(batch)
            if not torch.isfinite(loss):
                raise KissError(
                    f"Training loss became {loss.item()} at epoch {epoch + 1}",
                    where="[train] learning_rate",
                    expected="a finite loss",
                    hint="lower learning_rate or check the training data; last.pt holds the previous epoch",
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.gradient_clip:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.gradient_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(network)
            total += loss.item() * len(batch_indices)
            count += len(batch_indices)

        entry = {"epoch": epoch + 1, "train_loss": total / count}
        if validation_tensors:
            entry["validation_loss"] = _validation_loss(
                generator, ema, network, validation_tensors, config, seed, device
            )
        history.append(entry)
        _save_checkpoint(
            checkpoints,
            generator,
            generator_name,
            network,
            ema,
            optimizer,
            scheduler,
            epoch + 1,
            history,
            previous_seconds + time.monotonic() - start,
        )
        bar.update(1)
        bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k != "epoch"})
        # Without a progress bar (output to a file or pipe), one line per epoch shows the progress.
        logger.log(
            logging.DEBUG if progress else logging.INFO,
            "epoch %d/%d: %s",
            epoch + 1,
            config.epochs,
            _format_entry(entry),
        )

        minutes = (time.monotonic() - start) / 60
        if config.max_minutes is not None and minutes > config.max_minutes and epoch + 1 < config.epochs:
            logger.warning(
                "Stopped after epoch %d of %d: the time budget of %.1f min is spent",
                epoch + 1,
                config.epochs,
                config.max_minutes,
            )
            stopped_early = True
            break
    bar.close()
    if validation_tensors and hasattr(generator, "calibrate"):
        _calibrate(generator, network, ema, validation_tensors, checkpoints, generator_name, device)

    seconds = previous_seconds + time.monotonic() - start
    logger.info(
        "Training finished after %d epochs in %.1f s%s",
        len(history),
        seconds,
        ": " + _format_entry(history[-1]) if history else "",
    )
    return {"epochs_done": len(history), "seconds": seconds, "stopped_early": stopped_early, "history": history}


def save_generator(
    generator: Generator, generator_name: str, checkpoints: Path, weights: dict[str, torch.Tensor]
) -> None:
    """Write ``model.pt``: the weights to sample with, the preprocessing state and the generator name."""
    state = {"generator": generator_name, "weights": weights, "extra": generator.extra_state()}
    with atomic_path(checkpoints / MODEL_FILE) as temporary:
        torch.save(state, temporary)


def load_generator(
    checkpoints: Path, registry: Registry, *, device: torch.device | str = "cpu"
) -> tuple[Generator, str]:
    """Rebuild a trained generator from a checkpoint folder.

    Returns:
        The generator with its EMA weights on ``device``, and its registered name.

    Raises:
        KissError: The folder has no model, the file is corrupt, or the weights do not fit the
            generator named in ``config.json`` (a checkpoint from another model).
    """
    from kiss_core.config import build_config

    checkpoints = Path(checkpoints)
    record = read_json(checkpoints / CONFIG_FILE)
    name = record["generator"]
    generator_class = registry.load("generator", name)
    config = build_config(generator_class.Config, record["config"], where=str(checkpoints / CONFIG_FILE))
    generator = generator_class(config)

    state = _read_state(checkpoints / MODEL_FILE)
    if state.get("generator") != name:
        raise KissError(
            "Checkpoint belongs to another model",
            where=str(checkpoints / MODEL_FILE),
            expected=f"weights of {name}",
            got=f"weights of {state.get('generator')}",
        )
    generator.load_extra_state(state["extra"])
    try:
        generator.network.load_state_dict(state["weights"])
    except RuntimeError as error:
        raise KissError(
            "Checkpoint weights do not fit the model",
            where=str(checkpoints / MODEL_FILE),
            expected=f"weights of {name} with the config in {CONFIG_FILE}",
            got=str(error).splitlines()[0],
        ) from None
    generator.network.to(device).eval()
    return generator, name


def _check_tensors(tensors: dict[str, torch.Tensor]) -> int:
    sizes = {name: tensor.shape[0] for name, tensor in tensors.items()}
    if not sizes or len(set(sizes.values())) != 1:
        raise KissError("Training tensors disagree on the number of events", got=str(sizes))
    n_events = next(iter(sizes.values()))
    if n_events < 2:
        raise KissError("Too few training events", expected="at least 2", got=str(n_events))
    return n_events


def _split(tensors, n_events, fraction, seed):
    n_validation = int(n_events * fraction)
    if n_validation == 0:
        return tensors, {}
    order = torch.randperm(n_events, generator=torch.Generator().manual_seed(seed))
    validation, training = order[:n_validation], order[n_validation:]
    return (
        {name: tensor[training] for name, tensor in tensors.items()},
        {name: tensor[validation] for name, tensor in tensors.items()},
    )


def _epoch_seed(seed: int, epoch: int) -> int:
    # A large odd multiplier keeps the seeds of (seed, epoch) pairs distinct for any realistic run.
    return (seed * 1_000_003 + epoch) % (2**63)


@torch.no_grad()
def _validation_loss(generator, ema, network, tensors, config, seed, device) -> float:
    # The loss draws noise and times; a fixed seed makes the validation loss comparable across
    # epochs. The global RNG is saved and restored so that training stays reproducible. The
    # EMA weights are loaded into the network for the evaluation and the live weights restored.
    rng_state = torch.get_rng_state()
    live_weights = copy.deepcopy(network.state_dict())
    torch.manual_seed(seed)
    if ema is not None:
        network.load_state_dict(ema.module.state_dict())
    network.eval()
    try:
        total, count = 0.0, 0
        n = next(iter(tensors.values())).shape[0]
        for start in range(0, n, config.batch_size):
            batch = {name: tensor[start : start + config.batch_size].to(device) for name, tensor in tensors.items()}
            size = next(iter(batch.values())).shape[0]
            total += generator.loss(batch).item() * size
            count += size
    finally:
        network.load_state_dict(live_weights)
        torch.set_rng_state(rng_state)
    return total / count


def _calibrate(generator, network, ema, tensors, checkpoints, name, device) -> None:
    """Let the generator calibrate itself on held-out events with the weights it is saved with."""
    live_weights = copy.deepcopy(network.state_dict())
    averaged = ema.module.state_dict() if ema is not None else live_weights
    network.load_state_dict(averaged)
    network.eval()
    try:
        generator.calibrate({key: tensor.to(device) for key, tensor in tensors.items()})
    finally:
        network.load_state_dict(live_weights)
    save_generator(generator, name, checkpoints, copy.deepcopy(averaged))


def _format_entry(entry: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.4g}" for key, value in entry.items() if key != "epoch")


def _warmed_up_ema(decay: float):
    """Return an EMA update for AveragedModel whose decay grows as min(decay, (1 + n) / (10 + n)).

    The warm-up follows the num_updates option of TensorFlow's ExponentialMovingAverage: with a
    fixed decay of 0.999, the average after 300 steps would still be about 74 % initial weights.
    """

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        step = float(n_averaged)
        weight = 1.0 - min(decay, (1.0 + step) / (10.0 + step))
        for averaged_tensor, current_tensor in zip(averaged, current, strict=True):
            averaged_tensor.lerp_(current_tensor, weight)

    return update


def _save_checkpoint(checkpoints, generator, name, network, ema, optimizer, scheduler, epoch, history, seconds) -> None:
    state = {
        "generator": name,
        "epoch": epoch,
        "seconds": seconds,
        "network": network.state_dict(),
        "ema": ema.state_dict() if ema is not None else {},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": history,
        "extra": generator.extra_state(),
    }
    with atomic_path(checkpoints / LAST_CHECKPOINT) as temporary:
        torch.save(state, temporary)
    averaged = ema.module.state_dict() if ema is not None else network.state_dict()
    save_generator(generator, name, checkpoints, copy.deepcopy(averaged))


def _load_checkpoint(path: Path, name: str) -> dict[str, Any]:
    state = _read_state(path)
    if state.get("generator") != name:
        raise KissError(
            "Checkpoint belongs to another model",
            where=str(path),
            expected=f"a checkpoint of {name}",
            got=f"a checkpoint of {state.get('generator')}",
        )
    return state


def _read_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise KissError("Checkpoint not found", where=str(path), hint="train the model first with 'kiss train'")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise KissError("Cannot read checkpoint", where=str(path), got=f"{type(error).__name__}: {error}") from None
