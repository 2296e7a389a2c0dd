"""Spinor-helicity objects for massless momenta: Weyl spinors, spinor products, polarisation vectors.

Conventions (metric (+, -, -, -), momenta (E, px, py, pz) in GeV):

- p_{a b} = p_mu sigma^mu = lambda_a lambdatilde_b with sigma^mu = (1, sigma_x, sigma_y, sigma_z).
- <i j> = det(lambda_i, lambda_j) and [i j] = -det(lambdatilde_i, lambdatilde_j), so that
  <i j>[j i] = s_ij = 2 p_i.p_j.
- Momenta with negative energy (incoming particles in the all-outgoing convention) use
  lambda(-p) = i lambda(p) and lambdatilde(-p) = i lambdatilde(p).
- Outgoing gluon of helicity +/- with reference momentum q:
  eps_+^mu(k; q) = <q|gamma^mu|k] / (sqrt(2) <q k>) and eps_-^mu(k; q) = <k|gamma^mu|q] / (sqrt(2) [k q]),
  normalised to eps_+ . eps_- = -1 and eps_+ . eps_+ = 0.

References:
    L. J. Dixon, "Calculating scattering amplitudes efficiently", TASI 1995, arXiv:hep-ph/9601359.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "angle_bracket",
    "minkowski_dot",
    "polarisation_vector",
    "square_bracket",
    "weyl_spinors",
]


def minkowski_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return a.b = a0 b0 - a1 b1 - a2 b2 - a3 b3 over the last axis (no complex conjugation)."""
    return a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] - a[..., 2] * b[..., 2] - a[..., 3] * b[..., 3]


def weyl_spinors(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return lambda and lambdatilde (shape (..., 2), complex) of massless momenta p (..., 4).

    The formula divides by sqrt(E + pz) or by sqrt(E - pz), whichever is larger, so momenta
    along either beam axis are handled.
    """
    negative = p[..., 0] < 0
    q = torch.where(negative[..., None], -p, p)
    energy, px, py, pz = q.unbind(-1)
    plus = torch.clamp(energy + pz, min=0)
    minus = torch.clamp(energy - pz, min=0)
    transverse = torch.complex(px, py)
    use_plus = plus >= minus
    root_plus = torch.sqrt(torch.where(use_plus, plus, torch.ones_like(plus)))
    root_minus = torch.sqrt(torch.where(use_plus, torch.ones_like(minus), minus))

    root_plus_c = root_plus.to(transverse.dtype)
    root_minus_c = root_minus.to(transverse.dtype)
    lam_plus = torch.stack([root_plus_c, transverse / root_plus_c], -1)
    lamt_plus = torch.stack([root_plus_c, transverse.conj() / root_plus_c], -1)
    lam_minus = torch.stack([transverse.conj() / root_minus_c, root_minus_c], -1)
    lamt_minus = torch.stack([transverse / root_minus_c, root_minus_c], -1)
    lam = torch.where(use_plus[..., None], lam_plus, lam_minus)
    lamt = torch.where(use_plus[..., None], lamt_plus, lamt_minus)

    phase = torch.where(negative, 1j, 1.0 + 0j).to(lam.dtype)[..., None]
    return lam * phase, lamt * phase


def angle_bracket(lam_i: torch.Tensor, lam_j: torch.Tensor) -> torch.Tensor:
    """Return <i j> = det(lambda_i, lambda_j)."""
    return lam_i[..., 0] * lam_j[..., 1] - lam_i[..., 1] * lam_j[..., 0]


def square_bracket(lamt_i: torch.Tensor, lamt_j: torch.Tensor) -> torch.Tensor:
    """Return [i j] = -det(lambdatilde_i, lambdatilde_j)."""
    return -(lamt_i[..., 0] * lamt_j[..., 1] - lamt_i[..., 1] * lamt_j[..., 0])


def _vector_from_bispinor(lam: torch.Tensor, lamt: torch.Tensor) -> torch.Tensor:
    """Return v^mu = <lam|gamma^mu|lamt] = lam sigma^mu lamt, the vector whose matrix is 2 lam lamt^T."""
    m11 = lam[..., 0] * lamt[..., 0]
    m12 = lam[..., 0] * lamt[..., 1]
    m21 = lam[..., 1] * lamt[..., 0]
    m22 = lam[..., 1] * lamt[..., 1]
    return torch.stack([m11 + m22, m12 + m21, 1j * (m12 - m21), m11 - m22], -1)


def polarisation_vector(k: torch.Tensor, q: torch.Tensor, helicity: torch.Tensor | int) -> torch.Tensor:
    """Return the polarisation vector of an outgoing gluon with momentum k, reference q, helicity +/-1.

    Arguments:
        k: Gluon momenta (..., 4) in GeV; negative energy marks an incoming gluon.
        q: Reference momenta (..., 4), massless and not parallel to k.
        helicity: +1 or -1 per entry (broadcast against k[..., 0]).

    Returns:
        Complex vectors (..., 4) with eps.k = 0, eps.q = 0 and eps_+ . eps_- = -1.
    """
    lam_k, lamt_k = weyl_spinors(k)
    lam_q, lamt_q = weyl_spinors(q)
    plus = _vector_from_bispinor(lam_q, lamt_k) / (math.sqrt(2) * angle_bracket(lam_q, lam_k))[..., None]
    minus = _vector_from_bispinor(lam_k, lamt_q) / (math.sqrt(2) * square_bracket(lamt_k, lamt_q))[..., None]
    helicity = torch.as_tensor(helicity, device=k.device)
    return torch.where((helicity > 0)[..., None], plus, minus)
