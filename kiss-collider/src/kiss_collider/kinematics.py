"""Four-momenta of jet constituents in relative coordinates, and the relative jet mass.

Constituents follow the JetNet convention (Kansal et al. 2021, arXiv:2106.11535): per particle
etarel = eta - eta_jet, phirel = phi - phi_jet wrapped to (-pi, pi] and ptrel = pt / pt_jet.
Particles are taken as massless. Because mass is invariant under boosts along the beam axis and
rotations about it, summing constituents in relative coordinates gives the jet four-momentum in
units of pt_jet, and its invariant mass is m_jet / pt_jet.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONSTITUENT_FEATURES", "constituent_four_momenta", "jet_four_momentum", "relative_jet_mass",
           "relative_jet_pt"]

#: Order of the per-particle features in the ``constituents`` variable of a jet sample.
CONSTITUENT_FEATURES = ("etarel", "phirel", "ptrel")

#: Events processed at once, to bound memory on large samples.
_EVENTS_PER_CHUNK = 100_000


def _as_arrays(constituents, mask) -> tuple[np.ndarray, np.ndarray]:
    """Return (event, particle, 3) float64 constituents in CONSTITUENT_FEATURES order and a bool mask."""
    if hasattr(constituents, "sel") and "feature" in getattr(constituents, "dims", ()):
        constituents = constituents.sel(feature=list(CONSTITUENT_FEATURES)).transpose("event", "particle", "feature")
    values = np.asarray(constituents, dtype=np.float64)
    real = np.asarray(mask, dtype=bool)
    if values.ndim != 3 or values.shape[2] != 3 or real.shape != values.shape[:2]:
        raise ValueError(f"expected constituents (event, particle, 3) and mask (event, particle), "
                         f"got {values.shape} and {real.shape}")
    return values, real


def constituent_four_momenta(constituents, mask) -> np.ndarray:
    """Compute (E, px, py, pz) of massless constituents in units of the jet pT.

    Arguments:
        constituents: (event, particle, 3) array in (etarel, phirel, ptrel) order, or a
            DataArray with a ``feature`` coordinate.
        mask: (event, particle) booleans, True for real particles; padded ones get zero.

    Returns:
        Array of shape (event, particle, 4).
    """
    values, real = _as_arrays(constituents, mask)
    eta, phi, pt = values[..., 0], values[..., 1], values[..., 2] * real
    return np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)


def jet_four_momentum(constituents, mask) -> np.ndarray:
    """Sum the constituent four-momenta per jet, in units of the jet pT, in event chunks.

    Returns:
        Array of shape (event, 4) with (E, px, py, pz).
    """
    values, real = _as_arrays(constituents, mask)
    total = np.empty((len(values), 4))
    for start in range(0, len(values), _EVENTS_PER_CHUNK):
        stop = start + _EVENTS_PER_CHUNK
        total[start:stop] = constituent_four_momenta(values[start:stop], real[start:stop]).sum(axis=1)
    return total


def relative_jet_mass(constituents, mask) -> np.ndarray:
    """Compute the jet mass in units of the jet pT from massless constituents, as JetNet's W1M uses.

    Arguments:
        constituents: (event, particle, 3) in (etarel, phirel, ptrel) order, or a DataArray
            with a ``feature`` coordinate.
        mask: (event, particle) booleans, True for real particles.

    Returns:
        m_jet / pt_jet per event, shape (event,); tiny negative m^2 from rounding become 0.

    Example:
        For two massless particles m^2 = 2 pt_1 pt_2 (cosh(eta_1 - eta_2) - cos(phi_1 - phi_2)):

        >>> relative_jet_mass(np.array([[[0.0, 0.1, 0.5], [0.0, -0.1, 0.5]]]), np.ones((1, 2), bool))
        array([0.09983342])
    """
    energy, px, py, pz = jet_four_momentum(constituents, mask).T
    mass_squared = energy**2 - px**2 - py**2 - pz**2
    return np.sqrt(np.clip(mass_squared, 0.0, None))


def relative_jet_pt(constituents, mask) -> np.ndarray:
    """Compute the pT of the summed constituents in units of the jet pT (1 for a closed jet)."""
    _, px, py, _ = jet_four_momentum(constituents, mask).T
    return np.hypot(px, py)
