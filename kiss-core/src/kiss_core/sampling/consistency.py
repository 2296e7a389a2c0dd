"""One-step and multistep sampling with a consistency model.

A consistency function f(x, sigma) maps a state at noise level sigma on a probability-flow
trajectory of the variance-exploding process x = y + sigma n straight to the state of that
trajectory at the lowest level sigma_min, so a single evaluation turns noise into a sample.
``field(sigma, x)`` returns f(x, sigma) in the denoiser parametrisation, with ``sigma`` a
0-dim tensor on the device and dtype of ``x``. The caller passes the initial state at the
highest level, ``x = sigma_max * N(0, I)``.

References:
    Consistency Models (Song, Dhariwal, Chen & Sutskever, 2023)
    https://arxiv.org/abs/2303.01469
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import ClassVar

import torch

from kiss_core.errors import KissError
from kiss_core.sampling.base import BaseSampler, CountingField, check_real
from kiss_core.sampling.edm import SIGMA_MAX, SIGMA_MIN

__all__ = ["ConsistencySampler"]


class ConsistencySampler(BaseSampler):
    """Samples with Song et al. 2023, Algorithm 1 (multistep consistency sampling).

    The first evaluation maps the initial state at sigma_max to a sample, x = f(x, sigma_max).
    For each intermediate level tau in ``timesteps`` the sample is noised again to level tau,
    x = x + sqrt(tau^2 - sigma_min^2) z with z ~ N(0, I), and mapped back, x = f(x, tau).
    Each extra level trades one more NFE for a sample that depends less on the accuracy of
    the one-step map at large noise. With no ``timesteps`` this is one-step sampling (1 NFE).

    Arguments:
        sigma_min: Noise level at which the consistency function is the identity (epsilon in
            Song et al. 2023), > 0 (default 0.002), as in Karras et al. 2022.
        sigma_max: Highest noise level T, the standard deviation of the initial
            state (default 80).
        timesteps: Intermediate noise levels, strictly decreasing, each strictly between
            sigma_min and sigma_max (default none).

    Example:
        >>> sampler = ConsistencySampler(timesteps=(2.0, 0.5))
        >>> x = sampler.sigma_max * torch.randn(100, 2)
        >>> sampler.sample(lambda sigma, x: torch.zeros_like(x), x).nfe
        3

    References:
        Consistency Models (Song, Dhariwal, Chen & Sutskever, 2023)
        https://arxiv.org/abs/2303.01469
    """

    name = "consistency"
    parametrisation: ClassVar[str] = "denoiser"
    stochastic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        sigma_min: float = SIGMA_MIN,
        sigma_max: float = SIGMA_MAX,
        timesteps: Sequence[float] = (),
    ) -> None:
        self.sigma_min = check_real(self.label, "sigma_min", sigma_min, strict=True)
        self.sigma_max = check_real(
            self.label, "sigma_max", sigma_max, minimum=self.sigma_min, strict=True
        )
        self.timesteps = self._check_timesteps(timesteps)
        self._record_options(
            sigma_min=self.sigma_min, sigma_max=self.sigma_max, timesteps=list(self.timesteps)
        )

    def _check_timesteps(self, timesteps: Sequence[float]) -> tuple[float, ...]:
        invalid = KissError(
            "Invalid sampler option",
            where=f"option 'timesteps' of {self.label}",
            expected=(
                "strictly decreasing noise levels strictly between "
                f"{self.sigma_min:g} and {self.sigma_max:g}"
            ),
            got=repr(timesteps),
        )
        if isinstance(timesteps, (str, bytes)) or not isinstance(timesteps, Sequence):
            raise invalid
        levels = []
        for level in timesteps:
            if isinstance(level, bool) or not isinstance(level, (int, float)) or math.isnan(level):
                raise invalid
            levels.append(float(level))
        bounds = [self.sigma_max, *levels, self.sigma_min]
        if any(higher <= lower for higher, lower in pairwise(bounds)):
            raise invalid
        return tuple(levels)

    def _integrate(
        self, field: CountingField, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        x = field(self.sigma_max, x)

        for level in self.timesteps:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + math.sqrt(level**2 - self.sigma_min**2) * noise
            x = field(level, x)

        return x
