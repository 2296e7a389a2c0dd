"""PNG plots of the CaloChallenge evaluation: feature histograms with ratio panels and shower images.

Figures are built with :class:`matplotlib.figure.Figure`, which renders PNGs through Agg
without pyplot, so plotting changes no global matplotlib state and needs no display.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from kiss_calo.features import histogram_edges
from kiss_calo.geometry import CaloChallengeGeometry

__all__ = ["plot_feature_histograms", "plot_showers"]

_STYLES = {
    "reference": {"histtype": "stepfilled", "color": "lightgrey", "label": "reference (half A)"},
    "baseline": {"histtype": "step", "color": "dimgrey", "linestyle": "--", "label": "reference (half B)"},
    "candidate": {"histtype": "step", "color": "tab:orange", "linewidth": 1.5, "label": "candidate"},
}

#: Straight segments that approximate a full circle in the polar shower images.
_SEGMENTS_PER_CIRCLE = 128

_UNITS = {"total_energy": "MeV", "layer_energy": "MeV", "energy_ratio": "", "sparsity": ""}


def _save(figure: Figure, path: Path) -> Path:
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    figure.savefig(temporary, dpi=80)
    os.replace(temporary, path)
    return path


def plot_feature_histograms(samples: dict[str, xr.DataArray], n_bins: int, out_dir: Path) -> list[Path]:
    """Draw one PNG per feature kind (``layer_energy``, ``eta_centre``, ...), one panel per layer.

    Each panel shows the reference half A, the reference half B and the candidate on edges
    from half A, with the ratio candidate / reference below.

    Returns:
        The PNG files written, named ``features_<kind>.png``.
    """
    names = [str(name) for name in samples["reference"].feature.values]
    kinds: dict[str, list[str]] = {}
    for name in names:
        kind = "energy" if name in ("total_energy", "energy_ratio") else name.split(".")[0]
        kinds.setdefault(kind, []).append(name)

    written = []
    for kind, members in kinds.items():
        n_columns = min(len(members), 6)
        n_rows = math.ceil(len(members) / n_columns)
        figure = Figure(figsize=(3 * n_columns, 3.2 * n_rows))
        axes = figure.subplots(2 * n_rows, n_columns, squeeze=False, gridspec_kw={"height_ratios": [3, 1] * n_rows})
        for index, name in enumerate(members):
            row, column = divmod(index, n_columns)
            _draw_histogram(axes[2 * row, column], axes[2 * row + 1, column], samples, name, n_bins)
        for index in range(len(members), n_rows * n_columns):
            row, column = divmod(index, n_columns)
            axes[2 * row, column].set_visible(False)
            axes[2 * row + 1, column].set_visible(False)
        axes[0, 0].legend(fontsize=6)
        # A fixed layout: tight_layout takes most of the drawing time for many panels.
        figure.subplots_adjust(left=0.06, right=0.98, bottom=0.06, top=0.96, hspace=0.6, wspace=0.3)
        written.append(_save(figure, out_dir / f"features_{kind}.png"))
    return written


def _draw_histogram(main: Axes, ratio: Axes, samples: dict[str, xr.DataArray], name: str, n_bins: int) -> None:
    reference = samples["reference"].sel(feature=name).values
    edges = histogram_edges(reference, n_bins)
    counts = {}
    for label, style in _STYLES.items():
        # Values outside the edges are drawn in the first and last bins.
        values = np.clip(samples[label].sel(feature=name).values, edges[0], edges[-1])
        counts[label], _, _ = main.hist(values, bins=edges, density=True, **style)
    main.set_title(name, fontsize=8)
    main.tick_params(labelsize=6)

    centres = 0.5 * (edges[:-1] + edges[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio.plot(centres, counts["candidate"] / counts["reference"], ".", color="tab:orange", markersize=3)
        ratio.plot(centres, counts["baseline"] / counts["reference"], ".", color="dimgrey", markersize=2)
    ratio.axhline(1.0, color="black", linewidth=0.5)
    ratio.set_ylim(0.5, 1.5)
    kind = name.split(".")[0]
    unit = _UNITS.get(kind, "mm")
    ratio.set_xlabel(f"{name} [{unit}]" if unit else name, fontsize=6)
    ratio.tick_params(labelsize=6)


def plot_showers(
    geometry: CaloChallengeGeometry, showers_mev: dict[str, np.ndarray], path: Path, title: str
) -> list[Path]:
    """Draw showers layer by layer as polar images, one row per sample.

    Angular bins start at alpha = -pi, as in the official binning. Colours are logarithmic in
    MeV from 1e-2 MeV to the largest voxel energy.

    Returns:
        ``[path]``, the PNG file written.
    """
    layers = geometry.non_empty_layers
    n_columns = min(len(layers), 9)
    rows_per_sample = math.ceil(len(layers) / n_columns)
    n_rows = rows_per_sample * len(showers_mev)
    figure = Figure(figsize=(1.8 * n_columns, 1.9 * n_rows + 0.6))
    maximum = max(float(np.max(shower)) for shower in showers_mev.values())
    norm = LogNorm(vmin=1e-2, vmax=max(maximum, 1e-1))

    mesh = None
    for sample_index, (label, shower) in enumerate(showers_mev.items()):
        for index, layer in enumerate(layers):
            binning = geometry.layers[layer]
            row, column = divmod(index, n_columns)
            position = (sample_index * rows_per_sample + row) * n_columns + column + 1
            axis = figure.add_subplot(n_rows, n_columns, position, projection="polar")
            # Each angular bin is drawn as several straight segments, so that a bin spanning a
            # wide angle (the full circle where n_alpha = 1) is drawn as an arc.
            segments = max(1, _SEGMENTS_PER_CIRCLE // binning.n_alpha)
            alpha_edges = np.linspace(-math.pi, math.pi, binning.n_alpha * segments + 1)
            image = shower[geometry.layer_slice(layer)].reshape(binning.n_alpha, binning.n_r)
            image = np.repeat(image, segments, axis=0)
            mesh = axis.pcolormesh(alpha_edges, np.asarray(binning.r_edges_mm), image.T + 1e-16, norm=norm)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{label} L{layer}", fontsize=6)
    if mesh is not None:
        figure.colorbar(mesh, ax=figure.axes, orientation="horizontal", fraction=0.03, label="energy [MeV]")
    figure.suptitle(title, fontsize=9)
    return [_save(figure, path)]
