"""The ``harmonic`` style (multi-track songs) and ``all-scales`` (pattern sets in every key), and
their registration.

A song's sections are generated once per distinct letter of its form (``AABA`` → A and B), for all
songs of the batch at the same time; section B sees the end of section A as context, and a repeated
letter is the same tokens again — so the chorus really repeats and half the tokens are never sampled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from functools import partial

import symusic

from midiforge import hookimpl
from midiforge.data.vocab import ROLE_PROGRAMS
from midiforge.errors import MidiforgeError
from midiforge.generation.drums import MODEL_DRUMS, SongLayout, find_drummer
from midiforge.generation.engine import Engine
from midiforge.generation.grammar import Grammar
from midiforge.generation.pieces import Piece, piece_stem
from midiforge.generation.sampler import ChordPlan
from midiforge.generation.styles import (
    BarRounds,
    StyleOptions,
    allowed_pcs,
    announce_pieces,
    bar_rounds,
    check_dynamics,
    chord_plan,
    chords_of,
    finish_score,
    make_request,
    model_chord_plan,
    parse_form,
    run_bars,
    run_together,
    score_renderer,
    split_bars,
    tonic_chord,
)
from midiforge.music.dynamics import band_velocity, bar_volumes, louder, phrase_walk
from midiforge.music.keys import ALL_KEYS

SONG_ROLES = ["melody", "chords", "bass"]
#: How far a drum note's velocity may lie from the band's mean velocity in its bar. In the band
#: corpus the drums' loudness follows the band's bar by bar (slope 0.98, correlation 0.96 over 300
#: files) and a drum note lies within 24 of its bar's drum mean 99% of the time; the model's drums,
#: written in their own pass, cannot hear the band, so this range is what keeps them with it.
DRUM_LOUDNESS_RANGE = 24
#: How far a note of the band may lie from its phrase's loudness (``band_velocity`` of the bar's
#: volume) under ``--dynamics phrases``: in the band corpus every melody note and 97% of chord and
#: bass notes lie within it (200 tunes, two renditions each), so beat accents keep their room.
PHRASE_LOUDNESS_RANGE = 28


@dataclass(frozen=True)
class HarmonicStyle:
    name: str = "harmonic"
    description: str = "Multi-track songs (melody, chords, bass; drums with --drums) in one key and groove, with sections, ~60 s."
    folder: str = "songs"
    default_seconds: float = 60.0

    def generate(self, engine: Engine, options: StyleOptions) -> list[Piece]:
        options = replace(options, scale_lock=options.scale_lock is not False)  # one key unless asked otherwise
        wants_drums = options.drums or options.drummer is not None
        # the model's own drums when it learned them (or --drummer model); else a drummer plugin follows its parts
        model_drums = options.drummer == MODEL_DRUMS or (options.drummer is None and engine.learned_drums)
        if wants_drums and model_drums and -1 not in engine.grammar.programs:
            raise MidiforgeError("this model's codec has no drums role; use a drummer plugin (--drummer groove)")
        drummer = find_drummer(options.drummer) if wants_drums and not model_drums else None
        own_drums = wants_drums and drummer is None
        form = parse_form(options.sections)
        options.check_pickup()
        check_dynamics(options.dynamics)
        total_bars = options.n_bars(self.default_seconds)
        section_bars = options.section_bars or max(1, round(total_bars / len(form)))
        keys, grooves = options.keys(options.n), options.grooves(options.n)
        spans = options.progression()
        song_bars = len(form) * section_bars
        draw = score_renderer(engine, options, "full", keys, SONG_ROLES, grooves)
        letters = list(dict.fromkeys(form))
        first_bar = {letter: form.index(letter) * section_bars for letter in letters}
        drum_sections: dict[str, list[list[int]]] = {}
        phrases = song_dynamics(options, len(keys), len(letters), section_bars) if engine.codec.learns_velocity else None
        loudness = None if phrases is None else {
            letter: [phrase_ranges(walk, k * section_bars, section_bars) for walk in phrases]
            for k, letter in enumerate(letters)}

        def render(i: int, body: list[int], markers: list[str] | None = None):
            score = draw(i, body, markers)
            n_bars = len(split_bars(body, engine))
            if own_drums:
                score.tracks.append(_model_drums(engine, options, keys[i], grooves[i], form, drum_sections, i, n_bars))
                score.markers.append(symusic.TextMeta(0, "drums:model", ttype="tick"))
            elif drummer is not None:
                layout = SongLayout(form, section_bars, options.time_signature(), options.tempo_bpm(),
                                    score.ticks_per_quarter, options.seed)
                score.tracks.append(drummer.drum_track(score, layout))
            return score

        on_chunk = announce_pieces(engine, options, len(keys), song_bars, render, [])
        sections: dict[str, list[list[int]]] = {}
        places = {x: [k * section_bars for k, y in enumerate(form) if y == x] for x in letters}
        if options.vary_repeats:  # a repeat is rewritten after sampling: live playback takes it from the file
            places = {x: at[:1] for x, at in places.items()}

        def hear(letter: str, i: int, start: int, bars: list[list[int]]) -> None:
            for at in places[letter]:  # a repeated section is heard at every place it plays
                on_chunk(i, at + start, bars)

        def land_drums(letter: str, rows: list[list[int]]) -> None:
            """A section's drums are written: its band and drums are heard together."""
            drum_sections[letter] = rows
            if on_chunk is not None:
                for i in range(len(keys)):
                    hear(letter, i, 0, split_bars(sections[letter][i], engine))

        previous: list[list[int]] | None = None
        periods = themes(form)
        drums_due: str | None = None  # the section whose drums are still to write
        for letter in letters:
            def build(i, context, start, n, letter=letter):
                at = first_bar[letter] + start
                if spans:
                    plan = chord_plan(engine, spans, at, n, options)
                else:  # the model's chords; the song opens and closes on the tonic
                    anchors = {b - at: tonic_chord(keys[i]) for b in (0, song_bars - 1) if at <= b < at + n}
                    if letter == form[-1] and start + n == section_bars:
                        anchors[n - 1] = tonic_chord(keys[i])  # every close of the last section's letter
                    plan = model_chord_plan(engine, n, options, anchors)
                if loudness is not None:  # the phrase's loudness: the model picks each velocity inside it
                    plan = replace(plan, velocity_ranges=loudness[letter][i][start : start + n])
                req = make_request(engine, "full", SONG_ROLES, keys[i], n, options, context, plan, grooves[i])
                # melody and comping rest for a bar at most: no section loses its tune or its chords
                rests = {ROLE_PROGRAMS["melody"]: 1, ROLE_PROGRAMS["chords"]: 1}
                return replace(req, downbeat_start=start == 0, rests_at_most=rests)

            sampling = _section_sampling(options, letter)
            live = None if own_drums or on_chunk is None else partial(hear, letter)
            heard_at = None if loudness is None else partial(_bar_range, loudness[letter])
            echoes = motif_returns(section_bars, spans, first_bar[letter]) if letter in periods else {}
            jobs = [bar_rounds(engine, build, len(keys), section_bars, "full", sampling, previous, live,
                               echoes, heard_at)]
            if drums_due:  # the last section's drums, sampled in one batch with this section's band
                jobs.append(_drum_rounds(engine, options, keys, grooves, sections[drums_due], drums_due))
            sections[letter], *drums = run_together(engine, jobs)
            if drums:
                land_drums(drums_due, drums[0])
            drums_due = letter if own_drums else None
            previous = sections[letter]
        if drums_due:
            land_drums(drums_due, run_together(engine, [_drum_rounds(engine, options, keys, grooves,
                                                                     sections[drums_due], drums_due)])[0])
        pieces = []
        for i, key in enumerate(keys):
            body = [t for letter in form for t in sections[letter][i]]
            progression = chords_of(body, engine)
            score = render(i, body, markers=progression)
            song_ranges = None if loudness is None else [r for letter in form for r in loudness[letter][i]]
            if options.vary_repeats:
                score = vary_repeats(engine, score, form, section_bars, options, song_ranges)
            if options.pickup:
                score = with_pickup(engine, score, options, key, song_ranges[0] if song_ranges else None)
            meta = {
                "style": self.name, "key": key.name, "groove": grooves[i], "tempo": options.tempo_bpm(), "form": form,
                "bars": len(progression), "progression": progression,
            }
            if options.pickup:
                meta["pickup"] = options.pickup
            if phrases is not None:
                meta["dynamics"] = dynamics_marks(phrases[i], letters, section_bars)
            if wants_drums:
                meta["drums"] = drummer.name if drummer is not None else "model"
                meta["drum_notes"] = sum(len(t.notes) for t in score.tracks if t.is_drum)
            stem = piece_stem(f"song_{form}", key.token, options.tempo_bpm(), options.seed, i)
            pieces.append(Piece(score, self.folder, stem, meta))
        return pieces


def themes(form: str) -> set[str]:
    """The sections whose second phrase restates their first (``motif_returns``): those the song
    comes back to, or every one of a form that comes back to none. A section heard once among
    returning ones is the contrast (the B of AABA, a bridge) and is written through: a restated bar
    in every section made one melody bar in eight a repeat, above the 7% of real folk tunes."""
    returning = {x for x in form if form.count(x) > 1}
    return returning or set(form)


def motif_returns(section_bars: int, spans, start_bar: int) -> dict[int, int]:
    """The section's second phrase opens with its first bar (a period: a a'), as ``run_bars``
    echoes: ``{section_bars // 2: 0}`` for sections of 4 bars or more, where the asked chords (if
    any) are the same under both bars. Real folk tunes repeat about 8% of their bars this way."""
    if section_bars < 4:
        return {}
    target = section_bars // 2
    if spans:
        loop = max(s.bar for s in spans) + 1

        def harmony(bar: int) -> list:
            bar %= loop
            held = ([s for s in spans if s.bar < bar] or spans)[-1]  # a bar with no change holds the last chord
            return [(s.beat, s.chord) for s in spans if s.bar == bar] or [(0.0, held.chord)]

        if harmony(start_bar) != harmony(start_bar + target):
            return {}
    return {target: 0}


def song_dynamics(options: StyleOptions, n_songs: int, n_sections: int, section_bars: int) -> list[list] | None:
    """Each song's phrase dynamics (the corpus's walk, ``phrase_walk``, its phrases starting
    between ``p`` and ``f`` and afresh at every section) over its distinct sections in order, so a
    repeated section comes back at its own loudness; None for ``--dynamics free`` (checked by the
    style before)."""
    if options.dynamics == "free":
        return None
    seeded = options.seed is not None
    return [phrase_walk(random.Random(f"dynamics:{options.seed}:{i}" if seeded else None), n_sections * section_bars,
                        extremes_held=False, section_bars=section_bars)
            for i in range(n_songs)]


def _bar_range(section: list[list[tuple[int, int]]], row: int, bar: int) -> tuple[int, int]:
    """``bar_rounds``' loudness: bar ``bar`` of song ``row`` in a section's ranges."""
    return section[row][bar]


def phrase_ranges(walk: list, first_bar: int, n_bars: int) -> list[tuple[int, int]]:
    """The velocities the band may take in bars ``first_bar`` … of a walk: its phrase's loudness,
    plus or minus ``PHRASE_LOUDNESS_RANGE``."""
    middles = [round(band_velocity(v)) for v in bar_volumes(walk, first_bar + n_bars)[first_bar:]]
    return [(m - PHRASE_LOUDNESS_RANGE, m + PHRASE_LOUDNESS_RANGE) for m in middles]


def dynamics_marks(walk: list, letters: list[str], section_bars: int) -> str:
    """The walk as a summary reads it, one mark per phrase, ``p<f`` for a swell and ``f>p`` for a
    fade, section by section: ``A: mp mp<f | B: f>p``."""
    marks: list[list[str]] = [[] for _ in letters]
    bar = 0
    for p in walk:
        mark = p.start if p.start == p.end else f"{p.start}{'<' if louder(p.end, p.start) else '>'}{p.end}"
        marks[min(bar // section_bars, len(letters) - 1)].append(mark)
        bar += p.bars
    return " | ".join(f"{x}: {' '.join(m)}" for x, m in zip(letters, marks, strict=True))


def _drum_rounds(engine: Engine, options: StyleOptions, keys, grooves, band: list[list[int]], letter: str
                 ) -> BarRounds:
    """The model's drum part (``Role_drums`` rows) for one section, each bar on the chord the band
    plays there, in the song's key, tempo, meter and groove: a job for ``run_together``."""
    g = engine.grammar
    no_chord = engine.codec.chord_id(None)
    band_bars = [split_bars(toks, engine) for toks in band]
    chords = [[next((t for t in bar if g.is_chord[t]), no_chord) for bar in bars] for bars in band_bars]
    loudness = [[_velocity_range(bar, g) for bar in bars] for bars in band_bars]

    def build(i, context, start, n):
        bars = chords[i][start : start + n]
        steps = options.steps_per_bar(engine.steps_per_beat)
        plan = ChordPlan(starts=[b * steps for b in range(n)], pitch_classes=[None] * n, roots=[0] * n,
                         chord_token_ids=bars + [-1] * (n - len(bars)),
                         velocity_ranges=loudness[i][start : start + n])
        return make_request(engine, "drums", ["drums"], keys[i], n, options, context, plan, grooves[i])

    sampling = _section_sampling(options, letter)
    n_bars = max(len(c) for c in chords)
    return bar_rounds(engine, build, len(keys), n_bars, "drums",
                      replace(sampling, seed=None if sampling.seed is None else sampling.seed + 17))


def _velocity_range(bar: list[int], g: Grammar) -> tuple[int, int] | None:
    """The velocities a drum note may take under one bar of the band (None: the band is silent)."""
    velocities = g.velocity_value[[t for t in bar if g.is_velocity[t]]]
    if not len(velocities):
        return None
    mean = int(round(float(velocities.mean())))
    return mean - DRUM_LOUDNESS_RANGE, mean + DRUM_LOUDNESS_RANGE


def _model_drums(engine: Engine, options: StyleOptions, key, groove: str, form: str,
                 drum_sections: dict[str, list[list[int]]], row: int, n_bars: int):
    """The drum track of song ``row``'s first ``n_bars`` bars from its sections' drum parts."""
    body = [t for letter in form if letter in drum_sections for t in drum_sections[letter][row]]
    bars = split_bars(body, engine)[:n_bars]
    prefix = engine.codec.prefix_ids("drums", key, options.tempo_bpm(), options.meter, groove, options.density_name())
    score = finish_score(engine, prefix + [t for b in bars for t in b], options, ["drums"])
    return score.tracks[0] if len(score.tracks) else symusic.Track("Drums", is_drum=True)


def vary_repeats(engine: Engine, score, form: str, section_bars: int, options: StyleOptions,
                 ranges: list[tuple[int, int]] | None = None):
    """``--vary-repeats``: every later occurrence of a section gets about a quarter of its melody
    bars rewritten by the model (infilling, same chords), so a repeat is recognisably varied;
    ``ranges``: each song bar's velocities (the phrase dynamics), kept in the rewritten bars."""
    from midiforge.generation.infill import infill

    rng = random.Random(options.seed)
    seen: set[str] = set()
    for index, letter in enumerate(form):
        if letter in seen:
            first = index * section_bars
            for bar in sorted(rng.sample(range(first, first + section_bars), max(1, section_bars // 4))):
                score = infill(engine, score, (bar, bar + 1), "melody", options.sampling, keep_harmony=True,
                               velocity_ranges=[ranges[bar]] if ranges else None).score
        seen.add(letter)
    return score


def with_pickup(engine: Engine, score: symusic.Score, options: StyleOptions, key,
                loudness: tuple[int, int] | None = None) -> symusic.Score:
    """``--pickup N``: the song moves one bar later and the model writes the melody's upbeat into
    the bar before it (infilling: it hears the song the upbeat leads into), its first note N beats
    before bar 1, in key, at ``loudness`` (the first bar's velocity range) when given. The band comes
    in on bar 1, as after a sung upbeat."""
    from midiforge.generation.infill import infill

    beats, unit = options.time_signature()
    bar = score.ticks_per_quarter * 4 * beats // unit
    moved = score.shift_time(bar)
    for events in (moved.time_signatures, moved.tempos, moved.key_signatures):
        for event in events:  # the meter, tempo and key hold from the first bar
            if event.time == bar:
                event.time = 0
    lock = allowed_pcs(key, [s.chord for s in options.progression() or []]) if options.scale_lock else None
    first = (beats - options.pickup) * engine.steps_per_beat
    return infill(engine, moved, (0, 1), "melody", options.sampling,
                  rules={"first_onset": first, "key_pcs": lock}, velocity_ranges=[loudness] if loudness else None).score


def _section_sampling(options: StyleOptions, letter: str):
    if options.seed is None:
        return options.sampling
    return replace(options.sampling, seed=options.seed * 31 + ord(letter))


@dataclass(frozen=True)
class AllScalesStyle:
    name: str = "all-scales"
    description: str = "N patterns (melody, chords, bass) in each of the 24 major and minor keys, one folder per key."
    default_seconds: float = 16.0

    def generate(self, engine: Engine, options: StyleOptions) -> list[Piece]:
        options.refuse_drums(self.name)
        role = options.role or "full"
        if role not in ("full", "melody", "chords", "bass"):
            raise MidiforgeError(f"--role {role}: choose full, melody, chords or bass")
        roles = SONG_ROLES if role == "full" else [role]
        n_bars = options.n_bars(self.default_seconds)
        keys = [key for key in ALL_KEYS for _ in range(options.n)]
        locked = replace(options, scale_lock=options.scale_lock is not False)

        grooves = options.grooves(len(keys))

        def build(i, context, start, n):
            tonic = tonic_chord(keys[i])
            anchors = {b - start: tonic for b in (0, n_bars - 1) if start <= b < start + n}
            return make_request(engine, role, roles, keys[i], n, locked, context,
                                model_chord_plan(engine, n, locked, anchors), grooves[i])

        render = score_renderer(engine, options, role, keys, roles, grooves)
        on_chunk = announce_pieces(engine, options, len(keys), n_bars, render, [])
        outs = run_bars(engine, build, len(keys), n_bars, role, options.sampling, None, on_chunk)
        pieces = []
        for i, (key, toks) in enumerate(zip(keys, outs, strict=True)):
            score = render(i, toks, markers=chords_of(toks, engine))
            meta = {"style": self.name, "role": role, "key": key.name, "tempo": options.tempo_bpm(), "bars": n_bars,
                    "chords": chords_of(toks, engine)}
            stem = piece_stem(f"{role}", key.token, options.tempo_bpm(), options.seed, i % options.n)
            pieces.append(Piece(score, f"scales/{key.token}", stem, meta))
        return pieces


@hookimpl
def register_styles(register):
    register(HarmonicStyle())
    register(AllScalesStyle())
