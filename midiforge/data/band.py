"""Band arrangements for training: a real melody over a chord chart, accompanied by MMA grooves.

Chorales and folk tunes alone cannot teach a chord bed, a bass groove, drums or dynamics. This
module turns each melody of a public-domain corpus into a small band arrangement:

1. **Chord chart.** Folk melodies are harmonised with a Viterbi search over the diatonic chords of
   their key (chord tones on strong beats, cadences, one or two chords a bar, tonic at the end);
   chorales keep the chords Bach wrote, recognised from all four voices every half bar.
2. **Accompaniment.** Debian's ``mma`` (Musical MIDI Accompaniment, GPL-2+; its groove libraries
   are human-written) renders drums, bass and a comping part under that chart in a groove chosen
   for the tune's meter. Many tunes are rendered in one ``mma`` run and cut apart again, because
   starting ``mma`` costs about a second.
3. **Melody and dynamics.** The melody keeps its notes. Every four-bar phrase holds a dynamic
   (``pp`` to ``ff``) or swells or fades to a neighbouring one (``Cresc``/``Decresc``), and the
   whole band follows it: most of each note's loudness comes from the phrase
   (:data:`TRACK_SHARE`), the rest from the groove's own accents. The melody's velocities follow the
   same curve, with metric accents.

The result is one MIDI file per tune with tracks ``melody``, ``chords``, ``bass``, ``drums``, its
groove family in a ``groove:<family>`` text event, and one chord marker per bar (the chord the
band plays on the downbeat), which :mod:`midiforge.data.encoding` uses for the ``Chord_*`` tokens.
The data only teaches: the model composes.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import symusic

from midiforge import atomic
from midiforge.errors import MidiforgeError
from midiforge.music.chords import SYMBOL_ROOTS, Chord, recognize_chord
from midiforge.music.dynamics import (
    TRACK_SHARE,
    Phrase,
    band_velocity,
    bar_volumes,
    louder,
    phrase_length,
    phrase_walk,
)
from midiforge.music.keys import Key, estimate_key

TPQ = 480


@dataclass(frozen=True)
class GrooveFamily:
    """Grooves of one genre (the ``Groove_<name>`` token), the meter they play and their tempi."""

    name: str
    meter: tuple[int, int]
    grooves: tuple[str, ...]
    tempo: tuple[int, int]  # quarter-note bpm range


#: The groove families a user can ask for (``--groove``); each MMA groove belongs to one.
GROOVE_FAMILIES: tuple[GrooveFamily, ...] = (
    GrooveFamily("pop", (4, 4), ("8Beat", "SoftRock", "PopBallad1", "FolkRock"), (90, 122)),
    GrooveFamily("rock", (4, 4), ("50sRock", "60sRock", "BasicRock", "Rock128", "Twist"), (108, 150)),
    GrooveFamily("ballad", (4, 4), ("Ballad", "PianoBallad", "RockBallad", "GuitarBallad", "FolkBallad"), (60, 84)),
    GrooveFamily("swing", (4, 4), ("Swing", "EasySwing", "JazzCombo", "Foxtrot", "ShowTune"), (104, 172)),
    GrooveFamily("bossa", (4, 4), ("BossaNova", "BossaNova1Sus"), (104, 140)),
    GrooveFamily("latin", (4, 4), ("Beguine", "Rhumba", "ChaCha", "Bolero", "Tango", "Salsa"), (96, 132)),
    GrooveFamily("country", (4, 4), ("CountrySwing", "BlueGrass", "SlowCountry", "HillCountry"), (96, 150)),
    GrooveFamily("folk", (4, 4), ("Folk", "BlueFolk", "Hymn", "Lullaby"), (76, 116)),
    GrooveFamily("blues", (4, 4), ("Blues", "SlowBlues", "ShuffleBoggie"), (68, 112)),
    GrooveFamily("funk", (4, 4), ("R&B", "Strut", "Ska"), (88, 116)),
    GrooveFamily("march", (4, 4), ("March", "Polka"), (100, 126)),
    GrooveFamily("waltz", (3, 4), ("Waltz", "JazzWaltz", "CountryWaltz", "FrenchWaltz", "RockWaltz"), (88, 168)),
    GrooveFamily("sixeight", (6, 8), ("68Swing", "Arpeggio68", "Blues68"), (90, 140)),
)
GROOVES: dict[str, GrooveFamily] = {f.name: f for f in GROOVE_FAMILIES}
#: Drum sounds kept (GM numbers): the kit and hand percussion; shakers and cabasa are dropped
#: because they double the drum tokens and carry little of the groove.
DRUM_KEEP = frozenset({35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
                       55, 56, 57, 59, 60, 61, 62, 63, 64, 75, 76, 77})
#: Bumped whenever a change to this module changes what is rendered: the corpus is cached in a
#: folder named after it (``band-r2``), so an old cache is never mistaken for the new recipe.
RENDER_VERSION = 2
MMA_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "sus4": "sus4", "7": "7", "min7": "m7", "maj7": "maj7"}


def families_for(meter: tuple[int, int]) -> list[GrooveFamily]:
    return [f for f in GROOVE_FAMILIES if f.meter == meter]


def mma_symbol(chord: Chord) -> str:
    return SYMBOL_ROOTS[chord.root_pc] + MMA_SUFFIX[chord.quality]


# ---------------------------------------------------------------------------------- chord charts
@dataclass(frozen=True)
class Candidate:
    chord: Chord
    prior: float  # cost of using the chord at all (I cheap, iii dear)


def diatonic_candidates(key: Key) -> list[Candidate]:
    """The chords a folk accompanist reaches for in ``key`` (with the minor key's raised 7th)."""
    t = key.tonic_pc
    if key.mode == "major":
        table = ((0, "maj", 0.0), (7, "maj", 0.1), (5, "maj", 0.15), (7, "7", 0.25), (9, "min", 0.3),
                 (2, "min", 0.35), (4, "min", 0.6), (2, "7", 0.8))
    else:
        table = ((0, "min", 0.0), (7, "maj", 0.1), (5, "min", 0.15), (7, "7", 0.2), (8, "maj", 0.3),
                 (10, "maj", 0.3), (3, "maj", 0.35), (7, "min", 0.6), (2, "dim", 0.8))
    return [Candidate(Chord((t + i) % 12, q), p) for i, q, p in table]


def _segment_weights(notes: np.ndarray, seg_start: int, seg_len: int, beat: int) -> np.ndarray:
    """Pitch-class weights of the melody in one segment: sounding time x metric weight."""
    weights = np.zeros(12)
    end = seg_start + seg_len
    for time, duration, pitch in notes:
        overlap = min(end, time + duration) - max(seg_start, time)
        if overlap <= 0:
            continue
        accent = 1.6 if time == seg_start else (1.0 if (time - seg_start) % beat == 0 else 0.6)
        weights[pitch % 12] += overlap / beat * (accent if seg_start <= time < end else 0.8)
    return weights


def harmonize(
    notes: np.ndarray, key: Key, n_bars: int, bar_ticks: int, beat: int, per_bar: int
) -> list[list[Chord]]:
    """A chord chart for a melody: ``per_bar`` segments a bar, Viterbi over diatonic chords.

    ``notes`` is an int array of (time, duration, pitch). Costs: melody weight off the chord's
    tones, the chord's prior, changing chord (dearer inside a bar than at a bar line), with bonuses
    for V -> I and IV -> V; the last bar ends on the tonic. Returns the chords of each bar (one or
    two, repeated chords merged).
    """
    cands = diatonic_candidates(key)
    n_seg = n_bars * per_bar
    seg_len = bar_ticks // per_bar
    emit = np.zeros((n_seg, len(cands)))
    for s in range(n_seg):
        w = _segment_weights(notes, s * seg_len, seg_len, beat)
        total = w.sum()
        for c, cand in enumerate(cands):
            fit = sum(w[pc] for pc in cand.chord.pitch_classes) / total if total > 0 else 0.6
            emit[s, c] = 3.0 * (1.0 - fit) + cand.prior
    tonic, dominant, sub = key.tonic_pc, (key.tonic_pc + 7) % 12, (key.tonic_pc + 5) % 12
    trans = np.zeros((len(cands), len(cands)))
    for a, ca in enumerate(cands):
        for b, cb in enumerate(cands):
            if a == b:
                continue
            cost = 0.35
            if ca.chord.root_pc == dominant and cb.chord.root_pc == tonic:
                cost -= 0.25
            if ca.chord.root_pc == sub and cb.chord.root_pc == dominant:
                cost -= 0.1
            if ca.chord.quality == "7" and cb.chord.root_pc != (ca.chord.root_pc + 5) % 12:
                cost += 0.4
            trans[a, b] = cost
    mid_bar = 0.6  # extra cost of a change inside a bar: harmonic rhythm mostly one chord a bar
    final = [i for i, c in enumerate(cands) if c.chord.root_pc == tonic and c.prior == 0.0]
    cost = emit[0].copy()
    back = np.zeros((n_seg, len(cands)), dtype=np.int64)
    for s in range(1, n_seg):
        step = trans + (mid_bar if s % per_bar else 0.0) * (trans > 0)
        total = cost[:, None] + step
        back[s] = total.argmin(axis=0)
        cost = total.min(axis=0) + emit[s]
        if s >= n_seg - per_bar:  # the whole last bar is the tonic
            mask = np.full(len(cands), 1e6)
            mask[final] = 0.0
            cost = cost + mask
    path = [int(cost.argmin())]
    for s in range(n_seg - 1, 0, -1):
        path.append(int(back[s, path[-1]]))
    path.reverse()
    chart = []
    for b in range(n_bars):
        chords = [cands[i].chord for i in path[b * per_bar : (b + 1) * per_bar]]
        chart.append([c for i, c in enumerate(chords) if i == 0 or c != chords[i - 1]])
    return chart


def recognized_chart(score: symusic.Score, n_bars: int, bar_ticks: int, per_bar: int) -> list[list[Chord]]:
    """The chords of a multi-voice piece (a chorale), recognised every ``1/per_bar`` bar; a
    segment where nothing fits keeps the chord before it."""
    arrays = [t.notes.numpy() for t in score.tracks if len(t.notes)]
    start = np.concatenate([a["time"] for a in arrays]).astype(np.int64)
    end = start + np.concatenate([a["duration"] for a in arrays])
    pitch = np.concatenate([a["pitch"] for a in arrays])
    seg_len = bar_ticks // per_bar
    chart, last = [], None
    for b in range(n_bars):
        chords: list[Chord] = []
        for s in range(per_bar):
            s0 = b * bar_ticks + s * seg_len
            overlap = np.minimum(end, s0 + seg_len) - np.maximum(start, s0)
            on = overlap > 0
            found = recognize_chord(pitch[on].tolist(), overlap[on].tolist()) if on.any() else None
            last = found or last
            if last is not None and (not chords or chords[-1] != last):
                chords.append(last)
        chart.append(chords or ([last] if last else []))
    first = next((c for bar in chart for c in bar), Chord(0, "maj"))
    return [bar or [first] for bar in chart]


# ---------------------------------------------------------------------------------- tunes
@dataclass
class Tune:
    """A melody ready to be arranged (times in ticks at :data:`TPQ`)."""

    name: str
    notes: np.ndarray  # (time, duration, pitch)
    meter: tuple[int, int]
    n_bars: int
    key: Key
    chart: list[list[Chord]] = field(default_factory=list)

    @property
    def bar_ticks(self) -> int:
        return TPQ * 4 * self.meter[0] // self.meter[1]


#: Meters a tune may have, and the meter it is arranged in (2/4 and 2/2 tunes pair their bars).
METER_MAP = {(4, 4): (4, 4), (2, 4): (4, 4), (2, 2): (4, 4), (4, 2): (4, 4), (3, 4): (3, 4), (3, 2): (3, 4),
             (6, 4): (3, 4), (6, 8): (6, 8), (12, 8): (6, 8)}


def load_tune(path: Path, melody_track: str | None = None, chorale: bool = False) -> Tune:
    """Read a corpus MIDI into a :class:`Tune` (its melody, key, meter and chord chart)."""
    score = symusic.Score(str(path)).resample(TPQ)
    if len(score.time_signatures) > 1 and len({(t.numerator, t.denominator) for t in score.time_signatures}) > 1:
        raise MidiforgeError("meter changes")
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    meter = METER_MAP.get((ts.numerator, ts.denominator) if ts else (4, 4))
    if meter is None:
        raise MidiforgeError(f"meter {ts.numerator}/{ts.denominator} has no groove")
    tracks = [t for t in score.tracks if len(t.notes)]
    if melody_track is not None:
        tracks_named = [t for t in tracks if t.name.strip().lower() == melody_track]
        if not tracks_named:
            raise MidiforgeError(f"no {melody_track} part")
        melody = tracks_named[0]
    else:
        melody = max(tracks, key=lambda t: len(t.notes))
    arr = melody.notes.numpy()
    notes = np.stack([arr["time"], arr["duration"], arr["pitch"]], axis=1).astype(np.int64)
    notes = notes[np.argsort(notes[:, 0], kind="stable")]
    if len(notes) < 8:
        raise MidiforgeError("fewer than 8 melody notes")
    shift = 12 * int(np.ceil(max(0.0, 64 - notes[:, 2].mean()) / 12))
    notes[:, 2] += shift  # low tunes (some Essen songs) up into a melody register
    bar_ticks = TPQ * 4 * meter[0] // meter[1]
    n_bars = int(np.ceil((notes[:, 0] + notes[:, 1]).max() / bar_ticks))
    if n_bars < 4 or n_bars > 96:
        raise MidiforgeError(f"{n_bars} bars (want 4..96)")
    key = estimate_key(notes[:, 2], notes[:, 1])
    per_bar = 2 if meter == (4, 4) else 1
    if chorale:
        pitched = symusic.Score(TPQ)
        pitched.tracks.extend(tracks)
        chart = recognized_chart(pitched, n_bars, bar_ticks, per_bar)
    else:
        chart = harmonize(notes, key, n_bars, bar_ticks, TPQ if meter != (6, 8) else TPQ * 3 // 2, per_bar)
    return Tune(path.stem, notes, meter, n_bars, key, chart)


# ---------------------------------------------------------------------------------- rendering
@dataclass
class Arrangement:
    """What is decided for one tune before ``mma`` runs (all random choices, seeded by name)."""

    tune: Tune
    family: GrooveFamily
    groove: str
    tempo: int
    phrases: list[Phrase]  # one per four bars

    def phrase_bars(self, k: int) -> int:
        """Bars in phrase ``k`` (the last may be short)."""
        return phrase_length(k, self.tune.n_bars)

    def bar_volumes(self) -> list[float]:
        """MMA's master volume in each bar."""
        return bar_volumes(self.phrases, self.tune.n_bars)


def plan_arrangement(tune: Tune, seed: int = 0, avoid: frozenset[str] = frozenset()) -> Arrangement:
    """Groove, tempo and phrase dynamics for a tune, drawn from a generator seeded by its name
    (so a rebuilt corpus is the same); ``avoid`` groove families already used for it.

    The dynamics walk is :func:`midiforge.music.dynamics.phrase_walk`."""
    rng = random.Random(int.from_bytes(hashlib.sha1(f"{seed}:{tune.name}".encode()).digest()[:8], "little"))
    families = families_for(tune.meter)
    family = rng.choice([f for f in families if f.name not in avoid] or families)
    groove = rng.choice(family.grooves)
    tempo = rng.randint(*family.tempo)
    phrases = phrase_walk(rng, tune.n_bars)
    return Arrangement(tune, family, groove, tempo, phrases)


def phrase_commands(phrase: Phrase, bars: int) -> list[str]:
    """The ``mma`` lines that start a phrase: its volume, then a hairpin over its bars."""
    lines = [f"Volume {phrase.start}"]
    if phrase.end != phrase.start:
        rising = louder(phrase.end, phrase.start)
        lines.append(f"{'Cresc' if rising else 'Decresc'} {phrase.end} {bars}")
    return lines


def mma_script(arrangements: Sequence[Arrangement]) -> str:
    """One ``mma`` song holding every arrangement, a silent bar after each; a ``MidiMark`` names
    where each starts and ends (bar lengths differ between grooves, so ``mma`` says where)."""
    lines = []
    for k, arr in enumerate(arrangements):
        # a groove restores its own volume ratio, so the phrase's share is set after it
        lines += [f"Groove {arr.groove}", f"AdjustVolume Ratio={round(TRACK_SHARE * 100)}",
                  f"Tempo {arr.tempo}", f"MidiMark start{k}"]
        for b, chords in enumerate(arr.tune.chart):
            if b % 4 == 0:
                lines += phrase_commands(arr.phrases[b // 4], arr.phrase_bars(b // 4))
            lines.append(" ".join(mma_symbol(c) for c in chords))
        lines += [f"MidiMark end{k}", "z"]  # a silent bar, so nothing rings into the next tune
    return "\n".join(lines) + "\n"


def tune_spans(band: symusic.Score, count: int) -> list[tuple[int, int]]:
    """(first tick, end tick) of each arrangement in the shared render, from its marks."""
    marks = {m.text.strip(): int(m.time) for m in band.markers}
    return [(marks[f"start{k}"], marks[f"end{k}"]) for k in range(count)]


def run_mma(script: str, mma: str | None = None) -> symusic.Score:
    exe = mma or shutil.which("mma")
    if exe is None:
        raise MidiforgeError("the band corpus needs Debian's `mma` (apt-get install mma)")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "band.mma", Path(tmp) / "band.mid"
        src.write_text(script)
        proc = subprocess.run([exe, "-m", "100000", "-f", str(out), str(src)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not out.exists():
            raise MidiforgeError(f"mma failed: {(proc.stdout + proc.stderr).strip().splitlines()[-1:]}")
        return symusic.Score(str(out))


def _role_of(name: str) -> str | None:
    head = name.split("-", 1)[0].lower()
    return {"drum": "drums", "bass": "bass", "walk": "bass", "chord": "chords", "plectrum": "chords"}.get(head)


def _cut(notes: np.ndarray, t0: int, t1: int, scale: float) -> list[tuple[int, int, int, int]]:
    """Notes starting in ``[t0, t1)`` of an mma track, moved to 0 and rescaled to :data:`TPQ`."""
    out = []
    for time, duration, pitch, velocity in notes:
        if t0 <= time < t1:
            start = int(round((time - t0) * scale))
            end = int(round((min(time + duration, t1) - t0) * scale))
            out.append((start, max(1, end - start), int(pitch), int(velocity)))
    return out


def _melody_velocities(tune: Tune, bar_volumes: list[float], seed: str) -> list[int]:
    """The bar's volume as the band plays it, plus metric accents and a little jitter."""
    rng = np.random.default_rng(int(hashlib.sha1(seed.encode()).hexdigest()[:8], 16))
    beat = TPQ if tune.meter != (6, 8) else TPQ * 3 // 2
    out = []
    for time, _, _ in tune.notes:
        bar, pos = divmod(int(time), tune.bar_ticks)
        master = bar_volumes[min(bar, len(bar_volumes) - 1)]
        v = band_velocity(master)
        v += 10 if pos == 0 else (4 if pos % beat == 0 else -6)
        out.append(int(np.clip(v + rng.normal(0, 3), 24, 124)))
    return out


def _pick_chords(parts: list[tuple[str, list]]) -> list:
    """One comping part: the busiest ``Chord`` track of the tune's groove (a strummed
    ``Plectrum`` only when there is none: six strings a strum cost many tokens)."""
    plain = [notes for name, notes in parts if not name.lower().startswith("plectrum")]
    return max(plain or [notes for _, notes in parts], key=len, default=[])


def _monophonic(notes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Bass from several ``mma`` tracks (``Bass`` and ``Walk`` take turns): one note at a time."""
    out: list[tuple[int, int, int, int]] = []
    for note in sorted(notes, key=lambda n: (n[0], n[2])):
        if out and note[0] == out[-1][0]:
            continue
        if out and out[-1][0] + out[-1][1] > note[0]:
            last = out[-1]
            out[-1] = (last[0], note[0] - last[0], last[2], last[3])
        out.append(note)
    return out


def assemble(arr: Arrangement, band: symusic.Score, span: tuple[int, int]) -> symusic.Score:
    """The arrangement's bars cut out of the shared ``mma`` render, with the melody added."""
    tune = arr.tune
    t0, t1 = span
    scale = tune.bar_ticks * tune.n_bars / max(1, t1 - t0)
    by_role: dict[str, list[tuple[str, list]]] = {}
    for track in band.tracks:
        role = "drums" if track.is_drum else _role_of(track.name)
        if role is None or not len(track.notes):
            continue
        a = track.notes.numpy()
        notes = _cut(np.stack([a["time"], a["duration"], a["pitch"], a["velocity"]], axis=1), t0, t1, scale)
        if notes:
            by_role.setdefault(role, []).append((track.name, notes))
    parts = {
        "chords": _pick_chords(by_role.get("chords", [])),
        "bass": _monophonic([n for _, notes in by_role.get("bass", []) for n in notes]),
        "drums": [n for _, notes in by_role.get("drums", []) for n in notes if n[2] in DRUM_KEEP],
    }
    out = symusic.Score(TPQ)
    out.tempos.append(symusic.Tempo(0, float(arr.tempo)))
    out.time_signatures.append(symusic.TimeSignature(0, *tune.meter))
    melody = symusic.Track("melody", program=73)
    velocities = _melody_velocities(tune, arr.bar_volumes(), tune.name)
    for (time, duration, pitch), velocity in zip(tune.notes, velocities, strict=True):
        melody.notes.append(symusic.Note(int(time), int(duration), int(pitch), velocity))
    out.tracks.append(melody)
    for role, program in (("chords", 0), ("bass", 32), ("drums", 0)):
        if not parts[role]:
            continue
        track = symusic.Track(role, program=program, is_drum=role == "drums")
        for time, duration, pitch, velocity in parts[role]:
            track.notes.append(symusic.Note(time, duration, pitch, velocity))
        track.notes.sort()
        out.tracks.append(track)
    for b, chords in enumerate(tune.chart):
        step = tune.bar_ticks // len(chords)
        for i, chord in enumerate(chords):
            out.markers.append(symusic.TextMeta(b * tune.bar_ticks + i * step, chord.symbol))
    out.markers.append(symusic.TextMeta(0, f"groove:{arr.family.name}"))
    out.markers.sort()
    return out


def render_batch(arrangements: Sequence[Arrangement], folder: Path) -> list[tuple[Path, str | None]]:
    """Render arrangements with one ``mma`` run and write each as ``folder/<name>.mid``."""
    band = run_mma(mma_script(arrangements))
    results = []
    for arr, start in zip(arrangements, tune_spans(band, len(arrangements)), strict=True):
        out = folder / f"{arr.tune.name}.mid"
        try:
            score = assemble(arr, band, start)
            with atomic.atomic_path(out) as tmp:
                score.dump_midi(str(tmp))
            results.append((out, None))
        except Exception as exc:  # one bad tune never stops the batch
            results.append((out, f"{type(exc).__name__}: {exc}"[:200]))
    return results


# ---------------------------------------------------------------------------------- corpus
@dataclass(frozen=True)
class TuneSource:
    """A melody file to arrange: ``melody_track`` names its part (None: the busiest track)."""

    path: Path
    melody_track: str | None = None
    chorale: bool = False


#: Each tune is arranged this many times, each time in another groove family (rendering is
#: cheap next to converting the tune), so one melody is heard in several styles.
RENDITIONS = 2


def rendition_names(stem: str) -> list[str]:
    return [f"{stem}__{k}" for k in range(RENDITIONS)]


def arrange_batch(sources: Sequence[TuneSource], folder: Path, seed: int = 0) -> list[tuple[str, str | None]]:
    """Arrange and render a batch of tunes (one ``mma`` run); (file name, error or None) each.
    Never raises for one bad tune: a batch whose ``mma`` run fails reports every tune."""
    plans, results = [], []
    for source in sources:
        try:
            tune = load_tune(source.path, source.melody_track, source.chorale)
            used: set[str] = set()
            for name in rendition_names(source.path.stem):
                plan = plan_arrangement(Tune(name, tune.notes, tune.meter, tune.n_bars, tune.key, tune.chart),
                                        seed, frozenset(used))
                used.add(plan.family.name)
                plans.append(plan)
        except Exception as exc:
            results += [(f"{n}.mid", f"{type(exc).__name__}: {exc}"[:200]) for n in rendition_names(source.path.stem)]
    if plans:
        try:
            results += [(out.name, err) for out, err in render_batch(plans, folder)]
        except MidiforgeError as exc:
            results += [(f"{p.tune.name}.mid", str(exc)) for p in plans]
    return results
