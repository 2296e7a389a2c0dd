"""The interface of benchmarked samplers: prepare once per target, then draw fresh samples."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from kiss_bench.targets.base import Target

__all__ = ["BenchSampler", "Draw"]


@dataclass(frozen=True)
class Draw:
    """Samples returned by a benchmarked sampler.

    Arguments:
        points: Samples, shape (n, d).
        weights: Optional non-negative weights, shape (n,); None means equal weights.
    """

    points: torch.Tensor
    weights: torch.Tensor | None = None


class BenchSampler(ABC):
    """A sampler under test: an exact sampler, MCMC, a trained generator or stored samples."""

    #: Registry name.
    name: str = ""

    def prepare(self, target: Target, generator: torch.Generator, progress: bool = False) -> None:  # noqa: B027
        """Do the one-off work for ``target`` (training, reading a file) before any draw; nothing by default."""

    @abstractmethod
    def draw(self, target: Target, n: int, generator: torch.Generator, repetition: int) -> Draw:
        """Return ``n`` new samples of ``target``; ``repetition`` numbers the comparison (0, 1, ...)."""
