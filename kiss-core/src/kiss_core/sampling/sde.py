"""Euler-Maruyama sampling of an SDE built from a flow-matching velocity field.

Derivation. Take the linear interpolant x_t = (1 - t) x0 + t x1 with noise x0 ~ N(0, I) and
data x1, independent. Given x1, x_t ~ N(t x1, (1 - t)^2 I), so the score of the marginal is

    s(x, t) = grad_x log p_t(x) = -(x - t E[x1 | x_t = x]) / (1 - t)^2.

The velocity is v(x, t) = E[x1 - x0 | x_t = x] = (E[x1 | x_t = x] - x) / (1 - t), because
x0 = (x_t - t x1) / (1 - t). Eliminating E[x1 | x_t = x] gives

    s(x, t) = (t v(x, t) - x) / (1 - t).

For any diffusion coefficient g(t) >= 0 the SDE

    dx = [v(x, t) + g(t)^2 / 2 * s(x, t)] dt + g(t) dW,    t: 0 -> 1,

has the same marginals p_t as the ODE dx/dt = v, because the extra drift term and the
diffusion term cancel in the Fokker-Planck equation:
-div(p g^2/2 grad log p) + g^2/2 laplace(p) = 0. Run from noise at t = 0 to data at t = 1,
this is the reverse-time SDE of diffusion-model language.

References:
    Score-Based Generative Modeling through Stochastic Differential Equations
    (Song et al., 2021) https://arxiv.org/abs/2011.13456

    Stochastic Interpolants: A Unifying Framework for Flows and Diffusions
    (Albergo, Boffi & Vanden-Eijnden, 2023) https://arxiv.org/abs/2303.08797
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from kiss_core.sampling.base import (
    BaseSampler,
    CountingField,
    check_choice,
    check_count,
    check_real,
)

__all__ = ["DIFFUSION_SCHEDULES", "EulerMaruyamaSampler"]

#: Names of the diffusion coefficients g(t) that :class:`EulerMaruyamaSampler` offers.
DIFFUSION_SCHEDULES = ("constant", "decaying")


class EulerMaruyamaSampler(BaseSampler):
    """Integrates the marginal-preserving SDE of a velocity field with Euler-Maruyama.

    With step h = 1 / steps and t_n = n h, each step but the last is

        x <- x + [v + g(t_n)^2 / 2 * s] h + g(t_n) sqrt(h) z,    z ~ N(0, I),
        s = (t_n v - x) / (1 - t_n),    v = field(t_n, x),

    and the last step, from t = 1 - h to t = 1, is a plain Euler step x <- x + v h with no
    noise. The score is singular at t = 1 and the drift term g^2 s / 2 grows like 1 / (1 - t)
    for a constant g, so ending with a noise-free ODE step keeps the field from being
    evaluated at t = 1 and bounds the score factor by 1 / (1 - t) <= steps / 2. The final
    sample has no injected noise of size g sqrt(h) in it.

    The diffusion coefficient g(t) is one of:

    - ``"constant"``: g(t) = noise_scale.
    - ``"decaying"``: g(t) = noise_scale * sqrt(1 - t). Then g^2 s / 2 =
      noise_scale^2 (t v - x) / 2 has no singularity, and the noise fades out towards the
      data end.

    ``noise_scale = 0`` turns the sampler into the Euler ODE sampler. Each step costs one
    NFE, so ``steps`` steps cost ``steps`` NFE.

    Arguments:
        steps: Number of steps (default 100).
        noise_scale: Scale c of g(t), >= 0 (default 1.0).
        diffusion: ``"decaying"`` (default) or ``"constant"``, as above.

    Example:
        >>> sampler = EulerMaruyamaSampler(steps=50, noise_scale=0.5)
        >>> sampler.sample(lambda t, x: -x, torch.randn(1000, 3)).nfe
        50
    """

    name = "euler_maruyama"
    parametrisation: ClassVar[str] = "velocity"
    stochastic: ClassVar[bool] = True

    def __init__(
        self, *, steps: int = 100, noise_scale: float = 1.0, diffusion: str = "decaying"
    ) -> None:
        self.steps = check_count(self.label, "steps", steps)
        self.noise_scale = check_real(self.label, "noise_scale", noise_scale)
        self.diffusion = check_choice(self.label, "diffusion", diffusion, DIFFUSION_SCHEDULES)
        self._record_options(
            steps=self.steps, noise_scale=self.noise_scale, diffusion=self.diffusion
        )

    def diffusion_coefficient(self, t: float) -> float:
        """Return g(t) for the configured schedule, with t in [0, 1]."""
        if self.diffusion == "constant":
            return self.noise_scale
        return self.noise_scale * math.sqrt(max(1.0 - t, 0.0))

    def _score_weight(self, t: float) -> float:
        """Return g(t)^2 / (2 (1 - t)), the factor of (t v - x) in the drift, for t < 1."""
        if self.diffusion == "constant":
            return self.noise_scale**2 / (2.0 * (1.0 - t))
        return self.noise_scale**2 / 2.0

    def _integrate(
        self, field: CountingField, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        step = 1.0 / self.steps

        for n in range(self.steps - 1):
            t = n * step
            velocity = field(t, x)
            drift = velocity + self._score_weight(t) * (t * velocity - x)
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + drift * step + (self.diffusion_coefficient(t) * math.sqrt(step)) * noise

        last_t = (self.steps - 1) * step
        return x + field(last_t, x) * step
