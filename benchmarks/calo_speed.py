"""Time per shower of the GFlash-style simulator and the calorimeter surrogates on CaloChallenge dataset 2.

Measures, in one run and on one device, the wall time per shower of:

* the GFlash-style simulator, depositing into the dataset 2 voxels (CPU, numpy);
* CaloClouds II with 13 Heun steps (25 NFE) and its one-step consistency model, including the
  shower flow and the projection of the points onto the dataset 2 voxels;
* the voxel flow-matching model with the midpoint sampler (10 steps, 20 NFE);

at batch sizes 1 and 1000 (changeable with --batch-sizes), and prints each time as a multiple
of the simulator's time at the same batch size. The networks are prepared on a few simulated showers but NOT
trained: sampling cost does not depend on the weights, except through the number of points
the untrained shower flow draws, which follows the training data's normalisation.

Usage:
    python benchmarks/calo_speed.py [--device cpu|cuda] [--energy-gev 50] [--batch-sizes 1 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import xarray as xr

from kiss_calo.datasets import GFlashPointClouds
from kiss_calo.geometry import CaloChallengeGeometry
from kiss_calo.models.caloclouds import CaloClouds2
from kiss_calo.models.voxel import VoxelFlowMatching
from kiss_calo.simulators import GFlashSimulator, calochallenge_w_si


def time_per_shower(run, n_showers: int, repeats: int) -> float:
    """Return the best-of-``repeats`` wall time of ``run()`` divided by ``n_showers``, in seconds."""
    run()  # warm-up: first calls allocate memory and build kernels
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best / n_showers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device of the surrogates"
    )
    parser.add_argument("--energy-gev", type=float, default=50.0, help="incident energy of every shower, in GeV")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 1000], help="showers per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per measurement (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)

    geometry = CaloChallengeGeometry.official("ds2")
    simulator = GFlashSimulator(calochallenge_w_si())
    energy_mev = arguments.energy_gev * 1000.0

    # Training data for the normalisation only: point clouds of the same stack, and voxel showers.
    cloud_config = GFlashPointClouds.Config(
        calorimeter="calochallenge_w_si",
        particle="electron",
        min_energy_mev=0.5 * energy_mev,
        max_energy_mev=1.5 * energy_mev,
    )
    clouds = GFlashPointClouds(cloud_config).load(200, seed=0)
    rng = np.random.default_rng(0)
    train_energies = np.exp(rng.uniform(np.log(1e3), np.log(1e6), 200))
    cells = simulator.simulate(train_energies, geometry, rng)
    showers = xr.Dataset({"energy": (("event", "cell"), cells), "incident_energy": ("event", train_energies)})

    teacher = CaloClouds2(CaloClouds2.Config(n_layers=45))
    teacher.prepare(clouds)
    student = CaloClouds2.distill_from(teacher)
    voxel = VoxelFlowMatching(VoxelFlowMatching.Config(geometry="ds2"))
    voxel.prepare(showers)
    for model in (teacher, student, voxel):
        model.network.to(arguments.device)
    print(
        f"device {arguments.device}, torch threads {torch.get_num_threads()}, E = {arguments.energy_gev:g} GeV, "
        f"untrained networks; CaloClouds point count ~ {int(clouds['mask'].sum('point').mean())} per shower"
    )

    for batch_size in arguments.batch_sizes:
        energies = np.full(batch_size, energy_mev)
        conditions = xr.Dataset({"incident_energy": ("event", energies)})
        timings = {
            "GFlash simulator": time_per_shower(
                lambda: simulator.simulate(energies, geometry, rng), batch_size, arguments.repeats
            ),
            "CaloClouds II, 13 Heun steps": time_per_shower(
                lambda: CaloClouds2.to_cells(teacher.sample(conditions, batch_size=batch_size), geometry),
                batch_size,
                arguments.repeats,
            ),
            "CaloClouds II, consistency (1 step)": time_per_shower(
                lambda: CaloClouds2.to_cells(student.sample(conditions, batch_size=batch_size), geometry),
                batch_size,
                arguments.repeats,
            ),
            "Voxel flow matching, midpoint 10 steps": time_per_shower(
                lambda: voxel.sample(conditions, batch_size=batch_size), batch_size, arguments.repeats
            ),
        }
        reference = timings["GFlash simulator"]
        print(f"\nbatch size {batch_size}")
        for name, seconds in timings.items():
            print(f"  {name:40s} {1e3 * seconds:10.3f} ms/shower   {seconds / reference:9.1f} x simulator time")


if __name__ == "__main__":
    main()
