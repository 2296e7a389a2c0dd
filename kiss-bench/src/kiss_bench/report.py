"""Z-score charts with 1, 2 and 3 sigma bands (PNG) and an HTML page for a benchmark suite."""

from __future__ import annotations

import html
import logging
import math
from pathlib import Path

import numpy as np

from kiss_bench.protocol import BASELINE
from kiss_core.io.files import atomic_path

__all__ = ["plot_z_scores", "write_html", "write_report"]

logger = logging.getLogger(__name__)

#: Colours of the bands |z| < 1, 2, 3, innermost first.
_BAND_COLOURS = ("#b7e4c7", "#ffe8a3", "#ffc9b0")


def plot_z_scores(rows: list[dict], target: str, path: Path) -> Path:
    """Draw every sampler's z-scores per metric for one target, one point per dimension, and save a PNG.

    The shaded bands mark |z| < 1, 2 and 3; values beyond +-6 are drawn at the edge as triangles.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    selected = [row for row in rows if row["target"] == target and row["sampler"] != BASELINE]
    metrics = list(dict.fromkeys(row["metric"] for row in selected))
    samplers = list(dict.fromkeys(row["sampler"] for row in selected))
    figure, axes = plt.subplots(figsize=(max(6.0, 0.7 * len(metrics) + 3), 4.2))
    for level, colour in zip((3, 2, 1), reversed(_BAND_COLOURS), strict=True):
        axes.axhspan(-level, level, color=colour, zorder=0)
    axes.axhline(0.0, color="black", linewidth=0.8, zorder=1)

    limit = 6.0
    width = 0.7 / max(1, len(samplers))
    for index, sampler in enumerate(samplers):
        offset = (index - (len(samplers) - 1) / 2) * width
        x, z = [], []
        for row in selected:
            if row["sampler"] == sampler and math.isfinite(row["z"]):
                x.append(metrics.index(row["metric"]) + offset)
                z.append(row["z"])
        z = np.asarray(z)
        clipped = np.abs(z) > limit
        colour = f"C{index}"
        axes.scatter(np.asarray(x)[~clipped], z[~clipped], s=14, color=colour, label=sampler, zorder=3)
        axes.scatter(np.asarray(x)[clipped], np.sign(z[clipped]) * limit, s=30, marker="^", color=colour, zorder=3)
    axes.set_xticks(range(len(metrics)))
    axes.set_xticklabels(metrics, rotation=45, ha="right")
    axes.set_ylim(-limit - 0.5, limit + 0.5)
    axes.set_ylabel("z = (mean - mean IID) / std IID")
    axes.set_title(f"{target}: sampler statistics against the IID baseline")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return path


def _worst_dimensions(rows: list[dict], target: str) -> list[dict]:
    """Keep, per sampler and metric, the dimension with the largest |z|."""
    worst: dict[tuple, dict] = {}
    for row in rows:
        if row["target"] != target or row["sampler"] == BASELINE:
            continue
        key = (row["sampler"], row["metric"])
        score = abs(row["z"]) if math.isfinite(row["z"]) else -1.0
        if key not in worst or score > (abs(worst[key]["z"]) if math.isfinite(worst[key]["z"]) else -1.0):
            worst[key] = row
    return list(worst.values())


def _cell(value: float, digits: int = 3) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}g}"


def write_html(rows: list[dict], charts: dict[str, Path], path: Path, title: str = "KISS sampler benchmark") -> Path:
    """Write an HTML page with one chart and one table (worst dimension per metric) per target."""
    sections = []
    for target, chart in charts.items():
        body = []
        for row in _worst_dimensions(rows, target):
            tension = ' class="tension"' if math.isfinite(row["z"]) and abs(row["z"]) > 3 else ""
            body.append(
                f"<tr><td>{html.escape(row['sampler'])}</td><td>{html.escape(row['metric'])}</td>"
                f"<td>{html.escape(row['dimension'])}</td><td{tension}>{_cell(row['z'])}</td>"
                f"<td>{_cell(row['width_ratio'])}</td><td>{_cell(row['p_value'])}</td>"
                f"<td>{_cell(row['kish_ess'], 6)}</td></tr>"
            )
        sections.append(
            f"<h2>{html.escape(target)}</h2>"
            f'<img src="{html.escape(chart.name)}" alt="z-scores for {html.escape(target)}">'
            "<table><tr><th>sampler</th><th>metric</th><th>worst dimension</th><th>z</th><th>width ratio</th>"
            "<th>KS p-value</th><th>Kish ESS</th></tr>" + "".join(body) + "</table>"
        )
    n_points = rows[0]["n_points"] if rows else 0
    repetitions = max((row["repetitions"] for row in rows), default=0)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; max-width: 70em; margin: 2em auto; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ padding: 0.2em 0.7em; border-bottom: 1px solid #ccc; }}
td.tension {{ color: #b00; font-weight: bold; }} img {{ max-width: 100%; }}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Each statistic was computed {repetitions} times with fresh samples of {n_points} points, for every sampler and
for exact IID sampling. z = (mean - mean IID) / std IID; the width ratio is std / std IID; the p-value is from the
two-sided two-sample Kolmogorov-Smirnov test between the {repetitions} values of the sampler and of IID sampling.
The tables show the dimension with the largest |z| per metric; summary.csv contains every dimension.</p>
{"".join(sections)}
</body></html>
"""
    with atomic_path(path) as temporary:
        temporary.write_text(page)
    return path


def write_report(rows: list[dict], out: Path) -> Path:
    """Write one z-score PNG per target and index.html into ``out``; return the page's path."""
    charts = {}
    for target in dict.fromkeys(row["target"] for row in rows):
        charts[target] = plot_z_scores(rows, target, out / f"z_scores_{target}.png")
    page = write_html(rows, charts, out / "index.html")
    logger.info("wrote %d charts and %s", len(charts), page)
    return page
