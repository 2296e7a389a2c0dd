"""Classical simulators that produce collider reference samples."""

from kiss_collider.simulators.pythia_jets import JET_CLASSES, simulate_jets

__all__ = ["JET_CLASSES", "simulate_jets"]
