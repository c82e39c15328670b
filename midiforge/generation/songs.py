"""Multi-track songs and all-key pattern sets.

A song's sections are generated once per distinct letter of its form (``AABA`` → A and B), for all
songs of the batch at the same time; section B sees the end of section A as context, and a repeated
letter is the same tokens again — so the chorus really repeats and half the tokens are never sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

from midiforge.errors import MidiforgeError
from midiforge.generation.engine import Engine
from midiforge.generation.pieces import Piece, piece_stem
from midiforge.generation.styles import (
    FORMS,
    ROLE_STYLES,
    StyleOptions,
    chord_plan,
    chords_of,
    finish_score,
    make_request,
    run_bars,
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
        roles = SONG_ROLES + (["drums"] if options.drums else [])
        if options.drums and -1 not in engine.grammar.programs:
            raise MidiforgeError("this model's codec has no drums role; use --no-drums")
        form = parse_form(options.sections)
        total_bars = options.n_bars(self.default_seconds)
        section_bars = options.section_bars or max(1, round(total_bars / len(form)))
        keys = options.keys(options.n)
        spans = options.progression()
        letters = list(dict.fromkeys(form))
        first_bar = {letter: form.index(letter) * section_bars for letter in letters}
        sections: dict[str, list[list[int]]] = {}
        previous: list[list[int]] | None = None
        for letter in letters:
            def build(i, context, start, n, letter=letter):
                plan = chord_plan(engine, spans, first_bar[letter] + start, n, options) if spans else None
                return make_request(engine, "full", roles, keys[i], n, options, context, plan)

            sections[letter] = run_bars(engine, build, len(keys), section_bars, "full",
                                        _section_sampling(options, letter), previous)
            previous = sections[letter]
        pieces = []
        for i, key in enumerate(keys):
            body = [t for letter in form for t in sections[letter][i]]
            prefix = engine.codec.prefix_ids("full", key, options.tempo_bpm(), options.meter)
            progression = chords_of(body, engine)
            score = finish_score(engine, prefix + body, options, roles, markers=progression)
            meta = {
                "style": self.name, "key": key.name, "tempo": options.tempo_bpm(), "form": form,
                "bars": len(progression), "progression": progression,
            }
            if options.drums:  # the model writes drums only if it learned them from data with drum tracks
                meta["drum_notes"] = sum(len(t.notes) for t in score.tracks if t.is_drum)
            stem = piece_stem(f"song_{form}", key.token, options.tempo_bpm(), options.seed, i)
            pieces.append(Piece(score, self.folder, stem, meta))
        return pieces


def _section_sampling(options: StyleOptions, letter: str):
    from dataclasses import replace

    if options.seed is None:
        return options.sampling
    return replace(options.sampling, seed=options.seed * 31 + ord(letter))


@dataclass(frozen=True)
class AllScalesStyle:
    name: str = "all-scales"
    description: str = "N patterns in each of the 24 major and minor keys, one folder per key (key-locked)."
    default_seconds: float = 16.0

    def generate(self, engine: Engine, options: StyleOptions) -> list[Piece]:
        role = options.role or "melody"
        style = next((s for s in ROLE_STYLES if s.role == role), None)
        if style is None:
            raise MidiforgeError(f"--role {role}: choose melody, chords or bass")
        n_bars = options.n_bars(self.default_seconds)
        keys = [key for key in ALL_KEYS for _ in range(options.n)]
        locked = StyleOptions(**{**options.__dict__, "scale_lock": True})

        def build(i, context, start, n):
            return make_request(engine, style.role, [style.role], keys[i], n, locked, context)

        outs = run_bars(engine, build, len(keys), n_bars, style.role, options.sampling)
        pieces = []
        for i, (key, toks) in enumerate(zip(keys, outs, strict=True)):
            prefix = engine.codec.prefix_ids(style.role, key, options.tempo_bpm(), options.meter)
            score = finish_score(engine, prefix + toks, options, [style.role])
            meta = {"style": self.name, "role": role, "key": key.name, "tempo": options.tempo_bpm(), "bars": n_bars}
            stem = piece_stem(f"{style.name}", key.token, options.tempo_bpm(), options.seed, i % options.n)
            pieces.append(Piece(score, f"scales/{key.token}", stem, meta))
        return pieces
