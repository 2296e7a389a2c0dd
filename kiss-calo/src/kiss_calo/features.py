"""High-level shower features of the CaloChallenge evaluation, and the separation power.

For every shower the features are the total deposited energy and its ratio to the incident
energy. Per layer they are the deposited energy, the energy-weighted centre and width in r
and the sparsity. Layers with more than one angular bin also get the centre and width in eta
and phi, as in the official code. Widths are ``sqrt(max(<x^2> - <x>^2, 0))`` and the centre and width of a layer
without energy are 0, as in ``HighLevelFeatures.py`` of the official evaluation code
(https://github.com/CaloChallenge/homepage).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from kiss_calo.geometry import CaloChallengeGeometry

__all__ = [
    "ENERGY_FLOOR_MEV",
    "high_level_features",
    "classifier_high_level_inputs",
    "classifier_low_level_inputs",
    "feature_names",
    "histogram_edges",
    "separation_power",
]

#: Added to layer energies before the logarithm in classifier inputs, in MeV (official value).
ENERGY_FLOOR_MEV = 1e-8

#: Added to the energy sums that divide centres and widths, so an empty layer gives 0 not NaN.
_DIVISION_GUARD_MEV = 1e-16


def feature_names(geometry: CaloChallengeGeometry) -> list[str]:
    """Return the names of the high-level features of a geometry, in column order."""
    layers = geometry.non_empty_layers
    alpha_layers = [layer for layer in layers if geometry.layers[layer].n_alpha > 1]
    names = ["total_energy", "energy_ratio"]
    names += [f"layer_energy.{layer}" for layer in layers]
    for kind in ("eta_centre", "phi_centre", "eta_width", "phi_width"):
        names += [f"{kind}.{layer}" for layer in alpha_layers]
    for kind in ("r_centre", "r_width", "sparsity"):
        names += [f"{kind}.{layer}" for layer in layers]
    return names


def high_level_features(
    showers_mev: np.ndarray,
    incident_energy_mev: np.ndarray,
    geometry: CaloChallengeGeometry,
    *,
    threshold_mev: float = 0.0,
) -> xr.DataArray:
    """Compute the high-level features of a block of showers.

    Sparsity is the fraction of a layer's voxels with energy at or below ``threshold_mev``
    (the official definition: 1 minus the fraction above the threshold).

    Arguments:
        showers_mev: Voxel energies in MeV, shape ``(n, n_voxels)``.
        incident_energy_mev: Incident energies in MeV, shape ``(n,)``.
        geometry: The binning the showers use.
        threshold_mev: Voxel energy at or below which a voxel counts as empty for sparsity.

    Returns:
        A float64 array with dims ``(event, feature)`` and feature names as coordinates
        (``total_energy``, ``energy_ratio``, ``layer_energy.L``, ``eta_centre.L``, ...);
        energies in MeV, positions in mm.

    Example:
        >>> features = high_level_features(showers, incident, CaloChallengeGeometry.official("ds2"))
        >>> features.sel(feature="energy_ratio")
    """
    showers = np.asarray(showers_mev, dtype=np.float64)
    incident = np.asarray(incident_energy_mev, dtype=np.float64).reshape(-1)
    cells = geometry.cell_coordinates()
    layers = geometry.non_empty_layers
    starts = geometry.layer_offsets[layers]
    n_voxels = np.array([geometry.layers[layer].n_voxels for layer in layers])

    def per_layer(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, starts, axis=1)

    layer_energy = per_layer(showers)
    weight = layer_energy + _DIVISION_GUARD_MEV
    columns: dict[str, np.ndarray] = {
        "total_energy": showers.sum(axis=1),
        "energy_ratio": showers.sum(axis=1) / incident,
        "layer_energy": layer_energy,
    }
    moments = {}
    for coordinate in ("eta", "phi", "r"):
        position = cells[coordinate].values
        centre = per_layer(showers * position) / weight
        second = per_layer(showers * position**2) / weight
        moments[coordinate] = (centre, np.sqrt(np.clip(second - centre**2, 0.0, None)))
    sparsity = 1.0 - per_layer((showers > threshold_mev).astype(np.float64)) / n_voxels

    alpha_columns = [index for index, layer in enumerate(layers) if geometry.layers[layer].n_alpha > 1]
    columns["eta_centre"] = moments["eta"][0][:, alpha_columns]
    columns["phi_centre"] = moments["phi"][0][:, alpha_columns]
    columns["eta_width"] = moments["eta"][1][:, alpha_columns]
    columns["phi_width"] = moments["phi"][1][:, alpha_columns]
    columns["r_centre"], columns["r_width"] = moments["r"]
    columns["sparsity"] = sparsity

    values = np.column_stack([column.reshape(len(showers), -1) for column in columns.values()])
    return xr.DataArray(values, dims=("event", "feature"), coords={"feature": feature_names(geometry)})


def classifier_low_level_inputs(showers_mev: np.ndarray, incident_energy_mev: np.ndarray) -> np.ndarray:
    """Return the low-level classifier inputs of the official evaluation.

    The columns are log10 of the incident energy (MeV) and then each voxel energy as a
    percentage of the incident energy (``100 * E_voxel / E_inc``).
    """
    incident = np.asarray(incident_energy_mev, dtype=np.float64).reshape(-1, 1)
    return np.concatenate([np.log10(incident), 100.0 * np.asarray(showers_mev, dtype=np.float64) / incident], axis=1)


def classifier_high_level_inputs(features: xr.DataArray, incident_energy_mev: np.ndarray) -> np.ndarray:
    """Return the high-level classifier inputs of the official evaluation.

    The columns are log10 of the incident energy and of each layer energy (MeV, plus
    :data:`ENERGY_FLOOR_MEV`), then the eta and phi centres and widths divided by 100 mm.
    """
    names = [str(name) for name in features.feature.values]

    def select(prefix: str) -> np.ndarray:
        return features.sel(feature=[name for name in names if name.startswith(prefix + ".")]).values

    incident = np.asarray(incident_energy_mev, dtype=np.float64).reshape(-1, 1)
    return np.concatenate(
        [np.log10(incident), np.log10(select("layer_energy") + ENERGY_FLOOR_MEV)]
        + [select(kind) / 100.0 for kind in ("eta_centre", "phi_centre", "eta_width", "phi_width")],
        axis=1,
    )


def histogram_edges(reference: np.ndarray, n_bins: int = 50) -> np.ndarray:
    """Choose common histogram edges from the reference: even bins between its 0.1 and 99.9 % quantiles.

    Values outside the edges go to an underflow and an overflow bin in :func:`separation_power`.
    """
    low, high = np.quantile(np.asarray(reference, dtype=np.float64), [0.001, 0.999])
    if not high > low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, n_bins + 1)


def separation_power(reference: np.ndarray, candidate: np.ndarray, edges: np.ndarray) -> float:
    """Compute the separation power of two histograms on common edges.

    S = 1/2 sum_i (p_i - q_i)^2 / (p_i + q_i) over normalised bin contents p and q, with an
    underflow and an overflow bin added, so S = 0 for identical and S = 1 for disjoint
    distributions.

    References:
        Krause et al., "CaloChallenge 2022: A Community Challenge for Fast Calorimeter
        Simulation" (2024), https://arxiv.org/abs/2410.21611 (eq. for the separation power).
    """
    full_edges = np.concatenate([[-np.inf], edges, [np.inf]])
    p, _ = np.histogram(np.asarray(reference, dtype=np.float64), bins=full_edges)
    q, _ = np.histogram(np.asarray(candidate, dtype=np.float64), bins=full_edges)
    p = p / max(p.sum(), 1)
    q = q / max(q.sum(), 1)
    total = p + q
    filled = total > 0
    return float(0.5 * np.sum((p[filled] - q[filled]) ** 2 / total[filled]))
