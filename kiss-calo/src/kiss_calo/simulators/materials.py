"""Material constants and sampling-calorimeter layouts for the parameterised shower simulator.

Single-material constants are the Particle Data Group values ("Atomic and nuclear properties of
materials", https://pdg.lbl.gov/2024/AtomicNuclearProperties/): radiation length, Molière
radius and the electron critical energy. Mixtures follow the Grindhammer–Peters rules
(arXiv:hep-ex/0001020): mass-weighted Z, and 1/X0, 1/R_M averaged with volume fractions, which
is the PDG mixture rule written in lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiss_core.errors import UnknownNameError

__all__ = [
    "CALORIMETERS",
    "Material",
    "SamplingCalorimeter",
    "LEAD_TUNGSTATE",
    "SILICON",
    "TUNGSTEN",
    "calochallenge_w_si",
    "homogeneous",
    "ild_ecal",
    "make_calorimeter",
]

#: Scale energy E_s = m_e c^2 sqrt(4 pi / alpha) in MeV, which links R_M = E_s X0 / E_c (PDG).
SCALE_ENERGY_MEV = 21.2052


@dataclass(frozen=True)
class Material:
    """One absorber or active material.

    Arguments:
        name: Short name ("W", "Si").
        atomic_number: Z, or the mass-weighted mean Z of a compound.
        mass_number: A in g/mol, or the mass-weighted mean of a compound.
        density_g_cm3: Density in g/cm^3.
        radiation_length_mm: Radiation length X0 in mm.
        moliere_radius_mm: Molière radius R_M in mm.
        critical_energy_mev: Electron critical energy E_c in MeV (Rossi definition, as the PDG lists).
    """

    name: str
    atomic_number: float
    mass_number: float
    density_g_cm3: float
    radiation_length_mm: float
    moliere_radius_mm: float
    critical_energy_mev: float


#: Tungsten, PDG: X0 = 6.76 g/cm^2 = 3.504 mm, R_M = 9.327 mm, E_c(e-) = 7.97 MeV.
TUNGSTEN = Material("W", 74.0, 183.84, 19.30, 3.504, 9.327, 7.97)
#: Silicon, PDG: X0 = 21.82 g/cm^2 = 93.70 mm, R_M = 49.44 mm, E_c(e-) = 40.19 MeV.
SILICON = Material("Si", 14.0, 28.0855, 2.329, 93.70, 49.44, 40.19)
#: Lead tungstate (PbWO4), PDG: X0 = 8.903 mm, R_M = 19.59 mm, E_c(e-) = 9.64 MeV. Z and A are
#: mass-weighted over Pb, W and four O atoms (68.36 and 170.9).
LEAD_TUNGSTATE = Material("PbWO4", 68.36, 170.9, 8.28, 8.903, 19.59, 9.64)


@dataclass(frozen=True)
class SamplingCalorimeter:
    """A stack of readout layers, each made of absorber and (optionally) active material.

    A readout layer may combine several sampling periods (``samplings_per_layer``), each one
    absorber plate followed by one active plate. Without an active material the stack is a
    homogeneous calorimeter.

    Arguments:
        name: Label used in provenance.
        absorber: Passive material (or the only material of a homogeneous calorimeter).
        active: Active material, or ``None`` for a homogeneous calorimeter.
        absorber_thickness_mm: Absorber thickness of each readout layer in mm (one per layer).
        active_thickness_mm: Active thickness of each readout layer in mm.
        samplings_per_layer: Sampling periods (absorber plus active plate) per readout layer.
        stochastic_term: Sampling term a of the resolution sigma_E / E = a / sqrt(E / GeV).
        sampling_fraction: Fraction of the shower energy seen by the active material; showers
            are reported calibrated (divided by it) unless the simulator is told otherwise.
    """

    name: str
    absorber: Material
    active: Material | None
    absorber_thickness_mm: tuple[float, ...]
    active_thickness_mm: float
    samplings_per_layer: int
    stochastic_term: float
    sampling_fraction: float

    def __post_init__(self) -> None:
        if not self.absorber_thickness_mm or min(self.absorber_thickness_mm) <= 0:
            raise ValueError("absorber_thickness_mm needs one positive thickness per layer")
        if self.active is None and self.active_thickness_mm != 0:
            raise ValueError("a homogeneous calorimeter has active_thickness_mm = 0")
        if self.stochastic_term < 0 or not 0 < self.sampling_fraction <= 1:
            raise ValueError("stochastic_term must be >= 0 and sampling_fraction in (0, 1]")

    @property
    def n_layers(self) -> int:
        """Number of readout layers."""
        return len(self.absorber_thickness_mm)

    @property
    def is_homogeneous(self) -> bool:
        """Whether the stack has no separate active material."""
        return self.active is None

    def _volume_fractions(self) -> tuple[float, float]:
        absorber = float(np.sum(self.absorber_thickness_mm))
        active = self.active_thickness_mm * self.n_layers
        return absorber / (absorber + active), active / (absorber + active)

    def _mass_fractions(self) -> tuple[float, float]:
        if self.active is None:
            return 1.0, 0.0
        f_absorber, f_active = self._volume_fractions()
        m_absorber = f_absorber * self.absorber.density_g_cm3
        m_active = f_active * self.active.density_g_cm3
        return m_absorber / (m_absorber + m_active), m_active / (m_absorber + m_active)

    @property
    def atomic_number(self) -> float:
        """Effective Z: the mass-weighted mean over absorber and active material."""
        if self.active is None:
            return self.absorber.atomic_number
        w_absorber, w_active = self._mass_fractions()
        return w_absorber * self.absorber.atomic_number + w_active * self.active.atomic_number

    @property
    def radiation_length_mm(self) -> float:
        """Effective radiation length X0 in mm (1/X0 averaged with volume fractions)."""
        if self.active is None:
            return self.absorber.radiation_length_mm
        f_absorber, f_active = self._volume_fractions()
        inverse = f_absorber / self.absorber.radiation_length_mm + f_active / self.active.radiation_length_mm
        return 1.0 / inverse

    @property
    def moliere_radius_mm(self) -> float:
        """Effective Molière radius R_M in mm (1/R_M averaged with volume fractions)."""
        if self.active is None:
            return self.absorber.moliere_radius_mm
        f_absorber, f_active = self._volume_fractions()
        inverse = f_absorber / self.absorber.moliere_radius_mm + f_active / self.active.moliere_radius_mm
        return 1.0 / inverse

    @property
    def critical_energy_mev(self) -> float:
        """Effective critical energy E_c in MeV, defined so that R_M = E_s X0 / E_c holds."""
        return SCALE_ENERGY_MEV * self.radiation_length_mm / self.moliere_radius_mm

    @property
    def sampling_thickness_x0(self) -> float:
        """Mean thickness of one sampling period in X0 (1/F_S of Grindhammer–Peters; 0 if homogeneous)."""
        if self.active is None:
            return 0.0
        mean_layer_mm = float(np.mean(self.absorber_thickness_mm)) + self.active_thickness_mm
        return mean_layer_mm / self.samplings_per_layer / self.radiation_length_mm

    @property
    def e_over_mip(self) -> float:
        """Electron-to-MIP response ratio ê = 1 / (1 + 0.007 (Z_passive - Z_active)), hep-ex/0001020."""
        if self.active is None:
            return 1.0
        return 1.0 / (1.0 + 0.007 * (self.absorber.atomic_number - self.active.atomic_number))

    def layer_boundaries_x0(self) -> np.ndarray:
        """Return the depth of each layer's front face and of the last back face in X0, shape (n_layers + 1,)."""
        thickness_mm = np.asarray(self.absorber_thickness_mm, dtype=float) + self.active_thickness_mm
        return np.concatenate([[0.0], np.cumsum(thickness_mm)]) / self.radiation_length_mm


def calochallenge_w_si() -> SamplingCalorimeter:
    """Build the tungsten/silicon stack of CaloChallenge datasets 2 and 3.

    Each of the 45 readout layers combines two periods of 1.4 mm tungsten and 0.3 mm silicon,
    about 0.81 X0 per layer and 36 X0 in total.

    NOTE: the plate thicknesses are taken from the CaloChallenge dataset description and the
    stochastic term and sampling fraction are not published for these datasets. The stochastic
    term is set to the 16.5 %/sqrt(E) measured with the CALICE Si-W ECAL prototype
    (arXiv:0805.4833) and the sampling fraction is an estimate.
    """
    return SamplingCalorimeter(
        name="calochallenge_w_si",
        absorber=TUNGSTEN,
        active=SILICON,
        absorber_thickness_mm=(2.8,) * 45,
        active_thickness_mm=0.6,
        samplings_per_layer=2,
        stochastic_term=0.165,
        sampling_fraction=0.013,
    )


def ild_ecal() -> SamplingCalorimeter:
    """Build the ILD-like silicon/tungsten ECAL used by CaloClouds (arXiv:2305.04847).

    30 active layers: the first 20 behind 2.1 mm of tungsten, the last 10 behind 4.2 mm,
    about 24 X0 in total.

    NOTE: the silicon thickness (0.5 mm) and the sampling fraction are estimates. The stochastic
    term is the CALICE Si-W ECAL prototype value 16.5 %/sqrt(E) (arXiv:0805.4833).
    """
    return SamplingCalorimeter(
        name="ild_ecal",
        absorber=TUNGSTEN,
        active=SILICON,
        absorber_thickness_mm=(2.1,) * 20 + (4.2,) * 10,
        active_thickness_mm=0.5,
        samplings_per_layer=1,
        stochastic_term=0.165,
        sampling_fraction=0.012,
    )


def homogeneous(
    material: Material, n_layers: int, layer_thickness_mm: float, stochastic_term: float = 0.0
) -> SamplingCalorimeter:
    """Build a homogeneous calorimeter read out in ``n_layers`` slices of ``layer_thickness_mm``.

    Example:
        >>> crystal = homogeneous(LEAD_TUNGSTATE, n_layers=50, layer_thickness_mm=4.6)
    """
    return SamplingCalorimeter(
        name=f"homogeneous_{material.name}",
        absorber=material,
        active=None,
        absorber_thickness_mm=(float(layer_thickness_mm),) * n_layers,
        active_thickness_mm=0.0,
        samplings_per_layer=1,
        stochastic_term=stochastic_term,
        sampling_fraction=1.0,
    )


#: Calorimeter presets by name, for configs and the command line.
CALORIMETERS = {"calochallenge_w_si": calochallenge_w_si, "ild_ecal": ild_ecal}


def make_calorimeter(name: str) -> SamplingCalorimeter:
    """Build the calorimeter preset registered as ``name`` in :data:`CALORIMETERS`."""
    if name not in CALORIMETERS:
        raise UnknownNameError("calorimeter", name, list(CALORIMETERS))
    return CALORIMETERS[name]()
