"""Calorimeter surrogates: CaloClouds II point-cloud diffusion and the voxel flow-matching model.

Import the models from their modules (:mod:`kiss_calo.models.caloclouds`,
:mod:`kiss_calo.models.voxel`); this package imports nothing so that listing plugins stays cheap.
"""

__all__: list[str] = []
