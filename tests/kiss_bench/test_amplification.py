"""Amplification study: the binned MSE of true samples follows the multinomial law; the study runs end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kiss_bench.amplification import amplification_study, quantile_binned_mse, quantile_edges, write_amplification
from kiss_bench.targets import make_target


def test_quantile_edges_split_probability_evenly():
    target = make_target("normal1d")
    edges = quantile_edges(target.sample(200_000, torch.Generator().manual_seed(0)), 4)
    from scipy import stats

    np.testing.assert_allclose(edges[:, 0].numpy(), stats.norm.ppf([0.25, 0.5, 0.75]), atol=0.01)


def test_true_sample_mse_follows_multinomial_law():
    # For exact samples E[MSE] = (1/K)(1 - 1/K) / N; here K = 10, N = 500.
    target = make_target("normal2d")
    edges = quantile_edges(target.sample(500_000, torch.Generator().manual_seed(1)), 10)
    generator = torch.Generator().manual_seed(2)
    values = [quantile_binned_mse(target.sample(500, generator), edges) for _ in range(400)]
    expected = 0.1 * 0.9 / 500
    assert np.mean(values) == pytest.approx(expected, rel=0.1)


def test_mse_of_perfect_binning_is_zero():
    edges = torch.tensor([[1.5], [2.5]], dtype=torch.float64)
    samples = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    assert quantile_binned_mse(samples, edges) == 0.0
    assert quantile_binned_mse(torch.tensor([[1.0], [1.0], [1.0]], dtype=torch.float64), edges) == pytest.approx(
        ((1 - 1 / 3) ** 2 + 2 * (1 / 3) ** 2) / 3
    )


def test_amplification_study_end_to_end(tmp_path):
    rows = amplification_study(
        make_target("normal1d"),
        n_train=500,
        generated_sizes=(200, 2000),
        n_quantiles=10,
        repetitions=30,
        n_truth=100_000,
        training_steps=200,
        seed=0,
    )
    assert [(row["kind"], row["n_samples"]) for row in rows] == [
        ("true", 200),
        ("true", 2000),
        ("generated", 200),
        ("generated", 2000),
    ]
    true_small = rows[0]
    # Exact samples are worth about their own number (the mean of 30 repetitions scatters by about 9 %).
    assert true_small["n_equivalent"] == pytest.approx(200, rel=0.35)
    for row in rows:
        assert row["amplification"] == pytest.approx(row["n_equivalent"] / 500)
    paths = write_amplification(rows, tmp_path, 10)
    assert all(path.is_file() for path in paths)


def test_amplify_command_keeps_earlier_study(tmp_path):
    from click.testing import CliRunner

    from kiss_bench.cli import bench

    arguments = ["amplify", "--target", "normal1d", "--n-train", "200", "--sizes", "200,400", "--quantiles", "5",
                 "--repetitions", "2", "--n-truth", "20000", "--training-steps", "20", "--out", str(tmp_path)]
    first = CliRunner().invoke(bench, arguments)
    written = (tmp_path / "amplification.json").read_bytes()

    second = CliRunner().invoke(bench, arguments)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 2
    assert "already contains a study" in second.output
    assert (tmp_path / "amplification.json").read_bytes() == written
