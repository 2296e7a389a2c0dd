"""The calorimeter commands: ``kiss calo-evaluate``, ``kiss calo-distill`` and ``kiss calo-project``."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import click

from kiss_core.cli import report_user_errors
from kiss_core.errors import KissError

__all__ = ["distill_command", "evaluate_command", "project_command"]

logger = logging.getLogger(__name__)


@click.command("calo-evaluate")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--geometry", "geometry_name", required=True,
              help="Binning of both files: ds1-photons, ds1-pions, ds2, ds3, or FILE.xml[:particle].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for index.html, metrics.json and the PNG plots (created if missing).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the reference split, the subsamples and the classifiers.")
@click.option("--threshold-mev", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Voxel energy in MeV at or below which a voxel counts as empty (sparsity).")
@click.option("--max-showers", type=click.IntRange(min=1), default=None,
              help="Use at most this many showers from the start of each file.")
@click.option("--classifier-memory-mb", type=click.FloatRange(min=1.0), default=512.0, show_default=True,
              help="Memory in MB for the low-level classifier inputs of all samples, which bounds the classifier "
                   "subsample. Training adds a copy of the subsample and the network (about 330 MB for ds3).")
@click.option("--no-low-level-classifier", is_flag=True,
              help="Skip the classifier on voxels (the slowest metric).")
@click.option("--no-unit-check", is_flag=True,
              help="Accept incident energies that all lie below 1000 MeV (otherwise taken for GeV).")
@click.option("--overwrite", is_flag=True, help="Replace the report of an earlier evaluation in --out.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
@report_user_errors
def evaluate_command(reference: Path, candidate: Path, geometry_name: str, out_dir: Path, seed: int,
                     threshold_mev: float, max_showers: int | None, classifier_memory_mb: float,
                     no_low_level_classifier: bool, no_unit_check: bool, overwrite: bool, progress: bool) -> None:
    """Compare CANDIDATE showers with REFERENCE showers (CaloChallenge HDF5 files).

    Computes the separation power of every high-level feature, low- and high-level classifier
    AUC and JSD, FPD and KPD, each beside its reference-versus-reference baseline, and writes
    plots and an HTML report to --out.
    """
    from kiss_calo.evaluation import EvaluationConfig, evaluate_calochallenge
    from kiss_calo.geometry import load_geometry

    started = time.perf_counter()
    if out_dir.exists() and not out_dir.is_dir():
        raise KissError("Output is a file", where=str(out_dir), expected="a folder for the report (created if missing)",
                        hint="choose another --out")
    if (out_dir / "metrics.json").exists() and not overwrite:
        raise KissError("Output folder already contains a report", where=str(out_dir),
                        hint="pass --overwrite to replace it, or choose another --out")
    geometry = load_geometry(geometry_name)
    config = EvaluationConfig(threshold_mev=threshold_mev, max_showers=max_showers, seed=seed,
                              classifier_memory_mb=classifier_memory_mb, check_units=not no_unit_check,
                              low_level_classifier=not no_low_level_classifier)
    click.echo(f"Evaluating {candidate} against {reference} ({geometry.describe()})", err=True)
    result = evaluate_calochallenge(reference, candidate, geometry, out_dir, config, progress=progress)

    click.echo(f"{'metric':<36} {'candidate':>20} {'baseline':>20}")
    for row in result.evaluation.rows:
        click.echo(f"{row.metric + ': ' + row.label:<36} {_value(row.value, row.uncertainty)} "
                   f"{_value(row.baseline_value, row.baseline_uncertainty)}")
    sizes = result.sample_sizes
    click.echo(f"Compared {sizes['candidate']} candidate showers with {sizes['reference_half']} reference showers "
               f"(baseline: {sizes['baseline_half']}; voxel classifier: "
               f"{sizes['classifier'] or 'skipped'}{' per sample' if sizes['classifier'] else ''}).")
    click.echo(f"Wrote {len(result.files)} files to {out_dir} in {time.perf_counter() - started:.1f} s; "
               f"open {out_dir / 'index.html'}.")


def _value(value: float, uncertainty: float) -> str:
    """Format a value with its uncertainty in 20 characters; a value that could not be computed prints as "skipped"."""
    if not math.isfinite(value):
        return f"{'skipped':>20}"
    if not math.isfinite(uncertainty):
        return f"{value:>11.4g}{'':9}"
    return f"{value:>11.4g} ± {uncertainty:<6.2g}"


@click.command("calo-distill")
@click.argument("teacher_run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run directory of the distilled one-step model.")
@click.option("--epochs", type=int, default=None, help="Passes over the training data (default: the teacher's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the distillation.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where torch runs; auto picks CUDA when present.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@report_user_errors
def distill_command(teacher_run: Path, out: Path, epochs: int | None, seed: int, device: str, overwrite: bool,
                    progress: bool) -> None:
    """Distill the CaloClouds II diffusion model in TEACHER_RUN into a one-step consistency model.

    The student is trained on the teacher's training data with the teacher's trainer options.
    Sample it with 'kiss generate OUT ...'; its default sampler is the one-step "consistency" sampler.
    """
    from kiss_calo.distillation import distill_run
    from kiss_core.registry import get_registry

    started = time.perf_counter()
    summary = distill_run(get_registry(), teacher_run, out, epochs=epochs, seed=seed, device=device,
                          overwrite=overwrite, progress=progress)
    click.echo(f"Distilled {teacher_run} into {summary['run']} ({summary['epochs_done']} epochs) in "
               f"{time.perf_counter() - started:.1f} s; model {summary['run']}/checkpoints/model.pt.")
    click.echo(f"Sample it with: kiss generate {summary['run']} --events N --out FILE.h5")


@click.command("calo-project")
@click.argument("points", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--geometry", "geometry_name", required=True,
              help="Target binning: ds1-photons, ds1-pions, ds2, ds3, or FILE.xml[:particle].")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CaloChallenge HDF5 file to write (MeV).")
@click.option("--energy-unit", type=click.Choice(["GeV", "MeV"]), default="GeV", show_default=True,
              help="Unit of the energies in the point-cloud file (CaloClouds files use GeV).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@report_user_errors
def project_command(points: Path, geometry_name: str, out: Path, energy_unit: str, overwrite: bool) -> None:
    """Project the point clouds of POINTS (a CaloClouds HDF5 file) onto a geometry's cells.

    The integer part of y is the layer, and x and z are the transverse positions in mm. The
    result is a CaloChallenge file that 'kiss calo-evaluate' compares with a reference.
    """
    from kiss_calo.geometry import load_geometry
    from kiss_calo.io import project_caloclouds_file

    started = time.perf_counter()
    geometry = load_geometry(geometry_name)
    summary = project_caloclouds_file(points, out, geometry, energy_unit=energy_unit, overwrite=overwrite)
    click.echo(f"Projected {summary['events']} point clouds onto {geometry.describe()}: wrote {out} in "
               f"{time.perf_counter() - started:.1f} s; {100 * summary['dropped_fraction']:.2f} % of the energy "
               "fell outside the grid.")
