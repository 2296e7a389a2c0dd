"""Peak memory of the chunked CaloChallenge evaluation on dataset 3 (40500 voxels), against 4 GB.

Writes a reference and a candidate dataset 3 file of N GFlash-style electron showers each
(1 GeV to 1 TeV, log-uniform; two seeds), block by block through CaloChallengeWriter, then
runs the full evaluation (high-level features, separation powers, both classifiers with the
voxel classifier as a mini-batched network, FPD, KPD, plots, report). Each phase runs in its
own child process, which reports its peak resident set size (resource.getrusage ru_maxrss),
so the numbers are those of the phase alone, imports included.

The default N = 2000 runs in a few minutes on 2 CPU cores. The memory of the evaluation grows
with N only through the high-level features (float32, about 1.4 kB per shower) and the
incident energies; the classifier subsample is bounded by --classifier-memory-mb. For the
100k-shower case of the CaloChallenge dataset 3 files run

    python benchmarks/calo_memory.py --showers 100000 --folder /big/disk

which needs about 2 x 1.5 GB of disk (gzip) and hours of CPU time on 2 cores, mostly the
simulation and the feature pass.

Usage:
    python benchmarks/calo_memory.py [--showers 2000] [--block 250] [--folder DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The memory limit the evaluation must stay under, in bytes (4 GB, a common batch-job slot).
LIMIT_BYTES = 4 * 2**30


def _peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def write_showers(path: Path, n_showers: int, block: int, seed: int) -> None:
    """Simulate GFlash showers on dataset 3 and append them to a CaloChallenge file block by block."""
    import numpy as np

    from kiss_calo.datasets import GFlashShowers
    from kiss_calo.io import CaloChallengeWriter

    dataset = GFlashShowers(GFlashShowers.Config(geometry="ds3"))
    rng = np.random.default_rng(seed)
    with CaloChallengeWriter(path, dataset.geometry.n_cells, overwrite=True) as writer:
        for start in range(0, n_showers, block):
            size = min(block, n_showers - start)
            energies = np.exp(rng.uniform(np.log(1e3), np.log(1e6), size))
            spots = dataset.simulator.simulate_spots(energies, rng)
            showers = dataset.geometry.deposit(spots.event, spots.layer, spots.x_mm, spots.y_mm, spots.energy_mev,
                                               spots.n_events)
            writer.append(energies, showers)


def evaluate(reference: Path, candidate: Path, out: Path, classifier_memory_mb: float) -> dict:
    """Run the CaloChallenge evaluation and return a few of its numbers."""
    from kiss_calo.evaluation import EvaluationConfig, evaluate_calochallenge
    from kiss_calo.geometry import load_geometry

    config = EvaluationConfig(classifier_memory_mb=classifier_memory_mb)
    result = evaluate_calochallenge(reference, candidate, load_geometry("ds3"), out, config)
    return {"sample_sizes": result.sample_sizes,
            "low_level_auc": result.row("classifier_low_level", "AUC").value}


def _child(arguments: list[str]) -> dict:
    """Run one phase of this script in a child process and return its JSON report."""
    completed = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"phase {arguments[0]} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _run_phase(arguments: argparse.Namespace) -> None:
    started = time.perf_counter()
    if arguments.phase == "write":
        write_showers(Path(arguments.path), arguments.showers, arguments.block, arguments.seed)
        details = {}
    else:
        details = evaluate(Path(arguments.reference), Path(arguments.candidate), Path(arguments.out),
                           arguments.classifier_memory_mb)
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_bytes": _peak_rss_bytes(), **details}))


def _report(label: str, phase: dict) -> None:
    peak = phase["peak_rss_bytes"]
    print(f"{label:<34} peak RSS {peak / 2**20:8.0f} MiB = {peak / LIMIT_BYTES:5.2f} x 4 GB limit"
          f"   ({phase['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=2000, help="Showers per file.")
    parser.add_argument("--block", type=int, default=250, help="Showers simulated and written at once.")
    parser.add_argument("--classifier-memory-mb", type=float, default=512.0,
                        help="Memory for the voxel classifier inputs (bounds its subsample).")
    parser.add_argument("--folder", type=Path, default=None, help="Folder for the files (default: a temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep the files and the report.")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=arguments.folder) as temporary:
        folder = Path(temporary)
        reference, candidate = folder / "reference.h5", folder / "candidate.h5"
        print(f"dataset 3 (40500 voxels), {arguments.showers} GFlash showers per file, blocks of {arguments.block}")
        for path, seed in ((reference, 1), (candidate, 2)):
            phase = _child(["write", "--path", str(path), "--showers", str(arguments.showers),
                            "--block", str(arguments.block), "--seed", str(seed)])
            _report(f"simulate and write {path.name}", phase)
        size = reference.stat().st_size
        print(f"file size {size / 2**20:.0f} MiB (gzip), "
              f"{arguments.showers * 40500 * 4 / 2**20:.0f} MiB as float32 in memory")

        phase = _child(["evaluate", "--reference", str(reference), "--candidate", str(candidate),
                        "--out", str(folder / "report"), "--classifier-memory-mb",
                        str(arguments.classifier_memory_mb)])
        _report("evaluate (all metrics, report)", phase)
        print(f"sample sizes {phase['sample_sizes']}, voxel classifier AUC {phase['low_level_auc']:.3f} "
              "(two GFlash seeds: 0.5 expected)")
        if arguments.keep:
            kept = Path(tempfile.mkdtemp(prefix="calo_memory_", dir=arguments.folder))
            for path in folder.iterdir():
                path.rename(kept / path.name)
            print(f"kept the files in {kept}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("write", "evaluate"):
        phase_parser = argparse.ArgumentParser()
        phase_parser.add_argument("phase")
        for option in ("--path", "--reference", "--candidate", "--out"):
            phase_parser.add_argument(option)
        phase_parser.add_argument("--showers", type=int)
        phase_parser.add_argument("--block", type=int)
        phase_parser.add_argument("--seed", type=int)
        phase_parser.add_argument("--classifier-memory-mb", type=float)
        _run_phase(phase_parser.parse_args())
    else:
        main()
