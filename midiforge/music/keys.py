"""Keys: names, scales, and fast key estimation from notes.

midiforge conditions every sequence on a ``Key_<tonic>_<mode>`` token, so keys are estimated for
thousands of files during ``prepare``. Estimation correlates a duration-weighted pitch-class
histogram with the 24 rotated Krumhansl-Kessler profiles in numpy (the same method as music21's
``analyze('key.krumhanslkessler')``, about 100x faster because no score objects are built).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from midiforge.errors import MidiforgeError

MODES: tuple[str, ...] = ("major", "minor")
#: Tonic names used in tokens and key names (sharps only, matching chord tokens).
TONIC_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode (``major`` or ``minor``)."""

    tonic_pc: int
    mode: str

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise MidiforgeError(f"unknown mode '{self.mode}' (use major or minor)")
        if not 0 <= self.tonic_pc < 12:
            raise MidiforgeError(f"key tonic pitch class must be 0..11, got {self.tonic_pc}")

    @property
    def name(self) -> str:
        """Readable name such as ``"C major"`` or ``"F# minor"``."""
        return f"{TONIC_NAMES[self.tonic_pc]} {self.mode}"

    @property
    def token(self) -> str:
        """Name used in ``Key_<token>`` tokens, e.g. ``"C_major"``."""
        return f"{TONIC_NAMES[self.tonic_pc]}_{self.mode}"

    @property
    def scale_pcs(self) -> frozenset[int]:
        """Pitch classes of the (natural) scale."""
        return frozenset((self.tonic_pc + s) % 12 for s in _SCALE_STEPS[self.mode])

    def transpose(self, semitones: int) -> Key:
        return Key((self.tonic_pc + semitones) % 12, self.mode)

    @classmethod
    def from_token(cls, token: str) -> Key:
        """Inverse of :attr:`token` (also accepts a leading ``Key_``)."""
        return parse_key(token.removeprefix("Key_").replace("_", " "))

    def __str__(self) -> str:
        return self.name


#: All 24 keys, majors first (the ``Key_*`` token vocabulary order).
ALL_KEYS: tuple[Key, ...] = tuple(Key(pc, mode) for mode in MODES for pc in range(12))

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])([#b♯♭-]*)\s*(major|minor|maj|min|m)?\s*$", re.IGNORECASE)


def parse_key(text: str) -> Key:
    """Parse ``"F# minor"``, ``"Bb major"``, ``"Am"``, ``"C"``, ``"e minor"``. A bare lower-case
    tonic (music21 style, ``"e"``) means minor."""
    match = _KEY_RE.match(text.replace("_", " "))
    if not match:
        raise MidiforgeError(f"cannot read key '{text}' (expected e.g. 'C major', 'A minor', 'F#m', 'Bb')")
    letter, accidentals, mode = match.groups()
    pc = _LETTER_PC[letter.upper()]
    for acc in accidentals:
        pc += 1 if acc in "#♯" else -1
    if mode is None:
        mode_name = "minor" if letter.islower() else "major"
    else:
        mode_name = "major" if mode.lower() in ("major", "maj") or mode == "M" else "minor"
    return Key(pc % 12, mode_name)


def _profile_matrix() -> np.ndarray:
    """24 x 12 matrix of z-scored rotated profiles, rows in :data:`ALL_KEYS` order."""
    rows = []
    for key in ALL_KEYS:
        profile = _KK_MAJOR if key.mode == "major" else _KK_MINOR
        rotated = np.roll(profile, key.tonic_pc)
        rows.append((rotated - rotated.mean()) / rotated.std())
    return np.stack(rows)


_PROFILES = _profile_matrix()


def pitch_class_histogram(
    pitches: Sequence[int] | np.ndarray, durations: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Duration-weighted pitch-class histogram (12 floats)."""
    pcs = np.asarray(pitches, dtype=np.int64) % 12
    weights = np.ones(len(pcs)) if durations is None else np.maximum(np.asarray(durations, dtype=float), 0.0)
    return np.bincount(pcs, weights=weights, minlength=12)[:12]


def key_correlations(histogram: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``histogram`` with each of the 24 key profiles (ALL_KEYS order)."""
    hist = np.asarray(histogram, dtype=float)
    std = hist.std()
    if std == 0:
        return np.zeros(len(ALL_KEYS))
    z = (hist - hist.mean()) / std
    return _PROFILES @ z / 12.0


def estimate_key(
    pitches: Sequence[int] | np.ndarray, durations: Sequence[float] | np.ndarray | None = None
) -> Key:
    """Most likely key of some notes (Krumhansl-Kessler). Empty input gives C major."""
    if len(pitches) == 0:
        return ALL_KEYS[0]
    return ALL_KEYS[int(np.argmax(key_correlations(pitch_class_histogram(pitches, durations))))]


#: Sharps (positive) or flats (negative) of each major key's signature, by tonic pitch class.
_MAJOR_SHARPS = (0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5)


def key_signature(key: Key) -> tuple[int, int]:
    """(sharps or -flats, 0 major / 1 minor): a MIDI key-signature event, so DAWs show the key."""
    major_pc = key.tonic_pc if key.mode == "major" else (key.tonic_pc + 3) % 12
    return _MAJOR_SHARPS[major_pc], int(key.mode == "minor")


def key_from_signature(sharps: int, minor: int) -> Key:
    """The inverse of :func:`key_signature`."""
    if sharps not in _MAJOR_SHARPS:  # 7 sharps (C#) and 6 or 7 flats (Gb, Cb) spell keys of the table
        sharps += -12 if sharps > 0 else 12
    major_pc = _MAJOR_SHARPS.index(sharps)
    return Key(major_pc, "major") if not minor else Key((major_pc + 9) % 12, "minor")
