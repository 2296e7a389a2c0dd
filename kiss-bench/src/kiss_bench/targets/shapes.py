"""Targets with awkward geometry: Neal's funnel, the twisted-Gaussian banana and a ring."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, stats

from kiss_bench.targets.base import MarginalMoments, Target

__all__ = ["BananaTarget", "FunnelTarget", "RingTarget"]

_LOG_2PI = math.log(2 * math.pi)


class FunnelTarget(Target):
    """Neal's funnel: v ~ N(0, 3^2) and x_i | v ~ N(0, e^v) for i = 1..d-1, coordinates (v, x_1, ...).

    The neck (v around -6, width e^-3) and the mouth (v around 6, width e^3) need step sizes
    that differ by e^6, which defeats samplers with one global step size.

    References:
        R. M. Neal, "Slice sampling", Ann. Statist. 31 (2003) 705, section 8.
        https://doi.org/10.1214/aos/1056562461

    Arguments:
        dimension: Total dimension d, including v.
        scale: Standard deviation of v (3 in Neal's example).
    """

    def __init__(self, dimension: int = 10, scale: float = 3.0) -> None:
        self._dimension = dimension
        self.scale = scale
        self.name = f"funnel{dimension}d"

    @property
    def dimension(self) -> int:
        return self._dimension

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(n, self.dimension, generator=generator, dtype=torch.float64, device=generator.device)
        v = self.scale * noise[:, :1]
        return torch.cat([v, noise[:, 1:] * torch.exp(0.5 * v)], dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        v, rest = x[..., 0], x[..., 1:]
        log_v = -0.5 * (v / self.scale) ** 2 - math.log(self.scale) - 0.5 * _LOG_2PI
        log_rest = (-0.5 * rest**2 * torch.exp(-v)[..., None] - 0.5 * v[..., None] - 0.5 * _LOG_2PI).sum(-1)
        return log_v + log_rest

    def moments(self) -> MarginalMoments:
        # x_i is a scale mixture of normals: E[x^2] = E[e^v] = e^(s^2/2), E[x^4] = 3 E[e^(2v)] = 3 e^(2 s^2).
        s2 = self.scale**2
        rest = self.dimension - 1
        variance = np.concatenate([[s2], np.full(rest, math.exp(s2 / 2))])
        kurtosis = np.concatenate([[0.0], np.full(rest, 3.0 * math.exp(s2) - 3.0)])
        zeros = np.zeros(self.dimension)
        return MarginalMoments(zeros, variance, zeros.copy(), kurtosis, zeros.copy())


class BananaTarget(Target):
    """Twisted Gaussian ("banana"): y ~ N(0, diag(100, 1, ..., 1)) and x = (y_1, y_2 - b (y_1^2 - 100), y_3, ...).

    The density is the normal density evaluated at phi_b(x) = (x_1, x_2 + b x_1^2 - 100 b, x_3, ...),
    whose Jacobian determinant is 1. With b = 0.1 this is the strongly twisted case.

    References:
        H. Haario, E. Saksman, J. Tamminen, "Adaptive proposal distribution for random walk
        Metropolis algorithm", Comput. Stat. 14 (1999) 375.
        https://doi.org/10.1007/s001800050022

    Arguments:
        dimension: Total dimension (at least 2).
        twist: Curvature b.
        first_variance: Variance of the first coordinate (100 in Haario et al.).
    """

    def __init__(self, dimension: int = 2, twist: float = 0.1, first_variance: float = 100.0) -> None:
        self._dimension = dimension
        self.twist = twist
        self.first_variance = first_variance
        self.name = f"banana{dimension}d"

    @property
    def dimension(self) -> int:
        return self._dimension

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        y = torch.randn(n, self.dimension, generator=generator, dtype=torch.float64, device=generator.device)
        y[:, 0] *= math.sqrt(self.first_variance)
        y[:, 1] -= self.twist * (y[:, 0] ** 2 - self.first_variance)
        return y

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        first = x[..., 0]
        second = x[..., 1] + self.twist * (first**2 - self.first_variance)
        untwisted = torch.cat([(first / math.sqrt(self.first_variance))[..., None], second[..., None], x[..., 2:]], -1)
        return -0.5 * (untwisted**2).sum(-1) - 0.5 * math.log(self.first_variance) - 0.5 * self.dimension * _LOG_2PI

    def moments(self) -> MarginalMoments:
        # x_2 = y_2 - b W with W = y_1^2 - s^2 centred; a scaled chi-square(1) has central moments
        # 2 s^4, 8 s^6, 60 s^8 (orders 2, 3, 4).
        b, s2 = self.twist, self.first_variance
        variance2 = 1 + 2 * b**2 * s2**2
        central3 = -8 * b**3 * s2**3
        central4 = 3 + 6 * b**2 * 2 * s2**2 + 60 * b**4 * s2**4
        variance = np.ones(self.dimension)
        variance[0], variance[1] = s2, variance2
        skewness = np.zeros(self.dimension)
        skewness[1] = central3 / variance2**1.5
        kurtosis = np.zeros(self.dimension)
        kurtosis[1] = central4 / variance2**2 - 3
        mode = np.zeros(self.dimension)
        # NOTE: the x_2 marginal is skewed and its mode has no closed form, so it is not compared.
        mode[1] = np.nan
        return MarginalMoments(np.zeros(self.dimension), variance, skewness, kurtosis, mode)


class RingTarget(Target):
    """Ring in the plane: p(x) proportional to exp(-(|x| - radius)^2 / (2 width^2)).

    The radius rho = |x| has density proportional to rho N(rho; radius, width^2) on rho > 0 and
    the angle is uniform. The radius is drawn exactly by accept-reject: the proposal
    q(rho) proportional to (|rho - radius| + radius) N(rho; radius, width^2) on the real line is a
    mixture of N(radius, width^2) (weight proportional to radius) and radius +- width * Rayleigh
    (weight proportional to width sqrt(2/pi)); the acceptance probability
    rho / (|rho - radius| + radius) for rho > 0 and 0 otherwise is at most 1.

    Arguments:
        radius: Ring radius.
        width: Radial standard deviation.
    """

    def __init__(self, radius: float = 3.0, width: float = 0.25) -> None:
        self.radius = radius
        self.width = width
        self.name = "ring2d"
        radial = lambda r, k: r**k * r * stats.norm.pdf(r, radius, width)  # noqa: E731
        upper = radius + 40 * width
        self._radial_norm = integrate.quad(radial, 0, upper, args=(0,), epsabs=0, epsrel=1e-12)[0]
        self._radial_second = integrate.quad(radial, 0, upper, args=(2,), epsabs=0, epsrel=1e-12)[0] / self._radial_norm
        self._radial_fourth = integrate.quad(radial, 0, upper, args=(4,), epsabs=0, epsrel=1e-12)[0] / self._radial_norm

    @property
    def dimension(self) -> int:
        return 2

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        weight_normal = self.radius / (self.radius + self.width * math.sqrt(2 / math.pi))
        accepted: list[torch.Tensor] = []
        count = 0
        while count < n:
            m = 2 * (n - count) + 16
            pick_normal = torch.rand(m, generator=generator, dtype=torch.float64, device=device) < weight_normal
            normal = torch.randn(m, generator=generator, dtype=torch.float64, device=device)
            uniform = torch.rand(m, generator=generator, dtype=torch.float64, device=device)
            rayleigh = torch.sqrt(-2 * torch.log1p(-uniform))
            sign = torch.where(torch.rand(m, generator=generator, device=device) < 0.5, -1.0, 1.0).double()
            rho = self.radius + self.width * torch.where(pick_normal, normal, sign * rayleigh)
            ratio = rho / ((rho - self.radius).abs() + self.radius)
            keep = (rho > 0) & (torch.rand(m, generator=generator, dtype=torch.float64, device=device) < ratio)
            accepted.append(rho[keep])
            count += int(keep.sum())
        rho = torch.cat(accepted)[:n]
        angle = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64, device=device)
        return torch.stack([rho * torch.cos(angle), rho * torch.sin(angle)], dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        rho = torch.linalg.vector_norm(x, dim=-1)
        # p(x) = N(rho; radius, width^2) / (2 pi C), where C = int_0^inf rho N(rho; radius, width^2) d rho.
        return (
            -0.5 * ((rho - self.radius) / self.width) ** 2
            - math.log(self.width)
            - 0.5 * _LOG_2PI
            - math.log(2 * math.pi * self._radial_norm)
        )

    def moments(self) -> MarginalMoments:
        # x_1 = rho cos(angle): E[cos^2] = 1/2 and E[cos^4] = 3/8.
        variance = 0.5 * self._radial_second
        fourth = 0.375 * self._radial_fourth
        zeros = np.zeros(2)
        # NOTE: each marginal has two equal maxima near +-radius, so no mode is compared.
        return MarginalMoments(
            zeros, np.full(2, variance), zeros.copy(), np.full(2, fourth / variance**2 - 3), np.full(2, np.nan)
        )
