"""Hand-made MIDI for the evaluation tests (pretty_midi, 120 bpm: one quarter = 0.5 s)."""

from __future__ import annotations

from pathlib import Path

import pretty_midi

SECONDS_PER_QUARTER = 0.5
C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def note_list(pitches, step: float = 1.0, length: float | None = None, start: float = 0.0):
    """(pitch, onset, end) in quarters for a line of notes ``step`` apart."""
    length = step if length is None else length
    return [(p, start + i * step, start + i * step + length) for i, p in enumerate(pitches)]


def write_midi(
    path: Path, tracks: dict[str, list[tuple[int, float, float]]], meter=(4, 4), programs=None
) -> Path:
    """Write tracks of (pitch, onset quarter, end quarter) notes; a track named 'Drums' is a drum track."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0, resolution=480)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(meter[0], meter[1], 0.0))
    for index, (name, notes) in enumerate(tracks.items()):
        program = (programs or {}).get(name, index)
        inst = pretty_midi.Instrument(program=program, is_drum=name == "Drums", name=name)
        for pitch, onset, end in notes:
            inst.notes.append(
                pretty_midi.Note(
                    velocity=80, pitch=pitch, start=onset * SECONDS_PER_QUARTER, end=end * SECONDS_PER_QUARTER
                )
            )
        pm.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path
