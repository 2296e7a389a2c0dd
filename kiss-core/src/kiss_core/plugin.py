"""The built-in plugin of kiss-core, registered through the entry point like any third party."""

from __future__ import annotations

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec

__all__ = ["kiss_datasets", "kiss_demos", "kiss_generators", "kiss_metrics", "kiss_samplers"]


@hookimpl
def kiss_datasets() -> list[Spec]:
    return [
        Spec(
            "gaussian",
            "Two-component Gaussian mixture with known density (netCDF files)",
            "kiss_core.datasets:GaussianMixture",
            ("toy",),
        ),
    ]


@hookimpl
def kiss_generators() -> list[Spec]:
    return [
        Spec(
            "flow_matching",
            "Conditional flow matching (MLP) for one vector per event",
            "kiss_core.models.flow_matching:TabularFlowMatching",
            ("flow-matching", "tabular"),
        ),
    ]


@hookimpl
def kiss_samplers() -> list[Spec]:
    return [
        Spec(
            "euler",
            "Explicit Euler ODE solver for velocity fields (torchdiffeq, fixed steps)",
            "kiss_core.sampling.ode:EulerSampler",
            ("ode", "fixed-step", "velocity"),
        ),
        Spec(
            "midpoint",
            "Explicit midpoint ODE solver, order 2 (torchdiffeq, fixed steps)",
            "kiss_core.sampling.ode:MidpointSampler",
            ("ode", "fixed-step", "velocity"),
        ),
        Spec(
            "rk4",
            "Fourth-order Runge-Kutta, 3/8 rule (torchdiffeq, fixed steps)",
            "kiss_core.sampling.ode:RK4Sampler",
            ("ode", "fixed-step", "velocity"),
        ),
        Spec(
            "dopri5",
            "Adaptive Dormand-Prince 5(4) ODE solver (torchdiffeq)",
            "kiss_core.sampling.ode:Dopri5Sampler",
            ("ode", "adaptive", "velocity"),
        ),
        Spec(
            "euler_maruyama",
            "Euler-Maruyama on the marginal-preserving SDE of a velocity field",
            "kiss_core.sampling.sde:EulerMaruyamaSampler",
            ("sde", "stochastic", "velocity"),
        ),
        Spec(
            "edm_heun",
            "Deterministic EDM Heun sampler (Karras et al. 2022, Algorithm 1)",
            "kiss_core.sampling.edm:EdmHeunSampler",
            ("ode", "edm", "denoiser"),
        ),
        Spec(
            "edm_stochastic",
            "Stochastic EDM sampler with churn (Karras et al. 2022, Algorithm 2)",
            "kiss_core.sampling.edm:EdmStochasticSampler",
            ("sde", "edm", "stochastic", "denoiser"),
        ),
        Spec(
            "consistency",
            "One-step or multistep consistency sampling (Song et al. 2023)",
            "kiss_core.sampling.consistency:ConsistencySampler",
            ("consistency", "one-step", "denoiser"),
        ),
    ]


@hookimpl
def kiss_metrics() -> list[Spec]:
    return [
        Spec(
            "w1",
            "W1 per chosen variable with bootstrap batches",
            "kiss_core.metrics.variables:FeatureW1",
            ("two-sample",),
        ),
        Spec(
            "fpd",
            "Fréchet physics distance of chosen variables, extrapolated to infinite N",
            "kiss_core.metrics.variables:FeatureFPD",
            ("two-sample",),
        ),
        Spec(
            "kpd",
            "Kernel physics distance (unbiased polynomial MMD) of chosen variables",
            "kiss_core.metrics.variables:FeatureKPD",
            ("two-sample",),
        ),
        Spec(
            "classifier_auc",
            "Held-out ROC AUC of a calibrated classifier",
            "kiss_core.metrics.variables:ClassifierAUC",
            ("two-sample", "classifier"),
        ),
    ]


@hookimpl
def kiss_demos() -> list[Spec]:
    return [
        Spec("gaussian", "Gaussian mixture -> flow matching -> report, in seconds",
             "kiss_core.demos:gaussian_demo")
    ]
