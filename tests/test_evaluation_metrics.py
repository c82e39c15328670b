"""Each metric gives its known value on small hand-made MIDI files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from midiforge.errors import MidiforgeError
from midiforge.evaluation import metrics
from midiforge.evaluation.harmony import chord_tone_ratio, find_melody, harmony_scores, strong_beat_mask
from midiforge.evaluation.pieces import load_piece, resolve_midi_files
from tests.helpers.evaluation_midi import C_MAJOR_SCALE, note_list, write_midi


def piece_of(tmp_path, tracks, **kw):
    return load_piece(write_midi(tmp_path / "x.mid", tracks, **kw))


def test_c_major_scale(tmp_path):
    piece = piece_of(tmp_path, {"Melody": note_list(C_MAJOR_SCALE)})
    notes = piece.merged()
    assert metrics.scale_consistency(notes) == 1.0
    assert metrics.pitch_range(notes) == 12
    assert metrics.used_pitches(notes) == 8
    assert metrics.polyphony(notes) == pytest.approx(1.0)
    assert metrics.polyphony_rate(notes) == 0.0
    assert metrics.average_ioi(notes) == pytest.approx(1.0)
    assert metrics.empty_beat_rate(notes) == 0.0
    # 7 pitch classes (C twice of 8 notes): entropy of (2,1,1,1,1,1,1)/8
    p = np.array([2, 1, 1, 1, 1, 1, 1]) / 8
    assert metrics.pitch_class_entropy(notes) == pytest.approx(-(p * np.log2(p)).sum(), abs=1e-9)


def test_chromatic_line_is_not_in_one_scale(tmp_path):
    notes = piece_of(tmp_path, {"Melody": note_list(range(60, 72))}).merged()
    assert metrics.scale_consistency(notes) == pytest.approx(7 / 12)
    assert metrics.pitch_class_entropy(notes) == pytest.approx(math.log2(12))


def test_single_repeated_pitch(tmp_path):
    notes = piece_of(tmp_path, {"Melody": note_list([67] * 6, step=0.5)}).merged()
    assert metrics.pitch_class_entropy(notes) == 0.0
    assert metrics.pitch_range(notes) == 0
    assert metrics.average_ioi(notes) == pytest.approx(0.5)
    hist = metrics.pitch_class_histogram(notes)
    assert hist[7] == 1.0 and hist.sum() == 1.0


def test_four_note_chord_has_polyphony_four(tmp_path):
    chord = [(p, 0.0, 4.0) for p in (48, 52, 55, 60)]
    notes = piece_of(tmp_path, {"Chords": chord}).merged()
    assert metrics.polyphony(notes) == pytest.approx(4.0)
    assert metrics.polyphony_rate(notes) == pytest.approx(1.0)
    assert math.isnan(metrics.average_ioi(notes))  # one onset: no interval


def test_polyphony_is_time_weighted(tmp_path):
    # a two-note dyad for 2 quarters, then one note for 2 quarters: (2*2 + 1*2) / 4
    notes = piece_of(tmp_path, {"P": [(60, 0, 2), (64, 0, 2), (67, 2, 4)]}).merged()
    assert metrics.polyphony(notes) == pytest.approx(1.5)
    assert metrics.polyphony_rate(notes) == pytest.approx(0.5)


def test_empty_beat_rate(tmp_path):
    # sounding in beats 0 and 3 of four; beat 1-2 silent
    notes = piece_of(tmp_path, {"M": [(60, 0, 1), (62, 3, 4)]}).merged()
    assert metrics.empty_beat_rate(notes) == pytest.approx(0.5)
    # a held note covers every beat it spans
    notes = piece_of(tmp_path, {"M": [(60, 0, 3), (62, 5, 6)]}).merged()
    assert metrics.empty_beat_rate(notes) == pytest.approx(2 / 6)


def test_transition_matrix(tmp_path):
    piece = piece_of(tmp_path, {"M": note_list([60, 62, 64, 60])})
    matrix = metrics.pitch_class_transitions(piece.pitched_tracks)
    expected = np.zeros((12, 12))
    expected[0, 2] = expected[2, 4] = expected[4, 0] = 1 / 3
    np.testing.assert_allclose(matrix, expected)


def test_note_length_histogram(tmp_path):
    notes = piece_of(
        tmp_path, {"M": [(60, 0, 1), (62, 1, 1.5), (64, 1.5, 2), (65, 2, 4), (67, 4, 5.5)]}
    ).merged()
    hist = dict(
        zip(
            [name for name, _ in metrics.NOTE_LENGTH_CLASSES],
            metrics.note_length_histogram(notes),
            strict=True,
        )
    )
    assert hist["quarter"] == pytest.approx(0.2)
    assert hist["8th"] == pytest.approx(0.4)
    assert hist["half"] == pytest.approx(0.2)
    assert hist["dotted quarter"] == pytest.approx(0.2)


def test_groove_consistency(tmp_path):
    same = note_list([60, 62, 64, 65] * 3)  # three bars of four quarters
    assert metrics.groove_consistency(*_notes_and_piece(tmp_path, same)) == pytest.approx(1.0)
    # bar 1: quarters (4 onsets); bar 2: eighths (8 onsets) -> 4 of 48 grid steps differ
    changing = note_list([60] * 4) + note_list([62] * 8, step=0.5, start=4.0)
    assert metrics.groove_consistency(*_notes_and_piece(tmp_path, changing)) == pytest.approx(1 - 4 / 48)


def test_groove_follows_the_time_signature(tmp_path):
    waltz = note_list([60, 64, 67] * 2)  # 3/4: two identical bars
    notes, piece = _notes_and_piece(tmp_path, waltz, meter=(3, 4))
    assert metrics.groove_consistency(notes, piece) == pytest.approx(1.0)


def _notes_and_piece(tmp_path, notes, **kw):
    piece = piece_of(tmp_path, {"M": notes}, **kw)
    return piece.merged(True), piece


def test_drums_count_for_rhythm_but_not_for_pitch(tmp_path):
    piece = piece_of(tmp_path, {"M": [(60, 0, 1)], "Drums": [(36, 1, 2), (38, 2, 3)]})
    features = metrics.piece_features(piece)
    assert features["pitch_range"] == 0
    assert features["average_ioi"] == pytest.approx(1.0)
    assert features["empty_beat_rate"] == 0.0


def test_chord_tones_on_strong_beats(tmp_path):
    # C major chord for one bar then G major; melody E (tone) on 1, F# (not a tone) on 3, D (tone of G) on bar 2
    chords = [(p, 0, 4) for p in (48, 52, 55)] + [(p, 4, 8) for p in (43, 47, 50)]
    melody = [(76, 0, 1), (77, 1, 2), (78, 2, 4), (74, 4, 8)]
    piece = piece_of(tmp_path, {"Chords": chords, "Melody": melody})
    assert find_melody(piece).name == "Melody"
    assert strong_beat_mask(np.array([0.0, 1.0, 2.0, 4.0, 6.0, 3.0]), piece.meter).tolist() == [
        True,
        False,
        True,
        True,
        True,
        False,
    ]
    harmony = piece.tracks[0]
    assert chord_tone_ratio(find_melody(piece), harmony, piece.meter) == pytest.approx(2 / 3)
    scores = harmony_scores(piece)
    assert scores.multitrack and scores.chord_tone_ratio == pytest.approx(2 / 3)
    assert scores.in_key_ratio == pytest.approx(3 / 4)  # F and F# cannot both be in one key


def test_melody_is_highest_track_when_unnamed(tmp_path):
    piece = piece_of(tmp_path, {"A": [(40, 0, 4)], "B": [(72, 0, 4)], "C": [(55, 0, 4)]})
    assert find_melody(piece).name == "B"
    assert not harmony_scores(piece_of(tmp_path, {"Solo": note_list(C_MAJOR_SCALE)})).multitrack


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(MidiforgeError, match="no such MIDI file"):
        load_piece(tmp_path / "missing.mid")
    corrupt = tmp_path / "bad.mid"
    corrupt.write_bytes(b"MThd garbage")
    with pytest.raises(MidiforgeError, match="not a readable MIDI file"):
        load_piece(corrupt)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MidiforgeError, match="no .mid/.midi files"):
        resolve_midi_files(tmp_path / "empty")
    with pytest.raises(MidiforgeError, match="neither a MIDI file, a folder nor a corpus"):
        resolve_midi_files("no-such-corpus-or-folder")
