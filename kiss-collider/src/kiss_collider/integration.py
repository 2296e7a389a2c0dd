"""Adaptive Monte Carlo integration on the unit hypercube: neural importance sampling, VEGAS, multi-channel.

Every integrator estimates I = int_[0,1]^d f(r) dr by drawing r from a density q and averaging
the weights w = f(r) / q(r). The neural sampler learns q as a normalising flow
built with zuko: rational-quadratic spline coupling layers (Durkan et al., arXiv:1906.04032) on
a logistic base, followed by an elementwise sigmoid into the hypercube. Its Jacobian is exact. It trains on
the integrand with the variance (chi^2) loss or the KL divergence (Müller et al.,
arXiv:1808.03856; Bothmann et al., arXiv:2001.05486). VEGAS (Lepage, J. Comput. Phys. 27 (1978)
192, through the ``vegas`` package) is the classical peer at the same number of integrand calls.

The integrand is a function from points (events, d) in float64 to non-negative values (events,).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import zuko
from tqdm.auto import tqdm

from kiss_collider.unweighting import UnweightingResult, check_weights, reduced_maximum, unweight
from kiss_core.errors import KissError

__all__ = [
    "Channel",
    "HypercubeFlow",
    "IntegrationResult",
    "MultiChannel",
    "integrate_with_flow",
    "integrate_with_vegas",
    "train_flow",
]

logger = logging.getLogger(__name__)

Integrand = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class IntegrationResult:
    """An integral estimate with its final weighted sample.

    Arguments:
        integral: Estimate of the integral.
        error: Its statistical (one standard deviation) error.
        n_calls: Integrand calls spent in total, adaptation included.
        points: Final sample points (events, d) in the hypercube.
        weights: Their weights f / q (events,).
        method: Name of the integrator.
    """

    integral: float
    error: float
    n_calls: int
    points: torch.Tensor
    weights: torch.Tensor
    method: str

    @property
    def relative_error(self) -> float:
        """Error divided by the integral."""
        return self.error / abs(self.integral) if self.integral else math.inf

    @property
    def unweighting_efficiency(self) -> float:
        """Standard unweighting efficiency <w> / max w of the final sample."""
        maximum = float(self.weights.max())
        return float(self.weights.mean()) / maximum if maximum > 0 else 0.0

    def unweight(self, *, quantile: float = 1.0, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, UnweightingResult]:
        """Unweight the final sample against the ``quantile`` of its weights.

        Returns the kept points and the unweighting result.

        Events above a reduced maximum (``quantile`` < 1) keep the weight w / maximum, so the kept
        sample reproduces the weighted one for any quantile.
        """
        result = unweight(self.weights, reduced_maximum(self.weights, quantile), generator=generator)
        return self.points[result.indices], result


def _result_from_weights(points: torch.Tensor, weights: torch.Tensor, n_calls: int, method: str) -> IntegrationResult:
    weights = weights.double()
    n = weights.numel()
    integral = float(weights.mean())
    error = float(weights.std()) / math.sqrt(n) if n > 1 else math.inf
    return IntegrationResult(integral, error, n_calls, points, weights, method)


def _evaluate(integrand: Integrand, points: torch.Tensor) -> torch.Tensor:
    values = integrand(points)
    check_weights(values, "integrand values")
    return values.double()


class HypercubeFlow(torch.nn.Module):
    """A normalising flow on the open unit hypercube: logistic base, zuko spline coupling layers, sigmoid.

    The base distribution is the standard logistic, whose sigmoid is uniform, so a flow whose
    layers are the identity samples the hypercube uniformly, the usual starting point of
    adaptive integration. With y = logit(r) and z = T(y) the coupling transform,

        log q(r) = log p_logistic(z) + log |dz/dy| - sum_i log(r_i (1 - r_i)),

    which is exact.

    Arguments:
        dimension: Number of hypercube dimensions d >= 2 (coupling layers split the variables).
        transforms: Number of coupling transforms.
        bins: Number of rational-quadratic spline bins per transform.
        hidden_features: Widths of the hidden layers of each conditioner network.

    Example:
        >>> flow = HypercubeFlow(5)
        >>> points, log_density = flow.sample(1000, generator=torch.Generator().manual_seed(0))

    References:
        C. Durkan, A. Bekasov, I. Murray, G. Papamakarios, "Neural spline flows", arXiv:1906.04032.
    """

    def __init__(self, dimension: int, *, transforms: int = 4, bins: int = 16,
                 hidden_features: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        if dimension < 2:
            raise KissError("Invalid flow dimension", where="dimension", expected=">= 2", got=repr(dimension))
        self.dimension = dimension
        # passes=2 turns zuko's masked autoregressive layers into coupling layers, so density and
        # sampling both cost one network pass. Only the transform of this flow is used.
        self.flow = zuko.flows.NSF(dimension, transforms=transforms, bins=bins, passes=2,
                                   hidden_features=tuple(hidden_features), randperm=False)

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        """Return log q(r) (events,) of hypercube points r (events, d), float64."""
        r = points.clamp(1e-15, 1 - 1e-15)
        log_r, log_one_minus_r = torch.log(r), torch.log1p(-r)
        unbounded = log_r - log_one_minus_r
        parameter = next(self.parameters())
        latent, log_jacobian = self.flow().transform.call_and_ladj(unbounded.to(parameter.dtype))
        latent = latent.double()
        log_base = -(torch.nn.functional.softplus(-latent) + torch.nn.functional.softplus(latent)).sum(-1)
        return log_base + log_jacobian.double() - (log_r + log_one_minus_r).sum(-1)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw n hypercube points (float64) and their log densities."""
        points = self.sample_points(n, generator=generator)
        with torch.no_grad():
            return points, self.log_density(points)

    @torch.no_grad()
    def sample_points(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n hypercube points (float64) without their densities."""
        parameter = next(self.parameters())
        uniform = torch.rand(n, self.dimension, generator=generator, dtype=torch.float64).clamp(1e-15, 1 - 1e-15)
        latent = (torch.log(uniform) - torch.log1p(-uniform)).to(parameter.dtype).to(parameter.device)
        unbounded = self.flow().transform.inv(latent).double()
        # Keep the points strictly inside the cube so log densities stay finite in float64.
        return torch.sigmoid(unbounded).clamp(1e-15, 1 - 1e-15)


def train_flow(flow: HypercubeFlow, integrand: Integrand, *, iterations: int = 200, batch_size: int = 1000,
               loss: str = "variance", learning_rate: float = 5e-3, generator: torch.Generator | None = None,
               progress: bool = False) -> int:
    """Fit the flow density to |f| by sampling from the flow itself; return the integrand calls spent.

    The losses are -mean(w^2 log q) (variance of the weights, the chi^2 divergence) and
    -mean(w log q) (KL divergence of q from f / I), with w = f / q treated as a constant; their
    gradients are those of the divergences estimated with samples from q.
    """
    if loss not in ("variance", "kl"):
        raise KissError("Unknown flow training loss", where="loss", expected="'variance' or 'kl'", got=repr(loss))
    optimiser = torch.optim.Adam(flow.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, iterations)
    power = 2 if loss == "variance" else 1
    for _ in tqdm(range(iterations), desc="flow training", disable=not progress):
        points = flow.sample_points(batch_size, generator=generator)
        values = _evaluate(integrand, points)
        log_q = flow.log_density(points)
        weights = values / torch.exp(log_q.detach())
        scale = weights.mean()
        if not scale > 0:
            continue
        objective = -((weights / scale) ** power * log_q).mean()
        optimiser.zero_grad()
        objective.backward()
        optimiser.step()
        schedule.step()
    return iterations * batch_size


def integrate_with_flow(integrand: Integrand, dimension: int, *, n_calls: int = 200_000,
                        training_fraction: float = 0.5, batch_size: int = 1000, loss: str = "variance",
                        learning_rate: float = 5e-3, flow: HypercubeFlow | None = None,
                        generator: torch.Generator | None = None, progress: bool = False) -> IntegrationResult:
    """Train a :class:`HypercubeFlow` on the integrand, then integrate with a fresh sample.

    Arguments:
        integrand: Function of hypercube points (events, d) in float64 returning values (events,) >= 0.
        dimension: Number of hypercube dimensions d.
        n_calls: Total integrand calls, training included.
        training_fraction: Fraction of the calls spent on training.
        batch_size: Points per training step.
        loss: "variance" or "kl".
        learning_rate: Initial Adam learning rate (cosine decay to zero).
        flow: A flow to start from; a new one by default.
    """
    flow = HypercubeFlow(dimension) if flow is None else flow
    iterations = int(n_calls * training_fraction) // batch_size
    used = train_flow(flow, integrand, iterations=iterations, batch_size=batch_size, loss=loss,
                      learning_rate=learning_rate, generator=generator, progress=progress)
    n_final = n_calls - used
    points, log_density = flow.sample(n_final, generator=generator)
    weights = _evaluate(integrand, points) / torch.exp(log_density)
    result = _result_from_weights(points, weights, n_calls, "flow")
    logger.info("flow: integral %.6g +- %.3g after %d calls", result.integral, result.error, n_calls)
    return result


def integrate_with_vegas(integrand: Integrand, dimension: int, *, n_calls: int = 200_000,
                         training_fraction: float = 0.5, iterations: int = 10, seed: int = 0) -> IntegrationResult:
    """Adapt a VEGAS grid on the integrand, then integrate by importance sampling from that grid.

    The final sample draws uniform points, maps them through the adapted VEGAS map and weighs
    them with its Jacobian, so its weights are comparable with the flow's for unweighting.
    """
    import vegas

    rng = np.random.default_rng(seed)
    calls_per_iteration = max(int(n_calls * training_fraction) // iterations, 100)

    calls = [0]

    @vegas.batchintegrand
    def batch(x):
        calls[0] += len(x)
        return _evaluate(integrand, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()

    integrator = vegas.Integrator([[0.0, 1.0]] * dimension, ran_array_generator=rng.random)
    integrator(batch, nitn=iterations, neval=calls_per_iteration)
    used = calls[0]

    n_final = max(n_calls - used, 1)
    uniform = rng.random((n_final, dimension))
    mapped = np.empty_like(uniform)
    jacobian = np.empty(n_final)
    integrator.map.map(uniform, mapped, jacobian)
    points = torch.from_numpy(mapped)
    weights = _evaluate(integrand, points) * torch.from_numpy(jacobian)
    result = _result_from_weights(points, weights, used + n_final, "vegas")
    logger.info("vegas: integral %.6g +- %.3g after %d calls", result.integral, result.error, used + n_final)
    return result


@dataclass(frozen=True)
class Channel:
    """One mapping of a multi-channel integrator.

    Arguments:
        sample: Function that maps uniform points (events, d) to points of the integration domain.
        density: Function that returns the density (events,) of this channel at domain points.
    """

    sample: Callable[[torch.Tensor], torch.Tensor]
    density: Callable[[torch.Tensor], torch.Tensor]


class MultiChannel:
    """Multi-channel importance sampling with channel weights alpha_k (summing to 1).

    Points come from channel k with probability alpha_k; every point is weighed with the
    combined density q(x) = sum_k alpha_k q_k(x), so the estimate stays unbiased for any weights.
    :meth:`adapt` optimises the weights to reduce the variance.

    Arguments:
        channels: The channels with their maps and densities.
        weights: Initial channel weights; equal weights by default.

    References:
        R. Kleiss, R. Pittau, "Weight optimization in multichannel Monte Carlo",
        Comput. Phys. Commun. 83 (1994) 141, arXiv:hep-ph/9405257.
    """

    def __init__(self, channels: Sequence[Channel], weights: Sequence[float] | None = None) -> None:
        if not channels:
            raise KissError("No channels given", where="channels", expected="at least one Channel", got="[]")
        self.channels = list(channels)
        alpha = torch.full((len(channels),), 1 / len(channels), dtype=torch.float64) if weights is None else (
            torch.as_tensor(weights, dtype=torch.float64))
        if alpha.shape != (len(channels),) or (alpha < 0).any() or not alpha.sum() > 0:
            raise KissError("Invalid channel weights", where="weights",
                            expected=f"{len(channels)} non-negative values with a positive sum", got=repr(weights))
        self.weights = alpha / alpha.sum()

    def sample(self, n: int, dimension: int, *, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw n points and return them with the combined density q(x)."""
        choice = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        uniform = torch.rand(n, dimension, generator=generator, dtype=torch.float64)
        points = torch.empty(n, dimension, dtype=torch.float64)
        for k, channel in enumerate(self.channels):
            chosen = choice == k
            if chosen.any():
                points[chosen] = channel.sample(uniform[chosen]).double()
        return points, self.combined_density(points)

    def combined_density(self, points: torch.Tensor) -> torch.Tensor:
        """Return sum_k alpha_k q_k(x) (events,)."""
        densities = torch.stack([channel.density(points).double() for channel in self.channels], -1)
        return densities @ self.weights

    def integrate(self, integrand: Integrand, n: int, dimension: int, *,
                  generator: torch.Generator | None = None) -> IntegrationResult:
        """Estimate the integral with n points."""
        points, density = self.sample(n, dimension, generator=generator)
        weights = _evaluate(integrand, points) / density
        return _result_from_weights(points, weights, n, "multichannel")

    def adapt(self, integrand: Integrand, n: int, dimension: int, *, iterations: int = 5,
              generator: torch.Generator | None = None) -> int:
        """Update alpha_k to alpha_k sqrt(W_k) with W_k = E_q[q_k f^2 / q^3]; return the calls spent."""
        for _ in range(iterations):
            points, density = self.sample(n, dimension, generator=generator)
            values = _evaluate(integrand, points)
            per_channel = torch.stack([channel.density(points).double() for channel in self.channels], -1)
            variance_terms = (per_channel * (values**2 / density**3)[:, None]).mean(0)
            updated = self.weights * torch.sqrt(variance_terms)
            if updated.sum() > 0:
                self.weights = updated / updated.sum()
        logger.info("multichannel weights after adaptation: %s", self.weights.tolist())
        return iterations * n
