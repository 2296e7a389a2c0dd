"""KISS for calorimeter showers: geometries, shower files, evaluation, simulators and surrogates."""

__all__ = ["__version__"]

__version__ = "0.1.0"
