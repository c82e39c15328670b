"""Shared machinery for generation styles: options, requests, chord plans, song form, scores.

A style is conditioning prefix + constraints + post-processing + output naming + GM instrument.
The notes always come from the model; the rules here only constrain (register, monophony, key
lock, asked chords) or arrange what the model wrote (a repeated section is the same tokens again).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from midiforge.data.vocab import ROLE_PROGRAMS
from midiforge.errors import MidiforgeError
from midiforge.generation.engine import Engine
from midiforge.generation.pieces import ROLE_TRACKS
from midiforge.generation.sampler import ChordPlan, Generated, PartRules, Request, SamplingConfig
from midiforge.music.chords import Chord, ChordSpan, parse_progression
from midiforge.music.keys import ALL_KEYS, Key, parse_key
from midiforge.settings import setting

#: Pitch registers per role (MIDI numbers), from the ranges of the training corpora.
REGISTERS = {"melody": (55, 88), "chords": (36, 79), "bass": (28, 62), "drums": (0, 127)}
MONOPHONIC = {"melody": True, "chords": False, "bass": True, "drums": False}
#: How chord-track and bass pitches follow asked chords: chord tones, or the root on each chord's first note.
CHORD_FOLLOW = {"chords": "root", "bass": "root"}
FORMS = {1: "A", 2: "AB", 3: "ABA", 4: "AABA", 5: "AABAB", 6: "AABABA", 7: "AABABBA", 8: "AABAABBA"}


class BarListener(Protocol):
    """Hears pieces while they are generated (``generate --live`` plays them bar by bar).

    A style announces each piece (its row in the batch) with :meth:`piece`, then hands over
    bars as soon as they are sampled with :meth:`bars`, at their place in the finished piece: a
    repeated section is announced once per place it appears. Styles that ignore the listener still
    work; their files are simply played after they are written.
    """

    def piece(self, row: int, n_bars: int, render: Callable[[list[int]], Any]) -> None:
        """``render(tokens)`` turns the tokens of the piece's first whole bars into a
        ``symusic.Score`` exactly as the file will have them (tracks, programs, drums)."""

    def bars(self, row: int, first_bar: int, bars: list[list[int]]) -> None:
        """Bars ``first_bar, first_bar + 1, ...`` of piece ``row`` (tokens, each from its Bar token)."""


#: ``--dynamics``: the song's phrase walk bounds the band's velocities, or the model's alone.
DYNAMICS_CHOICES = ("phrases", "free")


def check_dynamics(value: str) -> str:
    if value not in DYNAMICS_CHOICES:
        raise MidiforgeError(f"unknown dynamics '{value}' (use {' or '.join(DYNAMICS_CHOICES)})")
    return value


@dataclass
class StyleOptions:
    """Everything a user can ask of a style (the CLI's common options)."""

    n: int = setting(4, "How many pieces (per key for all-scales).", flags="--n-clips --n-songs --n")
    bars: int | None = setting(None, "Length in bars (overrides --seconds).")
    seconds: float | None = None  # None: the style's own length (16 s clips, 60 s songs)
    tempo: float | None = setting(120.0, "Tempo in BPM.")
    key: str | None = setting(None, "Key such as 'A minor' or 'F#'; default: a random key per piece.")
    meter: str = setting("4/4", "Time signature.")
    chords: str | None = setting(
        None, "Chord progression to follow, e.g. 'Am F C G' or 'Am:2 F:2 | C G', or a file.")
    scale_lock: bool | None = None  # None: the style decides (on for harmonic and all-scales)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    prompt: Path | None = None
    sections: str | None = setting(None, "Song form (AABA) or number of sections [harmonic].")
    section_bars: int | None = setting(None, "Bars per section [harmonic].")
    drums: bool = False
    drummer: str | None = setting(
        None, "Drummer plugin for --drums (see `midiforge plugins`) [default: groove].")
    role: str | None = setting(None, "Role for all-scales: melody, chords or bass.")
    listener: BarListener | None = None  # hears bars as they are generated (live playback)
    groove: str | None = setting(
        None, "Groove family the model plays (pop, rock, ballad, swing, bossa, latin, country, folk, blues, funk, "
        "march, waltz, sixeight) [default: one per piece that fits --meter].")
    density: str | None = setting(None, "How busy the melody (or the clip's part) is [default: medium].",
                                  choices=("sparse", "medium", "busy"))
    vary_repeats: bool = False  # songs: a repeated section comes back varied, not identical
    dynamics: str = setting(
        "phrases", "Songs: the band's loudness. 'phrases': four-bar phrases that hold, swell or fade (pp to ff), "
        "as the training corpus plays them, the model choosing each velocity within them; 'free': the model's "
        "velocities alone [harmonic].", choices=DYNAMICS_CHOICES)
    pickup: int = setting(0, "Songs: the melody opens with an upbeat of this many beats (the meter's beats: "
                             "quarters in 4/4, eighths in 6/8) in a bar before the song [harmonic].")
    given: frozenset[str] = frozenset()  # the options the user typed (CLI names, e.g. "tempo"); the rest are defaults

    @property
    def seed(self) -> int | None:
        return self.sampling.seed

    def time_signature(self) -> tuple[int, int]:
        """``--meter`` as (numerator, denominator), checked once for every user of it."""
        try:
            num, den = (int(x) for x in self.meter.split("/"))
        except ValueError:
            raise MidiforgeError(f"bad meter '{self.meter}' (use e.g. 4/4, 3/4, 6/8)") from None
        if num <= 0 or den not in (2, 4, 8):
            raise MidiforgeError(f"unsupported meter '{self.meter}'")
        return num, den

    def refuse_drums(self, style: str) -> None:
        """A one-line error for ``--drums`` on a style that writes a single part."""
        if self.drums or self.drummer:
            raise MidiforgeError(f"--drums/--drummer work with songs: use `generate harmonic --drums`, not {style}")

    def check_pickup(self) -> None:
        """``--pickup``: an upbeat shorter than a bar."""
        beats = self.time_signature()[0]
        if not 0 <= self.pickup < beats:
            raise MidiforgeError(f"--pickup {self.pickup}: an upbeat is 1..{beats - 1} beats of a {self.meter} bar")

    def beats_per_bar(self) -> int:
        """Quarter notes a bar (ticks and seconds are counted in quarters)."""
        num, den = self.time_signature()
        return num * 4 // den

    def steps_per_bar(self, steps_per_beat: int) -> int:
        """Grid steps a bar in the token stream: MidiTok counts the meter's own beats (a 6/8 bar is
        six eighth-note beats of ``steps_per_beat`` positions each, not three quarters)."""
        return self.time_signature()[0] * steps_per_beat

    def steps_per_quarter(self, steps_per_beat: int) -> float:
        return steps_per_beat * self.time_signature()[1] / 4

    def tempo_bpm(self) -> float:
        bpm = self.tempo or 120.0
        if not 20 <= bpm <= 300:
            raise MidiforgeError(f"tempo {bpm} is out of range (20..300 bpm)")
        return float(bpm)

    def n_bars(self, default_seconds: float) -> int:
        if self.bars:
            if self.bars < 1:
                raise MidiforgeError("--bars must be at least 1")
            return int(self.bars)
        seconds = self.seconds or default_seconds
        if seconds <= 0:
            raise MidiforgeError("--seconds must be positive")
        return max(1, round(seconds * self.tempo_bpm() / 60.0 / self.beats_per_bar()))

    def keys(self, n: int) -> list[Key]:
        """``--key``; else the key of ``--chords``, else of ``--prompt``; else one drawn per piece."""
        if self.key:
            return [parse_key(self.key)] * n
        spans = self.progression()
        if spans:
            return [key_of_chords([s.chord for s in spans])] * n
        if self.prompt is not None:
            from midiforge.generation.prompting import prompt_key

            return [prompt_key(self.prompt)] * n
        rng = random.Random(self.seed)
        return [rng.choice(ALL_KEYS) for _ in range(n)]

    def grooves(self, n: int) -> list[str]:
        """``--groove`` for every piece, else one drawn per piece among the meter's groove families."""
        from midiforge.data.band import families_for

        if self.groove:
            from midiforge.data.vocab import check_groove

            return [check_groove(self.groove)] * n
        families = [f.name for f in families_for(self.time_signature())] or ["none"]
        rng = random.Random(None if self.seed is None else self.seed + 101)
        return [rng.choice(families) for _ in range(n)]

    def density_name(self) -> str:
        from midiforge.data.vocab import check_density

        return check_density(self.density or "medium")

    def progression(self) -> list[ChordSpan] | None:
        if not self.chords:
            return None
        text = self.chords
        if Path(text).is_file():
            text = Path(text).read_text().replace("\n", " | ")
        return parse_progression(text, beats_per_bar=self.beats_per_bar())


def parse_form(sections: str | None) -> str:
    if not sections:
        return FORMS[4]
    text = sections.strip().upper()
    if text.isdigit():
        n = int(text)
        if n not in FORMS:
            raise MidiforgeError(f"--sections {n}: choose 1..{max(FORMS)} or a form such as AABA")
        return FORMS[n]
    if not text.isalpha() or len(text) > 16:
        raise MidiforgeError(f"bad form '{sections}' (use letters such as AABA, or a number of sections)")
    return text


def key_of_chords(chords: list[Chord]) -> Key:
    """The key a progression is in: the key whose scale (with the minor key's raised 6th and 7th)
    holds most of its chord tones; ties go to the key whose tonic chord opens, then closes it."""
    first, last = chords[0], chords[-1]

    def score(key: Key) -> tuple:
        pcs = allowed_pcs(key)
        inside = sum(len(c.pitch_classes & pcs) for c in chords)
        tonic_first = first.root_pc == key.tonic_pc and (first.quality.startswith("min")) == (key.mode == "minor")
        tonic_last = last.root_pc == key.tonic_pc
        return (inside, tonic_first, tonic_last, key.mode == "major")

    return max(ALL_KEYS, key=score)


def allowed_pcs(key: Key, chords: list[Chord] | None = None) -> frozenset[int]:
    """What the key lock lets through: the scale, the minor key's raised 6th and 7th, and every
    tone of the chords asked for (A7 in C major plays its C#)."""
    pcs = set(key.scale_pcs)
    if key.mode == "minor":
        pcs |= {(key.tonic_pc + 9) % 12, (key.tonic_pc + 11) % 12}
    for chord in chords or []:
        pcs |= chord.pitch_classes
    return frozenset(pcs)


# ---------------------------------------------------------------------------------- requests
#: Notes at once per role (0 = any): the comping part voices chords of up to five notes.
MAX_VOICES = {"melody": 0, "chords": 5, "bass": 0, "drums": 0}


def role_parts(roles: list[str]) -> dict[int, PartRules]:
    return {ROLE_PROGRAMS[r]: PartRules(*REGISTERS[r], monophonic=MONOPHONIC[r], max_voices=MAX_VOICES[r])
            for r in roles}


def chord_plan(engine: Engine, spans: list[ChordSpan], start_bar: int, n_bars: int, options: StyleOptions) -> ChordPlan:
    """Lay the (looping) progression over ``n_bars`` bars starting at song bar ``start_bar``."""
    steps_per_bar = options.steps_per_bar(engine.steps_per_beat)
    per_quarter = options.steps_per_quarter(engine.steps_per_beat)
    loop_bars = max(s.bar for s in spans) + 1
    starts, pcs, roots, bar_chords = [], [], [], []
    for bar in range(n_bars):
        song_bar = (start_bar + bar) % loop_bars
        in_bar = [s for s in spans if s.bar == song_bar] or [_sounding(spans, song_bar)]
        for s in in_bar:
            starts.append(bar * steps_per_bar + round(s.beat * per_quarter))
            pcs.append(s.chord.pitch_classes)
            roots.append(s.chord.root_pc)
        bar_chords.append(engine.codec.chord_id(in_bar[0].chord))
    follow = {ROLE_PROGRAMS[r]: mode for r, mode in CHORD_FOLLOW.items()}
    return ChordPlan(starts=starts, pitch_classes=pcs, roots=roots, chord_token_ids=bar_chords, follow_programs=follow)


def model_chord_plan(engine: Engine, n_bars: int, options: StyleOptions, anchors: dict[int, Chord] | None = None
                     ) -> ChordPlan:
    """The model chooses each bar's chord and the chord track and bass play it (its tones, the
    root on the downbeat); bars in ``anchors`` (e.g. the tonic on the last bar) are asked for."""
    steps = options.steps_per_bar(engine.steps_per_beat)
    anchors = anchors or {}
    return ChordPlan(
        starts=[b * steps for b in range(n_bars)],
        pitch_classes=[anchors[b].pitch_classes if b in anchors else None for b in range(n_bars)],
        roots=[anchors[b].root_pc if b in anchors else 0 for b in range(n_bars)],
        chord_token_ids=[engine.codec.chord_id(anchors[b]) if b in anchors else -1 for b in range(n_bars)],
        follow_programs={ROLE_PROGRAMS[r]: mode for r, mode in CHORD_FOLLOW.items()},
        follow_model=True,
    )


def tonic_chord(key: Key) -> Chord:
    return Chord(key.tonic_pc, "maj" if key.mode == "major" else "min")


def _sounding(spans: list[ChordSpan], bar: int) -> ChordSpan:
    before = [s for s in spans if s.bar < bar]
    last = before[-1] if before else spans[0]
    return ChordSpan(bar, 0.0, last.length, last.chord)


def make_request(
    engine: Engine,
    role: str,
    roles: list[str],
    key: Key,
    n_bars: int,
    options: StyleOptions,
    context: list[int] | None = None,
    plan: ChordPlan | None = None,
    groove: str = "none",
) -> Request:
    prefix = engine.codec.prefix_ids(role, key, options.tempo_bpm(), options.meter, groove, options.density_name())
    num, den = options.time_signature()
    try:
        timesig = engine.codec.timesig_id(num, den)
    except MidiforgeError:
        timesig = None
    spans = options.progression()
    return Request(
        prompt=prefix + list(context or []),
        n_bars=n_bars,
        steps_per_bar=options.steps_per_bar(engine.steps_per_beat),
        # styles resolve None before this
        key_pcs=allowed_pcs(key, [s.chord for s in spans or []]) if options.scale_lock else None,
        parts=role_parts(roles),
        chords=plan,
        timesig_id=timesig,
        max_tokens=n_bars * TOKENS_PER_BAR_MAX + 8,
        real_chords=True,
        downbeat_start=not context,
        bass_on_downbeat="bass" in roles and plan is not None,
    )


#: Bars of what came before that each chunk sees (besides the piece's prefix). One bar keeps the
#: line going across the seam and leaves room for 4-bar chunks (phrases) in the 512-token window;
#: two bars cost a 10-song run 20% more time for 3-bar chunks.
CONTEXT_BARS = 1
#: Typical tokens a bar (velocity tokens included) per role, to size chunks inside the window
#: (the band model writes ~87 a bar in songs); a chunk that runs out of room ends early.
TOKENS_PER_BAR = {"melody": 30, "bass": 30, "chords": 60, "drums": 60, "full": 90}
TOKENS_PER_BAR_MAX = 240  # a bar may take this many tokens before it is cut


def window_tokens(engine: Engine) -> int:
    """Prompt + new bars of one chunk stay inside the window the model was trained on."""
    return int(engine.context_length) - 32


ChunkCallback = Callable[[int, int, list[list[int]]], None]


#: A bar job: yields each round's requests and sampling, receives their tokens, returns the bars.
BarRounds = Generator[tuple[list[Request], SamplingConfig], list[Generated], list[list[int]]]


def run_bars(engine: Engine, build, n_rows: int, total_bars: int, role: str, sampling: SamplingConfig,
             first_context: list[list[int]] | None = None, on_chunk: ChunkCallback | None = None,
             echoes: dict[int, int] | None = None) -> list[list[int]]:
    """Generate ``total_bars`` bars for ``n_rows`` pieces (see :func:`bar_rounds`)."""
    job = bar_rounds(engine, build, n_rows, total_bars, role, sampling, first_context, on_chunk, echoes)
    return run_together(engine, [job])[0]


def at_loudness(engine: Engine, bar: list[int], source: tuple[int, int] | None,
                target: tuple[int, int] | None) -> list[int]:
    """A bar restated where the phrase's loudness differs: each velocity moves by the difference
    of the two ranges' middles and stays inside ``target``, at the nearest level the codec has
    (its accents kept, as far as the range allows)."""
    if source is None or target is None or source == target:
        return bar
    g = engine.grammar
    ids = np.nonzero(g.is_velocity)[0]
    levels = g.velocity_value[ids]
    inside = (levels >= target[0]) & (levels <= target[1])
    ids, levels = (ids[inside], levels[inside]) if inside.any() else (ids, levels)
    shift = (sum(target) - sum(source)) / 2
    out = []
    for t in bar:
        if g.is_velocity[t]:
            wanted = min(target[1], max(target[0], float(g.velocity_value[t]) + shift))
            t = int(ids[np.abs(levels - wanted).argmin()])
        out.append(t)
    return out


def run_together(engine: Engine, jobs: list[BarRounds]) -> list[list[list[int]]]:
    """Drive several bar jobs round by round, every round's requests sampled as one batch (e.g. a
    section's drums beside the next section's band); a round uses the first live job's sampling."""
    out: list[list[list[int]] | None] = [None] * len(jobs)
    asked: dict[int, tuple[list[Request], SamplingConfig]] = {}

    def advance(j: int, rows: list[Generated] | None) -> None:
        try:
            asked[j] = jobs[j].send(rows)  # type: ignore[arg-type]
        except StopIteration as stop:
            out[j] = stop.value
            asked.pop(j, None)

    for j in range(len(jobs)):
        advance(j, None)
    while asked:
        order = list(asked)
        rows = engine.run_rows([r for j in order for r in asked[j][0]], asked[order[0]][1])
        at = 0
        for j in order:
            n = len(asked[j][0])
            advance(j, rows[at : at + n])
            at += n
    return out  # type: ignore[return-value]


#: A bar's velocity range in row ``row`` (None: no bounds): ``loudness(row, bar)``.
Loudness = Callable[[int, int], "tuple[int, int] | None"]


def bar_rounds(engine: Engine, build, n_rows: int, total_bars: int, role: str, sampling: SamplingConfig,
               first_context: list[list[int]] | None = None, on_chunk: ChunkCallback | None = None,
               echoes: dict[int, int] | None = None, loudness: Loudness | None = None) -> BarRounds:
    """Generate ``total_bars`` bars for ``n_rows`` pieces in chunks that fit the trained window.

    ``build(row, context, start_bar, n_bars) -> Request``; each chunk's context is the end of what
    was generated before (or ``first_context`` for the first chunk), so the music runs on seamlessly.
    A chunk may use only the tokens left in the model's window after its prompt; a row whose chunk
    ran out of room drops the bar it was cut in and gets its missing bars in the next round. ``on_chunk(row, start_bar, bars)``
    hears each chunk's bars as soon as they are sampled.

    ``echoes`` ``{bar: earlier bar}``: that bar restates the earlier one as the model wrote it (a
    motif returning within a section, as in a period's second phrase); the model hears it as
    context and goes on from it. With ``loudness`` it returns at its own bar's loudness
    (:func:`at_loudness`).
    """
    per_bar = TOKENS_PER_BAR[role]
    window = window_tokens(engine)
    chunk = max(1, (window - 16 - CONTEXT_BARS * per_bar) // per_bar)
    echoes = {t: s for t, s in (echoes or {}).items() if s < t < total_bars}
    done: list[list[int]] = [[] for _ in range(n_rows)]
    have = [0] * n_rows

    def restate(i: int) -> None:
        while have[i] in echoes:
            bar = split_bars(done[i], engine)[echoes[have[i]]]
            if loudness is not None:
                bar = at_loudness(engine, bar, loudness(i, echoes[have[i]]), loudness(i, have[i]))
            done[i].extend(bar)
            if on_chunk is not None:
                on_chunk(i, have[i], [bar])
            have[i] += 1

    def chunk_bars(i: int) -> int:
        upto = min([t for t in echoes if t > have[i]] + [total_bars])
        return min(chunk, upto - have[i])

    for round_ in range(4 * total_bars + 4):
        for i in range(n_rows):
            if have[i]:
                restate(i)
        rows = [i for i in range(n_rows) if have[i] < total_bars]
        if not rows:
            break
        reqs = []
        for i in rows:
            source = done[i] if have[i] else (first_context[i] if first_context else [])
            context = [t for b in split_bars(source, engine)[-CONTEXT_BARS:] for t in b] if source else []
            req = build(i, context, have[i], chunk_bars(i))
            if len(req.prompt) > window - 16:  # an over-long context bar: keep the prefix only
                req = build(i, [], have[i], chunk_bars(i))
            reqs.append(replace(req, may_end=False, max_tokens=max(16, window - len(req.prompt))))
        seed = None if sampling.seed is None else sampling.seed + 7919 * round_
        outs = yield reqs, replace(sampling, seed=seed)
        for i, out in zip(rows, outs, strict=True):
            bars = split_bars(out.tokens, engine)[: chunk_bars(i)] or [[engine.codec.bar_id]]
            if out.cut and len(bars) > 1:  # cut by the window mid-bar: the unfinished bar
                bars.pop()  # is written again, whole, in the next round
            done[i].extend(t for bar in bars for t in bar)
            if on_chunk is not None:
                on_chunk(i, have[i], bars)
            have[i] += len(bars)
    return done


# ---------------------------------------------------------------------------------- scores
def split_bars(tokens: list[int], engine: Engine) -> list[list[int]]:
    """Split generated tokens into bars (each starting with its Bar token)."""
    g = engine.grammar
    bars: list[list[int]] = []
    for tok in tokens:
        if g.type_idx[tok] == g.T_BAR or not bars:
            bars.append([])
        bars[-1].append(tok)
    return bars


def chords_of(tokens: list[int], engine: Engine) -> list[str]:
    """The chord symbol the model wrote (or was given) for each bar."""
    out = []
    for bar in split_bars(tokens, engine):
        names = [engine.codec.token(t) for t in bar if engine.grammar.is_chord[t]]
        name = names[0].removeprefix("Chord_") if names else "N"
        out.append("N.C." if name in ("N", "None") else Chord.from_token_name(name).symbol)
    return out


def finish_score(engine: Engine, tokens: list[int], options: StyleOptions, roles: list[str], markers: list[str] | None = None,
                 key: Key | None = None):
    """Decode, then set tempo/meter, role names, GM programs, monophony and chord markers.

    Every role gets its track, in role order, even when the model left it empty: MIDI channels
    then depend only on the roles, so live playback of a partly generated piece uses the same
    channels as the finished file.
    """
    import symusic

    score = engine.decode(tokens)
    tpq = score.ticks_per_quarter
    _trim(score, len(split_bars(tokens[tokens.index(engine.codec.bar_id):] if engine.codec.bar_id in tokens else [],
                                engine)) * tpq * options.beats_per_bar())
    score.tempos = [symusic.Tempo(0, options.tempo_bpm(), ttype="tick")]
    num, den = options.time_signature()
    score.time_signatures = [symusic.TimeSignature(0, num, den, ttype="tick")]
    by_program = {ROLE_PROGRAMS[r]: r for r in roles}
    tracks = {}
    for track in score.tracks:
        role = by_program.get(-1 if track.is_drum else int(track.program))
        if role is None or role in tracks:
            continue
        if MONOPHONIC[role]:
            _make_monophonic(track)
        else:
            _one_note_per_key(track)
        tracks[role] = track
    for role in by_program.values():
        track = tracks.get(role) or symusic.Track()
        track.name, track.program = ROLE_TRACKS[role]
        track.is_drum = role == "drums"
        tracks[role] = track
    score.tracks = [tracks[role] for role in by_program.values()]
    if "chords" in tracks and len(tracks) > 1:
        _pedal_through_silence(tracks["chords"], score.tracks, tpq * options.beats_per_bar(), tpq * 4 // den)
    if key is not None:
        from midiforge.music.keys import key_signature

        score.key_signatures = [symusic.KeySignature(0, *key_signature(key), ttype="tick")]
    if markers:
        bar_ticks = tpq * options.beats_per_bar()
        score.markers = [symusic.TextMeta(i * bar_ticks, text, ttype="tick") for i, text in enumerate(markers)]
    return score


def _trim(score, end: int) -> None:
    """Nothing sounds past the piece's last bar line (a long last note is cut there)."""
    if end <= 0:
        return
    for track in score.tracks:
        kept = [n for n in track.notes if n.time < end]
        for n in kept:
            n.duration = min(n.duration, end - n.time)
        track.notes = kept


def _make_monophonic(track) -> None:
    """Cut each note where the next one starts (the model already plays one note at a time); of
    notes starting together the highest stays."""
    _one_at_a_time(track, group=lambda n: 0, order=lambda n: (n.time, -n.pitch))


def _one_at_a_time(track, group, order) -> None:
    """Within each ``group`` of notes one sounds at a time: of notes starting together the first in
    ``order`` stays, and a note still sounding when the next one starts is cut there."""
    kept = []
    for note in sorted(track.notes, key=order):
        if kept and group(kept[-1]) == group(note):
            if kept[-1].time == note.time:
                continue
            if kept[-1].end > note.time:
                kept[-1].duration = note.time - kept[-1].time
        kept.append(note)
    track.notes = sorted(kept, key=lambda n: (n.time, n.pitch))


def _pedal_through_silence(chords, tracks, bar_ticks: int, beat_ticks: int) -> None:
    """Where the whole band would fall silent for a beat, the comping chord before the gap is held
    on (a sustain pedal) until the part's next chord or the bar line: articulation, not new notes.
    Bar by bar, so a partly generated piece (live playback) is drawn as the finished file is."""
    import numpy as np

    ends = [n.end for t in tracks for n in t.notes]
    if not ends or not len(chords.notes):
        return
    # To the last bar line: a partly generated piece, silent after its last note, pedals as the file will.
    sounding = np.zeros(-(-max(ends) // bar_ticks) * bar_ticks // beat_ticks, bool)
    for track in tracks:
        for n in track.notes:
            sounding[n.time // beat_ticks : -(-n.end // beat_ticks)] = True
    onsets = sorted({n.time for n in chords.notes})
    for note in chords.notes:
        bar_end = (note.time // bar_ticks + 1) * bar_ticks
        at = bisect.bisect_right(onsets, note.time)  # the part's next chord
        until = min(onsets[at], bar_end) if at < len(onsets) else bar_end
        gap = sounding[-(-note.end // beat_ticks) : until // beat_ticks]
        if note.end < until and len(gap) and not gap.all():
            note.duration = until - note.time


def _one_note_per_key(track) -> None:
    """A key sounds once at a time: of two notes of one pitch starting together the longer (then
    louder) stays, and a note still sounding when its pitch starts again is cut there. MIDI cannot
    tell such notes apart (files and synths pair the note-offs differently), so the file and live
    playback would hear them differently."""
    _one_at_a_time(track, group=lambda n: n.pitch, order=lambda n: (n.pitch, n.time, -n.duration, -n.velocity))


def score_renderer(engine: Engine, options: StyleOptions, role: str, keys: list[Key], roles: list[str],
                   grooves: list[str] | None = None):
    """``render(row, body, markers=None)``: piece ``row``'s tokens after its conditioning prefix,
    drawn as the file's score. One function for the written file and for live playback."""
    grooves = grooves or ["none"] * len(keys)
    prefixes = [engine.codec.prefix_ids(role, key, options.tempo_bpm(), options.meter, groove, options.density_name())
                for key, groove in zip(keys, grooves, strict=True)]

    def render(row: int, body: list[int], markers: list[str] | None = None):
        return finish_score(engine, prefixes[row] + body, options, roles, markers=markers, key=keys[row])

    return render


@dataclass(frozen=True)
class RowOffset:
    """A listener seen by a style that makes its pieces one call at a time: call ``i``'s row 0
    is the listener's row ``i`` (so only the first piece plays live, and every call can be
    stopped)."""

    listener: BarListener
    offset: int

    def piece(self, row: int, n_bars: int, render: Callable[[list[int]], Any]) -> None:
        self.listener.piece(row + self.offset, n_bars, render)

    def bars(self, row: int, first_bar: int, bars: list[list[int]]) -> None:
        self.listener.bars(row + self.offset, first_bar, bars)


def announce_pieces(engine: Engine, options: StyleOptions, n_rows: int, n_bars: int, render, prompt: list[int]
                    ) -> ChunkCallback | None:
    """Tell ``options.listener`` about each piece (``render(row, body)`` draws it) and hand over
    the prompt's bars; return the ``run_bars`` callback that passes on the generated bars."""
    listener = options.listener
    if listener is None:
        return None
    prompt_bars = split_bars(prompt, engine) if prompt else []
    for row in range(n_rows):
        listener.piece(row, len(prompt_bars) + n_bars, lambda body, row=row: render(row, body))
        if prompt_bars:
            listener.bars(row, 0, prompt_bars)
    return lambda row, start, bars: listener.bars(row, len(prompt_bars) + start, bars)


def prompt_context(engine: Engine, options: StyleOptions) -> list[int]:
    """Tokens of ``--prompt FILE.mid`` (its bars, without prefix) for the model to continue."""
    if options.prompt is None:
        return []
    from midiforge.generation.prompting import encode_prompt

    return encode_prompt(engine, options.prompt)
