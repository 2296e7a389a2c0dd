"""KISS for collider physics: Pythia 8 jets, JetNet files, jet surrogates and metrics.

Importing the package loads nothing heavy; import the submodules you use
(``kiss_collider.simulators``, ``kiss_collider.io``, ``kiss_collider.datasets``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
