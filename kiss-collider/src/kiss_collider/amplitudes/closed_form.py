"""Closed-form matrix elements used as fast, exactly known integrands.

e+ e- -> mu+ mu- through one photon, massless fermions, spin-averaged:

    |M|^2 = 2 e^4 (t^2 + u^2) / s^2 = e^4 (1 + cos^2 theta),
    d sigma / d Omega = alpha^2 / (4 s) (1 + cos^2 theta),    sigma = 4 pi alpha^2 / (3 s).

The total cross section follows from integrating (1 + cos^2 theta) over the solid angle (16 pi / 3).
"""

from __future__ import annotations

import math

import torch

from kiss_collider.amplitudes.spinors import minkowski_dot

__all__ = ["ALPHA_EM", "ee_to_mumu_cross_section", "ee_to_mumu_squared_matrix_element"]

#: Fine-structure constant at zero momentum transfer (CODATA 2018: 1 / 137.035999084).
ALPHA_EM = 1 / 137.035999084


def ee_to_mumu_squared_matrix_element(momenta: torch.Tensor, alpha: float = ALPHA_EM) -> torch.Tensor:
    """Return the spin-averaged |M|^2 (dimensionless) of e+ e- -> mu+ mu- for momenta (events, 4, 4) in GeV.

    The momenta are ordered e-, e+ (incoming), mu-, mu+ (outgoing).
    """
    electron, _, muon, antimuon = momenta.unbind(1)
    s = minkowski_dot(momenta[:, 0] + momenta[:, 1], momenta[:, 0] + momenta[:, 1])
    t = minkowski_dot(electron - muon, electron - muon)
    u = minkowski_dot(electron - antimuon, electron - antimuon)
    e_squared = 4 * math.pi * alpha
    return 2 * e_squared**2 * (t**2 + u**2) / s**2


def ee_to_mumu_cross_section(sqrt_s_gev: float, alpha: float = ALPHA_EM) -> float:
    """Return the total cross section 4 pi alpha^2 / (3 s) in GeV^-2."""
    return 4 * math.pi * alpha**2 / (3 * sqrt_s_gev**2)
