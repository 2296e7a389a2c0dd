"""Measure the gain of two-stage unweighting with a matrix-element surrogate, and flow against VEGAS.

For g g -> (n - 2) g, n = 4 .. --max-gluons, in one run:

1. time one exact |M|^2 (Berends-Giele, leading colour) and one surrogate evaluation;
2. train the surrogate on uniformly distributed phase-space points inside the cuts;
3. unweight uniformly distributed points with the exact weight (standard) and with two-stage
   unweighting, and fold the measured times into the gain and the Kish-corrected effective gain;
4. integrate with neural importance sampling and with VEGAS at the same number of calls, and
   repeat the two-stage comparison on the flow's weighted sample.

Usage: python benchmarks/unweighting_gain.py [--min-gluons 4] [--max-gluons 6] [--calls 20000] [--device cpu]
Numbers depend on the machine; the script prints the hardware it ran on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import torch

from kiss_collider.integration import HypercubeFlow, integrate_with_flow, integrate_with_vegas
from kiss_collider.me_datasets import GluonProcess, GluonScatteringDataset
from kiss_collider.models.me_surrogate import MatrixElementSurrogate, fit_surrogate
from kiss_collider.unweighting import (
    effective_gain_factor,
    reduced_maximum,
    two_stage_maxima,
    two_stage_unweight,
    unweight,
)


def seconds_per_call(function, argument, repeats: int = 3) -> float:
    """Return the best of ``repeats`` timings of function(argument), per event."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best / len(argument)


def surrogate_weights(process: GluonProcess, surrogate: MatrixElementSurrogate, momenta: torch.Tensor) -> torch.Tensor:
    log_squared, _ = surrogate.predict(momenta)
    return torch.exp(log_squared) * process.weight_per_matrix_element


def two_stage_versus_standard(true_weight, surrogate, calibration_true, calibration_surrogate, quantile, seed):
    """Run both unweightings: the standard one on the calibration sample, two-stage on fresh events."""
    generator = torch.Generator().manual_seed(seed)
    standard = unweight(calibration_true, reduced_maximum(calibration_true, quantile), generator=generator)
    surrogate_maximum, ratio_maximum = two_stage_maxima(calibration_surrogate, calibration_true, quantile=quantile,
                                                        generator=generator)
    two_stage = two_stage_unweight(surrogate, true_weight, surrogate_maximum, ratio_maximum, generator=generator)
    return standard, two_stage


def benchmark_process(n_gluons: int, args, device: torch.device) -> dict:
    process = GluonProcess(n_gluons, args.sqrt_s)
    dataset = GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=n_gluons, sqrt_s_gev=args.sqrt_s))
    row: dict = {"n_gluons": n_gluons}

    # 1. Training data and the surrogate.
    start = time.perf_counter()
    training = dataset.load(args.train_events, seed=args.seed)
    row["data_seconds"] = time.perf_counter() - start
    surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=n_gluons))
    surrogate.network.to(device)
    start = time.perf_counter()
    fit_surrogate(surrogate, {k: v.to(device) for k, v in surrogate.prepare(training).items()},
                  epochs=args.epochs, seed=args.seed)
    row["training_seconds"] = time.perf_counter() - start

    # 2. Times per event.
    generator = torch.Generator().manual_seed(args.seed + 1)
    outgoing, _, cut_fraction = process.phase_space.sample(args.calibration_events + args.trials, generator=generator)
    momenta = process.full_momenta(outgoing)
    timing_events = momenta[: min(len(momenta), 2000 if n_gluons <= 5 else 200)]
    row["seconds_per_true"] = seconds_per_call(process.matrix_element, timing_events)
    surrogate_events = momenta[: min(len(momenta), 50_000)]
    row["seconds_per_surrogate"] = seconds_per_call(lambda m: surrogate.predict(m), surrogate_events)
    row["seconds_per_phase_space"] = seconds_per_call(
        lambda r: process.phase_space.map(r), torch.rand(50_000, process.dimension, dtype=torch.float64))

    # 3. Uniform phase space inside the cuts: standard against two-stage unweighting.
    calibration, trials = momenta[: args.calibration_events], momenta[args.calibration_events:]
    calibration_true = process.matrix_element(calibration) * process.weight_per_matrix_element
    calibration_surrogate = surrogate_weights(process, surrogate, calibration)
    trial_surrogate = surrogate_weights(process, surrogate, trials)
    log_ratio = torch.log(calibration_true / calibration_surrogate)
    row["surrogate_log_error_rms"] = float(log_ratio.std())

    def true_uniform(indices):
        return process.matrix_element(trials[indices]) * process.weight_per_matrix_element

    standard, two_stage = two_stage_versus_standard(true_uniform, trial_surrogate, calibration_true,
                                                    calibration_surrogate, args.quantile, args.seed)
    times = {k: row[k] for k in ("seconds_per_true", "seconds_per_surrogate", "seconds_per_phase_space")}
    gain = effective_gain_factor(standard, two_stage, **times)
    row["uniform"] = {
        "standard_efficiency": standard.efficiency, "first_stage": two_stage.first_stage_efficiency,
        "second_stage": two_stage.second_stage_efficiency, "cross_section_pb": two_stage.integral * cut_fraction,
        "cross_section_error_pb": two_stage.integral_error * cut_fraction, **gain,
    }

    # 4. Flow against VEGAS at the same number of calls, then two-stage unweighting on the flow sample.
    flow = HypercubeFlow(process.dimension).to(device)
    flow_result = integrate_with_flow(process, process.dimension, n_calls=args.calls, flow=flow,
                                      generator=torch.Generator().manual_seed(args.seed))
    vegas_result = integrate_with_vegas(process, process.dimension, n_calls=args.calls, seed=args.seed)
    row["flow"] = {"cross_section_pb": flow_result.integral, "relative_error": flow_result.relative_error,
                   "unweighting_efficiency": flow_result.unweighting_efficiency}
    row["vegas"] = {"cross_section_pb": vegas_result.integral, "relative_error": vegas_result.relative_error,
                    "unweighting_efficiency": vegas_result.unweighting_efficiency}

    points, log_density = flow.sample(args.calibration_events + args.trials, generator=generator)
    flow_momenta, phase_space_weight = process.phase_space.map(points)
    inside = process.phase_space.cuts.passes(flow_momenta)
    # Points outside the cuts have zero weight in both methods and are rejected before any evaluation.
    full = process.full_momenta(flow_momenta[inside])
    density_factor = phase_space_weight[inside] / process.phase_space.volume / torch.exp(log_density[inside])
    flow_surrogate = surrogate_weights(process, surrogate, full) * density_factor
    n_calibration = int(inside[: args.calibration_events].sum())
    flow_calibration_true = process.matrix_element(full[:n_calibration]) * process.weight_per_matrix_element * (
        density_factor[:n_calibration])

    def true_flow(indices):
        shifted = indices + n_calibration
        return process.matrix_element(full[shifted]) * process.weight_per_matrix_element * density_factor[shifted]

    flow_standard, flow_two_stage = two_stage_versus_standard(
        true_flow, flow_surrogate[n_calibration:], flow_calibration_true, flow_surrogate[:n_calibration],
        args.quantile, args.seed)
    row["flow_two_stage"] = {
        "standard_efficiency": flow_standard.efficiency, "first_stage": flow_two_stage.first_stage_efficiency,
        "second_stage": flow_two_stage.second_stage_efficiency,
        **effective_gain_factor(flow_standard, flow_two_stage, **times),
    }
    return row


def print_table(rows: list[dict]) -> None:
    header = (f"{'n':>2} {'t_ME ms':>9} {'t_NN us':>8} {'ratio':>8} {'logerr':>7} | {'eff_std':>8} {'eff_1':>7} "
              f"{'eff_2':>6} {'gain':>7} {'f_eff':>7} | {'flow eff':>8} {'vegas eff':>9} {'eff f/v':>8} "
              f"{'err f/v':>8} | {'flow 2st f_eff':>14}")
    print(header)
    print("-" * len(header))
    for row in rows:
        uniform, flow, vegas, flow_two = row["uniform"], row["flow"], row["vegas"], row["flow_two_stage"]
        print(
            f"{row['n_gluons']:>2} {row['seconds_per_true'] * 1e3:>9.3f} {row['seconds_per_surrogate'] * 1e6:>8.2f} "
            f"{uniform['cost_ratio']:>8.1e} {row['surrogate_log_error_rms']:>7.3f} | "
            f"{uniform['standard_efficiency']:>8.4f} {uniform['first_stage']:>7.4f} {uniform['second_stage']:>6.3f} "
            f"{uniform['gain']:>7.2f} {uniform['effective_gain']:>7.2f} | "
            f"{flow['unweighting_efficiency']:>8.4f} {vegas['unweighting_efficiency']:>9.4f} "
            f"{flow['unweighting_efficiency'] / vegas['unweighting_efficiency']:>8.2f} "
            f"{flow['relative_error'] / vegas['relative_error']:>8.2f} | {flow_two['effective_gain']:>14.2f}"
        )
    print("\nColumns: t_ME and t_NN are times per event of the exact |M|^2 and the surrogate; ratio = t_NN / t_ME;")
    print("logerr = rms of log(|M|^2 / surrogate) on held-out points; eff_std, eff_1, eff_2 = standard and")
    print("two-stage efficiencies on uniform phase space; gain and f_eff (Kish-corrected) per unweighted event;")
    print("flow/vegas eff = unweighting efficiency <w>/max w at equal calls; err f/v = ratio of relative errors;")
    print("last column: effective gain of two-stage unweighting on the trained flow's weighted sample.")
    print("Reference levels: Z+5 and Z+6 jets 2.8 and 6.7 (arXiv:2109.11964); 16-350 with factorisation-aware")
    print("surrogates (arXiv:2301.13562).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-gluons", type=int, default=4, help="smallest n of g g -> (n - 2) g")
    parser.add_argument("--max-gluons", type=int, default=6, help="largest n of g g -> (n - 2) g")
    parser.add_argument("--sqrt-s", type=float, default=1000.0, help="partonic centre-of-mass energy in GeV")
    parser.add_argument("--train-events", type=int, default=10_000, help="surrogate training points")
    parser.add_argument("--epochs", type=int, default=40, help="surrogate training epochs")
    parser.add_argument("--calibration-events", type=int, default=5000, help="points with exact |M|^2 for maxima")
    parser.add_argument("--trials", type=int, default=50_000, help="points offered to two-stage unweighting")
    parser.add_argument("--calls", type=int, default=20_000, help="integrand calls for flow and for VEGAS")
    parser.add_argument("--quantile", type=float, default=0.999, help="quantile used as reduced maximum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="device of the networks (cpu or cuda)")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args()

    device = torch.device(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, networks on {device}"
          + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""))
    rows = []
    for n_gluons in range(args.min_gluons, args.max_gluons + 1):
        start = time.perf_counter()
        rows.append(benchmark_process(n_gluons, args, device))
        print(f"g g -> {n_gluons - 2} g done in {time.perf_counter() - start:.0f} s", flush=True)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(rows, stream, indent=2)


if __name__ == "__main__":
    main()
