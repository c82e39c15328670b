"""The songs issue's table for a model, beside real music's figures, measured by one judge.

    python benchmarks/judge_release.py                       # the shipped model, 40 songs + controls
    python benchmarks/judge_release.py --model runs/x/best.safetensors --songs 2 --out /tmp/judge

Generates (into --out, default a temporary folder):
  * default songs: ``generate harmonic --n-songs N --seed 1..4``;
  * ``--chords "C G Am F"`` songs with and without ``--key "C major"``;
  * songs in 3/4 and 6/8, and songs with ``--drums``;
and judges them with :mod:`midiforge.evaluation.judge`, next to the same figures for real music
the model never trained on: held-out band arrangements (real melodies, human-written grooves) and
folk tunes (melody repetition); the held-out arrangements are judged twice, as played and with
their velocities at the codec's levels (what a model of that codec is taught). Prints a Markdown
table (docs/default-model.md holds its output).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROWS = [
    ("chord track plays the bar's chord %", "≥ 90"),
    ("N.C. bars %", "0"),
    ("bass root on the downbeat %", "≥ 80"),
    ("songs sounding on beat 1 %", "≥ 95"),
    ("songs with a section missing melody or bass", "0"),
    ("songs ending on a tonic chord %", "≥ 90"),
    ("silent beats %", "≤ 5 (3/4, 6/8)"),
    ("distinct velocities per track (median)", "≥ 6"),
    ("downbeat accent (velocity, mean)", "> 0"),
    ("songs with drums written by the model %", "≥ 95"),
    ("drums follow the band's loudness (per-bar correlation, median)", "(not in the issue)"),
    ("band's loudness range over a song (velocity, median)", "(not in the issue)"),
    ("melody bar repetition %", "within 2× of folk"),
    ("asked chords kept %", "≥ 90"),
]


def run_set(name: str, out: Path, args: list[str], model: str | None) -> Path:
    from click.testing import CliRunner

    from midiforge.cli import cli

    folder = out / name
    command = ["generate", "harmonic", "--out", str(folder), *args] + (["--model", model] if model else [])
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"{name}: {result.output.strip().splitlines()[-1:]}")
    return folder / "songs"


def held_out(dataset: Path, as_taught: bool = False) -> list:
    """Judge the files a prepared dataset kept for validation (never trained on); ``as_taught``:
    with velocities at the dataset codec's levels, the dynamics the model could learn from them."""
    import json

    from midiforge.data.codec import Codec
    from midiforge.evaluation.judge import judge_file

    levels = Codec.load(dataset / "codec.json").tokenizer.velocities if as_taught else ()
    report = json.loads((dataset / "report.json").read_text())["files"]
    return [judge_file(Path(f["file"]), velocity_levels=levels)
            for f in report if f.get("split") == "val" and Path(f["file"]).exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--songs", type=int, default=10, help="songs per seed (4 seeds)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--real", type=Path, default=Path("datasets/band"),
                        help="the band dataset: its held-out (validation) arrangements are judged")
    parser.add_argument("--folk", type=Path, default=None, help="folder of real folk tunes")
    args = parser.parse_args(argv)
    from midiforge.evaluation.judge import judge_folder, summarize
    from midiforge.music.chords import parse_progression
    from midiforge.paths import cache_dir

    out = args.out or Path(tempfile.mkdtemp(prefix="midiforge-judge-"))
    asked = [s.chord for s in parse_progression("C G Am F")]
    started = time.perf_counter()
    n = str(args.songs)
    sets = {
        "default": [run_set(f"default-seed{s}", out, ["--n-songs", n, "--seed", str(s)], args.model) for s in (1, 2, 3, 4)],
        "--chords C G Am F": [run_set("chords", out, ["--n-songs", n, "--seed", "5", "--chords", "C G Am F"], args.model)],
        "--chords … --key C major": [run_set("chords-key", out, ["--n-songs", n, "--seed", "6", "--chords", "C G Am F",
                                                                  "--key", "C major"], args.model)],
        "3/4": [run_set("waltz", out, ["--n-songs", n, "--seed", "7", "--meter", "3/4"], args.model)],
        "6/8": [run_set("sixeight", out, ["--n-songs", n, "--seed", "8", "--meter", "6/8"], args.model)],
        "--drums": [run_set("drums", out, ["--n-songs", n, "--seed", "9", "--drums"], args.model)],
    }
    print(f"generated in {time.perf_counter() - started:.0f} s under {out}", file=sys.stderr)
    columns = {}
    for name, folders in sets.items():
        figs = []
        for folder in folders:
            figs += judge_folder(folder, asked if name.startswith("--chords") else None)[0]
        columns[name] = summarize(figs)
    columns["real: held-out band arrangements"] = summarize(held_out(args.real))
    columns["real: the same, at the codec's velocity levels"] = summarize(held_out(args.real, as_taught=True))
    columns["real: folk tunes"] = judge_folder(args.folk or cache_dir("corpora", "folk"), limit=400)[1]
    names = list(columns)
    print("| figure | target | " + " | ".join(names) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    print("| files | | " + " | ".join(str(columns[c]["files"]) for c in names) + " |")
    for row, target in ROWS:
        cells = ["–" if columns[c].get(row) is None else str(columns[c][row]) for c in names]
        print(f"| {row} | {target} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
