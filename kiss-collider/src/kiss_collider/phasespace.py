"""Massless n-body phase space: RAMBO, its invertible hypercube form, and generation cuts.

Convention. The n-body phase-space measure is

    dPhi_n(P; p_1..p_n) = (2 pi)^(4 - 3n) delta^4(P - sum p_i) prod_i d^3p_i / (2 E_i),

so that its volume for massless particles at centre-of-mass energy squared s is

    Phi_n(s) = (2 pi)^(4 - 3n) (pi / 2)^(n - 1) s^(n - 2) / ((n - 1)! (n - 2)!),

which is 1 / (8 pi) for n = 2. Momenta are in GeV, stored as (E, px, py, pz) along the last
axis; the colliding beams run along the z axis.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from kiss_core.errors import KissError

__all__ = [
    "Cuts",
    "PhaseSpace",
    "incoming_momenta",
    "phase_space_volume",
    "rambo",
]

logger = logging.getLogger(__name__)

#: Bisection steps that solve the mass equation of RAMBO on diet; 2^-60 is below float64 resolution.
_BISECTION_STEPS = 60


def phase_space_volume(n_particles: int, sqrt_s_gev: float) -> float:
    """Return the massless n-body phase-space volume Phi_n(s) in GeV^(2n - 4).

    Arguments:
        n_particles: Number of final-state particles n >= 2.
        sqrt_s_gev: Centre-of-mass energy in GeV.

    References:
        R. Kleiss, W. J. Stirling, S. D. Ellis, "A new Monte Carlo treatment of multiparticle
        phase space at high energies", Comput. Phys. Commun. 40 (1986) 359.
    """
    n = n_particles
    s = sqrt_s_gev**2
    return (
        (2 * math.pi) ** (4 - 3 * n)
        * (math.pi / 2) ** (n - 1)
        * s ** (n - 2)
        / (math.factorial(n - 1) * math.factorial(n - 2))
    )


def incoming_momenta(sqrt_s_gev: float, n_events: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Return the two massless beam momenta along +z and -z, shape (n_events, 2, 4), in GeV."""
    energy = sqrt_s_gev / 2
    beams = torch.tensor([[energy, 0.0, 0.0, energy], [energy, 0.0, 0.0, -energy]], dtype=dtype)
    return beams.expand(n_events, 2, 4).clone()


def rambo(n_particles: int, sqrt_s_gev: float, n_events: int, *, generator: torch.Generator | None = None,
          dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw massless momenta uniformly in phase space with the original RAMBO algorithm.

    Each particle first gets an isotropic direction and an energy drawn from q e^(-q); the sum
    is then boosted to rest and scaled to ``sqrt_s_gev``. The weight is the constant volume
    :func:`phase_space_volume`.

    Arguments:
        n_particles: Number of final-state particles n >= 2.
        sqrt_s_gev: Centre-of-mass energy in GeV.
        n_events: Number of points.
        generator: Torch random generator.

    Returns:
        Momenta of shape (n_events, n_particles, 4) in GeV and weights of shape (n_events,).

    References:
        R. Kleiss, W. J. Stirling, S. D. Ellis, Comput. Phys. Commun. 40 (1986) 359.
    """
    _check_multiplicity(n_particles)
    uniform = torch.rand(n_events, n_particles, 4, generator=generator, dtype=dtype)
    cos_theta = 2 * uniform[..., 0] - 1
    sin_theta = torch.sqrt(1 - cos_theta**2)
    phi = 2 * math.pi * uniform[..., 1]
    energy = -torch.log(uniform[..., 2] * uniform[..., 3])
    q = torch.stack(
        [energy, energy * sin_theta * torch.cos(phi), energy * sin_theta * torch.sin(phi), energy * cos_theta], -1
    )

    # Boost the massive sum Q of the q_i to rest and rescale it to sqrt(s).
    total = q.sum(1)
    mass = torch.sqrt(total[:, 0] ** 2 - (total[:, 1:] ** 2).sum(-1))
    b = -total[:, 1:] / mass[:, None]
    gamma = total[:, 0] / mass
    a = 1 / (1 + gamma)
    x = sqrt_s_gev / mass
    b_dot_q = (b[:, None, :] * q[..., 1:]).sum(-1)
    momentum_energy = x[:, None] * (gamma[:, None] * q[..., 0] + b_dot_q)
    momentum_space = x[:, None, None] * (
        q[..., 1:] + b[:, None, :] * q[..., :1] + a[:, None, None] * b_dot_q[..., None] * b[:, None, :]
    )
    momenta = torch.cat([momentum_energy[..., None], momentum_space], -1)
    weights = torch.full((n_events,), phase_space_volume(n_particles, sqrt_s_gev), dtype=dtype)
    return momenta, weights


@dataclass(frozen=True)
class Cuts:
    """Generation cuts on every final-state particle (massless, so rapidity = pseudorapidity).

    Arguments:
        pt_min_gev: Minimum transverse momentum in GeV.
        max_abs_rapidity: Maximum absolute rapidity; ``math.inf`` for none.
        min_delta_r: Minimum Delta R = sqrt(Delta y^2 + Delta phi^2) between any two particles.

    Soft and collinear regions make tree-level QCD matrix elements diverge, so a positive
    ``pt_min_gev`` and ``min_delta_r`` keep integrands finite.
    """

    pt_min_gev: float = 0.0
    max_abs_rapidity: float = math.inf
    min_delta_r: float = 0.0

    def passes(self, momenta: torch.Tensor) -> torch.Tensor:
        """Return a boolean mask (events,) of points whose particles all pass the cuts."""
        px, py, pz, energy = momenta[..., 1], momenta[..., 2], momenta[..., 3], momenta[..., 0]
        pt = torch.sqrt(px**2 + py**2)
        mask = (pt >= self.pt_min_gev).all(-1)
        if math.isfinite(self.max_abs_rapidity) or self.min_delta_r > 0:
            rapidity = 0.5 * torch.log((energy + pz) / (energy - pz))
        if math.isfinite(self.max_abs_rapidity):
            mask &= (rapidity.abs() <= self.max_abs_rapidity).all(-1)
        if self.min_delta_r > 0:
            phi = torch.atan2(py, px)
            delta_phi = torch.remainder(phi[:, :, None] - phi[:, None, :] + math.pi, 2 * math.pi) - math.pi
            delta_r_squared = (rapidity[:, :, None] - rapidity[:, None, :]) ** 2 + delta_phi**2
            off_diagonal = ~torch.eye(momenta.shape[1], dtype=torch.bool)
            mask &= (delta_r_squared[:, off_diagonal] >= self.min_delta_r**2).all(-1)
        return mask

    def check_feasible(self, n_particles: int, sqrt_s_gev: float) -> None:
        """Raise KissError when the cuts leave zero phase space for sure.

        The sum of transverse momenta is at most the sum of energies, sqrt(s), so
        n * pt_min >= sqrt(s) leaves no point. Cuts that are merely very tight are detected
        while sampling (:meth:`PhaseSpace.sample`).
        """
        if self.pt_min_gev < 0 or self.min_delta_r < 0 or self.max_abs_rapidity < 0:
            raise KissError("Invalid generation cuts", where=repr(self),
                            expected="pt_min_gev, min_delta_r and max_abs_rapidity >= 0", got=repr(self))
        if n_particles * self.pt_min_gev >= sqrt_s_gev:
            raise KissError(
                "Generation cuts leave zero phase space",
                where="pt_min_gev",
                expected=f"n * pt_min < sqrt(s), that is pt_min < {sqrt_s_gev / n_particles:g} GeV",
                got=f"{n_particles} x {self.pt_min_gev:g} GeV >= {sqrt_s_gev:g} GeV",
                hint="lower pt_min_gev or raise sqrt_s_gev",
            )
        if self.max_abs_rapidity == 0 and n_particles > 1:
            raise KissError("Generation cuts leave zero phase space", where="max_abs_rapidity",
                            expected="> 0", got="0", hint="momentum balance along z needs |y| > 0")


class PhaseSpace:
    """Massless n-body phase space as an invertible map from the unit hypercube (RAMBO on diet).

    ``3n - 4`` uniform numbers fix the momenta: n - 2 numbers give the intermediate masses
    M_i of the chain Q_1 -> p_1 + Q_2 -> ..., and two per two-body decay give its direction.
    The mass numbers are distributed so that the Jacobian is the constant Phi_n(s) for massless
    particles; :meth:`map` still computes it per point from the factorised two-body volumes,
    so a test can check the constancy.

    Arguments:
        n_particles: Number of final-state particles n >= 2.
        sqrt_s_gev: Centre-of-mass energy in GeV.
        cuts: Generation cuts applied by :meth:`sample` and :meth:`weight_with_cuts`.

    Example:
        >>> space = PhaseSpace(3, 100.0)
        >>> momenta, weight = space.map(torch.rand(10, space.dimension, dtype=torch.float64))

    References:
        S. Plätzer, "RAMBO on diet", arXiv:1308.2922.
    """

    def __init__(self, n_particles: int, sqrt_s_gev: float, cuts: Cuts | None = None) -> None:
        _check_multiplicity(n_particles)
        if not sqrt_s_gev > 0:
            raise KissError("Invalid centre-of-mass energy", where="sqrt_s_gev", expected="> 0 GeV",
                            got=repr(sqrt_s_gev))
        self.n_particles = n_particles
        self.sqrt_s_gev = float(sqrt_s_gev)
        self.cuts = Cuts() if cuts is None else cuts
        self.cuts.check_feasible(n_particles, self.sqrt_s_gev)

    @property
    def dimension(self) -> int:
        """Number of uniform random numbers per point, 3n - 4."""
        return 3 * self.n_particles - 4

    @property
    def volume(self) -> float:
        """Phase-space volume without cuts in GeV^(2n - 4)."""
        return phase_space_volume(self.n_particles, self.sqrt_s_gev)

    def map(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map points of the unit hypercube (events, 3n - 4) to momenta and weights.

        Returns:
            Momenta (events, n, 4) in GeV in the centre-of-mass frame and the phase-space
            weight (events,) in GeV^(2n - 4), the Jacobian of the map in the measure above.
        """
        n = self.n_particles
        if r.ndim != 2 or r.shape[1] != self.dimension:
            raise KissError("Invalid hypercube points", where="r", expected=f"shape (events, {self.dimension})",
                            got=f"shape {tuple(r.shape)}")
        dtype = r.dtype
        n_events = r.shape[0]

        mass_numbers = r[:, : n - 2]
        angle_numbers = r[:, n - 2:].reshape(n_events, n - 1, 2)
        parent_mass = torch.full((n_events,), self.sqrt_s_gev, dtype=dtype)
        parent_momentum = torch.zeros(n_events, 4, dtype=dtype)
        parent_momentum[:, 0] = self.sqrt_s_gev
        log_weight = torch.zeros(n_events, dtype=dtype)
        momenta = []
        for i in range(2, n + 1):
            # Q_{i-1} -> p_{i-1} + Q_i with M_i^2 = x_i M_{i-1}^2; the last step is two massless.
            if i < n:
                x = _solve_mass_fraction(mass_numbers[:, i - 2], n, i)
                child_mass = parent_mass * torch.sqrt(x)
                # dM_i^2/dr_i / (2 pi) times the two-body volume (1 - x) / (8 pi).
                log_weight += (
                    2 * torch.log(parent_mass)
                    - math.log(16 * math.pi**2 * (n + 1 - i) * (n - i))
                    - (n - i - 1) * torch.log(x)
                )
            else:
                child_mass = torch.zeros(n_events, dtype=dtype)
                log_weight += -math.log(8 * math.pi)
            breakup = (parent_mass**2 - child_mass**2) / (2 * parent_mass)
            cos_theta = 2 * angle_numbers[:, i - 2, 0] - 1
            phi = 2 * math.pi * angle_numbers[:, i - 2, 1]
            sin_theta = torch.sqrt(torch.clamp(1 - cos_theta**2, min=0))
            direction = torch.stack([sin_theta * torch.cos(phi), sin_theta * torch.sin(phi), cos_theta], -1)
            massless = torch.cat([breakup[:, None], breakup[:, None] * direction], -1)
            massless_lab = _boost_from_rest(massless, parent_momentum, parent_mass)
            momenta.append(massless_lab)
            parent_momentum = parent_momentum - massless_lab
            parent_mass = child_mass
        momenta.append(parent_momentum)
        return torch.stack(momenta, 1), torch.exp(log_weight)

    def inverse(self, momenta: torch.Tensor) -> torch.Tensor:
        """Map momenta (events, n, 4) back to the unit hypercube; the inverse of :meth:`map`."""
        n = self.n_particles
        if momenta.ndim != 3 or momenta.shape[1:] != (n, 4):
            raise KissError("Invalid momenta", where="momenta", expected=f"shape (events, {n}, 4)",
                            got=f"shape {tuple(momenta.shape)}")
        remainders = torch.flip(torch.cumsum(torch.flip(momenta, [1]), 1), [1])
        masses = torch.sqrt(torch.clamp(_minkowski_square(remainders), min=0))

        mass_numbers = []
        angle_numbers = []
        for i in range(2, n + 1):
            parent_momentum = remainders[:, i - 2]
            parent_mass = masses[:, i - 2]
            if i < n:
                x = (masses[:, i - 1] / parent_mass) ** 2
                mass_numbers.append((n + 1 - i) * x ** (n - i) - (n - i) * x ** (n + 1 - i))
            at_rest = _boost_to_rest(momenta[:, i - 2], parent_momentum, parent_mass)
            direction = at_rest[:, 1:] / at_rest[:, :1]
            phi = torch.remainder(torch.atan2(direction[:, 1], direction[:, 0]), 2 * math.pi)
            angle_numbers.append(torch.stack([(direction[:, 2] + 1) / 2, phi / (2 * math.pi)], -1))
        parts = [torch.stack(mass_numbers, -1)] if mass_numbers else []
        parts.append(torch.stack(angle_numbers, 1).reshape(momenta.shape[0], -1))
        return torch.cat(parts, -1)

    def weight_with_cuts(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map hypercube points to momenta and weights that are zero where a cut fails."""
        momenta, weight = self.map(r)
        return momenta, torch.where(self.cuts.passes(momenta), weight, torch.zeros_like(weight))

    def sample(self, n_events: int, *, generator: torch.Generator | None = None, max_tries: int = 1000,
               batch_size: int = 10_000, dtype: torch.dtype = torch.float64
               ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Draw points uniformly in the phase space inside the cuts.

        Arguments:
            n_events: Number of points to return.
            generator: Torch random generator.
            max_tries: Maximum number of batches before giving up.
            batch_size: Hypercube points drawn per batch.

        Returns:
            Momenta (n_events, n, 4) in GeV, their hypercube points (n_events, 3n - 4), and the
            fraction of phase space inside the cuts (the cut-volume is ``fraction * volume``).

        Raises:
            KissError: when no point of the first ``max_tries`` batches passes the cuts.
        """
        kept_momenta, kept_points = [], []
        n_kept = n_tried = 0
        for _ in range(max_tries):
            r = torch.rand(batch_size, self.dimension, generator=generator, dtype=dtype)
            momenta, _ = self.map(r)
            mask = self.cuts.passes(momenta)
            n_tried += batch_size
            kept_momenta.append(momenta[mask])
            kept_points.append(r[mask])
            n_kept += int(mask.sum())
            if n_kept >= n_events:
                break
            if n_kept == 0 and n_tried >= 10 * batch_size:
                break
        if n_kept == 0:
            raise KissError(
                "Generation cuts leave (almost) zero phase space",
                where=repr(self.cuts),
                expected="a cut region that contains points",
                got=f"0 of {n_tried} uniform phase-space points pass the cuts",
                hint="loosen pt_min_gev, min_delta_r or max_abs_rapidity",
            )
        if n_kept < n_events:
            raise KissError(
                "Too few phase-space points pass the generation cuts",
                where=repr(self.cuts),
                expected=f"{n_events} points within {max_tries} batches",
                got=f"{n_kept} of {n_tried}",
                hint="loosen the cuts or raise max_tries",
            )
        fraction = n_kept / n_tried
        logger.debug("phase space: %d of %d points pass the cuts", n_kept, n_tried)
        return torch.cat(kept_momenta)[:n_events], torch.cat(kept_points)[:n_events], fraction


def _check_multiplicity(n_particles: int) -> None:
    if not isinstance(n_particles, int) or n_particles < 2:
        raise KissError("Invalid number of final-state particles", where="n_particles",
                        expected="an integer >= 2", got=repr(n_particles))


def _solve_mass_fraction(r: torch.Tensor, n: int, i: int) -> torch.Tensor:
    """Solve r = (n + 1 - i) x^(n - i) - (n - i) x^(n + 1 - i) for x in [0, 1] by bisection.

    The right side is the cumulative distribution of x = M_i^2 / M_{i-1}^2 under flat phase
    space and is increasing on [0, 1] (derived from the factorised volumes in :meth:`PhaseSpace.map`).
    """
    low = torch.zeros_like(r)
    high = torch.ones_like(r)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        value = (n + 1 - i) * middle ** (n - i) - (n - i) * middle ** (n + 1 - i)
        below = value < r
        low = torch.where(below, middle, low)
        high = torch.where(below, high, middle)
    return (low + high) / 2


def _minkowski_square(p: torch.Tensor) -> torch.Tensor:
    return p[..., 0] ** 2 - (p[..., 1:] ** 2).sum(-1)


def _boost_from_rest(p: torch.Tensor, frame: torch.Tensor, frame_mass: torch.Tensor) -> torch.Tensor:
    """Boost ``p`` from the rest frame of ``frame`` (momentum with mass ``frame_mass``) to the lab."""
    velocity = frame[:, 1:] / frame_mass[:, None]
    gamma = frame[:, 0] / frame_mass
    v_dot_p = (velocity * p[:, 1:]).sum(-1)
    energy = gamma * p[:, 0] + v_dot_p
    space = p[:, 1:] + velocity * (p[:, :1] + (v_dot_p / (gamma + 1))[:, None])
    return torch.cat([energy[:, None], space], -1)


def _boost_to_rest(p: torch.Tensor, frame: torch.Tensor, frame_mass: torch.Tensor) -> torch.Tensor:
    reversed_frame = torch.cat([frame[:, :1], -frame[:, 1:]], -1)
    return _boost_from_rest(p, reversed_frame, frame_mass)
