"""The built-in plugin of kiss-core, registered through the entry point like any third party."""

from __future__ import annotations

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec

__all__ = ["kiss_datasets", "kiss_demos", "kiss_generators", "kiss_metrics", "kiss_samplers"]


@hookimpl
def kiss_datasets() -> list[Spec]:
    return [
        Spec("gaussian", "Two-component Gaussian mixture with known density (netCDF files)",
             "kiss_core.datasets:GaussianMixture", ("toy",)),
    ]


@hookimpl
def kiss_generators() -> list[Spec]:
    return [
        Spec("flow_matching", "Conditional flow matching (MLP) for one vector per event",
             "kiss_core.models.flow_matching:TabularFlowMatching", ("flow-matching", "tabular")),
    ]


@hookimpl
def kiss_samplers() -> list[Spec]:
    return []


@hookimpl
def kiss_metrics() -> list[Spec]:
    return []


@hookimpl
def kiss_demos() -> list[Spec]:
    return [Spec("gaussian", "Gaussian mixture -> flow matching -> report, in seconds", "kiss_core.demos:gaussian_demo")]
