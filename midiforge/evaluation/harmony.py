"""Harmonic coherence: does the melody fit the harmony and the key?

* chord-tone ratio (multi-track pieces): share of melody notes on strong beats whose pitch class
  belongs to the chord sounding in the other tracks at that moment (recognised with
  :func:`midiforge.music.chords.recognize_chord`; moments without a recognisable chord are left
  out).
* in-key ratio: share of melody notes inside the scale of the piece's estimated key
  (:func:`midiforge.music.keys.estimate_key` on every pitched note).

The melody is the track named "Melody" (or "Soprano"), else the track with the highest mean
pitch. Strong beats are the downbeat of each bar, plus the middle of bars of an even number (4 or
more) of quarter notes (beats 1 and 3 in 4/4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from midiforge.evaluation.pieces import Meter, PieceNotes, TrackNotes, merge_tracks
from midiforge.music.chords import recognize_chord
from midiforge.music.keys import estimate_key

MELODY_NAMES = ("melody", "soprano", "lead")
_TOLERANCE = 1.0 / 48  # quarter notes


def find_melody(piece: PieceNotes) -> TrackNotes | None:
    """The melody track: named so, else the highest (by mean pitch) pitched track."""
    tracks = piece.pitched_tracks
    if not tracks:
        return None
    for wanted in MELODY_NAMES:
        for track in tracks:
            if wanted in track.name.lower():
                return track
    return max(tracks, key=lambda t: float(t.pitch.mean()))


def strong_beat_mask(onsets: np.ndarray, meter: Meter) -> np.ndarray:
    """True for onsets on a downbeat, or on the middle of an even bar of 4+ quarters."""
    if not len(onsets):
        return np.zeros(0, dtype=bool)
    bars = meter.bars(float(onsets.max()) + 1.0)
    index = np.clip(np.searchsorted(bars, onsets + _TOLERANCE, "right") - 1, 0, len(bars) - 1)
    offset = onsets - bars[index]
    lengths = np.array([meter.bar_length_at(b) for b in bars])[index]
    downbeat = np.abs(offset) < _TOLERANCE
    even = (np.abs(lengths - np.round(lengths)) < 1e-6) & (np.round(lengths) % 2 == 0) & (lengths >= 4)
    middle = even & (np.abs(offset - lengths / 2) < _TOLERANCE)
    return downbeat | middle


def chord_tone_ratio(melody: TrackNotes, harmony: TrackNotes, meter: Meter) -> float:
    """Share of strong-beat melody notes that are tones of the chord sounding in ``harmony``."""
    considered = tones = 0
    strong = strong_beat_mask(melody.onset, meter)
    for onset, pitch in zip(melody.onset[strong], melody.pitch[strong], strict=True):
        sounding = (harmony.onset <= onset + _TOLERANCE) & (harmony.end > onset + _TOLERANCE)
        if not sounding.any():
            continue
        remaining = harmony.end[sounding] - np.maximum(harmony.onset[sounding], onset)
        chord = recognize_chord(harmony.pitch[sounding].tolist(), remaining.tolist())
        if chord is None:
            continue
        considered += 1
        tones += int(pitch % 12 in chord.pitch_classes)
    return tones / considered if considered else float("nan")


def in_key_ratio(melody: TrackNotes, piece: PieceNotes) -> float:
    """Share of melody notes in the scale of the piece's estimated key."""
    notes = piece.merged()
    if not len(melody) or not len(notes):
        return float("nan")
    key = estimate_key(notes.pitch, notes.duration)
    return float(np.isin(melody.pitch % 12, sorted(key.scale_pcs)).mean())


@dataclass(frozen=True)
class HarmonyScores:
    chord_tone_ratio: float  # nan for single-track pieces
    in_key_ratio: float
    multitrack: bool


def harmony_scores(piece: PieceNotes) -> HarmonyScores:
    """Chord-tone and in-key ratios of one piece."""
    melody = find_melody(piece)
    if melody is None:
        return HarmonyScores(float("nan"), float("nan"), False)
    others = [t for t in piece.pitched_tracks if t is not melody]
    ratio = chord_tone_ratio(melody, merge_tracks(others), piece.meter) if others else float("nan")
    return HarmonyScores(ratio, in_key_ratio(melody, piece), bool(others))
