"""Registry: name resolution, conflicts, failing hooks and strict mode, on in-process plugins."""

from types import SimpleNamespace

import pytest

from kiss_core.errors import KissError, UnknownNameError
from kiss_core.hookspecs import hookimpl
from kiss_core.registry import Registry
from kiss_core.specs import Spec


def _plugin(**hooks):
    return SimpleNamespace(**{name: hookimpl(function) for name, function in hooks.items()})


def _datasets(*names):
    return lambda: [Spec(name, f"dataset {name}", "kiss_core.datasets:GaussianMixture") for name in names]


def test_registry_qualifies_names_by_plugin():
    registry = Registry.from_plugins({"alpha": _plugin(kiss_datasets=_datasets("one", "two"))}, strict=False)
    assert registry.names("dataset") == ["alpha.one", "alpha.two"]


def test_registry_resolves_unique_short_name():
    registry = Registry.from_plugins({"alpha": _plugin(kiss_datasets=_datasets("one"))}, strict=False)
    assert registry.get("dataset", "one").name == "alpha.one"
    assert registry.get("dataset", "alpha.one").spec.name == "one"


def test_registry_rejects_ambiguous_short_name():
    registry = Registry.from_plugins(
        {"alpha": _plugin(kiss_datasets=_datasets("one")), "beta": _plugin(kiss_datasets=_datasets("one"))},
        strict=False,
    )
    with pytest.raises(KissError) as error:
        registry.get("dataset", "one")
    assert "alpha.one" in str(error.value)
    assert "beta.one" in str(error.value)


def test_registry_unknown_name_lists_known_names():
    registry = Registry.from_plugins({"alpha": _plugin(kiss_datasets=_datasets("one", "two"))}, strict=False)
    with pytest.raises(UnknownNameError) as error:
        registry.get("dataset", "three")
    assert "alpha.one, alpha.two" in str(error.value)


def test_registry_skips_raising_hook_and_keeps_others():
    def broken():
        raise RuntimeError("boom")

    registry = Registry.from_plugins(
        {"alpha": _plugin(kiss_datasets=broken, kiss_generators=lambda: [
            Spec("fm", "flow", "kiss_core.models.flow_matching:TabularFlowMatching")]),
         "beta": _plugin(kiss_datasets=_datasets("one"))},
        strict=False,
    )
    assert registry.names("dataset") == ["beta.one"]
    assert registry.names("generator") == ["alpha.fm"]
    assert len(registry.failures) == 1
    assert registry.failures[0].plugin == "alpha"
    assert "RuntimeError: boom" in registry.failures[0].error


def test_registry_rejects_duplicate_name_within_plugin():
    registry = Registry.from_plugins({"alpha": _plugin(kiss_datasets=_datasets("one", "one"))}, strict=False)
    assert registry.names("dataset") == ["alpha.one"]
    assert "twice" in registry.failures[0].error


def test_registry_rejects_non_spec_records():
    registry = Registry.from_plugins({"alpha": _plugin(kiss_datasets=lambda: ["not a spec"])}, strict=False)
    assert registry.names("dataset") == []
    assert "expected Spec" in registry.failures[0].error


def test_registry_strict_mode_raises_on_failure():
    def broken():
        raise RuntimeError("boom")

    with pytest.raises(KissError) as error:
        Registry.from_plugins({"alpha": _plugin(kiss_datasets=broken)}, strict=True)
    assert "alpha" in str(error.value)


def test_registry_strict_mode_follows_environment(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setenv("KISS_STRICT_PLUGINS", "1")
    with pytest.raises(KissError):
        Registry.from_plugins({"alpha": _plugin(kiss_datasets=broken)})


def test_spec_rejects_malformed_factory():
    with pytest.raises(ValueError):
        Spec("name", "summary", "module_without_attribute")
    with pytest.raises(ValueError):
        Spec("dotted.name", "summary", "module:attribute")


def test_registration_load_reports_missing_module():
    registry = Registry.from_plugins(
        {"alpha": _plugin(kiss_datasets=lambda: [Spec("gone", "missing", "kiss_no_such_module:Thing")])},
        strict=False,
    )
    with pytest.raises(KissError) as error:
        registry.load("dataset", "gone")
    assert "kiss_no_such_module" in str(error.value)
