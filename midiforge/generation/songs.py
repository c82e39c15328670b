"""Multi-track songs and all-key pattern sets.

A song's sections are generated once per distinct letter of its form (``AABA`` → A and B), for all
songs of the batch at the same time; section B sees the end of section A as context, and a repeated
letter is the same tokens again — so the chorus really repeats and half the tokens are never sampled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from midiforge.data.vocab import ROLE_PROGRAMS
from midiforge.errors import MidiforgeError
from midiforge.generation.drums import MODEL_DRUMS, SongLayout, find_drummer
from midiforge.generation.engine import Engine
from midiforge.generation.pieces import Piece, piece_stem
from midiforge.generation.styles import (
    FORMS,
    StyleOptions,
    announce_pieces,
    chord_plan,
    chords_of,
    make_request,
    run_bars,
    score_renderer,
)
from midiforge.music.keys import ALL_KEYS

SONG_ROLES = ["melody", "chords", "bass"]


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


@dataclass(frozen=True)
class HarmonicStyle:
    name: str = "harmonic"
    description: str = "Multi-track songs (melody, chords, bass) in one key with a form of sections, ~60 s."
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
        roles = SONG_ROLES + (["drums"] if wants_drums and drummer is None else [])
        form = parse_form(options.sections)
        total_bars = options.n_bars(self.default_seconds)
        section_bars = options.section_bars or max(1, round(total_bars / len(form)))
        keys = options.keys(options.n)
        spans = options.progression()
        draw = score_renderer(engine, options, "full", keys, roles)

        def render(i: int, body: list[int], markers: list[str] | None = None):
            score = draw(i, body, markers)
            if drummer is not None:
                layout = SongLayout(form, section_bars, options.time_signature(), options.tempo_bpm(),
                                    score.ticks_per_quarter, options.seed)
                score.tracks.append(drummer.drum_track(score, layout))
            return score

        on_chunk = announce_pieces(engine, options, len(keys), len(form) * section_bars, render, [])
        letters = list(dict.fromkeys(form))
        first_bar = {letter: form.index(letter) * section_bars for letter in letters}
        sections: dict[str, list[list[int]]] = {}
        previous: list[list[int]] | None = None
        for letter in letters:
            def build(i, context, start, n, letter=letter):
                plan = chord_plan(engine, spans, first_bar[letter] + start, n, options) if spans else None
                return make_request(engine, "full", roles, keys[i], n, options, context, plan)

            def heard(i, start, bars, places=tuple(k * section_bars for k, x in enumerate(form) if x == letter)):
                for at in places:  # a repeated section is heard at every place it plays
                    on_chunk(i, at + start, bars)

            sections[letter] = run_bars(engine, build, len(keys), section_bars, "full",
                                        _section_sampling(options, letter), previous, on_chunk and heard)
            previous = sections[letter]
        pieces = []
        for i, key in enumerate(keys):
            body = [t for letter in form for t in sections[letter][i]]
            progression = chords_of(body, engine)
            score = render(i, body, markers=progression)
            meta = {
                "style": self.name, "key": key.name, "tempo": options.tempo_bpm(), "form": form,
                "bars": len(progression), "progression": progression,
            }
            if wants_drums:
                meta["drums"] = drummer.name if drummer is not None else "model"
                meta["drum_notes"] = sum(len(t.notes) for t in score.tracks if t.is_drum)
            stem = piece_stem(f"song_{form}", key.token, options.tempo_bpm(), options.seed, i)
            pieces.append(Piece(score, self.folder, stem, meta))
        return pieces


def _section_sampling(options: StyleOptions, letter: str):
    from dataclasses import replace

    if options.seed is None:
        return options.sampling
    return replace(options.sampling, seed=options.seed * 31 + ord(letter))


def tonic_anchor_plan(engine: Engine, key, start_bar: int, n_bars: int, total_bars: int, options: StyleOptions):
    """The first and last bars of the piece sound the tonic chord (chord track and bass follow it);
    every other bar's chord is the model's choice among the chords of the key."""
    from midiforge.generation.sampler import ChordPlan
    from midiforge.music.chords import Chord

    tonic = Chord(key.tonic_pc, "maj" if key.mode == "major" else "min")
    steps = options.beats_per_bar() * engine.steps_per_beat
    anchored = {0, total_bars - 1}
    bars = range(start_bar, start_bar + n_bars)
    return ChordPlan(
        starts=[i * steps for i in range(n_bars)],
        pitch_classes=[tonic.pitch_classes if b in anchored else None for b in bars],
        roots=[tonic.root_pc] * n_bars,
        chord_token_ids=[engine.codec.chord_id(tonic) if b in anchored else -1 for b in bars],
        follow_programs={ROLE_PROGRAMS["chords"]: "root", ROLE_PROGRAMS["bass"]: "root"},
    )


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

        def build(i, context, start, n):
            plan = tonic_anchor_plan(engine, keys[i], start, n, n_bars, locked)
            return make_request(engine, role, roles, keys[i], n, locked, context, plan)

        render = score_renderer(engine, options, role, keys, roles)
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
