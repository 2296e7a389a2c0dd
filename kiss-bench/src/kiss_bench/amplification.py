"""Amplification study: how many true samples a generator's output is worth.

A generator is trained on N_train exact samples of a target and then generates N samples.
Its error is the quantile-binned mean squared error: each dimension is split into K bins of
equal probability under the target (edges from a large exact sample), and
MSE = mean over dimensions and bins of (fraction of samples in the bin - 1/K)^2. The same
MSE is measured for N exact samples. For exact samples it follows the multinomial law
E[MSE] = (1/K)(1 - 1/K) / N, so the number of true samples with the same error as the
generated ones is N_equivalent = (1/K)(1 - 1/K) / MSE_generated, and the amplification factor
is N_equivalent / N_train. A factor above 1 means the generator's samples carry more
information about the target than its training data, as reported for GANs in the reference.

The bin edges come from ``n_truth`` exact samples, so their own error sets a floor of about
(1/K) / n_truth on every MSE; keep ``n_truth`` well above the largest N studied.

References:
    A. Butter, S. Diefenbacher, G. Kasieczka, B. Nachman, T. Plehn, "GANplification: boosting
    event generation using GANs", https://arxiv.org/abs/2008.06545 (quantile-binned MSE of
    generated against true samples as a function of the number of samples).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import torch

from kiss_bench.samplers.flow_matching import FlowMatchingSampler
from kiss_bench.seeds import make_generator
from kiss_bench.targets.base import Target
from kiss_core.errors import KissError
from kiss_core.io.files import atomic_path, write_json

__all__ = [
    "AMPLIFICATION_COLUMNS",
    "amplification_study",
    "plot_amplification",
    "quantile_binned_mse",
    "write_amplification",
]

logger = logging.getLogger(__name__)

AMPLIFICATION_COLUMNS = ("target", "kind", "n_train", "n_samples", "mse", "mse_std", "n_equivalent", "amplification")


def quantile_edges(reference: torch.Tensor, n_quantiles: int) -> torch.Tensor:
    """Return the inner bin edges of ``n_quantiles`` equal-probability bins per dimension, shape (K - 1, d)."""
    levels = torch.linspace(0, 1, n_quantiles + 1, dtype=torch.float64, device=reference.device)[1:-1]
    # torch.quantile is limited to 2^24 elements, so large references go through numpy.
    return torch.as_tensor(np.quantile(reference.cpu().numpy(), levels.cpu().numpy(), axis=0), device=reference.device)


def quantile_binned_mse(samples: torch.Tensor, edges: torch.Tensor) -> float:
    """Return the mean over dimensions and bins of (fraction in bin - 1/K)^2 for bins with the given inner edges."""
    n_bins = edges.shape[0] + 1
    errors = []
    for dimension in range(samples.shape[1]):
        bins = torch.bucketize(samples[:, dimension].contiguous(), edges[:, dimension].contiguous())
        fractions = torch.bincount(bins, minlength=n_bins).double() / samples.shape[0]
        errors.append(((fractions - 1.0 / n_bins) ** 2).mean())
    return float(torch.stack(errors).mean())


def amplification_study(
    target: Target,
    *,
    n_train: int = 1000,
    generated_sizes: tuple[int, ...] = (1000, 10000, 100000),
    n_quantiles: int = 20,
    repetitions: int = 5,
    n_truth: int = 1_000_000,
    training_steps: int = 3000,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> list[dict]:
    """Train flow matching on ``n_train`` exact samples and compare its binned MSE with exact samples.

    Returns:
        Rows with keys of AMPLIFICATION_COLUMNS: one per sample size for "true" samples and
        one per size for "generated" samples (mean and standard deviation over ``repetitions``).
    """
    if n_quantiles < 2:
        raise KissError("Too few quantile bins", where="n_quantiles", expected="at least 2", got=str(n_quantiles))
    if n_train < 2 or min(generated_sizes) < 1:
        raise KissError(
            "Invalid sample sizes",
            where="n_train / generated_sizes",
            expected="n_train >= 2 and sizes >= 1",
            got=f"n_train={n_train}, sizes={list(generated_sizes)}",
        )
    edges = quantile_edges(target.sample(n_truth, make_generator(device, seed, target.name, "edges")), n_quantiles)

    generator_model = FlowMatchingSampler(n_train=n_train, steps=training_steps)
    generator_model.fit(
        target.sample(n_train, make_generator(device, seed, target.name, "train")),
        make_generator(device, seed, target.name, "fit"),
        progress,
    )
    multinomial = (1.0 / n_quantiles) * (1.0 - 1.0 / n_quantiles)

    rows = []
    for kind in ("true", "generated"):
        for size in generated_sizes:
            errors = []
            for repetition in range(repetitions):
                generator = make_generator(device, seed, target.name, kind, size, repetition)
                samples = (
                    target.sample(size, generator) if kind == "true" else generator_model.generate(size, generator)
                )
                errors.append(quantile_binned_mse(samples, edges))
            mse = float(np.mean(errors))
            n_equivalent = multinomial / mse
            rows.append(
                {
                    "target": target.name,
                    "kind": kind,
                    "n_train": n_train,
                    "n_samples": size,
                    "mse": mse,
                    "mse_std": float(np.std(errors, ddof=1)) if repetitions > 1 else float("nan"),
                    "n_equivalent": n_equivalent,
                    "amplification": n_equivalent / n_train,
                }
            )
            logger.info("%s samples, N = %d: MSE %.3g, worth %.0f true samples", kind, size, mse, n_equivalent)
    return rows


def plot_amplification(rows: list[dict], path: Path, n_quantiles: int) -> Path:
    """Plot MSE against the number of samples for true and generated samples, with the multinomial law."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4.0))
    sizes = np.array(sorted({row["n_samples"] for row in rows}), dtype=float)
    line = np.geomspace(sizes.min(), sizes.max() * 10, 50)
    axes.plot(
        line,
        (1 / n_quantiles) * (1 - 1 / n_quantiles) / line,
        color="grey",
        linestyle="--",
        label="true samples, expected",
    )
    for kind, marker in (("true", "o"), ("generated", "s")):
        selected = [row for row in rows if row["kind"] == kind]
        axes.errorbar(
            [row["n_samples"] for row in selected],
            [row["mse"] for row in selected],
            yerr=[row["mse_std"] for row in selected],
            marker=marker,
            linestyle="none",
            label=kind,
        )
    n_train = rows[0]["n_train"]
    axes.axvline(n_train, color="black", linewidth=0.8, label=f"training size {n_train}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("number of samples")
    axes.set_ylabel(f"quantile-binned MSE ({n_quantiles} bins)")
    axes.set_title(rows[0]["target"])
    axes.legend(fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return path


def write_amplification(rows: list[dict], out: Path, n_quantiles: int) -> list[Path]:
    """Write amplification.csv, amplification.json and amplification.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "amplification.csv"
    with atomic_path(csv_path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=AMPLIFICATION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    json_path = out / "amplification.json"
    write_json(json_path, {"n_quantiles": n_quantiles, "rows": rows})
    return [csv_path, json_path, plot_amplification(rows, out / "amplification.png", n_quantiles)]
