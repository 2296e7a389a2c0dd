"""Generative surrogates for collider data.

Each model lives in its own module and is imported only when used, because the plugin
registry names it by a lazy ``"module:attr"`` reference:

- :mod:`kiss_collider.models.epic`: EPiC flow matching for jet constituents.
"""

__all__: list[str] = []
