"""Typed configs from TOML values."""

from dataclasses import dataclass

import pytest

from kiss_core.config import build_config, read_toml
from kiss_core.errors import KissError


@dataclass(frozen=True)
class Options:
    steps: int = 10
    rate: float = 0.1
    names: tuple[str, ...] = ("a",)
    limit: float | None = None


def test_build_config_converts_lists_and_integers():
    config = build_config(Options, {"names": ["x", "y"], "rate": 1, "limit": 5}, where="test")
    assert config == Options(steps=10, rate=1.0, names=("x", "y"), limit=5.0)


def test_build_config_rejects_unknown_option():
    with pytest.raises(KissError) as error:
        build_config(Options, {"stepz": 3}, where="run.toml [generator]")
    assert "stepz" in str(error.value)
    assert "steps, rate, names, limit" in str(error.value)


def test_build_config_rejects_wrong_type():
    with pytest.raises(KissError) as error:
        build_config(Options, {"steps": "ten"}, where="run.toml [generator]")
    assert "steps" in str(error.value)
    assert "expected: int" in str(error.value)


def test_build_config_rejects_boolean_for_integer():
    with pytest.raises(KissError):
        build_config(Options, {"steps": True}, where="test")


def test_read_toml_reports_syntax_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train\nepochs = 3\n")
    with pytest.raises(KissError) as error:
        read_toml(path)
    assert str(path) in str(error.value)


@dataclass(frozen=True)
class Window:
    window_gev: tuple[float, float] = (1.0, 2.0)


def test_build_config_checks_fixed_length_tuples():
    assert build_config(Window, {"window_gev": [3, 4]}, where="test").window_gev == (3.0, 4.0)
    with pytest.raises(KissError) as error:
        build_config(Window, {"window_gev": [1, 2, 3]}, where="test")
    assert "a list of 2 values" in str(error.value)
