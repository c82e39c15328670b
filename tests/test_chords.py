"""Chord symbols, progressions and chord recognition (midiforge.music.chords)."""

from __future__ import annotations

import pytest

from midiforge.errors import MidiforgeError
from midiforge.music.chords import (
    ALL_CHORDS,
    QUALITIES,
    Chord,
    ChordSpan,
    chord_tones,
    parse_chord,
    parse_progression,
    recognize_chord,
)


@pytest.mark.parametrize(
    ("symbol", "root_pc", "quality", "canonical"),
    [
        ("Am", 9, "min", "Am"),
        ("F", 5, "maj", "F"),
        ("G7", 7, "7", "G7"),
        ("Bdim", 11, "dim", "Bdim"),
        ("Cmaj7", 0, "maj7", "Cmaj7"),
        ("CM7", 0, "maj7", "Cmaj7"),
        ("Dm7", 2, "min7", "Dm7"),
        ("Cmin7", 0, "min7", "Cm7"),
        ("Esus4", 4, "sus4", "Esus4"),
        ("Csus", 0, "sus4", "Csus4"),
        ("Caug", 0, "aug", "Caug"),
        ("C+", 0, "aug", "Caug"),
        ("Bb", 10, "maj", "Bb"),
        ("Ebm7", 3, "min7", "Ebm7"),
        ("Db7", 1, "7", "C#7"),  # 'b' after the root is a flat, not a chord kind
        ("Abaug", 8, "aug", "Abaug"),
        ("F#m", 6, "min", "F#m"),
        ("C#dim", 1, "dim", "C#dim"),
        ("A-", 8, "maj", "Ab"),  # music21's own flat spelling also works
        ("C/E", 0, "maj", "C"),
        ("Cmaj7/G", 0, "maj7", "Cmaj7"),
        ("G9", 7, "7", "G7"),  # extensions reduce to the nearest supported quality
        ("C6", 0, "maj", "C"),
        ("Cm7b5", 0, "dim", "Cdim"),
        ("C5", 0, "maj", "C"),
    ],
)
def test_parse_chord_symbols(symbol: str, root_pc: int, quality: str, canonical: str) -> None:
    chord = parse_chord(symbol)
    assert chord == Chord(root_pc, quality)
    assert chord.symbol == canonical
    assert parse_chord(chord.symbol) == chord


@pytest.mark.parametrize("bad", ["Xq", "H7", "Cfoo", "", "   ", "C/X", "N.C."])
def test_bad_chord_symbol_is_one_clear_error(bad: str) -> None:
    with pytest.raises(MidiforgeError, match=r"^bad chord symbol '"):
        parse_chord(bad)


def test_bad_symbol_message_names_the_symbol() -> None:
    with pytest.raises(MidiforgeError, match=r"bad chord symbol 'Xq': "):
        parse_chord("Xq")


def test_chord_properties_and_token_names() -> None:
    am = Chord(9, "min")
    assert am.pitch_classes == frozenset({9, 0, 4})
    assert am.tones == (9, 0, 4)
    assert chord_tones(am) == {9, 0, 4}
    assert am.token_name == "A_min"
    assert Chord(1, "maj7").token_name == "C#_maj7"
    assert Chord(10, "7").token_name == "A#_7"
    assert {c.token_name for c in ALL_CHORDS} == {
        f"{r}_{q}"
        for r in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
        for q in QUALITIES
    }
    for chord in ALL_CHORDS:
        assert Chord.from_token_name(chord.token_name) == chord
    assert len(ALL_CHORDS) == 96
    with pytest.raises(MidiforgeError):
        Chord(0, "min9")
    with pytest.raises(MidiforgeError):
        Chord.from_token_name("H_min")


def test_progression_one_chord_per_bar() -> None:
    spans = parse_progression("Am F C G")
    assert spans == [
        ChordSpan(0, 0.0, 4.0, parse_chord("Am")),
        ChordSpan(1, 0.0, 4.0, parse_chord("F")),
        ChordSpan(2, 0.0, 4.0, parse_chord("C")),
        ChordSpan(3, 0.0, 4.0, parse_chord("G")),
    ]
    bar, beat, length, chord = spans[0]  # plain tuple unpacking works too
    assert (bar, beat, length, chord.symbol) == (0, 0.0, 4.0, "Am")


def _rows(text: str) -> list[tuple[int, float, float, str]]:
    return [(s.bar, s.beat, s.length, s.chord.symbol) for s in parse_progression(text)]


def test_progression_with_bars_and_beats() -> None:
    assert _rows("Am:2 F:2 | C G") == [
        (0, 0.0, 2.0, "Am"),
        (0, 2.0, 2.0, "F"),
        (1, 0.0, 2.0, "C"),
        (1, 2.0, 2.0, "G"),
    ]
    assert _rows("C | G D | Em:1 C")[-2:] == [
        (2, 0.0, 1.0, "Em"),
        (2, 1.0, 3.0, "C"),
    ]


def test_progression_in_three_four_and_file_text() -> None:
    waltz = parse_progression("C | G7 | C", beats_per_bar=3)
    assert [s.length for s in waltz] == [3.0, 3.0, 3.0]
    file_text = "Am, F\nC G\n"  # what a progression file holds
    assert [s.chord.symbol for s in parse_progression(file_text)] == ["Am", "F", "C", "G"]


def test_progression_without_bar_lines_splits_long_chords_at_bar_lines() -> None:
    assert _rows("C:6 G:2 F") == [
        (0, 0.0, 4.0, "C"),
        (1, 0.0, 2.0, "C"),
        (1, 2.0, 2.0, "G"),
        (2, 0.0, 4.0, "F"),
    ]


@pytest.mark.parametrize("bad", ["", " | ", "C:3 G:3 | F", "Am Xq", "Am:0", "C:2 G:2 D |"])
def test_bad_progressions(bad: str) -> None:
    with pytest.raises(MidiforgeError):
        parse_progression(bad)


def _voicing(chord: Chord, inversion: int, octave_shift: int) -> list[int]:
    """The chord's pitches in an inversion, moved by whole octaves."""
    pitches = list(chord.pitches)
    for _ in range(inversion):
        pitches.append(pitches.pop(0) + 12)
    return [p + 12 * octave_shift for p in pitches]


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize("root_pc", [0, 2, 7, 10])
def test_recognition_in_inversions_octaves_with_passing_tones(quality: str, root_pc: int) -> None:
    chord = Chord(root_pc, quality)
    for inversion in range(len(chord.tones)):
        for octave_shift in (-2, 0, 1):
            held = _voicing(chord, inversion, octave_shift)
            # a bass doubling and a melody line with short non-chord passing tones
            scale_steps = [
                p for p in (root_pc + 2, root_pc + 5, root_pc + 9) if p % 12 not in chord.pitch_classes
            ]
            top = max(held)
            passing = [top + 1 + (p - top - 1) % 12 for p in scale_steps]  # melody above the chord
            pitches = held + [held[0] - 12] + passing
            durations = [4.0] * len(held) + [4.0] + [0.5] * len(passing)
            found = recognize_chord(pitches, durations)
            assert found is not None
            if quality == "aug":  # symmetric: any root spelling of the same notes is right
                assert found.quality == "aug" and found.pitch_classes == chord.pitch_classes
                assert found.root_pc == held[0] % 12  # the bass decides the name
            else:
                assert found == chord, (pitches, durations, found)


def test_recognize_round_trips_every_root_and_quality() -> None:
    for chord in ALL_CHORDS:
        assert recognize_chord(parse_chord(chord.symbol).pitches) == chord
        assert recognize_chord(list(chord.pitches)) == parse_chord(chord.symbol)


def test_recognition_weights_and_durations_matter() -> None:
    c_major_with_b = [60, 64, 67, 71]
    assert recognize_chord(c_major_with_b, [4, 4, 4, 0.5]) == Chord(0, "maj")  # short B: passing
    assert recognize_chord(c_major_with_b, [4, 4, 4, 4]) == Chord(0, "maj7")  # held B: a seventh
    assert recognize_chord(c_major_with_b, None, [100, 100, 100, 10]) == Chord(0, "maj")
    with pytest.raises(MidiforgeError):
        recognize_chord([60, 64], [1.0])


def test_no_chord_for_empty_single_notes_and_clusters() -> None:
    assert recognize_chord([]) is None
    assert recognize_chord([60]) is None
    assert recognize_chord([60, 72, 48]) is None
    assert recognize_chord([60, 61, 62, 63]) is None
    assert recognize_chord([60, 64, 67], [0, 0, 0]) is None
    assert recognize_chord([60, 67]) == Chord(0, "maj")  # a power chord reads as major
