"""The CLI shell: version, help, one-line errors, the built-ins in the plugin listing (plugin
loading itself: tests/test_plugins.py)."""

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


def _fake_distribution(root: Path, dist: str, module: str, source: str) -> None:
    """An installed distribution on sys.path: dist-info with an entry point, plus its module."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[midiforge]\n{module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


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


def test_generate_reads_its_options_from_a_config_file(monkeypatch, tmp_path):
    seen = []

    def fake_generate(style, options, **kwargs):
        seen.append((style, options, kwargs["out"]))
        from midiforge.generation import GenerateResult

        return GenerateResult([], [], 0.0, "onnx", tmp_path)

    monkeypatch.setattr("midiforge.generation.generate", fake_generate)
    config = tmp_path / "songs.toml"
    config.write_text('n-songs = 3\ntempo = 96\ngroove = "bossa"\ntemperature = 0.9\nvary_repeats = true\n'
                      f'out = "{tmp_path / "from-config"}"\n')
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", "harmonic", "--config", str(config), "--tempo", "100"])
    assert result.exit_code == 0, result.output
    style, options, out = seen[0]
    assert (options.n, options.tempo, options.groove, options.sampling.temperature, options.vary_repeats) == (
        3, 100.0, "bossa", 0.9, True)  # the command line wins over the file
    assert out == tmp_path / "from-config" and {"tempo", "groove", "n"} <= options.given
    config.write_text("tempoo = 3\n")
    bad = runner.invoke(cli, ["generate", "harmonic", "--config", str(config)])
    assert bad.exit_code != 0 and "unknown option 'tempoo'" in str(bad.exception)  # run_cli prints it as one line


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.slow
def test_only_tokenizers_that_work_end_to_end_are_listed_and_others_refused(tmp_path):
    data = json.loads(run("plugins", "--json").stdout)
    assert {p["name"] for p in data["plugins"] if p["kind"] == "tokenizer"} == {"remi"}
    source = """
        import miditok
        import midiforge

        class PerTokPlugin:  # TimeShift-based: the REMI grammar cannot sample notes from it
            name = "pertok"
            description = "MidiTok PerTok"
            params = {"use_microtiming": True, "ticks_per_quarter": 320, "max_microtiming_shift": 0.125,
                      "num_microtiming_bins": 30}

            def create(self, params):
                return miditok.PerTok(miditok.TokenizerConfig(**params))

        @midiforge.hookimpl
        def register_tokenizers(register):
            register(PerTokPlugin())
    """
    _fake_distribution(tmp_path / "site", "pertok-plugin", "pertok_plugin", source)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    (tmp_path / "midi").mkdir()
    proc = run("prepare", str(tmp_path / "midi"), "--tokenizer", "pertok", "-o", str(tmp_path / "ds"), env=env)
    line = _one_line_error(proc)
    assert "tokenizer 'pertok' makes" in line and "TimeShift" in line and "use remi" in line
    assert not (tmp_path / "ds").exists()


def test_unknown_style_names_the_plugin_that_failed_to_load(tmp_path):
    _fake_distribution(tmp_path / "site", "waltz-plugin", "waltz_plugin", "raise ImportError('no module named numba')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    line = _one_line_error(run("generate", "waltz", "-o", str(tmp_path / "out"), env=env))
    assert "unknown style 'waltz'" in line and "plugin 'waltz_plugin' failed to load" in line and "numba" in line
    assert "no module named numba" in line


FAILING_STYLES = """
    import midiforge

    class Failing:
        def __init__(self, name, exc):
            self.name, self.description, self.exc = name, "fails", exc

        def generate(self, engine, options):
            raise self.exc

    class Silent:  # returns a piece without notes
        name, description = "silent", "writes nothing"

        def generate(self, engine, options):
            import symusic
            from midiforge.generation import Piece

            return [Piece(symusic.Score(480), "silent", "silent_000")]

    @midiforge.hookimpl
    def register_styles(register):
        register(Failing("keyerror", KeyError("bass")))
        register(Failing("attrerror", AttributeError("'NoneType' object has no attribute 'notes'")))
        register(Failing("typeerror", TypeError("generate() takes 2 positional arguments")))
        register(Silent())
"""


@pytest.mark.parametrize("style, shown", [("keyerror", "KeyError: 'bass'"),
                                          ("attrerror", "AttributeError: 'NoneType'"),
                                          ("typeerror", "TypeError: generate()")])
def test_a_failing_plugin_style_is_named_in_one_line(style, shown, tiny_checkpoint, tmp_path):
    _fake_distribution(tmp_path / "site", "failing-styles", "failing_styles", FAILING_STYLES)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = run("generate", style, "--model", str(tiny_checkpoint), "--backend", "torch", "--n", "1",
               "-o", str(tmp_path / "out"), env=env)
    line = _one_line_error(proc)
    assert f"style '{style}' of plugin failing_styles (failing-styles 1.0) failed" in line
    assert shown in line


def test_a_generation_without_notes_is_an_error_and_writes_nothing(tiny_checkpoint, tmp_path):
    _fake_distribution(tmp_path / "site", "failing-styles", "failing_styles", FAILING_STYLES)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = run("generate", "silent", "--model", str(tiny_checkpoint), "--backend", "torch", "--n", "1",
               "-o", str(tmp_path / "out"), env=env)
    assert "without a single note" in _one_line_error(proc)
    assert not list(tmp_path.rglob("*.mid"))


def _registry_with(monkeypatch, **hooks):
    """The process registry plus an in-process plugin made of ``hooks`` (``register_styles=...``)."""
    import midiforge
    from midiforge import registry as registry_module

    # a plain (hashable) object whose attributes are the hook functions, as pluggy registers them
    plugin = type("TestPlugin", (), {name: staticmethod(midiforge.hookimpl(fn)) for name, fn in hooks.items()})()
    reg = load_registry(extra_plugins={"test-plugin": plugin})
    monkeypatch.setattr(registry_module, "registry", lambda: reg)
    return reg


def test_a_style_can_tell_typed_options_from_defaults(monkeypatch, tiny_checkpoint, tmp_path):
    from midiforge.cli.common import run_cli

    seen = []

    class Recorder:
        name, description = "recorder", "records its options"

        def generate(self, engine, options):
            import symusic

            from midiforge.generation import Piece

            seen.append(options)
            score = symusic.Score(480)
            track = symusic.Track("x")
            track.notes.append(symusic.Note(0, 480, 60, 80))
            score.tracks.append(track)
            return [Piece(score, "rec", f"rec_{len(seen)}")]

    _registry_with(monkeypatch, register_styles=lambda register: register(Recorder()))
    common = ["generate", "recorder", "--model", str(tiny_checkpoint), "--backend", "torch", "-o", str(tmp_path)]
    assert run_cli(cli, common) == 0
    assert run_cli(cli, [*common, "--tempo", "120", "--clip", "--n", "1"]) == 0
    assert "tempo" not in seen[0].given and seen[0].tempo == 120
    assert {"tempo", "seconds", "n"} <= seen[1].given and "meter" not in seen[1].given


def test_a_tokenizer_plugins_own_params_are_saved_with_the_codec(monkeypatch):
    from midiforge.plugins.tokenizers import MidiTokTokenizer

    from midiforge.data.codec import Codec

    class WithVelocities(MidiTokTokenizer):
        params = {"use_velocities": True, "num_velocities": 8}

    _registry_with(monkeypatch, register_tokenizers=lambda register: register(
        WithVelocities("remi-vel", "REMI", "REMI with velocities")))
    saved = Codec("remi-vel").to_dict()
    assert saved["params"]["use_velocities"] is True and saved["params"]["num_velocities"] == 8
    assert Codec.from_dict(saved).vocab_size == saved["vocab_size"]
    assert Codec("remi-vel", {"num_velocities": 4}).params["num_velocities"] == 4  # the user's win


def test_a_model_plugins_unknown_option_lists_the_known_ones():
    from dataclasses import dataclass

    from midiforge import contracts
    from midiforge.errors import MidiforgeError

    @dataclass
    class TinyConfig:
        vocab_size: int = 8
        max_seq_len: int = 16
        width: int = 4

    class ThirdParty:  # receives its config_class instance, as docs/plugins.md says
        name, description, config_class = "third", "a third-party model", TinyConfig

        def build(self, config):
            if config.width > 64:
                raise ValueError("too wide")
            return config

    with pytest.raises(MidiforgeError, match=r"unknown model option\(s\) depth .*known: max_seq_len, vocab_size, width"):
        contracts.build_model(ThirdParty(), {"vocab_size": 8, "max_seq_len": 16, "depth": 2})
    assert contracts.build_model(ThirdParty(), {"vocab_size": 8, "width": 2}).width == 2
    with pytest.raises(MidiforgeError, match="model plugin 'third' failed to build: ValueError: too wide"):
        contracts.build_model(ThirdParty(), {"width": 100})


def test_generate_summary_shows_whole_file_names(tiny_checkpoint, tmp_path):
    out = tmp_path / "a-rather-long-output-folder-name" / "and-another-one"
    proc = run("generate", "melody", "--model", str(tiny_checkpoint), "--backend", "torch", "--n", "2", "--bars", "2",
               "--seed", "3", "-o", str(out), env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.rglob("*.mid"))
    assert len(files) == 2
    for path in files:
        assert path.name in proc.stdout, proc.stdout


def test_key_value_options_read_json_values_and_reject_a_missing_equals_sign():
    from midiforge.cli.common import parse_key_values
    from midiforge.errors import MidiforgeError

    parsed = parse_key_values(("d-model=256", " positional = relative", "fused=true"), "--model-opt")
    assert parsed == {"d_model": 256, "positional": "relative", "fused": True}
    with pytest.raises(MidiforgeError, match="--option wants KEY=VALUE, got 'opset'"):
        parse_key_values(("opset",), "--option")


def test_the_summary_names_each_songs_dynamics_and_passes_the_choice_on(monkeypatch, tmp_path):
    from midiforge.generation import GenerateResult
    from midiforge.generation.pieces import Piece

    seen = []

    def fake_generate(style, options, **kwargs):
        seen.append(options.dynamics)
        meta = {"key": "C major", "tempo": 120, "dynamics": "A: mf mf<f | B: f>p"} if options.dynamics == "phrases" else {}
        return GenerateResult([tmp_path / "songs" / "a.mid"], [Piece(None, "songs", "a", meta)], 0.1, "onnx", tmp_path)

    monkeypatch.setattr("midiforge.generation.generate", fake_generate)
    runner = CliRunner()
    shown = runner.invoke(cli, ["generate", "harmonic", "-o", str(tmp_path)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "dynamics" in shown.output and "A: mf mf<f | B: f>p" in shown.output
    free = runner.invoke(cli, ["generate", "harmonic", "-o", str(tmp_path), "--dynamics", "free"], env={"COLUMNS": "200"})
    assert free.exit_code == 0 and "dynamics" not in free.output
    assert seen == ["phrases", "free"]
    assert runner.invoke(cli, ["generate", "harmonic", "--dynamics", "loud"]).exit_code != 0  # click names the choices
