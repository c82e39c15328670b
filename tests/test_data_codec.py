"""Codec: MIDI -> tokens -> MIDI keeps every note on the grid; control tokens, transposition,
infilling examples and persistence behave."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from midiforge.data import bars as barlib
from midiforge.data.codec import Codec
from midiforge.data.encoding import encode_piece
from midiforge.data.examples import segment
from midiforge.data.roles import find_roles, views_for
from midiforge.music.keys import parse_key

TPQ = 480
STEP = TPQ // 4  # 16th-note grid


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def _song(numerator: int = 3, jitter: bool = True) -> symusic.Score:
    """Melody, chords and bass in F major; onsets slightly off the grid when ``jitter``."""
    rng = np.random.default_rng(1)
    score = symusic.Score(TPQ)
    score.time_signatures.append(symusic.TimeSignature(0, numerator, 4))
    score.tempos.append(symusic.Tempo(0, 100))
    bar = numerator * TPQ
    melody = symusic.Track("Lead", program=73)
    chords = symusic.Track("Piano", program=0)
    bass = symusic.Track("Bass", program=33)
    scale = [65, 67, 69, 70, 72, 74, 76, 77]
    for b in range(8):
        for beat in range(numerator):
            for half in range(2):
                t = b * bar + beat * TPQ + half * 2 * STEP
                off = int(rng.integers(-25, 26)) if jitter else 0
                melody.notes.append(
                    symusic.Note(max(0, t + off), 2 * STEP, int(scale[(b + beat * 2 + half) % 8]), 90)
                )
        for p in (53, 57, 60) if b % 2 == 0 else (58, 62, 65):
            chords.notes.append(symusic.Note(b * bar, bar, p, 70))
        bass.notes.append(
            symusic.Note(b * bar + int(rng.integers(-20, 21)) * jitter, TPQ, 41 if b % 2 == 0 else 46, 90)
        )
    score.tracks.extend([melody, chords, bass])
    return score


def _notes(track: symusic.Track, tpq: int) -> list[tuple[int, int]]:
    step = tpq // 4
    return sorted((round(n.time / step), n.pitch) for n in track.notes)


@pytest.mark.parametrize("numerator", [3, 4])
def test_round_trip_keeps_pitch_and_quantized_onset(codec: Codec, numerator: int) -> None:
    score = _song(numerator)
    roles = find_roles(score)
    assert roles == {"bass": [2], "melody": [0], "chords": [1]}
    ids = codec.encode(score, roles, "full")
    decoded = codec.decode(ids)
    assert decoded.ticks_per_quarter == TPQ
    assert decoded.time_signatures[0].numerator == numerator
    by_name = {t.name: t for t in decoded.tracks}
    for role, index in (("melody", 0), ("chords", 1), ("bass", 2)):
        original = _notes(score.tracks[index], TPQ)
        assert _notes(by_name[role], TPQ) == original
        # decoded onsets lie exactly on the 16th grid
        assert all(n.time % STEP == 0 for n in by_name[role].notes)
    assert decoded.tempos[0].qpm == pytest.approx(110.0)  # Tempo_mid's representative bpm


def test_sequence_layout_and_controls(codec: Codec) -> None:
    score = _song(3)
    piece = encode_piece(codec, score, find_roles(score), views_for(find_roles(score)))
    assert list(piece.views) == ["full", "melody", "chords", "bass"]
    assert piece.key == parse_key("F major")
    tokens = codec.tokens(piece.views["full"])
    assert tokens[:5] == ["BOS_None", "Role_full", "Key_F_major", "Tempo_mid", "Meter_3_4"]
    assert tokens[-1] == "EOS_None"
    bar_at = [i for i, t in enumerate(tokens) if t == "Bar_None"]
    assert len(bar_at) == 8
    assert all(tokens[i + 1].startswith("Chord_") for i in bar_at)
    assert tokens[bar_at[0] + 1] == "Chord_F_maj" and tokens[bar_at[1] + 1] == "Chord_A#_maj"
    assert all(tokens[i + 2] == "TimeSig_3/4" for i in bar_at)
    melody_programs = {t for t in codec.tokens(piece.views["melody"]) if t.startswith("Program_")}
    assert melody_programs == {"Program_73"}
    # a 3-track piece stays compact: ~4.5 tokens per note (program, pitch, velocity, duration + positions)
    assert len(piece.views["full"]) < 5.2 * piece.notes
    assert tokens[5] == "Groove_none" and tokens[6].startswith("Density_")  # no groove marker: unknown groove


def test_chorale_round_trip_from_music21(codec: Codec, tmp_path) -> None:
    from midiforge.data.music21_convert import PieceSource, convert_piece

    out, error = convert_piece(
        PieceSource(
            out=tmp_path / "bwv269.mid", path="bach/bwv269", parts=("soprano", "alto", "tenor", "bass")
        )
    )
    assert error is None
    score = symusic.Score(str(out))
    roles = find_roles(
        score, {"soprano": "melody", "alto": "chords", "tenor": "chords", "bass": "bass+chords"}
    )
    assert roles == {"melody": [0], "chords": [1, 2, 3], "bass": [3]}
    decoded = codec.decode(codec.encode(score, roles, "full"))
    by_name = {t.name: t for t in decoded.tracks}
    assert _notes(by_name["melody"], TPQ) == _notes(score.tracks[0], TPQ)
    assert _notes(by_name["bass"], TPQ) == _notes(score.tracks[3], TPQ)
    # voices in unison become one note of the merged chords track
    inner = sorted(
        set(_notes(score.tracks[1], TPQ) + _notes(score.tracks[2], TPQ) + _notes(score.tracks[3], TPQ))
    )
    assert _notes(by_name["chords"], TPQ) == inner
    # the pickup was shifted so the first note sits on beat 3 of a 3/4 bar
    assert score.tracks[0].notes[0].time == 2 * TPQ


def test_transposition_moves_pitches_key_and_chords(codec: Codec) -> None:
    score = _song(4, jitter=False)
    ids = codec.encode(score, find_roles(score), "full")
    up = codec.transpose_ids(ids, 2)
    tokens = codec.tokens(up)
    assert tokens[2] == "Key_G_major"
    assert "Chord_G_maj" in tokens and "Chord_C_maj" in tokens
    original = codec.decode(ids)
    moved = codec.decode(up)
    for a, b in zip(original.tracks, moved.tracks, strict=True):
        assert [n.pitch + 2 for n in a.notes] == [n.pitch for n in b.notes]
    assert codec.transpose_ids(ids, 40) is None  # leaves the piano range


def test_segments_start_at_bars_with_prefix(codec: Codec) -> None:
    score = _song(4)
    ids = codec.encode(score, find_roles(score), "full")
    segs = segment(codec, ids, 96)
    assert len(segs) > 2
    assert all(len(s) <= 96 for s in segs)
    n = ids.index(codec.bar_id)  # the conditioning prefix (7 tokens with groove and density)
    for s in segs:
        assert s[:n] == ids[:n] and s[n] == codec.bar_id
    assert segs[-1][-1] == codec.eos_id and all(s[-1] != codec.eos_id for s in segs[:-1])
    # the bodies put together are the whole piece again
    body = [t for s in segs for t in s[n:] if t != codec.eos_id]
    assert body == [t for t in ids[n:] if t != codec.eos_id]


@pytest.mark.parametrize("target", ["melody", "bass", "full"])
def test_infill_example_round_trips(codec: Codec, target: str) -> None:
    score = _song(4, jitter=False)
    ids = codec.encode(score, find_roles(score), "full")
    example = codec.build_infill_example(ids, (2, 4), target)
    tokens = codec.tokens(example)
    assert tokens.count("Infill_Gap") == 1 and tokens[-1] == "Infill_End"
    start = tokens.index("Infill_Start")
    assert tokens[start + 1] == f"Role_{target}"
    answer = example[start + 2 : -1]
    _, answer_bars, _ = barlib.partition_bars(codec, answer)
    assert len(answer_bars) == 2
    if target != "full":
        programs = {t for t in codec.tokens(answer) if t.startswith("Program_")}
        assert programs == {f"Program_{ {'melody': 73, 'bass': 32}[target] }"}
    prompt = codec.build_infill_example(ids, (2, 4), target, with_answer=False)
    assert prompt == example[: start + 2]
    # merging the answer back gives the same music as the original sequence
    merged = codec.decode(example)
    original = codec.decode(ids)
    for a, b in zip(
        sorted(original.tracks, key=lambda t: t.name),
        sorted(merged.tracks, key=lambda t: t.name),
        strict=True,
    ):
        assert _notes(a, TPQ) == _notes(b, TPQ)


def test_codec_save_load_and_prefix(codec: Codec, tmp_path) -> None:
    path = codec.save(tmp_path / "codec.json")
    loaded = Codec.load(path)
    assert loaded.vocab == codec.vocab and loaded.fingerprint() == codec.fingerprint()
    prefix = loaded.prefix_ids("melody", parse_key("A minor"), 140, (6, 8), "sixeight", "busy")
    assert loaded.tokens(prefix) == ["BOS_None", "Role_melody", "Key_A_minor", "Tempo_fast", "Meter_6_8",
                                     "Groove_sixeight", "Density_busy"]
    assert all(loaded.is_control(i) for i in prefix[1:])
    assert loaded.type_of[loaded.id("Pitch_60")] == "Pitch" and loaded.value_of[loaded.id("Pitch_60")] == 60
    assert (
        loaded.value_of[loaded.id("Duration_1.0.4")] == 4
        and loaded.value_of[loaded.id("Duration_4.1.2")] == 18
    )
    assert loaded.type_of[loaded.id("Chord_N")] == "Chord" and loaded.type_of[prefix[0]] == "Special"
