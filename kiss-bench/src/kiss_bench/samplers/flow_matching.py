"""A small flow-matching generator trained on target samples and sampled through kiss_core.sampling.

Training uses the linear interpolation x_t = (1 - t) x_0 + t x_1 between noise x_0 ~ N(0, I)
at t = 0 and standardised data x_1 at t = 1, whose conditional velocity is x_1 - x_0; the
network regresses it with a mean squared error. Generation integrates dx/dt = v(t, x) from
t = 0 to 1 with a fixed-step ODE solver of the shared sampling backend.

References:
    Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel, M. Le, "Flow matching for generative
    modeling", ICLR 2023. https://arxiv.org/abs/2210.02747
"""

from __future__ import annotations

import logging
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from kiss_bench.samplers.base import BenchSampler, Draw
from kiss_bench.targets.base import Target

__all__ = ["FlowMatchingSampler", "VelocityNetwork", "train_velocity_network"]

logger = logging.getLogger(__name__)


class VelocityNetwork(nn.Module):
    """MLP v(t, x) with SiLU activations; t enters as an extra input feature.

    Arguments:
        dimension: Data dimension d.
        hidden: Width of every hidden layer.
        layers: Number of hidden layers.
    """

    def __init__(self, dimension: int, hidden: int = 128, layers: int = 3) -> None:
        super().__init__()
        sizes = [dimension + 1] + [hidden] * layers
        blocks: list[nn.Module] = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            blocks += [nn.Linear(size_in, size_out), nn.SiLU()]
        blocks.append(nn.Linear(hidden, dimension))
        self.body = nn.Sequential(*blocks)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        time_column = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        return self.body(torch.cat([time_column, x], dim=1))


def train_velocity_network(
    data: torch.Tensor,
    generator: torch.Generator,
    *,
    steps: int = 3000,
    batch_size: int = 512,
    learning_rate: float = 2e-3,
    hidden: int = 128,
    progress: bool = False,
) -> VelocityNetwork:
    """Fit a velocity network to standardised ``data`` (n, d) with the flow-matching loss.

    AdamW runs ``steps`` steps on random minibatches with a cosine-decayed learning rate.
    """
    network = VelocityNetwork(data.shape[1], hidden).to(device=data.device, dtype=data.dtype)
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    started = time.perf_counter()
    for _ in tqdm(range(steps), desc="flow matching", disable=not progress):
        rows = torch.randint(0, data.shape[0], (batch_size,), generator=generator, device=data.device)
        x1 = data[rows]
        x0 = torch.randn(x1.shape, generator=generator, dtype=data.dtype, device=data.device)
        t = torch.rand(batch_size, 1, generator=generator, dtype=data.dtype, device=data.device)
        loss = ((network(t, (1 - t) * x0 + t * x1) - (x1 - x0)) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    logger.info(
        "trained flow matching on %d points for %d steps in %.1f s (last loss %.4f)",
        data.shape[0],
        steps,
        time.perf_counter() - started,
        float(loss.detach()),
    )
    return network.eval()


class FlowMatchingSampler(BenchSampler):
    """A flow-matching generator trained once per target on ``n_train`` exact samples.

    Arguments:
        n_train: Training sample size.
        steps: Optimiser steps.
        solver: Name of a velocity sampler of kiss_core.sampling ("midpoint", "rk4", "euler", ...).
        solver_steps: Integration steps of that solver.
        hidden: Hidden-layer width of the velocity network.
    """

    name = "flow_matching"

    def __init__(
        self,
        n_train: int = 20000,
        steps: int = 3000,
        solver: str = "midpoint",
        solver_steps: int = 50,
        hidden: int = 128,
    ) -> None:
        from kiss_core.sampling import make_sampler, require_parametrisation

        self.n_train = n_train
        self.steps = steps
        self.hidden = hidden
        self.solver = make_sampler(solver, steps=solver_steps)
        require_parametrisation(self.solver, "velocity")
        self._trained_for: str | None = None

    def fit(self, data: torch.Tensor, generator: torch.Generator, progress: bool = False) -> None:
        """Standardise ``data`` (n, d) per dimension and train the velocity network on it."""
        data = data.to(torch.float32)
        self.mean = data.mean(0)
        self.scale = data.std(0).clamp_min(1e-12)
        self.network = train_velocity_network(
            (data - self.mean) / self.scale,
            generator,
            steps=self.steps,
            hidden=self.hidden,
            progress=progress,
        )

    def prepare(self, target: Target, generator: torch.Generator, progress: bool = False) -> None:
        if self._trained_for == target.name:
            return
        self.fit(target.sample(self.n_train, generator), generator, progress)
        self._trained_for = target.name

    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` samples from the trained model, shape (n, d), float64."""
        from kiss_core.sampling import sample_in_batches

        noise = torch.randn(n, self.mean.shape[0], generator=generator, dtype=torch.float32, device=generator.device)
        result = sample_in_batches(self.solver, self.network, noise, batch_size=65536)
        return (result.samples * self.scale + self.mean).to(torch.float64)

    def draw(self, target: Target, n: int, generator: torch.Generator, repetition: int) -> Draw:
        if self._trained_for != target.name:
            raise RuntimeError(f"flow matching was not prepared for target {target.name}")
        return Draw(self.generate(n, generator))
