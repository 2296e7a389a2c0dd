"""Histogram plots of reference against candidate with a ratio panel, rendered to PNG bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Histogram", "render_histogram"]

#: Bins used when a record gives none.
DEFAULT_BINS = 50

#: Automatic bins span these quantiles of the reference, so that a few outliers do not squeeze
#: the bulk of the distribution into one bin.
_AUTOMATIC_RANGE_QUANTILES = (0.001, 0.999)


@dataclass(frozen=True)
class Histogram:
    """A distribution to compare in the report.

    Arguments:
        name: File-name stem of the plot ("relative_mass").
        label: Axis label with unit ("Jet mass / jet pT", "Energy [GeV]").
        reference: Reference values, any shape (flattened).
        candidate: Candidate values, any shape (flattened).
        bins: Bin edges or a number of bins; ``None`` uses :data:`DEFAULT_BINS` bins over the
            central 99.8 % of the reference.
        log: Use a logarithmic y axis in the main panel.
    """

    name: str
    label: str
    reference: np.ndarray
    candidate: np.ndarray
    bins: np.ndarray | int | None = None
    log: bool = False


def _bin_edges(reference: np.ndarray, candidate: np.ndarray, bins: np.ndarray | int | None) -> np.ndarray:
    if bins is not None and np.ndim(bins) == 1:
        return np.asarray(bins, dtype=np.float64)
    low, high = np.quantile(reference, _AUTOMATIC_RANGE_QUANTILES)
    if low == high:
        low, high = min(reference.min(), candidate.min()), max(reference.max(), candidate.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, (bins or DEFAULT_BINS) + 1)


def render_histogram(record: Histogram) -> bytes:
    """Draw the normalised histograms (reference filled, candidate as a line) and their ratio.

    The ratio panel shows candidate / reference per bin with error bars from the Poisson
    uncertainties of both bin counts, added in quadrature in relative terms.

    Returns:
        The figure as PNG bytes.
    """
    reference = np.asarray(record.reference, dtype=np.float64).ravel()
    candidate = np.asarray(record.candidate, dtype=np.float64).ravel()
    edges = _bin_edges(reference, candidate, record.bins)
    counts_reference, _ = np.histogram(reference, edges)
    counts_candidate, _ = np.histogram(candidate, edges)
    widths = np.diff(edges)
    density_reference = counts_reference / max(counts_reference.sum(), 1) / widths
    density_candidate = counts_candidate / max(counts_candidate.sum(), 1) / widths

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = density_candidate / density_reference
        ratio_error = ratio * np.sqrt(1.0 / counts_candidate + 1.0 / counts_reference)
    centres = 0.5 * (edges[1:] + edges[:-1])
    shown = counts_reference > 0

    figure = Figure(figsize=(5.5, 5.0), layout="constrained")
    FigureCanvasAgg(figure)
    main, lower = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    main.stairs(density_reference, edges, fill=True, color="0.75", label=f"reference ({len(reference)})")
    main.stairs(density_candidate, edges, color="C3", linewidth=1.5, label=f"candidate ({len(candidate)})")
    main.set_ylabel("normalised entries")
    if record.log:
        main.set_yscale("log")
    main.legend(frameon=False)

    lower.axhline(1.0, color="0.4", linewidth=0.8)
    lower.errorbar(centres[shown], ratio[shown], yerr=ratio_error[shown], fmt="o", markersize=2.5, color="C3",
                   elinewidth=0.8)
    lower.set_ylim(0.5, 1.5)
    lower.set_ylabel("cand. / ref.")
    lower.set_xlabel(record.label)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
