"""The sampler's guarantees hold whatever the weights: checked with a random tiny model."""

from __future__ import annotations

from dataclasses import replace

import mido
import numpy as np

from midiforge.generation import SamplingConfig, StyleOptions, generate
from midiforge.generation.sampler import PartRules, Request
from midiforge.generation.styles import chord_plan, make_request, split_bars
from midiforge.music.chords import parse_chord
from midiforge.music.keys import parse_key


def _bars(tiny_engine, toks):
    return split_bars(toks, tiny_engine)


def test_grammar_bar_count_and_decodability(tiny_engine):
    key = parse_key("G major")
    opts = StyleOptions(bars=5, sampling=SamplingConfig(seed=0))
    reqs = [make_request(tiny_engine, "full", ["melody", "chords", "bass"], key, 5, opts) for _ in range(6)]
    outs = tiny_engine.run(reqs, SamplingConfig(seed=0, temperature=1.3))
    codec, g = tiny_engine.codec, tiny_engine.grammar
    for toks in outs:
        types = [codec.type_of[t] for t in toks]
        assert types.count("Bar") == 5
        for a, b in zip(types, types[1:], strict=False):
            if a == "Bar":
                assert b == "Chord"
            if a == "Program":
                assert b in ("Pitch", "PitchDrum")
            if a in ("Pitch", "PitchDrum"):
                assert b == "Velocity"
            if a == "Velocity":
                assert b == "Duration"
        assert codec.type_of[toks[-1]] not in ("Pitch", "Program", "Position")
        for bar in _bars(tiny_engine, toks):
            positions = [g.value[t] for t in bar if g.is_position[t]]
            assert positions == sorted(set(positions)) and all(p < 16 for p in positions)
        score = tiny_engine.decode(reqs[0].prompt + toks)
        assert score.note_num() >= 0


def test_monophony_register_and_key_lock(tiny_engine):
    key = parse_key("E minor")
    req = Request(prompt=tiny_engine.codec.prefix_ids("melody", key, 120, "4/4"), n_bars=6,
                  key_pcs=key.scale_pcs, parts={73: PartRules(60, 72, monophonic=True)})
    toks = tiny_engine.run([req] * 4, SamplingConfig(seed=2, temperature=1.5))
    g = tiny_engine.grammar
    for seq in toks:
        pitches = [int(g.value[t]) for t in seq if g.is_pitch[t]]
        assert pitches and all(60 <= p <= 72 and p % 12 in key.scale_pcs for p in pitches)
        for bar in _bars(tiny_engine, seq):
            per_position: dict[int, int] = {}
            pos = -1
            for t in bar:
                if g.is_position[t]:
                    pos = int(g.value[t])
                if g.is_pitch[t]:
                    per_position[pos] = per_position.get(pos, 0) + 1
            assert all(n == 1 for n in per_position.values())


def test_asked_chords_are_forced_and_followed(tiny_engine):
    opts = StyleOptions(bars=4, chords="Am F C G", sampling=SamplingConfig(seed=5))
    plan = chord_plan(tiny_engine, opts.progression(), 0, 4, opts)
    req = make_request(tiny_engine, "full", ["melody", "chords", "bass"], parse_key("C major"), 4, opts, plan=plan)
    [toks] = tiny_engine.run([req], SamplingConfig(seed=5, temperature=1.5))
    g, codec = tiny_engine.grammar, tiny_engine.codec
    for bar, symbol in zip(_bars(tiny_engine, toks), ["Am", "F", "C", "G"], strict=True):
        chord = parse_chord(symbol)
        assert codec.token(bar[1]) == f"Chord_{chord.token_name}"
        program, first_bass = None, True
        for t in bar:
            if g.is_program[t]:
                program = int(g.value[t])
            elif g.is_pitch[t] and program == 0:
                assert int(g.value[t]) % 12 in chord.pitch_classes
            elif g.is_pitch[t] and program == 32:
                if first_bass:
                    assert int(g.value[t]) % 12 == chord.root_pc
                first_bass = False
                assert int(g.value[t]) % 12 in chord.pitch_classes


def test_same_seed_same_tokens_and_ragged_prompts(tiny_engine):
    key = parse_key("D major")
    opts = StyleOptions(bars=2)
    short = make_request(tiny_engine, "melody", ["melody"], key, 2, opts)
    longer = make_request(tiny_engine, "melody", ["melody"], key, 2, opts)
    first = tiny_engine.run([short, longer], SamplingConfig(seed=9))
    longer.prompt = longer.prompt + first[1]  # a longer prompt in the same batch
    a = tiny_engine.run([short, longer], SamplingConfig(seed=9))
    b = tiny_engine.run([short, longer], SamplingConfig(seed=9))
    assert a == b
    assert sum(tiny_engine.codec.type_of[t] == "Bar" for t in a[1]) == 2  # may first finish the prompt's bar


def test_sampling_controls_change_the_distribution(tiny_engine):
    key = parse_key("C major")
    req = make_request(tiny_engine, "melody", ["melody"], key, 4, StyleOptions(bars=4))
    greedy = tiny_engine.run([req, req], SamplingConfig(temperature=0, seed=1))
    assert greedy[0] == greedy[1]
    topk1 = tiny_engine.run([req], SamplingConfig(top_k=1, seed=3))
    assert topk1[0] == greedy[0]
    wide = tiny_engine.run([req] * 3, SamplingConfig(temperature=1.5, top_p=1.0, seed=3))
    assert len({tuple(w) for w in wide}) > 1
    rep = tiny_engine.run([req], SamplingConfig(repetition_penalty=3.0, seed=3, no_repeat_ngram_size=3))
    g = tiny_engine.grammar
    pitches = [t for t in rep[0] if g.is_pitch[t]]
    grams = [tuple(pitches[i:i + 3]) for i in range(len(pitches) - 2)]
    recent = grams[-10:]
    assert len(recent) == len(set(recent)) or len(pitches) < 3


def test_drums_go_to_gm_channel_10(tiny_engine, tmp_path):
    options = StyleOptions(n=2, drums=True, section_bars=2, sections="AB", sampling=SamplingConfig(seed=3))
    result = generate("harmonic", options, out=tmp_path, engine=tiny_engine)
    for path, piece in zip(result.files, result.pieces, strict=True):
        channels = {m.channel for t in mido.MidiFile(str(path)).tracks for m in t if m.type == "note_on"}
        assert piece.meta["drum_notes"] == 0 or 9 in channels
        drums = [t for t in piece.score.tracks if t.is_drum]
        assert all(t.name == "Drums" for t in drums)


def test_rows_stopped_by_their_budget_say_so(tiny_engine):
    """Songs rewrite a bar the window cut (styles.bar_rounds): the sampler must say which rows its
    budget stopped, however few tokens short of it their stripped output ends, and no others."""
    opts = StyleOptions(bars=8)
    long = make_request(tiny_engine, "full", ["melody", "chords", "bass"], parse_key("C major"), 8, opts)
    short = make_request(tiny_engine, "bass", ["bass"], parse_key("C major"), 1, StyleOptions(bars=1))
    rows = tiny_engine.run_rows([replace(long, max_tokens=12), replace(short, max_tokens=400), long],
                                SamplingConfig(seed=3))
    assert [r.cut for r in rows] == [True, False, False]
    assert len(rows[0].tokens) <= 12
    assert sum(tiny_engine.codec.type_of[t] == "Bar" for t in rows[1].tokens) == 1
    assert sum(tiny_engine.codec.type_of[t] == "Bar" for t in rows[2].tokens) == 8


def test_no_eos_before_the_asked_bars(tiny_engine):
    req = make_request(tiny_engine, "bass", ["bass"], parse_key("F major"), 7, StyleOptions(bars=7))
    outs = tiny_engine.run([req] * 5, SamplingConfig(seed=11, temperature=2.0))
    assert all(sum(tiny_engine.codec.type_of[t] == "Bar" for t in o) == 7 for o in outs)
    assert not any(tiny_engine.codec.eos_id in o for o in outs)
    assert np.all([len(o) > 0 for o in outs])


def test_preview_writes_wav_and_piano_roll(tiny_engine, tmp_path):
    import wave

    from midiforge.generation import generate as run

    result = run("melody", StyleOptions(n=1, bars=2, sampling=SamplingConfig(seed=1)), out=tmp_path,
                 engine=tiny_engine, preview=True)
    midi = result.files[0]
    with wave.open(str(midi.with_suffix(".wav"))) as w:
        assert w.getframerate() == 22050 and w.getnframes() > 22050  # two bars at 120 bpm = 4 s
    assert midi.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_repeated_ngrams_are_banned_per_row():
    from midiforge.generation.sampler import _ban_repeated_ngrams

    # row 0: pitches 5 6 7 5 6 (a -1 gap is not a pitch): after "5 6" came 7, so 7 is banned
    # row 1: 5 6 then 6 5: no earlier "6 5", nothing banned; row 2: too short for a 3-gram
    recent = np.array([[5, -1, 6, 7, 5, 6], [-1, -1, 5, 6, 6, 5], [-1, -1, -1, -1, 5, 6]])
    x = np.zeros((3, 10))
    _ban_repeated_ngrams(x, recent, 3)
    assert np.isneginf(x[0]).tolist() == [i == 7 for i in range(10)]
    assert not np.isneginf(x[1:]).any()


# ---------------------------------------------------------------- songs-issue guarantees
def _chord_tokens(engine, toks):
    return [engine.codec.token(t) for t in toks if engine.grammar.is_chord[t]]


def test_every_bar_names_a_real_chord_that_chords_and_bass_play(engine):
    from midiforge.generation.styles import model_chord_plan
    from midiforge.music.chords import ALL_CHORDS

    key = parse_key("C major")
    opts = StyleOptions(bars=6, scale_lock=True, sampling=SamplingConfig(seed=4))
    plan = model_chord_plan(engine, 6, opts)
    reqs = [make_request(engine, "full", ["melody", "chords", "bass"], key, 6, opts, None, plan) for _ in range(4)]
    g = engine.grammar
    for row in engine.run_rows(reqs, SamplingConfig(seed=4, temperature=1.5)):
        toks = row.tokens
        assert "Chord_N" not in _chord_tokens(engine, toks)
        bars = _bars(engine, toks)
        if row.cut:
            bars = bars[:-1]  # cut by the window mid-bar: songs write it again (styles.bar_rounds)
        assert len(bars) >= 4
        for bar in bars:
            chord = ALL_CHORDS[g.value[next(t for t in bar if g.is_chord[t])]]
            program, first_bass, position, bass_on_one = None, True, None, False
            for t in bar:
                if g.is_position[t]:
                    position = g.value[t]
                if g.is_program[t]:
                    program = g.value[t]
                    bass_on_one |= program == 32 and position == 0
                elif g.is_pitch[t] and program == 0:  # the chord track plays the bar's chord tones
                    assert g.value[t] % 12 in chord.pitch_classes
                elif g.is_pitch[t] and program == 32 and first_bass:  # the bass starts on the root
                    assert g.value[t] % 12 == chord.root_pc
                    first_bass = False
            assert bass_on_one  # the bass plays (its root) on beat 1 of every bar


def test_first_bar_sounds_on_beat_one(engine):
    key = parse_key("D minor")
    opts = StyleOptions(bars=2, sampling=SamplingConfig(seed=1))
    reqs = [make_request(engine, "melody", ["melody"], key, 2, opts) for _ in range(6)]
    g = engine.grammar
    for toks in engine.run(reqs, SamplingConfig(seed=1, temperature=1.5)):
        first = _bars(engine, toks)[0]
        assert [g.value[t] for t in first if g.is_position[t]][0] == 0


def test_first_onset_puts_the_first_note_where_a_pickup_starts(tiny_engine):
    from dataclasses import replace

    key = parse_key("G major")
    opts = StyleOptions(bars=1, sampling=SamplingConfig(seed=2))
    g = tiny_engine.grammar
    for step in (4, 12):  # beat 2 and beat 4 of a 4/4 bar on the 16th grid
        reqs = [replace(make_request(tiny_engine, "melody", ["melody"], key, 1, opts), first_onset=step)] * 4
        for toks in tiny_engine.run(reqs, SamplingConfig(seed=2, temperature=1.5)):
            positions = [g.value[t] for t in _bars(tiny_engine, toks)[0] if g.is_position[t]]
            assert positions and positions[0] == step


def test_key_lock_admits_asked_chord_tones_and_raised_sevenths():
    from midiforge.generation.styles import allowed_pcs, key_of_chords

    c_major, c_minor = parse_key("C major"), parse_key("C minor")
    assert 1 in allowed_pcs(c_major, [parse_chord("A7")])  # A7's C#
    assert 11 in allowed_pcs(c_minor) and 9 in allowed_pcs(c_minor)  # B natural, A natural
    assert 1 not in allowed_pcs(c_major)
    assert key_of_chords([parse_chord(c) for c in "C G Am F".split()]).name == "C major"
    assert key_of_chords([parse_chord(c) for c in "Am F C G".split()]).name == "A minor"
    assert key_of_chords([parse_chord(c) for c in "D A Bm G".split()]).name == "D major"


def test_chords_without_key_take_the_progression_key_and_keep_its_chords(engine, tmp_path):
    result = generate("chord", StyleOptions(n=2, bars=4, chords="D A Bm G", sampling=SamplingConfig(seed=3)),
                      engine=engine, out=tmp_path)
    assert {p.meta["key"] for p in result.pieces} == {"D major"}
    assert all(p.meta["chords"] == ["D", "A", "Bm", "G"] for p in result.pieces)


def test_every_request_fits_a_short_trained_window(tiny_checkpoint, tmp_path):
    """A model trained on 192-token windows: songs, clips and infill stay inside them."""
    from dataclasses import replace as dc_replace

    from midiforge.generation.engine import Engine
    from midiforge.generation.infill import infill

    small = Engine.load(tiny_checkpoint, backend="torch")
    small.training = {"config": {"seq_len": 192}}
    seen: list[int] = []
    run = small.run

    def checked(reqs, sampling, batch_size=32):
        seen.extend(len(r.prompt) + r.max_tokens for r in reqs)
        return run(reqs, sampling, batch_size)

    small.run = checked
    opts = StyleOptions(n=2, bars=12, sections="AB", sampling=SamplingConfig(seed=5, temperature=1.3))
    from midiforge.registry import get

    song = get("style", "harmonic").generate(small, opts)[0]
    assert song.meta["bars"] == 12
    for style in ("melody", "bass"):
        get("style", style).generate(small, dc_replace(opts, sections=None))
    result = infill(small, song.score, (4, 8), "full", SamplingConfig(seed=1))
    assert result.score.note_num() > 0
    assert seen and max(seen) <= 192


def test_nucleus_cuts_note_tails_but_not_velocity_tails():
    """top-p keeps a pitch row to its likeliest token, while a velocity row keeps its whole palette."""
    from midiforge.generation.engine import default_model_path
    from midiforge.generation.grammar import Grammar
    from midiforge.generation.sampler import _sample
    from midiforge.models.checkpoint import load_checkpoint

    g = Grammar.from_codec(load_checkpoint(default_model_path()).codec)
    rows = 2000
    logits = np.zeros((2 * rows, len(g.is_velocity)), np.float32)
    allowed = np.zeros_like(logits, bool)
    allowed[:rows, g.is_velocity] = True  # rows after a Pitch: a velocity comes next
    allowed[rows:, g.is_pitch] = True
    for part, mask in ((slice(None, rows), g.is_velocity), (slice(rows, None), g.is_pitch)):
        top = np.nonzero(mask)[0][5]
        n = int(mask.sum())
        logits[part, top] = np.log(0.8 * (n - 1) / 0.2)  # 80% on one token, the rest spread evenly
    toks = _sample(logits, allowed, SamplingConfig(top_p=0.5), np.random.default_rng(0), None, g)
    velocity_draws, pitch_draws = toks[:rows], toks[rows:]
    assert g.is_velocity[velocity_draws].all() and g.is_pitch[pitch_draws].all()
    assert len(np.unique(pitch_draws)) == 1  # the nucleus holds one pitch
    assert len(np.unique(velocity_draws)) == int(g.is_velocity.sum())  # every level was drawn
    assert 0.7 < np.mean(velocity_draws == np.bincount(velocity_draws).argmax()) < 0.9


def test_velocities_sample_at_their_own_temperature():
    """--velocity-temperature reshapes the dynamics alone: the pitch rows keep the note temperature."""
    from midiforge.generation.engine import default_model_path
    from midiforge.generation.grammar import Grammar
    from midiforge.generation.sampler import _sample
    from midiforge.models.checkpoint import load_checkpoint

    g = Grammar.from_codec(load_checkpoint(default_model_path()).codec)
    rows = 4000
    logits = np.zeros((2 * rows, len(g.is_velocity)), np.float32)
    allowed = np.zeros_like(logits, bool)
    allowed[:rows, g.is_velocity] = True
    allowed[rows:, g.is_pitch] = True
    tops = []
    for part, mask in ((slice(None, rows), g.is_velocity), (slice(rows, None), g.is_pitch)):
        tops.append(np.nonzero(mask)[0][5])
        logits[part, tops[-1]] = np.log(0.5 * (int(mask.sum()) - 1) / 0.5)  # half the mass on one token

    def shares(**cfg):
        toks = _sample(logits.copy(), allowed, SamplingConfig(top_p=1.0, **cfg), np.random.default_rng(0), None, g)
        return np.mean(toks[:rows] == tops[0]), np.mean(toks[rows:] == tops[1])

    velocity, pitch = shares()
    assert 0.45 < velocity < 0.55 and 0.45 < pitch < 0.55
    velocity, pitch = shares(velocity_temperature=2.0)
    assert velocity < 0.3 and 0.45 < pitch < 0.55  # wider dynamics (16 levels: 0.21), the same notes
    velocity, pitch = shares(velocity_temperature=0.5)
    assert velocity > 0.9 and 0.45 < pitch < 0.55
    velocity, pitch = shares(temperature=0.5)  # a cooler note choice leaves the dynamics at 1.0
    assert 0.45 < velocity < 0.55 and pitch > 0.9


def test_velocity_ranges_hold_bar_by_bar(tiny_engine):
    """A plan's per-bar velocity ranges (how the model's drums keep the band's loudness) bound
    every velocity of their bar; a range between two levels keeps the nearest one."""
    opts = StyleOptions(bars=4, chords="C F G C", sampling=SamplingConfig(seed=3))
    plan = replace(chord_plan(tiny_engine, opts.progression(), 0, 4, opts),
                   velocity_ranges=[(20, 40), (100, 127), None, (60, 61)])
    req = make_request(tiny_engine, "full", ["melody", "chords", "bass"], parse_key("C major"), 4, opts, plan=plan)
    g = tiny_engine.grammar
    levels = sorted(int(v) for v in g.velocity_value[g.is_velocity])
    nearest_61 = min(levels, key=lambda v: abs(v - 60.5))
    seen_free: set[int] = set()
    for toks in tiny_engine.run([req] * 3, SamplingConfig(seed=3, temperature=1.5)):
        bars = [[int(g.velocity_value[t]) for t in bar if g.is_velocity[t]] for bar in _bars(tiny_engine, toks)]
        assert len(bars) == 4 and all(bars)
        assert all(20 <= v <= 40 for v in bars[0]) and all(100 <= v <= 127 for v in bars[1])
        assert set(bars[3]) == {nearest_61}
        seen_free |= set(bars[2])
    assert any(v < 20 or 40 < v < 100 for v in seen_free)  # an unasked bar is the model's own
