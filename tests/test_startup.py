"""Start-up stays light: ``--help`` and generating from an exported model never import PyTorch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "onnxruntime", "miditok", "transformers")


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_generate_help_imports_nothing_heavy():
    loaded = _modules_after(textwrap.dedent("""
        from midiforge.cli import cli, run_cli
        assert run_cli(cli, ["generate", "--help"]) == 0
    """))
    assert "click" in loaded and not loaded & set(HEAVY)


def test_generating_from_an_onnx_model_does_not_import_torch(tiny_checkpoint, tmp_path):
    from midiforge.exporting.api import export_model

    onnx_path = tmp_path / "tiny.onnx"
    assert export_model("onnx", tiny_checkpoint, onnx_path).passed
    loaded = _modules_after(textwrap.dedent(f"""
        from midiforge.cli import cli, run_cli
        assert run_cli(cli, ["generate", "melody", "--model", {str(onnx_path)!r}, "--n", "1", "--bars", "2",
                             "--seed", "1", "-o", {str(tmp_path / "out")!r}]) == 0
    """))
    assert {"onnxruntime", "miditok"} <= loaded  # it did generate
    assert "torch" not in loaded
    assert len(list((tmp_path / "out").rglob("*.mid"))) == 1


def test_top_level_help_is_light_and_lists_what_click_would():
    from click.testing import CliRunner

    from midiforge.cli import cli

    script = textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from midiforge.cli import cli
        print(CliRunner().invoke(cli, ["--help"]).output)
        print("MODULES", " ".join(m for m in sys.modules if "." not in m))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lazy, _, modules = done.stdout.rpartition("MODULES")
    assert not set(modules.split()) & set(HEAVY)
    ctx = cli.make_context("midiforge", ["plugins"])
    for name in cli.list_commands(ctx):  # import every command: click's own short help from now on
        cli.get_command(ctx, name)
    assert CliRunner().invoke(cli, ["--help"]).output + "\n" == lazy
    assert "generate  Generate MIDI in STYLE" in lazy
