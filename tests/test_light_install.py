"""The light install: ``pip install midiforge`` generates, infills and varies without torch, onnx,
music21 or matplotlib; features from extras say in one line which extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from midiforge import extras
from midiforge.generation.engine import REBUILD_HINT, Engine, shipped_onnx

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "onnx", "coremltools", "music21", "matplotlib", "transformers", "pretty_midi")
#: run Python as the light install would: the heavy packages cannot be imported
BLOCK = f"import sys\nHEAVY = {HEAVY!r}\nfor name in HEAVY: sys.modules[name] = None\n"


def run_blocked(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MIDIFORGE_CACHE": str(cwd / "cache")}  # no ONNX exports cached by other tests
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env=env)


def test_shipped_onnx_is_the_shipped_checkpoint():
    path, stale = shipped_onnx()
    assert path is not None and path.name == "default.onnx", "midiforge/assets/default.onnx is missing"
    assert not stale, f"default.onnx was exported from another checkpoint: run `{REBUILD_HINT}`"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["codec"] and meta["source"]["file"] == "default.safetensors"
    assert path.stat().st_size < 20e6  # it ships in the wheel


def test_a_stale_export_is_noticed(tmp_path, monkeypatch):
    from midiforge.generation import engine as engine_module

    real, _ = shipped_onnx()
    for name in ("default.onnx", "default.safetensors"):
        (tmp_path / name).write_bytes((real.parent / name).read_bytes())
    meta = json.loads(real.with_suffix(".json").read_text())
    meta["source"]["sha256"] = "0" * 64  # exported from another checkpoint
    (tmp_path / "default.json").write_text(json.dumps(meta))
    monkeypatch.setattr(engine_module, "_asset", lambda name: tmp_path / name)
    assert shipped_onnx() == (tmp_path / "default.onnx", True)
    monkeypatch.setattr(engine_module, "_has_torch", lambda: False)
    with pytest.raises(engine_module.MidiforgeError, match="python -m midiforge.assets.build"):
        Engine.load()


def test_default_engine_is_the_shipped_onnx():
    engine = Engine.load()
    assert engine.backend_name == "onnx" and engine.model_path.name == "default.onnx"


def test_generate_infill_vary_and_preview_without_heavy_packages(tmp_path):
    code = """
import midiforge
from midiforge.generation.infill import load_song
opts = midiforge.StyleOptions(n=1, bars=4, chords="Am F C G", key="A minor", sampling=midiforge.SamplingConfig(seed=1))
result = midiforge.generate("harmonic", opts, out="out", preview=True)
path = result.files[0]
engine = midiforge.Engine.load()
song = load_song(path)
filled = midiforge.infill(engine, song, (2, 4), "melody", midiforge.SamplingConfig(seed=2))
varied, bars = midiforge.vary(engine, song, 0.5, seed=3)
blocked = [m for m in HEAVY if sys.modules.get(m) is not None]
print(result.backend, path.with_suffix(".png").stat().st_size > 100, path.with_suffix(".wav").exists(),
      filled.score.note_num() > 0, len(bars), blocked)
"""
    proc = run_blocked(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["onnx", "True", "True", "True", "2", "[]"]


def test_chords_parse_without_music21(tmp_path):
    proc = run_blocked("from midiforge.music.chords import parse_progression as p\n"
                       "print(' '.join(s.chord.symbol for s in p('Am F C G7 | Bbmaj7 F#m7b5 Dsus4 E/G#')))", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Am", "F", "C", "G7", "Bbmaj7", "F#dim", "Dsus4", "E"]


SYMBOLS = ["C", "Am", "Bb", "F#m7", "C/E", "Cm7b5", "G9", "C6", "Cmaj7", "CM7", "Dsus4", "Dsus2", "E7sus4", "Eb+",
           "Caug", "Cdim", "Cdim7", "Bø7", "G7#9", "G7b9", "Cadd9", "C/Bb", "Am7", "D11", "A13", "Em9", "Gm6",
           "F#dim", "Abmaj7", "Db7", "CmM7", "C7b5", "Bb7#11", "Dm7/G", "Gsus"]


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_builtin_chord_reader_agrees_with_music21(symbol):
    harmony = pytest.importorskip("music21.harmony")
    from midiforge.music import chords

    ours = chords._builtin_symbol(symbol)
    theirs = chords._music21_symbol(harmony, symbol)
    assert (ours[0], sorted(set(ours[1]))) == (theirs[0], sorted(set(theirs[1])))


@pytest.mark.parametrize("bad", ["H7", "Cxyz", "C/", "7", "C/E7", "Am F"])
def test_builtin_chord_reader_refuses_nonsense(bad):
    from midiforge.errors import MidiforgeError
    from midiforge.music.chords import _builtin_symbol

    with pytest.raises(MidiforgeError, match="bad chord symbol"):
        _builtin_symbol(bad)


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    with pytest.raises(extras.MissingExtra, match=r"pip install 'midiforge\[studio\]'"):
        extras.require("no_such_module_midiforge_test", "studio")
    err = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert extras.missing_extra_message(err, "export").endswith("pip install 'midiforge[export]'")
    assert extras.missing_extra_message(err, "train").endswith("pip install 'midiforge[train]'")
    assert extras.missing_extra_message(ModuleNotFoundError("x", name="numpy"), "train") is None
    cli = "from midiforge.cli import main\nmain(%r)"
    for argv, extra in ((["export", "onnx", "-o", "m.onnx"], "export"),
                        (["generate", "melody", "--model", str(ROOT / "midiforge/assets/default.safetensors")],
                         "train")):
        proc = run_blocked(cli % (argv,), tmp_path)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pip install 'midiforge[{extra}]'" in lines[0], proc.stderr


def test_preview_png_is_a_valid_image():
    import numpy as np

    from midiforge.generation.preview import encode_png

    rgb = np.zeros((3, 5, 3), dtype=np.uint8)
    rgb[1, 2] = (10, 20, 30)
    png = encode_png(rgb)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (5, 3)
    start = png.index(b"IDAT") + 4
    raw = zlib.decompress(png[start : start + int.from_bytes(png[start - 8 : start - 4], "big")])
    assert raw[1 * 16 + 1 + 2 * 3 : 1 * 16 + 1 + 3 * 3] == bytes((10, 20, 30))  # row 1 (filter byte first)


@pytest.mark.slow
def test_wheel_installs_without_extras_and_makes_music(tmp_path):
    """Build the wheel, install it with its light dependencies only into a fresh venv, run the commands."""
    wheels = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = wheels.glob("midiforge-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=1200)
    if pip.returncode != 0 and ("No matching distribution" in pip.stderr or "Could not" in pip.stderr):
        pytest.skip(f"the light dependencies are not in the pip cache or index here: {pip.stderr.strip()[-300:]}")
    assert pip.returncode == 0, pip.stderr
    py, mf = str(venv / "bin" / "python"), str(venv / "bin" / "midiforge")
    present = subprocess.run([py, "-c", f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"],
                             capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert present == "[]", f"the light install pulled {present}"
    env = {**os.environ, "COLUMNS": "200"}

    def midiforge(*args: str) -> str:
        done = subprocess.run([mf, *args], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    out = midiforge("generate", "harmonic", "--n", "1", "--bars", "8", "--chords", "Am F C G", "--seed", "1",
                    "--preview", "-o", "out")
    assert "onnx backend" in out
    (song,) = (tmp_path / "out").rglob("*.mid")
    assert song.with_suffix(".png").exists() and song.with_suffix(".wav").exists()
    assert "every note outside the gap unchanged" in midiforge("infill", str(song), "--bars", "5-8", "--track",
                                                               "melody", "--seed", "2", "-o", "filled.mid")
    assert "rewrote bars" in midiforge("vary", str(song), "--seed", "3", "-o", "varied.mid")
    assert (tmp_path / "filled.mid").exists() and (tmp_path / "varied.mid").exists()
    proc = subprocess.run([mf, "studio", "--no-browser"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and "pip install 'midiforge[studio]'" in proc.stderr
