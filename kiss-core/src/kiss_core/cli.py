"""The `kiss` command line: list plugins, simulate, train, generate, evaluate, demo.

Heavy modules (torch, models) are imported inside the commands that need them, so that
`kiss list-plugins` and `kiss --help` stay fast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from kiss_core.errors import KissError
from kiss_core.registry import get_registry
from kiss_core.specs import KINDS

__all__ = ["main", "report_user_errors"]

logger = logging.getLogger("kiss_core.cli")


class _PluginCommandGroup(click.Group):
    """A group that also offers the commands plugins register, importing one only when it runs.

    It turns a :class:`KissError` raised by any command into one message and exit status 2,
    and Ctrl-C into exit status 130.
    """

    def list_commands(self, context: click.Context) -> list[str]:
        plugin_commands = [r.spec.name for r in get_registry().registrations if r.kind == "command"]
        return sorted(set(super().list_commands(context)) | set(plugin_commands))

    def invoke(self, context: click.Context):
        try:
            return super().invoke(context)
        except KissError as error:
            _exit_with_message(context, error)
        except KeyboardInterrupt:
            click.echo("Interrupted. Files that were finished are kept; none is left half-written.", err=True)
            context.exit(130)

    def get_command(self, context: click.Context, name: str) -> click.Command | None:
        command = super().get_command(context, name)
        if command is not None:
            return command
        for registration in get_registry().registrations:
            if registration.kind == "command" and registration.spec.name == name:
                return registration.load()
        return None


def _exit_with_message(context: click.Context, error: KissError) -> None:
    if context.obj and context.obj.get("verbosity", 0) > 0:
        logger.error("Details", exc_info=error)
    click.echo(f"Error: {error.message()}", err=True)
    context.exit(2)


def report_user_errors(function):
    """Print a :class:`KissError` as one message and exit with status 2; a traceback only with -v.

    The ``kiss`` group already does this for every command, plugin commands included. The
    decorator is for plugin commands and groups that also run on their own (in tests, say).
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except KissError as error:
            _exit_with_message(click.get_current_context(), error)

    return wrapper


def _common_options(function):
    """Add --seed, --device, --config and --overwrite."""
    options = [
        click.option("--seed", type=int, default=None, help="Seed of every random step (default 0)."),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda"]),
            default="auto",
            show_default=True,
            help="Where torch runs; auto picks CUDA when present.",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="TOML file with [dataset], [generator], [train] and [sample] tables.",
        ),
        click.option("--overwrite", is_flag=True, help="Replace an existing output instead of stopping with an error."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


CONFIG_SECTIONS = ("dataset", "generator", "train", "sample")


def _config_section(config_path: Path | None, section: str) -> dict[str, Any]:
    if config_path is None:
        return {}
    from kiss_core.config import read_toml

    content = read_toml(config_path)
    unknown = sorted(set(content) - set(CONFIG_SECTIONS))
    if unknown:
        raise KissError(
            f"Unknown config table(s) {', '.join(unknown)}",
            where=str(config_path),
            expected="tables " + ", ".join(f"[{name}]" for name in CONFIG_SECTIONS),
        )
    value = content.get(section, {})
    if not isinstance(value, dict):
        raise KissError(
            "Invalid config section", where=f"{config_path} [{section}]", expected="a table", got=repr(value)
        )
    return value


def _progress(context: click.Context) -> bool:
    return context.obj["verbosity"] >= 0 and sys.stderr.isatty() or context.obj["verbosity"] > 0


def _summarise(lines: dict[str, Any]) -> None:
    for key, value in lines.items():
        click.echo(f"{key + ':':<22} {value}")


@click.group(cls=_PluginCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output; -v also shows tracebacks.")
@click.option("-q", "--quiet", count=True, help="Only warnings and errors.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    envvar="KISS_THREADS",
    default=None,
    help="CPU threads of torch and numpy (default: all cores). Use 1 on cores that other jobs keep busy.",
)
@click.version_option(package_name="kiss-core", prog_name="kiss")
@click.pass_context
def main(context: click.Context, verbose: int, quiet: int, threads: int | None) -> None:
    """KISS: train fast generative surrogates of slow simulations and prove they stand in."""
    if threads is not None:
        # Set before torch or numpy starts its thread pools, which read these at first use;
        # worker processes inherit them.
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[variable] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    verbosity = verbose - quiet
    level = logging.INFO
    if verbosity < 0:
        level = logging.WARNING
    elif verbosity > 0:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    context.ensure_object(dict)
    context.obj["verbosity"] = verbosity


@main.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only components of this kind.")
@click.pass_context
def list_plugins(context: click.Context, as_json: bool, kind: str | None) -> None:
    """List every registered component and every plugin that failed to load."""
    registry = get_registry()
    rows = [
        {
            "name": r.name,
            "kind": r.kind,
            "summary": r.spec.summary,
            "package": r.package,
            "version": r.version,
            "status": "ok",
        }
        for r in registry.registrations
        if kind in (None, r.kind)
    ]
    failures = [
        {
            "name": f.plugin,
            "kind": "plugin",
            "summary": f.error,
            "package": f.package,
            "version": "",
            "status": "failed",
        }
        for f in registry.failures
    ]
    if as_json:
        click.echo(json.dumps(rows + failures, indent=2))
        return
    table = rows + failures
    columns = ("kind", "name", "status", "package", "version")
    widths = {column: max([len(column), *(len(str(row[column])) for row in table)]) for column in columns}
    click.echo("  ".join(column.upper().ljust(widths[column]) for column in columns) + "  SUMMARY")
    for row in table:
        click.echo("  ".join(str(row[column]).ljust(widths[column]) for column in columns) + f"  {row['summary']}")


@main.command()
@click.argument("dataset")
@click.option("--events", "-n", type=int, required=True, help="Number of events to produce.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file, in the dataset's own layout.",
)
@_common_options
@click.pass_context
def simulate(context, dataset, events, out, seed, device, config_path, overwrite) -> None:
    """Produce reference events with a classical simulator (or read them) and write them to OUT."""
    from kiss_core import pipeline

    if device == "cuda":
        pipeline.resolve_device(device)
    summary = pipeline.simulate(
        get_registry(),
        dataset,
        events,
        out,
        options=_config_section(config_path, "dataset"),
        seed=seed or 0,
        overwrite=overwrite,
        progress=_progress(context),
    )
    _summarise({"wrote": summary["path"], "events": summary["events"], "seconds": f"{summary['seconds']:.1f}"})


@main.command()
@click.argument("generator", required=False)
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), help="Training data file.")
@click.option("--dataset", help="Registered dataset whose file layout DATA has.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run directory.")
@click.option("--epochs", type=int, default=None, help="Override [train] epochs.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@_common_options
@click.pass_context
def train(context, generator, data, dataset, out, epochs, resume, seed, device, config_path, overwrite) -> None:
    """Train GENERATOR on a data file; checkpoints go to OUT/checkpoints after every epoch.

    With --resume, GENERATOR, --data, --dataset, the config and the seed come from OUT/run.json,
    because changing them would make the continued run differ from an uninterrupted one.
    """
    from kiss_core import pipeline

    given = {"GENERATOR": generator, "--data": data, "--dataset": dataset, "--config": config_path,
             "--epochs": epochs, "--seed": seed, "--overwrite": overwrite or None}
    conflicting = [name for name, value in given.items() if value is not None]
    if resume and conflicting:
        raise KissError(
            "Options given with --resume",
            where=", ".join(conflicting),
            expected="only --out (and --device) with --resume",
            hint="a resumed run keeps the settings in its run.json; start a new run to change them",
        )
    if not resume and (generator is None or data is None or dataset is None):
        raise KissError(
            "Missing what to train",
            where="GENERATOR --data FILE --dataset NAME",
            expected="a generator name, a data file and the registered dataset name of its layout",
            hint="or add --resume to continue the run in --out",
        )
    train_options = _config_section(config_path, "train")
    if epochs is not None:
        train_options["epochs"] = epochs
    summary = pipeline.train_run(
        get_registry(),
        generator,
        dataset,
        data,
        out,
        generator_options=_config_section(config_path, "generator"),
        dataset_options=_config_section(config_path, "dataset"),
        train_options=train_options,
        seed=seed or 0,
        device=device,
        resume=resume,
        overwrite=overwrite,
        progress=_progress(context),
    )
    _summarise(
        {
            "run": summary["run"],
            "epochs": summary["epochs_done"],
            "seconds": f"{summary['seconds']:.1f}",
            "model": f"{summary['run']}/checkpoints/model.pt",
        }
    )


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--events", "-n", type=int, required=True, help="Number of events to generate.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output file.")
@click.option(
    "--conditions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File whose events give the conditions (default: the training data).",
)
@click.option("--solver", default="", help="Sampler name (default: the generator's own).")
@click.option("--steps", type=int, default=None, help="Steps of a fixed-step solver.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Events per model call.")
@_common_options
@click.pass_context
def generate(
    context, run, events, out, conditions, solver, steps, batch_size, seed, device, config_path, overwrite
) -> None:
    """Generate events from the trained model in RUN."""
    from kiss_core import pipeline

    sampler_options = _config_section(config_path, "sample")
    if steps is not None:
        sampler_options["steps"] = steps
    if sampler_options and not solver:
        raise KissError("Sampler options given without a sampler", where="--steps/[sample]", hint="add --solver NAME")
    summary = pipeline.generate(
        get_registry(),
        run,
        events,
        out,
        conditions=conditions,
        sampler=solver,
        sampler_options=sampler_options,
        batch_size=batch_size,
        seed=seed or 0,
        device=device,
        overwrite=overwrite,
        progress=_progress(context),
    )
    _summarise(
        {
            "wrote": summary["path"],
            "events": summary["events"],
            "seconds": f"{summary['seconds']:.2f}",
            "events per second": f"{summary['events_per_second']:.0f}",
        }
    )


@main.command()
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("candidate", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="Registered dataset whose file layout both files have.")
@click.option("--metric", "metrics", multiple=True, help="Metric name; repeat for several (default: the dataset's).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True, help="Report folder.")
@_common_options
@click.pass_context
def evaluate(context, reference, candidate, dataset, metrics, out, seed, device, config_path, overwrite) -> None:
    """Compare CANDIDATE with REFERENCE; every metric is shown beside its reference-vs-reference baseline."""
    from kiss_core import pipeline

    if device == "cuda":
        pipeline.resolve_device(device)
    _check_report_folder(out, overwrite)
    # The report is written beside the output folder and moved into place only when it is
    # complete, so a failing evaluation leaves a previous report untouched.
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        summary = pipeline.evaluate_files(
            get_registry(),
            dataset,
            reference,
            candidate,
            partial,
            metrics=metrics,
            dataset_options=_config_section(config_path, "dataset"),
            seed=seed or 0,
            progress=_progress(context),
        )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    _print_metrics(summary["metrics"])
    _summarise({"report": str(out / "index.html")})


@main.command()
@click.argument("name")
@click.option("--full", is_flag=True, help="Train properly (longer); the default is a quick run.")
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory (default: runs/demo-NAME).",
)
@_common_options
@click.pass_context
def demo(context, name, full, out, seed, device, config_path, overwrite) -> None:
    """Run simulate -> train -> generate -> evaluate for a domain (jets, calo, ...).

    Tables of --config override the demo's settings ([train] max_minutes = 30 caps the training).
    """
    from kiss_core import pipeline

    registry = get_registry()
    registry.get("demo", name)
    out = out or Path("runs") / f"demo-{name}{'-full' if full else ''}"
    overrides = {section: _config_section(config_path, section) for section in CONFIG_SECTIONS}
    start = time.monotonic()
    summary = pipeline.run_demo(
        registry,
        name,
        out,
        full=full,
        overrides=overrides,
        seed=seed or 0,
        device=device,
        overwrite=overwrite,
        progress=_progress(context),
    )
    _print_metrics(summary["metrics"])
    _summarise(
        {
            "run": summary["run"],
            "report": summary["report"],
            "minutes": f"{(time.monotonic() - start) / 60:.1f}",
            **{f"  {step}": f"{seconds:.1f} s" for step, seconds in summary["timings_seconds"].items()},
            "generation": f"{summary['events_per_second']:.0f} events/s",
        }
    )
    if summary["expected_quality"] and not full:
        click.echo(f"\nExpected quality: {summary['expected_quality']}")


def _check_report_folder(out: Path, overwrite: bool) -> None:
    """Raise unless ``out`` is new, empty, or a previous report that ``overwrite`` may replace."""
    from kiss_core.runs import contains_working_directory

    if not out.exists() or not any(out.iterdir()):
        return
    is_report = (out / "metrics.json").is_file() and not contains_working_directory(out)
    if not (overwrite and is_report):
        raise KissError(
            "Output folder is not empty",
            where=str(out),
            expected="a new or empty folder" + (", or --overwrite to replace this report" if is_report else ""),
            got="a previous report" if is_report else "files that are not a KISS report (or the working folder)",
        )


def _print_metrics(metrics: dict[str, Any]) -> None:
    click.echo(f"{'metric':<32} {'candidate':>24}   {'baseline (reference vs reference)':>34}")
    for row in metrics["rows"]:
        candidate = _with_uncertainty(row["value"], row["uncertainty"])
        baseline = _with_uncertainty(row["baseline_value"], row["baseline_uncertainty"])
        label = row["label"] if row["label"] in row["metric"] else f"{row['metric']}: {row['label']}"
        click.echo(f"{label:<32} {candidate:>24}   {baseline:>34}")
    click.echo(f"({metrics['n_events']} events per sample in every comparison)")


def _with_uncertainty(value: float | None, uncertainty: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g} ± {uncertainty:.2g}" if uncertainty is not None else f"{value:.4g}"
