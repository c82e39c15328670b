"""The CLI shell: version, help, one-line errors, the built-ins in the plugin listing (plugin
loading itself: tests/test_plugins.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from midiforge.cli import cli

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
