"""Benchmark targets: distributions with exact samplers, normalised log densities and known moments."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from kiss_bench.targets.base import MarginalMoments, Target
from kiss_bench.targets.cauchy import TruncatedCauchyTarget
from kiss_bench.targets.eight_schools import EightSchoolsTarget
from kiss_bench.targets.gaussian import GaussianTarget, equicorrelated_normal, ill_conditioned_normal
from kiss_bench.targets.mixtures import GaussianMixtureTarget, correlated_mixture, two_component_mixture_1d
from kiss_bench.targets.shapes import BananaTarget, FunnelTarget, RingTarget
from kiss_core.errors import UnknownNameError

__all__ = [
    "BananaTarget",
    "EightSchoolsTarget",
    "FunnelTarget",
    "GaussianMixtureTarget",
    "GaussianTarget",
    "MarginalMoments",
    "RingTarget",
    "TARGET_FACTORIES",
    "Target",
    "TruncatedCauchyTarget",
    "make_target",
    "target_names",
]


def _factories() -> dict[str, Callable[[], Target]]:
    table: dict[str, Callable[[], Target]] = {"normal1d": partial(equicorrelated_normal, 1)}
    for dimension in (2, 3, 10, 100):
        for correlation in (0.0, 0.25, 0.9):
            builder = partial(equicorrelated_normal, dimension, correlation)
            table[builder().name] = builder
    for separation in (2.0, 10.0):
        for ratio in (1.0, 3.0):
            builder = partial(two_component_mixture_1d, separation, ratio)
            table[builder().name] = builder
    for dimension in (3, 10):
        builder = partial(correlated_mixture, dimension)
        table[builder().name] = builder
    table["cauchy1d_truncated50"] = TruncatedCauchyTarget
    table["eight_schools"] = EightSchoolsTarget
    table["funnel10d"] = FunnelTarget
    table["banana2d"] = BananaTarget
    table["ill_conditioned10d"] = ill_conditioned_normal
    table["ring2d"] = RingTarget
    return table


#: Target name to a function that builds it; names state dimension, correlation and modes.
TARGET_FACTORIES: dict[str, Callable[[], Target]] = _factories()


def target_names() -> list[str]:
    """Return the names of all built-in targets."""
    return sorted(TARGET_FACTORIES)


def make_target(name: str) -> Target:
    """Build the target registered under ``name``.

    Raises:
        UnknownNameError: If no target has that name; the message lists every name.
    """
    if name not in TARGET_FACTORIES:
        raise UnknownNameError("target", name, target_names())
    return TARGET_FACTORIES[name]()
