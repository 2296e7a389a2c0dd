"""Parameterised electromagnetic shower simulator in the style of GFlash (Grindhammer–Peters).

Each shower gets its own longitudinal Gamma profile, with (ln T, ln alpha) drawn from a
correlated Gaussian whose means, widths and correlation depend on ln y, y = E / E_c. The energy
of each longitudinal step (one readout layer) is shared among energy spots, whose number follows
a second Gamma profile. Every spot is placed at a radius drawn from the two-component
(core + tail) radial profile in Molière units, evaluated at the step's depth tau = t / T, and at a
uniform azimuth. Sampling fluctuations smear each step's energy with a Gamma distribution whose
variance is a^2 E (a: stochastic term), so the total resolution is a / sqrt(E / GeV).

What it does not model: hadron showers and photon conversion beyond an exponential start
depth. Nor does it model the Landau tails and path-length effects of the active layers, noise,
a constant term, inclined incidence or magnetic fields. Lateral leakage follows the radial
profile only, and the sampling fraction is the same in layers of different thickness. Longitudinal leakage is returned but not smeared. The parameterisation was fitted to
showers between about 1 and 100 GeV; above that it is an extrapolation.

References:
    G. Grindhammer, S. Peters, "The parameterized simulation of electromagnetic showers in
    homogeneous and sampling calorimeters", arXiv:hep-ex/0001020 (https://arxiv.org/abs/hep-ex/0001020).
    G. Grindhammer, M. Rudowicz, S. Peters, Nucl. Instrum. Meth. A290 (1990) 469.
    The numerical coefficients below were checked against the tabulation in the Geant4 GFlash
    package (GVFlashHomoShowerTuning.hh and GFlashSamplingShowerTuning.hh).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc

from kiss_calo.simulators.materials import SamplingCalorimeter
from kiss_core.errors import KissError

__all__ = [
    "GFlashSimulator",
    "LongitudinalParameters",
    "ShowerSpots",
    "average_profile_parameters",
    "longitudinal_parameters",
    "radial_parameters",
]

logger = logging.getLogger(__name__)

#: Smallest y = E / E_c accepted: below ln y = 3 the fitted widths of ln T and ln alpha diverge
#: (sigma(ln T_sam) = 1 / (-2.5 + 1.25 ln y) has its pole at ln y = 2).
MIN_LN_Y = 3.0
#: Mean conversion depth of a photon in X0 (9/7 X0, the high-energy pair-production mean free path).
PHOTON_CONVERSION_X0 = 9.0 / 7.0
#: Smallest shape parameter alpha kept, because the Gamma profile needs alpha > 1 for a maximum at T > 0.
MIN_ALPHA = 1.1


@dataclass(frozen=True)
class LongitudinalParameters:
    """Distribution of (ln T, ln alpha) of individual showers, one entry per shower.

    Arguments:
        mean_log_t: Mean of ln T (T: depth of the maximum in X0).
        sigma_log_t: Standard deviation of ln T.
        mean_log_alpha: Mean of ln alpha (alpha: shape of the Gamma profile).
        sigma_log_alpha: Standard deviation of ln alpha.
        correlation: Correlation coefficient of ln T and ln alpha.
    """

    mean_log_t: np.ndarray
    sigma_log_t: np.ndarray
    mean_log_alpha: np.ndarray
    sigma_log_alpha: np.ndarray
    correlation: np.ndarray


def _log_y(calorimeter: SamplingCalorimeter, energy_mev: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(energy_mev, dtype=float) / calorimeter.critical_energy_mev)


def longitudinal_parameters(calorimeter: SamplingCalorimeter, energy_mev: np.ndarray) -> LongitudinalParameters:
    """Compute the fluctuation parameters of individual longitudinal profiles.

    Homogeneous media (hep-ex/0001020, individual profiles)::

        <ln T> = ln(ln y - 0.812)             sigma(ln T) = 1 / (-1.4 + 1.26 ln y)
        <ln a> = ln(0.81 + (0.458 + 2.26 / Z) ln y)   sigma(ln a) = 1 / (-0.58 + 0.86 ln y)
        rho = 0.705 - 0.023 ln y

    Sampling calorimeters shift the means with the sampling thickness 1/F_S (in X0) and the
    e/mip ratio ê, and have their own widths::

        <ln T> = ln(exp<ln T_hom> - 0.55 / F_S - 0.69 (1 - ê))   sigma = 1 / (-2.5 + 1.25 ln y)
        <ln a> = ln(exp<ln a_hom> - 0.476 / F_S)                 sigma = 1 / (-0.82 + 0.79 ln y)
        rho = 0.784 - 0.023 ln y

    Arguments:
        calorimeter: Material and sampling structure.
        energy_mev: Incident energies in MeV, shape (n,).

    Returns:
        The parameters, each of shape (n,).
    """
    log_y = _log_y(calorimeter, energy_mev)
    z = calorimeter.atomic_number
    mean_t_hom = np.log(log_y - 0.812)
    mean_alpha_hom = np.log(0.81 + (0.458 + 2.26 / z) * log_y)
    if calorimeter.is_homogeneous:
        return LongitudinalParameters(
            mean_log_t=mean_t_hom,
            sigma_log_t=1.0 / (-1.4 + 1.26 * log_y),
            mean_log_alpha=mean_alpha_hom,
            sigma_log_alpha=1.0 / (-0.58 + 0.86 * log_y),
            correlation=0.705 - 0.023 * log_y,
        )

    inverse_fs = calorimeter.sampling_thickness_x0
    one_minus_ehat = 1.0 - calorimeter.e_over_mip
    return LongitudinalParameters(
        mean_log_t=np.log(np.exp(mean_t_hom) - 0.55 * inverse_fs - 0.69 * one_minus_ehat),
        sigma_log_t=1.0 / (-2.5 + 1.25 * log_y),
        mean_log_alpha=np.log(np.exp(mean_alpha_hom) - 0.476 * inverse_fs),
        sigma_log_alpha=1.0 / (-0.82 + 0.79 * log_y),
        correlation=0.784 - 0.023 * log_y,
    )


def average_profile_parameters(
    calorimeter: SamplingCalorimeter, energy_mev: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (T, alpha) of the average longitudinal profile, the Gamma fit to many showers.

    Homogeneous: T = ln y - 0.858 and alpha = 0.21 + (0.492 + 2.38 / Z) ln y. Sampling:
    T = T_hom - 0.59 / F_S - 0.53 (1 - ê) and alpha = alpha_hom - 0.444 / F_S (hep-ex/0001020).
    The simulator does not use these; they are the published check of the fluctuated profiles.
    """
    log_y = _log_y(calorimeter, energy_mev)
    depth_max = log_y - 0.858
    alpha = 0.21 + (0.492 + 2.38 / calorimeter.atomic_number) * log_y
    if not calorimeter.is_homogeneous:
        depth_max = depth_max - 0.59 * calorimeter.sampling_thickness_x0 - 0.53 * (1.0 - calorimeter.e_over_mip)
        alpha = alpha - 0.444 * calorimeter.sampling_thickness_x0
    return depth_max, alpha


def radial_parameters(
    calorimeter: SamplingCalorimeter, energy_mev: np.ndarray, tau: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute the core radius, tail radius (both in R_M) and core probability at depth tau = t / T.

    The radial profile is f(r) = p 2 r R_C^2 / (r^2 + R_C^2)^2 + (1 - p) 2 r R_T^2 / (r^2 + R_T^2)^2
    with, for E in GeV (hep-ex/0001020)::

        R_C = 0.0251 + 0.00319 ln E + (0.1162 - 0.000381 Z) tau
        R_T = (0.659 - 0.00309 Z) (exp(-2.59 (tau - 0.645)) + exp((0.3585 + 0.0412 ln E)(tau - 0.645)))
        p   = (2.632 - 0.00094 Z) exp(v - exp(v)),  v = (0.401 + 0.00187 Z - tau) / (1.313 - 0.0686 ln E)

    and, in sampling calorimeters, R_C += -0.0203 (1 - ê) + 0.0397 / F_S exp(-tau),
    R_T += -0.14 (1 - ê) - 0.495 / F_S exp(-tau), p += (1 - ê)(0.348 - 0.642 / F_S exp(-(tau - 1)^2)).

    Arguments:
        calorimeter: Material and sampling structure.
        energy_mev: Incident energy in MeV, broadcastable against ``tau``.
        tau: Depth in units of the shower's own T.

    Returns:
        (core_radius, tail_radius, core_probability), broadcast to a common shape.
    """
    log_e = np.log(np.asarray(energy_mev, dtype=float) / 1000.0)
    z = calorimeter.atomic_number
    core = 0.0251 + 0.00319 * log_e + (0.1162 - 0.000381 * z) * tau
    k4 = 0.3585 + 0.0412 * log_e
    tail = (0.659 - 0.00309 * z) * (np.exp(-2.59 * (tau - 0.645)) + np.exp(k4 * (tau - 0.645)))
    v = (0.401 + 0.00187 * z - tau) / (1.313 - 0.0686 * log_e)
    probability = (2.632 - 0.00094 * z) * np.exp(v - np.exp(v))

    if not calorimeter.is_homogeneous:
        inverse_fs = calorimeter.sampling_thickness_x0
        one_minus_ehat = 1.0 - calorimeter.e_over_mip
        core = core - 0.0203 * one_minus_ehat + 0.0397 * inverse_fs * np.exp(-tau)
        tail = tail - 0.14 * one_minus_ehat - 0.495 * inverse_fs * np.exp(-tau)
        probability = probability + one_minus_ehat * (0.348 - 0.642 * inverse_fs * np.exp(-((tau - 1.0) ** 2)))

    # Far from the fitted depths the fits can leave the physical range, so radii are kept
    # positive and p is clipped to [0, 1].
    core = np.maximum(core, 1e-3)
    tail = np.maximum(tail, core)
    probability = np.clip(probability, 0.0, 1.0)
    return np.broadcast_arrays(core, tail, probability)


@dataclass(frozen=True)
class ShowerSpots:
    """Energy spots of a batch of showers, flat over all showers.

    Arguments:
        event: Shower index of each spot, shape (n_spots,), sorted.
        layer: Readout layer of each spot.
        x_mm: Transverse position in mm.
        y_mm: Transverse position in mm.
        depth_x0: Depth of the spot's longitudinal step centre in X0.
        energy_mev: Spot energy in MeV (after sampling fluctuations, if enabled).
        incident_energy_mev: Incident energy of each shower, shape (n_events,).
        depth_max_x0: Depth of the maximum T of each shower's own profile, shape (n_events,).
        alpha: Shape parameter of each shower's own profile, shape (n_events,).
        leaked_energy_mev: Energy of each shower behind the last layer (not smeared), shape (n_events,).
    """

    event: np.ndarray
    layer: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    depth_x0: np.ndarray
    energy_mev: np.ndarray
    incident_energy_mev: np.ndarray
    depth_max_x0: np.ndarray
    alpha: np.ndarray
    leaked_energy_mev: np.ndarray

    @property
    def n_events(self) -> int:
        """Number of showers."""
        return len(self.incident_energy_mev)

    def counts(self) -> np.ndarray:
        """Return the number of spots of each shower, shape (n_events,)."""
        return np.bincount(self.event, minlength=self.n_events)


class GFlashSimulator:
    """Simulate electromagnetic showers with the Grindhammer–Peters parameterisation.

    Arguments:
        calorimeter: Materials and layer structure (see :mod:`kiss_calo.simulators.materials`).
        particle: "electron" (the shower starts at the front face) or "photon" (it starts after
            an exponential conversion depth with mean 9/7 X0).
        spot_scale: Factor on the published number of spots; more spots give smoother
            showers, fewer give faster simulation and smaller point clouds.
        sampling_fluctuations: Whether to smear the step energies with the stochastic term.
        calibrated: Report energies at the electromagnetic scale (True) or as seen by the
            active material, multiplied by the sampling fraction (False).
        impact_mm: Transverse position (x, y) of the shower axis in mm.

    Example:
        >>> from kiss_calo.simulators.materials import calochallenge_w_si
        >>> simulator = GFlashSimulator(calochallenge_w_si())
        >>> spots = simulator.simulate_spots(np.full(10, 50_000.0), np.random.default_rng(0))
    """

    def __init__(
        self,
        calorimeter: SamplingCalorimeter,
        *,
        particle: str = "electron",
        spot_scale: float = 1.0,
        sampling_fluctuations: bool = True,
        calibrated: bool = True,
        impact_mm: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        if particle not in ("electron", "photon"):
            raise KissError("Invalid particle", where="particle", expected="'electron' or 'photon'", got=repr(particle))
        if not spot_scale > 0:
            raise KissError(
                "Invalid spot scale", where="spot_scale", expected="a positive number", got=repr(spot_scale)
            )
        if not calorimeter.is_homogeneous and calorimeter.stochastic_term <= 0:
            raise KissError(
                "Invalid sampling calorimeter",
                where=f"{calorimeter.name}.stochastic_term",
                expected="a positive stochastic term (it sets the number of spots)",
                got=repr(calorimeter.stochastic_term),
            )
        self.calorimeter = calorimeter
        self.particle = particle
        self.spot_scale = float(spot_scale)
        self.sampling_fluctuations = sampling_fluctuations
        self.calibrated = calibrated
        self.impact_mm = (float(impact_mm[0]), float(impact_mm[1]))
        self._boundaries_x0 = calorimeter.layer_boundaries_x0()

    @property
    def min_energy_mev(self) -> float:
        """Smallest incident energy the parameterisation accepts, in MeV (y = E / E_c >= e^3)."""
        return float(np.exp(MIN_LN_Y) * self.calorimeter.critical_energy_mev)

    def check_energies(self, energy_mev: np.ndarray) -> np.ndarray:
        """Validate incident energies in MeV and return them as a float array of shape (n,)."""
        energy = np.asarray(energy_mev, dtype=float).reshape(-1)
        if energy.size == 0:
            raise KissError(
                "No incident energies", where="energy_mev", expected="at least one energy in MeV", got="an empty array"
            )
        if not np.all(np.isfinite(energy)):
            raise KissError(
                "Invalid incident energy", where="energy_mev", expected="finite values in MeV", got="NaN or infinity"
            )
        if energy.min() < self.min_energy_mev:
            raise KissError(
                "Incident energy below the parameterisation's range",
                where="energy_mev",
                expected=f"energies >= {self.min_energy_mev:.0f} MeV (20 critical energies of {self.calorimeter.name})",
                got=f"minimum {energy.min():g} MeV",
                hint="energies are in MeV; multiply GeV values by 1000",
            )
        return energy

    def draw_profiles(self, energy_mev: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw each shower's (T in X0, alpha) from the correlated log-normal distribution."""
        parameters = longitudinal_parameters(self.calorimeter, energy_mev)
        normal_1 = rng.standard_normal(energy_mev.shape)
        normal_2 = rng.standard_normal(energy_mev.shape)
        # z1 +- z2 mixed with weights sqrt((1 +- rho) / 2) are unit Gaussians with correlation rho.
        shared = np.sqrt((1.0 + parameters.correlation) / 2.0) * normal_1
        opposite = np.sqrt((1.0 - parameters.correlation) / 2.0) * normal_2
        depth_max = np.exp(parameters.mean_log_t + parameters.sigma_log_t * (shared + opposite))
        alpha = np.exp(parameters.mean_log_alpha + parameters.sigma_log_alpha * (shared - opposite))
        return depth_max, np.maximum(alpha, MIN_ALPHA)

    def _spot_profile(self, depth_max: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self.calorimeter.atomic_number
        if self.calorimeter.is_homogeneous:
            return depth_max * (0.698 + 0.00212 * z), np.maximum(alpha * (0.639 + 0.00334 * z), MIN_ALPHA)
        return depth_max * (0.813 + 0.0019 * z), np.maximum(alpha * (0.844 + 0.0026 * z), MIN_ALPHA)

    def number_of_spots(self, energy_mev: np.ndarray) -> np.ndarray:
        """Return the mean number of spots per shower.

        Homogeneous: N = 93 ln(Z) (E / GeV)^0.876. Sampling: N = 10.3 / a (E / GeV)^0.959 with
        a the stochastic term (hep-ex/0001020), both times ``spot_scale``.
        """
        energy_gev = np.asarray(energy_mev, dtype=float) / 1000.0
        if self.calorimeter.is_homogeneous:
            count = 93.0 * np.log(self.calorimeter.atomic_number) * energy_gev**0.876
        else:
            count = 10.3 / self.calorimeter.stochastic_term * energy_gev**0.959
        return self.spot_scale * count

    def simulate_spots(self, energy_mev: np.ndarray, rng: np.random.Generator) -> ShowerSpots:
        """Simulate one shower per incident energy (MeV) and return its energy spots.

        Arguments:
            energy_mev: Incident energies in MeV, shape (n,).
            rng: Source of randomness; the same seed gives the same showers.

        Returns:
            The spots of all showers, with the per-shower profile parameters and leakage.
        """
        energy = self.check_energies(energy_mev)
        depth_max, alpha = self.draw_profiles(energy, rng)

        start_x0 = np.zeros_like(energy)
        if self.particle == "photon":
            start_x0 = rng.exponential(PHOTON_CONVERSION_X0, size=energy.shape)
        depth = np.clip(self._boundaries_x0[None, :] - start_x0[:, None], 0.0, None)

        # Energy per step from the shower's own Gamma profile, with rate beta = (alpha - 1) / T.
        beta = (alpha - 1.0) / depth_max
        cumulative = gammainc(alpha[:, None], beta[:, None] * depth)
        step_energy = energy[:, None] * np.diff(cumulative, axis=1)
        leaked = energy * (1.0 - cumulative[:, -1])

        spot_depth_max, spot_alpha = self._spot_profile(depth_max, alpha)
        spot_beta = (spot_alpha - 1.0) / spot_depth_max
        spot_fraction = np.diff(gammainc(spot_alpha[:, None], spot_beta[:, None] * depth), axis=1)
        expected_spots = self.number_of_spots(energy)[:, None] * spot_fraction
        # Stochastic rounding keeps the mean count; every step with energy gets at least one spot.
        spots_per_step = np.floor(expected_spots + rng.random(expected_spots.shape)).astype(np.int64)
        spots_per_step = np.where(step_energy > 0, np.maximum(spots_per_step, 1), 0)

        if self.sampling_fluctuations and self.calorimeter.stochastic_term > 0:
            step_energy = self._smear(step_energy, rng)
        if not self.calibrated:
            step_energy = step_energy * self.calorimeter.sampling_fraction

        return self._place_spots(energy, depth_max, alpha, leaked, start_x0, step_energy, spots_per_step, rng)

    def _smear(self, step_energy_mev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # A Gamma with shape E / a^2 and scale a^2 (E in GeV) has mean E and variance a^2 E, and
        # Gammas with one scale add up to a Gamma, so the shower sum has sigma / E = a / sqrt(E).
        variance_per_gev = self.calorimeter.stochastic_term**2
        shape = step_energy_mev / 1000.0 / variance_per_gev
        smeared = np.zeros_like(step_energy_mev)
        positive = shape > 0
        smeared[positive] = rng.gamma(shape[positive], variance_per_gev) * 1000.0
        return smeared

    def _place_spots(
        self,
        energy: np.ndarray,
        depth_max: np.ndarray,
        alpha: np.ndarray,
        leaked: np.ndarray,
        start_x0: np.ndarray,
        step_energy: np.ndarray,
        spots_per_step: np.ndarray,
        rng: np.random.Generator,
    ) -> ShowerSpots:
        n_events, n_layers = step_energy.shape
        flat_counts = spots_per_step.reshape(-1)
        event = np.repeat(np.repeat(np.arange(n_events), n_layers), flat_counts)
        layer = np.repeat(np.tile(np.arange(n_layers), n_events), flat_counts)
        spot_energy = np.repeat(
            np.divide(step_energy, spots_per_step, out=np.zeros_like(step_energy), where=spots_per_step > 0).reshape(
                -1
            ),
            flat_counts,
        )

        centres_x0 = 0.5 * (self._boundaries_x0[:-1] + self._boundaries_x0[1:])
        spot_depth = centres_x0[layer]
        tau = np.maximum(spot_depth - start_x0[event], 0.0) / depth_max[event]
        core, tail, probability = radial_parameters(self.calorimeter, energy[event], tau)

        # Inverse CDF of 2 r R^2 / (r^2 + R^2)^2: r = R sqrt(u / (1 - u)).
        radius_rm = np.where(rng.random(len(event)) < probability, core, tail)
        uniform = rng.random(len(event))
        radius_mm = self.calorimeter.moliere_radius_mm * radius_rm * np.sqrt(uniform / (1.0 - uniform))
        azimuth = rng.uniform(0.0, 2.0 * np.pi, len(event))

        return ShowerSpots(
            event=event,
            layer=layer,
            x_mm=self.impact_mm[0] + radius_mm * np.cos(azimuth),
            y_mm=self.impact_mm[1] + radius_mm * np.sin(azimuth),
            depth_x0=spot_depth,
            energy_mev=spot_energy,
            incident_energy_mev=energy,
            depth_max_x0=depth_max,
            alpha=alpha,
            leaked_energy_mev=leaked,
        )

    def simulate(self, energy_mev: np.ndarray, geometry, rng: np.random.Generator) -> np.ndarray:
        """Simulate showers and deposit them into the cells of ``geometry``.

        Arguments:
            energy_mev: Incident energies in MeV, shape (n,).
            geometry: A geometry with ``deposit(event, layer, x_mm, y_mm, energy_mev, n_events)``
                and as many layers as the calorimeter.
            rng: Source of randomness.

        Returns:
            Cell energies in MeV, shape (n, geometry.n_cells).
        """
        n_layers = getattr(geometry, "n_layers", self.calorimeter.n_layers)
        if n_layers != self.calorimeter.n_layers:
            raise KissError(
                "Geometry does not match the calorimeter",
                where=f"{type(geometry).__name__} and {self.calorimeter.name}",
                expected=f"{self.calorimeter.n_layers} layers",
                got=f"{n_layers} layers",
            )
        spots = self.simulate_spots(energy_mev, rng)
        logger.debug("Simulated %d showers with %d spots", spots.n_events, len(spots.event))
        return geometry.deposit(spots.event, spots.layer, spots.x_mm, spots.y_mm, spots.energy_mev, spots.n_events)
