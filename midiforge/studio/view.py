"""What the page draws: a result's MIDI file as JSON (tracks, notes in beats, bars, chord names).

Notes edited since the result's parent are flagged, so the page shows what a *Regenerate* or
*Vary* changed. Chord names come from the file's markers (one per bar, written by the song
styles); a bar without one gets the chord recognised from its notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOTE_KEY = tuple[int, int, int, int]  # track, start tick, duration, pitch


def load_score(path: Path):
    import symusic

    return symusic.Score(str(path))


def note_keys(score) -> set[NOTE_KEY]:
    return {(i, int(n.time), int(n.duration), int(n.pitch)) for i, t in enumerate(score.tracks) for n in t.notes}


def track_roles(score) -> dict[int, str]:
    """Track index -> the role infill knows it by (melody, chords, bass, drums)."""
    from midiforge.data.roles import find_roles

    roles: dict[int, str] = {}
    for role, indices in find_roles(score).items():  # bass before chords: a bass that also
        for i in indices:  # carries the harmony of single-note comping stays the bass
            roles.setdefault(i, role)
    return roles


def bar_ticks(score) -> list[int]:
    downbeats = [int(t) for t in score.get_downbeats()]
    return downbeats or [0]


def chord_names(score, bars: list[int]) -> list[str]:
    """One chord name per bar: the marker at the bar line, else recognised from the bar's notes."""
    from midiforge.music.chords import recognize_chord

    markers = {int(m.time): m.text for m in score.markers}
    ends = [*bars[1:], int(score.end()) + 1]
    names = []
    for start, end in zip(bars, ends, strict=True):
        if start in markers:
            names.append(markers[start])
            continue
        notes = [n for t in score.tracks if not t.is_drum for n in t.notes if start <= n.time < end]
        chord = recognize_chord([n.pitch for n in notes], [n.duration for n in notes]) if notes else None
        names.append(chord.symbol if chord else "")
    return names


def score_view(path: Path, parent: Path | None = None) -> dict[str, Any]:
    """The JSON the page draws for one result (``parent``: the result it was edited from)."""
    score = load_score(path)
    tpq = score.ticks_per_quarter
    before = note_keys(load_score(parent)) if parent is not None and parent.is_file() else None
    roles = track_roles(score)
    bars = bar_ticks(score)
    tracks = []
    for i, track in enumerate(score.tracks):
        notes = []
        for n in track.notes:
            changed = before is not None and (i, int(n.time), int(n.duration), int(n.pitch)) not in before
            notes.append([round(n.time / tpq, 4), round(n.duration / tpq, 4), int(n.pitch), int(n.velocity),
                          int(changed)])
        tracks.append({"index": i, "name": track.name or f"track {i + 1}", "program": int(track.program),
                       "drum": bool(track.is_drum), "role": roles.get(i, "drums" if track.is_drum else ""),
                       "notes": notes})
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    return {
        "tracks": tracks,
        "bars": [round(b / tpq, 4) for b in bars],  # bar starts in beats (quarter notes)
        "chords": chord_names(score, bars),
        "end": round(score.end() / tpq, 4),
        "tempo": round(float(score.tempos[0].qpm), 2) if len(score.tempos) else 120.0,
        "meter": f"{ts.numerator}/{ts.denominator}" if ts else "4/4",
    }
