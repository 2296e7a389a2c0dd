"""The kiss-collider plugin: jets, JetNet files, EPiC flow matching, jet metrics and the jets demo."""

from __future__ import annotations

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec

__all__ = ["kiss_datasets", "kiss_demos", "kiss_generators", "kiss_metrics"]


@hookimpl
def kiss_datasets() -> list[Spec]:
    return [
        Spec("jets", "Pythia 8 + FastJet jets (JetNet recipe), JetNet HDF5 layout",
             "kiss_collider.datasets:PythiaJets", ("jets", "simulator")),
        Spec("jetnet", "JetNet HDF5 files (particle_features, jet_features)",
             "kiss_collider.datasets:JetNetFile", ("jets", "file")),
    ]


@hookimpl
def kiss_generators() -> list[Spec]:
    return [
        Spec("epic_fm", "EPiC flow matching for jet constituents", "kiss_collider.models.epic:EPiCFlowMatching",
             ("jets", "flow-matching")),
    ]


@hookimpl
def kiss_metrics() -> list[Spec]:
    return []


@hookimpl
def kiss_demos() -> list[Spec]:
    return [
        Spec("jets", "Pythia 8 jets -> EPiC flow matching -> report", "kiss_collider.demo:jets_demo", ("jets",)),
    ]
