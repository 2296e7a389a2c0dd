"""Train CaloClouds II on GFlash point clouds for a bounded time and evaluate it on the CaloChallenge dataset 2 voxels.

The script is the sequence of ``kiss`` commands a user would type. Every command is printed
before it runs, and its wall time after.

1. ``kiss simulate calo.gflash_point_clouds``: training and reference point clouds of electrons
   in the CaloChallenge W/Si stack (45 layers), incident energies uniform in 10 to 90 GeV, the
   CaloClouds II range. The two files have different seeds.
2. ``kiss train calo.caloclouds2``: the shower flow and the per-point diffusion model, with the
   shared trainer, stopped after the first epoch that ends past --train-minutes.
3. ``kiss generate``: one cloud per reference incident energy, with the default sampler
   (13 Heun steps, 25 network evaluations per point).
4. ``kiss calo-distill`` (unless --no-distill): consistency distillation for --distill-epochs
   epochs, then ``kiss generate`` with the one-step sampler. The distillation inherits the
   teacher's trainer options, so --train-minutes bounds it too.
5. ``kiss calo-project --geometry ds2``: reference and generated clouds onto the dataset 2
   voxels (6480 voxels), written as CaloChallenge files.
6. ``kiss calo-evaluate --geometry ds2``: every metric of the candidate beside its
   reference-versus-reference baseline (two halves of the reference), once per model.

At the end it prints one table with the Heun and the one-step candidate and the baseline.
The reference clouds go through the same projection as the generated ones, so the comparison
tests the generator, not the projection.

On a CPU shared with other jobs, pass --threads 1. On 2 cores at a load average of 5, torch's
default of 2 threads made ``kiss generate`` with 13 Heun steps 3.7 times slower than 1 thread
(570 against 153 ms per shower, 100 showers of 10 to 90 GeV).

Usage:
    python benchmarks/caloclouds_fidelity.py --work runs/caloclouds_fidelity [--train-minutes 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

#: The ``kiss`` command of the Python environment that runs this script.
KISS = str(Path(sys.executable).parent / "kiss")


def write_config(path: Path, train_minutes: float, batch_size: int) -> None:
    """Write the TOML file with the dataset, generator and trainer options of every command."""
    path.write_text(
        "# Written by benchmarks/caloclouds_fidelity.py.\n"
        "[dataset]\n"
        'calorimeter = "calochallenge_w_si"\n'
        'particle = "electron"\n'
        "min_energy_mev = 10000.0\n"
        "max_energy_mev = 90000.0\n"
        "\n[generator]\n"
        "n_layers = 45\n"
        "\n[train]\n"
        # The time limit ends training long before 1000 epochs, so the cosine schedule keeps the
        # learning rate near its peak, and the EMA of the weights (decay 0.995, about 200 steps)
        # smooths the end.
        "epochs = 1000\n"
        f"batch_size = {batch_size}\n"
        "learning_rate = 0.001\n"
        "ema_decay = 0.995\n"
        f"max_minutes = {train_minutes}\n"
    )


def run(arguments: list[str], log: dict[str, float], label: str) -> None:
    """Run one command, printing it and its wall time, and record the time under ``label``."""
    print(f"\n$ {shlex.join(arguments)}", flush=True)
    started = time.perf_counter()
    subprocess.run(arguments, check=True)
    log[label] = time.perf_counter() - started
    print(f"  ({label}: {log[label]:.0f} s)", flush=True)


def format_value(value: float | None, uncertainty: float | None) -> str:
    """Format a metric value and its uncertainty in a 22-character column; None (not finite) prints as nan."""
    value = float("nan") if value is None else value
    uncertainty = float("nan") if uncertainty is None else uncertainty
    return f"{value:>13.4g} ± {uncertainty:<6.2g}"


def print_table(reports: dict[str, Path]) -> None:
    """Print every metric of each report beside the reference-versus-reference baseline."""
    metrics = {name: json.loads((folder / "metrics.json").read_text()) for name, folder in reports.items()}
    rows = {
        name: {(row["metric"], row["label"]): row for row in data["evaluation"]["rows"]}
        for name, data in metrics.items()
    }
    first = next(iter(rows.values()))
    header = "".join(f"{name:>22}" for name in rows)
    print(f"\n{'metric':<44}{header}{'baseline':>22}")
    for key, row in first.items():
        values = "".join(format_value(rows[name][key]["value"], rows[name][key]["uncertainty"]) for name in rows)
        baseline = format_value(row["baseline_value"], row["baseline_uncertainty"])
        print(f"{key[0] + ': ' + key[1]:<44}{values}{baseline}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/caloclouds_fidelity"), help="folder for every file")
    parser.add_argument("--train-events", type=int, default=3000, help="simulated training showers")
    parser.add_argument("--reference-events", type=int, default=2000, help="simulated reference showers")
    parser.add_argument("--events", type=int, default=1000, help="generated showers per model")
    parser.add_argument("--train-minutes", type=float, default=10.0, help="wall-time limit of training, in minutes")
    parser.add_argument("--batch-size", type=int, default=16, help="showers per optimiser step")
    parser.add_argument("--distill-epochs", type=int, default=2, help="epochs of consistency distillation")
    parser.add_argument("--no-distill", action="store_true", help="skip the one-step model")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where torch runs")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS, and so torch's CPU threads, of every command"
    )
    arguments = parser.parse_args()
    if arguments.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(arguments.threads)

    work = arguments.work
    work.mkdir(parents=True, exist_ok=True)
    config = work / "fidelity.toml"
    write_config(config, arguments.train_minutes, arguments.batch_size)
    device = ["--device", arguments.device]
    times: dict[str, float] = {}
    started = time.perf_counter()

    simulate = [KISS, "simulate", "calo.gflash_point_clouds", "--config", str(config), "--overwrite"]
    run([*simulate, "-n", str(arguments.train_events), "--seed", "1", "-o", str(work / "train.h5")], times, "simulate")
    run(
        [*simulate, "-n", str(arguments.reference_events), "--seed", "2", "-o", str(work / "reference_points.h5")],
        times,
        "simulate reference",
    )
    run(
        [KISS, "train", "calo.caloclouds2", "--dataset", "calo.gflash_point_clouds", "--data", str(work / "train.h5"),
         "--config", str(config), "--seed", "0", *device, "--overwrite", "-o", str(work / "heun_run")],
        times,
        "train",
    )
    generate = ["-n", str(arguments.events), "--conditions", str(work / "reference_points.h5"), *device, "--overwrite"]
    run(
        [KISS, "generate", str(work / "heun_run"), *generate, "-o", str(work / "heun_points.h5")],
        times,
        "generate heun",
    )
    models = ["heun"]
    if not arguments.no_distill:
        run(
            [KISS, "calo-distill", str(work / "heun_run"), "--epochs", str(arguments.distill_epochs), *device,
             "--overwrite", "--no-progress", "-o", str(work / "one_step_run")],
            times,
            "distill",
        )
        run(
            [KISS, "generate", str(work / "one_step_run"), *generate, "-o", str(work / "one_step_points.h5")],
            times,
            "generate one-step",
        )
        models.append("one_step")

    for name in ["reference", *models]:
        run([KISS, "calo-project", str(work / f"{name}_points.h5"), "--geometry", "ds2", "--overwrite",
             "-o", str(work / f"{name}_ds2.h5")], times, f"project {name}")

    reports = {}
    for name in models:
        reports[name] = work / f"report_{name}"
        run(
            [KISS, "calo-evaluate", str(work / "reference_ds2.h5"), str(work / f"{name}_ds2.h5"), "--geometry", "ds2",
             "--overwrite", "--no-progress", "--out", str(reports[name])],
            times,
            f"evaluate {name}",
        )

    print_table(reports)
    print("\nWall times: " + ", ".join(f"{label} {seconds:.0f} s" for label, seconds in times.items())
          + f"; total {time.perf_counter() - started:.0f} s")
    print("Reports: " + ", ".join(str(folder / "index.html") for folder in reports.values()))


if __name__ == "__main__":
    main()
