"""The plugin manager: built-ins and third-party plugins through pluggy, problems reported by name,
any plugin disabled or preferred on request, and the example plugin working as installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from midiforge.errors import PluginError
from midiforge.registry import DEFAULT_PLUGINS, load_registry

MIDIFORGE = [sys.executable, "-m", "midiforge"]
EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "midiforge-arpeggio"


def style_plugin(hook: str, name: str, marked: bool = True) -> str:
    """The source of a plugin module that registers one style ``name`` from function ``hook``."""
    marker = "@midiforge.hookimpl\n" if marked else ""
    return (f"import midiforge\n\nclass Style:\n    name = {name!r}\n    description = 'a test style'\n\n"
            f"{marker}def {hook}(register):\n    register(Style())\n")


MISSPELLED = style_plugin("register_style", "waltz")  # never registered: the hook's name is misspelled
UNMARKED = style_plugin("register_styles", "polka", marked=False)  # never called: no @hookimpl
IMPOSTOR = style_plugin("register_styles", "melody")  # the name of a built-in style

RAISES = """
    import midiforge

    class Fine:
        name = "fine"
        description = "registered before the hook fails"

    @midiforge.hookimpl
    def register_drummers(register):
        register(Fine())

    @midiforge.hookimpl
    def register_styles(register):
        raise ValueError("no styles today")
"""


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MIDIFORGE, *args], capture_output=True, text=True, env=env, timeout=300)


def problems_of(reg, plugin: str) -> list[str]:
    return [p.message for p in reg.problems if p.plugin == plugin]


def test_builtins_are_registered_like_third_party_plugins():
    reg = load_registry(disable=set(), prefer=set())
    assert {name for name, info in reg.plugins.items() if info.distribution == "midiforge"} == set(DEFAULT_PLUGINS)
    assert all(info.status == "loaded" for info in reg.plugins.values())
    assert reg.entries["style"]["harmonic"].plugin == "harmonic"
    assert reg.entries["exporter"]["onnx"].plugin == "onnx"
    assert not reg.problems


def test_misspelled_unmarked_raising_and_broken_plugins_are_reported_by_name(site_packages):
    site_packages.add("typo-plugin", "typo_plugin", MISSPELLED)
    site_packages.add("unmarked-plugin", "unmarked_plugin", UNMARKED)
    site_packages.add("raising-plugin", "raising_plugin", RAISES)
    site_packages.add("broken-plugin", "broken_plugin", "raise RuntimeError('boom at import')\n")
    proc = run("plugins", "--json", env=site_packages.env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    problems = {(p["plugin"], p["problem"]) for p in data["problems"]}
    text = "\n".join(f"{plugin}: {problem}" for plugin, problem in problems)
    assert "typo_plugin: was not loaded: unknown hook 'register_style' (did you mean 'register_styles'?)" in text
    assert "unmarked_plugin: register_styles is not marked with @midiforge.hookimpl" in text
    assert "raising_plugin: register_styles failed: ValueError: no styles today" in text
    assert "broken_plugin: failed to load (broken_plugin): RuntimeError: boom at import" in text
    names = {(p["kind"], p["name"]): p for p in data["plugins"]}
    assert ("style", "waltz") not in names and ("style", "polka") not in names
    assert names[("drummer", "fine")]["distribution"] == "raising-plugin"  # its other hook still counts
    assert ("style", "harmonic") in names  # everything else keeps working
    status = {m["plugin"]: m["status"] for m in data["modules"]}
    assert status["typo_plugin"] == "failed" and status["broken_plugin"] == "failed"

    table = run("plugins", env=site_packages.env)  # the table prints them too, one line each
    assert table.returncode == 0 and "Plugin problem typo_plugin: was not loaded: unknown hook" in table.stderr

    proc = run("generate", "waltz", "-o", str(site_packages.root / "out"), env=site_packages.env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "unknown style 'waltz'" in proc.stderr
    assert "plugin 'typo_plugin' was not loaded: unknown hook 'register_style'" in proc.stderr
    assert "plugin 'broken_plugin' failed to load (broken_plugin): RuntimeError: boom at import" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_any_builtin_plugin_or_single_registration_can_be_disabled(monkeypatch):
    monkeypatch.setenv("MIDIFORGE_DISABLE", "coreml, style:melody")
    reg = load_registry()
    assert reg.plugins["coreml"].status == "disabled"
    assert "coreml" not in reg.names("exporter") and "onnx" in reg.names("exporter")
    assert "melody" not in reg.names("style") and "harmonic" in reg.names("style")
    with pytest.raises(PluginError, match="style 'melody' is disabled by MIDIFORGE_DISABLE"):
        reg.get("style", "melody")
    with pytest.raises(PluginError, match="unknown exporter 'coreml'.*disabled plugins: coreml"):
        reg.get("exporter", "coreml")


def test_disabling_from_the_command_line(tmp_path):
    env = {**os.environ, "MIDIFORGE_DISABLE": "coreml"}
    data = json.loads(run("plugins", "--json", env=env).stdout)
    assert "coreml" not in {p["name"] for p in data["plugins"]}
    proc = run("export", "coreml", "-o", str(tmp_path / "m.mlpackage"), env=env)
    assert proc.returncode == 1 and "unknown export format 'coreml'" in proc.stderr


def test_a_third_party_plugin_replaces_a_builtin_only_when_preferred(site_packages):
    site_packages.add("clash-plugin", "clash_plugin", IMPOSTOR)
    reg = load_registry(disable=set(), prefer=set())
    assert reg.entries["style"]["melody"].distribution == "midiforge"
    assert any("clashes" in m and "MIDIFORGE_PREFER=clash_plugin" in m for m in problems_of(reg, "clash_plugin"))

    reg = load_registry(disable=set(), prefer={"clash_plugin"})
    assert reg.entries["style"]["melody"].distribution == "clash-plugin"
    assert not reg.problems
    assert reg.notes == ["style 'melody' of plugin 'clash_plugin' replaces the one of plugin 'role_styles' (MIDIFORGE_PREFER)"]
    assert reg.entries["style"]["harmonic"].distribution == "midiforge"  # only the clashing name moves

    reg = load_registry(disable={"role_styles"}, prefer=set())  # or turn the built-in plugin off
    assert reg.entries["style"]["melody"].distribution == "clash-plugin" and "random" not in reg.names("style")


def test_an_entry_point_named_like_a_builtin_is_reported(site_packages):
    site_packages.add("shadow-plugin", "shadow_plugin", IMPOSTOR, entry_point="role_styles")
    reg = load_registry(disable=set(), prefer=set())
    assert reg.entries["style"]["melody"].distribution == "midiforge"
    assert problems_of(reg, "shadow-plugin") == [
        "entry point 'role_styles' was not loaded: a plugin of midiforge already has that name"
    ]


@pytest.fixture
def arpeggio(site_packages):
    """The example plugin as its pyproject.toml declares it, found through its entry point; its
    source folder stays untouched (no build, no bytecode) and nothing is pip-installed."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    entry_points = project["entry-points"]["midiforge"]
    site_packages.add_metadata(project["name"], project["version"], entry_points, source=EXAMPLE)
    return site_packages


@pytest.mark.slow
def test_example_plugin_shows_up_and_generates(arpeggio, tiny_checkpoint, tmp_path):
    before = sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*"))
    data = json.loads(run("plugins", "--json", env=arpeggio.env).stdout)
    row = next(p for p in data["plugins"] if p["name"] == "arpeggio")
    assert row["kind"] == "style" and row["distribution"] == "midiforge-arpeggio" and row["version"] == "0.1.0"
    proc = run("generate", "arpeggio", "--model", str(tiny_checkpoint), "--backend", "torch", "--bars", "2",
               "--n-clips", "2", "--seed", "1", "-o", str(tmp_path), env=arpeggio.env)
    assert proc.returncode == 0, proc.stderr
    assert len(sorted((tmp_path / "arpeggios").glob("*.mid"))) == 2
    assert sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*")) == before
