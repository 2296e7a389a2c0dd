"""The shared ODE/SDE sampling backend of every flow-matching, diffusion and consistency model.

Samplers are looked up by name in :data:`SAMPLERS` and built with :func:`make_sampler`. Each
one integrates a learned field from an initial noise state and returns the final state with
its exact number of field evaluations (NFE):

=================  ============  ===============================================  ===========
name               field         method                                           NFE
=================  ============  ===============================================  ===========
``euler``          velocity      explicit Euler, fixed steps (torchdiffeq)        steps
``midpoint``       velocity      explicit midpoint, fixed steps (torchdiffeq)     2 steps
``rk4``            velocity      Kutta's 3/8-rule RK4, fixed steps (torchdiffeq)  4 steps
``dopri5``         velocity      adaptive Dormand-Prince 5(4) (torchdiffeq)       adaptive
``euler_maruyama`` velocity      Euler-Maruyama on the marginal-preserving SDE    steps
``edm_heun``       denoiser      Karras et al. 2022, Algorithm 1                  2 steps - 1
``edm_stochastic`` denoiser      Karras et al. 2022, Algorithm 2                  2 steps - 1
``consistency``    denoiser      Song et al. 2023, Algorithm 1                    1 + levels
=================  ============  ===============================================  ===========

Velocity samplers integrate t from 0 (noise, x ~ N(0, I)) to 1 (data) and call
``field(t, x)`` for dx/dt. Denoiser samplers start from ``x = sigma_max * N(0, I)`` and call
``field(sigma, x)`` for the clean-data estimate D(x; sigma). Samplers keep the device and
dtype of ``x``, store no trajectory, and leave autograd as the caller set it.

Example:
    >>> sampler = make_sampler("rk4", steps=10)
    >>> result = sampler.sample(lambda t, x: torch.ones_like(x), torch.zeros(5, 3))
    >>> result.nfe, float(result.samples[0, 0])
    (40, 1.0)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from tqdm.auto import tqdm

from kiss_core.errors import KissError, UnknownNameError
from kiss_core.interfaces import Sampler, SamplingResult
from kiss_core.sampling.base import BaseSampler, check_count
from kiss_core.sampling.consistency import ConsistencySampler
from kiss_core.sampling.edm import EdmHeunSampler, EdmStochasticSampler, karras_sigmas
from kiss_core.sampling.ode import Dopri5Sampler, EulerSampler, MidpointSampler, RK4Sampler
from kiss_core.sampling.sde import EulerMaruyamaSampler

__all__ = [
    "SAMPLERS",
    "BaseSampler",
    "ConsistencySampler",
    "Dopri5Sampler",
    "EdmHeunSampler",
    "EdmStochasticSampler",
    "EulerMaruyamaSampler",
    "EulerSampler",
    "MidpointSampler",
    "RK4Sampler",
    "karras_sigmas",
    "make_sampler",
    "require_parametrisation",
    "sample_in_batches",
]

logger = logging.getLogger(__name__)

#: Sampler classes by registry name.
SAMPLERS: dict[str, type[BaseSampler]] = {
    sampler.name: sampler
    for sampler in (
        EulerSampler,
        MidpointSampler,
        RK4Sampler,
        Dopri5Sampler,
        EulerMaruyamaSampler,
        EdmHeunSampler,
        EdmStochasticSampler,
        ConsistencySampler,
    )
}


def make_sampler(name: str, **options: Any) -> BaseSampler:
    """Build the sampler registered as ``name`` with the given options.

    Arguments:
        name: A key of :data:`SAMPLERS` ("euler", "dopri5", "edm_heun", ...).
        options: Keyword options of that sampler's class (``steps``, ``atol``, ...).

    Returns:
        The sampler, with every option validated.

    Raises:
        UnknownNameError: If no sampler is registered as ``name``.
        KissError: If an option is unknown to that sampler or has an invalid value.

    Example:
        >>> make_sampler("dopri5", atol=1e-6, rtol=1e-6).options
        {'atol': 1e-06, 'rtol': 1e-06}
    """
    if name not in SAMPLERS:
        raise UnknownNameError("sampler", name, list(SAMPLERS))
    sampler_class = SAMPLERS[name]

    known = [
        parameter.name
        for parameter in inspect.signature(sampler_class.__init__).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for option in options:
        if option not in known:
            raise KissError(
                "Unknown sampler option",
                where=f"option '{option}' of sampler '{name}'",
                expected="one of: " + (", ".join(known) if known else "no options"),
                got=repr(option),
            )

    return sampler_class(**options)


def require_parametrisation(sampler: Sampler, parametrisation: str) -> None:
    """Raise KissError unless ``sampler`` expects a field in ``parametrisation``.

    Models call this before sampling, so that a velocity model given a denoiser sampler
    (or the reverse) fails with a clear message instead of producing noise.

    Arguments:
        sampler: The sampler a model was given.
        parametrisation: What the model's field returns, ``"velocity"`` or ``"denoiser"``.
    """
    actual = getattr(sampler, "parametrisation", None)
    if actual != parametrisation:
        compatible = sorted(
            name for name, cls in SAMPLERS.items() if cls.parametrisation == parametrisation
        )
        raise KissError(
            "Incompatible sampler",
            where=f"sampler '{getattr(sampler, 'name', type(sampler).__name__)}'",
            expected=f"a sampler for a {parametrisation} field: {', '.join(compatible)}",
            got=f"a sampler for a {actual} field",
        )


def sample_in_batches(
    sampler: Sampler,
    field: Callable[..., torch.Tensor],
    x: torch.Tensor,
    batch_size: int,
    *,
    conditions: torch.Tensor | Mapping[str, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> SamplingResult:
    """Run ``sampler`` on ``x`` in batches of events, without autograd, and join the results.

    Arguments:
        sampler: Any sampler.
        field: ``field(t, x)``, or ``field(t, x, conditions)`` when ``conditions`` is given.
            It then receives the rows of ``conditions`` that belong to the batch.
        x: Initial states, event first. They stay on their device.
        batch_size: Events per batch, >= 1.
        conditions: Per-event conditions, a tensor or a mapping of tensors with the event
            as first axis, sliced like ``x``.
        generator: Random number generator for stochastic samplers, passed on to
            ``sampler.sample`` only when given.
        progress: Whether to show a progress bar over batches.

    Returns:
        The joined samples and the largest NFE of any batch. For fixed-step samplers every
        batch has the same NFE. The total number of field calls is logged.

    Example:
        >>> sampler = make_sampler("euler", steps=4)
        >>> result = sample_in_batches(sampler, lambda t, x: -x, torch.ones(10, 2), batch_size=3)
        >>> result.samples.shape, result.nfe
        (torch.Size([10, 2]), 4)
    """
    batch_size = check_count("sample_in_batches", "batch_size", batch_size)
    if x.dim() == 0:
        raise KissError(
            "Invalid initial state",
            where="sample_in_batches",
            expected="a tensor with an event axis",
            got="a 0-dim tensor",
        )
    _check_conditions(conditions, len(x))

    outputs, nfe, calls = [], 0, 0
    starts = range(0, len(x), batch_size)
    with torch.no_grad():
        for start in tqdm(
            starts,
            desc=f"sampling ({getattr(sampler, 'name', 'sampler')})",
            unit="batch",
            disable=not progress,
        ):
            batch = slice(start, start + batch_size)
            batch_field = (
                field if conditions is None else _bind_conditions(field, conditions, batch)
            )
            if generator is None:
                result = sampler.sample(batch_field, x[batch])
            else:
                result = sampler.sample(batch_field, x[batch], generator=generator)
            outputs.append(result.samples)
            nfe = max(nfe, result.nfe)
            calls += result.nfe

    logger.debug("sampled %d events in %d batches with %d field calls", len(x), len(outputs), calls)
    samples = torch.cat(outputs) if outputs else x.clone()
    return SamplingResult(samples=samples, nfe=nfe)


def _check_conditions(
    conditions: torch.Tensor | Mapping[str, torch.Tensor] | None, n_events: int
) -> None:
    if conditions is None:
        return
    named = conditions.items() if isinstance(conditions, Mapping) else [("conditions", conditions)]
    for key, value in named:
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or len(value) != n_events:
            got = (
                f"shape {tuple(value.shape)}"
                if isinstance(value, torch.Tensor)
                else type(value).__name__
            )
            raise KissError(
                "Invalid conditions",
                where=f"sample_in_batches: {key}",
                expected=f"a tensor with {n_events} events on its first axis",
                got=got,
            )


def _bind_conditions(
    field: Callable[..., torch.Tensor],
    conditions: torch.Tensor | Mapping[str, torch.Tensor],
    batch: slice,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if isinstance(conditions, Mapping):
        batch_conditions: Any = {key: value[batch] for key, value in conditions.items()}
    else:
        batch_conditions = conditions[batch]

    def batch_field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return field(t, x, batch_conditions)

    return batch_field
