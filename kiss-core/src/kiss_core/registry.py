"""The registry of components contributed by plugins through the ``kiss`` entry-point group."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from kiss_core import hookspecs
from kiss_core.errors import KissError, UnknownNameError
from kiss_core.specs import HOOKS, KINDS, Spec, load_factory

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "Registration", "Registry", "get_registry"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kiss"
STRICT_ENVIRONMENT_VARIABLE = "KISS_STRICT_PLUGINS"


@dataclass(frozen=True)
class Registration:
    """A component as registered: its spec, its kind and the plugin that owns it."""

    kind: str
    plugin: str
    package: str
    version: str
    spec: Spec

    @property
    def name(self) -> str:
        """The qualified name, "plugin.short_name"."""
        return f"{self.plugin}.{self.spec.name}"

    def load(self) -> Any:
        """Import and return the factory (class or function) behind this component."""
        try:
            return load_factory(self.spec.factory)
        except (ImportError, AttributeError) as error:
            raise KissError(
                f"Plugin '{self.plugin}' ({self.package} {self.version}) cannot load {self.kind} '{self.name}'",
                where=self.spec.factory,
                got=f"{type(error).__name__}: {error}",
                hint="reinstall the package that provides it, or report the bug to its authors",
            ) from error


@dataclass(frozen=True)
class PluginFailure:
    """A plugin, or one of its registrations, that was skipped because it failed."""

    plugin: str
    package: str
    error: str


@dataclass(frozen=True)
class _Plugin:
    name: str
    package: str
    version: str
    module: ModuleType | object


class Registry:
    """Every component of every kind that the installed plugins contribute.

    Names are qualified by plugin ("collider.epic_fm"); a short name ("epic_fm") resolves
    when exactly one plugin registers it for that kind.

    Arguments:
        registrations: The accepted registrations.
        failures: Plugins and registrations that were skipped, with the reason.
    """

    def __init__(self, registrations: list[Registration], failures: list[PluginFailure]) -> None:
        self.registrations = registrations
        self.failures = failures

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP, *, strict: bool | None = None) -> Registry:
        """Load every plugin registered under the entry-point group and collect its components.

        A plugin that fails to import or whose hook raises is recorded in :attr:`failures` and
        skipped, unless ``strict`` (default: the environment variable KISS_STRICT_PLUGINS=1),
        in which case a :class:`KissError` lists every failure.
        """
        plugins: list[_Plugin] = []
        failures: list[PluginFailure] = []
        # Sorting by (name, package) makes the winner of a name conflict independent of sys.path.
        found = [(entry_point, *_distribution_of(entry_point)) for entry_point in metadata.entry_points(group=group)]
        for entry_point, package, version in sorted(found, key=lambda item: (item[0].name, item[1])):
            try:
                module = entry_point.load()
            except Exception as error:  # a broken third-party plugin must not break the CLI
                failures.append(PluginFailure(entry_point.name, package, _describe(error)))
                continue
            plugins.append(_Plugin(entry_point.name, package, version, module))
        return cls._collect(plugins, failures, strict)

    @classmethod
    def from_plugins(
        cls, plugins: dict[str, ModuleType | object], *, package: str = "local", strict: bool | None = None
    ) -> Registry:
        """Build a registry from plugin objects given by name (for tests and embedding)."""
        loaded = [_Plugin(name, package, "0", module) for name, module in plugins.items()]
        return cls._collect(loaded, [], strict)

    @classmethod
    def _collect(cls, plugins: list[_Plugin], failures: list[PluginFailure], strict: bool | None) -> Registry:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        owners: dict[str, _Plugin] = {}
        for plugin in plugins:
            if plugin.name in owners:
                first = owners[plugin.name]
                if first.package == plugin.package:
                    continue  # the same distribution found twice on sys.path
                failures.append(
                    PluginFailure(
                        plugin.name,
                        plugin.package,
                        f"plugin name '{plugin.name}' is already owned by package {first.package}; "
                        f"this registration from {plugin.package} is skipped",
                    )
                )
                continue
            try:
                manager.register(plugin.module, name=plugin.name)
                manager.check_pending()
            except Exception as error:  # invalid hook implementations are a plugin bug
                manager.unregister(name=plugin.name)
                failures.append(PluginFailure(plugin.name, plugin.package, _describe(error)))
                continue
            owners[plugin.name] = plugin

        registrations: list[Registration] = []
        for kind, hook_name in HOOKS.items():
            caller = getattr(manager.hook, hook_name)
            for implementation in caller.get_hookimpls():
                plugin = owners[implementation.plugin_name]
                registrations += _call_hook(implementation, kind, plugin, failures)

        strict = os.environ.get(STRICT_ENVIRONMENT_VARIABLE) == "1" if strict is None else strict
        if strict and failures:
            listing = "; ".join(f"{f.plugin} ({f.package}): {f.error}" for f in failures)
            raise KissError(
                f"{len(failures)} plugin failure(s) with {STRICT_ENVIRONMENT_VARIABLE}=1",
                got=listing,
                hint=f"fix or uninstall the plugin, or unset {STRICT_ENVIRONMENT_VARIABLE}",
            )
        for failure in failures:
            logger.warning("Skipped plugin %s (%s): %s", failure.plugin, failure.package, failure.error)
        return cls(registrations, failures)

    def names(self, kind: str) -> list[str]:
        """Return the qualified names registered for a kind, sorted."""
        return sorted(r.name for r in self.registrations if r.kind == kind)

    def get(self, kind: str, name: str) -> Registration:
        """Find a registration by qualified or unique short name.

        Raises:
            UnknownNameError: No plugin registers the name; the message lists what exists.
            KissError: The short name is registered by several plugins.
        """
        if kind not in KINDS:
            raise UnknownNameError("component kind", kind, list(KINDS))
        of_kind = [r for r in self.registrations if r.kind == kind]
        exact = [r for r in of_kind if r.name == name]
        if exact:
            return exact[0]
        by_short_name = [r for r in of_kind if r.spec.name == name]
        if len(by_short_name) == 1:
            return by_short_name[0]
        if len(by_short_name) > 1:
            raise KissError(
                f"Ambiguous {kind} name '{name}'",
                expected="a qualified name: " + ", ".join(r.name for r in by_short_name),
                got=repr(name),
            )
        raise UnknownNameError(kind, name, self.names(kind))

    def load(self, kind: str, name: str) -> Any:
        """Import and return the factory of a component."""
        return self.get(kind, name).load()


def _call_hook(implementation: Any, kind: str, plugin: _Plugin, failures: list[PluginFailure]) -> list[Registration]:
    """Call one plugin's hook and validate what it returned; failures are recorded, not raised."""
    try:
        specs = implementation.function() or []
    except Exception as error:  # a raising hook skips that hook of that plugin only
        failures.append(PluginFailure(plugin.name, plugin.package, f"{HOOKS[kind]}() raised {_describe(error)}"))
        return []

    registrations: list[Registration] = []
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, Spec):
            failures.append(
                PluginFailure(
                    plugin.name, plugin.package, f"{HOOKS[kind]}() returned {type(spec).__name__}, expected Spec"
                )
            )
            continue
        if spec.name in seen:
            failures.append(
                PluginFailure(plugin.name, plugin.package, f"{HOOKS[kind]}() returned the name '{spec.name}' twice")
            )
            continue
        seen.add(spec.name)
        registrations.append(Registration(kind, plugin.name, plugin.package, plugin.version, spec))
    return registrations


def _distribution_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    distribution = getattr(entry_point, "dist", None)
    if distribution is None:
        return "unknown", "unknown"
    return distribution.metadata["Name"], distribution.version


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


_registry: Registry | None = None


def get_registry() -> Registry:
    """Return the process-wide registry, built from the installed entry points on first use."""
    global _registry
    if _registry is None:
        _registry = Registry.from_entry_points()
    return _registry
