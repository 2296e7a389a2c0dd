"""Input checks shared by the calorimeter surrogates: units, signs and shapes of samples."""

from __future__ import annotations

import numpy as np
import xarray as xr

from kiss_core.errors import KissError

__all__ = ["GEV_SUSPICION_LIMIT_MEV", "check_incident_energy", "check_non_negative", "require_variables"]

#: Incident energies that all stay below this many MeV are taken for GeV. The calorimeter
#: datasets KISS models start at 1 GeV (CaloChallenge 2, 3) or 10 GeV (CaloClouds).
GEV_SUSPICION_LIMIT_MEV = 1e3


def require_variables(data: xr.Dataset, names: tuple[str, ...], where: str) -> None:
    """Raise KissError unless ``data`` has every variable in ``names``."""
    missing = [name for name in names if name not in data]
    if missing:
        raise KissError(
            "Missing variables",
            where=where,
            expected="variables " + ", ".join(names),
            got="no " + ", ".join(missing) + f" (has {', '.join(map(str, data.data_vars)) or 'nothing'})",
        )


def check_incident_energy(energy_mev: np.ndarray, where: str) -> np.ndarray:
    """Return incident energies as float64 (n,) after checking that they are positive MeV values."""
    energy = np.asarray(energy_mev, dtype=np.float64).reshape(-1)
    if energy.size == 0:
        raise KissError("No events", where=where, expected="at least one incident energy", got="none")
    if not np.all(np.isfinite(energy)) or np.any(energy <= 0):
        raise KissError(
            "Invalid incident energy",
            where=where,
            expected="positive, finite energies in MeV",
            got=f"minimum {np.nanmin(energy) if np.any(np.isfinite(energy)) else np.nan!r}, NaN present: {bool(np.isnan(energy).any())}",
        )
    if energy.max() < GEV_SUSPICION_LIMIT_MEV:
        raise KissError(
            "Incident energies look like GeV, expected MeV",
            where=where,
            expected=f"MeV values, at least one above {GEV_SUSPICION_LIMIT_MEV:g}",
            got=f"values between {energy.min():.4g} and {energy.max():.4g}",
            hint="multiply GeV values by 1000",
        )
    return energy


def check_non_negative(values: np.ndarray, where: str) -> np.ndarray:
    """Return ``values`` as float64 after checking that they are finite and >= 0 (NaN padding is not allowed)."""
    array = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), array.shape)
        raise KissError(
            "Invalid energy",
            where=f"{where}{list(index)}",
            expected="finite energies >= 0 in MeV",
            got=repr(float(array[index])),
        )
    return array
