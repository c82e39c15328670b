"""Print the songs issue's figures for a folder of MIDI files (generated or real music).

    python benchmarks/judge_songs.py midiforge-output/songs
    python benchmarks/judge_songs.py out/chords --chords "C G Am F"   # also: asked chords kept
    python benchmarks/judge_songs.py DIR --json figures.json          # per-file figures too

The figures are defined in :mod:`midiforge.evaluation.judge`; docs/default-model.md lists them for
the shipped model beside real music's, measured by this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--chords", help="the progression the songs were asked for (loops over the bars)")
    parser.add_argument("--section-bars", type=int, default=8)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=Path, help="write per-file figures and the summary here")
    args = parser.parse_args(argv)
    from midiforge.errors import MidiforgeError
    from midiforge.evaluation.judge import figures_json, judge_folder
    from midiforge.music.chords import parse_progression

    if not args.folder.is_dir():
        print(f"Error: no such folder: {args.folder}", file=sys.stderr)
        return 2
    try:
        asked = [s.chord for s in parse_progression(args.chords)] if args.chords else None
    except MidiforgeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    figs, summary = judge_folder(args.folder, asked, args.section_bars, args.limit)
    width = max(len(k) for k in summary)
    for name, value in summary.items():
        print(f"{name:<{width}}  {'-' if value is None else value}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "files": figures_json(figs)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
