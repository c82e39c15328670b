"""Benchmark ``prepare`` on the Bach chorales against a pretty_midi + hand-written loop.

Both sides do the same work per file: parse the MIDI, build the four role views (full, melody,
chords, bass), quantise to a 16th grid, emit bar/position/program/pitch/duration tokens, and
produce all 12 transpositions. midiforge additionally estimates the key, recognises a chord per
bar, segments and writes the memory-mapped dataset; the baseline only counts its tokens. Both
read the same cached chorale MIDI files (converted once by ``--corpus bach-chorales``).

    python benchmarks/bench_prepare.py [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pretty_midi

from midiforge.data.prepare import PrepareOptions, prepare_dataset
from midiforge.data.sources import resolve_source

VIEWS = {
    "full": ("Soprano", "Alto", "Tenor", "Bass"),
    "melody": ("Soprano",),
    "chords": ("Alto", "Tenor", "Bass"),
    "bass": ("Bass",),
}
PROGRAM = {"Soprano": 73, "Alto": 0, "Tenor": 0, "Bass": 32}


def hand_tokens(pm: pretty_midi.PrettyMIDI, parts: tuple[str, ...], shift: int) -> list[str]:
    """REMI-like tokens of some parts, written the obvious way with pretty_midi."""
    ts = pm.time_signature_changes[0] if pm.time_signature_changes else None
    steps_per_bar = 4 * (ts.numerator * 4 // ts.denominator if ts else 4)
    notes = []
    for inst in pm.instruments:
        if inst.name not in parts:
            continue
        for n in inst.notes:
            start = round(pm.time_to_tick(n.start) / pm.resolution * 4)
            length = max(1, round(pm.time_to_tick(n.end) / pm.resolution * 4) - start)
            notes.append((start, PROGRAM[inst.name], n.pitch + shift, min(length, 32)))
    notes.sort()
    tokens, bar, position = [], -1, -1
    for start, program, pitch, length in notes:
        while start // steps_per_bar > bar:
            bar += 1
            position = -1
            tokens.append("Bar")
        if start % steps_per_bar != position:
            position = start % steps_per_bar
            tokens.append(f"Position_{position}")
        tokens += [f"Program_{program}", f"Pitch_{pitch}", f"Duration_{length}"]
    return tokens


def baseline(files: list[Path]) -> tuple[float, int]:
    started, count = time.perf_counter(), 0
    for path in files:
        pm = pretty_midi.PrettyMIDI(str(path))
        for parts in VIEWS.values():
            for shift in range(-5, 7):
                count += len(hand_tokens(pm, parts, shift))
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N chorales (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    files = resolve_source(corpus="bach-chorales", limit=args.limit, workers=args.workers).files
    options = PrepareOptions(infill_prob=0.0)  # same work as the baseline: views x 12 transpositions
    with tempfile.TemporaryDirectory() as tmp:
        summary = prepare_dataset(
            Path(tmp) / "ds", corpus="bach-chorales", options=options, limit=args.limit, workers=args.workers
        )
    ours_s = summary.seconds
    ours_tokens = sum(summary.tokens.values())
    base_s, base_tokens = baseline(files)
    n = len(files)
    print(f"files: {n} Bach chorales; workers: {args.workers}")
    print(f"{'':28} {'files/s':>10} {'tokens/s':>12} {'tokens':>12} {'seconds':>9}")
    print(
        f"{'midiforge prepare':28} {n / ours_s:10.1f} {ours_tokens / ours_s:12,.0f} {ours_tokens:12,} {ours_s:9.2f}"
    )
    print(
        f"{'pretty_midi + hand loop':28} {n / base_s:10.1f} {base_tokens / base_s:12,.0f} {base_tokens:12,} {base_s:9.2f}"
    )
    print(
        f"ratio (midiforge / baseline): files/s x{base_s / ours_s:.2f}, tokens/s x{(ours_tokens / ours_s) / (base_tokens / base_s):.2f}"
    )


if __name__ == "__main__":
    main()
