"""The kiss-collider plugin: jets, EPiC flow matching, jet metrics, matrix elements and unweighting."""

from __future__ import annotations

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec

__all__ = ["kiss_commands", "kiss_datasets", "kiss_demos", "kiss_generators", "kiss_metrics"]


@hookimpl
def kiss_datasets() -> list[Spec]:
    return [
        Spec("jets", "Pythia 8 + FastJet jets (JetNet recipe), JetNet HDF5 layout",
             "kiss_collider.datasets:PythiaJets", ("jets", "simulator")),
        Spec("jetnet", "JetNet HDF5 files (particle_features, jet_features)",
             "kiss_collider.datasets:JetNetFile", ("jets", "file")),
        Spec("gg_ngluon", "Phase-space points of g g -> (n-2) g with exact tree-level |M|^2",
             "kiss_collider.me_datasets:GluonScatteringDataset", ("matrix-element", "simulator", "gluons")),
    ]


@hookimpl
def kiss_generators() -> list[Spec]:
    return [
        Spec("epic_fm", "EPiC flow matching for jet constituents", "kiss_collider.models.epic:EPiCFlowMatching",
             ("jets", "flow-matching")),
        Spec("me_surrogate", "Surrogate of log|M|^2 with uncertainty for g g -> n g",
             "kiss_collider.models.me_surrogate:MatrixElementSurrogate", ("matrix-element", "surrogate")),
    ]


@hookimpl
def kiss_metrics() -> list[Spec]:
    return [
        Spec("w1m", "W1 of the relative jet mass", "kiss_collider.metrics.jets:W1M", ("jets", "two-sample")),
        Spec("w1p", "W1 of constituent etarel, phirel, ptrel", "kiss_collider.metrics.jets:W1P", ("jets", "two-sample")),
        Spec("efp", "W1EFP, FPD and KPD on energy-flow polynomials", "kiss_collider.metrics.jets:JetEFPMetrics",
             ("jets", "two-sample")),
    ]


@hookimpl
def kiss_demos() -> list[Spec]:
    return [
        Spec("jets", "Pythia 8 jets -> EPiC flow matching -> report", "kiss_collider.demo:jets_demo", ("jets",)),
    ]


@hookimpl
def kiss_commands() -> list[Spec]:
    return [Spec("me", "Integrate and unweight multi-gluon matrix elements", "kiss_collider.cli_me:me",
                 ("matrix-element",))]
