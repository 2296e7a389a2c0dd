"""EDM samplers for denoiser fields: the Karras noise schedule, Heun and stochastic sampling.

The data are noised as x = y + sigma n with n ~ N(0, I) (the variance-exploding form with
sigma(t) = t and scale s(t) = 1 of Karras et al. 2022). ``field(sigma, x)`` returns the
denoiser D(x; sigma), an estimate of the clean y, with ``sigma`` a 0-dim tensor on the device
and dtype of ``x``. The probability-flow ODE is

    dx/dsigma = (x - D(x; sigma)) / sigma,

integrated from sigma_max down to 0. The caller passes the initial state already at the
highest noise level, ``x = sigma_max * N(0, I)``, with the same ``sigma_max`` as the sampler.

References:
    Elucidating the Design Space of Diffusion-Based Generative Models (Karras et al., 2022)
    https://arxiv.org/abs/2206.00364
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import ClassVar

import torch

from kiss_core.sampling.base import BaseSampler, CountingField, check_count, check_real

__all__ = ["EdmHeunSampler", "EdmStochasticSampler", "karras_sigmas"]

#: sigma_min, sigma_max and rho that Karras et al. 2022 choose for their own sampler.
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0


def karras_sigmas(
    steps: int,
    sigma_min: float = SIGMA_MIN,
    sigma_max: float = SIGMA_MAX,
    rho: float = RHO,
) -> torch.Tensor:
    """Build the noise levels of Karras et al. 2022, Eq. 5, followed by a final zero.

    sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho
    for i = 0, ..., N - 1 with N = ``steps``, and sigma_N = 0. Larger ``rho`` puts more levels
    near sigma_min. With one step the levels are [sigma_max, 0].

    Arguments:
        steps: Number of nonzero noise levels N, >= 1.
        sigma_min: Lowest nonzero noise level, > 0 (default 0.002).
        sigma_max: Highest noise level, > sigma_min (default 80).
        rho: Schedule exponent, > 0 (default 7).

    Returns:
        A float64 CPU tensor of N + 1 decreasing noise levels, the last one 0.

    Example:
        >>> karras_sigmas(3, sigma_min=1.0, sigma_max=4.0, rho=1.0)
        tensor([4.0000, 2.5000, 1.0000, 0.0000], dtype=torch.float64)

    References:
        Elucidating the Design Space of Diffusion-Based Generative Models (Karras et al., 2022)
        https://arxiv.org/abs/2206.00364
    """
    owner = "karras_sigmas"
    steps = check_count(owner, "steps", steps)
    sigma_min, sigma_max, rho = _check_schedule(owner, sigma_min, sigma_max, rho)

    sigmas = torch.zeros(steps + 1, dtype=torch.float64)
    if steps == 1:
        sigmas[0] = sigma_max
        return sigmas
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    high, low = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    sigmas[:steps] = (high + ramp * (low - high)) ** rho
    return sigmas


def _check_schedule(
    owner: str, sigma_min: float, sigma_max: float, rho: float
) -> tuple[float, float, float]:
    sigma_min = check_real(owner, "sigma_min", sigma_min, strict=True)
    sigma_max = check_real(owner, "sigma_max", sigma_max, minimum=sigma_min, strict=True)
    rho = check_real(owner, "rho", rho, strict=True)
    return sigma_min, sigma_max, rho


class EdmStochasticSampler(BaseSampler):
    """Samples with Karras et al. 2022, Algorithm 2: Heun steps with added noise ("churn").

    At each noise level sigma_i of :func:`karras_sigmas` with s_tmin <= sigma_i <= s_tmax,
    the state is first pushed up to sigma_hat = (1 + gamma) sigma_i by adding fresh noise
    of standard deviation s_noise * sqrt(sigma_hat^2 - sigma_i^2), with
    gamma = min(s_churn / steps, sqrt(2) - 1). Then one Heun step of the ODE goes from
    sigma_hat to sigma_{i+1}, and the last step, to sigma = 0, is a plain Euler step.
    ``steps`` steps cost 2 * steps - 1 NFE.

    The defaults of the churn options are the settings of the EDM reference code
    (github.com/NVlabs/edm, README) for ImageNet 64x64: s_churn = 40, s_tmin = 0.05,
    s_tmax = 50, s_noise = 1.003. They were tuned on images and are only a starting point
    elsewhere. With s_churn = 0 the sampler equals :class:`EdmHeunSampler`.

    Arguments:
        steps: Number of noise levels N before the final zero (default 18, the EDM
            setting for CIFAR-10, 35 NFE).
        sigma_min: Lowest nonzero noise level (default 0.002).
        sigma_max: Highest noise level, the standard deviation of the initial
            state (default 80).
        rho: Schedule exponent (default 7).
        s_churn: Total amount of added noise, >= 0.
        s_tmin: Lowest noise level that gets churn, >= 0.
        s_tmax: Highest noise level that gets churn, >= s_tmin (inf allowed).
        s_noise: Factor on the standard deviation of the added noise, >= 0. Slightly above 1
            counters the loss of detail that Karras et al. observe.

    Example:
        >>> sampler = EdmStochasticSampler(steps=10, s_churn=5.0)
        >>> x = sampler.sigma_max * torch.randn(100, 2)
        >>> sampler.sample(lambda sigma, x: torch.zeros_like(x), x).nfe
        19

    References:
        Elucidating the Design Space of Diffusion-Based Generative Models (Karras et al., 2022)
        https://arxiv.org/abs/2206.00364
    """

    name = "edm_stochastic"
    parametrisation: ClassVar[str] = "denoiser"
    stochastic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        steps: int = 18,
        sigma_min: float = SIGMA_MIN,
        sigma_max: float = SIGMA_MAX,
        rho: float = RHO,
        s_churn: float = 40.0,
        s_tmin: float = 0.05,
        s_tmax: float = 50.0,
        s_noise: float = 1.003,
    ) -> None:
        self.steps = check_count(self.label, "steps", steps)
        self.sigma_min, self.sigma_max, self.rho = _check_schedule(
            self.label, sigma_min, sigma_max, rho
        )
        self.s_churn = check_real(self.label, "s_churn", s_churn)
        self.s_tmin = check_real(self.label, "s_tmin", s_tmin)
        self.s_tmax = check_real(
            self.label, "s_tmax", s_tmax, minimum=self.s_tmin, allow_infinite=True
        )
        self.s_noise = check_real(self.label, "s_noise", s_noise)
        self._record_options(
            steps=self.steps,
            sigma_min=self.sigma_min,
            sigma_max=self.sigma_max,
            rho=self.rho,
            s_churn=self.s_churn,
            s_tmin=self.s_tmin,
            s_tmax=self.s_tmax,
            s_noise=self.s_noise,
        )

    def _churn(self, sigma: float) -> float:
        """Return gamma, the relative noise increase at level ``sigma`` (Algorithm 2, line 4)."""
        if not self.s_tmin <= sigma <= self.s_tmax:
            return 0.0
        return min(self.s_churn / self.steps, math.sqrt(2.0) - 1.0)

    def _integrate(
        self, field: CountingField, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        sigmas = karras_sigmas(self.steps, self.sigma_min, self.sigma_max, self.rho).tolist()

        for sigma, sigma_next in pairwise(sigmas):
            gamma = self._churn(sigma)
            sigma_hat = sigma * (1.0 + gamma)
            if gamma > 0.0:
                noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = x + (self.s_noise * math.sqrt(sigma_hat**2 - sigma**2)) * noise

            slope = (x - field(sigma_hat, x)) / sigma_hat
            x_next = x + (sigma_next - sigma_hat) * slope
            if sigma_next > 0.0:
                slope_next = (x_next - field(sigma_next, x_next)) / sigma_next
                x_next = x + (sigma_next - sigma_hat) * (0.5 * slope + 0.5 * slope_next)
            x = x_next

        return x


class EdmHeunSampler(EdmStochasticSampler):
    """Samples with Karras et al. 2022, Algorithm 1: deterministic Heun steps on the EDM ODE.

    Each step from sigma_i to sigma_{i+1} of :func:`karras_sigmas` is a Heun (trapezoidal
    predictor-corrector) step of dx/dsigma = (x - D(x; sigma)) / sigma, except the last one,
    to sigma = 0, which is an Euler step because the slope is undefined there. ``steps``
    steps cost 2 * steps - 1 NFE.

    Arguments:
        steps: Number of noise levels N before the final zero (default 18, the EDM
            setting for CIFAR-10, 35 NFE).
        sigma_min: Lowest nonzero noise level (default 0.002).
        sigma_max: Highest noise level, the standard deviation of the initial
            state (default 80).
        rho: Schedule exponent (default 7).

    Example:
        >>> sampler = EdmHeunSampler(steps=18)
        >>> x = sampler.sigma_max * torch.randn(100, 2)
        >>> sampler.sample(lambda sigma, x: torch.zeros_like(x), x).nfe
        35

    References:
        Elucidating the Design Space of Diffusion-Based Generative Models (Karras et al., 2022)
        https://arxiv.org/abs/2206.00364
    """

    name = "edm_heun"
    stochastic: ClassVar[bool] = False

    def __init__(
        self,
        *,
        steps: int = 18,
        sigma_min: float = SIGMA_MIN,
        sigma_max: float = SIGMA_MAX,
        rho: float = RHO,
    ) -> None:
        super().__init__(
            steps=steps, sigma_min=sigma_min, sigma_max=sigma_max, rho=rho, s_churn=0.0
        )
        self._record_options(
            steps=self.steps, sigma_min=self.sigma_min, sigma_max=self.sigma_max, rho=self.rho
        )
