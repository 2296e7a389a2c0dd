"""Peak memory of every kiss-bench metric on two samples of 10^6 points in 10 dimensions.

Each metric runs in its own Python process on a reference and a candidate sample of the
target normal10d_corr0.25 (a fresh process, so that one metric's peak does not hide
another's). Once a second the parent reads the child's peak resident memory (VmHWM in /proc,
Linux only). On CUDA the child also reports torch's peak GPU allocation. A metric that has
not finished after --max-seconds is stopped and reported with its peak so far. The quadratic
metrics (energy, MMD, PRDC) reuse one block of at most 2^24 distances, so their memory stops
growing after the first block. Their time (n^2 distances) needs a GPU at 10^6 points.

Run from the repository root:

    python benchmarks/metrics_memory.py                      # 10^6 points, CPU, 120 s per metric
    python benchmarks/metrics_memory.py --device cuda --classifier mlp
    python benchmarks/metrics_memory.py --points 100000 --metrics fpd kpd c2st
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TARGET = "normal10d_corr0.25"
#: Memory that a metric may use on 10^6 points in 10 dimensions: 4 GiB.
LIMIT_MIB = 4096


def _child(metric_name: str, points: int, device: str, classifier: str) -> None:
    import torch

    from kiss_bench.metrics import METRICS, MetricInputs
    from kiss_bench.targets import make_target

    target = make_target(TARGET)
    generator = torch.Generator(device=device).manual_seed(0)
    reference, candidate = target.sample(points, generator), target.sample(points, generator)
    inputs = MetricInputs(reference.to(device), candidate.to(device), None, target, generator, seed=0,
                          classifier=classifier)
    started = time.perf_counter()
    rows = METRICS[metric_name].compute(inputs)
    gpu_mib = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    print(json.dumps({"seconds": time.perf_counter() - started, "gpu_mib": gpu_mib, "first_row": rows[0]}))


def _peak_resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(metric_name: str, arguments: argparse.Namespace) -> tuple[float, str]:
    command = [sys.executable, __file__, "--child", metric_name, "--points", str(arguments.points),
               "--device", arguments.device, "--classifier", arguments.classifier]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started, peak = time.perf_counter(), 0.0
    while process.poll() is None:
        try:
            peak = max(peak, _peak_resident_mib(process.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
        if time.perf_counter() - started > arguments.max_seconds:
            process.kill()
            process.wait()
            return peak, f"stopped after {arguments.max_seconds:.0f} s"
        time.sleep(1.0)
    output, errors = process.communicate()
    if process.returncode != 0:
        return peak, "failed: " + (errors.strip().splitlines() or ["no message"])[-1]
    result = json.loads(output.strip().splitlines()[-1])
    note = f"finished in {result['seconds']:.1f} s"
    if result["gpu_mib"] is not None:
        note += f", peak GPU {result['gpu_mib']:.0f} MiB"
    return peak, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per sample")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--classifier", default="boosted_trees", choices=["boosted_trees", "mlp"])
    parser.add_argument("--max-seconds", type=float, default=120.0, help="time after which a metric is stopped")
    parser.add_argument("--metrics", nargs="+", default=None, help="metric names (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments.points, arguments.device, arguments.classifier)
        return

    from kiss_bench.metrics import metric_names

    names = arguments.metrics or metric_names()
    print(f"{arguments.points} points per sample, 10 dimensions, {arguments.device}, limit {LIMIT_MIB} MiB")
    print(f"{'metric':<20} {'peak RSS MiB':>13}  outcome")
    for name in names:
        peak, note = _measure(name, arguments)
        flag = "" if peak < LIMIT_MIB else "  OVER THE LIMIT"
        print(f"{name:<20} {peak:>13.0f}  {note}{flag}", flush=True)


if __name__ == "__main__":
    main()
