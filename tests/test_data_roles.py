"""Role heuristics for user files, and the ABC tune splitting used by the folk corpus."""

from __future__ import annotations

import symusic

from midiforge.data.music21_convert import PieceSource, convert_piece, split_abc
from midiforge.data.roles import find_roles, views_for

TPQ = 480


def _track(
    name: str, pitches_per_beat: list[tuple[int, ...]], program: int = 0, is_drum: bool = False
) -> symusic.Track:
    track = symusic.Track(name, program=program, is_drum=is_drum)
    for beat, pitches in enumerate(pitches_per_beat):
        for p in pitches:
            track.notes.append(symusic.Note(beat * TPQ, TPQ, p, 80))
    return track


def _score(*tracks: symusic.Track) -> symusic.Score:
    score = symusic.Score(TPQ)
    score.tracks.extend(tracks)
    return score


def test_four_unnamed_voices_are_split_like_a_chorale() -> None:
    score = _score(
        _track("v1", [(72,), (74,), (76,), (72,)]),
        _track("v2", [(67,), (67,), (69,), (67,)]),
        _track("v3", [(64,), (62,), (60,), (64,)]),
        _track("v4", [(48,), (43,), (45,), (48,)]),
    )
    roles = find_roles(score)
    assert roles == {"bass": [3], "melody": [0], "chords": [1, 2, 3]}
    assert views_for(roles) == ["full", "melody", "chords", "bass"]


def test_band_with_bass_program_piano_and_drums() -> None:
    score = _score(
        _track("Piano", [(60, 64, 67), (60, 64, 67), (57, 60, 64), (57, 60, 64)]),
        _track("Fingered bass", [(52,), (55,), (57,), (52,)], program=33),  # not the lowest mean pitch
        _track("Kit", [(36,), (38,), (36,), (38,)], is_drum=True),
        _track("Sax", [(72,), (74,), (76,), (77,)], program=65),
    )
    roles = find_roles(score)
    assert roles == {"drums": [2], "bass": [1], "melody": [3], "chords": [0]}
    assert views_for(roles) == ["full", "melody", "chords", "bass", "drums"]


def test_single_tracks() -> None:
    assert find_roles(_score(_track("Piano", [(60, 64, 67), (62, 65, 69)]))) == {"chords": [0]}
    assert find_roles(_score(_track("Flute", [(72,), (74,)]))) == {"melody": [0]}
    assert find_roles(_score(_track("Cello", [(40,), (43,)]))) == {"bass": [0]}
    assert views_for({"melody": [0]}) == ["melody"]


def test_corpus_names_override_heuristics() -> None:
    score = _score(_track("Soprano", [(72,)]), _track("Bass", [(48,)]))
    assert find_roles(score, {"soprano": "melody", "bass": "bass+chords"}) == {
        "melody": [0],
        "bass": [1],
        "chords": [1],
    }


ABC_BOOK = """%abc book header
M:4/4

X:1
T:First
L:1/8
K:G
D|G2B2 d2B2|c2A2 F2D2|G4 G3|]

X:7
T:Second
M:3/4
L:1/4
K:Am
A B c|e2 d|c B A|]
"""


def test_abc_book_split_and_converted(tmp_path) -> None:
    tunes = split_abc(ABC_BOOK)
    assert [n for n, _ in tunes] == ["1", "7"]
    assert all(text.startswith("%abc book header") for _, text in tunes)
    out, error = convert_piece(PieceSource(out=tmp_path / "second.mid", abc=tunes[1][1], default_tempo=100.0))
    assert error is None
    score = symusic.Score(str(out))
    assert [n.pitch for n in score.tracks[0].notes][:3] == [69, 71, 72]
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    assert score.tempos[0].qpm == 100.0
    first_out, error = convert_piece(PieceSource(out=tmp_path / "first.mid", abc=tunes[0][1]))
    assert error is None
    first = symusic.Score(str(first_out))
    # the eighth-note pickup D is shifted to the last eighth of bar 0 (bar lines stay in place)
    assert first.tracks[0].notes[0].time == 4 * TPQ - TPQ // 2 and first.tracks[0].notes[1].time == 4 * TPQ
