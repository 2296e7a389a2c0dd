"""Contract checks that every KISS plugin, built-in or third-party, runs against its registrations.

Use them from a plugin's own test suite::

    from kiss_core.testing import check_plugin

    def test_my_plugin_meets_the_contract():
        assert check_plugin("myplugin") == []
"""

from __future__ import annotations

import dataclasses
import inspect

from kiss_core.errors import KissError
from kiss_core.registry import Registration, Registry, get_registry

__all__ = ["check_plugin", "check_registration"]


def _expected_base(kind: str) -> type | None:
    import click

    from kiss_core import interfaces
    from kiss_core.pipeline import DemoRecipe

    return {
        "dataset": interfaces.Dataset,
        "generator": interfaces.Generator,
        "sampler": interfaces.Sampler,
        "metric": interfaces.Metric,
        "geometry": interfaces.Geometry,
        "command": click.Command,
        "demo": DemoRecipe,
    }[kind]


def check_registration(registration: Registration) -> list[str]:
    """Return the contract violations of one registration (empty when it complies).

    It checks that the summary is one non-empty line and that the factory imports. Classes must
    derive from the interface of their kind and build with their default config (a frozen
    dataclass). Commands must be click commands, and demos must return a :class:`~kiss_core.pipeline.DemoRecipe` whose component
    names are registered.
    """
    problems: list[str] = []
    label = f"{registration.kind} {registration.name}"
    summary = registration.spec.summary
    if not summary or "\n" in summary:
        problems.append(f"{label}: summary must be one non-empty line")

    try:
        factory = registration.load()
    except KissError as error:
        return [*problems, f"{label}: factory does not load: {error.got}"]

    base = _expected_base(registration.kind)
    if registration.kind == "command":
        if not isinstance(factory, base):
            problems.append(f"{label}: factory is {type(factory).__name__}, expected a click.Command")
        return problems
    if registration.kind == "demo":
        try:
            recipe = factory()
        except Exception as error:  # the contract is that a recipe builds without arguments
            return [*problems, f"{label}: factory failed: {type(error).__name__}: {error}"]
        if not isinstance(recipe, base):
            problems.append(f"{label}: factory returned {type(recipe).__name__}, expected DemoRecipe")
        return problems

    if not inspect.isclass(factory):
        # A plain function is allowed when it builds an instance without arguments.
        try:
            instance = factory()
        except Exception as error:  # the contract is that a factory function needs no arguments
            return [*problems, f"{label}: factory function failed without arguments: {type(error).__name__}: {error}"]
        if not isinstance(instance, base):
            problems.append(f"{label}: factory returned {type(instance).__name__}, expected a {base.__name__}")
        return problems
    if not issubclass(factory, base):
        return [*problems, f"{label}: factory must be a subclass of {base.__name__}"]
    config_class = getattr(factory, "Config", None)
    if config_class is not None and dataclasses.is_dataclass(config_class):
        if not config_class.__dataclass_params__.frozen:
            problems.append(f"{label}: Config must be a frozen dataclass")
        try:
            factory(config_class())
        except Exception as error:  # the contract is that defaults always build
            problems.append(f"{label}: cannot build with the default config: {type(error).__name__}: {error}")
    elif registration.kind != "sampler":
        try:
            factory()
        except Exception as error:  # the contract is that defaults always build
            problems.append(f"{label}: cannot build without arguments: {type(error).__name__}: {error}")
    return problems


def check_plugin(plugin: str, registry: Registry | None = None) -> list[str]:
    """Return the contract violations of every registration of one plugin (empty when it complies)."""
    registry = registry or get_registry()
    registrations = [r for r in registry.registrations if r.plugin == plugin]
    failures = [f"plugin {plugin} failed: {f.error}" for f in registry.failures if f.plugin == plugin]
    if not registrations and not failures:
        return [f"plugin {plugin} registers nothing (is it installed?)"]
    problems = list(failures)
    for registration in registrations:
        problems += check_registration(registration)
    for registration in registrations:
        if registration.kind != "demo" or check_registration(registration):
            continue
        recipe = registration.load()()
        for kind, name in (
            ("dataset", recipe.dataset),
            ("generator", recipe.generator),
            *(("metric", metric) for metric in recipe.metrics),
        ):
            try:
                registry.get(kind, name)
            except KissError:
                problems.append(f"demo {registration.name}: {kind} '{name}' is not registered")
    return problems
