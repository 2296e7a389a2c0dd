"""Third-party plugins installed as real distributions: a working one and deliberately broken ones."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parents[1] / "plugins"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """Install the example and broken plugin distributions into a fresh folder with pip."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(PLUGINS / "kiss-plugin-example"), str(PLUGINS / "kiss-plugin-broken")],
        check=True,
    )
    return target


def _kiss(plugin_site, *arguments, strict=False):
    environment = {**os.environ, "PYTHONPATH": str(plugin_site)}
    environment.pop("KISS_STRICT_PLUGINS", None)
    if strict:
        environment["KISS_STRICT_PLUGINS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from kiss_core.cli import main; main()", *arguments],
        capture_output=True, text=True, env=environment,
    )


def test_list_plugins_shows_third_party_components(plugin_site):
    result = _kiss(plugin_site, "list-plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["example.uniform"]["status"] == "ok"
    assert rows["example.uniform"]["package"] == "kiss-plugin-example"
    assert rows["example.uniform"]["version"] == "1.2.3"
    assert rows["example.mean_difference"]["kind"] == "metric"


def test_list_plugins_reports_broken_plugins_and_keeps_working(plugin_site):
    result = _kiss(plugin_site, "list-plugins", "--json")
    rows = json.loads(result.stdout)
    failures = {row["name"]: row for row in rows if row["status"] == "failed"}
    assert "kiss_module_that_does_not_exist" in failures["broken"]["summary"]
    assert "dataset hook failed on purpose" in failures["raising"]["summary"]
    assert failures["collider"]["package"] == "kiss-plugin-broken"
    assert "kiss-collider" in failures["collider"]["summary"]
    names = {row["name"] for row in rows if row["status"] == "ok"}
    assert "raising.survivor" in names
    assert "collider.epic_fm" in names


def test_impostor_does_not_replace_owner(plugin_site):
    result = _kiss(plugin_site, "list-plugins", "--json")
    jets = [row for row in json.loads(result.stdout) if row["name"] == "collider.jets" and row["kind"] == "dataset"]
    assert len(jets) == 1
    assert jets[0]["package"] == "kiss-collider"


def test_strict_mode_fails_with_one_message(plugin_site):
    result = _kiss(plugin_site, "list-plugins", strict=True)
    assert result.returncode == 2
    assert "KISS_STRICT_PLUGINS=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_example_plugin_meets_the_contract(plugin_site):
    code = "from kiss_core.testing import check_plugin; import json; print(json.dumps(check_plugin('example')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_list_plugins_imports_no_torch():
    code = ("import sys; from click.testing import CliRunner; from kiss_core.cli import main; "
            "result = CliRunner().invoke(main, ['list-plugins', '--json']); "
            "print(result.exit_code, sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "0 []", result.stdout + result.stderr
