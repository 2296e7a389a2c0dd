"""Classical (non-learned) shower simulators: the GFlash-style parameterisation and its materials."""

from kiss_calo.simulators.gflash import GFlashSimulator, ShowerSpots
from kiss_calo.simulators.materials import (
    CALORIMETERS,
    Material,
    SamplingCalorimeter,
    calochallenge_w_si,
    homogeneous,
    ild_ecal,
    make_calorimeter,
)

__all__ = [
    "CALORIMETERS",
    "GFlashSimulator",
    "Material",
    "SamplingCalorimeter",
    "ShowerSpots",
    "calochallenge_w_si",
    "homogeneous",
    "ild_ecal",
    "make_calorimeter",
]
