"""The kiss-calo plugin: the components this package contributes, as lazy Spec records.

Each hook returns a plain list; add a component by appending a Spec to its list.
"""

from __future__ import annotations

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec

__all__ = ["kiss_commands", "kiss_datasets", "kiss_demos", "kiss_generators", "kiss_geometries"]


@hookimpl
def kiss_geometries() -> list[Spec]:
    return [
        Spec("ds1-photons", "CaloChallenge dataset 1 photons: 368 voxels, 5 non-empty layers",
             "kiss_calo.geometry:dataset_1_photons", ("calochallenge", "cylindrical")),
        Spec("ds1-pions", "CaloChallenge dataset 1 pions: 533 voxels, 7 non-empty layers",
             "kiss_calo.geometry:dataset_1_pions", ("calochallenge", "cylindrical")),
        Spec("ds2", "CaloChallenge dataset 2: 45 layers x 16 angles x 9 radii = 6480 voxels",
             "kiss_calo.geometry:dataset_2", ("calochallenge", "cylindrical")),
        Spec("ds3", "CaloChallenge dataset 3: 45 layers x 50 angles x 18 radii = 40500 voxels",
             "kiss_calo.geometry:dataset_3", ("calochallenge", "cylindrical")),
        Spec("ild_planar", "ILD-like planar ECAL of CaloClouds: 30 layers of 78 x 78 cells of 5.088 mm",
             "kiss_calo.geometry:PlanarGeometry", ("planar", "caloclouds")),
    ]


@hookimpl
def kiss_datasets() -> list[Spec]:
    return [
        Spec("gflash_showers", "GFlash-style electron showers on a CaloChallenge voxel geometry (default ds2)",
             "kiss_calo.datasets:GFlashShowers", ("simulator", "calochallenge", "voxels")),
        Spec("gflash_point_clouds", "GFlash-style photon showers as point clouds in the ILD-like ECAL",
             "kiss_calo.datasets:GFlashPointClouds", ("simulator", "caloclouds", "point-cloud")),
    ]


@hookimpl
def kiss_generators() -> list[Spec]:
    return [
        Spec("caloclouds2", "CaloClouds II point-cloud diffusion (EDM) with shower flow and consistency distillation",
             "kiss_calo.models.caloclouds:CaloClouds2", ("point-cloud", "diffusion", "consistency")),
        Spec("voxel_fm", "Voxel flow matching with a layer-energy flow for CaloChallenge geometries",
             "kiss_calo.models.voxel:VoxelFlowMatching", ("voxels", "flow-matching", "calochallenge")),
    ]


@hookimpl
def kiss_commands() -> list[Spec]:
    return [
        Spec("calo-evaluate", "CaloChallenge evaluation of a candidate shower file against a reference",
             "kiss_calo.cli:evaluate_command", ("calochallenge", "evaluation")),
        Spec("calo-distill", "Consistency distillation of a trained CaloClouds II run into a one-step model",
             "kiss_calo.cli:distill_command", ("caloclouds", "consistency")),
        Spec("calo-project", "Projection of CaloClouds point clouds onto a geometry's cells, as a CaloChallenge file",
             "kiss_calo.cli:project_command", ("caloclouds", "calochallenge")),
    ]


@hookimpl
def kiss_demos() -> list[Spec]:
    return [
        Spec("calo", "GFlash showers on the CaloChallenge dataset 2 geometry, voxel flow matching, "
             "CaloChallenge evaluation", "kiss_calo.demo:calo_demo", ("calochallenge", "voxels")),
    ]
