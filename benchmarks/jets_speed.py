"""Jets per second: Pythia 8 + FastJet against the EPiC flow-matching generator, in one run.

Usage:
    python benchmarks/jets_speed.py [--run RUN_DIR] [--pythia-jets 1500] [--threads N]

With --run, the trained model of a `kiss train` run is timed; for a demo run, pass
RUN_DIR/model. Without --run, an untrained network of the default EPiC config is timed, which
costs the same per call. Prints jets per second of each and the speed-up over Pythia on
one core and on all cores.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import torch
import xarray as xr

from kiss_collider.models.epic import EPiCFlowMatching
from kiss_collider.simulators.pythia_jets import simulate_jets
from kiss_core.registry import get_registry
from kiss_core.sampling import make_sampler
from kiss_core.training import load_generator

STEPS = (1, 10, 20, 100)
BATCH_SIZES = (1, 1000)


def time_pythia(n_jets: int, workers: int) -> float:
    """Return jets per second of Pythia 8 + FastJet for top jets (the costliest class)."""
    start = time.perf_counter()
    # One chunk per worker, so that every worker has work even for a small number of jets.
    simulate_jets(n_jets, "t", seed=11, workers=workers, chunk_size=math.ceil(n_jets / workers))
    return n_jets / (time.perf_counter() - start)


def build_generator(run: str | None) -> EPiCFlowMatching:
    """Load a trained generator, or prepare an untrained one of the default config on simulated jets."""
    if run is not None:
        generator, _ = load_generator(Path(run) / "checkpoints", get_registry())
        return generator
    generator = EPiCFlowMatching()
    generator.prepare(simulate_jets(200, "g", seed=5, workers=1))
    return generator


def time_generator(generator: EPiCFlowMatching, conditions: xr.Dataset, steps: int, batch_size: int) -> float:
    """Return jets per second of the generator with the midpoint solver, timing at least two seconds."""
    sampler = make_sampler("midpoint", steps=steps)
    n_jets = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 2.0 or n_jets == 0:
        generator.sample(conditions.isel(event=slice(0, batch_size)), sampler=sampler, batch_size=batch_size)
        n_jets += batch_size
    return n_jets / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run directory with checkpoints/ (default: untrained default network)")
    parser.add_argument("--pythia-jets", type=int, default=1500, help="top jets simulated per timing")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    cores = len(os.sched_getaffinity(0))

    pythia_one_core = time_pythia(arguments.pythia_jets, workers=1)
    pythia_all_cores = time_pythia(arguments.pythia_jets, workers=cores)
    print(f"machine: {cores} cores, torch {torch.__version__}, {arguments.threads} torch threads, device cpu")
    print(f"Pythia 8 + FastJet (top jets): {pythia_one_core:8.1f} jets/s on 1 core, "
          f"{pythia_all_cores:8.1f} jets/s on {cores} cores")

    generator = build_generator(arguments.run)
    conditions = xr.concat([generator.conditions(simulate_jets(50, "g", seed=9, workers=1))] * 20, dim="event")
    print(f"{'steps':>6} {'NFE':>5} {'batch':>6} {'jets/s':>10} {'vs Pythia 1 core':>17} {'vs all cores':>13}")
    for steps in STEPS:
        for batch_size in BATCH_SIZES:
            rate = time_generator(generator, conditions, steps, batch_size)
            print(f"{steps:>6} {2 * steps:>5} {batch_size:>6} {rate:>10.1f} {rate / pythia_one_core:>17.1f} "
                  f"{rate / pythia_all_cores:>13.1f}")


if __name__ == "__main__":
    main()
