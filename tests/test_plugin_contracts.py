"""Every built-in plugin passes the same contract checks a third-party plugin runs."""

import pytest

from kiss_core.registry import get_registry
from kiss_core.testing import check_plugin


@pytest.mark.parametrize("plugin", ["core", "collider", "calo", "bench"])
def test_builtin_plugin_meets_the_contract(plugin):
    assert check_plugin(plugin) == []


def test_builtin_plugins_load_without_failures():
    assert get_registry().failures == []
