"""Time per shower of the GFlash-style simulator and the calorimeter surrogates on CaloChallenge dataset 2.

Measures, in one run and on one device, the wall time per shower of:

* the GFlash-style simulator, depositing into the dataset 2 voxels (CPU, numpy);
* CaloClouds II with 13 Heun steps (25 NFE) and its one-step consistency model, including the
  shower flow and the projection of the points onto the dataset 2 voxels;
* the voxel flow-matching model with the midpoint sampler (10 steps, 20 NFE);

at batch sizes 1 and 1000 (changeable with --batch-sizes), and prints each time as a multiple
of the simulator's time at the same batch size.

The per-point and per-voxel networks are NOT trained, because sampling cost does not depend on
their weights. The CaloClouds II cost does depend on the number of points per shower, which
the shower flow draws. So the shower flow alone is fitted for a few hundred steps
(--flow-steps) on GFlash point clouds of the same stack between 0.5 and 1.5 times the
benchmark energy. The script prints the mean number of points per shower that it draws beside
the simulator's mean at the benchmark energy, so a reader can check that they agree.

Timing: every measurement first makes one untimed warm-up call on at most 10 showers, which
builds kernels and touches every code path. Below --single-call-from showers per call, the
time is the best of --repeats timed calls. From there on it is ONE timed call, because a
CaloClouds II call with 13 Heun steps on 1000 showers takes minutes on one CPU thread. That
call includes the allocation of its large arrays, so its time per shower is, if anything, an
overestimate.

Usage:
    python benchmarks/calo_speed.py [--device cpu|cuda] [--threads 1] [--energy-gev 50] [--batch-sizes 1 1000]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch
import xarray as xr

from kiss_calo.datasets import GFlashPointClouds
from kiss_calo.geometry import CaloChallengeGeometry
from kiss_calo.models.caloclouds import CaloClouds2
from kiss_calo.models.voxel import VoxelFlowMatching
from kiss_calo.simulators import GFlashSimulator, calochallenge_w_si

#: Showers in the untimed warm-up call of every measurement.
WARM_UP_SHOWERS = 10


def time_per_shower(run: Callable[[np.ndarray], object], energies: np.ndarray, repeats: int) -> float:
    """Return the best wall time of ``repeats`` calls ``run(energies)`` per shower, in seconds.

    One untimed call on at most :data:`WARM_UP_SHOWERS` showers comes first.
    """
    run(energies[:WARM_UP_SHOWERS])
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        run(energies)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best / len(energies)


def point_clouds(energy_mev: float, spread: float, n_events: int, seed: int) -> xr.Dataset:
    """Simulate electron point clouds in the CaloChallenge W/Si stack, uniform in E (1 +- spread)."""
    config = GFlashPointClouds.Config(
        calorimeter="calochallenge_w_si",
        particle="electron",
        min_energy_mev=(1.0 - spread) * energy_mev,
        max_energy_mev=(1.0 + spread) * energy_mev,
    )
    return GFlashPointClouds(config).load(n_events, seed=seed)


def fit_shower_flow(model: CaloClouds2, clouds: xr.Dataset, steps: int) -> float:
    """Prepare ``model`` on ``clouds`` and fit only its shower flow for ``steps`` full-batch Adam steps.

    Returns the final negative log-likelihood per shower of the normalised shower variables.
    """
    tensors = model.prepare(clouds)
    flow = model.network["flow"]
    optimiser = torch.optim.Adam(flow.parameters(), lr=3e-3)
    log_energy, shower = tensors["conditions"][:, :1], tensors["shower"]
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        loss = -flow(log_energy).log_prob(shower).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return loss.item()


def incident(energies: np.ndarray) -> xr.Dataset:
    """Wrap incident energies (MeV) as the conditions of a surrogate."""
    return xr.Dataset({"incident_energy": ("event", energies)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device of the surrogates"
    )
    parser.add_argument("--energy-gev", type=float, default=50.0, help="incident energy of every shower, in GeV")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 1000], help="showers per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement below --single-call-from")
    parser.add_argument(
        "--single-call-from", type=int, default=1000, help="showers per call from which one timed call is made"
    )
    parser.add_argument("--flow-steps", type=int, default=300, help="Adam steps of the CaloClouds II shower flow")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)

    geometry = CaloChallengeGeometry.official("ds2")
    simulator = GFlashSimulator(calochallenge_w_si())
    energy_mev = arguments.energy_gev * 1000.0
    rng = np.random.default_rng(0)

    started = time.perf_counter()
    teacher = CaloClouds2(CaloClouds2.Config(n_layers=45))
    flow_loss = fit_shower_flow(teacher, point_clouds(energy_mev, 0.5, 1000, seed=0), arguments.flow_steps)
    student = CaloClouds2.distill_from(teacher)
    drawn = student.sample(incident(np.full(200, energy_mev)))
    simulated = point_clouds(energy_mev, 0.0, 200, seed=1)

    # The voxel model only needs its normalisation: voxel showers log-uniform in 1 GeV to 1 TeV.
    train_energies = np.exp(rng.uniform(np.log(1e3), np.log(1e6), 200))
    cells = simulator.simulate(train_energies, geometry, rng)
    voxel = VoxelFlowMatching(VoxelFlowMatching.Config(geometry="ds2"))
    voxel.prepare(xr.Dataset({"energy": (("event", "cell"), cells), "incident_energy": ("event", train_energies)}))
    for model in (teacher, student, voxel):
        model.network.to(arguments.device)

    print(
        f"device {arguments.device}, torch threads {torch.get_num_threads()}, E = {arguments.energy_gev:g} GeV, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; set-up {time.perf_counter() - started:.0f} s"
    )
    drawn_points = float(drawn["mask"].sum("point").mean())
    simulated_points = float(simulated["mask"].sum("point").mean())
    print(
        f"CaloClouds II points per shower at E: {drawn_points:.0f} drawn by the shower flow "
        f"(fitted {arguments.flow_steps} steps, NLL {flow_loss:.2f}), "
        f"{simulated_points:.0f} in the simulator's point clouds; "
        "per-point and voxel networks untrained"
    )

    models: dict[str, Callable[[np.ndarray], object]] = {
        "GFlash simulator": lambda energies: simulator.simulate(energies, geometry, rng),
        "CaloClouds II, 13 Heun steps": lambda energies: CaloClouds2.to_cells(
            teacher.sample(incident(energies), batch_size=len(energies)), geometry
        ),
        "CaloClouds II, consistency (1 step)": lambda energies: CaloClouds2.to_cells(
            student.sample(incident(energies), batch_size=len(energies)), geometry
        ),
        "Voxel flow matching, midpoint 10 steps": lambda energies: voxel.sample(
            incident(energies), batch_size=len(energies)
        ),
    }
    for batch_size in arguments.batch_sizes:
        energies = np.full(batch_size, energy_mev)
        repeats = arguments.repeats if batch_size < arguments.single_call_from else 1
        started = time.perf_counter()
        timings = {name: time_per_shower(run, energies, repeats) for name, run in models.items()}
        reference = timings["GFlash simulator"]
        print(
            f"\nbatch size {batch_size}: {repeats} timed call(s) each, best kept; "
            f"{time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f}"
        )
        for name, seconds in timings.items():
            print(f"  {name:40s} {1e3 * seconds:10.3f} ms/shower   {seconds / reference:9.1f} x simulator time")
        heun, one_step = timings["CaloClouds II, 13 Heun steps"], timings["CaloClouds II, consistency (1 step)"]
        print(f"  one-step CaloClouds II is {heun / one_step:.1f} x faster than 13 Heun steps")


if __name__ == "__main__":
    main()
