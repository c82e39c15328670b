"""Objective per-piece features used in the symbolic-music literature.

Definitions follow MusPy (Dong et al., 2020) and mgeval (Yang & Lerch, 2018), with time measured
in quarter notes ("beats"). Pitch features use the non-drum tracks; rhythm features (IOI,
empty beats, groove) use every track. A feature that is undefined for a piece (e.g. the IOI of a
single note) is ``nan`` and is left out of the set statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from midiforge.evaluation.pieces import PieceNotes, TrackNotes

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
#: Grid for onset patterns (groove): 12 steps per quarter note holds sixteenths and triplets.
GRID_PER_QUARTER = 12
#: mgeval's 12 note-length classes, in quarter notes.
NOTE_LENGTH_CLASSES = (
    ("whole", 4.0),
    ("half", 2.0),
    ("quarter", 1.0),
    ("8th", 0.5),
    ("16th", 0.25),
    ("dotted half", 3.0),
    ("dotted quarter", 1.5),
    ("dotted 8th", 0.75),
    ("dotted 16th", 0.375),
    ("half triplet", 4.0 / 3.0),
    ("quarter triplet", 2.0 / 3.0),
    ("8th triplet", 1.0 / 3.0),
)
_EPS = 1e-9


def pitch_class_histogram(notes: TrackNotes) -> np.ndarray:
    """Share of notes on each of the 12 pitch classes (note counts, not durations)."""
    counts = np.bincount(notes.pitch % 12, minlength=12).astype(np.float64)
    return counts / counts.sum() if counts.sum() else np.full(12, np.nan)


def pitch_class_entropy(notes: TrackNotes) -> float:
    """Shannon entropy (bits) of the pitch-class histogram: 0 for one pitch class, log2(12) max."""
    hist = pitch_class_histogram(notes)
    if np.isnan(hist).any():
        return float("nan")
    p = hist[hist > 0]
    return float(max(0.0, -(p * np.log2(p)).sum()))


def scale_consistency(notes: TrackNotes) -> float:
    """Largest share of notes inside one major (equivalently natural-minor) scale."""
    if not len(notes):
        return float("nan")
    counts = np.bincount(notes.pitch % 12, minlength=12)
    best = max(sum(counts[(root + step) % 12] for step in MAJOR_SCALE) for root in range(12))
    return float(best / len(notes))


def pitch_range(notes: TrackNotes) -> float:
    """Highest minus lowest pitch, in semitones."""
    return float(notes.pitch.max() - notes.pitch.min()) if len(notes) else float("nan")


def used_pitches(notes: TrackNotes) -> float:
    """Number of distinct MIDI pitches."""
    return float(len(np.unique(notes.pitch))) if len(notes) else float("nan")


def _sounding_counts(notes: TrackNotes) -> tuple[np.ndarray, np.ndarray]:
    """Number of sounding notes on each stretch between consecutive note boundaries, and its length."""
    times = np.concatenate([notes.onset, notes.end])
    deltas = np.concatenate([np.ones(len(notes)), -np.ones(len(notes))])
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    boundaries, first = np.unique(times, return_index=True)
    per_boundary = np.add.reduceat(deltas, first)
    counts = np.cumsum(per_boundary)[:-1]
    return counts, np.diff(boundaries)


def polyphony(notes: TrackNotes) -> float:
    """Mean number of notes sounding together, over the time at least one note sounds."""
    if not len(notes):
        return float("nan")
    counts, lengths = _sounding_counts(notes)
    active = (counts > 0) & (lengths > 0)
    total = lengths[active].sum()
    return float((counts[active] * lengths[active]).sum() / total) if total > 0 else float("nan")


def polyphony_rate(notes: TrackNotes) -> float:
    """Share of the sounding time with two or more notes at once."""
    if not len(notes):
        return float("nan")
    counts, lengths = _sounding_counts(notes)
    sounding = lengths[counts > 0].sum()
    return float(lengths[counts > 1].sum() / sounding) if sounding > 0 else float("nan")


def empty_beat_rate(notes: TrackNotes) -> float:
    """Share of beats (quarter notes, up to the last note's end) in which no note sounds."""
    if not len(notes):
        return float("nan")
    n_beats = int(np.ceil(notes.end.max() - _EPS))
    if n_beats <= 0:
        return float("nan")
    cover = np.zeros(n_beats + 1, dtype=np.int64)
    first = np.floor(notes.onset + _EPS).astype(np.int64)
    last = np.maximum(np.ceil(notes.end - _EPS).astype(np.int64), first + 1)  # exclusive
    np.add.at(cover, np.clip(first, 0, n_beats), 1)
    np.add.at(cover, np.clip(last, 0, n_beats), -1)
    occupied = np.cumsum(cover)[:n_beats] > 0
    return float(1.0 - occupied.mean())


def average_ioi(notes: TrackNotes) -> float:
    """Mean time (quarter notes) between consecutive distinct onsets."""
    onsets = np.unique(np.round(notes.onset, 6))
    return float(np.diff(onsets).mean()) if len(onsets) > 1 else float("nan")


def note_length_histogram(notes: TrackNotes) -> np.ndarray:
    """Share of notes in each of mgeval's 12 note-length classes (nearest on a log scale)."""
    if not len(notes):
        return np.full(len(NOTE_LENGTH_CLASSES), np.nan)
    classes = np.log2([length for _, length in NOTE_LENGTH_CLASSES])
    durations = np.log2(np.maximum(notes.duration, 1e-3))
    nearest = np.abs(durations[:, None] - classes[None, :]).argmin(axis=1)
    counts = np.bincount(nearest, minlength=len(classes)).astype(np.float64)
    return counts / counts.sum()


def pitch_class_transitions(tracks: list[TrackNotes]) -> np.ndarray:
    """12x12 matrix of pitch-class transitions between consecutive notes of each track, summing to 1."""
    matrix = np.zeros((12, 12))
    for track in tracks:
        if len(track) > 1:
            np.add.at(matrix, (track.pitch[:-1] % 12, track.pitch[1:] % 12), 1)
    total = matrix.sum()
    return matrix / total if total else np.full((12, 12), np.nan)


def onset_patterns(notes: TrackNotes, bars: np.ndarray, end: float) -> list[np.ndarray]:
    """Binary onset pattern of each bar on a grid of ``GRID_PER_QUARTER`` steps per quarter."""
    patterns = []
    edges = np.append(bars, max(end, bars[-1] if len(bars) else 0.0))
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        steps = int(round((stop - start) * GRID_PER_QUARTER))
        if steps <= 0:
            continue
        inside = (notes.onset >= start - _EPS) & (notes.onset < stop - _EPS)
        slots = np.clip(np.round((notes.onset[inside] - start) * GRID_PER_QUARTER).astype(int), 0, steps - 1)
        pattern = np.zeros(steps, dtype=bool)
        pattern[slots] = True
        patterns.append(pattern)
    return patterns


def groove_consistency(notes: TrackNotes, piece: PieceNotes) -> float:
    """1 - mean Hamming distance between the onset patterns of consecutive bars of equal length."""
    if not len(notes):
        return float("nan")
    end = float(notes.end.max())
    bars = piece.meter.bars(end)
    if len(bars) == 0:
        return float("nan")
    last_bar_end = bars[-1] + piece.meter.bar_length_at(bars[-1])
    patterns = onset_patterns(notes, bars, max(end, last_bar_end))
    distances = [
        np.mean(a != b) for a, b in zip(patterns[:-1], patterns[1:], strict=True) if len(a) == len(b)
    ]
    return float(1.0 - np.mean(distances)) if distances else float("nan")


@dataclass(frozen=True)
class Feature:
    """One per-piece feature: ``compute(piece)`` gives a float or an array."""

    name: str
    label: str
    unit: str
    compute: Callable[[PieceNotes], float | np.ndarray]

    @property
    def is_scalar(self) -> bool:
        return self.name not in VECTOR_FEATURES


VECTOR_FEATURES = {"pitch_class_histogram", "note_length_histogram", "pitch_class_transitions"}

FEATURES: tuple[Feature, ...] = (
    Feature("pitch_class_entropy", "Pitch-class entropy", "bits", lambda p: pitch_class_entropy(p.merged())),
    Feature("scale_consistency", "Scale consistency", "share", lambda p: scale_consistency(p.merged())),
    Feature("pitch_range", "Pitch range", "semitones", lambda p: pitch_range(p.merged())),
    Feature("used_pitches", "Used pitches", "count", lambda p: used_pitches(p.merged())),
    Feature("polyphony", "Polyphony", "notes", lambda p: polyphony(p.merged())),
    Feature("polyphony_rate", "Polyphony rate", "share", lambda p: polyphony_rate(p.merged())),
    Feature("empty_beat_rate", "Empty-beat rate", "share", lambda p: empty_beat_rate(p.merged(True))),
    Feature(
        "groove_consistency", "Groove consistency", "share", lambda p: groove_consistency(p.merged(True), p)
    ),
    Feature("average_ioi", "Average inter-onset interval", "quarters", lambda p: average_ioi(p.merged(True))),
    Feature(
        "pitch_class_histogram", "Pitch-class histogram", "share", lambda p: pitch_class_histogram(p.merged())
    ),
    Feature(
        "note_length_histogram", "Note-length histogram", "share", lambda p: note_length_histogram(p.merged())
    ),
    Feature(
        "pitch_class_transitions",
        "Pitch-class transition matrix",
        "share",
        lambda p: pitch_class_transitions(p.pitched_tracks),
    ),
)


def piece_features(piece: PieceNotes) -> dict[str, float | np.ndarray]:
    """Every feature of one piece."""
    return {f.name: f.compute(piece) for f in FEATURES}
