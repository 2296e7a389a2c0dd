"""The `kiss bench` commands: list, run (calibrated suite) and amplify (amplification study)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from kiss_core.cli import report_user_errors
from kiss_core.errors import KissError

__all__ = ["bench"]

logger = logging.getLogger(__name__)


def _names(value: str, option: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise KissError("Empty name list", where=option, expected="comma-separated names", got=repr(value))
    return names


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise KissError(
            "CUDA not available",
            where="--device",
            expected="a visible CUDA device",
            got="none",
            hint="use --device cpu",
        )
    return choice


def _sampler_options(values: tuple[str, ...]) -> dict[str, dict]:
    options: dict[str, dict] = {}
    for value in values:
        key, sep, literal = value.partition("=")
        sampler, dot, option = key.partition(".")
        if not (sep and dot and sampler and option):
            raise KissError(
                "Invalid sampler option",
                where=f"--sampler-option {value}",
                expected="SAMPLER.OPTION=VALUE, for example hmc.n_chains=20",
                got=repr(value),
            )
        try:
            parsed = json.loads(literal)
        except json.JSONDecodeError:
            parsed = literal
        options.setdefault(sampler, {})[option] = parsed
    return options


def _progress(context: click.Context) -> bool:
    import sys

    verbosity = context.obj.get("verbosity", 0) if context.obj else 0
    return verbosity > 0 or (verbosity >= 0 and sys.stderr.isatty())


@click.group()
def bench() -> None:
    """Benchmark samplers and generators against targets with known distributions."""


@bench.command("list")
def list_components() -> None:
    """List the targets, samplers and metrics by name."""
    from kiss_bench.metrics import METRICS
    from kiss_bench.samplers import sampler_names
    from kiss_bench.targets import target_names

    click.echo("targets:  " + ", ".join(target_names()))
    click.echo("samplers: " + ", ".join(sampler_names()))
    click.echo("metrics:")
    for metric in METRICS.values():
        weights = "weighted ok" if metric.supports_weights else "unweighted only"
        click.echo(f"  {metric.name:<20} {metric.kind:<11} {weights:<16} {metric.summary}")


@bench.command()
@click.option("--targets", required=True, help="Comma-separated target names (see 'kiss bench list').")
@click.option(
    "--samplers",
    required=True,
    help="Comma-separated sampler names; 'file:PATH' reads samples from a CSV, HDF5 or netCDF file. "
    "IID sampling always runs as the baseline.",
)
@click.option("--metrics", default="all", show_default=True, help="Comma-separated metric names, or 'all'.")
@click.option(
    "--repetitions",
    "-R",
    type=int,
    default=100,
    show_default=True,
    help="Comparisons per target and sampler, each with fresh samples.",
)
@click.option("--n-points", type=int, default=1000, show_default=True, help="Points per sample.")
@click.option(
    "--sampler-option",
    "sampler_option",
    multiple=True,
    help="SAMPLER.OPTION=VALUE passed to a sampler, for example hmc.leapfrog_steps=32; repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder; rerunning the same command there continues an interrupted suite.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random step.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where sampling and metrics run; auto picks CUDA when present.",
)
@click.option(
    "--classifier",
    type=click.Choice(["boosted_trees", "mlp"]),
    default="boosted_trees",
    show_default=True,
    help="Model of the classifier metrics: scikit-learn boosted trees (CPU) or a torch network (on --device).",
)
@click.pass_context
@report_user_errors
def run(context, targets, samplers, metrics, repetitions, n_points, sampler_option, out, seed, device,
        classifier) -> None:
    """Run a calibrated suite: targets x samplers x metrics, R repetitions each, against IID sampling."""
    from kiss_bench.metrics import metric_names
    from kiss_bench.protocol import RAW_FILE, SuiteConfig, run_suite
    from kiss_bench.report import write_report
    from kiss_bench.summary import summarise, write_summary

    metric_list = tuple(metric_names()) if metrics.strip() == "all" else _names(metrics, "--metrics")
    config = SuiteConfig(
        targets=_names(targets, "--targets"),
        samplers=_names(samplers, "--samplers"),
        metrics=metric_list,
        repetitions=repetitions,
        n_points=n_points,
        seed=seed,
        sampler_options=_sampler_options(sampler_option),
        classifier=classifier,
    )
    device = _device(device)
    started = time.perf_counter()
    try:
        records = run_suite(config, out, device=device, progress=_progress(context))
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted. Finished comparisons are kept in {out / RAW_FILE}; rerun the same command to continue.",
            err=True,
        )
        context.exit(130)
    rows = summarise(records, n_points)
    csv_path, json_path = write_summary(rows, out)
    page = write_report(rows, out)
    flagged = sum(1 for row in rows if row["sampler"] != "iid" and abs(row["z"]) > 3)
    click.echo(f"{len(records)} comparisons on {device} in {time.perf_counter() - started:.1f} s")
    click.echo(f"{flagged} of {sum(1 for row in rows if row['sampler'] != 'iid')} sampler statistics have |z| > 3")
    click.echo(f"wrote {csv_path}, {json_path} and {page}")


@bench.command()
@click.option("--target", required=True, help="Target name (see 'kiss bench list').")
@click.option("--n-train", type=int, default=1000, show_default=True, help="Exact samples the generator trains on.")
@click.option(
    "--sizes",
    default="1000,10000,100000",
    show_default=True,
    help="Comma-separated numbers of generated (and true) samples to evaluate.",
)
@click.option("--quantiles", type=int, default=20, show_default=True, help="Equal-probability bins per dimension.")
@click.option("--repetitions", type=int, default=5, show_default=True, help="Draws per sample size.")
@click.option("--n-truth", type=int, default=1_000_000, show_default=True, help="Exact samples that fix the bin edges.")
@click.option("--training-steps", type=int, default=3000, show_default=True, help="Optimiser steps of the generator.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace the results of an earlier study in --out.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random step.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where training and sampling run; auto picks CUDA when present.",
)
@click.pass_context
@report_user_errors
def amplify(
    context, target, n_train, sizes, quantiles, repetitions, n_truth, training_steps, out, overwrite, seed, device
) -> None:
    """Measure how many true samples the generated samples are worth (GANplification study)."""
    from kiss_bench.amplification import amplification_study, write_amplification
    from kiss_bench.targets import make_target

    try:
        generated_sizes = tuple(int(float(size)) for size in _names(sizes, "--sizes"))
    except ValueError:
        raise KissError(
            "Invalid sample sizes", where="--sizes", expected="comma-separated integers", got=sizes
        ) from None
    if (out / "amplification.json").exists() and not overwrite:
        raise KissError("Output folder already contains a study", where=str(out),
                        hint="pass --overwrite to replace it, or choose another --out")
    started = time.perf_counter()
    rows = amplification_study(
        make_target(target),
        n_train=n_train,
        generated_sizes=generated_sizes,
        n_quantiles=quantiles,
        repetitions=repetitions,
        n_truth=n_truth,
        training_steps=training_steps,
        seed=seed,
        device=_device(device),
        progress=_progress(context),
    )
    paths = write_amplification(rows, out, quantiles)
    for row in rows:
        if row["kind"] == "generated":
            click.echo(
                f"N = {row['n_samples']:>8}: MSE {row['mse']:.3g}, worth {row['n_equivalent']:.0f} true samples, "
                f"amplification {row['amplification']:.2f}"
            )
    click.echo(f"done in {time.perf_counter() - started:.1f} s; wrote " + ", ".join(map(str, paths)))
