"""Seeds derived from the suite seed and the names of one step, so that each step is reproducible alone."""

from __future__ import annotations

import zlib

import numpy as np
import torch

__all__ = ["derived_seed", "make_generator"]


def derived_seed(seed: int, *labels: str | int) -> int:
    """Return a 63-bit seed that depends only on ``seed`` and the ``labels`` (names, repetition numbers).

    Names are hashed with CRC-32, which is stable across Python processes, unlike hash().
    """
    entropy = [seed] + [label if isinstance(label, int) else zlib.crc32(label.encode()) for label in labels]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def make_generator(device: torch.device | str, seed: int, *labels: str | int) -> torch.Generator:
    """Return a torch generator on ``device`` seeded with :func:`derived_seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(derived_seed(seed, *labels))
    return generator
