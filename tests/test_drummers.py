"""The built-in groove drummer (plugins/drummers.py): it follows the model's parts bar by bar."""

from __future__ import annotations

import random

import pytest
import symusic

from midiforge.errors import MidiforgeError
from midiforge.generation.drums import SongLayout, find_drummer
from midiforge.registry import registry

TPQ = 480
KICK, SNARE, CLOSED_HAT, RIDE, CRASH = 36, 38, 42, 51, 49
TOMS = {50, 47, 45, 43}
PARTS = {"melody": ("Melody", 73, 72), "chords": ("Chords", 0, 60), "bass": ("Bass", 32, 36)}


def make_score(tpq: int = TPQ, velocity: int = 80, **parts: list[int]) -> symusic.Score:
    """A score with one track per named part (melody, chords, bass): a note at each onset tick."""
    score = symusic.Score(tpq)
    for role, onsets in parts.items():
        name, program, pitch = PARTS[role]
        track = symusic.Track(name=name, program=program)
        track.notes.extend(symusic.Note(t, tpq // 2, pitch, velocity) for t in onsets)
        score.tracks.append(track)
    return score


def layout(
    form: str = "AB", bars: int = 2, meter: tuple[int, int] = (4, 4), seed: int | None = 1
) -> SongLayout:
    return SongLayout(form, bars, meter, 120.0, TPQ, seed)


def drums(score: symusic.Score, lay: SongLayout) -> list[tuple[int, int, int, int]]:
    return [
        (n.time, n.pitch, n.velocity, n.duration) for n in find_drummer("groove").drum_track(score, lay).notes
    ]


def bar_notes(
    notes: list[tuple[int, int, int, int]], lay: SongLayout, bar: int
) -> list[tuple[int, int, int]]:
    """``(offset in bar, pitch, velocity)`` of one bar's drums."""
    start = bar * lay.bar_ticks
    return [(t - start, p, v) for t, p, v, _ in notes if start <= t < start + lay.bar_ticks]


def every(step: int, lay: SongLayout) -> list[int]:
    """Onsets every ``step`` ticks over the whole song."""
    return list(range(0, lay.n_bars * lay.bar_ticks, step))


def test_groove_is_registered_and_is_the_default():
    assert "groove" in registry().names("drummer")
    assert find_drummer(None).name == "groove"
    with pytest.raises(MidiforgeError, match=r"unknown drummer 'nope' \(available: .*groove") as err:
        find_drummer("nope")
    assert "\n" not in str(err.value)


def test_a_channel_10_track_of_gm_drums_inside_the_song():
    lay = layout()
    score = make_score(melody=every(240, lay), bass=every(480, lay) + [lay.n_bars * lay.bar_ticks + 10])
    track = find_drummer("groove").drum_track(score, lay)
    assert (track.name, track.program, track.is_drum) == ("Drums", 0, True)
    assert track.notes
    end = lay.n_bars * lay.bar_ticks
    assert all(35 <= n.pitch <= 81 and n.duration > 0 and 0 <= n.time and n.end <= end for n in track.notes)
    assert all(1 <= n.velocity <= 127 for n in track.notes)


def test_the_layout_must_be_in_the_score_ticks():
    with pytest.raises(MidiforgeError, match="ticks/quarter"):
        drums(make_score(tpq=96, bass=[0]), layout())


def test_existing_drum_tracks_are_ignored():
    lay = layout()
    score = make_score(melody=every(240, lay), bass=every(960, lay))
    before = drums(score, lay)
    old = symusic.Track(name="Drums", program=0, is_drum=True)
    old.notes.extend(symusic.Note(t, 60, KICK, 100) for t in every(120, lay))
    score.tracks.append(old)
    assert drums(score, lay) == before


def test_kicks_follow_the_bass_on_the_grid_and_always_on_downbeats():
    lay = layout("A", 4)
    bass = [0, 720, 960, 1700, 1920 + 480, 1920 + 1450, 3 * 1920 + 130]  # 1700 -> 1680, 1450 -> 1440
    notes = drums(make_score(melody=every(480, lay), bass=bass), lay)
    kicks = {t for t, p, _, _ in notes if p == KICK}
    downbeats = set(range(0, lay.n_bars * lay.bar_ticks, lay.bar_ticks))
    assert downbeats <= kicks
    assert kicks <= {round(t / 120) * 120 for t in bass} | downbeats
    assert {720, 1920 + 480, 1920 + 1440} <= kicks  # not in the last bar's fill


def test_a_busy_bass_is_thinned_to_the_beats():
    lay = layout("A", 2)
    notes = drums(make_score(bass=every(120, lay)), lay)
    kicks = [t for t, p, _, _ in notes if p == KICK and t < lay.bar_ticks]
    assert kicks == [0, 480, 960, 1440]


@pytest.mark.parametrize(
    ("meter", "letter", "backbeats"),
    [
        ((4, 4), "A", [480, 1440]),
        ((2, 4), "A", [480]),
        ((3, 4), "A", [960]),
        ((3, 4), "B", [480, 960]),
        ((6, 8), "A", [720]),
        ((12, 8), "A", [720, 2160]),
    ],
)
def test_snare_backbeat_follows_the_meter(meter, letter, backbeats):
    lay = layout(letter, 2, meter)
    notes = drums(make_score(bass=every(lay.bar_ticks, lay)), lay)  # no melody: no ghost notes
    assert sorted(t for t, p, _ in bar_notes(notes, lay, 0) if p == SNARE) == backbeats


def test_a_crash_on_each_section_start_and_a_fill_in_each_section_end():
    lay = layout("AABA", 2)
    notes = drums(make_score(melody=every(480, lay), bass=every(960, lay)), lay)
    assert [t for t, p, _, _ in notes if p == CRASH] == [0, 2 * 1920, 4 * 1920, 6 * 1920]
    for bar in range(lay.n_bars):
        toms = [t for t, p, _ in bar_notes(notes, lay, bar) if p in TOMS]
        hats = [t for t, p, _ in bar_notes(notes, lay, bar) if p in (CLOSED_HAT, RIDE)]
        if bar % 2:  # a section's last bar: the last beat is a fill, without hats
            assert toms and min(toms) >= 3 * 480 and max(hats) < 3 * 480
        else:
            assert not toms


def test_b_sections_take_another_colour():
    lay = layout("AB", 2)
    notes = drums(make_score(melody=every(480, lay), bass=every(960, lay)), lay)
    assert {p for _, p, _ in bar_notes(notes, lay, 0)} & {CLOSED_HAT, RIDE} == {CLOSED_HAT}
    assert {p for _, p, _ in bar_notes(notes, lay, 2)} & {CLOSED_HAT, RIDE} == {RIDE}


def test_a_busier_melody_gets_more_hats():
    lay = layout("A", 3)  # bar 1: neither the crash nor the fill

    def hats(step: int) -> list[int]:
        notes = drums(make_score(melody=every(step, lay), bass=every(1920, lay)), lay)
        return [t for t, p, _ in bar_notes(notes, lay, 1) if p == CLOSED_HAT]

    assert hats(480) == list(range(0, 1920, 240))  # quarter notes: 8th hats
    assert hats(240) == list(range(0, 1920, 120))  # 8th notes: 16th hats


def test_dynamics_follow_the_band():
    lay = layout("A", 2)
    parts = {"melody": every(480, lay), "bass": every(960, lay)}
    soft, loud = (drums(make_score(velocity=v, **parts), lay) for v in (40, 120))
    assert sum(v for _, _, v, _ in soft) < sum(v for _, _, v, _ in loud)


def random_song(lay: SongLayout, seed: int) -> dict[str, list[int]]:
    rng = random.Random(seed)
    end = lay.n_bars * lay.bar_ticks
    return {
        role: sorted(rng.sample(range(0, end, 60), 6 * lay.n_bars)) for role in ("melody", "chords", "bass")
    }


def test_repeated_sections_with_the_same_notes_get_the_same_drums():
    lay = layout("ABA", 4)
    section = lay.section_bars * lay.bar_ticks
    parts = random_song(layout("A", 4), 0)
    b_part = random_song(layout("A", 4), 1)
    score = make_score(
        **{
            r: on + [t + section for t in b_part[r]] + [t + 2 * section for t in on]
            for r, on in parts.items()
        }
    )
    notes = drums(score, lay)
    for bar in range(lay.section_bars):
        assert bar_notes(notes, lay, bar) == bar_notes(notes, lay, bar + 2 * lay.section_bars)


def test_a_truncated_song_drums_like_the_start_of_the_full_one():
    lay = layout("AABA", 4, seed=7)
    parts = random_song(lay, 2)
    full = drums(make_score(**parts), lay)
    for k in range(1, lay.n_bars):
        cut = k * lay.bar_ticks
        partial = drums(make_score(**{r: [t for t in on if t < cut] for r, on in parts.items()}), lay)
        assert [n for n in partial if n[0] < cut] == [n for n in full if n[0] < cut]


def test_reproducible_with_a_seed_and_ghost_notes_vary_with_it():
    parts = random_song(layout("AABA", 4), 3)
    runs = {seed: drums(make_score(**parts), layout("AABA", 4, seed=seed)) for seed in range(6)}
    assert runs[0] == drums(make_score(**parts), layout("AABA", 4, seed=0))
    ghosts = {seed: [n for n in notes if n[1] == SNARE and n[2] < 60] for seed, notes in runs.items()}
    assert all(ghosts.values())
    assert len({tuple(g) for g in ghosts.values()}) > 1
    unghosted = {tuple(n for n in notes if n not in ghosts[seed]) for seed, notes in runs.items()}
    assert len(unghosted) == 1  # the seed only chooses ghost notes


def test_other_meters_and_resolutions_stay_on_their_grid():
    for meter in [(5, 4), (7, 8), (9, 8), (2, 2), (1, 4)]:
        lay = SongLayout("AB", 2, meter, 90.0, 96, seed=0)
        score = make_score(tpq=96, melody=list(range(0, lay.n_bars * lay.bar_ticks, 24)), bass=[0, 100, 250])
        track = find_drummer(None).drum_track(score, lay)
        assert all(n.time % 24 == 0 and n.duration > 0 for n in track.notes)
        assert all(n.end <= lay.n_bars * lay.bar_ticks for n in track.notes)
        assert {n.time for n in track.notes if n.pitch == CRASH} == {0, 2 * lay.bar_ticks}
