"""The docs are executed: every shell command of README.md and docs/*.md runs (with small sizes), or
is in SKIPPED with the reason it cannot run here. Also: the style API signatures in docs/plugins.md
match the code.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = ("bash", "sh", "shell", "console")

#: commands that cannot run in a test, by a part of their text, with the reason
SKIPPED: dict[str, str] = {
    "python3 -m venv .venv": "creates a virtual environment and installs from the network",
    'pip install "midiforge[live]"': "installs from the network",
    "--live": "needs a MIDI output port",
    "download nottingham": "downloads from the network",
    "--corpus nottingham": "needs the network download of the line before",
    "docker": "needs Docker",
    "make shell": "needs Docker (an interactive shell in the image)",
    "train --recipe default": "too slow: trains the shipped model for hours on the band corpus",
    "train --recipe band-small": "too slow: trains the model the shipped one grows from, for hours",
    "torchrun": "needs several processes or machines (tests/test_train.py runs DDP on 2 CPU processes)",
    "...": "elided arguments: the line shows one option, not a whole command",
    "benchmarks/bench_train.py": "too slow: a benchmark (run by hand, its output is shown beside it)",
    "apt-get install": "installs a system package (.ci/run installs mma for the band corpus)",
    "python -m midiforge.assets.build": "rewrites the shipped model files in the checkout",
    "midiforge studio": "starts a server that runs until stopped (tests/test_studio*.py drive it)",
    'pip install "midiforge[studio]"': "installs from the network",
}

#: (pattern, replacement): small sizes where the docs use big ones
SMALLER: list[tuple[str, str]] = [
    (r"--(n-songs|n-clips|n) \d+", r"--\1 1"),
    (r"--section-bars \d+", "--section-bars 1"),
    (r"--limit \d+", "--limit 3"),
    (r"--max-reference-files \d+", "--max-reference-files 3"),
    (r"--epochs \d+", "--epochs 1"),
    (r"--bars (\d\d+)", "--bars 4"),
    (r"pip install \./", "pip install -q --no-deps --no-index --no-build-isolation ./"),  # offline
]
#: appended to training commands: a tiny model, two steps
TINY_TRAINING = ("--max-steps 2 --batch-size 2 --model-opt d_model=32 --model-opt n_layers=1 "
                 "--model-opt n_heads=2 --model-opt d_ff=64")

#: what a doc assumes its reader already has, made before its commands run (in its folder)
PREMISES: dict[str, list[str]] = {
    "evaluation.md": ["mkdir -p out/melodies && cp ~/midi/*.mid out/melodies/",
                      "midiforge prepare ~/midi -o data/chorales --workers 1",
                      "mkdir -p runs/default && cp model.safetensors runs/default/best.safetensors"],
    "plugins.md": [f"cp -r {ROOT}/plugins/midiforge-arpeggio ."],  # builds in the copy, not in the checkout
    "training.md": ["midiforge prepare ~/midi -o datasets/bach-chorales --workers 1",
                    f"sed -n '/^```toml/,/^```/p' {ROOT}/docs/training.md | sed '1d;$d' > my.toml"],  # its example
}


def _commands(path: Path) -> list[str]:
    """Shell commands of ``path``: lines of its bash blocks (continuations joined, comments cut)
    and ``$ ...`` lines of any block."""
    commands = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), re.S | re.M):
        text = body.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                commands.append(line[2:])
            elif lang in SHELL_BLOCKS and line and not line.startswith("#"):
                commands.append(_strip_comment(line))
    return commands


def _strip_comment(line: str) -> str:
    """Cut a trailing ``# comment`` that is outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "\"'" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def skip_reason(command: str) -> str | None:
    if "--corpus band" in command and shutil.which("mma") is None:
        return "the band corpus needs Debian's mma"
    return next((reason for part, reason in SKIPPED.items() if part in command), None)


def smaller(command: str) -> str:
    """The command with small sizes, a tiny model for training and few files from corpora."""
    for pattern, replacement in SMALLER:
        command = re.sub(pattern, replacement, command)
    words = command.split()
    verb = words[1] if len(words) > 1 and words[0] == "midiforge" else ""
    if verb in ("train", "pipeline"):
        command += " " + TINY_TRAINING
    if verb in ("prepare", "pipeline", "analyze") and "--corpus" in words and "--limit" not in words:
        command += " --limit 3"
    if verb in ("prepare", "pipeline", "analyze") and "--workers" not in words:
        command += " --workers 1"
    if verb == "evaluate" and "--reference" in words and "--max-reference-files" not in words:
        command += " --max-reference-files 3"
    if verb == "generate" and not {"--bars", "--seconds", "--section-bars", "--clip", "--pattern"} & set(words):
        command += " --bars 2"
    return command


def test_every_midiforge_line_outside_shell_blocks_is_a_synopsis():
    """A runnable command in an unlabelled block would escape the executed docs."""
    for path in DOCS:
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), re.S | re.M):
            if lang in SHELL_BLOCKS or re.search(r"^\$ ", body, re.M):  # a transcript: its $ lines run
                continue
            for line in body.splitlines():
                if line.strip().startswith("midiforge "):
                    assert "[" in line or "|" in line, f"{path.name}: put '{line.strip()}' in a ```bash block"


def test_the_skip_list_has_no_stale_entries():
    every = [c for path in DOCS for c in _commands(path)]
    for part in SKIPPED:
        assert any(part in c for c in every), f"SKIPPED['{part}'] matches no documented command"


def _write_midi(path: Path, tonic: int, bars: int = 8, program: int = 0) -> None:
    """A small three-part piece (melody, chords, bass) in 4/4 at 100 bpm."""
    import symusic

    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 100.0))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    melody, chords, bass = (symusic.Track(n, program=p) for n, p in (("Melody", 73), ("Chords", program), ("Bass", 32)))
    scale = [0, 2, 4, 5, 7, 9, 11]
    for bar in range(bars):
        root = tonic + [0, 5, 7, 0][bar % 4]
        start = bar * 4 * 480
        for pc in (0, 4, 7):
            chords.notes.append(symusic.Note(start, 4 * 480, 60 + (root + pc) % 12, 70))
        bass.notes.append(symusic.Note(start, 2 * 480, 36 + root % 12, 80))
        bass.notes.append(symusic.Note(start + 960, 2 * 480, 43 + root % 12, 80))
        for beat in range(4):
            step = scale[(bar * 3 + beat * 2) % 7]
            melody.notes.append(symusic.Note(start + beat * 480, 480, 72 + (tonic + step) % 12, 90))
    score.tracks.extend([melody, chords, bass])
    score.dump_midi(str(path))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One MIDIFORGE_CACHE for every doc (converted corpora, the exported default model)."""
    return tmp_path_factory.mktemp("cache")


def _sandbox(root: Path) -> tuple[Path, dict]:
    """A home with ~/midi, a working folder with the files the docs name, and the environment."""
    from midiforge.generation.engine import default_model_path

    home, work = root / "home", root / "work"
    for folder in (home / "midi" / "folk-tunes", work):
        folder.mkdir(parents=True)
    for i, tonic in enumerate((0, 9, 7, 2)):
        _write_midi(home / "midi" / f"piece{i}.mid", tonic)
    for i in range(2):
        _write_midi(home / "midi" / "folk-tunes" / f"tune{i}.mid", 2 + i)
    for name in ("my_idea.mid", "song.mid", "tune.mid"):
        _write_midi(work / name, 9, bars=12)
    (work / "my_ideas").mkdir()
    _write_midi(work / "my_ideas" / "idea.mid", 2, bars=4)
    (work / "progression.txt").write_text("Am:2 F:2\nC G\n")
    shutil.copy(default_model_path(), work / "model.safetensors")
    env = {**os.environ, "HOME": str(home), "COLUMNS": "120",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return work, env


def _doc_params():
    """Docs with a command that can run here (a doc whose every command is in SKIPPED, such as
    studio.md, has its reasons there)."""
    return [pytest.param(path, id=path.name) for path in DOCS if any(not skip_reason(c) for c in _commands(path))]


@pytest.mark.slow
@pytest.mark.parametrize("doc", _doc_params())
def test_documented_commands_run(doc: Path, cache: Path, tmp_path: Path):
    work, env = _sandbox(tmp_path)
    env["MIDIFORGE_CACHE"] = str(cache)
    ran = []
    for command in PREMISES.get(doc.name, []) + _commands(doc):
        if skip_reason(command):
            continue
        command = smaller(command)
        proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"{doc.name}: `{command}` failed:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, f"{doc.name}: `{command}`:\n{proc.stderr[-3000:]}"
        ran.append(command)
    assert ran, f"{doc.name}: every command is skipped"


# ------------------------------------------------------------------ the style API in docs/plugins.md
def _annotation(value) -> str:
    return value if isinstance(value, str) else getattr(value, "__name__", repr(value))


def _signature(fn) -> str:
    sig = inspect.signature(fn)
    parts = []
    for p in sig.parameters.values():
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    returns = "" if sig.return_annotation is sig.empty else f" -> {_annotation(sig.return_annotation)}"
    return f"def {fn.__name__}({', '.join(parts)}){returns}"


def _fields(cls) -> list[str]:
    lines = [f"class {cls.__name__}:"]
    for f in dataclasses.fields(cls):
        text = f"    {f.name}: {_annotation(f.type)}"
        if f.default is not dataclasses.MISSING:
            text += f" = {f.default!r}"
        elif f.default_factory is not dataclasses.MISSING:
            text += f" = field(default_factory={f.default_factory.__name__})"
        lines.append(text)
    return lines


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_style_api_signatures_in_plugins_md_match_the_code():
    text = (ROOT / "docs" / "plugins.md").read_text()
    block = text.split("#### The style API, with signatures", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"  # .*$", "", line) for line in block.splitlines()]
    owner, checked, i = None, 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# "):
            owner = _resolve(line[2:].strip())
        elif line.startswith("def "):
            name = line[4:].split("(", 1)[0]
            assert line == _signature(getattr(owner, name)), f"docs/plugins.md is out of date for {name}"
            checked += 1
        elif line.startswith("class "):
            cls = getattr(owner, line[6:].rstrip(":"))
            documented = [line, *itertools.takewhile(lambda x: x.startswith("    "), lines[i + 1:])]
            assert documented == _fields(cls), f"docs/plugins.md is out of date for {cls.__name__}"
            i += len(documented) - 1
            checked += 1
        i += 1
    assert checked >= 10
