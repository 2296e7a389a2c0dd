"""KISS core: interfaces, plugin registry, the `kiss` CLI, ODE/SDE sampling, metrics, IO."""

from kiss_core.errors import KissError, UnknownNameError
from kiss_core.specs import Spec

__all__ = ["KissError", "Spec", "UnknownNameError", "__version__"]
__version__ = "0.1.0"
