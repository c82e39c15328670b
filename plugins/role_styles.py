"""The one-role styles (``melody``, ``chord``, ``bass``) and ``random``, and their registration.

``RoleStyle`` is also the building block for a third-party style that writes one role (see the
arpeggio example in ``docs/plugins.md``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from midiforge import hookimpl
from midiforge.generation.engine import Engine
from midiforge.generation.pieces import Piece, piece_stem
from midiforge.generation.sampler import Request, SamplingConfig
from midiforge.generation.styles import (
    RowOffset,
    StyleOptions,
    announce_pieces,
    chord_plan,
    chords_of,
    make_request,
    model_chord_plan,
    prompt_context,
    run_bars,
    score_renderer,
)


@dataclass(frozen=True)
class RoleStyle:
    """One role on its own: melody, chord progression or bassline clips (16 s by default)."""

    name: str
    role: str
    folder: str
    description: str
    default_seconds: float = 16.0

    def generate(self, engine: Engine, options: StyleOptions) -> list[Piece]:
        options.refuse_drums(self.name)
        options = replace(options, scale_lock=bool(options.scale_lock))
        n_bars = options.n_bars(self.default_seconds)
        keys, grooves = options.keys(options.n), options.grooves(options.n)
        spans = options.progression()
        prompt = prompt_context(engine, options)

        def build(i: int, context: list[int], start: int, n: int) -> Request:
            plan = chord_plan(engine, spans, start, n, options) if spans else model_chord_plan(engine, n, options)
            return make_request(engine, self.role, [self.role], keys[i], n, options, context, plan, grooves[i])

        render = score_renderer(engine, options, self.role, keys, [self.role], grooves)
        on_chunk = announce_pieces(engine, options, len(keys), n_bars, render, prompt)
        outs = run_bars(engine, build, len(keys), n_bars, self.role, options.sampling, [prompt] * len(keys), on_chunk)
        pieces = []
        for i, (k, toks) in enumerate(zip(keys, outs, strict=True)):
            chords = chords_of(toks, engine)
            score = render(i, prompt + toks, markers=chords_of(prompt, engine) + chords if prompt else chords)
            meta = {"style": self.name, "key": k.name, "groove": grooves[i], "tempo": options.tempo_bpm(), "bars": n_bars,
                    "chords": chords}
            pieces.append(Piece(score, self.folder, piece_stem(self.name, k.token, options.tempo_bpm(), options.seed, i), meta))
        return pieces


@dataclass(frozen=True)
class RandomStyle:
    """A random role per clip (melody, chords or bass)."""

    name: str = "random"
    description: str = "Random clips: each one a melody, a chord progression or a bassline."

    def generate(self, engine: Engine, options: StyleOptions) -> list[Piece]:
        options.refuse_drums(self.name)
        rng = random.Random(options.seed)
        pieces: list[Piece] = []
        for i in range(options.n):
            style = rng.choice(ROLE_STYLES)
            heard = RowOffset(options.listener, i) if options.listener is not None else None
            one = StyleOptions(**{**options.__dict__, "n": 1, "listener": heard})
            if options.seed is not None:
                one.sampling = SamplingConfig(**{**options.sampling.__dict__, "seed": options.seed + i})
            for p in style.generate(engine, one):
                p.folder, p.stem = "random", p.stem.replace("_000", f"_{i:03d}")
                pieces.append(p)
        return pieces


ROLE_STYLES = [
    RoleStyle("melody", "melody", "melodies", "Monophonic melodies (16 s clips by default)."),
    RoleStyle("chord", "chords", "chords", "Chord progressions: three or more notes at most onsets."),
    RoleStyle("bass", "bass", "basslines", "Monophonic basslines in a low register."),
]


@hookimpl
def register_styles(register):
    for style in ROLE_STYLES:
        register(style)
    register(RandomStyle())
