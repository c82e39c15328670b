"""Chords: parse chord symbols and progressions, recognise chords from notes.

midiforge conditions its models on one chord per bar (``Chord_<root>_<quality>`` tokens), so every
chord is reduced to one of eight qualities. Symbols are parsed with ``music21.harmony`` (so the
usual jazz/pop spellings work) and then normalised to the nearest supported quality; notes are
recognised by template matching on a duration-weighted pitch-class histogram.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from midiforge.errors import MidiforgeError

#: Supported qualities, simplest first (ties in recognition go to the earlier one).
QUALITIES: tuple[str, ...] = ("maj", "min", "dim", "aug", "sus4", "7", "min7", "maj7")

#: Intervals above the root, in chord order.
INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10),
    "min7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11),
}

#: Root names used in tokens (sharps only, so every name is a valid token fragment).
TOKEN_ROOTS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: Root names used in human-readable symbols (the usual pop spelling).
SYMBOL_ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SYMBOL_SUFFIX = {
    "maj": "",
    "min": "m",
    "dim": "dim",
    "aug": "aug",
    "sus4": "sus4",
    "7": "7",
    "min7": "m7",
    "maj7": "maj7",
}

#: Recognition scores below this mean "no chord" (e.g. a single note or a cluster).
MIN_SCORE = 0.25
_BASS_BONUS = 0.05
_MISSING_WEIGHT = 4.0  # how much a (nearly) absent chord tone costs
_PRESENT_FRACTION = 0.5  # a tone below half of its fair share counts as (partly) missing


@dataclass(frozen=True)
class Chord:
    """A chord reduced to a root pitch class (0 = C) and one of :data:`QUALITIES`."""

    root_pc: int
    quality: str

    def __post_init__(self) -> None:
        if self.quality not in INTERVALS:
            raise MidiforgeError(
                f"unknown chord quality '{self.quality}' (use one of: {' '.join(QUALITIES)})"
            )
        if not 0 <= self.root_pc < 12:
            raise MidiforgeError(f"chord root pitch class must be 0..11, got {self.root_pc}")

    @property
    def symbol(self) -> str:
        """Readable symbol such as ``Am``, ``Bb``, ``G7``, ``Cmaj7``."""
        return SYMBOL_ROOTS[self.root_pc] + SYMBOL_SUFFIX[self.quality]

    @property
    def token_name(self) -> str:
        """Name used in ``Chord_<token_name>`` tokens, e.g. ``A_min``, ``C#_maj7``."""
        return f"{TOKEN_ROOTS[self.root_pc]}_{self.quality}"

    @property
    def tones(self) -> tuple[int, ...]:
        """Pitch classes in chord order, root first."""
        return tuple((self.root_pc + i) % 12 for i in INTERVALS[self.quality])

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset(self.tones)

    @property
    def pitches(self) -> tuple[int, ...]:
        """MIDI pitches of the chord in root position, root between C4 (60) and B4 (71)."""
        base = 60 + self.root_pc
        return tuple(base + i for i in INTERVALS[self.quality])

    @classmethod
    def from_token_name(cls, name: str) -> Chord:
        """Inverse of :attr:`token_name` (``"A_min"`` -> ``Chord(9, "min")``)."""
        root, _, quality = name.partition("_")
        if root not in TOKEN_ROOTS or quality not in INTERVALS:
            raise MidiforgeError(f"bad chord token name '{name}' (expected e.g. 'A_min')")
        return cls(TOKEN_ROOTS.index(root), quality)

    def __str__(self) -> str:
        return self.symbol


#: Every chord midiforge can name: 12 roots x 8 qualities (the ``Chord_*`` token vocabulary).
ALL_CHORDS: tuple[Chord, ...] = tuple(Chord(r, q) for q in QUALITIES for r in range(12))


def chord_tones(chord: Chord) -> set[int]:
    """Pitch classes of ``chord`` (for chord-tone masks while sampling)."""
    return set(chord.tones)


class ChordSpan(NamedTuple):
    """One chord in a progression: bar index (0-based), start beat within the bar, length in beats."""

    bar: int
    beat: float
    length: float
    chord: Chord


# ---------------------------------------------------------------- parsing symbols

_ROOT_RE = re.compile(r"^([A-Ga-g])([#b♯♭]*)(.*)$")


def _music21_spelling(symbol: str) -> str:
    """Turn pop spelling (``Bb``, ``Ebm7``, ``C/Bb``) into music21's (``B-``, ``E-m7``, ``C/B-``)."""

    def spell(part: str) -> str:
        match = _ROOT_RE.match(part)
        if not match:
            return part
        letter, accidentals, rest = match.groups()
        accidentals = accidentals.replace("♯", "#").replace("♭", "-").replace("b", "-")
        return letter.upper() + accidentals + rest

    head, slash, bass = symbol.partition("/")
    return spell(head) + (slash + spell(bass) if slash else "")


@lru_cache(maxsize=1024)
def parse_chord(symbol: str) -> Chord:
    """Parse a chord symbol (``Am``, ``Bb``, ``F#m7``, ``C/E``, ``Cm7b5``, ``G9``) to a :class:`Chord`.

    Extended or altered chords are reduced to the supported quality whose template best matches
    the chord's notes (``G9`` -> ``G7``, ``C6`` -> ``C``, ``Cm7b5`` -> ``Cdim``). A slash bass that
    is a chord tone changes nothing (``C/E`` -> ``C``); one outside the chord counts as an added
    note (``C/Bb`` -> ``C7``). Raises :class:`MidiforgeError` for anything music21 cannot read.
    """
    text = symbol.strip()
    if not text:
        raise MidiforgeError("bad chord symbol '': empty")
    try:
        from music21 import harmony  # slow import; only when chords are actually parsed
    except ImportError:  # the light install: midiforge's own reader of the usual spellings
        root_pc, pitch_classes = _builtin_symbol(text)
    else:
        root_pc, pitch_classes = _music21_symbol(harmony, text)
    weights = [0.0] * 12
    for pc in pitch_classes:
        weights[pc] = 1.0
    total = float(sum(weights))
    histogram = [w / total for w in weights]
    best = max(
        QUALITIES,
        key=lambda q: (round(_template_score(histogram, Chord(root_pc, q)), 9), -QUALITIES.index(q)),
    )
    return Chord(root_pc, best)


def _music21_symbol(harmony, text: str) -> tuple[int, list[int]]:
    try:
        parsed = harmony.ChordSymbol(_music21_spelling(text))
        root = parsed.root()
        pitch_classes = [p.pitchClass for p in parsed.pitches]
    except Exception as exc:  # music21 raises ValueError, ChordException, ...
        raise MidiforgeError(f"bad chord symbol '{text}': {exc}") from None
    if root is None or not pitch_classes:
        raise MidiforgeError(f"bad chord symbol '{text}': no root or notes")
    return root.pitchClass, pitch_classes


_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
#: quality marks after the root, longest first: (mark, triad intervals, 7th implied by an extension)
_QUALITY_MARKS = (
    ("maj", (0, 4, 7), 11), ("ma", (0, 4, 7), 11), ("M", (0, 4, 7), 11), ("Δ", (0, 4, 7), 11),
    ("min", (0, 3, 7), 10), ("mi", (0, 3, 7), 10), ("m", (0, 3, 7), 10), ("-", (0, 3, 7), 10),
    ("dim", (0, 3, 6), 9), ("°", (0, 3, 6), 9), ("o", (0, 3, 6), 9), ("ø", (0, 3, 6), 10),
    ("aug", (0, 4, 8), 10), ("+", (0, 4, 8), 10),
)
_EXTENSIONS = {"13": (9, 2, 5), "11": (5, 2), "9": (2,), "7": (), "6": None, "5": None}
_DEGREES = {"2": 2, "4": 5, "5": 7, "6": 9, "9": 2, "11": 5, "13": 9}
_MODIFIER_RE = re.compile(r"sus2|sus4|sus|add(?:2|4|9|11|13)|no3|no5|[b#](?:5|9|11|13)|alt")


def _pc(letter: str, accidentals: str) -> int:
    return (_LETTER_PC[letter.upper()] + accidentals.count("#") + accidentals.count("♯")
            - accidentals.count("b") - accidentals.count("♭")) % 12


def _builtin_symbol(text: str) -> tuple[int, list[int]]:
    """Root and pitch classes of a pop/jazz chord symbol, without music21 (``Am``, ``Bb7``,
    ``F#m7b5``, ``Cmaj9``, ``Dsus4``, ``G7(#9)``, ``C/E``, ``Eø``, ``Adim7``, ``C6``, ``Cadd9``)."""
    head, slash, bass = text.replace("(", "").replace(")", "").replace(",", "").partition("/")
    match, bass_match = _ROOT_RE.match(head), _ROOT_RE.match(bass)
    if not match or (slash and (bass_match is None or bass_match.group(3))):
        raise MidiforgeError(f"bad chord symbol '{text}' (expected e.g. Am, Bb7, F#m7b5, Cmaj7, Dsus4, C/E)")
    letter, accidentals, rest = match.groups()
    root = _pc(letter, accidentals)
    triad, seventh = (0, 4, 7), 10
    for mark, intervals, implied in _QUALITY_MARKS:
        if rest.startswith(mark):
            triad, seventh, rest = intervals, implied, rest[len(mark):]
            if mark in ("ø", "Δ") and not rest[:1].isdigit():  # half-diminished, Δ: sevenths
                rest = "7" + rest
            break
    for mark in ("maj", "M", "Δ"):  # a major seventh after another quality: CmM7, Cm(maj7)
        if rest.startswith(mark) and rest[len(mark):][:1].isdigit():
            seventh, rest = 11, rest[len(mark):]
    tones = set(triad)
    for number in ("13", "11", "9", "7", "6", "5"):
        if rest.startswith(number):
            rest = rest[len(number):]
            if number == "5" and triad == (0, 4, 7):  # a power chord
                tones = {0, 7}
            elif number == "6":
                tones.add(9)
                if rest.startswith("9"):  # 69
                    tones.add(2)
                    rest = rest[1:]
            elif number != "5":
                tones.add(seventh)
                tones.update(_EXTENSIONS[number])
            break
    while rest:
        mod = _MODIFIER_RE.match(rest)
        if not mod:
            raise MidiforgeError(f"bad chord symbol '{text}': cannot read '{rest}'")
        word, rest = mod.group(0), rest[mod.end():]
        if word.startswith("sus"):
            tones -= {3, 4}
            tones.add(2 if word == "sus2" else 5)
        elif word.startswith("add"):
            tones.add(_DEGREES[word[3:]])
        elif word in ("no3", "no5"):
            tones -= {3, 4} if word == "no3" else {7}
        elif word == "alt":
            tones.update({10, 1, 8})
        else:  # an altered degree replaces the plain one
            degree = _DEGREES[word[1:]]
            if degree == 7:
                tones.discard(7)
            tones.discard(degree)
            tones.add((degree + (1 if word[0] == "#" else -1)) % 12)
    pcs = sorted((root + t) % 12 for t in tones)
    if bass_match:
        pcs.append(_pc(bass_match.group(1), bass_match.group(2)))
    return root, pcs


# ---------------------------------------------------------------- progressions

_SPAN_RE = re.compile(r"^(?P<symbol>[^:]+?)(?::(?P<beats>\d+(?:\.\d+)?))?$")


def _parse_item(item: str) -> tuple[Chord, float | None]:
    match = _SPAN_RE.match(item)
    if not match:
        raise MidiforgeError(f"bad chord '{item}' in progression (expected e.g. 'Am' or 'Am:2')")
    beats = match.group("beats")
    length = float(beats) if beats is not None else None
    if length is not None and length <= 0:
        raise MidiforgeError(f"bad chord '{item}' in progression: length must be > 0 beats")
    return parse_chord(match.group("symbol")), length


def _bar_spans(bar: int, items: list[str], beats_per_bar: float) -> list[ChordSpan]:
    """Chords of one ``|``-delimited bar: explicit lengths first, the rest share what is left."""
    parsed = [_parse_item(item) for item in items]
    fixed = sum(length for _, length in parsed if length is not None)
    open_count = sum(1 for _, length in parsed if length is None)
    if fixed > beats_per_bar + 1e-9 or (open_count and fixed >= beats_per_bar - 1e-9):
        raise MidiforgeError(
            f"bar {bar + 1} of the progression ('{' '.join(items)}') does not fit in {beats_per_bar:g} beats"
        )
    share = (beats_per_bar - fixed) / open_count if open_count else 0.0
    spans, beat = [], 0.0
    for chord, length in parsed:
        length = share if length is None else length
        spans.append(ChordSpan(bar, beat, length, chord))
        beat += length
    return spans


def _flowing_spans(items: list[str], beats_per_bar: float) -> list[ChordSpan]:
    """Chords without bar lines: a chord without ``:beats`` lasts one bar; spans split at bar lines."""
    spans: list[ChordSpan] = []
    position = 0.0
    for item in items:
        chord, length = _parse_item(item)
        remaining = beats_per_bar if length is None else length
        while remaining > 1e-9:
            bar, beat = divmod(position, beats_per_bar)
            piece = min(remaining, beats_per_bar - beat)
            spans.append(ChordSpan(int(bar), beat, piece, chord))
            position += piece
            remaining -= piece
    return spans


def parse_progression(text: str, beats_per_bar: float = 4.0) -> list[ChordSpan]:
    """Parse a chord progression.

    * ``"Am F C G"``: one chord per bar.
    * ``"Am:2 F:2 | C G"``: bars separated by ``|``; ``chord:beats`` sets a length, chords without
      one share the rest of their bar equally.

    Commas and newlines count as spaces, so the text of a progression file can be passed as is
    (reading the file is the caller's job).
    """
    if beats_per_bar <= 0:
        raise MidiforgeError(f"beats per bar must be > 0, got {beats_per_bar}")
    cleaned = text.replace(",", " ")
    if "|" in cleaned:
        bars = [bar.split() for bar in cleaned.split("|")]
        bars = [items for items in bars if items]
        spans = [span for index, items in enumerate(bars) for span in _bar_spans(index, items, beats_per_bar)]
    else:
        spans = _flowing_spans(cleaned.split(), beats_per_bar)
    if not spans:
        raise MidiforgeError("empty chord progression (expected e.g. 'Am F C G')")
    return spans


# ---------------------------------------------------------------- recognition


def _template_score(histogram: Sequence[float], chord: Chord) -> float:
    """How well a normalised pitch-class histogram fits ``chord``: weight inside minus weight
    outside, minus a penalty for chord tones that are (nearly) absent, so a short passing tone
    does not turn a triad into a seventh chord."""
    tones = chord.pitch_classes
    inside = sum(histogram[pc] for pc in tones)
    outside = 1.0 - inside
    fair_share = _PRESENT_FRACTION * inside / len(tones)
    missing = sum(max(0.0, fair_share - histogram[pc]) for pc in tones)
    return inside - outside - _MISSING_WEIGHT * missing


def recognize_chord(
    pitches: Sequence[int],
    durations: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
    min_score: float = MIN_SCORE,
) -> Chord | None:
    """The chord that best explains some notes, or ``None`` when nothing fits (empty input,
    a single note, a cluster).

    Each note counts by its duration (default 1) times its weight (e.g. velocity; default 1). The
    lowest note gives a small bonus to chords rooted on it, which settles inversions of
    symmetric chords (``aug``); remaining ties go to the simpler quality.
    """
    if len(pitches) == 0:
        return None
    durations = [1.0] * len(pitches) if durations is None else list(durations)
    weights = [1.0] * len(pitches) if weights is None else list(weights)
    if not len(durations) == len(weights) == len(pitches):
        raise MidiforgeError("recognize_chord: pitches, durations and weights must have the same length")
    histogram = [0.0] * 12
    for pitch, duration, weight in zip(pitches, durations, weights, strict=True):
        histogram[int(pitch) % 12] += max(0.0, float(duration)) * max(0.0, float(weight))
    total = sum(histogram)
    if total <= 0:
        return None
    histogram = [h / total for h in histogram]
    bass_pc = int(min(pitches)) % 12
    best_score, best = float("-inf"), None
    for chord in ALL_CHORDS:  # simplest quality first
        score = _template_score(histogram, chord) + (_BASS_BONUS if chord.root_pc == bass_pc else 0.0)
        if score > best_score + 1e-9:  # strict: earlier (simpler) candidates win ties
            best_score, best = score, chord
    return best if best_score >= min_score else None
