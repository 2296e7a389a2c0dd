"""The reference sampler: independent exact draws from the target."""

from __future__ import annotations

import torch

from kiss_bench.samplers.base import BenchSampler, Draw
from kiss_bench.targets.base import Target

__all__ = ["IIDSampler"]


class IIDSampler(BenchSampler):
    """Independent exact samples from the target's own sampler; the calibration baseline."""

    name = "iid"

    def draw(self, target: Target, n: int, generator: torch.Generator, repetition: int) -> Draw:
        return Draw(target.sample(n, generator))
