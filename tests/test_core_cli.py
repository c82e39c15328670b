"""The CLI shell: version, help, one-line errors, plugin listing, broken and clashing plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from midiforge.cli import cli
from midiforge.registry import load_registry

MIDIFORGE = [sys.executable, "-m", "midiforge"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MIDIFORGE, *args], capture_output=True, text=True, env=env, timeout=300)


def test_version_and_help_of_every_command():
    runner = CliRunner()
    assert "midiforge, version" in runner.invoke(cli, ["--version"]).output
    ctx = cli.make_context("midiforge", ["plugins"])
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage" in result.output
        assert command.help, f"{name} has no help text"
    assert {"generate", "prepare", "train", "export", "evaluate", "analyze", "plugins"} <= set(cli.list_commands(ctx))


def test_generate_does_not_import_the_training_stack():
    code = ("import sys; from midiforge.cli import cli; ctx = cli.make_context('midiforge', ['plugins']);"
            "cli.get_command(ctx, 'generate'); print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_bad_path_is_one_line_without_traceback(tmp_path):
    proc = run("generate", "melody", "--model", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "model not found" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_unknown_style_and_bad_option_fail_cleanly(tmp_path):
    proc = run("generate", "polka", "-o", str(tmp_path))
    assert proc.returncode == 1 and "unknown style 'polka'" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("generate", "melody", "--top-p", "3", "-o", str(tmp_path))
    assert proc.returncode == 1 and "--top-p" in proc.stderr


def test_plugins_lists_builtins_with_their_distribution():
    proc = run("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {(p["kind"], p["name"]): p for p in data["plugins"]}
    for kind, name in [("tokenizer", "remi"), ("model", "music-transformer"), ("model", "lstm"),
                       ("style", "harmonic"), ("style", "melody"), ("exporter", "onnx"), ("exporter", "coreml")]:
        assert rows[(kind, name)]["distribution"] == "midiforge", (kind, name)
        assert rows[(kind, name)]["description"]


def _fake_distribution(root: Path, dist: str, module: str, source: str) -> None:
    """An installed distribution on sys.path: dist-info with an entry point, plus its module."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[midiforge]\n{module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


def test_broken_plugin_is_reported_and_cli_still_works(tmp_path):
    _fake_distribution(tmp_path, "broken-plugin", "broken_plugin", "raise RuntimeError('boom at import')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = run("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    problems = json.loads(proc.stdout)["problems"]
    assert any(p["plugin"] == "broken-plugin:broken_plugin" and "boom at import" in p["problem"] for p in problems)
    assert any(p["name"] == "harmonic" for p in json.loads(proc.stdout)["plugins"])
    assert run("generate", "--help", env=env).returncode == 0


def test_name_clash_is_reported_not_overwritten(tmp_path):
    source = """
        import midiforge

        class Impostor:
            name = "melody"
            description = "not the real melody style"

        @midiforge.hookimpl
        def register_styles(register):
            register(Impostor())
    """
    _fake_distribution(tmp_path, "clash-plugin", "clash_plugin", source)
    sys.path.insert(0, str(tmp_path))
    try:
        reg = load_registry()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("clash_plugin", None)
    assert reg.entries["style"]["melody"].distribution == "midiforge"
    assert any("clashes" in p.message and "melody" in p.message for p in reg.problems)


@pytest.fixture(scope="module")
def arpeggio_installed():
    """Install the example third-party plugin into this environment, as a user would."""
    plugin = Path(__file__).resolve().parents[1] / "plugins" / "midiforge-arpeggio"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(plugin)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


def test_third_party_plugin_shows_up_and_generates(arpeggio_installed, tiny_checkpoint, tmp_path):
    data = json.loads(run("plugins", "--json").stdout)
    row = next(p for p in data["plugins"] if p["name"] == "arpeggio")
    assert row["kind"] == "style" and row["distribution"] == "midiforge-arpeggio" and row["version"] == "0.1.0"
    proc = run("generate", "arpeggio", "--model", str(tiny_checkpoint), "--backend", "torch", "--bars", "2",
               "--n-clips", "2", "--seed", "1", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    files = sorted((tmp_path / "arpeggios").glob("*.mid"))
    assert len(files) == 2


def test_python_api_mirrors_the_cli():
    import midiforge

    for name in ("analyze", "prepare_dataset", "train", "generate", "export_model", "evaluate", "generate_live", "infill", "vary",
                 "run_pipeline", "fetch_dataset", "diagnose"):
        assert callable(getattr(midiforge, name)), name
    with pytest.raises(AttributeError):
        midiforge.not_a_function  # noqa: B018


def test_generate_leaves_the_key_lock_to_the_style_unless_asked(monkeypatch, tmp_path):
    seen = []

    def fake_generate(style, options, **kwargs):
        seen.append(options.scale_lock)
        from midiforge.generation import GenerateResult

        return GenerateResult([], [], 0.0, "onnx", tmp_path)

    monkeypatch.setattr("midiforge.generation.generate", fake_generate)
    runner = CliRunner()
    for args in ([], ["--scale-lock"], ["--no-scale-lock"]):
        assert runner.invoke(cli, ["generate", "harmonic", "-o", str(tmp_path), *args]).exit_code == 0
    assert seen == [None, True, False]
