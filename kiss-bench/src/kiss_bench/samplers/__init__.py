"""Samplers under test, by name: iid (reference), rwmh, hmc, flow_matching, and file:PATH."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from kiss_bench.samplers.base import BenchSampler, Draw
from kiss_bench.samplers.files import FileSampler, read_samples
from kiss_bench.samplers.flow_matching import FlowMatchingSampler
from kiss_bench.samplers.iid import IIDSampler
from kiss_bench.samplers.mcmc import HamiltonianMonteCarlo, RandomWalkMetropolis
from kiss_core.errors import KissError, UnknownNameError

__all__ = ["BenchSampler", "Draw", "FileSampler", "SAMPLER_FACTORIES", "make_sampler", "read_samples", "sampler_names"]

#: Sampler name to its class; "file:PATH" builds a FileSampler for PATH.
SAMPLER_FACTORIES: dict[str, Callable[[], BenchSampler]] = {
    "iid": IIDSampler,
    "rwmh": RandomWalkMetropolis,
    "hmc": HamiltonianMonteCarlo,
    "flow_matching": FlowMatchingSampler,
}


def sampler_names() -> list[str]:
    """Return the built-in sampler names plus the "file:PATH" form."""
    return [*SAMPLER_FACTORIES, "file:PATH"]


def make_sampler(name: str, **options) -> BenchSampler:
    """Build the sampler ``name`` with keyword ``options``; "file:PATH" reads samples from PATH.

    Raises:
        UnknownNameError: If no sampler has that name.
        KissError: If an option is not a parameter of the sampler, or its value is invalid.
    """
    if name.startswith("file:"):
        return FileSampler(name.removeprefix("file:"), **options)
    if name not in SAMPLER_FACTORIES:
        raise UnknownNameError("sampler", name, sampler_names())
    factory = SAMPLER_FACTORIES[name]
    known = [option for option in inspect.signature(factory).parameters if option != "self"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise KissError("Unknown sampler option", where=f"sampler '{name}'", expected="one of: " + ", ".join(known),
                        got=", ".join(unknown))
    return factory(**options)
