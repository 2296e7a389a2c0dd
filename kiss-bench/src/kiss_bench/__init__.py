"""KISS bench: calibrated benchmarks of samplers and generators against targets with known distributions.

Each comparison is repeated with fresh samples, and every statistic of a sampler is judged
against its distribution under exact IID sampling at the same sample size.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
