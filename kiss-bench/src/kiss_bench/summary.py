"""Calibrated summary of a suite: each sampler's statistics against their IID distribution.

For every target, sampler, statistic and dimension, the R values of the sampler are compared
with the R values of the IID sampler at the same sample size:

- z = (mean_sampler - mean_IID) / std_IID, the shift in units of the IID spread;
- width ratio = std_sampler / std_IID, above 1 when the sampler's draws are correlated or
  its output varies more than exact sampling would;
- p-value of the two-sided two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp) between
  the two sets of R values, which reacts to a shift and to a change of width alike.

Standard deviations use ddof = 1.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from kiss_bench.protocol import BASELINE
from kiss_core.io.files import atomic_path, write_json

__all__ = ["SUMMARY_COLUMNS", "summarise", "write_summary"]

SUMMARY_COLUMNS = (
    "target",
    "sampler",
    "metric",
    "dimension",
    "n_points",
    "repetitions",
    "mean",
    "std",
    "iid_mean",
    "iid_std",
    "z",
    "width_ratio",
    "p_value",
    "kish_ess",
)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return 0.0 if numerator == 0 else math.nan


def summarise(records: list[dict], n_points: int) -> list[dict]:
    """Turn comparison records into one tidy row per target, sampler, metric and dimension."""
    values: dict[tuple, list[float]] = defaultdict(list)
    effective_sizes: dict[tuple, list[float]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r["repetition"]):
        effective_sizes[record["target"], record["sampler"]].append(record["kish_ess"])
        for statistic, dimension, value in record["rows"]:
            values[record["target"], record["sampler"], statistic, dimension].append(value)

    rows = []
    for (target, sampler, statistic, dimension), sampler_values in sorted(values.items(), key=_order):
        baseline = np.asarray(values.get((target, BASELINE, statistic, dimension), []), dtype=np.float64)
        sampler_array = np.asarray(sampler_values, dtype=np.float64)
        mean, std = (
            float(sampler_array.mean()),
            float(sampler_array.std(ddof=1)) if sampler_array.size > 1 else math.nan,
        )
        iid_mean = float(baseline.mean()) if baseline.size else math.nan
        iid_std = float(baseline.std(ddof=1)) if baseline.size > 1 else math.nan
        p_value = _ks_p_value(sampler_array, baseline) if baseline.size and sampler != BASELINE else math.nan
        rows.append(
            {
                "target": target,
                "sampler": sampler,
                "metric": statistic,
                "dimension": dimension,
                "n_points": n_points,
                "repetitions": int(sampler_array.size),
                "mean": mean,
                "std": std,
                "iid_mean": iid_mean,
                "iid_std": iid_std,
                "z": _ratio(mean - iid_mean, iid_std),
                "width_ratio": _ratio(std, iid_std),
                "p_value": p_value,
                "kish_ess": float(np.mean(effective_sizes[target, sampler])),
            }
        )
    return rows


def _ks_p_value(values: np.ndarray, baseline: np.ndarray) -> float:
    # scipy falls back from the exact to the asymptotic distribution when the exact one fails
    # (ties, large R). That fallback is documented, so its warning is silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ks_2samp(values, baseline).pvalue)


def _finite_or_none(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _order(item):
    (target, sampler, statistic, dimension), _ = item
    return (target, sampler != BASELINE, sampler, statistic, int(dimension) if dimension.isdigit() else -1)


def write_summary(rows: list[dict], out: Path) -> tuple[Path, Path]:
    """Write the rows to ``summary.csv`` and ``summary.json`` in ``out``, atomically; return both paths."""
    csv_path, json_path = out / "summary.csv", out / "summary.json"
    with atomic_path(csv_path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    # JSON has no NaN, so undefined values (no IID spread, no baseline) become null.
    json_rows = [{key: _finite_or_none(value) for key, value in row.items()} for row in rows]
    write_json(
        json_path,
        {
            "columns": list(SUMMARY_COLUMNS),
            "p_value_test": "two-sided two-sample Kolmogorov-Smirnov",
            "rows": json_rows,
        },
    )
    return csv_path, json_path
