"""Song figures a producer's ear checks first, measured the same way on generated and real music.

``judge_folder(DIR)`` reads every MIDI file under DIR and reports, per file and in total, what the
songs issue names: does the chord track play the bar's chord, does the bass play its root on the
downbeat, are there ``N.C.`` bars, does the song sound on beat 1, does any section lose its melody
or bass, does it end on the tonic chord, how many beats are silent, how many velocities each track
uses (and whether downbeats are accented), whether the model wrote the drums and whether they
swell and fade with the band, how often melody bars
repeat within a section, and (given the asked progression) how many bars keep the asked chords.

Bar chords come from the file's chord markers (midiforge writes one per bar); files without markers
(real music) get each bar's chord recognised from all its pitched notes. Roles come from track
names (``Melody``/``Chords``/``Bass``/``Drums``) and otherwise from midiforge's role heuristics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import symusic

from midiforge.music.chords import Chord, recognize_chord
from midiforge.music.keys import estimate_key, key_from_signature
from midiforge.paths import midi_files_in

NC = "N.C."


@dataclass
class Part:
    """One role's notes as arrays (ticks)."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    @classmethod
    def of(cls, tracks: Sequence[symusic.Track], grid: int = 1) -> Part:
        """Notes of ``tracks``, onsets rounded to ``grid`` ticks (a 16th: what the tokenizer
        hears; real players and humanised grooves land a few ticks off the beat)."""
        arrays = [t.notes.numpy() for t in tracks if len(t.notes)]
        if not arrays:
            empty = np.zeros(0, np.int64)
            return cls(empty, empty, empty, empty)
        raw = np.concatenate([a["time"] for a in arrays]).astype(np.int64)
        start = (raw + grid // 2) // grid * grid
        order = np.argsort(start, kind="stable")
        end = np.maximum(start + 1, raw + np.concatenate([a["duration"] for a in arrays]))
        pitch = np.concatenate([a["pitch"] for a in arrays]).astype(np.int64)
        vel = np.concatenate([a["velocity"] for a in arrays]).astype(np.int64)
        return cls(start[order], end[order], pitch[order], vel[order])

    def __len__(self) -> int:
        return len(self.start)

    def window(self, t0: int, t1: int) -> np.ndarray:
        """Notes starting in [t0, t1)."""
        return (self.start >= t0) & (self.start < t1)


@dataclass
class SongFigures:
    """What :func:`judge_file` measures for one file (bars = bars with a chord)."""

    file: str
    bars: int = 0
    meter: str = "4/4"
    nc_bars: int = 0
    chord_bars: int = 0  # bars where the chord track sounds
    chord_plays_chord: int = 0
    bass_root_downbeat: int = 0
    sounds_on_beat_1: bool = False
    section_missing_part: bool = False
    ends_on_tonic: bool = False
    beats: int = 0
    silent_beats: int = 0
    velocities: dict[str, int] = field(default_factory=dict)  # distinct velocities per track
    accent: dict[str, float] = field(default_factory=dict)  # downbeat minus other notes' mean velocity
    has_drums: bool = False
    model_drums: bool = False
    drums_follow_band: float | None = None  # per-bar loudness correlation of the drums and the rest
    loudness_range: float | None = None  # the band's loudest bar minus its softest (bar-mean velocity)
    melody_bars: int = 0
    melody_repeats: int = 0
    asked_bars: int = 0
    asked_kept: int = 0


ROLE_NAMES = {"melody": "melody", "chords": "chords", "bass": "bass", "drums": "drums"}


def song_roles(score: symusic.Score) -> dict[str, list[symusic.Track]]:
    """Tracks by role: midiforge's track names first, else the data pipeline's heuristics."""
    named: dict[str, list[symusic.Track]] = {}
    for track in score.tracks:
        role = ROLE_NAMES.get(track.name.strip().lower())
        if track.is_drum:
            role = "drums"
        if role is not None:
            named.setdefault(role, []).append(track)
    if {"melody", "bass"} & named.keys():
        return named
    from midiforge.data.roles import find_roles

    return {role: [score.tracks[i] for i in idx] for role, idx in find_roles(score).items()}


def _bar_chords(score: symusic.Score, bar_ticks: int, n_bars: int, parts: dict[str, Part]
                ) -> tuple[list[list[tuple[int, Chord | None]]], bool]:
    """Each bar's chords as (tick, chord) from markers; recognised from the notes without them."""
    from midiforge.data.encoding import chord_of_symbol

    marks = [(int(m.time), m.text.strip()) for m in score.markers]
    chordish = [(t, text) for t, text in marks if text == NC or chord_of_symbol(text) is not None]
    bars: list[list[tuple[int, Chord | None]]] = [[] for _ in range(n_bars)]
    if chordish:
        for tick, text in chordish:
            b = tick // bar_ticks
            if 0 <= b < n_bars:
                bars[b].append((tick, None if text == NC else chord_of_symbol(text)))
        for b in range(1, n_bars):  # a bar without a marker keeps the chord sounding into it
            if not bars[b] and bars[b - 1]:
                bars[b] = [(b * bar_ticks, bars[b - 1][-1][1])]
        return bars, True
    pitched = [p for r, p in parts.items() if r != "drums" and len(p)]
    for b in range(n_bars):
        t0, t1 = b * bar_ticks, (b + 1) * bar_ticks
        pitches, weights = [], []
        for p in pitched:
            overlap = np.minimum(p.end, t1) - np.maximum(p.start, t0)
            on = overlap > 0
            pitches += p.pitch[on].tolist()
            weights += overlap[on].tolist()
        bars[b] = [(t0, recognize_chord(pitches, weights) if pitches else None)]
    return bars, False


def _chord_at(chords: list[tuple[int, Chord | None]], tick: int) -> Chord | None:
    current = chords[0][1] if chords else None
    for t, chord in chords:
        if t <= tick:
            current = chord
    return current


def _bar_signature(part: Part, t0: int, t1: int) -> tuple:
    on = part.window(t0, t1)
    return tuple(zip((part.start[on] - t0).tolist(), part.pitch[on].tolist(), strict=True))


def judge_score(score: symusic.Score, name: str, asked: Sequence[Chord] | None = None,
                section_bars: int = 8) -> SongFigures:
    """The figures of one song (see the module docstring)."""
    tpq = score.ticks_per_quarter
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    num, den = (ts.numerator, ts.denominator) if ts else (4, 4)
    bar_ticks = tpq * 4 * num // den
    beat_ticks = tpq * 4 // den
    roles = song_roles(score)
    parts = {r: Part.of(ts_, max(1, tpq // 4)) for r, ts_ in roles.items()}
    end = max((int(p.end.max()) for p in parts.values() if len(p)), default=0)
    n_bars = max(1, -(-end // bar_ticks))
    fig = SongFigures(file=name, bars=n_bars, meter=f"{num}/{den}")
    chords, marked = _bar_chords(score, bar_ticks, n_bars, parts)
    fig.nc_bars = sum(1 for bar in chords if not bar or any(c is None for _, c in bar)) if marked else 0
    chord_part, bass, melody = parts.get("chords"), parts.get("bass"), parts.get("melody")
    for b in range(n_bars):
        t0, t1 = b * bar_ticks, (b + 1) * bar_ticks
        if chord_part is not None and len(chord_part):
            on = np.nonzero(chord_part.window(t0, t1))[0]
            if len(on):
                fig.chord_bars += 1
                fits = [(c := _chord_at(chords[b], int(chord_part.start[i]))) is not None
                        and int(chord_part.pitch[i]) % 12 in c.pitch_classes for i in on]
                fig.chord_plays_chord += int(np.mean(fits) >= 0.75)
        downbeat_chord = _chord_at(chords[b], t0)
        if bass is not None and downbeat_chord is not None:
            hit = (bass.start == t0)
            fig.bass_root_downbeat += int(hit.any() and int(bass.pitch[hit].min()) % 12 == downbeat_chord.root_pc)
    every = [p for p in parts.values() if len(p)]
    fig.sounds_on_beat_1 = any(bool((p.start == 0).any()) for p in every)
    for s0 in range(0, n_bars, section_bars):
        t0, t1 = s0 * bar_ticks, min(n_bars, s0 + section_bars) * bar_ticks
        for role in ("melody", "bass"):
            p = parts.get(role)
            if p is None or not p.window(t0, t1).any():
                fig.section_missing_part = True
    pitched = [p for r, p in parts.items() if r != "drums" and len(p)]
    if pitched:  # the file's key signature (midiforge writes one), else the key the notes suggest
        if len(score.key_signatures):
            ks = score.key_signatures[0]
            key = key_from_signature(int(ks.key), int(ks.tonality))
        else:
            key = estimate_key(np.concatenate([p.pitch for p in pitched]),
                               np.concatenate([p.end - p.start for p in pitched]))
        last = chords[n_bars - 1][-1][1] if chords[n_bars - 1] else None
        fig.ends_on_tonic = last is not None and last.root_pc == key.tonic_pc
    fig.beats = n_bars * num
    sounding = np.zeros(fig.beats, bool)
    for p in every:
        for s, e in zip(p.start, p.end, strict=True):
            sounding[int(s) // beat_ticks : min(fig.beats, -(-int(e) // beat_ticks))] = True
    fig.silent_beats = int((~sounding).sum())
    for role, p in parts.items():
        if not len(p):
            continue
        fig.velocities[role] = len(np.unique(p.velocity))
        down = (p.start % bar_ticks) == 0
        if down.any() and (~down).any():
            fig.accent[role] = round(float(p.velocity[down].mean() - p.velocity[~down].mean()), 2)
    band = bar_loudness(pitched, bar_ticks, n_bars) if pitched else np.full(n_bars, np.nan)
    if (~np.isnan(band)).sum() >= 2:
        fig.loudness_range = round(float(np.nanmax(band) - np.nanmin(band)), 1)
    drums = parts.get("drums")
    fig.has_drums = drums is not None and len(drums) > 0
    fig.model_drums = fig.has_drums and any(m.text.strip() == "drums:model" for m in score.markers)
    if fig.has_drums:
        fig.drums_follow_band = _loudness_correlation(drums, [p for r, p in parts.items() if r != "drums"],
                                                      bar_ticks, n_bars)
    if melody is not None and len(melody):
        for s0 in range(0, n_bars, section_bars):
            seen: set[tuple] = set()
            for b in range(s0, min(n_bars, s0 + section_bars)):
                sig = _bar_signature(melody, b * bar_ticks, (b + 1) * bar_ticks)
                if not sig:
                    continue
                fig.melody_bars += 1
                fig.melody_repeats += int(sig in seen)
                seen.add(sig)
    if asked:
        for b in range(n_bars):
            want = asked[b % len(asked)]
            fig.asked_bars += 1
            ok = _chord_at(chords[b], b * bar_ticks) == want
            if ok and chord_part is not None:
                on = np.nonzero(chord_part.window(b * bar_ticks, (b + 1) * bar_ticks))[0]
                ok = bool(len(on)) and np.mean([int(chord_part.pitch[i]) % 12 in want.pitch_classes for i in on]) >= 0.75
            fig.asked_kept += int(ok)
    return fig


def bar_loudness(parts: list[Part], bar_ticks: int, n_bars: int) -> np.ndarray:
    """The mean velocity of ``parts``' notes in each bar (NaN where none starts)."""
    if not parts:
        return np.full(n_bars, np.nan)
    bar = np.concatenate([p.start for p in parts]).astype(np.int64) // bar_ticks
    vel = np.concatenate([p.velocity for p in parts]).astype(float)
    total = np.bincount(bar, weights=vel, minlength=n_bars)[:n_bars]
    count = np.bincount(bar, minlength=n_bars)[:n_bars]
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _loudness_correlation(drums: Part, band: list[Part], bar_ticks: int, n_bars: int) -> float | None:
    """Correlation of the drums' and the band's mean velocity bar by bar: near 1 when the drums
    swell and fade with the band (a band plays its dynamics together); None when there are fewer
    than four bars where both sound, or one of them never changes."""
    d, b = bar_loudness([drums], bar_ticks, n_bars), bar_loudness([p for p in band if len(p)], bar_ticks, n_bars)
    both = ~np.isnan(d) & ~np.isnan(b)
    if both.sum() < 4 or np.ptp(d[both]) == 0 or np.ptp(b[both]) == 0:
        return None
    return round(float(np.corrcoef(d[both], b[both])[0, 1]), 3)


def judge_file(
    path: Path, asked: Sequence[Chord] | None = None, section_bars: int = 8, velocity_levels: Sequence[int] = ()
) -> SongFigures:
    """``velocity_levels``: judge the file as a codec hears it, each velocity moved to the nearest level."""
    score = symusic.Score(str(path))
    if len(velocity_levels):
        score = at_velocity_levels(score, velocity_levels)
    return judge_score(score, path.name, asked, section_bars)


def at_velocity_levels(score: symusic.Score, levels: Sequence[int]) -> symusic.Score:
    """A copy of ``score`` with every velocity moved to the nearest of ``levels``: what a model
    with that many velocity tokens is taught (humanised MIDI varies velocity by a few units, so
    its raw count of distinct velocities says more about the jitter than about the dynamics)."""
    grid = np.asarray(sorted(levels), dtype=np.int64)
    out = score.copy()
    for track in out.tracks:
        for note in track.notes:
            note.velocity = int(grid[np.abs(grid - note.velocity).argmin()])
    return out


def _median(values: Sequence[float]) -> float | None:
    return round(float(np.median(values)), 2) if len(values) else None


def _pct(a: float, b: float) -> float | None:
    return round(100.0 * a / b, 1) if b else None


def summarize(figs: Sequence[SongFigures]) -> dict[str, float | None]:
    """The table of the songs issue, in percent unless the name says otherwise."""
    n = len(figs)
    vel = [v for f in figs for r, v in f.velocities.items() if r != "drums"]
    acc = [a for f in figs for r, a in f.accent.items() if r != "drums"]
    drum_songs = [f for f in figs if f.has_drums]
    return {
        "files": n,
        "chord track plays the bar's chord %": _pct(sum(f.chord_plays_chord for f in figs), sum(f.chord_bars for f in figs)),
        "N.C. bars %": _pct(sum(f.nc_bars for f in figs), sum(f.bars for f in figs)),
        "bass root on the downbeat %": _pct(sum(f.bass_root_downbeat for f in figs), sum(f.bars for f in figs if "bass" in f.velocities)),
        "songs sounding on beat 1 %": _pct(sum(f.sounds_on_beat_1 for f in figs), n),
        "songs with a section missing melody or bass": sum(f.section_missing_part for f in figs),
        "songs ending on a tonic chord %": _pct(sum(f.ends_on_tonic for f in figs), n),
        "silent beats %": _pct(sum(f.silent_beats for f in figs), sum(f.beats for f in figs)),
        "distinct velocities per track (median)": float(np.median(vel)) if vel else None,
        "downbeat accent (velocity, mean)": round(float(np.mean(acc)), 1) if acc else None,
        "songs with drums written by the model %": _pct(sum(f.model_drums for f in drum_songs), len(drum_songs)),
        "drums follow the band's loudness (per-bar correlation, median)": _median(
            [f.drums_follow_band for f in drum_songs if f.drums_follow_band is not None]),
        "band's loudness range over a song (velocity, median)": _median(
            [f.loudness_range for f in figs if f.loudness_range is not None]),
        "melody bar repetition %": _pct(sum(f.melody_repeats for f in figs), sum(f.melody_bars for f in figs)),
        "asked chords kept %": _pct(sum(f.asked_kept for f in figs), sum(f.asked_bars for f in figs)),
    }


def judge_folder(folder: Path, asked: Sequence[Chord] | None = None, section_bars: int = 8,
                 limit: int | None = None) -> tuple[list[SongFigures], dict[str, float | None]]:
    files = midi_files_in(folder)
    files = files[:limit] if limit else files
    figs = []
    for path in files:
        try:
            figs.append(judge_file(path, asked, section_bars))
        except Exception:  # an unreadable file is not a song; the count says how many were judged
            continue
    return figs, summarize(figs)


def figures_json(figs: Sequence[SongFigures]) -> list[dict]:
    return [asdict(f) for f in figs]
