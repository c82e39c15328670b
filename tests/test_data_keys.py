"""Keys: parsing, names/tokens, and Krumhansl-Kessler estimation that agrees with music21."""

from __future__ import annotations

import pytest

from midiforge.errors import MidiforgeError
from midiforge.music.keys import ALL_KEYS, Key, estimate_key, parse_key


@pytest.mark.parametrize(
    "text,expected",
    [
        ("C major", Key(0, "major")),
        ("A minor", Key(9, "minor")),
        ("F#m", Key(6, "minor")),
        ("Bb", Key(10, "major")),
        ("e", Key(4, "minor")),
        ("Eb_major", Key(3, "major")),
        ("C#_minor", Key(1, "minor")),
    ],
)
def test_parse_key(text: str, expected: Key) -> None:
    assert parse_key(text) == expected


def test_names_tokens_and_scales() -> None:
    assert len(ALL_KEYS) == 24 and len({k.token for k in ALL_KEYS}) == 24
    key = parse_key("A minor")
    assert key.name == "A minor" and key.token == "A_minor"
    assert key.scale_pcs == parse_key("C major").scale_pcs
    assert Key.from_token("Key_F#_major") == Key(6, "major")
    assert key.transpose(3) == parse_key("C minor")
    with pytest.raises(MidiforgeError):
        parse_key("H dur")


def test_estimate_key_on_scales() -> None:
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    assert estimate_key(d_major, [2, 1, 1, 1, 2, 1, 1, 2]) == parse_key("D major")
    a_minor_triads = [57, 60, 64, 57, 60, 64, 52, 56, 59, 57, 60, 64]
    assert estimate_key(a_minor_triads) == parse_key("A minor")
    assert estimate_key([]) == parse_key("C major")


@pytest.mark.parametrize(
    "chorale", ["bach/bwv269", "bach/bwv347", "bach/bwv153.1", "bach/bwv86.6", "bach/bwv267"]
)
def test_estimate_key_agrees_with_music21(chorale: str) -> None:
    from music21 import corpus

    score = corpus.parse(chorale)
    notes = [(p.midi, float(n.quarterLength)) for n in score.flatten().notes for p in n.pitches]
    ours = estimate_key([p for p, _ in notes], [d for _, d in notes])
    theirs = score.analyze("key.krumhanslkessler")
    assert ours == parse_key(f"{theirs.tonic.name} {theirs.mode}")
