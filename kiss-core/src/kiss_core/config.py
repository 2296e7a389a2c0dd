"""Typed component configs built from TOML files and command-line overrides."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from kiss_core.errors import KissError

__all__ = ["build_config", "read_toml"]


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file; sections are ``[dataset]``, ``[generator]``, ``[train]``, ``[sample]``."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise KissError("Config file not found", where=str(path)) from None
    except tomllib.TOMLDecodeError as error:
        raise KissError("Invalid TOML in config file", where=str(path), got=str(error)) from None


def build_config(config_class: type, values: dict[str, Any] | None, *, where: str) -> Any:
    """Build a frozen dataclass config from plain values, checking names and types.

    Lists become tuples for tuple fields and integers are accepted for float fields;
    anything else of the wrong type is an error.

    Arguments:
        config_class: The dataclass (the ``Config`` attribute of a component).
        values: Field values; missing fields keep their defaults.
        where: Where the values came from, for error messages ("run.toml [generator]").
    """
    values = dict(values or {})
    if not dataclasses.is_dataclass(config_class):
        if values:
            raise KissError("This component takes no options", where=where, got=", ".join(values))
        return config_class()

    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KissError(
            f"Unknown option(s) {', '.join(unknown)}",
            where=where,
            expected="one of: " + ", ".join(fields),
        )

    hints = typing.get_type_hints(config_class)
    converted = {name: _convert(value, hints[name], f"{where}: {name}") for name, value in values.items()}
    try:
        return config_class(**converted)
    except (TypeError, ValueError) as error:
        raise KissError("Invalid options", where=where, got=str(error)) from None


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except KissError:
                continue
        raise KissError("Invalid option value", where=where, expected=str(hint), got=repr(value))
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise KissError("Invalid option value", where=where, expected="a list", got=repr(value))
        arguments = typing.get_args(hint)
        if not arguments or arguments[-1] is Ellipsis:
            item_hint = arguments[0] if arguments else Any
            return tuple(_convert(item, item_hint, where) for item in value)
        if len(value) != len(arguments):
            raise KissError("Invalid option value", where=where, expected=f"a list of {len(arguments)} values",
                            got=repr(value))
        return tuple(_convert(item, item_hint, where) for item, item_hint in zip(value, arguments, strict=True))
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint) or (hint in (int, float) and isinstance(value, bool)):
        raise KissError("Invalid option value", where=where, expected=hint.__name__, got=repr(value))
    return value
