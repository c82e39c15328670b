"""The song judge on hand-made files whose figures are known."""

from __future__ import annotations

import symusic

from midiforge.evaluation.judge import at_velocity_levels, judge_file, judge_folder, judge_score, summarize
from midiforge.music.chords import parse_chord

TPQ = 480
BAR = 4 * TPQ


def _song(chords: list[str], chord_pitches: list[list[int]], bass: list[int], melody: list[list[int]] | None = None,
          markers: bool = True, velocity=None, meter=(4, 4), drums: bool = False) -> symusic.Score:
    score = symusic.Score(TPQ)
    score.time_signatures.append(symusic.TimeSignature(0, *meter))
    bar = TPQ * 4 * meter[0] // meter[1]
    tracks = {name: symusic.Track(name) for name in ("Melody", "Chords", "Bass")}
    for b, (pitches, root) in enumerate(zip(chord_pitches, bass, strict=True)):
        for beat in range(0, bar, TPQ):
            for p in pitches:
                v = velocity(b, beat) if velocity else 80
                tracks["Chords"].notes.append(symusic.Note(b * bar + beat, TPQ, p, v))
        tracks["Bass"].notes.append(symusic.Note(b * bar, bar, root, 90))
        for i, p in enumerate((melody or [[72, 74, 76, 77]] * len(bass))[b]):
            tracks["Melody"].notes.append(symusic.Note(b * bar + i * TPQ, TPQ, p, 80 + (10 if i == 0 else 0)))
    score.tracks.extend(tracks.values())
    if drums:
        kit = symusic.Track("Drums", is_drum=True)
        kit.notes.append(symusic.Note(0, TPQ, 36, 100))
        score.tracks.append(kit)
    if markers:
        for b, name in enumerate(chords):
            score.markers.append(symusic.TextMeta(b * bar, name))
    return score


C, F, G, AM = [60, 64, 67], [60, 65, 69], [59, 62, 67], [57, 60, 64]


def test_a_song_that_keeps_everything_scores_full_marks():
    score = _song(["C", "F", "G", "C"], [C, F, G, C], [36, 41, 43, 36])
    fig = judge_score(score, "good.mid", asked=[parse_chord(c) for c in "C F G C".split()])
    assert fig.bars == 4 and fig.chord_bars == 4
    assert fig.chord_plays_chord == 4 and fig.bass_root_downbeat == 4
    assert fig.nc_bars == 0 and fig.sounds_on_beat_1 and fig.ends_on_tonic
    assert fig.silent_beats == 0 and fig.asked_kept == 4
    assert not fig.section_missing_part


def test_wrong_chords_nc_bars_and_wrong_bass_are_counted():
    score = _song(["C", "N.C.", "G", "C"], [F, F, F, F], [38, 38, 38, 38])
    fig = judge_score(score, "bad.mid", asked=[parse_chord("C")])
    assert fig.nc_bars == 1
    assert fig.chord_plays_chord == 0  # F-major triads under C and G markers (the N.C. bar fits nothing)
    assert fig.bass_root_downbeat == 0
    assert fig.asked_kept == 0


def test_chords_are_recognised_when_a_file_has_no_markers():
    score = _song(["C", "F", "G", "C"], [C, F, G, C], [36, 41, 43, 36], markers=False)
    fig = judge_score(score, "real.mid")
    assert fig.chord_plays_chord == 4 and fig.bass_root_downbeat == 4 and fig.ends_on_tonic


def test_silent_beats_missing_parts_and_late_starts():
    score = _song(["C"] * 10, [C] * 10, [36] * 10)
    for track in score.tracks:  # everything starts on beat 3 and the bass stops after bar 2
        kept = [n for n in track.notes if not (track.name == "Bass" and n.time >= 2 * BAR)]
        for n in kept:
            n.time += 2 * TPQ
        track.notes = kept
    fig = judge_score(score, "late.mid", section_bars=8)
    assert not fig.sounds_on_beat_1
    assert fig.silent_beats >= 2
    assert fig.section_missing_part  # bars 9-10 have no bass


def test_velocities_accents_and_melody_repetition():
    score = _song(["C"] * 4, [C] * 4, [36] * 4, melody=[[72, 74], [72, 74], [76, 77], [72, 74]],
                  velocity=lambda b, beat: 100 if beat == 0 else 60 + b)
    fig = judge_score(score, "dyn.mid")
    assert fig.velocities["chords"] == 5  # 100 and 60..63
    assert fig.accent["chords"] > 30
    assert fig.melody_bars == 4 and fig.melody_repeats == 2


def test_velocities_are_counted_at_a_codecs_levels(tmp_path):
    # 60..63 jitter around one level; 100 is another: a 16-level codec hears two velocities, not five
    score = _song(["C"] * 4, [C] * 4, [36] * 4, velocity=lambda b, beat: 100 if beat == 0 else 60 + b)
    levels = [7 + 8 * i for i in range(15)] + [127]
    heard = at_velocity_levels(score, levels)
    chords = next(t for t in heard.tracks if t.name == "Chords")
    assert sorted({n.velocity for n in chords.notes}) == [63, 103]
    assert {n.velocity for n in next(t for t in score.tracks if t.name == "Chords").notes} == {60, 61, 62, 63, 100}
    score.dump_midi(str(tmp_path / "dyn.mid"))
    assert judge_file(tmp_path / "dyn.mid").velocities["chords"] == 5
    assert judge_file(tmp_path / "dyn.mid", velocity_levels=levels).velocities["chords"] == 2


def test_model_drums_are_recognised_by_their_marker(tmp_path):
    plain = _song(["C"], [C], [36], drums=True)
    marked = _song(["C"], [C], [36], drums=True)
    marked.markers.append(symusic.TextMeta(0, "drums:model"))
    plain.dump_midi(str(tmp_path / "a.mid"))
    marked.dump_midi(str(tmp_path / "b.mid"))
    (tmp_path / "notes.txt").write_text("not a song")
    figs, summary = judge_folder(tmp_path)
    assert [f.model_drums for f in figs] == [False, True]
    assert summary["files"] == 2 and summary["songs with drums written by the model %"] == 50.0


def test_summary_of_nothing_is_empty_not_an_error():
    assert summarize([])["files"] == 0


def test_the_files_key_signature_decides_the_tonic():
    from midiforge.music.keys import ALL_KEYS, key_from_signature, key_signature, parse_key

    assert all(key_from_signature(*key_signature(k)) == k for k in ALL_KEYS)
    assert key_from_signature(7, 0) == parse_key("C# major") and key_from_signature(-6, 0) == parse_key("F# major")
    score = _song(["Am", "F", "C", "Am"], [AM, F, C, AM], [45, 41, 36, 45])
    score.key_signatures.append(symusic.KeySignature(0, 0, 1))  # A minor
    assert judge_score(score, "a.mid").ends_on_tonic
    score.key_signatures[0] = symusic.KeySignature(0, 1, 0)  # G major: Am is not its tonic
    assert not judge_score(score, "g.mid").ends_on_tonic


def test_drums_that_swell_with_the_band_are_told_from_drums_that_do_not():
    swell = [50, 60, 70, 80, 90, 100]  # the band's loudness, bar by bar

    def with_drums(drum_velocity) -> symusic.Score:
        score = _song(["C"] * 6, [C] * 6, [36] * 6, velocity=lambda b, beat: swell[b])
        kit = symusic.Track("Drums", is_drum=True)
        for b in range(6):
            for beat in range(4):
                kit.notes.append(symusic.Note(b * BAR + beat * TPQ, TPQ // 2, 36 if beat % 2 == 0 else 38, drum_velocity(b)))
        score.tracks.append(kit)
        return score

    together = judge_score(with_drums(lambda b: swell[b] + 20), "together.mid")
    against = judge_score(with_drums(lambda b: 120 - 10 * b), "against.mid")
    flat = judge_score(with_drums(lambda b: 100), "flat.mid")
    assert together.drums_follow_band > 0.9 and against.drums_follow_band < -0.9
    assert flat.drums_follow_band is None  # drums that never change say nothing about following
    row = "drums follow the band's loudness (per-bar correlation, median)"
    assert summarize([together, against, together])[row] > 0.9 and summarize([flat])[row] is None


def test_the_loudness_range_is_the_bands_loudest_bar_less_its_softest():
    swell = [50, 60, 70, 80, 90, 100]
    shaped = judge_score(_song(["C"] * 6, [C] * 6, [36] * 6, velocity=lambda b, beat: swell[b]), "swell.mid")
    level = judge_score(_song(["C"] * 6, [C] * 6, [36] * 6, velocity=lambda b, beat: 80 + 10 * (beat == 0)), "flat.mid")
    # the chords' 12 notes a bar swell by 50; the bass's one and the melody's four hold
    assert shaped.loudness_range == round(50 * 12 / 17, 1)
    assert level.loudness_range == 0.0  # accents within a bar are not dynamics over the song
    row = "band's loudness range over a song (velocity, median)"
    assert summarize([shaped, level, shaped])[row] == shaped.loudness_range
