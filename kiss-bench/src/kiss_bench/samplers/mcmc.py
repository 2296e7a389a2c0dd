"""Markov chain Monte Carlo samplers: random-walk Metropolis-Hastings and Hamiltonian Monte Carlo.

Both run many independent chains in parallel as one batch of torch tensors. Chains start
overdispersed, at mean + 2 * std * z with z ~ N(0, I) drawn from the target's exact marginal
moments, and discard a burn-in before the draws are kept. The draws of one chain are
correlated, so a benchmark reveals the loss of effective sample size as a wider distribution
of every statistic than IID sampling gives.
"""

from __future__ import annotations

import logging
import math

import torch

from kiss_bench.samplers.base import BenchSampler, Draw
from kiss_bench.targets.base import Target
from kiss_core.errors import KissError

__all__ = ["HamiltonianMonteCarlo", "RandomWalkMetropolis"]


def _require_integer(sampler: str, **options: tuple[object, int]) -> None:
    """Raise KissError unless every option value is an integer at least its minimum."""
    for name, (value, minimum) in options.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise KissError("Invalid sampler option", where=f"{sampler}.{name}", expected=f"an integer >= {minimum}",
                            got=repr(value))

logger = logging.getLogger(__name__)


def _marginal_scale(target: Target, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    moments = target.moments()
    mean = torch.as_tensor(moments.mean, dtype=torch.float64, device=device)
    return mean, torch.as_tensor(moments.variance, dtype=torch.float64, device=device).sqrt()


def _start(target: Target, n_chains: int, generator: torch.Generator) -> torch.Tensor:
    mean, scale = _marginal_scale(target, generator.device)
    noise = torch.randn(n_chains, target.dimension, generator=generator, dtype=torch.float64, device=generator.device)
    start = mean + 2.0 * scale * noise
    # Overdispersed starts can fall outside a bounded support (truncated Cauchy); those chains
    # start at the mean instead.
    outside = ~torch.isfinite(target.log_prob(start))
    return torch.where(outside[:, None], mean.expand_as(start), start)


def _chain_lengths(n: int, n_chains: int) -> tuple[int, int]:
    chains = min(n_chains, n)
    return chains, math.ceil(n / chains)


class RandomWalkMetropolis(BenchSampler):
    """Random-walk Metropolis-Hastings with a Gaussian proposal scaled per dimension.

    The proposal standard deviation of dimension i is 2.38 / sqrt(d) times the target's
    marginal standard deviation, the asymptotically optimal scale for Gaussian targets.

    References:
        G. O. Roberts, A. Gelman, W. R. Gilks, "Weak convergence and optimal scaling of random
        walk Metropolis algorithms", Ann. Appl. Probab. 7 (1997) 110.
        https://doi.org/10.1214/aoap/1034625254

    Arguments:
        n_chains: Parallel chains; the n requested points are split evenly between them.
        burn_in: Steps discarded at the start of every chain.
        thinning: Keep every ``thinning``-th step after burn-in.
    """

    name = "rwmh"

    def __init__(self, n_chains: int = 10, burn_in: int = 1000, thinning: int = 1) -> None:
        _require_integer("rwmh", n_chains=(n_chains, 1), burn_in=(burn_in, 0), thinning=(thinning, 1))
        self.n_chains = n_chains
        self.burn_in = burn_in
        self.thinning = thinning
        self.last_acceptance_rate = math.nan

    def draw(self, target: Target, n: int, generator: torch.Generator, repetition: int) -> Draw:
        chains, per_chain = _chain_lengths(n, self.n_chains)
        _, scale = _marginal_scale(target, generator.device)
        step = 2.38 / math.sqrt(target.dimension) * scale
        state = _start(target, chains, generator)
        log_density = target.log_prob(state)
        kept, accepted = [], 0
        total_steps = self.burn_in + per_chain * self.thinning
        for index in range(total_steps):
            noise = torch.randn(state.shape, generator=generator, dtype=torch.float64, device=state.device)
            proposal = state + step * noise
            proposal_log_density = target.log_prob(proposal)
            uniform = torch.rand(chains, generator=generator, dtype=torch.float64, device=state.device)
            accept = uniform.log() < proposal_log_density - log_density
            state = torch.where(accept[:, None], proposal, state)
            log_density = torch.where(accept, proposal_log_density, log_density)
            if index >= self.burn_in:
                accepted += int(accept.sum())
                if (index - self.burn_in) % self.thinning == self.thinning - 1:
                    kept.append(state)
        self.last_acceptance_rate = accepted / (chains * (total_steps - self.burn_in))
        logger.debug("rwmh on %s: acceptance rate %.3f", target.name, self.last_acceptance_rate)
        return Draw(torch.stack(kept, dim=1).reshape(-1, target.dimension)[:n])


class HamiltonianMonteCarlo(BenchSampler):
    """Hamiltonian Monte Carlo with leapfrog integration and gradients from torch autograd.

    The inverse mass matrix is diagonal with the target's marginal variances, as a tuned
    Euclidean metric would be. During burn-in the step size is adapted towards an
    acceptance rate of 0.8 (multiplied by exp(0.1 (rate - 0.8)) after every step) and then
    held fixed. Each iteration jitters it uniformly by +-10 % to avoid periodic trajectories.
    Trajectories whose energy is not finite are rejected.

    References:
        R. M. Neal, "MCMC using Hamiltonian dynamics", in Handbook of Markov Chain Monte Carlo
        (2011), https://arxiv.org/abs/1206.1901

    Arguments:
        n_chains: Parallel chains.
        burn_in: Iterations discarded at the start (step-size adaptation runs during them).
        leapfrog_steps: Leapfrog steps per iteration.
        step_size: Initial step size in units of the marginal standard deviations.
        target_acceptance: Acceptance rate the burn-in adaptation aims at.
    """

    name = "hmc"

    def __init__(
        self,
        n_chains: int = 10,
        burn_in: int = 200,
        leapfrog_steps: int = 16,
        step_size: float = 0.2,
        target_acceptance: float = 0.8,
    ) -> None:
        _require_integer("hmc", n_chains=(n_chains, 1), burn_in=(burn_in, 0), leapfrog_steps=(leapfrog_steps, 1))
        for name, value in (("step_size", step_size), ("target_acceptance", target_acceptance)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise KissError("Invalid sampler option", where=f"hmc.{name}", expected="a number > 0", got=repr(value))
        if target_acceptance >= 1:
            raise KissError("Invalid sampler option", where="hmc.target_acceptance", expected="a number below 1",
                            got=repr(target_acceptance))
        self.n_chains = n_chains
        self.burn_in = burn_in
        self.leapfrog_steps = leapfrog_steps
        self.step_size = step_size
        self.target_acceptance = target_acceptance
        self.last_acceptance_rate = math.nan

    @staticmethod
    def _log_density_and_gradient(target: Target, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            log_density = target.log_prob(x)
            (gradient,) = torch.autograd.grad(log_density.sum(), x)
        return log_density.detach(), torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)

    def draw(self, target: Target, n: int, generator: torch.Generator, repetition: int) -> Draw:
        chains, per_chain = _chain_lengths(n, self.n_chains)
        device = generator.device
        _, scale = _marginal_scale(target, device)
        inverse_mass = scale**2
        state = _start(target, chains, generator)
        log_density, gradient = self._log_density_and_gradient(target, state)
        step_size = self.step_size
        kept, accepted = [], 0
        for index in range(self.burn_in + per_chain):
            jitter = 1.0 + 0.2 * (float(torch.rand((), generator=generator, dtype=torch.float64, device=device)) - 0.5)
            epsilon = step_size * jitter
            momentum = torch.randn(state.shape, generator=generator, dtype=torch.float64, device=device) / scale
            kinetic = 0.5 * (momentum**2 * inverse_mass).sum(1)

            position, new_momentum, new_gradient = state, momentum + 0.5 * epsilon * gradient, gradient
            for leapfrog in range(self.leapfrog_steps):
                position = position + epsilon * inverse_mass * new_momentum
                new_log_density, new_gradient = self._log_density_and_gradient(target, position)
                if leapfrog < self.leapfrog_steps - 1:
                    new_momentum = new_momentum + epsilon * new_gradient
            new_momentum = new_momentum + 0.5 * epsilon * new_gradient
            new_kinetic = 0.5 * (new_momentum**2 * inverse_mass).sum(1)

            log_ratio = new_log_density - new_kinetic - log_density + kinetic
            log_ratio = torch.where(torch.isfinite(log_ratio), log_ratio, torch.full_like(log_ratio, -math.inf))
            uniform = torch.rand(chains, generator=generator, dtype=torch.float64, device=device)
            accept = uniform.log() < log_ratio
            state = torch.where(accept[:, None], position, state)
            log_density = torch.where(accept, new_log_density, log_density)
            gradient = torch.where(accept[:, None], new_gradient, gradient)

            rate = float(accept.double().mean())
            if index < self.burn_in:
                step_size *= math.exp(0.1 * (rate - self.target_acceptance))
            else:
                accepted += int(accept.sum())
                kept.append(state)
        self.last_acceptance_rate = accepted / (chains * per_chain)
        logger.debug(
            "hmc on %s: step size %.3g, acceptance rate %.3f", target.name, step_size, self.last_acceptance_rate
        )
        return Draw(torch.stack(kept, dim=1).reshape(-1, target.dimension)[:n])
