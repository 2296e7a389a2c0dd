"""Time kiss-bench metrics against scipy, POT and scikit-learn on equal inputs, and check the values agree.

Compared on two 10-D normal samples (the candidate shifted by 0.05 in every coordinate):

- W1 per dimension: kiss_core.metrics.wasserstein1 against scipy.stats.wasserstein_distance
  looped over the columns; the values must agree to 1e-8 relative.
- 1-D energy distance: kiss_bench's O(n log n) path against scipy.stats.energy_distance on the
  first coordinate. scipy returns the square root, and the values must agree to 1e-8 relative.
- Sliced Wasserstein-2 with the same 64 directions: kiss_bench against
  ot.sliced_wasserstein_distance; the values must agree to 1e-8 relative.
- Classifier two-sample test: kiss_core.metrics.classifier_test (gradient boosting,
  calibrated, DeLong error) against a plain scikit-learn HistGradientBoostingClassifier with a
  50/50 train/test split; the two AUCs must agree within 3 combined DeLong standard errors.
- Quadratic metrics (energy distance in 10-D, unbiased MMD, PRDC): kiss_bench timings alone,
  with the peak GPU memory on CUDA, to show they stay within memory at large sizes.

Run from the repository root:

    python benchmarks/metrics_speed.py                # 1e4 and 1e5 points, about a minute on one core
    python benchmarks/metrics_speed.py --large        # also 1e6 points; quadratic metrics up to 1e6 (GPU advised)
    python benchmarks/metrics_speed.py --device cuda  # kiss metrics on the GPU

A ratio above 1 means kiss-bench is faster.
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import numpy as np
import torch


def _timed(function, *args, **kwargs):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = function(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - started


def _samples(n: int, dimension: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    return generator.normal(size=(n, dimension)), generator.normal(0.05, 1.0, size=(n, dimension))


def _report(
    name: str, n: int, kiss_seconds: float, peer_seconds: float, kiss_value: float, peer_value: float, agree: bool
) -> bool:
    ratio = peer_seconds / kiss_seconds if kiss_seconds > 0 else math.inf
    print(
        f"{name:<22} {n:>9} {kiss_seconds:>10.3f} {peer_seconds:>10.3f} {ratio:>8.2f} "
        f"{kiss_value:>14.6g} {peer_value:>14.6g}  {'ok' if agree else 'DISAGREE'}"
    )
    return agree


def compare_w1(x, y, device) -> tuple:
    from scipy.stats import wasserstein_distance

    from kiss_core.metrics import wasserstein1

    kiss, kiss_seconds = _timed(wasserstein1, torch.as_tensor(x, device=device), torch.as_tensor(y, device=device))
    peer, peer_seconds = _timed(lambda: np.array([wasserstein_distance(x[:, i], y[:, i]) for i in range(x.shape[1])]))
    return kiss_seconds, peer_seconds, float(kiss.mean()), float(peer.mean()), bool(np.allclose(kiss, peer, rtol=1e-8))


def compare_energy_1d(x, y, device) -> tuple:
    from scipy.stats import energy_distance as scipy_energy

    from kiss_bench.metrics.kernel import energy_distance
    from kiss_bench.metrics.validation import normalised_weights

    a = torch.as_tensor(x[:, :1], device=device)
    b = torch.as_tensor(y[:, :1], device=device)
    weights = normalised_weights(None, len(a), a), normalised_weights(None, len(b), b)
    kiss, kiss_seconds = _timed(energy_distance, a, b, *weights)
    peer, peer_seconds = _timed(scipy_energy, x[:, 0], y[:, 0])
    return (
        kiss_seconds,
        peer_seconds,
        math.sqrt(max(kiss, 0.0)),
        peer,
        math.isclose(math.sqrt(max(kiss, 0.0)), peer, rel_tol=1e-8),
    )


def compare_sliced(x, y, device) -> tuple:
    import ot

    from kiss_bench.metrics.sliced import random_directions, sliced_wasserstein

    directions = random_directions(x.shape[1], 64, torch.Generator().manual_seed(0))
    a, b = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
    kiss, kiss_seconds = _timed(sliced_wasserstein, a, b, None, None, directions.to(device), p=2)
    peer, peer_seconds = _timed(ot.sliced_wasserstein_distance, x, y, projections=directions.numpy(), p=2)
    return kiss_seconds, peer_seconds, kiss, float(peer), math.isclose(kiss, float(peer), rel_tol=1e-8)


def compare_c2st(x, y, device) -> tuple:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from kiss_core.metrics import classifier_test, roc_auc_delong

    kiss, kiss_seconds = _timed(classifier_test, x, y, seed=0)

    def plain_sklearn():
        half = len(x) // 2
        features = np.concatenate([x[:half], y[:half]])
        labels = np.concatenate([np.zeros(half), np.ones(half)])
        classifier = HistGradientBoostingClassifier(max_iter=200, early_stopping=True, random_state=1).fit(
            features, labels
        )
        return roc_auc_delong(classifier.predict_proba(x[half:])[:, 1], classifier.predict_proba(y[half:])[:, 1])

    (peer, peer_error), peer_seconds = _timed(plain_sklearn)
    agree = abs(kiss.value - peer) < 3 * math.hypot(kiss.uncertainty, peer_error)
    return kiss_seconds, peer_seconds, kiss.value, peer, agree


def time_quadratic(n: int, device: str) -> None:
    from kiss_bench.metrics.kernel import energy_distance, median_pairwise_distance, mmd_unbiased
    from kiss_bench.metrics.prdc import precision_recall_density_coverage
    from kiss_bench.metrics.validation import normalised_weights

    x, y = _samples(n, 10, 2)
    a, b = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    weights = normalised_weights(None, n, a), normalised_weights(None, n, b)
    _, energy_seconds = _timed(energy_distance, a, b, *weights)
    bandwidth = median_pairwise_distance(a, b, torch.Generator(device=device).manual_seed(0))
    _, mmd_seconds = _timed(mmd_unbiased, a, b, bandwidth)
    _, prdc_seconds = _timed(precision_recall_density_coverage, a, b)
    if device == "cuda":
        memory = f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    else:
        memory = (
            f"peak resident memory of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
        )
    print(
        f"quadratic metrics, n = {n}, d = 10 on {device}: energy {energy_seconds:.2f} s, MMD {mmd_seconds:.2f} s, "
        f"PRDC {prdc_seconds:.2f} s; {memory}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--large", action="store_true", help="also run 1e6 points, and the quadratic metrics at 1e5 and 1e6"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device of the kiss metrics")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (peers run single-threaded in numpy)")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)

    sizes = [10_000, 100_000] + ([1_000_000] if arguments.large else [])
    print(f"device {arguments.device}, torch {torch.__version__}, {arguments.threads} torch thread(s)")
    print(
        f"{'metric':<22} {'n':>9} {'kiss [s]':>10} {'peer [s]':>10} {'ratio':>8} {'kiss value':>14} {'peer value':>14}"
    )
    all_agree = True
    for n in sizes:
        x, y = _samples(n, 10, 0)
        for name, compare in (
            ("W1 per dim (scipy)", compare_w1),
            ("energy 1-D (scipy)", compare_energy_1d),
            ("sliced W2 (POT)", compare_sliced),
            ("C2ST AUC (sklearn)", compare_c2st),
        ):
            all_agree &= _report(name, n, *compare(x, y, arguments.device))

    for n in [10_000] + ([100_000, 1_000_000] if arguments.large else []):
        time_quadratic(n, arguments.device)
    print("all values agree" if all_agree else "SOME VALUES DISAGREE")


if __name__ == "__main__":
    main()
