"""The five verbs as library functions: simulate, train, generate, evaluate, and the demo chaining them.

The CLI calls these; they validate all input before long work starts, log what they do and
return a summary of what was written where.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kiss_core.config import build_config
from kiss_core.errors import KissError
from kiss_core.registry import Registry
from kiss_core.runs import RunDirectory
from kiss_core.specs import load_factory

__all__ = ["DemoRecipe", "evaluate_files", "generate", "resolve_device", "run_demo", "simulate", "train_run"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoRecipe:
    """Recipe of ``kiss demo NAME``: a quick default and a ``--full`` variant.

    Arguments:
        dataset: Registered dataset that simulates the training and reference data.
        generator: Registered generator to train.
        train_events: Events simulated for training.
        reference_events: Events simulated, independently, for the evaluation.
        dataset_options, generator_options, train_options: Config values of each component.
        sampler: Registered sampler name (or the generator's default when empty) and its options.
        metrics: Registered metric names to report.
        evaluator: Optional "module:attribute" of a function with the signature of
            :func:`evaluate_files` (without ``dataset_name``, ``metrics`` and ``dataset_options``)
            for domains whose evaluation protocol is more than a list of metrics; empty uses
            :func:`evaluate_files`.
        full: Overrides for ``--full`` of train_events, reference_events, dataset_options,
            generator_options, train_options, sampler and sampler_options.
        expected_quality: What a user should expect from the quick default, shown at the end.
    """

    dataset: str
    generator: str
    train_events: int
    reference_events: int
    dataset_options: dict[str, Any] = field(default_factory=dict)
    generator_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)
    sampler: str = ""
    sampler_options: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    evaluator: str = ""
    full: dict[str, Any] = field(default_factory=dict)
    expected_quality: str = ""


def resolve_device(device: str):
    """Return the torch device for "auto", "cpu" or "cuda" ("auto" picks CUDA when present)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise KissError("CUDA requested but not available", where="--device", expected="auto or cpu", got="cuda")
    if device not in ("cpu", "cuda"):
        raise KissError("Invalid device", where="--device", expected="auto, cpu or cuda", got=device)
    return torch.device(device)


def make_dataset(registry: Registry, name: str, options: dict[str, Any] | None = None, *, where: str = "[dataset]"):
    """Instantiate a registered dataset with validated options."""
    dataset_class = registry.load("dataset", name)
    return dataset_class(build_config(dataset_class.Config, options, where=where))


def simulate(
    registry: Registry,
    dataset_name: str,
    n_events: int,
    out: Path,
    *,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Produce ``n_events`` reference events with a dataset and write them in its file layout."""
    if n_events < 1:
        raise KissError("Invalid number of events", where="--events", expected="at least 1", got=str(n_events))
    _reject_existing_output(out, overwrite)
    dataset = make_dataset(registry, dataset_name, options)
    start = time.monotonic()
    samples = dataset.load(n_events, seed=seed, progress=progress)
    dataset.write(samples, out)
    seconds = time.monotonic() - start
    logger.info("Wrote %d events of %s to %s in %.1f s", n_events, dataset_name, out, seconds)
    return {"dataset": dataset_name, "events": n_events, "path": str(out), "seconds": seconds}


def train_run(
    registry: Registry,
    generator_name: str,
    dataset_name: str,
    data: Path,
    run_path: Path,
    *,
    generator_options: dict[str, Any] | None = None,
    dataset_options: dict[str, Any] | None = None,
    train_options: dict[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a generator on a data file and record everything in a run directory."""
    import torch

    from kiss_core.training import TrainConfig, train

    run = RunDirectory(run_path)
    if resume:
        record = _read_run(run_path, "kiss train --resume")
        generator_name, dataset_name = record["generator"], record["dataset"]
        data = Path(record["data"])
        generator_options, dataset_options = record["generator_options"], record["dataset_options"]
        train_options, seed = record["train_options"], record["seed"]

    generator_registration = registry.get("generator", generator_name)
    generator_class = generator_registration.load()
    generator_config = build_config(generator_class.Config, generator_options, where="[generator]")
    train_config = build_config(TrainConfig, train_options, where="[train]")
    dataset = make_dataset(registry, dataset_name, dataset_options)
    torch_device = resolve_device(device)
    if not resume:
        run.check_output(overwrite, keep=Path(data))
    samples = dataset.read(data)
    # Generators build their networks in __init__ or in prepare(), so the seed is set before
    # both: the initial weights, and with them the whole training, are then reproducible. The
    # global torch state at this point is not, because imported plugins may draw from it.
    torch.manual_seed(seed)
    generator = generator_class(generator_config)
    tensors = generator.prepare(samples)

    run.start(
        {
            "command": "train",
            "generator": generator_registration.name,
            "dataset": registry.get("dataset", dataset_name).name,
            "data": str(Path(data).resolve()),
            "events": int(samples.sizes["event"]),
            "generator_options": generator.config_dict(),
            "dataset_options": dict(dataset_options or {}),
            "train_options": dict(train_options or {}),
            "seed": seed,
            "device": str(torch_device),
        },
        overwrite=overwrite,
        resume=resume,
    )
    try:
        summary = train(
            generator,
            tensors,
            train_config,
            checkpoints=run.checkpoints,
            generator_name=generator_registration.name,
            seed=seed,
            device=torch_device,
            resume=resume,
            progress=progress,
        )
    except KeyboardInterrupt:
        run.update(status="interrupted")
        logger.warning("Training stopped; continue it with: kiss train --resume --out %s", run.path)
        raise
    except Exception as error:
        run.update(status="failed", error=f"{type(error).__name__}: {error}")
        raise
    run.finish(training={k: v for k, v in summary.items() if k != "history"}, history=summary["history"])
    return {"run": str(run.path), **{k: v for k, v in summary.items() if k != "history"}}


def generate(
    registry: Registry,
    run_path: Path,
    n_events: int,
    out: Path,
    *,
    conditions: Path | None = None,
    sampler: str = "",
    sampler_options: dict[str, Any] | None = None,
    batch_size: int = 1000,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Sample ``n_events`` from a trained run, conditioned on events of a reference file."""
    import torch

    from kiss_core.training import load_generator

    if n_events < 1:
        raise KissError("Invalid number of events", where="--events", expected="at least 1", got=str(n_events))
    _reject_existing_output(out, overwrite)
    record = _read_run(run_path, "kiss generate")
    if record.get("status") != "finished":
        if not (Path(run_path) / "checkpoints" / "model.pt").exists():
            raise KissError("Run has no trained model yet", where=str(run_path), hint="finish 'kiss train' first")
        logger.warning("Run %s is %s; sampling from the model of its last finished epoch", run_path,
                       record.get("status", "unfinished"))
    torch_device = resolve_device(device)
    generator, name = load_generator(Path(run_path) / "checkpoints", registry, device=torch_device)
    dataset = make_dataset(registry, record["dataset"], record.get("dataset_options"))
    chosen_sampler = _make_sampler(registry, sampler, sampler_options or {}) if sampler else None

    source = Path(conditions) if conditions is not None else Path(record["data"])
    condition_pool = generator.conditions(dataset.read(source))
    rng = np.random.default_rng(seed)
    pool_size = condition_pool.sizes["event"]
    indices = rng.choice(pool_size, size=n_events, replace=n_events > pool_size)
    chosen_conditions = condition_pool.isel(event=np.sort(indices))

    start = time.monotonic()
    torch_generator = torch.Generator(device=torch_device).manual_seed(seed)
    samples = generator.sample(
        chosen_conditions,
        sampler=chosen_sampler,
        batch_size=batch_size,
        generator=torch_generator,
        progress=progress,
    )
    seconds = time.monotonic() - start
    dataset.write(samples, out)
    logger.info(
        "Generated %d events with %s in %.2f s (%.0f events/s); wrote %s",
        n_events,
        name,
        seconds,
        n_events / seconds,
        out,
    )
    return {
        "generator": name,
        "events": n_events,
        "path": str(out),
        "seconds": seconds,
        "events_per_second": n_events / seconds,
        "conditions_from": str(source),
    }


def evaluate_files(
    registry: Registry,
    dataset_name: str,
    reference: Path,
    candidate: Path,
    out: Path,
    *,
    metrics: tuple[str, ...] = (),
    dataset_options: dict[str, Any] | None = None,
    seed: int = 0,
    title: str = "",
    run_info: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Compare a candidate file with a reference file and write a report with baselines."""
    from kiss_core.evaluation import evaluate
    from kiss_core.report import write_report

    dataset = make_dataset(registry, dataset_name, dataset_options)
    names = tuple(metrics) or dataset.default_metrics
    if not names:
        raise KissError("No metrics chosen", where="--metric", hint="name metrics; 'kiss list-plugins' lists them")
    metric_objects = {registry.get("metric", n).name: registry.load("metric", n)() for n in names}
    reference_samples = dataset.read(reference)
    candidate_samples = dataset.read(candidate)

    start = time.monotonic()
    evaluation = evaluate(reference_samples, candidate_samples, metric_objects, seed=seed, progress=progress)
    histograms = dataset.histograms(reference_samples, candidate_samples)
    index = write_report(
        out,
        evaluation,
        histograms,
        title=title or f"{dataset_name}: {Path(candidate).name} vs {Path(reference).name}",
        run_info={"reference": str(reference), "candidate": str(candidate), "seed": seed, **(run_info or {})},
    )
    logger.info("Evaluated %s against %s in %.1f s; report %s", candidate, reference, time.monotonic() - start, index)
    return {"report": str(index), "metrics": evaluation.to_dict()}


def run_demo(
    registry: Registry,
    demo_name: str,
    run_path: Path,
    *,
    full: bool = False,
    overrides: dict[str, dict[str, Any]] | None = None,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Simulate, train, generate and evaluate in one run directory, with timings per step.

    ``overrides`` maps the config tables "dataset", "generator", "train" and "sample" to values
    that replace the recipe's.
    """
    recipe: DemoRecipe = registry.load("demo", demo_name)()
    settings = {
        "train_events": recipe.train_events,
        "reference_events": recipe.reference_events,
        "dataset_options": recipe.dataset_options,
        "generator_options": recipe.generator_options,
        "train_options": recipe.train_options,
        "sampler": recipe.sampler,
        "sampler_options": recipe.sampler_options,
    }
    unknown = sorted(set(recipe.full) - set(settings))
    if unknown:
        raise KissError(f"Demo '{demo_name}' has invalid --full settings", got=", ".join(unknown),
                        expected="keys among " + ", ".join(settings))
    if full:
        settings.update(recipe.full)
    for section, key in (
        ("dataset", "dataset_options"),
        ("generator", "generator_options"),
        ("train", "train_options"),
        ("sample", "sampler_options"),
    ):
        settings[key] = {**settings[key], **(overrides or {}).get(section, {})}

    run_path = Path(run_path)
    data_dir = run_path / "data"
    RunDirectory(run_path).start(
        {"command": "demo", "demo": demo_name, "full": full, "seed": seed}, overwrite=overwrite, resumable=False
    )
    timings: dict[str, float] = {}

    def timed(step: str, function, *args, **kwargs):
        logger.info("Step %s", step)
        start = time.monotonic()
        try:
            result = function(*args, **kwargs)
        except KeyboardInterrupt:
            RunDirectory(run_path).update(status="interrupted", stopped_in=step)
            raise
        except Exception as error:
            RunDirectory(run_path).update(status="failed", stopped_in=step, error=f"{type(error).__name__}: {error}")
            raise
        timings[step] = time.monotonic() - start
        return result

    common = {"options": settings["dataset_options"], "progress": progress}
    timed(
        "simulate training data",
        simulate,
        registry,
        recipe.dataset,
        settings["train_events"],
        data_dir / "train.h5",
        seed=seed,
        **common,
    )
    timed(
        "simulate reference data",
        simulate,
        registry,
        recipe.dataset,
        settings["reference_events"],
        data_dir / "reference.h5",
        seed=seed + 1,
        **common,
    )
    training = timed(
        "train",
        train_run,
        registry,
        recipe.generator,
        recipe.dataset,
        data_dir / "train.h5",
        run_path / "model",
        generator_options=settings["generator_options"],
        dataset_options=settings["dataset_options"],
        train_options=settings["train_options"],
        seed=seed,
        device=device,
        progress=progress,
    )
    generation = timed(
        "generate",
        generate,
        registry,
        run_path / "model",
        settings["reference_events"],
        run_path / "samples" / "generated.h5",
        conditions=data_dir / "reference.h5",
        sampler=settings["sampler"],
        sampler_options=settings["sampler_options"],
        seed=seed,
        device=device,
        progress=progress,
    )
    report_options = {
        "seed": seed,
        "title": f"kiss demo {demo_name}{' --full' if full else ''}",
        "run_info": {
            "expected quality": recipe.expected_quality if not full else "the --full recipe",
            "timings": ", ".join(f"{step} {seconds:.0f} s" for step, seconds in timings.items()),
        },
        "progress": progress,
    }
    files = (data_dir / "reference.h5", run_path / "samples" / "generated.h5", run_path / "report")
    if recipe.evaluator:
        evaluator = load_factory(recipe.evaluator)
        evaluation = timed("evaluate", evaluator, registry, *files, **report_options)
    else:
        evaluation = timed(
            "evaluate",
            evaluate_files,
            registry,
            recipe.dataset,
            *files,
            metrics=recipe.metrics,
            dataset_options=settings["dataset_options"],
            **report_options,
        )
    RunDirectory(run_path).finish(
        timings_seconds=timings, training=training, generation=generation, report=evaluation["report"]
    )
    return {
        "run": str(run_path),
        "report": evaluation["report"],
        "timings_seconds": timings,
        "metrics": evaluation["metrics"],
        "expected_quality": recipe.expected_quality,
        "events_per_second": generation["events_per_second"],
    }


def _make_sampler(registry: Registry, name: str, options: dict[str, Any]):
    """Build a sampler by registered name ("midpoint" or "core.midpoint") with its options."""
    from kiss_core.sampling import make_sampler

    registration = registry.get("sampler", name)
    if registration.plugin == "core":
        return make_sampler(registration.spec.name, **options)  # validates the options by name
    return registration.load()(**options)


def _read_run(run_path: Path, command: str) -> dict[str, Any]:
    """Return the record of a run that trained a model; a demo folder points to its model run."""
    record = RunDirectory(run_path).read()
    if not {"generator", "dataset", "data"} <= set(record):
        demo_hint = f"use {Path(run_path) / 'model'}, the training run inside the demo"
        raise KissError(
            f"Not a training run; '{command}' needs one",
            where=str(run_path),
            expected="a run directory written by 'kiss train' (or a command that trains, such as calo-distill)",
            got=f"a '{record.get('command')}' run",
            hint=demo_hint if record.get("command") == "demo" else None,
        )
    return record


def _reject_existing_output(path: Path, overwrite: bool) -> None:
    if Path(path).exists() and not overwrite:
        raise KissError("Output file already exists", where=str(path), hint="choose another --out or add --overwrite")
