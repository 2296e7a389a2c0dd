"""ODE samplers for flow-matching velocity fields, integrated with torchdiffeq.

Each sampler solves the probability-flow ODE of a flow-matching model

    dx/dt = v(t, x),    x(0) = x0 ~ N(0, I),    t: 0 -> 1,

and returns x(1). The velocity belongs to the linear interpolant x_t = (1 - t) x0 + t x1
between noise x0 (t = 0) and data x1 (t = 1), so ``field(t, x)`` returns dx/dt with ``t`` a
0-dim tensor on the device and dtype of ``x``.

References:
    Flow Matching for Generative Modeling (Lipman et al., 2023)
    https://arxiv.org/abs/2210.02747

    torchdiffeq (Chen, 2018)
    https://github.com/rtqichen/torchdiffeq
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torchdiffeq import odeint

from kiss_core.errors import KissError
from kiss_core.sampling.base import BaseSampler, CountingField, check_count, check_real

__all__ = [
    "Dopri5Sampler",
    "EulerSampler",
    "FixedStepOdeSampler",
    "MidpointSampler",
    "RK4Sampler",
]


class FixedStepOdeSampler(BaseSampler):
    """An explicit Runge-Kutta method on a uniform grid of ``steps`` steps over t in [0, 1].

    The grid is built as ``linspace(0, 1, steps + 1)`` and handed to torchdiffeq as a grid
    constructor, so only x(0) and x(1) are stored, whatever the number of steps. Passing
    ``step_size`` instead would let torchdiffeq round ``1 / step_size`` up and add a tiny
    extra step.

    Arguments:
        steps: Number of integration steps (each costs :attr:`evaluations_per_step` NFE).
    """

    parametrisation: ClassVar[str] = "velocity"
    #: Method name in ``torchdiffeq.odeint``.
    method: ClassVar[str]
    #: Field evaluations per step.
    evaluations_per_step: ClassVar[int]

    def __init__(self, *, steps: int = 100) -> None:
        self.steps = check_count(self.label, "steps", steps)
        self._record_options(steps=self.steps)

    def _integrate(
        self, field: CountingField, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        times = torch.tensor([0.0, 1.0], device=x.device, dtype=x.dtype)
        steps = self.steps

        def uniform_grid(_func: Any, _y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return torch.linspace(t[0], t[-1], steps + 1, device=t.device, dtype=t.dtype)

        trajectory = odeint(
            field, x, times, method=self.method, options={"grid_constructor": uniform_grid}
        )
        return trajectory[-1]


class EulerSampler(FixedStepOdeSampler):
    """Integrates the velocity ODE with the explicit Euler method (order 1, 1 NFE per step).

    Arguments:
        steps: Number of integration steps (default 100).

    Example:
        >>> sampler = EulerSampler(steps=10)
        >>> result = sampler.sample(lambda t, x: -x, torch.ones(4, 2))
        >>> result.nfe
        10
    """

    name = "euler"
    method = "euler"
    evaluations_per_step = 1


class MidpointSampler(FixedStepOdeSampler):
    """Integrates the velocity ODE with the explicit midpoint method (order 2, 2 NFE per step).

    Arguments:
        steps: Number of integration steps (default 50), which costs the same 100 NFE as
            the Euler default.

    Example:
        >>> MidpointSampler(steps=10).sample(lambda t, x: -x, torch.ones(4, 2)).nfe
        20
    """

    name = "midpoint"
    method = "midpoint"
    evaluations_per_step = 2

    def __init__(self, *, steps: int = 50) -> None:
        super().__init__(steps=steps)


class RK4Sampler(FixedStepOdeSampler):
    """Integrates the velocity ODE with a fourth-order Runge-Kutta method (4 NFE per step).

    torchdiffeq's method ``"rk4"`` (version 0.2.5) is Kutta's 3/8 rule, with nodes
    0, 1/3, 2/3, 1 and weights 1/8, 3/8, 3/8, 1/8, and not the classic 1/6, 1/3, 1/3, 1/6
    scheme with two evaluations at the midpoint. Both are fourth order with four evaluations
    per step. The 3/8 rule is used here on purpose: torchdiffeq exposes no public method name
    for the classic scheme, and the 3/8 rule has the smaller error constant. The test suite
    pins the variant through a quadrature that the two schemes integrate differently.

    Arguments:
        steps: Number of integration steps (default 25), which costs the same 100 NFE as
            the Euler default.

    Example:
        >>> RK4Sampler(steps=10).sample(lambda t, x: -x, torch.ones(4, 2)).nfe
        40

    References:
        Beitrag zur näherungsweisen Integration totaler Differentialgleichungen (Kutta, 1901)
    """

    name = "rk4"
    method = "rk4"
    evaluations_per_step = 4

    def __init__(self, *, steps: int = 25) -> None:
        super().__init__(steps=steps)


class Dopri5Sampler(BaseSampler):
    """Integrates the velocity ODE with the adaptive Dormand-Prince 5(4) method.

    The step size is chosen so that the local error estimate of each step stays below
    ``atol + rtol * |x|``, elementwise. The NFE depends on the field and is counted exactly,
    including the evaluations torchdiffeq spends on choosing the first step and on rejected
    steps.

    Arguments:
        atol: Absolute tolerance, >= 0 (default 1e-5).
        rtol: Relative tolerance, >= 0 (default 1e-5). The defaults are chosen for float32
            sampling: torchdiffeq's own defaults (atol 1e-9, rtol 1e-7) sit near float32
            resolution and cost many more evaluations.

    Example:
        >>> result = Dopri5Sampler(atol=1e-6, rtol=1e-6).sample(lambda t, x: -x, torch.ones(4, 2))
        >>> bool(torch.allclose(result.samples, torch.exp(torch.tensor(-1.0)) * torch.ones(4, 2)))
        True

    References:
        A family of embedded Runge-Kutta formulae (Dormand & Prince, 1980)
        https://doi.org/10.1016/0771-050X(80)90013-3
    """

    name = "dopri5"
    parametrisation: ClassVar[str] = "velocity"

    def __init__(self, *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
        self.atol = check_real(self.label, "atol", atol)
        self.rtol = check_real(self.label, "rtol", rtol)
        if self.atol == 0.0 and self.rtol == 0.0:
            raise KissError(
                "Invalid sampler option",
                where=f"options 'atol' and 'rtol' of {self.label}",
                expected="at least one tolerance > 0",
                got="atol=0.0, rtol=0.0",
                hint="an adaptive solver with zero tolerance never accepts a step",
            )
        self._record_options(atol=self.atol, rtol=self.rtol)

    def _integrate(
        self, field: CountingField, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        times = torch.tensor([0.0, 1.0], device=x.device, dtype=x.dtype)
        trajectory = odeint(field, x, times, method="dopri5", atol=self.atol, rtol=self.rtol)
        return trajectory[-1]
