"""Originality catches copied (even transposed) passages and leaves fresh material alone."""

from __future__ import annotations

import random
import time

import numpy as np

from midiforge.evaluation.originality import ReferenceIndex, note_tokens, originality
from midiforge.evaluation.pieces import load_piece, make_track
from tests.helpers.evaluation_midi import note_list, write_midi


def random_line(rng: random.Random, n: int) -> list[tuple[int, float, float]]:
    pitches = [rng.randint(55, 80) for _ in range(n)]
    steps = [rng.choice([0.5, 1.0, 1.5]) for _ in range(n)]
    onsets = np.cumsum([0.0] + steps[:-1])
    return [(p, float(o), float(o + s)) for p, o, s in zip(pitches, onsets, steps, strict=True)]


def test_tokens_are_transposition_invariant():
    a = make_track("a", 0, False, [0, 1, 2], [1, 1, 1], [60, 64, 67])
    b = make_track("b", 0, False, [8, 9, 10], [1, 1, 1], [65, 69, 72])
    assert note_tokens(a).tolist() == note_tokens(b).tolist()
    assert len(note_tokens(a)) == 2


def test_copied_and_transposed_passage_is_found(tmp_path):
    rng = random.Random(0)
    source = random_line(rng, 40)
    write_midi(tmp_path / "ref" / "a.mid", {"Melody": source})
    write_midi(tmp_path / "ref" / "b.mid", {"Melody": random_line(rng, 40)})
    # 20 notes of a.mid (notes 10..29), transposed up a fourth, between fresh material
    copied = [(p + 5, o - source[10][1] + 20.0, e - source[10][1] + 20.0) for p, o, e in source[10:30]]
    fresh = random_line(random.Random(99), 10)
    after = [(p, o + 60.0, e + 60.0) for p, o, e in random_line(random.Random(98), 10)]
    write_midi(tmp_path / "gen" / "copy.mid", {"Melody": fresh + copied + after})
    write_midi(tmp_path / "gen" / "new.mid", {"Melody": random_line(random.Random(7), 40)})

    reference = [load_piece(tmp_path / "ref" / n) for n in ("a.mid", "b.mid")]
    generated = [load_piece(tmp_path / "gen" / n) for n in ("copy.mid", "new.mid")]
    report = originality(generated, reference, ngram_notes=8, copy_threshold_notes=16)
    copy, new = report.files
    assert copy.longest_copied_notes == 20
    assert copy.longest_copied_from == "a.mid#Melody"
    assert copy.ngram_overlap == (20 - 7) / (40 - 7)  # 13 of the file's 33 eight-note windows
    assert new.longest_copied_notes < 8 and new.ngram_overlap == 0.0
    assert [f.path for f in report.copied_files] == [copy.path]
    assert report.max_copied_notes == 20


def test_a_file_against_itself_is_all_copied(tmp_path):
    piece = load_piece(write_midi(tmp_path / "x.mid", {"M": note_list([60, 62, 64, 65, 67, 65, 64, 62, 60])}))
    result = originality([piece], [piece], ngram_notes=4).files[0]
    assert result.longest_copied_notes == 9 and result.ngram_overlap == 1.0


def test_matches_do_not_cross_track_boundaries():
    index = ReferenceIndex([np.array([1, 2, 3]), np.array([4, 5, 6])], ["a", "b"])
    assert index.longest_match(np.array([2, 3, 4, 5])).notes == 3  # [2,3] or [4,5], not [2,3,4,5]
    assert index.shared_windows(np.array([3, 4]), 2) == (0, 1)


def test_fast_for_hundreds_of_reference_files():
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, 300, 400) for _ in range(400)]  # 160k reference notes
    index = ReferenceIndex(sequences, [str(i) for i in range(400)])
    queries = [rng.integers(1, 300, 300) for _ in range(50)]
    queries[3][100:160] = sequences[123][10:70]
    start = time.perf_counter()
    matches = [index.longest_match(q) for q in queries]
    elapsed = time.perf_counter() - start
    assert matches[3].notes == 61 and matches[3].source == "123"
    assert elapsed < 10
