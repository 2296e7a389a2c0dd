"""The hooks a KISS plugin may implement; each returns the components it contributes.

A plugin is a module (or object) registered under the entry-point group ``kiss``::

    [project.entry-points.kiss]
    myplugin = "my_package.plugin"

The entry-point name ("myplugin") qualifies every component name the plugin returns
("myplugin.my_model"). Hooks are called once, when the registry is first built (for example
by ``kiss list-plugins``); they must return quickly and import no heavy modules, because the
factories they name are imported only when a component is used.
"""

from __future__ import annotations

import pluggy

from kiss_core.specs import Spec

__all__ = ["hookimpl", "hookspec", "PROJECT_NAME"]

PROJECT_NAME = "kiss"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def kiss_datasets() -> list[Spec]:
    """Return the datasets this plugin provides: readers of files and classical simulators.

    Each factory must build a :class:`kiss_core.interfaces.Dataset`.
    """


@hookspec
def kiss_generators() -> list[Spec]:
    """Return the trainable surrogates this plugin provides.

    Each factory must build a :class:`kiss_core.interfaces.Generator` from its config.
    """


@hookspec
def kiss_samplers() -> list[Spec]:
    """Return the samplers this plugin provides (ODE and SDE solvers, MCMC, unweighting).

    Each factory must build a :class:`kiss_core.interfaces.Sampler`.
    """


@hookspec
def kiss_metrics() -> list[Spec]:
    """Return the metrics this plugin provides.

    Each factory must build a :class:`kiss_core.interfaces.Metric`.
    """


@hookspec
def kiss_geometries() -> list[Spec]:
    """Return the detector geometries this plugin provides.

    Each factory must build a :class:`kiss_core.interfaces.Geometry`.
    """


@hookspec
def kiss_commands() -> list[Spec]:
    """Return extra CLI commands this plugin provides.

    Each factory must be a :class:`click.Command`; it is added to ``kiss`` under its spec name.
    """


@hookspec
def kiss_demos() -> list[Spec]:
    """Return the end-to-end demos this plugin provides, run by ``kiss demo NAME``.

    Each factory must return a :class:`kiss_core.pipeline.DemoRecipe`.
    """
