"""Tree-level matrix elements: spinor-helicity tools, Berends-Giele gluon amplitudes, closed forms."""

from kiss_collider.amplitudes.berends_giele import GluonMatrixElement, colour_ordered_amplitude
from kiss_collider.amplitudes.closed_form import ee_to_mumu_cross_section, ee_to_mumu_squared_matrix_element
from kiss_collider.amplitudes.spinors import polarisation_vector

__all__ = [
    "GluonMatrixElement",
    "colour_ordered_amplitude",
    "ee_to_mumu_cross_section",
    "ee_to_mumu_squared_matrix_element",
    "polarisation_vector",
]
