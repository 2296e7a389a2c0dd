"""Consistency distillation of a trained CaloClouds II run into a one-step run that ``kiss generate`` samples."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from kiss_core.errors import KissError
from kiss_core.runs import RunDirectory

__all__ = ["distill_run"]

logger = logging.getLogger(__name__)

GENERATOR_NAME = "calo.caloclouds2"


def _check_teacher(record: dict[str, Any], teacher_run: Path) -> None:
    if record.get("generator") != GENERATOR_NAME:
        raise KissError("Teacher run is not a CaloClouds II run", where=str(teacher_run / "run.json"),
                        expected=f"generator {GENERATOR_NAME}", got=f"generator {record.get('generator')}",
                        hint="train the teacher with 'kiss train caloclouds2 --dataset gflash_point_clouds ...'")
    stage = record.get("generator_options", {}).get("stage", "diffusion")
    if stage != "diffusion":
        raise KissError("Teacher run is not a diffusion model", where=str(teacher_run / "run.json"),
                        expected="stage 'diffusion'", got=f"stage {stage!r}",
                        hint="distill from the diffusion run, not from a distilled one")
    if record.get("status") != "finished" and not (teacher_run / "checkpoints" / "model.pt").is_file():
        raise KissError("Teacher run has no trained model yet", where=str(teacher_run),
                        hint="finish 'kiss train' of the teacher first")


def distill_run(
    registry,
    teacher_run: str | Path,
    out: str | Path,
    *,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Distill the diffusion model of a CaloClouds II run into a consistency model in a new run.

    The student starts as a copy of the teacher (:meth:`CaloClouds2.distill_from`) and is
    trained with the core trainer on the teacher's training data and trainer options, with
    ``epochs`` replacing the teacher's number of epochs when given. The student run has the
    usual layout (``run.json``, ``checkpoints/``), and ``kiss generate`` samples it with the
    one-step "consistency" sampler, its default.

    Arguments:
        registry: The plugin registry.
        teacher_run: Run directory of a finished ``calo.caloclouds2`` training (stage "diffusion").
        out: Run directory of the student.
        epochs: Passes over the training data; ``None`` uses the teacher's.
        seed: Seed of the distillation.
        device: "auto", "cpu" or "cuda".
        overwrite: Replace an existing run in ``out``.
        progress: Show a progress bar.

    Returns:
        A summary: the run path, epochs done, seconds and whether training stopped early.

    Example:
        >>> distill_run(get_registry(), Path("runs/teacher"), Path("runs/student"), epochs=20)
    """
    import torch

    from kiss_calo.models.caloclouds import CaloClouds2
    from kiss_core.config import build_config
    from kiss_core.pipeline import make_dataset, resolve_device
    from kiss_core.training import TrainConfig, load_generator, train

    teacher_run, out = Path(teacher_run), Path(out)
    if teacher_run.resolve() == out.resolve():
        raise KissError("Student run would replace its teacher", where=str(out), hint="choose another --out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise KissError("Output folder is not empty", where=str(out), hint="choose another --out or add --overwrite")
    record = RunDirectory(teacher_run).read()
    _check_teacher(record, teacher_run)
    if epochs is not None and epochs < 1:
        raise KissError("Invalid number of epochs", where="--epochs", expected="at least 1", got=str(epochs))
    train_options = dict(record.get("train_options") or {})
    if epochs is not None:
        train_options["epochs"] = epochs
    train_config = build_config(TrainConfig, train_options, where="[train]")
    torch_device = resolve_device(device)

    teacher, _ = load_generator(teacher_run / "checkpoints", registry, device=torch_device)
    student = CaloClouds2.distill_from(teacher)
    dataset = make_dataset(registry, record["dataset"], record.get("dataset_options"))
    samples = dataset.read(Path(record["data"]))
    teacher_scales = student.scales
    tensors = student.prepare(samples)
    _check_same_normalisation(teacher_scales, student.scales, record["data"])

    run = RunDirectory(out)
    run.start({
        "command": "calo-distill",
        "generator": GENERATOR_NAME,
        "dataset": record["dataset"],
        "data": record["data"],
        "events": int(samples.sizes["event"]),
        "teacher": str(teacher_run.resolve()),
        "generator_options": student.config_dict(),
        "dataset_options": dict(record.get("dataset_options") or {}),
        "train_options": train_options,
        "seed": seed,
        "device": str(torch_device),
    }, overwrite=overwrite)
    logger.info("Distilling %s into a one-step consistency model in %s", teacher_run, out)
    torch.manual_seed(seed)
    started = time.monotonic()
    summary = train(student, tensors, train_config, checkpoints=run.checkpoints, generator_name=GENERATOR_NAME,
                    seed=seed, device=torch_device, progress=progress)
    result = {key: value for key, value in summary.items() if key != "history"}
    run.finish(training=result, history=summary["history"])
    logger.info("Distillation finished in %.1f s; sample with 'kiss generate %s'", time.monotonic() - started, out)
    return {"run": str(out), **result}


def _check_same_normalisation(teacher: dict[str, Any], student: dict[str, Any], data: str) -> None:
    """Raise KissError if the training data no longer give the teacher's normalisation."""
    for key, value in teacher.items():
        if not np.allclose(np.asarray(value, dtype=float), np.asarray(student[key], dtype=float), rtol=1e-6):
            raise KissError("Training data changed since the teacher was trained", where=data,
                            expected=f"the teacher's normalisation ({key})",
                            hint="distill on the file the teacher was trained on")
