"""Frozen records that plugins return from their hooks to describe what they contribute."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HOOKS", "KINDS", "Spec", "load_factory"]

#: Component kinds and the hook that contributes each.
HOOKS = {
    "dataset": "kiss_datasets",
    "generator": "kiss_generators",
    "sampler": "kiss_samplers",
    "metric": "kiss_metrics",
    "geometry": "kiss_geometries",
    "command": "kiss_commands",
    "demo": "kiss_demos",
}
KINDS = tuple(HOOKS)


@dataclass(frozen=True)
class Spec:
    """A component a plugin contributes, described without importing it.

    Arguments:
        name: Short name, unique within the plugin ("jets", "epic_fm"). The registry
            qualifies it with the plugin name ("collider.epic_fm").
        summary: One line for `kiss list-plugins`.
        factory: Lazy reference "package.module:attribute" to the class or function that
            builds the component; imported only when the component is used.
        tags: Free keywords for filtering ("ode", "two-sample", "jets").

    Example:
        >>> Spec("epic_fm", "EPiC flow matching for jets", "kiss_collider.models.epic:EPiCFlowMatching")
    """

    name: str
    summary: str
    factory: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.name or "." in self.name:
            raise ValueError(f"spec name must be non-empty and contain no '.', got {self.name!r}")
        module, sep, attribute = self.factory.partition(":")
        if not (module and sep and attribute):
            raise ValueError(f"spec factory must read 'module:attribute', got {self.factory!r}")


def load_factory(reference: str) -> Any:
    """Import and return the object named by a "module:attribute" reference."""
    module_name, _, attribute_path = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for attribute in attribute_path.split("."):
        target = getattr(target, attribute)
    return target
